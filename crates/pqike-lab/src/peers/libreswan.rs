//! libreswan 5.2 (pluto from the trixie-libreswan chroot) through `lab/libreswan.sh`.
//!
//! This kernel has no ESP and pluto has no userspace data path, so every Child SA fails
//! to install: the driver runs each case childless (RFC 6023), which libreswan accepts
//! only as responder (it cannot initiate a childless IKE SA). PSK only in the lab driver.
use super::{package_version, Ctx, Driver, Status};
use crate::scenario::{Case, Role};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Libreswan;

const ROOT: &str = "/srv/pqike-lab/trixie-libreswan";

/// strongSwan proposal -> libreswan `ike=` (single proposal, single KE).
pub fn ike_line(proposal: &str) -> Result<String, String> {
    let (mut enc, mut prf, mut dh) = (None, None, None);
    for tok in proposal.split(',').next().unwrap_or("").split('-') {
        match tok {
            "aes256gcm16" => enc = Some("aes_gcm256"),
            "aes128gcm16" => enc = Some("aes_gcm128"),
            "aes256" => enc = Some("aes256"),
            "aes128" => enc = Some("aes128"),
            "prfsha256" | "sha256" => prf = Some("sha2_256"),
            "prfsha384" | "sha384" => prf = Some("sha2_384"),
            "prfsha512" | "sha512" => prf = Some("sha2_512"),
            "x25519" | "curve25519" => dh = Some("dh31"),
            "ecp256" => dh = Some("dh19"),
            "ecp384" => dh = Some("dh20"),
            "ecp521" => dh = Some("dh21"),
            "modp2048" => dh = Some("dh14"),
            "modp3072" => dh = Some("dh15"),
            t if t.starts_with("ke") => {
                return Err(format!(
                    "libreswan 5.2 has no RFC 9370 additional key exchange ({t})"
                ))
            }
            t => return Err(format!("no libreswan equivalent for '{t}'")),
        }
    }
    match (enc, prf, dh) {
        (Some(e), Some(p), Some(d)) => Ok(format!("{e}-{p};{d}")),
        _ => Err(format!("incomplete proposal {proposal}")),
    }
}

/// pluto's "{cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_384 group=DH31}" -> swanctl line.
pub fn transforms_from_log(log: &str) -> Option<String> {
    let line = log.lines().rev().find(|l| l.contains("{cipher="))?;
    let inner = line.split('{').nth(1)?.split('}').next()?;
    let mut parts = Vec::new();
    for kv in inner.split_whitespace() {
        let (k, v) = kv.split_once('=')?;
        let mapped = match (k, v) {
            ("cipher", v) => v
                .replacen("_16_", "_16-", 1)
                .replacen("AES_CBC_", "AES_CBC-", 1),
            ("integ", "n/a") => continue,
            ("integ", v) => v.to_string(),
            ("prf", v) => format!("PRF_{v}"),
            // pluto's DHn is key exchange method n
            ("group", g) => match g.strip_prefix("DH").and_then(|n| n.parse().ok()) {
                Some(id) => pqike_wire::algorithms::ke_name(pqike_wire::KeMethod(id)),
                None => g.to_string(),
            },
            (_, v) => v.to_string(),
        };
        parts.push(mapped);
    }
    Some(parts.join("/"))
}

