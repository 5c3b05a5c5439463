//! The task manager: one place that decides what an IKE SA does next (strongSwan's
//! task_manager_v2), on top of the message layer.
//!
//! An [`IkeSa`] is three things side by side: its data ([`SaData`], a leaf every task reads),
//! its message layer ([`MessageLayer`]: windows, retransmission, protection, the path) and the
//! task state this module owns: the continuation of the outstanding request ([`Pending`]), the
//! queue of lifecycle exchanges waiting for the window, responder follow-up state, and the timer
//! table.
//!
//! What comes next is decided here and nowhere else:
//! * the initial exchanges: IKE_SA_INIT, then the IKE_INTERMEDIATE rounds as a queue of round
//!   tasks (one per RFC 9370 additional key exchange, then the RFC 9867 PPK round), then
//!   IKE_AUTH ([`next_exchange`]);
//! * afterwards one request at a time from the queue (new children, rekeys, child deletes), a
//!   queued Delete of the IKE SA, and liveness checks when idle ([`IkeSa::after_input`],
//!   [`start_queued`], [`IkeSa::on_timeout`]).
//!
//! Tasks contribute payloads to shared messages through [`crate::tasks::features`] instead of
//! hooks inside the message layer, and every IKE_SA_INIT / IKE_INTERMEDIATE message the layer
//! records in its transcript is consumed here ([`IkeSa::absorb_transcript`]): RealMessage1/2 for
//! AUTH and the RFC 9242 IntAuth chains.
use crate::exchange::{
    Expiry, Ident, Inbound, Io, MessageLayer, Protection, Received, TranscriptEntry,
};
use crate::notify::{first_error, IkeError};
use crate::path::{Framing, Path};
use crate::sa_data::SaData;
use crate::tasks::create_child::{self, FollowupState, Kind};
use crate::tasks::intermediate::{self, Chain};
use crate::tasks::{ike_auth, ike_init, informational, ppk_int, rekey, Pending};
use crate::timer::{Timer, TimerTable};
use crate::*;
use pqike_crypto::{CryptoProvider, SecureRandom};
use pqike_wire::{ExchangeType, Header, Message, Payload};
use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// Everything an SA needs from its endpoint while handling one input.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub cfg: &'a EndpointConfig,
    pub creds: &'a Credentials,
    pub crypto: &'a dyn CryptoProvider,
    pub rng: &'a dyn SecureRandom,
    pub out: &'a mut Output,
    /// Wall-clock time (Unix seconds) for certificate validity, if the caller gave one
    /// ([`crate::Endpoint::set_wall_clock`]).
    pub unix_now: Option<i64>,
    /// The endpoint's SA handle counter (IKE SAs created by a rekey take their handle here).
    pub next_id: &'a mut u64,
    /// Virtual IP leases of the remote-access pools (`cp`).
    pub leases: &'a mut crate::tasks::cp::Leases,
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

/// An exchange waiting for the request window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Create the child of config index `cfg` (further children, or after a childless setup).
    NewChild(usize),
    /// Rekey the child with this inbound SPI.
    RekeyChild(u32),
    /// Rekey the IKE SA.
    RekeyIke,
    /// Delete the child with this inbound SPI (hard expiry).
    DeleteChild(u32),
}

/// One IKE_INTERMEDIATE round of the initial exchanges (RFC 9242).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Round {
    /// An RFC 9370 additional key exchange.
    AddKe,
    /// The RFC 9867 PPK round, the last before IKE_AUTH.
    Ppk,
}

/// An IKE SA: data, message layer and task state.
pub(crate) struct IkeSa {
    pub data: SaData,
    pub msg: MessageLayer,
    /// The continuation of the request the message layer has outstanding.
    pending: Option<Pending>,
    /// Lifecycle exchanges waiting for the request window (RFC 7296 §2.3 window of 1).
    pub queue: VecDeque<Queued>,
    /// Responder: CREATE_CHILD_SA exchanges waiting for IKE_FOLLOWUP_KE rounds.
    pub followups: Vec<FollowupState>,
    /// A Delete to start once the current exchange is done.
    pub delete_queued: bool,
    timers: TimerTable,
}

impl Deref for IkeSa {
    type Target = SaData;
    fn deref(&self) -> &SaData {
        &self.data
    }
}

