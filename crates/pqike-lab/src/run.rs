//! Running one cell: network up, both daemons configured and started, the initiator
//! initiates, both views are collected, everything is stopped, the evidence analysed.
use crate::evidence;
use crate::impair::ImpairSpec;
use crate::net::{self, Lab, PathSpec};
use crate::peers::{Ctx, Driver, Side, Status};
use crate::scenario::{Case, Expect, PathKind, RekeyBy, Role};
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
        // traffic cases: did the pings through the tunnel get their replies
        let mut ping_ok: Option<bool> = None;
        let left_ns = lab.ns_left();
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
                match case.rekey_by {
                    RekeyBy::Peer => {
                        steps.push_str(&format!("+ {} rekeys IKE SA and Child SA\n", peer.id()));
                        match peer.rekey(&pe) {
                            Ok(o) | Err(o) => steps.push_str(&o),
                        }
                        std::thread::sleep(Duration::from_secs(2));
                    }
                    RekeyBy::Pqike => {
                        steps.push_str(&format!(
                            "+ pqiked rekeys on its own (child_rekey_time {} s, rekey_time {} s, rand_time 1 s); waiting for 1 IKE SA and 2 Child SA rekeys in {}'s log\n",
                            crate::peers::pqiked::PQIKE_CHILD_REKEY_S,
                            crate::peers::pqiked::PQIKE_IKE_REKEY_S,
                            peer.id()
                        ));
                        let log = peer.log_path(&pe);
                        let done = wait_until(40, || {
                            let l = std::fs::read_to_string(&log).unwrap_or_default();
                            let (ike, child) = rekey_counts(&l);
                            ike >= 1 && child >= 3
                        });
                        let (ike, child) =
                            rekey_counts(&std::fs::read_to_string(&log).unwrap_or_default());
                        steps.push_str(&format!(
                            "{} log: {ike} IKE SA rekeys, {child} Child SA installs{}\n",
                            peer.id(),
                            if done { "" } else { " (timed out after 40 s)" }
                        ));
                        // let the Delete of the last old SA finish
                        std::thread::sleep(Duration::from_millis(1500));
                    }
                }
            }
            if case.traffic && both_up() {
                // side a always holds 198.51.100.1, side b 203.0.113.1 (net.rs)
                let out = std::process::Command::new("ip")
                    .args([
                        "netns", "exec", &left_ns, "ping", "-c", "3", "-i", "0.3", "-W", "2",
                    ])
                    .args(["-I", "198.51.100.1", "203.0.113.1"])
                    .stdin(std::process::Stdio::null())
                    .output();
                let (ok, text) = match out {
                    Ok(o) => (
                        o.status.success(),
                        format!(
                            "{}{}",
                            String::from_utf8_lossy(&o.stdout),
                            String::from_utf8_lossy(&o.stderr)
                        ),
                    ),
                    Err(e) => (false, format!("ping: {e}")),
                };
                steps.push_str(&format!(
                    "+ ping -c 3 -I 198.51.100.1 203.0.113.1 (through the tunnel)\n{text}"
                ));
                ping_ok = Some(ok);
                std::thread::sleep(Duration::from_millis(300));
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
        // pqiked's own key_log when it wrote one (exact SPIs, rekeyed SAs, ESP), else the keys
        // from strongSwan's log
        let engine = pqike.key_log(&pq).and_then(|d| evidence::engine_tables(&d));
        let (table, rounds) = match &engine {
            Some(t) => (t.ike.clone(), t.rounds.clone()),
            None => (
                evidence::decryption_table(&keys, &spis, &ike_line),
                evidence::round_tables(&keys, &spis, &ike_line),
            ),
        };
        let _ = std::fs::write(ev.join("ikev2_decryption_table"), &table);
        let _ = std::fs::write(wsdir.join("ikev2_decryption_table"), &table);
        let _ = std::fs::remove_file(wsdir.join("esp_sa"));
        let _ = std::fs::remove_file(ev.join("esp_sa"));
        if let Some(t) = &engine {
            let _ = std::fs::write(ev.join("esp_sa"), &t.esp);
            let _ = std::fs::write(wsdir.join("esp_sa"), &t.esp);
        }
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
        for (r, t) in rounds.iter().enumerate() {
            let _ = std::fs::write(wsdir.join("ikev2_decryption_table"), t);
            let round = evidence::tshark_packets(&pcap, &wsconf).unwrap_or_default();
            for (p, q) in pkts.iter_mut().zip(round) {
                // AES-GCM under the wrong keys still "decrypts" in Wireshark 4.0 (garbage
                // payloads), so the round's own keys win whenever they open anything
                if p.exch == 43 && p.msgid as usize == r + 1 && q.payloads.len() > 1 {
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
        // pqiked as its own peer: its status and log lines are understood like strongSwan's
        let peer_is_pqiked = peer.id().starts_with("pqiked");
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
                    if (peer.id().starts_with("strongswan") || peer_is_pqiked) && a != b_core {
                        problems.push(format!("views differ: pqike {a}, peer {b}"));
                    }
                    if case.ppk.as_deref() == Some("both")
                        && peer.id().starts_with("strongswan")
                        && !b.ends_with("/PPK")
                    {
                        problems.push(format!("{} did not use the PPK", peer.id()));
                    }
                    if case.ppk.as_deref() == Some("both") && peer_is_pqiked {
                        // both pqiked instances report the PPK in `pqike status --json`
                        for (who, st) in [("pqike", &pq_st), (peer.id(), &peer_st)] {
                            if !st.ppk {
                                problems.push(format!("{who} did not use the PPK"));
                            }
                        }
                    }
                }
                let mut extra = Vec::new();
                // RFC 9867: the PPK went into IKE_INTERMEDIATE, not RFC 8784's IKE_AUTH
                if case.ppk.as_deref() == Some("both")
                    && case
                        .needs
                        .iter()
                        .chain(case.pqike_needs.iter())
                        .any(|n| n == "ppk-intermediate")
                {
                    let mut who = vec![("pqike", &pq_log)];
                    if peer_is_pqiked {
                        who.push((peer.id(), &peer_log));
                    }
                    let mut ok = true;
                    for (w, log) in who {
                        // initiator: "PPK 'x' mixed into all IKE SA keys in IKE_INTERMEDIATE
                        // (RFC 9867)", responder: "using PPK 'x' for all IKE SA keys (RFC 9867
                        // IKE_INTERMEDIATE)"
                        if !log.lines().any(|l| {
                            l.contains("PPK '")
                                && l.contains("all IKE SA keys")
                                && l.contains("RFC 9867")
                        }) {
                            ok = false;
                            problems.push(format!(
                                "{w} log shows no PPK mixed in IKE_INTERMEDIATE (RFC 9867)"
                            ));
                        }
                    }
                    if ok {
                        extra.push("PPK mixed in IKE_INTERMEDIATE (RFC 9867), both logs".into());
                    }
                } else if case.ppk.as_deref() == Some("both")
                    && peer_is_pqiked
                    && pq_st.ppk
                    && peer_st.ppk
                {
                    extra.push("PPK in both sides' `pqike status` (RFC 8784)".into());
                }
                // PQ certificates (auth = "mldsa" or a `pqike pki` key type): pqiked logs each
                // verified peer signature ("peer AUTH: ML-DSA-65 signature verified")
                if !["psk", "ecdsa", "rsa"].contains(&case.auth.as_str()) {
                    let scheme = if case.auth == "mldsa" {
                        "ml-dsa-65"
                    } else {
                        case.auth.as_str()
                    };
                    let line = format!("peer auth: {scheme} signature verified");
                    let mut who = vec![("pqike", &pq_log)];
                    if peer_is_pqiked {
                        who.push((peer.id(), &peer_log));
                    }
                    let mut ok = true;
                    for (w, log) in who {
                        if !log.to_lowercase().contains(&line) {
                            ok = false;
                            problems.push(format!(
                                "{w} log shows no verified {scheme} AUTH of the peer"
                            ));
                        }
                    }
                    if ok {
                        extra.push(format!(
                            "{} AUTH verified by pqike{}",
                            scheme.to_uppercase(),
                            if peer_is_pqiked {
                                " and by the peer"
                            } else {
                                ""
                            }
                        ));
                    }
                }
                // RFC 9593: each side logs the list the other announced
                if case.needs.iter().any(|n| n == "auth-methods") {
                    let mut who = vec![("pqike", &pq_log)];
                    if peer_is_pqiked {
                        who.push((peer.id(), &peer_log));
                    }
                    let mut ok = true;
                    for (w, log) in who {
                        if !log.contains("peer accepts auth methods (RFC 9593)") {
                            ok = false;
                            problems.push(format!(
                                "{w} log shows no SUPPORTED_AUTH_METHODS list from the peer"
                            ));
                        }
                    }
                    if ok {
                        extra.push("SUPPORTED_AUTH_METHODS (RFC 9593) received by both".into());
                    }
                }
                let want_child = env.get("CHILD").map(String::as_str) != Some("none");
                if want_child
                    && (peer.id().starts_with("strongswan") || peer_is_pqiked)
                    && !peer_st.child_installed
                {
                    problems.push(format!("{} has no INSTALLED Child SA", peer.id()));
                }
                if case.path == PathKind::Rekey {
                    // strongSwan: "IKE_SA lab[2] rekeyed between ..." / a second CHILD_SA net{n};
                    // pqiked: "IKE SA [1] rekeyed, now IKE SA [2]"
                    if !peer_log.contains("rekeyed") {
                        problems.push("peer log shows no completed IKE SA rekey".into());
                    }
                    if !st.exchanges.iter().any(|x| x == "CREATE_CHILD_SA") {
                        problems.push("no CREATE_CHILD_SA exchange on the wire".into());
                    }
                    let (driver, driver_addr) = match case.rekey_by {
                        RekeyBy::Peer => (peer.id(), peer_addr),
                        RekeyBy::Pqike => ("pqike", pq_addr),
                    };
                    let ccs = st.requests_from(driver_addr, "CREATE_CHILD_SA");
                    let fke = st.requests_from(driver_addr, "IKE_FOLLOWUP_KE");
                    let (ike_n, child_n) = rekey_counts(&peer_log);
                    extra.push(format!(
                        "rekeyed by {driver}: {ccs} CREATE_CHILD_SA + {fke} IKE_FOLLOWUP_KE requests from {driver}; {} log: {ike_n} IKE SA rekeys, {} Child SA rekeys",
                        peer.id(),
                        child_n.saturating_sub(1)
                    ));
                    let want_ccs = if case.rekey_by == RekeyBy::Pqike {
                        3
                    } else {
                        2
                    };
                    if ccs < want_ccs {
                        problems.push(format!(
                            "{ccs} CREATE_CHILD_SA requests from {driver}, want >= {want_ccs} (IKE SA + Child SA rekeys)"
                        ));
                    }
                    // RFC 9370: every additional KE of the proposal runs again in the rekey
                    if case.proposals.contains("-ke1_") && fke == 0 {
                        problems.push(format!(
                            "no IKE_FOLLOWUP_KE request from {driver} (the proposal has additional key exchanges)"
                        ));
                    }
                    if case.rekey_by == RekeyBy::Pqike && (ike_n < 1 || child_n < 3) {
                        problems.push(format!(
                            "{} log shows {ike_n} IKE SA rekeys and {} Child SA rekeys, want >= 1 and >= 2",
                            peer.id(),
                            child_n.saturating_sub(1)
                        ));
                    }
                }
                if case.shape == "remote-access" {
                    // the virtual IP as each side logged it (RFC 7296 2.19)
                    let pq_vip = virtual_ip(&pq_log);
                    let peer_vip = virtual_ip(&peer_log);
                    match (&pq_vip, &peer_vip) {
                        (Some(a), Some(b)) if a == b => {
                            let (srv, cli) = match role {
                                Role::PqikeInit => (peer.id(), "pqike"),
                                Role::PqikeResp => ("pqike", peer.id()),
                            };
                            extra.push(format!(
                                "virtual IP {a} from {srv}'s pool {}, installed by {cli} (both logs)",
                                crate::peers::RA_POOL
                            ));
                        }
                        _ => problems.push(format!(
                            "virtual IP: pqike log {}, {} log {}",
                            pq_vip.as_deref().unwrap_or("none"),
                            peer.id(),
                            peer_vip.as_deref().unwrap_or("none")
                        )),
                    }
                }
                if let Some(ok) = ping_ok {
                    if !ok {
                        problems.push(
                            "no ping reply through the tunnel (198.51.100.1 -> 203.0.113.1)".into(),
                        );
                    } else if st.esp_decrypted == 0 {
                        problems.push(format!(
                            "ping ok, but tshark decrypted none of the {} ESP packets with esp_sa",
                            st.esp_packets
                        ));
                    } else {
                        extra.push(format!(
                            "3 pings through the tunnel: {} ESP packets (SPIs {}), {} decrypted with esp_sa",
                            st.esp_packets,
                            st.esp_spis.join(" "),
                            st.esp_decrypted
                        ));
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
                    for e in &extra {
                        r.detail.push_str(&format!("; {e}"));
                    }
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

/// strongSwan or pqiked log: (IKE SA rekeys, Child SA establishments incl. the first).
/// strongSwan: "IKE_SA lab[1] rekeyed between ..." / "CHILD_SA net{2} established with SPIs";
/// pqiked: "IKE SA [1] rekeyed, now IKE SA [2]" / "install Child SA lab/net (IKE SA 2) ..."
/// (the rekey responder's "inbound-only (rekey)" install is one Child SA too).
pub fn rekey_counts(log: &str) -> (usize, usize) {
    let ike = log
        .lines()
        .filter(|l| {
            (l.contains("IKE_SA lab[") && l.contains("] rekeyed between"))
                || (l.contains("IKE SA [") && l.contains("] rekeyed, now IKE SA ["))
        })
        .count();
    let child = log
        .lines()
        .filter(|l| {
            (l.contains("CHILD_SA net{") && l.contains("} established with SPIs"))
                || l.contains("install Child SA lab/")
        })
        .count();
    (ike, child)
}

/// The virtual IP a log shows as assigned / installed: pqiked ("assigning virtual IP A from
/// pool", "virtual IP A assigned by the peer"), strongSwan ("assigning virtual IP A to peer",
/// "installing new virtual IP A").
pub fn virtual_ip(log: &str) -> Option<String> {
    log.lines()
        .filter(|l| {
            l.contains("assigning virtual IP ")
                || l.contains("assigned by the peer")
                || l.contains("installing new virtual IP ")
        })
        .find_map(|l| {
            let rest = &l[l.find("virtual IP ")? + "virtual IP ".len()..];
            let tok = rest.split_whitespace().next()?;
            tok.parse::<std::net::IpAddr>().ok().map(|a| a.to_string())
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_ip_from_either_implementation() {
        let ss_client = "10:00:00 14[IKE] <lab|1> installing new virtual IP 10.99.0.1\n";
        let ss_server =
            "10:00:00 14[CFG] <lab|1> assigning virtual IP 10.99.0.2 to peer 'a.example'\n";
        let pq_server =
            "INFO pqike_proto::cp: assigning virtual IP 10.99.0.3 from pool ra to a.example\n";
        let pq_client = "INFO pqike_proto::cp: virtual IP 10.99.0.4 assigned by the peer sa=1\n";
        assert_eq!(virtual_ip(ss_client).as_deref(), Some("10.99.0.1"));
        assert_eq!(virtual_ip(ss_server).as_deref(), Some("10.99.0.2"));
        assert_eq!(virtual_ip(pq_server).as_deref(), Some("10.99.0.3"));
        assert_eq!(virtual_ip(pq_client).as_deref(), Some("10.99.0.4"));
        // a request is not an assignment
        assert_eq!(
            virtual_ip("requesting virtual IPs [0.0.0.0]\npeer requested virtual IP %any\n"),
            None
        );
    }

    #[test]
    fn rekey_counts_count_strongswan_lines() {
        let log = "CHILD_SA net{1} established with SPIs c1_i c2_o\n\
                   IKE_SA lab[1] rekeyed between 1.1.1.1[a]...2.2.2.2[b]\n\
                   CHILD_SA net{2} established with SPIs c3_i c4_o\n\
                   IKE_SA lab[2] state change: REKEYING => DELETING\n";
        assert_eq!(rekey_counts(log), (1, 2));
    }

    #[test]
    fn rekey_counts_count_pqiked_lines() {
        let log = "INFO install Child SA lab/net (IKE SA 1): SPIs 1d48d749_i 6cc9d15d_o, AES_GCM_16-256\n\
                   INFO IKE_SA lab rekeyed: new IKE SA 2 with SPIs 2f_i 69_r sa=1\n\
                   INFO IKE SA [1] rekeyed, now IKE SA [2]\n\
                   INFO install Child SA lab/net (IKE SA 2) inbound-only (rekey): SPIs 94_i ce_o\n\
                   INFO activate outbound Child SA (IKE SA 2): SPIs 94_i ce_o\n";
        assert_eq!(rekey_counts(log), (1, 2));
    }
}
