//! SA lifecycle in a deterministic simulation (issue 5): CREATE_CHILD_SA, Child and IKE SA
//! rekeying with PFS and RFC 9370 IKE_FOLLOWUP_KE rounds, RFC 7296 §2.8.1 collisions, lost and
//! retransmitted messages, expiry during a rekey, data-plane notices, DPD and actions.
//!
//! Besides the IKE messages, the `pqike-sim` harness models a data plane on both nodes: each node sends one
//! ESP "packet" per 50 ms on its newest outbound SA of the child; the packet is lost if the peer
//! has no inbound SA with that SPI when it arrives. That is the make-before-break check: across
//! rekeys no packet may be lost.
use pqike_proto::*;
use pqike_sim::{ike_proposal, ip, Net, Pair, A, B};
use pqike_wire::{ExchangeType, KeMethod, TrafficSelector};
use std::net::IpAddr;
use std::time::Duration;

/// A pair with default endpoint settings, PSK credentials and randomness from `seed`.
fn lifecycle_pair(conns: [ConnectionConfig; 2], seed: u64) -> Pair {
    Pair::with_seeds(
        [EndpointConfig::default(), EndpointConfig::default()],
        conns.map(|c| vec![c]),
        [psk(), psk()],
        Net::new(seed),
        [seed * 2 + 1, seed * 2 + 2],
    )
}

fn psk() -> Credentials {
    Credentials {
        ppks: Vec::new(),
        psks: vec![(Vec::new(), zeroize::Zeroizing::new(b"secret".to_vec()))],
    }
}

fn esp_proposal(ke: &[KeMethod], addke: &[&[KeMethod]]) -> ProposalConfig {
    let mut p = ProposalConfig {
        encr: vec![(20, Some(256))],
        ke: ke.to_vec(),
        ..Default::default()
    };
    for (i, l) in addke.iter().enumerate() {
        p.addke[i] = l.to_vec();
    }
    p
}

fn net16(a: [u8; 2]) -> TrafficSelector {
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: IpAddr::from([a[0], a[1], 0, 0]),
        end_addr: IpAddr::from([a[0], a[1], 255, 255]),
    }
}

fn child(name: &str, local: [u8; 2], remote: [u8; 2], esp: ProposalConfig) -> ChildConfig {
    ChildConfig {
        name: name.into(),
        local_ts: vec![net16(local)],
        remote_ts: vec![net16(remote)],
        esp_proposals: vec![esp],
        mode: IpsecMode::Tunnel,
        lifetime: Duration::from_secs(3600),
    }
}

fn connection(
    initiator: bool,
    proposals: Vec<ProposalConfig>,
    esp: ProposalConfig,
) -> ConnectionConfig {
    let (me, peer, my_id, peer_id, lnet, rnet) = if initiator {
        (A, B, "a.example", "b.example", [10, 1], [10, 2])
    } else {
        (B, A, "b.example", "a.example", [10, 2], [10, 1])
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
        children: vec![child("net", lnet, rnet, esp)],
        fragmentation: true,
        childless: Childless::Allow,
        send_certreq: false,
        ike_lifetime: Duration::from_secs(3600 * 4),
        auth_ext: Default::default(),
        lifecycle: Default::default(),
    }
}

fn x25519() -> Vec<ProposalConfig> {
    vec![ike_proposal(&[KeMethod::CURVE25519], &[])]
}

