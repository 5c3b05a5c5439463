//! The lab network: three namespaces in a row, built fresh for every case.
//!
//! ```text
//!  {P}L (side a, initiator)        {P}N (router)                    {P}R (side b, responder)
//!  {p}l0 192.0.2.1/24 ---- {p}n0 192.0.2.254 | {p}n1 198.18.0.254 ---- {p}r0 198.18.0.2/24
//!  lo 198.51.100.1                 NAT: masquerade out of {p}n1      lo 203.0.113.1
//!                                  impairment: NFQUEUE -> pqike-lab impair
//! ```
//! The initiator always sits on the left, so in NAT cases it is the one behind the NAT
//! (RFC 7296 §2.23). The MTU applies to both links. Only documentation / benchmarking
//! prefixes are used and no namespace has a link out of the lab.
use crate::impair::ImpairSpec;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Addresses of the two peers as seen by each other.
pub const LEFT_ADDR: &str = "192.0.2.1";
pub const RIGHT_ADDR: &str = "198.18.0.2";
/// The left side's address after masquerading (what the right side sees in NAT cases).
pub const NAT_PUBLIC_ADDR: &str = "198.18.0.254";
const NFQUEUE_NUM: u16 = 7;

/// How the path between the peers behaves.
#[derive(Clone, Debug, Default)]
pub struct PathSpec {
    pub mtu: u32,
    pub nat: bool,
    pub impair: Option<ImpairSpec>,
}

/// A built lab network; `down` (or drop) removes it.
pub struct Lab {
    pub prefix: String,
    impair: Option<Child>,
    pub impair_log: Option<PathBuf>,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ns_exists(ns: &str) -> bool {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns))
        })
        .unwrap_or(false)
}

impl Lab {
    pub fn ns_left(&self) -> String {
        format!("{}L", self.prefix)
    }
    pub fn ns_router(&self) -> String {
        format!("{}N", self.prefix)
    }
    pub fn ns_right(&self) -> String {
        format!("{}R", self.prefix)
    }
    /// The left namespace's interface (where the capture runs).
    pub fn left_if(&self) -> String {
        format!("{}l0", self.prefix.to_lowercase())
    }

