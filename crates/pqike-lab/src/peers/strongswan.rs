//! strongSwan (charon + swanctl) through `lab/strongswan.sh`: the host's 5.9.8 and the
//! chroot builds 6.0.1 (trixie) and 6.1.0 (sid).
use super::{package_version, Ctx, Driver, Side, Status};
use crate::scenario::{Case, Role};
use std::path::PathBuf;

pub struct StrongSwan {
    id: &'static str,
    /// SS= value of lab/strongswan.sh
    build: &'static str,
    root: &'static str,
    /// what this build lacks: (capability, reason)
    lacks: &'static [(&'static str, &'static str)],
}

const NO_MLDSA: (&str, &str) = (
    "ml-dsa",
    "no ML-DSA: libstrongswan of this build has no ML-DSA key type",
);
const NO_SLHDSA: (&str, &str) = (
    "slh-dsa",
    "no SLH-DSA: libstrongswan of this build has no SLH-DSA key type",
);
const NO_AUTH_METHODS: (&str, &str) = (
    "auth-methods",
    "strongSwan does not implement RFC 9593 (SUPPORTED_AUTH_METHODS)",
);
const NO_PPK_INT: (&str, &str) = (
    "ppk-intermediate",
    "strongSwan implements RFC 8784 only, not RFC 9867 (PPK in IKE_INTERMEDIATE)",
);

impl StrongSwan {
    pub fn host() -> Self {
        StrongSwan {
            id: "strongswan-5.9.8",
            build: "host",
            root: "",
            lacks: &[
                (
                    "multi-ke",
                    "RFC 9370 (IKE_INTERMEDIATE key exchanges) needs strongSwan >= 6.0",
                ),
                ("ml-kem", "no ML-KEM before strongSwan 6.1"),
                NO_MLDSA,
                NO_SLHDSA,
                NO_AUTH_METHODS,
                NO_PPK_INT,
            ],
        }
    }
    pub fn trixie() -> Self {
        StrongSwan {
            id: "strongswan-6.0.1",
            build: "trixie",
            root: "/srv/pqike-lab/trixie",
            lacks: &[
                ("ml-kem", "Debian's strongSwan 6.0.1 has no ML-KEM (no `ml` plugin packaged; the openssl plugin gained ML-KEM in 6.1)"),
                NO_MLDSA,
                NO_SLHDSA,
                NO_AUTH_METHODS,
                NO_PPK_INT,
            ],
        }
    }
    pub fn sid() -> Self {
        StrongSwan {
            id: "strongswan-6.1.0",
            build: "sid",
            root: "/srv/pqike-lab/sid",
            lacks: &[NO_MLDSA, NO_SLHDSA, NO_AUTH_METHODS, NO_PPK_INT],
        }
    }

    fn swanctl(&self, ctx: &Ctx, args: &[&str], t: u32) -> (bool, String) {
        let mut a = vec!["swanctl"];
        a.extend_from_slice(args);
        ctx.script("strongswan.sh", &a, t)
    }
}

