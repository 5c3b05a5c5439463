//! Deterministic in-memory simulation of two endpoints (the `pqike-sim` harness: seeded
//! randomness, a simulated clock that jumps to the next deadline, and a network with latency,
//! loss, duplication, reordering, an MTU and an optional NAT in front of the initiator).
use pqike_proto::*;
use pqike_sim::{ike_proposal, ip, Net, Pair, A, B, NAT_PUBLIC};
use pqike_wire::{ExchangeType, KeMethod, NotifyType, TrafficSelector};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

// ------------------------------------------------------------------ configuration helpers

fn esp_proposal() -> ProposalConfig {
    ProposalConfig {
        encr: vec![(20, Some(256))],
        ..Default::default()
    }
}

fn net16(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: IpAddr::from([a[0], a[1], 0, 0]),
        end_addr: IpAddr::from([a[0], a[1], 255, 255]),
    }
}

fn child(local: [u8; 4], remote: [u8; 4]) -> ChildConfig {
    ChildConfig {
        name: "net".into(),
        local_ts: vec![net16(local)],
        remote_ts: vec![net16(remote)],
        esp_proposals: vec![esp_proposal()],
        mode: IpsecMode::Tunnel,
        lifetime: Duration::from_secs(3600),
    }
}

fn connection(initiator: bool, proposals: Vec<ProposalConfig>) -> ConnectionConfig {
    let (me, peer, my_id, peer_id, lnet, rnet) = if initiator {
        (A, B, "a.example", "b.example", [10, 1, 0, 0], [10, 2, 0, 0])
    } else {
        (B, A, "b.example", "a.example", [10, 2, 0, 0], [10, 1, 0, 0])
    };
    ConnectionConfig {
        name: "c".into(),
        local_addrs: vec![ip(me)],
        remote_addrs: vec![ip(peer)],
        remote_port: 500,
        proposals,
        local: AuthRound {
            id: Identity::Fqdn(my_id.into()),
            auth: AuthConfig::Psk,
        },
        remote: AuthRound {
            id: Identity::Fqdn(peer_id.into()),
            auth: AuthConfig::Psk,
        },
        children: vec![child(lnet, rnet)],
        fragmentation: true,
        childless: Childless::Allow,
        send_certreq: false,
        ike_lifetime: Duration::from_secs(3600 * 4),
        auth_ext: Default::default(),
        lifecycle: Default::default(),
    }
}

fn psk(secret: &[u8]) -> Credentials {
    Credentials {
        ppks: Vec::new(),
        psks: vec![(
            vec![
                Identity::Fqdn("a.example".into()),
                Identity::Fqdn("b.example".into()),
            ],
            zeroize::Zeroizing::new(secret.to_vec()),
        )],
    }
}

fn x25519() -> Vec<ProposalConfig> {
    vec![ike_proposal(&[KeMethod::CURVE25519], &[])]
}

fn pair_with(i: ConnectionConfig, r: ConnectionConfig, net: Net) -> Pair {
    Pair::new(
        [EndpointConfig::default(), EndpointConfig::default()],
        [i, r],
        [psk(b"secret"), psk(b"secret")],
        net,
    )
}

fn default_pair() -> Pair {
    pair_with(
        connection(true, x25519()),
        connection(false, x25519()),
        Net::new(7),
    )
}

/// Both sides established exactly once with one child whose keys mirror each other, and no SA
/// went down.
fn assert_established_with_child(p: &Pair) {
    assert_child_keys_mirror(p);
    assert!(p.downs(0).is_empty() && p.downs(1).is_empty());
}

/// Both sides established exactly once with one child whose keys mirror each other.
fn assert_child_keys_mirror(p: &Pair) {
    assert_eq!(p.ups(0).len(), 1, "initiator events: {:?}", p.events[0]);
    assert_eq!(p.ups(1).len(), 1, "responder events: {:?}", p.events[1]);
    let (a, b) = (p.installs(0), p.installs(1));
    assert_eq!((a.len(), b.len()), (1, 1));
    let (a, b) = (a[0], b[0]);
    assert_eq!(a.spi_in, b.spi_out);
    assert_eq!(a.spi_out, b.spi_in);
    assert_eq!(a.key_in, b.key_out);
    assert_eq!(a.key_out, b.key_in);
    assert_ne!(a.key_in, a.key_out);
    assert_eq!(a.key_in.0.len(), 36, "AES-GCM-256 key + 4-octet salt");
    assert_eq!(a.local_ts, b.remote_ts);
    assert_eq!(a.remote_ts, b.local_ts);
}

