//! One IKE SA: identity, negotiated algorithms, key generations, and the message layer below the
//! tasks: message-ID windows (one outstanding request each way, RFC 7296 §2.3), the cached last
//! response for retransmitted requests, retransmission with exponential backoff, SK protection,
//! RFC 7383 fragmentation/reassembly and NAT-T port handling.
use crate::crypto_ctx::{decode_inner, open_message, seal_message, IkeAlgs, SaKeys};
use crate::fragment::{max_ike_len, FragResult, Reassembly};
use crate::keymat::IntAuthChain;
use crate::notify::{summary, IkeError};
use crate::tasks::Pending;
use crate::*;
use pqike_crypto::{CryptoProvider, SecureRandom};
use pqike_wire::{
    decode_payload_chain, locate_encrypted, ExchangeType, Flags, Header, KeMethod, Message, Notify,
    Payload, PayloadType, TransformType, NON_ESP_MARKER,
};
use std::collections::VecDeque;
use std::sync::Arc;

/// Everything an SA needs from its endpoint while handling one input.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub cfg: &'a EndpointConfig,
    pub creds: &'a Credentials,
    pub crypto: &'a dyn CryptoProvider,
    pub rng: &'a dyn SecureRandom,
    pub out: &'a mut Output,
    /// Wall-clock time (Unix seconds) for certificate validity.
    pub unix_now: i64,
    /// The endpoint's SA handle counter (IKE SAs created by a rekey take their handle here).
    pub next_id: &'a mut u64,
    /// Virtual IP leases of the remote-access pools (`cp`).
    pub leases: &'a mut crate::cp::Leases,
}

/// Output queues of the endpoint.
#[derive(Default)]
pub(crate) struct Output {
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<Event>,
    /// IKE SAs created by a rekey, for the endpoint to adopt.
    pub new_sas: Vec<IkeSa>,
    /// (from, to): move the children of IKE SA `from` to `to` (rekey collision outcome).
    pub moves: Vec<(SaId, SaId)>,
}

/// What the peer announced in IKE_SA_INIT.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerSupport {
    pub fragmentation: bool,
    pub childless: bool,
    pub intermediate: bool,
    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4), empty if not sent.
    pub hash_algs: Vec<u16>,
    /// CERTREQ payloads received.
    pub certreq: bool,
}

/// Our request waiting for its response.
pub(crate) struct Outstanding {
    pub mid: u32,
    pub exchange: ExchangeType,
    pub packets: Vec<Vec<u8>>,
    pub retransmits: u32,
    pub deadline: Instant,
    pub task: Pending,
}

/// An installed Child SA.
#[derive(Clone, Debug)]
pub(crate) struct ChildSa {
    pub status: ChildSaStatus,
    /// Rekey/expiry timers and rekey state.
    pub life: crate::tasks::rekey::ChildLife,
}

/// A decrypted (and reassembled) message.
pub(crate) struct Received {
    pub header: Header,
    pub payloads: Vec<Payload>,
    /// Logical parts for RFC 9242 IntAuth.
    pub unencrypted: Vec<u8>,
    pub first_inner: PayloadType,
    pub inner: Vec<u8>,
}

