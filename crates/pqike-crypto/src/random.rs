//! Randomness injected into the engine: the OS generator in production, a seeded deterministic
//! generator in simulation tests (so nonces and SPIs are reproducible).
use std::sync::Mutex;

use aws_lc_rs::digest;

use crate::CryptoError;

/// A source of random bytes.
pub trait SecureRandom: Send + Sync {
    /// Fill `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError>;
}

/// The system CSPRNG (via aws-lc-rs).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRandom;

/// A deterministic generator for tests and simulations: SHA-256 in counter mode over a seed.
/// Not for production use.
#[derive(Debug)]
pub struct DeterministicRandom {
    /// Domain separation between generators that share a seed (empty for [`Self::new`]).
    label: &'static [u8],
    seed: u64,
    state: Mutex<CounterState>,
}

#[derive(Debug, Default)]
struct CounterState {
    /// Index of the next SHA-256 block.
    counter: u64,
    /// Unused tail of the last block.
    pending: Vec<u8>,
}

impl DeterministicRandom {
    /// A generator whose output stream is SHA-256(seed | counter) for counter = 0, 1, ...
    /// (both big-endian u64): the same seed gives the same bytes regardless of how the reads are
    /// split.
    pub fn new(seed: u64) -> Self {
        Self::with_label(b"", seed)
    }

    /// A generator whose stream is SHA-256(label | seed | counter): the same seed with a
    /// different label gives an unrelated stream (the seeded provider's key generation uses its
    /// own label, so it never repeats the engine's nonces even when a test passes both the same
    /// seed).
    pub fn with_label(label: &'static [u8], seed: u64) -> Self {
        DeterministicRandom {
            label,
            seed,
            state: Mutex::new(CounterState::default()),
        }
    }
}

impl SecureRandom for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        aws_lc_rs::rand::fill(buf).map_err(|_| CryptoError::Internal)
    }
}

impl SecureRandom for DeterministicRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        // A poisoned lock only means another test thread panicked mid-fill; the state is still
        // a valid counter, so keep going.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut filled = 0;
        while filled < buf.len() {
            if state.pending.is_empty() {
                let mut ctx = digest::Context::new(&digest::SHA256);
                ctx.update(self.label);
                ctx.update(&self.seed.to_be_bytes());
                ctx.update(&state.counter.to_be_bytes());
                state.counter = state.counter.wrapping_add(1);
                state.pending = ctx.finish().as_ref().to_vec();
            }
            let take = state.pending.len().min(buf.len() - filled);
            buf[filled..filled + take].copy_from_slice(&state.pending[..take]);
            state.pending.drain(..take);
            filled += take;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_is_reproducible_and_split_independent() {
        let a = DeterministicRandom::new(7);
        let b = DeterministicRandom::new(7);
        let mut x = [0u8; 100];
        a.fill(&mut x).unwrap();
        let mut y = [0u8; 100];
        b.fill(&mut y[..13]).unwrap();
        b.fill(&mut y[13..50]).unwrap();
        b.fill(&mut y[50..]).unwrap();
        assert_eq!(x, y);
        // First block is SHA-256(seed | 0).
        let first = digest::digest(
            &digest::SHA256,
            &[7u64.to_be_bytes(), 0u64.to_be_bytes()].concat(),
        );
        assert_eq!(&x[..32], first.as_ref());
        let c = DeterministicRandom::new(8);
        let mut z = [0u8; 100];
        c.fill(&mut z).unwrap();
        assert_ne!(x, z);
        let labelled = DeterministicRandom::with_label(b"keys", 7);
        let mut w = [0u8; 100];
        labelled.fill(&mut w).unwrap();
        assert_ne!(x, w);
        let first = digest::digest(
            &digest::SHA256,
            &[&b"keys"[..], &7u64.to_be_bytes(), &0u64.to_be_bytes()].concat(),
        );
        assert_eq!(&w[..32], first.as_ref());
    }

    #[test]
    fn system_random_fills() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        SystemRandom.fill(&mut a).unwrap();
        SystemRandom.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
