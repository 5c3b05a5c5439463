//! Hostile input never panics the engine, and is answered only where the RFC says so.
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::DeterministicRandom;
use pqike_proto::*;
use pqike_wire::{
    ExchangeType, Flags, Header, KeMethod, Message, Notify, NotifyType, Payload, PayloadType,
};
use proptest::prelude::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn responder() -> Endpoint {
    let conn = ConnectionConfig {
        name: "r".into(),
        local_addrs: vec![],
        remote_addrs: vec![],
        remote_port: 500,
        proposals: vec![ProposalConfig {
            encr: vec![(20, Some(256))],
            prf: vec![6],
            ke: vec![KeMethod::CURVE25519],
            ..Default::default()
        }],
        local: AuthRound {
            id: Identity::Fqdn("r.example".into()),
            auth: AuthConfig::Psk,
        },
        remote: AuthRound {
            id: Identity::Any,
            auth: AuthConfig::Psk,
        },
        children: vec![],
        fragmentation: true,
        childless: Childless::Allow,
        send_certreq: false,
        ike_lifetime: Duration::from_secs(3600),
        auth_ext: Default::default(),
        lifecycle: Default::default(),
    };
    Endpoint::new(
        EndpointConfig::default(),
        vec![conn],
        Credentials::default(),
        Arc::new(AwsLcProvider::new()),
        Box::new(DeterministicRandom::new(99)),
    )
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], port))
}

fn remote() -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 2], 500))
}

fn init_header(next: PayloadType) -> Header {
    Header {
        spi_i: 0x1122_3344_5566_7788,
        spi_r: 0,
        next_payload: next,
        version: 0x20,
        exchange: ExchangeType::IKE_SA_INIT,
        flags: Flags {
            initiator: true,
            response: false,
            version: false,
        },
        message_id: 0,
        length: 0,
    }
}

/// Every datagram the endpoint sends in reply to garbage must be an unencrypted IKE_SA_INIT
/// notify-only response (RFC 7296 §2.21.1).
fn replies_are_plain_notifies(ep: &mut Endpoint) {
    while let Some(t) = ep.poll_transmit() {
        let data = if t.local.port() == 4500 {
            &t.payload[4..]
        } else {
            &t.payload[..]
        };
        let m = Message::decode(data).expect("our reply decodes");
        assert!(m.header.flags.response);
        assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
        assert!(m.payloads.iter().all(|p| matches!(p, Payload::Notify(_))));
    }
}

proptest! {
    #[test]
    fn random_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), nat in any::<bool>()) {
        let mut ep = responder();
        let port = if nat { 4500 } else { 500 };
        ep.handle_datagram(Instant::now(), local(port), remote(), &data);
        replies_are_plain_notifies(&mut ep);
        prop_assert!(ep.status().is_empty() || ep.status().len() == 1);
    }

    #[test]
    fn random_payload_bodies_never_panic(first in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut ep = responder();
        let mut buf = Vec::new();
        let mut h = init_header(PayloadType(first));
        h.length = (28 + body.len()) as u32;
        h.encode(&mut buf);
        buf.extend_from_slice(&body);
        ep.handle_datagram(Instant::now(), local(500), remote(), &buf);
        replies_are_plain_notifies(&mut ep);
    }
}

