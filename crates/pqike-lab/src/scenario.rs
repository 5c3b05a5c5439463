//! Scenario files (`interop/*.toml`): one file per scenario set, one `[[case]]` per
//! shape x mechanism x algorithm set x path condition. Each case runs against every
//! selected peer in both pqike roles, unless it narrows `peers` / `roles`.
//!
//! ```toml
//! [set]
//! name = "pq-kem"
//! description = "ML-KEM in IKE_SA_INIT and in IKE_INTERMEDIATE (RFC 9370)"
//!
//! [[case]]
//! id = "s2s-x25519-mlkem768"
//! shape = "site-to-site"            # site-to-site | host-to-host | remote-access
//! mechanism = "RFC 9370 multi-KE"
//! algorithms = "X25519 + ML-KEM-768"
//! proposals = "aes256gcm16-prfsha384-x25519-ke1_mlkem768"
//! path = "plain"                    # plain | fragmentation | loss | nat | rekey
//! rekey_by = "peer"                 # rekey path: peer (swanctl --rekey) | pqike (lifetimes)
//! traffic = false                   # ping through the tunnel (ESP in the trace)
//! needs = ["multi-ke", "ml-kem"]    # peer capabilities (see peers::Capability)
//! ci = true                         # part of the CI subset
//! ```
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub set: SetInfo,
    #[serde(rename = "case")]
    pub cases: Vec<Case>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct SetInfo {
    pub name: String,
    /// shown in the matrix's list of scenario sets
    #[serde(default)]
    pub description: String,
}

/// What the case is expected to end in.
#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Both sides hold an established IKE SA (and the Child SA unless `child = false`).
    #[default]
    Established,
    /// No SA; the diagnosed failure reason must match `expect_reason`.
    Fail,
}

#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    #[default]
    Plain,
    /// MTU-limited link (1280) and a message larger than it: RFC 7383 fragments.
    Fragmentation,
    /// Userspace impairment stage: `loss` (default 5 %), delay/jitter, duplicates.
    Loss,
    /// Initiator behind a masquerading NAT (RFC 7296 §2.23).
    Nat,
    /// Established, then the IKE SA and the Child SA are rekeyed (CREATE_CHILD_SA): by the
    /// peer on command, or by pqiked from short lifetimes (`rekey_by`).
    Rekey,
}

/// Who drives the rekeys of a `path = "rekey"` case.
#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RekeyBy {
    /// `swanctl --rekey --ike` / `--child` on the peer
    #[default]
    Peer,
    /// pqiked's own lifetimes (`child_rekey_time`, `rekey_time`, `rand_time`)
    Pqike,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    pub shape: String,
    pub mechanism: String,
    pub algorithms: String,
    /// IKE proposals (strongSwan syntax) of both sides.
    pub proposals: String,
    /// pqike's proposals when they differ (no-proposal cases).
    #[serde(default)]
    pub pqike_proposals: Option<String>,
    #[serde(default = "default_esp")]
    pub esp: String,
    /// psk | ecdsa | rsa (the latter two: certificate chains from lab/pki.sh)
    #[serde(default = "default_auth")]
    pub auth: String,
    /// Negotiate a Child SA in IKE_AUTH (false: childless IKE SA, RFC 6023).
    #[serde(default = "yes")]
    pub child: bool,
    #[serde(default)]
    pub path: PathKind,
    /// `path = "rekey"`: who rekeys (default the peer).
    #[serde(default)]
    pub rekey_by: RekeyBy,
    /// After establishment, ping 198.51.100.1 -> 203.0.113.1 through the tunnel (ESP on
    /// the wire, decrypted in the trace with pqiked's `esp_sa`).
    #[serde(default)]
    pub traffic: bool,
    /// loss probability for `path = "loss"`
    #[serde(default)]
    pub loss: Option<f64>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub expect: Expect,
    /// Extended regex the diagnosed failure reason must match (expect = "fail").
    #[serde(default)]
    pub expect_reason: Option<String>,
    /// The peer's PSK differs from pqike's (wrong-PSK diagnostics).
    #[serde(default)]
    pub wrong_psk: bool,
    /// RFC 8784 PPK: "both" | "peer-only" (peer requires a PPK pqike does not have)
    #[serde(default)]
    pub ppk: Option<String>,
    /// Peer capabilities the case needs.
    #[serde(default)]
    pub needs: Vec<String>,
    /// pqike features the case needs (probed in pqike's config schema).
    #[serde(default)]
    pub pqike_needs: Vec<String>,
    /// Peer ids to run against (default: all).
    #[serde(default)]
    pub peers: Option<Vec<String>>,
    /// pqike-init / pqike-resp (default both).
    #[serde(default)]
    pub roles: Option<Vec<Role>>,
    /// Part of the small CI subset.
    #[serde(default)]
    pub ci: bool,
    /// Exact IKE transform line expected (default: derived from `proposals`).
    #[serde(default)]
    pub want_ike: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

