//! Anti-replay window (RFC 4303 §3.4.3) and ESN high-bit inference (RFC 4303 Appendix A).
//!
//! The window is a ring of 64-bit blocks (the RFC 6479 layout): advancing the right edge clears
//! whole blocks instead of shifting the bitmap, so the cost of an update does not grow with the
//! window. One spare block keeps the bits of the current window intact while the newest block is
//! reused.

/// Largest window accepted by [`ReplayWindow::new`].
pub const MAX_WINDOW: u32 = 65536;
/// Default window (packets), as in the issue: 1024.
pub const DEFAULT_WINDOW: u32 = 1024;

/// Why [`ReplayWindow::check`] refused a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// Already received.
    Duplicate,
    /// Left of the window (or 0, which is never sent: RFC 4303 §3.3.3 starts at 1).
    TooOld,
}

/// Receive-side sliding window over full 64-bit sequence numbers.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    blocks: Box<[u64]>,
    /// Window width in packets (a multiple of 64, at least 64).
    size: u64,
    /// Highest sequence number accepted so far (0 before the first packet).
    top: u64,
}

impl ReplayWindow {
    /// A window `size` packets wide, rounded up to a multiple of 64 (minimum 64, maximum
    /// [`MAX_WINDOW`]). RFC 4303 §3.4.3 asks for at least 32 and a default of 64; we default to
    /// [`DEFAULT_WINDOW`] because reordering across cores and GRO batches is common.
    pub fn new(size: u32) -> Self {
        let size = u64::from(size.clamp(64, MAX_WINDOW).div_ceil(64) * 64);
        let nblocks = (size / 64 + 1) as usize;
        Self {
            blocks: vec![0u64; nblocks].into_boxed_slice(),
            size,
            top: 0,
        }
    }

    /// Window width in packets.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Highest sequence number accepted so far.
    pub fn top(&self) -> u64 {
        self.top
    }

    fn slot(&self, seq: u64) -> (usize, u64) {
        let block = ((seq / 64) % self.blocks.len() as u64) as usize;
        (block, 1u64 << (seq % 64))
    }

    /// Whether `seq` may be accepted. Call before the ICV check (cheap rejection of replays);
    /// it does not change the window.
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::TooOld);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size {
            return Err(ReplayError::TooOld);
        }
        let (block, bit) = self.slot(seq);
        if self.blocks[block] & bit != 0 {
            Err(ReplayError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Records `seq` as received. RFC 4303 §3.4.3: only after the ICV verified, so forged packets
    /// cannot move the window. `seq` must have passed [`ReplayWindow::check`].
    pub fn update(&mut self, seq: u64) {
        if seq > self.top {
            let cur = self.top / 64;
            let new = seq / 64;
            // Blocks between the old and the new right edge now stand for new numbers: clear them.
            let clear = (new - cur).min(self.blocks.len() as u64);
            for i in 1..=clear {
                let idx = ((cur + i) % self.blocks.len() as u64) as usize;
                self.blocks[idx] = 0;
            }
            self.top = seq;
        }
        let (block, bit) = self.slot(seq);
        self.blocks[block] |= bit;
    }

    /// RFC 4303 Appendix A.2.2: the full 64-bit sequence number of a packet that carries only
    /// the low 32 bits, chosen so that it falls in or right of the window. `None` when the
    /// inferred high half would be below 0 or above 2^32-1 (the packet cannot be valid).
    pub fn infer_esn(&self, seq_lo: u32) -> Option<u64> {
        let w = self.size as u32; // size <= 65536, fits
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let hi = if tl >= w - 1 {
            // Case A: the window lies within one 2^32 subspace.
            if seq_lo >= tl - (w - 1) {
                th
            } else {
                th.checked_add(1)?
            }
        } else {
            // Case B: the window spans two subspaces.
            if seq_lo >= tl.wrapping_sub(w - 1) {
                th.checked_sub(1)?
            } else {
                th
            }
        };
        Some((u64::from(hi) << 32) | u64::from(seq_lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_window() {
        let mut w = ReplayWindow::new(64);
        assert_eq!(w.check(0), Err(ReplayError::TooOld));
        for s in [1, 3, 2, 64, 100] {
            assert_eq!(w.check(s), Ok(()), "{s}");
            w.update(s);
            assert_eq!(w.check(s), Err(ReplayError::Duplicate));
        }
        // 100 - 36 = 64 >= size: too old; 37 is the left edge.
        assert_eq!(w.check(36), Err(ReplayError::TooOld));
        assert_eq!(w.check(37), Ok(()));
        assert_eq!(w.check(64), Err(ReplayError::Duplicate));
    }

    #[test]
    fn big_jump_clears_everything() {
        let mut w = ReplayWindow::new(1024);
        for s in 1..=1024 {
            w.update(s);
        }
        w.update(1_000_000);
        for s in 1_000_000 - 1023..1_000_000 {
            assert_eq!(w.check(s), Ok(()), "{s}");
        }
        assert_eq!(w.check(1_000_000 - 1024), Err(ReplayError::TooOld));
    }

    #[test]
    fn sizes_round_up() {
        assert_eq!(ReplayWindow::new(0).size(), 64);
        assert_eq!(ReplayWindow::new(100).size(), 128);
        assert_eq!(ReplayWindow::new(4096).size(), 4096);
        assert_eq!(ReplayWindow::new(1 << 20).size(), 65536);
    }

    #[test]
    fn esn_inference_at_the_case_boundary() {
        // Tl = W - 1 is case A with the window starting exactly at 0 (found by the proptest).
        let mut w = ReplayWindow::new(64);
        w.update(63);
        assert_eq!(w.infer_esn(0), Some(0));
        assert_eq!(w.infer_esn(64), Some(64));
        w.update(62);
        assert_eq!(w.infer_esn(1), Some(1));
    }

    #[test]
    fn esn_inference_case_a_and_b() {
        let mut w = ReplayWindow::new(64);
        // Start: top 0, high half 0; low numbers are in subspace 0, numbers just below 2^32
        // would need subspace -1 and are refused.
        assert_eq!(w.infer_esn(5), Some(5));
        assert_eq!(w.infer_esn(u32::MAX), None);
        // Case A near the top of subspace 0: a small number means the next subspace.
        w.update(0xFFFF_FFF0);
        assert_eq!(w.infer_esn(0xFFFF_FFF5), Some(0xFFFF_FFF5));
        assert_eq!(w.infer_esn(0xFFFF_FFF0 - 63), Some(0xFFFF_FFF0 - 63));
        assert_eq!(w.infer_esn(3), Some(0x1_0000_0003));
        // After rolling over: case B, late packets of the old subspace keep high half 0.
        w.update(0x1_0000_0003);
        assert_eq!(w.infer_esn(0xFFFF_FFFE), Some(0xFFFF_FFFE));
        assert_eq!(w.infer_esn(10), Some(0x1_0000_000A));
        // Below the window the RFC rule picks the current subspace, i.e. far in the future:
        // such a packet passes the window check but its ICV (computed with high half 0) fails.
        assert_eq!(w.infer_esn(0xFFFF_FF00), Some(0x1_FFFF_FF00));
    }
}
