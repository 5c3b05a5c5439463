//! # pqike-daemon: `pqiked` and `pqike`
//!
//! The library holds everything the two binaries do, so it can be tested:
//! * [`config`]: the TOML configuration (`pqiked --config FILE`), validated into the engine's
//!   [`pqike_proto::ConnectionConfig`]s, with `FILE:LINE:COL: field `path`: message` errors;
//!   [`proposal`], [`identity`] and [`ts`] parse the strongSwan-style strings inside it, and
//!   [`keys`] loads certificates and private keys.
//! * [`daemon`]: the `pqiked` event loop. One task owns the sans-IO [`pqike_proto::Endpoint`]
//!   and is the only place that reads the clock. Call order per wake-up: feed one input
//!   (datagram from [`net`], control request, timer via `handle_timeout`), then drain
//!   `poll_transmit` (sent from the socket bound to `Transmit.local`) and `poll_event` (logged;
//!   `pqike up` waiters resolved), then sleep until `poll_timeout`.
//! * [`control`]: the newline-delimited JSON protocol on the Unix control socket, the status
//!   JSON/listing, and the blocking client used by `pqike`.
//! * [`demo`]: `pqike demo`, an initiator and a responder in one process over loopback UDP.
#![forbid(unsafe_code)]

pub mod config;
pub mod control;
pub mod control_stats;
pub mod crypto;
pub mod daemon;
pub mod dataplane;
pub mod demo;
pub mod identity;
pub mod keylog;
pub mod keys;
pub mod net;
pub mod pki_cmd;
pub mod proposal;
pub mod ts;
