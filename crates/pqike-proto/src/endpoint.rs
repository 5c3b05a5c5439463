//! The endpoint: the set of IKE SAs, SPI demultiplexing, cookies and half-open limits
//! (strongSwan's ike_sa_manager and receiver), driven by the caller.
use crate::exchange::MessageLayer;
use crate::notify::{find_notify, IkeError};
use crate::path::{Classified, Framing, Path};
use crate::proposal::select;
use crate::sa_index::SaIndex;
use crate::tasks::ike_init::{self, supported};
use crate::tasks::manager::{start_queued, Ctx, IkeSa, Output, Queued};
use crate::*;
use pqike_crypto::{ct_eq, CryptoProvider, HashAlgorithm, SecureRandom};
use pqike_wire::{ExchangeType, Header, Message, Notify, NotifyType, Payload, ProtocolId};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Version octet of our COOKIE values (RFC 7296 §2.6 `<VersionIDofSecret>`).
const COOKIE_VERSION: u8 = 1;

/// All IKE SAs of one daemon (strongSwan's ike_sa_manager), driven by the caller: a sans-IO
/// state machine (quinn-proto's model) that never reads a clock, a socket or the OS RNG.
///
/// # Inputs (each takes `now`, which must not go backwards)
/// 1. [`Endpoint::handle_datagram`]: every UDP datagram received on the IKE or NAT-T port;
/// 2. [`Endpoint::handle_command`]: user commands (initiate, terminate, rekey);
/// 3. [`Endpoint::handle_timeout`]: whenever the deadline from [`Endpoint::poll_timeout`] passed;
/// 4. [`Endpoint::handle_esp_notice`]: the data plane's soft/hard expiries of a Child SA;
/// 5. [`Endpoint::handle_acquire`]: traffic hitting a trap policy;
/// 6. [`Endpoint::set_wall_clock`]: the wall-clock time (Unix seconds) at an instant, the only
///    source of wall-clock time the engine has (certificate validity). Call it once at start
///    and whenever the system clock is stepped.
///
/// Plus [`Endpoint::start`] once after construction (start and trap actions), and the
/// configuration mutators ([`Endpoint::add_connection`], [`Endpoint::remove_connection`],
/// [`Endpoint::set_credentials`]).
///
/// # Outputs, drained after every input, in this order
/// 1. [`Endpoint::poll_event`] until `None`: install Child SAs, log state changes;
/// 2. [`Endpoint::poll_transmit`] until `None`: send each datagram;
/// 3. [`Endpoint::poll_timeout`]: re-arm the timer.
///
/// The two queues are independent, but installing before sending is what RFC 7296 §2.8's
/// make-before-break needs: the response to a rekey must not leave before its inbound SA
/// exists, or the peer's first packets on the new SA meet an unknown SPI.
///
/// # Cost
/// Every input costs O(log n) in the number of SAs plus the work on the SAs it concerns: SAs,
/// SPIs, Child SA SPIs, connections and deadlines are indexed ([`crate::sa_index`],
/// [`crate::timer`]).
pub struct Endpoint {
    config: EndpointConfig,
    connections: Vec<Arc<ConnectionConfig>>,
    credentials: Credentials,
    crypto: Arc<dyn CryptoProvider>,
    rng: Box<dyn SecureRandom>,
    sas: BTreeMap<SaId, IkeSa>,
    /// SPIs, Child SA SPIs, connections, half-open count, deadlines.
    index: SaIndex,
    out: Output,
    next_id: u64,
    cookie_secret: Zeroizing<Vec<u8>>,
    /// (Instant, Unix seconds) pair mapping the caller's clock to wall-clock time.
    wall_clock: Option<(Instant, i64)>,
    /// dpd/close actions of SAs that went down, run with the next `now` (`lifecycle`).
    actions: Vec<(String, SaAction)>,
    /// Remote-access address pool leases.
    leases: crate::tasks::cp::Leases,
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
            index: SaIndex::default(),
            out: Output::default(),
            next_id: 1,
            cookie_secret: secret,
            wall_clock: None,
            actions: Vec::new(),
            leases: Default::default(),
        }
    }

    /// Tell the engine which wall-clock time (Unix seconds) corresponds to `now`; used only for
    /// certificate validity periods. The engine has no other source of wall-clock time: until
    /// this is called, certificate authentication fails with a log line saying so.
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
    fn new_spi(&self) -> Result<u64, CommandError> {
        for _ in 0..16 {
            let mut b = [0u8; 8];
            self.rng.fill(&mut b).map_err(|_| CommandError::NoSpi)?;
            let spi = u64::from_be_bytes(b);
            if spi != 0 && !self.index.spi_in_use(spi) {
                return Ok(spi);
            }
        }
        Err(CommandError::NoSpi)
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
        let (framing, data) = match Framing::classify(local.port(), &self.config, data) {
            Classified::Ike(framing, data) => (framing, data),
            Classified::Keepalive => {
                tracing::trace!("NAT-T keepalive from {remote}");
                return;
            }
            Classified::Esp => {
                tracing::trace!(
                    "ESP packet from {remote} on the NAT-T port: not for the IKE engine"
                );
                return;
            }
            Classified::Runt => {
                tracing::debug!(
                    "dropping {}-octet datagram from {remote} on the NAT-T port",
                    data.len()
                );
                return;
            }
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
            Err(pqike_wire::DecodeError::BadVersion(major)) if major > 2 => {
                self.answer_newer_version(local, remote, major, data);
                return;
            }
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
            // RFC 7296 §3.1: the initiator's SPI is never zero, IKE_SA_INIT is message 0, and a
            // request from the original initiator has the I flag set. Anything else is no
            // IKE_SA_INIT we could answer.
            let why = if header.spi_i == 0 {
                Some("initiator SPI 0")
            } else if header.message_id != 0 {
                Some("message ID not 0")
            } else if !header.flags.initiator {
                Some("I flag clear")
            } else {
                None
            };
            if let Some(why) = why {
                tracing::debug!(
                    "dropping IKE_SA_INIT request from {remote}: {why} (RFC 7296 §3.1)"
                );
                return;
            }
            self.handle_init_request(now, local, remote, framing, header, data);
            return;
        }
        // The I flag tells who sent it (RFC 7296 §3.1): from the original initiator -> we are the
        // responder and indexed by SPIr.
        let our_spi = if header.flags.initiator {
            header.spi_r
        } else {
            header.spi_i
        };
        let Some(id) = self.index.by_spi(our_spi) else {
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
        sa.handle_packet(&mut ctx, local, remote, framing, header, data);
        let initial_contact = sa.dead.is_none() && std::mem::take(&mut sa.initial_contact);
        if initial_contact {
            self.initial_contact(id);
        }
        self.settle(id);
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
            .index
            .of_connection(&conn)
            .filter_map(|i| self.sas.get(&i))
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
                s.mark_down(DownReason::PeerDelete);
            }
            self.settle(old);
        }
    }

    /// Send an unprotected IKE_SA_INIT error/cookie response (RFC 7296 §2.21.1, §2.6).
    fn plain_reply(&mut self, local: SocketAddr, remote: SocketAddr, header: &Header, n: Notify) {
        let what = crate::notify::notify_name(n.notify_type);
        let message = match MessageLayer::plain_notify(header, n) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("cannot send IKE_SA_INIT response 0 [ N({what}) ] to {remote}: {e}");
                return;
            }
        };
        let payload = Framing::for_udp_port(local.port(), &self.config).frame(&message);
        tracing::debug!("sending IKE_SA_INIT response 0 [ N({what}) ] to {remote}");
        self.out.transmits.push_back(Transmit {
            local,
            remote,
            payload,
        });
    }

    /// RFC 7296 §2.5: a message with a higher major version is dropped, and an IKE_SA_INIT
    /// request is answered with an unauthenticated INVALID_MAJOR_VERSION whose header carries the
    /// version we speak (2.0), so that a newer initiator can fall back. Nothing is kept.
    fn answer_newer_version(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        major: u8,
        data: &[u8],
    ) {
        // Read the rest of the header as if it were 2.0: the fields before and after the
        // version octet have the same place in every version RFC 7296 §2.5 lets us answer.
        let Some(mut head) = data.get(..28).map(<[u8]>::to_vec) else {
            return;
        };
        head[17] = 0x20;
        let Ok(header) = Header::decode(&head) else {
            return;
        };
        if header.exchange != ExchangeType::IKE_SA_INIT || header.flags.response {
            tracing::debug!("dropping IKEv{major} {} from {remote}", header.exchange);
            return;
        }
        tracing::debug!("IKEv{major} IKE_SA_INIT from {remote}: answering INVALID_MAJOR_VERSION");
        self.plain_reply(
            local,
            remote,
            &header,
            Notify::new(NotifyType::INVALID_MAJOR_VERSION, Vec::new()),
        );
    }

    /// Refuse an IKE_SA_INIT request with the notify the error maps to (none: a silent drop).
    fn refuse(&mut self, local: SocketAddr, remote: SocketAddr, header: &Header, e: &IkeError) {
        if let Some(n) = e.notify_in(ExchangeType::IKE_SA_INIT) {
            self.plain_reply(local, remote, header, n);
        }
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
        self.index.half_open()
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
        framing: Framing,
        header: Header,
        data: &[u8],
    ) {
        if data.len() > self.config.max_init_size {
            tracing::debug!(
                "dropping {}-octet IKE_SA_INIT request from {remote}: above max_init_size {}",
                data.len(),
                self.config.max_init_size
            );
            return;
        }
        if let Some(id) = self.index.by_init(header.spi_i, remote) {
            // A retransmission: the SA answers from its cached response.
            if let Some(sa) = self.sas.get_mut(&id) {
                let mut ctx = ctx!(self, now);
                sa.handle_packet(&mut ctx, local, remote, framing, header, data);
            }
            self.settle(id);
            return;
        }
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("malformed IKE_SA_INIT from {remote}: {e}");
                self.refuse(local, remote, &header, &IkeError::Decode(e));
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
            self.refuse(local, remote, &header, &e);
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
            self.refuse(local, remote, &header, &IkeError::Syntax("no nonce".into()));
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
            self.refuse(local, remote, &header, &IkeError::NoProposal);
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
                    let path = Path {
                        local,
                        remote,
                        framing,
                    };
                    let mut sa =
                        IkeSa::new(id, conn.clone(), false, header.spi_i, spi_r, path, now);
                    // RealMessage1 arrived before the SA existed (RFC 7296 §2.15).
                    sa.msg.record_init_request(data);
                    let mut ctx = ctx!(self, now);
                    let r = sa
                        .absorb_transcript(&ctx)
                        .and_then(|()| ike_init::respond(&mut sa, &mut ctx, &msg, selected));
                    match r {
                        Ok(()) => {
                            tracing::debug!(
                                sa = id.0,
                                "new IKE SA for {} from {remote}",
                                conn.name
                            );
                            self.index.set_init_key(id, header.spi_i, remote);
                            self.sas.insert(id, sa);
                            self.settle(id);
                            Ok(())
                        }
                        Err(e) => Err((conn, e)),
                    }
                }
            },
        };
        if let Err((conn, e)) = result {
            tracing::warn!("refusing IKE_SA_INIT from {remote} ({}): {e}", conn.name);
            self.refuse(local, remote, &header, &e);
            // INVALID_KE_PAYLOAD is a normal negotiation step; everything else ends the attempt.
            if !matches!(e, IkeError::InvalidKe(_)) {
                self.out.events.push_back(Event::IkeDown {
                    sa: id,
                    connection: conn.name.clone(),
                    reason: DownReason::LocalError(e.clone()),
                });
            }
        }
    }

    /// After an input touched SA `id`: adopt SAs created by a rekey, pass on exported keys,
    /// remove the SA with its events if it finished, else bring its index entries and timer up
    /// to date. Costs O(its children + log n), never a scan of all SAs.
    fn settle(&mut self, id: SaId) {
        self.adopt();
        if self.config.export_keys {
            if let Some(sa) = self.sas.get_mut(&id) {
                self.out
                    .events
                    .extend(sa.key_log.drain(..).map(Event::IkeSaKeys));
            }
        }
        let Some(reason) = self.sas.get(&id).and_then(|s| s.dead.clone()) else {
            if let Some(sa) = self.sas.get_mut(&id) {
                self.index.refresh(sa, &self.config);
            }
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
                self.index.refresh(t, &self.config);
            }
        }
        self.index.remove(id);
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
        let owner = sa.lease_owner();
        if !sa.cp.vips.is_empty()
            && !sa.conn.lifecycle.pools.is_empty()
            && self.index.lease_holders(&owner) == 0
        {
            self.leases.release(&owner);
        }
        self.out.events.push_back(Event::IkeDown {
            sa: id,
            connection: sa.conn.name.clone(),
            reason,
        });
    }

    /// Run a user command. Errors say why it could not start (unknown connection, no address,
    /// nothing to act on); what happens to the exchanges it starts comes as events.
    pub fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<(), CommandError> {
        let r = self.command(now, cmd);
        self.run_actions(now);
        r
    }

    fn command(&mut self, now: Instant, cmd: Command) -> Result<(), CommandError> {
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
                let ids: Vec<SaId> = self.index.of_connection(&connection).collect();
                if ids.is_empty() {
                    return Err(CommandError::NoSa(connection));
                }
                for id in ids {
                    self.terminate(now, id);
                }
                Ok(())
            }
            Command::TerminateSa(id) => {
                if !self.sas.contains_key(&id) {
                    return Err(CommandError::UnknownSa(id));
                }
                self.terminate(now, id);
                Ok(())
            }
        }
    }

    fn initiate(&mut self, now: Instant, name: &str) -> Result<(), CommandError> {
        let conn = self
            .connections
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| CommandError::UnknownConnection(name.into()))?;
        let remote_ip = *conn
            .remote_addrs
            .first()
            .ok_or_else(|| CommandError::NoRemoteAddress(name.into()))?;
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
        let path = Path::udp(local, remote, &self.config);
        let mut sa = IkeSa::new(id, conn.clone(), true, spi_i, 0, path, now);
        // RFC 7296 §2.4: INITIAL_CONTACT only when this is the first IKE SA with the peer: no
        // other SA (in any state) of this connection or to the identity we expect.
        let peer = crate::auth::identity_string(&conn.remote.id);
        let alive = |i: SaId| self.sas.get(&i).is_some_and(|s| s.dead.is_none());
        sa.send_initial_contact = !(self.index.of_connection(&conn.name).any(alive)
            || self.index.of_remote_id(&peer).any(alive));
        let mut ctx = ctx!(self, now);
        ike_init::initiate(&mut sa, &mut ctx).map_err(|error| CommandError::Initiate {
            connection: name.into(),
            error,
        })?;
        tracing::info!(sa = id.0, "initiating IKE_SA {name} to {remote}");
        self.sas.insert(id, sa);
        self.settle(id);
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
            sa.mark_down(DownReason::LocalDelete);
        }
        self.settle(id);
    }

    /// Timers: call when `now >= poll_timeout()`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for id in self.index.timers.take_due(now) {
            if let Some(sa) = self.sas.get_mut(&id) {
                let mut ctx = ctx!(self, now);
                sa.on_timeout(&mut ctx);
            }
            self.settle(id);
        }
        self.run_actions(now);
    }

    /// Next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// Next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// Earliest timer deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.index.timers.next()
    }

    /// Snapshot of all IKE SAs.
    pub fn status(&self) -> Vec<IkeSaStatus> {
        self.sas.values().map(IkeSa::status).collect()
    }
}

