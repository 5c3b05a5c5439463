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
    /// crates/pqike-daemon/src/config.rs, read once
    schema: String,
}

/// pqike feature -> config key that shows it is implemented.
const FEATURE_KEYS: &[(&str, &str)] = &[
    ("ppk", "ppk_id"),
    ("ppk-intermediate", "ppk_intermediate"),
    ("rekey", "rekey_time"),
    ("remote-access", "pools"),
    ("ml-dsa", "ml_dsa"),
];

/// `rekey_by = "pqike"`: pqiked's Child SA / IKE SA rekey times (s), jitter 1 s.
pub const PQIKE_CHILD_REKEY_S: u32 = 6;
pub const PQIKE_IKE_REKEY_S: u32 = 11;

pub const PPK_ID: &str = "pqike-lab-ppk";
pub const PPK_HEX: &str = "0x7071696b652d6c61622d70706b2d3031323334353637383961626364656630";

impl Pqiked {
    pub fn new(repo: &Path, bin_dir: PathBuf) -> Self {
        let schema = std::fs::read_to_string(repo.join("crates/pqike-daemon/src/config.rs"))
            .unwrap_or_default();
        Pqiked { bin_dir, schema }
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
        "pqike"
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
            "{} (git {git}+)",
            if v.is_empty() { "pqiked".into() } else { v }
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
        self.implements(case)
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
        if ctx.case.ppk.as_deref() == Some("both") {
            conn.push(format!("ppk_id = \"{PPK_ID}\"\nppk_required = true"));
            if ctx.case.pqike_needs.iter().any(|n| n == "ppk-intermediate") {
                conn.push("ppk_intermediate = true".into());
            }
            top.push_str(&format!(
                "\n[[secrets]]\nkind = \"ppk\"\nids = [\"{PPK_ID}\"]\nsecret = \"{PPK_HEX}\""
            ));
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
        if ctx.case.path == PathKind::Rekey && ctx.case.rekey_by == RekeyBy::Pqike {
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
