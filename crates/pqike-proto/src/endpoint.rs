//! The endpoint: the set of IKE SAs, SPI demultiplexing, NAT-T port handling, cookies and
//! half-open limits (strongSwan's ike_sa_manager and receiver), driven by the caller.
use crate::ike_sa::{Ctx, IkeSa, Output};
use crate::notify::{find_notify, IkeError};
use crate::proposal::select;
use crate::tasks::ike_init::{self, supported};
use crate::*;
use pqike_crypto::{ct_eq, CryptoProvider, HashAlgorithm, SecureRandom};
use pqike_wire::{
    ExchangeType, Header, Message, Notify, NotifyType, Payload, ProtocolId, NON_ESP_MARKER,
};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Version octet of our COOKIE values (RFC 7296 §2.6 `<VersionIDofSecret>`).
const COOKIE_VERSION: u8 = 1;

/// All IKE SAs of one daemon (strongSwan's ike_sa_manager), driven by the caller.
pub struct Endpoint {
    config: EndpointConfig,
    connections: Vec<Arc<ConnectionConfig>>,
    credentials: Credentials,
    crypto: Arc<dyn CryptoProvider>,
    rng: Box<dyn SecureRandom>,
    sas: BTreeMap<SaId, IkeSa>,
    /// Our SPI -> SA.
    by_spi: HashMap<u64, SaId>,
    /// (initiator SPI, initiator address) -> responder SA, to spot retransmitted IKE_SA_INIT.
    init_index: HashMap<(u64, SocketAddr), SaId>,
    out: Output,
    next_id: u64,
    cookie_secret: Zeroizing<Vec<u8>>,
    /// (Instant, Unix seconds) pair mapping the caller's clock to wall-clock time.
    wall_clock: Option<(Instant, i64)>,
    /// dpd/close actions of SAs that went down, run with the next `now` (`lifecycle`).
    actions: Vec<(String, SaAction)>,
    /// Remote-access address pool leases.
    leases: crate::cp::Leases,
}

/// Borrow the parts of the endpoint an SA needs, leaving `sas` free for a mutable borrow.
macro_rules! ctx {
    ($self:ident, $now:expr) => {
        Ctx {
            now: $now,
            cfg: &$self.config,
            creds: &$self.credentials,
            crypto: &*$self.crypto,
            rng: &*$self.rng,
            out: &mut $self.out,
            unix_now: unix_time($self.wall_clock, $now),
            next_id: &mut $self.next_id,
            leases: &mut $self.leases,
        }
    };
}

impl Endpoint {
    /// Create an endpoint.
    pub fn new(
        config: EndpointConfig,
        connections: Vec<ConnectionConfig>,
        credentials: Credentials,
        crypto: Arc<dyn CryptoProvider>,
        rng: Box<dyn SecureRandom>,
    ) -> Endpoint {
        let mut secret = Zeroizing::new(vec![0u8; 32]);
        if let Err(e) = rng.fill(&mut secret) {
            // Cookies then only bind to the peer's values; still correct, just forgeable offline.
            tracing::error!("no randomness for the cookie secret: {e}");
        }
        Endpoint {
            config,
            connections: connections.into_iter().map(Arc::new).collect(),
            credentials,
            crypto,
            rng,
            sas: BTreeMap::new(),
            by_spi: HashMap::new(),
            init_index: HashMap::new(),
            out: Output::default(),
            next_id: 1,
            cookie_secret: secret,
            wall_clock: None,
            actions: Vec::new(),
            leases: Default::default(),
        }
    }

    /// Tell the engine which wall-clock time (Unix seconds) corresponds to `now`; used only for
    /// certificate validity periods. Without it the engine reads the system clock for that one
    /// purpose (simulations should set it to stay deterministic).
    pub fn set_wall_clock(&mut self, now: Instant, unix_secs: i64) {
        self.wall_clock = Some((now, unix_secs));
    }

    /// Add a connection (or replace the one with the same name). Existing IKE SAs keep the
    /// configuration they were created with.
    pub fn add_connection(&mut self, conn: ConnectionConfig) {
        self.connections.retain(|c| c.name != conn.name);
        self.connections.push(Arc::new(conn));
    }

