//! The `pqiked` event loop: one task owns the [`Endpoint`]; UDP receive tasks and control-socket
//! clients talk to it through channels. This is the only place that reads the clock
//! (`Instant::now()`); the engine itself is sans-IO.
//!
//! Loop: wait for a datagram, a control request, the engine's timer or a signal; feed it to the
//! engine; then [`Node::flush`] sends every pending transmit and handles every pending event.
use crate::config::DaemonConfig;
use crate::control::{child_alg, down_reason, IkeSaInfo, Request, Response};
use crate::net::{Datagram, Sockets};
use pqike_proto::{Command, Endpoint, Event, IkeState, SaId, VirtualIp};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// A control request with the channel for its answer.
type ControlMsg = (Request, oneshot::Sender<Response>);

/// Most datagrams fed to the engine per event-loop turn (see the receive arm in [`run`]).
const DATAGRAM_BATCH: usize = 64;

/// An engine plus its sockets: what the daemon runs once and the demo runs twice.
pub struct Node {
    /// The engine.
    pub endpoint: Endpoint,
    /// Our UDP sockets.
    pub sockets: Sockets,
}

impl Node {
    /// Build an engine for a daemon config with the production crypto provider and the system RNG.
    pub fn new(cfg: &DaemonConfig, sockets: Sockets) -> Node {
        Node::with(
            cfg.endpoint.clone(),
            cfg.connections.clone(),
            cfg.credentials.clone(),
            sockets,
        )
    }

    /// Build an engine from its parts (the demo builds its configs in code).
    pub fn with(
        endpoint: pqike_proto::EndpointConfig,
        connections: Vec<pqike_proto::ConnectionConfig>,
        credentials: pqike_proto::Credentials,
        sockets: Sockets,
    ) -> Node {
        let endpoint = Endpoint::new(
            endpoint,
            connections,
            credentials,
            crate::crypto::engine_provider(),
            Box::new(pqike_crypto::SystemRandom),
        );
        let mut node = Node { endpoint, sockets };
        node.sync_wall_clock();
        node
    }

    /// Give the engine the wall-clock time (it reads no clock itself; certificate validity
    /// needs it). Called at start and on every timer tick, so a stepped system clock is
    /// followed within one timer interval.
    pub fn sync_wall_clock(&mut self) {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.endpoint.set_wall_clock(Instant::now(), unix);
    }

    /// Every pending event. Apply them before [`Node::send_pending`]: RFC 7296 §2.8
    /// make-before-break needs the inbound SA of a rekey we answer installed before the
    /// response leaves, or the peer's first packets on it arrive at an unknown SPI.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.endpoint.poll_event()).collect()
    }

    /// Send every pending datagram.
    pub async fn send_pending(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit() {
            self.sockets.send(&t).await;
        }
    }

    /// The engine's deadline passed.
    pub fn timeout(&mut self) {
        self.sync_wall_clock();
        self.endpoint.handle_timeout(Instant::now());
    }

    /// Feed a received datagram.
    pub fn datagram(&mut self, d: &Datagram) {
        self.endpoint
            .handle_datagram(Instant::now(), d.local, d.remote, &d.data);
    }

    /// The engine's next deadline as a tokio instant (far future when none).
    pub fn deadline(&self) -> tokio::time::Instant {
        match self.endpoint.poll_timeout() {
            Some(t) => tokio::time::Instant::from_std(t),
            None => tokio::time::Instant::now() + Duration::from_secs(3600),
        }
    }
}

