//! Test PKI generation: a root CA, a chain of intermediates and end-entity certificates, for
//! classic and post-quantum key types (what `pqike pki` prints, so a user can try certificate
//! authentication, ML-DSA or SLH-DSA included, in a minute).
//!
//! Call order: build a [`ChainSpec`] (or start from [`ChainSpec::new`]), call
//! [`generate_chain`], write out [`Chain`]'s PEM strings. Every private key is PKCS#8 PEM
//! (`PRIVATE KEY`), which [`crate::pki::load_private_key_pem`], OpenSSL 3.5 and strongSwan read.
//!
//! Backends: certificates are encoded and signed by rcgen (aws-lc-rs backend) for ECDSA,
//! Ed25519, RSA and ML-DSA. rcgen has no SLH-DSA, so for SLH-DSA keys rcgen encodes the
//! certificate with an ML-DSA-44 placeholder AlgorithmIdentifier (the same 13-octet shape:
//! `2.16.840.1.101.3.4.3.x`, parameters absent), then this module writes the real SLH-DSA
//! identifier into the TBSCertificate (signature field and/or SubjectPublicKeyInfo), signs the
//! TBSCertificate again with the real issuer key, and re-assembles the Certificate. Lengths are
//! unchanged by the patch, so no re-encoding of the TBSCertificate is needed.
//!
//! Profile (RFC 5280): CAs get basicConstraints cA=TRUE (critical) and keyUsage
//! keyCertSign+cRLSign; end-entities get keyUsage digitalSignature, extendedKeyUsage
//! serverAuth+clientAuth+ipsecIKE (RFC 4945 §5.1.3.12), and the requested SANs (dNSName,
//! rfc822Name, iPAddress). Subject/authority key identifiers are set; serials are 16 random
//! octets.
use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyUsagePurpose, SanType, SerialNumber,
};
use zeroize::Zeroizing;

use crate::sig::{der_encode, SlhDsaSigningKey};
use crate::{CryptoError, SignatureScheme, SigningKey};

/// A key type for generated certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA P-256, certificates signed with SHA-256.
    EcdsaP256,
    /// ECDSA P-384, certificates signed with SHA-384.
    EcdsaP384,
    /// ECDSA P-521, certificates signed with SHA-512.
    EcdsaP521,
    /// Ed25519.
    Ed25519,
    /// RSA 2048, PKCS#1 v1.5 SHA-256 certificate signatures.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
    /// ML-DSA-44.
    MlDsa44,
    /// ML-DSA-65.
    MlDsa65,
    /// ML-DSA-87.
    MlDsa87,
    /// An SLH-DSA parameter set (a [`SignatureScheme`] with `is_slh_dsa()`).
    SlhDsa(SignatureScheme),
}

impl KeyType {
    /// Every key type, for `--help` texts (SLH-DSA as its twelve parameter sets).
    pub fn all() -> Vec<KeyType> {
        let mut v = vec![
            Self::EcdsaP256,
            Self::EcdsaP384,
            Self::EcdsaP521,
            Self::Ed25519,
            Self::Rsa2048,
            Self::Rsa3072,
            Self::Rsa4096,
            Self::MlDsa44,
            Self::MlDsa65,
            Self::MlDsa87,
        ];
        v.extend(SignatureScheme::SLH_DSA.map(Self::SlhDsa));
        v
    }

    /// Name as accepted by [`KeyType::from_name`]: "ecdsa-p256", "ed25519", "rsa3072",
    /// "ml-dsa-65", "slh-dsa-sha2-128s", ...
    pub fn name(&self) -> String {
        match self {
            Self::EcdsaP256 => "ecdsa-p256".into(),
            Self::EcdsaP384 => "ecdsa-p384".into(),
            Self::EcdsaP521 => "ecdsa-p521".into(),
            Self::Ed25519 => "ed25519".into(),
            Self::Rsa2048 => "rsa2048".into(),
            Self::Rsa3072 => "rsa3072".into(),
            Self::Rsa4096 => "rsa4096".into(),
            Self::MlDsa44 => "ml-dsa-44".into(),
            Self::MlDsa65 => "ml-dsa-65".into(),
            Self::MlDsa87 => "ml-dsa-87".into(),
            Self::SlhDsa(s) => s.name().to_ascii_lowercase(),
        }
    }

