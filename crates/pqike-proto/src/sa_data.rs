//! The data of one IKE SA: identities, negotiated algorithms, key generations, children and the
//! per-feature negotiation state. Data only: no messages are sent from here and no task is
//! known here, so the helpers (`auth`, `certs`, `ppk`, `pqauth`) and the tasks all read and write
//! it without depending on each other. The message layer ([`crate::exchange`]) and the task
//! state sit beside it in the task manager's `IkeSa`.
//!
//! A key generation ([`SaKeys`]) is replaced as a whole when keys are re-derived (RFC 9370
//! rounds, RFC 9867, rekeys); nothing swaps parts of it in and out.
use crate::exchange::protect::{IkeAlgs, SaKeys};
use crate::keymat::IntAuthChain;
use crate::notify::IkeError;
use crate::{ChildSaStatus, ConnectionConfig, DownReason, IkeSaKeyLog, IkeState, SaId};
use pqike_crypto::CryptoProvider;
use pqike_wire::{KeMethod, Payload, TransformType};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

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

/// State of one Child SA in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum ChildState {
    /// Carrying traffic.
    #[default]
    Installed,
    /// Our CREATE_CHILD_SA rekeying it is outstanding.
    Rekeying,
    /// A new SA replaced it; it stays installed (inbound stragglers) until the Delete exchange.
    Rekeyed,
    /// Our Delete for it is outstanding.
    Deleting,
}

/// The peer's rekey of a child we were rekeying ourselves (RFC 7296 §2.8.1).
#[derive(Clone, Debug)]
pub(crate) struct Collision {
    /// Inbound SPI (Child SA) or SA handle (IKE SA) of what the peer's exchange created.
    pub created: u64,
    /// That exchange's nonces.
    pub ni: Vec<u8>,
    /// Responder nonce.
    pub nr: Vec<u8>,
}

/// Lifecycle of one Child SA.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChildLife {
    /// Index of its child config.
    pub cfg: usize,
    pub state: ChildState,
    pub rekey_at: Option<Instant>,
    pub expire_at: Option<Instant>,
    pub collision: Option<Collision>,
    /// Installed inbound-only as the replacement of this (old) SA: activate the outbound
    /// direction once the old one is gone.
    pub replaces: Option<u32>,
}

/// An installed Child SA.
#[derive(Clone, Debug)]
pub(crate) struct ChildSa {
    pub status: ChildSaStatus,
    /// Rekey/expiry timers and rekey state.
    pub life: ChildLife,
}

/// Remote access (`tasks::cp`): our CFG_REQUEST went out / the CFG_REPLY waiting for the
/// IKE_AUTH response / the virtual IPs assigned (to the peer as server, to us as client).
#[derive(Clone, Debug, Default)]
pub(crate) struct CpState {
    pub sent: bool,
    pub reply: Vec<Payload>,
    pub vips: Vec<std::net::IpAddr>,
}

/// Lifecycle timers and rekey state of one IKE SA.
#[derive(Clone, Debug, Default)]
pub(crate) struct IkeLife {
    /// Timers were armed (at establishment).
    pub armed: bool,
    pub rekey_at: Option<Instant>,
    pub expire_at: Option<Instant>,
    /// Replaced by a new IKE SA: its removal is no close/dpd event.
    pub rekeyed: bool,
    /// Our IKE rekey is outstanding.
    pub rekeying: bool,
    /// Our IKE rekey won a collision: the peer's new SA is redundant.
    pub won_collision: bool,
    /// The peer rekeyed this IKE SA while our rekey was outstanding.
    pub ike_collision: Option<Collision>,
    /// Both sides sent CHILD_SA_PFS_INFO_SUPPORTED in IKE_SA_INIT.
    pub pfs_info: bool,
}

