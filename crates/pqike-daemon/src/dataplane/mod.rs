//! # The data plane: carrying IP traffic through the Child SAs the engine negotiates
//!
//! Backends (config `[daemon] dataplane`):
//! * `userspace` (default): ESP in this process with [`pqike_esp::DataPlane`] over a TUN
//!   device, for kernels without ESP (containers, this lab). See below.
//! * `xfrm`: SAs and policies in the kernel via netlink ([`xfrm`]); for hosts whose kernel
//!   has ESP.
//! * `none`: negotiate only (Child SA events are logged).
//!
//! ## Userspace model
//! The daemon's event loop calls [`Dataplane::install`] / [`Dataplane::remove`] for the
//! engine's `InstallChildSa` / `RemoveChildSa` events and [`Dataplane::tick`] once a second
//! (expiry events back to the engine, NAT keepalives). Packets never touch the event loop:
//! * outbound thread per TUN queue ([`tun`]): TUN read (GSO super-packets split per MSS, each
//!   segment behind ESP headroom) -> `encapsulate_in_place` -> one UDP GSO `sendmsg` gathering
//!   a run of equal-sized ESP packets, or raw ESP;
//! * inbound thread per NAT-T socket and per raw ESP socket ([`io`]): GRO read -> RFC 3948
//!   classification (IKE to the engine's channel, keepalives dropped, ESP) -> `decapsulate`
//!   in place -> consecutive TCP segments of a flow merged into one TUN write gathered from
//!   where they were decrypted (`gro`), everything else one write each.
//!
//! No packet is copied in userspace on either path. The NAT-T sockets are not registered
//! with the tokio reactor (see `net::Sockets::hand_over`): ESP sends on them would wake it.
//!
//! One [`pqike_esp::DataPlane`] behind a mutex is shared by all threads; each thread takes it
//! per packet, so that another thread never waits longer than one packet's encryption (within
//! the mutex's spinning rather than asleep). Routes for the remote traffic
//! selectors point into the TUN with a local address inside the local selectors as `src`
//! ([`routes`]), installed with the first SA that needs them and removed with the last.
//!
//! Trap policies ([`trap`]) route their remote selectors into the TUN too; a packet there that
//! no Child SA carries becomes an [`trap::Acquire`] for the event loop
//! ([`Dataplane::take_acquires`]). A remote-access client's virtual IPs
//! ([`Dataplane::add_vip`]) go on the TUN device and become the `src` of its connection's
//! routes.
mod gro;
pub mod io;
pub mod routes;
pub mod trap;
pub mod tun;
pub mod xfrm;

use pqike_esp::{ActivationCause, DataPlane, ExpiryKind, SaParams};
use pqike_proto::{ChildSaKeys, EspNotice, VirtualIp};
use pqike_wire::TrafficSelector;
use routes::{range_to_cidrs, Cidr, HostRoutes, Routes};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Which data plane the daemon drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// Negotiate only.
    None,
    /// Userspace ESP over TUN.
    #[default]
    Userspace,
    /// Kernel XFRM via netlink.
    Xfrm,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "none" => Ok(Backend::None),
            "userspace" => Ok(Backend::Userspace),
            "xfrm" => Ok(Backend::Xfrm),
            _ => Err(format!(
                "unknown dataplane `{s}` (expected \"userspace\", \"xfrm\" or \"none\")"
            )),
        }
    }
}

