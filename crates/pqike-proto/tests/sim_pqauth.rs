//! Post-quantum authentication in the deterministic two-endpoint simulation: RFC 8784 PPK,
//! ML-DSA / SLH-DSA certificates (draft-ietf-ipsecme-ikev2-pqc-auth), RFC 9593, RFC 4739 and
//! RFC 9867. The harness is a trimmed copy of tests/sim.rs (lossless network, fixed latency).
use pqike_crypto::pkigen::{generate_chain, ChainSpec, EndEntitySpec, KeyType};
use pqike_proto::*;
use pqike_sim::{ike_proposal, ip, with_logs, Net, Pair, A, B};
use pqike_wire::{ExchangeType, KeMethod, NotifyType, TrafficSelector};
use std::net::IpAddr;
use std::time::Duration;

/// A pair on a perfect network that drives until nothing is due within 10 minutes of simulated
/// time (established SAs keep rekey timers hours ahead).
fn new_pair(
    cfg: [EndpointConfig; 2],
    conns: [ConnectionConfig; 2],
    creds: [Credentials; 2],
) -> Pair {
    let mut p = Pair::new(cfg, conns, creds, Net::new(1));
    p.horizon = Some(Duration::from_secs(600));
    p
}

// ------------------------------------------------------------------ configuration helpers

fn net16(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: IpAddr::from([a[0], a[1], 0, 0]),
        end_addr: IpAddr::from([a[0], a[1], 255, 255]),
    }
}

fn connection(initiator: bool) -> ConnectionConfig {
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
        proposals: vec![ike_proposal(&[KeMethod::CURVE25519], &[])],
        local: AuthRound {
            id: Identity::Fqdn(my_id.into()),
            auth: AuthConfig::Psk,
        },
        remote: AuthRound {
            id: Identity::Fqdn(peer_id.into()),
            auth: AuthConfig::Psk,
        },
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![net16(lnet)],
            remote_ts: vec![net16(rnet)],
            esp_proposals: vec![ProposalConfig {
                encr: vec![(20, Some(256))],
                ..Default::default()
            }],
            mode: IpsecMode::Tunnel,
            lifetime: Duration::from_secs(3600),
        }],
        fragmentation: true,
        childless: Childless::Allow,
        send_certreq: false,
        ike_lifetime: Duration::from_secs(3600 * 4),
        auth_ext: Default::default(),
        lifecycle: Default::default(),
    }
}

fn creds(ppks: &[(&str, &[u8])]) -> Credentials {
    Credentials {
        psks: vec![(
            vec![
                Identity::Fqdn("a.example".into()),
                Identity::Fqdn("b.example".into()),
            ],
            zeroize::Zeroizing::new(b"secret".to_vec()),
        )],
        ppks: ppks
            .iter()
            .map(|(id, k)| (id.as_bytes().to_vec(), zeroize::Zeroizing::new(k.to_vec())))
            .collect(),
    }
}

const PPK: &[u8] = b"0123456789abcdef0123456789abcdef";

fn ppk_conn(initiator: bool, id: Option<&str>, required: bool) -> ConnectionConfig {
    let mut c = connection(initiator);
    c.auth_ext.ppk_id = id.map(str::to_string);
    c.auth_ext.ppk_required = required;
    c
}

fn pair(i: ConnectionConfig, r: ConnectionConfig, ci: Credentials, cr: Credentials) -> Pair {
    new_pair(
        [EndpointConfig::default(), EndpointConfig::default()],
        [i, r],
        [ci, cr],
    )
}

// ------------------------------------------------------------------ RFC 8784 PPK

#[test]
fn ppk_required_both_sides_mixes_the_ppk_into_child_keys() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_conn(true, Some("lab-ppk"), true),
            ppk_conn(false, Some("lab-ppk"), true),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("lab-ppk", PPK)]),
        );
        p.initiate();
        p
    });
    p.assert_up_with_child();
    assert!(p.summary(0, "IKE_SA_INIT request").contains("USE_PPK"));
    assert!(p.summary(0, "IKE_SA_INIT response").contains("USE_PPK"));
    let req = p.summary(0, "IKE_AUTH request");
    assert!(req.contains("PPK_ID"), "{req}");
    assert!(
        !req.contains("N(NO_PPK)"),
        "required: no NO_PPK_AUTH: {req}"
    );
    assert!(p.summary(0, "IKE_AUTH response").contains("PPK_ID"));
    assert!(
        logs.contains("PPK 'lab-ppk' mixed into the IKE SA keys"),
        "{logs}"
    );
    assert!(logs.contains("using PPK 'lab-ppk' (RFC 8784)"), "{logs}");
}

#[test]
fn ppk_optional_sends_no_ppk_auth_and_uses_the_ppk_when_shared() {
    let mut p = pair(
        ppk_conn(true, Some("lab-ppk"), false),
        ppk_conn(false, Some("lab-ppk"), false),
        creds(&[("lab-ppk", PPK)]),
        creds(&[("lab-ppk", PPK)]),
    );
    p.initiate();
    p.assert_up_with_child();
    let req = p.summary(0, "IKE_AUTH request");
    assert!(req.contains("PPK_ID") && req.contains("N(NO_PPK)"), "{req}");
}

