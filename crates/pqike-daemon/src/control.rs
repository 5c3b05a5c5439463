//! The control protocol between `pqike` and `pqiked`: newline-delimited JSON over a Unix socket,
//! one request line, one response line.
//!
//! Requests: `{"cmd":"status"}`, `{"cmd":"up","name":"lab"}`, `{"cmd":"down","name":"lab"}`,
//! `{"cmd":"stats"}`.
//! Responses: `{"ok":true, ...}` or `{"ok":false,"error":"..."}`; `status` carries `ike_sas`
//! and `statistics`, `stats` only `statistics`, `up` carries the established `ike_sa`.
use crate::ts::format_ts;
use pqike_proto::{DownReason, IkeSaStatus, IkeState, IpsecMode};
use pqike_wire::algorithms::{encr_name, integ_name};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// A control request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// List IKE SAs and their children.
    Status,
    /// Initiate a connection and wait until it is established or has failed.
    Up {
        /// Connection name.
        name: String,
    },
    /// Delete the IKE SAs of a connection.
    Down {
        /// Connection name.
        name: String,
    },
    /// Daemon-wide statistics only (cheap to poll: no per-SA listing).
    Stats,
}

/// A control response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Success.
    pub ok: bool,
    /// Failure reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Informational text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `status`: all IKE SAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ike_sas: Option<Vec<IkeSaInfo>>,
    /// `up`: the IKE SA that came up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ike_sa: Option<IkeSaInfo>,
    /// `status` and `stats`: daemon-wide counters (crate::control_stats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<crate::control_stats::DaemonStats>,
}

impl Response {
    /// A failure.
    pub fn error(e: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(e.into()),
            ..Default::default()
        }
    }
    /// A success with a message.
    pub fn message(m: impl Into<String>) -> Response {
        Response {
            ok: true,
            message: Some(m.into()),
            ..Default::default()
        }
    }
}

/// Negotiated IKE transforms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformsInfo {
    /// e.g. `AES_GCM_16-256`.
    pub encr: String,
    /// e.g. `HMAC_SHA2_256_128`, empty for AEAD.
    pub integ: String,
    /// e.g. `PRF_HMAC_SHA2_384`.
    pub prf: String,
    /// Every KE round in order, e.g. `["CURVE_25519", "ML_KEM_768"]`.
    pub ke: Vec<String>,
    /// PPK_ID mixed into the keys (RFC 8784 / RFC 9867); shown as `/PPK` like swanctl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppk: Option<String>,
}

/// One Child SA in `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildSaInfo {
    /// Child config name.
    pub name: String,
    /// Inbound SPI, 8 hex digits.
    pub spi_in: String,
    /// Outbound SPI, 8 hex digits.
    pub spi_out: String,
    /// e.g. `AES_GCM_16-256`.
    pub encr: String,
    /// e.g. `HMAC_SHA2_256_128`, empty for AEAD.
    pub integ: String,
    /// `tunnel` or `transport`.
    pub mode: String,
    /// Negotiated local TS.
    pub local_ts: Vec<String>,
    /// Negotiated remote TS.
    pub remote_ts: Vec<String>,
    /// Seconds since installation.
    pub age_secs: u64,
    /// Data-plane counters (inner octets/packets; 0 without a data plane).
    #[serde(default)]
    pub bytes_in: u64,
    /// Inner octets sent.
    #[serde(default)]
    pub bytes_out: u64,
    /// Packets received.
    #[serde(default)]
    pub packets_in: u64,
    /// Packets sent.
    #[serde(default)]
    pub packets_out: u64,
    /// Inbound packets dropped (replay, ICV, padding, selectors).
    #[serde(default)]
    pub drops: u64,
}

/// One IKE SA in `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeSaInfo {
    /// Connection name.
    pub name: String,
    /// Engine handle (unique per daemon run).
    pub id: u64,
    /// `CONNECTING`, `INTERMEDIATE`, `AUTHENTICATING`, `ESTABLISHED`, `DELETING`.
    pub state: String,
    /// `initiator` or `responder`.
    pub role: String,
    /// Local address:port.
    pub local: String,
    /// Remote address:port.
    pub remote: String,
    /// Initiator SPI, 16 hex digits.
    pub spi_i: String,
    /// Responder SPI, 16 hex digits.
    pub spi_r: String,
    /// NAT detected.
    pub nat: bool,
    /// Negotiated transforms.
    pub transforms: TransformsInfo,
    /// Our identity.
    pub local_id: String,
    /// Peer identity.
    pub remote_id: String,
    /// Seconds since the SA was created.
    pub age_secs: u64,
    /// Seconds since it was established, if it is.
    #[serde(default)]
    pub established_secs: Option<u64>,
    /// Child SAs.
    pub child_sas: Vec<ChildSaInfo>,
}

