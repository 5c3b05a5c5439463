//! # pqike-proto: the sans-IO IKEv2 engine
//!
//! The engine never reads a clock, a socket or the OS RNG. The caller passes `now`, datagrams and
//! commands in, and takes transmits, timer deadlines and events out (the quinn-proto model).
//!
//! ## Call order
//! 1. Build an [`Endpoint`] with [`EndpointConfig`], the connections, credentials, a crypto
//!    provider and a random source.
//! 2. Feed input: [`Endpoint::handle_datagram`] for every UDP datagram received on the IKE or NAT-T
//!    port, [`Endpoint::handle_command`] for user commands (initiate, terminate), and
//!    [`Endpoint::handle_timeout`] whenever the deadline from [`Endpoint::poll_timeout`] passes.
//!    Also: [`Endpoint::start`] once (start/trap actions), [`Endpoint::handle_esp_notice`] for the
//!    data plane's soft/hard expiries and [`Endpoint::handle_acquire`] for traffic hitting a trap.
//! 3. After each input, drain output: [`Endpoint::poll_event`] until `None` (install Child SAs,
//!    log state changes; installs before sends, RFC 7296 §2.8), [`Endpoint::poll_transmit`] until
//!    `None` (send each datagram), then re-arm the timer with [`Endpoint::poll_timeout`].
//!
//! Exchanges run as tasks (strongSwan's design): IKE_SA_INIT (with COOKIE and INVALID_KE_PAYLOAD
//! retries), IKE_INTERMEDIATE rounds for RFC 9370 additional key exchanges, IKE_AUTH with the initial
//! Child SA, INFORMATIONAL (delete, liveness). Below the tasks sit the message-ID windows,
//! retransmission with exponential backoff, cached responses and RFC 7383 fragmentation.
//!
//! ## Module map
//! * `endpoint`: SA table by SPI, NAT-T port handling (non-ESP marker, keepalives, ESP ignored),
//!   stateless COOKIE / INVALID_KE_PAYLOAD / NO_PROPOSAL_CHOSEN replies, half-open limits.
//! * `ike_sa`: one IKE SA: windows (one request outstanding each way), the cached response,
//!   retransmission (`timeout * base^n`, give up after `retransmit_tries`), SK open/seal,
//!   reassembly, following the peer's NAT-T float.
//! * `crypto_ctx` (SK/SKF protection of one key generation), `fragment` (size budget, bounded
//!   reassembly), `auth` (identities, PSK, RFC 7427 signatures), `certs` (peer chain and
//!   identity), [`notify`] (every error's notify in one place, message summaries).
//! * `tasks`: `ike_init`, `intermediate` (RFC 9242/9370 rounds), `ike_auth`, `child`,
//!   `informational`, dispatched by an enum of pending continuations; the SA lifecycle in
//!   `create_child` (CREATE_CHILD_SA for new children, Child and IKE SA rekeys, IKE_FOLLOWUP_KE
//!   rounds), `rekey_ike` (the new IKE SA, collisions) and `rekey` (timers with jitter, expiry,
//!   the one-request queue, RFC 7296 §2.8.1 collision rule, Child SA PFS info).
//! * `cp`: remote access (configuration payload, address pools, RFC 8983).
//! * [`keymat`], [`proposal`], [`ts`], [`names`]: key schedule, negotiation, traffic selectors
//!   and display names.
//! * Post-quantum authentication: `ppk` (RFC 8784 PPK_ID format, SK_d/SK_pi/SK_pr update, the
//!   RFC 9867 confirmation), `tasks::ppk_int` (RFC 9867 PPK round in IKE_INTERMEDIATE), `pqauth`
//!   (USE_PPK / USE_PPK_INT / MULTIPLE_AUTH_SUPPORTED / SUPPORTED_AUTH_METHODS negotiation state),
//!   `auth_methods` (RFC 9593 lists); ML-DSA / SLH-DSA AUTH is RFC 7427 method 14 in `auth`,
//!   and RFC 4739 second rounds (`AuthExtensions::local2` / `remote2`) live in `tasks::ike_auth`.
//!
//! Certificate validity needs wall-clock time: call [`Endpoint::set_wall_clock`] (otherwise the
//! system clock is read for that one check).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod auth_methods;
mod certs;
pub mod config;
mod endpoint;
mod exchange;
mod hexfmt;
pub mod keymat;
pub mod names;
pub mod notify;
pub mod path;
mod ppk;
mod pqauth;
pub mod proposal;
mod sa_data;
mod sa_index;
mod tasks;
mod timer;
pub mod ts;