    /// Remove a connection by name (its IKE SAs stay up until terminated). False if unknown.
    pub fn remove_connection(&mut self, name: &str) -> bool {
        let before = self.connections.len();
        self.connections.retain(|c| c.name != name);
        self.connections.len() != before
    }

    /// Replace the pre-shared keys (for new authentications).
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = credentials;
    }

    fn alloc_id(&mut self) -> SaId {
        let id = SaId(self.next_id);
        self.next_id += 1;
        id
    }

    /// A fresh, unused, non-zero SPI.
    fn new_spi(&self) -> Result<u64, String> {
        for _ in 0..16 {
            let mut b = [0u8; 8];
            self.rng.fill(&mut b).map_err(|e| e.to_string())?;
            let spi = u64::from_be_bytes(b);
            if spi != 0 && !self.by_spi.contains_key(&spi) {
                return Ok(spi);
            }
        }
        Err("cannot allocate an IKE SPI".into())
    }

    /// A datagram arrived on `local` (our address and port) from `remote`. `data` is the UDP
    /// payload as received (on the NAT-T port it starts with the non-ESP marker; ESP packets and
    /// keepalives there are not IKE and are ignored here).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        let data = if local.port() == self.config.nat_port {
            // RFC 3948 §2.2/§2.3: 0xFF keepalives, ESP (non-zero SPI) and marker-prefixed IKE.
            if data == [0xff] {
                tracing::trace!("NAT-T keepalive from {remote}");
                return;
            }
            match data.split_at_checked(4) {
                Some((marker, rest)) if marker == NON_ESP_MARKER => rest,
                Some(_) => {
                    tracing::trace!(
                        "ESP packet from {remote} on the NAT-T port: not for the IKE engine"
                    );
                    return;
                }
                None => {
                    tracing::debug!(
                        "dropping {}-octet datagram from {remote} on the NAT-T port",
                        data.len()
                    );
                    return;
                }
            }
        } else {
            data
        };
        if data.len() > self.config.max_message_size {
            tracing::warn!(
                "dropping {}-octet message from {remote}: above max_message_size",
                data.len()
            );
            return;
        }
        let header = match Header::decode(data) {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!("dropping datagram from {remote}: {e}");
                return;
            }
        };
        if usize::try_from(header.length).ok() != Some(data.len()) {
            tracing::debug!(
                "dropping message from {remote}: header length {} != datagram {}",
                header.length,
                data.len()
            );
            return;
        }
        if header.exchange == ExchangeType::IKE_SA_INIT
            && !header.flags.response
            && header.spi_r == 0
        {
            self.handle_init_request(now, local, remote, header, data);
            return;
        }
        // The I flag tells who sent it (RFC 7296 §3.1): from the original initiator -> we are the
        // responder and indexed by SPIr.
        let our_spi = if header.flags.initiator {
            header.spi_r
        } else {
            header.spi_i
        };
        let Some(&id) = self.by_spi.get(&our_spi) else {
            tracing::debug!(
                "dropping {} from {remote}: unknown SPI {our_spi:016x}",
                header.exchange
            );
            return;
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        if sa.initiator == header.flags.initiator {
            tracing::debug!(
                "dropping {} from {remote}: I flag does not fit our role",
                header.exchange
            );
            return;
        }
        let mut ctx = ctx!(self, now);
        sa.handle_packet(&mut ctx, local, remote, header, data);
        let initial_contact = sa.dead.is_none() && std::mem::take(&mut sa.initial_contact);
        if initial_contact {
            self.initial_contact(id);
        }
        self.reap(id);
        self.run_actions(now);
    }

    /// RFC 7296 §2.4: INITIAL_CONTACT says the peer has no other SAs with us, so older IKE SAs
    /// between the same authenticated identities (a peer that restarted) are dropped silently.
    fn initial_contact(&mut self, id: SaId) {
        let Some(new) = self.sas.get(&id) else { return };
        let (conn, local_id, remote_id) = (
            new.conn.name.clone(),
            new.local_id.clone(),
            new.remote_id.clone(),
        );
        let stale: Vec<SaId> = self
            .sas
            .values()
            .filter(|s| {
                s.id != id
                    && s.conn.name == conn
                    && s.local_id == local_id
                    && s.remote_id == remote_id
            })
            .filter(|s| s.state == IkeState::Established)
            .map(|s| s.id)
            .collect();
        for old in stale {
            tracing::info!(
                sa = old.0,
                "INITIAL_CONTACT from {remote_id}: dropping the old IKE SA"
            );
            if let Some(s) = self.sas.get_mut(&old) {
                s.finish(DownReason::PeerDelete);
            }
            self.reap(old);
        }
    }

    /// Send an unprotected IKE_SA_INIT error/cookie response (RFC 7296 §2.21.1, §2.6).
    fn plain_reply(&mut self, local: SocketAddr, remote: SocketAddr, header: &Header, n: Notify) {
        let what = crate::notify::notify_name(n.notify_type);
        let mut payload = Vec::new();
        if local.port() == self.config.nat_port {
            payload.extend_from_slice(&NON_ESP_MARKER);
        }
        payload.extend_from_slice(&IkeSa::plain_notify(header, n));
        tracing::debug!("sending IKE_SA_INIT response 0 [ N({what}) ] to {remote}");
        self.out.transmits.push_back(Transmit {
            local,
            remote,
            payload,
        });
    }

    /// RFC 7296 §2.6: Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>).
    fn cookie(&self, ni: &[u8], remote: IpAddr, spi_i: u64) -> Vec<u8> {
        let ip = match remote {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let mut c = vec![COOKIE_VERSION];
        c.extend(self.crypto.hash(
            HashAlgorithm::Sha256,
            &[ni, &ip, &spi_i.to_be_bytes(), &self.cookie_secret],
        ));
        c
    }

    fn half_open(&self) -> usize {
        self.sas
            .values()
            .filter(|s| !s.initiator && s.state != IkeState::Established)
            .count()
    }

    /// Connections whose addresses fit this peer.
    fn candidates(&self, local: SocketAddr, remote: SocketAddr) -> Vec<Arc<ConnectionConfig>> {
        self.connections
            .iter()
            .filter(|c| c.remote_addrs.is_empty() || c.remote_addrs.contains(&remote.ip()))
            .filter(|c| {
                c.local_addrs.is_empty()
                    || c.local_addrs.contains(&local.ip())
                    || local.ip().is_unspecified()
            })
            .cloned()
            .collect()
    }

    fn handle_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        data: &[u8],
    ) {
        if let Some(&id) = self.init_index.get(&(header.spi_i, remote)) {
            // A retransmission: the SA answers from its cached response.
            if let Some(sa) = self.sas.get_mut(&id) {
                let mut ctx = ctx!(self, now);
                sa.handle_packet(&mut ctx, local, remote, header, data);
            }
            return;
        }
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("malformed IKE_SA_INIT from {remote}: {e}");
                self.plain_reply(
                    local,
                    remote,
                    &header,
                    Notify::new(NotifyType::INVALID_SYNTAX, vec![]),
                );
                return;
            }
        };
        let half_open = self.half_open();
        if half_open >= self.config.max_half_open {
            tracing::warn!("dropping IKE_SA_INIT from {remote}: {half_open} half-open SAs");
            return;
        }
        if let Some(p) = msg
            .payloads
            .iter()
            .find(|p| matches!(p, Payload::Unknown { critical: true, .. }))
        {
            let e = IkeError::UnsupportedCritical(p.payload_type());
            tracing::warn!("refusing IKE_SA_INIT from {remote}: {e}");
            if let Some(n) = e.notify() {
                self.plain_reply(local, remote, &header, n);
            }
            return;
        }
        let Some(ni) = msg.payloads.iter().find_map(|p| {
            if let Payload::Nonce(n) = p {
                Some(n.clone())
            } else {
                None
            }
        }) else {
            tracing::warn!("refusing IKE_SA_INIT from {remote}: no nonce");
            self.plain_reply(
                local,
                remote,
                &header,
                Notify::new(NotifyType::INVALID_SYNTAX, vec![]),
            );
            return;
        };
        if half_open >= self.config.cookie_threshold {
            let expected = self.cookie(&ni, remote.ip(), header.spi_i);
            let valid = find_notify(&msg.payloads, NotifyType::COOKIE)
                .is_some_and(|c| ct_eq(&c.data, &expected));
            if !valid {
                tracing::debug!("{half_open} half-open SAs: demanding a cookie from {remote}");
                self.plain_reply(
                    local,
                    remote,
                    &header,
                    Notify::new(NotifyType::COOKIE, expected),
                );
                return;
            }
        }
        let candidates = self.candidates(local, remote);
        let id = self.alloc_id();
        let Some(first) = candidates.first().cloned() else {
            tracing::warn!("no connection for {local} <- {remote}, sending NO_PROPOSAL_CHOSEN");
            self.plain_reply(
                local,
                remote,
                &header,
                Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, vec![]),
            );
            return;
        };
        let offered = msg.payloads.iter().find_map(|p| {
            if let Payload::Sa(v) = p {
                Some(v)
            } else {
                None
            }
        });
        let crypto = &*self.crypto;
        let chosen = offered.and_then(|offered| {
            candidates.iter().find_map(|c| {
                select(offered, &c.proposals, ProtocolId::IKE, &|t, i| {
                    supported(crypto, t, i)
                })
                .map(|s| (c.clone(), s))
            })
        });
        let result = match (offered, chosen) {
            (None, _) => Err((first, IkeError::Syntax("no SA payload".into()))),
            (Some(_), None) => Err((first, IkeError::NoProposal)),
            (Some(_), Some((conn, selected))) => match self.new_spi() {
                Err(e) => {
                    tracing::error!("{e}");
                    return;
                }
                Ok(spi_r) => {
                    let mut sa = IkeSa::new(
                        id,
                        conn.clone(),
                        false,
                        header.spi_i,
                        spi_r,
                        local,
                        remote,
                        now,
                    );
                    let mut ctx = ctx!(self, now);
                    match ike_init::respond(&mut sa, &mut ctx, &msg, data, selected) {
                        Ok(()) => {
                            tracing::debug!(
                                sa = id.0,
                                "new IKE SA for {} from {remote}",
                                conn.name
                            );
                            self.by_spi.insert(spi_r, id);
                            self.init_index.insert((header.spi_i, remote), id);
                            self.sas.insert(id, sa);
                            Ok(())
                        }
                        Err(e) => Err((conn, e)),
                    }
                }
            },
        };
        if let Err((conn, e)) = result {
            tracing::warn!("refusing IKE_SA_INIT from {remote} ({}): {e}", conn.name);
            if let Some(n) = e.notify() {
                self.plain_reply(local, remote, &header, n);
            }
            // INVALID_KE_PAYLOAD is a normal negotiation step; everything else ends the attempt.
            if !matches!(e, IkeError::InvalidKe(_)) {
                self.out.events.push_back(Event::IkeDown {
                    sa: id,
                    connection: conn.name.clone(),
                    reason: DownReason::LocalError(e.reason()),
                });
            }
        }
    }

    /// Remove a finished SA and emit its events.
    fn reap(&mut self, id: SaId) {
        self.adopt();
        let Some(reason) = self.sas.get(&id).and_then(|s| s.dead.clone()) else {
            return;
        };
        let Some(mut sa) = self.sas.remove(&id) else {
            return;
        };
        // A failed SA's keys are the ones a capture most needs decrypting.
        self.out
            .events
            .extend(sa.key_log.drain(..).map(Event::IkeSaKeys));
        // RFC 7296 §2.8.2: the peer deleted the old IKE SA while we held its children waiting
        // for our colliding rekey; the peer's new SA won, the children go there.
        if let Some(to) = sa
            .life
            .ike_collision
            .as_ref()
            .map(|c| SaId(c.created))
            .filter(|t| t.0 != 0 && !sa.children.is_empty())
        {
            if let Some(t) = self.sas.get_mut(&to) {
                tracing::info!(
                    sa = id.0,
                    "IKE_SA rekey collision: children move to IKE SA {}",
                    to.0
                );
                t.children.append(&mut sa.children);
                sa.life.rekeyed = true;
                self.out
                    .events
                    .push_back(Event::IkeRekeyed { old: id, new: to });
            }
        }
        self.by_spi.remove(&sa.our_spi());
        self.init_index.retain(|_, v| *v != id);
        for c in &sa.children {
            self.out.events.push_back(Event::RemoveChildSa {
                ike_sa: id,
                spi_in: c.status.spi_in,
                spi_out: c.status.spi_out,
            });
        }
        tracing::info!(sa = id.0, "IKE_SA {} down: {reason:?}", sa.conn.name);
        self.queue_action(&sa, &reason);
        // The peer keeps its virtual IP while another SA of it (e.g. the rekeyed one) lives.
        let owner = crate::cp::owner(&sa);
        if !sa.life.vips.is_empty()
            && !sa.conn.lifecycle.pools.is_empty()
            && !self.sas.values().any(|s| crate::cp::owner(s) == owner)
        {
            self.leases.release(&owner);
        }
        self.out.events.push_back(Event::IkeDown {
            sa: id,
            connection: sa.conn.name.clone(),
            reason,
        });
    }

    /// Run a user command. Errors (unknown connection, no address) are returned as text.
    pub fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<(), String> {
        let r = self.command(now, cmd);
        self.run_actions(now);
        r
    }

    fn command(&mut self, now: Instant, cmd: Command) -> Result<(), String> {
        match cmd {
            Command::InitiateChild { connection, child } => {
                self.initiate_child(now, &connection, &child, false)
            }
            Command::RekeyChild { connection, child } => {
                self.lifecycle_command(now, &connection, Some(&child))
            }
            Command::RekeyIke { connection } => self.lifecycle_command(now, &connection, None),
            Command::Initiate { connection } => self.initiate(now, &connection),
            Command::Terminate { connection } => {
                let ids: Vec<SaId> = self
                    .sas
                    .values()
                    .filter(|s| s.conn.name == connection)
                    .map(|s| s.id)
                    .collect();
                if ids.is_empty() {
                    return Err(format!("no IKE SA for connection {connection}"));
                }
                for id in ids {
                    self.terminate(now, id);
                }
                Ok(())
            }
            Command::TerminateSa(id) => {
                if !self.sas.contains_key(&id) {
                    return Err(format!("no IKE SA {}", id.0));
                }
                self.terminate(now, id);
                Ok(())
            }
        }
    }

    fn initiate(&mut self, now: Instant, name: &str) -> Result<(), String> {
        let conn = self
            .connections
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| format!("no connection named {name}"))?;
        let remote_ip = *conn
            .remote_addrs
            .first()
            .ok_or_else(|| format!("connection {name} has no remote address"))?;
        let remote = SocketAddr::new(remote_ip, conn.remote_port);
        let local_ip = conn
            .local_addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == remote_ip.is_ipv4())
            .unwrap_or(if remote_ip.is_ipv4() {
                IpAddr::from([0u8; 4])
            } else {
                IpAddr::from([0u16; 8])
            });
        let local = SocketAddr::new(local_ip, self.config.ike_port);
        let spi_i = self.new_spi()?;
        let id = self.alloc_id();
        let mut sa = IkeSa::new(id, conn.clone(), true, spi_i, 0, local, remote, now);
        // RFC 7296 §2.4: INITIAL_CONTACT only when this is the first IKE SA with the peer: no
        // other SA (in any state) of this connection or to the identity we expect.
        let peer = crate::auth::identity_string(&conn.remote.id);
        sa.send_initial_contact = !self
            .sas
            .values()
            .any(|s| s.dead.is_none() && (s.conn.name == conn.name || s.remote_id == peer));
        let mut ctx = ctx!(self, now);
        ike_init::initiate(&mut sa, &mut ctx)
            .map_err(|e| format!("cannot initiate {name}: {e}"))?;
        tracing::info!(sa = id.0, "initiating IKE_SA {name} to {remote}");
        self.by_spi.insert(spi_i, id);
        self.sas.insert(id, sa);
        Ok(())
    }

    fn terminate(&mut self, now: Instant, id: SaId) {
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        if sa.state == IkeState::Established || sa.state == IkeState::Deleting {
            if sa.state == IkeState::Established {
                let mut ctx = ctx!(self, now);
                crate::tasks::informational::start_delete(sa, &mut ctx);
            }
        } else {
            // Not established yet: nothing to tell the peer that it could authenticate.
            sa.finish(DownReason::LocalDelete);
        }
        self.reap(id);
    }

    /// Timers: call when `now >= poll_timeout()`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<SaId> = self
            .sas
            .values()
            .filter(|s| s.deadline(&self.config).is_some_and(|d| d <= now))
            .map(|s| s.id)
            .collect();
        for id in due {
            if let Some(sa) = self.sas.get_mut(&id) {
                let mut ctx = ctx!(self, now);
                sa.on_timeout(&mut ctx);
            }
            self.reap(id);
        }
        self.run_actions(now);
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.config.export_keys {
            self.drain_key_log();
        }
        self.out.events.pop_front()
    }

    /// Move exported key sets (`export_keys`) of live SAs into the event queue.
    fn drain_key_log(&mut self) {
        let sas = self.sas.values_mut().chain(self.out.new_sas.iter_mut());
        for sa in sas {
            self.out
                .events
                .extend(sa.key_log.drain(..).map(Event::IkeSaKeys));
        }
    }

    /// Earliest timer deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas
            .values()
            .filter_map(|s| s.deadline(&self.config))
            .min()
    }

    /// Snapshot of all IKE SAs.
    pub fn status(&self) -> Vec<IkeSaStatus> {
        self.sas.values().map(IkeSa::status).collect()
    }
}

