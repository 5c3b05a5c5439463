//! The aws-lc-rs provider: [`aws_lc`] returns a [`ComposedProvider`] whose parts all come from
//! aws-lc-rs (except SLH-DSA verification, which is RustCrypto `slh-dsa`, and MODP, which is
//! crypto-bigint arithmetic: aws-lc-rs has neither).
//!
//! Supported (IANA IKEv2 IDs):
//! * Key exchange: MODP-2048/3072 (14/15), ECP-256/384/521 (19/20/21), Curve25519 (31),
//!   ML-KEM-512/768/1024 (35/36/37).
//! * PRF: HMAC-SHA1 (2), HMAC-SHA2-256/384/512 (5/6/7).
//! * SK ciphers: AES-GCM-16 (20, 128/192/256-bit keys), ChaCha20-Poly1305 (28), AES-CBC (12,
//!   128/192/256) with INTEG HMAC-SHA1-96 (2) or HMAC-SHA2-256-128/384-192/512-256 (12/13/14).
//! * ESP ciphers ([`AwsLcEspCiphers`]): AES-GCM-16 (128/256), ChaCha20-Poly1305, AES-CBC
//!   (128/192/256) with HMAC-SHA2-256-128/384-192/512-256.
//! * Signatures: every [`SignatureScheme`], public keys given as DER SubjectPublicKeyInfo.
mod ecdh;
mod esp;
mod mlkem;
mod modp;
mod modp_primes;
mod prf;
mod sk;

pub use esp::AwsLcEspCiphers;

use std::sync::Arc;

use aws_lc_rs::digest;

use crate::provider::{ComposedProvider, Hasher, SignatureVerifier, SkCipherFactory};
use crate::{CryptoError, HashAlgorithm, KeyExchange, SignatureScheme, SkCipher};
pub(crate) use ecdh::EcdhGroup;
pub(crate) use mlkem::MlKem;
pub(crate) use modp::ModpGroup;
use prf::HmacPrf;

/// The production provider: every algorithm above, from aws-lc-rs.
pub fn aws_lc() -> ComposedProvider {
    ComposedProvider {
        name: "aws-lc-rs",
        key_exchanges: key_exchanges(KeySource::Library),
        prfs: vec![
            Arc::new(HmacPrf::SHA1),
            Arc::new(HmacPrf::SHA256),
            Arc::new(HmacPrf::SHA384),
            Arc::new(HmacPrf::SHA512),
        ],
        sk_ciphers: Arc::new(AwsLcSkCiphers),
        esp_ciphers: Arc::new(AwsLcEspCiphers),
        hasher: Arc::new(AwsLcHasher),
        verifier: Arc::new(AwsLcVerifier),
    }
}

/// The name existing call sites use: `AwsLcProvider::new()` is [`aws_lc()`], so
/// `Arc::new(AwsLcProvider::new())` still gives an `Arc<dyn CryptoProvider>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct AwsLcProvider;

impl AwsLcProvider {
    /// Same as [`aws_lc()`].
    #[allow(clippy::new_ret_no_self)] // kept so the pre-composition constructor still compiles
    pub fn new() -> ComposedProvider {
        aws_lc()
    }
}

/// Where a key exchange's private values come from.
#[derive(Clone)]
pub(crate) enum KeySource {
    /// The library's own generator (aws-lc's DRBG): production.
    Library,
    /// Bytes drawn from this generator (the seeded test provider, [`crate::testing`]).
    #[cfg(feature = "testing")]
    Drawn(Arc<dyn crate::SecureRandom>),
}

impl KeySource {
    /// Fill `buf` with private-key randomness.
    pub(crate) fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        match self {
            KeySource::Library => aws_lc_rs::rand::fill(buf).map_err(|_| CryptoError::Internal),
            #[cfg(feature = "testing")]
            KeySource::Drawn(rng) => rng.fill(buf),
        }
    }
}

/// The DH groups with private values from `source`, and aws-lc's ML-KEM (whose keys can only
/// come from aws-lc's own generator; the seeded provider replaces it).
pub(crate) fn key_exchanges(source: KeySource) -> Vec<Arc<dyn KeyExchange>> {
    vec![
        Arc::new(ModpGroup::modp2048(source.clone())),
        Arc::new(ModpGroup::modp3072(source.clone())),
        Arc::new(EcdhGroup::ECP256.with_source(source.clone())),
        Arc::new(EcdhGroup::ECP384.with_source(source.clone())),
        Arc::new(EcdhGroup::ECP521.with_source(source.clone())),
        Arc::new(EcdhGroup::CURVE25519.with_source(source)),
        Arc::new(MlKem::ML_KEM_512),
        Arc::new(MlKem::ML_KEM_768),
        Arc::new(MlKem::ML_KEM_1024),
    ]
}

/// Digest algorithm for a [`HashAlgorithm`].
pub(crate) fn digest_alg(alg: HashAlgorithm) -> &'static digest::Algorithm {
    match alg {
        HashAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashAlgorithm::Sha256 => &digest::SHA256,
        HashAlgorithm::Sha384 => &digest::SHA384,
        HashAlgorithm::Sha512 => &digest::SHA512,
    }
}

/// SK-payload ciphers from aws-lc-rs.
#[derive(Clone, Copy, Debug, Default)]
pub struct AwsLcSkCiphers;

impl SkCipherFactory for AwsLcSkCiphers {
    fn key_lengths(&self, encr: u16, key_bits: Option<u16>, integ: u16) -> Option<(usize, usize)> {
        sk::key_lengths(encr, key_bits, integ)
    }

    fn build(
        &self,
        encr: u16,
        key_bits: Option<u16>,
        integ: u16,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Box<dyn SkCipher>, CryptoError> {
        sk::build(encr, key_bits, integ, encr_key, integ_key)
    }
}

/// SHA-1/SHA-2 from aws-lc-rs.
#[derive(Clone, Copy, Debug, Default)]
pub struct AwsLcHasher;

impl Hasher for AwsLcHasher {
    fn hash(&self, alg: HashAlgorithm, data: &[&[u8]]) -> Vec<u8> {
        let mut ctx = digest::Context::new(digest_alg(alg));
        for part in data {
            ctx.update(part);
        }
        ctx.finish().as_ref().to_vec()
    }
}

/// Every [`SignatureScheme`] ([`crate::sig::verify`]): aws-lc-rs, plus RustCrypto for SLH-DSA.
#[derive(Clone, Copy, Debug, Default)]
pub struct AwsLcVerifier;

impl SignatureVerifier for AwsLcVerifier {
    fn verify(
        &self,
        scheme: SignatureScheme,
        spki_der: &[u8],
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        crate::sig::verify(scheme, spki_der, data, sig)
    }
}