#[test]
fn unknown_critical_payload_is_refused() {
    let mut ep = responder();
    let msg = Message {
        header: init_header(PayloadType::NONE),
        payloads: vec![Payload::Unknown {
            payload_type: PayloadType(200),
            critical: true,
            body: vec![1, 2, 3],
        }],
    };
    ep.handle_datagram(Instant::now(), local(500), remote(), &msg.encode().unwrap());
    let t = ep.poll_transmit().expect("a reply");
    let m = Message::decode(&t.payload).unwrap();
    let n: Vec<&Notify> = m.notifies().collect();
    assert_eq!(n[0].notify_type, NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
    assert_eq!(n[0].data, vec![200]);
    assert!(ep.status().is_empty());
}

#[test]
fn missing_nonce_is_invalid_syntax() {
    let mut ep = responder();
    let msg = Message {
        header: init_header(PayloadType::NONE),
        payloads: vec![Payload::Notify(Notify::new(
            NotifyType::INITIAL_CONTACT,
            vec![],
        ))],
    };
    ep.handle_datagram(Instant::now(), local(500), remote(), &msg.encode().unwrap());
    let t = ep.poll_transmit().expect("a reply");
    let m = Message::decode(&t.payload).unwrap();
    assert_eq!(
        m.notifies().next().unwrap().notify_type,
        NotifyType::INVALID_SYNTAX
    );
}

#[test]
fn nat_t_keepalives_and_esp_are_ignored() {
    let mut ep = responder();
    ep.handle_datagram(Instant::now(), local(4500), remote(), &[0xff]);
    ep.handle_datagram(
        Instant::now(),
        local(4500),
        remote(),
        &[0, 0, 1, 0, 0, 0, 0, 1, 9, 9],
    );
    ep.handle_datagram(Instant::now(), local(4500), remote(), &[0, 0]);
    assert!(ep.poll_transmit().is_none());
    assert!(ep.poll_event().is_none());
}

#[test]
fn invalid_mlkem_encapsulation_key_is_invalid_syntax() {
    let mut ep = Endpoint::new(
        EndpointConfig::default(),
        vec![ConnectionConfig {
            proposals: vec![ProposalConfig {
                encr: vec![(20, Some(256))],
                prf: vec![6],
                ke: vec![KeMethod::ML_KEM_768],
                ..Default::default()
            }],
            ..match_all_conn()
        }],
        Credentials::default(),
        Arc::new(AwsLcProvider::new()),
        Box::new(DeterministicRandom::new(5)),
    );
    let sa = pqike_proto::proposal::build_proposals(
        &[ProposalConfig {
            encr: vec![(20, Some(256))],
            prf: vec![6],
            ke: vec![KeMethod::ML_KEM_768],
            ..Default::default()
        }],
        pqike_wire::ProtocolId::IKE,
        &[],
    );
    // Every 12-bit coefficient 0xFFF >= q = 3329: fails the FIPS 203 §7.2 modulus check.
    let ek = vec![0xff; 1184];
    let msg = Message {
        header: init_header(PayloadType::NONE),
        payloads: vec![
            Payload::Sa(sa),
            Payload::Ke {
                method: KeMethod::ML_KEM_768,
                data: ek,
            },
            Payload::Nonce(vec![7; 32]),
        ],
    };
    ep.handle_datagram(Instant::now(), local(500), remote(), &msg.encode().unwrap());
    let t = ep.poll_transmit().expect("a reply");
    let m = Message::decode(&t.payload).unwrap();
    assert_eq!(
        m.notifies().next().unwrap().notify_type,
        NotifyType::INVALID_SYNTAX
    );
    assert!(ep.status().is_empty());
}

fn match_all_conn() -> ConnectionConfig {
    ConnectionConfig {
        name: "r".into(),
        local_addrs: vec![],
        remote_addrs: vec![],
        remote_port: 500,
        proposals: vec![],
        local: AuthRound {
            id: Identity::Fqdn("r.example".into()),
            auth: AuthConfig::Psk,
        },
        remote: AuthRound {
            id: Identity::Any,
            auth: AuthConfig::Psk,
        },
        children: vec![],
        fragmentation: true,
        childless: Childless::Allow,
        send_certreq: false,
        ike_lifetime: Duration::from_secs(3600),
        auth_ext: Default::default(),
        lifecycle: Default::default(),
    }
}

#[test]
fn half_open_limit_drops_new_requests() {
    let cfg = EndpointConfig {
        max_half_open: 2,
        ..Default::default()
    };
    let mut ep = Endpoint::new(
        cfg,
        vec![ConnectionConfig {
            proposals: vec![ProposalConfig {
                encr: vec![(20, Some(256))],
                prf: vec![6],
                ke: vec![KeMethod::CURVE25519],
                ..Default::default()
            }],
            ..match_all_conn()
        }],
        Credentials::default(),
        Arc::new(AwsLcProvider::new()),
        Box::new(DeterministicRandom::new(6)),
    );
    let x = AwsLcProvider::new();
    let kex = pqike_crypto::CryptoProvider::key_exchange(&x, 31)
        .unwrap()
        .start()
        .unwrap();
    let sa = pqike_proto::proposal::build_proposals(
        &[ProposalConfig {
            encr: vec![(20, Some(256))],
            prf: vec![6],
            ke: vec![KeMethod::CURVE25519],
            ..Default::default()
        }],
        pqike_wire::ProtocolId::IKE,
        &[],
    );
    let now = Instant::now();
    for i in 0..4u64 {
        let mut h = init_header(PayloadType::NONE);
        h.spi_i = 100 + i;
        let msg = Message {
            header: h,
            payloads: vec![
                Payload::Sa(sa.clone()),
                Payload::Ke {
                    method: KeMethod::CURVE25519,
                    data: kex.public_data().to_vec(),
                },
                Payload::Nonce(vec![7; 32]),
            ],
        };
        ep.handle_datagram(now, local(500), remote(), &msg.encode().unwrap());
    }
    assert_eq!(ep.status().len(), 2);
    // Half-open SAs expire after half_open_timeout.
    let t = ep.poll_timeout().unwrap();
    assert_eq!(t, now + Duration::from_secs(30));
    ep.handle_timeout(t);
    assert!(ep.status().is_empty());
}
