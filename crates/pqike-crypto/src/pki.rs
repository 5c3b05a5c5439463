//! X.509 certificates: parsing, identities, chain verification; PEM loading of certs and keys.
//!
//! Call order for a peer's certificate: [`Certificate::parse`] the end-entity and intermediate
//! CERT payloads, then [`verify_chain`] against the configured trust anchors, then match the IKE
//! identity against [`Certificate::subject_der`] / the SAN lists, then verify AUTH with
//! [`Certificate::spki_der`]. [`spki_sha1`] gives the CERTREQ CA key hash (RFC 7296 §3.7).
use std::net::IpAddr;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature as awssig;
use x509_parser::extensions::GeneralName;

use crate::sig::{signing_key_from_der, SignatureScheme};
use crate::{CryptoError, SigningKey};

/// Longest chain accepted by [`verify_chain`] (certificates, end-entity and anchor included).
pub const MAX_CHAIN_DEPTH: usize = 8;

fn malformed(what: impl Into<String>) -> CryptoError {
    CryptoError::Malformed(what.into())
}

fn cert_err(what: impl Into<String>) -> CryptoError {
    CryptoError::Certificate(what.into())
}

// ---------------------------------------------------------------------------------------------
// PEM.

/// All `CERTIFICATE` blocks of a PEM file, as DER. Other block types are skipped.
pub fn load_certs_pem(pem_data: &[u8]) -> Result<Vec<Vec<u8>>, CryptoError> {
    let blocks = pem::parse_many(pem_data).map_err(|e| malformed(format!("PEM: {e}")))?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE" || b.tag() == "X509 CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    if certs.is_empty() {
        return Err(malformed("no CERTIFICATE block in PEM data"));
    }
    Ok(certs)
}

/// The first private key of a PEM file: `PRIVATE KEY` (PKCS#8: ECDSA, Ed25519, RSA, ML-DSA in
/// seed, expanded or both forms as OpenSSL 3.5 writes them, SLH-DSA),
/// `EC PRIVATE KEY` (SEC1, RFC 5915) or `RSA PRIVATE KEY` (PKCS#1). This is what both
/// `openssl` and strongSwan's `pki --outform pem` write. Encrypted keys are not supported.
pub fn load_private_key_pem(pem_data: &[u8]) -> Result<Arc<dyn SigningKey>, CryptoError> {
    let blocks = pem::parse_many(pem_data).map_err(|e| malformed(format!("PEM: {e}")))?;
    for block in blocks {
        match block.tag() {
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
                // The DER decoders try every format; the tag only tells us it is a key.
                return signing_key_from_der(block.contents());
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(malformed("encrypted private keys are not supported"))
            }
            _ => continue,
        }
    }
    Err(malformed("no private key block in PEM data"))
}

// ---------------------------------------------------------------------------------------------
// Minimal DER reading for the parts x509-parser does not hand out raw.

/// One DER TLV split off the front of an input.
struct Tlv<'a> {
    tag: u8,
    /// The whole TLV (header included).
    whole: &'a [u8],
    contents: &'a [u8],
    /// What follows the TLV.
    rest: &'a [u8],
}

/// Split one DER TLV off the front of `input`.
fn der_tlv(input: &[u8]) -> Result<Tlv<'_>, CryptoError> {
    let err = || malformed("certificate DER");
    if input.len() < 2 {
        return Err(err());
    }
    let tag = input[0];
    let (len, header) = match input[1] {
        l @ 0x00..=0x7f => (usize::from(l), 2),
        l @ 0x81..=0x84 => {
            let n = usize::from(l & 0x7f);
            let bytes = input.get(2..2 + n).ok_or_else(err)?;
            (
                bytes
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
                2 + n,
            )
        }
        _ => return Err(err()),
    };
    let end = header.checked_add(len).ok_or_else(err)?;
    if input.len() < end {
        return Err(err());
    }
    Ok(Tlv {
        tag,
        whole: &input[..end],
        contents: &input[header..end],
        rest: &input[end..],
    })
}

/// Named curve of an EC SubjectPublicKeyInfo, if it is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

