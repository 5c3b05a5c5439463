//! The TOML configuration file of `pqiked`, validated into the engine's configuration.
//!
//! Two steps: serde deserialises the file into `Raw*` structs (`deny_unknown_fields`, strings kept
//! as [`Spanned`] where their content is validated later), then [`validate`] turns them into a
//! [`DaemonConfig`] (proposals, addresses, identities, traffic selectors, credentials). Every error,
//! from either step, carries the byte span it refers to; [`ConfigError`] turns that into
//! `FILE:LINE:COL: field `connection[0].proposals[1]`: message` by walking the parsed document.
use crate::identity::{identity_to_string, parse_identity};
use crate::proposal::{parse_proposal, ProposalKind};
use crate::ts::parse_ts;
use pqike_proto::{
    AuthConfig, AuthExtensions, AuthRound, ChildConfig, Childless, ConnectionConfig, Credentials,
    EndpointConfig, Identity, IpsecMode, ProposalConfig,
};
use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use zeroize::Zeroizing;

/// Default control socket path.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/pqike/pqiked.sock";
/// Default IKE proposal when a connection does not list any (hybrid X25519 + ML-KEM-768).
pub const DEFAULT_IKE_PROPOSAL: &str = "aes256gcm16-prfsha384-x25519-ke1_mlkem768";
/// Default ESP proposal.
pub const DEFAULT_ESP_PROPOSAL: &str = "aes256gcm16";

/// A configuration error with its location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (as given on the command line).
    pub file: PathBuf,
    /// 1-based line and column; 0 when the error has no position (e.g. unreadable file).
    pub line: usize,
    /// Column.
    pub col: usize,
    /// Dotted path of the field, e.g. `connection[0].proposals[1]`; empty for syntax errors.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------------------------
// Raw (deserialised) form
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    connection: Vec<RawConnection>,
    #[serde(default)]
    secrets: Vec<RawSecret>,
    /// Remote-access address pools (lifecycle; docs/config.md "Remote access").
    #[serde(default)]
    pools: Vec<RawPool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    name: Spanned<String>,
    /// `10.3.0.0/24` (hands out .1 to .254), or a range `10.3.0.10-10.3.0.99`.
    addrs: Spanned<String>,
    #[serde(default)]
    dns: Vec<Spanned<String>>,
    /// Split-tunnel subnets sent as INTERNAL_IP4/6_SUBNET, e.g. `10.2.0.0/16`.
    #[serde(default)]
    split: Vec<Spanned<String>>,
}

/// `addr/prefix` (or a bare address: full prefix).
fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
    let addr: IpAddr = a
        .trim()
        .parse()
        .map_err(|_| format!("`{a}` is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = if p.is_empty() {
        max
    } else {
        p.trim()
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("bad prefix length `{p}`"))?
    };
    Ok((addr, prefix))
}

