//! # pqike-sim: the one simulation harness
//!
//! Deterministic in-memory runs of pqike [`Endpoint`](pqike_proto::Endpoint)s, in the shape of
//! quinn's test `Pair`: seeded randomness, a simulated clock that jumps to the next deadline, and
//! a network model ([`Net`]) with latency, loss, duplication, jitter, an MTU, scripted drops,
//! corruption and an optional NAT in front of the initiator. A mock data plane ([`DataPlane`])
//! sends one ESP "packet" per 50 ms on each side's newest outbound SA, so that make-before-break
//! across rekeys can be checked. Used by pqike-proto's tests, pqike-testkit (and through it the
//! fuzz targets and handshake benchmarks) and the endpoint-scale benchmark in `benches/`.
//!
//! ## Call order
//! 1. Build a [`Pair`] ([`Pair::new`], [`Pair::with_seeds`] or [`Pair::from_endpoints`]) with a
//!    [`Net`]; adjust `pair.net` (loss, MTU, drop rules) before running.
//! 2. Issue commands ([`Pair::initiate`], [`Pair::command`]).
//! 3. Run: [`Pair::drive`] until idle, [`Pair::drive_within`] until idle or a horizon,
//!    [`Pair::run_for`]/[`Pair::run_until`] for a span of simulated time (rekey timers never let
//!    a pair become idle).
//! 4. Inspect `pair.events`, `pair.net.sent` (every datagram, with its IKE header fields and raw
//!    message) and the helpers ([`Pair::ups`], [`Pair::downs`], [`Pair::installs`], ...).
//!
//! The engine reads no clock: the harness gives each endpoint the wall-clock time once
//! ([`Pair::set_wall_clock`]; by default the system's time, which generated test certificates
//! are valid around) and the simulated monotonic `now` on every call.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod dataplane;
mod fixtures;
mod logs;
mod net;
mod pair;
pub mod scale;

pub use dataplane::{DataPlane, Traffic};
pub use fixtures::{connection, ike_proposal, ip, psk, A, B, NAT_PUBLIC};
pub use logs::with_logs;
pub use net::{DropFn, Net, Record, Tap, Verdict};
pub use pair::{provider, seeded_provider, Pair};
