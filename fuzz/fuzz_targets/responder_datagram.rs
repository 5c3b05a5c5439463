//! The engine on hostile input: must never panic, whatever arrives.
//!
//! A responder `Endpoint` (PSK; proposals with x25519, ML-KEM-768, ECP-256 and RFC 9370 ADDKE
//! rounds) gets datagrams built from the fuzz input. Byte 0 selects the mode:
//! * `0`: raw datagrams. The rest is split into datagrams by 2-octet big-endian length
//!   prefixes; even-numbered ones arrive on port 500, odd ones on 4500 behind the non-ESP marker.
//!   Between datagrams the clock moves on by the low bits of the length prefix's high octet and
//!   due timers fire.
//! * `1`: a *valid* IKE_SA_INIT request (made once by an initiator endpoint) with edits applied:
//!   the rest is `(offset u16, xor u8)` triples; a final odd octet truncates the message to
//!   `len * octet / 256`. The responder's answers are drained and dropped.
//! * `2`: a complete handshake between initiator and responder in which datagram number
//!   `input[1] % 8` is mutated in flight by the same edit triples, so the initiator's parsing of
//!   responses and the later exchanges (IKE_INTERMEDIATE, IKE_AUTH, fragments) are reached too.
//!
//! Bit 7 of byte 0 makes the responder demand cookies (cookie threshold 0).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pqike_crypto::DeterministicRandom;
use pqike_proto::{Endpoint, EndpointConfig, Transmit};
use pqike_testkit::driver::{endpoint, initiator_addr, provider, responder_addr, Pair};
use pqike_testkit::{PskPair, Verdict};
use pqike_wire::NON_ESP_MARKER;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Initiator proposes the first; the responder accepts all of these.
const PROPOSALS: [&str; 4] = [
    "aes256gcm16-prfsha256-x25519-ke1_mlkem768",
    "aes128gcm16-prfsha384-mlkem768",
    "aes256-sha256-ecp256",
    "chacha20poly1305-prfsha512-x25519-ke1_mlkem768-ke2_none-ke2_mlkem512",
];

fn pair_config() -> PskPair {
    let mut cfg = PskPair::new(PROPOSALS[0]);
    cfg.responder_proposals = PROPOSALS.iter().map(|s| s.to_string()).collect();
    cfg
}

fn endpoint_config(cookies: bool) -> EndpointConfig {
    EndpointConfig {
        cookie_threshold: if cookies { 0 } else { 30 },
        // Small enough that IKE_AUTH is fragmented (RFC 7383) in mode 2.
        fragment_size: 400,
        dpd_interval: Some(Duration::from_secs(30)),
        ..EndpointConfig::default()
    }
}

fn responder(cookies: bool) -> Endpoint {
    endpoint(
        endpoint_config(cookies),
        pair_config().responder(),
        provider(),
        Box::new(DeterministicRandom::new(2)),
    )
}

/// The first datagram a well-behaved initiator sends: an IKE_SA_INIT request.
fn valid_init() -> &'static [u8] {
    static INIT: OnceLock<Vec<u8>> = OnceLock::new();
    INIT.get_or_init(|| {
        let i = endpoint(
            endpoint_config(false),
            pair_config().initiator(),
            provider(),
            Box::new(DeterministicRandom::new(1)),
        );
        let mut pair = Pair::from_endpoints(i, responder(false));
        pair.initiate().expect("initiate");
        let t = pair.eps[0]
            .poll_transmit()
            .expect("IKE_SA_INIT request");
        t.payload
    })
}

fn drain(ep: &mut Endpoint) {
    while ep.poll_transmit().is_some() {}
    while ep.poll_event().is_some() {}
}

fn apply_edits(buf: &mut Vec<u8>, edits: &[u8]) {
    let mut chunks = edits.chunks_exact(3);
    for e in &mut chunks {
        if buf.is_empty() {
            return;
        }
        let off = usize::from(u16::from_be_bytes([e[0], e[1]])) % buf.len();
        buf[off] ^= e[2];
    }
    if let [t] = chunks.remainder() {
        let keep = buf.len() * usize::from(*t) / 256;
        buf.truncate(keep);
    }
}

fn raw_datagrams(data: &[u8], cookies: bool) {
    let mut r = responder(cookies);
    let mut now = Instant::now();
    let peer = initiator_addr();
    let mut rest = data;
    let mut n = 0usize;
    while rest.len() >= 2 {
        let hi = rest[0];
        let len = usize::from(u16::from_be_bytes([hi & 0x3f, rest[1]])).min(rest.len() - 2);
        let body = &rest[2..2 + len];
        rest = &rest[2 + len..];
        let (local, remote, dgram) = if n % 2 == 0 {
            (responder_addr(), peer, body.to_vec())
        } else {
            let mut d = NON_ESP_MARKER.to_vec();
            d.extend_from_slice(body);
            (with_port(responder_addr(), 4500), with_port(peer, 4500), d)
        };
        r.handle_datagram(now, local, remote, &dgram);
        drain(&mut r);
        // Top two bits of the prefix: let time pass (0, 1 s, 10 s, 100 s) and fire timers.
        now += Duration::from_secs([0, 1, 10, 100][usize::from(hi >> 6)]);
        if r.poll_timeout().is_some_and(|t| t <= now) {
            r.handle_timeout(now);
            drain(&mut r);
        }
        n += 1;
    }
    let _ = r.status();
}

fn with_port(a: SocketAddr, port: u16) -> SocketAddr {
    SocketAddr::new(a.ip(), port)
}

fn mutated_init(edits: &[u8], cookies: bool) {
    let mut r = responder(cookies);
    let mut msg = valid_init().to_vec();
    apply_edits(&mut msg, edits);
    r.handle_datagram(Instant::now(), responder_addr(), initiator_addr(), &msg);
    drain(&mut r);
    let _ = r.status();
}

fn mutated_handshake(which: u8, edits: &[u8], cookies: bool) {
    let cfg = pair_config();
    let i = endpoint(
        endpoint_config(false),
        cfg.initiator(),
        provider(),
        Box::new(DeterministicRandom::new(1)),
    );
    let mut pair = Pair::from_endpoints(i, responder(cookies));
    let target = u64::from(which % 8);
    let edits = edits.to_vec();
    let mut seen = 0u64;
    pair.set_tap(Some(Box::new(move |_, t: &mut Transmit| {
        if seen == target {
            apply_edits(&mut t.payload, &edits);
        }
        seen += 1;
        Verdict::Deliver
    })));
    if pair.initiate().is_ok() {
        pair.run_until(Duration::from_secs(120), |_| false);
    }
    for ep in &pair.eps {
        let _ = ep.status();
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    let cookies = mode & 0x80 != 0;
    match (mode & 0x7f) % 3 {
        0 => raw_datagrams(data, cookies),
        1 => mutated_init(data, cookies),
        _ => {
            if let Some((&which, edits)) = data.split_first() {
                mutated_handshake(which, edits, cookies);
            }
        }
    }
});
