//! Key exchange through the public provider API: both sides agree, bad peer data is rejected.
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::{CryptoError, CryptoProvider};

fn agree(id: u16) -> (usize, usize, Vec<u8>) {
    let p = AwsLcProvider::new();
    let ke = p.key_exchange(id).expect("supported");
    assert_eq!(ke.id(), id);
    let init = ke.start().unwrap();
    let (resp_data, resp_secret) = ke.respond(init.public_data()).unwrap();
    let init_len = init.public_data().len();
    let init_secret = init.complete(&resp_data).unwrap();
    assert_eq!(
        init_secret.as_bytes(),
        resp_secret.as_bytes(),
        "KE {id}: secrets differ"
    );
    assert!(init_secret.as_bytes().iter().any(|&b| b != 0));
    (init_len, resp_data.len(), init_secret.as_bytes().to_vec())
}

#[test]
fn dh_groups_agree_with_rfc_sizes() {
    // (id, public value length, shared secret length)
    for (id, pub_len, ss_len) in [
        (31, 32, 32),
        (19, 64, 32),
        (20, 96, 48),
        (21, 132, 66),
        (14, 256, 256),
        (15, 384, 384),
    ] {
        let (i, r, ss) = agree(id);
        assert_eq!((i, r, ss.len()), (pub_len, pub_len, ss_len), "KE {id}");
    }
}

#[test]
fn fresh_keys_every_exchange() {
    let p = AwsLcProvider::new();
    for id in [31, 19, 14, 36] {
        let ke = p.key_exchange(id).unwrap();
        assert_ne!(
            ke.start().unwrap().public_data(),
            ke.start().unwrap().public_data()
        );
    }
}

#[test]
fn mlkem_round_trip_all_sizes() {
    for (id, ek_len, ct_len) in [(35, 800, 768), (36, 1184, 1088), (37, 1568, 1568)] {
        let (i, r, ss) = agree(id);
        assert_eq!((i, r, ss.len()), (ek_len, ct_len, 32), "KE {id}");
    }
}

fn invalid(r: Result<impl Sized, CryptoError>) -> bool {
    matches!(r, Err(CryptoError::InvalidPeerKey(_)))
}

#[test]
fn dh_bad_peer_values_rejected() {
    let p = AwsLcProvider::new();
    for id in [31, 19, 20, 21, 14, 15] {
        let ke = p.key_exchange(id).unwrap();
        let good = ke.start().unwrap().public_data().to_vec();
        assert!(invalid(ke.respond(&good[1..])), "KE {id} short");
        let mut long = good.clone();
        long.push(0);
        assert!(invalid(ke.respond(&long)), "KE {id} long");
        assert!(
            invalid(ke.start().unwrap().complete(&good[..good.len() - 1])),
            "KE {id} short (initiator)"
        );
    }
    // NIST curves: a point not on the curve. (1, 1) is not on P-256/384/521.
    for id in [19, 20, 21] {
        let ke = p.key_exchange(id).unwrap();
        let len = ke.start().unwrap().public_data().len();
        let mut pt = vec![0u8; len];
        pt[len / 2 - 1] = 1;
        pt[len - 1] = 1;
        assert!(invalid(ke.respond(&pt)), "KE {id} off-curve");
        assert!(
            invalid(ke.start().unwrap().complete(&pt)),
            "KE {id} off-curve (initiator)"
        );
    }
    // Curve25519: the all-zero public value gives the all-zero secret (RFC 7748 §6.1 check).
    let x = p.key_exchange(31).unwrap();
    assert!(invalid(x.respond(&[0u8; 32])));
}

#[test]
fn mlkem_bad_encapsulation_keys_rejected() {
    let p = AwsLcProvider::new();
    for (id, k) in [(35usize, 2usize), (36, 3), (37, 4)] {
        let ke = p.key_exchange(id as u16).unwrap();
        let ek = ke.start().unwrap().public_data().to_vec();
        assert!(ke.respond(&ek).is_ok());
        // Wrong length.
        assert!(invalid(ke.respond(&ek[..ek.len() - 1])));
        let mut long = ek.clone();
        long.push(0);
        assert!(invalid(ke.respond(&long)));
        // Modulus check: set the first coefficient to 3329 (= q), the smallest bad value:
        // d0 = b0 | (b1 & 0x0f) << 8 = 0x0d01.
        let mut bad = ek.clone();
        bad[0] = 0x01;
        bad[1] = (bad[1] & 0xf0) | 0x0d;
        assert!(invalid(ke.respond(&bad)), "KE {id}: coefficient q accepted");
        // The largest good value (q - 1 = 0x0d00) still passes.
        let mut edge = ek.clone();
        edge[0] = 0x00;
        edge[1] = (edge[1] & 0xf0) | 0x0d;
        assert!(
            ke.respond(&edge).is_ok(),
            "KE {id}: coefficient q-1 rejected"
        );
        // Second coefficient of the last triple of the polynomial vector = 0xfff.
        let mut bad2 = ek.clone();
        let last = 384 * k - 1;
        bad2[last] = 0xff;
        bad2[last - 1] |= 0xf0;
        assert!(
            invalid(ke.respond(&bad2)),
            "KE {id}: last coefficient 0xfff accepted"
        );
        // The 32-octet rho after the vector is not checked: any value is fine there.
        let mut rho = ek.clone();
        rho[384 * k..].fill(0xff);
        assert!(ke.respond(&rho).is_ok());
    }
}

#[test]
fn mlkem_bad_ciphertext_length_rejected_and_implicit_rejection() {
    let p = AwsLcProvider::new();
    for id in [35, 36, 37] {
        let ke = p.key_exchange(id).unwrap();
        let init = ke.start().unwrap();
        let (ct, _) = ke.respond(init.public_data()).unwrap();
        assert!(invalid(init.complete(&ct[..ct.len() - 1])));
        let init = ke.start().unwrap();
        let mut long = ct.clone();
        long.push(0);
        assert!(invalid(init.complete(&long)));
        // A tampered ciphertext of the right length decapsulates to a different secret.
        let init = ke.start().unwrap();
        let (mut ct, ss) = ke.respond(init.public_data()).unwrap();
        ct[5] ^= 1;
        let got = init.complete(&ct).unwrap();
        assert_ne!(got.as_bytes(), ss.as_bytes());
    }
}

#[test]
fn unsupported_ids() {
    let p = AwsLcProvider::new();
    for id in [0, 1, 2, 5, 16, 32, 38, 1024] {
        assert!(p.key_exchange(id).is_none());
    }
}
