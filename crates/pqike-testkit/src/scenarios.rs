//! Captured runs that between them produce every message type the engine emits; used by the
//! tshark dissection test and to seed the fuzzers' corpora (`examples/fuzz_seeds.rs`).
//!
//! Each function runs one scenario to its end and returns the datagrams delivered, with times
//! relative to the scenario's start. They panic if the scenario does not go as designed (a
//! handshake that should complete does not), which is a failure of the calling test.
use crate::config::{PskPair, CONNECTION};
use crate::driver::{Pair, Side, Tap, Verdict};
use crate::pcap::Captured;
use pqike_proto::{Command, EndpointConfig, Event, Transmit};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Public address of the simulated NAT in front of the initiator.
pub const NAT_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// A port-translating NAT in front of the initiator: its source address becomes
/// [`NAT_IP`] with port + 1024, and the responder's answers to that address are translated back.
/// The responder sees NAT_DETECTION_SOURCE_IP mismatch and both sides float to port 4500
/// (RFC 7296 §2.23), so the capture (taken behind the tap, on the responder's side of the NAT)
/// holds non-ESP-marked IKE on 4500.
pub fn nat_tap(initiator_ip: Ipv4Addr) -> Tap {
    Box::new(move |from: Side, t: &mut Transmit| {
        match from {
            Side::Initiator => {
                t.local = SocketAddr::new(IpAddr::V4(NAT_IP), t.local.port() + 1024);
            }
            Side::Responder => {
                if t.remote.ip() == IpAddr::V4(NAT_IP) {
                    t.remote = SocketAddr::new(IpAddr::V4(initiator_ip), t.remote.port() - 1024);
                }
            }
        }
        Verdict::Deliver
    })
}

/// The hybrid proposal: x25519 in IKE_SA_INIT, ML-KEM-768 in one IKE_INTERMEDIATE (RFC 9370).
pub const HYBRID: &str = "aes256gcm16-prfsha256-x25519-ke1_mlkem768";

/// Hybrid handshake through a NAT (so on port 4500 from IKE_INTERMEDIATE on) with 240-octet
/// fragments (RFC 7383: IKE_INTERMEDIATE and IKE_AUTH go out as SKF), then an idle period long
/// enough for a liveness check, then a delete.
pub fn hybrid_fragmented_liveness_delete(seed: u64) -> Vec<Captured> {
    let cfg = PskPair::new(HYBRID);
    let ep = EndpointConfig {
        fragment_size: 240,
        dpd_interval: Some(Duration::from_secs(30)),
        ..EndpointConfig::default()
    };
    let mut pair = Pair::with_configs(&cfg, ep.clone(), ep, seed).capture();
    pair.set_tap(Some(nat_tap(crate::config::INITIATOR_IP)));
    assert!(
        pair.run_until_established(),
        "hybrid: not established: {:?}",
        pair.events
    );
    liveness_then_delete(&mut pair);
    pair.captured().to_vec()
}

/// Idle past the DPD interval (an empty INFORMATIONAL and its answer), then the initiator
/// terminates `CONNECTION` and the pair runs until the responder reports the IKE SA down.
pub fn liveness_then_delete(pair: &mut Pair) {
    let before = pair.captured().len();
    pair.sleep(Duration::from_secs(31));
    pair.run_until(Duration::from_secs(5), |p| p.captured().len() >= before + 2);
    pair.command(
        Side::Initiator,
        Command::Terminate {
            connection: CONNECTION.into(),
        },
    )
    .expect("terminate");
    pair.run_until(Duration::from_secs(30), |p| {
        p.events_of(Side::Responder)
            .iter()
            .any(|e| matches!(e, Event::IkeDown { .. }))
    });
}

/// The initiator's first KE (x25519) is not what the responder wants (ECP-256):
/// INVALID_KE_PAYLOAD, then a retry that completes.
pub fn invalid_ke(seed: u64) -> Vec<Captured> {
    let mut cfg = PskPair::new("aes256gcm16-prfsha256-x25519-ecp256");
    cfg.responder_proposals = vec!["aes256gcm16-prfsha256-ecp256".into()];
    let mut pair = Pair::new(&cfg, seed).capture();
    assert!(
        pair.run_until_established(),
        "invalid-KE: not established: {:?}",
        pair.events
    );
    pair.captured().to_vec()
}

/// A responder whose cookie threshold is 0 demands a COOKIE round first (RFC 7296 §2.6).
pub fn cookie(seed: u64) -> Vec<Captured> {
    let cfg = PskPair::new("aes128gcm16-prfsha256-x25519");
    let responder = EndpointConfig {
        cookie_threshold: 0,
        ..EndpointConfig::default()
    };
    let mut pair = Pair::with_configs(&cfg, EndpointConfig::default(), responder, seed).capture();
    assert!(
        pair.run_until_established(),
        "cookie: not established: {:?}",
        pair.events
    );
    pair.captured().to_vec()
}

/// No proposal in common: NO_PROPOSAL_CHOSEN.
pub fn no_proposal(seed: u64) -> Vec<Captured> {
    let mut cfg = PskPair::new("aes256gcm16-prfsha256-x25519");
    cfg.responder_proposals = vec!["aes128-sha256-modp2048".into()];
    let mut pair = Pair::new(&cfg, seed).capture();
    pair.initiate().expect("initiate");
    pair.run_until(Duration::from_secs(10), |p| {
        !p.events_of(Side::Initiator).is_empty()
    });
    pair.captured().to_vec()
}

/// All scenarios, concatenated one second apart.
pub fn all(seed: u64) -> Vec<Captured> {
    let mut all: Vec<Captured> = Vec::new();
    for run in [
        hybrid_fragmented_liveness_delete(seed),
        invalid_ke(seed + 10),
        cookie(seed + 20),
        no_proposal(seed + 30),
    ] {
        let offset = all
            .last()
            .map_or(Duration::ZERO, |c| c.at + Duration::from_secs(1));
        all.extend(run.into_iter().map(|mut c| {
            c.at += offset;
            c
        }));
    }
    all
}

/// The IKE message inside a captured datagram (non-ESP marker removed on port 4500).
pub fn ike_bytes(c: &Captured) -> &[u8] {
    if c.dst.port() == 4500 {
        c.payload
            .strip_prefix(&pqike_wire::NON_ESP_MARKER[..])
            .unwrap_or(&c.payload)
    } else {
        &c.payload
    }
}