fn plain_pair(seed: u64) -> Pair {
    lifecycle_pair(
        [
            connection(true, x25519(), esp_proposal(&[], &[])),
            connection(false, x25519(), esp_proposal(&[], &[])),
        ],
        seed,
    )
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ------------------------------------------------------------------------------ tests

#[test]
fn child_rekeys_by_time_without_losing_packets() {
    let mut i = connection(true, x25519(), esp_proposal(&[], &[]));
    i.lifecycle.child_rekey_time = secs(100);
    let mut p = lifecycle_pair([i, connection(false, x25519(), esp_proposal(&[], &[]))], 1);
    p.initiate_with_traffic();
    p.run_for(secs(650));
    // Rekeys at 90..100 s intervals (jitter up to 10 s): at least 6 in 650 s.
    let rekeys = p.installs_any(0).len() - 1;
    assert!(rekeys >= 6, "only {rekeys} rekeys");
    p.assert_installs_mirror();
    p.assert_consistent(1);
    assert_eq!(p.removes(0), rekeys);
    assert_eq!(p.removes(1), rekeys);
    assert_eq!(p.traffic.lost, 0, "packets lost across rekeys");
    assert!(p.traffic.delivered > 20_000);
    assert!(p.downs(0).is_empty() && p.downs(1).is_empty());
    // Each rekey: CREATE_CHILD_SA with REKEY_SA, then the Delete of the old SA.
    assert!(p
        .summaries(0)
        .iter()
        .any(|s| s.starts_with("sending CREATE_CHILD_SA request") && s.contains("N(REKEY_SA)")));
}

#[test]
fn child_rekey_with_pfs_and_one_followup_round() {
    let esp = esp_proposal(&[KeMethod::CURVE25519], &[&[KeMethod::ML_KEM_768]]);
    let mut p = lifecycle_pair(
        [
            connection(true, x25519(), esp.clone()),
            connection(false, x25519(), esp),
        ],
        2,
    );
    p.initiate_with_traffic();
    for _ in 0..5 {
        p.command(
            0,
            Command::RekeyChild {
                connection: "c".into(),
                child: "net".into(),
            },
        );
        p.run_for(secs(5));
    }
    assert_eq!(p.installs_any(0).len(), 6);
    p.assert_installs_mirror();
    p.assert_consistent(1);
    assert_eq!(p.sent_msgs(0, "sending IKE_FOLLOWUP_KE request"), 5);
    assert_eq!(p.traffic.lost, 0);
    // Fresh keys each time (PFS): no two installs share a key.
    let keys: std::collections::HashSet<_> = p
        .installs_any(0)
        .iter()
        .map(|k| k.key_in.0.to_vec())
        .collect();
    assert_eq!(keys.len(), 6);
}

/// IKE SA rekey with x25519 plus two additional key exchanges (ML-KEM-768, then ECP-384), each in
/// its own IKE_FOLLOWUP_KE round; the child moves to the new IKE SA, and the new SA's keys work
/// (the Child SA rekey afterwards runs over it).
#[test]
fn ike_rekey_with_two_followup_rounds() {
    let props = vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_768], &[KeMethod::ECP_384]],
    )];
    let mut p = lifecycle_pair(
        [
            connection(true, props.clone(), esp_proposal(&[], &[])),
            connection(false, props, esp_proposal(&[], &[])),
        ],
        3,
    );
    p.initiate_with_traffic();
    let before = p.eps[0].status()[0].clone();
    p.command(
        0,
        Command::RekeyIke {
            connection: "c".into(),
        },
    );
    p.run_for(secs(5));
    assert_eq!(p.sent_msgs(0, "sending IKE_FOLLOWUP_KE request"), 2);
    assert_eq!(p.sent_msgs(1, "sending IKE_FOLLOWUP_KE response"), 2);
    p.assert_consistent(1);
    let after = p.eps[0].status()[0].clone();
    assert_ne!(after.sa, before.sa);
    assert_ne!((after.spi_i, after.spi_r), (before.spi_i, before.spi_r));
    assert_eq!(
        after.transforms.ke,
        ["CURVE_25519", "ML_KEM_768", "ECP_384"]
    );
    assert_eq!(after.transforms.prf, before.transforms.prf);
    assert_eq!(after.children[0].spi_in, before.children[0].spi_in);
    assert!(p.events[0]
        .iter()
        .any(|e| matches!(e, Event::IkeRekeyed { .. })));
    assert!(p.events[1]
        .iter()
        .any(|e| matches!(e, Event::IkeRekeyed { .. })));
    // The old IKE SA went down on both sides, its child did not.
    assert_eq!(p.downs(0).len(), 1);
    assert_eq!(p.removes(0) + p.removes(1), 0);
    // The new IKE SA works: both directions of exchanges, and the responder can rekey too.
    p.command(
        1,
        Command::RekeyIke {
            connection: "c".into(),
        },
    );
    p.run_for(secs(5));
    p.command(
        0,
        Command::RekeyChild {
            connection: "c".into(),
            child: "net".into(),
        },
    );
    p.run_for(secs(5));
    p.assert_consistent(1);
    p.assert_installs_mirror();
    assert_eq!(
        p.sent_msgs(0, "sending IKE_FOLLOWUP_KE request")
            + p.sent_msgs(1, "sending IKE_FOLLOWUP_KE request"),
        4
    );
    assert_eq!(p.traffic.lost, 0);
}

