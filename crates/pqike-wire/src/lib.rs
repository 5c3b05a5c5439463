//! # pqike-wire: the IKEv2 wire format
//!
//! Messages and every payload of RFC 7296 and the later RFCs pqike implements (RFC 7383
//! fragments, RFC 9242/9370 exchanges and transform types), as plain data with encode/decode.
//! No cryptography and no IO live here: the SK/SKF payloads are carried as opaque
//! `IV | ciphertext | ICV` bodies; the protocol engine decrypts them and calls
//! [`decode_payload_chain`] on the plaintext.
//!
//! ## Call order
//! * Receiving: [`Message::decode`] on a datagram (after stripping any non-ESP marker) gives the
//!   header and the unencrypted payloads. If the last payload is [`Payload::Encrypted`] (or the only
//!   one is [`Payload::EncryptedFragment`]), the engine authenticates and decrypts its body and
//!   parses the inner payloads with [`decode_payload_chain`].
//! * Sending: [`encode_payload_chain`] gives the inner plaintext for an SK payload;
//!   [`Message::encode`] writes unencrypted messages; [`sk_layout`] helps the engine lay out an
//!   SK/SKF message before it is sealed in place.
//!
//! * On UDP port 4500, [`classify_udp4500`] / [`strip_non_esp_marker`] separate IKE from ESP and
//!   NAT-keepalives (RFC 3948) before any of the above.
//! * For logs, a [`Message`] displays as a strongSwan-style summary (see [`summary()`]), and a
//!   [`TrafficSelector`] as `10.0.0.0/24[6/443]`.
//! * [`algorithms`] is the one table of algorithm IDs, names and proposal keywords; the
//!   registry newtypes of transform IDs print their names from it.
//!
//! Decoding never panics on any input; it fails with [`DecodeError`]. Encoding never truncates or
//! saturates a length: a value that its field cannot represent (a payload longer than the 2-octet
//! Payload Length allows, more than 255 transforms, ...) fails with [`EncodeError`], which names
//! the structure, the length it needed and the field's limit. Payload body lengths are carried as
//! `u32`/`usize` everywhere except in [`PayloadHeader`], the one place that knows the 16-bit wire
//! field (see there for the drafts that would lift it).
//!
//! With the `arbitrary` feature, `arbitrary` holds proptest strategies for every payload and
//! for whole messages, for property tests in dependent crates.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod algorithms;
#[cfg(any(test, feature = "arbitrary"))]
pub mod arbitrary;
pub mod dn;
pub mod payload;
mod payload_codec;
mod payload_header;
mod reader;
pub mod registry;
mod summary;
mod traffic_selector;
pub mod udp_encap;
mod writer;

pub use payload_codec::{NONCE_MAX_LEN, NONCE_MIN_LEN};
pub use payload_header::PayloadHeader;
use reader::Reader;

pub use payload::*;
pub use registry::*;
pub use summary::summary;
pub use udp_encap::{classify_udp4500, strip_non_esp_marker, Udp4500};

#[cfg(test)]
mod tests;

/// IKE header length (RFC 7296 §3.1).
pub const IKE_HEADER_LEN: usize = 28;
/// Generic payload header length (RFC 7296 §3.2).
pub const GENERIC_HEADER_LEN: usize = 4;
/// The non-ESP marker that precedes IKE messages on UDP port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// Version octet of IKEv2.0 (major 2, minor 0).
pub const IKE_VERSION_2_0: u8 = 0x20;

/// Why a message or payload could not be decoded. `Copy` and cheap: carried into log lines and
/// mapped by the engine to INVALID_SYNTAX or a silent drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than a header or length field requires.
    #[error("truncated {what}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
    },
    /// A length field disagrees with the enclosing structure.
    #[error("bad length in {what}")]
    BadLength {
        /// The structure whose length is wrong.
        what: &'static str,
    },
    /// IKE major version is not 2.
    #[error("unsupported major version {0}")]
    BadVersion(u8),
    /// A field has a value the RFC forbids (e.g. TS type/family mismatch, non-zero reserved where required).
    #[error("invalid value in {what}")]
    Invalid {
        /// The field or structure with the forbidden value.
        what: &'static str,
    },
    /// SK payload not last, SKF not alone, or a second SK.
    #[error("encrypted payload misplaced")]
    MisplacedEncrypted,
}