/// Wall-clock Unix seconds at `now`, from the caller's mapping or (if none) the system clock.
fn unix_time(wall_clock: Option<(Instant, i64)>, now: Instant) -> i64 {
    match wall_clock {
        Some((at, unix)) => {
            let delta =
                i64::try_from(now.saturating_duration_since(at).as_secs()).unwrap_or(i64::MAX);
            unix.saturating_add(delta)
        }
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    }
}

/// SA lifecycle entry points (issue 5): rekeyed IKE SAs, dpd/close/start actions, data-plane
/// notices and acquires.
impl Endpoint {
    /// Adopt IKE SAs created by rekeys and apply child moves decided by collisions.
    fn adopt(&mut self) {
        for sa in std::mem::take(&mut self.out.new_sas) {
            let spi = sa.our_spi();
            if self.by_spi.contains_key(&spi) {
                // 2^-64 per rekey; the peer's retransmissions then fail and the old SA expires.
                tracing::error!(sa = sa.id.0, "rekeyed IKE SA SPI {spi:016x} already in use");
                continue;
            }
            self.by_spi.insert(spi, sa.id);
            self.sas.insert(sa.id, sa);
        }
        for (from, to) in std::mem::take(&mut self.out.moves) {
            let children = self
                .sas
                .get_mut(&from)
                .map(|s| std::mem::take(&mut s.children))
                .unwrap_or_default();
            if let Some(t) = self.sas.get_mut(&to) {
                t.children.extend(children);
            }
        }
    }

