//! Signature schemes for IKE_AUTH (RFC 7296 methods 1/9/10/11, RFC 7427 method 14) and signing keys.
//!
//! * [`SignatureScheme`] maps to RFC 7427 AlgorithmIdentifiers
//!   ([`SignatureScheme::algorithm_identifier`] / [`SignatureScheme::from_algorithm_identifier`]),
//!   RFC 7427 hash IDs and the classic auth methods.
//! * ECDSA signatures are DER ECDSA-Sig-Value inside this crate (and for method 14); methods 9/10/11
//!   carry r | s (RFC 4754 §7): convert with [`ecdsa_der_to_raw`] / [`ecdsa_raw_to_der`].
//! * Signing keys: [`EcdsaSigningKey`], [`Ed25519SigningKey`], [`RsaSigningKey`],
//!   [`MlDsaSigningKey`], [`SlhDsaSigningKey`]; load them from PEM with
//!   [`crate::pki::load_private_key_pem`].
//!
//! ## Post-quantum signatures (draft-ietf-ipsecme-ikev2-pqc-auth)
//! ML-DSA-44/65/87 (FIPS 204) and the twelve SLH-DSA parameter sets (FIPS 205) go in RFC 7427
//! method 14 with the AlgorithmIdentifier `30 0b 06 09 60 86 48 01 65 03 04 03 XX` (parameters
//! absent; the same OIDs as in X.509, RFC 9881 / RFC 9909). They sign the SignedOctets directly:
//! pure mode, empty context string, no pre-hash, so [`SignatureScheme::hash`] is `None` and the
//! peer must have announced Identity (5) in SIGNATURE_HASH_ALGORITHMS. Signing is hedged
//! (randomized); verifiers cannot tell, and deterministic signatures verify the same.
//! * ML-DSA is aws-lc-rs (`PqdsaKeyPair`).
//! * SLH-DSA is RustCrypto `slh-dsa` (pure Rust, a pre-release pinned to 0.2.0-rc.5) behind the
//!   default cargo feature `slh-dsa`, because aws-lc-rs has no SLH-DSA. Without the feature the
//!   schemes still exist (identifiers, parsing) but signing and verifying return
//!   [`CryptoError::Unsupported`].

/// A signature scheme: key type + hash + padding/encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// ECDSA P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA P-384 with SHA-384.
    EcdsaP384Sha384,
    /// ECDSA P-521 with SHA-512.
    EcdsaP521Sha512,
    /// Ed25519 (pure; RFC 8420 "Identity" hash).
    Ed25519,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32.
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, salt 64.
    RsaPssSha512,
    /// RSASSA-PKCS1-v1_5 with SHA-1 (auth method 1).
    RsaPkcs1Sha1,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// ML-DSA-44 (FIPS 204), pure, empty context.
    MlDsa44,
    /// ML-DSA-65 (FIPS 204), pure, empty context.
    MlDsa65,
    /// ML-DSA-87 (FIPS 204), pure, empty context.
    MlDsa87,
    /// SLH-DSA-SHA2-128s (FIPS 205), pure, empty context.
    SlhDsaSha2_128s,
    /// SLH-DSA-SHA2-128f.
    SlhDsaSha2_128f,
    /// SLH-DSA-SHA2-192s.
    SlhDsaSha2_192s,
    /// SLH-DSA-SHA2-192f.
    SlhDsaSha2_192f,
    /// SLH-DSA-SHA2-256s.
    SlhDsaSha2_256s,
    /// SLH-DSA-SHA2-256f.
    SlhDsaSha2_256f,
    /// SLH-DSA-SHAKE-128s.
    SlhDsaShake128s,
    /// SLH-DSA-SHAKE-128f.
    SlhDsaShake128f,
    /// SLH-DSA-SHAKE-192s.
    SlhDsaShake192s,
    /// SLH-DSA-SHAKE-192f.
    SlhDsaShake192f,
    /// SLH-DSA-SHAKE-256s.
    SlhDsaShake256s,
    /// SLH-DSA-SHAKE-256f.
    SlhDsaShake256f,
}

/// A private key that can sign IKE AUTH data.
pub trait SigningKey: Send + Sync {
    /// Schemes this key can produce, most preferred first.
    fn schemes(&self) -> &[SignatureScheme];
    /// Sign `data` (ECDSA output is DER ECDSA-Sig-Value; the engine converts to r|s for methods 9-11).
    fn sign(&self, scheme: SignatureScheme, data: &[u8]) -> Result<Vec<u8>, crate::CryptoError>;
    /// DER SubjectPublicKeyInfo of the matching public key.
    fn public_key_spki(&self) -> &[u8];
}

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as awssig, KeyPair};

use crate::{CryptoError, HashAlgorithm};

mod mldsa;
mod slhdsa;

pub use mldsa::MlDsaSigningKey;
pub use slhdsa::SlhDsaSigningKey;