#[test]
fn ike_and_child_rekeys_by_time_for_ten_minutes() {
    let props = vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_768]],
    )];
    let mk = |init| {
        let mut c = connection(init, props.clone(), esp_proposal(&[], &[]));
        c.lifecycle.ike_rekey_time = secs(60);
        c.lifecycle.child_rekey_time = secs(20);
        c
    };
    let mut p = lifecycle_pair([mk(true), mk(false)], 4);
    p.initiate_with_traffic();
    p.run_for(secs(600));
    let rekeyed = p.events[0]
        .iter()
        .filter(|e| matches!(e, Event::IkeRekeyed { .. }))
        .count();
    assert!(rekeyed >= 8, "{rekeyed} IKE rekeys");
    assert!(
        p.installs_any(0).len() >= 25,
        "{} child installs",
        p.installs_any(0).len()
    );
    p.assert_installs_mirror();
    p.assert_consistent(1);
    assert_eq!(p.traffic.lost, 0);
    assert!(
        p.downs(0)
            .iter()
            .all(|r| matches!(r, DownReason::LocalDelete | DownReason::PeerDelete)),
        "{:?}",
        p.downs(0)
    );
}

/// RFC 7296 §2.8.1: both peers rekey the same child at once. Over many seeds the nonces fall
/// either way; in every case exactly one new SA survives on both sides, the redundant one and the
/// old one are deleted, no packet is lost, and both outcomes (our exchange's SA survives / the
/// peer's does) occur.
#[test]
fn child_rekey_collisions() {
    let mut outcomes = [0usize; 2];
    for seed in 10..26 {
        let mut p = plain_pair(seed);
        p.initiate_with_traffic();
        p.command(
            0,
            Command::RekeyChild {
                connection: "c".into(),
                child: "net".into(),
            },
        );
        p.command(
            1,
            Command::RekeyChild {
                connection: "c".into(),
                child: "net".into(),
            },
        );
        p.run_for(secs(10));
        assert_eq!(p.installs_any(0).len(), 3, "seed {seed}");
        p.assert_installs_mirror();
        p.assert_consistent(1);
        assert_eq!(p.traffic.lost, 0, "seed {seed}");
        // On node 0 the peer's SA (answered first) is installed before its own.
        let survivor = p.eps[0].status()[0].children[0].spi_in;
        let own = p.installs_any(0)[2].spi_in;
        outcomes[usize::from(survivor == own)] += 1;
        assert!(p.downs(0).is_empty() && p.downs(1).is_empty());
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

/// The collision seen in different orders: node 1's request is slower, so node 0's exchange
/// completes before node 1's request arrives (then node 0 is already deleting the old SA and
/// answers TEMPORARY_FAILURE, §2.25.1), or arrives in between.
#[test]
fn child_rekey_collision_orders() {
    for (seed, lat1) in [(30, 15), (31, 25), (32, 35), (33, 5)] {
        let mut p = plain_pair(seed);
        p.net.latency[1] = Duration::from_millis(lat1);
        p.initiate_with_traffic();
        p.command(
            0,
            Command::RekeyChild {
                connection: "c".into(),
                child: "net".into(),
            },
        );
        p.command(
            1,
            Command::RekeyChild {
                connection: "c".into(),
                child: "net".into(),
            },
        );
        p.run_for(secs(10));
        p.assert_installs_mirror();
        p.assert_consistent(1);
        assert_eq!(p.traffic.lost, 0, "seed {seed}");
    }
}

#[test]
fn ike_rekey_collisions() {
    let mut outcomes = [0usize; 2];
    for seed in 40..52 {
        let mut p = plain_pair(seed);
        p.initiate_with_traffic();
        let old = p.eps[0].status()[0].sa;
        p.command(
            0,
            Command::RekeyIke {
                connection: "c".into(),
            },
        );
        p.command(
            1,
            Command::RekeyIke {
                connection: "c".into(),
            },
        );
        p.run_for(secs(10));
        p.assert_consistent(1);
        let st = &p.eps[0].status()[0];
        assert_ne!(st.sa, old);
        // Node 0 initiated the surviving SA iff its exchange won.
        outcomes[usize::from(st.initiator)] += 1;
        // And the SA works afterwards.
        p.command(
            1,
            Command::RekeyChild {
                connection: "c".into(),
                child: "net".into(),
            },
        );
        p.run_for(secs(5));
        p.assert_consistent(1);
        p.assert_installs_mirror();
        assert_eq!(p.traffic.lost, 0);
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

#[test]
fn retransmitted_create_child_sa_request_gets_the_cached_response() {
    let mut p = plain_pair(5);
    p.initiate_with_traffic();
    // Drop the first CREATE_CHILD_SA response: the request is retransmitted and answered from the
    // cache; the responder must not create a second SA.
    p.net.drop = Box::new(|r, sent| {
        r.exchange == Some(ExchangeType::CREATE_CHILD_SA)
            && r.response
            && !sent
                .iter()
                .any(|s| s.exchange == Some(ExchangeType::CREATE_CHILD_SA) && s.response)
    });
    p.command(
        0,
        Command::RekeyChild {
            connection: "c".into(),
            child: "net".into(),
        },
    );
    p.run_for(secs(10));
    assert_eq!(p.count_sent(ExchangeType::CREATE_CHILD_SA, false), 2);
    assert_eq!(p.count_sent(ExchangeType::CREATE_CHILD_SA, true), 2);
    assert_eq!((p.installs_any(0).len(), p.installs_any(1).len()), (2, 2));
    p.assert_installs_mirror();
    p.assert_consistent(1);
    assert_eq!(p.traffic.lost, 0);
}

#[test]
fn lost_followup_ke_request_and_response() {
    let props = vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_768]],
    )];
    for lose_response in [false, true] {
        let mut p = lifecycle_pair(
            [
                connection(true, props.clone(), esp_proposal(&[], &[])),
                connection(false, props.clone(), esp_proposal(&[], &[])),
            ],
            6,
        );
        p.initiate_with_traffic();
        p.net.drop = Box::new(move |r, sent| {
            r.exchange == Some(ExchangeType::IKE_FOLLOWUP_KE)
                && r.response == lose_response
                && !sent.iter().any(|s| {
                    s.exchange == Some(ExchangeType::IKE_FOLLOWUP_KE) && s.response == lose_response
                })
        });
        p.command(
            0,
            Command::RekeyIke {
                connection: "c".into(),
            },
        );
        p.run_for(secs(10));
        // One message in two fragments (ML-KEM-768 at the 1280-octet limit), sent twice.
        assert_eq!(p.sent_msgs(0, "sending IKE_FOLLOWUP_KE request"), 1);
        assert_eq!(p.count_sent(ExchangeType::IKE_FOLLOWUP_KE, false), 4);
        p.assert_consistent(1);
        assert_eq!(
            p.eps[0].status()[0].transforms.ke,
            ["CURVE_25519", "ML_KEM_768"]
        );
        assert_eq!(p.traffic.lost, 0);
    }
}

