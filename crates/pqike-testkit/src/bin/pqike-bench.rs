//! Handshake benchmark: prints handshakes/s (1 and 2 threads) and per-handshake latency for
//! each scenario of `pqike_testkit::bench::SCENARIOS`.
//!
//! `cargo run --release -p pqike-testkit --bin pqike-bench [HANDSHAKES_PER_THREAD [FILTER [THREADS]]]`
//! FILTER keeps the scenarios whose name contains it (e.g. `ML-KEM`); THREADS is `1`, `2` or
//! `1,2` (default).
use pqike_testkit::bench::{measure, SCENARIOS};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("HANDSHAKES_PER_THREAD must be a number"))
        .unwrap_or(5000);
    let filter = std::env::args().nth(2).unwrap_or_default();
    let threads: Vec<usize> = std::env::args()
        .nth(3)
        .unwrap_or_else(|| "1,2".into())
        .split(',')
        .map(|t| {
            t.parse()
                .expect("THREADS is a comma-separated list of numbers")
        })
        .collect();
    println!(
        "{:<42} {:>7} {:>12} {:>12} {:>12}",
        "scenario", "threads", "handshakes/s", "median µs", "p99 µs"
    );
    for s in SCENARIOS.iter().filter(|s| s.name.contains(&filter)) {
        for &t in &threads {
            let f = measure(s, t, n);
            println!(
                "{:<42} {:>7} {:>12.0} {:>12.1} {:>12.1}",
                s.name,
                f.threads,
                f.rate(),
                f.median.as_secs_f64() * 1e6,
                f.p99.as_secs_f64() * 1e6
            );
        }
    }
}