/// Log an engine event the way the daemon does (never key material).
pub fn log_event(ev: &Event) {
    match ev {
        Event::IkeUp { sa, status } => {
            let info = IkeSaInfo::from_status(status, Instant::now());
            info!(
                "IKE SA {}[{}] established: {} [{}] <-> {} [{}], {}, SPIs {}_i {}_r{}",
                info.name,
                sa.0,
                info.local,
                info.local_id,
                info.remote,
                info.remote_id,
                crate::control::transforms_line(&info.transforms),
                info.spi_i,
                info.spi_r,
                if info.nat { ", NAT detected" } else { "" }
            );
        }
        Event::IkeDown { sa, connection, reason } => {
            let level_warn = !matches!(reason, pqike_proto::DownReason::LocalDelete | pqike_proto::DownReason::PeerDelete);
            if level_warn {
                warn!("IKE SA {connection}[{}] down: {}", sa.0, down_reason(reason));
            } else {
                info!("IKE SA {connection}[{}] down: {}", sa.0, down_reason(reason));
            }
        }
        Event::InstallChildSa(k) => info!(
            "install Child SA {}/{} (IKE SA {}): SPIs {:08x}_i {:08x}_o, {}{}, {:?}, {} -> {}{}, {} === {}, lifetime {}s",
            k.connection,
            k.child,
            k.ike_sa.0,
            k.spi_in,
            k.spi_out,
            child_alg(k.encr, k.integ),
            if k.esn { "/ESN" } else { "" },
            k.mode,
            k.local,
            k.remote,
            if k.udp_encap { " (UDP-encapsulated)" } else { "" },
            k.local_ts.iter().map(crate::ts::format_ts).collect::<Vec<_>>().join(","),
            k.remote_ts.iter().map(crate::ts::format_ts).collect::<Vec<_>>().join(","),
            k.lifetime.as_secs()
        ),
        Event::RemoveChildSa { ike_sa, spi_in, spi_out } => {
            info!("remove Child SA (IKE SA {}): SPIs {spi_in:08x}_i {spi_out:08x}_o", ike_sa.0)
        }
        Event::Exchange { sa, summary } => debug!("IKE SA [{}]: {summary}", sa.0),
        Event::InstallChildSaInbound(k) => info!(
            "install Child SA {}/{} (IKE SA {}) inbound-only (rekey): SPIs {:08x}_i {:08x}_o",
            k.connection, k.child, k.ike_sa.0, k.spi_in, k.spi_out
        ),
        Event::ActivateChildSa { ike_sa, spi_in, spi_out } => {
            info!("activate outbound Child SA (IKE SA {}): SPIs {spi_in:08x}_i {spi_out:08x}_o", ike_sa.0)
        }
        Event::IkeRekeyed { old, new } => info!("IKE SA [{}] rekeyed, now IKE SA [{}]", old.0, new.0),
        Event::InstallTrap {
            connection,
            child,
            local_ts,
            remote_ts,
        } => info!(
            "trap policy for {connection}/{child}: {} === {}",
            local_ts.iter().map(crate::ts::format_ts).collect::<Vec<_>>().join(","),
            remote_ts.iter().map(crate::ts::format_ts).collect::<Vec<_>>().join(",")
        ),
        // The keys themselves only go to the key_log files (crate::keylog).
        Event::IkeSaKeys(k) => debug!(
            "IKE SA {}[{}]: {:?} keys exported to key_log, SPIs {:016x}_i {:016x}_r",
            k.connection, k.sa.0, k.stage, k.spi_i, k.spi_r
        ),
        Event::VirtualIp { sa, connection, vip } => info!(
            "IKE SA {connection}[{}]: virtual IP {}/{} assigned (DNS {:?}, split {:?})",
            sa.0, vip.addr, vip.prefix, vip.dns, vip.split
        ),
    }
}

/// The running daemon's state besides the engine.
struct Daemon {
    node: Node,
    /// `pqike up` clients waiting for their connection to come up or fail.
    waiters: Vec<(String, oneshot::Sender<Response>)>,
    /// Where Child SAs carry traffic (crate::dataplane).
    dataplane: crate::dataplane::Dataplane,
    /// Daemon-wide counters for `pqike status` (crate::control_stats).
    stats: crate::control_stats::StatsCollector,
    /// When the daemon started (uptime in the statistics).
    started: Instant,
    /// `key_log`: Wireshark decryption tables (crate::keylog), debugging only.
    key_log: Option<crate::keylog::KeyLog>,
    /// Virtual IPs assigned to us (remote access client), by the IKE SA holding them: they go
    /// when it goes down, and move to its successor when it is rekeyed.
    vips: HashMap<SaId, (String, Vec<VirtualIp>)>,
    /// Peer addresses per connection: never routed into the TUN by a trap.
    peers: HashMap<String, Vec<IpAddr>>,
    /// Where the DNS servers of a virtual IP assignment are written (next to the control
    /// socket; see [`dns_file`]).
    state_dir: PathBuf,
}