    /// Parse a key type name (case-insensitive; see [`KeyType::name`]).
    pub fn from_name(name: &str) -> Option<KeyType> {
        Self::all()
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// The signature scheme certificates signed by this key use, and the IKE AUTH scheme it
    /// signs with by default (RSA: PSS-SHA256 for AUTH, the certificate uses PKCS#1 v1.5).
    pub fn scheme(&self) -> SignatureScheme {
        match self {
            Self::EcdsaP256 => SignatureScheme::EcdsaP256Sha256,
            Self::EcdsaP384 => SignatureScheme::EcdsaP384Sha384,
            Self::EcdsaP521 => SignatureScheme::EcdsaP521Sha512,
            Self::Ed25519 => SignatureScheme::Ed25519,
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => SignatureScheme::RsaPssSha256,
            Self::MlDsa44 => SignatureScheme::MlDsa44,
            Self::MlDsa65 => SignatureScheme::MlDsa65,
            Self::MlDsa87 => SignatureScheme::MlDsa87,
            Self::SlhDsa(s) => *s,
        }
    }

    fn rcgen_alg(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::EcdsaP521 => &rcgen::PKCS_ECDSA_P521_SHA512,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
            Self::MlDsa44 => &rcgen::PKCS_ML_DSA_44,
            Self::MlDsa65 => &rcgen::PKCS_ML_DSA_65,
            Self::MlDsa87 => &rcgen::PKCS_ML_DSA_87,
            // Placeholder with the same AlgorithmIdentifier shape; patched afterwards.
            Self::SlhDsa(_) => &rcgen::PKCS_ML_DSA_44,
        }
    }
}

/// One end-entity certificate to issue (by the last intermediate, or the root if none).
#[derive(Clone, Debug)]
pub struct EndEntitySpec {
    /// Subject CN (also the file name stem a tool would use).
    pub common_name: String,
    /// Key type.
    pub key: KeyType,
    /// subjectAltName dNSName entries.
    pub dns_names: Vec<String>,
    /// subjectAltName rfc822Name entries.
    pub emails: Vec<String>,
    /// subjectAltName iPAddress entries.
    pub ips: Vec<IpAddr>,
}