fn spki_curve(spki: &[u8]) -> Option<Curve> {
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    const P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
    let spki = der_tlv(spki).ok()?.contents;
    let alg = der_tlv(spki).ok()?.contents;
    let params = der_tlv(alg).ok()?.rest; // skip the algorithm OID
    match params {
        p if p == P256 => Some(Curve::P256),
        p if p == P384 => Some(Curve::P384),
        p if p == P521 => Some(Curve::P521),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates.

/// A parsed X.509 certificate (owned; the fields the IKE engine needs).
#[derive(Clone, Debug)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Vec<u8>,
    signature_algorithm: Vec<u8>,
    signature: Vec<u8>,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    spki_der: Vec<u8>,
    subject: String,
    dns_names: Vec<String>,
    rfc822_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    is_ca: bool,
    not_before: i64,
    not_after: i64,
}

impl Certificate {
    /// Parse a DER certificate. Trailing data after the certificate is rejected.
    pub fn parse(der: &[u8]) -> Result<Certificate, CryptoError> {
        let (rest, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| malformed(format!("certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(malformed("trailing data after the certificate"));
        }
        // Raw TBSCertificate, signatureAlgorithm and signatureValue (Certificate ::= SEQUENCE).
        let body = der_tlv(der)?.contents;
        let tbs = der_tlv(body)?;
        let sig_alg = der_tlv(tbs.rest)?;
        let sig_value = der_tlv(sig_alg.rest)?;
        let (tbs, sig_alg) = (tbs.whole, sig_alg.whole);
        match (sig_value.tag, sig_value.contents.split_first()) {
            (0x03, Some((0, sig))) => {
                let mut dns_names = Vec::new();
                let mut rfc822_names = Vec::new();
                let mut ip_addresses = Vec::new();
                let san = cert
                    .subject_alternative_name()
                    .map_err(|e| malformed(format!("subjectAltName: {e}")))?;
                if let Some(san) = san {
                    for name in &san.value.general_names {
                        match name {
                            GeneralName::DNSName(n) => dns_names.push((*n).to_string()),
                            GeneralName::RFC822Name(n) => rfc822_names.push((*n).to_string()),
                            GeneralName::IPAddress(b) => match b.len() {
                                4 => ip_addresses
                                    .push(IpAddr::from(<[u8; 4]>::try_from(*b).expect("len 4"))),
                                16 => ip_addresses
                                    .push(IpAddr::from(<[u8; 16]>::try_from(*b).expect("len 16"))),
                                _ => {}
                            },
                            _ => {}
                        }
                    }
                }
                let is_ca = cert
                    .basic_constraints()
                    .map_err(|e| malformed(format!("basicConstraints: {e}")))?
                    .is_some_and(|bc| bc.value.ca);
                Ok(Certificate {
                    der: der.to_vec(),
                    tbs: tbs.to_vec(),
                    signature_algorithm: sig_alg.to_vec(),
                    signature: sig.to_vec(),
                    subject_der: cert.subject().as_raw().to_vec(),
                    issuer_der: cert.issuer().as_raw().to_vec(),
                    spki_der: cert.public_key().raw.to_vec(),
                    subject: cert.subject().to_string(),
                    dns_names,
                    rfc822_names,
                    ip_addresses,
                    is_ca,
                    not_before: cert.validity().not_before.timestamp(),
                    not_after: cert.validity().not_after.timestamp(),
                })
            }
            _ => Err(malformed("certificate signatureValue")),
        }
    }

    /// The certificate DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// DER of the subject Name (for ID_DER_ASN1_DN matching).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }
    /// DER of the issuer Name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }
    /// DER SubjectPublicKeyInfo (pass to [`crate::CryptoProvider::verify`]).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }
    /// Human-readable subject, e.g. "CN=moon.strongswan.org, O=..." (for logs).
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// subjectAltName dNSName entries.
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }
    /// subjectAltName rfc822Name entries.
    pub fn rfc822_names(&self) -> &[String] {
        &self.rfc822_names
    }
    /// subjectAltName iPAddress entries.
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.ip_addresses
    }
    /// basicConstraints cA.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }
    /// notBefore, Unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }
    /// notAfter, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Is `now_unix` within the validity period (inclusive, RFC 5280 §4.1.2.5)?
    pub fn valid_at(&self, now_unix: i64) -> bool {
        self.not_before <= now_unix && now_unix <= self.not_after
    }

    /// Was this certificate signed by `issuer`'s key? Uses the certificate's signatureAlgorithm;
    /// for ECDSA the curve comes from the issuer's key.
    pub fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), CryptoError> {
        let scheme = SignatureScheme::from_algorithm_identifier(&self.signature_algorithm)
            .ok_or_else(|| {
                cert_err(format!(
                    "unsupported signature algorithm in '{}'",
                    self.subject
                ))
            })?;
        let bad_sig = || {
            cert_err(format!(
                "bad signature on '{}' by '{}'",
                self.subject, issuer.subject
            ))
        };
        // ML-DSA / SLH-DSA: the certificate signatureAlgorithm OID is the key's OID (RFC 9881
        // §2, RFC 9909 §3), so the issuer's SPKI must be of exactly that type and level.
        if scheme.is_post_quantum() {
            return crate::sig::verify(scheme, &issuer.spki_der, &self.tbs, &self.signature)
                .map_err(|e| match e {
                    CryptoError::BadSignature => bad_sig(),
                    other => other,
                });
        }
        let alg: &'static dyn awssig::VerificationAlgorithm = match scheme {
            SignatureScheme::EcdsaP256Sha256
            | SignatureScheme::EcdsaP384Sha384
            | SignatureScheme::EcdsaP521Sha512 => {
                let curve = spki_curve(&issuer.spki_der).ok_or_else(|| {
                    cert_err("ECDSA signature but the issuer key is not P-256/384/521")
                })?;
                use SignatureScheme as S;
                match (curve, scheme) {
                    (Curve::P256, S::EcdsaP256Sha256) => &awssig::ECDSA_P256_SHA256_ASN1,
                    (Curve::P256, S::EcdsaP384Sha384) => &awssig::ECDSA_P256_SHA384_ASN1,
                    (Curve::P256, _) => &awssig::ECDSA_P256_SHA512_ASN1,
                    (Curve::P384, S::EcdsaP256Sha256) => &awssig::ECDSA_P384_SHA256_ASN1,
                    (Curve::P384, S::EcdsaP384Sha384) => &awssig::ECDSA_P384_SHA384_ASN1,
                    (Curve::P384, _) => &awssig::ECDSA_P384_SHA512_ASN1,
                    (Curve::P521, S::EcdsaP256Sha256) => &awssig::ECDSA_P521_SHA256_ASN1,
                    (Curve::P521, S::EcdsaP384Sha384) => &awssig::ECDSA_P521_SHA384_ASN1,
                    (Curve::P521, _) => &awssig::ECDSA_P521_SHA512_ASN1,
                }
            }
            // SHA-1 certificate signatures are forgeable (SHAttered); not accepted in chains.
            SignatureScheme::RsaPkcs1Sha1 => {
                return Err(cert_err("SHA-1 certificate signatures are not accepted"))
            }
            SignatureScheme::Ed25519 => &awssig::ED25519,
            SignatureScheme::RsaPssSha256 => &awssig::RSA_PSS_2048_8192_SHA256,
            SignatureScheme::RsaPssSha384 => &awssig::RSA_PSS_2048_8192_SHA384,
            SignatureScheme::RsaPssSha512 => &awssig::RSA_PSS_2048_8192_SHA512,
            SignatureScheme::RsaPkcs1Sha256 => &awssig::RSA_PKCS1_2048_8192_SHA256,
            SignatureScheme::RsaPkcs1Sha384 => &awssig::RSA_PKCS1_2048_8192_SHA384,
            SignatureScheme::RsaPkcs1Sha512 => &awssig::RSA_PKCS1_2048_8192_SHA512,
            other => {
                return Err(cert_err(format!(
                    "unsupported signature algorithm {} in '{}'",
                    other.name(),
                    self.subject
                )))
            }
        };
        awssig::UnparsedPublicKey::new(alg, &issuer.spki_der)
            .verify(&self.tbs, &self.signature)
            .map_err(|_| bad_sig())
    }
}

