//! pqiked (this project) through `lab/pqiked.sh`, controlled with `pqike`.
//!
//! Features still being built are probed in pqiked's config schema (the daemon rejects
//! unknown keys, so a key present in `config.rs` is a key it understands): a case needing
//! one that is missing becomes "not implemented in pqike yet" instead of a red cell.
use super::{Ctx, Driver, Side, Status, RA_DNS, RA_POOL};
use crate::scenario::{Case, PathKind, RekeyBy, Role};
use std::path::{Path, PathBuf};

pub struct Pqiked {
    pub bin_dir: PathBuf,
    /// crates/pqike-daemon/src/config.rs (+ the PKI command for key types), read once
    schema: String,
    /// This instance is the matrix's peer "pqiked-VERSION" (same build on the other side),
    /// not the implementation under test.
    peer: bool,
}

/// Peer id of pqiked as a matrix peer.
pub const PEER_ID: &str = concat!("pqiked-", env!("CARGO_PKG_VERSION"));

/// pqike feature -> config key that shows it is implemented.
const FEATURE_KEYS: &[(&str, &str)] = &[
    ("ppk", "ppk_id"),
    ("ppk-intermediate", "ppk_intermediate"),
    ("rekey", "rekey_time"),
    ("remote-access", "pools"),
    // ML-DSA certificates need no config key (auth = "pubkey" with an ML-DSA key): probed
    // in `pqike pki`'s key types (crates/pqike-daemon/src/pki_cmd.rs)
    ("ml-dsa", "MlDsa65"),
    ("slh-dsa", "slh-dsa-sha2-128s"),
    ("auth-methods", "announce_auth_methods"),
];

/// `rekey_by = "pqike"`: pqiked's Child SA / IKE SA rekey times (s), jitter 1 s.
pub const PQIKE_CHILD_REKEY_S: u32 = 6;
pub const PQIKE_IKE_REKEY_S: u32 = 11;

pub const PPK_ID: &str = "pqike-lab-ppk";
pub const PPK_HEX: &str = "0x7071696b652d6c61622d70706b2d3031323334353637383961626364656630";

impl Pqiked {
    pub fn new(repo: &Path, bin_dir: PathBuf) -> Self {
        let mut schema = String::new();
        for f in ["config.rs", "pki_cmd.rs"] {
            schema.push_str(
                &std::fs::read_to_string(repo.join("crates/pqike-daemon/src").join(f))
                    .unwrap_or_default(),
            );
        }
        Pqiked {
            bin_dir,
            schema,
            peer: false,
        }
    }

    /// pqiked as a peer of the matrix ("pqiked-VERSION"): the same build on the other side.
    pub fn as_peer(repo: &Path, bin_dir: PathBuf) -> Self {
        Pqiked {
            peer: true,
            ..Pqiked::new(repo, bin_dir)
        }
    }

    /// Err(reason) when pqike lacks a feature the case needs.
    pub fn implements(&self, case: &Case) -> Result<(), String> {
        for need in &case.pqike_needs {
            let key = FEATURE_KEYS
                .iter()
                .find(|(f, _)| f == need)
                .map(|(_, k)| *k)
                .unwrap_or(need.as_str());
            if !self.schema.contains(key) {
                return Err(format!("no `{key}` in pqiked's config schema"));
            }
        }
        Ok(())
    }

    fn ctl(&self, ctx: &Ctx, args: &[&str], t: u32) -> (bool, String) {
        let mut a = vec!["ctl"];
        a.extend_from_slice(args);
        ctx.script("pqiked.sh", &a, t)
    }
}

