//! AES-GCM ESP (RFC 4106) cross-checked against an independent implementation (RustCrypto
//! `aes-gcm`) over random keys, salts, payloads and sequence numbers, both directions.

mod common;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use common::*;
use pqike_esp::{DataPlane, Decapsulated, EncrAlg, IntegAlg, Mode, MAX_OVERHEAD};
use proptest::prelude::*;
use std::time::Instant;

fn rc_seal(key: &[u8], nonce: [u8; 12], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let n = nonce.into();
    match key.len() {
        16 => Aes128Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(&n, Payload { msg, aad }),
        _ => Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(&n, Payload { msg, aad }),
    }
    .unwrap()
}

fn rc_open(key: &[u8], nonce: [u8; 12], aad: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
    let n = nonce.into();
    match key.len() {
        16 => Aes128Gcm::new_from_slice(key)
            .unwrap()
            .decrypt(&n, Payload { msg, aad }),
        _ => Aes256Gcm::new_from_slice(key)
            .unwrap()
            .decrypt(&n, Payload { msg, aad }),
    }
    .ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn gcm_matches_rustcrypto(
        big in any::<bool>(),
        esn in any::<bool>(),
        keymat in proptest::collection::vec(any::<u8>(), 36),
        payload in 0usize..1500,
        start_seq in any::<u64>(),
    ) {
        let bits = if big { 256 } else { 128 };
        let klen = bits / 8;
        let keymat = &keymat[..klen + 4];
        let (key, salt) = keymat.split_at(klen);
        let (mut a, mut b) = pair(EncrAlg::AesGcm16 { key_bits: bits as u16 }, IntegAlg::None, Mode::Tunnel, esn);
        a.encr_key_out = zeroize::Zeroizing::new(keymat.to_vec());
        b.encr_key_in = zeroize::Zeroizing::new(keymat.to_vec());
        let now = Instant::now();
        let mut da = DataPlane::new();
        da.install(a, now).unwrap();
        let mut db = DataPlane::new();
        db.install(b, now).unwrap();
        let _ = start_seq; // the sequence number comes from the SA; 1 for the first packet

        // Ours -> RustCrypto.
        let inner = udp4("10.1.0.1", "10.2.0.1", payload);
        let mut buf = vec![0u8; inner.len() + MAX_OVERHEAD];
        let pkt = da.encapsulate(&inner, &mut buf).unwrap().packet.to_vec();
        let seq: u64 = 1;
        prop_assert_eq!(&pkt[..4], &0xb000_0001u32.to_be_bytes());
        prop_assert_eq!(&pkt[4..8], &(seq as u32).to_be_bytes());
        prop_assert_eq!(&pkt[8..16], &seq.to_be_bytes(), "IV is the 64-bit sequence number");
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(salt);
        nonce[4..].copy_from_slice(&pkt[8..16]);
        let mut aad = pkt[..4].to_vec();
        if esn {
            aad.extend_from_slice(&seq.to_be_bytes());
        } else {
            aad.extend_from_slice(&pkt[4..8]);
        }
        let pt = rc_open(key, nonce, &aad, &pkt[16..]).expect("RustCrypto opens our packet");
        prop_assert_eq!(&pt[..inner.len()], &inner[..]);
        let pad = pt.len() - inner.len() - 2;
        prop_assert!(pad < 4 && pt.len().is_multiple_of(4));
        prop_assert_eq!(pt[pt.len() - 2] as usize, pad);
        prop_assert_eq!(pt[pt.len() - 1], 4);

        // RustCrypto -> ours, with an arbitrary IV (the receiver must take the IV from the
        // packet, not assume the sequence number).
        let iv = start_seq.to_be_bytes();
        nonce[4..].copy_from_slice(&iv);
        let ct = rc_seal(key, nonce, &aad, &pt);
        let mut wire = pkt[..8].to_vec();
        wire.extend_from_slice(&iv);
        wire.extend_from_slice(&ct);
        let Decapsulated::Packet(got) = db.decapsulate(&mut wire).unwrap() else { panic!() };
        prop_assert_eq!(&got.data[..], &inner[..]);
    }
}