/// Wall-clock Unix seconds at `now`, from the caller's mapping; `None` when the caller gave none
/// (the engine never reads the system clock).
fn unix_time(wall_clock: Option<(Instant, i64)>, now: Instant) -> Option<i64> {
    let (at, unix) = wall_clock?;
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    Some(if now >= at {
        unix.saturating_add(secs(now - at))
    } else {
        unix.saturating_sub(secs(at - now))
    })
}

/// SA lifecycle entry points: rekeyed IKE SAs, dpd/close/start actions, data-plane notices and
/// acquires.
impl Endpoint {
    /// Adopt IKE SAs created by rekeys and apply child moves decided by collisions.
    fn adopt(&mut self) {
        for mut sa in std::mem::take(&mut self.out.new_sas) {
            let spi = sa.our_spi();
            if self.index.spi_in_use(spi) {
                // 2^-64 per rekey; the peer's retransmissions then fail and the old SA expires.
                tracing::error!(sa = sa.id.0, "rekeyed IKE SA SPI {spi:016x} already in use");
                continue;
            }
            if self.config.export_keys {
                self.out
                    .events
                    .extend(sa.key_log.drain(..).map(Event::IkeSaKeys));
            }
            self.index.refresh(&mut sa, &self.config);
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
            for id in [from, to] {
                if let Some(sa) = self.sas.get_mut(&id) {
                    self.index.refresh(sa, &self.config);
                }
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
                .connection_sas(&name)
                .any(|s| s.dead.is_none() && !s.life.rekeyed);
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
        let Some(id) = self.index.by_child_spi(spi_in) else {
            tracing::debug!("expiry notice for unknown Child SA {spi_in:08x}");
            return;
        };
        if let Some(sa) = self.sas.get_mut(&id) {
            let mut ctx = ctx!(self, now);
            crate::tasks::rekey::esp_notice(sa, &mut ctx, spi_in, hard);
        }
        self.settle(id);
        self.run_actions(now);
    }

    /// The established, not yet replaced IKE SA of a connection.
    fn established_sa(&self, connection: &str) -> Option<SaId> {
        self.connection_sas(connection)
            .find(|s| s.state == IkeState::Established && !s.life.rekeyed && s.dead.is_none())
            .map(|s| s.id)
    }

    /// The SAs of a connection (through the index, not a scan).
    fn connection_sas<'a>(&'a self, connection: &str) -> impl Iterator<Item = &'a IkeSa> + 'a {
        let ids: Vec<SaId> = self.index.of_connection(connection).collect();
        ids.into_iter().filter_map(|i| self.sas.get(&i))
    }

    fn initiate_child(
        &mut self,
        now: Instant,
        connection: &str,
        child: &str,
        acquire: bool,
    ) -> Result<(), CommandError> {
        let Some(id) = self.established_sa(connection) else {
            let connecting = self
                .connection_sas(connection)
                .any(|s| s.initiator && s.dead.is_none());
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
            .ok_or_else(|| CommandError::UnknownChild {
                connection: connection.into(),
                child: child.into(),
            })?;
        if acquire && sa.children.iter().any(|c| c.life.cfg == cfg) {
            return Ok(());
        }
        sa.enqueue(Queued::NewChild(cfg));
        let mut ctx = ctx!(self, now);
        start_queued(sa, &mut ctx);
        self.settle(id);
        Ok(())
    }

    fn lifecycle_command(
        &mut self,
        now: Instant,
        connection: &str,
        child: Option<&str>,
    ) -> Result<(), CommandError> {
        let ids: Vec<SaId> = self
            .connection_sas(connection)
            .filter(|s| s.state == IkeState::Established && !s.life.rekeyed)
            .map(|s| s.id)
            .collect();
        if ids.is_empty() {
            return Err(CommandError::NotEstablished(connection.into()));
        }
        for id in ids {
            let Some(sa) = self.sas.get_mut(&id) else {
                continue;
            };
            match child {
                None => sa.enqueue(Queued::RekeyIke),
                Some(name) => {
                    let spis: Vec<u32> = sa
                        .children
                        .iter()
                        .filter(|c| c.status.name == name)
                        .map(|c| c.status.spi_in)
                        .collect();
                    if spis.is_empty() {
                        return Err(CommandError::NoChildSa {
                            connection: connection.into(),
                            child: name.into(),
                        });
                    }
                    for spi in spis {
                        sa.enqueue(Queued::RekeyChild(spi));
                    }
                }
            }
            let mut ctx = ctx!(self, now);
            start_queued(sa, &mut ctx);
            self.settle(id);
        }
        Ok(())
    }
}