/// Verify `ee` up to one of `anchors` through `intermediates` at time `now_unix`.
///
/// Path building: at each step, candidates are certificates whose subject equals the current
/// issuer; anchors are tried first, and a candidate must verify the current certificate's
/// signature. Every certificate on the path (anchor included) must be valid at `now_unix`, and
/// every issuer must have basicConstraints cA=TRUE. At most [`MAX_CHAIN_DEPTH`] certificates.
/// Not checked (yet): keyUsage, extendedKeyUsage, name constraints, pathLenConstraint, revocation.
pub fn verify_chain(
    ee: &Certificate,
    intermediates: &[Certificate],
    anchors: &[Certificate],
    now_unix: i64,
) -> Result<(), CryptoError> {
    if !ee.valid_at(now_unix) {
        return Err(cert_err(format!(
            "'{}' is not valid at {now_unix}",
            ee.subject
        )));
    }
    // An end-entity that is itself a trust anchor (byte-identical) is trusted directly.
    if anchors.iter().any(|a| a.der == ee.der) {
        return Ok(());
    }
    let mut current = ee;
    let mut last_err = cert_err(format!("no issuer found for '{}'", ee.subject));
    for _depth in 1..MAX_CHAIN_DEPTH {
        // Trust anchors first: a matching anchor ends the path.
        for anchor in anchors
            .iter()
            .filter(|a| a.subject_der == current.issuer_der)
        {
            match check_issuer(current, anchor, now_unix) {
                Ok(()) => return Ok(()),
                Err(e) => last_err = e,
            }
        }
        let next = intermediates
            .iter()
            .filter(|c| c.subject_der == current.issuer_der && !std::ptr::eq(*c, current))
            .find(|c| match check_issuer(current, c, now_unix) {
                Ok(()) => true,
                Err(e) => {
                    last_err = e;
                    false
                }
            });
        match next {
            Some(c) => current = c,
            None => return Err(last_err),
        }
    }
    Err(cert_err(format!("chain longer than {MAX_CHAIN_DEPTH}")))
}

fn check_issuer(
    cert: &Certificate,
    issuer: &Certificate,
    now_unix: i64,
) -> Result<(), CryptoError> {
    if !issuer.is_ca {
        return Err(cert_err(format!("issuer '{}' is not a CA", issuer.subject)));
    }
    if !issuer.valid_at(now_unix) {
        return Err(cert_err(format!(
            "'{}' is not valid at {now_unix}",
            issuer.subject
        )));
    }
    cert.verify_signed_by(issuer)
}

/// SHA-1 of the certificate's SubjectPublicKeyInfo: the CERTREQ "Certification Authority"
/// value (RFC 7296 §3.7) and the CERT "Hash and URL" key hash.
pub fn spki_sha1(cert: &Certificate) -> [u8; 20] {
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &cert.spki_der);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_ref());
    out
}