/// An IKE SA.
pub(crate) struct IkeSa {
    pub id: SaId,
    pub conn: Arc<ConnectionConfig>,
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub state: IkeState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// NAT in front of us / in front of the peer (RFC 7296 §2.23).
    pub nat_local: bool,
    pub nat_remote: bool,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub algs: Option<IkeAlgs>,
    /// Key exchanges done, in order (type 4 first).
    pub ke_done: Vec<KeMethod>,
    /// RFC 9370 rounds still to run.
    pub addke_pending: VecDeque<(TransformType, KeMethod)>,
    pub keys: Option<SaKeys>,
    pub intauth: IntAuthChain,
    /// RealMessage1 / RealMessage2 for AUTH (RFC 7296 §2.15).
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    pub peer: PeerSupport,
    pub next_request_mid: u32,
    pub outstanding: Option<Outstanding>,
    pub next_peer_mid: u32,
    pub cached_response: Option<(u32, Vec<Vec<u8>>)>,
    pub reassembly: Option<Reassembly>,
    pub children: Vec<ChildSa>,
    pub created_at: Instant,
    pub established_at: Option<Instant>,
    pub last_activity: Instant,
    pub local_id: String,
    pub remote_id: String,
    /// A Delete to start once the current exchange is done.
    pub delete_queued: bool,
    /// The peer sent INITIAL_CONTACT in IKE_AUTH: the endpoint drops our older SAs with it.
    pub initial_contact: bool,
    /// We send INITIAL_CONTACT in our IKE_AUTH request: set by the endpoint when no other IKE
    /// SA with this peer exists (RFC 7296 §2.4).
    pub send_initial_contact: bool,
    /// Set when the SA is finished; the endpoint reaps it and emits the events.
    pub dead: Option<DownReason>,
    /// PPK / multiple-auth / RFC 9593 negotiation state (`pqauth`).
    pub pqauth: crate::pqauth::SaState,
    /// Rekeying, expiry and queued lifecycle exchanges.
    pub life: crate::tasks::rekey::IkeLife,
    /// Key sets derived since the endpoint last looked, with `export_keys` on (tasks see the
    /// endpoint only through a shared `Ctx`; the endpoint moves these into its event queue).
    pub key_log: Vec<crate::IkeSaKeyLog>,
}

/// Hex for debug logs.
pub(crate) fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

