//! Property tests of the anti-replay window (RFC 4303 §3.4.3) against a simple model, directly
//! and through the whole decapsulation path.

mod common;

use pqike_esp::replay::ReplayWindow;
use proptest::prelude::*;
use std::collections::HashSet;

/// Arrival orders: 1..=n shuffled, plus duplicates of random earlier arrivals inserted.
fn arrivals(max_n: u64) -> impl Strategy<Value = (u32, Vec<u64>)> {
    (prop_oneof![Just(64u32), Just(1024), Just(4096)], 1..max_n).prop_flat_map(|(w, n)| {
        (
            Just(w),
            Just((1..=n).collect::<Vec<u64>>()).prop_shuffle(),
            proptest::collection::vec(
                (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
                0..64,
            ),
        )
            .prop_map(|(w, mut order, dups)| {
                for (from, to) in dups {
                    let v = order[from.index(order.len())];
                    let at = to.index(order.len() + 1);
                    order.insert(at, v);
                }
                (w, order)
            })
    })
}

/// Arrival orders in which no packet is displaced by a window or more: every number must be
/// accepted exactly once.
fn bounded_reordering(max_n: u64) -> impl Strategy<Value = (u32, Vec<u64>)> {
    (prop_oneof![Just(64u32), Just(1024), Just(4096)], 1..max_n).prop_flat_map(|(w, n)| {
        proptest::collection::vec(0..u64::from(w) / 2, n as usize).prop_map(move |jitter| {
            let mut keyed: Vec<(u64, u64)> = (1..=n).zip(jitter).map(|(s, j)| (s + j, s)).collect();
            keyed.sort();
            let mut order: Vec<u64> = keyed.into_iter().map(|(_, s)| s).collect();
            // Every packet also arrives a second time, right after itself.
            order = order.into_iter().flat_map(|s| [s, s]).collect();
            (w, order)
        })
    })
}

proptest! {
    #[test]
    fn window_matches_model((w, order) in arrivals(6000)) {
        let mut win = ReplayWindow::new(w);
        let mut seen = HashSet::new();
        let mut top = 0u64;
        for s in order {
            let expect = !seen.contains(&s) && (s > top || top - s < u64::from(w));
            prop_assert_eq!(win.check(s).is_ok(), expect, "seq {} top {} w {}", s, top, w);
            if expect {
                win.update(s);
                seen.insert(s);
                top = top.max(s);
            }
            prop_assert_eq!(win.top(), top);
        }
    }

    #[test]
    fn each_accepted_exactly_once_under_bounded_reordering((w, order) in bounded_reordering(6000)) {
        let n = order.len() as u64 / 2;
        let mut win = ReplayWindow::new(w);
        let mut accepted = 0u64;
        for (i, s) in order.into_iter().enumerate() {
            let ok = win.check(s).is_ok();
            // Even positions are first arrivals, odd ones the duplicates.
            prop_assert_eq!(ok, i % 2 == 0, "seq {}", s);
            if ok {
                win.update(s);
                accepted += 1;
            }
        }
        prop_assert_eq!(accepted, n);
    }
}

mod end_to_end {
    use super::common::*;
    use super::*;
    use pqike_esp::{DataPlane, DecapError, EncrAlg, IntegAlg, Mode, MAX_OVERHEAD};
    use std::time::Instant;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Through encapsulate/decapsulate with ESN: the same decisions as the model, and
        /// the receiver's counters add up.
        #[test]
        fn decap_replay_decisions((_, order) in arrivals(300), esn in any::<bool>()) {
            let (a, mut b) = pair(EncrAlg::AesGcm16 { key_bits: 128 }, IntegAlg::None, Mode::Tunnel, esn);
            b.replay_window = 64;
            let now = Instant::now();
            let mut da = DataPlane::new();
            da.install(a, now).unwrap();
            let mut db = DataPlane::new();
            db.install(b, now).unwrap();
            let n = *order.iter().max().unwrap() as usize;
            let inner = udp4("10.1.0.1", "10.2.0.1", 32);
            let pkts: Vec<Vec<u8>> = (0..n).map(|_| {
                let mut buf = vec![0u8; inner.len() + MAX_OVERHEAD];
                da.encapsulate(&inner, &mut buf).unwrap().packet.to_vec()
            }).collect();
            let mut seen = HashSet::new();
            let mut top = 0u64;
            let (mut replays, mut auth) = (0u64, 0u64);
            for s in order {
                let expect = !seen.contains(&s) && (s > top || top - s < 64);
                let mut p = pkts[s as usize - 1].clone();
                let r = db.decapsulate(&mut p);
                prop_assert_eq!(r.is_ok(), expect);
                if expect {
                    seen.insert(s);
                    top = top.max(s);
                } else if esn && top - s >= 64 {
                    // RFC 4303 A.2.2 case A: left of the window, the high half is inferred as
                    // the next subspace, so the packet fails its ICV rather than the window.
                    auth += 1;
                    prop_assert_eq!(r.unwrap_err(), DecapError::AuthFailed(0xb000_0001));
                } else {
                    replays += 1;
                    prop_assert!(
                        matches!(r, Err(DecapError::Replay { .. })),
                        "replays are refused before decryption",
                    );
                }
            }
            let c = db.sa(0xb000_0001).unwrap().counters;
            prop_assert_eq!(c.packets_in, seen.len() as u64);
            prop_assert_eq!(c.replay_drops, replays);
            prop_assert_eq!(c.auth_failures, auth);
        }
    }
}