/// Why a message or payload could not be encoded: a length or count does not fit its field.
/// Always a local problem (a configuration or value too large for the wire format); nothing is
/// sent. `Copy` and cheap, for log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A length field cannot hold the length of `what`.
    #[error("{what} too long: {len} octets, the length field allows at most {max}")]
    TooLong {
        /// The payload, message or field, e.g. "KE payload", "IKE message", "SK payload".
        what: &'static str,
        /// The value the length field would have to hold.
        len: usize,
        /// The largest value the field can hold.
        max: usize,
    },
    /// A count field cannot hold the number of elements of `what`.
    #[error("too many {what}: {count}, the count field allows at most {max}")]
    TooMany {
        /// The counted elements, e.g. "transforms in a proposal".
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The largest count the field can hold.
        max: usize,
    },
}

/// The largest IKE message: the header's Length field has 4 octets (RFC 7296 §3.1). Widening the
/// constant is lossless on the 32- and 64-bit platforms pqike runs on.
const MAX_MESSAGE_LEN: usize = u32::MAX as usize;

/// The IKE header Length value for a message of `len` octets.
fn message_len(len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::TooLong {
        what: "IKE message",
        len,
        max: MAX_MESSAGE_LEN,
    })
}

/// Header flags (RFC 7296 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Flags {
    /// I: set by the original initiator of the IKE SA.
    pub initiator: bool,
    /// R: set in responses.
    pub response: bool,
    /// V: higher version supported (we never set it).
    pub version: bool,
}

impl Flags {
    /// Flags octet.
    pub fn to_byte(self) -> u8 {
        (u8::from(self.initiator) << 3)
            | (u8::from(self.version) << 4)
            | (u8::from(self.response) << 5)
    }
    /// From the flags octet (unknown bits ignored, as RFC 7296 says).
    pub fn from_byte(b: u8) -> Self {
        Flags {
            initiator: b & 0x08 != 0,
            version: b & 0x10 != 0,
            response: b & 0x20 != 0,
        }
    }
}

/// The IKE header (RFC 7296 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// IKE SA Initiator's SPI.
    pub spi_i: u64,
    /// IKE SA Responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major (high nibble) / minor version octet; 0x20 for IKEv2.
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// I/V/R flags.
    pub flags: Flags,
    /// Message ID (RFC 7296 §2.2).
    pub message_id: u32,
    /// Total message length including the header.
    pub length: u32,
}

impl Header {
    /// Parse the 28-octet header. Checks major version 2 and that `length` >= 28.
    ///
    /// Only the first 28 octets of `buf` are read; trailing bytes are the caller's concern
    /// ([`Message::decode`] checks `length` against the datagram).
    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(buf, "IKE header");
        let spi_i = r.u64()?;
        let spi_r = r.u64()?;
        let next_payload = PayloadType(r.u8()?);
        let version = r.u8()?;
        let exchange = ExchangeType(r.u8()?);
        let flags = Flags::from_byte(r.u8()?);
        let message_id = r.u32()?;
        let length = r.u32()?;
        // RFC 7296 §3.1: a major version we do not speak is answered with
        // INVALID_MAJOR_VERSION (the engine's job); the minor version is ignored.
        if version >> 4 != 2 {
            return Err(DecodeError::BadVersion(version >> 4));
        }
        if (length as usize) < IKE_HEADER_LEN {
            return Err(DecodeError::BadLength {
                what: "IKE header length",
            });
        }
        Ok(Header {
            spi_i,
            spi_r,
            next_payload,
            version,
            exchange,
            flags,
            message_id,
            length,
        })
    }

    /// Set `length` for a message of `total` octets (header included), if the 4-octet Length
    /// field (RFC 7296 §3.1) can hold it.
    pub fn set_length(&mut self, total: usize) -> Result<(), EncodeError> {
        self.length = message_len(total)?;
        Ok(())
    }

    /// Write the 28-octet header into `out` (appends).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(self.next_payload.0);
        out.push(self.version);
        out.push(self.exchange.0);
        out.push(self.flags.to_byte());
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// A header for a message we send: version 2.0; `next_payload` and `length` are left at
    /// zero for [`Message::encode`] / [`sk_layout`] to fill in.
    pub fn new(
        spi_i: u64,
        spi_r: u64,
        exchange: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Header {
        Header {
            spi_i,
            spi_r,
            next_payload: PayloadType::NONE,
            version: IKE_VERSION_2_0,
            exchange,
            flags,
            message_id,
            length: 0,
        }
    }
}

