//! Signature schemes for IKE_AUTH (RFC 7296 methods 1/9/10/11, RFC 7427 method 14) and signing keys.

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