pub use config::*;
pub use endpoint::Endpoint;
pub use notify::IkeError;

use pqike_wire::TrafficSelector;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Opaque handle of an IKE SA inside an [`Endpoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SaId(pub u64);

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Local address and port to send from (port 500/4500 or the configured ones).
    pub local: SocketAddr,
    /// Destination.
    pub remote: SocketAddr,
    /// The UDP payload, including the 4-octet non-ESP marker when sent on the NAT-T port.
    pub payload: Vec<u8>,
}

/// A user command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Initiate the named connection (IKE SA plus its children, unless childless).
    Initiate {
        /// Connection name.
        connection: String,
    },
    /// Delete all IKE SAs of the named connection (INFORMATIONAL with Delete).
    Terminate {
        /// Connection name.
        connection: String,
    },
    /// Delete one IKE SA.
    TerminateSa(SaId),
    /// Create one child of a connection: on its established IKE SA with CREATE_CHILD_SA, or by
    /// initiating the connection when it has none.
    InitiateChild {
        /// Connection name.
        connection: String,
        /// Child config name.
        child: String,
    },
    /// Rekey the Child SAs of the named child config (all IKE SAs of the connection).
    RekeyChild {
        /// Connection name.
        connection: String,
        /// Child config name.
        child: String,
    },
    /// Rekey the IKE SAs of a connection.
    RekeyIke {
        /// Connection name.
        connection: String,
    },
}

/// Why [`Endpoint::handle_command`] could not act.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No connection of that name is loaded.
    #[error("no connection named {0}")]
    UnknownConnection(String),
    /// The connection has no `remote_addrs` to initiate to.
    #[error("connection {0} has no remote address")]
    NoRemoteAddress(String),
    /// The connection has no IKE SA to terminate.
    #[error("no IKE SA for connection {0}")]
    NoSa(String),
    /// No IKE SA has this handle.
    #[error("no IKE SA {}", .0 .0)]
    UnknownSa(SaId),
    /// The connection has no established IKE SA to rekey.
    #[error("no established IKE SA for connection {0}")]
    NotEstablished(String),
    /// The connection has no child config of that name.
    #[error("connection {connection} has no child {child}")]
    UnknownChild {
        /// Connection name.
        connection: String,
        /// Child config name.
        child: String,
    },
    /// No installed Child SA of that child config.
    #[error("no Child SA {child} on {connection}")]
    NoChildSa {
        /// Connection name.
        connection: String,
        /// Child config name.
        child: String,
    },
    /// The first request could not be built.
    #[error("cannot initiate {connection}: {error}")]
    Initiate {
        /// Connection name.
        connection: String,
        /// Why.
        error: IkeError,
    },
    /// The random source failed or every SPI tried was taken.
    #[error("cannot allocate an IKE SPI")]
    NoSpi,
}

/// Expiry reported by the data plane for a Child SA, by its inbound SPI
/// ([`Endpoint::handle_esp_notice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EspNotice {
    /// Soft limit (bytes, packets, sequence numbers): rekey the child now.
    SoftExpire {
        /// Inbound SPI.
        spi_in: u32,
    },
    /// Hard limit: the SA carries no more traffic; the engine deletes it.
    HardExpire {
        /// Inbound SPI.
        spi_in: u32,
    },
}

/// A virtual IP assigned to us by the peer (remote access client, RFC 7296 §3.15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualIp {
    /// Assigned address.
    pub addr: std::net::IpAddr,
    /// Prefix length (IPv6) or netmask length (IPv4, 32 if none given).
    pub prefix: u8,
    /// DNS servers.
    pub dns: Vec<std::net::IpAddr>,
    /// Split-tunnel subnets (INTERNAL_IP4/6_SUBNET).
    pub split: Vec<(std::net::IpAddr, u8)>,
}