/// Data-plane settings (`[daemon]` keys `dataplane`, `tun_name`, `tun_mtu`, `tun_queues`,
/// `route_table`, `raw_esp`, `replay_window`).
#[derive(Clone, Debug)]
pub struct DataplaneConfig {
    /// Backend.
    pub backend: Backend,
    /// TUN device name.
    pub tun_name: String,
    /// TUN MTU: 1500 minus outer IP, UDP and the largest ESP overhead, like strongSwan's
    /// kernel-libipsec default of 1400.
    pub tun_mtu: u16,
    /// TUN queues, one outbound thread each.
    pub tun_queues: usize,
    /// Routing table for the TS routes (0 = main).
    pub route_table: u32,
    /// Open raw IP-protocol-50 sockets for SAs without UDP encapsulation.
    pub raw_esp: bool,
    /// Send ESP-in-UDP to the peer's port 4500 even when no NAT was detected. Not negotiated
    /// (the IKE exchange still says "no NAT"): only for peers that, like pqiked, accept
    /// ESP-in-UDP on every SA. It buys UDP GSO/GRO batching on pqiked-to-pqiked links.
    pub force_udp_encap: bool,
    /// Our NAT-T port (source of forced ESP-in-UDP).
    pub nat_port: u16,
    /// Anti-replay window (packets).
    pub replay_window: u32,
    /// NAT keepalive interval (RFC 3948 §2.3; 20 s like strongSwan).
    pub keepalive: Duration,
    /// Volume limits of the Child SAs by connection name (`child_rekey_bytes`,
    /// `child_life_bytes`): (soft, hard) octets; the soft one makes the engine rekey.
    pub child_bytes: HashMap<String, (u64, u64)>,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            backend: Backend::Userspace,
            tun_name: "pqike0".into(),
            tun_mtu: 1400,
            tun_queues: 1,
            route_table: 0,
            raw_esp: true,
            force_udp_encap: false,
            nat_port: 4500,
            replay_window: pqike_esp::replay::DEFAULT_WINDOW,
            keepalive: Duration::from_secs(20),
            child_bytes: HashMap::new(),
        }
    }
}

