//! Peer drivers: one module per implementation. A driver writes its configuration from a
//! case, starts the daemon in a namespace, initiates, reports status, hands over its log and
//! stops it. The daemons are driven through the lab's shell library (`lab/*.sh`), which
//! knows how to run each build in isolation (private mount namespaces, chroots).
//!
//! Adding a peer = one module implementing [`Driver`] + one line in [`all_peers`].
use crate::scenario::{Case, Role};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub mod libreswan;
pub mod openiked;
pub mod pqiked;
pub mod strongswan;

/// Remote access: the server's address pool (side b) and the DNS server it hands out.
/// The client is always side a (the initiator's side), the server side b.
pub const RA_POOL: &str = "10.99.0.0/28";
pub const RA_DNS: &str = "10.99.0.53";

/// Left (a, initiator) or right (b, responder) of the lab network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn letter(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }
}

/// Everything a driver needs for one case.
pub struct Ctx<'a> {
    pub repo: &'a Path,
    /// PQIKE_LAB_RUN of this tool (instance dirs live below it)
    pub run_dir: &'a Path,
    pub case: &'a Case,
    pub side: Side,
    pub ns: String,
    /// case variables of lab/common.sh, shared by both sides
    pub env: BTreeMap<String, String>,
    /// extra variables for this side only (driver-specific settings go here too)
    pub side_env: BTreeMap<String, String>,
}

impl Ctx<'_> {
    /// Instance name of this side's daemon.
    pub fn instance(&self) -> String {
        format!("mx-{}", self.side.letter())
    }

    /// Run `lab/SCRIPT INSTANCE ARGS...` with the case environment; stdout+stderr.
    pub fn script(&self, script: &str, args: &[&str], timeout_s: u32) -> (bool, String) {
        let mut cmd = Command::new("timeout");
        cmd.arg(timeout_s.to_string())
            .arg(self.repo.join("lab").join(script))
            .arg(self.instance())
            .args(args)
            .env("PQIKE_LAB_RUN", self.run_dir)
            .stdin(Stdio::null());
        for (k, v) in self.env.iter().chain(self.side_env.iter()) {
            cmd.env(k, v);
        }
        match cmd.output() {
            Ok(o) => (
                o.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            ),
            Err(e) => (false, format!("{script}: {e}")),
        }
    }
}

/// A side's view of the IKE SA after the exchange.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub established: bool,
    /// transform line in swanctl's format, when the implementation reports one
    pub ike: Option<String>,
    pub child_installed: bool,
    /// a PPK was mixed into the keys (pqiked's status reports it; strongSwan's is the
    /// `/PPK` suffix of `ike`)
    pub ppk: bool,
    /// the raw status output (evidence)
    pub raw: String,
}

pub trait Driver {
    /// Stable id used in scenario files and `--peer` (e.g. `strongswan-6.1.0`).
    fn id(&self) -> &'static str;
    /// Implementation and version for the matrix (e.g. `strongSwan 6.1.0-2 (sid)`).
    fn label(&self) -> String;
    /// Installed and runnable here? Err = why not.
    fn available(&self) -> Result<(), String>;
    /// Can this peer do the case in this role? Err = "not supported by peer" reason.
    fn supports(&self, case: &Case, role: Role) -> Result<(), String>;
    /// Adjust the case variables for this peer (e.g. force childless).
    fn adapt(&self, _case: &Case, _env: &mut BTreeMap<String, String>) -> Option<String> {
        None
    }
    fn configure(&self, ctx: &Ctx) -> Result<(), String>;
    fn start(&self, ctx: &Ctx) -> Result<(), String>;
    /// Initiate the IKE SA "lab"; returns the tool output (evidence).
    fn initiate(&self, ctx: &Ctx) -> String;
    /// Rekey the IKE SA and the Child SA from this side.
    fn rekey(&self, _ctx: &Ctx) -> Result<String, String> {
        Err("rekey not supported by this driver".into())
    }
    fn status(&self, ctx: &Ctx) -> Status;
    /// The daemon's log (whole run of this case).
    fn log_path(&self, ctx: &Ctx) -> PathBuf;
    fn stop(&self, ctx: &Ctx);
    /// Directory with Wireshark decryption tables the implementation wrote itself
    /// (`ikev2_decryption_table`, `esp_sa`: pqiked's `key_log`), if it does.
    fn key_log(&self, _ctx: &Ctx) -> Option<PathBuf> {
        None
    }
}

/// Every peer the lab knows, in matrix order. `bin_dir` holds the pqiked/pqike binaries of
/// the run (pqiked as its own peer: a self-consistency check, not independent interop).
pub fn all_peers(repo: &Path, bin_dir: &Path) -> Vec<Box<dyn Driver>> {
    vec![
        Box::new(strongswan::StrongSwan::host()),
        Box::new(strongswan::StrongSwan::trixie()),
        Box::new(strongswan::StrongSwan::sid()),
        Box::new(libreswan::Libreswan),
        Box::new(openiked::OpenIked),
        Box::new(pqiked::Pqiked::as_peer(repo, bin_dir.to_path_buf())),
    ]
}

/// `dpkg-query` version of a package, optionally inside a chroot.
pub fn package_version(root: &str, pkg: &str) -> Option<String> {
    let mut cmd = if root.is_empty() {
        Command::new("dpkg-query")
    } else {
        let mut c = Command::new("chroot");
        c.arg(root).arg("dpkg-query");
        c
    };
    let out = cmd
        .args(["-W", "-f=${Version}", pkg])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}
