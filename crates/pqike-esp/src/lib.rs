//! # pqike-esp: sans-IO userspace ESP data plane
//!
//! ESP (RFC 4303) in userspace, for machines whose kernel has no ESP: the daemon reads IP
//! packets from a TUN device and ESP datagrams from its sockets, and this crate turns one into
//! the other. It never touches a socket, a device or the clock: the caller owns the buffers and
//! passes `now` in (the boringtun / quinn-proto model). The per-packet paths do not allocate;
//! results borrow the caller's buffer.
//!
//! ## Model
//! - One [`DataPlane`] holds the SAD (Child SAs keyed by inbound SPI) and the SPD (outbound SA
//!   chosen by traffic selector; the newest matching SA wins, so after a rekey traffic moves to
//!   the new SA while the old one still decrypts stragglers).
//! - Each Child SA has one cipher context per direction, built at installation through the
//!   crypto provider's ESP part (`pqike_crypto::EspCipherFactory`; [`DataPlane::new`] uses
//!   aws-lc-rs, [`DataPlane::with_ciphers`] takes any provider's): AES-GCM-16 (RFC 4106),
//!   ChaCha20-Poly1305 (RFC 7634) or AES-CBC with HMAC-SHA2 (RFC 3602, RFC 4868), used in place
//!   with one dynamic call per packet.
//! - 32-bit or extended sequence numbers (ESN, RFC 4303 Appendix A), an anti-replay window
//!   ([`replay::ReplayWindow`], default 1024, up to 65536) checked before and updated after the
//!   ICV, padding and next-header checks, TFC dummy packets (next header 59) dropped silently.
//! - Tunnel and transport mode (transport-mode payloads get their IP header back from
//!   [`transport::build_ip_packet`]); RFC 3948 UDP encapsulation helpers in [`udp`].
//! - Per-SA [`SaCounters`] and soft/hard lifetimes in bytes, packets and time, reported as
//!   [`ExpiryEvent`]s for the IKE engine to rekey.
//!
//! ## Call order
//! 1. For each `pqike_proto::Event::InstallChildSa(keys)`: `SaParams::try_from(&keys)` (feature
//!    `proto`, on by default), adjust lifetimes/replay window from the config, then
//!    [`DataPlane::install`]`(params, now)`. On `RemoveChildSa`: [`DataPlane::remove`].
//! 2. Packet from TUN: [`DataPlane::encapsulate`]`(inner, &mut out)` and send
//!    [`Encapsulated::packet`] to [`Encapsulated::remote`] (UDP 4500 if `udp_encap`, else IP
//!    protocol 50). Buffers of `inner.len() + `[`MAX_OVERHEAD`] always suffice.
//! 3. Datagram on port 4500: [`udp::classify`]; IKE goes to the engine (after the non-ESP
//!    marker), keepalives are ignored, ESP goes to [`DataPlane::decapsulate`]`(&mut buf)`, which
//!    decrypts in place and returns the inner packet to write to TUN (or a TFC dummy to drop).
//! 4. After packets, and whenever [`DataPlane::poll_timeout`] passes, drain
//!    [`DataPlane::poll_expiry`]`(now)` and hand the events to the engine (soft: rekey; hard:
//!    the SA refuses traffic until removed).
//!
//! Errors are per packet ([`EncapError`], [`DecapError`]) and never tear an SA down; every drop
//! is counted ([`SaCounters`], [`GlobalCounters`]) and logged at debug level with its reason.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod checksum;
mod cipher;
mod dataplane;
pub mod error;
pub mod flow;
mod lifetime;
pub mod params;
pub mod replay;
pub mod transport;
pub mod udp;

pub use dataplane::*;
pub use error::*;
pub use lifetime::*;
pub use params::*;

#[cfg(feature = "fuzzing")]
mod fuzz;
#[cfg(feature = "fuzzing")]
pub use fuzz::{fuzz_decap, FUZZ_SPIS};
