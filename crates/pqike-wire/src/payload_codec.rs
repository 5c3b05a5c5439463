//! Body codecs of every payload (everything after the 4-octet generic payload header).
//!
//! Layouts follow RFC 7296 §3.3–§3.16 and RFC 7383 §2.5; each function cites its section.
//! Reserved fields are ignored on receipt and written as zero (RFC 7296 §2.5).
use crate::payload::*;
use crate::reader::Reader;
use crate::registry::*;
use crate::writer::{count_u16, count_u8, len_u16, len_u8, patch_len_u16};
use crate::{DecodeError, EncodeError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Transform attribute type of Key Length (RFC 7296 §3.3.5).
const ATTR_KEY_LENGTH: u16 = 14;
/// Attribute Format bit: set for TV (fixed 2-octet value), clear for TLV (RFC 7296 §3.3.5).
const ATTR_AF: u16 = 0x8000;
/// A TV attribute's value is its 2-octet Attribute Value field (RFC 7296 §3.3.5).
const TV_VALUE_LEN: usize = 2;
/// Last Substruc values (RFC 7296 §3.3.1, §3.3.2).
const LAST: u8 = 0;
const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;
/// RFC 7296 §2.10: nonces are 16..=256 octets.
pub const NONCE_MIN_LEN: usize = 16;
/// RFC 7296 §2.10: nonces are 16..=256 octets.
pub const NONCE_MAX_LEN: usize = 256;

impl Payload {
    /// Decode a payload body (the bytes after the generic header) of type `payload_type`.
    ///
    /// `critical` is only kept for [`Payload::Unknown`]; for known types RFC 7296 §2.5 says the
    /// bit is ignored.
    pub fn decode_body(
        payload_type: PayloadType,
        critical: bool,
        body: &[u8],
    ) -> Result<Payload, DecodeError> {
        let mut r = Reader::new(body, "payload body");
        let p = match payload_type {
            PayloadType::SA => Payload::Sa(decode_sa(&mut r)?),
            PayloadType::KE => {
                // RFC 7296 §3.4: Group Num (2) | RESERVED (2) | data.
                let method = KeMethod(r.u16()?);
                r.skip(2)?;
                Payload::Ke {
                    method,
                    data: r.rest().to_vec(),
                }
            }
            PayloadType::IDI => Payload::IdI(decode_id(&mut r)?),
            PayloadType::IDR => Payload::IdR(decode_id(&mut r)?),
            PayloadType::CERT => Payload::Cert(decode_cert(&mut r)?),
            PayloadType::CERTREQ => Payload::CertReq(decode_cert(&mut r)?),
            PayloadType::AUTH => {
                // RFC 7296 §3.8: Auth Method (1) | RESERVED (3) | data.
                let method = AuthMethod(r.u8()?);
                r.skip(3)?;
                Payload::Auth(Auth {
                    method,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::NONCE => {
                let n = r.rest();
                if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&n.len()) {
                    return Err(DecodeError::BadLength { what: "nonce" });
                }
                Payload::Nonce(n.to_vec())
            }
            PayloadType::NOTIFY => Payload::Notify(decode_notify(&mut r)?),
            PayloadType::DELETE => Payload::Delete(decode_delete(&mut r)?),
            PayloadType::VENDOR => Payload::Vendor(r.rest().to_vec()),
            PayloadType::TSI => Payload::TsI(decode_ts_payload(&mut r)?),
            PayloadType::TSR => Payload::TsR(decode_ts_payload(&mut r)?),
            PayloadType::CP => Payload::Cp(decode_cp(&mut r)?),
            PayloadType::EAP => Payload::Eap(r.rest().to_vec()),
            // SK's Next Payload is the first inner type; the caller passes it in separately.
            PayloadType::SK => {
                return Err(DecodeError::Invalid {
                    what: "SK body decoded without its header",
                });
            }
            PayloadType::SKF => {
                return Err(DecodeError::Invalid {
                    what: "SKF body decoded without its header",
                });
            }
            _ => Payload::Unknown {
                payload_type,
                critical,
                body: r.rest().to_vec(),
            },
        };
        if !r.is_empty() {
            return Err(DecodeError::BadLength {
                what: "payload body",
            });
        }
        Ok(p)
    }

    /// Append this payload's body (without the generic header) to `out`.
    ///
    /// This is also the byte string the AUTH computation needs for IDi/IDr
    /// (`RestOfInitIDPayload`, RFC 7296 §2.15).
    ///
    /// Fails if a length or count inside the body does not fit its field (the body's own length
    /// is checked by [`crate::PayloadHeader::new`]); `out` then holds a partial body and must be
    /// discarded.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Payload::Sa(proposals) => encode_sa(proposals, out)?,
            Payload::Ke { method, data } => {
                out.extend_from_slice(&method.0.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(data);
            }
            Payload::IdI(id) | Payload::IdR(id) => {
                out.push(id.id_type.0);
                out.extend_from_slice(&[0, 0, 0]);
                out.extend_from_slice(&id.data);
            }
            Payload::Cert(c) | Payload::CertReq(c) => {
                out.push(c.encoding.0);
                out.extend_from_slice(&c.data);
            }
            Payload::Auth(a) => {
                out.push(a.method.0);
                out.extend_from_slice(&[0, 0, 0]);
                out.extend_from_slice(&a.data);
            }
            Payload::Nonce(n) => out.extend_from_slice(n),
            Payload::Notify(n) => {
                out.push(n.protocol.0);
                out.push(len_u8("Notify SPI", n.spi.len())?);
                out.extend_from_slice(&n.notify_type.0.to_be_bytes());
                out.extend_from_slice(&n.spi);
                out.extend_from_slice(&n.data);
            }
            Payload::Delete(d) => {
                out.push(d.protocol.0);
                out.push(d.spi_size);
                out.extend_from_slice(
                    &count_u16("SPIs in a Delete payload", d.spis.len())?.to_be_bytes(),
                );
                for spi in &d.spis {
                    out.extend_from_slice(spi);
                }
            }
            Payload::Vendor(v) => out.extend_from_slice(v),
            Payload::TsI(ts) | Payload::TsR(ts) => encode_ts_payload(ts, out)?,
            Payload::Cp(c) => {
                out.push(c.cfg_type.0);
                out.extend_from_slice(&[0, 0, 0]);
                for a in &c.attributes {
                    // High bit is reserved (RFC 7296 §3.15.1): written as zero.
                    out.extend_from_slice(&(a.attr_type & 0x7fff).to_be_bytes());
                    let len = len_u16("configuration attribute", a.value.len())?;
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&a.value);
                }
            }
            Payload::Eap(e) => out.extend_from_slice(e),
            Payload::Encrypted(e) => out.extend_from_slice(&e.body),
            Payload::EncryptedFragment(f) => {
                out.extend_from_slice(&f.number.to_be_bytes());
                out.extend_from_slice(&f.total.to_be_bytes());
                out.extend_from_slice(&f.body);
            }
            Payload::Unknown { body, .. } => out.extend_from_slice(body),
        }
        Ok(())
    }

    /// The Next Payload value written in this payload's own generic header when it is the
    /// last of a chain. For SK/SKF it is the first inner payload (RFC 7296 §3.14); otherwise it
    /// is given by the following payload.
    pub(crate) fn inner_next(&self) -> Option<PayloadType> {
        match self {
            Payload::Encrypted(e) => Some(e.first_inner),
            Payload::EncryptedFragment(f) => Some(f.first_inner),
            _ => None,
        }
    }

    /// The Critical bit written for this payload: 0 for every type we know (RFC 7296 §3.2:
    /// "MUST be set to zero" by senders of known types); as stored for `Unknown`.
    pub fn critical(&self) -> bool {
        matches!(self, Payload::Unknown { critical: true, .. })
    }
}

/// Decode the SKF fields after the generic header (RFC 7383 §2.5).
pub(crate) fn decode_skf(
    first_inner: PayloadType,
    body: &[u8],
) -> Result<EncryptedFragment, DecodeError> {
    let mut r = Reader::new(body, "SKF payload");
    let number = r.u16()?;
    let total = r.u16()?;
    // RFC 7383 §2.5: numbering starts at 1 and never exceeds Total Fragments.
    if number == 0 || number > total {
        return Err(DecodeError::Invalid {
            what: "SKF fragment number",
        });
    }
    Ok(EncryptedFragment {
        first_inner,
        number,
        total,
        body: r.rest().to_vec(),
    })
}

// ---------------------------------------------------------------- SA (RFC 7296 §3.3)

fn decode_sa(r: &mut Reader<'_>) -> Result<Vec<Proposal>, DecodeError> {
    let mut proposals = Vec::new();
    while !r.is_empty() {
        let last = r.u8()?;
        r.skip(1)?;
        let len = usize::from(r.u16()?);
        // The 4 octets just read count towards the proposal length.
        let body_len = len
            .checked_sub(4)
            .ok_or(DecodeError::BadLength { what: "proposal" })?;
        if body_len > r.left() {
            return Err(DecodeError::BadLength { what: "proposal" });
        }
        let mut p = r.sub(body_len, "proposal")?;
        proposals.push(decode_proposal(&mut p)?);
        match last {
            LAST if r.is_empty() => break,
            MORE_PROPOSALS if !r.is_empty() => {}
            LAST => {
                return Err(DecodeError::BadLength {
                    what: "SA payload (data after last proposal)",
                })
            }
            MORE_PROPOSALS => {
                return Err(DecodeError::Truncated {
                    what: "SA payload (missing proposal)",
                })
            }
            _ => {
                return Err(DecodeError::Invalid {
                    what: "proposal last-substructure flag",
                })
            }
        }
    }
    Ok(proposals)
}

fn decode_proposal(r: &mut Reader<'_>) -> Result<Proposal, DecodeError> {
    let number = r.u8()?;
    let protocol = ProtocolId(r.u8()?);
    let spi_size = usize::from(r.u8()?);
    let count = r.u8()?;
    let spi = r.take(spi_size)?.to_vec();
    let mut transforms = Vec::with_capacity(usize::from(count));
    for i in 0..count {
        let last = r.u8()?;
        r.skip(1)?;
        let len = usize::from(r.u16()?);
        let body_len = len
            .checked_sub(4)
            .ok_or(DecodeError::BadLength { what: "transform" })?;
        if body_len > r.left() {
            return Err(DecodeError::BadLength { what: "transform" });
        }
        let mut t = r.sub(body_len, "transform")?;
        transforms.push(decode_transform(&mut t)?);
        let expected = if i + 1 == count {
            LAST
        } else {
            MORE_TRANSFORMS
        };
        if last != expected {
            return Err(DecodeError::Invalid {
                what: "transform last-substructure flag",
            });
        }
    }
    if !r.is_empty() {
        // RFC 7296 §3.3.1: Num Transforms must describe the whole proposal.
        return Err(DecodeError::BadLength {
            what: "proposal (transform count)",
        });
    }
    Ok(Proposal {
        number,
        protocol,
        spi,
        transforms,
    })
}

fn decode_transform(r: &mut Reader<'_>) -> Result<Transform, DecodeError> {
    let transform_type = TransformType(r.u8()?);
    r.skip(1)?;
    let id = r.u16()?;
    let mut attributes = Vec::new();
    while !r.is_empty() {
        let t = r.u16()?;
        let attr_type = t & !ATTR_AF;
        if t & ATTR_AF != 0 {
            let v = r.u16()?;
            attributes.push(if attr_type == ATTR_KEY_LENGTH {
                Attribute::KeyLength(v)
            } else {
                Attribute::Other {
                    attr_type,
                    tv: true,
                    value: v.to_be_bytes().to_vec(),
                }
            });
        } else {
            let len = usize::from(r.u16()?);
            let value = r.take(len)?.to_vec();
            attributes.push(Attribute::Other {
                attr_type,
                tv: false,
                value,
            });
        }
    }
    Ok(Transform {
        transform_type,
        id,
        attributes,
    })
}

fn encode_sa(proposals: &[Proposal], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    for (i, p) in proposals.iter().enumerate() {
        let start = out.len();
        out.push(if i + 1 == proposals.len() {
            LAST
        } else {
            MORE_PROPOSALS
        });
        out.push(0);
        out.extend_from_slice(&[0, 0]); // length, patched below
        out.push(p.number);
        out.push(p.protocol.0);
        out.push(len_u8("proposal SPI", p.spi.len())?);
        out.push(count_u8("transforms in a proposal", p.transforms.len())?);
        out.extend_from_slice(&p.spi);
        for (j, t) in p.transforms.iter().enumerate() {
            let tstart = out.len();
            out.push(if j + 1 == p.transforms.len() {
                LAST
            } else {
                MORE_TRANSFORMS
            });
            out.push(0);
            out.extend_from_slice(&[0, 0]);
            out.push(t.transform_type.0);
            out.push(0);
            out.extend_from_slice(&t.id.to_be_bytes());
            for a in &t.attributes {
                encode_attribute(a, out)?;
            }
            patch_len_u16(out, tstart, "transform")?;
        }
        patch_len_u16(out, start, "proposal")?;
    }
    Ok(())
}

/// Attribute types have 15 bits (the 16th is the AF flag); a TV value is exactly 2 octets
/// (shorter values are zero-padded on the left; longer ones cannot be sent).
fn encode_attribute(a: &Attribute, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match a {
        Attribute::KeyLength(bits) => {
            out.extend_from_slice(&(ATTR_AF | ATTR_KEY_LENGTH).to_be_bytes());
            out.extend_from_slice(&bits.to_be_bytes());
        }
        Attribute::Other {
            attr_type,
            tv: true,
            value,
        } => {
            if value.len() > TV_VALUE_LEN {
                return Err(EncodeError::TooLong {
                    what: "TV attribute value",
                    len: value.len(),
                    max: TV_VALUE_LEN,
                });
            }
            out.extend_from_slice(&(ATTR_AF | (attr_type & !ATTR_AF)).to_be_bytes());
            let mut v = [0u8; TV_VALUE_LEN];
            v[TV_VALUE_LEN - value.len()..].copy_from_slice(value);
            out.extend_from_slice(&v);
        }
        Attribute::Other {
            attr_type,
            tv: false,
            value,
        } => {
            out.extend_from_slice(&(attr_type & !ATTR_AF).to_be_bytes());
            out.extend_from_slice(&len_u16("TLV attribute value", value.len())?.to_be_bytes());
            out.extend_from_slice(value);
        }
    }
    Ok(())
}

// ------------------------------------------------- ID, CERT, Notify, Delete, CP

fn decode_id(r: &mut Reader<'_>) -> Result<Identification, DecodeError> {
    // RFC 7296 §3.5: ID Type (1) | RESERVED (3) | data.
    let id_type = IdType(r.u8()?);
    r.skip(3)?;
    Ok(Identification {
        id_type,
        data: r.rest().to_vec(),
    })
}

fn decode_cert(r: &mut Reader<'_>) -> Result<CertData, DecodeError> {
    // RFC 7296 §3.6 / §3.7: Encoding (1) | data.
    let encoding = CertEncoding(r.u8()?);
    Ok(CertData {
        encoding,
        data: r.rest().to_vec(),
    })
}

fn decode_notify(r: &mut Reader<'_>) -> Result<Notify, DecodeError> {
    // RFC 7296 §3.10: Protocol ID (1) | SPI Size (1) | Type (2) | SPI | data.
    let protocol = ProtocolId(r.u8()?);
    let spi_size = usize::from(r.u8()?);
    let notify_type = NotifyType(r.u16()?);
    let spi = r.take(spi_size)?.to_vec();
    Ok(Notify {
        protocol,
        spi,
        notify_type,
        data: r.rest().to_vec(),
    })
}

fn decode_delete(r: &mut Reader<'_>) -> Result<Delete, DecodeError> {
    // RFC 7296 §3.11: Protocol ID (1) | SPI Size (1) | Num SPIs (2) | SPIs.
    let protocol = ProtocolId(r.u8()?);
    let spi_size = r.u8()?;
    let count = usize::from(r.u16()?);
    if spi_size == 0 {
        // Deleting the IKE SA: "SPI Size MUST be zero ... Num of SPIs is zero".
        if count != 0 {
            return Err(DecodeError::Invalid {
                what: "Delete payload (SPIs with SPI size 0)",
            });
        }
        return Ok(Delete {
            protocol,
            spi_size,
            spis: Vec::new(),
        });
    }
    if count * usize::from(spi_size) != r.left() {
        return Err(DecodeError::BadLength {
            what: "Delete payload",
        });
    }
    let mut spis = Vec::with_capacity(count);
    for _ in 0..count {
        spis.push(r.take(usize::from(spi_size))?.to_vec());
    }
    Ok(Delete {
        protocol,
        spi_size,
        spis,
    })
}

fn decode_cp(r: &mut Reader<'_>) -> Result<Config, DecodeError> {
    // RFC 7296 §3.15: CFG Type (1) | RESERVED (3) | attributes.
    let cfg_type = CfgType(r.u8()?);
    r.skip(3)?;
    let mut attributes = Vec::new();
    while !r.is_empty() {
        // §3.15.1: R (1 bit, ignored) | Attribute Type (15) | Length (2) | Value.
        let attr_type = r.u16()? & 0x7fff;
        let len = usize::from(r.u16()?);
        let value = r.take(len)?.to_vec();
        attributes.push(CfgAttribute { attr_type, value });
    }
    Ok(Config {
        cfg_type,
        attributes,
    })
}

// ----------------------------------------------------------- TS (RFC 7296 §3.13)

/// Selector length of a type 7 (IPv4 range) traffic selector.
const TS_IPV4_LEN: u16 = 16;
/// Selector length of a type 8 (IPv6 range) traffic selector.
const TS_IPV6_LEN: u16 = 40;

fn decode_ts_payload(r: &mut Reader<'_>) -> Result<Vec<TrafficSelector>, DecodeError> {
    // Number of TSs (1) | RESERVED (3) | selectors.
    let count = r.u8()?;
    r.skip(3)?;
    let mut out = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        out.push(decode_ts(r)?);
    }
    if !r.is_empty() {
        return Err(DecodeError::BadLength {
            what: "TS payload (selector count)",
        });
    }
    Ok(out)
}