#[test]
fn ppk_optional_falls_back_to_no_ppk_auth_when_the_responder_lacks_the_ppk() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_conn(true, Some("lab-ppk"), false),
            ppk_conn(false, Some("other-ppk"), false),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("other-ppk", PPK)]),
        );
        p.initiate();
        p
    });
    p.assert_up_with_child();
    assert!(!p.summary(0, "IKE_AUTH response").contains("PPK_ID"));
    assert!(logs.contains("authenticating with NO_PPK_AUTH"), "{logs}");
    assert!(
        logs.contains("responder did not use PPK 'lab-ppk'"),
        "{logs}"
    );
}

#[test]
fn ppk_optional_initiator_without_peer_support_continues_without_ppk() {
    let mut p = pair(
        ppk_conn(true, Some("lab-ppk"), false),
        connection(false),
        creds(&[("lab-ppk", PPK)]),
        creds(&[]),
    );
    p.initiate();
    p.assert_up_with_child();
    assert!(!p.summary(0, "IKE_SA_INIT response").contains("USE_PPK"));
    assert!(!p.summary(0, "IKE_AUTH request").contains("PPK_ID"));
}

#[test]
fn ppk_required_initiator_refuses_a_peer_without_use_ppk() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_conn(true, Some("lab-ppk"), true),
            connection(false),
            creds(&[("lab-ppk", PPK)]),
            creds(&[]),
        );
        p.initiate();
        p
    });
    assert_eq!(p.ups(0).len(), 0);
    assert!(
        matches!(p.downs(0)[..], [DownReason::LocalError(_)]),
        "{:?}",
        p.downs(0)
    );
    assert!(logs.contains("peer did not send USE_PPK"), "{logs}");
    assert!(logs.contains("ppk_required is set: aborting"), "{logs}");
}

#[test]
fn ppk_required_responder_refuses_an_initiator_without_ppk() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            connection(true),
            ppk_conn(false, Some("lab-ppk"), true),
            creds(&[]),
            creds(&[("lab-ppk", PPK)]),
        );
        p.initiate();
        p
    });
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (0, 0));
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::AUTHENTICATION_FAILED)]
    );
    assert!(p.summary(1, "IKE_AUTH response").contains("AUTH_FAILED"));
    assert!(
        logs.contains("peer did not offer a PPK (no PPK_IDENTITY) but ppk_required is set"),
        "{logs}"
    );
}

#[test]
fn ppk_required_initiator_with_unknown_ppk_id_gets_authentication_failed() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_conn(true, Some("lab-ppk"), true),
            ppk_conn(false, Some("other-ppk"), false),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("other-ppk", PPK)]),
        );
        p.initiate();
        p
    });
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (0, 0));
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::AUTHENTICATION_FAILED)]
    );
    assert!(
        logs.contains("no PPK for the peer's PPK_ID 'lab-ppk' and the peer sent no NO_PPK_AUTH"),
        "{logs}"
    );
    assert!(
        logs.contains("peer refused our authentication with PPK 'lab-ppk'"),
        "{logs}"
    );
}

#[test]
fn mismatched_ppk_secret_is_authentication_failed() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_conn(true, Some("lab-ppk"), false),
            ppk_conn(false, Some("lab-ppk"), false),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("lab-ppk", b"a different secret of 32 octets!")]),
        );
        p.initiate();
        p
    });
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (0, 0));
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::AUTHENTICATION_FAILED)]
    );
    assert!(logs.contains("using PPK 'lab-ppk'"), "{logs}");
    assert!(logs.contains("PPK 'lab-ppk' in use"), "{logs}");
}

// ------------------------------------------------------------------ ML-DSA / SLH-DSA

/// A root, one intermediate and end-entities a.example / b.example, all of `kt`.
fn pq_chain(kt: KeyType) -> pqike_crypto::pkigen::Chain {
    let mut spec = ChainSpec::new(kt);
    spec.end_entities = vec![
        EndEntitySpec::new("a.example", kt),
        EndEntitySpec::new("b.example", kt),
    ];
    generate_chain(&spec).unwrap()
}

fn local_cert_auth(chain: &pqike_crypto::pkigen::Chain, initiator: bool) -> AuthConfig {
    let ee = &chain.end_entities[if initiator { 0 } else { 1 }];
    AuthConfig::PubKey {
        cert: Some(ee.cert_der.clone()),
        intermediates: chain
            .intermediates
            .iter()
            .rev()
            .map(|c| c.cert_der.clone())
            .collect(),
        key: Some(pqike_crypto::pki::load_private_key_pem(ee.key_pem.as_bytes()).unwrap()),
        cacerts: vec![],
    }
}

fn remote_cert_auth(chain: &pqike_crypto::pkigen::Chain) -> AuthConfig {
    AuthConfig::PubKey {
        cert: None,
        intermediates: vec![],
        key: None,
        cacerts: vec![chain.root.cert_der.clone()],
    }
}

