//! The endpoint's indexes over its IKE SAs, so that no input costs a scan of every SA
//! (strongSwan's ike_sa_manager keeps the same tables): our SPI, the initiator's (SPI, address)
//! of responder SAs for retransmitted IKE_SA_INIT requests, Child SA inbound SPIs for data-plane
//! notices, SAs by connection and by peer identity, the half-open count, lease owners, and the
//! timer index.
//!
//! The endpoint calls [`SaIndex::update`] after every input that touched an SA and
//! [`SaIndex::remove`] when it reaps one; each costs O(children of that SA + log n).
use crate::tasks::manager::IkeSa;
use crate::timer::TimerIndex;
use crate::{EndpointConfig, SaId};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

/// What the index remembers of one SA, to undo its entries later.
#[derive(Debug, Default)]
struct Entry {
    our_spi: u64,
    init_key: Option<(u64, SocketAddr)>,
    conn: String,
    remote_id: String,
    child_spis: Vec<u32>,
    half_open: bool,
    lease_owner: Option<String>,
}

/// The indexes.
#[derive(Debug, Default)]
pub(crate) struct SaIndex {
    entries: HashMap<SaId, Entry>,
    by_spi: HashMap<u64, SaId>,
    init: HashMap<(u64, SocketAddr), SaId>,
    by_child_spi: HashMap<u32, SaId>,
    by_conn: HashMap<String, BTreeSet<SaId>>,
    by_remote_id: HashMap<String, BTreeSet<SaId>>,
    leases: HashMap<String, usize>,
    half_open: usize,
    /// Earliest deadline per SA.
    pub timers: TimerIndex,
}

fn unlink(map: &mut HashMap<String, BTreeSet<SaId>>, key: &str, id: SaId) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

impl SaIndex {
    /// Whether an SA already uses this SPI as ours.
    pub fn spi_in_use(&self, spi: u64) -> bool {
        self.by_spi.contains_key(&spi)
    }

    /// The SA whose SPI is `spi`.
    pub fn by_spi(&self, spi: u64) -> Option<SaId> {
        self.by_spi.get(&spi).copied()
    }

    /// The responder SA created by the IKE_SA_INIT request with this initiator SPI and source.
    pub fn by_init(&self, spi_i: u64, remote: SocketAddr) -> Option<SaId> {
        self.init.get(&(spi_i, remote)).copied()
    }

    /// The SA owning the Child SA with this inbound SPI.
    pub fn by_child_spi(&self, spi_in: u32) -> Option<SaId> {
        self.by_child_spi.get(&spi_in).copied()
    }

    /// SAs of a connection.
    pub fn of_connection(&self, conn: &str) -> impl Iterator<Item = SaId> + '_ {
        self.by_conn.get(conn).into_iter().flatten().copied()
    }

    /// SAs whose peer authenticated as `remote_id`.
    pub fn of_remote_id(&self, remote_id: &str) -> impl Iterator<Item = SaId> + '_ {
        self.by_remote_id
            .get(remote_id)
            .into_iter()
            .flatten()
            .copied()
    }

    /// Responder SAs that have not completed IKE_AUTH.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// Live SAs holding a lease of this owner.
    pub fn lease_holders(&self, owner: &str) -> usize {
        self.leases.get(owner).copied().unwrap_or(0)
    }

    /// Record a responder SA's IKE_SA_INIT key (set once, when the SA is created).
    pub fn set_init_key(&mut self, id: SaId, spi_i: u64, remote: SocketAddr) {
        self.init.insert((spi_i, remote), id);
        self.entries.entry(id).or_default().init_key = Some((spi_i, remote));
    }

    /// Re-arm `sa`'s timer table and bring its entries (and its earliest deadline) up to date.
    pub fn refresh(&mut self, sa: &mut IkeSa, cfg: &EndpointConfig) {
        let deadline = sa.refresh_timers(cfg);
        self.update(sa, deadline);
    }

    /// Bring the entries of `sa` up to date; `deadline` is its earliest timer.
    fn update(&mut self, sa: &IkeSa, deadline: Option<Instant>) {
        let id = sa.id;
        let e = self.entries.entry(id).or_default();
        let spi = sa.our_spi();
        if e.our_spi != spi || !self.by_spi.contains_key(&spi) {
            if e.our_spi != 0 && self.by_spi.get(&e.our_spi) == Some(&id) {
                self.by_spi.remove(&e.our_spi);
            }
            e.our_spi = spi;
            self.by_spi.insert(spi, id);
        }
        if e.conn != sa.conn.name {
            unlink(&mut self.by_conn, &e.conn, id);
            e.conn = sa.conn.name.clone();
            self.by_conn.entry(e.conn.clone()).or_default().insert(id);
        }
        if e.remote_id != sa.remote_id {
            unlink(&mut self.by_remote_id, &e.remote_id, id);
            e.remote_id = sa.remote_id.clone();
            if !e.remote_id.is_empty() {
                self.by_remote_id
                    .entry(e.remote_id.clone())
                    .or_default()
                    .insert(id);
            }
        }
        // The child set changes rarely; compare before touching the map.
        let same_children = e.child_spis.len() == sa.children.len()
            && e.child_spis
                .iter()
                .zip(&sa.children)
                .all(|(a, c)| *a == c.status.spi_in);
        if !same_children {
            for spi in e.child_spis.drain(..) {
                if self.by_child_spi.get(&spi) == Some(&id) {
                    self.by_child_spi.remove(&spi);
                }
            }
            for c in &sa.children {
                e.child_spis.push(c.status.spi_in);
                self.by_child_spi.insert(c.status.spi_in, id);
            }
        }
        // strongSwan's and our long-standing definition: a responder SA not yet established.
        let half_open = !sa.initiator && sa.state != crate::IkeState::Established;
        if half_open != e.half_open {
            e.half_open = half_open;
            if half_open {
                self.half_open += 1;
            } else {
                self.half_open = self.half_open.saturating_sub(1);
            }
        }
        let owner = (!sa.cp.vips.is_empty() && !sa.conn.lifecycle.pools.is_empty())
            .then(|| sa.lease_owner());
        if owner != e.lease_owner {
            if let Some(o) = e.lease_owner.take() {
                if let Some(n) = self.leases.get_mut(&o) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.leases.remove(&o);
                    }
                }
            }
            if let Some(o) = &owner {
                *self.leases.entry(o.clone()).or_default() += 1;
            }
            e.lease_owner = owner;
        }
        self.timers.update(id, deadline);
    }

    /// Forget an SA entirely.
    pub fn remove(&mut self, id: SaId) {
        let Some(e) = self.entries.remove(&id) else {
            return;
        };
        if self.by_spi.get(&e.our_spi) == Some(&id) {
            self.by_spi.remove(&e.our_spi);
        }
        if let Some(k) = e.init_key {
            if self.init.get(&k) == Some(&id) {
                self.init.remove(&k);
            }
        }
        for spi in &e.child_spis {
            if self.by_child_spi.get(spi) == Some(&id) {
                self.by_child_spi.remove(spi);
            }
        }
        unlink(&mut self.by_conn, &e.conn, id);
        unlink(&mut self.by_remote_id, &e.remote_id, id);
        if e.half_open {
            self.half_open = self.half_open.saturating_sub(1);
        }
        if let Some(o) = e.lease_owner {
            if let Some(n) = self.leases.get_mut(&o) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.leases.remove(&o);
                }
            }
        }
        self.timers.update(id, None);
    }
}
