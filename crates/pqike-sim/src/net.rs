//! The network model between the two nodes of a [`crate::Pair`].
use crate::fixtures::{ip, A, NAT_PUBLIC};
use pqike_proto::path::{Classified, Framing};
use pqike_proto::{EndpointConfig, Transmit};
use pqike_wire::{ExchangeType, Header};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One datagram as sent, recorded for assertions (dropped ones too).
#[derive(Clone, Debug)]
pub struct Record {
    /// Sending node (0 or 1).
    pub from: usize,
    /// Simulated send time.
    pub at: Instant,
    /// Sender's address and port.
    pub local: SocketAddr,
    /// Destination address and port.
    pub remote: SocketAddr,
    /// Exchange type from the IKE header (None if it did not decode).
    pub exchange: Option<ExchangeType>,
    /// The header's Response flag.
    pub response: bool,
    /// The header's message ID.
    pub mid: u32,
    /// Datagram length (UDP payload, with any non-ESP marker).
    pub len: usize,
    /// The network lost it.
    pub dropped: bool,
    /// Its first payload is SKF (RFC 7383).
    pub fragment: bool,
    /// The datagram as sent (with any non-ESP marker); empty unless [`Net::keep_bytes`].
    pub datagram: Vec<u8>,
}

impl Record {
    /// The IKE message in the datagram (the RFC 3948 non-ESP marker removed on the NAT-T
    /// port); empty if it is not one or the bytes were not kept.
    pub fn message(&self) -> &[u8] {
        match Framing::classify(
            self.local.port(),
            &EndpointConfig::default(),
            &self.datagram,
        ) {
            Classified::Ike(_, m) => m,
            _ => &[],
        }
    }
}

/// A rule deciding whether to lose a datagram, given its record and all earlier ones.
pub type DropFn = Box<dyn FnMut(&Record, &[Record]) -> bool + Send>;

/// What a [`Tap`] decides about one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it (possibly modified by the tap).
    Deliver,
    /// Lose it.
    Drop,
}

/// A hook that sees, and may modify or drop, every datagram before the network model does:
/// the sending node and the datagram. Used by fuzzers and fault injection.
pub type Tap = Box<dyn FnMut(usize, &mut Transmit) -> Verdict + Send>;

/// A datagram on its way.
pub(crate) struct Flight {
    pub(crate) at: Instant,
    pub(crate) seq: u64,
    pub(crate) to: usize,
    /// Arrives on this local address of the receiver...
    pub(crate) dst: SocketAddr,
    /// ...from this source.
    pub(crate) src: SocketAddr,
    pub(crate) data: Vec<u8>,
}

/// The network: per-direction latency, an MTU, random loss/duplication/jitter/corruption from
/// a seeded generator, scripted drops, and an optional NAT in front of node 0 that rewrites its
/// source address to [`NAT_PUBLIC`].
pub struct Net {
    /// One-way latency of datagrams sent by node 0 and by node 1.
    pub latency: [Duration; 2],
    /// Largest IP datagram delivered (UDP payload + 28 octets of IPv4/UDP headers).
    pub mtu: usize,
    /// Probability of losing a datagram.
    pub loss: f64,
    /// Probability of delivering a datagram twice.
    pub duplicate: f64,
    /// Extra random delay up to this much (reorders datagrams).
    pub jitter: Duration,
    /// 0-based indices (in send order) of datagrams to lose.
    pub drop_indices: Vec<usize>,
    /// A scripted loss rule.
    pub drop: DropFn,
    /// A tap run on every datagram first.
    pub tap: Option<Tap>,
    /// Probability of delivering, after the original, a copy with one bit flipped.
    pub corrupt: f64,
    /// Node 0 sits behind a NAT.
    pub nat: bool,
    /// Keep each datagram's bytes in its [`Record`] (off for large runs).
    pub keep_bytes: bool,
    /// Keep [`Record`]s at all (off for large runs).
    pub keep_records: bool,
    /// Every datagram sent, in order.
    pub sent: Vec<Record>,
    /// Datagrams sent so far (also counts those no longer in `sent`).
    pub datagrams: u64,
    pub(crate) in_flight: Vec<Flight>,
    prng: u64,
    seq: u64,
}

