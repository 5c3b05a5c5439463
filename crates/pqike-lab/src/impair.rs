//! The userspace impairment stage: loss, delay, reordering and duplication for the IKE
//! datagrams that the router namespace forwards.
//!
//! The kernel here has no netem, so the router sends UDP 500/4500 to NFQUEUE (an
//! `iptables -j NFQUEUE` rule: this kernel has xt_NFQUEUE but no nft `queue` expression)
//! and this loop decides each packet's fate. Decisions come from a seeded PRNG, one draw
//! sequence per packet in arrival order, so the same seed gives the same drop pattern.
//! Reordering is what jitter produces: a packet held longer is released after a later one.
//! Duplicates are sent again through a raw socket (the original is accepted as usual).
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

/// What the stage does to each packet.
#[derive(Clone, Debug, PartialEq)]
pub struct ImpairSpec {
    /// NFQUEUE number the router's rule sends to.
    pub queue: u16,
    /// Probability of dropping a packet (0.05 = 5 %).
    pub loss: f64,
    /// Base one-way delay added to every packet that is not dropped.
    pub delay_ms: u64,
    /// Extra uniformly distributed delay 0..jitter_ms (this is what reorders).
    pub jitter_ms: u64,
    /// Probability of sending a packet twice.
    pub dup: f64,
    /// PRNG seed.
    pub seed: u64,
}

/// SplitMix64: tiny, seedable, good enough for per-packet coin flips.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The fate of one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Drop,
    Pass { delay_ms: u64, dup: bool },
}

/// Decide the fate of the next packet. Always draws the same number of values per packet,
/// so one packet's outcome never shifts the draws of the ones after it.
pub fn decide(spec: &ImpairSpec, rng: &mut Rng) -> Fate {
    let (l, j, d) = (rng.next_f64(), rng.next_u64(), rng.next_f64());
    if l < spec.loss {
        return Fate::Drop;
    }
    let jitter = if spec.jitter_ms > 0 {
        j % (spec.jitter_ms + 1)
    } else {
        0
    };
    Fate::Pass {
        delay_ms: spec.delay_ms + jitter,
        dup: d < spec.dup,
    }
}

/// The first seed >= 1 whose first drop hits packet `lo..=hi` (1-based) of the run, so a
/// 5 % loss case really loses a datagram of the handshake, reproducibly.
pub fn seed_dropping_early(spec: &ImpairSpec, lo: u64, hi: u64) -> u64 {
    (1..10_000)
        .find(|seed| {
            let mut r = Rng::new(*seed);
            let first = (1..=hi).find(|_| decide(spec, &mut r) == Fate::Drop);
            first.is_some_and(|n| n >= lo)
        })
        .unwrap_or(1)
}

/// Short description of an IPv4/UDP packet for the impairment log.
fn describe(pkt: &[u8]) -> String {
    if pkt.len() < 28 || pkt[0] >> 4 != 4 {
        return format!("{} bytes (not IPv4)", pkt.len());
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
    let ports = pkt
        .get(ihl..ihl + 4)
        .map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            )
        })
        .unwrap_or((0, 0));
    format!("{src}:{} -> {dst}:{} {} bytes", ports.0, ports.1, pkt.len())
}

/// Run the stage until killed; one log line per packet on stdout.
pub fn run(spec: &ImpairSpec) -> io::Result<()> {
    let mut q = nfq::Queue::open()?;
    q.bind(spec.queue)?;
    q.set_nonblocking(true);
    // IPPROTO_RAW implies IP_HDRINCL: the duplicate is the original packet, header and all
    let raw = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::RAW,
        Some(socket2::Protocol::from(255)),
    )?;
    let mut rng = Rng::new(spec.seed);
    let start = Instant::now();
    let mut held: Vec<(Instant, nfq::Message, bool, u64)> = Vec::new();
    let mut n: u64 = 0;
    println!("impair: queue {} {:?}", spec.queue, spec);
    loop {
        match q.recv() {
            Ok(mut msg) => {
                n += 1;
                let what = describe(msg.get_payload());
                let t = start.elapsed().as_millis();
                match decide(spec, &mut rng) {
                    Fate::Drop => {
                        println!("#{n} t={t}ms {what}: DROP");
                        msg.set_verdict(nfq::Verdict::Drop);
                        q.verdict(msg)?;
                    }
                    Fate::Pass { delay_ms, dup } => {
                        println!(
                            "#{n} t={t}ms {what}: pass +{delay_ms}ms{}",
                            if dup { " DUP" } else { "" }
                        );
                        let due = Instant::now() + Duration::from_millis(delay_ms);
                        held.push((due, msg, dup, n));
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        let mut i = 0;
        while i < held.len() {
            if held[i].0 <= now {
                let (_, mut msg, dup, id) = held.swap_remove(i);
                if dup {
                    let pkt = msg.get_payload().to_vec();
                    if pkt.len() >= 20 {
                        let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
                        let to = socket2::SockAddr::from(SocketAddrV4::new(dst, 0));
                        if let Err(e) = raw.send_to(&pkt, &to) {
                            println!("#{id} duplicate not sent: {e}");
                        }
                    }
                }
                msg.set_verdict(nfq::Verdict::Accept);
                q.verdict(msg)?;
            } else {
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(loss: f64) -> ImpairSpec {
        ImpairSpec {
            queue: 0,
            loss,
            delay_ms: 10,
            jitter_ms: 20,
            dup: 0.0,
            seed: 42,
        }
    }

    #[test]
    fn same_seed_same_fates() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let s = spec(0.3);
        let fa: Vec<_> = (0..200).map(|_| decide(&s, &mut a)).collect();
        let fb: Vec<_> = (0..200).map(|_| decide(&s, &mut b)).collect();
        assert_eq!(fa, fb);
    }

    #[test]
    fn loss_rate_is_close_to_spec() {
        let mut r = Rng::new(1);
        let s = spec(0.05);
        let drops = (0..20_000)
            .filter(|_| decide(&s, &mut r) == Fate::Drop)
            .count();
        assert!((800..1200).contains(&drops), "{drops} drops of 20000");
    }

    #[test]
    fn auto_seed_drops_an_early_packet() {
        let s = spec(0.05);
        let seed = seed_dropping_early(&s, 2, 6);
        let mut r = Rng::new(seed);
        let fates: Vec<_> = (0..6).map(|_| decide(&s, &mut r)).collect();
        let first = fates.iter().position(|f| *f == Fate::Drop).unwrap();
        assert!((1..6).contains(&first), "{fates:?}");
    }

    #[test]
    fn delay_stays_within_jitter() {
        let mut r = Rng::new(3);
        let s = spec(0.0);
        for _ in 0..1000 {
            match decide(&s, &mut r) {
                Fate::Pass { delay_ms, .. } => assert!((10..=30).contains(&delay_ms)),
                Fate::Drop => panic!("no loss configured"),
            }
        }
    }
}