impl EndEntitySpec {
    /// An end-entity with a dNSName equal to its CN.
    pub fn new(common_name: &str, key: KeyType) -> Self {
        EndEntitySpec {
            common_name: common_name.to_string(),
            key,
            dns_names: vec![common_name.to_string()],
            emails: Vec::new(),
            ips: Vec::new(),
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct ChainSpec {
    /// Organisation (O=) in every subject.
    pub organization: String,
    /// Root CA CN and key type.
    pub root: (String, KeyType),
    /// Intermediate CAs, from the one the root signs downwards: (CN, key type).
    pub intermediates: Vec<(String, KeyType)>,
    /// End-entity certificates, all issued by the last CA.
    pub end_entities: Vec<EndEntitySpec>,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
}

impl ChainSpec {
    /// Root "pqike Test Root CA", one intermediate, no end-entities, all with `key`; valid from
    /// one hour ago for ten years.
    pub fn new(key: KeyType) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        ChainSpec {
            organization: "pqike test".into(),
            root: ("pqike Test Root CA".into(), key),
            intermediates: vec![("pqike Test Intermediate CA".into(), key)],
            end_entities: Vec::new(),
            not_before: now - 3600,
            not_after: now + 10 * 365 * 86400,
        }
    }
}

/// One generated certificate with its key.
#[derive(Clone)]
pub struct Issued {
    /// Subject CN.
    pub common_name: String,
    /// Key type.
    pub key_type: KeyType,
    /// Certificate DER.
    pub cert_der: Vec<u8>,
    /// Certificate PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// Private key, PKCS#8 PEM (`PRIVATE KEY`).
    pub key_pem: Zeroizing<String>,
}

impl core::fmt::Debug for Issued {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Issued")
            .field("common_name", &self.common_name)
            .field("key_type", &self.key_type)
            .field("cert_der", &format_args!("{} octets", self.cert_der.len()))
            .finish_non_exhaustive()
    }
}

/// The generated PKI.
#[derive(Clone, Debug)]
pub struct Chain {
    /// The self-signed root (the trust anchor).
    pub root: Issued,
    /// Intermediates, root-side first.
    pub intermediates: Vec<Issued>,
    /// End-entities, in [`ChainSpec::end_entities`] order.
    pub end_entities: Vec<Issued>,
}

impl Chain {
    /// The intermediates as one PEM bundle, issuing order reversed (closest to the
    /// end-entities first), as CERT payloads are usually sent.
    pub fn intermediates_pem(&self) -> String {
        self.intermediates
            .iter()
            .rev()
            .map(|c| c.cert_pem.as_str())
            .collect()
    }
}

/// A key for generation: rcgen's own, or SLH-DSA (ours; rcgen cannot sign with it).
enum GenKey {
    Rcgen(rcgen::KeyPair),
    SlhDsa {
        key: SlhDsaSigningKey,
        raw_public: Vec<u8>,
    },
}

impl GenKey {
    fn generate(kt: KeyType) -> Result<Self, CryptoError> {
        let fail = |e: rcgen::Error| CryptoError::Unsupported(format!("{}: {e}", kt.name()));
        Ok(match kt {
            KeyType::SlhDsa(scheme) => {
                let key = SlhDsaSigningKey::generate(scheme)?;
                let n = scheme.public_key_len().ok_or(CryptoError::Internal)?;
                let spki = key.public_key_spki();
                let raw_public = spki[spki.len() - n..].to_vec();
                GenKey::SlhDsa { key, raw_public }
            }
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                let size = match kt {
                    KeyType::Rsa2048 => rcgen::RsaKeySize::_2048,
                    KeyType::Rsa3072 => rcgen::RsaKeySize::_3072,
                    _ => rcgen::RsaKeySize::_4096,
                };
                GenKey::Rcgen(rcgen::KeyPair::generate_rsa_for(kt.rcgen_alg(), size).map_err(fail)?)
            }
            _ => GenKey::Rcgen(rcgen::KeyPair::generate_for(kt.rcgen_alg()).map_err(fail)?),
        })
    }

    fn pkcs8_pem(&self) -> Zeroizing<String> {
        let der = match self {
            GenKey::Rcgen(k) => Zeroizing::new(k.serialize_der()),
            GenKey::SlhDsa { key, .. } => key.to_pkcs8(),
        };
        Zeroizing::new(pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec())))
    }

    /// Sign a TBSCertificate with the real key.
    fn sign_tbs(&self, tbs: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match self {
            GenKey::Rcgen(k) => {
                rcgen::SigningKey::sign(k, tbs).map_err(|e| CryptoError::Malformed(e.to_string()))
            }
            GenKey::SlhDsa { key, .. } => key.sign(key.scheme(), tbs),
        }
    }

    fn slh_scheme(&self) -> Option<SignatureScheme> {
        match self {
            GenKey::SlhDsa { key, .. } => Some(key.scheme()),
            GenKey::Rcgen(_) => None,
        }
    }
}

impl rcgen::PublicKeyData for GenKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            GenKey::Rcgen(k) => k.der_bytes(),
            GenKey::SlhDsa { raw_public, .. } => raw_public,
        }
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            GenKey::Rcgen(k) => k.algorithm(),
            GenKey::SlhDsa { .. } => &rcgen::PKCS_ML_DSA_44,
        }
    }
}