// ------------------------------------------------------------------------------ tests

#[test]
fn psk_x25519_with_child() {
    let mut p = default_pair();
    p.initiate();
    assert_established_with_child(&p);
    let s = &p.eps[0].status()[0];
    assert_eq!(s.state, IkeState::Established);
    assert_eq!(s.transforms.ke.len(), 1);
    assert_eq!(s.remote_id, "b.example");
    assert_eq!(p.eps[1].status()[0].remote_id, "a.example");
    assert!(!s.nat_detected);
    assert_eq!(s.children.len(), 1);
    let first = p.summaries(0)[0];
    assert!(
        first.starts_with("sending IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP)"),
        "{first}"
    );
    // IKE_SA_INIT, IKE_AUTH: two requests, two responses, nothing retransmitted.
    assert_eq!(p.net.sent.len(), 4);
}

#[test]
fn x25519_with_two_mlkem_rounds() {
    let props = vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_768], &[KeMethod::ML_KEM_1024]],
    )];
    let mut p = pair_with(
        connection(true, props.clone()),
        connection(false, props),
        Net::new(3),
    );
    p.initiate();
    assert_established_with_child(&p);
    for i in 0..2 {
        let ke = &p.eps[i].status()[0].transforms.ke;
        assert_eq!(ke.len(), 3, "{ke:?}");
        assert!(ke[1].contains("768") && ke[2].contains("1024"), "{ke:?}");
    }
    let inter = p
        .net
        .count(|r| r.exchange == Some(ExchangeType::IKE_INTERMEDIATE) && !r.response && !r.dropped);
    let int_mids: Vec<u32> = p
        .net
        .sent
        .iter()
        .filter(|r| r.exchange == Some(ExchangeType::IKE_INTERMEDIATE) && !r.response)
        .map(|r| r.mid)
        .collect();
    assert!(
        int_mids.contains(&1) && int_mids.contains(&2),
        "{int_mids:?}"
    );
    // ML-KEM-1024's 1568-octet key does not fit in 1280 octets: that round is fragmented.
    assert!(inter >= 3, "{inter} IKE_INTERMEDIATE request datagrams");
    assert!(
        p.net
            .count(|r| r.exchange == Some(ExchangeType::IKE_AUTH) && r.mid == 3)
            >= 2
    );
}

#[test]
fn pure_mlkem768() {
    let props = vec![ike_proposal(&[KeMethod::ML_KEM_768], &[])];
    let mut p = pair_with(
        connection(true, props.clone()),
        connection(false, props),
        Net::new(5),
    );
    p.initiate();
    assert_established_with_child(&p);
    assert!(p.eps[0].status()[0].transforms.ke[0].contains("768"));
}

#[test]
fn invalid_ke_payload_retry() {
    let i = vec![ike_proposal(
        &[KeMethod::CURVE25519, KeMethod::ECP_256],
        &[],
    )];
    let r = vec![ike_proposal(&[KeMethod::ECP_256], &[])];
    let mut p = pair_with(connection(true, i), connection(false, r), Net::new(9));
    p.initiate();
    assert_established_with_child(&p);
    assert_eq!(
        p.net
            .count(|r| r.exchange == Some(ExchangeType::IKE_SA_INIT) && !r.response),
        2
    );
    assert!(p.eps[0].status()[0].transforms.ke[0].contains("256"));
}

