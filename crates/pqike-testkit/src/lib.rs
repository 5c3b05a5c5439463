//! # pqike-testkit: drive two pqike endpoints in memory
//!
//! Test and benchmark support (not published):
//! * [`config`]: PSK connection builders between two fixed addresses, with proposals written as
//!   strongSwan-style strings;
//! * [`driver`]: a [`Pair`] of endpoints wired back to back with a simulated clock — every
//!   datagram one side sends is delivered to the other, and when nothing is in flight the clock
//!   jumps to the earliest timer;
//! * [`pcap`]: a classic pcap writer that wraps captured datagrams in IPv4/UDP headers with the
//!   real ports, for Wireshark/tshark;
//! * [`bench`]: the handshake benchmark shared by `pqike-bench` and the criterion bench;
//! * [`scenarios`]: captured runs covering every message type (tshark test, fuzz seeds).
//!
//! Call order: build a [`PskPair`], make a [`Pair`] (optionally `.capture()`), call
//! [`Pair::run_until_established`] or [`Pair::initiate`] + [`Pair::run_until`], then inspect
//! events and captured datagrams.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
pub mod config;
pub mod driver;
pub mod pcap;
pub mod scenarios;

pub use config::{proposal, PskPair, SideConfig};
pub use driver::{Pair, Side, Tap, Verdict};
pub use pcap::{write_pcap, Captured};