/// The responder forgets the follow-up state (RFC 9370 §2.2.4) while every IKE_FOLLOWUP_KE
/// request is lost; the retransmission that finally arrives gets STATE_NOT_FOUND. The IKE SA
/// survives and a later rekey succeeds.
#[test]
fn followup_after_state_expiry_gets_state_not_found() {
    let props = vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_768]],
    )];
    let mut p = lifecycle_pair(
        [
            connection(true, props.clone(), esp_proposal(&[], &[])),
            connection(false, props, esp_proposal(&[], &[])),
        ],
        7,
    );
    p.initiate_with_traffic();
    let t0 = p.now;
    p.net.drop = Box::new(move |r, _| {
        r.exchange == Some(ExchangeType::IKE_FOLLOWUP_KE)
            && !r.response
            && r.at < t0 + Duration::from_secs(70)
    });
    p.command(
        0,
        Command::RekeyIke {
            connection: "c".into(),
        },
    );
    p.run_for(secs(100));
    assert!(
        p.summaries(1)
            .iter()
            .any(|s| s.contains("IKE_FOLLOWUP_KE response") && s.contains("N(NO_STATE)")),
        "{:?}",
        p.summaries(1)
    );
    // The failed rekey is retried (here: successfully, the network is fine again) and only the
    // replaced IKE SA went down.
    p.assert_consistent(1);
    assert!(p.events[0]
        .iter()
        .any(|e| matches!(e, Event::IkeRekeyed { .. })));
    assert_eq!(p.downs(0), [&DownReason::LocalDelete]);
    assert_eq!(p.downs(1), [&DownReason::PeerDelete]);
    assert_eq!(p.traffic.lost, 0);
}