    /// Build the network. `self_exe` is this binary (run inside the router for impairment).
    pub fn up(
        prefix: &str,
        path: &PathSpec,
        self_exe: &Path,
        evidence: &Path,
    ) -> Result<Lab, String> {
        let mut lab = Lab {
            prefix: prefix.to_string(),
            impair: None,
            impair_log: None,
        };
        lab.delete_namespaces()?;
        let p = prefix.to_lowercase();
        let (l, n, r) = (lab.ns_left(), lab.ns_router(), lab.ns_right());
        let mtu = path.mtu.to_string();
        for ns in [&l, &n, &r] {
            run(&["ip", "netns", "add", ns])?;
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        let (l0, n0, n1, r0) = (
            format!("{p}l0"),
            format!("{p}n0"),
            format!("{p}n1"),
            format!("{p}r0"),
        );
        run(&[
            "ip", "link", "add", &l0, "netns", &l, "mtu", &mtu, "type", "veth", "peer", "name",
            &n0, "netns", &n, "mtu", &mtu,
        ])?;
        run(&[
            "ip", "link", "add", &r0, "netns", &r, "mtu", &mtu, "type", "veth", "peer", "name",
            &n1, "netns", &n, "mtu", &mtu,
        ])?;
        run(&["ip", "-n", &l, "addr", "add", "192.0.2.1/24", "dev", &l0])?;
        run(&[
            "ip",
            "-n",
            &l,
            "addr",
            "add",
            "198.51.100.1/32",
            "dev",
            "lo",
        ])?;
        run(&["ip", "-n", &n, "addr", "add", "192.0.2.254/24", "dev", &n0])?;
        run(&["ip", "-n", &n, "addr", "add", "198.18.0.254/24", "dev", &n1])?;
        run(&["ip", "-n", &r, "addr", "add", "198.18.0.2/24", "dev", &r0])?;
        run(&["ip", "-n", &r, "addr", "add", "203.0.113.1/32", "dev", "lo"])?;
        for (ns, dev) in [(&l, &l0), (&n, &n0), (&n, &n1), (&r, &r0)] {
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        run(&[
            "ip",
            "-n",
            &l,
            "route",
            "add",
            "default",
            "via",
            "192.0.2.254",
        ])?;
        run(&[
            "ip",
            "-n",
            &r,
            "route",
            "add",
            "default",
            "via",
            "198.18.0.254",
        ])?;
        run(&[
            "ip",
            "netns",
            "exec",
            &n,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])?;
        if path.nat {
            // masquerade the initiator's side; the right side cannot reach the left net directly
            let rules = format!(
                "table ip pqlabnat {{\n chain post {{\n  type nat hook postrouting priority srcnat;\n  oifname \"{n1}\" masquerade\n }}\n}}\n\
                 table ip pqlabfw {{\n chain forward_filter {{\n  type filter hook forward priority 0;\n  iifname \"{n1}\" ip daddr 192.0.2.0/24 ct state new drop\n }}\n}}\n"
            );
            let f = evidence.join("nat.nft");
            std::fs::write(&f, rules).map_err(|e| e.to_string())?;
            run(&[
                "ip",
                "netns",
                "exec",
                &n,
                "nft",
                "-f",
                &f.display().to_string(),
            ])?;
        }
        if let Some(spec) = &path.impair {
            let log = evidence.join("impair.log");
            let f = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let child = Command::new("ip")
                .args(["netns", "exec", &n])
                .arg(self_exe)
                .args([
                    "impair",
                    "--queue",
                    &NFQUEUE_NUM.to_string(),
                    "--loss",
                    &spec.loss.to_string(),
                    "--delay-ms",
                    &spec.delay_ms.to_string(),
                    "--jitter-ms",
                    &spec.jitter_ms.to_string(),
                    "--dup",
                    &spec.dup.to_string(),
                    "--seed",
                    &spec.seed.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(f.try_clone().map_err(|e| e.to_string())?)
                .stderr(f)
                .spawn()
                .map_err(|e| format!("impairment stage: {e}"))?;
            lab.impair = Some(child);
            lab.impair_log = Some(log.clone());
            // wait until it is bound, or packets would pass unimpaired
            let t0 = std::time::Instant::now();
            while !std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("impair: queue")
            {
                if t0.elapsed().as_secs() > 5 {
                    return Err("impairment stage did not start (see impair.log)".into());
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // only IKE (and ESP-in-UDP) goes through the stage
            for port in ["500", "4500"] {
                run(&[
                    "ip",
                    "netns",
                    "exec",
                    &n,
                    "iptables",
                    "-A",
                    "FORWARD",
                    "-p",
                    "udp",
                    "--dport",
                    port,
                    "-j",
                    "NFQUEUE",
                    "--queue-num",
                    &NFQUEUE_NUM.to_string(),
                ])?;
            }
        }
        run(&[
            "ip", "netns", "exec", &l, "ping", "-c1", "-W2", "-q", RIGHT_ADDR,
        ])
        .map_err(|e| format!("lab path does not work: {e}"))?;
        Ok(lab)
    }

    fn delete_namespaces(&self) -> Result<(), String> {
        for ns in [self.ns_left(), self.ns_router(), self.ns_right()] {
            if !ns_exists(&ns) {
                continue;
            }
            let pids = Command::new("ip")
                .args(["netns", "pids", &ns])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            if !pids.is_empty() {
                return Err(format!(
                    "namespace {ns} still has processes ({}): stop them first",
                    pids.replace('\n', " ")
                ));
            }
            run(&["ip", "netns", "del", &ns])?;
        }
        Ok(())
    }

    /// Stop the impairment stage and delete the namespaces.
    pub fn down(&mut self) -> Result<(), String> {
        if let Some(mut c) = self.impair.take() {
            // our own child, by PID: `ip netns exec` execs pqike-lab, so this is the stage
            let _ = c.kill();
            let _ = c.wait();
        }
        self.delete_namespaces()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.down();
    }
}