/// What the packet threads share.
pub(crate) struct Shared {
    dp: Mutex<DataPlane>,
    tun: OnceLock<Arc<tun_rs::SyncDevice>>,
    sockets: io::Sockets,
    /// Armed trap policies: checked by the outbound threads for packets no SA carries.
    traps: Mutex<trap::Traps>,
    /// Acquires for the event loop.
    acquire: tokio::sync::mpsc::UnboundedSender<trap::Acquire>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, DataPlane> {
        // A panicking packet thread leaves consistent SA state behind (every update is
        // complete before the next packet), so a poisoned lock is still usable.
        self.dp.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn traps(&self) -> MutexGuard<'_, trap::Traps> {
        // Same reasoning as for `lock`.
        self.traps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Per-SA bookkeeping outside the ESP core.
struct SaMeta {
    routes: Vec<Cidr>,
    /// Transport mode: the peer whose traffic [`HostRoutes`] sends into the TUN, and the
    /// ports exempted from that.
    host_route: Option<(IpAddr, Vec<u16>)>,
    udp_encap: bool,
    local: SocketAddr,
    remote: SocketAddr,
}

/// Per-SA traffic counters for `pqike status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Inner octets received.
    pub bytes_in: u64,
    /// Inner octets sent.
    pub bytes_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Inbound packets dropped (replay, ICV, padding, next header, selector mismatch).
    pub drops: u64,
}

/// The daemon's data plane.
pub struct Dataplane {
    cfg: DataplaneConfig,
    user: Option<Userspace>,
    /// Kernel backend: the netlink socket and the last reqid handed out.
    xfrm: Option<xfrm::XfrmSocket>,
    reqid: u32,
    /// Kernel backend: what each Child SA (by inbound SPI) installed, for its removal.
    xfrm_sas: HashMap<u32, XfrmSa>,
    /// Acquires from the trap policies, until the event loop takes the receiver.
    acquire_rx: Option<tokio::sync::mpsc::UnboundedReceiver<trap::Acquire>>,
}

/// A policy selector pair and direction, as installed with `XFRM_MSG_NEWPOLICY`.
type XfrmPolicy = ((IpAddr, u8), (IpAddr, u8), xfrm::Dir);

/// What the kernel backend installed for one Child SA.
struct XfrmSa {
    local: IpAddr,
    remote: IpAddr,
    spi_out: u32,
    policies: Vec<XfrmPolicy>,
}

struct Userspace {
    shared: Arc<Shared>,
    tun_failed: bool,
    routes: Routes,
    hosts: HostRoutes,
    sas: HashMap<u32, SaMeta>,
    /// Retired SAs (inbound SPI) and when they go for good ([`RETIRE_GRACE`]).
    retiring: Vec<(u32, Instant)>,
    last_keepalive: Instant,
    /// Virtual IPs on the TUN device, by connection (one entry per assignment: two IKE SAs of
    /// a connection may hold the same address during a reauthentication).
    vips: Vec<(String, VirtualIp)>,
    /// Routes of the armed traps, by (connection, child).
    trap_routes: HashMap<(String, String), Vec<Cidr>>,
}

/// How long a removed Child SA still decapsulates: ESP the peer sent on it just before it
/// switched to the new SA may arrive after the Delete exchange (libipsec encrypts in worker
/// threads, IKE and ESP can travel different sockets). strongSwan keeps rekeyed inbound SAs
/// for `delete_rekeyed_delay` (5 s) for the same reason. Outbound stops at once.
const RETIRE_GRACE: Duration = Duration::from_secs(2);

impl Dataplane {
    /// A data plane per `cfg`. For `userspace`, `nat_sockets` are duplicates of the daemon's
    /// NAT-T sockets (their receive side then belongs to the data plane: IKE datagrams are
    /// forwarded to `ike`).
    pub fn new(
        cfg: DataplaneConfig,
        nat_sockets: Vec<(SocketAddr, OwnedFd)>,
        ike: tokio::sync::mpsc::Sender<crate::net::Datagram>,
    ) -> Dataplane {
        let (acquire, acquire_rx) = tokio::sync::mpsc::unbounded_channel();
        let user = (cfg.backend == Backend::Userspace).then(|| {
            let shared = Arc::new(Shared {
                dp: Mutex::new(DataPlane::with_ciphers(
                    crate::crypto::provider().esp_ciphers.clone(),
                )),
                tun: OnceLock::new(),
                sockets: io::Sockets::new(nat_sockets, cfg.raw_esp),
                traps: Mutex::new(trap::Traps::default()),
                acquire,
            });
            io::spawn_receivers(&shared, ike);
            Userspace {
                shared,
                tun_failed: false,
                routes: Routes::new(cfg.route_table),
                hosts: HostRoutes::default(),
                sas: HashMap::new(),
                retiring: Vec::new(),
                last_keepalive: Instant::now(),
                vips: Vec::new(),
                trap_routes: HashMap::new(),
            }
        });
        Dataplane {
            cfg,
            user,
            xfrm: None,
            reqid: 0,
            xfrm_sas: HashMap::new(),
            acquire_rx: Some(acquire_rx),
        }
    }

    /// A data plane that does nothing (the engine only negotiates).
    pub fn none() -> Dataplane {
        Dataplane {
            cfg: DataplaneConfig {
                backend: Backend::None,
                ..Default::default()
            },
            user: None,
            xfrm: None,
            reqid: 0,
            xfrm_sas: HashMap::new(),
            acquire_rx: None,
        }
    }

    /// The acquires of the trap policies ([`trap`]), for the event loop to hand to
    /// `Endpoint::handle_acquire`. `None` after the first call, and for [`Dataplane::none`].
    /// Without a userspace data plane nothing is ever sent on it.
    pub fn take_acquires(&mut self) -> Option<tokio::sync::mpsc::UnboundedReceiver<trap::Acquire>> {
        self.acquire_rx.take()
    }

    /// Packets dropped because they hit a trap before its Child SA existed, and acquires sent.
    pub fn trap_counters(&self) -> (u64, u64) {
        self.user.as_ref().map_or((0, 0), |u| {
            let t = u.shared.traps();
            (t.drops, t.acquires)
        })
    }

