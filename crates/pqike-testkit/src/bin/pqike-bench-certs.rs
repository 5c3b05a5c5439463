//! Handshake benchmark with certificate authentication: ML-DSA-65 (and ECDSA P-256 for
//! comparison) end-entity + intermediate chains from `pqike_crypto::pkigen`, next to the PSK
//! figure, all with x25519 + ML-KEM-768 (RFC 9370 IKE_INTERMEDIATE).
//!
//! Each handshake builds two fresh endpoints and runs IKE_SA_INIT, IKE_INTERMEDIATE and a
//! fragmented IKE_AUTH (RFC 7383 at 1280 octets) in memory: both sides sign and verify one AUTH
//! and verify the peer's two-certificate chain.
//!
//! ```text
//! cargo run --release -p pqike-testkit --bin pqike-bench-certs [PER_THREAD] [FILTER] [THREADS]
//! ```
use pqike_crypto::pkigen::{generate_chain, Chain, ChainSpec, EndEntitySpec, KeyType};
use pqike_crypto::{CryptoProvider, SystemRandom};
use pqike_proto::{EndpointConfig, Event};
use pqike_testkit::config::{PskPair, SideConfig};
use pqike_testkit::driver::{endpoint, provider, Pair, Side};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HYBRID: &str = "aes256gcm16-prfsha256-x25519-ke1_mlkem768";

struct Prepared {
    initiator: SideConfig,
    responder: SideConfig,
    crypto: Arc<dyn CryptoProvider>,
}

fn chain(kt: KeyType) -> Chain {
    let mut spec = ChainSpec::new(kt);
    spec.end_entities = vec![
        EndEntitySpec::new("initiator.test", kt),
        EndEntitySpec::new("responder.test", kt),
    ];
    generate_chain(&spec).expect("test PKI")
}

impl Prepared {
    fn new(key: Option<KeyType>) -> Prepared {
        let cfg = PskPair::new(HYBRID);
        let (mut i, mut r) = (cfg.initiator(), cfg.responder());
        if let Some(kt) = key {
            let ch = chain(kt);
            i = i.with_certs(&ch, 0);
            r = r.with_certs(&ch, 1);
        }
        Prepared {
            initiator: i,
            responder: r,
            crypto: provider(),
        }
    }

    fn handshake(&self) {
        let i = endpoint(
            EndpointConfig::default(),
            self.initiator.clone(),
            self.crypto.clone(),
            Box::new(SystemRandom),
        );
        let r = endpoint(
            EndpointConfig::default(),
            self.responder.clone(),
            self.crypto.clone(),
            Box::new(SystemRandom),
        );
        let mut pair = Pair::from_endpoints(i, r);
        assert!(pair.run_until_established(), "handshake did not complete");
        for s in [Side::Initiator, Side::Responder] {
            assert!(
                pair.events_of(s)
                    .iter()
                    .any(|e| matches!(e, Event::InstallChildSa(_))),
                "no Child SA installed"
            );
        }
    }
}

fn measure(p: Arc<Prepared>, threads: usize, per_thread: usize) -> (f64, Duration, Duration) {
    for _ in 0..per_thread.min(20) {
        p.handshake();
    }
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|_| {
                        let t = Instant::now();
                        p.handshake();
                        t.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("bench thread"))
        .collect();
    let elapsed = start.elapsed();
    lat.sort_unstable();
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    (
        lat.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let per_thread: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let filter = args.get(2).cloned().unwrap_or_default();
    let threads: Vec<usize> = match args.get(3).and_then(|s| s.parse().ok()) {
        Some(t) => vec![t],
        None => vec![1, 2],
    };
    let rows: [(&str, Option<KeyType>); 3] = [
        ("PSK", None),
        ("ECDSA P-256 certificates", Some(KeyType::EcdsaP256)),
        ("ML-DSA-65 certificates", Some(KeyType::MlDsa65)),
    ];
    println!("| authentication (x25519 + ML-KEM-768) | threads | handshakes/s | median | p99 |");
    println!("|---|---|---|---|---|");
    for (name, key) in rows {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let p = Arc::new(Prepared::new(key));
        for &t in &threads {
            let (rate, med, p99) = measure(p.clone(), t, per_thread);
            println!("| {name} | {t} | {rate:.0} | {med:.0?} | {p99:.0?} |");
        }
    }
}
