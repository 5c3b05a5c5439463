//! # pqike-crypto: the crypto-provider boundary
//!
//! The protocol engine never calls a crypto library directly: it asks a [`CryptoProvider`] for
//! key-exchange methods, PRFs, SK-payload ciphers, hashes, signature verification and randomness.
//! Algorithms are identified by their IANA IKEv2 transform IDs (plain `u16`), so this crate does
//! not depend on the wire crate.
//!
//! ## Provider model: a value made of parts
//! The engine holds an `Arc<dyn CryptoProvider>` and only calls the trait. A provider is *built*
//! as a [`ComposedProvider`]: a list of [`KeyExchange`]s and a list of [`Prf`]s (each found by
//! its `id()`), an [`SkCipherFactory`], an [`EspCipherFactory`] (the userspace ESP data plane's
//! ciphers, see [`esp`]), a [`Hasher`] and a [`SignatureVerifier`]. Each part can be replaced on
//! its own, by value (rustls' `CryptoProvider` struct is the model):
//!
//! ```
//! # use std::sync::Arc;
//! # use pqike_crypto::{awslc::aws_lc, CryptoProvider, KeyPool};
//! let base = aws_lc(); // every algorithm, from aws-lc-rs (`AwsLcProvider::new()` is the same)
//! // Serve ML-KEM-768 initiator keys from a pool that a worker thread refills.
//! let pool = Arc::new(KeyPool::new(base.key_exchange_part(36).unwrap(), 4));
//! let provider: Arc<dyn CryptoProvider> = Arc::new(base.with_key_exchange(pool.clone()));
//! pool.refill().unwrap(); // on the worker thread, whenever `pool.wants_refill()`
//! assert!(provider.key_exchange(36).is_some() && provider.key_exchange(31).is_some());
//! ```
//!
//! Call order: build the provider once at start-up (`aws_lc()`, then `with_*` for each added or
//! replaced part), hand `Arc::new(provider.clone())` to the engine and
//! `provider.esp_ciphers.clone()` to the data plane (`pqike_esp::DataPlane::with_ciphers`); the
//! parts are immutable afterwards (only a [`KeyPool`]'s contents change, behind its own lock).
//!
//! ## Key exchange model (DH and KEM through one interface)
//! * Initiator: [`KeyExchange::start`] gives an [`ActiveKeyExchange`] whose
//!   [`ActiveKeyExchange::public_data`] goes into the KE payload (DH public value, or ML-KEM
//!   encapsulation key); when the response arrives, [`ActiveKeyExchange::complete`] with the peer's KE
//!   data gives the shared secret (DH agreement, or ML-KEM decapsulation).
//! * Responder: [`KeyExchange::respond`] with the initiator's KE data gives our KE data (DH public
//!   value, or ML-KEM ciphertext) and the shared secret in one step.
//! * Slow key generation (Classic McEliece, ~100 ms) moves off the engine's thread with a
//!   [`KeyPool`] around the method: `start()` takes a pregenerated key pair (each used once),
//!   a worker calls [`KeyPool::refill`], and an empty pool falls back to generating inline
//!   (counted in [`keypool::KeyPoolStats`]).
//!
//! ## SK payload protection
//! [`CryptoProvider::sk_cipher`] builds an [`SkCipher`] from the negotiated ENCR/INTEG and keys. It
//! seals and opens whole message buffers in place: associated data is `buf[..iv_offset]`, the IV
//! (filled by the caller) follows, then the plaintext/ciphertext, then the ICV at the end.
//!
//! ## ESP packet protection
//! [`EspCipherFactory::build`] gives one [`EspCipher`] per SA direction; it seals and opens ESP
//! packets in place (`SPI | Seq | IV | payload | ICV`, RFC 4303 §2), one call per packet, no
//! allocation. [`awslc::AwsLcEspCiphers`] implements AES-GCM-16, ChaCha20-Poly1305 and
//! AES-CBC + HMAC-SHA2.
//!
//! ## Authentication
//! [`sig`] maps [`SignatureScheme`]s to RFC 7427 AlgorithmIdentifiers and classic auth methods,
//! converts ECDSA signatures between DER and r | s, and provides [`SigningKey`] implementations.
//! [`pki`] loads PEM certificates and keys, parses certificates and verifies chains; peer AUTH
//! signatures are then checked with [`CryptoProvider::verify`] and the certificate's SPKI.
//! Post-quantum signatures (draft-ietf-ipsecme-ikev2-pqc-auth): ML-DSA-44/65/87 from aws-lc-rs,
//! SLH-DSA (all twelve parameter sets) from RustCrypto `slh-dsa` behind the default `slh-dsa`
//! cargo feature; both in certificates and in AUTH. [`pkigen`] generates test CAs,
//! intermediates and end-entity certificates for every supported key type.
//!
//! ## Randomness and the deterministic mode
//! [`SystemRandom`] in production; [`DeterministicRandom`] for reproducible simulations (the
//! engine's nonces and SPIs). Key generation inside the aws-lc provider uses aws-lc's own
//! generator. With the cargo feature `testing` (off by default), `testing::aws_lc_seeded(seed)`
//! draws every private value (DH/ECDH, ML-KEM key generation and encapsulation) from a seeded
//! generator instead, so a simulation's KE payloads are byte-for-byte reproducible; it
//! interoperates with the production provider. (Signatures are not covered: ECDSA, RSA-PSS and
//! hedged ML-DSA signing stay randomized.)
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod awslc;
pub mod esp;
pub mod keypool;
pub mod pki;
pub mod pkigen;
pub mod provider;
pub mod random;
pub mod sig;
#[cfg(feature = "testing")]
pub mod testing;

