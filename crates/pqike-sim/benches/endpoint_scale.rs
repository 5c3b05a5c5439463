//! Cost per engine call against the number of established IKE SAs in one endpoint (issue 11:
//! `poll_timeout`, `handle_timeout` and one datagram must stay flat, O(log n) or better).
//!
//! `cargo bench -p pqike-sim --bench endpoint_scale` prints one row per size. Sizes default to
//! 1000, 10000 and 100000; `PQIKE_SCALE_SIZES=1000,5000` overrides them. Times are the best of
//! five rounds (the machine is shared: compare rows of one run, not runs).
use pqike_sim::scale::Gateway;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;

/// Best-of-`ROUNDS` nanoseconds per call of `f`, `calls` calls per round.
fn per_call(calls: usize, mut f: impl FnMut(usize)) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for i in 0..calls {
                f(i);
            }
            t.elapsed().as_nanos() as f64 / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let sizes: Vec<usize> = std::env::var("PQIKE_SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    println!(
        "{:>8} | {:>9} | {:>17} | {:>24} | {:>25} | {:>24} | {:>10}",
        "IKE SAs",
        "setup s",
        "poll_timeout ns",
        "handle_timeout idle ns",
        "handle_timeout fire ns/timer",
        "datagram (resend) ns",
        "same SA ns"
    );
    for n in sizes {
        let t0 = Instant::now();
        let mut gw = Gateway::establish(n, Duration::from_secs(600));
        let setup = t0.elapsed().as_secs_f64();
        assert_eq!(gw.pair.eps[1].status().len(), n, "gateway SAs");
        let now = gw.pair.now;
        let ep = &mut gw.pair.eps[1];

        let poll = per_call(100_000, |_| {
            black_box(ep.poll_timeout());
        });
        // Nothing is due yet: the call must find that out without visiting the SAs.
        let idle = per_call(100_000, |_| ep.handle_timeout(now));

        // One datagram: a replayed IKE_AUTH request of a random SA; the responder finds the SA
        // by SPI, sees the message ID it answered and resends the cached response (RFC 7296
        // §2.1).
        let reqs = &gw.auth_requests;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let datagram = per_call(20_000, |_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (src, dst, bytes) = &reqs[(x % reqs.len() as u64) as usize];
            ep.handle_datagram(now, *dst, *src, bytes);
            while let Some(t) = ep.poll_transmit() {
                black_box(t);
            }
        });

        // The same datagram again and again: the SA's state stays in the CPU caches, so this
        // column is the algorithmic cost alone; the random column adds cache misses, which grow
        // with the working set rather than with the lookups.
        let (src, dst, bytes) = &reqs[reqs.len() / 2];
        let same = per_call(20_000, |_| {
            ep.handle_datagram(now, *dst, *src, bytes);
            while let Some(t) = ep.poll_transmit() {
                black_box(t);
            }
        });

        // Timers that fire: jump to each next deadline (liveness checks of idle SAs, then their
        // retransmissions) and fire it; outputs are discarded.
        let mut fired = 0u64;
        let calls = 2_000.min(n);
        let t = Instant::now();
        for _ in 0..calls {
            let Some(at) = ep.poll_timeout() else { break };
            ep.handle_timeout(at);
            while let Some(t) = ep.poll_transmit() {
                fired += 1;
                black_box(t);
            }
            while let Some(e) = ep.poll_event() {
                black_box(e);
            }
        }
        // Several SAs established in one batch share a deadline: cost per fired timer.
        let fire = t.elapsed().as_nanos() as f64 / fired.max(1) as f64;
        assert!(fired > 0, "no timer fired");
        println!(
            "{n:>8} | {setup:>9.1} | {poll:>17.0} | {idle:>24.0} | {fire:>25.0} | {datagram:>24.0} | {same:>10.0}"
        );
    }
}
