//! Test-only providers and parts (cargo feature `testing`, off by default; never in a daemon).
//!
//! * [`aws_lc_seeded`]: the aws-lc provider with every key generation drawn from a seeded
//!   generator, so two simulation runs with the same seed put the same KE payload bytes on the
//!   wire. It interoperates with [`crate::awslc::aws_lc`] (same wire formats and checks).
//! * [`WithId`] / [`private_mlkem768`]: an existing method answering to a private-use ID, to
//!   show that a provider composed with [`ComposedProvider::with_key_exchange`] can offer a key
//!   exchange the built-in table does not know.
use std::sync::Arc;

use crate::awslc::{aws_lc, key_exchanges, KeySource, MlKem};
use crate::provider::ComposedProvider;
use crate::{ActiveKeyExchange, CryptoError, DeterministicRandom, KeyExchange, SharedSecret};

mod seeded_mlkem;

use seeded_mlkem::SeededMlKem;

/// Label of the seeded provider's generator (domain separation from a
/// [`DeterministicRandom`] the engine gets with the same seed).
const KEYGEN_LABEL: &[u8] = b"pqike-crypto seeded keygen";

/// The aws-lc provider with deterministic key generation: X25519/ECDH private values via
/// aws-lc-rs `PrivateKey::from_private_key`, MODP exponents, and ML-KEM key generation (64-octet
/// seed) and encapsulation (32-octet m) via RustCrypto `ml-kem`, all drawn in call order from one
/// SHA-256 counter generator over `seed` ([`DeterministicRandom`]). Everything else (PRFs,
/// ciphers, hashes, verification) is the aws-lc provider unchanged.
///
/// Determinism holds as long as the calls come in the same order, which a sans-IO simulation
/// driven by a seeded engine guarantees. The ML-KEM part is ~6x slower than aws-lc (crates.md
/// §2); fine for tests.
pub fn aws_lc_seeded(seed: u64) -> ComposedProvider {
    let rng: Arc<dyn crate::SecureRandom> =
        Arc::new(DeterministicRandom::with_label(KEYGEN_LABEL, seed));
    let mut p = aws_lc().with_name("aws-lc-rs (seeded keygen)");
    for kx in key_exchanges(KeySource::Drawn(rng.clone())) {
        p = p.with_key_exchange(kx);
    }
    for params in [MlKem::ML_KEM_512, MlKem::ML_KEM_768, MlKem::ML_KEM_1024] {
        p = p.with_key_exchange(Arc::new(SeededMlKem::new(params, rng.clone())));
    }
    p
}

/// The private-use Key Exchange Method ID [`private_mlkem768`] answers to. IANA reserves
/// 1024-65535 of the Transform Type 4 registry for private use (RFC 7296 §3.3.2); such IDs are
/// only sent when configured.
pub const PRIVATE_MLKEM768_ID: u16 = 0x8001;

/// An existing key exchange under another ID (same KE data, same shared secret).
pub struct WithId {
    id: u16,
    inner: Arc<dyn KeyExchange>,
}

impl WithId {
    /// `inner` answering to `id`.
    pub fn new(id: u16, inner: Arc<dyn KeyExchange>) -> Self {
        WithId { id, inner }
    }
}

impl KeyExchange for WithId {
    fn id(&self) -> u16 {
        self.id
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        self.inner.start()
    }

    fn respond(&self, peer_data: &[u8]) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        self.inner.respond(peer_data)
    }
}

/// aws-lc ML-KEM-768 answering to [`PRIVATE_MLKEM768_ID`]: add it with
/// `aws_lc().with_key_exchange(private_mlkem768())`.
pub fn private_mlkem768() -> Arc<dyn KeyExchange> {
    Arc::new(WithId::new(
        PRIVATE_MLKEM768_ID,
        Arc::new(MlKem::ML_KEM_768),
    ))
}