#[test]
fn cookie_when_threshold_reached() {
    let cfg = EndpointConfig {
        cookie_threshold: 0,
        ..Default::default()
    };
    let mut p = Pair::new(
        [EndpointConfig::default(), cfg],
        [connection(true, x25519()), connection(false, x25519())],
        [psk(b"secret"), psk(b"secret")],
        Net::new(11),
    );
    p.initiate();
    assert_established_with_child(&p);
    assert_eq!(
        p.net
            .count(|r| r.exchange == Some(ExchangeType::IKE_SA_INIT) && !r.response),
        2
    );
    assert!(p.summaries(0).iter().any(|s| s.contains("N(COOKIE)")));
}

#[test]
fn no_proposal_chosen() {
    let mut r = vec![ike_proposal(&[KeMethod::CURVE25519], &[])];
    r[0].encr = vec![(12, Some(128))];
    r[0].integ = vec![12];
    let mut p = pair_with(
        connection(true, x25519()),
        connection(false, r),
        Net::new(13),
    );
    p.initiate();
    assert!(p.ups(0).is_empty() && p.ups(1).is_empty());
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::NO_PROPOSAL_CHOSEN)]
    );
    let d1 = p.downs(1);
    assert!(
        matches!(
            d1.as_slice(),
            [DownReason::LocalError(IkeError::NoProposal)]
        ),
        "{d1:?}"
    );
    assert!(p.eps[0].status().is_empty() && p.eps[1].status().is_empty());
}

#[test]
fn wrong_psk_is_authentication_failed() {
    let mut p = Pair::new(
        [EndpointConfig::default(), EndpointConfig::default()],
        [connection(true, x25519()), connection(false, x25519())],
        [psk(b"secret"), psk(b"other secret")],
        Net::new(17),
    );
    p.initiate();
    assert!(p.ups(0).is_empty() && p.ups(1).is_empty());
    assert!(p.installs(0).is_empty() && p.installs(1).is_empty());
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::AUTHENTICATION_FAILED)]
    );
    let d1 = p.downs(1);
    assert!(
        matches!(
            d1.as_slice(),
            [DownReason::LocalError(IkeError::AuthFailed(_))]
        ),
        "{d1:?}"
    );
}

#[test]
fn ts_unacceptable_keeps_ike_sa() {
    let mut r = connection(false, x25519());
    r.children = vec![child([10, 2, 0, 0], [10, 9, 0, 0])];
    let mut p = pair_with(connection(true, x25519()), r, Net::new(19));
    p.initiate();
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (1, 1));
    assert!(p.installs(0).is_empty() && p.installs(1).is_empty());
    assert!(p
        .summaries(1)
        .iter()
        .any(|s| s.contains("IKE_AUTH response 1") && s.contains("N(TS_UNACCEPT)")));
}

#[test]
fn childless_ike_sa() {
    let mut i = connection(true, x25519());
    i.childless = Childless::Force;
    let mut p = pair_with(i, connection(false, x25519()), Net::new(23));
    p.initiate();
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (1, 1));
    assert!(!p
        .summaries(0)
        .iter()
        .any(|s| s.contains("IKE_AUTH request") && s.contains("TSi")));
    // RFC 6023 §3 / strongSwan's childless = force: the child follows in CREATE_CHILD_SA.
    assert_eq!((p.installs(0).len(), p.installs(1).len()), (1, 1));
    assert!(p
        .summaries(0)
        .iter()
        .any(|s| s.contains("CREATE_CHILD_SA request 2")));
}

#[test]
fn fragmentation_at_mtu_576() {
    let props = vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_768]],
    )];
    let cfg = EndpointConfig {
        fragment_size: 576,
        ..Default::default()
    };
    let mut net = Net::new(29);
    net.mtu = 576;
    let mut p = Pair::new(
        [cfg.clone(), cfg],
        [connection(true, props.clone()), connection(false, props)],
        [psk(b"secret"), psk(b"secret")],
        net,
    );
    p.initiate();
    assert_established_with_child(&p);
    let frags = p.net.count(|r| r.fragment);
    assert!(frags > 1, "{frags} fragments");
    assert_eq!(p.net.count(|r| r.dropped), 0, "nothing exceeded the MTU");
    assert!(p.net.sent.iter().all(|r| r.len + 28 <= 576));
}

