//! Running one cell: network up, both daemons configured and started, the initiator
//! initiates, both views are collected, everything is stopped, the evidence analysed.
use crate::evidence;
use crate::impair::ImpairSpec;
use crate::net::{self, Lab, PathSpec};
use crate::peers::{Ctx, Driver, Side, Status};
use crate::scenario::{Case, Expect, PathKind, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// matches the expectation
    Green,
    /// does not
    Red,
    /// the peer cannot do this cell (reason given)
    NotSupportedByPeer,
    /// pqike lacks the feature (reason given)
    NotImplementedInPqike,
    /// the peer is not installed / not runnable here
    NotRunnable,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Green => "green",
            Outcome::Red => "RED",
            Outcome::NotSupportedByPeer => "not supported by peer",
            Outcome::NotImplementedInPqike => "not implemented in pqike yet",
            Outcome::NotRunnable => "peer not runnable here",
        }
    }
}

/// One row of the matrix.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CellResult {
    pub id: String,
    pub set: String,
    pub case: String,
    pub implementation: String,
    pub peer: String,
    pub peer_id: String,
    pub pqike_role: String,
    pub shape: String,
    pub mechanism: String,
    pub algorithms: String,
    pub path: String,
    pub expect: String,
    pub outcome: Outcome,
    /// what happened (established transforms, or the diagnosed failure)
    pub detail: String,
    pub negotiated: Option<String>,
    pub ke_rounds: Vec<String>,
    pub trace: Option<evidence::TraceStats>,
    pub evidence_dir: Option<String>,
    pub seconds: f64,
    pub ci: bool,
    pub note: Option<String>,
}

pub struct Runner {
    pub repo: PathBuf,
    pub run_dir: PathBuf,
    pub out_dir: PathBuf,
    pub self_exe: PathBuf,
    pub prefix: String,
    pub keep_pcap: bool,
}

/// Static case data for a row, before running.
pub fn row(
    set: &str,
    case: &Case,
    pqike: &dyn Driver,
    peer: &dyn Driver,
    role: Role,
) -> CellResult {
    CellResult {
        id: format!("{set}.{}.{}.{}", case.id, peer.id(), role.as_str()),
        set: set.into(),
        case: case.id.clone(),
        implementation: pqike.label(),
        peer: peer.label(),
        peer_id: peer.id().into(),
        pqike_role: role.as_str().into(),
        shape: case.shape.clone(),
        mechanism: case.mechanism.clone(),
        algorithms: case.algorithms.clone(),
        path: format!("{:?}", case.path).to_lowercase(),
        expect: match case.expect {
            Expect::Established => "established".into(),
            Expect::Fail => format!("fail: {}", case.expect_reason.clone().unwrap_or_default()),
        },
        outcome: Outcome::Red,
        detail: String::new(),
        negotiated: None,
        ke_rounds: vec![],
        trace: None,
        evidence_dir: None,
        seconds: 0.0,
        ci: case.ci,
        note: case.note.clone(),
    }
}

fn case_env(case: &Case, pki: &Path) -> BTreeMap<String, String> {
    let mut e = BTreeMap::new();
    e.insert("PROPOSALS".into(), case.proposals.clone());
    e.insert("ESP".into(), case.esp.clone());
    match case.auth.as_str() {
        "psk" => {
            e.insert("AUTH".into(), "psk".into());
        }
        chain => {
            e.insert("AUTH".into(), "pubkey".into());
            e.insert("PKI".into(), pki.join(chain).display().to_string());
        }
    }
    if !case.child {
        e.insert("CHILD".into(), "none".into());
        e.insert("CHILDLESS".into(), "force".into());
    }
    e.insert("FRAGMENTATION".into(), "yes".into());
    e.insert("FRAGMENT_SIZE".into(), "1280".into());
    // fast failure: 1 s, x1.5, 5 tries (~20 s) - and enough tries to ride out 5 % loss
    e.insert("RETRANSMIT_TIMEOUT".into(), "1.0".into());
    e.insert("RETRANSMIT_BASE".into(), "1.5".into());
    e.insert("RETRANSMIT_TRIES".into(), "5".into());
    e
}

