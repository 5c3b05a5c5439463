//! Signatures: sign/verify for every scheme, AlgorithmIdentifier round trips, ECDSA encodings,
//! key loading from OpenSSL-written PEM files (tests/data, made with OpenSSL 3.0).
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::pki::load_private_key_pem;
use pqike_crypto::sig::{
    ecdsa_der_to_raw, ecdsa_raw_to_der, EcdsaSigningKey, Ed25519SigningKey, RsaSigningKey,
};
use pqike_crypto::{CryptoError, CryptoProvider, HashAlgorithm, SignatureScheme, SigningKey};

const MSG: &[u8] = b"InitiatorSignedOctets";

fn sign_verify(key: &dyn SigningKey, scheme: SignatureScheme) {
    let p = AwsLcProvider::new();
    let sig = key.sign(scheme, MSG).unwrap();
    p.verify(scheme, key.public_key_spki(), MSG, &sig).unwrap();
    assert_eq!(
        p.verify(scheme, key.public_key_spki(), b"other data", &sig),
        Err(CryptoError::BadSignature),
        "{scheme:?}"
    );
    let mut bad = sig.clone();
    let n = bad.len() / 2;
    bad[n] ^= 0x10;
    assert_eq!(
        p.verify(scheme, key.public_key_spki(), MSG, &bad),
        Err(CryptoError::BadSignature),
        "{scheme:?}"
    );
}

#[test]
fn ecdsa_and_ed25519_sign_verify() {
    for scheme in [
        SignatureScheme::EcdsaP256Sha256,
        SignatureScheme::EcdsaP384Sha384,
        SignatureScheme::EcdsaP521Sha512,
    ] {
        let key = EcdsaSigningKey::generate(scheme).unwrap();
        assert_eq!(key.schemes(), &[scheme]);
        sign_verify(&key, scheme);
        // Wrong scheme for the key is refused, and a P-256 signature does not verify as P-384.
        let other = if scheme == SignatureScheme::EcdsaP256Sha256 {
            SignatureScheme::EcdsaP384Sha384
        } else {
            SignatureScheme::EcdsaP256Sha256
        };
        assert!(key.sign(other, MSG).is_err());
        let sig = key.sign(scheme, MSG).unwrap();
        assert!(AwsLcProvider::new()
            .verify(other, key.public_key_spki(), MSG, &sig)
            .is_err());
    }
    let ed = Ed25519SigningKey::generate().unwrap();
    sign_verify(&ed, SignatureScheme::Ed25519);
}

#[test]
fn rsa_sign_verify_all_schemes() {
    let key = RsaSigningKey::generate_2048().unwrap();
    for &scheme in key.schemes() {
        sign_verify(&key, scheme);
    }
    // PSS and PKCS#1 signatures are not interchangeable.
    let sig = key.sign(SignatureScheme::RsaPssSha256, MSG).unwrap();
    assert!(AwsLcProvider::new()
        .verify(
            SignatureScheme::RsaPkcs1Sha256,
            key.public_key_spki(),
            MSG,
            &sig
        )
        .is_err());
    assert!(
        key.sign(SignatureScheme::RsaPkcs1Sha1, MSG).is_err(),
        "SHA-1 signing is not offered"
    );
}

/// PKCS#1 v1.5 SHA-1 (auth method 1) is verify-only: check a signature made by OpenSSL.
#[test]
fn rsa_pkcs1_sha1_verifies_openssl_signature() {
    let spki = include_bytes!("data/rsa2048_spki.der");
    let sig = include_bytes!("data/rsa2048_sha1.sig");
    let p = AwsLcProvider::new();
    p.verify(
        SignatureScheme::RsaPkcs1Sha1,
        spki,
        b"pqike rsa sha1 test",
        sig,
    )
    .unwrap();
    assert!(p
        .verify(
            SignatureScheme::RsaPkcs1Sha1,
            spki,
            b"pqike rsa sha1 tesT",
            sig
        )
        .is_err());
    assert!(p
        .verify(
            SignatureScheme::RsaPkcs1Sha256,
            spki,
            b"pqike rsa sha1 test",
            sig
        )
        .is_err());
}

