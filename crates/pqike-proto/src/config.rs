//! Engine configuration: what the daemon parses from TOML and hands to the engine.
//! Plain data; validation of user input (file/line/field errors) happens in the daemon.
use pqike_wire::{KeMethod, TrafficSelector, TransformType};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// One proposal as the user wrote it, e.g. `aes256gcm16-prfsha384-x25519-ke1_mlkem768`, already
/// parsed into transform lists per type. Several algorithms of one type = alternatives.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProposalConfig {
    /// ENCR transforms: (transform ID, key length in bits if the algorithm takes one).
    pub encr: Vec<(u16, Option<u16>)>,
    /// PRF transform IDs (IKE only).
    pub prf: Vec<u16>,
    /// INTEG transform IDs (empty for AEAD-only proposals).
    pub integ: Vec<u16>,
    /// KE methods (type 4). Empty for ESP proposals without PFS.
    pub ke: Vec<KeMethod>,
    /// ADDKE1..7: index 0 = ADDKE1. `KeMethod::NONE` in a list makes that round optional.
    pub addke: [Vec<KeMethod>; 7],
    /// ESN transform IDs for ESP (empty = NO_ESN only).
    pub esn: Vec<u16>,
}

impl ProposalConfig {
    /// The transform type for ADDKE index `i` (0-based).
    pub fn addke_type(i: usize) -> TransformType {
        TransformType::addke(i as u8 + 1)
    }
}

/// How we authenticate ourselves or expect the peer to.
#[derive(Clone)]
pub enum AuthConfig {
    /// Pre-shared key (RFC 7296 §2.15). The key itself comes from [`Credentials`].
    Psk,
    /// Certificate + private key (ours), or certificate validated against CAs (peer's).
    PubKey {
        /// Our end-entity cert (DER), for `local`.
        cert: Option<Vec<u8>>,
        /// Intermediate CA certs (DER) we send after the end-entity cert.
        intermediates: Vec<Vec<u8>>,
        /// Our signing key, for `local`.
        key: Option<Arc<dyn pqike_crypto::SigningKey>>,
        /// Trust anchors (DER), for `remote`.
        cacerts: Vec<Vec<u8>>,
    },
}

impl core::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AuthConfig::Psk => f.write_str("Psk"),
            AuthConfig::PubKey {
                cert,
                intermediates,
                cacerts,
                ..
            } => write!(
                f,
                "PubKey {{ cert: {}, intermediates: {}, cacerts: {} }}",
                cert.is_some(),
                intermediates.len(),
                cacerts.len()
            ),
        }
    }
}

/// An identity (IDi/IDr) as configured: `b.example` (FQDN), `user@x` (RFC822), an IP address,
/// or a DN `C=XX, O=y, CN=z` (DER_ASN1_DN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// FQDN.
    Fqdn(String),
    /// RFC 822 address.
    Rfc822(String),
    /// IPv4 or IPv6 address.
    Ip(IpAddr),
    /// DER-encoded distinguished name.
    DerDn(Vec<u8>),
    /// Accept any identity (remote only; `%any`).
    Any,
}

/// One side's authentication round.
#[derive(Clone, Debug)]
pub struct AuthRound {
    /// Our or the expected peer identity.
    pub id: Identity,
    /// Method.
    pub auth: AuthConfig,
}

/// IPsec mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IpsecMode {
    /// Tunnel mode (default).
    #[default]
    Tunnel,
    /// Transport mode (USE_TRANSPORT_MODE notify).
    Transport,
}

/// A Child SA template.
#[derive(Clone, Debug)]
pub struct ChildConfig {
    /// Name (unique within the connection).
    pub name: String,
    /// Local traffic selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// Remote traffic selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// ESP proposals.
    pub esp_proposals: Vec<ProposalConfig>,
    /// Tunnel or transport.
    pub mode: IpsecMode,
    /// Lifetimes handed out with the install event (rekeying is another component).
    pub lifetime: Duration,
}

/// Whether the initial exchange creates a Child SA (RFC 6023).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Childless {
    /// Create the configured child in IKE_AUTH; accept childless initiators as responder.
    #[default]
    Allow,
    /// Never create a child in IKE_AUTH (requires the peer's CHILDLESS_IKEV2_SUPPORTED).
    Force,
    /// Refuse childless IKE SAs.
    Never,
}