fn cert_conn(initiator: bool, chain: &pqike_crypto::pkigen::Chain) -> ConnectionConfig {
    let mut c = connection(initiator);
    c.local.auth = local_cert_auth(chain, initiator);
    c.remote.auth = remote_cert_auth(chain);
    c
}

/// Certificates and AUTH of `kt` end to end at the default 1280-octet fragment size.
fn pq_cert_handshake(kt: KeyType, scheme: &str, proposals: Vec<ProposalConfig>) -> (Pair, String) {
    let chain = pq_chain(kt);
    let mut i = cert_conn(true, &chain);
    let mut r = cert_conn(false, &chain);
    i.proposals = proposals.clone();
    r.proposals = proposals;
    let (p, logs) = with_logs(|| {
        let mut p = pair(i, r, creds(&[]), creds(&[]));
        p.initiate();
        p
    });
    p.assert_up_with_child();
    assert_eq!(
        logs.matches(&format!("AUTH: RFC 7427 digital signature with {scheme}"))
            .count(),
        2,
        "{logs}"
    );
    assert_eq!(
        logs.matches(&format!("peer AUTH: {scheme} signature verified"))
            .count(),
        2
    );
    // RFC 7383: both IKE_AUTH messages (certificates + a PQ signature) are fragmented.
    assert!(p
        .summary(0, "sending IKE_AUTH request")
        .contains("fragments"));
    assert!(p
        .summary(1, "sending IKE_AUTH response")
        .contains("fragments"));
    assert!(
        p.net.sent.iter().all(|r| r.len + 28 <= 1280),
        "a datagram exceeds 1280"
    );
    (p, logs)
}

#[test]
fn ml_dsa_65_certificates_and_auth() {
    let (p, logs) = pq_cert_handshake(
        KeyType::MlDsa65,
        "ML-DSA-65",
        vec![ike_proposal(&[KeMethod::CURVE25519], &[])],
    );
    assert!(
        logs.contains("SignedOctets"),
        "SignedOctets logged at debug"
    );
    let auth_dgrams = p
        .net
        .sent
        .iter()
        .filter(|r| r.exchange == Some(ExchangeType::IKE_AUTH) && !r.response)
        .count();
    assert!(auth_dgrams >= 8, "{auth_dgrams} IKE_AUTH request fragments");
}

#[test]
fn ml_dsa_44_and_87_certificates_with_ml_kem_hybrid() {
    let hybrid = || vec![ike_proposal(&[KeMethod::CURVE25519], &[&[KeMethod(36)]])];
    pq_cert_handshake(KeyType::MlDsa44, "ML-DSA-44", hybrid());
    pq_cert_handshake(KeyType::MlDsa87, "ML-DSA-87", hybrid());
}

#[test]
fn slh_dsa_sha2_128f_certificates_and_auth() {
    use pqike_crypto::SignatureScheme;
    pq_cert_handshake(
        KeyType::SlhDsa(SignatureScheme::SlhDsaSha2_128f),
        "SLH-DSA-SHA2-128f",
        vec![ike_proposal(&[KeMethod::CURVE25519], &[])],
    );
}

#[test]
fn pq_certificate_from_another_ca_is_rejected() {
    let chain = pq_chain(KeyType::MlDsa65);
    let other = pq_chain(KeyType::MlDsa65);
    let i = cert_conn(true, &chain);
    let mut r = cert_conn(false, &chain);
    r.remote.auth = remote_cert_auth(&other);
    let (p, logs) = with_logs(|| {
        let mut p = pair(i, r, creds(&[]), creds(&[]));
        p.initiate();
        p
    });
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (0, 0));
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::AUTHENTICATION_FAILED)]
    );
    assert!(logs.contains("refusing IKE_AUTH request"), "{logs}");
}

#[test]
fn ml_dsa_with_ppk_and_classic_responder() {
    // Mixed: ML-DSA initiator, ECDSA responder, plus an RFC 8784 PPK.
    let pq = pq_chain(KeyType::MlDsa65);
    let ec = pq_chain(KeyType::EcdsaP256);
    let mut i = ppk_conn(true, Some("lab-ppk"), true);
    i.local.auth = local_cert_auth(&pq, true);
    i.remote.auth = remote_cert_auth(&ec);
    let mut r = ppk_conn(false, Some("lab-ppk"), true);
    r.local.auth = local_cert_auth(&ec, false);
    r.remote.auth = remote_cert_auth(&pq);
    let (p, logs) = with_logs(|| {
        let mut p = pair(i, r, creds(&[("lab-ppk", PPK)]), creds(&[("lab-ppk", PPK)]));
        p.initiate();
        p
    });
    p.assert_up_with_child();
    assert!(
        logs.contains("peer AUTH: ML-DSA-65 signature verified"),
        "{logs}"
    );
    assert!(
        logs.contains("peer AUTH: ECDSA-P256-SHA256 signature verified"),
        "{logs}"
    );
    assert!(logs.contains("PPK 'lab-ppk' mixed into the IKE SA keys"));
}

// ------------------------------------------------------------------ RFC 9593

