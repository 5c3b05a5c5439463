//! Daemon-wide statistics for `pqike status` / `pqike stats` (issue 5): how many IKE and Child
//! SAs are up, how many rekeys were done, why IKE SAs went down, and the process RSS.
//!
//! The counters are derived from the engine's events (the same stream the daemon logs), so they
//! cost one match per event; the gauges (SAs up, children installed) are computed from the
//! engine's status when asked.
use pqike_proto::{DownReason, Event, IkeSaStatus, IkeState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Down-reason key for an IKE SA deleted after it was replaced by a rekey (RFC 7296 §2.18):
/// normal operation, not a failure.
pub const DOWN_REKEYED: &str = "rekeyed";

/// At most this many distinct failure texts are kept (peer error strings are peer-controlled).
const MAX_FAILURE_TEXTS: usize = 16;

/// What `{"cmd":"stats"}` returns (and `status` includes as `statistics`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStats {
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// IKE SAs in ESTABLISHED now.
    pub ike_sas_up: u64,
    /// IKE SAs in any other state (connecting, authenticating, deleting) now.
    pub ike_sas_other: u64,
    /// Child SAs installed now (over all IKE SAs).
    pub child_sas_installed: u64,
    /// IKE SAs established by IKE_AUTH since start (their rekeyed successors count in
    /// `ike_rekeys` instead).
    pub ike_sas_established: u64,
    /// IKE SA rekeys completed (as initiator or responder).
    pub ike_rekeys: u64,
    /// Child SAs installed since start (IKE_AUTH, CREATE_CHILD_SA, rekeys).
    pub child_installs: u64,
    /// Child SA installs that replace a live Child SA of the same name of the same IKE SA, i.e.
    /// Child SA rekeys (the redundant SA of a rekey collision, RFC 7296 §2.8.1, counts too).
    pub child_rekeys: u64,
    /// Child SAs removed since start.
    pub child_removes: u64,
    /// IKE SAs gone since start, by reason: `rekeyed` (deleted after a rekey: not a failure),
    /// `local_delete`, `peer_delete`, `timeout`, `peer_error`, `local_error`.
    pub ike_down: BTreeMap<String, u64>,
    /// IKE SAs that went down for a reason other than `rekeyed`, `local_delete` or
    /// `peer_delete` (timeouts and errors).
    pub ike_failures: u64,
    /// The texts of those failures and their counts (at most 16 distinct texts).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failure_reasons: BTreeMap<String, u64>,
    /// Resident set size of the daemon process in bytes (0 where /proc is unavailable).
    pub rss_bytes: u64,
}

/// The event-derived part of [`DaemonStats`], kept by the daemon.
#[derive(Debug, Default)]
pub struct StatsCollector {
    stats: DaemonStats,
    /// Live Child SAs per IKE SA handle: (child config name, inbound SPI), to tell a rekey from
    /// a first install.
    children: HashMap<u64, Vec<(String, u32)>>,
    /// IKE SAs replaced by a rekey whose `IkeDown` has not come yet.
    rekeyed: HashSet<u64>,
}

