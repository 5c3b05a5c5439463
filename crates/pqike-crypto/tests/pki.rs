//! Certificates: a CA -> intermediate -> end-entity chain generated with rcgen, parsed and verified.
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::pki::{
    load_certs_pem, load_private_key_pem, spki_sha1, verify_chain, Certificate,
};
use pqike_crypto::{CryptoError, CryptoProvider, HashAlgorithm, SignatureScheme};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType, SignatureAlgorithm,
};

const NOW: i64 = 1_800_000_000; // 2027-01-15
const Y2020: i64 = 1_577_836_800;

struct Chain {
    ca: Certificate,
    int: Certificate,
    ee: Certificate,
    ee_key_pem: String,
    pem_bundle: String,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2040, 1, 1);
    p
}

fn make_chain(
    ca_alg: &'static SignatureAlgorithm,
    int_alg: &'static SignatureAlgorithm,
    ee_alg: &'static SignatureAlgorithm,
    ee_not_after_year: i32,
) -> Chain {
    let ca_key = KeyPair::generate_for(ca_alg).unwrap();
    let ca_p = ca_params("pqike Test Root CA");
    let ca = ca_p.self_signed(&ca_key).unwrap();
    let ca_issuer = Issuer::new(ca_p, ca_key);

    let int_key = KeyPair::generate_for(int_alg).unwrap();
    let int_p = ca_params("pqike Test Intermediate");
    let int = int_p.signed_by(&int_key, &ca_issuer).unwrap();
    let int_issuer = Issuer::new(int_p, int_key);

    let ee_key = KeyPair::generate_for(ee_alg).unwrap();
    let mut ee_p = CertificateParams::new(vec!["moon.example.org".to_string()]).unwrap();
    ee_p.subject_alt_names
        .push(SanType::Rfc822Name("moon@example.org".try_into().unwrap()));
    ee_p.subject_alt_names
        .push(SanType::IpAddress("192.0.2.1".parse().unwrap()));
    ee_p.distinguished_name
        .push(DnType::CommonName, "moon.example.org");
    ee_p.distinguished_name
        .push(DnType::OrganizationName, "pqike");
    ee_p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    ee_p.not_after = rcgen::date_time_ymd(ee_not_after_year, 1, 1);
    let ee = ee_p.signed_by(&ee_key, &int_issuer).unwrap();

    Chain {
        ca: Certificate::parse(ca.der()).unwrap(),
        int: Certificate::parse(int.der()).unwrap(),
        ee: Certificate::parse(ee.der()).unwrap(),
        ee_key_pem: ee_key.serialize_pem(),
        pem_bundle: format!("{}{}", ee.pem(), int.pem()),
    }
}