// DER AlgorithmIdentifiers (RFC 7427 Appendix A; Ed25519 from RFC 8420 §2 / RFC 8410 §3).
const AID_ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
const AID_ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
const AID_ECDSA_SHA512: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04,
];
const AID_ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
/// sha1WithRSAEncryption, NULL parameters.
const AID_RSA_PKCS1_SHA1: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
];
const AID_RSA_PKCS1_SHA256: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
const AID_RSA_PKCS1_SHA384: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
];
const AID_RSA_PKCS1_SHA512: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
];

/// id-RSASSA-PSS with RSASSA-PSS-params { hashAlgorithm [0] h (NULL params), maskGenAlgorithm [1]
/// mgf1(h), saltLength [2] hLen } (RFC 4055 §3.1; RFC 7427 Appendix A.4.3 for SHA-256).
macro_rules! aid_rsa_pss {
    ($h:literal, $salt:literal) => {
        &[
            0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
            0x0a, // rsassaPss
            0x30, 0x34, // RSASSA-PSS-params
            0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, $h,
            0x05, 0x00, // [0] hashAlgorithm
            0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
            0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, $h, 0x05,
            0x00, // [1] maskGenAlgorithm mgf1(hash)
            0xa2, 0x03, 0x02, 0x01, $salt, // [2] saltLength
        ]
    };
}
const AID_RSA_PSS_SHA256: &[u8] = aid_rsa_pss!(0x01, 0x20);
const AID_RSA_PSS_SHA384: &[u8] = aid_rsa_pss!(0x02, 0x30);
const AID_RSA_PSS_SHA512: &[u8] = aid_rsa_pss!(0x03, 0x40);

/// NIST sigAlgs arc 2.16.840.1.101.3.4.3.x, parameters absent (draft-ietf-ipsecme-ikev2-pqc-auth
/// §4 and §5; OIDs from NIST CSOR, RFC 9881 for ML-DSA and RFC 9909 for SLH-DSA).
macro_rules! aid_nist_sig {
    ($x:literal) => {
        &[
            0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, $x,
        ]
    };
}
const AID_ML_DSA_44: &[u8] = aid_nist_sig!(0x11);
const AID_ML_DSA_65: &[u8] = aid_nist_sig!(0x12);
const AID_ML_DSA_87: &[u8] = aid_nist_sig!(0x13);
const AID_SLH_DSA_SHA2_128S: &[u8] = aid_nist_sig!(0x14);
const AID_SLH_DSA_SHA2_128F: &[u8] = aid_nist_sig!(0x15);
const AID_SLH_DSA_SHA2_192S: &[u8] = aid_nist_sig!(0x16);
const AID_SLH_DSA_SHA2_192F: &[u8] = aid_nist_sig!(0x17);
const AID_SLH_DSA_SHA2_256S: &[u8] = aid_nist_sig!(0x18);
const AID_SLH_DSA_SHA2_256F: &[u8] = aid_nist_sig!(0x19);
const AID_SLH_DSA_SHAKE_128S: &[u8] = aid_nist_sig!(0x1a);
const AID_SLH_DSA_SHAKE_128F: &[u8] = aid_nist_sig!(0x1b);
const AID_SLH_DSA_SHAKE_192S: &[u8] = aid_nist_sig!(0x1c);
const AID_SLH_DSA_SHAKE_192F: &[u8] = aid_nist_sig!(0x1d);
const AID_SLH_DSA_SHAKE_256S: &[u8] = aid_nist_sig!(0x1e);
const AID_SLH_DSA_SHAKE_256F: &[u8] = aid_nist_sig!(0x1f);

impl SignatureScheme {
    /// Every scheme, for iteration.
    pub const ALL: [SignatureScheme; 26] = [
        Self::EcdsaP256Sha256,
        Self::EcdsaP384Sha384,
        Self::EcdsaP521Sha512,
        Self::Ed25519,
        Self::RsaPssSha256,
        Self::RsaPssSha384,
        Self::RsaPssSha512,
        Self::RsaPkcs1Sha1,
        Self::RsaPkcs1Sha256,
        Self::RsaPkcs1Sha384,
        Self::RsaPkcs1Sha512,
        Self::MlDsa44,
        Self::MlDsa65,
        Self::MlDsa87,
        Self::SlhDsaSha2_128s,
        Self::SlhDsaSha2_128f,
        Self::SlhDsaSha2_192s,
        Self::SlhDsaSha2_192f,
        Self::SlhDsaSha2_256s,
        Self::SlhDsaSha2_256f,
        Self::SlhDsaShake128s,
        Self::SlhDsaShake128f,
        Self::SlhDsaShake192s,
        Self::SlhDsaShake192f,
        Self::SlhDsaShake256s,
        Self::SlhDsaShake256f,
    ];

