//! The aws-lc-rs provider: [`AwsLcProvider`].
//!
//! Supported (IANA IKEv2 IDs):
//! * Key exchange: MODP-2048/3072 (14/15), ECP-256/384/521 (19/20/21), Curve25519 (31),
//!   ML-KEM-512/768/1024 (35/36/37).
//! * PRF: HMAC-SHA1 (2), HMAC-SHA2-256/384/512 (5/6/7).
//! * SK ciphers: AES-GCM-16 (20, 128/192/256-bit keys), ChaCha20-Poly1305 (28), AES-CBC (12,
//!   128/192/256) with INTEG HMAC-SHA1-96 (2) or HMAC-SHA2-256-128/384-192/512-256 (12/13/14).
//! * Signatures: every [`SignatureScheme`], public keys given as DER SubjectPublicKeyInfo.
mod ecdh;
mod mlkem;
mod modp;
mod modp_primes;
mod prf;
mod sk;

use aws_lc_rs::digest;

use crate::{
    CryptoError, CryptoProvider, HashAlgorithm, KeyExchange, Prf, SignatureScheme, SkCipher,
};
use ecdh::EcdhGroup;
use mlkem::MlKem;
use modp::ModpGroup;
use prf::HmacPrf;

/// The production crypto provider, backed by aws-lc-rs.
pub struct AwsLcProvider {
    modp2048: ModpGroup,
    modp3072: ModpGroup,
}

impl AwsLcProvider {
    /// A provider with every supported algorithm.
    pub fn new() -> Self {
        AwsLcProvider {
            modp2048: ModpGroup::modp2048(),
            modp3072: ModpGroup::modp3072(),
        }
    }
}

impl Default for AwsLcProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for AwsLcProvider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AwsLcProvider")
    }
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

impl CryptoProvider for AwsLcProvider {
    fn name(&self) -> &'static str {
        "aws-lc-rs"
    }

    fn key_exchange(&self, id: u16) -> Option<&dyn KeyExchange> {
        Some(match id {
            14 => &self.modp2048,
            15 => &self.modp3072,
            19 => &EcdhGroup::ECP256,
            20 => &EcdhGroup::ECP384,
            21 => &EcdhGroup::ECP521,
            31 => &EcdhGroup::CURVE25519,
            35 => &MlKem::ML_KEM_512,
            36 => &MlKem::ML_KEM_768,
            37 => &MlKem::ML_KEM_1024,
            _ => return None,
        })
    }

    fn prf(&self, id: u16) -> Option<&dyn Prf> {
        Some(match id {
            2 => &HmacPrf::SHA1,
            5 => &HmacPrf::SHA256,
            6 => &HmacPrf::SHA384,
            7 => &HmacPrf::SHA512,
            _ => return None,
        })
    }

    fn sk_key_lengths(
        &self,
        encr: u16,
        key_bits: Option<u16>,
        integ: u16,
    ) -> Option<(usize, usize)> {
        sk::key_lengths(encr, key_bits, integ)
    }

    fn sk_cipher(
        &self,
        encr: u16,
        key_bits: Option<u16>,
        integ: u16,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Box<dyn SkCipher>, CryptoError> {
        sk::build(encr, key_bits, integ, encr_key, integ_key)
    }

    fn hash(&self, alg: HashAlgorithm, data: &[&[u8]]) -> Vec<u8> {
        let mut ctx = digest::Context::new(digest_alg(alg));
        for part in data {
            ctx.update(part);
        }
        ctx.finish().as_ref().to_vec()
    }

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