/// Child SA keys and parameters handed to a data plane (the install event).
#[derive(Clone, PartialEq, Eq)]
pub struct ChildSaKeys {
    /// IKE SA this child belongs to.
    pub ike_sa: SaId,
    /// Connection and child names.
    pub connection: String,
    /// Child config name.
    pub child: String,
    /// Inbound SPI (ours) and outbound SPI (peer's).
    pub spi_in: u32,
    /// Outbound SPI.
    pub spi_out: u32,
    /// ENCR transform ID and key length in bits.
    pub encr: (u16, Option<u16>),
    /// INTEG transform ID (0 for AEAD).
    pub integ: u16,
    /// Extended sequence numbers negotiated.
    pub esn: bool,
    /// Inbound keys: encryption (incl. salt), integrity.
    pub key_in: (zeroize::Zeroizing<Vec<u8>>, zeroize::Zeroizing<Vec<u8>>),
    /// Outbound keys.
    pub key_out: (zeroize::Zeroizing<Vec<u8>>, zeroize::Zeroizing<Vec<u8>>),
    /// Negotiated local and remote traffic selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// Remote TS.
    pub remote_ts: Vec<TrafficSelector>,
    /// Tunnel or transport.
    pub mode: IpsecMode,
    /// Outer addresses (ours, peer's) and whether UDP encapsulation (NAT-T) is in use.
    pub local: SocketAddr,
    /// Peer outer address.
    pub remote: SocketAddr,
    /// RFC 3948 UDP encapsulation.
    pub udp_encap: bool,
    /// Lifetime.
    pub lifetime: Duration,
}

impl core::fmt::Debug for ChildSaKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChildSaKeys")
            .field("ike_sa", &self.ike_sa)
            .field("child", &self.child)
            .field("spi_in", &format_args!("{:08x}", self.spi_in))
            .field("spi_out", &format_args!("{:08x}", self.spi_out))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

/// At which point of an IKE SA's life a key set was derived (for [`IkeSaKeyLog`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IkeKeyStage {
    /// After IKE_SA_INIT (RFC 7296 §2.14).
    Init,
    /// After an IKE_INTERMEDIATE key update: an RFC 9370 additional key exchange or the RFC 9867
    /// PPK round. The SPIs stay the same, so this set replaces the previous one.
    Intermediate,
    /// The new IKE SA of an IKE SA rekey (RFC 7296 §2.18); new SPIs.
    Rekey,
}

/// A copy of an IKE SA's SK_e/SK_a keys, exported only when
/// [`EndpointConfig::export_keys`] is on, so that a debugging tool (Wireshark's
/// `ikev2_decryption_table`) can decrypt captured SK payloads. Emitted each time the keys are
/// (re)derived; the last set for an SPI pair is the one protecting IKE_AUTH and everything after.
#[derive(Clone, PartialEq, Eq)]
pub struct IkeSaKeyLog {
    /// IKE SA handle.
    pub sa: SaId,
    /// Connection name.
    pub connection: String,
    /// Why these keys were derived.
    pub stage: IkeKeyStage,
    /// Whether we are the original initiator of this IKE SA.
    pub initiator: bool,
    /// SPIi.
    pub spi_i: u64,
    /// SPIr.
    pub spi_r: u64,
    /// ENCR transform ID and key length in bits.
    pub encr: (u16, Option<u16>),
    /// INTEG transform ID (0 for AEAD).
    pub integ: u16,
    /// PRF transform ID.
    pub prf: u16,
    /// SK_ei (AEAD: key followed by the salt, RFC 5282 §7.1).
    pub sk_ei: zeroize::Zeroizing<Vec<u8>>,
    /// SK_er.
    pub sk_er: zeroize::Zeroizing<Vec<u8>>,
    /// SK_ai (empty for AEAD).
    pub sk_ai: zeroize::Zeroizing<Vec<u8>>,
    /// SK_ar (empty for AEAD).
    pub sk_ar: zeroize::Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for IkeSaKeyLog {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IkeSaKeyLog")
            .field("sa", &self.sa)
            .field("stage", &self.stage)
            .field("spi_i", &format_args!("{:016x}", self.spi_i))
            .field("spi_r", &format_args!("{:016x}", self.spi_r))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

/// Why an IKE SA went away: structured, so that callers match on causes rather than parse text
/// (rustls' `PeerMisbehaved` idea). [`core::fmt::Display`] gives the log/CLI sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// We deleted it (command).
    LocalDelete,
    /// The peer deleted it.
    PeerDelete,
    /// No response after all retransmissions (RFC 7296 §2.4).
    Timeout {
        /// Which exchange gave up.
        exchange: pqike_wire::ExchangeType,
        /// Retransmissions sent.
        retransmits: u32,
    },
    /// A half-open SA did not complete the initial exchanges in time (the half-open timeout).
    HalfOpenExpired,
    /// The IKE SA's hard lifetime passed while an exchange was outstanding, so no Delete could
    /// be sent (RFC 7296 §2.8 leaves the lifetime to local policy).
    LifetimeExpired,
    /// The peer answered with this error notify (e.g. NO_PROPOSAL_CHOSEN, AUTHENTICATION_FAILED).
    PeerError(pqike_wire::NotifyType),
    /// We refused the peer or failed locally; [`IkeError::notify`] gives the notify we sent.
    LocalError(IkeError),
}

impl core::fmt::Display for DownReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DownReason::LocalDelete => f.write_str("deleted locally"),
            DownReason::PeerDelete => f.write_str("deleted by the peer"),
            DownReason::Timeout {
                exchange,
                retransmits,
            } => write!(
                f,
                "no response to {exchange} after {retransmits} retransmissions"
            ),
            DownReason::HalfOpenExpired => f.write_str("half-open IKE SA timed out"),
            DownReason::LifetimeExpired => f.write_str("IKE SA lifetime expired"),
            DownReason::PeerError(t) => write!(f, "peer refused: {}", notify::notify_name(*t)),
            DownReason::LocalError(e) => write!(f, "we refused the peer: {}", e.reason()),
        }
    }
}