#[test]
fn openssl_pem_keys_load_and_sign() {
    let p256 = load_private_key_pem(include_bytes!("data/ec_p256_sec1.pem")).unwrap();
    assert_eq!(p256.schemes(), &[SignatureScheme::EcdsaP256Sha256]);
    assert_eq!(
        p256.public_key_spki(),
        include_bytes!("data/ec_p256_spki.der")
    );
    sign_verify(&*p256, SignatureScheme::EcdsaP256Sha256);

    let p384 = load_private_key_pem(include_bytes!("data/ec_p384_pkcs8.pem")).unwrap();
    assert_eq!(p384.schemes(), &[SignatureScheme::EcdsaP384Sha384]);
    sign_verify(&*p384, SignatureScheme::EcdsaP384Sha384);

    let ed = load_private_key_pem(include_bytes!("data/ed25519_pkcs8.pem")).unwrap();
    assert_eq!(
        ed.public_key_spki(),
        include_bytes!("data/ed25519_spki.der")
    );
    sign_verify(&*ed, SignatureScheme::Ed25519);

    let rsa = load_private_key_pem(include_bytes!("data/rsa2048_pkcs1.pem")).unwrap();
    assert_eq!(
        rsa.public_key_spki(),
        include_bytes!("data/rsa2048_spki.der")
    );
    sign_verify(&*rsa, SignatureScheme::RsaPssSha384);

    assert!(load_private_key_pem(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    .is_err());
    assert!(load_private_key_pem(b"not pem").is_err());
}

#[test]
fn algorithm_identifier_round_trip() {
    for scheme in SignatureScheme::ALL {
        let aid = scheme.algorithm_identifier();
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(aid),
            Some(scheme)
        );
        // Well-formed DER SEQUENCE whose length octet covers the rest.
        assert_eq!(aid[0], 0x30);
        assert_eq!(usize::from(aid[1]) + 2, aid.len());
    }
    // RFC 7427 A.4.3 / RFC 4055 RSASSA-PSS SHA-256 AlgorithmIdentifier, as found in Chromium's
    // verify_signed_data test data (rsa-pss-sha256-using-pss-key-with-params.pem).
    let pss256 = hex::decode(
        "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120",
    )
    .unwrap();
    assert_eq!(
        SignatureScheme::RsaPssSha256.algorithm_identifier(),
        &pss256[..]
    );
    // RFC 7427 A.1.1 / A.3.1 style identifiers.
    assert_eq!(
        SignatureScheme::RsaPkcs1Sha256.algorithm_identifier(),
        &hex::decode("300d06092a864886f70d01010b0500").unwrap()[..]
    );
    assert_eq!(
        SignatureScheme::EcdsaP256Sha256.algorithm_identifier(),
        &hex::decode("300a06082a8648ce3d040302").unwrap()[..]
    );
    assert_eq!(
        SignatureScheme::Ed25519.algorithm_identifier(),
        &hex::decode("300506032b6570").unwrap()[..]
    );
    // PKCS#1 with absent parameters is tolerated.
    assert_eq!(
        SignatureScheme::from_algorithm_identifier(
            &hex::decode("300b06092a864886f70d01010c").unwrap()
        ),
        Some(SignatureScheme::RsaPkcs1Sha384)
    );
    // ML-DSA-65 is known (draft-ietf-ipsecme-ikev2-pqc-auth); HashML-DSA-44 with SHA-512
    // (.32, pre-hash mode, not allowed in IKE), truncated input and empty input are not.
    assert_eq!(
        SignatureScheme::from_algorithm_identifier(
            &hex::decode("300b0609608648016503040312").unwrap()
        ),
        Some(SignatureScheme::MlDsa65)
    );
    assert_eq!(
        SignatureScheme::from_algorithm_identifier(
            &hex::decode("300b0609608648016503040320").unwrap()
        ),
        None
    );
    assert_eq!(
        SignatureScheme::from_algorithm_identifier(&pss256[..20]),
        None
    );
    assert_eq!(SignatureScheme::from_algorithm_identifier(&[]), None);
}

#[test]
fn scheme_metadata() {
    assert_eq!(SignatureScheme::Ed25519.hash(), None);
    assert_eq!(SignatureScheme::Ed25519.hash_algorithm_id(), 5);
    assert_eq!(
        SignatureScheme::RsaPssSha384.hash(),
        Some(HashAlgorithm::Sha384)
    );
    assert_eq!(SignatureScheme::EcdsaP521Sha512.hash_algorithm_id(), 4);
    for (m, s) in [
        (1, SignatureScheme::RsaPkcs1Sha1),
        (9, SignatureScheme::EcdsaP256Sha256),
        (10, SignatureScheme::EcdsaP384Sha384),
        (11, SignatureScheme::EcdsaP521Sha512),
    ] {
        assert_eq!(SignatureScheme::from_classic_auth_method(m), Some(s));
        assert_eq!(s.classic_auth_method(), Some(m));
    }
    assert_eq!(SignatureScheme::from_classic_auth_method(14), None);
}

#[test]
fn ecdsa_der_raw_round_trip() {
    let p = AwsLcProvider::new();
    for (scheme, field) in [
        (SignatureScheme::EcdsaP256Sha256, 32),
        (SignatureScheme::EcdsaP384Sha384, 48),
        (SignatureScheme::EcdsaP521Sha512, 66),
    ] {
        let key = EcdsaSigningKey::generate(scheme).unwrap();
        for _ in 0..20 {
            let der = key.sign(scheme, MSG).unwrap();
            let raw = ecdsa_der_to_raw(&der, field).unwrap();
            assert_eq!(raw.len(), 2 * field);
            assert_eq!(ecdsa_raw_to_der(&raw).unwrap(), der);
            p.verify(
                scheme,
                key.public_key_spki(),
                MSG,
                &ecdsa_raw_to_der(&raw).unwrap(),
            )
            .unwrap();
        }
    }
    // Hand-made edge cases: leading 0x00 for a high bit, short integers padded.
    let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01];
    let raw = ecdsa_der_to_raw(&der, 4).unwrap();
    assert_eq!(raw, [0, 0, 0, 0x80, 0, 0, 0, 1]);
    assert_eq!(ecdsa_raw_to_der(&raw).unwrap(), der);
    // Malformed inputs are errors, not panics.
    for bad in [
        &[][..],
        &[0x30],
        &[0x30, 0x03, 0x02, 0x01],
        &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x81],
        &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00],
    ] {
        assert!(ecdsa_der_to_raw(bad, 4).is_err(), "{bad:02x?}");
    }
    assert!(
        ecdsa_der_to_raw(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01], 0).is_err(),
        "too big for the field"
    );
    assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_err());
    assert!(ecdsa_raw_to_der(&[]).is_err());
}