    /// Remember the connection's dpd/close action for an SA that went down.
    fn queue_action(&mut self, sa: &IkeSa, reason: &DownReason) {
        if sa.life.rekeyed {
            return;
        }
        let lc = &sa.conn.lifecycle;
        let action = match reason {
            DownReason::Timeout { .. } => lc.dpd_action,
            DownReason::PeerDelete => lc.close_action,
            _ => SaAction::None,
        };
        if action != SaAction::None {
            tracing::info!(
                sa = sa.id.0,
                "IKE_SA {} down ({reason:?}): action {action:?}",
                sa.conn.name
            );
            self.actions.push((sa.conn.name.clone(), action));
        }
    }

    fn run_actions(&mut self, now: Instant) {
        for (name, action) in std::mem::take(&mut self.actions) {
            let up = self
                .sas
                .values()
                .any(|s| s.conn.name == name && s.dead.is_none() && !s.life.rekeyed);
            if up {
                continue;
            }
            match action {
                SaAction::None => {}
                SaAction::Start => {
                    if let Err(e) = self.initiate(now, &name) {
                        tracing::warn!("restarting {name}: {e}");
                    }
                }
                SaAction::Trap => self.install_traps(&name),
            }
        }
    }

    fn install_traps(&mut self, name: &str) {
        let Some(conn) = self.connections.iter().find(|c| c.name == name).cloned() else {
            return;
        };
        for c in &conn.children {
            self.out.events.push_back(Event::InstallTrap {
                connection: conn.name.clone(),
                child: c.name.clone(),
                local_ts: c.local_ts.clone(),
                remote_ts: c.remote_ts.clone(),
            });
        }
    }