    /// The ML-DSA schemes.
    pub const ML_DSA: [SignatureScheme; 3] = [Self::MlDsa44, Self::MlDsa65, Self::MlDsa87];

    /// The SLH-DSA schemes (SHA2 then SHAKE; 128s, 128f, 192s, 192f, 256s, 256f).
    pub const SLH_DSA: [SignatureScheme; 12] = [
        Self::SlhDsaSha2_128s,
        Self::SlhDsaSha2_128f,
        Self::SlhDsaSha2_192s,
        Self::SlhDsaSha2_192f,
        Self::SlhDsaSha2_256s,
        Self::SlhDsaSha2_256f,
        Self::SlhDsaShake128s,
        Self::SlhDsaShake128f,
        Self::SlhDsaShake192s,
        Self::SlhDsaShake192f,
        Self::SlhDsaShake256s,
        Self::SlhDsaShake256f,
    ];

    /// ML-DSA?
    pub fn is_ml_dsa(&self) -> bool {
        Self::ML_DSA.contains(self)
    }

    /// SLH-DSA?
    pub fn is_slh_dsa(&self) -> bool {
        Self::SLH_DSA.contains(self)
    }

    /// A post-quantum scheme (ML-DSA or SLH-DSA): only usable with RFC 7427 method 14 and a peer
    /// that announced the Identity hash (draft-ietf-ipsecme-ikev2-pqc-auth §3).
    pub fn is_post_quantum(&self) -> bool {
        self.is_ml_dsa() || self.is_slh_dsa()
    }

    /// Signature length in octets for the fixed-size schemes (ML-DSA: FIPS 204 Table 2;
    /// SLH-DSA: FIPS 205 Table 2; Ed25519: 64). `None` for ECDSA (DER, variable) and RSA
    /// (modulus length). Lets the engine size AUTH payloads and fragmentation in advance.
    pub fn signature_len(&self) -> Option<usize> {
        Some(match self {
            Self::Ed25519 => 64,
            Self::MlDsa44 => 2420,
            Self::MlDsa65 => 3309,
            Self::MlDsa87 => 4627,
            Self::SlhDsaSha2_128s | Self::SlhDsaShake128s => 7856,
            Self::SlhDsaSha2_128f | Self::SlhDsaShake128f => 17088,
            Self::SlhDsaSha2_192s | Self::SlhDsaShake192s => 16224,
            Self::SlhDsaSha2_192f | Self::SlhDsaShake192f => 35664,
            Self::SlhDsaSha2_256s | Self::SlhDsaShake256s => 29792,
            Self::SlhDsaSha2_256f | Self::SlhDsaShake256f => 49856,
            _ => return None,
        })
    }

    /// Raw public key length in octets for ML-DSA (FIPS 204 Table 2) and SLH-DSA (2n, FIPS 205
    /// Table 2); `None` for the classic schemes.
    pub fn public_key_len(&self) -> Option<usize> {
        Some(match self {
            Self::MlDsa44 => 1312,
            Self::MlDsa65 => 1952,
            Self::MlDsa87 => 2592,
            Self::SlhDsaSha2_128s
            | Self::SlhDsaSha2_128f
            | Self::SlhDsaShake128s
            | Self::SlhDsaShake128f => 32,
            Self::SlhDsaSha2_192s
            | Self::SlhDsaSha2_192f
            | Self::SlhDsaShake192s
            | Self::SlhDsaShake192f => 48,
            Self::SlhDsaSha2_256s
            | Self::SlhDsaSha2_256f
            | Self::SlhDsaShake256s
            | Self::SlhDsaShake256f => 64,
            _ => return None,
        })
    }