impl DerefMut for IkeSa {
    fn deref_mut(&mut self) -> &mut SaData {
        &mut self.data
    }
}

/// The message layer's view of an SA and its I/O for one call.
macro_rules! layer {
    ($sa:ident, $ctx:ident) => {{
        let IkeSa { data, msg, .. } = &mut *$sa;
        let io = Io {
            now: $ctx.now,
            cfg: $ctx.cfg,
            rng: $ctx.rng,
            transmits: &mut $ctx.out.transmits,
            events: &mut $ctx.out.events,
        };
        let ident = Ident {
            sa: data.id,
            spi_i: data.spi_i,
            spi_r: data.spi_r,
            initiator: data.initiator,
        };
        let prot = Protection {
            keys: data.keys.as_ref(),
            fragment: data.conn.fragmentation && data.peer.fragmentation,
            accept_fragments: data.conn.fragmentation,
        };
        (msg, io, ident, prot, &*data)
    }};
}

impl IkeSa {
    /// A fresh SA in state Connecting on `path`.
    pub fn new(
        id: SaId,
        conn: Arc<ConnectionConfig>,
        initiator: bool,
        spi_i: u64,
        spi_r: u64,
        path: Path,
        now: Instant,
    ) -> IkeSa {
        IkeSa {
            data: SaData::new(id, conn, initiator, spi_i, spi_r, now),
            msg: MessageLayer::new(path),
            pending: None,
            queue: VecDeque::new(),
            followups: Vec::new(),
            delete_queued: false,
            timers: TimerTable::default(),
        }
    }

    /// Our address on the IKE path.
    pub fn local(&self) -> SocketAddr {
        self.msg.path.local
    }

    /// The peer's address on the IKE path.
    pub fn remote(&self) -> SocketAddr {
        self.msg.path.remote
    }

    /// Whether a request of ours is outstanding.
    pub fn busy(&self) -> bool {
        self.msg.busy()
    }