/// The data of one IKE SA.
pub(crate) struct SaData {
    pub id: SaId,
    pub conn: Arc<ConnectionConfig>,
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub state: IkeState,
    /// NAT in front of us / in front of the peer (RFC 7296 §2.23).
    pub nat_local: bool,
    pub nat_remote: bool,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub algs: Option<IkeAlgs>,
    /// Key exchanges done, in order (type 4 first).
    pub ke_done: Vec<KeMethod>,
    /// RFC 9370 rounds negotiated and not yet run.
    pub addke_pending: VecDeque<(TransformType, KeMethod)>,
    pub keys: Option<SaKeys>,
    pub intauth: IntAuthChain,
    /// RealMessage1 / RealMessage2 for AUTH (RFC 7296 §2.15), from the transcript.
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    pub peer: PeerSupport,
    pub children: Vec<ChildSa>,
    pub created_at: Instant,
    pub established_at: Option<Instant>,
    pub last_activity: Instant,
    pub local_id: String,
    pub remote_id: String,
    /// The peer sent INITIAL_CONTACT in IKE_AUTH: the endpoint drops our older SAs with it.
    pub initial_contact: bool,
    /// We send INITIAL_CONTACT in our IKE_AUTH request: set by the endpoint when no other IKE
    /// SA with this peer exists (RFC 7296 §2.4).
    pub send_initial_contact: bool,
    /// Set when the SA is finished; the endpoint reaps it and emits the events.
    pub dead: Option<DownReason>,
    /// PPK / multiple-auth / RFC 9593 negotiation state (`pqauth`).
    pub pqauth: PqauthState,
    /// Rekeying and expiry.
    pub life: IkeLife,
    /// Remote access.
    pub cp: CpState,
    /// Key sets derived since the endpoint last looked, with `export_keys` on.
    pub key_log: Vec<IkeSaKeyLog>,
}

impl SaData {
    /// Fresh data in state Connecting.
    pub fn new(
        id: SaId,
        conn: Arc<ConnectionConfig>,
        initiator: bool,
        spi_i: u64,
        spi_r: u64,
        now: Instant,
    ) -> SaData {
        SaData {
            id,
            conn,
            initiator,
            spi_i,
            spi_r,
            state: IkeState::Connecting,
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
            children: Vec::new(),
            created_at: now,
            established_at: None,
            last_activity: now,
            local_id: String::new(),
            remote_id: String::new(),
            initial_contact: false,
            send_initial_contact: false,
            dead: None,
            pqauth: Default::default(),
            life: Default::default(),
            cp: Default::default(),
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

    /// A responder SA that has not completed IKE_AUTH (an SA we are deleting is in state
    /// Deleting, and was established).
    pub fn half_open(&self) -> bool {
        !self.initiator && self.established_at.is_none()
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
    pub fn mark_down(&mut self, reason: DownReason) {
        if self.dead.is_none() {
            self.dead = Some(reason);
        }
    }

    /// The lease owner key of an SA's peer (survives IKE rekeys).
    pub fn lease_owner(&self) -> String {
        format!("{}/{}", self.conn.name, self.remote_id)
    }
}

/// Per-SA state of the PPK, multiple-authentication and RFC 9593 extensions (`pqauth`).
#[derive(Default)]
pub(crate) struct PqauthState {
    /// The peer sent USE_PPK in IKE_SA_INIT (RFC 8784 §3).
    pub peer_use_ppk: bool,
    /// The peer sent USE_PPK_INT (RFC 9867 §3) with the numbers our config uses.
    pub peer_use_ppk_int: bool,
    /// The peer sent MULTIPLE_AUTH_SUPPORTED (RFC 4739 §3.1).
    pub peer_multiple_auth: bool,
    /// The peer's SUPPORTED_AUTH_METHODS announcement (RFC 9593 §3), raw; `Some(empty)` =
    /// supported, list still to come.
    pub peer_auth_methods: Option<Vec<u8>>,
    /// Responder: our list goes into the first IKE_INTERMEDIATE response (RFC 9593 §3.1).
    pub auth_methods_in_intermediate: bool,
    /// The PPK_ID mixed into the keys, once it happened (RFC 8784 or RFC 9867).
    pub ppk_used: Option<String>,
    /// RFC 9867 ran: the IKE keys are already PPK-derived, RFC 8784 does not apply on top.
    pub ppk_in_intermediate: bool,
    /// Initiator: the RFC 9867 round was started (runs once).
    pub ppk_int_attempted: bool,
    /// Responder: we answered USE_PPK_INT (RFC 9867 chosen over RFC 8784).
    pub ppk_int_chosen: bool,
    /// Message ID of the first IKE_AUTH request: every authentication round's IntAuth uses it
    /// (RFC 9242 §3.3.2), also the RFC 4739 second round.
    pub first_auth_mid: Option<u32>,
    /// Responder, RFC 4739: the initiator's second round is still to come, with the payloads
    /// of its first request kept for the Child SA (created in the last IKE_AUTH exchange).
    pub expect_round2: Option<Vec<Payload>>,
}