    /// The FIPS name, e.g. "ML-DSA-65", "SLH-DSA-SHAKE-128f" (for logs and the `pki` tool).
    pub fn name(&self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256 => "ECDSA-P256-SHA256",
            Self::EcdsaP384Sha384 => "ECDSA-P384-SHA384",
            Self::EcdsaP521Sha512 => "ECDSA-P521-SHA512",
            Self::Ed25519 => "Ed25519",
            Self::RsaPssSha256 => "RSA-PSS-SHA256",
            Self::RsaPssSha384 => "RSA-PSS-SHA384",
            Self::RsaPssSha512 => "RSA-PSS-SHA512",
            Self::RsaPkcs1Sha1 => "RSA-PKCS1-SHA1",
            Self::RsaPkcs1Sha256 => "RSA-PKCS1-SHA256",
            Self::RsaPkcs1Sha384 => "RSA-PKCS1-SHA384",
            Self::RsaPkcs1Sha512 => "RSA-PKCS1-SHA512",
            Self::MlDsa44 => "ML-DSA-44",
            Self::MlDsa65 => "ML-DSA-65",
            Self::MlDsa87 => "ML-DSA-87",
            Self::SlhDsaSha2_128s => "SLH-DSA-SHA2-128s",
            Self::SlhDsaSha2_128f => "SLH-DSA-SHA2-128f",
            Self::SlhDsaSha2_192s => "SLH-DSA-SHA2-192s",
            Self::SlhDsaSha2_192f => "SLH-DSA-SHA2-192f",
            Self::SlhDsaSha2_256s => "SLH-DSA-SHA2-256s",
            Self::SlhDsaSha2_256f => "SLH-DSA-SHA2-256f",
            Self::SlhDsaShake128s => "SLH-DSA-SHAKE-128s",
            Self::SlhDsaShake128f => "SLH-DSA-SHAKE-128f",
            Self::SlhDsaShake192s => "SLH-DSA-SHAKE-192s",
            Self::SlhDsaShake192f => "SLH-DSA-SHAKE-192f",
            Self::SlhDsaShake256s => "SLH-DSA-SHAKE-256s",
            Self::SlhDsaShake256f => "SLH-DSA-SHAKE-256f",
        }
    }

    /// The scheme for a FIPS name as returned by [`SignatureScheme::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// The DER AlgorithmIdentifier carried in RFC 7427 AUTH data (without the one-octet length
    /// prefix).
    pub fn algorithm_identifier(&self) -> &'static [u8] {
        match self {
            Self::EcdsaP256Sha256 => AID_ECDSA_SHA256,
            Self::EcdsaP384Sha384 => AID_ECDSA_SHA384,
            Self::EcdsaP521Sha512 => AID_ECDSA_SHA512,
            Self::Ed25519 => AID_ED25519,
            Self::RsaPssSha256 => AID_RSA_PSS_SHA256,
            Self::RsaPssSha384 => AID_RSA_PSS_SHA384,
            Self::RsaPssSha512 => AID_RSA_PSS_SHA512,
            Self::RsaPkcs1Sha1 => AID_RSA_PKCS1_SHA1,
            Self::RsaPkcs1Sha256 => AID_RSA_PKCS1_SHA256,
            Self::RsaPkcs1Sha384 => AID_RSA_PKCS1_SHA384,
            Self::RsaPkcs1Sha512 => AID_RSA_PKCS1_SHA512,
            Self::MlDsa44 => AID_ML_DSA_44,
            Self::MlDsa65 => AID_ML_DSA_65,
            Self::MlDsa87 => AID_ML_DSA_87,
            Self::SlhDsaSha2_128s => AID_SLH_DSA_SHA2_128S,
            Self::SlhDsaSha2_128f => AID_SLH_DSA_SHA2_128F,
            Self::SlhDsaSha2_192s => AID_SLH_DSA_SHA2_192S,
            Self::SlhDsaSha2_192f => AID_SLH_DSA_SHA2_192F,
            Self::SlhDsaSha2_256s => AID_SLH_DSA_SHA2_256S,
            Self::SlhDsaSha2_256f => AID_SLH_DSA_SHA2_256F,
            Self::SlhDsaShake128s => AID_SLH_DSA_SHAKE_128S,
            Self::SlhDsaShake128f => AID_SLH_DSA_SHAKE_128F,
            Self::SlhDsaShake192s => AID_SLH_DSA_SHAKE_192S,
            Self::SlhDsaShake192f => AID_SLH_DSA_SHAKE_192F,
            Self::SlhDsaShake256s => AID_SLH_DSA_SHAKE_256S,
            Self::SlhDsaShake256f => AID_SLH_DSA_SHAKE_256F,
        }
    }

    /// The scheme for a DER AlgorithmIdentifier. ECDSA curves are not in the identifier: the
    /// scheme returned is the curve that matches the hash (P-256/SHA-256 ...), and verification
    /// fails if the peer's key is on another curve. PKCS#1 identifiers are also accepted with
    /// absent (instead of NULL) parameters, as some implementations send them.
    pub fn from_algorithm_identifier(der: &[u8]) -> Option<Self> {
        if let Some(s) = Self::ALL
            .into_iter()
            .find(|s| s.algorithm_identifier() == der)
        {
            return Some(s);
        }
        // PKCS#1 without the NULL: 30 0b 06 09 <oid>.
        Self::ALL.into_iter().find(|s| {
            let aid = s.algorithm_identifier();
            aid.ends_with(&[0x05, 0x00])
                && aid.len() == 15
                && der.len() == 13
                && der[0] == 0x30
                && der[1] == 0x0b
                && der[2..] == aid[2..13]
        })
    }

    /// The hash the scheme signs with; `None` for Ed25519 (pure EdDSA, RFC 8420 "Identity") and
    /// for ML-DSA / SLH-DSA (pure mode over the whole SignedOctets: Identity too,
    /// draft-ietf-ipsecme-ikev2-pqc-auth §3).
    pub fn hash(&self) -> Option<HashAlgorithm> {
        match self {
            s if s.is_post_quantum() => None,
            Self::Ed25519 => None,
            Self::RsaPkcs1Sha1 => Some(HashAlgorithm::Sha1),
            Self::EcdsaP256Sha256 | Self::RsaPssSha256 | Self::RsaPkcs1Sha256 => {
                Some(HashAlgorithm::Sha256)
            }
            Self::EcdsaP384Sha384 | Self::RsaPssSha384 | Self::RsaPkcs1Sha384 => {
                Some(HashAlgorithm::Sha384)
            }
            Self::EcdsaP521Sha512 | Self::RsaPssSha512 | Self::RsaPkcs1Sha512 => {
                Some(HashAlgorithm::Sha512)
            }
            _ => None,
        }
    }

    /// The RFC 7427 §4 / RFC 8420 hash algorithm ID for SIGNATURE_HASH_ALGORITHMS:
    /// 1 SHA1, 2 SHA2-256, 3 SHA2-384, 4 SHA2-512, 5 Identity.
    pub fn hash_algorithm_id(&self) -> u16 {
        match self.hash() {
            None => 5,
            Some(HashAlgorithm::Sha1) => 1,
            Some(HashAlgorithm::Sha256) => 2,
            Some(HashAlgorithm::Sha384) => 3,
            Some(HashAlgorithm::Sha512) => 4,
        }
    }

    /// The pre-RFC 7427 auth method that carries this scheme, if any: 1 (RSA Digital Signature,
    /// PKCS#1 v1.5 with SHA-1, RFC 7296 §3.8) or 9/10/11 (ECDSA with r | s, RFC 4754).
    pub fn classic_auth_method(&self) -> Option<u8> {
        match self {
            Self::RsaPkcs1Sha1 => Some(1),
            Self::EcdsaP256Sha256 => Some(9),
            Self::EcdsaP384Sha384 => Some(10),
            Self::EcdsaP521Sha512 => Some(11),
            _ => None,
        }
    }

    /// The scheme for a classic auth method (1, 9, 10, 11).
    pub fn from_classic_auth_method(method: u8) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.classic_auth_method() == Some(method))
    }

    /// For ECDSA: the octet length of r and of s in the r | s encoding (RFC 4754 §7).
    pub fn ecdsa_field_len(&self) -> Option<usize> {
        match self {
            Self::EcdsaP256Sha256 => Some(32),
            Self::EcdsaP384Sha384 => Some(48),
            Self::EcdsaP521Sha512 => Some(66),
            _ => None,
        }
    }

    /// The aws-lc-rs verification algorithm for the classic schemes (all of them accept a DER
    /// SubjectPublicKeyInfo); `None` for ML-DSA / SLH-DSA, which [`verify`] handles itself.
    fn classic_verification_algorithm(self) -> Option<&'static dyn awssig::VerificationAlgorithm> {
        Some(match self {
            Self::EcdsaP256Sha256 => &awssig::ECDSA_P256_SHA256_ASN1,
            Self::EcdsaP384Sha384 => &awssig::ECDSA_P384_SHA384_ASN1,
            Self::EcdsaP521Sha512 => &awssig::ECDSA_P521_SHA512_ASN1,
            Self::Ed25519 => &awssig::ED25519,
            Self::RsaPssSha256 => &awssig::RSA_PSS_2048_8192_SHA256,
            Self::RsaPssSha384 => &awssig::RSA_PSS_2048_8192_SHA384,
            Self::RsaPssSha512 => &awssig::RSA_PSS_2048_8192_SHA512,
            Self::RsaPkcs1Sha1 => &awssig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Self::RsaPkcs1Sha256 => &awssig::RSA_PKCS1_2048_8192_SHA256,
            Self::RsaPkcs1Sha384 => &awssig::RSA_PKCS1_2048_8192_SHA384,
            Self::RsaPkcs1Sha512 => &awssig::RSA_PKCS1_2048_8192_SHA512,
            _ => return None,
        })
    }
}

