//! [`ComposedProvider`]: a crypto provider assembled from parts, each replaceable on its own.
//!
//! The engine sees only [`CryptoProvider`] (`Arc<dyn CryptoProvider>`); this struct is how a
//! provider is *built*. Start from a complete one ([`crate::awslc::aws_lc`]) and swap or add
//! parts: `aws_lc().with_key_exchange(Arc::new(MyKem))` adds `MyKem` under its
//! [`KeyExchange::id`], or replaces the built-in with that ID. (rustls' `CryptoProvider` struct
//! is the model: plain data, composed by value, no registry.)
use std::sync::Arc;

use crate::esp::EspCipherFactory;
use crate::{
    CryptoError, CryptoProvider, HashAlgorithm, KeyExchange, Prf, SignatureScheme, SkCipher,
};

/// Builds SK-payload ciphers (RFC 7296 §3.14) from IKEv2 transform IDs; the part behind
/// [`CryptoProvider::sk_key_lengths`] and [`CryptoProvider::sk_cipher`].
pub trait SkCipherFactory: Send + Sync {
    /// See [`CryptoProvider::sk_key_lengths`].
    fn key_lengths(&self, encr: u16, key_bits: Option<u16>, integ: u16) -> Option<(usize, usize)>;
    /// See [`CryptoProvider::sk_cipher`].
    fn build(
        &self,
        encr: u16,
        key_bits: Option<u16>,
        integ: u16,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Box<dyn SkCipher>, CryptoError>;
}

/// The hash part, behind [`CryptoProvider::hash`].
pub trait Hasher: Send + Sync {
    /// Hash the concatenation of `data`.
    fn hash(&self, alg: HashAlgorithm, data: &[&[u8]]) -> Vec<u8>;
}

/// The signature-verification part, behind [`CryptoProvider::verify`].
pub trait SignatureVerifier: Send + Sync {
    /// See [`CryptoProvider::verify`].
    fn verify(
        &self,
        scheme: SignatureScheme,
        spki_der: &[u8],
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError>;
}

/// A provider made of parts. The fields are public so a caller can also inspect or prune them
/// (`p.key_exchanges.retain(|k| k.id() != 14)`); lookups take the first entry with the ID, and
/// the `with_*` methods keep IDs unique.
#[derive(Clone)]
pub struct ComposedProvider {
    /// Short name for logs.
    pub name: &'static str,
    /// Key-exchange methods (transform type 4 / ADDKEn), found by [`KeyExchange::id`].
    pub key_exchanges: Vec<Arc<dyn KeyExchange>>,
    /// PRFs (transform type 2), found by [`Prf::id`].
    pub prfs: Vec<Arc<dyn Prf>>,
    /// SK-payload ciphers.
    pub sk_ciphers: Arc<dyn SkCipherFactory>,
    /// ESP ciphers for the userspace data plane (pqike-esp builds its per-SA ciphers here).
    pub esp_ciphers: Arc<dyn EspCipherFactory>,
    /// Hashes (NAT detection, CERTREQ).
    pub hasher: Arc<dyn Hasher>,
    /// AUTH signature verification.
    pub verifier: Arc<dyn SignatureVerifier>,
}

impl ComposedProvider {
    /// Adds `kx`, replacing any key exchange with the same ID (in place, so the order of the
    /// others is kept).
    pub fn with_key_exchange(mut self, kx: Arc<dyn KeyExchange>) -> Self {
        replace_or_push(&mut self.key_exchanges, kx, |k| k.id());
        self
    }

    /// Removes the key exchange with this ID, if present (e.g. to drop MODP groups).
    pub fn without_key_exchange(mut self, id: u16) -> Self {
        self.key_exchanges.retain(|k| k.id() != id);
        self
    }

    /// Adds `prf`, replacing any PRF with the same ID.
    pub fn with_prf(mut self, prf: Arc<dyn Prf>) -> Self {
        replace_or_push(&mut self.prfs, prf, |p| p.id());
        self
    }

    /// Replaces the SK cipher factory.
    pub fn with_sk_ciphers(mut self, f: Arc<dyn SkCipherFactory>) -> Self {
        self.sk_ciphers = f;
        self
    }

    /// Replaces the ESP cipher factory.
    pub fn with_esp_ciphers(mut self, f: Arc<dyn EspCipherFactory>) -> Self {
        self.esp_ciphers = f;
        self
    }

    /// Replaces the hash part.
    pub fn with_hasher(mut self, h: Arc<dyn Hasher>) -> Self {
        self.hasher = h;
        self
    }

    /// Replaces the signature verifier.
    pub fn with_verifier(mut self, v: Arc<dyn SignatureVerifier>) -> Self {
        self.verifier = v;
        self
    }

    /// Renames the provider (the name shows in logs).
    pub fn with_name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The key exchange with this ID as a shareable part, e.g. to wrap it in a
    /// [`crate::KeyPool`] and put the wrapper back with [`ComposedProvider::with_key_exchange`].
    pub fn key_exchange_part(&self, id: u16) -> Option<Arc<dyn KeyExchange>> {
        self.key_exchanges.iter().find(|k| k.id() == id).cloned()
    }

    /// Every key-exchange ID this provider offers, in list order.
    pub fn key_exchange_ids(&self) -> Vec<u16> {
        self.key_exchanges.iter().map(|k| k.id()).collect()
    }
}

fn replace_or_push<T: ?Sized>(list: &mut Vec<Arc<T>>, item: Arc<T>, id: impl Fn(&T) -> u16) {
    let want = id(&item);
    match list.iter_mut().find(|x| id(x) == want) {
        Some(slot) => *slot = item,
        None => list.push(item),
    }
}

impl core::fmt::Debug for ComposedProvider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ComposedProvider")
            .field("name", &self.name)
            .field("key_exchanges", &self.key_exchange_ids())
            .field(
                "prfs",
                &self.prfs.iter().map(|p| p.id()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl CryptoProvider for ComposedProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn key_exchange(&self, id: u16) -> Option<&dyn KeyExchange> {
        self.key_exchanges
            .iter()
            .find(|k| k.id() == id)
            .map(|k| &**k)
    }

    fn prf(&self, id: u16) -> Option<&dyn Prf> {
        self.prfs.iter().find(|p| p.id() == id).map(|p| &**p)
    }

    fn sk_key_lengths(
        &self,
        encr: u16,
        key_bits: Option<u16>,
        integ: u16,
    ) -> Option<(usize, usize)> {
        self.sk_ciphers.key_lengths(encr, key_bits, integ)
    }

    fn sk_cipher(
        &self,
        encr: u16,
        key_bits: Option<u16>,
        integ: u16,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Box<dyn SkCipher>, CryptoError> {
        self.sk_ciphers
            .build(encr, key_bits, integ, encr_key, integ_key)
    }

    fn hash(&self, alg: HashAlgorithm, data: &[&[u8]]) -> Vec<u8> {
        self.hasher.hash(alg, data)
    }

    fn verify(
        &self,
        scheme: SignatureScheme,
        spki_der: &[u8],
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        self.verifier.verify(scheme, spki_der, data, sig)
    }
}