#[test]
fn oversized_datagrams_are_dropped_without_fragmentation() {
    let props = vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_768]],
    )];
    let mut i = connection(true, props.clone());
    i.fragmentation = false;
    let mut net = Net::new(31);
    net.mtu = 576;
    let mut p = pair_with(i, connection(false, props), net);
    p.initiate();
    assert!(p.ups(0).is_empty());
    assert!(matches!(
        p.downs(0).as_slice(),
        [DownReason::Timeout { .. }]
    ));
}

#[test]
fn lost_ike_auth_request_is_retransmitted_once() {
    let mut net = Net::new(37);
    net.drop_indices = vec![2]; // IKE_SA_INIT req, resp, then the first IKE_AUTH request
    let mut p = pair_with(connection(true, x25519()), connection(false, x25519()), net);
    p.initiate();
    assert_established_with_child(&p);
    assert_eq!(
        p.net
            .count(|r| r.exchange == Some(ExchangeType::IKE_AUTH) && !r.response),
        2
    );
    assert_eq!(p.net.count(|r| r.dropped), 1);
}

#[test]
fn lost_ike_auth_response_is_resent_from_cache() {
    let mut net = Net::new(41);
    net.drop_indices = vec![3];
    let mut p = pair_with(connection(true, x25519()), connection(false, x25519()), net);
    p.initiate();
    assert_established_with_child(&p);
    assert_eq!(
        p.net
            .count(|r| r.exchange == Some(ExchangeType::IKE_AUTH) && r.response),
        2
    );
    assert!(p.net.sent[3].dropped && p.net.sent[3].from == 1);
    // The initiator retransmitted once; the responder answered from its cache (one IkeUp).
    assert_eq!(
        p.net
            .count(|r| r.exchange == Some(ExchangeType::IKE_AUTH) && !r.response && r.from == 0),
        2
    );
}

#[test]
fn duplicated_and_reordered_datagrams() {
    let props = vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_1024]],
    )];
    for seed in 1..6 {
        let mut net = Net::new(seed);
        net.duplicate = 0.5;
        net.jitter = Duration::from_millis(30);
        let mut p = pair_with(
            connection(true, props.clone()),
            connection(false, props.clone()),
            net,
        );
        p.initiate();
        assert_established_with_child(&p);
        assert_eq!(p.eps[0].status().len(), 1);
        assert_eq!(p.eps[1].status().len(), 1);
    }
}

#[test]
fn corrupted_copies_are_dropped() {
    let props = vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_768]],
    )];
    for seed in 1..20 {
        let mut net = Net::new(seed);
        net.corrupt = 1.0;
        let mut p = pair_with(
            connection(true, props.clone()),
            connection(false, props.clone()),
            net,
        );
        p.initiate();
        assert_child_keys_mirror(&p);
        assert!(p.downs(0).is_empty());
        // A corrupted copy of IKE_SA_INIT with a changed SPI looks like a new initiator: that
        // half-open SA expires; nothing else may go down.
        let stray = DownReason::HalfOpenExpired;
        assert!(p.downs(1).iter().all(|d| **d == stray), "{:?}", p.downs(1));
        p.eps[0]
            .handle_command(
                p.now,
                Command::Terminate {
                    connection: "c".into(),
                },
            )
            .unwrap();
        p.drive();
        assert_eq!(p.downs(0), vec![&DownReason::LocalDelete]);
    }
}

#[test]
fn total_loss_times_out() {
    let mut net = Net::new(43);
    net.loss = 1.0;
    let mut p = pair_with(connection(true, x25519()), connection(false, x25519()), net);
    let start = p.now;
    p.initiate();
    assert_eq!(
        p.downs(0),
        vec![&DownReason::Timeout {
            exchange: ExchangeType::IKE_SA_INIT,
            retransmits: 5
        }]
    );
    assert_eq!(p.net.sent.len(), 6);
    // 4 s * (1 + 1.8 + 1.8^2 + ... + 1.8^5)
    let expected: f64 = (0..=5).map(|n| 4.0 * 1.8f64.powi(n)).sum();
    let took = (p.now - start).as_secs_f64();
    assert!((took - expected).abs() < 0.1, "{took} vs {expected}");
    assert!(p.eps[0].status().is_empty());
}