/// A decoded message: header plus the top-level payloads in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The IKE header as received (or to be rewritten by [`Message::encode`]).
    pub header: Header,
    /// Top-level payloads; an SK payload, if any, is last and still encrypted.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Decode a whole IKE message (without non-ESP marker). `header.length` must equal
    /// `buf.len()` (trailing bytes are an error). Encrypted payloads are left opaque.
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        let header = Header::decode(buf)?;
        if header.length as usize != buf.len() {
            return Err(DecodeError::BadLength {
                what: "IKE header length",
            });
        }
        let payloads = decode_chain(header.next_payload, &buf[IKE_HEADER_LEN..], true)?;
        Ok(Message { header, payloads })
    }

    /// Encode the message, computing Next Payload chaining and all lengths (header.length and
    /// header.next_payload are ignored and recomputed). An `Encrypted`/`EncryptedFragment`
    /// payload is written with its opaque body. Fails if a payload, substructure or the whole
    /// message is too long (or has too many elements) for its length field.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(512);
        self.header.encode(&mut out);
        let first = encode_chain_into(&self.payloads, &mut out)?;
        out[16] = first.0;
        let len = message_len(out.len())?;
        out[24..28].copy_from_slice(&len.to_be_bytes());
        Ok(out)
    }

    /// The SK payload, if this message has one (it is then the last payload).
    pub fn encrypted(&self) -> Option<&Encrypted> {
        match self.payloads.last() {
            Some(Payload::Encrypted(e)) => Some(e),
            _ => None,
        }
    }

    /// The SKF payload, if this message is an encrypted fragment (RFC 7383).
    pub fn encrypted_fragment(&self) -> Option<&EncryptedFragment> {
        match self.payloads.as_slice() {
            [Payload::EncryptedFragment(f)] => Some(f),
            _ => None,
        }
    }

    /// Iterator over notifies among the top-level payloads.
    pub fn notifies(&self) -> impl Iterator<Item = &Notify> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }
}

/// The first payload of an unknown type with the Critical bit set, if any. RFC 7296 §2.5: the
/// whole message must then be rejected with UNSUPPORTED_CRITICAL_PAYLOAD, whose notification
/// data is this one-octet type.
pub fn first_unsupported_critical(payloads: &[Payload]) -> Option<PayloadType> {
    payloads.iter().find_map(|p| match p {
        Payload::Unknown {
            payload_type,
            critical: true,
            ..
        } => Some(*payload_type),
        _ => None,
    })
}

/// Decode a chain of payloads starting with type `first` that exactly fills `buf`
/// (used for the decrypted inner part of SK/SKF).
///
/// An SK or SKF payload inside the chain is rejected with [`DecodeError::MisplacedEncrypted`]
/// (there is no nesting of encrypted payloads).
pub fn decode_payload_chain(first: PayloadType, buf: &[u8]) -> Result<Vec<Payload>, DecodeError> {
    decode_chain(first, buf, false)
}