fn side_env(case: &Case, side: Side, nat: bool) -> BTreeMap<String, String> {
    let mut e = BTreeMap::new();
    let (local, remote) = match side {
        Side::A => (net::LEFT_ADDR, net::RIGHT_ADDR),
        Side::B => (
            net::RIGHT_ADDR,
            if nat {
                net::NAT_PUBLIC_ADDR
            } else {
                net::LEFT_ADDR
            },
        ),
    };
    e.insert("LAB_LOCAL_ADDR".into(), local.into());
    e.insert("LAB_REMOTE_ADDR".into(), remote.into());
    if case.shape == "host-to-host" {
        let (l, r) = match side {
            Side::A => ("198.51.100.1/32", "203.0.113.1/32"),
            Side::B => ("203.0.113.1/32", "198.51.100.1/32"),
        };
        e.insert("LOCAL_TS".into(), l.into());
        e.insert("REMOTE_TS".into(), r.into());
    }
    e
}

fn path_spec(case: &Case) -> PathSpec {
    match case.path {
        PathKind::Plain | PathKind::Rekey => PathSpec {
            mtu: 1500,
            ..Default::default()
        },
        PathKind::Fragmentation => PathSpec {
            mtu: 1280,
            ..Default::default()
        },
        PathKind::Nat => PathSpec {
            mtu: 1500,
            nat: true,
            impair: None,
        },
        PathKind::Loss => {
            let mut spec = ImpairSpec {
                queue: 7,
                loss: case.loss.unwrap_or(0.05),
                delay_ms: 5,
                jitter_ms: 15,
                dup: 0.02,
                seed: 0,
            };
            // default: the first seed that drops one of datagrams 2..6 (the handshake)
            spec.seed = case
                .seed
                .unwrap_or_else(|| crate::impair::seed_dropping_early(&spec, 2, 6));
            PathSpec {
                mtu: 1500,
                nat: false,
                impair: Some(spec),
            }
        }
    }
}

fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