/// Events for the daemon.
#[derive(Clone, Debug)]
pub enum Event {
    /// An IKE SA reached ESTABLISHED.
    IkeUp {
        /// Handle.
        sa: SaId,
        /// Status snapshot at that moment.
        status: IkeSaStatus,
    },
    /// An IKE SA is gone (all its children too).
    IkeDown {
        /// Handle.
        sa: SaId,
        /// Connection name.
        connection: String,
        /// Why.
        reason: DownReason,
    },
    /// Install a Child SA into the data plane.
    InstallChildSa(ChildSaKeys),
    /// Install a Child SA that replaces another (a rekey we answered) for inbound traffic only:
    /// its outbound direction waits for [`Event::ActivateChildSa`], so we keep sending on the old
    /// SA until the peer, which deletes the old SA only after installing the new one (RFC 7296
    /// §2.8), has the new inbound SA. No packet is lost to the gap between the two installs.
    InstallChildSaInbound(ChildSaKeys),
    /// Start sending on the Child SA installed by [`Event::InstallChildSaInbound`].
    ActivateChildSa {
        /// IKE SA.
        ike_sa: SaId,
        /// Inbound SPI.
        spi_in: u32,
        /// Outbound SPI.
        spi_out: u32,
    },
    /// Remove a Child SA (by inbound and outbound SPI).
    RemoveChildSa {
        /// IKE SA.
        ike_sa: SaId,
        /// Inbound SPI.
        spi_in: u32,
        /// Outbound SPI.
        spi_out: u32,
    },
    /// An IKE SA was rekeyed: its children now belong to `new` (the data plane keys Child SAs
    /// by SPI, so nothing changes there); `old` goes down shortly (its `IkeDown` follows).
    IkeRekeyed {
        /// Replaced IKE SA.
        old: SaId,
        /// Its successor.
        new: SaId,
    },
    /// Install trap policies for a child with `start_action`/`close_action`/`dpd_action` =
    /// trap: traffic matching them is reported with [`Endpoint::handle_acquire`].
    InstallTrap {
        /// Connection name.
        connection: String,
        /// Child config name.
        child: String,
        /// Local TS.
        local_ts: Vec<TrafficSelector>,
        /// Remote TS.
        remote_ts: Vec<TrafficSelector>,
    },
    /// Remote access client: the peer assigned us a virtual IP (apply it to the TUN device).
    VirtualIp {
        /// IKE SA.
        sa: SaId,
        /// Connection name.
        connection: String,
        /// Address and attributes.
        vip: VirtualIp,
    },
    /// A protocol exchange completed (for logs and the demo): e.g. "IKE_SA_INIT", with a summary
    /// such as "request 1 [ SA KE No N(NATD_S_IP) ... ]".
    Exchange {
        /// IKE SA.
        sa: SaId,
        /// Human-readable line.
        summary: String,
    },
    /// The IKE SA's SK_e/SK_a keys were (re)derived. Only with
    /// [`EndpointConfig::export_keys`] (debugging: the keys decrypt every IKE message).
    IkeSaKeys(IkeSaKeyLog),
}