#[test]
fn supported_auth_methods_in_ike_sa_init_and_ike_auth() {
    let mut i = connection(true);
    let mut r = connection(false);
    i.auth_ext.announce_auth_methods = true;
    r.auth_ext.announce_auth_methods = true;
    let (p, logs) = with_logs(|| {
        let mut p = pair(i, r, creds(&[]), creds(&[]));
        p.initiate();
        p
    });
    p.assert_up_with_child();
    assert!(p.summary(0, "IKE_SA_INIT request").contains("AUTH_METHODS"));
    assert!(p
        .summary(0, "IKE_SA_INIT response")
        .contains("AUTH_METHODS"));
    assert!(p.summary(0, "IKE_AUTH request").contains("AUTH_METHODS"));
    // Both sides learnt that the other accepts PSK only.
    assert_eq!(
        logs.matches("peer accepts auth methods (RFC 9593): PSK")
            .count(),
        2,
        "{logs}"
    );
}

#[test]
fn supported_auth_methods_not_sent_to_a_peer_without_support() {
    let mut i = connection(true);
    i.auth_ext.announce_auth_methods = true;
    let mut p = pair(i, connection(false), creds(&[]), creds(&[]));
    p.initiate();
    p.assert_up_with_child();
    assert!(!p
        .summary(0, "IKE_SA_INIT response")
        .contains("AUTH_METHODS"));
    assert!(!p.summary(0, "IKE_AUTH request").contains("AUTH_METHODS"));
}

/// RFC 9593 §3.1 (and libreswan): the responder announces in the IKE_SA_INIT response even when
/// the IKE_SA_INIT request carried no SUPPORTED_AUTH_METHODS, since an RFC 9593 initiator sends
/// none there; an initiator without support ignores it and sends no list in IKE_AUTH.
#[test]
fn responder_announces_auth_methods_without_a_notify_in_the_request() {
    let mut r = connection(false);
    r.auth_ext.announce_auth_methods = true;
    let mut p = pair(connection(true), r, creds(&[]), creds(&[]));
    p.initiate();
    p.assert_up_with_child();
    assert!(!p.summary(0, "IKE_SA_INIT request").contains("AUTH_METHODS"));
    assert!(p
        .summary(0, "IKE_SA_INIT response")
        .contains("N(AUTH_METHODS)"));
    assert!(!p.summary(0, "IKE_AUTH request").contains("AUTH_METHODS"));
}

#[test]
fn large_supported_auth_methods_list_moves_to_ike_intermediate() {
    let chain = pq_chain(KeyType::MlDsa44);
    let hybrid = vec![ike_proposal(&[KeMethod::CURVE25519], &[&[KeMethod(36)]])];
    let mut i = cert_conn(true, &chain);
    let mut r = cert_conn(false, &chain);
    for c in [&mut i, &mut r] {
        c.auth_ext.announce_auth_methods = true;
        c.proposals = hybrid.clone();
    }
    let (p, logs) = with_logs(|| {
        let mut p = pair(i, r, creds(&[]), creds(&[]));
        p.initiate();
        p
    });
    p.assert_up_with_child();
    // IKE_SA_INIT response: empty notify (support only); the list follows encrypted.
    assert!(p
        .summary(0, "IKE_SA_INIT response")
        .contains("AUTH_METHODS"));
    assert!(p
        .summary(0, "IKE_INTERMEDIATE response")
        .contains("AUTH_METHODS"));
    let init_resp = p
        .net
        .sent
        .iter()
        .find(|r| r.exchange == Some(ExchangeType::IKE_SA_INIT) && r.response)
        .unwrap();
    assert!(
        init_resp.len < 1200,
        "IKE_SA_INIT response {} octets",
        init_resp.len
    );
    assert_eq!(
        logs.matches(
            "peer accepts auth methods (RFC 9593): ML-DSA-44, ML-DSA-65, ML-DSA-87, SLH-DSA"
        )
        .count(),
        2,
        "{logs}"
    );
    assert!(logs.contains("peer AUTH: ML-DSA-44 signature verified"));
}

// ------------------------------------------------------------------ RFC 4739

fn count_ike_auth_requests(p: &Pair) -> usize {
    p.net
        .sent
        .iter()
        .filter(|r| r.exchange == Some(ExchangeType::IKE_AUTH) && !r.response)
        .count()
}

/// Initiator: `first` then an ML-DSA-65 certificate as second round; responder: `first`
/// towards the initiator's first round and the PQ CA for its second.
fn two_round_pair(
    first_i: AuthConfig,
    i_expects: AuthConfig,
    first_r_expect: AuthConfig,
    own_r: AuthConfig,
) -> (Pair, String) {
    let pq = pq_chain(KeyType::MlDsa65);
    let mut i = connection(true);
    i.local.auth = first_i;
    i.auth_ext.local2 = Some(AuthRound {
        id: Identity::Fqdn("a.example".into()),
        auth: local_cert_auth(&pq, true),
    });
    i.remote.auth = i_expects;
    let mut r = connection(false);
    r.remote.auth = first_r_expect;
    r.local.auth = own_r;
    r.auth_ext.remote2 = Some(AuthRound {
        id: Identity::Fqdn("a.example".into()),
        auth: remote_cert_auth(&pq),
    });
    with_logs(|| {
        let mut p = pair(i, r, creds(&[]), creds(&[]));
        p.initiate();
        p
    })
}