impl Daemon {
    /// Apply the engine's events (data-plane installs first), then send its datagrams.
    async fn flush(&mut self) {
        self.apply_events();
        self.node.send_pending().await;
    }

    fn apply_events(&mut self) {
        for ev in self.node.events() {
            log_event(&ev);
            self.stats.record(&ev);
            self.log_keys(&ev);
            match &ev {
                Event::IkeUp { status, .. } => {
                    let info = IkeSaInfo::from_status(status, Instant::now());
                    self.resolve(&status.connection, || Response {
                        ok: true,
                        ike_sa: Some(info.clone()),
                        ..Default::default()
                    });
                }
                Event::IkeDown {
                    connection, reason, ..
                } => {
                    let msg = down_reason(reason);
                    self.resolve(connection, || Response::error(msg.clone()));
                }
                Event::InstallChildSa(k) => self.dataplane.install(k, Instant::now()),
                // A rekey we answered: outbound stays on the old SA until ActivateChildSa (the
                // peer deleted the old SA) or the first packet on the new one (RFC 7296 §2.8).
                Event::InstallChildSaInbound(k) => {
                    self.dataplane.install_inbound_only(k, Instant::now())
                }
                Event::ActivateChildSa { spi_in, .. } => self.dataplane.activate(*spi_in),
                Event::RemoveChildSa { spi_in, .. } => self.dataplane.remove(*spi_in),
                Event::InstallTrap {
                    connection,
                    child,
                    local_ts,
                    remote_ts,
                } => {
                    let peers = self.peers.get(connection).cloned().unwrap_or_default();
                    self.dataplane
                        .install_trap(connection, child, local_ts, remote_ts, &peers);
                }
                Event::VirtualIp {
                    sa,
                    connection,
                    vip,
                } => {
                    self.dataplane.add_vip(connection, vip);
                    let e = self
                        .vips
                        .entry(*sa)
                        .or_insert_with(|| (connection.clone(), Vec::new()));
                    e.1.push(vip.clone());
                    let all = e.1.clone();
                    self.write_dns(connection, &all);
                }
                // RFC 7296 §2.18: the new IKE SA inherits everything, the virtual IP included
                // (the engine keeps the lease; rekey_ike.rs).
                Event::IkeRekeyed { old, new } => {
                    if let Some(v) = self.vips.remove(old) {
                        self.vips.insert(*new, v);
                    }
                }
                _ => {}
            }
            // After the match: a failed IKE_AUTH may follow its own VirtualIp event.
            if let Event::IkeDown { sa, .. } = &ev {
                self.drop_vips(*sa);
            }
        }
        self.waiters.retain(|(_, tx)| !tx.is_closed());
    }

    /// The IKE SA that held virtual IPs is gone: remove them from the TUN device (the routes
    /// went with its Child SAs) and the DNS file.
    fn drop_vips(&mut self, sa: SaId) {
        let Some((connection, vips)) = self.vips.remove(&sa) else {
            return;
        };
        for v in &vips {
            self.dataplane.remove_vip(&connection, v.addr);
        }
        if !self.vips.values().any(|(c, _)| *c == connection) {
            let path = dns_file(&self.state_dir, &connection);
            if std::fs::remove_file(&path).is_ok() {
                debug!("removed {}", path.display());
            }
        }
    }

