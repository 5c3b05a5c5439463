//! RFC 7296 §2.5/§3.1 checks on an IKE_SA_INIT request (issue 19): a higher major version is
//! answered with INVALID_MAJOR_VERSION from version 2.0; SPIi 0, a non-zero message ID or a
//! clear I flag is dropped. In every case the responder keeps no state.
use pqike_proto::*;
use pqike_sim::{connection, ike_proposal, psk, Net, Pair};
use pqike_wire::{ExchangeType, KeMethod, Message, NotifyType, Payload};

/// A pair and the initiator's first datagram (an IKE_SA_INIT request), not yet delivered.
fn first_request() -> (Pair, Transmit) {
    let proposals = vec![ike_proposal(&[KeMethod::CURVE25519], &[])];
    let mut p = Pair::new(
        [EndpointConfig::default(), EndpointConfig::default()],
        [
            connection(true, proposals.clone()),
            connection(false, proposals),
        ],
        [psk(b"secret"), psk(b"secret")],
        Net::new(1),
    );
    p.command(
        0,
        Command::Initiate {
            connection: "c".into(),
        },
    );
    let t = p.eps[0].poll_transmit().expect("IKE_SA_INIT request");
    (p, t)
}

/// Deliver `edit`ed request bytes to the responder; return its replies.
fn responder_replies(edit: impl FnOnce(&mut Vec<u8>)) -> (Pair, Vec<Transmit>) {
    let (mut p, t) = first_request();
    let mut bytes = t.payload.clone();
    edit(&mut bytes);
    let now = p.now;
    p.eps[1].handle_datagram(now, t.remote, t.local, &bytes);
    let mut out = Vec::new();
    while let Some(r) = p.eps[1].poll_transmit() {
        out.push(r);
    }
    (p, out)
}

#[test]
fn an_unmodified_request_is_answered() {
    // The control: the edits below are what makes the responder refuse.
    let (p, replies) = responder_replies(|_| {});
    assert_eq!(replies.len(), 1);
    let m = Message::decode(&replies[0].payload).unwrap();
    assert!(m.payloads.iter().any(|p| matches!(p, Payload::Ke { .. })));
    assert_eq!(p.eps[1].status().len(), 1);
}

#[test]
fn a_higher_major_version_gets_invalid_major_version_from_2_0() {
    let (p, replies) = responder_replies(|b| b[17] = 0x30);
    assert_eq!(replies.len(), 1, "one INVALID_MAJOR_VERSION");
    let m = Message::decode(&replies[0].payload).expect("our reply is IKEv2");
    assert_eq!(m.header.version, 0x20);
    assert!(m.header.flags.response);
    assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
    let n: Vec<_> = m.notifies().map(|n| n.notify_type).collect();
    assert_eq!(n, vec![NotifyType::INVALID_MAJOR_VERSION]);
    assert!(p.eps[1].status().is_empty(), "no state for another version");
}

#[test]
fn malformed_init_headers_are_dropped_without_state() {
    for (what, edit) in [
        (
            "SPIi 0",
            (|b: &mut Vec<u8>| b[..8].fill(0)) as fn(&mut Vec<u8>),
        ),
        ("message ID 1", |b: &mut Vec<u8>| b[23] = 1),
        ("I flag clear", |b: &mut Vec<u8>| b[19] &= !0x08),
    ] {
        let (p, replies) = responder_replies(edit);
        assert!(replies.is_empty(), "{what}: answered {replies:?}");
        assert!(p.eps[1].status().is_empty(), "{what}: state kept");
    }
}

#[test]
fn an_init_request_above_max_init_size_is_dropped() {
    // IKE_SA_INIT cannot be fragmented and is kept until IKE_AUTH: a padded one is not held.
    let (p, replies) = responder_replies(|b| {
        let mut m = Message::decode(b).unwrap();
        m.payloads.push(Payload::Vendor(vec![0; 13_000]));
        *b = m.encode().unwrap();
    });
    assert!(replies.is_empty(), "answered {replies:?}");
    assert!(p.eps[1].status().is_empty());
    assert_eq!(EndpointConfig::default().max_init_size, 12_288);
}
