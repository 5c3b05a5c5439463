//! The generic payload header (RFC 7296 §3.2): `Next Payload (1) | C + RESERVED (1) | Payload
//! Length (2)`. This module is the only one that knows how wide Payload Length is on the wire.
//!
//! The rest of the codec carries body lengths as `u32`/`usize`. A 16-bit Payload Length caps a
//! payload at 65 535 octets including this header, too small for e.g. Classic McEliece public keys
//! (up to about 1.3 MB). draft-nir-ipsecme-big-payload and draft-tjhai-ikev2-beyond-64k-limit
//! propose ways to carry larger payloads; supporting one should only need [`PayloadHeader::new`],
//! [`PayloadHeader::encode`] and [`PayloadHeader::read`] to change.
use crate::reader::Reader;
use crate::registry::PayloadType;
use crate::writer::U16_FIELD_MAX;
use crate::{DecodeError, EncodeError, GENERIC_HEADER_LEN};

/// One generic payload header. Built by [`PayloadHeader::new`] (which refuses a body the Payload
/// Length field cannot describe) or decoded, so its length always fits the wire field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadHeader {
    next_payload: PayloadType,
    critical: bool,
    /// Payload Length as on the wire: header and body, at least [`PayloadHeader::LEN`].
    length: u16,
}

impl PayloadHeader {
    /// Octets the header occupies on the wire.
    pub const LEN: usize = GENERIC_HEADER_LEN;
    /// The largest Payload Length (header and body together): a 2-octet field (RFC 7296 §3.2).
    pub const MAX_PAYLOAD_LEN: usize = U16_FIELD_MAX;

    /// A header for a body of `body_len` octets. `what` names the payload (e.g. "KE payload") for
    /// the error when the body is too long to be described.
    pub fn new(
        next_payload: PayloadType,
        critical: bool,
        body_len: usize,
        what: &'static str,
    ) -> Result<PayloadHeader, EncodeError> {
        let len = body_len.checked_add(Self::LEN);
        match len.and_then(|l| u16::try_from(l).ok()) {
            Some(length) => Ok(PayloadHeader {
                next_payload,
                critical,
                length,
            }),
            None => Err(EncodeError::TooLong {
                what,
                // Only `body_len` near usize::MAX overflows the sum; report the largest value.
                len: len.unwrap_or(usize::MAX),
                max: Self::MAX_PAYLOAD_LEN,
            }),
        }
    }

    /// Next Payload: the type of the following payload (for SK/SKF: of the first inner one).
    pub fn next_payload(&self) -> PayloadType {
        self.next_payload
    }

    /// The Critical bit (RFC 7296 §2.5).
    pub fn critical(&self) -> bool {
        self.critical
    }

    /// Length of the body after the header.
    pub fn body_len(&self) -> u32 {
        // `length >= LEN` by construction (`new` adds it, `read` checks it).
        u32::from(self.length).saturating_sub(4)
    }

    /// Append the header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.next_payload.0);
        // Critical bit is the top bit; the 7 reserved bits are sent as zero (RFC 7296 §3.2).
        out.push(if self.critical { 0x80 } else { 0 });
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// Read one header and its body. The body must fit in what is left of `r`.
    pub(crate) fn read<'a>(r: &mut Reader<'a>) -> Result<(PayloadHeader, &'a [u8]), DecodeError> {
        let next_payload = PayloadType(r.u8()?);
        // The 7 reserved bits are ignored on receipt (RFC 7296 §3.2).
        let critical = r.u8()? & 0x80 != 0;
        let length = r.u16()?;
        let body_len =
            usize::from(length)
                .checked_sub(Self::LEN)
                .ok_or(DecodeError::BadLength {
                    what: "payload length below 4",
                })?;
        if body_len > r.left() {
            return Err(DecodeError::BadLength {
                what: "payload length beyond message",
            });
        }
        let body = r.take(body_len)?;
        Ok((
            PayloadHeader {
                next_payload,
                critical,
                length,
            },
            body,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_the_two_octet_field_including_the_header() {
        // 65 535 - 4 octets of body is the most a 2-octet Payload Length can describe.
        let h = PayloadHeader::new(PayloadType::KE, false, 65_531, "KE payload").unwrap();
        assert_eq!(h.body_len(), 65_531);
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, vec![PayloadType::KE.0, 0, 0xff, 0xff]);
        assert_eq!(
            PayloadHeader::new(PayloadType::KE, false, 65_532, "KE payload"),
            Err(EncodeError::TooLong {
                what: "KE payload",
                len: 65_536,
                max: 65_535
            })
        );
        assert_eq!(
            PayloadHeader::new(PayloadType::KE, false, usize::MAX, "KE payload"),
            Err(EncodeError::TooLong {
                what: "KE payload",
                len: usize::MAX,
                max: 65_535
            })
        );
    }

    #[test]
    fn read_checks_the_length_against_the_input() {
        let bytes = [PayloadType::NONCE.0, 0x81, 0, 6, 1, 2];
        let mut r = Reader::new(&bytes, "t");
        let (h, body) = PayloadHeader::read(&mut r).unwrap();
        assert_eq!(
            (h.next_payload(), h.critical(), h.body_len(), body),
            (PayloadType::NONCE, true, 2, &[1u8, 2][..])
        );
        let short = [0, 0, 0, 3];
        assert!(PayloadHeader::read(&mut Reader::new(&short, "t")).is_err());
        let beyond = [0, 0, 0, 7, 1, 2];
        assert!(PayloadHeader::read(&mut Reader::new(&beyond, "t")).is_err());
    }
}