    /// Arm a trap policy (engine event `InstallTrap`): route the remote selectors into the TUN
    /// and report traffic for them that no Child SA carries. `exclude`: the connection's peer
    /// addresses, never routed into the tunnel (our IKE to them would loop into the trap).
    pub fn install_trap(
        &mut self,
        connection: &str,
        child: &str,
        local_ts: &[TrafficSelector],
        remote_ts: &[TrafficSelector],
        exclude: &[IpAddr],
    ) {
        let Some(u) = self.user.as_mut() else {
            // XFRM would need a policy without SA plus the kernel's ACQUIRE messages.
            warn!(
                "trap policy for {connection}/{child} not installed: needs dataplane = \"userspace\""
            );
            return;
        };
        if !Self::ensure_tun(u, &self.cfg) {
            warn!("trap policy for {connection}/{child} not installed: no TUN device");
            return;
        }
        let key = (connection.to_string(), child.to_string());
        // A re-arm (close_action after start_action = "trap") replaces the trap: take the new
        // route references before dropping the old ones, so the routes never go away.
        let old = u.trap_routes.remove(&key).unwrap_or_default();
        let local: Vec<Cidr> = local_ts
            .iter()
            .flat_map(|t| range_to_cidrs(t.start_addr, t.end_addr))
            .collect();
        let mut routes = Vec::new();
        for c in remote_ts
            .iter()
            .flat_map(|t| range_to_cidrs(t.start_addr, t.end_addr))
        {
            if let Some(p) = exclude.iter().find(|p| c.contains(**p)) {
                warn!("trap {connection}/{child}: not routing {c} into the TUN: it contains the peer {p}");
                continue;
            }
            let src = Self::vip_for(&u.vips, connection, c.addr.is_ipv6(), &local)
                .or_else(|| routes::pick_source(&local, c.addr.is_ipv6()));
            u.routes.add(c, &self.cfg.tun_name, src);
            routes.push(c);
        }
        for c in old {
            u.routes.remove(c, &self.cfg.tun_name);
        }
        u.shared.traps().arm(connection, child, local_ts, remote_ts);
        info!(
            "trap policy {connection}/{child} armed: {} via {}",
            routes
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(","),
            self.cfg.tun_name
        );
        u.trap_routes.insert(key, routes);
    }

    /// A virtual IP the peer assigned to `connection` (engine event `VirtualIp`): put it on
    /// the TUN device, so that the routes of the connection's Child SAs (installed after this
    /// event, RFC 7296 §2.19: the CP reply and the child come in the same IKE_AUTH response)
    /// get it as `src`. With split subnets (INTERNAL_IP4/6_SUBNET) only those go into the
    /// tunnel.
    pub fn add_vip(&mut self, connection: &str, vip: &VirtualIp) {
        let Some(u) = self.user.as_mut() else {
            warn!(
                "virtual IP {} of {connection} not applied: needs dataplane = \"userspace\"",
                vip.addr
            );
            return;
        };
        if !Self::ensure_tun(u, &self.cfg) {
            return;
        }
        routes::addr_add(&self.cfg.tun_name, vip.addr);
        u.vips.push((connection.to_string(), vip.clone()));
    }

    /// The IKE SA holding a virtual IP went down: remove the address (unless another IKE SA of
    /// the connection holds it too).
    pub fn remove_vip(&mut self, connection: &str, addr: IpAddr) {
        let Some(u) = self.user.as_mut() else { return };
        let Some(i) = u
            .vips
            .iter()
            .position(|(c, v)| c == connection && v.addr == addr)
        else {
            return;
        };
        u.vips.remove(i);
        if !u.vips.iter().any(|(_, v)| v.addr == addr) {
            routes::addr_del(&self.cfg.tun_name, addr);
        }
    }

    /// The virtual IP of `connection` in this family, if one is inside the local selectors.
    fn vip_for(
        vips: &[(String, VirtualIp)],
        connection: &str,
        v6: bool,
        local: &[Cidr],
    ) -> Option<IpAddr> {
        vips.iter()
            .filter(|(c, v)| c == connection && v.addr.is_ipv6() == v6)
            .map(|(_, v)| v.addr)
            .find(|a| local.iter().any(|l| l.contains(*a)))
    }

