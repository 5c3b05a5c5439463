//! The seeded provider (feature `testing`): same seed, same KE payload bytes; other seed,
//! other bytes; and every seeded method interoperates with the aws-lc one in both roles.
#![cfg(feature = "testing")]

use pqike_crypto::awslc::aws_lc;
use pqike_crypto::testing::aws_lc_seeded;
use pqike_crypto::{ComposedProvider, CryptoProvider};

const ALL: [u16; 9] = [14, 15, 19, 20, 21, 31, 35, 36, 37];

/// Initiator KE data, then responder KE data (responding to a fixed-seed initiator), for every
/// method, in one fixed call order.
fn transcript(p: &ComposedProvider) -> Vec<(u16, Vec<u8>, Vec<u8>)> {
    let peer = aws_lc_seeded(999);
    ALL.iter()
        .map(|&id| {
            let init = p.key_exchange(id).unwrap().start().unwrap();
            let peer_init = peer.key_exchange(id).unwrap().start().unwrap();
            let (resp, _) = p
                .key_exchange(id)
                .unwrap()
                .respond(peer_init.public_data())
                .unwrap();
            (id, init.public_data().to_vec(), resp)
        })
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = transcript(&aws_lc_seeded(1));
    let b = transcript(&aws_lc_seeded(1));
    let c = transcript(&aws_lc_seeded(2));
    assert_eq!(a, b, "same seed must give identical KE payloads");
    for ((id, ia, ra), (_, ic, rc)) in a.iter().zip(&c) {
        assert_ne!(ia, ic, "KE {id}: initiator data must depend on the seed");
        assert_ne!(ra, rc, "KE {id}: responder data must depend on the seed");
    }
    // Successive keys from one provider differ (the generator advances).
    let p = aws_lc_seeded(1);
    for id in ALL {
        let kx = p.key_exchange(id).unwrap();
        assert_ne!(
            kx.start().unwrap().public_data(),
            kx.start().unwrap().public_data(),
            "KE {id}"
        );
    }
}

#[test]
fn seeded_interoperates_with_aws_lc_both_ways() {
    let seeded = aws_lc_seeded(7);
    let real = aws_lc();
    for id in ALL {
        let (s, r) = (
            seeded.key_exchange(id).unwrap(),
            real.key_exchange(id).unwrap(),
        );
        // Deterministic initiator, aws-lc responder.
        let init = s.start().unwrap();
        let (resp, ss_r) = r.respond(init.public_data()).unwrap();
        assert_eq!(
            init.complete(&resp).unwrap().as_bytes(),
            ss_r.as_bytes(),
            "KE {id}: seeded initiator / aws-lc responder"
        );
        // aws-lc initiator, deterministic responder.
        let init = r.start().unwrap();
        let (resp, ss_r) = s.respond(init.public_data()).unwrap();
        assert_eq!(
            init.complete(&resp).unwrap().as_bytes(),
            ss_r.as_bytes(),
            "KE {id}: aws-lc initiator / seeded responder"
        );
    }
}

#[test]
fn seeded_responder_keeps_the_input_checks() {
    let p = aws_lc_seeded(3);
    // Wrong lengths and, for ML-KEM, a coefficient >= q (FIPS 203 §7.2 modulus check).
    for id in ALL {
        let kx = p.key_exchange(id).unwrap();
        assert!(kx.respond(&[1, 2, 3]).is_err(), "KE {id}");
    }
    let mut ek = p
        .key_exchange(36)
        .unwrap()
        .start()
        .unwrap()
        .public_data()
        .to_vec();
    ek[1] |= 0xf0;
    ek[2] = 0xff;
    assert!(p.key_exchange(36).unwrap().respond(&ek).is_err());
    let init = p.key_exchange(36).unwrap().start().unwrap();
    assert!(
        init.complete(&[0; 1087]).is_err(),
        "ciphertext length check"
    );
}