fn decode_ts(r: &mut Reader<'_>) -> Result<TrafficSelector, DecodeError> {
    let ts_type = TsType(r.u8()?);
    let ip_protocol = r.u8()?;
    let len = r.u16()?;
    let expected = match ts_type {
        TsType::IPV4_ADDR_RANGE => TS_IPV4_LEN,
        TsType::IPV6_ADDR_RANGE => TS_IPV6_LEN,
        // Other TS types (e.g. RFC 9478 security labels) are not supported: reject so the
        // engine answers with INVALID_SYNTAX / TS_UNACCEPTABLE rather than silently narrowing.
        _ => {
            return Err(DecodeError::Invalid {
                what: "traffic selector type",
            })
        }
    };
    if len != expected {
        return Err(DecodeError::BadLength {
            what: "traffic selector",
        });
    }
    let start_port = r.u16()?;
    let end_port = r.u16()?;
    let (start_addr, end_addr) = if ts_type == TsType::IPV4_ADDR_RANGE {
        let s: [u8; 4] = array(r.take(4)?);
        let e: [u8; 4] = array(r.take(4)?);
        (IpAddr::V4(Ipv4Addr::from(s)), IpAddr::V4(Ipv4Addr::from(e)))
    } else {
        let s: [u8; 16] = array(r.take(16)?);
        let e: [u8; 16] = array(r.take(16)?);
        (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(e)))
    };
    Ok(TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        start_addr,
        end_addr,
    })
}

