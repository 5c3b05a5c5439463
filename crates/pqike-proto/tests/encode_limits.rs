//! A message we cannot encode (a payload longer than its 2-octet Payload Length allows, RFC 7296
//! §3.2, or an SK payload too long when fragmentation is off) fails the exchange as a local error:
//! no datagram is sent, nothing panics, and the reason names the payload and both sizes.
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::DeterministicRandom;
use pqike_proto::*;
use pqike_wire::{ExchangeType, Header, KeMethod};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Run an initiator with identity `big_id` against a responder, shuttling datagrams directly
/// until neither side has anything left to send.
fn run(big_id: Identity, fragmentation: bool) -> Outcome {
    let small = Identity::Fqdn("b.example".into());
    let creds = || Credentials {
        ppks: Vec::new(),
        psks: vec![(
            vec![big_id.clone(), small.clone()],
            zeroize::Zeroizing::new(b"secret".to_vec()),
        )],
    };
    let crypto: Arc<dyn pqike_crypto::CryptoProvider> = Arc::new(AwsLcProvider::new());
    let mut eps = [
        Endpoint::new(
            EndpointConfig::default(),
            vec![connection(true, &big_id, &small, fragmentation)],
            creds(),
            crypto.clone(),
            Box::new(DeterministicRandom::new(1)),
        ),
        Endpoint::new(
            EndpointConfig::default(),
            vec![connection(false, &small, &Identity::Any, fragmentation)],
            creds(),
            crypto,
            Box::new(DeterministicRandom::new(2)),
        ),
    ];
    let now = Instant::now();
    eps[0]
        .handle_command(
            now,
            Command::Initiate {
                connection: "c".into(),
            },
        )
        .unwrap();
    let mut out = Outcome {
        sent_by_initiator: Vec::new(),
        events: [Vec::new(), Vec::new()],
    };
    for _ in 0..20 {
        let mut moved = false;
        for from in 0..2 {
            while let Some(t) = eps[from].poll_transmit() {
                moved = true;
                let h = Header::decode(&t.payload).expect("we send IKE on port 500");
                if from == 0 {
                    out.sent_by_initiator.push((h.exchange, h.flags.response));
                }
                let to = 1 - from;
                eps[to].handle_datagram(now, t.remote, t.local, &t.payload);
            }
            while let Some(e) = eps[from].poll_event() {
                out.events[from].push(e);
            }
        }
        if !moved {
            return out;
        }
    }
    panic!("exchange did not settle");
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
        DownReason::LocalError(reason) => assert!(
            reason.contains("IDi payload too long: 70008 octets")
                && reason.contains("at most 65535"),
            "{reason}"
        ),
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
        DownReason::LocalError(reason) => {
            assert!(
                reason.contains("SK payload too long") && reason.contains("at most 65535"),
                "{reason}"
            )
        }
        other => panic!("unexpected down reason {other:?}"),
    }
}