use zeroize::Zeroizing;

pub use esp::{EspCipher, EspCipherFactory};
pub use keypool::KeyPool;
pub use provider::{ComposedProvider, Hasher, SignatureVerifier, SkCipherFactory};
pub use random::{DeterministicRandom, SecureRandom, SystemRandom};
pub use sig::{SignatureScheme, SigningKey};

/// Errors from crypto operations. Never carries secret material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The peer's public value / encapsulation key / ciphertext is malformed (wrong length, ML-KEM
    /// modulus check failed, point not on curve...). The engine answers INVALID_SYNTAX.
    #[error("invalid peer key-exchange data: {0}")]
    InvalidPeerKey(&'static str),
    /// Algorithm or key size not supported by this provider.
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
    /// ICV / tag verification failed, or ciphertext not a multiple of the block size.
    #[error("integrity check failed")]
    Integrity,
    /// Signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// Malformed key, certificate or other input.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// Certificate chain or validity failure.
    #[error("certificate verification failed: {0}")]
    Certificate(String),
    /// The underlying library failed unexpectedly.
    #[error("internal crypto failure")]
    Internal,
    /// A buffer handed to a seal operation cannot hold the packet layout (a caller bug; carries
    /// no text so the per-packet ESP path never allocates).
    #[error("buffer does not fit the packet layout")]
    Layout,
}

/// A shared secret (DH g^ir or KEM ss). Zeroized on drop.
#[derive(Clone)]
pub struct SharedSecret(pub Zeroizing<Vec<u8>>);

impl SharedSecret {
    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SharedSecret({} bytes)", self.0.len())
    }
}

/// A key-exchange method (transform type 4 / ADDKEn), DH or KEM.
pub trait KeyExchange: Send + Sync {
    /// IANA Key Exchange Method ID.
    fn id(&self) -> u16;
    /// Initiator side: generate a fresh ephemeral key pair (fresh randomness every call).
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, CryptoError>;
    /// Responder side: from the initiator's KE data, produce our KE data and the shared secret.
    /// For ML-KEM this runs the FIPS 203 §7.2 encapsulation-key checks first (type and modulus).
    fn respond(&self, peer_data: &[u8]) -> Result<(Vec<u8>, SharedSecret), CryptoError>;
}

/// An initiator's key exchange in progress.
pub trait ActiveKeyExchange: Send {
    /// Our KE payload data.
    fn public_data(&self) -> &[u8];
    /// Finish with the responder's KE data (ML-KEM: runs the §7.3 ciphertext length check, then
    /// decapsulates; implicit rejection means a wrong ciphertext gives a wrong secret, not an error).
    fn complete(self: Box<Self>, peer_data: &[u8]) -> Result<SharedSecret, CryptoError>;
}