/// Verify `sig` over `data` with the key in `spki_der` (DER SubjectPublicKeyInfo). ECDSA
/// signatures are DER ECDSA-Sig-Value. Any failure (bad key, wrong key type, bad signature)
/// is `BadSignature`; an SLH-DSA scheme without the `slh-dsa` feature is `Unsupported`.
pub(crate) fn verify(
    scheme: SignatureScheme,
    spki_der: &[u8],
    data: &[u8],
    sig: &[u8],
) -> Result<(), CryptoError> {
    if scheme.is_ml_dsa() {
        return mldsa::verify(scheme, spki_der, data, sig);
    }
    if scheme.is_slh_dsa() {
        return slhdsa::verify(scheme, spki_der, data, sig);
    }
    let alg = scheme
        .classic_verification_algorithm()
        .ok_or_else(|| CryptoError::Unsupported(scheme.name().to_string()))?;
    awssig::UnparsedPublicKey::new(alg, spki_der)
        .verify(data, sig)
        .map_err(|_| CryptoError::BadSignature)
}

/// The raw public key of a SubjectPublicKeyInfo whose AlgorithmIdentifier is exactly
/// `scheme`'s (ML-DSA and SLH-DSA keys use the signature OID with absent parameters, RFC 9881
/// §4 / RFC 9909 §4), or `BadSignature`: a key of another type or level is never tried.
pub(crate) fn pq_spki_raw_key(
    scheme: SignatureScheme,
    spki_der: &[u8],
) -> Result<&[u8], CryptoError> {
    let bad = || CryptoError::BadSignature;
    let (spki, trailing) = der_take(spki_der, 0x30).map_err(|_| bad())?;
    let aid = scheme.algorithm_identifier();
    if !trailing.is_empty() || !spki.starts_with(aid) {
        return Err(bad());
    }
    let (bits, rest) = der_take(&spki[aid.len()..], 0x03).map_err(|_| bad())?;
    match bits.split_first() {
        Some((0, key)) if rest.is_empty() && Some(key.len()) == scheme.public_key_len() => Ok(key),
        _ => Err(bad()),
    }
}

