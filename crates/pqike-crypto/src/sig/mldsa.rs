//! ML-DSA-44/65/87 (FIPS 204) through aws-lc-rs: pure mode, empty context string, hedged signing.
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self as awssig, KeyPair};

use super::{key_rejected, pq_spki_raw_key, SignatureScheme, SigningKey};
use crate::CryptoError;

const LEVELS: [(
    SignatureScheme,
    &awssig::PqdsaSigningAlgorithm,
    &awssig::PqdsaVerificationAlgorithm,
); 3] = [
    (
        SignatureScheme::MlDsa44,
        &awssig::ML_DSA_44_SIGNING,
        &awssig::ML_DSA_44,
    ),
    (
        SignatureScheme::MlDsa65,
        &awssig::ML_DSA_65_SIGNING,
        &awssig::ML_DSA_65,
    ),
    (
        SignatureScheme::MlDsa87,
        &awssig::ML_DSA_87_SIGNING,
        &awssig::ML_DSA_87,
    ),
];

fn level(
    scheme: SignatureScheme,
) -> Result<
    (
        &'static awssig::PqdsaSigningAlgorithm,
        &'static awssig::PqdsaVerificationAlgorithm,
    ),
    CryptoError,
> {
    LEVELS
        .into_iter()
        .find(|(s, _, _)| *s == scheme)
        .map(|(_, sign, verify)| (sign, verify))
        .ok_or_else(|| CryptoError::Unsupported(format!("{} is not ML-DSA", scheme.name())))
}

/// Verify an ML-DSA signature; the SPKI must carry exactly `scheme`'s OID.
pub(super) fn verify(
    scheme: SignatureScheme,
    spki_der: &[u8],
    data: &[u8],
    sig: &[u8],
) -> Result<(), CryptoError> {
    let (_, alg) = level(scheme)?;
    let key = pq_spki_raw_key(scheme, spki_der)?;
    awssig::UnparsedPublicKey::new(alg, key)
        .verify(data, sig)
        .map_err(|_| CryptoError::BadSignature)
}

/// An ML-DSA key (aws-lc-rs `PqdsaKeyPair`).
pub struct MlDsaSigningKey {
    pair: awssig::PqdsaKeyPair,
    scheme: [SignatureScheme; 1],
    spki: Vec<u8>,
}

impl MlDsaSigningKey {
    fn wrap(pair: awssig::PqdsaKeyPair, scheme: SignatureScheme) -> Result<Self, CryptoError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::Internal)?
            .as_ref()
            .to_vec();
        Ok(MlDsaSigningKey {
            pair,
            scheme: [scheme],
            spki,
        })
    }

    /// A fresh random key for `scheme` (must be ML-DSA).
    pub fn generate(scheme: SignatureScheme) -> Result<Self, CryptoError> {
        let (alg, _) = level(scheme)?;
        Self::wrap(
            awssig::PqdsaKeyPair::generate(alg).map_err(|_| CryptoError::Internal)?,
            scheme,
        )
    }

    /// The key for a 32-octet FIPS 204 seed ξ (deterministic: same seed, same key).
    pub fn from_seed(scheme: SignatureScheme, seed: &[u8]) -> Result<Self, CryptoError> {
        let (alg, _) = level(scheme)?;
        let pair = awssig::PqdsaKeyPair::from_seed(alg, seed)
            .map_err(|_| key_rejected("ML-DSA seed must be 32 octets"))?;
        Self::wrap(pair, scheme)
    }

    /// From PKCS#8 (RFC 9881 §6 / OneAsymmetricKey): the seed form, the expanded form, or both
    /// (OpenSSL 3.5's default "seed-priv"; aws-lc checks that both agree). The level comes from
    /// the key's OID.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        for (scheme, alg, _) in LEVELS {
            if let Ok(pair) = awssig::PqdsaKeyPair::from_pkcs8(alg, der) {
                return Self::wrap(pair, scheme);
            }
        }
        Err(key_rejected("not an ML-DSA PKCS#8 key"))
    }

    /// The PKCS#8 v1 encoding, seed form (RFC 9881 §6). Fails for a key that was loaded from
    /// the expanded-only form (no seed to write).
    pub fn to_pkcs8(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        Ok(zeroize::Zeroizing::new(
            self.pair
                .to_pkcs8v1()
                .map_err(|_| CryptoError::Internal)?
                .as_ref()
                .to_vec(),
        ))
    }

    /// The scheme (ML-DSA level) of this key.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme[0]
    }
}

impl SigningKey for MlDsaSigningKey {
    fn schemes(&self) -> &[SignatureScheme] {
        &self.scheme
    }

    fn sign(&self, scheme: SignatureScheme, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if scheme != self.scheme[0] {
            return Err(CryptoError::Unsupported(format!(
                "{} with an {} key",
                scheme.name(),
                self.scheme[0].name()
            )));
        }
        let mut sig = vec![0u8; self.pair.algorithm().signature_len()];
        let n = self
            .pair
            .sign(data, &mut sig)
            .map_err(|_| CryptoError::Internal)?;
        sig.truncate(n);
        Ok(sig)
    }

    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }
}