    /// The split subnets (INTERNAL_IP4/6_SUBNET) the peer sent with `connection`'s virtual IP
    /// of this family; empty: everything the selectors allow goes into the tunnel.
    fn split_for(vips: &[(String, VirtualIp)], connection: &str, v6: bool) -> Vec<Cidr> {
        vips.iter()
            .filter(|(c, v)| c == connection && v.addr.is_ipv6() == v6)
            .flat_map(|(_, v)| v.split.iter())
            .filter(|(a, _)| a.is_ipv6() == v6)
            .map(|&(a, l)| Cidr::masked(a, l))
            .collect()
    }

    /// Create the TUN device and its outbound threads on first use. False if that failed
    /// (no CAP_NET_ADMIN): SAs are still negotiated but carry no traffic.
    fn ensure_tun(u: &mut Userspace, cfg: &DataplaneConfig) -> bool {
        if u.shared.tun.get().is_some() {
            return true;
        }
        if u.tun_failed {
            return false;
        }
        match tun::create(&cfg.tun_name, cfg.tun_mtu, cfg.tun_queues.max(1)) {
            Ok(devs) => {
                let devs: Vec<Arc<tun_rs::SyncDevice>> = devs.into_iter().map(Arc::new).collect();
                let _ = u.shared.tun.set(devs[0].clone());
                for d in devs {
                    let (s, mtu) = (u.shared.clone(), usize::from(cfg.tun_mtu));
                    let _ = std::thread::Builder::new()
                        .name("esp-tx".into())
                        .spawn(move || tun::outbound(s, d, mtu));
                }
                true
            }
            Err(e) => {
                u.tun_failed = true;
                warn!(
                    "cannot create TUN device {}: {e}; Child SAs will carry no traffic",
                    cfg.tun_name
                );
                false
            }
        }
    }

    /// Whether the data plane reads the NAT-T sockets itself.
    pub fn owns_nat_sockets(&self) -> bool {
        self.user.is_some()
    }

    /// Install a Child SA (engine event `InstallChildSa`): both directions; it takes over
    /// outbound traffic from an SA it replaces.
    pub fn install(&mut self, k: &ChildSaKeys, now: Instant) {
        self.install_as(k, now, false)
    }

    /// Install the new Child SA of a rekey we answered (engine event `InstallChildSaInbound`):
    /// it decapsulates at once but carries outbound traffic only after [`Dataplane::activate`]
    /// or its first inbound packet (RFC 7296 §2.8). The kernel backend installs it fully.
    pub fn install_inbound_only(&mut self, k: &ChildSaKeys, now: Instant) {
        self.install_as(k, now, true)
    }

    /// Start sending on an inbound-only Child SA (engine event `ActivateChildSa`).
    pub fn activate(&mut self, spi_in: u32) {
        let Some(u) = self.user.as_mut() else { return };
        if u.shared.lock().activate(spi_in) {
            info!("data plane: Child SA {spi_in:08x}_i carries outbound traffic");
        }
    }