/// DER SubjectPublicKeyInfo for a PQ raw public key (the inverse of [`pq_spki_raw_key`]).
pub(crate) fn pq_spki(scheme: SignatureScheme, raw_key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(raw_key.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(raw_key);
    let mut body = scheme.algorithm_identifier().to_vec();
    body.extend_from_slice(&der_encode(0x03, &bits));
    der_encode(0x30, &body)
}

/// One DER TLV with a definite length (short or long form).
pub(crate) fn der_encode(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

// ---------------------------------------------------------------------------------------------
// ECDSA signature encodings.

fn bad_sig(what: &str) -> CryptoError {
    CryptoError::Malformed(format!("ECDSA signature: {what}"))
}

/// Read one DER TLV with tag `tag` from the front of `input`; returns (contents, rest).
fn der_take(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), CryptoError> {
    let (&t, rest) = input.split_first().ok_or_else(|| bad_sig("truncated"))?;
    if t != tag {
        return Err(bad_sig("unexpected tag"));
    }
    let (&l0, rest) = rest.split_first().ok_or_else(|| bad_sig("truncated"))?;
    let (len, rest) = match l0 {
        0x00..=0x7f => (usize::from(l0), rest),
        0x81 => {
            let (&l1, rest) = rest.split_first().ok_or_else(|| bad_sig("truncated"))?;
            if l1 < 0x80 {
                return Err(bad_sig("non-minimal length"));
            }
            (usize::from(l1), rest)
        }
        // Two length octets: PQ SubjectPublicKeyInfos and PKCS#8 keys (up to ~5 KB).
        0x82 => {
            if rest.len() < 2 {
                return Err(bad_sig("truncated"));
            }
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            if len < 0x100 {
                return Err(bad_sig("non-minimal length"));
            }
            (len, &rest[2..])
        }
        _ => return Err(bad_sig("length too large")),
    };
    if rest.len() < len {
        return Err(bad_sig("truncated"));
    }
    Ok(rest.split_at(len))
}

/// Convert a DER ECDSA-Sig-Value `SEQUENCE { r INTEGER, s INTEGER }` to r | s, each left-padded
/// to `field_len` octets (RFC 4754 §7, auth methods 9/10/11).
pub fn ecdsa_der_to_raw(der: &[u8], field_len: usize) -> Result<Vec<u8>, CryptoError> {
    let (seq, trailing) = der_take(der, 0x30)?;
    if !trailing.is_empty() {
        return Err(bad_sig("trailing data"));
    }
    let (r, rest) = der_take(seq, 0x02)?;
    let (s, rest) = der_take(rest, 0x02)?;
    if !rest.is_empty() {
        return Err(bad_sig("trailing data in SEQUENCE"));
    }
    let mut out = vec![0u8; 2 * field_len];
    for (i, int) in [r, s].into_iter().enumerate() {
        match int {
            [] => return Err(bad_sig("empty INTEGER")),
            [first, ..] if first & 0x80 != 0 => return Err(bad_sig("negative INTEGER")),
            [0, second, ..] if second & 0x80 == 0 => return Err(bad_sig("non-minimal INTEGER")),
            _ => {}
        }
        let digits = if int[0] == 0 { &int[1..] } else { int };
        if digits.len() > field_len {
            return Err(bad_sig("INTEGER larger than the field"));
        }
        let end = (i + 1) * field_len;
        out[end - digits.len()..end].copy_from_slice(digits);
    }
    Ok(out)
}

/// Convert r | s (two equal halves) to a DER ECDSA-Sig-Value.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if raw.is_empty() || raw.len() & 1 == 1 || raw.len() > 2 * 66 {
        return Err(bad_sig("r | s has an odd or unsupported length"));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = Vec::with_capacity(raw.len() + 6);
    for int in [r, s] {
        // Minimal positive INTEGER: strip leading zeros, keep one if all zero, add 0x00 if the
        // top bit is set.
        let start = int.iter().position(|&b| b != 0).unwrap_or(int.len() - 1);
        let digits = &int[start..];
        let pad = digits[0] & 0x80 != 0;
        body.push(0x02);
        body.push((digits.len() + usize::from(pad)) as u8);
        if pad {
            body.push(0);
        }
        body.extend_from_slice(digits);
    }
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(0x30);
    if body.len() < 0x80 {
        out.push(body.len() as u8);
    } else {
        out.push(0x81);
        out.push(body.len() as u8);
    }
    out.extend_from_slice(&body);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Signing keys.

fn key_rejected(what: &str) -> CryptoError {
    CryptoError::Malformed(format!("private key: {what}"))
}

/// An ECDSA key on P-256, P-384 or P-521 (with SHA-256/384/512 respectively).
pub struct EcdsaSigningKey {
    pair: awssig::EcdsaKeyPair,
    scheme: [SignatureScheme; 1],
    spki: Vec<u8>,
}

impl EcdsaSigningKey {
    const CURVES: [(SignatureScheme, &'static awssig::EcdsaSigningAlgorithm); 3] = [
        (
            SignatureScheme::EcdsaP256Sha256,
            &awssig::ECDSA_P256_SHA256_ASN1_SIGNING,
        ),
        (
            SignatureScheme::EcdsaP384Sha384,
            &awssig::ECDSA_P384_SHA384_ASN1_SIGNING,
        ),
        (
            SignatureScheme::EcdsaP521Sha512,
            &awssig::ECDSA_P521_SHA512_ASN1_SIGNING,
        ),
    ];

    fn wrap(pair: awssig::EcdsaKeyPair, scheme: SignatureScheme) -> Result<Self, CryptoError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::Internal)?
            .as_ref()
            .to_vec();
        Ok(EcdsaSigningKey {
            pair,
            scheme: [scheme],
            spki,
        })
    }

    /// A fresh random key for `scheme` (must be an ECDSA scheme).
    pub fn generate(scheme: SignatureScheme) -> Result<Self, CryptoError> {
        let (_, alg) = Self::CURVES
            .into_iter()
            .find(|(s, _)| *s == scheme)
            .ok_or_else(|| CryptoError::Unsupported(format!("{scheme:?} is not ECDSA")))?;
        let pair = awssig::EcdsaKeyPair::generate(alg).map_err(|_| CryptoError::Internal)?;
        Self::wrap(pair, scheme)
    }

    /// From a PKCS#8 PrivateKeyInfo or an RFC 5915 (SEC1) ECPrivateKey, any supported curve.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        for (scheme, alg) in Self::CURVES {
            if let Ok(pair) = awssig::EcdsaKeyPair::from_private_key_der(alg, der) {
                return Self::wrap(pair, scheme);
            }
        }
        Err(key_rejected("not a P-256/P-384/P-521 ECDSA key"))
    }

    /// The PKCS#8 encoding (for tests and key export).
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, CryptoError> {
        Ok(self
            .pair
            .to_pkcs8v1()
            .map_err(|_| CryptoError::Internal)?
            .as_ref()
            .to_vec())
    }
}

