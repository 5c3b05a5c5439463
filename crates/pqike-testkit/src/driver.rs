//! In-memory driver for two endpoints, built on the one simulation harness (`pqike-sim`):
//! every datagram one sends is handed to the other at once, and the simulated clock jumps to
//! the earliest timer when nothing is in flight.
//!
//! Call order: [`Pair::new`] (or [`Pair::from_endpoints`]), then [`Pair::initiate`], then
//! [`Pair::run_until`] / [`Pair::run_until_established`]; inspect [`Pair::events`] and, with
//! capture on, [`Pair::captured`] (for [`crate::pcap::write_pcap`]).
use crate::config::{PskPair, SideConfig, CONNECTION, INITIATOR_IP, RESPONDER_IP};
use crate::pcap::Captured;
use pqike_crypto::{CryptoProvider, DeterministicRandom, SecureRandom};
use pqike_proto::{Command, Endpoint, EndpointConfig, Event, Transmit};
use pqike_sim::Net;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which endpoint of a [`Pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The endpoint that initiates (index 0).
    Initiator,
    /// The endpoint that responds (index 1).
    Responder,
}

impl Side {
    fn of(node: usize) -> Side {
        if node == 0 {
            Side::Initiator
        } else {
            Side::Responder
        }
    }
    fn index(self) -> usize {
        match self {
            Side::Initiator => 0,
            Side::Responder => 1,
        }
    }
    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::Initiator => Side::Responder,
            Side::Responder => Side::Initiator,
        }
    }
}

pub use pqike_sim::Verdict;

/// A hook that sees (and may modify or drop) every datagram before delivery: the sender and the
/// datagram. Used by fuzzers and fault-injection tests.
pub type Tap = Box<dyn FnMut(Side, &mut Transmit) -> Verdict + Send>;

/// Two endpoints wired back to back: the [`pqike_sim::Pair`] harness with no latency, seen
/// through initiator/responder [`Side`]s. It dereferences to the simulation (`events`, `eps`,
/// `now`, `net`).
pub struct Pair {
    sim: pqike_sim::Pair,
    capture: bool,
}

impl std::ops::Deref for Pair {
    type Target = pqike_sim::Pair;
    fn deref(&self) -> &pqike_sim::Pair {
        &self.sim
    }
}

impl std::ops::DerefMut for Pair {
    fn deref_mut(&mut self) -> &mut pqike_sim::Pair {
        &mut self.sim
    }
}

/// The crypto provider the testkit uses (aws-lc-rs), shared by all pairs.
pub fn provider() -> Arc<dyn CryptoProvider> {
    pqike_sim::provider()
}

/// Build one endpoint from a side's configuration.
pub fn endpoint(
    config: EndpointConfig,
    side: SideConfig,
    crypto: Arc<dyn CryptoProvider>,
    rng: Box<dyn SecureRandom>,
) -> Endpoint {
    // The wall clock is given by the pair ([`pqike_sim::Pair::from_endpoints`]).
    Endpoint::new(config, side.connections, side.credentials, crypto, rng)
}

impl Pair {
    /// A pair for `cfg` with default endpoint settings and deterministic randomness from `seed`
    /// (the responder uses `seed + 1`).
    pub fn new(cfg: &PskPair, seed: u64) -> Pair {
        Pair::with_configs(
            cfg,
            EndpointConfig::default(),
            EndpointConfig::default(),
            seed,
        )
    }

    /// A pair with explicit endpoint settings (cookie threshold, fragment size, DPD...).
    pub fn with_configs(
        cfg: &PskPair,
        initiator: EndpointConfig,
        responder: EndpointConfig,
        seed: u64,
    ) -> Pair {
        let crypto = provider();
        let i = endpoint(
            initiator,
            cfg.initiator(),
            crypto.clone(),
            Box::new(DeterministicRandom::new(seed)),
        );
        let r = endpoint(
            responder,
            cfg.responder(),
            crypto,
            Box::new(DeterministicRandom::new(seed.wrapping_add(1))),
        );
        Pair::from_endpoints(i, r)
    }

    /// Wire up two existing endpoints; the clock starts now.
    pub fn from_endpoints(initiator: Endpoint, responder: Endpoint) -> Pair {
        let mut net = Net::new(1);
        net.set_latency(Duration::ZERO);
        // Bytes are kept only for a capture.
        net.keep_bytes = false;
        Pair {
            sim: pqike_sim::Pair::from_endpoints([initiator, responder], net),
            capture: false,
        }
    }

    /// Record every delivered datagram (for a pcap).
    pub fn capture(mut self) -> Pair {
        self.capture = true;
        self.sim.net.keep_bytes = true;
        self
    }

    /// Install a tap that sees every datagram before delivery.
    pub fn set_tap(&mut self, tap: Option<Tap>) {
        self.sim.net.tap =
            tap.map(|mut f| -> pqike_sim::Tap { Box::new(move |from, t| f(Side::of(from), t)) });
    }

    /// Datagrams delivered so far (empty unless [`Pair::capture`] was called).
    pub fn captured(&self) -> Vec<Captured> {
        if !self.capture {
            return Vec::new();
        }
        let start = self.sim.start;
        self.sim
            .net
            .sent
            .iter()
            .filter(|r| !r.dropped)
            .map(|r| Captured {
                at: r.at - start,
                src: r.local,
                dst: r.remote,
                payload: r.datagram.clone(),
            })
            .collect()
    }

    /// Mutable access to one endpoint.
    pub fn endpoint(&mut self, side: Side) -> &mut Endpoint {
        &mut self.sim.eps[side.index()]
    }

    /// Events of one side.
    pub fn events_of(&self, side: Side) -> &[Event] {
        &self.sim.events[side.index()]
    }

    /// Send `Command::Initiate` for the test connection to the initiator.
    pub fn initiate(&mut self) -> Result<(), String> {
        self.command(
            Side::Initiator,
            Command::Initiate {
                connection: CONNECTION.to_owned(),
            },
        )
    }

    /// Run a command on one side (its transmits stay queued until the next flush).
    pub fn command(&mut self, side: Side, cmd: Command) -> Result<(), String> {
        let now = self.sim.now;
        let i = side.index();
        let r = self.sim.eps[i].handle_command(now, cmd);
        while let Some(e) = self.sim.eps[i].poll_event() {
            self.sim.dp[i].apply(&e);
            self.sim.events[i].push(e);
        }
        r.map_err(|e| e.to_string())
    }

    /// Deliver everything in flight, repeatedly, until neither side has anything to send.
    /// Returns the number of datagrams moved. Stops after `limit` datagrams to catch ping-pong
    /// loops (a bug); the caller can check the return value against it.
    pub fn flush(&mut self, limit: u64) -> u64 {
        let first = self.sim.net.datagrams;
        loop {
            let now = self.sim.now;
            let stepped = self.sim.step(now);
            let moved = self.sim.net.datagrams - first;
            if moved >= limit || !stepped {
                return moved;
            }
        }
    }

    /// The earliest timer of either side.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.sim.eps.iter().filter_map(Endpoint::poll_timeout).min()
    }

    /// Jump the clock to the earliest timer (if it is before `deadline`) and fire it. Returns
    /// false if no timer is due before `deadline` (the clock then stays put).
    pub fn advance(&mut self, deadline: Instant) -> bool {
        self.sim.step(deadline)
    }

    /// Move the clock forward by `d` without firing timers (the next [`Pair::advance`] or
    /// [`Pair::run_until`] fires whatever became due).
    pub fn sleep(&mut self, d: Duration) {
        self.sim.now += d;
    }

    /// Deliver and fire timers until `done` holds or `max` simulated time has passed since the
    /// call. Returns whether `done` held.
    pub fn run_until(&mut self, max: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let deadline = self.sim.now + max;
        loop {
            self.flush(10_000);
            if done(self) {
                return true;
            }
            if !self.advance(deadline) {
                return done(self);
            }
        }
    }

    /// Whether `side` has reported an IKE SA up.
    pub fn is_up(&self, side: Side) -> bool {
        self.sim.events[side.index()]
            .iter()
            .any(|e| matches!(e, Event::IkeUp { .. }))
    }

    /// Initiate and run until both sides report the IKE SA up (or 60 s simulated time passed).
    pub fn run_until_established(&mut self) -> bool {
        if self.initiate().is_err() {
            return false;
        }
        self.run_until(Duration::from_secs(60), |p| {
            p.is_up(Side::Initiator) && p.is_up(Side::Responder)
        })
    }
}

/// Initiator's IKE address (port 500).
pub fn initiator_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(INITIATOR_IP), 500)
}

/// Responder's IKE address (port 500).
pub fn responder_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(RESPONDER_IP), 500)
}
