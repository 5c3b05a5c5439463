//! OpenIKED (bookworm's `openiked` 7.2). It installs, but the portable iked talks to the
//! kernel over PF_KEY, and this kernel is built without it (CONFIG_NET_KEY): iked exits at
//! start with "pfkey_socket: failed to open PF_KEY socket". The driver checks exactly that,
//! so the cells say why, and become runnable on a kernel with PF_KEY (OpenIKED 7.2 has no
//! ML-KEM either: its only PQ group is sntrup761x25519).
use super::{package_version, Ctx, Driver, Status};
use crate::scenario::{Case, Role};
use std::path::PathBuf;

pub struct OpenIked;

fn pf_key_available() -> bool {
    // AF_KEY = 15; socket(AF_KEY, SOCK_RAW, PF_KEY_V2 = 2)
    socket2::Socket::new(
        socket2::Domain::from(15),
        socket2::Type::RAW,
        Some(socket2::Protocol::from(2)),
    )
    .is_ok()
}

impl Driver for OpenIked {
    fn id(&self) -> &'static str {
        "openiked-7.2"
    }
    fn label(&self) -> String {
        format!(
            "OpenIKED {} (bookworm)",
            package_version("", "openiked").unwrap_or_else(|| "not installed".into())
        )
    }
    fn available(&self) -> Result<(), String> {
        if !std::path::Path::new("/usr/sbin/iked").exists() {
            return Err("openiked not installed (apt-get install openiked)".into());
        }
        if !pf_key_available() {
            return Err("iked needs PF_KEY sockets; this kernel has no CONFIG_NET_KEY (iked: 'pfkey_socket: failed to open PF_KEY socket')".into());
        }
        Err(
            "iked driver not written yet: PF_KEY is available on this kernel, add lab/openiked.sh"
                .into(),
        )
    }
    fn supports(&self, case: &Case, _role: Role) -> Result<(), String> {
        if case.needs.iter().any(|n| n == "ml-kem") {
            return Err("OpenIKED 7.2 has no ML-KEM (only sntrup761x25519)".into());
        }
        Ok(())
    }
    fn configure(&self, _ctx: &Ctx) -> Result<(), String> {
        Err("not runnable".into())
    }
    fn start(&self, _ctx: &Ctx) -> Result<(), String> {
        Err("not runnable".into())
    }
    fn initiate(&self, _ctx: &Ctx) -> String {
        String::new()
    }
    fn status(&self, _ctx: &Ctx) -> Status {
        Status::default()
    }
    fn log_path(&self, ctx: &Ctx) -> PathBuf {
        ctx.run_dir
            .join("iked")
            .join(ctx.instance())
            .join("iked.log")
    }
    fn stop(&self, _ctx: &Ctx) {}
}