/// A connection: one peer relationship.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Name (unique).
    pub name: String,
    /// Our addresses (empty = any).
    pub local_addrs: Vec<IpAddr>,
    /// Peer addresses (empty = any, responder only).
    pub remote_addrs: Vec<IpAddr>,
    /// Peer's IKE port (default 500).
    pub remote_port: u16,
    /// IKE proposals, in preference order.
    pub proposals: Vec<ProposalConfig>,
    /// Local authentication.
    pub local: AuthRound,
    /// Expected remote authentication.
    pub remote: AuthRound,
    /// Child SA templates.
    pub children: Vec<ChildConfig>,
    /// RFC 7383 fragmentation offered/accepted.
    pub fragmentation: bool,
    /// Childless policy.
    pub childless: Childless,
    /// Send CERTREQ for our trust anchors.
    pub send_certreq: bool,
    /// IKE SA lifetime (informational here; rekeying lives elsewhere).
    pub ike_lifetime: Duration,
    /// Post-quantum authentication extras: PPK policy, second authentication round, RFC 9593.
    pub auth_ext: AuthExtensions,
    /// SA lifecycle: rekeying, expiry, liveness, actions, Child SA PFS info, remote access (CP).
    pub lifecycle: LifecycleConfig,
}

/// What to do when an IKE SA goes away (strongSwan's `dpd_action` / `close_action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SaAction {
    /// Nothing.
    #[default]
    None,
    /// Initiate the connection again.
    Start,
    /// Install trap policies ([`crate::Event::InstallTrap`]) and initiate on traffic
    /// ([`crate::Endpoint::handle_acquire`]).
    Trap,
}

/// An address pool for remote-access clients (RFC 7296 §3.15, RFC 8983).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Pool name (leases are shared by every connection naming it).
    pub name: String,
    /// First and last address handed out (same family).
    pub first: IpAddr,
    /// Last address.
    pub last: IpAddr,
    /// Prefix length of the pool network (the INTERNAL_IP6_ADDRESS prefix, the IPv4 netmask).
    pub prefix: u8,
    /// DNS servers (INTERNAL_IP4_DNS / INTERNAL_IP6_DNS).
    pub dns: Vec<IpAddr>,
    /// Split-tunnel subnets (INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET): (network, prefix).
    pub split: Vec<(IpAddr, u8)>,
}

/// Lifecycle settings of a connection. Times of zero disable the respective timer; the
/// engine's default is no time-based rekeying at all (the daemon applies strongSwan's defaults,
/// 4 h for IKE SAs and 1 h for Child SAs, [`LifecycleConfig::strongswan_defaults`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// IKE SA rekey time (strongSwan's default 4 h; engine default 0 = off).
    pub ike_rekey_time: Duration,
    /// Hard IKE SA lifetime (default: rekey time + 10 %); the SA is deleted when it passes.
    pub ike_life_time: Option<Duration>,
    /// Child SA rekey time (strongSwan's default 1 h; engine default 0 = off).
    pub child_rekey_time: Duration,
    /// Hard Child SA lifetime (default: rekey time + 10 %).
    pub child_life_time: Option<Duration>,
    /// Rekey jitter: the rekey happens up to this much earlier, uniformly (default: life - rekey,
    /// as strongSwan's `rand_time`).
    pub rand_time: Option<Duration>,
    /// Liveness check interval for this connection (overrides the endpoint's `dpd_interval`).
    pub dpd_delay: Option<Duration>,
    /// Action when the peer stops answering (a liveness check or any exchange times out).
    pub dpd_action: SaAction,
    /// Action when the peer deletes the IKE SA (not after a rekey).
    pub close_action: SaAction,
    /// `Trap`: emit [`crate::Event::InstallTrap`] when the endpoint starts
    /// ([`crate::Endpoint::start`]); `Start`: initiate then.
    pub start_action: SaAction,
    /// Private-use notify number for CHILD_SA_PFS_INFO_SUPPORTED (None = off; strongSwan's
    /// child-pfs-info work uses 50600).
    pub pfs_info_notify: Option<u16>,
    /// Responder: pools to assign virtual IPs from (by name, [`PoolConfig`]).
    pub pools: Vec<PoolConfig>,
    /// Initiator: virtual IPs to request (`0.0.0.0` / `::` = any address).
    pub vips: Vec<IpAddr>,
    /// Force UDP encapsulation (strongSwan's `encap`): send a NAT_DETECTION_SOURCE_IP that
    /// cannot match, so both sides see a NAT in front of us (RFC 7296 §2.23 allows this to
    /// get ESP-in-UDP through middleboxes that drop protocol 50), float to port 4500 and
    /// negotiate UDP-encapsulated Child SAs (RFC 3948).
    pub force_encap: bool,
}

impl LifecycleConfig {
    /// strongSwan's defaults: IKE SAs rekeyed after 4 h, Child SAs after 1 h (minus jitter).
    pub fn strongswan_defaults() -> Self {
        LifecycleConfig {
            ike_rekey_time: Duration::from_secs(4 * 3600),
            child_rekey_time: Duration::from_secs(3600),
            ..Default::default()
        }
    }
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            ike_rekey_time: Duration::ZERO,
            ike_life_time: None,
            child_rekey_time: Duration::ZERO,
            child_life_time: None,
            rand_time: None,
            dpd_delay: None,
            dpd_action: SaAction::None,
            close_action: SaAction::None,
            start_action: SaAction::None,
            pfs_info_notify: None,
            pools: Vec::new(),
            vips: Vec::new(),
            force_encap: false,
        }
    }
}

