//! Soak test of the SA lifecycle (issue 5): two in-process endpoints talk over real loopback UDP
//! and keep N IKE SAs with one Child SA each alive, with short lifetimes so that every SA is
//! rekeyed (IKE and child) over and over. Reports rekeys done, failures and memory per SA.
//!
//! `cargo run --release -p pqike-testkit --bin pqike-soak -- [--sas N] [--duration SECS]
//!  [--lifetime SECS] [--life SECS] [--ramp PER_SEC] [--proposal P] [--esp P]`
//!
//! Defaults: 1000 SAs, 600 s, rekey time 10 s for IKE and Child SAs (strongSwan-style jitter:
//! up to 1 s earlier; hard lifetime 11 s), proposal `aes256gcm16-prfsha384-x25519`, ESP
//! `aes256gcm16`. Each IKE SA uses its own identity (`sNNNN.soak`), because every IKE_AUTH
//! carries INITIAL_CONTACT, which replaces older SAs between the same identities.
//!
//! Failures counted: IKE SAs that went down for any reason other than a delete after a rekey,
//! and SAs missing at the end. Memory: RSS (/proc/self/statm) after the ramp minus before,
//! divided by N; both endpoints live in this process, so it covers both ends of each SA.
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::SystemRandom;
use pqike_proto::*;
use pqike_testkit::config::proposal;
use pqike_wire::TrafficSelector;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    sas: usize,
    duration: u64,
    lifetime: u64,
    /// Hard lifetime (default: rekey + 10 %, strongSwan's default over_time).
    life: Option<u64>,
    ramp: usize,
    proposal: String,
    esp: String,
}

fn args() -> Args {
    let mut a = Args {
        sas: 1000,
        duration: 600,
        lifetime: 10,
        life: None,
        ramp: 200,
        proposal: "aes256gcm16-prfsha384-x25519".into(),
        esp: "aes256gcm16".into(),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        let num = || val.parse::<u64>().expect("numeric argument");
        match v[i].as_str() {
            "--sas" => a.sas = num() as usize,
            "--duration" => a.duration = num(),
            "--lifetime" => a.lifetime = num(),
            "--life" => a.life = Some(num()),
            "--ramp" => a.ramp = num() as usize,
            "--proposal" => a.proposal = val.clone(),
            "--esp" => a.esp = val.clone(),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn ts(a: [u8; 2]) -> TrafficSelector {
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: IpAddr::from([a[0], a[1], 0, 0]),
        end_addr: IpAddr::from([a[0], a[1], 255, 255]),
    }
}

fn conn(name: &str, initiator: bool, id: &str, a: &Args, peer: SocketAddr) -> ConnectionConfig {
    let lt = Duration::from_secs(a.lifetime);
    let (l, r) = if initiator {
        ([10, 1], [10, 2])
    } else {
        ([10, 2], [10, 1])
    };
    ConnectionConfig {
        name: name.into(),
        local_addrs: vec![IpAddr::from([127, 0, 0, 1])],
        remote_addrs: vec![peer.ip()],
        remote_port: peer.port(),
        proposals: vec![proposal(&a.proposal)],
        local: AuthRound {
            id: Identity::Fqdn(id.into()),
            auth: AuthConfig::Psk,
        },
        remote: AuthRound {
            id: if initiator {
                Identity::Fqdn("responder.soak".into())
            } else {
                Identity::Any
            },
            auth: AuthConfig::Psk,
        },
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![ts(l)],
            remote_ts: vec![ts(r)],
            esp_proposals: vec![proposal(&a.esp)],
            mode: IpsecMode::Tunnel,
            lifetime: lt,
        }],
        fragmentation: true,
        childless: Childless::Allow,
        send_certreq: false,
        ike_lifetime: lt,
        auth_ext: Default::default(),
        lifecycle: LifecycleConfig {
            ike_rekey_time: lt,
            child_rekey_time: lt,
            ike_life_time: a.life.map(Duration::from_secs),
            child_life_time: a.life.map(Duration::from_secs),
            rand_time: Some(Duration::from_secs(a.lifetime / 10)),
            ..Default::default()
        },
    }
}