/// State of an IKE SA, for `pqike status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IkeState {
    /// IKE_SA_INIT in progress.
    Connecting,
    /// IKE_INTERMEDIATE rounds in progress.
    Intermediate,
    /// IKE_AUTH in progress.
    Authenticating,
    /// Established.
    Established,
    /// Being deleted.
    Deleting,
}

/// Negotiated IKE transforms, as names like strongSwan prints them (AES_GCM_16-256, PRF_HMAC_SHA2_384,
/// CURVE_25519, ML_KEM_768).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IkeTransforms {
    /// e.g. "AES_GCM_16-256".
    pub encr: String,
    /// e.g. "HMAC_SHA2_256_128" (empty for AEAD).
    pub integ: String,
    /// e.g. "PRF_HMAC_SHA2_384".
    pub prf: String,
    /// Every KE round in order: type-4 method first, then ADDKE1..7 that ran.
    pub ke: Vec<String>,
    /// The PPK_ID mixed into the keys (RFC 8784 / RFC 9867), if any.
    pub ppk: Option<String>,
}

impl IkeTransforms {
    /// strongSwan's notation: `AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768`
    /// (integrity only when there is one; additional key exchanges numbered in the order they ran;
    /// `/PPK` when a PPK was mixed in, as swanctl shows it).
    pub fn proposal_line(&self) -> String {
        let mut parts = vec![self.encr.clone()];
        if !self.integ.is_empty() {
            parts.push(self.integ.clone());
        }
        parts.push(self.prf.clone());
        for (i, ke) in self.ke.iter().enumerate() {
            parts.push(if i == 0 {
                ke.clone()
            } else {
                format!("KE{i}_{ke}")
            });
        }
        if self.ppk.is_some() {
            parts.push("PPK".to_string());
        }
        parts.join("/")
    }
}

/// Status of one Child SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildSaStatus {
    /// Child config name.
    pub name: String,
    /// Inbound SPI.
    pub spi_in: u32,
    /// Outbound SPI.
    pub spi_out: u32,
    /// e.g. "AES_GCM_16-256".
    pub encr: String,
    /// e.g. "HMAC_SHA2_256_128" or empty.
    pub integ: String,
    /// Mode.
    pub mode: IpsecMode,
    /// TS.
    pub local_ts: Vec<TrafficSelector>,
    /// TS.
    pub remote_ts: Vec<TrafficSelector>,
    /// When installed.
    pub installed_at: Instant,
    /// Where its ESP packets go: a value of its own, derived from the IKE SA's path when the
    /// child was created (the two can differ, e.g. IKE over TCP with ESP on UDP).
    pub esp: path::EspPath,
}

/// Status of one IKE SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeSaStatus {
    /// Handle.
    pub sa: SaId,
    /// Connection name.
    pub connection: String,
    /// State.
    pub state: IkeState,
    /// True if we initiated it.
    pub initiator: bool,
    /// SPIs.
    pub spi_i: u64,
    /// SPIs.
    pub spi_r: u64,
    /// Outer addresses in use (after any NAT-T float).
    pub local: SocketAddr,
    /// Peer.
    pub remote: SocketAddr,
    /// NAT detected (local or remote side).
    pub nat_detected: bool,
    /// Negotiated transforms.
    pub transforms: IkeTransforms,
    /// Identities.
    pub local_id: String,
    /// Identities.
    pub remote_id: String,
    /// When created / established.
    pub created_at: Instant,
    /// When established.
    pub established_at: Option<Instant>,
    /// Children.
    pub children: Vec<ChildSaStatus>,
}

#[cfg(test)]
mod transforms_tests {
    use super::IkeTransforms;

    #[test]
    fn proposal_line_matches_strongswan_notation() {
        let mut t = IkeTransforms {
            encr: "AES_GCM_16-256".into(),
            integ: String::new(),
            prf: "PRF_HMAC_SHA2_384".into(),
            ke: vec!["CURVE_25519".into(), "ML_KEM_768".into()],
            ppk: None,
        };
        assert_eq!(
            t.proposal_line(),
            "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768"
        );
        t.encr = "AES_CBC-256".into();
        t.integ = "HMAC_SHA2_256_128".into();
        t.ke.truncate(1);
        t.ppk = Some("lab-ppk".into());
        assert_eq!(
            t.proposal_line(),
            "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_384/CURVE_25519/PPK"
        );
    }
}
