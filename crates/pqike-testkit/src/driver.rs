//! In-memory driver for two endpoints: every datagram one sends is handed to the other, and a
//! simulated clock jumps to the earliest timer when nothing is in flight.
//!
//! Call order: [`Pair::new`] (or [`Pair::from_endpoints`]), then [`Pair::initiate`], then
//! [`Pair::run_until`] / [`Pair::run_until_established`]; inspect [`Pair::events`] and, with
//! capture on, [`Pair::captured`] (for [`crate::pcap::write_pcap`]).
use crate::config::{PskPair, SideConfig, CONNECTION, INITIATOR_IP, RESPONDER_IP};
use crate::pcap::Captured;
use pqike_crypto::{awslc::AwsLcProvider, CryptoProvider, DeterministicRandom, SecureRandom};
use pqike_proto::{Command, Endpoint, EndpointConfig, Event, Transmit};
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

/// What a [`Tap`] decides about one datagram in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it (possibly after the tap modified it).
    Deliver,
    /// Lose it.
    Drop,
}

/// A hook that sees (and may modify or drop) every datagram before delivery: the sender and the
/// datagram. Used by fuzzers and fault-injection tests.
pub type Tap = Box<dyn FnMut(Side, &mut Transmit) -> Verdict + Send>;

/// Two endpoints wired back to back.
pub struct Pair {
    /// Initiator (index 0) and responder (index 1).
    pub endpoints: [Endpoint; 2],
    /// Simulated time of the run's start.
    pub start: Instant,
    /// Current simulated time.
    pub now: Instant,
    /// Events each side produced, in order (index as in `endpoints`).
    pub events: [Vec<Event>; 2],
    /// Datagrams delivered so far, when capture is on.
    captured: Option<Vec<Captured>>,
    tap: Option<Tap>,
    /// Datagrams handed over so far (also counts dropped ones).
    pub datagrams: u64,
}

/// The crypto provider the testkit uses (aws-lc-rs), shared by all pairs.
pub fn provider() -> Arc<dyn CryptoProvider> {
    Arc::new(AwsLcProvider::new())
}

/// Build one endpoint from a side's configuration.
pub fn endpoint(
    config: EndpointConfig,
    side: SideConfig,
    crypto: Arc<dyn CryptoProvider>,
    rng: Box<dyn SecureRandom>,
) -> Endpoint {
    let mut ep = Endpoint::new(config, side.connections, side.credentials, crypto, rng);
    // The engine reads no clock: the harness gives it the system's wall-clock time, which
    // the certificates testkit makes are valid around.
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    ep.set_wall_clock(std::time::Instant::now(), unix);
    ep
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
        let now = Instant::now();
        Pair {
            endpoints: [initiator, responder],
            start: now,
            now,
            events: [Vec::new(), Vec::new()],
            captured: None,
            tap: None,
            datagrams: 0,
        }
    }

    /// Record every delivered datagram (for a pcap).
    pub fn capture(mut self) -> Pair {
        self.captured = Some(Vec::new());
        self
    }

    /// Install a tap that sees every datagram before delivery.
    pub fn set_tap(&mut self, tap: Option<Tap>) {
        self.tap = tap;
    }

    /// Datagrams captured so far (empty unless [`Pair::capture`] was called).
    pub fn captured(&self) -> &[Captured] {
        self.captured.as_deref().unwrap_or(&[])
    }

    /// Mutable access to one endpoint.
    pub fn endpoint(&mut self, side: Side) -> &mut Endpoint {
        &mut self.endpoints[side.index()]
    }

    /// Events of one side.
    pub fn events_of(&self, side: Side) -> &[Event] {
        &self.events[side.index()]
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

    /// Run a command on one side.
    pub fn command(&mut self, side: Side, cmd: Command) -> Result<(), String> {
        let now = self.now;
        let r = self.endpoints[side.index()].handle_command(now, cmd);
        self.drain_events(side);
        r.map_err(|e| e.to_string())
    }

    fn drain_events(&mut self, side: Side) {
        let i = side.index();
        while let Some(e) = self.endpoints[i].poll_event() {
            self.events[i].push(e);
        }
    }

    /// Deliver everything in flight, repeatedly, until neither side has anything to send.
    /// Returns the number of datagrams moved. Stops after `limit` datagrams to catch ping-pong
    /// loops (a bug); the caller can check the return value against it.
    pub fn flush(&mut self, limit: u64) -> u64 {
        let mut moved = 0;
        loop {
            let mut any = false;
            for side in [Side::Initiator, Side::Responder] {
                while let Some(t) = self.endpoints[side.index()].poll_transmit() {
                    any = true;
                    moved += 1;
                    self.deliver(side, t);
                    if moved >= limit {
                        return moved;
                    }
                }
                self.drain_events(side);
            }
            if !any {
                return moved;
            }
        }
    }

    fn deliver(&mut self, from: Side, mut t: Transmit) {
        self.datagrams += 1;
        if let Some(tap) = self.tap.as_mut() {
            if tap(from, &mut t) == Verdict::Drop {
                return;
            }
        }
        if let Some(c) = self.captured.as_mut() {
            c.push(Captured {
                at: self.now - self.start,
                src: t.local,
                dst: t.remote,
                payload: t.payload.clone(),
            });
        }
        let to = from.peer();
        let now = self.now;
        // The receiver sees the datagram arrive on the sender's destination, from its source.
        self.endpoints[to.index()].handle_datagram(now, t.remote, t.local, &t.payload);
        self.drain_events(to);
    }

    /// The earliest timer of either side.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.endpoints
            .iter()
            .filter_map(Endpoint::poll_timeout)
            .min()
    }

    /// Jump the clock to the earliest timer (if it is before `deadline`) and fire it. Returns
    /// false if no timer is due before `deadline` (the clock then stays put).
    pub fn advance(&mut self, deadline: Instant) -> bool {
        let Some(t) = self.next_timeout() else {
            return false;
        };
        if t > deadline {
            return false;
        }
        self.now = self.now.max(t);
        let now = self.now;
        for side in [Side::Initiator, Side::Responder] {
            let ep = &mut self.endpoints[side.index()];
            if ep.poll_timeout().is_some_and(|d| d <= now) {
                ep.handle_timeout(now);
            }
            self.drain_events(side);
        }
        true
    }

    /// Move the clock forward by `d` without firing timers (the next [`Pair::advance`] or
    /// [`Pair::run_until`] fires whatever became due).
    pub fn sleep(&mut self, d: Duration) {
        self.now += d;
    }

    /// Deliver and fire timers until `done` holds or `max` simulated time has passed since the
    /// call. Returns whether `done` held.
    pub fn run_until(&mut self, max: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let deadline = self.now + max;
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
        self.events[side.index()]
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