#[derive(Default)]
struct Counts {
    ike_up: u64,
    child_installs: u64,
    ike_rekeys: u64,
    child_removes: u64,
    failures: u64,
    rekeyed_down: u64,
}

fn main() {
    let a = args();
    let s0 = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let s1 = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = [s0.local_addr().unwrap(), s1.local_addr().unwrap()];
    for s in [&s0, &s1] {
        s.set_nonblocking(true).unwrap();
    }
    let socks = [s0, s1];
    let crypto: Arc<dyn pqike_crypto::CryptoProvider> = Arc::new(AwsLcProvider::new());
    let cfg = |port: u16| EndpointConfig {
        ike_port: port,
        nat_port: 1, // never used: no NAT on loopback
        cookie_threshold: usize::MAX,
        max_half_open: usize::MAX,
        retransmit_timeout: Duration::from_secs(2),
        ..EndpointConfig::default()
    };
    let psk = Credentials {
        psks: vec![(Vec::new(), zeroize::Zeroizing::new(b"soak".to_vec()))],
        ..Default::default()
    };
    let init_conns: Vec<ConnectionConfig> = (0..a.sas)
        .map(|i| {
            conn(
                &format!("s{i:04}"),
                true,
                &format!("s{i:04}.soak"),
                &a,
                addr[1],
            )
        })
        .collect();
    let mut eps = [
        Endpoint::new(
            cfg(addr[0].port()),
            init_conns,
            psk.clone(),
            crypto.clone(),
            Box::new(SystemRandom),
        ),
        Endpoint::new(
            cfg(addr[1].port()),
            vec![conn("resp", false, "responder.soak", &a, addr[0])],
            psk,
            crypto,
            Box::new(SystemRandom),
        ),
    ];
    println!(
        "pqike-soak: {} IKE SAs x 1 Child SA, rekey time {} s (IKE and child), {} s, {} / {}",
        a.sas, a.lifetime, a.duration, a.proposal, a.esp
    );
    let rss0 = rss_bytes();
    let start = Instant::now();
    let end = start + Duration::from_secs(a.duration);
    let mut next_init = 0usize;
    let mut c = [Counts::default(), Counts::default()];
    let mut buf = vec![0u8; 65536];
    let mut next_report = start + Duration::from_secs(10);
    let mut ramp_done: Option<(Instant, u64)> = None;
    let mut up_conns: HashSet<String> = HashSet::new();
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        // Ramp up: `ramp` initiations per second.
        let due = ((now - start).as_secs_f64() * a.ramp as f64) as usize + 1;
        while next_init < a.sas.min(due) {
            let name = format!("s{next_init:04}");
            if let Err(e) = eps[0].handle_command(now, Command::Initiate { connection: name }) {
                eprintln!("initiate: {e}");
            }
            next_init += 1;
        }
        let mut idle = true;
        for i in 0..2 {
            loop {
                match socks[i].recv_from(&mut buf) {
                    Ok((n, from)) => {
                        idle = false;
                        eps[i].handle_datagram(Instant::now(), addr[i], from, &buf[..n]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        eprintln!("recv: {e}");
                        break;
                    }
                }
            }
        }
        let now = Instant::now();
        for (i, ep) in eps.iter_mut().enumerate() {
            if ep.poll_timeout().is_some_and(|t| t <= now) {
                ep.handle_timeout(now);
            }
            while let Some(t) = ep.poll_transmit() {
                idle = false;
                if let Err(e) = socks[i].send_to(&t.payload, t.remote) {
                    eprintln!("send: {e}");
                }
            }
            while let Some(ev) = ep.poll_event() {
                let k = &mut c[i];
                match ev {
                    Event::IkeUp { status, .. } => {
                        k.ike_up += 1;
                        if i == 0 {
                            up_conns.insert(status.connection);
                        }
                    }
                    Event::InstallChildSa(_) | Event::InstallChildSaInbound(_) => {
                        k.child_installs += 1
                    }
                    Event::RemoveChildSa { .. } => k.child_removes += 1,
                    Event::IkeRekeyed { .. } => k.ike_rekeys += 1,
                    Event::IkeDown {
                        reason, connection, ..
                    } => match reason {
                        DownReason::LocalDelete | DownReason::PeerDelete => k.rekeyed_down += 1,
                        r => {
                            k.failures += 1;
                            eprintln!("side {i}: IKE SA of {connection} failed: {r:?}");
                        }
                    },
                    _ => {}
                }
            }
        }
        if ramp_done.is_none() && up_conns.len() == a.sas {
            let rss = rss_bytes();
            ramp_done = Some((Instant::now(), rss));
            println!(
                "{:>6.1}s all {} IKE SAs up; RSS {:.1} MiB (+{:.1} KiB per SA, both ends)",
                start.elapsed().as_secs_f64(),
                a.sas,
                rss as f64 / 1048576.0,
                rss.saturating_sub(rss0) as f64 / 1024.0 / a.sas as f64
            );
        }
        if now >= next_report {
            next_report += Duration::from_secs(10);
            let st = eps[0].status();
            println!(
                "{:>6.1}s IKE SAs {:>5}  child rekeys {:>7}  IKE rekeys {:>6}  failures {}  RSS {:.1} MiB",
                start.elapsed().as_secs_f64(),
                st.iter().filter(|s| s.state == IkeState::Established).count(),
                c[0].child_installs.saturating_sub(a.sas as u64),
                c[0].ike_rekeys,
                c[0].failures + c[1].failures,
                rss_bytes() as f64 / 1048576.0
            );
        }
        if idle {
            let wait = eps
                .iter()
                .filter_map(Endpoint::poll_timeout)
                .min()
                .map_or(Duration::from_millis(1), |t| {
                    t.saturating_duration_since(Instant::now())
                })
                .min(Duration::from_millis(1));
            std::thread::sleep(wait);
        }
    }
    let st0 = eps[0].status();
    let st1 = eps[1].status();
    let est = |s: &[IkeSaStatus]| {
        s.iter()
            .filter(|x| x.state == IkeState::Established && x.children.len() == 1)
            .count()
    };
    let missing = a.sas.saturating_sub(est(&st0)) as u64;
    let hist = |s: &[IkeSaStatus]| {
        let mut h = [0usize; 3];
        for x in s.iter().filter(|x| x.state == IkeState::Established) {
            h[x.children.len().min(2)] += 1;
        }
        h
    };
    println!(
        "established IKE SAs by number of children [0, 1, 2+]: initiator {:?}, responder {:?} (2 = mid-rekey)",
        hist(&st0),
        hist(&st1)
    );
    let rss_end = rss_bytes();
    println!("--- pqike-soak result after {} s", a.duration);
    println!(
        "IKE SAs established with their child: initiator {}, responder {} (want {})",
        est(&st0),
        est(&st1),
        a.sas
    );
    println!(
        "Child SA rekeys: {} (initiator installs - {}), IKE SA rekeys: {} (initiator view) / {} (responder)",
        c[0].child_installs.saturating_sub(a.sas as u64),
        a.sas,
        c[0].ike_rekeys,
        c[1].ike_rekeys
    );
    println!(
        "failures: {} IKE SA down events other than a delete (initiator {}, responder {}); {} of {} SAs not established with one child at the end",
        c[0].failures + c[1].failures,
        c[0].failures,
        c[1].failures,
        missing,
        a.sas
    );
    if let Some((_, rss)) = ramp_done {
        println!(
            "memory: RSS {:.1} MiB before, {:.1} MiB when all up, {:.1} MiB at the end: {:.1} KiB per SA (both ends; {:.1} KiB per SA at the end)",
            rss0 as f64 / 1048576.0,
            rss as f64 / 1048576.0,
            rss_end as f64 / 1048576.0,
            rss.saturating_sub(rss0) as f64 / 1024.0 / a.sas as f64,
            rss_end.saturating_sub(rss0) as f64 / 1024.0 / a.sas as f64
        );
    }
    if c[0].failures + c[1].failures + missing > 0 {
        std::process::exit(1);
    }
}
