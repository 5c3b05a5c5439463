//! Criterion benchmark of one complete IKE SA setup per scenario (see `pqike_testkit::bench`).
//! Run with `cargo bench -p pqike-testkit`.
use criterion::{criterion_group, criterion_main, Criterion};
use pqike_testkit::bench::{Prepared, SCENARIOS};

fn handshakes(c: &mut Criterion) {
    let mut g = c.benchmark_group("ike_handshake");
    for s in &SCENARIOS {
        let p = Prepared::new(s);
        g.bench_function(s.name, |b| b.iter(|| p.handshake()));
    }
    g.finish();
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