impl Net {
    /// A perfect network with 10 ms latency and a 1500-octet MTU; `seed` drives every random
    /// decision.
    pub fn new(seed: u64) -> Net {
        Net {
            latency: [Duration::from_millis(10); 2],
            mtu: 1500,
            loss: 0.0,
            duplicate: 0.0,
            jitter: Duration::ZERO,
            drop_indices: Vec::new(),
            drop: Box::new(|_, _| false),
            tap: None,
            corrupt: 0.0,
            nat: false,
            keep_bytes: true,
            keep_records: true,
            sent: Vec::new(),
            datagrams: 0,
            in_flight: Vec::new(),
            prng: seed | 1,
            seq: 0,
        }
    }

    /// The same latency both ways.
    pub fn set_latency(&mut self, d: Duration) {
        self.latency = [d; 2];
    }

    /// xorshift64*: a seeded PRNG for the random decisions.
    fn rand(&mut self) -> f64 {
        self.prng ^= self.prng >> 12;
        self.prng ^= self.prng << 25;
        self.prng ^= self.prng >> 27;
        (self.prng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Datagrams sent that match `f`.
    pub fn count(&self, f: impl Fn(&Record) -> bool) -> usize {
        self.sent.iter().filter(|r| f(r)).count()
    }

    /// The earliest arrival in flight.
    pub(crate) fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.iter().map(|f| f.at).min()
    }

    /// Take the datagrams due by `now`, in arrival order.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Flight> {
        let (mut due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|f| f.at <= now);
        self.in_flight = rest;
        due.sort_by_key(|f| (f.at, f.seq));
        due
    }

    /// Node `from` sends `t` at `now`.
    pub(crate) fn send(&mut self, now: Instant, from: usize, mut t: Transmit) {
        let idx = self.datagrams as usize;
        self.datagrams += 1;
        let tapped = match self.tap.as_mut() {
            Some(tap) => tap(from, &mut t),
            None => Verdict::Deliver,
        };
        // The sender's framing: the non-ESP marker on the NAT-T port (RFC 3948 §2.2).
        let cfg = EndpointConfig::default();
        let ike = match Framing::classify(t.local.port(), &cfg, &t.payload) {
            Classified::Ike(_, m) => m,
            _ => &[],
        };
        let header = Header::decode(ike).ok();
        let mut rec = Record {
            from,
            at: now,
            local: t.local,
            remote: t.remote,
            exchange: header.map(|h| h.exchange),
            response: header.is_some_and(|h| h.flags.response),
            mid: header.map_or(0, |h| h.message_id),
            len: t.payload.len(),
            dropped: false,
            fragment: header.is_some_and(|h| h.next_payload.0 == 53),
            datagram: if self.keep_bytes {
                t.payload.clone()
            } else {
                Vec::new()
            },
        };
        let mut drop = tapped == Verdict::Drop
            || self.drop_indices.contains(&idx)
            || t.payload.len() + 28 > self.mtu
            || (self.drop)(&rec, &self.sent);
        if self.loss > 0.0 && self.rand() < self.loss {
            drop = true;
        }
        rec.dropped = drop;
        if self.keep_records {
            self.sent.push(rec);
        }
        if drop {
            return;
        }
        let to = 1 - from;
        // The NAT rewrites node 0's source; the reverse direction is mapped back.
        let mut src = t.local;
        let mut dst = t.remote;
        if self.nat && from == 0 {
            src.set_ip(ip(NAT_PUBLIC));
        }
        if self.nat && to == 0 {
            dst.set_ip(ip(A));
        }
        let copies = if self.duplicate > 0.0 && self.rand() < self.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if self.jitter.is_zero() {
                Duration::ZERO
            } else {
                self.jitter.mul_f64(self.rand())
            };
            self.seq += 1;
            self.in_flight.push(Flight {
                at: now + self.latency[from] + jitter,
                seq: self.seq,
                to,
                dst,
                src,
                data: t.payload.clone(),
            });
        }
        if self.corrupt > 0.0 && self.rand() < self.corrupt {
            let mut bad = t.payload.clone();
            let pos = (self.rand() * bad.len() as f64) as usize % bad.len().max(1);
            let bit = (self.rand() * 8.0) as u32 % 8;
            if let Some(b) = bad.get_mut(pos) {
                *b ^= 1 << bit;
            }
            self.seq += 1;
            self.in_flight.push(Flight {
                at: now + self.latency[from] * 2,
                seq: self.seq,
                to,
                dst,
                src,
                data: bad,
            });
        }
    }
}