#[test]
fn multiple_auth_psk_then_ml_dsa_certificate() {
    let (p, logs) = two_round_pair(
        AuthConfig::Psk,
        AuthConfig::Psk,
        AuthConfig::Psk,
        AuthConfig::Psk,
    );
    p.assert_up_with_child();
    assert!(p.summary(0, "IKE_SA_INIT request").contains("MULT_AUTH"));
    assert!(p.summary(0, "IKE_SA_INIT response").contains("MULT_AUTH"));
    assert!(p
        .summary(0, "sending IKE_AUTH request 1")
        .contains("AUTH_FOLLOWS"));
    // The first response has no Child SA; the second (answering round 2) has it.
    let first = p.summary(0, "IKE_AUTH response 1");
    assert!(first.contains("AUTH") && !first.contains("TSi"), "{first}");
    let second = p.summary(0, "IKE_AUTH response 2");
    assert!(
        second.contains("SA TSi TSr") && !second.contains(" AUTH"),
        "{second}"
    );
    assert!(
        count_ike_auth_requests(&p) > 2,
        "second round (fragmented ML-DSA) sent"
    );
    assert!(
        logs.contains("second authentication round of a.example verified (RFC 4739)"),
        "{logs}"
    );
    assert!(logs.contains("peer AUTH: ML-DSA-65 signature verified"));
}

#[test]
fn multiple_auth_classic_certificate_then_ml_dsa_certificate() {
    let ec = pq_chain(KeyType::EcdsaP256);
    let (p, logs) = two_round_pair(
        local_cert_auth(&ec, true),
        remote_cert_auth(&ec),
        remote_cert_auth(&ec),
        local_cert_auth(&ec, false),
    );
    p.assert_up_with_child();
    assert_eq!(
        logs.matches("peer AUTH: ECDSA-P256-SHA256 signature verified")
            .count(),
        2
    );
    assert_eq!(
        logs.matches("peer AUTH: ML-DSA-65 signature verified")
            .count(),
        1
    );
}

#[test]
fn multiple_auth_required_but_initiator_does_one_round() {
    let pq = pq_chain(KeyType::MlDsa65);
    let mut r = connection(false);
    r.auth_ext.remote2 = Some(AuthRound {
        id: Identity::Fqdn("a.example".into()),
        auth: remote_cert_auth(&pq),
    });
    let (p, logs) = with_logs(|| {
        let mut p = pair(connection(true), r, creds(&[]), creds(&[]));
        p.initiate();
        p
    });
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (0, 0));
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::AUTHENTICATION_FAILED)]
    );
    assert!(
        logs.contains("remote2 requires a second authentication round"),
        "{logs}"
    );
}

#[test]
fn multiple_auth_second_round_from_an_unknown_ca_fails() {
    let other = pq_chain(KeyType::MlDsa65);
    let (p, logs) = {
        let pq = pq_chain(KeyType::MlDsa65);
        let mut i = connection(true);
        i.auth_ext.local2 = Some(AuthRound {
            id: Identity::Fqdn("a.example".into()),
            auth: local_cert_auth(&pq, true),
        });
        let mut r = connection(false);
        r.auth_ext.remote2 = Some(AuthRound {
            id: Identity::Fqdn("a.example".into()),
            auth: remote_cert_auth(&other),
        });
        with_logs(|| {
            let mut p = pair(i, r, creds(&[]), creds(&[]));
            p.initiate();
            p
        })
    };
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (0, 0));
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::AUTHENTICATION_FAILED)]
    );
    assert!(
        logs.contains("peer refused our second authentication round"),
        "{logs}"
    );
    assert!(logs.contains("second round: "), "{logs}");
}

#[test]
fn local2_needs_multiple_auth_supported_from_the_peer() {
    let pq = pq_chain(KeyType::MlDsa65);
    let mut i = connection(true);
    i.auth_ext.local2 = Some(AuthRound {
        id: Identity::Fqdn("a.example".into()),
        auth: local_cert_auth(&pq, true),
    });
    let (p, logs) = with_logs(|| {
        let mut p = pair(i, connection(false), creds(&[]), creds(&[]));
        p.initiate();
        p
    });
    assert_eq!(p.ups(0).len(), 0);
    assert!(
        logs.contains("did not send MULTIPLE_AUTH_SUPPORTED"),
        "{logs}"
    );
}

// ------------------------------------------------------------------ RFC 9867

fn ppk_int_conn(initiator: bool, id: &str, required: bool) -> ConnectionConfig {
    let mut c = ppk_conn(initiator, Some(id), required);
    c.auth_ext.ppk_intermediate = true;
    c
}