impl SigningKey for EcdsaSigningKey {
    fn schemes(&self) -> &[SignatureScheme] {
        &self.scheme
    }

    fn sign(&self, scheme: SignatureScheme, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if scheme != self.scheme[0] {
            return Err(CryptoError::Unsupported(format!(
                "{scheme:?} with a {:?} key",
                self.scheme[0]
            )));
        }
        let rng = aws_lc_rs::rand::SystemRandom::new();
        Ok(self
            .pair
            .sign(&rng, data)
            .map_err(|_| CryptoError::Internal)?
            .as_ref()
            .to_vec())
    }

    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }
}

/// An Ed25519 key.
pub struct Ed25519SigningKey {
    pair: awssig::Ed25519KeyPair,
    spki: Vec<u8>,
}

impl Ed25519SigningKey {
    fn wrap(pair: awssig::Ed25519KeyPair) -> Result<Self, CryptoError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::Internal)?
            .as_ref()
            .to_vec();
        Ok(Ed25519SigningKey { pair, spki })
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        Self::wrap(awssig::Ed25519KeyPair::generate().map_err(|_| CryptoError::Internal)?)
    }

    /// From PKCS#8 v1 (OpenSSL) or v2.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let pair = awssig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| key_rejected("not an Ed25519 PKCS#8 key"))?;
        Self::wrap(pair)
    }
}

impl SigningKey for Ed25519SigningKey {
    fn schemes(&self) -> &[SignatureScheme] {
        &[SignatureScheme::Ed25519]
    }