/// The state's display name.
pub fn state_name(s: &IkeState) -> &'static str {
    match s {
        IkeState::Connecting => "CONNECTING",
        IkeState::Intermediate => "INTERMEDIATE",
        IkeState::Authenticating => "AUTHENTICATING",
        IkeState::Established => "ESTABLISHED",
        IkeState::Deleting => "DELETING",
    }
}

fn mode_name(m: IpsecMode) -> &'static str {
    match m {
        IpsecMode::Tunnel => "tunnel",
        IpsecMode::Transport => "transport",
    }
}

impl IkeSaInfo {
    /// Snapshot of an engine status at `now`.
    pub fn from_status(s: &IkeSaStatus, now: Instant) -> IkeSaInfo {
        let age = |t: Instant| now.saturating_duration_since(t).as_secs();
        IkeSaInfo {
            name: s.connection.clone(),
            id: s.sa.0,
            state: state_name(&s.state).into(),
            role: if s.initiator {
                "initiator"
            } else {
                "responder"
            }
            .into(),
            local: s.local.to_string(),
            remote: s.remote.to_string(),
            spi_i: format!("{:016x}", s.spi_i),
            spi_r: format!("{:016x}", s.spi_r),
            nat: s.nat_detected,
            transforms: TransformsInfo {
                encr: s.transforms.encr.clone(),
                integ: s.transforms.integ.clone(),
                prf: s.transforms.prf.clone(),
                ke: s.transforms.ke.clone(),
                ppk: s.transforms.ppk.clone(),
            },
            local_id: crate::identity::pretty_id(&s.local_id),
            remote_id: crate::identity::pretty_id(&s.remote_id),
            age_secs: age(s.created_at),
            established_secs: s.established_at.map(age),
            child_sas: s
                .children
                .iter()
                .map(|c| ChildSaInfo {
                    name: c.name.clone(),
                    spi_in: format!("{:08x}", c.spi_in),
                    spi_out: format!("{:08x}", c.spi_out),
                    encr: c.encr.clone(),
                    integ: c.integ.clone(),
                    mode: mode_name(c.mode).into(),
                    local_ts: c.local_ts.iter().map(format_ts).collect(),
                    remote_ts: c.remote_ts.iter().map(format_ts).collect(),
                    age_secs: age(c.installed_at),
                    bytes_in: 0,
                    bytes_out: 0,
                    packets_in: 0,
                    packets_out: 0,
                    drops: 0,
                })
                .collect(),
        }
    }
}

/// `CURVE_25519 + KE1:ML_KEM_768 + KE2:...`: the first round is IKE_SA_INIT's, the rest are the
/// RFC 9370 additional rounds in order.
pub fn ke_rounds(ke: &[String]) -> String {
    let mut out = String::new();
    for (i, k) in ke.iter().enumerate() {
        if i == 0 {
            out.push_str(k);
        } else {
            out.push_str(&format!(" + KE{i}:{k}"));
        }
    }
    out
}

/// `AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519 + KE1:ML_KEM_768` (strongSwan's order).
pub fn transforms_line(t: &TransformsInfo) -> String {
    let mut parts = vec![t.encr.clone()];
    if !t.integ.is_empty() {
        parts.push(t.integ.clone());
    }
    parts.push(t.prf.clone());
    let mut s = parts.join("/");
    if !t.ke.is_empty() {
        s.push('/');
        s.push_str(&ke_rounds(&t.ke));
    }
    if t.ppk.is_some() {
        s.push_str("/PPK");
    }
    s
}

fn human_age(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        _ => format!("{}h", secs / 3600),
    }
}