fn parse_pool(p: &RawPool) -> Result<pqike_proto::PoolConfig, SpanError> {
    let text = p.addrs.get_ref();
    let (first, last, prefix) = if let Some((a, b)) = text.split_once('-') {
        let a: IpAddr = a
            .trim()
            .parse()
            .or_else(|_| err(p.addrs.span(), "bad pool range start"))?;
        let b: IpAddr = b
            .trim()
            .parse()
            .or_else(|_| err(p.addrs.span(), "bad pool range end"))?;
        if a.is_ipv4() != b.is_ipv4() || a > b {
            return err(
                p.addrs.span(),
                "pool range must be ascending and of one family",
            );
        }
        (a, b, if a.is_ipv4() { 32 } else { 128 })
    } else {
        let (net, prefix) = parse_cidr(text).or_else(|e| err(p.addrs.span(), e))?;
        let ts = crate::ts::parse_ts(text).or_else(|e| err(p.addrs.span(), e))?;
        // Skip the network (and for IPv4 the broadcast) address, as strongSwan does.
        let step = |a: IpAddr, up: bool| -> IpAddr {
            match a {
                IpAddr::V4(v) => {
                    let n = u32::from(v);
                    std::net::Ipv4Addr::from(if up {
                        n.saturating_add(1)
                    } else {
                        n.saturating_sub(1)
                    })
                    .into()
                }
                IpAddr::V6(v) => {
                    let n = u128::from(v);
                    std::net::Ipv6Addr::from(if up { n.saturating_add(1) } else { n }).into()
                }
            }
        };
        if (net.is_ipv4() && prefix >= 31) || prefix == 128 {
            (ts.start_addr, ts.end_addr, prefix)
        } else {
            (step(ts.start_addr, true), step(ts.end_addr, false), prefix)
        }
    };
    let mut dns = Vec::new();
    for d in &p.dns {
        dns.push(
            d.get_ref()
                .trim()
                .parse()
                .or_else(|_| err(d.span(), "bad DNS server address"))?,
        );
    }
    let mut split = Vec::new();
    for s in &p.split {
        split.push(parse_cidr(s.get_ref()).or_else(|e| err(s.span(), e))?);
    }
    Ok(pqike_proto::PoolConfig {
        name: p.name.get_ref().clone(),
        first,
        last,
        prefix,
        dns,
        split,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDaemon {
    control_socket: String,
    log_level: Spanned<String>,
    listen: Vec<Spanned<String>>,
    ike_port: u16,
    nat_port: u16,
    fragment_size: Spanned<usize>,
    max_message_size: usize,
    max_init_size: Spanned<usize>,
    max_fragments: u16,
    retransmit_timeout: Spanned<f64>,
    retransmit_base: Spanned<f64>,
    retransmit_tries: u32,
    cookie_threshold: usize,
    max_half_open: usize,
    half_open_timeout: Spanned<f64>,
    dpd_interval: Spanned<f64>,
    // data plane (crate::dataplane)
    dataplane: Spanned<String>,
    tun_name: String,
    tun_mtu: Spanned<u16>,
    tun_queues: usize,
    route_table: u32,
    raw_esp: bool,
    force_udp_encap: bool,
    replay_window: Spanned<u32>,
    // Debugging only: IKE/ESP keys for Wireshark (crate::keylog).
    key_log: Option<Spanned<String>>,
}

impl Default for RawDaemon {
    fn default() -> Self {
        let e = EndpointConfig::default();
        let dp = crate::dataplane::DataplaneConfig::default();
        RawDaemon {
            control_socket: DEFAULT_CONTROL_SOCKET.into(),
            log_level: Spanned::new(0..0, "info".into()),
            listen: vec![Spanned::new(0..0, "0.0.0.0".into())],
            ike_port: e.ike_port,
            nat_port: e.nat_port,
            fragment_size: Spanned::new(0..0, e.fragment_size),
            max_message_size: e.max_message_size,
            max_init_size: Spanned::new(0..0, e.max_init_size),
            max_fragments: e.max_fragments,
            retransmit_timeout: Spanned::new(0..0, e.retransmit_timeout.as_secs_f64()),
            retransmit_base: Spanned::new(0..0, e.retransmit_base),
            retransmit_tries: e.retransmit_tries,
            cookie_threshold: e.cookie_threshold,
            max_half_open: e.max_half_open,
            half_open_timeout: Spanned::new(0..0, e.half_open_timeout.as_secs_f64()),
            dpd_interval: Spanned::new(0..0, 0.0),
            dataplane: Spanned::new(0..0, "userspace".into()),
            tun_name: dp.tun_name,
            tun_mtu: Spanned::new(0..0, dp.tun_mtu),
            tun_queues: dp.tun_queues,
            route_table: dp.route_table,
            raw_esp: dp.raw_esp,
            force_udp_encap: dp.force_udp_encap,
            replay_window: Spanned::new(0..0, dp.replay_window),
            key_log: None,
        }
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
enum RawStartAction {
    #[default]
    None,
    Start,
    /// Trap policies + initiate on traffic (lifecycle; needs the data plane's acquires).
    Trap,
}

/// dpd_action / close_action (lifecycle).
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
enum RawSaAction {
    #[default]
    None,
    Start,
    Trap,
}

impl RawSaAction {
    fn engine(self) -> pqike_proto::SaAction {
        match self {
            RawSaAction::None => pqike_proto::SaAction::None,
            RawSaAction::Start => pqike_proto::SaAction::Start,
            RawSaAction::Trap => pqike_proto::SaAction::Trap,
        }
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
enum RawChildless {
    #[default]
    Allow,
    Force,
    Never,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum RawAuthMethod {
    Psk,
    Pubkey,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
enum RawMode {
    #[default]
    Tunnel,
    Transport,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum RawSecretKind {
    Psk,
    /// RFC 8784 postquantum preshared key; `ids` are PPK_IDs.
    Ppk,
}

fn default_true() -> bool {
    true
}
fn default_remote_port() -> u16 {
    500
}
fn default_ike_lifetime() -> u64 {
    14_400
}
fn default_child_lifetime() -> u64 {
    3_600
}
fn default_ike_proposals() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, DEFAULT_IKE_PROPOSAL.into())]
}
fn default_esp_proposals() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, DEFAULT_ESP_PROPOSAL.into())]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    name: Spanned<String>,
    #[serde(default)]
    local_addrs: Vec<Spanned<String>>,
    #[serde(default)]
    remote_addrs: Vec<Spanned<String>>,
    #[serde(default = "default_remote_port")]
    remote_port: u16,
    #[serde(default = "default_ike_proposals")]
    proposals: Vec<Spanned<String>>,
    #[serde(default = "default_true")]
    fragmentation: bool,
    start_action: Option<Spanned<RawStartAction>>,
    #[serde(default)]
    childless: RawChildless,
    #[serde(default = "default_true")]
    send_certreq: bool,
    #[serde(default = "default_ike_lifetime")]
    ike_lifetime: u64,
    /// Lifecycle (docs/config.md "SA lifecycle"): IKE SA rekey time (default: ike_lifetime),
    /// hard life time, jitter, Child SA rekey/life time (default: the first child's lifetime),
    /// liveness interval and actions. Seconds; 0 disables.
    rekey_time: Option<u64>,
    life_time: Option<u64>,
    rand_time: Option<u64>,
    child_rekey_time: Option<u64>,
    child_life_time: Option<u64>,
    /// Child SA volume limits (octets, counted by the data plane): soft (rekey) and hard
    /// (default soft + 50 %).
    child_rekey_bytes: Option<Spanned<u64>>,
    child_life_bytes: Option<Spanned<u64>>,
    dpd_delay: Option<u64>,
    #[serde(default)]
    dpd_action: RawSaAction,
    #[serde(default)]
    close_action: RawSaAction,
    /// Remote access: pools to assign from (server) / virtual IPs to request (client).
    #[serde(default)]
    pools: Vec<Spanned<String>>,
    #[serde(default)]
    vips: Vec<Spanned<String>>,
    /// Force UDP encapsulation of ESP with a fake NAT-D (strongSwan's `encap`).
    #[serde(default)]
    encap: bool,
    /// CHILD_SA_PFS_INFO_SUPPORTED with this private-use notify number (true = 50600).
    #[serde(default)]
    child_pfs_info: bool,
    child_pfs_info_notify: Option<u16>,
    local: Spanned<RawAuth>,
    remote: Spanned<RawAuth>,
    /// RFC 4739 second authentication rounds (strongSwan's `local-2` / `remote-2`).
    local2: Option<Spanned<RawAuth>>,
    remote2: Option<Spanned<RawAuth>>,
    /// RFC 8784 PPK_ID and policy (strongSwan's names).
    ppk_id: Option<Spanned<String>>,
    #[serde(default)]
    ppk_required: bool,
    /// RFC 9867 PPK in IKE_INTERMEDIATE (and libreswan's pre-RFC notify numbers).
    #[serde(default)]
    ppk_intermediate: bool,
    #[serde(default)]
    ppk_int_legacy_numbers: bool,
    /// RFC 9867 §4 PPK in CREATE_CHILD_SA exchanges.
    #[serde(default)]
    ppk_create_child: bool,
    /// RFC 9593 SUPPORTED_AUTH_METHODS.
    #[serde(default)]
    announce_auth_methods: bool,
    #[serde(default)]
    children: Vec<RawChild>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    id: Option<Spanned<String>>,
    auth: Spanned<RawAuthMethod>,
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    #[serde(default)]
    intermediates: Vec<Spanned<String>>,
    #[serde(default)]
    cacerts: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChild {
    name: Spanned<String>,
    local_ts: Vec<Spanned<String>>,
    remote_ts: Vec<Spanned<String>>,
    #[serde(default = "default_esp_proposals")]
    esp_proposals: Vec<Spanned<String>>,
    #[serde(default)]
    mode: RawMode,
    #[serde(default = "default_child_lifetime")]
    lifetime: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    kind: RawSecretKind,
    #[serde(default)]
    ids: Vec<Spanned<String>>,
    secret: Spanned<String>,
}

// ---------------------------------------------------------------------------------------------
// Validated form
// ---------------------------------------------------------------------------------------------

/// Everything `pqiked` needs, validated.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// The file this came from.
    pub path: PathBuf,
    /// Unix control socket.
    pub control_socket: PathBuf,
    /// Log level (error|warn|info|debug|trace).
    pub log_level: String,
    /// Local addresses to bind, each on `endpoint.ike_port` and `endpoint.nat_port`.
    pub listen: Vec<IpAddr>,
    /// Engine settings.
    pub endpoint: EndpointConfig,
    /// Connections, in file order.
    pub connections: Vec<ConnectionConfig>,
    /// Names of connections with `start_action = "start"`.
    pub start: Vec<String>,
    /// Secrets.
    pub credentials: Credentials,
    /// Data plane (`dataplane`, `tun_*`, `route_table`, `raw_esp`, `replay_window`).
    pub dataplane: crate::dataplane::DataplaneConfig,
    /// `key_log`: file receiving Wireshark decryption-table lines (crate::keylog). Debugging
    /// only; when set, `endpoint.export_keys` is on.
    pub key_log: Option<PathBuf>,
}

/// Which byte span an error from the validation step refers to.
struct SpanError {
    span: Range<usize>,
    message: String,
}

fn err<T>(span: Range<usize>, message: impl Into<String>) -> Result<T, SpanError> {
    Err(SpanError {
        span,
        message: message.into(),
    })
}

const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// Read and validate a config file. Relative certificate/key paths are resolved against the
/// file's directory.
pub fn load(path: &Path) -> Result<DaemonConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: 0,
        col: 0,
        field: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Validate config text; `path` is used for messages and to resolve relative paths.
pub fn parse(path: &Path, text: &str) -> Result<DaemonConfig, ConfigError> {
    let located = |span: Option<Range<usize>>, message: String| {
        let (line, col) = span
            .as_ref()
            .map(|s| line_col(text, s.start))
            .unwrap_or((0, 0));
        let field = span.map(|s| field_path(text, &s)).unwrap_or_default();
        ConfigError {
            file: path.to_path_buf(),
            line,
            col,
            field,
            message,
        }
    };
    let raw: RawFile =
        toml::from_str(text).map_err(|e| located(e.span(), e.message().trim().to_string()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    validate(raw, path, &base).map_err(|e| located(Some(e.span), e.message))
}

fn validate(raw: RawFile, path: &Path, base: &Path) -> Result<DaemonConfig, SpanError> {
    let d = raw.daemon;
    if !LOG_LEVELS.contains(&d.log_level.get_ref().as_str()) {
        return err(
            d.log_level.span(),
            format!(
                "unknown log level `{}` (use one of {})",
                d.log_level.get_ref(),
                LOG_LEVELS.join(", ")
            ),
        );
    }
    let mut listen = Vec::new();
    for a in &d.listen {
        listen.push(parse_ip(a)?);
    }
    if listen.is_empty() {
        return err(0..0, "`daemon.listen` must name at least one address");
    }
    let secs = |v: &Spanned<f64>, zero_ok: bool| -> Result<Duration, SpanError> {
        let x = *v.get_ref();
        if !x.is_finite() || x < 0.0 || (!zero_ok && x == 0.0) || x > 1e9 {
            return err(v.span(), format!("`{x}` is not a valid number of seconds"));
        }
        Ok(Duration::from_secs_f64(x))
    };
    if *d.fragment_size.get_ref() < 576 {
        return err(
            d.fragment_size.span(),
            "fragment_size below 576 octets is not useful (RFC 7383 §2.5.1)",
        );
    }
    if *d.retransmit_base.get_ref() < 1.0 || !d.retransmit_base.get_ref().is_finite() {
        return err(
            d.retransmit_base.span(),
            "retransmit_base must be at least 1.0",
        );
    }
    let dpd = secs(&d.dpd_interval, true)?;
    let key_log = match &d.key_log {
        Some(p) if p.get_ref().is_empty() => {
            return err(p.span(), "key_log must be a file path (omit it to disable)")
        }
        Some(p) => Some(PathBuf::from(p.get_ref())),
        None => None,
    };
    let mut dataplane = crate::dataplane::DataplaneConfig {
        backend: d
            .dataplane
            .get_ref()
            .parse()
            .or_else(|e| err(d.dataplane.span(), e))?,
        tun_name: d.tun_name.clone(),
        tun_mtu: match *d.tun_mtu.get_ref() {
            m @ 576..=65_000 => m,
            _ => return err(d.tun_mtu.span(), "tun_mtu must be 576..65000"),
        },
        tun_queues: d.tun_queues.clamp(1, 16),
        route_table: d.route_table,
        raw_esp: d.raw_esp,
        force_udp_encap: d.force_udp_encap,
        nat_port: d.nat_port,
        // RFC 4303 §3.4.3: 32 is the minimum; the ESP core supports up to 65536.
        replay_window: match *d.replay_window.get_ref() {
            w @ 32..=65_536 => w,
            _ => return err(d.replay_window.span(), "replay_window must be 32..65536"),
        },
        ..Default::default()
    };
    let endpoint = EndpointConfig {
        retransmit_timeout: secs(&d.retransmit_timeout, false)?,
        retransmit_base: *d.retransmit_base.get_ref(),
        retransmit_tries: d.retransmit_tries,
        cookie_threshold: d.cookie_threshold,
        max_half_open: d.max_half_open,
        half_open_timeout: secs(&d.half_open_timeout, false)?,
        fragment_size: *d.fragment_size.get_ref(),
        max_message_size: d.max_message_size,
        max_init_size: match *d.max_init_size.get_ref() {
            // RFC 7296 §2: every implementation accepts 1280 octets.
            n @ 1280..=65_535 => n,
            _ => return err(d.max_init_size.span(), "max_init_size must be 1280..65535"),
        },
        max_fragments: d.max_fragments,
        ike_port: d.ike_port,
        nat_port: d.nat_port,
        dpd_interval: (!dpd.is_zero()).then_some(dpd),
        export_keys: key_log.is_some(),
    };

    let mut credentials = Credentials::default();
    for s in raw.secrets {
        if s.kind == RawSecretKind::Ppk {
            // PPK_IDs are opaque names, not IKE identities (RFC 8784 §3).
            if s.ids.is_empty() {
                return err(s.secret.span(), "a ppk secret needs `ids` (its PPK_IDs)");
            }
            let span = s.secret.span();
            let secret = parse_secret_value(s.secret.into_inner(), span)?;
            for id in &s.ids {
                if id.get_ref().is_empty() || id.get_ref().len() > 255 {
                    return err(id.span(), "a PPK_ID must be 1..255 octets");
                }
                credentials
                    .ppks
                    .push((id.get_ref().as_bytes().to_vec(), secret.clone()));
            }
            continue;
        }
        let mut ids = Vec::new();
        for id in &s.ids {
            ids.push(parse_identity(id.get_ref(), false).or_else(|e| err(id.span(), e))?);
        }
        let span = s.secret.span();
        let text = Zeroizing::new(s.secret.into_inner());
        let secret = if let Some(h) = text.strip_prefix("0x") {
            Zeroizing::new(
                hex::decode(h).or_else(|_| err(span.clone(), "`0x` secret is not valid hex"))?,
            )
        } else {
            Zeroizing::new(text.as_bytes().to_vec())
        };
        if secret.is_empty() {
            return err(span, "empty secret");
        }
        credentials.psks.push((ids, secret));
    }

    let mut connections: Vec<ConnectionConfig> = Vec::new();
    let mut start = Vec::new();
    let mut pools = Vec::new();
    for p in &raw.pools {
        if pools
            .iter()
            .any(|x: &pqike_proto::PoolConfig| x.name == *p.name.get_ref())
        {
            return err(p.name.span(), "duplicate pool name");
        }
        pools.push(parse_pool(p)?);
    }
    for c in raw.connection {
        let name = c.name.get_ref().clone();
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return err(
                c.name.span(),
                "connection names must be non-empty and contain no spaces",
            );
        }
        if connections.iter().any(|x| x.name == name) {
            return err(c.name.span(), format!("duplicate connection name `{name}`"));
        }
        let local_addrs = c
            .local_addrs
            .iter()
            .map(parse_ip)
            .collect::<Result<Vec<_>, _>>()?;
        let remote_addrs = c
            .remote_addrs
            .iter()
            .map(parse_ip)
            .collect::<Result<Vec<_>, _>>()?;
        let proposals = parse_proposals(&c.proposals, ProposalKind::Ike)?;
        let local = auth_round(c.local, true, base)?;
        let remote = auth_round(c.remote, false, base)?;
        let local2 = c.local2.map(|a| auth_round(a, true, base)).transpose()?;
        let remote2 = c.remote2.map(|a| auth_round(a, false, base)).transpose()?;
        if let Some(id) = &c.ppk_id {
            if !credentials
                .ppks
                .iter()
                .any(|(i, _)| i == id.get_ref().as_bytes())
            {
                return err(
                    id.span(),
                    format!(
                        "no [[secrets]] entry of kind ppk for PPK_ID `{}`",
                        id.get_ref()
                    ),
                );
            }
        }
        if c.ppk_required && c.ppk_id.is_none() && credentials.ppks.is_empty() {
            return err(
                c.name.span(),
                "ppk_required = true but no ppk secret is configured",
            );
        }
        if c.ppk_create_child && !(c.ppk_intermediate && c.ppk_id.is_some()) {
            // RFC 9867: PPKs in CREATE_CHILD_SA are only used on IKE SAs that negotiated
            // USE_PPK_INT, which pqike offers with `ppk_intermediate` and a `ppk_id`.
            return err(
                c.name.span(),
                "ppk_create_child = true needs ppk_intermediate = true and a ppk_id",
            );
        }
        let auth_ext = AuthExtensions {
            ppk_id: c.ppk_id.map(|s| s.into_inner()),
            ppk_required: c.ppk_required,
            ppk_intermediate: c.ppk_intermediate,
            ppk_int_legacy_numbers: c.ppk_int_legacy_numbers,
            ppk_create_child: c.ppk_create_child,
            local2,
            remote2,
            announce_auth_methods: c.announce_auth_methods,
        };
        for (round, what) in [(&local, "local"), (&remote, "remote")] {
            if matches!(round.auth, AuthConfig::Psk) && credentials.psks.is_empty() {
                return err(
                    c.name.span(),
                    format!("{what} auth is psk but no [[secrets]] entry of kind psk exists"),
                );
            }
        }
        if let Some(sa) = c
            .start_action
            .as_ref()
            .filter(|s| *s.get_ref() == RawStartAction::Start)
        {
            if remote_addrs.is_empty() {
                return err(sa.span(), "start_action = \"start\" needs remote_addrs");
            }
            start.push(name.clone());
        }
        let mut children: Vec<ChildConfig> = Vec::new();
        let child_lifetime = c.children.first().map(|ch| ch.lifetime);
        if let Some(rb) = &c.child_rekey_bytes {
            let soft = *rb.get_ref();
            if soft == 0 {
                return err(
                    rb.span(),
                    "child_rekey_bytes must be positive (omit it to disable)",
                );
            }
            let hard = match &c.child_life_bytes {
                Some(lb) if *lb.get_ref() <= soft => {
                    return err(lb.span(), "child_life_bytes must exceed child_rekey_bytes");
                }
                Some(lb) => *lb.get_ref(),
                // Expiry reaches the engine on the data plane's 1 s tick and the rekey takes a
                // round trip or two: +10 % (strongSwan's kernel default) is a fraction of a
                // second at link speed, so the hard limit could fire before the rekey is done.
                None => soft.saturating_add(soft / 2),
            };
            dataplane.child_bytes.insert(name.clone(), (soft, hard));
        } else if let Some(lb) = &c.child_life_bytes {
            return err(lb.span(), "child_life_bytes needs child_rekey_bytes");
        }
        let mut conn_pools = Vec::new();
        for pn in &c.pools {
            let p = pools
                .iter()
                .find(|p: &&pqike_proto::PoolConfig| p.name == *pn.get_ref())
                .ok_or_else(|| SpanError {
                    span: pn.span(),
                    message: format!("no [[pools]] entry named `{}`", pn.get_ref()),
                })?;
            conn_pools.push(p.clone());
        }
        let mut vips = Vec::new();
        for v in &c.vips {
            vips.push(parse_ip(v)?);
        }
        for ch in c.children {
            let cname = ch.name.get_ref().clone();
            if children.iter().any(|x| x.name == cname) {
                return err(ch.name.span(), format!("duplicate child name `{cname}`"));
            }
            let ts = |list: &[Spanned<String>]| -> Result<Vec<_>, SpanError> {
                if list.is_empty() {
                    return err(
                        ch.name.span(),
                        "local_ts and remote_ts need at least one selector each",
                    );
                }
                list.iter()
                    .map(|t| parse_ts(t.get_ref()).or_else(|e| err(t.span(), e)))
                    .collect()
            };
            children.push(ChildConfig {
                name: cname,
                local_ts: ts(&ch.local_ts)?,
                remote_ts: ts(&ch.remote_ts)?,
                esp_proposals: parse_proposals(&ch.esp_proposals, ProposalKind::Esp)?,
                mode: match ch.mode {
                    RawMode::Tunnel => IpsecMode::Tunnel,
                    RawMode::Transport => IpsecMode::Transport,
                },
                lifetime: Duration::from_secs(ch.lifetime),
            });
        }
        if c.childless == RawChildless::Never && children.is_empty() {
            return err(
                c.name.span(),
                "childless = \"never\" but the connection has no children",
            );
        }
        connections.push(ConnectionConfig {
            name,
            local_addrs,
            remote_addrs,
            remote_port: c.remote_port,
            proposals,
            local,
            remote,
            children,
            fragmentation: c.fragmentation,
            childless: match c.childless {
                RawChildless::Allow => Childless::Allow,
                RawChildless::Force => Childless::Force,
                RawChildless::Never => Childless::Never,
            },
            send_certreq: c.send_certreq,
            ike_lifetime: Duration::from_secs(c.ike_lifetime),
            auth_ext,
            lifecycle: pqike_proto::LifecycleConfig {
                ike_rekey_time: Duration::from_secs(c.rekey_time.unwrap_or(c.ike_lifetime)),
                ike_life_time: c.life_time.map(Duration::from_secs),
                child_rekey_time: Duration::from_secs(
                    c.child_rekey_time
                        .unwrap_or(child_lifetime.unwrap_or(default_child_lifetime())),
                ),
                child_life_time: c.child_life_time.map(Duration::from_secs),
                rand_time: c.rand_time.map(Duration::from_secs),
                dpd_delay: c.dpd_delay.map(Duration::from_secs),
                dpd_action: c.dpd_action.engine(),
                close_action: c.close_action.engine(),
                start_action: match c.start_action.as_ref().map(|s| *s.get_ref()) {
                    Some(RawStartAction::Trap) => pqike_proto::SaAction::Trap,
                    // `start` is run by the daemon itself (cfg.start).
                    _ => pqike_proto::SaAction::None,
                },
                pfs_info_notify: (c.child_pfs_info || c.child_pfs_info_notify.is_some())
                    .then(|| c.child_pfs_info_notify.unwrap_or(50600)),
                pools: conn_pools,
                vips,
                force_encap: c.encap,
            },
        });
    }

    Ok(DaemonConfig {
        path: path.to_path_buf(),
        control_socket: PathBuf::from(d.control_socket),
        log_level: d.log_level.into_inner(),
        listen,
        endpoint,
        connections,
        start,
        credentials,
        dataplane,
        key_log,
    })
}

/// A secret value: `0x` + hex, or the string's octets.
fn parse_secret_value(text: String, span: Range<usize>) -> Result<Zeroizing<Vec<u8>>, SpanError> {
    let text = Zeroizing::new(text);
    let secret = match text.strip_prefix("0x") {
        Some(h) => Zeroizing::new(
            hex::decode(h).or_else(|_| err(span.clone(), "`0x` secret is not valid hex"))?,
        ),
        None => Zeroizing::new(text.as_bytes().to_vec()),
    };
    if secret.is_empty() {
        return err(span, "empty secret");
    }
    Ok(secret)
}

fn parse_ip(s: &Spanned<String>) -> Result<IpAddr, SpanError> {
    s.get_ref()
        .trim()
        .parse()
        .or_else(|_| err(s.span(), format!("`{}` is not an IP address", s.get_ref())))
}

fn parse_proposals(
    list: &[Spanned<String>],
    kind: ProposalKind,
) -> Result<Vec<ProposalConfig>, SpanError> {
    if list.is_empty() {
        return err(0..0, "empty proposal list");
    }
    list.iter()
        .map(|p| parse_proposal(p.get_ref(), kind).or_else(|e| err(p.span(), e)))
        .collect()
}

fn auth_round(raw: Spanned<RawAuth>, local: bool, base: &Path) -> Result<AuthRound, SpanError> {
    let span = raw.span();
    let a = raw.into_inner();
    let mut id = match &a.id {
        Some(id) => parse_identity(id.get_ref(), !local).or_else(|e| err(id.span(), e))?,
        None if local => return err(span, "missing field `id`"),
        None => Identity::Any,
    };
    let auth = match *a.auth.get_ref() {
        RawAuthMethod::Psk => {
            for (field, present) in [
                ("cert", a.cert.is_some()),
                ("key", a.key.is_some()),
                ("intermediates", !a.intermediates.is_empty()),
                ("cacerts", !a.cacerts.is_empty()),
            ] {
                if present {
                    return err(
                        a.auth.span(),
                        format!("`{field}` is only used with auth = \"pubkey\""),
                    );
                }
            }
            AuthConfig::Psk
        }
        RawAuthMethod::Pubkey if local => {
            let cert = a.cert.as_ref().ok_or_else(|| SpanError {
                span: span.clone(),
                message: "auth = \"pubkey\" needs `cert`".into(),
            })?;
            let key = a.key.as_ref().ok_or_else(|| SpanError {
                span: span.clone(),
                message: "auth = \"pubkey\" needs `key`".into(),
            })?;
            if !a.cacerts.is_empty() {
                return err(a.cacerts[0].span(), "`cacerts` belongs to the remote side");
            }
            let mut certs = load_certs(cert, base)?;
            let ee = certs.remove(0);
            let subject = pqike_crypto::pki::Certificate::parse(&ee)
                .map(|c| c.subject_der().to_vec())
                .or_else(|e| err(cert.span(), format!("{}: {e}", cert.get_ref())))?;
            if let Identity::DerDn(dn) = &mut id {
                // Send the certificate's own encoding of an equivalent DN, so that a peer
                // comparing IDi with the certificate subject byte for byte accepts it.
                if crate::identity::dn_equivalent(dn, &subject) {
                    *dn = subject;
                }
            }
            let mut intermediates = certs;
            for i in &a.intermediates {
                intermediates.extend(load_certs(i, base)?);
            }
            AuthConfig::PubKey {
                cert: Some(ee),
                intermediates,
                key: Some(
                    crate::keys::load_signing_key(&resolve(base, key.get_ref()))
                        .or_else(|e| err(key.span(), e))?,
                ),
                cacerts: Vec::new(),
            }
        }
        RawAuthMethod::Pubkey => {
            for (f, v) in [("cert", &a.cert), ("key", &a.key)] {
                if let Some(v) = v {
                    return err(v.span(), format!("`{f}` belongs to the local side"));
                }
            }
            if a.cacerts.is_empty() {
                return err(
                    span,
                    "auth = \"pubkey\" on the remote side needs `cacerts` (trust anchors)",
                );
            }
            let mut cacerts = Vec::new();
            for c in a.cacerts.iter().chain(&a.intermediates) {
                cacerts.extend(load_certs(c, base)?);
            }
            AuthConfig::PubKey {
                cert: None,
                intermediates: Vec::new(),
                key: None,
                cacerts,
            }
        }
    };
    Ok(AuthRound { id, auth })
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn load_certs(p: &Spanned<String>, base: &Path) -> Result<Vec<Vec<u8>>, SpanError> {
    crate::keys::load_certs(&resolve(base, p.get_ref())).or_else(|e| err(p.span(), e))
}

// ---------------------------------------------------------------------------------------------
// Locating errors
// ---------------------------------------------------------------------------------------------

/// 1-based line and column (in characters) of byte offset `pos`.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let mut pos = pos;
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The dotted path of the deepest key or value whose span contains `span.start`.
fn field_path(text: &str, span: &Range<usize>) -> String {
    let Ok(doc) = toml::de::DeTable::parse(text) else {
        return String::new();
    };
    let mut best: Best = ((0, 0), String::new());
    walk_table(doc.get_ref(), span.start, &mut Vec::new(), &mut best);
    best.1
}

fn contains(r: &Range<usize>, pos: usize) -> bool {
    r.start <= pos && pos < r.end.max(r.start + 1)
}

fn walk_table(t: &toml::de::DeTable<'_>, pos: usize, path: &mut Vec<String>, best: &mut Best) {
    for (k, v) in t.iter() {
        let seg = if path.is_empty() {
            k.get_ref().to_string()
        } else {
            format!(".{}", k.get_ref())
        };
        path.push(seg);
        let leaf = !matches!(
            v.get_ref(),
            toml::de::DeValue::Table(_) | toml::de::DeValue::Array(_)
        );
        if contains(&k.span(), pos) || (leaf && contains(&v.span(), pos)) {
            consider(path, 2, best);
        } else if contains(&v.span(), pos) {
            consider(path, 1, best);
        }
        walk_value(v.get_ref(), pos, path, best);
        path.pop();
    }
}

fn walk_value(v: &toml::de::DeValue<'_>, pos: usize, path: &mut Vec<String>, best: &mut Best) {
    match v {
        toml::de::DeValue::Table(t) => walk_table(t, pos, path, best),
        toml::de::DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(format!("[{i}]"));
                if contains(&item.span(), pos) {
                    let leaf = !matches!(
                        item.get_ref(),
                        toml::de::DeValue::Table(_) | toml::de::DeValue::Array(_)
                    );
                    consider(path, if leaf { 2 } else { 1 }, best);
                }
                walk_value(item.get_ref(), pos, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Keep the best match: exact hits (a key, or a scalar value) beat containers that merely enclose
/// the position (an array-of-tables item spans its header); among equals, the deeper path wins.
fn consider(path: &[String], tier: usize, best: &mut Best) {
    let score = (tier, path.len());
    if score >= best.0 {
        *best = (score, path.concat());
    }
}

type Best = ((usize, usize), String);

// ---------------------------------------------------------------------------------------------
// Summary for `pqiked --check`
// ---------------------------------------------------------------------------------------------

impl DaemonConfig {
    /// A human-readable summary of what was parsed.
    pub fn summary(&self) -> String {
        use crate::ts::format_ts;
        let mut out = String::new();
        let e = &self.endpoint;
        out += &format!(
            "{}: OK\n  listen {} on IKE port {} / NAT-T port {}, control socket {}\n",
            self.path.display(),
            self.listen
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            e.ike_port,
            e.nat_port,
            self.control_socket.display()
        );
        out += &format!(
            "  {} connection(s), {} secret(s)\n",
            self.connections.len(),
            self.credentials.psks.len()
        );
        for c in &self.connections {
            let addrs = |a: &[IpAddr]| {
                if a.is_empty() {
                    "%any".to_string()
                } else {
                    a.iter()
                        .map(IpAddr::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                }
            };
            out += &format!(
                "  {}: {} -> {}[{}]{}\n",
                c.name,
                addrs(&c.local_addrs),
                addrs(&c.remote_addrs),
                c.remote_port,
                if self.start.contains(&c.name) {
                    ", start at startup"
                } else {
                    ""
                }
            );
            for p in &c.proposals {
                out += &format!("    IKE proposal: {}\n", describe_proposal(p));
            }
            for (side, r) in [("local", &c.local), ("remote", &c.remote)] {
                let how = match &r.auth {
                    AuthConfig::Psk => "psk".to_string(),
                    AuthConfig::PubKey { cacerts, .. } if !cacerts.is_empty() => {
                        format!("pubkey ({} CA certs)", cacerts.len())
                    }
                    AuthConfig::PubKey { intermediates, .. } => {
                        format!("pubkey (cert + {} intermediates)", intermediates.len())
                    }
                };
                out += &format!("    {side}: {} [{how}]\n", identity_to_string(&r.id));
            }
            for ch in &c.children {
                let ts = |v: &[pqike_wire::TrafficSelector]| {
                    v.iter().map(format_ts).collect::<Vec<_>>().join(",")
                };
                out += &format!(
                    "    child {}: {} === {} ({:?})\n",
                    ch.name,
                    ts(&ch.local_ts),
                    ts(&ch.remote_ts),
                    ch.mode
                );
                for p in &ch.esp_proposals {
                    out += &format!("      ESP proposal: {}\n", describe_proposal(p));
                }
            }
        }
        out
    }
}

/// `AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519 + KE1:ML_KEM_768` style description.
pub fn describe_proposal(p: &ProposalConfig) -> String {
    use pqike_wire::algorithms::{display_name, encr_name, integ_name, ke_name, prf_name, AlgKind};
    let join = |v: Vec<String>| v.join("|");
    let mut parts = vec![join(p.encr.iter().map(|&(e, b)| encr_name(e, b)).collect())];
    if !p.integ.is_empty() {
        parts.push(join(p.integ.iter().map(|&i| integ_name(i)).collect()));
    }
    if !p.prf.is_empty() {
        parts.push(join(p.prf.iter().map(|&f| prf_name(f)).collect()));
    }
    if !p.esn.is_empty() {
        parts.push(join(
            p.esn
                .iter()
                .map(|&e| display_name(AlgKind::Esn, e, None))
                .collect(),
        ));
    }
    let mut s = parts.join("/");
    if !p.ke.is_empty() {
        s += &format!("/{}", join(p.ke.iter().map(|&k| ke_name(k)).collect()));
    }
    for (i, round) in p.addke.iter().enumerate() {
        if !round.is_empty() {
            s += &format!(
                " + KE{}:{}",
                i + 1,
                join(round.iter().map(|&k| ke_name(k)).collect())
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[daemon]
listen = ["127.0.0.1"]

[[connection]]
name = "lab"
remote_addrs = ["192.0.2.1"]
proposals = ["aes256gcm16-prfsha384-x25519-ke1_mlkem768"]

[connection.local]
id = "b.example"
auth = "psk"

[connection.remote]
id = "a.example"
auth = "psk"

[[connection.children]]
name = "net"
local_ts = ["203.0.113.0/24"]
remote_ts = ["198.51.100.0/24"]

[[secrets]]
kind = "psk"
ids = ["a.example", "b.example"]
secret = "s3cret"
"#;

    fn parse_str(text: &str) -> Result<DaemonConfig, ConfigError> {
        parse(Path::new("test.toml"), text)
    }

    /// Replace the first occurrence of `from` in MINIMAL and return the error.
    fn error_with(from: &str, to: &str) -> ConfigError {
        assert!(MINIMAL.contains(from), "{from}");
        parse_str(&MINIMAL.replacen(from, to, 1)).expect_err("should fail")
    }

    /// Lifecycle keys (rekey/life/rand times, dpd, actions, PFS info) and remote-access pools.
    #[test]
    fn lifecycle_and_pool_keys() {
        let text = MINIMAL.replacen(
            "proposals = [\"aes256gcm16-prfsha384-x25519-ke1_mlkem768\"]",
            "proposals = [\"aes256gcm16-prfsha384-x25519-ke1_mlkem768\"]
rekey_time = 600
child_rekey_time = 60
rand_time = 5
dpd_delay = 30
dpd_action = \"start\"
close_action = \"trap\"
child_pfs_info = true
pools = [\"ra\"]
vips = [\"0.0.0.0\"]",
            1,
        ) + "
[[pools]]
name = \"ra\"
addrs = \"10.3.0.0/24\"
dns = [\"10.3.0.53\"]
split = [\"10.2.0.0/16\"]
";
        let c = parse_str(&text).unwrap();
        let lc = &c.connections[0].lifecycle;
        assert_eq!(lc.ike_rekey_time, Duration::from_secs(600));
        assert_eq!(lc.child_rekey_time, Duration::from_secs(60));
        assert_eq!(lc.rand_time, Some(Duration::from_secs(5)));
        assert_eq!(lc.dpd_delay, Some(Duration::from_secs(30)));
        assert_eq!(lc.dpd_action, pqike_proto::SaAction::Start);
        assert_eq!(lc.close_action, pqike_proto::SaAction::Trap);
        assert_eq!(lc.pfs_info_notify, Some(50600));
        assert_eq!(lc.vips, vec!["0.0.0.0".parse::<IpAddr>().unwrap()]);
        let p = &lc.pools[0];
        assert_eq!(
            (p.first, p.last, p.prefix),
            (
                "10.3.0.1".parse().unwrap(),
                "10.3.0.254".parse().unwrap(),
                24
            )
        );
        assert_eq!(p.split, vec![("10.2.0.0".parse().unwrap(), 16)]);
        // Defaults: strongSwan's 4 h / 1 h from ike_lifetime and the child lifetime.
        let d = &parse_str(MINIMAL).unwrap().connections[0].lifecycle;
        assert_eq!(
            (d.ike_rekey_time, d.child_rekey_time),
            (Duration::from_secs(14_400), Duration::from_secs(3600))
        );
        let e =
            parse_str(&MINIMAL.replacen("name = \"lab\"", "name = \"lab\"\npools = [\"nope\"]", 1))
                .unwrap_err();
        assert!(
            e.to_string().contains("no [[pools]] entry named `nope`"),
            "{e}"
        );
    }

    #[test]
    fn minimal_config() {
        let c = parse_str(MINIMAL).unwrap();
        assert_eq!(c.listen, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(c.control_socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));
        assert_eq!(c.endpoint.ike_port, 500);
        assert_eq!(c.endpoint.dpd_interval, None);
        let conn = &c.connections[0];
        assert_eq!(conn.name, "lab");
        assert_eq!(conn.remote_port, 500);
        assert!(conn.fragmentation && conn.send_certreq);
        assert_eq!(
            conn.proposals[0].addke[0],
            vec![pqike_wire::KeMethod::ML_KEM_768]
        );
        assert_eq!(conn.local.id, Identity::Fqdn("b.example".into()));
        assert_eq!(
            conn.children[0].esp_proposals,
            vec![parse_proposal("aes256gcm16", ProposalKind::Esp).unwrap()]
        );
        assert_eq!(conn.children[0].lifetime, Duration::from_secs(3600));
        assert!(c.start.is_empty());
        assert_eq!(c.credentials.psks.len(), 1);
        assert_eq!(c.credentials.psks[0].1.as_slice(), b"s3cret");
    }

    #[test]
    fn psk_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/psk-mlkem.toml");
        let c = load(&path).unwrap_or_else(|e| panic!("{e}"));
        let conn = &c.connections[0];
        assert_eq!(c.start, vec!["site-b".to_string()]);
        assert_eq!(conn.proposals.len(), 2);
        assert_eq!(
            conn.proposals[1].ke,
            vec![pqike_wire::KeMethod::ML_KEM_1024]
        );
        assert_eq!(conn.children.len(), 2);
        assert_eq!(conn.children[0].remote_ts.len(), 2);
        assert_eq!(conn.children[0].esp_proposals[0].esn, vec![1, 0]);
        assert_eq!(c.endpoint.dpd_interval, Some(Duration::from_secs(30)));
        assert_eq!(c.credentials.psks[0].1.len(), 32);
        assert!(c
            .summary()
            .contains("AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519 + KE1:ML_KEM_768"));
    }

    #[test]
    fn cert_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cert-pubkey.toml");
        let c = load(&path).unwrap_or_else(|e| panic!("{e}"));
        let conn = &c.connections[0];
        assert!(matches!(conn.local.id, Identity::DerDn(_)));
        assert_eq!(conn.remote.id, Identity::Any);
        match &conn.local.auth {
            AuthConfig::PubKey { cert, key, .. } => {
                let cert = pqike_crypto::pki::Certificate::parse(cert.as_ref().unwrap()).unwrap();
                // The configured DN (PrintableString) was replaced by the certificate's encoding.
                assert_eq!(conn.local.id, Identity::DerDn(cert.subject_der().to_vec()));
                assert!(key.is_some());
            }
            other => panic!("{other:?}"),
        }
        match &conn.remote.auth {
            AuthConfig::PubKey { cacerts, .. } => assert_eq!(cacerts.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.listen.len(), 2);
    }

    fn line_of(needle: &str, text: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).expect(needle) + 1
    }

    #[test]
    fn unknown_field_is_located() {
        let text = MINIMAL.replace("remote_port_placeholder", "");
        let text = text.replacen(
            "name = \"net\"",
            "name = \"net\"\nlocal_tss = [\"1.2.3.4\"]",
            1,
        );
        let e = parse_str(&text).unwrap_err();
        assert_eq!(e.line, line_of("local_tss", &text));
        assert_eq!(e.col, 1);
        assert_eq!(e.field, "connection[0].children[0].local_tss");
        assert!(e.message.contains("unknown field `local_tss`"), "{e}");
        let s = e.to_string();
        assert!(
            s.starts_with(&format!(
                "test.toml:{}:1: field `connection[0].children[0].local_tss`: ",
                e.line
            )),
            "{s}"
        );
    }

    /// Child SA volume limits go to the data plane by connection name; hard defaults to
    /// soft + 50 %; inconsistent values are located.
    #[test]
    fn child_byte_limits() {
        let p = "proposals = [\"aes256gcm16-prfsha384-x25519-ke1_mlkem768\"]";
        let c = parse_str(&MINIMAL.replacen(p, &format!("{p}\nchild_rekey_bytes = 1000000"), 1))
            .unwrap();
        assert_eq!(
            c.dataplane.child_bytes.get("lab"),
            Some(&(1_000_000, 1_500_000))
        );
        let c = parse_str(&MINIMAL.replacen(
            p,
            &format!("{p}\nchild_rekey_bytes = 1000\nchild_life_bytes = 5000"),
            1,
        ))
        .unwrap();
        assert_eq!(c.dataplane.child_bytes.get("lab"), Some(&(1000, 5000)));
        assert!(parse_str(MINIMAL).unwrap().dataplane.child_bytes.is_empty());
        for (extra, msg, key) in [
            (
                "child_rekey_bytes = 0",
                "must be positive",
                "child_rekey_bytes",
            ),
            (
                "child_rekey_bytes = 1000\nchild_life_bytes = 1000",
                "must exceed",
                "child_life_bytes",
            ),
            (
                "child_life_bytes = 1000",
                "needs child_rekey_bytes",
                "child_life_bytes",
            ),
        ] {
            let text = MINIMAL.replacen(p, &format!("{p}\n{extra}"), 1);
            let e = parse_str(&text).expect_err(extra);
            assert!(e.to_string().contains(msg), "{extra}: {e}");
            assert_eq!(e.line, line_of(key, &text), "{extra}");
        }
    }

    #[test]
    fn unknown_daemon_field_is_located() {
        let e = error_with(
            "listen = [\"127.0.0.1\"]",
            "listen = [\"127.0.0.1\"]\nike_prot = 500",
        );
        assert_eq!(e.line, 4);
        assert_eq!(e.field, "daemon.ike_prot");
    }

    #[test]
    fn max_init_size_is_bounded_and_located() {
        let e = error_with(
            "listen = [\"127.0.0.1\"]",
            "listen = [\"127.0.0.1\"]\nmax_init_size = 100",
        );
        assert_eq!(e.line, 4);
        assert_eq!(e.field, "daemon.max_init_size");
        assert!(e.message.contains("1280..65535"), "{e}");
        let ok = MINIMAL.replacen(
            "listen = [\"127.0.0.1\"]",
            "listen = [\"127.0.0.1\"]\nmax_init_size = 20000",
            1,
        );
        let cfg = parse(Path::new("t.toml"), &ok).expect("valid");
        assert_eq!(cfg.endpoint.max_init_size, 20_000);
    }

    #[test]
    fn bad_proposal_keyword_is_located() {
        let e = error_with(
            "proposals = [\"aes256gcm16-prfsha384-x25519-ke1_mlkem768\"]",
            "proposals = [\"aes256gcm16-prfsha384-x25519\",\n    \"aes256gcm16-prfsha384-x25519-ke1_mlkem769\"]",
        );
        let text = MINIMAL.replacen(
            "proposals = [\"aes256gcm16-prfsha384-x25519-ke1_mlkem768\"]",
            "proposals = [\"aes256gcm16-prfsha384-x25519\",\n    \"aes256gcm16-prfsha384-x25519-ke1_mlkem769\"]",
            1,
        );
        assert_eq!(e.line, line_of("mlkem769", &text));
        assert_eq!(e.col, 5);
        assert_eq!(e.field, "connection[0].proposals[1]");
        assert!(e.message.contains("`mlkem769`"), "{e}");
    }

    #[test]
    fn bad_address_is_located() {
        let e = error_with(
            "remote_addrs = [\"192.0.2.1\"]",
            "remote_addrs = [\"192.0.2.1\", \"192.0.2.300\"]",
        );
        assert_eq!(e.line, line_of("remote_addrs", MINIMAL));
        assert_eq!(e.field, "connection[0].remote_addrs[1]");
        assert!(
            e.message.contains("`192.0.2.300` is not an IP address"),
            "{e}"
        );
        let e = error_with("listen = [\"127.0.0.1\"]", "listen = [\"localhost\"]");
        assert_eq!((e.line, e.col), (3, 11));
        assert_eq!(e.field, "daemon.listen[0]");
    }

    #[test]
    fn bad_values_are_located() {
        let e = error_with(
            "local_ts = [\"203.0.113.0/24\"]",
            "local_ts = [\"203.0.113.0/33\"]",
        );
        assert_eq!(e.field, "connection[0].children[0].local_ts[0]");
        let e = error_with("id = \"a.example\"", "id = \"X=1\"");
        assert_eq!(e.field, "connection[0].remote.id");
        assert!(e.message.contains("`X`"));
        let e = error_with("auth = \"psk\"", "auth = \"eap\"");
        assert_eq!(e.field, "connection[0].local.auth");
        assert!(e.message.contains("eap"), "{e}");
        let e = error_with("secret = \"s3cret\"", "secret = \"0xzz\"");
        assert_eq!(e.field, "secrets[0].secret");
        let e = error_with(
            "listen = [\"127.0.0.1\"]",
            "listen = [\"127.0.0.1\"]\nlog_level = \"loud\"",
        );
        assert_eq!(e.field, "daemon.log_level");
        let e = error_with(
            "listen = [\"127.0.0.1\"]",
            "listen = [\"127.0.0.1\"]\nike_port = 70000",
        );
        assert_eq!(e.field, "daemon.ike_port");
    }

    #[test]
    fn structural_errors() {
        let e = error_with(
            "[connection.local]\nid = \"b.example\"\n",
            "[connection.local]\n",
        );
        assert!(e.message.contains("id"), "{e}");
        assert_eq!(e.field, "connection[0].local");
        let e = error_with("[[secrets]]", "[[secretz]]");
        assert_eq!(e.field, "secretz");
        let e = parse_str("[daemon\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = error_with("[[secrets]]", "[[connection.children]]\nname = \"net\"\nlocal_ts=[\"1.1.1.1\"]\nremote_ts=[\"2.2.2.2\"]\n[[secrets]]");
        assert_eq!(e.field, "connection[0].children[1].name");
        assert!(e.message.contains("duplicate child"), "{e}");
        let e = error_with("[[secrets]]\nkind = \"psk\"\nids = [\"a.example\", \"b.example\"]\nsecret = \"s3cret\"\n", "");
        assert!(e.message.contains("no [[secrets]]"), "{e}");
    }

    /// PQ-auth fields: PPK policy (strongSwan names), PPK secrets, RFC 4739 second rounds.
    #[test]
    fn ppk_and_second_round_fields() {
        let text = MINIMAL.replacen(
            "[connection.local]",
            "ppk_id = \"lab-ppk\"\nppk_required = true\nppk_intermediate = true\n\
             ppk_int_legacy_numbers = true\nannounce_auth_methods = true\n\n\
             [connection.local2]\nid = \"b.example\"\nauth = \"psk\"\n\n\
             [connection.remote2]\nid = \"a.example\"\nauth = \"psk\"\n\n[connection.local]",
            1,
        )
            + "\n[[secrets]]\nkind = \"ppk\"\nids = [\"lab-ppk\"]\nsecret = \"0x00112233\"\n";
        let cfg = parse_str(&text).unwrap();
        let ext = &cfg.connections[0].auth_ext;
        assert_eq!(ext.ppk_id.as_deref(), Some("lab-ppk"));
        assert!(ext.ppk_required && ext.ppk_intermediate && ext.ppk_int_legacy_numbers);
        assert!(ext.announce_auth_methods);
        assert!(ext.local2.is_some() && ext.remote2.is_some());
        assert_eq!(cfg.credentials.ppks.len(), 1);
        assert_eq!(cfg.credentials.ppks[0].0, b"lab-ppk".to_vec());
        assert_eq!(&cfg.credentials.ppks[0].1[..], &[0x00, 0x11, 0x22, 0x33]);
        // a PPK is not a PSK for any identity
        assert_eq!(cfg.credentials.psks.len(), 1);

        let e = error_with(
            "[connection.local]",
            "ppk_id = \"missing\"\n[connection.local]",
        );
        assert!(
            e.message.contains("no [[secrets]] entry of kind ppk"),
            "{e}"
        );
        let e = error_with(
            "kind = \"psk\"\nids = [\"a.example\", \"b.example\"]\nsecret = \"s3cret\"",
            "kind = \"psk\"\nids = [\"a.example\", \"b.example\"]\nsecret = \"s3cret\"\n\
             [[secrets]]\nkind = \"ppk\"\nsecret = \"x\"",
        );
        assert!(e.message.contains("needs `ids`"), "{e}");
    }
}