/// Post-quantum authentication extras of a connection (defaults: all off).
#[derive(Clone, Debug, Default)]
pub struct AuthExtensions {
    /// RFC 8784 / RFC 9867: the PPK_ID to use with this peer (its secret is in
    /// [`Credentials::ppks`]). As responder any PPK_ID we hold a secret for is accepted.
    pub ppk_id: Option<String>,
    /// Refuse the IKE SA unless a PPK was mixed in (strongSwan's `ppk_required`); otherwise the
    /// initiator adds NO_PPK_AUTH so a peer without the PPK can still authenticate it.
    pub ppk_required: bool,
    /// Offer/accept RFC 9867 (PPK in IKE_INTERMEDIATE), preferred over RFC 8784 when both do it.
    pub ppk_intermediate: bool,
    /// Use libreswan <= 5.3's pre-RFC notify numbers 50209 (USE_PPK_INT) / 50208
    /// (PPK_IDENTITY_KEY) instead of 16445 / 16446.
    pub ppk_int_legacy_numbers: bool,
    /// RFC 9867 §4: also mix the PPK into CREATE_CHILD_SA exchanges (new/rekeyed Child SAs and
    /// IKE SA rekeys) of IKE SAs that negotiated USE_PPK_INT. As responder, accepted whenever
    /// the IKE SA negotiated USE_PPK_INT and we hold one of the offered PPKs.
    pub ppk_create_child: bool,
    /// RFC 4739: our second authentication round (strongSwan's `local-2`).
    pub local2: Option<AuthRound>,
    /// RFC 4739: the peer's expected second round (`remote-2`).
    pub remote2: Option<AuthRound>,
    /// RFC 9593: announce SUPPORTED_AUTH_METHODS and use the peer's announcement.
    pub announce_auth_methods: bool,
}

/// Pre-shared keys, looked up by the pair of identities.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// (identities the secret applies to; empty = any) -> secret.
    pub psks: Vec<(Vec<Identity>, zeroize::Zeroizing<Vec<u8>>)>,
    /// Postquantum preshared keys (RFC 8784): (PPK_ID, secret).
    pub ppks: Vec<(Vec<u8>, zeroize::Zeroizing<Vec<u8>>)>,
}

/// Endpoint-wide settings and resource limits.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// First retransmission timeout (strongSwan default 4.0 s).
    pub retransmit_timeout: Duration,
    /// Backoff base (1.8).
    pub retransmit_base: f64,
    /// Retransmissions before giving up (5).
    pub retransmit_tries: u32,
    /// Half-open IKE SAs above which the responder demands a COOKIE (RFC 7296 §2.6).
    pub cookie_threshold: usize,
    /// Hard cap on half-open IKE SAs; beyond it new IKE_SA_INIT requests are dropped.
    pub max_half_open: usize,
    /// How long a half-open SA may wait for IKE_AUTH before it is dropped.
    pub half_open_timeout: Duration,
    /// Max size of an IKE datagram we send before fragmenting (RFC 7383), IP+UDP headers included.
    pub fragment_size: usize,
    /// Largest reassembled / received IKE message accepted.
    pub max_message_size: usize,
    /// Largest IKE_SA_INIT request accepted. IKE_SA_INIT cannot be fragmented (RFC 7383 §2.5)
    /// and the responder keeps the request until IKE_AUTH (it is signed, RFC 7296 §2.15), so an
    /// unauthenticated peer could otherwise park `max_message_size` octets per half-open SA.
    /// The default fits the largest key exchange allowed there
    /// (`pqike_wire::algorithms::IKE_SA_INIT_MAX_KE_DATA`, 8192) with 4 KiB for the rest.
    pub max_init_size: usize,
    /// Most fragments accepted for one message.
    pub max_fragments: u16,
    /// Our IKE port (500) and NAT-T port (4500); used in NAT detection and floating.
    pub ike_port: u16,
    /// NAT-T port.
    pub nat_port: u16,
    /// Interval of liveness checks on idle established SAs (None = off).
    pub dpd_interval: Option<Duration>,
    /// Emit [`crate::Event::IkeSaKeys`] with the IKE SA's SK_e/SK_a keys each time they are
    /// derived. Debugging only (packet-capture decryption); off by default.
    pub export_keys: bool,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            retransmit_timeout: Duration::from_secs(4),
            retransmit_base: 1.8,
            retransmit_tries: 5,
            cookie_threshold: 30,
            max_half_open: 5000,
            half_open_timeout: Duration::from_secs(30),
            fragment_size: 1280,
            max_message_size: 65_000,
            max_init_size: 12_288,
            max_fragments: 64,
            ike_port: 500,
            nat_port: 4500,
            dpd_interval: None,
            export_keys: false,
        }
    }
}