/// The child's hard lifetime passes while its rekey is stuck (responses lost): the old SA is
/// removed at expiry and deleted at the peer; the rekey completes later and its SA carries on.
#[test]
fn child_expires_during_its_rekey() {
    let mut i = connection(true, x25519(), esp_proposal(&[], &[]));
    i.lifecycle.child_rekey_time = secs(10);
    i.lifecycle.child_life_time = Some(secs(12));
    i.lifecycle.rand_time = Some(Duration::ZERO);
    let mut p = lifecycle_pair([i, connection(false, x25519(), esp_proposal(&[], &[]))], 8);
    p.initiate_with_traffic();
    p.net.drop = Box::new(|r, sent| {
        r.exchange == Some(ExchangeType::CREATE_CHILD_SA)
            && r.response
            && sent
                .iter()
                .filter(|s| s.exchange == Some(ExchangeType::CREATE_CHILD_SA) && s.response)
                .count()
                < 2
    });
    // The rekey starts at 10 s; responses at 10 s and 14 s are lost, the one to the
    // retransmission at 21.2 s arrives; the next rekey would be due at 31 s.
    p.run_for(secs(25));
    let first_remove = p.events[0]
        .iter()
        .position(|e| matches!(e, Event::RemoveChildSa { .. }))
        .expect("old child removed");
    let second_install = p.events[0]
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::InstallChildSa(_)))
        .nth(1)
        .map(|(i, _)| i)
        .expect("rekeyed child installed");
    assert!(first_remove < second_install, "expiry came first");
    assert!(p.downs(0).is_empty() && p.downs(1).is_empty());
    // The new SA lives on both sides; the old one is gone on both.
    let s0 = &p.eps[0].status()[0];
    assert_eq!(s0.children.len(), 1);
    assert_eq!(s0.children[0].spi_in, p.installs_any(0)[1].spi_in);
    let s1 = &p.eps[1].status()[0];
    assert_eq!(s1.children.len(), 1);
    assert_eq!(s1.children[0].spi_out, s0.children[0].spi_in);
}

#[test]
fn esp_soft_expiry_rekeys_and_hard_expiry_deletes() {
    let mut p = plain_pair(9);
    p.initiate_with_traffic();
    let spi = p.installs_any(0)[0].spi_in;
    p.eps[0].handle_esp_notice(p.now, EspNotice::SoftExpire { spi_in: spi });
    p.run_for(secs(5));
    assert_eq!(p.installs_any(0).len(), 2);
    p.assert_consistent(1);
    let spi = p.installs_any(0)[1].spi_in;
    p.eps[1].handle_esp_notice(
        p.now,
        EspNotice::HardExpire {
            spi_in: p.installs_any(1)[1].spi_in,
        },
    );
    p.run_for(secs(5));
    assert!(p.eps[0].status()[0].children.is_empty());
    assert!(p.eps[1].status()[0].children.is_empty());
    assert!(p.events[0]
        .iter()
        .any(|e| matches!(e, Event::RemoveChildSa { spi_in, .. } if *spi_in == spi)));
}