#[test]
fn ppk_in_ike_intermediate_is_preferred_over_rfc8784() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_int_conn(true, "lab-ppk", true),
            ppk_int_conn(false, "lab-ppk", true),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("lab-ppk", PPK)]),
        );
        p.initiate();
        p
    });
    p.assert_up_with_child();
    let init_req = p.summary(0, "IKE_SA_INIT request");
    assert!(
        init_req.contains("USE_PPK")
            && init_req.contains("USE_PPK_INT")
            && init_req.contains("IKE_INT_SUP"),
        "{init_req}"
    );
    let init_resp = p.summary(0, "IKE_SA_INIT response");
    assert!(
        init_resp.contains("USE_PPK_INT") && !init_resp.contains("N(USE_PPK)"),
        "{init_resp}"
    );
    assert!(p
        .summary(0, "IKE_INTERMEDIATE request 1")
        .contains("N(PPK_ID_KEY)"));
    assert!(p
        .summary(0, "IKE_INTERMEDIATE response 1")
        .contains("PPK_ID"));
    assert!(
        !p.summary(0, "IKE_AUTH request").contains("PPK_ID"),
        "no RFC 8784 on top"
    );
    assert!(
        logs.contains("PPK 'lab-ppk' mixed into all IKE SA keys in IKE_INTERMEDIATE (RFC 9867)"),
        "{logs}"
    );
    assert!(
        logs.contains("using PPK 'lab-ppk' for all IKE SA keys"),
        "{logs}"
    );
}

#[test]
fn ppk_in_ike_intermediate_after_ml_kem_round_with_certificates() {
    let chain = pq_chain(KeyType::MlDsa44);
    let hybrid = vec![ike_proposal(&[KeMethod::CURVE25519], &[&[KeMethod(36)]])];
    let mut i = ppk_int_conn(true, "lab-ppk", true);
    let mut r = ppk_int_conn(false, "lab-ppk", true);
    i.local.auth = local_cert_auth(&chain, true);
    i.remote.auth = remote_cert_auth(&chain);
    r.local.auth = local_cert_auth(&chain, false);
    r.remote.auth = remote_cert_auth(&chain);
    i.proposals = hybrid.clone();
    r.proposals = hybrid;
    let mut p = pair(i, r, creds(&[("lab-ppk", PPK)]), creds(&[("lab-ppk", PPK)]));
    p.initiate();
    p.assert_up_with_child();
    assert!(p.summary(0, "IKE_INTERMEDIATE request 1").contains("KE"));
    assert!(p
        .summary(0, "IKE_INTERMEDIATE request 2")
        .contains("N(PPK_ID_KEY)"));
    assert!(p.summary(0, "IKE_AUTH request 3").contains("AUTH"));
}

#[test]
fn ppk_in_ike_intermediate_with_a_wrong_secret_fails_on_the_confirmation() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_int_conn(true, "lab-ppk", true),
            ppk_int_conn(false, "lab-ppk", true),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("lab-ppk", b"a different secret of 32 octets!")]),
        );
        p.initiate();
        p
    });
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (0, 0));
    assert_eq!(
        p.downs(0),
        vec![&DownReason::PeerError(NotifyType::AUTHENTICATION_FAILED)]
    );
    assert!(
        logs.contains("PPK confirmation for 'lab-ppk' does not match"),
        "{logs}"
    );
    assert!(
        logs.contains("no usable PPK among the peer's PPK_IDENTITY_KEY ids [\"lab-ppk\"]"),
        "{logs}"
    );
}

#[test]
fn ppk_in_ike_intermediate_optional_continues_without_ppk() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_int_conn(true, "lab-ppk", false),
            ppk_int_conn(false, "other", false),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("other", PPK)]),
        );
        p.initiate();
        p
    });
    p.assert_up_with_child();
    assert!(
        logs.contains("responder did not accept PPK 'lab-ppk' (RFC 9867); continuing without PPK"),
        "{logs}"
    );
}

#[test]
fn rfc8784_fallback_when_the_responder_lacks_rfc9867() {
    let mut p = pair(
        ppk_int_conn(true, "lab-ppk", true),
        ppk_conn(false, Some("lab-ppk"), true),
        creds(&[("lab-ppk", PPK)]),
        creds(&[("lab-ppk", PPK)]),
    );
    p.initiate();
    p.assert_up_with_child();
    assert!(!p
        .summaries(0)
        .iter()
        .any(|s| s.contains("IKE_INTERMEDIATE")));
    assert!(p.summary(0, "IKE_AUTH request").contains("PPK_ID"));
}

#[test]
fn ppk_in_ike_intermediate_with_legacy_libreswan_numbers() {
    let conn = |i| {
        let mut c = ppk_int_conn(i, "lab-ppk", true);
        c.auth_ext.ppk_int_legacy_numbers = true;
        c
    };
    let mut p = pair(
        conn(true),
        conn(false),
        creds(&[("lab-ppk", PPK)]),
        creds(&[("lab-ppk", PPK)]),
    );
    p.initiate();
    p.assert_up_with_child();
    assert!(p.summary(0, "IKE_SA_INIT request").contains("N(50209)"));
    assert!(p
        .summary(0, "IKE_INTERMEDIATE request 1")
        .contains("N(50208)"));
}