    fn install_as(&mut self, k: &ChildSaKeys, now: Instant, inbound_only: bool) {
        if self.cfg.backend == Backend::Xfrm {
            self.xfrm_install(k);
            return;
        }
        let Some(u) = self.user.as_mut() else { return };
        let mut p = match SaParams::try_from(k) {
            Ok(p) => p,
            Err(e) => {
                warn!(
                    "Child SA {:08x}_i not installed in the data plane: {e}",
                    k.spi_in
                );
                return;
            }
        };
        p.replay_window = self.cfg.replay_window;
        if let Some(&(soft, hard)) = self.cfg.child_bytes.get(&k.connection) {
            p.lifetime.soft.bytes = Some(soft);
            p.lifetime.hard.bytes = Some(hard);
        }
        if self.cfg.force_udp_encap && !p.udp_encap {
            p.udp_encap = true;
            p.local.set_port(self.cfg.nat_port);
            p.remote.set_port(pqike_esp::udp::NAT_T_PORT);
        }
        let (udp_encap, local, remote) = (p.udp_encap, p.local, p.remote);
        let r = {
            let mut dp = u.shared.lock();
            // A retiring SA with the same SPI (reallocated by chance) goes now.
            if let Some(i) = u.retiring.iter().position(|(s, _)| *s == k.spi_in) {
                u.retiring.swap_remove(i);
                dp.remove(k.spi_in);
            }
            if inbound_only {
                dp.install_inbound_only(p, now)
            } else {
                dp.install(p, now)
            }
        };
        if let Err(e) = r {
            warn!("Child SA {:08x}_i not installed: {e}", k.spi_in);
            return;
        }
        // The device exists from the first SA on; without it (no CAP_NET_ADMIN) the SA is
        // still negotiated but carries no traffic.
        Self::ensure_tun(u, &self.cfg);
        // The next packet after this SA is gone may trigger its trap at once.
        u.shared.traps().satisfied(&k.connection, &k.child);
        let mut routes = Vec::new();
        if k.mode == pqike_proto::IpsecMode::Tunnel && u.shared.tun.get().is_some() {
            let local: Vec<Cidr> = k
                .local_ts
                .iter()
                .flat_map(|t| range_to_cidrs(t.start_addr, t.end_addr))
                .collect();
            for ts in &k.remote_ts {
                for sel in range_to_cidrs(ts.start_addr, ts.end_addr) {
                    let v6 = sel.addr.is_ipv6();
                    // Remote access with split subnets: only those (inside the selector) go
                    // into the tunnel; the rest of a 0.0.0.0/0 selector stays local.
                    let split = Self::split_for(&u.vips, &k.connection, v6);
                    let cidrs: Vec<Cidr> = if split.is_empty() {
                        vec![sel]
                    } else {
                        split.iter().filter_map(|s| sel.intersect(s)).collect()
                    };
                    for c in cidrs {
                        if c.contains(k.remote.ip()) {
                            // Routing the peer's own address into the tunnel would loop our
                            // ESP back into TUN (strongSwan excludes it the same way).
                            warn!(
                                "not routing {c} into {}: it contains the peer {}",
                                self.cfg.tun_name,
                                k.remote.ip()
                            );
                            continue;
                        }
                        // A virtual IP is the address the peer's policy expects (RFC 7296
                        // §2.19): our own traffic must leave with it.
                        let src = Self::vip_for(&u.vips, &k.connection, v6, &local)
                            .or_else(|| routes::pick_source(&local, v6));
                        u.routes.add(c, &self.cfg.tun_name, src);
                        routes.push(c);
                    }
                }
            }
        }
        let mut host_route = None;
        if k.mode == pqike_proto::IpsecMode::Transport && u.shared.tun.get().is_some() {
            // Our IKE and ESP to the peer must not enter the TUN (RFC 4301 §4.1: transport
            // mode protects the hosts' own traffic, not the SA's).
            let mut ports = vec![
                500,
                pqike_esp::udp::NAT_T_PORT,
                self.cfg.nat_port,
                k.local.port(),
            ];
            ports.sort_unstable();
            ports.dedup();
            u.hosts
                .add(k.remote.ip(), k.local.ip(), &self.cfg.tun_name, &ports);
            host_route = Some((k.remote.ip(), ports));
        }
        info!(
            "data plane: Child SA {:08x}_i/{:08x}_o installed{} ({}{})",
            k.spi_in,
            k.spi_out,
            if inbound_only { " inbound-only" } else { "" },
            if udp_encap { "ESP-in-UDP" } else { "ESP" },
            if !routes.is_empty() {
                ", routes via TUN"
            } else if host_route.is_some() {
                ", transport mode via TUN"
            } else {
                ""
            }
        );
        u.sas.insert(
            k.spi_in,
            SaMeta {
                routes,
                host_route,
                udp_encap,
                local,
                remote,
            },
        );
    }