/// Walk a chain of generic payload headers (RFC 7296 §3.2). `top_level` allows SK/SKF.
fn decode_chain(
    first: PayloadType,
    buf: &[u8],
    top_level: bool,
) -> Result<Vec<Payload>, DecodeError> {
    let mut r = Reader::new(buf, "generic payload header");
    let mut payloads = Vec::new();
    let mut next = first;
    while next != PayloadType::NONE {
        let this = next;
        let (header, body) = PayloadHeader::read(&mut r)?;
        let next_field = header.next_payload();
        match this {
            PayloadType::SK => {
                // RFC 7296 §3.14: SK is the last payload; its Next Payload names the first
                // inner payload, so the outer chain ends here.
                if !top_level || !r.is_empty() {
                    return Err(DecodeError::MisplacedEncrypted);
                }
                payloads.push(Payload::Encrypted(Encrypted {
                    first_inner: next_field,
                    body: body.to_vec(),
                }));
                return Ok(payloads);
            }
            PayloadType::SKF => {
                // RFC 7383 §2.5: SKF is the only payload of its message.
                if !top_level || !payloads.is_empty() || !r.is_empty() {
                    return Err(DecodeError::MisplacedEncrypted);
                }
                payloads.push(Payload::EncryptedFragment(payload_codec::decode_skf(
                    next_field, body,
                )?));
                return Ok(payloads);
            }
            _ => payloads.push(Payload::decode_body(this, header.critical(), body)?),
        }
        next = next_field;
    }
    if !r.is_empty() {
        // The Next Payload chain ended before the bytes did.
        return Err(DecodeError::BadLength {
            what: "payload chain (trailing data)",
        });
    }
    Ok(payloads)
}

/// Encode a chain of payloads; returns (type of the first payload, bytes). An empty slice gives
/// `(PayloadType::NONE, [])`. Fails like [`Message::encode`].
pub fn encode_payload_chain(payloads: &[Payload]) -> Result<(PayloadType, Vec<u8>), EncodeError> {
    let mut out = Vec::new();
    let first = encode_chain_into(payloads, &mut out)?;
    Ok((first, out))
}

/// Append the chain to `out`; returns the type of the first payload. On error `out` holds a
/// partial chain and must be discarded.
fn encode_chain_into(payloads: &[Payload], out: &mut Vec<u8>) -> Result<PayloadType, EncodeError> {
    // Each body is encoded on its own first: its length, as u32/usize, decides the header
    // (see `PayloadHeader` for why the header is the only place that knows the wire width).
    let mut body = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        // SK/SKF carry the first inner type in their Next Payload field (RFC 7296 §3.14).
        let next = p.inner_next().unwrap_or_else(|| {
            payloads
                .get(i + 1)
                .map_or(PayloadType::NONE, Payload::payload_type)
        });
        body.clear();
        p.encode_body(&mut body)?;
        PayloadHeader::new(next, p.critical(), body.len(), p.name())?.encode(out);
        out.extend_from_slice(&body);
    }
    Ok(payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type))
}

/// Byte layout of an SK- or SKF-protected message being built, so the engine can seal it in place.
///
/// The buffer is `IKE header | SK(F) generic header [| frag num | total] | IV | plaintext | ICV`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkLayout {
    /// Offset of the IV (= length of the associated data for AEAD ciphers).
    pub iv_offset: usize,
    /// Offset of the plaintext (after the IV).
    pub plaintext_offset: usize,
    /// Offset of the ICV (end of ciphertext).
    pub icv_offset: usize,
    /// Total length.
    pub total_len: usize,
}

