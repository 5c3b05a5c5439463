//! ESP encapsulation + decapsulation on one core, per algorithm, for 64- and 1400-octet UDP
//! payloads in tunnel mode (IPv4 inner). One iteration = one packet sealed by side A and opened
//! (ICV, replay window, padding, selectors) by side B, in the caller's buffer.
//!
//! `cargo bench -p pqike-esp --bench esp`

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pqike_esp::{DataPlane, Mode, MAX_OVERHEAD};
use std::hint::black_box;
use std::time::Instant;

fn bench(c: &mut Criterion) {
    for &(name, encr, integ) in ALGS {
        for payload in [64usize, 1400] {
            let (a, b) = pair(encr, integ, Mode::Tunnel, true);
            let now = Instant::now();
            let mut da = DataPlane::new();
            da.install(a, now).unwrap();
            let mut db = DataPlane::new();
            db.install(b, now).unwrap();
            let inner = udp4("10.1.0.1", "10.2.0.1", payload - 28);
            let mut buf = vec![0u8; inner.len() + MAX_OVERHEAD];
            let mut g = c.benchmark_group(format!("esp/{name}"));
            g.throughput(Throughput::Bytes(payload as u64));
            g.bench_function(format!("encap+decap/{payload}"), |bch| {
                bch.iter(|| {
                    let len = da
                        .encapsulate(black_box(&inner), &mut buf)
                        .unwrap()
                        .packet
                        .len();
                    let got = db.decapsulate(&mut buf[..len]).unwrap();
                    black_box(got);
                })
            });
            g.bench_function(format!("encap/{payload}"), |bch| {
                bch.iter(|| {
                    black_box(
                        da.encapsulate(black_box(&inner), &mut buf)
                            .unwrap()
                            .packet
                            .len(),
                    );
                })
            });
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