impl StatsCollector {
    /// Count one engine event.
    pub fn record(&mut self, ev: &Event) {
        let s = &mut self.stats;
        match ev {
            Event::IkeUp { .. } => s.ike_sas_established += 1,
            Event::InstallChildSa(k) | Event::InstallChildSaInbound(k) => {
                s.child_installs += 1;
                let list = self.children.entry(k.ike_sa.0).or_default();
                if list.iter().any(|(name, _)| *name == k.child) {
                    s.child_rekeys += 1;
                }
                list.push((k.child.clone(), k.spi_in));
            }
            Event::RemoveChildSa { ike_sa, spi_in, .. } => {
                s.child_removes += 1;
                // The child may have moved to a rekeyed IKE SA: look everywhere if needed.
                let found = self
                    .children
                    .get_mut(&ike_sa.0)
                    .and_then(|l| l.iter().position(|c| c.1 == *spi_in).map(|i| l.remove(i)))
                    .is_some();
                if !found {
                    for l in self.children.values_mut() {
                        if let Some(i) = l.iter().position(|c| c.1 == *spi_in) {
                            l.remove(i);
                            break;
                        }
                    }
                }
            }
            Event::IkeRekeyed { old, new } => {
                s.ike_rekeys += 1;
                self.rekeyed.insert(old.0);
                // RFC 7296 §2.8: the children move to the new IKE SA.
                if let Some(moved) = self.children.remove(&old.0) {
                    self.children.entry(new.0).or_default().extend(moved);
                }
            }
            Event::IkeDown { sa, reason, .. } => {
                self.children.remove(&sa.0);
                let key = if self.rekeyed.remove(&sa.0) {
                    DOWN_REKEYED
                } else {
                    match reason {
                        DownReason::LocalDelete => "local_delete",
                        DownReason::PeerDelete => "peer_delete",
                        DownReason::Timeout { .. } => "timeout",
                        DownReason::PeerError(_) => "peer_error",
                        DownReason::LocalError(_) => "local_error",
                        DownReason::HalfOpenExpired => "half_open_expired",
                        DownReason::LifetimeExpired => "lifetime_expired",
                        _ => "other",
                    }
                };
                *s.ike_down.entry(key.into()).or_default() += 1;
                if matches!(
                    reason,
                    DownReason::Timeout { .. }
                        | DownReason::HalfOpenExpired
                        | DownReason::PeerError(_)
                        | DownReason::LocalError(_)
                ) {
                    s.ike_failures += 1;
                    let text = crate::control::down_reason(reason);
                    if s.failure_reasons.len() < MAX_FAILURE_TEXTS
                        || s.failure_reasons.contains_key(&text)
                    {
                        *s.failure_reasons.entry(text).or_default() += 1;
                    } else {
                        *s.failure_reasons.entry("(other)".into()).or_default() += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// Counters plus the gauges from the engine's current `status` and the process RSS.
    pub fn snapshot(&self, status: &[IkeSaStatus], uptime_secs: u64) -> DaemonStats {
        let mut s = self.stats.clone();
        s.uptime_secs = uptime_secs;
        s.ike_sas_up = status
            .iter()
            .filter(|x| x.state == IkeState::Established)
            .count() as u64;
        s.ike_sas_other = status.len() as u64 - s.ike_sas_up;
        s.child_sas_installed = status.iter().map(|x| x.children.len() as u64).sum();
        s.rss_bytes = rss_bytes();
        s
    }
}

/// This process's resident set size (VmRSS in /proc/self/status), 0 if unknown.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The "statistics" block of `pqike status`.
pub fn format_stats(s: &DaemonStats) -> String {
    let downs = if s.ike_down.is_empty() {
        "none".to_string()
    } else {
        s.ike_down
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!(
        "statistics (up {}s):\n  IKE SAs    {} up, {} other; {} established, {} rekeys since start\n  \
         Child SAs  {} installed; {} installs, {} rekeys, {} removed since start\n  \
         IKE SAs down: {}; failures {}\n  memory     RSS {:.1} MiB\n",
        s.uptime_secs,
        s.ike_sas_up,
        s.ike_sas_other,
        s.ike_sas_established,
        s.ike_rekeys,
        s.child_sas_installed,
        s.child_installs,
        s.child_rekeys,
        s.child_removes,
        downs,
        s.ike_failures,
        s.rss_bytes as f64 / 1048576.0
    );
    for (text, n) in &s.failure_reasons {
        out += &format!("    {n} x {text}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pqike_proto::{ChildSaKeys, IpsecMode, SaId};

    fn keys(sa: u64, child: &str, spi: u32) -> ChildSaKeys {
        let a: std::net::SocketAddr = "127.0.0.1:500".parse().unwrap();
        ChildSaKeys {
            ike_sa: SaId(sa),
            connection: "c".into(),
            child: child.into(),
            spi_in: spi,
            spi_out: spi + 1,
            encr: (20, Some(256)),
            integ: 0,
            esn: false,
            key_in: Default::default(),
            key_out: Default::default(),
            local_ts: vec![],
            remote_ts: vec![],
            mode: IpsecMode::Tunnel,
            local: a,
            remote: a,
            udp_encap: false,
            lifetime: std::time::Duration::from_secs(10),
        }
    }

    #[test]
    fn counts_rekeys_and_down_reasons() {
        let mut c = StatsCollector::default();
        c.record(&Event::InstallChildSa(keys(1, "net", 100)));
        assert_eq!(c.stats.child_rekeys, 0, "first child is not a rekey");
        // Child rekey answered by us: inbound-only install, then the old one goes.
        c.record(&Event::InstallChildSaInbound(keys(1, "net", 200)));
        c.record(&Event::RemoveChildSa {
            ike_sa: SaId(1),
            spi_in: 100,
            spi_out: 101,
        });
        assert_eq!(c.stats.child_rekeys, 1);
        // IKE rekey: children move to SA 2; the next child install there is a rekey again.
        c.record(&Event::IkeRekeyed {
            old: SaId(1),
            new: SaId(2),
        });
        c.record(&Event::IkeDown {
            sa: SaId(1),
            connection: "c".into(),
            reason: DownReason::LocalDelete,
        });
        c.record(&Event::InstallChildSa(keys(2, "net", 300)));
        assert_eq!(c.stats.child_rekeys, 2);
        // A second child of another name is not a rekey.
        c.record(&Event::InstallChildSa(keys(2, "dns", 400)));
        assert_eq!(c.stats.child_rekeys, 2);
        c.record(&Event::IkeDown {
            sa: SaId(2),
            connection: "c".into(),
            reason: DownReason::Timeout {
                exchange: pqike_wire::ExchangeType::INFORMATIONAL,
                retransmits: 5,
            },
        });
        c.record(&Event::IkeDown {
            sa: SaId(3),
            connection: "c".into(),
            reason: DownReason::PeerDelete,
        });
        let s = c.snapshot(&[], 5);
        assert_eq!(s.ike_rekeys, 1);
        assert_eq!(s.child_installs, 4);
        assert_eq!(s.child_removes, 1);
        assert_eq!(s.ike_down.get(DOWN_REKEYED), Some(&1));
        assert_eq!(s.ike_down.get("timeout"), Some(&1));
        assert_eq!(s.ike_down.get("peer_delete"), Some(&1));
        assert_eq!(s.ike_down.get("local_delete"), None);
        assert_eq!(s.ike_failures, 1);
        assert_eq!(s.failure_reasons.len(), 1);
        assert!(c.children.is_empty(), "state of gone SAs is dropped");
        let text = format_stats(&s);
        assert!(text.contains("rekeyed 1, timeout 1"), "{text}");
    }

    #[test]
    fn failure_texts_are_bounded() {
        let mut c = StatsCollector::default();
        for i in 0..40 {
            c.record(&Event::IkeDown {
                sa: SaId(i),
                connection: "c".into(),
                reason: DownReason::LocalError(pqike_proto::IkeError::Syntax(format!("error {i}"))),
            });
        }
        assert_eq!(c.stats.ike_failures, 40);
        assert_eq!(c.stats.failure_reasons.len(), MAX_FAILURE_TEXTS + 1);
        assert_eq!(c.stats.failure_reasons.get("(other)"), Some(&24));
    }

    #[test]
    fn rss_is_read_on_linux() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(rss_bytes() > 0);
        }
    }
}
