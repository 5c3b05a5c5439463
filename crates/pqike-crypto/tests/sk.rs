//! SK payload ciphers: known answers (computed independently with Python `cryptography` 48 /
//! OpenSSL for the exact IKE layout), round trips, tamper detection, key lengths.
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::{CryptoError, CryptoProvider, SkCipher};

const AAD: &[u8] = b"IKEHDR-and-SK-hdr-28bytes!!!";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// AAD | IV | plaintext | ICV space.
fn layout(iv: &[u8], pt: &[u8], icv_len: usize) -> Vec<u8> {
    let mut buf = AAD.to_vec();
    buf.extend_from_slice(iv);
    buf.extend_from_slice(pt);
    buf.extend(std::iter::repeat_n(0u8, icv_len));
    buf
}

fn cipher(encr: u16, bits: Option<u16>, integ: u16, ek: &[u8], ik: &[u8]) -> Box<dyn SkCipher> {
    AwsLcProvider::new()
        .sk_cipher(encr, bits, integ, ek, ik)
        .unwrap()
}

fn kat(c: &dyn SkCipher, iv: &[u8], pt: &[u8], expected_ct_icv: &[u8]) {
    assert_eq!(iv.len(), c.iv_len());
    let mut buf = layout(iv, pt, c.icv_len());
    c.seal(&mut buf, AAD.len()).unwrap();
    assert_eq!(
        &buf[..AAD.len() + iv.len()],
        &layout(iv, pt, 0)[..AAD.len() + iv.len()],
        "AAD/IV untouched"
    );
    assert_eq!(&buf[AAD.len() + iv.len()..], expected_ct_icv);
    c.open(&mut buf, AAD.len()).unwrap();
    let end = buf.len() - c.icv_len();
    assert_eq!(&buf[AAD.len() + iv.len()..end], pt);
}

#[test]
fn aes_gcm_128_known_answer() {
    let mut key = (0u8..16).collect::<Vec<_>>();
    key.extend_from_slice(&[0xa0, 0xa1, 0xa2, 0xa3]); // salt
    let c = cipher(20, Some(128), 0, &key, &[]);
    assert_eq!((c.iv_len(), c.icv_len(), c.block_len()), (8, 16, 1));
    let iv: Vec<u8> = (0x10..0x18).collect();
    kat(
        &*c,
        &iv,
        b"inner payloads + pad\x00\x01",
        &h("30fc8474853bebce5bc7bd507d4f75c11aad23afa8597b55436f70d8b7a4f50e5f99b544d80d"),
    );
}

#[test]
fn chacha20_poly1305_known_answer() {
    let mut key = (0u8..32).collect::<Vec<_>>();
    key.extend_from_slice(&[0xa0, 0xa1, 0xa2, 0xa3]);
    let c = cipher(28, None, 0, &key, &[]);
    assert_eq!((c.iv_len(), c.icv_len(), c.block_len()), (8, 16, 1));
    let iv: Vec<u8> = (0x10..0x18).collect();
    kat(
        &*c,
        &iv,
        b"inner payloads + pad\x00\x01",
        &h("ca54f4b932179ca6a0da711f197ee9c37438db0a9b39f64c807f3040e1abff936734ba4529ca"),
    );
}

#[test]
fn aes_cbc_hmac_sha256_known_answer() {
    let key: Vec<u8> = (0u8..16).collect();
    let ik: Vec<u8> = (0x40u8..0x60).collect();
    let c = cipher(12, Some(128), 12, &key, &ik);
    assert_eq!((c.iv_len(), c.icv_len(), c.block_len()), (16, 16, 16));
    let iv: Vec<u8> = (0x20..0x30).collect();
    kat(
        &*c,
        &iv,
        b"0123456789abcdef0123456789abcde\x00",
        &h("b5050a1e9a10500643b67e3bfc16fe5dd1e7f0bf91781d4b4ce6131eb348f9b189eea3324cc5f8467e35b73f6ede5c9c"),
    );
}

