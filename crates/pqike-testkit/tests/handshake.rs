//! The driver against the real engine: each benchmark scenario completes, and the events say
//! what was negotiated.
use pqike_proto::Event;
use pqike_testkit::bench::SCENARIOS;
use pqike_testkit::{Pair, PskPair, Side};

#[test]
fn every_benchmark_scenario_establishes() {
    for s in &SCENARIOS {
        let mut pair = Pair::new(&PskPair::new(s.proposal), 7);
        assert!(
            pair.run_until_established(),
            "{}: not established; events {:?}",
            s.name,
            pair.events
        );
        for side in [Side::Initiator, Side::Responder] {
            let ke = pair
                .events_of(side)
                .iter()
                .find_map(|e| match e {
                    Event::IkeUp { status, .. } => Some(status.transforms.ke.clone()),
                    _ => None,
                })
                .expect("IkeUp");
            let want: &[&str] = match s.proposal {
                p if p.contains("ke1_mlkem768") => &["CURVE_25519", "ML_KEM_768"],
                p if p.contains("mlkem768") => &["ML_KEM_768"],
                _ => &["CURVE_25519"],
            };
            assert_eq!(ke, want, "{} {side:?}", s.name);
            assert!(
                pair.events_of(side)
                    .iter()
                    .any(|e| matches!(e, Event::InstallChildSa(_))),
                "{}: no child on {side:?}",
                s.name
            );
        }
    }
}