    /// Kernel backend: both SAs and, in tunnel mode, out/in/fwd policies per selector pair.
    fn xfrm_install(&mut self, k: &ChildSaKeys) {
        let sock = match self.xfrm.as_mut() {
            Some(s) => s,
            None => match xfrm::XfrmSocket::open() {
                Ok(s) => self.xfrm.insert(s),
                Err(e) => {
                    warn!("xfrm: cannot open NETLINK_XFRM: {e}");
                    return;
                }
            },
        };
        self.reqid += 1;
        let reqid = self.reqid;
        for inbound in [true, false] {
            let r = xfrm::sa_request(k, inbound, reqid, self.cfg.replay_window).and_then(|req| {
                let seq = sock.next_seq();
                sock.request(&req.encode(seq)).map_err(|e| e.to_string())
            });
            if let Err(e) = r {
                warn!(
                    "xfrm: SA {:08x} ({}) not installed: {e}",
                    if inbound { k.spi_in } else { k.spi_out },
                    if inbound { "in" } else { "out" }
                );
                return;
            }
        }
        let mut installed = Vec::new();
        let to_cidr = |t: &pqike_wire::TrafficSelector| range_to_cidrs(t.start_addr, t.end_addr);
        for l in k.local_ts.iter().flat_map(to_cidr) {
            for r in k.remote_ts.iter().flat_map(to_cidr) {
                if l.addr.is_ipv6() != r.addr.is_ipv6() {
                    continue;
                }
                for (dir, src, dst, ts, td) in [
                    (xfrm::Dir::Out, l, r, k.local.ip(), k.remote.ip()),
                    (xfrm::Dir::In, r, l, k.remote.ip(), k.local.ip()),
                    (xfrm::Dir::Fwd, r, l, k.remote.ip(), k.local.ip()),
                ] {
                    let p = xfrm::PolicyRequest {
                        src: (src.addr, src.len),
                        dst: (dst.addr, dst.len),
                        dir,
                        priority: 1000,
                        tmpl_src: ts,
                        tmpl_dst: td,
                        reqid,
                        tunnel: k.mode == pqike_proto::IpsecMode::Tunnel,
                    };
                    let seq = sock.next_seq();
                    match sock.request(&p.encode(seq)) {
                        Ok(()) => installed.push(((src.addr, src.len), (dst.addr, dst.len), dir)),
                        Err(e) => warn!("xfrm: policy {src} -> {dst} {dir:?} not installed: {e}"),
                    }
                }
            }
        }
        info!(
            "xfrm: Child SA {:08x}_i/{:08x}_o installed in the kernel (reqid {reqid})",
            k.spi_in, k.spi_out
        );
        self.xfrm_sas.insert(
            k.spi_in,
            XfrmSa {
                local: k.local.ip(),
                remote: k.remote.ip(),
                spi_out: k.spi_out,
                policies: installed,
            },
        );
    }

    /// Kernel backend: delete both SAs, and the policies no other Child SA installed too
    /// (after a rekey the new SA shares its predecessor's selectors).
    fn xfrm_remove(&mut self, spi_in: u32) {
        let Some(sa) = self.xfrm_sas.remove(&spi_in) else {
            return;
        };
        let Some(sock) = self.xfrm.as_mut() else {
            return;
        };
        for (src, dst, spi) in [
            (sa.remote, sa.local, spi_in),
            (sa.local, sa.remote, sa.spi_out),
        ] {
            let seq = sock.next_seq();
            if let Err(e) = sock.request(&xfrm::del_sa(src, dst, spi, seq)) {
                warn!("xfrm: SA {spi:08x} not deleted: {e}");
            }
        }
        for p in &sa.policies {
            if self.xfrm_sas.values().any(|o| o.policies.contains(p)) {
                continue;
            }
            let seq = sock.next_seq();
            if let Err(e) = sock.request(&xfrm::del_policy(p.0, p.1, p.2, seq)) {
                warn!(
                    "xfrm: policy {:?} -> {:?} {:?} not deleted: {e}",
                    p.0, p.1, p.2
                );
            }
        }
        info!("xfrm: Child SA {spi_in:08x}_i removed from the kernel");
    }