/// Every supported combination: round trip, then flipping any region's bit fails with Integrity.
#[test]
fn round_trip_and_tamper_all_combinations() {
    let p = AwsLcProvider::new();
    let combos: &[(u16, Option<u16>, u16)] = &[
        (20, Some(128), 0),
        (20, Some(192), 0),
        (20, Some(256), 0),
        (28, None, 0),
        (12, Some(128), 2),
        (12, Some(128), 12),
        (12, Some(192), 13),
        (12, Some(256), 14),
    ];
    for &(encr, bits, integ) in combos {
        let (ekl, ikl) = p.sk_key_lengths(encr, bits, integ).unwrap();
        let ek: Vec<u8> = (0..ekl as u8).collect();
        let ik: Vec<u8> = (0..ikl as u8).map(|b| b ^ 0x5a).collect();
        let c = p.sk_cipher(encr, bits, integ, &ek, &ik).unwrap();
        let pt = vec![0x42u8; 3 * c.block_len().max(16)];
        let iv = vec![7u8; c.iv_len()];
        let mut sealed = layout(&iv, &pt, c.icv_len());
        c.seal(&mut sealed, AAD.len()).unwrap();
        assert_ne!(
            &sealed[AAD.len() + iv.len()..][..pt.len()],
            &pt[..],
            "{encr}/{integ}: not encrypted"
        );
        let mut opened = sealed.clone();
        c.open(&mut opened, AAD.len()).unwrap();
        assert_eq!(&opened[AAD.len() + iv.len()..][..pt.len()], &pt[..]);
        // Tamper: AAD, IV, ciphertext, ICV.
        for pos in [0, AAD.len(), AAD.len() + iv.len() + 1, sealed.len() - 1] {
            let mut t = sealed.clone();
            t[pos] ^= 0x01;
            assert_eq!(
                c.open(&mut t, AAD.len()),
                Err(CryptoError::Integrity),
                "{encr}/{integ} pos {pos}"
            );
        }
        // The other direction's keys do not open it.
        let other_ek: Vec<u8> = ek.iter().map(|b| b ^ 1).collect();
        let other = p.sk_cipher(encr, bits, integ, &other_ek, &ik).unwrap();
        let mut t = sealed.clone();
        if integ == 0 {
            assert_eq!(other.open(&mut t, AAD.len()), Err(CryptoError::Integrity));
        }
        // Truncated buffers are rejected, not panicking.
        for cut in [0, 1, AAD.len(), AAD.len() + iv.len()] {
            let mut t = sealed[..cut].to_vec();
            assert_eq!(
                c.open(&mut t, AAD.len()),
                Err(CryptoError::Integrity),
                "cut {cut}"
            );
        }
    }
}

#[test]
fn cbc_rejects_partial_blocks() {
    let c = cipher(12, Some(128), 12, &[1; 16], &[2; 32]);
    let mut buf = layout(&[0; 16], &[0; 15], 16);
    assert!(matches!(
        c.seal(&mut buf, AAD.len()),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn key_lengths() {
    let p = AwsLcProvider::new();
    assert_eq!(p.sk_key_lengths(20, Some(128), 0), Some((20, 0)));
    assert_eq!(p.sk_key_lengths(20, Some(256), 0), Some((36, 0)));
    assert_eq!(p.sk_key_lengths(28, None, 0), Some((36, 0)));
    assert_eq!(p.sk_key_lengths(12, Some(128), 12), Some((16, 32)));
    assert_eq!(p.sk_key_lengths(12, Some(256), 14), Some((32, 64)));
    assert_eq!(p.sk_key_lengths(12, Some(192), 13), Some((24, 48)));
    assert_eq!(p.sk_key_lengths(12, Some(128), 2), Some((16, 20)));
    // Invalid combinations.
    assert_eq!(p.sk_key_lengths(20, Some(128), 12), None, "AEAD with INTEG");
    assert_eq!(
        p.sk_key_lengths(20, None, 0),
        None,
        "GCM without key length"
    );
    assert_eq!(
        p.sk_key_lengths(12, Some(128), 0),
        None,
        "CBC without INTEG"
    );
    assert_eq!(p.sk_key_lengths(12, None, 12), None);
    assert_eq!(p.sk_key_lengths(12, Some(64), 12), None);
    assert_eq!(p.sk_key_lengths(28, Some(128), 0), None);
    assert_eq!(p.sk_key_lengths(3, None, 12), None, "3DES unsupported");
    // Wrong key size for the transforms.
    assert!(p.sk_cipher(20, Some(128), 0, &[0; 16], &[]).is_err());
    assert!(p.sk_cipher(12, Some(128), 12, &[0; 16], &[0; 16]).is_err());
}
