//! A minimal blocking UDP driver for the engine, for interop checks against a real peer before
//! the daemon exists. Not a daemon: one connection, PSK or nothing else, prints events.
//!
//! Env: ROLE=initiator|responder LOCAL=192.0.2.1 REMOTE=192.0.2.2 LOCAL_ID=a.example
//! REMOTE_ID=b.example LOCAL_NET=198.51.100.0/24 REMOTE_NET=203.0.113.0/24 SECRET=...
//! PROPOSAL=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16 SECONDS=20
//! TERMINATE=1 (delete the IKE SA once up, initiator only) CHILDLESS=force
//! AUTH=pubkey PKI=<lab/pki.sh chain dir> (uses LOCAL_ID.pem/.key.pem, int*.pem, ca.pem)
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::SystemRandom;
use pqike_proto::*;
use pqike_wire::algorithms::{self, AlgKind};
use pqike_wire::{KeMethod, TrafficSelector};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_string())
}

/// strongSwan-style proposal tokens: the algorithm table's keywords, `keN_` for ADDKE N.
fn proposal(s: &str) -> ProposalConfig {
    let mut p = ProposalConfig::default();
    for tok in s.split('-') {
        let (round, kw) = match tok.strip_prefix("ke").and_then(|t| t.split_once('_')) {
            Some((n, kw)) => {
                let n: usize = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=7).contains(n))
                    .expect("ke1_..ke7_");
                (Some(n - 1), kw)
            }
            None => (None, tok),
        };
        let a = algorithms::by_keyword(kw).unwrap_or_else(|| panic!("unknown token {tok}"));
        match (a.kind, round) {
            (AlgKind::Ke, Some(r)) => p.addke[r].push(KeMethod(a.id)),
            (AlgKind::Ke, None) => p.ke.push(KeMethod(a.id)),
            (AlgKind::Encr, None) => p.encr.push((a.id, a.key_bits)),
            (AlgKind::Prf, None) => p.prf.push(a.id),
            (AlgKind::Integ, None) => p.integ.push(a.id),
            (AlgKind::Esn, None) => p.esn.push(a.id),
            (_, Some(_)) => panic!("{tok}: ADDKE takes a key exchange method"),
        }
    }
    p
}

fn subnet(s: &str) -> TrafficSelector {
    let (a, len) = s.split_once('/').unwrap();
    let a: Ipv4Addr = a.parse().unwrap();
    let len: u32 = len.parse().unwrap();
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let start = u32::from(a) & mask;
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: IpAddr::V4(start.into()),
        end_addr: IpAddr::V4((start | !mask).into()),
    }
}