/// The `pqike status` listing (swanctl --list-sas style, one block per IKE SA).
pub fn format_status(sas: &[IkeSaInfo]) -> String {
    if sas.is_empty() {
        return "no IKE SAs\n".into();
    }
    let mut out = String::new();
    for sa in sas {
        out += &format!(
            "{}[{}]: {}, {}, {} ago\n",
            sa.name,
            sa.id,
            sa.state,
            sa.role,
            human_age(sa.established_secs.unwrap_or(sa.age_secs))
        );
        out += &format!(
            "  local  {} [{}]\n  remote {} [{}]{}\n",
            sa.local,
            sa.local_id,
            sa.remote,
            sa.remote_id,
            if sa.nat { "  (NAT)" } else { "" }
        );
        out += &format!("  SPIs   {}_i {}_r\n", sa.spi_i, sa.spi_r);
        if !sa.transforms.encr.is_empty() {
            out += &format!("  IKE    {}\n", transforms_line(&sa.transforms));
        }
        for c in &sa.child_sas {
            let alg = if c.integ.is_empty() {
                c.encr.clone()
            } else {
                format!("{}/{}", c.encr, c.integ)
            };
            out += &format!(
                "  {}: INSTALLED, {}, SPIs {}_i {}_o, {}, {} ago\n",
                c.name,
                c.mode.to_uppercase(),
                c.spi_in,
                c.spi_out,
                alg,
                human_age(c.age_secs)
            );
            out += &format!(
                "    {} bytes_i ({} pkts), {} bytes_o ({} pkts){}\n",
                c.bytes_in,
                c.packets_in,
                c.bytes_out,
                c.packets_out,
                if c.drops > 0 {
                    format!(", {} dropped", c.drops)
                } else {
                    String::new()
                }
            );
            out += &format!(
                "    {} === {}\n",
                c.local_ts.join(" "),
                c.remote_ts.join(" ")
            );
        }
    }
    out
}

/// Why an IKE SA went down, for `pqike up` failures and logs.
pub fn down_reason(r: &DownReason) -> String {
    r.to_string()
}

/// Child SA algorithm name from the install event's transform IDs.
pub fn child_alg(encr: (u16, Option<u16>), integ: u16) -> String {
    // INTEG 0 is NONE: an AEAD child names only its cipher, as swanctl does.
    if integ == 0 {
        encr_name(encr.0, encr.1)
    } else {
        format!("{}/{}", encr_name(encr.0, encr.1), integ_name(integ))
    }
}

/// Send one request and wait for the response line (blocking; used by the CLI).
pub fn request(socket: &Path, req: &Request, timeout: Duration) -> Result<Response, String> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot connect to {}: {e} (is pqiked running?)",
            socket.display()
        )
    })?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut line = serde_json::to_string(req).map_err(|e| e.to_string())?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| format!("write to {}: {e}", socket.display()))?;
    let mut reader = BufReader::new(stream);
    let mut resp = String::new();
    match reader.read_line(&mut resp) {
        Ok(0) => Err("pqiked closed the connection without answering".into()),
        Ok(_) => serde_json::from_str(&resp).map_err(|e| format!("bad response from pqiked: {e}")),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(format!("timed out after {}s", timeout.as_secs()))
        }
        Err(e) => Err(format!("read from {}: {e}", socket.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_json() {
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"cmd":"status"}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"up","name":"lab"}"#).unwrap(),
            Request::Up { name: "lab".into() }
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"down","name":"x"}"#).unwrap(),
            Request::Down { name: "x".into() }
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"stats"}"#).unwrap(),
            Request::Stats
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
    }

    #[test]
    fn ke_round_names() {
        let ke = vec![
            "CURVE_25519".to_string(),
            "ML_KEM_768".into(),
            "MODP_3072".into(),
        ];
        assert_eq!(
            ke_rounds(&ke),
            "CURVE_25519 + KE1:ML_KEM_768 + KE2:MODP_3072"
        );
        let t = TransformsInfo {
            encr: "AES_GCM_16-256".into(),
            integ: String::new(),
            prf: "PRF_HMAC_SHA2_384".into(),
            ke: ke[..2].to_vec(),
            ppk: None,
        };
        assert_eq!(
            transforms_line(&t),
            "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519 + KE1:ML_KEM_768"
        );
    }

    #[test]
    fn child_alg_names() {
        assert_eq!(child_alg((20, Some(256)), 0), "AES_GCM_16-256");
        assert_eq!(
            child_alg((12, Some(128)), 12),
            "AES_CBC-128/HMAC_SHA2_256_128"
        );
    }
}
