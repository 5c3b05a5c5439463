//! Per-SA counters and soft/hard lifetime tracking (RFC 4301 §4.4.2.1).

use crate::params::{Lifetime, Limits};
use std::time::{Duration, Instant};

/// Counters of one Child SA, for `pqike status` and the interop tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaCounters {
    /// Packets encapsulated.
    pub packets_out: u64,
    /// Inner bytes encapsulated.
    pub bytes_out: u64,
    /// Packets decapsulated and delivered (TFC dummies excluded).
    pub packets_in: u64,
    /// Inner bytes delivered.
    pub bytes_in: u64,
    /// Dropped by the anti-replay window.
    pub replay_drops: u64,
    /// Dropped because the ICV did not verify.
    pub auth_failures: u64,
    /// Dropped because of bad padding.
    pub pad_errors: u64,
    /// Dropped because of a next header not valid for the mode, or an unparseable inner packet.
    pub bad_next_header: u64,
    /// Dropped because the inner packet is outside this SA's selectors (wrong SA).
    pub ts_mismatch: u64,
    /// TFC dummy packets (next header 59) received and dropped silently.
    pub dummies: u64,
}

/// Which limit stage was crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryKind {
    /// Rekey now; the SA keeps working.
    Soft,
    /// The SA no longer encapsulates or decapsulates.
    Hard,
}

/// Which limit was crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryCause {
    /// Byte limit (in either direction).
    Bytes,
    /// Packet limit (in either direction).
    Packets,
    /// Time since installation.
    Time,
    /// The outbound sequence number space is (nearly) used up (RFC 4303 §3.3.3).
    SequenceNumber,
}

/// Notification for the IKE engine (rekeying itself is the engine's job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryEvent {
    /// Inbound SPI of the Child SA.
    pub spi_in: u32,
    /// Outbound SPI.
    pub spi_out: u32,
    /// Soft or hard.
    pub kind: ExpiryKind,
    /// Which limit.
    pub cause: ExpiryCause,
}

/// Lifetime state of one Child SA.
#[derive(Debug, Clone)]
pub(crate) struct LifetimeState {
    limits: Lifetime,
    installed: Instant,
    soft_fired: bool,
    pub(crate) hard_fired: bool,
}

fn over(l: &Limits, c: &SaCounters) -> Option<ExpiryCause> {
    let max_bytes = c.bytes_in.max(c.bytes_out);
    let max_packets = c.packets_in.max(c.packets_out);
    if l.bytes.is_some_and(|b| max_bytes >= b) {
        Some(ExpiryCause::Bytes)
    } else if l.packets.is_some_and(|p| max_packets >= p) {
        Some(ExpiryCause::Packets)
    } else {
        None
    }
}

impl LifetimeState {
    pub(crate) fn new(limits: Lifetime, now: Instant) -> Self {
        Self {
            limits,
            installed: now,
            soft_fired: false,
            hard_fired: false,
        }
    }

    /// After counters changed: reports each stage newly crossed by volume, soft before hard.
    pub(crate) fn check_volume(
        &mut self,
        c: &SaCounters,
        mut emit: impl FnMut(ExpiryKind, ExpiryCause),
    ) {
        if !self.soft_fired {
            if let Some(cause) = over(&self.limits.soft, c) {
                self.soft_fired = true;
                emit(ExpiryKind::Soft, cause);
            }
        }
        if !self.hard_fired {
            if let Some(cause) = over(&self.limits.hard, c) {
                self.hard_fired = true;
                emit(ExpiryKind::Hard, cause);
            }
        }
    }

    /// Marks a stage fired for a non-volume cause (sequence numbers); `true` if it was new.
    pub(crate) fn fire(&mut self, kind: ExpiryKind) -> bool {
        let flag = match kind {
            ExpiryKind::Soft => &mut self.soft_fired,
            ExpiryKind::Hard => &mut self.hard_fired,
        };
        let new = !*flag;
        *flag = true;
        new
    }

    /// Time-based stage due at `now`, at most once per stage, soft before hard (a late poll
    /// reports both).
    pub(crate) fn check_time(&mut self, now: Instant) -> Option<ExpiryKind> {
        let age = now.saturating_duration_since(self.installed);
        if !self.soft_fired && self.limits.soft.time.is_some_and(|t| age >= t) {
            self.soft_fired = true;
            return Some(ExpiryKind::Soft);
        }
        if !self.hard_fired && self.limits.hard.time.is_some_and(|t| age >= t) {
            self.hard_fired = true;
            return Some(ExpiryKind::Hard);
        }
        None
    }

    /// Next instant at which [`LifetimeState::check_time`] will fire something.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let at =
            |fired: bool, d: Option<Duration>| d.filter(|_| !fired).map(|d| self.installed + d);
        match (
            at(self.soft_fired, self.limits.soft.time),
            at(self.hard_fired, self.limits.hard.time),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