    /// Write the DNS servers of a virtual IP assignment in resolv.conf syntax, for the admin or
    /// a resolvconf hook to use: pqiked itself does not touch /etc/resolv.conf.
    fn write_dns(&self, connection: &str, vips: &[VirtualIp]) {
        let dns: Vec<IpAddr> = vips.iter().flat_map(|v| v.dns.iter().copied()).collect();
        if dns.is_empty() {
            return;
        }
        let path = dns_file(&self.state_dir, connection);
        let mut text = format!(
            "# DNS servers assigned to connection {connection} (RFC 7296 §3.15.1), written by pqiked\n"
        );
        for d in &dns {
            text.push_str(&format!("nameserver {d}\n"));
        }
        match std::fs::write(&path, text) {
            Ok(()) => info!(
                "{connection}: DNS servers {} written to {}",
                dns.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                path.display()
            ),
            Err(e) => warn!("{connection}: cannot write {}: {e}", path.display()),
        }
    }

    /// Append IKE and Child SA keys to the key_log tables (when configured).
    fn log_keys(&mut self, ev: &Event) {
        let Some(log) = self.key_log.as_mut() else {
            return;
        };
        let r = match ev {
            Event::IkeSaKeys(k) => log.ike_keys(k),
            Event::InstallChildSa(k) | Event::InstallChildSaInbound(k) => log.child(k),
            _ => Ok(()),
        };
        if let Err(e) = r {
            warn!("key_log: {e}");
        }
    }

    fn statistics(&self, now: Instant) -> crate::control_stats::DaemonStats {
        let uptime = now.saturating_duration_since(self.started).as_secs();
        self.stats.snapshot(&self.node.endpoint.status(), uptime)
    }

    fn resolve(&mut self, connection: &str, resp: impl Fn() -> Response) {
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|(n, _)| n == connection);
        self.waiters = keep;
        for (_, tx) in done {
            let _ = tx.send(resp());
        }
    }

    fn control(&mut self, req: Request, reply: oneshot::Sender<Response>) {
        let now = Instant::now();
        let known = |name: &str| {
            self.node
                .endpoint
                .status()
                .into_iter()
                .filter(|s| s.connection == name)
                .collect::<Vec<_>>()
        };
        match req {
            Request::Status => {
                let sas = self
                    .node
                    .endpoint
                    .status()
                    .iter()
                    .map(|s| {
                        let mut info = IkeSaInfo::from_status(s, now);
                        for (c, st) in info.child_sas.iter_mut().zip(&s.children) {
                            if let Some(n) = self.dataplane.counters(st.spi_in) {
                                (c.bytes_in, c.bytes_out) = (n.bytes_in, n.bytes_out);
                                (c.packets_in, c.packets_out) = (n.packets_in, n.packets_out);
                                c.drops = n.drops;
                            }
                        }
                        info
                    })
                    .collect();
                let _ = reply.send(Response {
                    ok: true,
                    ike_sas: Some(sas),
                    statistics: Some(self.statistics(now)),
                    ..Default::default()
                });
            }
            Request::Stats => {
                let _ = reply.send(Response {
                    ok: true,
                    statistics: Some(self.statistics(now)),
                    ..Default::default()
                });
            }
            Request::Up { name } => {
                if let Some(s) = known(&name)
                    .into_iter()
                    .find(|s| s.state == IkeState::Established)
                {
                    let info = IkeSaInfo::from_status(&s, now);
                    let _ = reply.send(Response {
                        ok: true,
                        message: Some(format!("{name} is already established")),
                        ike_sa: Some(info),
                        ..Default::default()
                    });
                    return;
                }
                info!("control: initiating {name}");
                match self.node.endpoint.handle_command(
                    now,
                    Command::Initiate {
                        connection: name.clone(),
                    },
                ) {
                    Ok(()) => self.waiters.push((name, reply)),
                    Err(e) => {
                        let _ = reply.send(Response::error(e.to_string()));
                    }
                }
            }
            Request::Down { name } => {
                let n = known(&name).len();
                if n == 0 {
                    let _ = reply.send(Response::error(format!(
                        "no IKE SA for connection `{name}`"
                    )));
                    return;
                }
                info!("control: terminating {name}");
                let r = self.node.endpoint.handle_command(
                    now,
                    Command::Terminate {
                        connection: name.clone(),
                    },
                );
                let _ = reply.send(match r {
                    Ok(()) => Response::message(format!("deleting {n} IKE SA(s) of {name}")),
                    Err(e) => Response::error(e.to_string()),
                });
            }
        }
    }
}