/// A pseudorandom function (HMAC-SHA2 family).
pub trait Prf: Send + Sync {
    /// IANA PRF transform ID.
    fn id(&self) -> u16;
    /// Output length in octets.
    fn output_len(&self) -> usize;
    /// Preferred key length in octets (RFC 7296 §2.13: SK_d, SK_pi, SK_pr have this length;
    /// for HMAC PRFs it equals the output length).
    fn key_len(&self) -> usize;
    /// `prf(key, data[0] | data[1] | ...)`.
    fn compute(&self, key: &[u8], data: &[&[u8]]) -> Zeroizing<Vec<u8>>;
}

/// Protection of SK / SKF payloads with one direction's keys.
pub trait SkCipher: Send + Sync {
    /// Length of the IV on the wire (8 for AES-GCM and ChaCha20-Poly1305, 16 for AES-CBC).
    fn iv_len(&self) -> usize;
    /// The plaintext (payloads + padding + Pad Length octet) must be a multiple of this
    /// (16 for AES-CBC; 1 for AEAD ciphers).
    fn block_len(&self) -> usize;
    /// Length of the ICV.
    fn icv_len(&self) -> usize;
    /// Seal in place. `buf` = AAD(`..iv_offset`) | IV (`iv_len`, already filled by the caller) |
    /// plaintext | ICV space (`icv_len`, contents ignored). Encrypts the plaintext and writes the ICV.
    /// AEAD: AAD is everything before the IV (RFC 5282 §5.1). CBC+HMAC: the ICV is the truncated
    /// HMAC over everything before the ICV, after encryption (RFC 7296 §3.14).
    fn seal(&self, buf: &mut [u8], iv_offset: usize) -> Result<(), CryptoError>;
    /// Open in place (same layout). Verifies the ICV in constant time, then decrypts; on success the
    /// plaintext is at `iv_offset + iv_len .. buf.len() - icv_len`.
    fn open(&self, buf: &mut [u8], iv_offset: usize) -> Result<(), CryptoError>;
}

/// Hash algorithms needed by the protocol outside signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-1: NAT detection hashes (RFC 7296 §2.23), CERTREQ CA key hashes (§3.7).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// The provider: everything the engine needs. Object-safe; the engine holds `Arc<dyn CryptoProvider>`.
pub trait CryptoProvider: Send + Sync {
    /// Short name for logs, e.g. "aws-lc-rs".
    fn name(&self) -> &'static str;
    /// The key-exchange method with this IANA ID, if supported.
    fn key_exchange(&self, id: u16) -> Option<&dyn KeyExchange>;
    /// The PRF with this IANA ID, if supported.
    fn prf(&self, id: u16) -> Option<&dyn Prf>;
    /// Key lengths `(encryption key incl. salt, integrity key)` in octets for an SK cipher built
    /// from ENCR `encr` (with Key Length attribute `key_bits`, required for AES) and INTEG `integ`
    /// (0 = none, required for AEAD ciphers). `None` if the combination is unsupported or invalid
    /// (e.g. AEAD with an INTEG transform, CBC without one).
    fn sk_key_lengths(
        &self,
        encr: u16,
        key_bits: Option<u16>,
        integ: u16,
    ) -> Option<(usize, usize)>;
    /// Build an SK cipher for one direction.
    fn sk_cipher(
        &self,
        encr: u16,
        key_bits: Option<u16>,
        integ: u16,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Box<dyn SkCipher>, CryptoError>;
    /// Hash `data`.
    fn hash(&self, alg: HashAlgorithm, data: &[&[u8]]) -> Vec<u8>;
    /// Verify `sig` over `data` with the public key in `spki_der` (a DER SubjectPublicKeyInfo)
    /// under `scheme`.
    fn verify(
        &self,
        scheme: SignatureScheme,
        spki_der: &[u8],
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError>;
}

/// Constant-time equality for MACs and AUTH values.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
