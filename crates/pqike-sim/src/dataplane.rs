//! A mock data plane: what each node has installed, and a traffic generator that shows whether
//! a packet would have been lost (make-before-break across rekeys, RFC 7296 §2.8).
use pqike_proto::Event;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// One node's installed Child SAs: inbound SAs by SPI, the outbound SA of each child (newest
/// wins).
#[derive(Default)]
pub struct DataPlane {
    /// Inbound SAs: SPI → key.
    pub inbound: HashMap<u32, Zeroizing<Vec<u8>>>,
    /// Outbound SAs: our inbound SPI → (install order, outbound SPI, outbound key).
    pub outbound: BTreeMap<u32, (u64, u32, Zeroizing<Vec<u8>>)>,
    /// Inbound-only SAs waiting for activation: SPI → (outbound SPI, outbound key).
    pub pending: HashMap<u32, (u32, Zeroizing<Vec<u8>>)>,
    /// Install counter (orders outbound SAs).
    pub order: u64,
}

impl DataPlane {
    /// Apply one engine event, as the daemon's data plane would.
    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::InstallChildSa(k) => {
                self.order += 1;
                self.inbound.insert(k.spi_in, k.key_in.0.clone());
                self.outbound
                    .insert(k.spi_in, (self.order, k.spi_out, k.key_out.0.clone()));
            }
            Event::InstallChildSaInbound(k) => {
                self.inbound.insert(k.spi_in, k.key_in.0.clone());
                self.pending
                    .insert(k.spi_in, (k.spi_out, k.key_out.0.clone()));
            }
            Event::ActivateChildSa { spi_in, .. } => {
                // Activating an SA that was never installed is an engine bug: fail the test.
                let Some((spi_out, key)) = self.pending.remove(spi_in) else {
                    panic!("ActivateChildSa {spi_in:08x} without InstallChildSaInbound");
                };
                self.order += 1;
                self.outbound.insert(*spi_in, (self.order, spi_out, key));
            }
            Event::RemoveChildSa { spi_in, .. } => {
                self.inbound.remove(spi_in);
                self.outbound.remove(spi_in);
                self.pending.remove(spi_in);
            }
            _ => {}
        }
    }
}

/// Traffic between the nodes: once started, each node sends one packet every 50 ms on its
/// newest outbound SA; a packet is lost if the receiver has no inbound SA with that SPI and key
/// when it arrives.
#[derive(Default)]
pub struct Traffic {
    /// The next send time; `None` while traffic is off.
    pub tick: Option<Instant>,
    /// Packets in flight: (arrival, receiver, SPI, key).
    pub(crate) in_flight: Vec<(Instant, usize, u32, Zeroizing<Vec<u8>>)>,
    /// Packets that found their SA.
    pub delivered: u64,
    /// Packets that did not.
    pub lost: u64,
}

impl Traffic {
    /// Interval between packets of one node.
    pub const INTERVAL: Duration = Duration::from_millis(50);

    pub(crate) fn next_event(&self) -> Option<Instant> {
        let arrival = self.in_flight.iter().map(|d| d.0).min();
        [arrival, self.tick].into_iter().flatten().min()
    }

    /// Deliver due packets, then send if the tick is due.
    pub(crate) fn run(&mut self, now: Instant, dp: &[DataPlane; 2], latency: [Duration; 2]) {
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|d| d.0 <= now);
        self.in_flight = rest;
        for (_, to, spi, key) in due {
            match dp[to].inbound.get(&spi) {
                Some(k) if *k == key => self.delivered += 1,
                _ => self.lost += 1,
            }
        }
        let Some(t) = self.tick else { return };
        if now < t {
            return;
        }
        self.tick = Some(t + Self::INTERVAL);
        for (i, plane) in dp.iter().enumerate() {
            if let Some((_, spi, key)) = plane.outbound.values().max_by_key(|v| v.0) {
                self.in_flight
                    .push((now + latency[i], 1 - i, *spi, key.clone()));
            }
        }
    }
}