impl Runner {
    /// Run one cell; fills outcome/detail/evidence of `r`.
    pub fn run(
        &self,
        case: &Case,
        pqike: &dyn Driver,
        peer: &dyn Driver,
        role: Role,
        r: &mut CellResult,
    ) {
        let t0 = Instant::now();
        let ev = self.out_dir.join("evidence").join(&r.id);
        let _ = std::fs::remove_dir_all(&ev);
        let _ = std::fs::create_dir_all(&ev);
        r.evidence_dir = Some(format!("evidence/{}", r.id));
        let mut steps = String::new();
        let res = self.run_inner(case, pqike, peer, role, &ev, r, &mut steps);
        if let Err(e) = res {
            r.outcome = Outcome::Red;
            r.detail = format!("lab error: {e}");
        }
        let _ = std::fs::write(ev.join("steps.txt"), steps);
        r.seconds = (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0;
        let _ = std::fs::write(
            ev.join("result.json"),
            serde_json::to_string_pretty(r).unwrap_or_default(),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn run_inner(
        &self,
        case: &Case,
        pqike: &dyn Driver,
        peer: &dyn Driver,
        role: Role,
        ev: &Path,
        r: &mut CellResult,
        steps: &mut String,
    ) -> Result<(), String> {
        let ps = path_spec(case);
        let mut lab = Lab::up(&self.prefix, &ps, &self.self_exe, ev)?;
        steps.push_str(&format!(
            "lab up: mtu {} nat {} impair {:?}\n",
            ps.mtu, ps.nat, ps.impair
        ));
        let pki = self.run_dir.join("pki");
        let mut env = case_env(case, &pki);
        if let Some(n) = peer.adapt(case, &mut env) {
            r.note = Some(match &r.note {
                Some(x) => format!("{x}; {n}"),
                None => n,
            });
        }
        let (pq_side, peer_side) = match role {
            Role::PqikeInit => (Side::A, Side::B),
            Role::PqikeResp => (Side::B, Side::A),
        };
        let ns_of = |s: Side| {
            if s == Side::A {
                lab.ns_left()
            } else {
                lab.ns_right()
            }
        };
        let mut pq_env = env.clone();
        if let Some(p) = &case.pqike_proposals {
            pq_env.insert("PROPOSALS".into(), p.clone());
        }
        let mut peer_env = env.clone();
        if case.wrong_psk {
            peer_env.insert("SECRET".into(), "not-the-psk-pqike-has-0123456789".into());
        }
        let pq = Ctx {
            repo: &self.repo,
            run_dir: &self.run_dir,
            case,
            side: pq_side,
            ns: ns_of(pq_side),
            env: pq_env,
            side_env: side_env(case, pq_side, ps.nat),
        };
        let pe = Ctx {
            repo: &self.repo,
            run_dir: &self.run_dir,
            case,
            side: peer_side,
            ns: ns_of(peer_side),
            env: peer_env,
            side_env: side_env(case, peer_side, ps.nat),
        };
        let cap = evidence::start_capture(&lab.ns_left(), &lab.left_if(), &ev.join("ike.pcap"));
        let result = (|| -> Result<(Status, Status), String> {
            peer.configure(&pe)
                .map_err(|e| format!("{} config: {e}", peer.id()))?;
            pqike
                .configure(&pq)
                .map_err(|e| format!("pqike config: {e}"))?;
            peer.start(&pe)
                .map_err(|e| format!("{} start: {e}", peer.id()))?;
            pqike.start(&pq).map_err(|e| format!("pqiked start: {e}"))?;
            let (ini, ini_ctx, resp, resp_ctx) = match role {
                Role::PqikeInit => (pqike, &pq, peer, &pe),
                Role::PqikeResp => (peer, &pe, pqike, &pq),
            };
            steps.push_str(&format!("+ {} initiates\n", ini.id()));
            let out = ini.initiate(ini_ctx);
            steps.push_str(&out);
            let both_up = || ini.status(ini_ctx).established && resp.status(resp_ctx).established;
            if case.expect == Expect::Established {
                wait_until(20, both_up);
            } else {
                std::thread::sleep(Duration::from_millis(1500));
            }
            if case.path == PathKind::Rekey && both_up() {
                steps.push_str(&format!("+ {} rekeys IKE SA and Child SA\n", peer.id()));
                match peer.rekey(&pe) {
                    Ok(o) | Err(o) => steps.push_str(&o),
                }
                std::thread::sleep(Duration::from_secs(2));
            }
            Ok((pqike.status(&pq), peer.status(&pe)))
        })();
        // stop both (their logs stay in the instance dirs), then the capture
        pqike.stop(&pq);
        peer.stop(&pe);
        if let Some(c) = cap {
            evidence::stop_capture(c);
        }
        lab.down()?;
        let (pq_st, peer_st) = match result {
            Ok(x) => x,
            Err(e) => {
                self.collect_logs(pqike, &pq, peer, &pe, ev);
                return Err(e);
            }
        };
        let _ = std::fs::write(ev.join("status-pqike.txt"), &pq_st.raw);
        let _ = std::fs::write(ev.join(format!("status-{}.txt", peer.id())), &peer_st.raw);
        let (pq_log, peer_log) = self.collect_logs(pqike, &pq, peer, &pe, ev);

        // keys -> decryption table -> decrypted dissection
        let wsconf = self.run_dir.join("wsconf");
        let wsdir = wsconf.join(".config").join("wireshark");
        let _ = std::fs::create_dir_all(&wsdir);
        // no stale keys of the previous cell
        let _ = std::fs::remove_file(wsdir.join("ikev2_decryption_table"));
        let pcap = ev.join("ike.pcap");
        let raw_pkts = evidence::tshark_packets(&pcap, &wsconf).unwrap_or_default();
        let spis = evidence::spi_pairs(&raw_pkts);
        let keys = evidence::strongswan_keys(&peer_log);
        let ike_line = peer_st
            .ike
            .clone()
            .or(pq_st.ike.clone())
            .unwrap_or_else(|| case.want_ike());
        let table = evidence::decryption_table(&keys, &spis, &ike_line);
        let _ = std::fs::write(ev.join("ikev2_decryption_table"), &table);
        let _ = std::fs::write(wsdir.join("ikev2_decryption_table"), &table);
        let pkts = evidence::tshark_packets(&pcap, &wsconf).unwrap_or_default();
        let mut names = BTreeMap::new();
        let (pq_addr, peer_addr) = if pq_side == Side::A {
            (net::LEFT_ADDR, net::RIGHT_ADDR)
        } else {
            (net::RIGHT_ADDR, net::LEFT_ADDR)
        };
        names.insert(pq_addr.to_string(), "pqike".to_string());
        names.insert(
            peer_addr.to_string(),
            peer.id().split('-').next().unwrap_or("peer").to_string(),
        );
        let mut pkts = pkts;
        // IKE_INTERMEDIATE is protected with the keys of the previous round: dissect again
        // with each earlier key set and take those exchanges from the pass that decrypts them
        for (r, t) in evidence::round_tables(&keys, &spis, &ike_line)
            .iter()
            .enumerate()
        {
            let _ = std::fs::write(wsdir.join("ikev2_decryption_table"), t);
            let round = evidence::tshark_packets(&pcap, &wsconf).unwrap_or_default();
            for (p, q) in pkts.iter_mut().zip(round) {
                if p.exch == 43 && p.msgid as usize == r + 1 && q.payloads.len() > p.payloads.len()
                {
                    *p = q;
                }
            }
        }
        let mut st = evidence::stats(&pkts);
        for e in st.errors.iter_mut() {
            for (addr, name) in &names {
                *e = e.replace(&format!("from {addr} "), &format!("from {name} "));
            }
        }
        if let Some(log) = &lab.impair_log {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            st.dropped = text.lines().filter(|l| l.ends_with("DROP")).count();
            st.duplicated = text.lines().filter(|l| l.ends_with("DUP")).count();
        }
        let _ = std::fs::write(
            ev.join("trace.txt"),
            evidence::summary_text(&pkts, &st, &names),
        );
        if !self.keep_pcap {
            let _ = std::fs::remove_file(&pcap);
        }
        let _ = std::fs::remove_file(pcap.with_extension("dumpcap.log"));
        r.ke_rounds = st.ke_rounds.clone();
        r.trace = Some(st.clone());

        // verdict
        let want = case.want_ike();
        match case.expect {
            Expect::Established => {
                let mut problems = Vec::new();
                if !pq_st.established {
                    problems.push("pqike has no established IKE SA".to_string());
                }
                if !peer_st.established {
                    problems.push(format!("{} has no established IKE SA", peer.id()));
                }
                if let Some(t) = &pq_st.ike {
                    if *t != want {
                        problems.push(format!("pqike negotiated {t}, want {want}"));
                    }
                }
                if let (Some(a), Some(b)) = (&pq_st.ike, &peer_st.ike) {
                    // swanctl appends "/PPK" when RFC 8784 was used; pqike's status has no such marker
                    let b_core = b.strip_suffix("/PPK").unwrap_or(b);
                    if peer.id().starts_with("strongswan") && a != b_core {
                        problems.push(format!("views differ: pqike {a}, peer {b}"));
                    }
                    if case.ppk.as_deref() == Some("both")
                        && peer.id().starts_with("strongswan")
                        && !b.ends_with("/PPK")
                    {
                        problems.push(format!("{} did not use the PPK", peer.id()));
                    }
                }
                let want_child = env.get("CHILD").map(String::as_str) != Some("none");
                if want_child && peer.id().starts_with("strongswan") && !peer_st.child_installed {
                    problems.push(format!("{} has no INSTALLED Child SA", peer.id()));
                }
                if case.path == PathKind::Rekey {
                    // strongSwan: "IKE_SA lab[2] rekeyed between ..." / a second CHILD_SA net{n}
                    if !peer_log.contains("rekeyed") {
                        problems.push("peer log shows no completed IKE SA rekey".into());
                    }
                    if !st.exchanges.iter().any(|x| x == "CREATE_CHILD_SA") {
                        problems.push("no CREATE_CHILD_SA exchange on the wire".into());
                    }
                }
                if case.path == PathKind::Fragmentation && st.fragments == 0 {
                    problems.push("no IKE fragments on the wire".into());
                }
                if case.path == PathKind::Nat && !pq_log.contains("NAT detected") {
                    problems.push("pqike did not detect the NAT".into());
                }
                r.negotiated = peer_st.ike.clone().or(pq_st.ike.clone());
                if problems.is_empty() {
                    r.outcome = Outcome::Green;
                    r.detail = format!("established {}", r.negotiated.clone().unwrap_or_default());
                    if st.retransmissions > 0 || st.dropped > 0 {
                        r.detail.push_str(&format!(
                            " ({} datagrams dropped, {} duplicated by the impairment stage; {} retransmitted)",
                            st.dropped, st.duplicated, st.retransmissions
                        ));
                    }
                } else {
                    r.outcome = Outcome::Red;
                    r.detail = format!(
                        "{}; {}",
                        problems.join("; "),
                        diagnose(&st, &pq_log, &peer_log, peer.id(), role)
                    );
                }
            }
            Expect::Fail => {
                let reason = diagnose(&st, &pq_log, &peer_log, peer.id(), role);
                let pat = case.expect_reason.clone().unwrap_or_default();
                let matches = pat.split('|').any(|p| reason.contains(p));
                if pq_st.established && peer_st.established {
                    r.outcome = Outcome::Red;
                    r.detail = format!("established although failure was expected ({reason})");
                } else if matches {
                    r.outcome = Outcome::Green;
                    r.detail = format!("failed as expected: {reason}");
                } else {
                    r.outcome = Outcome::Red;
                    r.detail = format!("failed, but not with /{pat}/: {reason}");
                }
            }
        }
        let _ = std::fs::write(
            ev.join("verdict.txt"),
            format!("{}: {}\n", r.outcome.label(), r.detail),
        );
        Ok(())
    }

    fn collect_logs(
        &self,
        pqike: &dyn Driver,
        pq: &Ctx,
        peer: &dyn Driver,
        pe: &Ctx,
        ev: &Path,
    ) -> (String, String) {
        let pq_log = std::fs::read_to_string(pqike.log_path(pq)).unwrap_or_default();
        let peer_log = std::fs::read_to_string(peer.log_path(pe)).unwrap_or_default();
        let _ = std::fs::write(ev.join("pqiked.log"), evidence::trim_log(&pq_log, 150));
        let _ = std::fs::write(
            ev.join(format!("{}.log", peer.id())),
            evidence::trim_log(&peer_log, 150),
        );
        (pq_log, peer_log)
    }
}

/// Why it failed: error notifies on the wire, else log lines, else a timeout; and who gave up.
pub fn diagnose(
    st: &evidence::TraceStats,
    pq_log: &str,
    peer_log: &str,
    peer: &str,
    role: Role,
) -> String {
    let (ini, resp) = match role {
        Role::PqikeInit => ("pqike", peer),
        Role::PqikeResp => (peer, "pqike"),
    };
    let mut parts = Vec::new();
    if !st.errors.is_empty() {
        parts.push(format!("notify {}", st.errors.join(", ")));
    }
    // local decisions that produce no notify (or before the notify is sent)
    let interesting = [
        "AUTHENTICATION_FAILED",
        "AUTH_FAILED",
        "NO_PROPOSAL_CHOSEN",
        "NO_PROP",
        "no acceptable proposal",
        "proposals unacceptable",
        "PPK",
        "ppk",
        "giving up",
        "gave up",
        "retransmit",
        "authentication of",
        "timed out",
        "timeout",
        "failed",
        "INVALID_KE",
    ];
    let pick = |log: &str| -> Option<String> {
        log.lines()
            .rfind(|l| {
                !l.contains(" => ")
                    && !l.contains("secret")
                    && !l.contains("| ")
                    && interesting.iter().any(|k| l.contains(k))
                    && !l.contains("successful")
            })
            .map(|l| {
                let l = evidence::trim_log(l, 1);
                let l = l.trim();
                // drop timestamps/thread prefixes
                let cut = l
                    .find(|c: char| c.is_ascii_alphabetic() && !"TZ".contains(c))
                    .unwrap_or(0);
                l[cut..].chars().take(160).collect()
            })
    };
    if let Some(l) = pick(pq_log) {
        parts.push(format!("pqike log: \"{l}\""));
    }
    if let Some(l) = pick(peer_log) {
        parts.push(format!("{peer} log: \"{l}\""));
    }
    if st.errors.is_empty() && st.retransmissions > 0 {
        parts.push(format!(
            "timeout: {ini} (initiator) retransmitted, no usable response from {resp}"
        ));
    }
    if parts.is_empty() {
        parts.push("no error notify and no error in the logs".into());
    }
    parts.join("; ")
}
