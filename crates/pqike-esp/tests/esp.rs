//! End-to-end tests of the data plane: two `DataPlane`s with mirrored SAs.

mod common;

use common::*;
use pqike_esp::{DataPlane, Decapsulated, Mode, MAX_OVERHEAD};
use std::time::Instant;

fn planes(a: pqike_esp::SaParams, b: pqike_esp::SaParams) -> (DataPlane, DataPlane) {
    let now = Instant::now();
    let mut da = DataPlane::new();
    da.install(a, now).unwrap();
    let mut db = DataPlane::new();
    db.install(b, now).unwrap();
    (da, db)
}

/// Sends `inner` from `tx` to `rx`; returns what `rx` delivers.
fn send(tx: &mut DataPlane, rx: &mut DataPlane, inner: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; inner.len() + MAX_OVERHEAD];
    let enc = tx.encapsulate(inner, &mut buf).unwrap();
    let len = enc.packet.len();
    // ESP packets end on a 4-octet boundary (RFC 4303 §2.4).
    assert!(len.is_multiple_of(4));
    match rx.decapsulate(&mut buf[..len]).unwrap() {
        Decapsulated::Packet(p) => p.data.to_vec(),
        Decapsulated::Dummy { .. } => panic!("dummy"),
    }
}

#[test]
fn round_trip_every_algorithm_mode_and_esn() {
    for &(name, encr, integ) in ALGS {
        for mode in [Mode::Tunnel, Mode::Transport] {
            for esn in [false, true] {
                let (a, b) = pair(encr, integ, mode, esn);
                let (mut da, mut db) = planes(a, b);
                let mut sent = 0u64;
                for size in [0usize, 1, 2, 3, 13, 14, 15, 16, 63, 64, 1400] {
                    let (p4, r4, p6, r6) = match mode {
                        Mode::Tunnel => (
                            udp4("10.1.0.5", "10.2.0.9", size),
                            udp4("10.2.0.9", "10.1.0.5", size),
                            Some(udp6("fd00:1::5", "fd00:2::9", size)),
                            Some(udp6("fd00:2::9", "fd00:1::5", size)),
                        ),
                        Mode::Transport => (
                            udp4(A_OUTER, B_OUTER, size),
                            udp4(B_OUTER, A_OUTER, size),
                            None,
                            None,
                        ),
                    };
                    let want = |p: &[u8]| match mode {
                        Mode::Tunnel => p.to_vec(),
                        Mode::Transport => p[20..].to_vec(),
                    };
                    assert_eq!(
                        send(&mut da, &mut db, &p4),
                        want(&p4),
                        "{name} {mode:?} {esn} {size}"
                    );
                    assert_eq!(
                        send(&mut db, &mut da, &r4),
                        want(&r4),
                        "{name} {mode:?} {esn} {size}"
                    );
                    sent += 1;
                    if let (Some(p6), Some(r6)) = (p6, r6) {
                        assert_eq!(send(&mut da, &mut db, &p6), p6, "{name} v6 {size}");
                        assert_eq!(send(&mut db, &mut da, &r6), r6, "{name} v6 {size}");
                        sent += 1;
                    }
                }
                // Both sides' counters agree.
                let ca = da.sa(0xa000_0001).unwrap().counters;
                let cb = db.sa(0xb000_0001).unwrap().counters;
                assert_eq!((ca.packets_out, ca.bytes_out), (cb.packets_in, cb.bytes_in));
                assert_eq!((cb.packets_out, cb.bytes_out), (ca.packets_in, ca.bytes_in));
                assert_eq!(ca.packets_out, sent);
            }
        }
    }
}

#[test]
fn rfc7634_appendix_a_packet_decapsulates() {
    // RFC 7634 Appendix A: the wire packet SPI|Seq|IV|ciphertext|tag of an ICMP echo request
    // from 198.51.100.5 to 192.0.2.5, tunnel mode.
    let (_, mut b) = pair(
        pqike_esp::EncrAlg::ChaCha20Poly1305,
        pqike_esp::IntegAlg::None,
        Mode::Tunnel,
        false,
    );
    b.spi_in = 0x0102_0304;
    b.encr_key_in = zeroize::Zeroizing::new(
        hex::decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3")
            .unwrap(),
    );
    b.remote_ts = vec![pqike_esp::Selector::host("198.51.100.5".parse().unwrap())];
    b.local_ts = vec![pqike_esp::Selector::host("192.0.2.5".parse().unwrap())];
    let mut d = DataPlane::new();
    d.install(b, Instant::now()).unwrap();
    let mut wire = hex::decode(
        "01020304000000051011121314151617\
         24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6\
         14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3\
         cbec163fac469b502773f6fb94e664da9165b82829f641e076aaa8266b7fb0f7\
         b11b369907e1ad43",
    )
    .unwrap();
    let Decapsulated::Packet(p) = d.decapsulate(&mut wire).unwrap() else {
        panic!()
    };
    assert_eq!(p.next_header, 4);
    assert_eq!(
        hex::encode(&p.data),
        "45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10\
         0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223\
         2425262728292a2b2c2d2e2f3031323334353637"
    );
}
