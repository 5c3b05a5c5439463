//! The Internet checksum (RFC 1071), shared by everything that checks or rebuilds upper-layer
//! checksums around ESP: transport-mode delivery ([`crate::transport`]) and the daemon's
//! receive-side TCP coalescing, which verifies every segment it merges.
//!
//! Call [`sum`] once per piece (pseudo-header fields, headers, payload) into one accumulator,
//! then [`fold`] it; a checksum to write is `!fold(..)`, and a received packet whose sum over
//! pseudo-header and segment (checksum included) folds to `0xffff` is intact.

/// Adds `data` to the unfolded one's-complement sum `acc`.
///
/// `data` must start at an even offset of the summed whole (only the last piece may have an
/// odd length, its tail padded with zero as RFC 1071 says). Sums 32-bit big-endian words: a
/// one's-complement sum may be taken in any word size that is a multiple of 16 bits and
/// folded at the end (RFC 1071 §2(C)), and this halves the additions on the per-segment
/// path. No overflow: a 64 KiB packet adds at most 2^14 words below 2^32.
#[inline]
pub fn sum(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut last = [0u8; 4];
    last[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(last))
}

/// Folds an accumulator from [`sum`] into 16 bits (end-around carries).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(0, &data)), 0xddf2);
    }

    /// Word size and the split into pieces do not change the result: the same as a plain
    /// 16-bit sum for every length 0..64 (odd tails included) and any even split point.
    #[test]
    fn matches_a_16_bit_sum_for_any_length_and_split() {
        let data: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8 | 0x80).collect();
        for len in 0..data.len() {
            let d = &data[..len];
            let mut want = 0u64;
            for c in d.chunks(2) {
                want += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
            let want = fold(want);
            assert_eq!(fold(sum(0, d)), want, "len {len}");
            for at in (0..=len).step_by(2) {
                assert_eq!(
                    fold(sum(sum(0, &d[..at]), &d[at..])),
                    want,
                    "len {len} at {at}"
                );
            }
        }
    }
}
