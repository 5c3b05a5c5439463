//! A message we cannot encode (a payload longer than its 2-octet Payload Length allows, RFC 7296
//! §3.2, or an SK payload too long when fragmentation is off) fails the exchange as a local error:
//! no datagram is sent, nothing panics, and the reason names the payload and both sizes.
use pqike_proto::*;
use pqike_sim::{Net, Pair};
use pqike_wire::{EncodeError, ExchangeType, KeMethod};
use std::net::IpAddr;
use std::time::Duration;

const A: [u8; 4] = [192, 0, 2, 1];
const B: [u8; 4] = [198, 51, 100, 2];

fn connection(
    initiator: bool,
    my_id: &Identity,
    peer_id: &Identity,
    fragmentation: bool,
) -> ConnectionConfig {
    let (me, peer) = if initiator { (A, B) } else { (B, A) };
    ConnectionConfig {
        name: "c".into(),
        local_addrs: vec![IpAddr::from(me)],
        remote_addrs: vec![IpAddr::from(peer)],
        remote_port: 500,
        proposals: vec![ProposalConfig {
            encr: vec![(20, Some(256))],
            prf: vec![6],
            ke: vec![KeMethod::CURVE25519],
            ..Default::default()
        }],
        local: AuthRound {
            id: my_id.clone(),
            auth: AuthConfig::Psk,
        },
        remote: AuthRound {
            id: peer_id.clone(),
            auth: AuthConfig::Psk,
        },
        children: vec![],
        fragmentation,
        childless: Childless::Allow,
        send_certreq: false,
        ike_lifetime: Duration::from_secs(3600),
        auth_ext: Default::default(),
        lifecycle: Default::default(),
    }
}

/// The initiator's exchanges as sent (exchange type, response flag), and both sides' events.
struct Outcome {
    sent_by_initiator: Vec<(ExchangeType, bool)>,
    events: [Vec<Event>; 2],
}

/// Run an initiator with identity `big_id` against a responder until neither has anything left
/// to do.
fn run(big_id: Identity, fragmentation: bool) -> Outcome {
    let small = Identity::Fqdn("b.example".into());
    let creds = || Credentials {
        ppks: Vec::new(),
        psks: vec![(
            vec![big_id.clone(), small.clone()],
            zeroize::Zeroizing::new(b"secret".to_vec()),
        )],
    };
    let mut p = Pair::new(
        [EndpointConfig::default(), EndpointConfig::default()],
        [
            connection(true, &big_id, &small, fragmentation),
            connection(false, &small, &Identity::Any, fragmentation),
        ],
        [creds(), creds()],
        Net::new(1),
    );
    p.initiate();
    Outcome {
        sent_by_initiator: p
            .net
            .sent
            .iter()
            .filter(|r| r.from == 0)
            .map(|r| (r.exchange.expect("an IKE header"), r.response))
            .collect(),
        events: std::mem::take(&mut p.events),
    }
}

fn down_reasons(events: &[Event]) -> Vec<&DownReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IkeDown { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

#[test]
fn an_idi_payload_over_64k_fails_ike_auth_without_sending_it() {
    // IDi body = ID Type (1) | RESERVED (3) | 70 000 octets of FQDN; Payload Length would be
    // 4 + 4 + 70 000 = 70 008 > 65 535. Fragmentation cannot help: RFC 7383 fragments the SK
    // plaintext, but each payload inside it still carries its own 2-octet length.
    let out = run(Identity::Fqdn("a".repeat(70_000)), true);
    assert_eq!(
        out.sent_by_initiator,
        vec![(ExchangeType::IKE_SA_INIT, false)],
        "only IKE_SA_INIT goes out; the IKE_AUTH request is never sent"
    );
    let downs = down_reasons(&out.events[0]);
    assert_eq!(downs.len(), 1, "initiator events: {:?}", out.events[0]);
    match downs[0] {
        DownReason::LocalError(IkeError::Encode(EncodeError::TooLong { what, len, max })) => {
            assert_eq!((*what, *len, *max), ("IDi payload", 70_008, 65_535))
        }
        other => panic!("unexpected down reason {other:?}"),
    }
}

#[test]
fn an_sk_payload_over_64k_without_fragmentation_is_not_sent() {
    // 65 520 octets of FQDN fit the IDi payload (65 528 <= 65 535), but with the AUTH payload
    // after it the SK plaintext is above the 65 531 octets an SK payload can carry (its own
    // Payload Length counts its 4-octet header).
    let out = run(Identity::Fqdn("a".repeat(65_520)), false);
    assert_eq!(
        out.sent_by_initiator,
        vec![(ExchangeType::IKE_SA_INIT, false)]
    );
    let downs = down_reasons(&out.events[0]);
    assert_eq!(downs.len(), 1, "initiator events: {:?}", out.events[0]);
    match downs[0] {
        DownReason::LocalError(IkeError::Encode(EncodeError::TooLong { what, max, .. })) => {
            assert_eq!((*what, *max), ("SK payload", 65_535))
        }
        other => panic!("unexpected down reason {other:?}"),
    }
}
