//! `pkigen`: generated chains parse and verify with `pki`, keys load and sign; tampering fails.
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::pki::{load_certs_pem, load_private_key_pem, verify_chain, Certificate};
use pqike_crypto::pkigen::{generate_chain, ChainSpec, EndEntitySpec, KeyType};
use pqike_crypto::{CryptoProvider, SignatureScheme};

fn parse_pem(pem: &str) -> Certificate {
    Certificate::parse(&load_certs_pem(pem.as_bytes()).unwrap()[0]).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Generate root -> intermediate(s) -> one EE, verify the chain, sign with the EE key and
/// verify with the EE certificate's SPKI.
fn chain_round_trip(
    root: KeyType,
    ints: &[KeyType],
    ee: KeyType,
) -> (Certificate, Vec<Certificate>, Certificate) {
    let mut spec = ChainSpec::new(root);
    spec.intermediates = ints
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("Intermediate {i}"), *k))
        .collect();
    let mut e = EndEntitySpec::new("moon.example.org", ee);
    e.emails.push("moon@example.org".into());
    e.ips.push("192.0.2.1".parse().unwrap());
    e.ips.push("2001:db8::1".parse().unwrap());
    spec.end_entities.push(e);
    let chain = generate_chain(&spec).unwrap();

    let anchor = Certificate::parse(&chain.root.cert_der).unwrap();
    let int: Vec<Certificate> = chain
        .intermediates
        .iter()
        .map(|c| parse_pem(&c.cert_pem))
        .collect();
    let ee_cert = parse_pem(&chain.end_entities[0].cert_pem);
    assert!(anchor.is_ca() && int.iter().all(Certificate::is_ca) && !ee_cert.is_ca());
    assert_eq!(ee_cert.dns_names(), ["moon.example.org"]);
    assert_eq!(ee_cert.rfc822_names(), ["moon@example.org"]);
    assert_eq!(ee_cert.ip_addresses().len(), 2);
    assert!(ee_cert.subject().contains("CN=moon.example.org"));
    verify_chain(&ee_cert, &int, std::slice::from_ref(&anchor), now()).unwrap();
    // The bundle helper holds the same intermediates.
    if !ints.is_empty() {
        assert_eq!(
            load_certs_pem(chain.intermediates_pem().as_bytes())
                .unwrap()
                .len(),
            ints.len()
        );
    }

    let key = load_private_key_pem(chain.end_entities[0].key_pem.as_bytes()).unwrap();
    let scheme = ee.scheme();
    assert_eq!(key.public_key_spki(), ee_cert.spki_der());
    let sig = key.sign(scheme, b"signed octets").unwrap();
    AwsLcProvider::new()
        .verify(scheme, ee_cert.spki_der(), b"signed octets", &sig)
        .unwrap();
    // CA keys load too.
    for c in chain.intermediates.iter().chain([&chain.root]) {
        let k = load_private_key_pem(c.key_pem.as_bytes()).unwrap();
        assert_eq!(k.schemes()[0], c.key_type.scheme());
    }
    (anchor, int, ee_cert)
}

#[test]
fn ml_dsa_65_chain_verifies_and_tampering_fails() {
    let (anchor, int, ee) =
        chain_round_trip(KeyType::MlDsa65, &[KeyType::MlDsa65], KeyType::MlDsa65);
    let t = now();
    // One flipped bit in the EE's TBSCertificate (inside the subject CN).
    let mut der = ee.der().to_vec();
    let at = der.windows(4).position(|w| w == b"moon").unwrap();
    der[at] ^= 0x01;
    let tampered = Certificate::parse(&der).unwrap();
    assert!(verify_chain(&tampered, &int, std::slice::from_ref(&anchor), t).is_err());
    // A flipped bit in the signature.
    let mut der = ee.der().to_vec();
    let last = der.len() - 10;
    der[last] ^= 0x80;
    let tampered = Certificate::parse(&der).unwrap();
    assert!(verify_chain(&tampered, &int, std::slice::from_ref(&anchor), t).is_err());
    // Another root with the same name is not the issuer.
    let (other_anchor, _, _) =
        chain_round_trip(KeyType::MlDsa65, &[KeyType::MlDsa65], KeyType::MlDsa65);
    assert!(verify_chain(&ee, &int, std::slice::from_ref(&other_anchor), t).is_err());
    // Expired at notAfter + 1.
    assert!(verify_chain(&ee, &int, std::slice::from_ref(&anchor), ee.not_after() + 1).is_err());
}

#[test]
fn mixed_classic_and_ml_dsa_chains_verify() {
    chain_round_trip(KeyType::EcdsaP384, &[KeyType::MlDsa44], KeyType::Ed25519);
    chain_round_trip(
        KeyType::MlDsa87,
        &[KeyType::EcdsaP256, KeyType::MlDsa44],
        KeyType::EcdsaP256,
    );
    chain_round_trip(KeyType::Rsa2048, &[], KeyType::MlDsa65);
}

#[cfg(feature = "slh-dsa")]
#[test]
fn slh_dsa_chains_verify() {
    // SLH-DSA root and EE around an ML-DSA intermediate; and an SLH-DSA CA over a classic EE.
    let (anchor, int, ee) = chain_round_trip(
        KeyType::SlhDsa(SignatureScheme::SlhDsaSha2_128f),
        &[KeyType::MlDsa44],
        KeyType::SlhDsa(SignatureScheme::SlhDsaShake128f),
    );
    let mut der = ee.der().to_vec();
    let at = der.windows(4).position(|w| w == b"moon").unwrap();
    der[at] ^= 0x01;
    let tampered = Certificate::parse(&der).unwrap();
    assert!(verify_chain(&tampered, &int, std::slice::from_ref(&anchor), now()).is_err());
    chain_round_trip(
        KeyType::SlhDsa(SignatureScheme::SlhDsaShake128f),
        &[],
        KeyType::EcdsaP256,
    );
}

#[test]
fn key_type_names_round_trip() {
    for k in KeyType::all() {
        assert_eq!(KeyType::from_name(&k.name()), Some(k));
    }
    assert_eq!(KeyType::from_name("ML-DSA-65"), Some(KeyType::MlDsa65));
    assert_eq!(
        KeyType::from_name("slh-dsa-shake-256f"),
        Some(KeyType::SlhDsa(SignatureScheme::SlhDsaShake256f))
    );
    assert_eq!(KeyType::from_name("dsa1024"), None);
}

#[test]
fn bad_validity_is_an_error() {
    let mut spec = ChainSpec::new(KeyType::EcdsaP256);
    spec.not_after = spec.not_before;
    assert!(generate_chain(&spec).is_err());
}