#[test]
fn delete_from_initiator() {
    let mut p = default_pair();
    p.initiate();
    assert_established_with_child(&p);
    p.eps[0]
        .handle_command(
            p.now,
            Command::Terminate {
                connection: "c".into(),
            },
        )
        .unwrap();
    p.drive();
    assert_eq!(p.downs(0), vec![&DownReason::LocalDelete]);
    assert_eq!(p.downs(1), vec![&DownReason::PeerDelete]);
    assert_eq!((p.removes(0), p.removes(1)), (1, 1));
    assert!(p.eps[0].status().is_empty() && p.eps[1].status().is_empty());
}

#[test]
fn delete_from_responder() {
    let mut p = default_pair();
    p.initiate();
    let sa = p.eps[1].status()[0].sa;
    p.eps[1]
        .handle_command(p.now, Command::TerminateSa(sa))
        .unwrap();
    p.drive();
    assert_eq!(p.downs(1), vec![&DownReason::LocalDelete]);
    assert_eq!(p.downs(0), vec![&DownReason::PeerDelete]);
    assert_eq!((p.removes(0), p.removes(1)), (1, 1));
}

#[test]
fn nat_detected_moves_to_port_4500() {
    let mut net = Net::new(47);
    net.nat = true;
    let mut r = connection(false, x25519());
    r.remote_addrs = vec![];
    let mut p = pair_with(connection(true, x25519()), r, net);
    p.initiate();
    assert_established_with_child(&p);
    let (a, b) = (p.installs(0)[0], p.installs(1)[0]);
    assert!(a.udp_encap && b.udp_encap);
    assert_eq!(a.local.port(), 4500);
    assert_eq!(b.remote, SocketAddr::new(ip(NAT_PUBLIC), 4500));
    assert!(p.eps[1].status()[0].nat_detected);
}

/// `encap` (forced UDP encapsulation): no NAT on the path, but the initiator's fake NAT-D makes
/// the responder see one in front of it and the initiator act as if behind one, so IKE floats
/// to 4500 and the Child SA is UDP-encapsulated on both sides; the responder's side, which
/// did not ask for it, still sees its own address unchanged.
#[test]
fn forced_encap_without_nat() {
    let mut i = connection(true, x25519());
    i.lifecycle.force_encap = true;
    let mut p = pair_with(i, connection(false, x25519()), Net::new(48));
    p.initiate();
    assert_established_with_child(&p);
    let (a, b) = (p.installs(0)[0], p.installs(1)[0]);
    assert!(a.udp_encap && b.udp_encap, "Child SA not UDP-encapsulated");
    assert_eq!((a.local.port(), a.remote.port()), (4500, 4500));
    assert_eq!(b.remote, SocketAddr::new(ip(A), 4500));
    assert!(p.eps[0].status()[0].nat_detected);
    assert!(p.eps[1].status()[0].nat_detected);
}

/// Without `encap` and without a NAT, nothing is encapsulated (the control for the test above).
#[test]
fn no_encap_without_nat() {
    let mut p = pair_with(
        connection(true, x25519()),
        connection(false, x25519()),
        Net::new(48),
    );
    p.initiate();
    assert_established_with_child(&p);
    assert!(!p.installs(0)[0].udp_encap && !p.installs(1)[0].udp_encap);
}

#[test]
fn liveness_checks_when_idle() {
    let cfg = EndpointConfig {
        dpd_interval: Some(Duration::from_secs(30)),
        ..Default::default()
    };
    let mut p = Pair::new(
        [cfg, EndpointConfig::default()],
        [connection(true, x25519()), connection(false, x25519())],
        [psk(b"secret"), psk(b"secret")],
        Net::new(53),
    );
    p.eps[0]
        .handle_command(
            p.now,
            Command::Initiate {
                connection: "c".into(),
            },
        )
        .unwrap();
    // ~100 s of simulated time (the DPD timer never lets the pair idle).
    let deadline = p.now + Duration::from_secs(100);
    p.run_until(deadline);
    let checks = p
        .net
        .count(|r| r.exchange == Some(ExchangeType::INFORMATIONAL) && !r.response);
    assert!((2..=4).contains(&checks), "{checks} liveness checks");
    assert_eq!(
        p.net
            .count(|r| r.exchange == Some(ExchangeType::INFORMATIONAL) && r.response),
        checks
    );
    assert!(p.downs(0).is_empty());
}