#[test]
fn invalid_ke_payload_retry_in_create_child_sa() {
    let mut p = lifecycle_pair(
        [
            connection(
                true,
                x25519(),
                esp_proposal(&[KeMethod::ECP_256, KeMethod::CURVE25519], &[]),
            ),
            connection(false, x25519(), esp_proposal(&[KeMethod::CURVE25519], &[])),
        ],
        11,
    );
    p.initiate_with_traffic();
    p.command(
        0,
        Command::RekeyChild {
            connection: "c".into(),
            child: "net".into(),
        },
    );
    p.run_for(secs(5));
    assert!(p.summaries(1).iter().any(|s| s.contains("INVAL_KE")));
    assert_eq!(p.count_sent(ExchangeType::CREATE_CHILD_SA, false), 2);
    p.assert_consistent(1);
    p.assert_installs_mirror();
}

#[test]
fn further_children_come_with_create_child_sa() {
    let mut i = connection(true, x25519(), esp_proposal(&[], &[]));
    let mut r = connection(false, x25519(), esp_proposal(&[], &[]));
    i.children
        .push(child("two", [10, 3], [10, 4], esp_proposal(&[], &[])));
    r.children
        .push(child("two", [10, 4], [10, 3], esp_proposal(&[], &[])));
    let mut p = lifecycle_pair([i, r], 12);
    p.initiate_with_traffic();
    p.run_for(secs(2));
    p.assert_consistent(2);
    p.assert_installs_mirror();
    let names: Vec<_> = p.installs_any(1).iter().map(|k| k.child.clone()).collect();
    assert_eq!(names, ["net", "two"]);
    // InitiateChild adds another SA of an existing config.
    p.command(
        0,
        Command::InitiateChild {
            connection: "c".into(),
            child: "two".into(),
        },
    );
    p.run_for(secs(2));
    p.assert_consistent(3);
}

#[test]
fn dpd_timeout_runs_dpd_action_start() {
    let mut i = connection(true, x25519(), esp_proposal(&[], &[]));
    i.lifecycle.dpd_delay = Some(secs(30));
    i.lifecycle.dpd_action = SaAction::Start;
    let mut p = lifecycle_pair([i, connection(false, x25519(), esp_proposal(&[], &[]))], 13);
    p.initiate_with_traffic();
    // The peer goes silent for five minutes.
    let t0 = p.now;
    p.net.drop = Box::new(move |r, _| r.from == 1 && r.at < t0 + Duration::from_secs(300));
    p.run_for(secs(200));
    assert!(
        matches!(p.downs(0).as_slice(), [DownReason::Timeout { exchange, .. }] if *exchange == ExchangeType::INFORMATIONAL)
    );
    assert!(
        p.count_sent(ExchangeType::IKE_SA_INIT, false) >= 2,
        "restarted"
    );
    p.run_for(secs(300));
    assert!(
        p.ups(0).len() >= 2,
        "re-established after the peer came back"
    );
}

