//! Soak test of the SA lifecycle between two real `pqiked` processes (issue 5).
//!
//! `cargo run --release -p pqike-testkit --bin pqike-soak-daemons -- [--sas N] [--duration SECS]
//!  [--lifetime SECS] [--pqiked PATH] [--dir DIR] [--keep] [--proposal P] [--esp P]
//!  [--ramp-timeout SECS] [--report SECS]`
//!
//! Writes two pqiked configs into DIR (default: a fresh directory under the temp dir) and runs:
//! a responder on 127.0.0.1 with one connection that accepts every identity (`%any`, one PSK
//! for all), and an initiator on 127.0.0.2 with N connections `sNNNN` (identity `sNNNN.soak`,
//! `start_action = "start"`), both on the same free unprivileged port pair and with
//! `dataplane = "none"` (IKE only: no TUN, no root). Each IKE SA gets its own identity because
//! IKE_AUTH carries INITIAL_CONTACT, which replaces older SAs between the same identities.
//! Both sides rekey IKE and Child SAs every `--lifetime` seconds (jitter `rand_time` = lifetime
//! / 10, hard lifetime rekey + 10 %, like the in-process `pqike-soak`).
//!
//! Timeline: start the responder and read its RSS (no SAs); start the initiator once with the
//! same N connections but no start_action to read the RSS of an idle initiator with its
//! configuration loaded, stop it; start the real initiator (all N initiated at once); wait until
//! both daemons report N IKE SAs up with N Child SAs (the ramp); then run `--duration` seconds,
//! polling both daemons' statistics (`{"cmd":"stats"}` on the control socket) every 2 s.
//!
//! Failures: IKE SAs that went down on either daemon by timeout or error (the daemons'
//! `ike_failures`), and connections not up at the end with exactly one ESTABLISHED IKE SA that
//! holds exactly one Child SA (checked per initiator connection and per responder peer
//! identity; a connection in the middle of a rekey at the moment of a snapshot is transitional,
//! so it only counts when it is bad in 5 snapshots taken 0.5 s apart). Exit status 1 on any.
//! Memory per SA: (RSS after the ramp - RSS before) / N for each daemon (each holds one end).
use pqike_daemon::control::{request, IkeSaInfo, Request};
use pqike_daemon::control_stats::DaemonStats;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

struct Args {
    sas: usize,
    duration: u64,
    lifetime: u64,
    pqiked: PathBuf,
    dir: Option<PathBuf>,
    keep: bool,
    proposal: String,
    esp: String,
    ramp_timeout: Option<u64>,
    report: u64,
}

fn usage(msg: &str) -> ! {
    eprintln!("pqike-soak-daemons: {msg}");
    eprintln!(
        "usage: pqike-soak-daemons [--sas N] [--duration SECS] [--lifetime SECS] [--pqiked PATH] \
         [--dir DIR] [--keep] [--proposal P] [--esp P] [--ramp-timeout SECS] [--report SECS]"
    );
    std::process::exit(2)
}

fn args() -> Args {
    // pqiked next to this binary (target/release/pqike-soak-daemons -> target/release/pqiked).
    let default_pqiked = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("pqiked")))
        .unwrap_or_else(|| PathBuf::from("pqiked"));
    let mut a = Args {
        sas: 100,
        duration: 60,
        lifetime: 10,
        pqiked: default_pqiked,
        dir: None,
        keep: false,
        proposal: "aes256gcm16-prfsha384-x25519".into(),
        esp: "aes256gcm16".into(),
        ramp_timeout: None,
        report: 10,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let flag = v[i].as_str();
        if flag == "--keep" {
            a.keep = true;
            i += 1;
            continue;
        }
        let Some(val) = v.get(i + 1).cloned() else {
            usage(&format!("{flag} needs a value"))
        };
        let num = || {
            val.parse::<u64>()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number: {val}")))
        };
        match flag {
            "--sas" => a.sas = num() as usize,
            "--duration" => a.duration = num(),
            "--lifetime" => a.lifetime = num(),
            "--pqiked" => a.pqiked = PathBuf::from(&val),
            "--dir" => a.dir = Some(PathBuf::from(&val)),
            "--proposal" => a.proposal = val.clone(),
            "--esp" => a.esp = val.clone(),
            "--ramp-timeout" => a.ramp_timeout = Some(num()),
            "--report" => a.report = num().max(1),
            other => usage(&format!("unknown argument {other}")),
        }
        i += 2;
    }
    if a.sas == 0 || a.sas > 9999 {
        usage("--sas must be 1..9999");
    }
    if a.lifetime < 2 {
        usage("--lifetime must be at least 2");
    }
    a
}

