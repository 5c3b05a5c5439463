//! Timers that scale: a fixed table of deadlines per IKE SA and an ordered index of the SAs'
//! earliest deadlines per endpoint (quinn's `TimerTable`, and the timer wheel idea of
//! strongSwan's scheduler, reduced to what IKE needs).
//!
//! Each SA keeps a [`TimerTable`] with one slot per [`Timer`]. After every input that touched an
//! SA, the endpoint stores the SA's earliest deadline in its [`TimerIndex`]; `poll_timeout` reads
//! the first entry and `handle_timeout` pops the due ones, so both cost O(log n) in the number of
//! SAs instead of a scan of every SA.
use crate::SaId;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// The timers of one IKE SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Retransmission of our outstanding request (RFC 7296 §2.1).
    Retransmit = 0,
    /// A responder SA that never completed IKE_AUTH is dropped.
    HalfOpen = 1,
    /// Liveness check when the SA has been idle (RFC 7296 §2.4).
    Dpd = 2,
    /// The earliest rekey / expiry of the IKE SA, its children or responder follow-up state.
    Lifecycle = 3,
}

const TIMERS: usize = 4;

/// One deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    slots: [Option<Instant>; TIMERS],
}

impl TimerTable {
    /// Arm or clear one timer.
    pub fn set(&mut self, timer: Timer, at: Option<Instant>) {
        self.slots[timer as usize] = at;
    }

    /// The deadline of one timer.
    #[cfg(test)]
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.slots[timer as usize]
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.slots.iter().flatten().min().copied()
    }
}

/// The endpoint's index of every SA's earliest deadline.
#[derive(Debug, Default)]
pub(crate) struct TimerIndex {
    order: BTreeSet<(Instant, SaId)>,
    by_sa: HashMap<SaId, Instant>,
}

impl TimerIndex {
    /// Record `sa`'s earliest deadline (or that it has none).
    pub fn update(&mut self, sa: SaId, at: Option<Instant>) {
        let old = match at {
            Some(t) => self.by_sa.insert(sa, t),
            None => self.by_sa.remove(&sa),
        };
        if old == at {
            return;
        }
        if let Some(o) = old {
            self.order.remove(&(o, sa));
        }
        if let Some(t) = at {
            self.order.insert((t, sa));
        }
    }

    /// The earliest deadline of all SAs.
    pub fn next(&self) -> Option<Instant> {
        self.order.first().map(|(t, _)| *t)
    }

    /// Remove and return the SAs whose deadline is at or before `now`, earliest first. The
    /// caller re-indexes each after running its timers.
    pub fn take_due(&mut self, now: Instant) -> Vec<SaId> {
        let mut due = Vec::new();
        while let Some(&(t, sa)) = self.order.first() {
            if t > now {
                break;
            }
            self.order.pop_first();
            self.by_sa.remove(&sa);
            due.push(sa);
        }
        due
    }

    /// Number of SAs with a deadline.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_sa.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn table_gives_the_earliest_slot() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Dpd, Some(t0 + Duration::from_secs(30)));
        t.set(Timer::Retransmit, Some(t0 + Duration::from_secs(4)));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(4)));
        t.set(Timer::Retransmit, None);
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(30)));
        assert_eq!(t.get(Timer::HalfOpen), None);
    }

    #[test]
    fn index_orders_and_pops_due_sas() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut ix = TimerIndex::default();
        ix.update(SaId(1), Some(s(10)));
        ix.update(SaId(2), Some(s(5)));
        ix.update(SaId(3), Some(s(5)));
        ix.update(SaId(4), None);
        assert_eq!(ix.next(), Some(s(5)));
        // Moving a deadline replaces its entry.
        ix.update(SaId(1), Some(s(1)));
        assert_eq!(ix.next(), Some(s(1)));
        assert_eq!(ix.len(), 3);
        assert_eq!(ix.take_due(s(5)), vec![SaId(1), SaId(2), SaId(3)]);
        assert_eq!(ix.next(), None);
        ix.update(SaId(2), Some(s(7)));
        ix.update(SaId(2), None);
        assert_eq!(ix.next(), None);
        assert_eq!(ix.len(), 0);
    }
}
