//! ML-DSA and SLH-DSA: sign/verify, FIPS 204/205 sizes, AlgorithmIdentifiers, PKCS#8 round trips.
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::pki::load_private_key_pem;
use pqike_crypto::sig::{MlDsaSigningKey, SlhDsaSigningKey};
use pqike_crypto::{CryptoError, CryptoProvider, SignatureScheme, SigningKey};

const MSG: &[u8] = b"IKE SignedOctets: RealMessage1 | NonceRData | MACedIDForI";

/// FIPS 204 Table 2 / FIPS 205 Table 2: (scheme, public key, signature) octets.
const SIZES: [(SignatureScheme, usize, usize); 15] = [
    (SignatureScheme::MlDsa44, 1312, 2420),
    (SignatureScheme::MlDsa65, 1952, 3309),
    (SignatureScheme::MlDsa87, 2592, 4627),
    (SignatureScheme::SlhDsaSha2_128s, 32, 7856),
    (SignatureScheme::SlhDsaSha2_128f, 32, 17088),
    (SignatureScheme::SlhDsaSha2_192s, 48, 16224),
    (SignatureScheme::SlhDsaSha2_192f, 48, 35664),
    (SignatureScheme::SlhDsaSha2_256s, 64, 29792),
    (SignatureScheme::SlhDsaSha2_256f, 64, 49856),
    (SignatureScheme::SlhDsaShake128s, 32, 7856),
    (SignatureScheme::SlhDsaShake128f, 32, 17088),
    (SignatureScheme::SlhDsaShake192s, 48, 16224),
    (SignatureScheme::SlhDsaShake192f, 48, 35664),
    (SignatureScheme::SlhDsaShake256s, 64, 29792),
    (SignatureScheme::SlhDsaShake256f, 64, 49856),
];

/// Split one DER TLV (tag checked) into (contents, rest).
fn der_tlv(input: &[u8], tag: u8) -> (&[u8], &[u8]) {
    assert_eq!(input[0], tag);
    let (len, hdr) = match input[1] {
        l @ 0..=0x7f => (usize::from(l), 2),
        0x81 => (usize::from(input[2]), 3),
        0x82 => (usize::from(u16::from_be_bytes([input[2], input[3]])), 4),
        l => panic!("length form {l:#x}"),
    };
    (&input[hdr..hdr + len], &input[hdr + len..])
}

fn generate(scheme: SignatureScheme) -> Box<dyn SigningKey> {
    if scheme.is_ml_dsa() {
        Box::new(MlDsaSigningKey::generate(scheme).unwrap())
    } else {
        Box::new(SlhDsaSigningKey::generate(scheme).unwrap())
    }
}

/// Sign, verify through the provider, check sizes, and check that a flipped message, a flipped
/// signature, a truncated signature and another key all fail.
fn sign_verify(scheme: SignatureScheme, pk_len: usize, sig_len: usize) {
    let p = AwsLcProvider::new();
    let key = generate(scheme);
    assert_eq!(key.schemes(), [scheme]);
    let spki = key.public_key_spki();
    let sig = key.sign(scheme, MSG).unwrap();
    assert_eq!(sig.len(), sig_len, "{}", scheme.name());
    assert_eq!(scheme.signature_len(), Some(sig_len));
    assert_eq!(scheme.public_key_len(), Some(pk_len));
    // SPKI = SEQUENCE { AlgorithmIdentifier (the same 13 octets), BIT STRING (0 unused | key) }.
    let aid = scheme.algorithm_identifier();
    let (body, rest) = der_tlv(spki, 0x30);
    assert!(rest.is_empty());
    assert_eq!(&body[..aid.len()], aid, "{}", scheme.name());
    let (bits, rest) = der_tlv(&body[aid.len()..], 0x03);
    assert!(rest.is_empty());
    assert_eq!((bits[0], bits.len() - 1), (0, pk_len));
    p.verify(scheme, spki, MSG, &sig).unwrap();

    let mut bad_msg = MSG.to_vec();
    bad_msg[3] ^= 1;
    assert_eq!(
        p.verify(scheme, spki, &bad_msg, &sig),
        Err(CryptoError::BadSignature)
    );
    let mut bad_sig = sig.clone();
    bad_sig[sig_len / 2] ^= 0x40;
    assert_eq!(
        p.verify(scheme, spki, MSG, &bad_sig),
        Err(CryptoError::BadSignature)
    );
    assert_eq!(
        p.verify(scheme, spki, MSG, &sig[..sig_len - 1]),
        Err(CryptoError::BadSignature)
    );
    let other = generate(scheme);
    assert_eq!(
        p.verify(scheme, other.public_key_spki(), MSG, &sig),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn ml_dsa_sign_verify_and_sizes() {
    for (scheme, pk, sig) in &SIZES[..3] {
        sign_verify(*scheme, *pk, *sig);
    }
}

#[cfg(feature = "slh-dsa")]
mod slh {
    use super::*;
    macro_rules! slh_test {
        ($name:ident, $i:literal) => {
            #[test]
            fn $name() {
                let (scheme, pk, sig) = SIZES[$i];
                sign_verify(scheme, pk, sig);
            }
        };
        // The unoptimised `slh-dsa` code needs minutes for these; `cargo test --release` runs
        // them (or add `[profile.dev.package.slh-dsa] opt-level = 3` to the workspace).
        (slow $name:ident, $i:literal) => {
            #[test]
            #[cfg_attr(
                debug_assertions,
                ignore = "slow without optimisation: run with --release"
            )]
            fn $name() {
                let (scheme, pk, sig) = SIZES[$i];
                sign_verify(scheme, pk, sig);
            }
        };
    }
    slh_test!(sha2_128s, 3);
    slh_test!(sha2_128f, 4);
    slh_test!(slow sha2_192s, 5);
    slh_test!(slow sha2_192f, 6);
    slh_test!(slow sha2_256s, 7);
    slh_test!(slow sha2_256f, 8);
    slh_test!(slow shake_128s, 9);
    slh_test!(shake_128f, 10);
    slh_test!(slow shake_192s, 11);
    slh_test!(slow shake_192f, 12);
    slh_test!(slow shake_256s, 13);
    slh_test!(slow shake_256f, 14);
}