// ------------------------------------------------------------------ RFC 9867 in CREATE_CHILD_SA

fn ppk_cc_conn(initiator: bool, required: bool, create_child: bool) -> ConnectionConfig {
    let mut c = ppk_int_conn(initiator, "lab-ppk", required);
    c.auth_ext.ppk_create_child = create_child;
    c
}

/// Every child key set either side installed (full or inbound-only), in order.
fn all_child_keys(p: &Pair, i: usize) -> Vec<ChildSaKeys> {
    p.events[i]
        .iter()
        .filter_map(|e| match e {
            Event::InstallChildSa(k) | Event::InstallChildSaInbound(k) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn ike_key_logs(p: &Pair, i: usize) -> Vec<IkeSaKeyLog> {
    p.events[i]
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaKeys(k) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn command(p: &mut Pair, cmd: Command) {
    p.eps[0].handle_command(p.now, cmd).unwrap();
    p.drive();
}

/// Establish with RFC 9867, then rekey the child, rekey the IKE SA and rekey the child again
/// (now on the new IKE SA).
fn ppk_rekey_run(create_child: bool, ci: Credentials, cr: Credentials) -> (Pair, String) {
    with_logs(|| {
        let cfg = EndpointConfig {
            export_keys: true,
            ..Default::default()
        };
        let mut p = new_pair(
            [cfg.clone(), cfg],
            [
                ppk_cc_conn(true, true, create_child),
                ppk_cc_conn(false, true, create_child),
            ],
            [ci, cr],
        );
        p.initiate();
        let rekey_child = || Command::RekeyChild {
            connection: "c".into(),
            child: "net".into(),
        };
        command(&mut p, rekey_child());
        command(
            &mut p,
            Command::RekeyIke {
                connection: "c".into(),
            },
        );
        command(&mut p, rekey_child());
        p
    })
}

#[test]
fn ppk_in_create_child_sa_for_child_and_ike_rekeys() {
    let (p, logs) = ppk_rekey_run(true, creds(&[("lab-ppk", PPK)]), creds(&[("lab-ppk", PPK)]));
    let (control, _) = ppk_rekey_run(
        false,
        creds(&[("lab-ppk", PPK)]),
        creds(&[("lab-ppk", PPK)]),
    );
    // Only the replaced IKE SA went down.
    assert_eq!(
        p.downs(0),
        vec![&DownReason::LocalDelete],
        "{:?}",
        p.events[0]
    );
    // The PPK is offered in each CREATE_CHILD_SA request and confirmed in each response.
    let reqs: Vec<_> = p
        .summaries(0)
        .into_iter()
        .filter(|s| s.contains("CREATE_CHILD_SA request"))
        .collect();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert!(reqs.iter().all(|s| s.contains("N(PPK_ID_KEY)")), "{reqs:?}");
    let resps: Vec<_> = p
        .summaries(0)
        .into_iter()
        .filter(|s| s.contains("CREATE_CHILD_SA response"))
        .collect();
    assert!(resps.iter().all(|s| s.contains("N(PPK_ID)")), "{resps:?}");
    assert!(control
        .summaries(0)
        .iter()
        .all(|s| !s.contains("CREATE_CHILD_SA") || !s.contains("PPK_ID")));
    assert_eq!(
        logs.matches("mixed into CHILD_SA").count(),
        4,
        "two child rekeys, both sides: {logs}"
    );
    assert_eq!(
        logs.matches("mixed into the new IKE SA").count(),
        2,
        "{logs}"
    );
    // Both sides derive the same keys for every Child SA and for the rekeyed IKE SA. (That the
    // PPK changes them, and the exact formulas, are KATs in create_child.rs: key exchanges use
    // the provider's own randomness, so two simulation runs cannot be compared.)
    let (a, b) = (all_child_keys(&p, 0), all_child_keys(&p, 1));
    assert_eq!((a.len(), b.len()), (3, 3), "{a:?}");
    for n in 0..3 {
        assert_eq!(a[n].key_in, b[n].key_out);
        assert_eq!(a[n].key_out, b[n].key_in);
    }
    let (ki, kr) = (ike_key_logs(&p, 0), ike_key_logs(&p, 1));
    let last = |v: &[IkeSaKeyLog]| v.last().cloned().unwrap();
    assert_eq!(last(&ki).stage, IkeKeyStage::Rekey);
    assert_eq!(last(&ki).sk_ei, last(&kr).sk_ei);
    assert_eq!(last(&ki).sk_er, last(&kr).sk_er);
    assert_eq!(control.downs(0), vec![&DownReason::LocalDelete]);
}

#[test]
fn ppk_in_create_child_sa_with_a_different_secret_is_refused_when_required() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_cc_conn(true, true, true),
            ppk_cc_conn(false, true, true),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("lab-ppk", PPK)]),
        );
        p.initiate();
        // A fresh PPK reached only the responder.
        p.eps[1].set_credentials(creds(&[("lab-ppk", b"a fresh key only one side holds..")]));
        command(
            &mut p,
            Command::RekeyChild {
                connection: "c".into(),
                child: "net".into(),
            },
        );
        p
    });
    assert!(
        logs.contains("PPK confirmation for 'lab-ppk' in CREATE_CHILD_SA does not match"),
        "{logs}"
    );
    assert!(
        p.summary(0, "CREATE_CHILD_SA response").contains("NO_PROP"),
        "{:?}",
        p.summaries(0)
    );
    assert!(logs.contains("CHILD_SA rekey failed"), "{logs}");
    // Only the Child SA exchange failed (RFC 7296 §2.21.3): the IKE SA and old child remain.
    assert!(p.downs(0).is_empty() && p.downs(1).is_empty());
    assert_eq!(all_child_keys(&p, 0).len(), 1);
}