// ------------------------------------------------------------------------ certificates

mod pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
    };

    /// A CA, an intermediate CA and end-entity certificates (DER) with their PKCS#8 keys.
    pub struct TestPki {
        pub ca: Vec<u8>,
        pub intermediate: Vec<u8>,
        int_params: CertificateParams,
        int_key: KeyPair,
    }

    fn ca_params(cn: &str) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, cn);
        p
    }

    impl TestPki {
        pub fn new(ca_name: &str) -> TestPki {
            let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
            let root_params = ca_params(ca_name);
            let ca = root_params.self_signed(&ca_key).unwrap();
            let int_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
            let int_params = ca_params(&format!("{ca_name} Intermediate"));
            let issuer = Issuer::from_params(&root_params, &ca_key);
            let intermediate = int_params.signed_by(&int_key, &issuer).unwrap();
            TestPki {
                ca: ca.der().to_vec(),
                intermediate: intermediate.der().to_vec(),
                int_params,
                int_key,
            }
        }

        /// (certificate DER, PKCS#8 key DER) for `dns`, issued by the intermediate.
        pub fn end_entity(&self, dns: &str) -> (Vec<u8>, Vec<u8>) {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
            let mut p = CertificateParams::new(vec![dns.to_string()]).unwrap();
            p.distinguished_name.push(DnType::CommonName, dns);
            let issuer = Issuer::from_params(&self.int_params, &self.int_key);
            let cert = p.signed_by(&key, &issuer).unwrap();
            (cert.der().to_vec(), key.serialize_der())
        }
    }
}

fn cert_connection(initiator: bool, own: &pki::TestPki, peer_ca: &[u8]) -> ConnectionConfig {
    let mut c = connection(initiator, x25519());
    let me = if initiator { "a.example" } else { "b.example" };
    let (cert, key) = own.end_entity(me);
    let key = pqike_crypto::sig::signing_key_from_der(&key).unwrap();
    c.local.auth = AuthConfig::PubKey {
        cert: Some(cert),
        intermediates: vec![own.intermediate.clone()],
        key: Some(key),
        cacerts: vec![],
    };
    c.remote.auth = AuthConfig::PubKey {
        cert: None,
        intermediates: vec![],
        key: None,
        cacerts: vec![peer_ca.to_vec()],
    };
    c.send_certreq = true;
    c
}

#[test]
fn certificate_auth_ecdsa_chain() {
    let ca = pki::TestPki::new("Test CA");
    let i = cert_connection(true, &ca, &ca.ca);
    let r = cert_connection(false, &ca, &ca.ca);
    let mut p = Pair::new(
        [EndpointConfig::default(), EndpointConfig::default()],
        [i, r],
        [Credentials::default(), Credentials::default()],
        Net::new(59),
    );
    p.initiate();
    assert_established_with_child(&p);
    let auth = p
        .summaries(0)
        .into_iter()
        .find(|s| s.contains("IKE_AUTH request"))
        .unwrap()
        .to_string();
    assert!(auth.contains("CERT CERT CERTREQ"), "{auth}");
    assert!(p
        .summaries(0)
        .iter()
        .any(|s| s.contains("IKE_SA_INIT response") && s.contains("CERTREQ")));
}

#[test]
fn certificate_from_unknown_ca_is_rejected() {
    let ours = pki::TestPki::new("Test CA");
    let other = pki::TestPki::new("Other CA");
    // The responder trusts only "Other CA"; the initiator's chain goes to "Test CA".
    let i = cert_connection(true, &ours, &ours.ca);
    let r = cert_connection(false, &ours, &other.ca);
    let mut p = Pair::new(
        [EndpointConfig::default(), EndpointConfig::default()],
        [i, r],
        [Credentials::default(), Credentials::default()],
        Net::new(61),
    );
    p.initiate();
    assert!(p.ups(0).is_empty() && p.ups(1).is_empty());
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::AUTHENTICATION_FAILED)]
    );
}