/// Write an SK (if `fragment` is `None`) or SKF (`Some((number, total))`) message skeleton:
/// IKE header (with final length and next payload SK/SKF), the SK(F) header (next payload =
/// `first_inner`, or NONE for fragments after the first as RFC 7383 §2.5 requires... the caller
/// passes the right value), `iv_len` zero bytes of IV, the `plaintext` (already padded by the caller,
/// including the Pad Length octet) and `icv_len` zero bytes of ICV. Returns the buffer and its
/// layout, or an error (before anything is allocated) if the SK(F) payload is too long for its
/// Payload Length field or the message for the IKE header's Length.
pub fn sk_layout(
    header: &Header,
    first_inner: PayloadType,
    fragment: Option<(u16, u16)>,
    iv_len: usize,
    plaintext: &[u8],
    icv_len: usize,
) -> Result<(Vec<u8>, SkLayout), EncodeError> {
    // RFC 7383 §2.5: SKF adds Fragment Number (2) and Total Fragments (2) before the IV.
    let (payload_type, extra, what) = match fragment {
        None => (PayloadType::SK, 0, "SK payload"),
        Some(_) => (PayloadType::SKF, 4, "SKF payload"),
    };
    // SK is the last payload, so its Next Payload is the first inner type (RFC 7296 §3.14).
    // Lengths of in-memory buffers: these sums cannot overflow.
    let body_len = extra + iv_len + plaintext.len() + icv_len;
    let sk_header = PayloadHeader::new(first_inner, false, body_len, what)?;
    let iv_offset = IKE_HEADER_LEN + PayloadHeader::LEN + extra;
    let plaintext_offset = iv_offset + iv_len;
    let icv_offset = plaintext_offset + plaintext.len();
    let total_len = icv_offset + icv_len;

    let mut h = *header;
    h.next_payload = payload_type;
    h.set_length(total_len)?;
    let mut out = Vec::with_capacity(total_len);
    h.encode(&mut out);
    sk_header.encode(&mut out);
    if let Some((number, total)) = fragment {
        out.extend_from_slice(&number.to_be_bytes());
        out.extend_from_slice(&total.to_be_bytes());
    }
    out.resize(plaintext_offset, 0);
    out.extend_from_slice(plaintext);
    out.resize(total_len, 0);
    Ok((
        out,
        SkLayout {
            iv_offset,
            plaintext_offset,
            icv_offset,
            total_len,
        },
    ))
}

/// Find the SK/SKF payload of a received message, for authentication and decryption in place:
/// returns the offset of its generic header, the IV offset (the associated data is
/// `buf[..iv_offset]`), the end of the body, and the SK(F) header fields. Errors if the message
/// has no SK/SKF payload, or on the same header/length errors as [`Message::decode`].
///
/// Only the generic headers before SK/SKF are walked (their bodies are not parsed); the same
/// placement rules as [`Message::decode`] apply.
pub fn locate_encrypted(buf: &[u8]) -> Result<EncryptedLocation, DecodeError> {
    let header = Header::decode(buf)?;
    if header.length as usize != buf.len() {
        return Err(DecodeError::BadLength {
            what: "IKE header length",
        });
    }
    let mut r = Reader::new(buf, "generic payload header");
    r.skip(IKE_HEADER_LEN)?;
    let mut this = header.next_payload;
    loop {
        let payload_offset = r.position();
        match this {
            PayloadType::NONE => {
                return Err(DecodeError::Invalid {
                    what: "no encrypted payload",
                })
            }
            PayloadType::SK | PayloadType::SKF => {
                let (sk_header, body) = PayloadHeader::read(&mut r)?;
                let first_inner = sk_header.next_payload();
                if !r.is_empty() {
                    return Err(DecodeError::MisplacedEncrypted);
                }
                let (fragment, iv_offset) = if this == PayloadType::SKF {
                    if payload_offset != IKE_HEADER_LEN {
                        return Err(DecodeError::MisplacedEncrypted);
                    }
                    let f = payload_codec::decode_skf(first_inner, body)?;
                    (
                        Some((f.number, f.total)),
                        payload_offset + PayloadHeader::LEN + 4,
                    )
                } else {
                    (None, payload_offset + PayloadHeader::LEN)
                };
                return Ok(EncryptedLocation {
                    payload_offset,
                    iv_offset,
                    end: buf.len(),
                    payload_type: this,
                    first_inner,
                    fragment,
                });
            }
            _ => {
                let (h, _) = PayloadHeader::read(&mut r)?;
                this = h.next_payload();
            }
        }
    }
}

/// Where the SK/SKF payload sits in a received message (see [`locate_encrypted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncryptedLocation {
    /// Offset of the SK/SKF generic payload header.
    pub payload_offset: usize,
    /// Offset of the IV: everything before it is the associated data (RFC 5282 §5.1, RFC 7383 §2.5).
    pub iv_offset: usize,
    /// End of the payload (= end of ICV = message length).
    pub end: usize,
    /// SK or SKF.
    pub payload_type: PayloadType,
    /// Next Payload of the SK(F) header.
    pub first_inner: PayloadType,
    /// For SKF: (fragment number, total fragments).
    pub fragment: Option<(u16, u16)>,
}