fn main() {
    tracing_subscriber_init();
    let initiator = env("ROLE", "initiator") == "initiator";
    let local: IpAddr = env("LOCAL", "192.0.2.1").parse().unwrap();
    let remote: IpAddr = env("REMOTE", "192.0.2.2").parse().unwrap();
    let local_id = Identity::Fqdn(env("LOCAL_ID", "a.example"));
    let remote_id = Identity::Fqdn(env("REMOTE_ID", "b.example"));
    let (local_auth, remote_auth) = if env("AUTH", "psk") == "pubkey" {
        let pki = env("PKI", "/tmp/pqike-lab/pki/ecdsa");
        let me = env("LOCAL_ID", "a.example");
        let read = |f: &str| std::fs::read(format!("{pki}/{f}")).unwrap();
        let cert = pqike_crypto::pki::load_certs_pem(&read(&format!("{me}.pem")))
            .unwrap()
            .remove(0);
        let key = pqike_crypto::pki::load_private_key_pem(&read(&format!("{me}.key.pem"))).unwrap();
        let mut ints: Vec<String> = std::fs::read_dir(&pki)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("int") && n.ends_with(".pem") && !n.ends_with(".key.pem"))
            .collect();
        ints.sort();
        ints.reverse();
        let intermediates = ints
            .iter()
            .flat_map(|f| pqike_crypto::pki::load_certs_pem(&read(f)).unwrap())
            .collect();
        let ca = pqike_crypto::pki::load_certs_pem(&read("ca.pem")).unwrap();
        (
            AuthConfig::PubKey {
                cert: Some(cert),
                intermediates,
                key: Some(key),
                cacerts: vec![],
            },
            AuthConfig::PubKey {
                cert: None,
                intermediates: vec![],
                key: None,
                cacerts: ca,
            },
        )
    } else {
        (AuthConfig::Psk, AuthConfig::Psk)
    };
    let conn = ConnectionConfig {
        name: "lab".into(),
        local_addrs: vec![local],
        remote_addrs: vec![remote],
        remote_port: 500,
        proposals: env("PROPOSAL", "aes256gcm16-prfsha384-x25519")
            .split(',')
            .map(proposal)
            .collect(),
        local: AuthRound {
            id: local_id.clone(),
            auth: local_auth,
        },
        remote: AuthRound {
            id: remote_id.clone(),
            auth: remote_auth,
        },
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![subnet(&env("LOCAL_NET", "198.51.100.0/24"))],
            remote_ts: vec![subnet(&env("REMOTE_NET", "203.0.113.0/24"))],
            esp_proposals: env("ESP", "aes256gcm16").split(',').map(proposal).collect(),
            mode: IpsecMode::Tunnel,
            lifetime: Duration::from_secs(3600),
        }],
        fragmentation: true,
        childless: if env("CHILDLESS", "allow") == "force" {
            Childless::Force
        } else {
            Childless::Allow
        },
        send_certreq: true,
        ike_lifetime: Duration::from_secs(3600),
        auth_ext: Default::default(),
        lifecycle: Default::default(),
    };
    let creds = Credentials {
        ppks: Vec::new(),
        psks: vec![(
            vec![local_id, remote_id],
            zeroize::Zeroizing::new(env("SECRET", "secret").into_bytes()),
        )],
    };
    let cfg = EndpointConfig {
        retransmit_timeout: Duration::from_secs(2),
        retransmit_tries: 3,
        ..Default::default()
    };
    let mut ep = Endpoint::new(
        cfg,
        vec![conn],
        creds,
        Arc::new(AwsLcProvider::new()),
        Box::new(SystemRandom),
    );
    let s500 = UdpSocket::bind(SocketAddr::new(local, 500)).unwrap();
    let s4500 = UdpSocket::bind(SocketAddr::new(local, 4500)).unwrap();
    s500.set_nonblocking(true).unwrap();
    s4500.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let seconds: u64 = env("SECONDS", "20").parse().unwrap();
    if initiator {
        ep.handle_command(
            start,
            Command::Initiate {
                connection: "lab".into(),
            },
        )
        .unwrap();
    }
    let mut buf = vec![0u8; 65536];
    let mut terminated = false;
    while start.elapsed() < Duration::from_secs(seconds) {
        let now = Instant::now();
        for s in [&s500, &s4500] {
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                ep.handle_datagram(now, s.local_addr().unwrap(), from, &buf[..n]);
            }
        }
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
        while let Some(t) = ep.poll_transmit() {
            let s = if t.local.port() == 4500 {
                &s4500
            } else {
                &s500
            };
            let _ = s.send_to(&t.payload, t.remote);
        }
        while let Some(e) = ep.poll_event() {
            match &e {
                Event::Exchange { summary, .. } => println!("EXCHANGE {summary}"),
                Event::IkeUp { status, .. } => {
                    println!(
                        "IKE_UP {:?} {:?} nat={} {}",
                        status.transforms, status.state, status.nat_detected, status.remote_id
                    );
                    if initiator && env("TERMINATE", "0") == "1" && !terminated {
                        terminated = true;
                        ep.handle_command(
                            now,
                            Command::Terminate {
                                connection: "lab".into(),
                            },
                        )
                        .unwrap();
                    }
                }
                Event::InstallChildSa(k) => println!(
                    "INSTALL {} in={:08x} out={:08x} encap={} {:?} {:?} {:?}",
                    k.child, k.spi_in, k.spi_out, k.udp_encap, k.local, k.local_ts, k.remote_ts
                ),
                other => println!("EVENT {other:?}"),
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for s in ep.status() {
        println!(
            "STATUS {:?} {:?} children={}",
            s.state,
            s.transforms,
            s.children.len()
        );
    }
}

/// Engine logs to stderr, filtered by RUST_LOG (e.g. `RUST_LOG=pqike_proto=debug`).
fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}
