//! The handshake benchmark: complete IKE SA setups (IKE_SA_INIT, any IKE_INTERMEDIATE rounds,
//! IKE_AUTH with PSK and one Child SA), initiator and responder engines in one process.
//!
//! Every handshake uses two fresh endpoints (so no state accumulates between iterations) with
//! the system RNG and the shared aws-lc-rs provider; the time of one handshake covers building
//! both endpoints from the prepared configuration, all messages both ways, and every key
//! exchange, AUTH computation and SK protection on both sides.
use crate::config::{PskPair, SideConfig};
use crate::driver::{endpoint, provider, Pair, Side};
use pqike_crypto::{CryptoProvider, SystemRandom};
use pqike_proto::EndpointConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One benchmark row: a name and the IKE proposal both sides use.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Row label.
    pub name: &'static str,
    /// IKE proposal string (see [`crate::proposal`]).
    pub proposal: &'static str,
}

/// The three rows of `docs/performance.md`: hybrid (the headline), classic, pure PQ.
pub const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "x25519 + ML-KEM-768 (IKE_INTERMEDIATE)",
        proposal: "aes256gcm16-prfsha256-x25519-ke1_mlkem768",
    },
    Scenario {
        name: "x25519",
        proposal: "aes256gcm16-prfsha256-x25519",
    },
    Scenario {
        name: "ML-KEM-768 (IKE_SA_INIT)",
        proposal: "aes256gcm16-prfsha256-mlkem768",
    },
];

/// Everything prepared once per scenario; [`Prepared::handshake`] runs one setup.
pub struct Prepared {
    initiator: SideConfig,
    responder: SideConfig,
    crypto: Arc<dyn CryptoProvider>,
}

impl Prepared {
    /// Prepare configs for `scenario`.
    pub fn new(scenario: &Scenario) -> Prepared {
        let cfg = PskPair::new(scenario.proposal);
        Prepared {
            initiator: cfg.initiator(),
            responder: cfg.responder(),
            crypto: provider(),
        }
    }

    /// Run one complete handshake.
    ///
    /// # Panics
    /// If the IKE SA does not come up on both sides with the child installed: a benchmark of a
    /// failing handshake would measure nothing useful.
    pub fn handshake(&self) {
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
        let child = |s| {
            pair.events_of(s)
                .iter()
                .any(|e| matches!(e, pqike_proto::Event::InstallChildSa(_)))
        };
        assert!(
            child(Side::Initiator) && child(Side::Responder),
            "no Child SA installed"
        );
    }
}

/// Measured figures for one scenario and thread count.
#[derive(Clone, Debug)]
pub struct Figures {
    /// Threads used (each with its own endpoint pairs).
    pub threads: usize,
    /// Handshakes completed.
    pub handshakes: usize,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// Median latency of one handshake.
    pub median: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

impl Figures {
    /// Handshakes per second.
    pub fn rate(&self) -> f64 {
        self.handshakes as f64 / self.elapsed.as_secs_f64()
    }
}

/// Run `per_thread` handshakes on each of `threads` threads (after a short warm-up) and
/// collect rate and latency percentiles.
pub fn measure(scenario: &Scenario, threads: usize, per_thread: usize) -> Figures {
    let prepared = Arc::new(Prepared::new(scenario));
    for _ in 0..per_thread.min(50) {
        prepared.handshake();
    }
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let p = prepared.clone();
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
        .flat_map(|h| h.join().expect("benchmark thread panicked"))
        .collect();
    let elapsed = start.elapsed();
    lat.sort_unstable();
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    Figures {
        threads,
        handshakes: lat.len(),
        elapsed,
        median: pct(0.5),
        p99: pct(0.99),
    }
}