#[test]
fn ppk_in_create_child_sa_optional_falls_back_without_ppk() {
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_cc_conn(true, false, true),
            ppk_cc_conn(false, false, true),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("lab-ppk", PPK)]),
        );
        p.initiate();
        p.eps[1].set_credentials(creds(&[("other", PPK)]));
        command(
            &mut p,
            Command::RekeyChild {
                connection: "c".into(),
                child: "net".into(),
            },
        );
        p
    });
    assert!(
        logs.contains("peer did not use PPK 'lab-ppk' (RFC 9867): CHILD_SA rekey without PPK"),
        "{logs}"
    );
    assert!(!p.summary(0, "CREATE_CHILD_SA response").contains("PPK_ID"));
    assert_eq!(all_child_keys(&p, 0).len(), 2, "rekeyed without PPK");
    assert!(p.downs(0).is_empty());
}

#[test]
fn ppk_in_create_child_sa_needs_use_ppk_int() {
    // The responder does RFC 8784 only: USE_PPK_INT is not negotiated, so no PPK is offered in
    // CREATE_CHILD_SA (a peer that does not know RFC 9867 never sees PPK_IDENTITY_KEY).
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_cc_conn(true, true, true),
            ppk_conn(false, Some("lab-ppk"), true),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("lab-ppk", PPK)]),
        );
        p.initiate();
        command(
            &mut p,
            Command::RekeyChild {
                connection: "c".into(),
                child: "net".into(),
            },
        );
        p
    });
    assert!(logs.contains("(RFC 8784)"), "{logs}");
    let req = p.summary(0, "CREATE_CHILD_SA request");
    assert!(!req.contains("PPK_ID_KEY"), "{req}");
    assert_eq!(all_child_keys(&p, 0).len(), 2);
    assert!(!logs.contains("mixed into CHILD_SA"));
}

#[test]
fn ppk_required_initiator_deletes_a_child_created_without_ppk() {
    // The responder holds no PPK any more and does not require one: it creates the child
    // without PPK; our initiator requires the PPK, so it refuses and deletes that child.
    let (p, logs) = with_logs(|| {
        let mut p = pair(
            ppk_cc_conn(true, true, true),
            ppk_cc_conn(false, false, true),
            creds(&[("lab-ppk", PPK)]),
            creds(&[("lab-ppk", PPK)]),
        );
        p.initiate();
        p.eps[1].set_credentials(creds(&[]));
        command(
            &mut p,
            Command::RekeyChild {
                connection: "c".into(),
                child: "net".into(),
            },
        );
        p
    });
    assert!(
        logs.contains("peer did not use PPK 'lab-ppk' in the CHILD_SA rekey and ppk_required"),
        "{logs}"
    );
    assert_eq!(all_child_keys(&p, 0).len(), 1, "not installed on our side");
    let removed = p.events[1]
        .iter()
        .filter(|e| matches!(e, Event::RemoveChildSa { .. }))
        .count();
    assert_eq!(
        removed, 1,
        "responder removed the PPK-less child: {:?}",
        p.events[1]
    );
    assert!(p.downs(0).is_empty());
}

// ------------------------------------------------------------------ RFC 7296 §2.4 INITIAL_CONTACT

#[test]
fn initial_contact_only_on_the_first_ike_sa_with_a_peer() {
    let mut p = pair(connection(true), connection(false), creds(&[]), creds(&[]));
    p.initiate();
    // A second IKE SA with the same peer while the first is up.
    p.initiate();
    let auth_reqs: Vec<_> = p
        .summaries(0)
        .into_iter()
        .filter(|s| s.contains("IKE_AUTH request"))
        .collect();
    assert_eq!(auth_reqs.len(), 2, "{auth_reqs:?}");
    assert!(auth_reqs[0].contains("N(INIT_CONTACT)"), "{auth_reqs:?}");
    assert!(!auth_reqs[1].contains("INIT_CONTACT"), "{auth_reqs:?}");
    // So the responder keeps both IKE SAs (INITIAL_CONTACT would have made it drop the first).
    assert_eq!((p.ups(0).len(), p.ups(1).len()), (2, 2));
    assert!(p.downs(1).is_empty(), "{:?}", p.downs(1));
    assert_eq!(p.eps[1].status().len(), 2);
}