impl rcgen::SigningKey for GenKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            GenKey::Rcgen(k) => k.sign(msg),
            // Placeholder: the certificate is re-signed after the identifiers are patched.
            GenKey::SlhDsa { .. } => Ok(Vec::new()),
        }
    }
}

fn rc_err(e: rcgen::Error) -> CryptoError {
    CryptoError::Malformed(format!("certificate generation: {e}"))
}

/// One DER TLV off the front: (tag, header length, total length).
fn tlv_bounds(input: &[u8]) -> Result<(u8, usize, usize), CryptoError> {
    let err = || CryptoError::Internal;
    let tag = *input.first().ok_or_else(err)?;
    let l0 = *input.get(1).ok_or_else(err)?;
    let (len, hdr) = match l0 {
        0..=0x7f => (usize::from(l0), 2),
        0x81..=0x83 => {
            let n = usize::from(l0 & 0x7f);
            let bytes = input.get(2..2 + n).ok_or_else(err)?;
            (
                bytes.iter().fold(0, |a, &b| (a << 8) | usize::from(b)),
                2 + n,
            )
        }
        _ => return Err(err()),
    };
    if input.len() < hdr + len {
        return Err(err());
    }
    Ok((tag, hdr, hdr + len))
}

/// Replace rcgen's ML-DSA-44 placeholder identifiers for SLH-DSA keys and re-sign.
/// TBSCertificate fields (RFC 5280 §4.1): [0] version, serialNumber, signature, issuer,
/// validity, subject, subjectPublicKeyInfo, extensions.
fn fix_slh_dsa(cert_der: &[u8], subject: &GenKey, issuer: &GenKey) -> Result<Vec<u8>, CryptoError> {
    let (subject_slh, issuer_slh) = (subject.slh_scheme(), issuer.slh_scheme());
    if subject_slh.is_none() && issuer_slh.is_none() {
        return Ok(cert_der.to_vec());
    }
    let (_, hdr, _) = tlv_bounds(cert_der)?;
    let body = &cert_der[hdr..];
    let (_, tbs_hdr, tbs_len) = tlv_bounds(body)?;
    let mut tbs = body[..tbs_len].to_vec();
    let (_, _, alg_len) = tlv_bounds(&body[tbs_len..])?;
    let mut sig_alg = body[tbs_len..tbs_len + alg_len].to_vec();

    // Walk to the signature field (3rd) and the SPKI (7th).
    let mut offsets = Vec::with_capacity(7);
    let mut pos = tbs_hdr;
    for _ in 0..7 {
        offsets.push(pos);
        let (_, _, len) = tlv_bounds(&tbs[pos..])?;
        pos += len;
    }
    let placeholder = SignatureScheme::MlDsa44.algorithm_identifier();
    let patch = |tbs: &mut [u8], at: usize, scheme: SignatureScheme| -> Result<(), CryptoError> {
        let field = tbs
            .get_mut(at..at + placeholder.len())
            .ok_or(CryptoError::Internal)?;
        if field != placeholder {
            return Err(CryptoError::Internal);
        }
        field.copy_from_slice(scheme.algorithm_identifier());
        Ok(())
    };
    if let Some(scheme) = issuer_slh {
        patch(&mut tbs, offsets[2], scheme)?;
        sig_alg = scheme.algorithm_identifier().to_vec();
    }
    if let Some(scheme) = subject_slh {
        // SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey }
        let (_, spki_hdr, _) = tlv_bounds(&tbs[offsets[6]..])?;
        patch(&mut tbs, offsets[6] + spki_hdr, scheme)?;
    }
    let signature = issuer.sign_tbs(&tbs)?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0);
    bits.extend_from_slice(&signature);
    let mut out = tbs;
    out.extend_from_slice(&sig_alg);
    out.extend_from_slice(&der_encode(0x03, &bits));
    Ok(der_encode(0x30, &out))
}

fn random_serial() -> Result<SerialNumber, CryptoError> {
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| CryptoError::Internal)?;
    serial[0] &= 0x7f; // positive INTEGER (RFC 5280 §4.1.2.2)
    serial[0] |= 0x01; // and no leading zero octet to strip
    Ok(SerialNumber::from_slice(&serial))
}

