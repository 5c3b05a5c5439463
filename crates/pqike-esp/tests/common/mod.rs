//! Shared by the integration tests and the benchmark: mirrored SA parameter pairs and packets.
#![allow(dead_code)]

use pqike_esp::{EncrAlg, IntegAlg, Lifetime, Mode, SaParams, Selector};
use std::net::{IpAddr, SocketAddr};
use zeroize::Zeroizing;

/// Every algorithm combination the data plane implements, with a display name.
pub const ALGS: &[(&str, EncrAlg, IntegAlg)] = &[
    (
        "aes128gcm16",
        EncrAlg::AesGcm16 { key_bits: 128 },
        IntegAlg::None,
    ),
    (
        "aes256gcm16",
        EncrAlg::AesGcm16 { key_bits: 256 },
        IntegAlg::None,
    ),
    (
        "chacha20poly1305",
        EncrAlg::ChaCha20Poly1305,
        IntegAlg::None,
    ),
    (
        "aes128-sha256",
        EncrAlg::AesCbc { key_bits: 128 },
        IntegAlg::HmacSha256_128,
    ),
    (
        "aes192-sha384",
        EncrAlg::AesCbc { key_bits: 192 },
        IntegAlg::HmacSha384_192,
    ),
    (
        "aes256-sha512",
        EncrAlg::AesCbc { key_bits: 256 },
        IntegAlg::HmacSha512_256,
    ),
];

fn key(len: usize, seed: u8) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect(),
    )
}

fn range(lo: &str, hi: &str) -> Selector {
    Selector {
        start_addr: lo.parse().unwrap(),
        end_addr: hi.parse().unwrap(),
        ..Selector::any(false)
    }
}

/// Outer addresses of side A and side B.
pub const A_OUTER: &str = "192.0.2.1";
pub const B_OUTER: &str = "192.0.2.2";

/// Parameters for side A and side B of one Child SA. Tunnel mode protects 10.1.0.0/16 (A) <->
/// 10.2.0.0/16 (B) and fd00:1::/64 <-> fd00:2::/64; transport mode the two outer hosts.
pub fn pair(encr: EncrAlg, integ: IntegAlg, mode: Mode, esn: bool) -> (SaParams, SaParams) {
    let (a_ts, b_ts) = match mode {
        Mode::Tunnel => (
            vec![
                range("10.1.0.0", "10.1.255.255"),
                range("fd00:1::", "fd00:1::ffff:ffff:ffff:ffff"),
            ],
            vec![
                range("10.2.0.0", "10.2.255.255"),
                range("fd00:2::", "fd00:2::ffff:ffff:ffff:ffff"),
            ],
        ),
        Mode::Transport => (
            vec![Selector::host(A_OUTER.parse().unwrap())],
            vec![Selector::host(B_OUTER.parse().unwrap())],
        ),
    };
    let a_addr: SocketAddr = format!("{A_OUTER}:4500").parse().unwrap();
    let b_addr: SocketAddr = format!("{B_OUTER}:4500").parse().unwrap();
    let (e, i) = (encr.key_len(), integ.key_len());
    let a = SaParams {
        spi_in: 0xa000_0001,
        spi_out: 0xb000_0001,
        encr,
        integ,
        esn,
        encr_key_in: key(e, 1),
        integ_key_in: key(i, 2),
        encr_key_out: key(e, 3),
        integ_key_out: key(i, 4),
        local_ts: a_ts.clone(),
        remote_ts: b_ts.clone(),
        mode,
        local: a_addr,
        remote: b_addr,
        udp_encap: true,
        lifetime: Lifetime::default(),
        replay_window: 0,
    };
    let b = SaParams {
        spi_in: a.spi_out,
        spi_out: a.spi_in,
        encr_key_in: a.encr_key_out.clone(),
        integ_key_in: a.integ_key_out.clone(),
        encr_key_out: a.encr_key_in.clone(),
        integ_key_out: a.integ_key_in.clone(),
        local_ts: b_ts,
        remote_ts: a_ts,
        local: b_addr,
        remote: a_addr,
        ..a.clone()
    };
    (a, b)
}

/// An IPv4 UDP packet with `payload` octets of payload.
pub fn udp4(src: &str, dst: &str, payload: usize) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.parse().unwrap(), dst.parse().unwrap()) else {
        panic!("v4 only")
    };
    let total = 28 + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&s.octets());
    p[16..20].copy_from_slice(&d.octets());
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&5201u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// An IPv6 UDP packet with `payload` octets of payload.
pub fn udp6(src: &str, dst: &str, payload: usize) -> Vec<u8> {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (src.parse().unwrap(), dst.parse().unwrap()) else {
        panic!("v6 only")
    };
    let mut p = vec![0u8; 48 + payload];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&s.octets());
    p[24..40].copy_from_slice(&d.octets());
    p[40..42].copy_from_slice(&40000u16.to_be_bytes());
    p[42..44].copy_from_slice(&5201u16.to_be_bytes());
    p[44..46].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    for (i, b) in p[48..].iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    p
}
