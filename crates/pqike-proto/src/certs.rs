//! The peer's certificate chain: verification against the configured trust anchors and matching
//! of the peer's identity against the end-entity certificate (RFC 7296 §3.5, §3.6; RFC 4945 §3).
use crate::auth::id_string;
use crate::notify::IkeError;
use pqike_crypto::pki::{verify_chain, Certificate};
use pqike_crypto::{CryptoProvider, HashAlgorithm};
use pqike_wire::{IdType, Identification};
use std::net::IpAddr;

/// The DER SubjectPublicKeyInfo of a certificate (`None` if it does not parse).
pub(crate) fn spki_of(cert: &[u8]) -> Option<Vec<u8>> {
    Certificate::parse(cert).ok().map(|c| c.spki_der().to_vec())
}

/// SHA-1 hashes of our trust anchors' SubjectPublicKeyInfo, concatenated (RFC 7296 §3.7).
pub(crate) fn ca_key_hashes(crypto: &dyn CryptoProvider, cacerts: &[Vec<u8>]) -> Vec<u8> {
    cacerts
        .iter()
        .filter_map(|c| spki_of(c))
        .flat_map(|spki| crypto.hash(HashAlgorithm::Sha1, &[&spki]))
        .collect()
}

/// Is `id` one of the certificate's identities? FQDN/RFC822/IP against the subjectAltName
/// entries, a DN against the subject (RFC 4945 §3.1 as strongSwan applies it).
fn id_in_cert(cert: &Certificate, id: &Identification) -> bool {
    let text = || std::str::from_utf8(&id.data).ok();
    match id.id_type {
        IdType::FQDN => {
            text().is_some_and(|t| cert.dns_names().iter().any(|n| n.eq_ignore_ascii_case(t)))
        }
        IdType::RFC822_ADDR => text().is_some_and(|t| {
            cert.rfc822_names()
                .iter()
                .any(|n| n.eq_ignore_ascii_case(t))
        }),
        IdType::IPV4_ADDR => <[u8; 4]>::try_from(id.data.as_slice())
            .is_ok_and(|a| cert.ip_addresses().contains(&IpAddr::from(a))),
        IdType::IPV6_ADDR => <[u8; 16]>::try_from(id.data.as_slice())
            .is_ok_and(|a| cert.ip_addresses().contains(&IpAddr::from(a))),
        IdType::DER_ASN1_DN => pqike_wire::dn::dn_equivalent(cert.subject_der(), &id.data),
        _ => false,
    }
}

/// Verify `certs` (end-entity first, then intermediates) up to one of `cacerts` at `now_unix`,
/// check that `id` is one of the end-entity's identities, and return its SubjectPublicKeyInfo.
pub(crate) fn verify_peer(
    certs: &[&[u8]],
    cacerts: &[Vec<u8>],
    id: &Identification,
    now_unix: i64,
) -> Result<Vec<u8>, IkeError> {
    let fail = |why: String| IkeError::AuthFailed(why);
    let (ee, rest) = certs
        .split_first()
        .ok_or_else(|| fail("peer sent no certificate".into()))?;
    let ee = Certificate::parse(ee).map_err(|e| fail(format!("peer certificate: {e}")))?;
    // Unparseable extra certificates are skipped: they cannot be on a valid path anyway.
    let intermediates: Vec<Certificate> = rest
        .iter()
        .filter_map(|c| Certificate::parse(c).ok())
        .collect();
    let anchors: Vec<Certificate> = cacerts
        .iter()
        .filter_map(|c| Certificate::parse(c).ok())
        .collect();
    if anchors.is_empty() {
        return Err(fail("no usable trust anchor configured".into()));
    }
    verify_chain(&ee, &intermediates, &anchors, now_unix).map_err(|e| fail(e.to_string()))?;
    if !id_in_cert(&ee, id) {
        return Err(fail(format!(
            "identity {} is not in certificate '{}'",
            id_string(id),
            ee.subject()
        )));
    }
    tracing::debug!(
        "peer certificate '{}' verified for {}",
        ee.subject(),
        id_string(id)
    );
    Ok(ee.spki_der().to_vec())
}
