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
//! Decoding never panics on any input; it fails with [`DecodeError`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod payload;
pub mod registry;

pub use payload::*;
pub use registry::*;

/// IKE header length (RFC 7296 §3.1).
pub const IKE_HEADER_LEN: usize = 28;
/// Generic payload header length (RFC 7296 §3.2).
pub const GENERIC_HEADER_LEN: usize = 4;
/// The non-ESP marker that precedes IKE messages on UDP port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// Why a message or payload could not be decoded. `Copy` and cheap: carried into log lines and
/// mapped by the engine to INVALID_SYNTAX or a silent drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than a header or length field requires.
    #[error("truncated {what}")]
    Truncated { what: &'static str },
    /// A length field disagrees with the enclosing structure.
    #[error("bad length in {what}")]
    BadLength { what: &'static str },
    /// IKE major version is not 2.
    #[error("unsupported major version {0}")]
    BadVersion(u8),
    /// A field has a value the RFC forbids (e.g. TS type/family mismatch, non-zero reserved where required).
    #[error("invalid value in {what}")]
    Invalid { what: &'static str },
    /// SK payload not last, SKF not alone, or a second SK.
    #[error("encrypted payload misplaced")]
    MisplacedEncrypted,
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
        (u8::from(self.initiator) << 3) | (u8::from(self.version) << 4) | (u8::from(self.response) << 5)
    }
    /// From the flags octet (unknown bits ignored, as RFC 7296 says).
    pub fn from_byte(b: u8) -> Self {
        Flags { initiator: b & 0x08 != 0, version: b & 0x10 != 0, response: b & 0x20 != 0 }
    }
}

/// The IKE header (RFC 7296 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub spi_i: u64,
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major (high nibble) / minor version octet; 0x20 for IKEv2.
    pub version: u8,
    pub exchange: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
    /// Total message length including the header.
    pub length: u32,
}

impl Header {
    /// Parse the 28-octet header. Checks major version 2 and that `length` >= 28.
    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        todo!("wire helper")
    }
    /// Write the 28-octet header into `out` (appends).
    pub fn encode(&self, out: &mut Vec<u8>) {
        todo!("wire helper")
    }
}

/// A decoded message: header plus the top-level payloads in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Decode a whole IKE message (without non-ESP marker). `header.length` must equal
    /// `buf.len()` (trailing bytes are an error). Encrypted payloads are left opaque.
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        todo!("wire helper")
    }

    /// Encode the message, computing Next Payload chaining and all lengths (header.length and
    /// header.next_payload are ignored and recomputed). An `Encrypted`/`EncryptedFragment`
    /// payload is written with its opaque body.
    pub fn encode(&self) -> Vec<u8> {
        todo!("wire helper")
    }

    /// Iterator over notifies among the top-level payloads.
    pub fn notifies(&self) -> impl Iterator<Item = &Notify> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }
}

/// Decode a chain of payloads starting with type `first` that exactly fills `buf`
/// (used for the decrypted inner part of SK/SKF).
pub fn decode_payload_chain(first: PayloadType, buf: &[u8]) -> Result<Vec<Payload>, DecodeError> {
    todo!("wire helper")
}

/// Encode a chain of payloads; returns (type of the first payload, bytes). An empty slice gives
/// `(PayloadType::NONE, [])`.
pub fn encode_payload_chain(payloads: &[Payload]) -> (PayloadType, Vec<u8>) {
    todo!("wire helper")
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
/// including the Pad Length octet) and `icv_len` zero bytes of ICV. Returns the buffer and its layout.
pub fn sk_layout(
    header: &Header,
    first_inner: PayloadType,
    fragment: Option<(u16, u16)>,
    iv_len: usize,
    plaintext: &[u8],
    icv_len: usize,
) -> (Vec<u8>, SkLayout) {
    todo!("wire helper")
}

/// Length of the unencrypted payloads before an SK payload plus the SK header etc. is not needed by
/// the engine: it reads offsets from this when it receives an SK message: returns the offset of the
/// SK(F) payload's generic header in `buf` (for the AAD = `buf[..offset_of_iv]`), the IV offset, and
/// the end of the body. Errors if the message has no SK/SKF payload.
pub fn locate_encrypted(buf: &[u8]) -> Result<EncryptedLocation, DecodeError> {
    todo!("wire helper")
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