#[test]
fn ecdsa_chain_verifies_and_fields_parse() {
    let c = make_chain(
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        2035,
    );
    verify_chain(
        &c.ee,
        std::slice::from_ref(&c.int),
        std::slice::from_ref(&c.ca),
        NOW,
    )
    .unwrap();

    assert!(c.ca.is_ca() && c.int.is_ca() && !c.ee.is_ca());
    assert_eq!(c.ee.issuer_der(), c.int.subject_der());
    assert_eq!(c.int.issuer_der(), c.ca.subject_der());
    assert_eq!(c.ee.dns_names(), &["moon.example.org".to_string()]);
    assert_eq!(c.ee.rfc822_names(), &["moon@example.org".to_string()]);
    assert_eq!(
        c.ee.ip_addresses(),
        &["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(
        c.ee.subject().contains("CN=moon.example.org"),
        "{}",
        c.ee.subject()
    );
    assert_eq!(c.ee.not_before(), Y2020);
    assert!(c.ee.not_after() > NOW);
    assert!(c.ee.subject_der().starts_with(&[0x30]));

    // The EE key from PEM signs AUTH data that verifies with the certificate's SPKI.
    let key = load_private_key_pem(c.ee_key_pem.as_bytes()).unwrap();
    assert_eq!(key.public_key_spki(), c.ee.spki_der());
    let sig = key.sign(SignatureScheme::EcdsaP256Sha256, b"auth").unwrap();
    AwsLcProvider::new()
        .verify(
            SignatureScheme::EcdsaP256Sha256,
            c.ee.spki_der(),
            b"auth",
            &sig,
        )
        .unwrap();

    // CERTREQ hash: SHA-1 over the CA's SubjectPublicKeyInfo.
    let p = AwsLcProvider::new();
    assert_eq!(
        spki_sha1(&c.ca).to_vec(),
        p.hash(HashAlgorithm::Sha1, &[c.ca.spki_der()])
    );
    assert_ne!(spki_sha1(&c.ca), spki_sha1(&c.int));

    // PEM bundle: EE then intermediate.
    let ders = load_certs_pem(c.pem_bundle.as_bytes()).unwrap();
    assert_eq!(ders.len(), 2);
    assert_eq!(ders[0], c.ee.der());
    assert_eq!(ders[1], c.int.der());
}

#[test]
fn ed25519_and_p521_chains_verify() {
    let c = make_chain(
        &rcgen::PKCS_ED25519,
        &rcgen::PKCS_ECDSA_P521_SHA512,
        &rcgen::PKCS_ED25519,
        2035,
    );
    verify_chain(
        &c.ee,
        std::slice::from_ref(&c.int),
        std::slice::from_ref(&c.ca),
        NOW,
    )
    .unwrap();
}

#[test]
fn rsa_chain_verifies() {
    let c = make_chain(
        &rcgen::PKCS_RSA_SHA256,
        &rcgen::PKCS_RSA_SHA384,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        2035,
    );
    verify_chain(
        &c.ee,
        std::slice::from_ref(&c.int),
        std::slice::from_ref(&c.ca),
        NOW,
    )
    .unwrap();
}

#[test]
fn wrong_anchor_fails() {
    let c = make_chain(
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        2035,
    );
    let other = make_chain(
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        2035,
    );
    // Same subject name, different key: the signature check must catch it.
    assert_eq!(other.ca.subject_der(), c.ca.subject_der());
    assert!(matches!(
        verify_chain(
            &c.ee,
            std::slice::from_ref(&c.int),
            std::slice::from_ref(&other.ca),
            NOW
        ),
        Err(CryptoError::Certificate(_))
    ));
    // Missing intermediate.
    assert!(verify_chain(&c.ee, &[], std::slice::from_ref(&c.ca), NOW).is_err());
    // No anchors at all.
    assert!(verify_chain(&c.ee, std::slice::from_ref(&c.int), &[], NOW).is_err());
    // An intermediate from another hierarchy with the same name.
    assert!(verify_chain(
        &c.ee,
        std::slice::from_ref(&other.int),
        std::slice::from_ref(&c.ca),
        NOW
    )
    .is_err());
    // The intermediate as anchor works (partial-chain trust).
    verify_chain(&c.ee, &[], std::slice::from_ref(&c.int), NOW).unwrap();
}

#[test]
fn expired_and_not_yet_valid_fail() {
    let c = make_chain(
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        2025,
    );
    let expired = verify_chain(
        &c.ee,
        std::slice::from_ref(&c.int),
        std::slice::from_ref(&c.ca),
        NOW,
    );
    assert!(
        matches!(expired, Err(CryptoError::Certificate(_))),
        "{expired:?}"
    );
    // Valid in 2024.
    verify_chain(
        &c.ee,
        std::slice::from_ref(&c.int),
        std::slice::from_ref(&c.ca),
        1_710_000_000,
    )
    .unwrap();
    // Before notBefore.
    assert!(verify_chain(
        &c.ee,
        std::slice::from_ref(&c.int),
        std::slice::from_ref(&c.ca),
        Y2020 - 1
    )
    .is_err());
    // Anchor expired (2040) at 2041.
    assert!(verify_chain(
        &c.ee,
        std::slice::from_ref(&c.int),
        std::slice::from_ref(&c.ca),
        2_240_000_000
    )
    .is_err());
}

#[test]
fn non_ca_issuer_rejected() {
    // EE2 signed by EE1's key (EE1 has no cA flag).
    let ee1_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ee1_p = CertificateParams::new(vec!["a.example".to_string()]).unwrap();
    ee1_p
        .distinguished_name
        .push(DnType::CommonName, "not a CA");
    let ee1 = ee1_p.self_signed(&ee1_key).unwrap();
    let issuer = Issuer::new(ee1_p, ee1_key);
    let ee2_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ee2 = CertificateParams::new(vec!["b.example".to_string()])
        .unwrap()
        .signed_by(&ee2_key, &issuer)
        .unwrap();
    let ee1 = Certificate::parse(ee1.der()).unwrap();
    let ee2 = Certificate::parse(ee2.der()).unwrap();
    let now = ee2.not_before() + 10;
    assert!(verify_chain(&ee2, &[], &[ee1], now).is_err());
}

#[test]
fn tampered_and_garbage_certificates() {
    let c = make_chain(
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        2035,
    );
    // Flip a bit inside the EE's TBS (in the SAN dNSName text): still parses, signature fails.
    let mut der = c.ee.der().to_vec();
    let pos = der.windows(4).position(|w| w == b"moon").unwrap();
    der[pos] ^= 0x20;
    let tampered = Certificate::parse(&der).unwrap();
    assert!(verify_chain(
        &tampered,
        std::slice::from_ref(&c.int),
        std::slice::from_ref(&c.ca),
        NOW
    )
    .is_err());
    assert!(Certificate::parse(&c.ee.der()[..50]).is_err());
    assert!(Certificate::parse(&[]).is_err());
    let mut trailing = c.ee.der().to_vec();
    trailing.push(0);
    assert!(Certificate::parse(&trailing).is_err());
    assert!(load_certs_pem(b"garbage").is_err());
}
