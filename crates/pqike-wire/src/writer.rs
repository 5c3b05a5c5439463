//! Fixed-width length and count fields for the encoder: every value is checked against its
//! field, so a structure too large for the wire format fails with [`EncodeError`] instead of
//! being written with a truncated length (which the peer would see as a corrupt message).
use crate::EncodeError;

/// Largest value of a one-octet length or count field.
const U8_FIELD_MAX: usize = 0xff;
/// Largest value of a two-octet length or count field.
pub(crate) const U16_FIELD_MAX: usize = 0xffff;

/// A length that must fit a one-octet field (e.g. SPI Size, RFC 7296 §3.3.1 / §3.10).
pub(crate) fn len_u8(what: &'static str, len: usize) -> Result<u8, EncodeError> {
    u8::try_from(len).map_err(|_| EncodeError::TooLong {
        what,
        len,
        max: U8_FIELD_MAX,
    })
}

/// A length that must fit a two-octet field (e.g. an attribute's Length, RFC 7296 §3.3.5).
pub(crate) fn len_u16(what: &'static str, len: usize) -> Result<u16, EncodeError> {
    u16::try_from(len).map_err(|_| EncodeError::TooLong {
        what,
        len,
        max: U16_FIELD_MAX,
    })
}

/// A number of elements that must fit a one-octet field (e.g. Num Transforms, RFC 7296 §3.3.1).
pub(crate) fn count_u8(what: &'static str, count: usize) -> Result<u8, EncodeError> {
    u8::try_from(count).map_err(|_| EncodeError::TooMany {
        what,
        count,
        max: U8_FIELD_MAX,
    })
}

/// A number of elements that must fit a two-octet field (Num of SPIs, RFC 7296 §3.11).
pub(crate) fn count_u16(what: &'static str, count: usize) -> Result<u16, EncodeError> {
    u16::try_from(count).map_err(|_| EncodeError::TooMany {
        what,
        count,
        max: U16_FIELD_MAX,
    })
}

/// Write the two-octet length of a substructure that starts at `start` and ends at the end of
/// `out`, into its length field at `start + 2` (proposal and transform headers, RFC 7296
/// §3.3.1/§3.3.2, put it there), once the substructure is complete.
pub(crate) fn patch_len_u16(
    out: &mut [u8],
    start: usize,
    what: &'static str,
) -> Result<(), EncodeError> {
    let len = len_u16(what, out.len() - start)?;
    out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_accept_their_maximum_and_refuse_one_more() {
        assert_eq!(len_u8("x", 255), Ok(255));
        assert_eq!(
            len_u8("x", 256),
            Err(EncodeError::TooLong {
                what: "x",
                len: 256,
                max: 255
            })
        );
        assert_eq!(len_u16("x", 65_535), Ok(65_535));
        assert_eq!(
            len_u16("x", 65_536),
            Err(EncodeError::TooLong {
                what: "x",
                len: 65_536,
                max: 65_535
            })
        );
        assert_eq!(count_u8("x", 255), Ok(255));
        assert_eq!(
            count_u8("x", 256),
            Err(EncodeError::TooMany {
                what: "x",
                count: 256,
                max: 255
            })
        );
        assert_eq!(count_u16("x", 65_535), Ok(65_535));
        assert_eq!(
            count_u16("x", 65_536),
            Err(EncodeError::TooMany {
                what: "x",
                count: 65_536,
                max: 65_535
            })
        );
    }

    #[test]
    fn patch_writes_the_length_from_start() {
        let mut out = vec![9, 9, 0, 0, 1, 2, 3];
        patch_len_u16(&mut out, 0, "x").unwrap();
        assert_eq!(out, vec![9, 9, 0, 7, 1, 2, 3]);
        let mut big = vec![0u8; 65_536];
        assert!(patch_len_u16(&mut big, 0, "x").is_err());
        assert_eq!(&big[2..4], &[0, 0], "nothing is written on error");
    }
}