impl IkeSa {
    /// A fresh SA in state Connecting.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: SaId,
        conn: Arc<ConnectionConfig>,
        initiator: bool,
        spi_i: u64,
        spi_r: u64,
        local: SocketAddr,
        remote: SocketAddr,
        now: Instant,
    ) -> IkeSa {
        IkeSa {
            id,
            conn,
            initiator,
            spi_i,
            spi_r,
            state: IkeState::Connecting,
            local,
            remote,
            nat_local: false,
            nat_remote: false,
            ni: Vec::new(),
            nr: Vec::new(),
            algs: None,
            ke_done: Vec::new(),
            addke_pending: VecDeque::new(),
            keys: None,
            intauth: IntAuthChain::default(),
            init_request: Vec::new(),
            init_response: Vec::new(),
            peer: PeerSupport::default(),
            next_request_mid: 0,
            outstanding: None,
            next_peer_mid: 0,
            cached_response: None,
            reassembly: None,
            children: Vec::new(),
            created_at: now,
            established_at: None,
            last_activity: now,
            local_id: String::new(),
            remote_id: String::new(),
            delete_queued: false,
            initial_contact: false,
            send_initial_contact: false,
            dead: None,
            pqauth: Default::default(),
            life: Default::default(),
            key_log: Vec::new(),
        }
    }

    /// Our SPI (the one the endpoint indexes us by).
    pub fn our_spi(&self) -> u64 {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    /// NAT detected on either side.
    pub fn nat_detected(&self) -> bool {
        self.nat_local || self.nat_remote
    }

    /// The SA's PRF.
    pub fn prf<'c>(
        &self,
        crypto: &'c dyn CryptoProvider,
    ) -> Result<&'c dyn pqike_crypto::Prf, IkeError> {
        let id = self
            .algs
            .ok_or_else(|| IkeError::Config("no algorithms negotiated".into()))?
            .prf;
        crypto
            .prf(id)
            .ok_or_else(|| IkeError::Config(format!("PRF {id} unsupported")))
    }

    /// Current keys or an error.
    pub fn keys(&self) -> Result<&SaKeys, IkeError> {
        self.keys
            .as_ref()
            .ok_or_else(|| IkeError::Config("no keys yet".into()))
    }

    /// Mark the SA finished (first reason wins).
    pub fn finish(&mut self, reason: DownReason) {
        if self.dead.is_none() {
            self.dead = Some(reason);
        }
    }

    fn header(&self, exchange: ExchangeType, response: bool, mid: u32) -> Header {
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload: PayloadType::NONE,
            version: 0x20,
            exchange,
            flags: Flags {
                initiator: self.initiator,
                response,
                version: false,
            },
            message_id: mid,
            length: 0,
        }
    }

    /// RFC 7383 applies once both sides announced support.
    fn fragment_limit(&self, cfg: &EndpointConfig) -> Option<usize> {
        (self.conn.fragmentation && self.peer.fragmentation).then(|| {
            max_ike_len(
                cfg.fragment_size,
                self.remote,
                self.local.port() == cfg.nat_port,
            )
        })
    }

    /// The header template a message of this exchange gets (for IntAuth "A").
    pub fn header_for(&self, exchange: ExchangeType, response: bool, mid: u32) -> Header {
        self.header(exchange, response, mid)
    }

    /// Encode (IKE_SA_INIT) or protect a message.
    fn build(
        &self,
        ctx: &Ctx<'_>,
        header: &Header,
        payloads: &[Payload],
    ) -> Result<Vec<Vec<u8>>, IkeError> {
        if header.exchange == ExchangeType::IKE_SA_INIT {
            return Ok(vec![Message {
                header: *header,
                payloads: payloads.to_vec(),
            }
            .encode()]);
        }
        let keys = self.keys()?;
        seal_message(
            &*keys.out,
            ctx.rng,
            header,
            payloads,
            self.fragment_limit(ctx.cfg),
        )
    }

    fn log_message(
        &self,
        ctx: &mut Ctx<'_>,
        verb: &str,
        header: &Header,
        payloads: &[Payload],
        packets: usize,
    ) {
        let s = summary(
            header.exchange,
            header.flags.response,
            header.message_id,
            payloads,
        );
        let frag = if packets > 1 {
            format!(" in {packets} fragments")
        } else {
            String::new()
        };
        tracing::debug!(
            sa = self.id.0,
            "{verb} {s}{frag} ({} -> {})",
            self.local,
            self.remote
        );
        ctx.out.events.push_back(Event::Exchange {
            sa: self.id,
            summary: format!("{verb} {s}{frag}"),
        });
    }

    /// Put datagrams on the wire from the SA's current addresses (adding the non-ESP marker on the
    /// NAT-T port, RFC 3948 §2.2).
    pub fn transmit(&self, ctx: &mut Ctx<'_>, packets: &[Vec<u8>]) {
        let marker = self.local.port() == ctx.cfg.nat_port;
        for p in packets {
            let mut payload = Vec::with_capacity(p.len() + 4);
            if marker {
                payload.extend_from_slice(&NON_ESP_MARKER);
            }
            payload.extend_from_slice(p);
            ctx.out.transmits.push_back(Transmit {
                local: self.local,
                remote: self.remote,
                payload,
            });
        }
    }

    /// Send a request and remember it for retransmission. Returns the packets (IKE_SA_INIT callers
    /// keep the bytes as RealMessage1).
    pub fn send_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        payloads: &[Payload],
        task: Pending,
    ) -> Result<Vec<Vec<u8>>, IkeError> {
        let mid = self.next_request_mid;
        let header = self.header(exchange, false, mid);
        // Remote access: CP(CFG_REQUEST) in our first IKE_AUTH request (`cp`).
        let cp = crate::cp::request_payloads(self, exchange);
        let with_cp;
        let payloads = if cp.is_empty() {
            payloads
        } else {
            with_cp = [payloads, &cp].concat();
            &with_cp[..]
        };
        let packets = self.build(ctx, &header, payloads)?;
        self.log_message(ctx, "sending", &header, payloads, packets.len());
        self.transmit(ctx, &packets);
        self.outstanding = Some(Outstanding {
            mid,
            exchange,
            packets: packets.clone(),
            retransmits: 0,
            deadline: ctx.now + ctx.cfg.retransmit_timeout,
            task,
        });
        Ok(packets)
    }

    /// Send the response to request `mid` and cache it for retransmitted requests.
    pub fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        mid: u32,
        payloads: &[Payload],
    ) -> Result<Vec<Vec<u8>>, IkeError> {
        let header = self.header(exchange, true, mid);
        // Remote access: the CP(CFG_REPLY) prepared for this IKE_AUTH response (`cp`).
        let cp = crate::cp::response_payloads(self, exchange, payloads);
        let with_cp;
        let payloads = if cp.is_empty() {
            payloads
        } else {
            with_cp = [payloads, &cp].concat();
            &with_cp[..]
        };
        let packets = self.build(ctx, &header, payloads)?;
        self.log_message(ctx, "sending", &header, payloads, packets.len());
        self.transmit(ctx, &packets);
        self.cached_response = Some((mid, packets.clone()));
        self.next_peer_mid = mid.wrapping_add(1);
        Ok(packets)
    }

    /// Deadline of this SA's next timer.
    pub fn deadline(&self, cfg: &EndpointConfig) -> Option<Instant> {
        let mut d = self.outstanding.as_ref().map(|o| o.deadline);
        let mut add = |t: Instant| d = Some(d.map_or(t, |x| x.min(t)));
        // Half-open = never established (an SA we are deleting is in state Deleting, not half-open).
        if !self.initiator && self.established_at.is_none() {
            add(self.created_at + cfg.half_open_timeout);
        }
        if let (Some(iv), IkeState::Established, None) = (
            crate::tasks::rekey::dpd_interval(self, cfg),
            &self.state,
            &self.outstanding,
        ) {
            add(self.last_activity + iv);
        }
        if let Some(t) = crate::tasks::rekey::deadline(self) {
            add(t);
        }
        d
    }

    /// Run expired timers: retransmit with backoff or give up; half-open expiry; liveness checks.
    pub fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if !self.initiator
            && self.established_at.is_none()
            && ctx.now >= self.created_at + ctx.cfg.half_open_timeout
        {
            tracing::info!(sa = self.id.0, "half-open IKE SA timed out, dropping it");
            self.finish(DownReason::LocalError("half-open IKE SA timed out".into()));
            return;
        }
        crate::tasks::rekey::on_timeout(self, ctx);
        if self.dead.is_some() {
            return;
        }
        if let Some(out) = &mut self.outstanding {
            if ctx.now >= out.deadline {
                if out.retransmits >= ctx.cfg.retransmit_tries {
                    let exchange = out.exchange.to_string();
                    let retransmits = out.retransmits;
                    tracing::info!(
                        sa = self.id.0,
                        "giving up on {exchange} after {retransmits} retransmissions"
                    );
                    self.finish(DownReason::Timeout {
                        exchange,
                        retransmits,
                    });
                    return;
                }
                out.retransmits += 1;
                // RFC 7296 §2.1 leaves the schedule open; strongSwan's timeout * base^n.
                let factor = ctx
                    .cfg
                    .retransmit_base
                    .powi(i32::try_from(out.retransmits).unwrap_or(i32::MAX));
                out.deadline = ctx.now + ctx.cfg.retransmit_timeout.mul_f64(factor.max(1.0));
                let (n, exchange, mid) = (out.retransmits, out.exchange, out.mid);
                let packets = out.packets.clone();
                tracing::debug!(sa = self.id.0, "retransmit {n} of {exchange} request {mid}");
                self.transmit(ctx, &packets);
            }
            return;
        }
        if let (Some(iv), IkeState::Established) = (
            crate::tasks::rekey::dpd_interval(self, ctx.cfg),
            &self.state,
        ) {
            if ctx.now >= self.last_activity + iv {
                crate::tasks::informational::start_liveness(self, ctx);
            }
        }
    }

    /// Handle a datagram addressed to this SA (marker already stripped, header decoded).
    pub fn handle_packet(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        buf: &[u8],
    ) {
        if header.flags.response {
            self.handle_response(ctx, local, remote, header, buf);
        } else {
            self.handle_request(ctx, local, remote, header, buf);
        }
        if self.dead.is_none() && self.outstanding.is_none() && self.delete_queued {
            self.delete_queued = false;
            crate::tasks::informational::start_delete(self, ctx);
        }
        crate::tasks::rekey::after_input(self, ctx);
    }

    fn handle_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        buf: &[u8],
    ) {
        let Some(out) = &self.outstanding else {
            tracing::debug!(
                sa = self.id.0,
                "dropping response {}: no request outstanding",
                header.message_id
            );
            return;
        };
        if out.mid != header.message_id || out.exchange != header.exchange {
            tracing::debug!(
                sa = self.id.0,
                "dropping {} response {}: expected {} {}",
                header.exchange,
                header.message_id,
                out.exchange,
                out.mid
            );
            return;
        }
        if header.exchange == ExchangeType::IKE_SA_INIT {
            let msg = match Message::decode(buf) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(
                        sa = self.id.0,
                        "dropping malformed IKE_SA_INIT response: {e}"
                    );
                    return;
                }
            };
            self.log_message(ctx, "received", &msg.header, &msg.payloads, 1);
            let Some(out) = self.outstanding.take() else {
                return;
            };
            crate::tasks::process_init_response(self, ctx, out, msg, buf);
            return;
        }
        let msg = match self.receive_protected(ctx, &header, buf) {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => {
                // Authenticated but undecodable: the exchange cannot complete (RFC 7296 §2.21.1).
                tracing::warn!(
                    sa = self.id.0,
                    "malformed {} response: {e}",
                    header.exchange
                );
                self.outstanding = None;
                self.finish(DownReason::LocalError(e.reason()));
                return;
            }
        };
        self.follow_peer(local, remote);
        self.last_activity = ctx.now;
        let Some(out) = self.outstanding.take() else {
            return;
        };
        self.next_request_mid = self.next_request_mid.wrapping_add(1);
        crate::tasks::process_response(self, ctx, out.task, msg);
    }

    fn handle_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        buf: &[u8],
    ) {
        // RFC 7296 §2.1: a retransmitted request gets the cached response again (all fragments,
        // RFC 7383 §2.6.1, sent once per retransmitted message: on its first fragment).
        if let Some((mid, packets)) = &self.cached_response {
            if *mid == header.message_id {
                let first = match locate_encrypted(buf) {
                    Ok(loc) => loc.fragment.is_none_or(|(n, _)| n == 1),
                    Err(_) => header.exchange == ExchangeType::IKE_SA_INIT,
                };
                if first {
                    tracing::debug!(
                        sa = self.id.0,
                        "retransmitted request {mid}: resending cached response"
                    );
                    let packets = packets.clone();
                    self.transmit(ctx, &packets);
                }
                return;
            }
        }
        if header.message_id != self.next_peer_mid {
            tracing::debug!(
                sa = self.id.0,
                "dropping request {}: expected message ID {}",
                header.message_id,
                self.next_peer_mid
            );
            return;
        }
        if header.exchange == ExchangeType::IKE_SA_INIT {
            tracing::debug!(
                sa = self.id.0,
                "dropping IKE_SA_INIT request on an existing SA"
            );
            return;
        }
        let mid = header.message_id;
        match self.receive_protected(ctx, &header, buf) {
            Ok(Some(msg)) => {
                self.follow_peer(local, remote);
                self.last_activity = ctx.now;
                crate::tasks::process_request(self, ctx, msg);
            }
            Ok(None) => {}
            Err(e) => {
                // Inside an established SA errors go in the encrypted response (RFC 7296 §2.21.2).
                tracing::warn!(
                    sa = self.id.0,
                    "malformed {} request {mid}: {e}",
                    header.exchange
                );
                if let Some(n) = e.notify() {
                    let _ = self.send_response(ctx, header.exchange, mid, &[Payload::Notify(n)]);
                }
                if matches!(
                    self.state,
                    IkeState::Authenticating | IkeState::Intermediate | IkeState::Connecting
                ) {
                    self.finish(DownReason::LocalError(e.reason()));
                }
            }
        }
    }

    /// After NAT detection the peer may appear from a new address/port (RFC 7296 §2.23: the
    /// responder follows the initiator's float to 4500 and NAT rebinding).
    fn follow_peer(&mut self, local: SocketAddr, remote: SocketAddr) {
        if (self.local, self.remote) != (local, remote)
            && (self.nat_detected() || local.port() != self.local.port())
        {
            tracing::debug!(
                sa = self.id.0,
                "peer moved: {} -> {} (local {})",
                self.remote,
                remote,
                local
            );
            self.local = local;
            self.remote = remote;
        }
    }

    /// Open an SK/SKF message and reassemble fragments. `Ok(None)`: dropped or incomplete (logged).
    /// `Err`: authenticated but malformed (the caller answers INVALID_SYNTAX).
    fn receive_protected(
        &mut self,
        ctx: &mut Ctx<'_>,
        header: &Header,
        buf: &[u8],
    ) -> Result<Option<Received>, IkeError> {
        let Some(keys) = self.keys.as_ref() else {
            tracing::debug!(sa = self.id.0, "dropping {}: no keys yet", header.exchange);
            return Ok(None);
        };
        let opened = match open_message(&*keys.inp, buf) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(
                    sa = self.id.0,
                    "dropping {} message {}: {e}",
                    header.exchange,
                    header.message_id
                );
                return Ok(None);
            }
        };
        let (first_inner, inner, unencrypted) = match opened.loc.fragment {
            None => (opened.loc.first_inner, opened.inner, opened.unencrypted),
            Some((number, total)) => {
                if !self.conn.fragmentation {
                    tracing::warn!(
                        sa = self.id.0,
                        "dropping fragment: fragmentation not enabled"
                    );
                    return Ok(None);
                }
                let response = header.flags.response;
                let r = match &mut self.reassembly {
                    Some(r) if r.mid == header.message_id && r.response == response => r,
                    slot => slot.insert(Reassembly::new(header.message_id, response, total)),
                };
                match r.add(
                    number,
                    total,
                    opened.loc.first_inner,
                    opened.inner,
                    ctx.cfg.max_fragments,
                    ctx.cfg.max_message_size,
                ) {
                    Ok(FragResult::Complete(first, whole)) => {
                        self.reassembly = None;
                        tracing::debug!(
                            sa = self.id.0,
                            "reassembled message {} from {total} fragments",
                            header.message_id
                        );
                        (first, whole, Vec::new())
                    }
                    Ok(FragResult::Incomplete | FragResult::Duplicate) => return Ok(None),
                    Err(why) => {
                        tracing::warn!(
                            sa = self.id.0,
                            "dropping fragmented message {}: {why}",
                            header.message_id
                        );
                        self.reassembly = None;
                        return Ok(None);
                    }
                }
            }
        };
        let mut payloads = if unencrypted.is_empty() {
            Vec::new()
        } else {
            decode_payload_chain(header.next_payload, &unencrypted).unwrap_or_default()
        };
        payloads.extend(decode_inner(first_inner, &inner)?);
        self.log_message(ctx, "received", header, &payloads, 1);
        Ok(Some(Received {
            header: *header,
            payloads,
            unencrypted,
            first_inner,
            inner,
        }))
    }

    /// Snapshot for `status()`.
    pub fn status(&self) -> IkeSaStatus {
        let mut transforms = IkeTransforms {
            ppk: self.pqauth.ppk_used.clone(),
            ..Default::default()
        };
        if let Some(a) = self.algs {
            transforms.encr = crate::names::encr_name(a.encr, a.key_bits);
            transforms.integ = if a.integ == 0 {
                String::new()
            } else {
                crate::names::integ_name(a.integ)
            };
            transforms.prf = crate::names::prf_name(a.prf);
        }
        transforms.ke = self
            .ke_done
            .iter()
            .map(|m| crate::names::ke_name(*m))
            .collect();
        IkeSaStatus {
            sa: self.id,
            connection: self.conn.name.clone(),
            state: self.state.clone(),
            initiator: self.initiator,
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            local: self.local,
            remote: self.remote,
            nat_detected: self.nat_detected(),
            transforms,
            local_id: self.local_id.clone(),
            remote_id: self.remote_id.clone(),
            created_at: self.created_at,
            established_at: self.established_at,
            children: self.children.iter().map(|c| c.status.clone()).collect(),
        }
    }

    /// Send an unprotected error notify (only IKE_SA_INIT context, RFC 7296 §2.21.1).
    pub fn plain_notify(header: &Header, n: Notify) -> Vec<u8> {
        let h = Header {
            spi_i: header.spi_i,
            spi_r: 0,
            next_payload: PayloadType::NONE,
            version: 0x20,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags {
                initiator: false,
                response: true,
                version: false,
            },
            message_id: header.message_id,
            length: 0,
        };
        Message {
            header: h,
            payloads: vec![Payload::Notify(n)],
        }
        .encode()
    }
}