#[test]
fn algorithm_identifiers_round_trip() {
    let pq: Vec<SignatureScheme> = SignatureScheme::ALL
        .into_iter()
        .filter(SignatureScheme::is_post_quantum)
        .collect();
    assert_eq!(pq.len(), 15);
    for (i, scheme) in pq.iter().enumerate() {
        let aid = scheme.algorithm_identifier();
        // 30 0b 06 09 60 86 48 01 65 03 04 03 XX, XX = 0x11 (ML-DSA-44) .. 0x1f (SLH-DSA-SHAKE-256f)
        let mut want = hex::decode("300b0609608648016503040300").unwrap();
        want[12] = 0x11 + i as u8;
        assert_eq!(aid, want, "{}", scheme.name());
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(aid),
            Some(*scheme)
        );
        assert_eq!(scheme.hash(), None);
        assert_eq!(scheme.hash_algorithm_id(), 5, "Identity");
        assert_eq!(scheme.classic_auth_method(), None);
        assert_eq!(SignatureScheme::from_name(scheme.name()), Some(*scheme));
    }
    // With NULL parameters (not the draft's encoding) they are not recognised.
    assert_eq!(
        SignatureScheme::from_algorithm_identifier(
            &hex::decode("300d06096086480165030403120500").unwrap()
        ),
        None
    );
    assert!(SignatureScheme::MlDsa65.is_ml_dsa() && !SignatureScheme::MlDsa65.is_slh_dsa());
    assert!(SignatureScheme::SlhDsaShake128f.is_slh_dsa());
    assert!(!SignatureScheme::Ed25519.is_post_quantum());
}

#[test]
fn ml_dsa_key_of_another_level_is_rejected() {
    let p = AwsLcProvider::new();
    let k44 = MlDsaSigningKey::generate(SignatureScheme::MlDsa44).unwrap();
    let sig = k44.sign(SignatureScheme::MlDsa44, MSG).unwrap();
    // The verifier insists the SPKI OID matches the AUTH AlgorithmIdentifier.
    assert_eq!(
        p.verify(SignatureScheme::MlDsa65, k44.public_key_spki(), MSG, &sig),
        Err(CryptoError::BadSignature)
    );
    assert!(matches!(
        k44.sign(SignatureScheme::MlDsa65, MSG),
        Err(CryptoError::Unsupported(_))
    ));
    // An Ed25519 SPKI is no ML-DSA key.
    let ed = pqike_crypto::sig::Ed25519SigningKey::generate().unwrap();
    assert_eq!(
        p.verify(SignatureScheme::MlDsa44, ed.public_key_spki(), MSG, &sig),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn ml_dsa_seed_is_deterministic_and_pkcs8_round_trips() {
    let seed = [7u8; 32];
    let a = MlDsaSigningKey::from_seed(SignatureScheme::MlDsa65, &seed).unwrap();
    let b = MlDsaSigningKey::from_seed(SignatureScheme::MlDsa65, &seed).unwrap();
    assert_eq!(a.public_key_spki(), b.public_key_spki());
    assert!(MlDsaSigningKey::from_seed(SignatureScheme::MlDsa65, &seed[..31]).is_err());

    let pkcs8 = a.to_pkcs8().unwrap();
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.to_vec()));
    let loaded = load_private_key_pem(pem.as_bytes()).unwrap();
    assert_eq!(loaded.schemes(), [SignatureScheme::MlDsa65]);
    assert_eq!(loaded.public_key_spki(), a.public_key_spki());
    let sig = loaded.sign(SignatureScheme::MlDsa65, MSG).unwrap();
    AwsLcProvider::new()
        .verify(SignatureScheme::MlDsa65, a.public_key_spki(), MSG, &sig)
        .unwrap();
}

#[cfg(feature = "slh-dsa")]
#[test]
fn slh_dsa_pkcs8_round_trips() {
    let scheme = SignatureScheme::SlhDsaSha2_128f;
    let k = SlhDsaSigningKey::from_seeds(scheme, &[1; 16], &[2; 16], &[3; 16]).unwrap();
    let again = SlhDsaSigningKey::from_seeds(scheme, &[1; 16], &[2; 16], &[3; 16]).unwrap();
    assert_eq!(k.public_key_spki(), again.public_key_spki());
    let pkcs8 = k.to_pkcs8();
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.to_vec()));
    let loaded = load_private_key_pem(pem.as_bytes()).unwrap();
    assert_eq!(loaded.schemes(), [scheme]);
    assert_eq!(loaded.public_key_spki(), k.public_key_spki());
    let sig = loaded.sign(scheme, MSG).unwrap();
    AwsLcProvider::new()
        .verify(scheme, k.public_key_spki(), MSG, &sig)
        .unwrap();
    // Truncated key material is an error, not a panic.
    let mut short = pkcs8.to_vec();
    short.truncate(short.len() - 1);
    assert!(SlhDsaSigningKey::from_pkcs8(&short).is_err());
}