#[test]
fn close_action_start_and_trap() {
    let mut i = connection(true, x25519(), esp_proposal(&[], &[]));
    i.lifecycle.close_action = SaAction::Start;
    let mut p = lifecycle_pair([i, connection(false, x25519(), esp_proposal(&[], &[]))], 14);
    p.initiate_with_traffic();
    p.command(
        1,
        Command::Terminate {
            connection: "c".into(),
        },
    );
    p.run_for(secs(5));
    assert_eq!(p.downs(0), [&DownReason::PeerDelete]);
    assert_eq!(p.ups(0).len(), 2, "close_action = start re-initiated");

    let mut i = connection(true, x25519(), esp_proposal(&[], &[]));
    i.lifecycle.start_action = SaAction::Trap;
    let mut p = lifecycle_pair([i, connection(false, x25519(), esp_proposal(&[], &[]))], 15);
    p.eps[0].start(p.now);
    p.drain();
    assert!(p.events[0]
        .iter()
        .any(|e| matches!(e, Event::InstallTrap { child, .. } if child == "net")));
    assert_eq!(p.ups(0).len(), 0);
    p.eps[0].handle_acquire(p.now, "c", "net");
    p.eps[0].handle_acquire(p.now, "c", "net");
    p.run_for(secs(2));
    assert_eq!(p.ups(0).len(), 1);
    assert_eq!(
        p.count_sent(ExchangeType::IKE_SA_INIT, false),
        1,
        "second acquire ignored"
    );
    p.assert_consistent(1);
}

/// CHILD_SA_PFS_INFO_SUPPORTED (private number 50600 as in strongSwan's child-pfs-info work):
/// with it, a PFS mismatch fails the child already in IKE_AUTH; without it, the child comes up
/// and the mismatch only shows at the first rekey.
#[test]
fn child_pfs_info_surfaces_a_pfs_mismatch_at_setup() {
    for pfs_info in [true, false] {
        let mut i = connection(true, x25519(), esp_proposal(&[KeMethod::CURVE25519], &[]));
        let mut r = connection(false, x25519(), esp_proposal(&[KeMethod::ECP_256], &[]));
        if pfs_info {
            i.lifecycle.pfs_info_notify = Some(50600);
            r.lifecycle.pfs_info_notify = Some(50600);
        }
        let mut p = lifecycle_pair([i, r], 16);
        p.initiate_with_traffic();
        let init_has_notify = p.summaries(0)[0].contains("50600");
        assert_eq!(init_has_notify, pfs_info, "{:?}", p.summaries(0));
        if pfs_info {
            assert!(p.installs_any(0).is_empty() && p.installs_any(1).is_empty());
            assert!(p
                .summaries(1)
                .iter()
                .any(|s| s.contains("IKE_AUTH response") && s.contains("N(NO_PROP)")));
        } else {
            assert_eq!(p.installs_any(0).len(), 1);
            p.command(
                0,
                Command::RekeyChild {
                    connection: "c".into(),
                    child: "net".into(),
                },
            );
            p.run_for(secs(2));
            assert!(p
                .summaries(1)
                .iter()
                .any(|s| s.contains("CREATE_CHILD_SA response") && s.contains("N(NO_PROP)")));
            assert_eq!(p.installs_any(0).len(), 1, "the old child stays");
        }
        assert_eq!(p.ups(0).len(), 1);
        assert!(p.downs(0).is_empty());
    }
    // Matching PFS with PFS info: the IKE_AUTH child negotiates the KE method.
    let esp = esp_proposal(&[KeMethod::CURVE25519], &[&[KeMethod::ML_KEM_768]]);
    let mut i = connection(true, x25519(), esp.clone());
    let mut r = connection(false, x25519(), esp);
    i.lifecycle.pfs_info_notify = Some(50600);
    r.lifecycle.pfs_info_notify = Some(50600);
    let mut p = lifecycle_pair([i, r], 17);
    p.initiate_with_traffic();
    p.assert_consistent(1);
    p.assert_installs_mirror();
}

fn any_ts() -> TrafficSelector {
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: IpAddr::from([0u8; 4]),
        end_addr: IpAddr::from([255u8; 4]),
    }
}

