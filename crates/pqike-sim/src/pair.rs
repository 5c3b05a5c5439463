//! Two endpoints, a [`Net`] between them, a simulated clock and a mock data plane.
use crate::dataplane::{DataPlane, Traffic};
use crate::net::Net;
use pqike_crypto::{awslc::AwsLcProvider, CryptoProvider, DeterministicRandom};
use pqike_proto::{
    ChildSaKeys, Command, ConnectionConfig, Credentials, DownReason, Endpoint, EndpointConfig,
    Event, IkeSaKeyLog, IkeSaStatus, IkeState,
};
use pqike_wire::ExchangeType;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Two endpoints wired through a [`Net`] (node 0 usually initiates).
pub struct Pair {
    /// The endpoints.
    pub eps: [Endpoint; 2],
    /// Every event each endpoint produced, in order.
    pub events: [Vec<Event>; 2],
    /// The network.
    pub net: Net,
    /// Each node's mock data plane (fed from the events).
    pub dp: [DataPlane; 2],
    /// Data traffic over the mock data planes (off until [`Pair::start_traffic`]).
    pub traffic: Traffic,
    /// Simulated time of the start.
    pub start: Instant,
    /// Current simulated time.
    pub now: Instant,
    /// [`Pair::drive`] stops when nothing is due within this span (None: only when idle).
    pub horizon: Option<Duration>,
}

/// The crypto provider of the simulations (aws-lc-rs), shared by both nodes.
pub fn provider() -> Arc<dyn CryptoProvider> {
    Arc::new(AwsLcProvider::new())
}

/// A provider whose key generation draws from a generator seeded with `seed`
/// (pqike-crypto's `testing` provider): with it, and the engine's seeded randomness, a
/// simulation is byte-for-byte reproducible (signatures other than Ed25519 stay randomized).
pub fn seeded_provider(seed: u64) -> Arc<dyn CryptoProvider> {
    Arc::new(pqike_crypto::testing::aws_lc_seeded(seed))
}