    /// Run the connections' `start_action`s: initiate (`start`) or install trap policies
    /// (`trap`). Call once after creating the endpoint (and after adding connections).
    pub fn start(&mut self, now: Instant) {
        let conns: Vec<(String, SaAction)> = self
            .connections
            .iter()
            .map(|c| (c.name.clone(), c.lifecycle.start_action))
            .collect();
        for (name, action) in conns {
            match action {
                SaAction::None => {}
                SaAction::Start => {
                    if let Err(e) = self.initiate(now, &name) {
                        tracing::warn!("start_action of {name}: {e}");
                    }
                }
                SaAction::Trap => self.install_traps(&name),
            }
        }
    }

    /// The data plane saw traffic for a trap policy of `connection`/`child`: bring the child up
    /// (a new IKE SA, or CREATE_CHILD_SA on the established one). Repeated acquires while it is
    /// being set up are ignored.
    pub fn handle_acquire(&mut self, now: Instant, connection: &str, child: &str) {
        if let Err(e) = self.initiate_child(now, connection, child, true) {
            tracing::warn!("acquire for {connection}/{child}: {e}");
        }
        self.run_actions(now);
    }

    /// A data-plane expiry for the Child SA with this inbound SPI.
    pub fn handle_esp_notice(&mut self, now: Instant, notice: EspNotice) {
        let (spi_in, hard) = match notice {
            EspNotice::SoftExpire { spi_in } => (spi_in, false),
            EspNotice::HardExpire { spi_in } => (spi_in, true),
        };
        let Some(id) = self
            .sas
            .values()
            .find(|s| s.children.iter().any(|c| c.status.spi_in == spi_in))
            .map(|s| s.id)
        else {
            tracing::debug!("expiry notice for unknown Child SA {spi_in:08x}");
            return;
        };
        if let Some(sa) = self.sas.get_mut(&id) {
            let mut ctx = ctx!(self, now);
            crate::tasks::rekey::esp_notice(sa, &mut ctx, spi_in, hard);
        }
        self.reap(id);
        self.run_actions(now);
    }