#[test]
fn certificate_identity_must_match() {
    let ca = pki::TestPki::new("Test CA");
    let i = cert_connection(true, &ca, &ca.ca);
    let mut r = cert_connection(false, &ca, &ca.ca);
    r.remote.id = Identity::Fqdn("c.example".into());
    let mut p = Pair::new(
        [EndpointConfig::default(), EndpointConfig::default()],
        [i, r],
        [Credentials::default(), Credentials::default()],
        Net::new(67),
    );
    p.initiate();
    assert!(p.ups(1).is_empty());
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::AUTHENTICATION_FAILED)]
    );
}

#[test]
fn big_cert_chain_fragments_ike_auth_at_1280() {
    // A chain of over 5 KB (like an RSA-4096 chain) must be split into SKF fragments at
    // fragment_size 1280, and every fragment must fit the 1280-octet path.
    let ca = pki::TestPki::new("Test CA");
    let mut i = cert_connection(true, &ca, &ca.ca);
    if let AuthConfig::PubKey { intermediates, .. } = &mut i.local.auth {
        // Padding the chain with extra copies stands in for big RSA certificates.
        for _ in 0..12 {
            intermediates.push(ca.intermediate.clone());
        }
    }
    let r = cert_connection(false, &ca, &ca.ca);
    let mut p = Pair::new(
        [EndpointConfig::default(), EndpointConfig::default()],
        [i, r],
        [Credentials::default(), Credentials::default()],
        Net::new(71),
    );
    p.net.mtu = 1280;
    p.initiate();
    assert_established_with_child(&p);
    let frags = p
        .net
        .count(|r| r.fragment && r.exchange == Some(ExchangeType::IKE_AUTH) && !r.response);
    let bytes: usize = p
        .net
        .sent
        .iter()
        .filter(|r| r.exchange == Some(ExchangeType::IKE_AUTH) && !r.response)
        .map(|r| r.len)
        .sum();
    assert!(bytes > 5000, "{bytes} octets of IKE_AUTH request");
    assert!(frags >= 5, "{frags}");
    assert_eq!(p.net.count(|r| r.dropped), 0);
}

#[test]
fn initial_contact_replaces_the_old_sa_of_a_restarted_peer() {
    let mut p = default_pair();
    p.initiate();
    assert_established_with_child(&p);
    let old = p.eps[1].status()[0].sa;
    // The initiator "restarts": a fresh endpoint with other randomness and no state.
    p.eps[0] = Endpoint::new(
        EndpointConfig::default(),
        vec![connection(true, x25519())],
        psk(b"secret"),
        pqike_sim::provider(),
        Box::new(pqike_crypto::DeterministicRandom::new(1000)),
    );
    p.initiate();
    let status = p.eps[1].status();
    assert_eq!(status.len(), 1);
    assert_ne!(status[0].sa, old);
    assert_eq!(p.downs(1), vec![&DownReason::PeerDelete]);
    assert_eq!(p.removes(1), 1);
    assert_eq!(p.installs(1).len(), 2);
}

#[test]
fn esp_proposal_mismatch_fails_only_the_child() {
    let mut r = connection(false, x25519());
    r.children[0].esp_proposals = vec![ProposalConfig {
        encr: vec![(28, None)],
        ..Default::default()
    }];
    let mut p = pair_with(connection(true, x25519()), r, Net::new(73));
    p.initiate();
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (1, 1));
    assert!(p.installs(0).is_empty() && p.installs(1).is_empty());
    assert!(p
        .summaries(1)
        .iter()
        .any(|s| s.contains("IKE_AUTH response 1") && s.contains("N(NO_PROP)")));
    assert!(p.downs(0).is_empty() && p.downs(1).is_empty());
}