/// Copy a slice whose length the caller has just checked into an array.
fn array<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    a
}

fn encode_ts_payload(ts: &[TrafficSelector], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    // Number of TSs is one octet (RFC 7296 §3.13).
    out.push(count_u8("traffic selectors in a TS payload", ts.len())?);
    out.extend_from_slice(&[0, 0, 0]);
    for t in ts {
        encode_ts(t, out);
    }
    Ok(())
}

/// A selector whose two ends differ in family cannot be expressed on the wire; it is
/// written as an IPv6 range with the IPv4 end mapped (`::ffff:a.b.c.d`). Build selectors with
/// the [`TrafficSelector`] constructors to avoid this.
fn encode_ts(t: &TrafficSelector, out: &mut Vec<u8>) {
    let ports = |out: &mut Vec<u8>| {
        out.extend_from_slice(&t.start_port.to_be_bytes());
        out.extend_from_slice(&t.end_port.to_be_bytes());
    };
    match (t.start_addr, t.end_addr) {
        (IpAddr::V4(s), IpAddr::V4(e)) => {
            out.extend_from_slice(&[TsType::IPV4_ADDR_RANGE.0, t.ip_protocol]);
            out.extend_from_slice(&TS_IPV4_LEN.to_be_bytes());
            ports(out);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&e.octets());
        }
        (s, e) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            out.extend_from_slice(&[TsType::IPV6_ADDR_RANGE.0, t.ip_protocol]);
            out.extend_from_slice(&TS_IPV6_LEN.to_be_bytes());
            ports(out);
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(e).octets());
        }
    }
}
