//! Randomness injected into the engine: the OS generator in production, a seeded deterministic
//! generator in simulation tests (so nonces and SPIs are reproducible).
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
    // implemented by the crypto helper
    _private: (),
}