    /// The established, not yet replaced IKE SA of a connection.
    fn established_sa(&self, connection: &str) -> Option<SaId> {
        self.sas
            .values()
            .find(|s| {
                s.conn.name == connection
                    && s.state == IkeState::Established
                    && !s.life.rekeyed
                    && s.dead.is_none()
            })
            .map(|s| s.id)
    }

    fn initiate_child(
        &mut self,
        now: Instant,
        connection: &str,
        child: &str,
        acquire: bool,
    ) -> Result<(), String> {
        let Some(id) = self.established_sa(connection) else {
            let connecting = self
                .sas
                .values()
                .any(|s| s.conn.name == connection && s.initiator && s.dead.is_none());
            if acquire && connecting {
                return Ok(());
            }
            return self.initiate(now, connection);
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        let cfg = sa
            .conn
            .children
            .iter()
            .position(|c| c.name == child)
            .ok_or_else(|| format!("connection {connection} has no child {child}"))?;
        if acquire && sa.children.iter().any(|c| c.life.cfg == cfg) {
            return Ok(());
        }
        crate::tasks::rekey::queue_child(sa, cfg);
        let mut ctx = ctx!(self, now);
        crate::tasks::rekey::start_queued(sa, &mut ctx);
        self.reap(id);
        Ok(())
    }

    fn lifecycle_command(
        &mut self,
        now: Instant,
        connection: &str,
        child: Option<&str>,
    ) -> Result<(), String> {
        let ids: Vec<SaId> = self
            .sas
            .values()
            .filter(|s| s.conn.name == connection && s.state == IkeState::Established)
            .filter(|s| !s.life.rekeyed)
            .map(|s| s.id)
            .collect();
        if ids.is_empty() {
            return Err(format!("no established IKE SA for connection {connection}"));
        }
        for id in ids {
            let Some(sa) = self.sas.get_mut(&id) else {
                continue;
            };
            match child {
                None => crate::tasks::rekey::queue(sa, crate::tasks::rekey::Queued::RekeyIke),
                Some(name) => {
                    let spis: Vec<u32> = sa
                        .children
                        .iter()
                        .filter(|c| c.status.name == name)
                        .map(|c| c.status.spi_in)
                        .collect();
                    if spis.is_empty() {
                        return Err(format!("no Child SA {name} on {connection}"));
                    }
                    for spi in spis {
                        crate::tasks::rekey::queue(
                            sa,
                            crate::tasks::rekey::Queued::RekeyChild(spi),
                        );
                    }
                }
            }
            let mut ctx = ctx!(self, now);
            crate::tasks::rekey::start_queued(sa, &mut ctx);
            self.reap(id);
        }
        Ok(())
    }
}