    /// Remove a Child SA (engine event `RemoveChildSa`).
    pub fn remove(&mut self, spi_in: u32) {
        if self.cfg.backend == Backend::Xfrm {
            self.xfrm_remove(spi_in);
            return;
        }
        let Some(u) = self.user.as_mut() else { return };
        // Outbound stops now; inbound stays for RETIRE_GRACE (make-before-break).
        if u.shared.lock().retire(spi_in) {
            u.retiring.push((spi_in, Instant::now() + RETIRE_GRACE));
        }
        if let Some(meta) = u.sas.remove(&spi_in) {
            // A successor with the same selectors holds its own reference on the routes.
            for c in meta.routes {
                u.routes.remove(c, &self.cfg.tun_name);
            }
            if let Some((peer, ports)) = meta.host_route {
                u.hosts.remove(peer, &ports);
            }
        }
    }

    /// Drop retired SAs whose grace period is over.
    fn reap_retired(u: &mut Userspace, now: Instant) {
        let (due, keep): (Vec<_>, Vec<_>) = u.retiring.iter().partition(|(_, t)| *t <= now);
        u.retiring = keep;
        for (spi_in, _) in due {
            if let Some(c) = u.shared.lock().remove(spi_in) {
                info!(
                    "data plane: Child SA {spi_in:08x}_i removed: {} packets / {} bytes in, {} packets / {} bytes out",
                    c.packets_in, c.bytes_in, c.packets_out, c.bytes_out
                );
            }
        }
    }

    /// Counters of one Child SA by inbound SPI.
    pub fn counters(&self, spi_in: u32) -> Option<Counters> {
        let u = self.user.as_ref()?;
        let info = u.shared.lock().sa(spi_in)?;
        let c = info.counters;
        Some(Counters {
            bytes_in: c.bytes_in,
            bytes_out: c.bytes_out,
            packets_in: c.packets_in,
            packets_out: c.packets_out,
            drops: c.replay_drops
                + c.auth_failures
                + c.pad_errors
                + c.bad_next_header
                + c.ts_mismatch,
        })
    }

    /// Periodic work: expiry events for the engine, NAT keepalives. Returns the expiry notices.
    pub fn tick(&mut self, now: Instant) -> Vec<EspNotice> {
        let Some(u) = self.user.as_mut() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        Self::reap_retired(u, now);
        {
            let mut dp = u.shared.lock();
            while let Some(a) = dp.poll_activated() {
                info!(
                    "data plane: Child SA {:08x}_i/{:08x}_o now carries outbound traffic ({})",
                    a.spi_in,
                    a.spi_out,
                    match a.cause {
                        ActivationCause::FirstPacket => "first packet received on it",
                        ActivationCause::NoActiveSa => "its predecessor is gone",
                    }
                );
            }
            while let Some(ev) = dp.poll_expiry(now) {
                info!(
                    "data plane: Child SA {:08x}_i {:?} expiry ({:?})",
                    ev.spi_in, ev.kind, ev.cause
                );
                out.push(match ev.kind {
                    ExpiryKind::Soft => EspNotice::SoftExpire { spi_in: ev.spi_in },
                    ExpiryKind::Hard => EspNotice::HardExpire { spi_in: ev.spi_in },
                });
            }
        }
        if now.saturating_duration_since(u.last_keepalive) >= self.cfg.keepalive {
            u.last_keepalive = now;
            let mut sent = Vec::new();
            for m in u.sas.values().filter(|m| m.udp_encap) {
                if !sent.contains(&(m.local, m.remote)) {
                    u.shared.sockets.keepalive(m.local, m.remote);
                    sent.push((m.local, m.remote));
                }
            }
        }
        out
    }

    /// Remove all routes (shutdown; the TUN device goes with the process).
    pub fn shutdown(&mut self) {
        if let Some(u) = self.user.as_mut() {
            u.routes.clear(&self.cfg.tun_name);
            for (peer, ports) in u.sas.values().filter_map(|m| m.host_route.clone()) {
                u.hosts.remove(peer, &ports);
            }
        }
    }
}