/// A port p with p and p+1 free for UDP on both 127.0.0.1 and 127.0.0.2 (the daemons bind
/// them a moment later; a race with another program is possible but unlikely).
fn free_port_pair() -> Result<u16, String> {
    for _ in 0..50 {
        let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        let p = s.local_addr().map_err(|e| e.to_string())?.port();
        if p >= 65534 {
            continue;
        }
        let others = [
            format!("127.0.0.1:{}", p + 1),
            format!("127.0.0.2:{p}"),
            format!("127.0.0.2:{}", p + 1),
        ];
        if others.iter().all(|a| UdpSocket::bind(a).is_ok()) {
            return Ok(p);
        }
    }
    Err("no free UDP port pair on 127.0.0.1/127.0.0.2".into())
}

/// The `[daemon]` block and the lifecycle keys shared by both configs.
fn daemon_block(sock: &Path, ip: &str, port: u16) -> String {
    format!(
        "[daemon]\ncontrol_socket = \"{}\"\nlog_level = \"info\"\nlisten = [\"{ip}\"]\n\
         ike_port = {port}\nnat_port = {}\ndataplane = \"none\"\n\
         # every IKE_SA_INIT of the start burst is legitimate: no COOKIE round trip\n\
         cookie_threshold = 1000000\nmax_half_open = 1000000\n\
         retransmit_timeout = 2.0\n\n",
        sock.display(),
        port + 1
    )
}

fn lifecycle(a: &Args) -> String {
    format!(
        "rekey_time = {l}\nchild_rekey_time = {l}\nrand_time = {r}\n",
        l = a.lifetime,
        r = (a.lifetime / 10).max(1)
    )
}

fn child_block(a: &Args, local: &str, remote: &str) -> String {
    format!(
        "[[connection.children]]\nname = \"net\"\nlocal_ts = [\"{local}\"]\nremote_ts = [\"{remote}\"]\n\
         esp_proposals = [\"{}\"]\nmode = \"tunnel\"\nlifetime = {}\n\n",
        a.esp, a.lifetime
    )
}

const PSK: &str = "[[secrets]]\nkind = \"psk\"\nsecret = \"pqike-soak-daemons-shared-secret\"\n";

fn responder_config(a: &Args, sock: &Path, port: u16) -> String {
    let mut s = daemon_block(sock, "127.0.0.1", port);
    let _ = write!(
        s,
        "[[connection]]\nname = \"resp\"\nlocal_addrs = [\"127.0.0.1\"]\nproposals = [\"{}\"]\n\
         send_certreq = false\n{}\n[connection.local]\nid = \"responder.soak\"\nauth = \"psk\"\n\n\
         [connection.remote]\nid = \"%any\"\nauth = \"psk\"\n\n{}",
        a.proposal,
        lifecycle(a),
        child_block(a, "10.2.0.0/16", "10.1.0.0/16")
    );
    s + PSK
}