/// The system's wall-clock time in Unix seconds (the harness, not the engine, reads it).
fn system_unix_time() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Pair {
    /// Endpoints from these settings, one connection each, randomness seeded 1 and 2.
    pub fn new(
        cfg: [EndpointConfig; 2],
        conns: [ConnectionConfig; 2],
        creds: [Credentials; 2],
        net: Net,
    ) -> Pair {
        Pair::with_seeds(cfg, conns.map(|c| vec![c]), creds, net, [1, 2])
    }

    /// Endpoints from these settings and connection lists, randomness from `seeds`.
    pub fn with_seeds(
        cfg: [EndpointConfig; 2],
        conns: [Vec<ConnectionConfig>; 2],
        creds: [Credentials; 2],
        net: Net,
        seeds: [u64; 2],
    ) -> Pair {
        Pair::with_providers(cfg, conns, creds, net, seeds, [provider(), provider()])
    }

    /// As [`Pair::with_seeds`], each node with its own crypto provider (e.g.
    /// [`seeded_provider`] for byte-reproducible runs, or one composed with an extra key
    /// exchange).
    pub fn with_providers(
        cfg: [EndpointConfig; 2],
        conns: [Vec<ConnectionConfig>; 2],
        creds: [Credentials; 2],
        net: Net,
        seeds: [u64; 2],
        crypto: [Arc<dyn CryptoProvider>; 2],
    ) -> Pair {
        let [x0, x1] = crypto;
        let [c0, c1] = cfg;
        let [k0, k1] = conns;
        let [r0, r1] = creds;
        let ep =
            |c, k, r, x, seed| Endpoint::new(c, k, r, x, Box::new(DeterministicRandom::new(seed)));
        Pair::from_endpoints(
            [ep(c0, k0, r0, x0, seeds[0]), ep(c1, k1, r1, x1, seeds[1])],
            net,
        )
    }

    /// Wire up two existing endpoints; the simulated clock starts now and both endpoints get the
    /// system's wall-clock time.
    pub fn from_endpoints(eps: [Endpoint; 2], net: Net) -> Pair {
        crate::logs::init_env_logger();
        let now = Instant::now();
        let mut p = Pair {
            eps,
            events: [Vec::new(), Vec::new()],
            net,
            dp: [DataPlane::default(), DataPlane::default()],
            traffic: Traffic::default(),
            start: now,
            now,
            horizon: None,
        };
        p.set_wall_clock(system_unix_time());
        p
    }

    /// Tell both endpoints the wall-clock time (Unix seconds) at the current simulated time.
    pub fn set_wall_clock(&mut self, unix: i64) {
        for ep in &mut self.eps {
            ep.set_wall_clock(self.now, unix);
        }
    }

    /// Hand every pending transmit to the network and record every event.
    pub fn drain(&mut self) {
        for i in 0..2 {
            while let Some(t) = self.eps[i].poll_transmit() {
                self.net.send(self.now, i, t);
            }
            while let Some(e) = self.eps[i].poll_event() {
                self.dp[i].apply(&e);
                self.events[i].push(e);
            }
        }
    }

    /// The earliest thing that will happen: an arrival, a timer, or data traffic.
    pub fn next_event(&self) -> Option<Instant> {
        let timer = self.eps.iter().filter_map(Endpoint::poll_timeout).min();
        [self.net.next_arrival(), timer, self.traffic.next_event()]
            .into_iter()
            .flatten()
            .min()
    }

    /// One step: drain, jump to the next event if it is at or before `until`, deliver what
    /// arrived, fire due timers, run the data plane. False if nothing is due by `until` (the
    /// clock then stays put).
    pub fn step(&mut self, until: Instant) -> bool {
        self.drain();
        let Some(next) = self.next_event().filter(|n| *n <= until) else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        for f in self.net.due(now) {
            self.eps[f.to].handle_datagram(now, f.dst, f.src, &f.data);
        }
        for ep in &mut self.eps {
            if ep.poll_timeout().is_some_and(|t| t <= now) {
                ep.handle_timeout(now);
            }
        }
        self.drain();
        self.traffic.run(now, &self.dp, self.net.latency);
        true
    }

    /// Run until nothing is in flight or scheduled (or nothing within [`Pair::horizon`]).
    pub fn drive(&mut self) {
        let horizon = self
            .horizon
            .unwrap_or(Duration::from_secs(100 * 365 * 86_400));
        self.drive_within(horizon);
    }

    /// Run until idle or until nothing is due within `horizon` (established SAs keep rekey
    /// timers hours ahead).
    pub fn drive_within(&mut self, horizon: Duration) {
        let until = self.now + horizon;
        for _ in 0..1_000_000 {
            if !self.step(until) {
                return;
            }
        }
        panic!("simulation did not become idle");
    }

    /// Run up to `until`; the clock ends there.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..10_000_000 {
            if !self.step(until) {
                self.now = self.now.max(until);
                return;
            }
        }
        panic!("simulation did not reach the deadline");
    }

    /// Run for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.now + d;
        self.run_until(t);
    }

    /// Start data traffic now.
    pub fn start_traffic(&mut self) {
        self.traffic.tick = Some(self.now);
    }

    /// Run a command on node `i`; panics if the engine refuses it.
    pub fn command(&mut self, i: usize, c: Command) {
        if let Err(e) = self.eps[i].handle_command(self.now, c) {
            panic!("node {i} refused the command: {e}");
        }
    }

    /// Node 0 initiates connection "c" and the pair runs until idle.
    pub fn initiate(&mut self) {
        self.command(
            0,
            Command::Initiate {
                connection: "c".into(),
            },
        );
        self.drive();
    }

    /// Node 0 initiates connection "c"; the pair runs for 2 s, node 0 must be up, and data
    /// traffic starts (for runs with lifetimes, which never become idle).
    pub fn initiate_with_traffic(&mut self) {
        self.command(
            0,
            Command::Initiate {
                connection: "c".into(),
            },
        );
        self.run_for(Duration::from_secs(2));
        assert_eq!(self.ups(0).len(), 1, "node 0 events: {:?}", self.events[0]);
        self.start_traffic();
    }

    /// Status of each IKE SA node `i` reported up.
    pub fn ups(&self, i: usize) -> Vec<&IkeSaStatus> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::IkeUp { status, .. } => Some(status),
                _ => None,
            })
            .collect()
    }

    /// Why each IKE SA of node `i` went down.
    pub fn downs(&self, i: usize) -> Vec<&DownReason> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::IkeDown { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }

    /// Child SAs node `i` installed in both directions at once.
    pub fn installs(&self, i: usize) -> Vec<&ChildSaKeys> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::InstallChildSa(k) => Some(k),
                _ => None,
            })
            .collect()
    }

    /// Every Child SA node `i` installed, also inbound-first ones (rekey responder).
    pub fn installs_any(&self, i: usize) -> Vec<&ChildSaKeys> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::InstallChildSa(k) | Event::InstallChildSaInbound(k) => Some(k),
                _ => None,
            })
            .collect()
    }

    /// Child SAs node `i` removed.
    pub fn removes(&self, i: usize) -> usize {
        self.events[i]
            .iter()
            .filter(|e| matches!(e, Event::RemoveChildSa { .. }))
            .count()
    }

    /// The one-line summaries of the messages node `i` sent and received.
    pub fn summaries(&self, i: usize) -> Vec<&str> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::Exchange { summary, .. } => Some(summary.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The first summary of node `i` that contains `needle`; panics if there is none.
    pub fn summary(&self, i: usize, needle: &str) -> String {
        self.summaries(i)
            .into_iter()
            .find(|s| s.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {:?}", self.summaries(i)))
            .to_string()
    }

    /// Messages (not datagrams: fragments count once) node `i` logged starting with `prefix`.
    pub fn sent_msgs(&self, i: usize, prefix: &str) -> usize {
        self.summaries(i)
            .iter()
            .filter(|s| s.starts_with(prefix))
            .count()
    }

    /// Datagrams of exchange `ex` that were requests (`response` false) or responses.
    pub fn count_sent(&self, ex: ExchangeType, response: bool) -> usize {
        self.net
            .count(|r| r.exchange == Some(ex) && r.response == response)
    }

    /// The key logs (RFC-less `Event::IkeSaKeys`) node `i` produced.
    pub fn key_logs(&self, i: usize) -> Vec<IkeSaKeyLog> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::IkeSaKeys(k) => Some(k.clone()),
                _ => None,
            })
            .collect()
    }

    /// Both nodes report one IKE SA up with one Child SA, with mirrored keys.
    pub fn assert_up_with_child(&self) -> (&ChildSaKeys, &ChildSaKeys) {
        assert_eq!(self.ups(0).len(), 1, "node 0 events: {:?}", self.events[0]);
        assert_eq!(self.ups(1).len(), 1, "node 1 events: {:?}", self.events[1]);
        let (a, b) = (self.installs(0), self.installs(1));
        assert_eq!((a.len(), b.len()), (1, 1));
        assert_eq!(a[0].key_in, b[0].key_out);
        assert_eq!(a[0].key_out, b[0].key_in);
        (a[0], b[0])
    }

    /// Every install on one side has a mirror install on the other (same keys, swapped).
    pub fn assert_installs_mirror(&self) {
        let (a, b) = (self.installs_any(0), self.installs_any(1));
        assert_eq!(a.len(), b.len(), "installs differ");
        for k in &a {
            let m = b
                .iter()
                .find(|o| o.spi_in == k.spi_out)
                .unwrap_or_else(|| panic!("no mirror for {:08x}", k.spi_in));
            assert_eq!(m.spi_out, k.spi_in);
            assert_eq!(m.key_in, k.key_out);
            assert_eq!(m.key_out, k.key_in);
        }
    }

    /// Both nodes hold exactly one established IKE SA with the same SPIs and the same `children`
    /// mirrored Child SAs, and their data planes hold that many inbound SAs.
    pub fn assert_consistent(&self, children: usize) {
        let (s0, s1) = (self.eps[0].status(), self.eps[1].status());
        assert_eq!((s0.len(), s1.len()), (1, 1), "IKE SAs: {s0:#?} {s1:#?}");
        let (a, b) = (&s0[0], &s1[0]);
        assert_eq!(a.state, IkeState::Established);
        assert_eq!((a.spi_i, a.spi_r), (b.spi_i, b.spi_r));
        assert_eq!(a.children.len(), children, "{:#?}", a.children);
        assert_eq!(b.children.len(), children, "{:#?}", b.children);
        for c in &a.children {
            assert!(
                b.children
                    .iter()
                    .any(|d| d.spi_in == c.spi_out && d.spi_out == c.spi_in),
                "child {:08x} has no mirror",
                c.spi_in
            );
        }
        for i in 0..2 {
            assert_eq!(
                self.dp[i].inbound.len(),
                children,
                "data plane {i} inbound SAs"
            );
        }
    }
}