/// Remote access: the client asks for any address (vips = 0.0.0.0), the server assigns the
/// first one of its pool with DNS and a split subnet, narrows the child's TSi to it, and keeps
/// it across an IKE rekey.
#[test]
fn cp_assigns_a_virtual_ip_from_the_pool() {
    let mut i = connection(true, x25519(), esp_proposal(&[], &[]));
    i.lifecycle.vips = vec![IpAddr::from([0u8; 4])];
    i.children[0].local_ts = vec![any_ts()];
    let mut r = connection(false, x25519(), esp_proposal(&[], &[]));
    r.lifecycle.pools = vec![PoolConfig {
        name: "ra".into(),
        first: IpAddr::from([10, 3, 0, 1]),
        last: IpAddr::from([10, 3, 0, 254]),
        prefix: 24,
        dns: vec![IpAddr::from([10, 3, 0, 53])],
        split: vec![(IpAddr::from([10, 2, 0, 0]), 16)],
    }];
    r.children[0].remote_ts = vec![TrafficSelector {
        start_addr: IpAddr::from([10, 3, 0, 0]),
        end_addr: IpAddr::from([10, 3, 0, 255]),
        ..any_ts()
    }];
    let mut p = lifecycle_pair([i, r], 18);
    p.initiate_with_traffic();
    assert!(p
        .summaries(0)
        .iter()
        .any(|s| s.contains("IKE_AUTH request") && s.contains(" CPRQ(")));
    let vips: Vec<&VirtualIp> = p.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::VirtualIp { vip, .. } => Some(vip),
            _ => None,
        })
        .collect();
    assert_eq!(
        vips,
        [&VirtualIp {
            addr: IpAddr::from([10, 3, 0, 1]),
            prefix: 24,
            dns: vec![IpAddr::from([10, 3, 0, 53])],
            split: vec![(IpAddr::from([10, 2, 0, 0]), 16)],
        }]
    );
    let host = TrafficSelector {
        start_addr: IpAddr::from([10, 3, 0, 1]),
        end_addr: IpAddr::from([10, 3, 0, 1]),
        ..any_ts()
    };
    assert_eq!(p.installs_any(0)[0].local_ts, std::slice::from_ref(&host));
    assert_eq!(p.installs_any(1)[0].remote_ts, std::slice::from_ref(&host));
    p.command(
        0,
        Command::RekeyIke {
            connection: "c".into(),
        },
    );
    p.run_for(secs(3));
    p.command(
        1,
        Command::RekeyChild {
            connection: "c".into(),
            child: "net".into(),
        },
    );
    p.run_for(secs(3));
    p.assert_consistent(1);
    assert_eq!(
        p.eps[1].status()[0].children[0].remote_ts,
        std::slice::from_ref(&host)
    );
    // Down and up again: the lease was released and is handed out again.
    p.command(
        0,
        Command::Terminate {
            connection: "c".into(),
        },
    );
    p.run_for(secs(2));
    p.command(
        0,
        Command::Initiate {
            connection: "c".into(),
        },
    );
    p.run_for(secs(2));
    assert_eq!(p.installs_any(0).last().unwrap().local_ts, [host]);
}

/// IKE SA rekey collision where our request never reaches the peer before the peer completes
/// its own rekey (with an IKE_FOLLOWUP_KE round) and deletes the old IKE SA: the children we held
/// back for the collision outcome move to the peer's new SA (seen against strongSwan 6.1).
#[test]
fn ike_rekey_collision_peer_deletes_old_sa_first() {
    let props = vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_768]],
    )];
    let mut p = lifecycle_pair(
        [
            connection(true, props.clone(), esp_proposal(&[], &[])),
            connection(false, props, esp_proposal(&[], &[])),
        ],
        19,
    );
    p.initiate_with_traffic();
    let t0 = p.now;
    // Node 0's rekey request is lost for good; its answers to node 1 for the first 3 s.
    p.net.drop = Box::new(move |r, _| {
        r.from == 0
            && r.exchange == Some(ExchangeType::CREATE_CHILD_SA)
            && (!r.response || r.at < t0 + Duration::from_secs(3))
    });
    p.command(
        0,
        Command::RekeyIke {
            connection: "c".into(),
        },
    );
    p.command(
        1,
        Command::RekeyIke {
            connection: "c".into(),
        },
    );
    p.run_for(secs(20));
    p.assert_consistent(1);
    assert!(!p.eps[0].status()[0].initiator, "node 1's SA survived");
    assert_eq!(p.removes(0) + p.removes(1), 0, "no child lost");
    assert_eq!(p.traffic.lost, 0);
}