impl Driver for Libreswan {
    fn id(&self) -> &'static str {
        "libreswan-5.2"
    }
    fn label(&self) -> String {
        format!(
            "libreswan {} (trixie)",
            package_version(ROOT, "libreswan").unwrap_or_else(|| "?".into())
        )
    }
    fn available(&self) -> Result<(), String> {
        std::path::Path::new(ROOT)
            .join(".pqike-lab-complete")
            .exists()
            .then_some(())
            .ok_or_else(|| "libreswan chroot not set up (scripts/setup.sh)".into())
    }
    fn supports(&self, case: &Case, role: Role) -> Result<(), String> {
        if role == Role::PqikeResp {
            return Err("pluto cannot initiate a childless IKE SA, and its Child SAs cannot be installed here (no kernel ESP)".into());
        }
        if case.auth != "psk" {
            return Err(
                "lab driver for libreswan is PSK-only (certificates would need an NSS import)"
                    .into(),
            );
        }
        if case.shape == "remote-access" {
            return Err(
                "remote access needs a Child SA (CP in IKE_AUTH), which cannot be installed here"
                    .into(),
            );
        }
        for need in &case.needs {
            match need.as_str() {
                "ml-kem" => return Err("libreswan 5.2 has no ML-KEM".into()),
                "multi-ke" => {
                    return Err("libreswan 5.2 has no RFC 9370 additional key exchanges".into())
                }
                "rekey" => {
                    return Err(
                        "Child SA rekey needs an installed Child SA (no kernel ESP here)".into(),
                    )
                }
                "traffic" => {
                    return Err(
                        "ESP traffic needs an installed Child SA (no kernel ESP here)".into(),
                    )
                }
                "ml-dsa" => return Err("libreswan 5.2 has no ML-DSA".into()),
                "ppk-intermediate" => {
                    return Err(
                        "libreswan 5.2 implements only the pre-RFC 9867 draft numbers".into(),
                    )
                }
                _ => {}
            }
        }
        ike_line(&case.proposals).map(|_| ())
    }
    fn adapt(&self, _case: &Case, env: &mut BTreeMap<String, String>) -> Option<String> {
        env.insert("CHILD".into(), "none".into());
        env.insert("CHILDLESS".into(), "force".into());
        Some("run childless: Child SAs cannot be installed with libreswan here".into())
    }
    fn configure(&self, ctx: &Ctx) -> Result<(), String> {
        let mut c = ctx.side_env.clone();
        c.insert("LS_IKE".into(), ike_line(&ctx.case.proposals)?);
        if ctx.case.ppk.is_some() {
            c.insert(
                "LS_EXTRA".into(),
                "\tppk=insist\n\tppk-ids=pqike-lab-ppk".into(),
            );
            c.insert(
                "LS_SECRETS_EXTRA".into(),
                format!(
                    "@a.example @b.example : PPKS \"pqike-lab-ppk\" {}",
                    super::pqiked::PPK_HEX
                ),
            );
        }
        let ctx2 = Ctx {
            side_env: c,
            env: ctx.env.clone(),
            ns: ctx.ns.clone(),
            ..*ctx
        };
        let (ok, out) = ctx2.script("libreswan.sh", &["config", ctx.side.letter()], 30);
        ok.then_some(()).ok_or(out)
    }
    fn start(&self, ctx: &Ctx) -> Result<(), String> {
        let (ok, out) = ctx.script("libreswan.sh", &["start", &ctx.ns], 60);
        ok.then_some(()).ok_or(out)
    }
    fn initiate(&self, ctx: &Ctx) -> String {
        ctx.script(
            "libreswan.sh",
            &["whack", "--initiate", "--name", "lab"],
            50,
        )
        .1
    }
    fn status(&self, ctx: &Ctx) -> Status {
        let (_, raw) = ctx.script("libreswan.sh", &["whack", "--showstates"], 15);
        let log = std::fs::read_to_string(self.log_path(ctx)).unwrap_or_default();
        Status {
            established: raw.contains("ESTABLISHED_IKE_SA"),
            ike: transforms_from_log(&log),
            child_installed: raw.contains("ESTABLISHED_CHILD_SA"),
            raw,
            ..Status::default()
        }
    }
    fn log_path(&self, ctx: &Ctx) -> PathBuf {
        ctx.run_dir
            .join("ls")
            .join(ctx.instance())
            .join("pluto.log")
    }
    fn stop(&self, ctx: &Ctx) {
        let _ = ctx.script("libreswan.sh", &["stop"], 20);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposal_translation() {
        assert_eq!(
            ike_line("aes256gcm16-prfsha384-x25519").unwrap(),
            "aes_gcm256-sha2_384;dh31"
        );
        assert!(ike_line("aes256gcm16-prfsha384-x25519-ke1_mlkem768").is_err());
    }

    #[test]
    fn pluto_transform_line() {
        let log = "x responder established IKE SA {cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_384 group=DH31}";
        assert_eq!(
            transforms_from_log(log).unwrap(),
            "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519"
        );
    }
}