fn default_esp() -> String {
    "aes256gcm16".into()
}
fn default_auth() -> String {
    "psk".into()
}
fn yes() -> bool {
    true
}

#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// pqike initiates (left side, behind the NAT in NAT cases).
    PqikeInit,
    /// the peer initiates, pqike responds.
    PqikeResp,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PqikeInit => "pqike-init",
            Role::PqikeResp => "pqike-resp",
        }
    }
}

impl Case {
    pub fn roles(&self) -> Vec<Role> {
        self.roles
            .clone()
            .unwrap_or_else(|| vec![Role::PqikeInit, Role::PqikeResp])
    }

    /// The transform line both sides must report, e.g.
    /// `AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768` (swanctl's format).
    pub fn want_ike(&self) -> String {
        if let Some(w) = &self.want_ike {
            return w.clone();
        }
        let first = self.proposals.split(',').next().unwrap_or("");
        first
            .split('-')
            .map(|tok| {
                if let Some((ke, alg)) = tok.split_once('_').filter(|(k, _)| k.starts_with("ke")) {
                    format!("{}_{}", ke.to_uppercase(), transform_name(alg))
                } else {
                    transform_name(tok)
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// strongSwan proposal keyword -> the name swanctl/pqike print (the algorithm table's);
/// an unknown keyword is upper-cased.
pub fn transform_name(tok: &str) -> String {
    pqike_wire::algorithms::by_keyword(tok).map_or_else(|| tok.to_uppercase(), |a| a.display())
}

/// Load every `*.toml` in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<ScenarioFile>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let f: ScenarioFile =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            for c in &f.cases {
                if c.expect == Expect::Fail && c.expect_reason.is_none() {
                    return Err(format!(
                        "{}: case {} expects failure but has no expect_reason",
                        p.display(),
                        c.id
                    ));
                }
            }
            Ok(f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(toml_text: &str) -> Case {
        let f: ScenarioFile = toml::from_str(toml_text).unwrap();
        f.cases.into_iter().next().unwrap()
    }

    #[test]
    fn want_ike_follows_proposal_syntax() {
        let c = case(
            r#"[set]
name = "t"
[[case]]
id = "a"
shape = "site-to-site"
mechanism = "m"
algorithms = "x"
proposals = "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_ecp384"
"#,
        );
        assert_eq!(
            c.want_ike(),
            "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768/KE2_ECP_384"
        );
        assert_eq!(c.roles(), vec![Role::PqikeInit, Role::PqikeResp]);
        assert_eq!(transform_name("aes128"), "AES_CBC-128");
        assert_eq!(transform_name("sha256"), "HMAC_SHA2_256_128");
        assert_eq!(transform_name("curve25519"), "CURVE_25519");
        assert_eq!(transform_name("bogus"), "BOGUS");
        assert_eq!(c.path, PathKind::Plain);
        assert!(c.child);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let r: Result<ScenarioFile, _> = toml::from_str(
            "[set]\nname = \"t\"\n[[case]]\nid = \"a\"\nshape = \"s\"\nmechanism = \"m\"\nalgorithms = \"x\"\nproposals = \"p\"\nproposal = \"typo\"\n",
        );
        assert!(r.is_err());
    }

    #[test]
    fn shipped_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop");
        let sets = load_dir(&dir).unwrap();
        assert!(!sets.is_empty());
        let mut ids = std::collections::HashSet::new();
        for s in &sets {
            for c in &s.cases {
                assert!(
                    ids.insert(format!("{}/{}", s.set.name, c.id)),
                    "duplicate {}",
                    c.id
                );
            }
        }
    }
}