fn initiator_config(a: &Args, sock: &Path, port: u16, start: bool) -> String {
    let mut s = daemon_block(sock, "127.0.0.2", port);
    for i in 0..a.sas {
        let _ = write!(
            s,
            "[[connection]]\nname = \"s{i:04}\"\nlocal_addrs = [\"127.0.0.2\"]\n\
             remote_addrs = [\"127.0.0.1\"]\nremote_port = {port}\nproposals = [\"{}\"]\n\
             send_certreq = false\n{}{}\n[connection.local]\nid = \"s{i:04}.soak\"\nauth = \"psk\"\n\n\
             [connection.remote]\nid = \"responder.soak\"\nauth = \"psk\"\n\n{}",
            a.proposal,
            lifecycle(a),
            if start { "start_action = \"start\"\n" } else { "" },
            child_block(a, "10.1.0.0/16", "10.2.0.0/16")
        );
    }
    s + PSK
}

/// A running pqiked, stopped with SIGTERM (then SIGKILL) when dropped.
struct Daemon {
    name: &'static str,
    child: Child,
    sock: PathBuf,
}

impl Daemon {
    fn spawn(
        pqiked: &Path,
        name: &'static str,
        cfg: &Path,
        log: &Path,
        sock: &Path,
    ) -> Result<Daemon, String> {
        let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(pqiked)
            .arg("--config")
            .arg(cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", pqiked.display()))?;
        let mut d = Daemon {
            name,
            child,
            sock: sock.to_path_buf(),
        };
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = d.child.try_wait() {
                return Err(format!("{name} pqiked exited at start: {st}"));
            }
            if d.stats().is_ok() {
                return Ok(d);
            }
            if Instant::now() > until {
                return Err(format!(
                    "{name} pqiked: control socket not answering after 30 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stats(&self) -> Result<DaemonStats, String> {
        let r = request(&self.sock, &Request::Stats, Duration::from_secs(20))?;
        r.statistics
            .ok_or_else(|| format!("{}: no statistics in the answer (old pqiked?)", self.name))
    }

    fn status(&self) -> Result<Vec<IkeSaInfo>, String> {
        let r = request(&self.sock, &Request::Status, Duration::from_secs(30))?;
        Ok(r.ike_sas.unwrap_or_default())
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// User + system CPU seconds of the process so far (/proc/PID/stat, 100 Hz ticks).
    fn cpu_secs(&self) -> f64 {
        let s =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let rest = s.rsplit_once(')').map_or("", |x| x.1);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (tick(11) + tick(12)) / 100.0
    }

    fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}

fn per_sa_kib(after: u64, before: u64, n: usize) -> f64 {
    (after as f64 - before as f64) / 1024.0 / n as f64
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Keys (initiator connection names, responder peer identities) that do not have exactly one
/// ESTABLISHED IKE SA with exactly one Child SA; `want` lists every key that must be there.
fn bad_keys(
    sas: &[IkeSaInfo],
    key: impl Fn(&IkeSaInfo) -> String,
    want: &[String],
) -> BTreeSet<String> {
    let mut est: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for s in sas.iter().filter(|s| s.state == "ESTABLISHED") {
        est.entry(key(s)).or_default().push(s.child_sas.len());
    }
    want.iter()
        .filter(|k| est.get(*k).map(|v| v.as_slice()) != Some(&[1]))
        .cloned()
        .collect()
}

/// [established IKE SAs with 0, 1, 2+ children, other states]
fn histogram(sas: &[IkeSaInfo]) -> [usize; 4] {
    let mut h = [0usize; 4];
    for s in sas {
        if s.state == "ESTABLISHED" {
            h[s.child_sas.len().min(2)] += 1;
        } else {
            h[3] += 1;
        }
    }
    h
}

fn run(a: &Args, dir: &Path) -> Result<bool, String> {
    if !a.pqiked.exists() {
        return Err(format!(
            "{} not found (cargo build --release -p pqike-daemon, or --pqiked PATH)",
            a.pqiked.display()
        ));
    }
    let port = free_port_pair()?;
    let (rsock, isock) = (dir.join("responder.sock"), dir.join("initiator.sock"));
    let (rcfg, icfg, ibase) = (
        dir.join("responder.toml"),
        dir.join("initiator.toml"),
        dir.join("initiator-idle.toml"),
    );
    let write =
        |p: &Path, s: String| std::fs::write(p, s).map_err(|e| format!("{}: {e}", p.display()));
    write(&rcfg, responder_config(a, &rsock, port))?;
    write(&icfg, initiator_config(a, &isock, port, true))?;
    write(&ibase, initiator_config(a, &isock, port, false))?;
    let ramp_timeout = Duration::from_secs(a.ramp_timeout.unwrap_or(60 + a.sas as u64 / 10));
    println!(
        "pqike-soak-daemons: {} IKE SAs x 1 Child SA between two pqiked (127.0.0.2 -> 127.0.0.1, UDP {port}), \
         rekey time {} s (IKE and child, both sides), {} s after the ramp, {} / {}; files in {}",
        a.sas,
        a.lifetime,
        a.duration,
        a.proposal,
        a.esp,
        dir.display()
    );
    println!("load average at start: {}", loadavg());

    let mut resp = Daemon::spawn(
        &a.pqiked,
        "responder",
        &rcfg,
        &dir.join("responder.log"),
        &rsock,
    )?;
    let r0 = resp.stats()?;
    // Idle initiator with the same N connections configured: its RSS is the baseline.
    let i0 = {
        let mut idle = Daemon::spawn(
            &a.pqiked,
            "initiator (idle)",
            &ibase,
            &dir.join("initiator-idle.log"),
            &isock,
        )?;
        let s = idle.stats()?;
        idle.stop();
        s
    };
    let t0 = Instant::now();
    let mut init = Daemon::spawn(
        &a.pqiked,
        "initiator",
        &icfg,
        &dir.join("initiator.log"),
        &isock,
    )?;
    let n = a.sas as u64;
    let mut loads = vec![loadavg()];
    let ramp = loop {
        let (i, r) = (init.stats()?, resp.stats()?);
        if i.ike_sas_up == n
            && i.child_sas_installed == n
            && r.ike_sas_up == n
            && r.child_sas_installed == n
        {
            break Some((t0.elapsed(), i, r));
        }
        if t0.elapsed() > ramp_timeout {
            println!(
                "ramp: not all up after {} s: initiator {} IKE SAs up / {} children, responder {} / {}",
                ramp_timeout.as_secs(),
                i.ike_sas_up,
                i.child_sas_installed,
                r.ike_sas_up,
                r.child_sas_installed
            );
            break None;
        }
        if !init.alive() || !resp.alive() {
            return Err("a pqiked exited during the ramp (see its log)".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let Some((ramp_time, i1, r1)) = ramp else {
        return Ok(false);
    };
    println!(
        "{:>6.1}s all {} IKE SAs up on both daemons; RSS initiator {:.1} -> {:.1} MiB, responder {:.1} -> {:.1} MiB",
        ramp_time.as_secs_f64(),
        a.sas,
        mib(i0.rss_bytes),
        mib(i1.rss_bytes),
        mib(r0.rss_bytes),
        mib(r1.rss_bytes)
    );
    let (mut rss_max_i, mut rss_max_r) = (i1.rss_bytes, r1.rss_bytes);
    let t1 = Instant::now();
    let end = t1 + Duration::from_secs(a.duration);
    let mut next_report = t1 + Duration::from_secs(a.report);
    while Instant::now() < end {
        std::thread::sleep(
            Duration::from_secs(2).min(end.saturating_duration_since(Instant::now())),
        );
        if !init.alive() || !resp.alive() {
            return Err("a pqiked exited during the soak (see its log)".into());
        }
        let (i, r) = (init.stats()?, resp.stats()?);
        rss_max_i = rss_max_i.max(i.rss_bytes);
        rss_max_r = rss_max_r.max(r.rss_bytes);
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(a.report);
            loads.push(loadavg());
            println!(
                "{:>6.1}s up {}/{} (child {}/{})  IKE rekeys {}/{}  child rekeys {}/{}  failures {}/{}  RSS {:.1}/{:.1} MiB  load {}",
                t0.elapsed().as_secs_f64(),
                i.ike_sas_up,
                r.ike_sas_up,
                i.child_sas_installed,
                r.child_sas_installed,
                i.ike_rekeys - i1.ike_rekeys,
                r.ike_rekeys - r1.ike_rekeys,
                i.child_rekeys - i1.child_rekeys,
                r.child_rekeys - r1.child_rekeys,
                i.ike_failures,
                r.ike_failures,
                mib(i.rss_bytes),
                mib(r.rss_bytes),
                loads.last().map_or("?", |s| s.as_str())
            );
        }
    }
    // Final check: a connection is bad only if it is bad in every one of 5 snapshots.
    let want_i: Vec<String> = (0..a.sas).map(|i| format!("s{i:04}")).collect();
    let want_r: Vec<String> = (0..a.sas).map(|i| format!("s{i:04}.soak")).collect();
    let (mut bad_i, mut bad_r): (Option<BTreeSet<String>>, Option<BTreeSet<String>>) = (None, None);
    let (mut hist_i, mut hist_r) = ([0; 4], [0; 4]);
    for k in 0..5 {
        if k > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        let (si, sr) = (init.status()?, resp.status()?);
        let bi = bad_keys(&si, |s| s.name.clone(), &want_i);
        let br = bad_keys(&sr, |s| s.remote_id.clone(), &want_r);
        if k == 0 {
            (hist_i, hist_r) = (histogram(&si), histogram(&sr));
        }
        bad_i = Some(bad_i.map_or(bi.clone(), |b| b.intersection(&bi).cloned().collect()));
        bad_r = Some(bad_r.map_or(br.clone(), |b| b.intersection(&br).cloned().collect()));
    }
    let (bad_i, bad_r) = (bad_i.unwrap_or_default(), bad_r.unwrap_or_default());
    let (i2, r2) = (init.stats()?, resp.stats()?);
    rss_max_i = rss_max_i.max(i2.rss_bytes);
    rss_max_r = rss_max_r.max(r2.rss_bytes);
    let cpu = (init.cpu_secs(), resp.cpu_secs());
    loads.push(loadavg());
    let failures = i2.ike_failures + r2.ike_failures;
    let ok = failures == 0 && bad_i.is_empty() && bad_r.is_empty();

    println!(
        "--- pqike-soak-daemons result: {} SAs, {} s after a {:.1} s ramp, rekey time {} s",
        a.sas,
        a.duration,
        ramp_time.as_secs_f64(),
        a.lifetime
    );
    println!("{:<44} {:>14} {:>14}", "", "initiator", "responder");
    let row = |label: &str, x: String, y: String| println!("{label:<44} {x:>14} {y:>14}");
    row(
        "IKE SAs up at the end",
        i2.ike_sas_up.to_string(),
        r2.ike_sas_up.to_string(),
    );
    row(
        "Child SAs installed at the end",
        i2.child_sas_installed.to_string(),
        r2.child_sas_installed.to_string(),
    );
    row(
        "  established IKE SAs with 0/1/2+ children",
        format!("{}/{}/{}", hist_i[0], hist_i[1], hist_i[2]),
        format!("{}/{}/{}", hist_r[0], hist_r[1], hist_r[2]),
    );
    row(
        "  IKE SAs in other states",
        hist_i[3].to_string(),
        hist_r[3].to_string(),
    );
    row(
        "IKE rekeys (after the ramp)",
        (i2.ike_rekeys - i1.ike_rekeys).to_string(),
        (r2.ike_rekeys - r1.ike_rekeys).to_string(),
    );
    row(
        "Child rekeys (after the ramp)",
        (i2.child_rekeys - i1.child_rekeys).to_string(),
        (r2.child_rekeys - r1.child_rekeys).to_string(),
    );
    row("IKE SAs down, by reason", fmt_down(&i2), fmt_down(&r2));
    row(
        "failures: IKE SAs down by timeout/error",
        i2.ike_failures.to_string(),
        r2.ike_failures.to_string(),
    );
    row(
        "failures: not up with exactly one child",
        bad_i.len().to_string(),
        bad_r.len().to_string(),
    );
    row(
        "RSS before the ramp (MiB)",
        format!("{:.1}", mib(i0.rss_bytes)),
        format!("{:.1}", mib(r0.rss_bytes)),
    );
    row(
        "RSS after the ramp (MiB)",
        format!("{:.1}", mib(i1.rss_bytes)),
        format!("{:.1}", mib(r1.rss_bytes)),
    );
    row(
        "RSS at the end / peak (MiB)",
        format!("{:.1} / {:.1}", mib(i2.rss_bytes), mib(rss_max_i)),
        format!("{:.1} / {:.1}", mib(r2.rss_bytes), mib(rss_max_r)),
    );
    row(
        "memory per SA after the ramp / at the end (KiB)",
        format!(
            "{:.1} / {:.1}",
            per_sa_kib(i1.rss_bytes, i0.rss_bytes, a.sas),
            per_sa_kib(i2.rss_bytes, i0.rss_bytes, a.sas)
        ),
        format!(
            "{:.1} / {:.1}",
            per_sa_kib(r1.rss_bytes, r0.rss_bytes, a.sas),
            per_sa_kib(r2.rss_bytes, r0.rss_bytes, a.sas)
        ),
    );
    row(
        "CPU time (s)",
        format!("{:.1}", cpu.0),
        format!("{:.1}", cpu.1),
    );
    println!(
        "load average (1/5/15 min) at start, every {} s, at the end: {}",
        a.report,
        loads.join(" | ")
    );
    for (side, s) in [("initiator", &i2), ("responder", &r2)] {
        for (text, k) in &s.failure_reasons {
            println!("{side}: {k} x {text}");
        }
    }
    for (side, b) in [
        ("initiator connections", &bad_i),
        ("responder peers", &bad_r),
    ] {
        if !b.is_empty() {
            let list: Vec<&str> = b.iter().take(20).map(|s| s.as_str()).collect();
            println!(
                "{side} not up with one child: {}{}",
                list.join(" "),
                if b.len() > 20 { " ..." } else { "" }
            );
        }
    }
    // One machine-readable line for scripts and the smoke test.
    println!(
        "RESULT sas={} up_i={} up_r={} ike_rekeys_i={} ike_rekeys_r={} child_rekeys_i={} child_rekeys_r={} \
         failures={} not_up_i={} not_up_r={}",
        a.sas,
        i2.ike_sas_up,
        r2.ike_sas_up,
        i2.ike_rekeys - i1.ike_rekeys,
        r2.ike_rekeys - r1.ike_rekeys,
        i2.child_rekeys - i1.child_rekeys,
        r2.child_rekeys - r1.child_rekeys,
        failures,
        bad_i.len(),
        bad_r.len()
    );
    println!("{}", if ok { "PASS: zero failures" } else { "FAIL" });
    init.stop();
    resp.stop();
    Ok(ok)
}

fn fmt_down(s: &DaemonStats) -> String {
    let v: Vec<String> = s.ike_down.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

fn main() -> ExitCode {
    let a = args();
    let (dir, fresh) = match &a.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("pqike-soak-daemons-{}", std::process::id())),
            true,
        ),
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("pqike-soak-daemons: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let result = run(&a, &dir);
    let ok = matches!(result, Ok(true));
    if let Err(e) = &result {
        eprintln!("pqike-soak-daemons: {e}");
    }
    if ok && fresh && !a.keep {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("configs and daemon logs kept in {}", dir.display());
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