impl Driver for StrongSwan {
    fn id(&self) -> &'static str {
        self.id
    }
    fn label(&self) -> String {
        let v = package_version(self.root, "strongswan-charon").unwrap_or_else(|| "?".into());
        let build = if self.root.is_empty() {
            "bookworm"
        } else {
            self.build
        };
        format!("strongSwan {v} ({build})")
    }
    fn available(&self) -> Result<(), String> {
        let ok = if self.root.is_empty() {
            std::path::Path::new("/usr/lib/ipsec/charon").exists()
        } else {
            std::path::Path::new(self.root)
                .join(".pqike-lab-complete")
                .exists()
        };
        ok.then_some(()).ok_or_else(|| {
            format!(
                "strongSwan build '{}' not installed (scripts/setup.sh)",
                self.build
            )
        })
    }
    fn supports(&self, case: &Case, _role: Role) -> Result<(), String> {
        for need in &case.needs {
            if let Some((_, why)) = self.lacks.iter().find(|(c, _)| c == need) {
                return Err(why.to_string());
            }
        }
        Ok(())
    }
    fn configure(&self, ctx: &Ctx) -> Result<(), String> {
        let mut extra = ctx.side_env.clone();
        extra.insert("SS".into(), self.build.into());
        let mut conn = Vec::new();
        let mut secrets = Vec::new();
        let mut top = Vec::new();
        if ctx.case.ppk.is_some() {
            // RFC 8784: both sides hold the PPK (or only the peer, which then insists)
            conn.push("ppk_id = pqike-lab-ppk".to_string());
            conn.push("ppk_required = yes".to_string());
            secrets.push(
                "ppk-lab {\n            id = pqike-lab-ppk\n            secret = 0x7071696b652d6c61622d70706b2d3031323334353637383961626364656630\n        }"
                    .to_string(),
            );
        }
        if ctx.case.shape == "remote-access" {
            if ctx.side == Side::B {
                conn.push("pools = rw".into());
                top.push(format!(
                    "pools {{\n    rw {{\n        addrs = {}\n        dns = {}\n    }}\n}}",
                    super::RA_POOL,
                    super::RA_DNS
                ));
                extra.insert("REMOTE_TS".into(), "dynamic".into());
            } else {
                conn.push("vips = 0.0.0.0".into());
                extra.insert("LOCAL_TS".into(), "dynamic".into());
            }
        }
        extra.insert("CONN_EXTRA".into(), conn.join("\n        "));
        extra.insert("SECRETS_EXTRA".into(), secrets.join("\n    "));
        extra.insert("SWANCTL_EXTRA".into(), top.join("\n"));
        // level 4 logs the derived IKE keys (Sk_ei ...) and Child SA keys: the source of
        // the Wireshark decryption tables
        extra.insert("SS_LOG_IKE".into(), "4".into());
        extra.insert("SS_LOG_CHD".into(), "4".into());
        let c = Ctx {
            repo: ctx.repo,
            run_dir: ctx.run_dir,
            case: ctx.case,
            side: ctx.side,
            ns: ctx.ns.clone(),
            env: ctx.env.clone(),
            side_env: extra,
        };
        let (ok, out) = c.script("strongswan.sh", &["config", ctx.side.letter()], 30);
        ok.then_some(()).ok_or(out)
    }
    fn start(&self, ctx: &Ctx) -> Result<(), String> {
        let (ok, out) = ctx.script("strongswan.sh", &["start", &ctx.ns], 60);
        ok.then_some(()).ok_or(out)
    }
    fn initiate(&self, ctx: &Ctx) -> String {
        let mut args = vec!["--initiate", "--ike", "lab", "--timeout", "40"];
        if ctx.case.child {
            args.extend_from_slice(&["--child", "net"]);
        }
        self.swanctl(ctx, &args, 50).1
    }
    fn rekey(&self, ctx: &Ctx) -> Result<String, String> {
        let (ok1, o1) = self.swanctl(ctx, &["--rekey", "--ike", "lab"], 30);
        std::thread::sleep(std::time::Duration::from_secs(2));
        let (ok2, o2) = if ctx.case.child {
            self.swanctl(ctx, &["--rekey", "--child", "net"], 30)
        } else {
            (true, String::new())
        };
        let out = format!("$ swanctl --rekey --ike lab\n{o1}\n$ swanctl --rekey --child net\n{o2}");
        (ok1 && ok2).then_some(out.clone()).ok_or(out)
    }
    fn status(&self, ctx: &Ctx) -> Status {
        let (_, raw) = self.swanctl(ctx, &["--list-sas", "--ike", "lab"], 20);
        let established = raw
            .lines()
            .any(|l| l.starts_with("lab: #") && l.contains("ESTABLISHED"));
        let ike = raw
            .lines()
            .find(|l| {
                let t = l.trim();
                l.starts_with("  ")
                    && !l.starts_with("   ")
                    && t.contains('/')
                    && t.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_-/".contains(c))
            })
            .map(|l| l.trim().to_string());
        let child_installed = raw
            .lines()
            .any(|l| l.trim_start().starts_with("net: #") && l.contains("INSTALLED"));
        Status {
            established,
            ppk: ike.as_deref().is_some_and(|t| t.ends_with("/PPK")),
            ike,
            child_installed,
            raw,
        }
    }
    fn log_path(&self, ctx: &Ctx) -> PathBuf {
        ctx.run_dir
            .join("ss")
            .join(ctx.instance())
            .join("charon.log")
    }
    fn stop(&self, ctx: &Ctx) {
        let _ = ctx.script("strongswan.sh", &["stop"], 20);
    }
}