    fn sign(&self, scheme: SignatureScheme, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if scheme != SignatureScheme::Ed25519 {
            return Err(CryptoError::Unsupported(format!(
                "{scheme:?} with an Ed25519 key"
            )));
        }
        Ok(self
            .pair
            .try_sign(data)
            .map_err(|_| CryptoError::Internal)?
            .as_ref()
            .to_vec())
    }

    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }
}

/// An RSA key (2048..8192 bits). Signs RSASSA-PSS and PKCS#1 v1.5 with SHA-2; PKCS#1 v1.5 with
/// SHA-1 (auth method 1) is verify-only because aws-lc-rs offers no SHA-1 RSA signing.
pub struct RsaSigningKey {
    pair: awssig::RsaKeyPair,
    spki: Vec<u8>,
}

impl RsaSigningKey {
    const SCHEMES: [SignatureScheme; 6] = [
        SignatureScheme::RsaPssSha256,
        SignatureScheme::RsaPssSha384,
        SignatureScheme::RsaPssSha512,
        SignatureScheme::RsaPkcs1Sha256,
        SignatureScheme::RsaPkcs1Sha384,
        SignatureScheme::RsaPkcs1Sha512,
    ];

    fn wrap(pair: awssig::RsaKeyPair) -> Result<Self, CryptoError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::Internal)?
            .as_ref()
            .to_vec();
        Ok(RsaSigningKey { pair, spki })
    }

    /// A fresh 2048-bit key (slow: for tests).
    pub fn generate_2048() -> Result<Self, CryptoError> {
        Self::wrap(
            awssig::RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| CryptoError::Internal)?,
        )
    }

    /// From PKCS#8 PrivateKeyInfo or PKCS#1 RSAPrivateKey DER.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let pair = awssig::RsaKeyPair::from_pkcs8(der)
            .or_else(|_| awssig::RsaKeyPair::from_der(der))
            .map_err(|_| key_rejected("not an RSA key (or outside 2048..8192 bits)"))?;
        Self::wrap(pair)
    }
}

impl SigningKey for RsaSigningKey {
    fn schemes(&self) -> &[SignatureScheme] {
        &Self::SCHEMES
    }

    fn sign(&self, scheme: SignatureScheme, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let encoding: &'static dyn awssig::RsaEncoding = match scheme {
            SignatureScheme::RsaPssSha256 => &awssig::RSA_PSS_SHA256,
            SignatureScheme::RsaPssSha384 => &awssig::RSA_PSS_SHA384,
            SignatureScheme::RsaPssSha512 => &awssig::RSA_PSS_SHA512,
            SignatureScheme::RsaPkcs1Sha256 => &awssig::RSA_PKCS1_SHA256,
            SignatureScheme::RsaPkcs1Sha384 => &awssig::RSA_PKCS1_SHA384,
            SignatureScheme::RsaPkcs1Sha512 => &awssig::RSA_PKCS1_SHA512,
            _ => {
                return Err(CryptoError::Unsupported(format!(
                    "{scheme:?} with an RSA key"
                )))
            }
        };
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(encoding, &rng, data, &mut sig)
            .map_err(|_| CryptoError::Internal)?;
        Ok(sig)
    }

    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }
}

/// Load a signing key from DER: PKCS#8 (any supported type), SEC1 ECPrivateKey or PKCS#1
/// RSAPrivateKey.
pub fn signing_key_from_der(der: &[u8]) -> Result<Arc<dyn SigningKey>, CryptoError> {
    // PQ keys are recognised by their PKCS#8 AlgorithmIdentifier; the OID also picks the level.
    match pkcs8_pq_scheme(der) {
        Some(s) if s.is_ml_dsa() => return Ok(Arc::new(MlDsaSigningKey::from_pkcs8(der)?)),
        Some(_) => return Ok(Arc::new(SlhDsaSigningKey::from_pkcs8(der)?)),
        None => {}
    }
    if let Ok(k) = EcdsaSigningKey::from_der(der) {
        return Ok(Arc::new(k));
    }
    if let Ok(k) = Ed25519SigningKey::from_pkcs8(der) {
        return Ok(Arc::new(k));
    }
    if let Ok(k) = RsaSigningKey::from_der(der) {
        return Ok(Arc::new(k));
    }
    Err(key_rejected("unsupported or malformed private key"))
}

/// The ML-DSA / SLH-DSA scheme named by a PKCS#8 PrivateKeyInfo's AlgorithmIdentifier, if any.
fn pkcs8_pq_scheme(der: &[u8]) -> Option<SignatureScheme> {
    let (info, _) = der_take(der, 0x30).ok()?;
    let (_version, rest) = der_take(info, 0x02).ok()?;
    SignatureScheme::ALL
        .into_iter()
        .filter(SignatureScheme::is_post_quantum)
        .find(|s| rest.starts_with(s.algorithm_identifier()))
}