fn base_params(
    spec: &ChainSpec,
    cn: &str,
    sans: Vec<SanType>,
) -> Result<CertificateParams, CryptoError> {
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::OrganizationName, spec.organization.as_str());
    p.distinguished_name.push(DnType::CommonName, cn);
    p.subject_alt_names = sans;
    p.serial_number = Some(random_serial()?);
    p.use_authority_key_identifier_extension = true;
    let time = |t: i64| {
        rcgen::date_time_ymd(1970, 1, 1)
            .checked_add(time::Duration::seconds(t))
            .ok_or_else(|| CryptoError::Malformed("validity out of range".into()))
    };
    p.not_before = time(spec.not_before)?;
    p.not_after = time(spec.not_after)?;
    Ok(p)
}

fn ca_params(spec: &ChainSpec, cn: &str) -> Result<CertificateParams, CryptoError> {
    let mut p = base_params(spec, cn, Vec::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(p)
}

fn ee_params(spec: &ChainSpec, ee: &EndEntitySpec) -> Result<CertificateParams, CryptoError> {
    let mut sans = Vec::new();
    for d in &ee.dns_names {
        sans.push(SanType::DnsName(d.as_str().try_into().map_err(rc_err)?));
    }
    for e in &ee.emails {
        sans.push(SanType::Rfc822Name(e.as_str().try_into().map_err(rc_err)?));
    }
    sans.extend(ee.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    let mut p = base_params(spec, &ee.common_name, sans)?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // id-kp-ipsecIKE (RFC 4945 §5.1.3.12), plus the TLS purposes some IKE stacks ask for.
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 17]),
    ];
    Ok(p)
}

fn issued(cn: &str, key_type: KeyType, der: Vec<u8>, key: &GenKey) -> Issued {
    Issued {
        common_name: cn.to_string(),
        key_type,
        cert_pem: pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())),
        cert_der: der,
        key_pem: key.pkcs8_pem(),
    }
}

/// Generate the root, the intermediates and the end-entities of `spec`.
///
/// Errors: `Unsupported` for a key type this build cannot make (SLH-DSA without the `slh-dsa`
/// feature), `Malformed` for bad names or validity.
pub fn generate_chain(spec: &ChainSpec) -> Result<Chain, CryptoError> {
    if spec.not_after <= spec.not_before {
        return Err(CryptoError::Malformed(
            "notAfter is not after notBefore".into(),
        ));
    }
    let (root_cn, root_kt) = &spec.root;
    let root_key = GenKey::generate(*root_kt)?;
    let root_params = ca_params(spec, root_cn)?;
    let root_der = root_params.self_signed(&root_key).map_err(rc_err)?;
    let root_der = fix_slh_dsa(root_der.der(), &root_key, &root_key)?;
    let root = issued(root_cn, *root_kt, root_der, &root_key);

    let mut issuer = Issuer::new(root_params, root_key);
    let mut intermediates = Vec::new();
    for (cn, kt) in &spec.intermediates {
        let key = GenKey::generate(*kt)?;
        let params = ca_params(spec, cn)?;
        let der = params.signed_by(&key, &issuer).map_err(rc_err)?;
        let der = fix_slh_dsa(der.der(), &key, issuer.key())?;
        intermediates.push(issued(cn, *kt, der, &key));
        issuer = Issuer::new(params, key);
    }

    let mut end_entities = Vec::new();
    for ee in &spec.end_entities {
        let key = GenKey::generate(ee.key)?;
        let params = ee_params(spec, ee)?;
        let der = params.signed_by(&key, &issuer).map_err(rc_err)?;
        let der = fix_slh_dsa(der.der(), &key, issuer.key())?;
        end_entities.push(issued(&ee.common_name, ee.key, der, &key));
    }
    Ok(Chain {
        root,
        intermediates,
        end_entities,
    })
}