    /// The continuation of our outstanding request.
    pub fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    /// Send a request with the continuation that handles its response. Returns its message ID.
    pub fn send_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        payloads: &[Payload],
        task: Pending,
    ) -> Result<u32, IkeError> {
        let mid = {
            let (msg, mut io, ident, prot, _) = layer!(self, ctx);
            msg.send_request(&mut io, &ident, prot, exchange, payloads)?
        };
        self.pending = Some(task);
        self.absorb_transcript(ctx)?;
        Ok(mid)
    }

    /// Send the response to request `mid`.
    pub fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        mid: u32,
        payloads: &[Payload],
    ) -> Result<(), IkeError> {
        {
            let (msg, mut io, ident, prot, _) = layer!(self, ctx);
            msg.send_response(&mut io, &ident, prot, exchange, mid, payloads)?;
        }
        self.absorb_transcript(ctx)
    }

    /// Consume what the message layer's transcript hook recorded: IKE_SA_INIT messages become
    /// RealMessage1/2 (RFC 7296 §2.15; after a COOKIE or INVALID_KE_PAYLOAD retry the last
    /// request sent is the one AUTH signs), IKE_INTERMEDIATE messages are folded into the IntAuth
    /// chains with the keys in force now, i.e. those that protected them (RFC 9242 §3.3.2).
    pub fn absorb_transcript(&mut self, ctx: &Ctx<'_>) -> Result<(), IkeError> {
        for entry in self.msg.take_transcript() {
            match entry {
                TranscriptEntry::Init { sent, raw } => {
                    let request = sent == self.initiator;
                    if request {
                        self.data.init_request = raw;
                    } else {
                        self.data.init_response = raw;
                    }
                }
                TranscriptEntry::Intermediate {
                    sent,
                    header,
                    unencrypted,
                    first_inner,
                    inner,
                } => {
                    // IntAuth_i covers what the original initiator sent (the requests: only it
                    // sends IKE_INTERMEDIATE requests), IntAuth_r what the responder sent.
                    let chain = if sent == self.initiator {
                        Chain::Initiator
                    } else {
                        Chain::Responder
                    };
                    intermediate::fold(
                        &mut self.data,
                        ctx,
                        &header,
                        &unencrypted,
                        first_inner,
                        &inner,
                        chain,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Handle a datagram addressed to this SA (framing removed, header decoded).
    pub fn handle_packet(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        framing: Framing,
        header: Header,
        buf: &[u8],
    ) {
        let inbound = {
            let (msg, mut io, ident, prot, data) = layer!(self, ctx);
            let nat = data.nat_detected();
            msg.on_datagram(
                &mut io, &ident, prot, nat, local, remote, framing, header, buf,
            )
        };
        if let Err(e) = self.absorb_transcript(ctx) {
            self.fail(e);
        }
        match inbound {
            Inbound::Nothing => {}
            Inbound::InitResponse(msg) => self.process_init_response(ctx, msg),
            Inbound::Response(msg) => {
                self.last_activity = ctx.now;
                match self.pending.take() {
                    Some(task) => process_response(self, ctx, task, msg),
                    None => tracing::warn!(sa = self.id.0, "response without a task"),
                }
            }
            Inbound::Request(msg) => {
                self.last_activity = ctx.now;
                process_request(self, ctx, msg);
            }
            Inbound::BadRequest {
                exchange,
                mid,
                error,
            } => {
                // Inside an established SA errors go in the encrypted response (RFC 7296
                // §2.21.2).
                if let Some(n) = error.notify() {
                    let _ = self.send_response(ctx, exchange, mid, &[Payload::Notify(n)]);
                }
                if matches!(
                    self.state,
                    IkeState::Authenticating | IkeState::Intermediate | IkeState::Connecting
                ) {
                    self.mark_down(DownReason::LocalError(error));
                }
            }
            Inbound::BadResponse { exchange, error } => {
                tracing::warn!(sa = self.id.0, "{exchange} exchange failed: {error}");
                self.pending = None;
                self.mark_down(DownReason::LocalError(error));
            }
        }
        if self.dead.is_none() && !self.busy() && self.delete_queued {
            self.delete_queued = false;
            informational::start_delete(self, ctx);
        }
        self.after_input(ctx);
    }

    fn process_init_response(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        let Some(Pending::IkeInit(state)) = self.pending.take() else {
            tracing::warn!(
                sa = self.id.0,
                "IKE_SA_INIT response without an IKE_SA_INIT task"
            );
            return;
        };
        if let Err(e) = ike_init::process_response(self, ctx, state, msg) {
            self.fail(e);
        }
    }

    /// A failed exchange we initiated tears the SA down (strongSwan's FAILED task status).
    pub fn fail(&mut self, e: IkeError) {
        tracing::warn!(sa = self.id.0, "exchange failed: {e}");
        let reason = match e {
            IkeError::PeerNotify(t) => DownReason::PeerError(t),
            e => DownReason::LocalError(e),
        };
        self.mark_down(reason);
    }

    /// Run expired timers: half-open expiry, lifecycle (rekey, expiry), retransmission or giving
    /// up, liveness checks.
    pub fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if self.half_open() && ctx.now >= self.created_at + ctx.cfg.half_open_timeout {
            tracing::info!(sa = self.id.0, "half-open IKE SA timed out, dropping it");
            self.mark_down(DownReason::HalfOpenExpired);
            return;
        }
        rekey::on_timeout(self, ctx);
        if self.dead.is_some() {
            return;
        }
        if self.busy() {
            let expiry = {
                let (msg, mut io, ident, _, _) = layer!(self, ctx);
                msg.on_timeout(&mut io, &ident)
            };
            if let Expiry::GaveUp {
                exchange,
                retransmits,
            } = expiry
            {
                self.pending = None;
                self.mark_down(DownReason::Timeout {
                    exchange,
                    retransmits,
                });
            }
            return;
        }
        if let (Some(iv), IkeState::Established) = (rekey::dpd_interval(self, ctx.cfg), &self.state)
        {
            if ctx.now >= self.last_activity + iv {
                informational::start_liveness(self, ctx);
            }
        }
    }

    /// Re-arm the timer table from the SA's state; returns the earliest deadline.
    pub fn refresh_timers(&mut self, cfg: &EndpointConfig) -> Option<Instant> {
        self.timers.set(Timer::Retransmit, self.msg.deadline());
        self.timers.set(
            Timer::HalfOpen,
            self.half_open()
                .then(|| self.created_at + cfg.half_open_timeout),
        );
        let dpd = match (rekey::dpd_interval(self, cfg), &self.state) {
            (Some(iv), IkeState::Established) if !self.busy() => Some(self.last_activity + iv),
            _ => None,
        };
        self.timers.set(Timer::Dpd, dpd);
        self.timers.set(Timer::Lifecycle, rekey::deadline(self));
        self.timers.next()
    }

    /// After every input: arm timers of a freshly established SA, queue its further children,
    /// and start the next queued exchange if the request window is free.
    pub fn after_input(&mut self, ctx: &mut Ctx<'_>) {
        if self.dead.is_some() || self.state != IkeState::Established {
            return;
        }
        rekey::activate_replacements(self, ctx);
        if !self.life.armed {
            rekey::arm_ike(self, ctx);
            if self.initiator {
                // RFC 7296 §1.3: further children (and every child of a childless IKE SA, RFC
                // 6023) come with CREATE_CHILD_SA. The first child went in IKE_AUTH unless the
                // IKE SA was initiated childless; a failure there is final (no retry here).
                let first = usize::from(self.conn.childless != crate::Childless::Force);
                for i in first..self.conn.children.len() {
                    self.enqueue(Queued::NewChild(i));
                }
            }
        }
        start_queued(self, ctx);
    }

    /// Queue a lifecycle exchange (once).
    pub fn enqueue(&mut self, q: Queued) {
        if !self.queue.contains(&q) {
            self.queue.push_back(q);
        }
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
            local: self.local(),
            remote: self.remote(),
            nat_detected: self.nat_detected(),
            transforms,
            local_id: self.local_id.clone(),
            remote_id: self.remote_id.clone(),
            created_at: self.created_at,
            established_at: self.established_at,
            children: self.children.iter().map(|c| c.status.clone()).collect(),
        }
    }
}

/// After IKE_SA_INIT or an IKE_INTERMEDIATE round: the next round task or IKE_AUTH. The rounds
/// run in a fixed order: every negotiated RFC 9370 additional key exchange, then the RFC 9867
/// PPK round, which must be the last IKE_INTERMEDIATE before IKE_AUTH.
pub(crate) fn next_exchange(sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<(), IkeError> {
    match next_round(sa) {
        Some(Round::AddKe) => {
            sa.state = IkeState::Intermediate;
            intermediate::start_round(sa, ctx)
        }
        Some(Round::Ppk) => {
            sa.state = IkeState::Intermediate;
            ppk_int::start(sa, ctx)
        }
        None => {
            sa.state = IkeState::Authenticating;
            ike_auth::start(sa, ctx)
        }
    }
}

/// The initiator's next IKE_INTERMEDIATE round, if any.
fn next_round(sa: &IkeSa) -> Option<Round> {
    if !sa.addke_pending.is_empty() {
        Some(Round::AddKe)
    } else if ppk_int::due(sa) {
        Some(Round::Ppk)
    } else {
        None
    }
}

/// The state a responder is in after answering an IKE_SA_INIT or IKE_INTERMEDIATE request:
/// Intermediate while additional key exchanges remain, else Authenticating (the PPK round, if
/// the initiator runs one, is answered in either).
pub(crate) fn responder_next_state(sa: &mut IkeSa) {
    sa.state = if sa.addke_pending.is_empty() {
        IkeState::Authenticating
    } else {
        IkeState::Intermediate
    };
}

/// Start the next queued exchange when no request is outstanding (RFC 7296 §2.3 window of 1).
pub(crate) fn start_queued(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    while !sa.busy() && sa.dead.is_none() && sa.state == IkeState::Established {
        if sa.delete_queued || sa.life.rekeyed {
            return;
        }
        let Some(q) = sa.queue.pop_front() else {
            return;
        };
        let r = match q {
            Queued::NewChild(cfg) => create_child::start(sa, ctx, Kind::NewChild { cfg }),
            Queued::RekeyChild(spi) => match sa.children.iter().find(|c| c.status.spi_in == spi) {
                Some(c) if c.life.state == crate::sa_data::ChildState::Installed => {
                    let cfg = c.life.cfg;
                    create_child::start(
                        sa,
                        ctx,
                        Kind::RekeyChild {
                            cfg,
                            old_spi_in: spi,
                        },
                    )
                }
                _ => continue,
            },
            Queued::RekeyIke => create_child::start(sa, ctx, Kind::RekeyIke),
            Queued::DeleteChild(spi) => create_child::start_delete_child(sa, ctx, spi),
        };
        if let Err(e) = r {
            tracing::warn!(sa = sa.id.0, "cannot start {q:?}: {e}");
        }
    }
}

/// Hand a response to the task that sent the request.
fn process_response(sa: &mut IkeSa, ctx: &mut Ctx<'_>, task: Pending, msg: Received) {
    if let Some(p) = msg
        .payloads
        .iter()
        .find(|p| matches!(p, Payload::Unknown { critical: true, .. }))
    {
        sa.fail(IkeError::UnsupportedCritical(p.payload_type()));
        return;
    }
    let r = match task {
        Pending::IkeInit(_) => Err(IkeError::Syntax(
            "IKE_SA_INIT task got a protected response".into(),
        )),
        Pending::Intermediate(st) => intermediate::process_response(sa, ctx, st, &msg),
        Pending::PpkIntermediate(st) => ppk_int::process_response(sa, ctx, st, &msg),
        Pending::IkeAuth(st) => ike_auth::process_response(sa, ctx, st, &msg),
        Pending::Delete => {
            sa.mark_down(DownReason::LocalDelete);
            Ok(())
        }
        Pending::Liveness => Ok(()),
        Pending::Lifecycle(t) => create_child::process_response(sa, ctx, *t, &msg),
    };
    if let Err(e) = r {
        sa.fail(e);
    }
}

/// The peer's error notify in a response, as an error.
pub(crate) fn peer_error(payloads: &[Payload]) -> Result<(), IkeError> {
    match first_error(payloads) {
        Some(n) => Err(IkeError::PeerNotify(n.notify_type)),
        None => Ok(()),
    }
}

/// Answer a decrypted request.
fn process_request(sa: &mut IkeSa, ctx: &mut Ctx<'_>, msg: Received) {
    let exchange = msg.header.exchange;
    let mid = msg.header.message_id;
    // RFC 7296 §2.5: an unknown payload with the critical bit rejects the whole message.
    if let Some(p) = msg
        .payloads
        .iter()
        .find(|p| matches!(p, Payload::Unknown { critical: true, .. }))
    {
        let e = IkeError::UnsupportedCritical(p.payload_type());
        tracing::warn!(sa = sa.id.0, "{exchange} request {mid}: {e}");
        respond_error(sa, ctx, exchange, mid, &e);
        return;
    }
    let established = matches!(sa.state, IkeState::Established | IkeState::Deleting);
    let r = match exchange {
        ExchangeType::IKE_INTERMEDIATE => intermediate::process_request(sa, ctx, &msg),
        ExchangeType::IKE_AUTH => ike_auth::process_request(sa, ctx, &msg),
        ExchangeType::INFORMATIONAL => informational::process_request(sa, ctx, &msg),
        ExchangeType::CREATE_CHILD_SA if established => {
            create_child::process_request(sa, ctx, &msg)
        }
        ExchangeType::IKE_FOLLOWUP_KE if established => {
            create_child::process_followup_request(sa, ctx, &msg)
        }
        other => {
            tracing::warn!(
                sa = sa.id.0,
                "unsupported exchange {other} in request {mid}"
            );
            Err(IkeError::Syntax(format!("exchange {other} not supported")))
        }
    };
    if let Err(e) = r {
        tracing::warn!(sa = sa.id.0, "refusing {exchange} request {mid}: {e}");
        respond_error(sa, ctx, exchange, mid, &e);
        if sa.state != IkeState::Established {
            sa.mark_down(DownReason::LocalError(e));
        }
    }
}

fn respond_error(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    exchange: ExchangeType,
    mid: u32,
    e: &IkeError,
) {
    let payloads: Vec<Payload> = e
        .notify_in(exchange)
        .map(Payload::Notify)
        .into_iter()
        .collect();
    if let Err(e) = sa.send_response(ctx, exchange, mid, &payloads) {
        tracing::warn!(sa = sa.id.0, "cannot send error response: {e}");
    }
}