impl Driver for Pqiked {
    fn id(&self) -> &'static str {
        if self.peer {
            PEER_ID
        } else {
            "pqike"
        }
    }
    fn label(&self) -> String {
        let v = std::process::Command::new(self.bin_dir.join("pqiked"))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let git = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        format!(
            "{} (git {git}+){}",
            if v.is_empty() { "pqiked".into() } else { v },
            if self.peer {
                ", same build as pqike"
            } else {
                ""
            }
        )
    }
    fn available(&self) -> Result<(), String> {
        self.bin_dir
            .join("pqiked")
            .exists()
            .then_some(())
            .ok_or_else(|| {
                format!(
                    "no pqiked in {} (cargo build --release)",
                    self.bin_dir.display()
                )
            })
    }
    fn supports(&self, case: &Case, _role: Role) -> Result<(), String> {
        self.implements(case)?;
        if self.peer {
            // the peer capabilities that map to a pqiked feature must be implemented too
            for need in &case.needs {
                if let Some((_, key)) = FEATURE_KEYS.iter().find(|(f, _)| f == need) {
                    if !self.schema.contains(key) {
                        return Err(format!("no `{key}` in pqiked's config schema"));
                    }
                }
            }
        }
        Ok(())
    }
    fn configure(&self, ctx: &Ctx) -> Result<(), String> {
        let mut c = ctx.side_env.clone();
        c.insert(
            "PQIKED_BIN".into(),
            self.bin_dir.join("pqiked").display().to_string(),
        );
        c.insert(
            "PQIKE_BIN".into(),
            self.bin_dir.join("pqike").display().to_string(),
        );
        // Wireshark decryption tables straight from the engine (pqiked's key_log): exact SPIs,
        // every key generation, rekeyed IKE SAs and the Child SAs' ESP keys.
        let key_log = key_log_dir(ctx);
        let _ = std::fs::remove_dir_all(&key_log);
        let extra = c.get("PQIKED_EXTRA").cloned().unwrap_or_default();
        c.insert(
            "PQIKED_EXTRA".into(),
            format!("{extra}\nkey_log = \"{}\"", key_log.display()),
        );
        let mut conn: Vec<String> = Vec::new();
        let mut top = String::new();
        // the SUT holds the PPK only with ppk = "both"; a peer also with "peer-only" (and
        // then insists on it, like strongSwan's ppk_required)
        let has_ppk = match ctx.case.ppk.as_deref() {
            Some("both") => true,
            Some(_) => self.peer,
            None => false,
        };
        if has_ppk {
            conn.push(format!("ppk_id = \"{PPK_ID}\"\nppk_required = true"));
            if ctx
                .case
                .pqike_needs
                .iter()
                .chain(ctx.case.needs.iter())
                .any(|n| n == "ppk-intermediate")
            {
                conn.push("ppk_intermediate = true".into());
            }
            top.push_str(&format!(
                "\n[[secrets]]\nkind = \"ppk\"\nids = [\"{PPK_ID}\"]\nsecret = \"{PPK_HEX}\""
            ));
        }
        let needs = |f: &str| {
            ctx.case
                .pqike_needs
                .iter()
                .chain(ctx.case.needs.iter())
                .any(|n| n == f)
        };
        if needs("auth-methods") {
            // RFC 9593: SUPPORTED_AUTH_METHODS in IKE_SA_INIT / IKE_INTERMEDIATE / IKE_AUTH
            conn.push("announce_auth_methods = true".into());
        }
        if ctx.case.shape == "remote-access" {
            // docs/config.md "Remote access": side b serves a pool, side a asks for any IPv4
            // address and offers 0.0.0.0/0 for the server to narrow to that address
            if ctx.side == Side::B {
                conn.push("pools = [\"ra\"]".into());
                top.push_str(&format!(
                    "\n[[pools]]\nname = \"ra\"\naddrs = \"{RA_POOL}\"\ndns = [\"{RA_DNS}\"]"
                ));
                c.insert("PQIKED_REMOTE_TS".into(), RA_POOL.into());
            } else {
                conn.push("vips = [\"0.0.0.0\"]".into());
                c.insert("PQIKED_LOCAL_TS".into(), "0.0.0.0/0".into());
            }
        }
        // the side that drives the rekeys gets short lifetimes: the SUT for rekey_by = "pqike",
        // a pqiked peer for rekey_by = "peer" (`pqike` has no rekey command, so its rekeys
        // come from the same lifetimes; see rekey())
        let drives_rekeys = match ctx.case.rekey_by {
            RekeyBy::Pqike => !self.peer,
            RekeyBy::Peer => self.peer,
        };
        if drives_rekeys && ctx.case.path == PathKind::Rekey {
            // pqiked drives the rekeys: short lifetimes, as tests/interop/cases/lifecycle.sh
            conn.push(format!(
                "child_rekey_time = {PQIKE_CHILD_REKEY_S}\nrekey_time = {PQIKE_IKE_REKEY_S}\nrand_time = 1"
            ));
        }
        if !conn.is_empty() {
            c.insert("PQIKED_CONN_EXTRA".into(), conn.join("\n"));
        }
        if !top.is_empty() {
            c.insert("PQIKED_SECRETS_EXTRA".into(), top);
        }
        let ctx2 = Ctx {
            side_env: c,
            env: ctx.env.clone(),
            ns: ctx.ns.clone(),
            ..*ctx
        };
        let (ok, out) = ctx2.script("pqiked.sh", &["config", ctx.side.letter()], 30);
        ok.then_some(()).ok_or(out)
    }
    fn start(&self, ctx: &Ctx) -> Result<(), String> {
        let (ok, out) = self
            .with_bins(ctx)
            .script("pqiked.sh", &["start", &ctx.ns], 30);
        ok.then_some(()).ok_or(out)
    }
    fn initiate(&self, ctx: &Ctx) -> String {
        self.ctl(&self.with_bins(ctx), &["up", "lab", "--timeout", "40"], 50)
            .1
    }
    /// pqiked as the peer with rekey_by = "peer": there is no rekey command, so configure()
    /// gave this side the short lifetimes; wait for its own log to show 1 IKE SA rekey and
    /// 2 Child SA rekeys (the run loop then checks who sent the CREATE_CHILD_SA requests).
    fn rekey(&self, ctx: &Ctx) -> Result<String, String> {
        if !self.peer {
            return Err("pqike has no rekey command".into());
        }
        let log = self.log_path(ctx);
        let t0 = std::time::Instant::now();
        let counts =
            || crate::run::rekey_counts(&std::fs::read_to_string(&log).unwrap_or_default());
        while t0.elapsed() < std::time::Duration::from_secs(40) {
            let (ike, child) = counts();
            if ike >= 1 && child >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        let (ike, child) = counts();
        let out = format!(
            "(no `pqike rekey` command: rekeys from child_rekey_time {PQIKE_CHILD_REKEY_S} s, rekey_time {PQIKE_IKE_REKEY_S} s) after {:.1} s: {ike} IKE SA rekeys, {child} Child SA installs in {}'s log\n",
            t0.elapsed().as_secs_f64(),
            self.id()
        );
        (ike >= 1 && child >= 3).then_some(out.clone()).ok_or(out)
    }
    fn status(&self, ctx: &Ctx) -> Status {
        let (_, raw) = self.ctl(&self.with_bins(ctx), &["status", "--json"], 15);
        let mut st = Status {
            raw: raw.clone(),
            ..Status::default()
        };
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(raw.trim()) else {
            return st;
        };
        let sas = doc["ike_sas"].as_array().cloned().unwrap_or_default();
        if let Some(sa) = sas.iter().find(|sa| {
            sa["name"] == "lab"
                && sa["state"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case("established"))
        }) {
            st.established = true;
            let t = &sa["transforms"];
            let mut parts = vec![t["encr"].as_str().unwrap_or("").to_string()];
            if let Some(i) = t["integ"].as_str().filter(|s| !s.is_empty()) {
                parts.push(i.to_string());
            }
            parts.push(t["prf"].as_str().unwrap_or("").to_string());
            for (i, k) in t["ke"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let k = k.as_str().unwrap_or("");
                parts.push(if i == 0 {
                    k.to_string()
                } else {
                    format!("KE{i}_{k}")
                });
            }
            st.ike = Some(parts.join("/"));
            st.child_installed = sa["child_sas"].as_array().is_some_and(|c| !c.is_empty());
            st.ppk = !t["ppk"].is_null();
        }
        st
    }
    fn log_path(&self, ctx: &Ctx) -> PathBuf {
        ctx.run_dir
            .join("pqiked")
            .join(ctx.instance())
            .join("pqiked.log")
    }
    fn stop(&self, ctx: &Ctx) {
        let _ = self.with_bins(ctx).script("pqiked.sh", &["stop"], 20);
    }
    fn key_log(&self, ctx: &Ctx) -> Option<PathBuf> {
        Some(key_log_dir(ctx))
    }
}

impl Pqiked {
    fn with_bins<'a>(&self, ctx: &Ctx<'a>) -> Ctx<'a> {
        let mut c = ctx.side_env.clone();
        c.insert(
            "PQIKED_BIN".into(),
            self.bin_dir.join("pqiked").display().to_string(),
        );
        c.insert(
            "PQIKE_BIN".into(),
            self.bin_dir.join("pqike").display().to_string(),
        );
        Ctx {
            side_env: c,
            env: ctx.env.clone(),
            ns: ctx.ns.clone(),
            ..*ctx
        }
    }
}

/// pqiked's `key_log` directory of this instance (`ikev2_decryption_table`, `esp_sa`).
fn key_log_dir(ctx: &Ctx) -> PathBuf {
    ctx.run_dir
        .join("pqiked")
        .join(ctx.instance())
        .join("keylog")
}