/// `<state_dir>/<connection>.resolv.conf`; characters other than `[A-Za-z0-9._-]` in the
/// connection name become `_` (it must stay one file name).
fn dns_file(state_dir: &Path, connection: &str) -> PathBuf {
    let safe: String = connection
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = if safe.starts_with('.') {
        format!("_{safe}")
    } else {
        safe
    };
    state_dir.join(format!("{safe}.resolv.conf"))
}

/// Next acquire from the data plane's trap policies (pending forever without them).
async fn next_acquire(
    rx: &mut Option<tokio::sync::mpsc::UnboundedReceiver<crate::dataplane::trap::Acquire>>,
) -> Option<crate::dataplane::trap::Acquire> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Bind the control socket: create its directory, refuse if a live daemon answers on it,
/// remove a stale one.
fn bind_control(path: &Path) -> Result<UnixListener, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{} is in use: is another pqiked running?",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove stale {}: {e}", path.display()))?;
    }
    let l = UnixListener::bind(path)
        .map_err(|e| format!("cannot bind control socket {}: {e}", path.display()))?;
    // The socket can start and stop tunnels: owner only.
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    Ok(l)
}

async fn serve_client(stream: UnixStream, tx: mpsc::Sender<ControlMsg>) {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let resp = match serde_json::from_str::<Request>(&line) {
            Ok(req) => {
                let (rtx, rrx) = oneshot::channel();
                if tx.send((req, rtx)).await.is_err() {
                    return;
                }
                rrx.await
                    .unwrap_or_else(|_| Response::error("pqiked is shutting down"))
            }
            Err(e) => Response::error(format!("bad request: {e}")),
        };
        let mut out = serde_json::to_string(&resp).unwrap_or_else(|_| r#"{"ok":false}"#.into());
        out.push('\n');
        if w.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Run the daemon until SIGTERM/SIGINT.
pub async fn run(cfg: DaemonConfig) -> Result<(), String> {
    let e = &cfg.endpoint;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for ip in &cfg.listen {
        addrs.push(SocketAddr::new(*ip, e.ike_port));
        if e.nat_port != e.ike_port {
            addrs.push(SocketAddr::new(*ip, e.nat_port));
        }
    }
    let mut sockets = Sockets::bind(&addrs).await.map_err(|e| e.to_string())?;
    info!(
        "pqiked {} listening on {}",
        env!("CARGO_PKG_VERSION"),
        sockets
            .local_addrs()
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (dgram_tx, mut dgram_rx) = mpsc::channel::<Datagram>(1024);
    // The userspace data plane reads the NAT-T sockets itself (ESP and IKE share port 4500,
    // RFC 3948) and forwards IKE to this channel.
    let dataplane = if cfg.dataplane.backend == crate::dataplane::Backend::Userspace {
        let fds = if e.nat_port != e.ike_port {
            sockets.hand_over(e.nat_port)
        } else {
            // One port for IKE and ESP: the runtime keeps reading it too.
            sockets.dup_port(e.nat_port)
        }
        .map_err(|e| e.to_string())?;
        crate::dataplane::Dataplane::new(cfg.dataplane.clone(), fds, dgram_tx.clone())
    } else {
        crate::dataplane::Dataplane::new(cfg.dataplane.clone(), Vec::new(), dgram_tx.clone())
    };
    let nat_port = e.nat_port;
    let dp_owns_nat = dataplane.owns_nat_sockets() && nat_port != e.ike_port;
    sockets.spawn_receivers_filtered(0, dgram_tx, |a| !(dp_owns_nat && a.port() == nat_port));

    let listener = bind_control(&cfg.control_socket)?;
    let socket_path: PathBuf = cfg.control_socket.clone();
    info!("control socket {}", socket_path.display());
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<ControlMsg>(64);
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve_client(stream, ctl_tx.clone()));
                }
                Err(e) => {
                    warn!("control socket accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });

    let mut d = Daemon {
        node: Node::new(&cfg, sockets),
        waiters: Vec::new(),
        dataplane,
        stats: Default::default(),
        started: Instant::now(),
        key_log: match &cfg.key_log {
            Some(dir) => {
                warn!(
                    "key_log = {}: writing IKE and ESP SECRET KEYS to disk (debugging only)",
                    dir.display()
                );
                Some(
                    crate::keylog::KeyLog::open(dir)
                        .map_err(|e| format!("key_log {}: {e}", dir.display()))?,
                )
            }
            None => None,
        },
        vips: HashMap::new(),
        peers: cfg
            .connections
            .iter()
            .map(|c| (c.name.clone(), c.remote_addrs.clone()))
            .collect(),
        state_dir: cfg
            .control_socket
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let mut acquires = d.dataplane.take_acquires();
    // start_action = "trap": InstallTrap events, armed in the data plane by flush (`start` is
    // handled below).
    d.node.endpoint.start(Instant::now());
    for name in &cfg.start {
        info!("start_action: initiating {name}");
        if let Err(e) = d.node.endpoint.handle_command(
            Instant::now(),
            Command::Initiate {
                connection: name.clone(),
            },
        ) {
            error!("cannot initiate {name}: {e}");
        }
    }
    d.flush().await;

    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut dp_tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let deadline = d.node.deadline();
        tokio::select! {
            Some(dg) = dgram_rx.recv() => {
                d.node.datagram(&dg);
                // Under load, feed what is already queued before one flush (the sends and
                // events of a batch go out together). poll_timeout is O(log n) in the number
                // of SAs now, so this is batching, not a workaround. Bounded so that timers
                // and control requests still get their turn.
                for _ in 1..DATAGRAM_BATCH {
                    match dgram_rx.try_recv() {
                        Ok(dg) => d.node.datagram(&dg),
                        Err(_) => break,
                    }
                }
            }
            _ = dp_tick.tick() => {
                // Lifetime expiry found by the data plane goes to the engine (it rekeys on
                // soft, deletes on hard expiry).
                for n in d.dataplane.tick(Instant::now()) {
                    d.node.endpoint.handle_esp_notice(Instant::now(), n);
                }
            }
            Some((req, reply)) = ctl_rx.recv() => d.control(req, reply),
            // Traffic hit a trap policy (rate-limited in the data plane, dataplane/trap.rs).
            Some(a) = next_acquire(&mut acquires) => {
                let (drops, n) = d.dataplane.trap_counters();
                info!(
                    "acquire for {}/{}: initiating (traps so far: {n} acquires, {drops} packets dropped)",
                    a.connection, a.child
                );
                d.node.endpoint.handle_acquire(Instant::now(), &a.connection, &a.child);
            }
            _ = tokio::time::sleep_until(deadline) => d.node.timeout(),
            _ = sigterm.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = sigint.recv() => { info!("SIGINT: shutting down"); break; }
        }
        d.flush().await;
    }

    // Delete every IKE SA (RFC 7296 §1.4.1) and give the peers up to 1 s to answer.
    let sas = d.node.endpoint.status();
    for s in &sas {
        if let Err(e) = d
            .node
            .endpoint
            .handle_command(Instant::now(), Command::TerminateSa(s.sa))
        {
            debug!("terminate {}: {e}", s.connection);
        }
    }
    d.flush().await;
    let drain_until = tokio::time::Instant::now() + Duration::from_secs(1);
    while !d.node.endpoint.status().is_empty() && tokio::time::Instant::now() < drain_until {
        let deadline = d.node.deadline().min(drain_until);
        tokio::select! {
            Some(dg) = dgram_rx.recv() => d.node.datagram(&dg),
            _ = tokio::time::sleep_until(deadline) => d.node.timeout(),
        }
        d.flush().await;
    }
    for sa in d.vips.keys().copied().collect::<Vec<_>>() {
        d.drop_vips(sa);
    }
    d.dataplane.shutdown();
    let _ = std::fs::remove_file(&socket_path);
    info!("pqiked stopped");
    Ok(())
}

/// Install the stderr logger at `level` (error|warn|info|debug|trace); `RUST_LOG` overrides it.
pub fn init_logging(level: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
