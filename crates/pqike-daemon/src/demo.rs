//! `pqike demo`: an initiator and a responder in one process, talking IKEv2 over loopback UDP on
//! ephemeral ports (no root, no config file). Prints every datagram and exchange, the negotiated
//! transforms of both sides, the Child SA, the handshake time, then deletes the SA.
use crate::control::{child_alg, down_reason, transforms_line, IkeSaInfo};
use crate::daemon::Node;
use crate::identity::parse_identity;
use crate::net::{Datagram, Sockets};
use crate::proposal::{parse_proposal, ProposalKind};
use crate::ts::parse_ts;
use pqike_proto::{
    AuthConfig, AuthRound, ChildConfig, Childless, Command, ConnectionConfig, Credentials,
    EndpointConfig, Event, IpsecMode, ProposalConfig,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const ROLE: [&str; 2] = ["initiator", "responder"];
const IDS: [&str; 2] = ["initiator.pqike.test", "responder.pqike.test"];
const NETS: [&str; 2] = ["10.1.0.0/16", "10.2.0.0/16"];
const CONN: &str = "demo";
/// Give up on a phase after this long (loopback handshakes take milliseconds).
const PHASE_TIMEOUT: Duration = Duration::from_secs(15);

fn connection(
    me: usize,
    peer_port: u16,
    ike: &ProposalConfig,
    esp: &ProposalConfig,
) -> Result<ConnectionConfig, String> {
    let peer = 1 - me;
    Ok(ConnectionConfig {
        name: CONN.into(),
        local_addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        remote_addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        remote_port: peer_port,
        proposals: vec![ike.clone()],
        local: AuthRound {
            id: parse_identity(IDS[me], false)?,
            auth: AuthConfig::Psk,
        },
        remote: AuthRound {
            id: parse_identity(IDS[peer], false)?,
            auth: AuthConfig::Psk,
        },
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![parse_ts(NETS[me])?],
            remote_ts: vec![parse_ts(NETS[peer])?],
            esp_proposals: vec![esp.clone()],
            mode: IpsecMode::Tunnel,
            lifetime: Duration::from_secs(3600),
        }],
        fragmentation: true,
        childless: Childless::Allow,
        send_certreq: false,
        ike_lifetime: Duration::from_secs(14_400),
        auth_ext: Default::default(),
        lifecycle: Default::default(),
    })
}

/// One line per datagram: size, and the RFC 7383 fragment number if it is an SKF fragment.
fn describe_datagram(data: &[u8], nat_port: bool) -> String {
    let ike = if nat_port && data.len() >= 4 {
        &data[4..]
    } else {
        data
    };
    let Ok(h) = pqike_wire::Header::decode(ike) else {
        return format!("{} bytes (not IKE)", data.len());
    };
    let mut s = format!("`- {:>5} bytes UDP", data.len());
    if h.next_payload == pqike_wire::PayloadType::SKF && ike.len() >= pqike_wire::IKE_HEADER_LEN + 8
    {
        let f = &ike[pqike_wire::IKE_HEADER_LEN + 4..];
        s += &format!(
            " (fragment {}/{})",
            u16::from_be_bytes([f[0], f[1]]),
            u16::from_be_bytes([f[2], f[3]])
        );
    }
    s
}

struct Demo {
    nodes: [Node; 2],
    nat_ports: [u16; 2],
    start: Instant,
    rx: mpsc::Receiver<Datagram>,
    bytes: [usize; 2],
    datagrams: [usize; 2],
    verbose: bool,
}

impl Demo {
    fn ms(&self) -> String {
        format!("{:>8.1} ms", self.start.elapsed().as_secs_f64() * 1000.0)
    }

    /// Print and send everything both nodes have queued; return their events. Events come
    /// first so each "sending" line is followed by the datagram(s) that carry it.
    async fn flush(&mut self) -> Vec<(usize, Event)> {
        let mut all = Vec::new();
        for i in 0..2 {
            let events: Vec<Event> =
                std::iter::from_fn(|| self.nodes[i].endpoint.poll_event()).collect();
            let (exchanges, others): (Vec<&Event>, Vec<&Event>) = events
                .iter()
                .partition(|e| matches!(e, Event::Exchange { .. }));
            for ev in exchanges {
                self.print_event(i, ev);
            }
            while let Some(t) = self.nodes[i].endpoint.poll_transmit() {
                let line = describe_datagram(&t.payload, t.local.port() == self.nat_ports[i]);
                println!("{:>22}{line}  {} -> {}", "", t.local, t.remote);
                self.bytes[i] += t.payload.len();
                self.datagrams[i] += 1;
                self.nodes[i].sockets.send(&t).await;
            }
            for ev in others {
                self.print_event(i, ev);
            }
            all.extend(events.into_iter().map(|e| (i, e)));
        }
        all
    }

    /// Run both engines until `done` says so, printing events; error on timeout.
    async fn run_until(
        &mut self,
        mut done: impl FnMut(usize, &Event) -> bool,
    ) -> Result<(), String> {
        let give_up = tokio::time::Instant::now() + PHASE_TIMEOUT;
        loop {
            let mut finished = false;
            for (i, ev) in self.flush().await {
                if let Event::IkeDown { reason, .. } = &ev {
                    if !matches!(
                        reason,
                        pqike_proto::DownReason::LocalDelete | pqike_proto::DownReason::PeerDelete
                    ) {
                        return Err(format!("{} gave up: {}", ROLE[i], down_reason(reason)));
                    }
                }
                finished |= done(i, &ev);
            }
            if finished {
                return Ok(());
            }
            let deadline = self.nodes[0]
                .deadline()
                .min(self.nodes[1].deadline())
                .min(give_up);
            tokio::select! {
                Some(d) = self.rx.recv() => self.nodes[d.node].datagram(&d),
                _ = tokio::time::sleep_until(deadline) => {
                    if tokio::time::Instant::now() >= give_up {
                        return Err("timed out".into());
                    }
                    let now = Instant::now();
                    for n in &mut self.nodes {
                        if n.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                            n.endpoint.handle_timeout(now);
                        }
                    }
                }
            }
        }
    }

    fn print_event(&self, i: usize, ev: &Event) {
        let who = ROLE[i];
        match ev {
            Event::Exchange { summary, .. } => {
                // The receiving side's line repeats the sender's; show it only with --verbose.
                if let Some(msg) = summary.strip_prefix("sending ") {
                    println!("{}  {who} -> {}  {msg}", self.ms(), ROLE[1 - i]);
                } else if self.verbose {
                    println!("{}  {who:<9}  {summary}", self.ms());
                }
            }
            Event::IkeUp { .. } => println!("{}  {who:<9}  IKE SA ESTABLISHED", self.ms()),
            Event::IkeDown { reason, .. } => println!(
                "{}  {who:<9}  IKE SA gone: {}",
                self.ms(),
                down_reason(reason)
            ),
            Event::InstallChildSa(k) => println!(
                "{}  {who:<9}  install Child SA {}: SPIs {:08x}_i {:08x}_o, {}",
                self.ms(),
                k.child,
                k.spi_in,
                k.spi_out,
                child_alg(k.encr, k.integ)
            ),
            Event::RemoveChildSa {
                spi_in, spi_out, ..
            } => {
                println!(
                    "{}  {who:<9}  remove Child SA {spi_in:08x}_i {spi_out:08x}_o",
                    self.ms()
                )
            }
            Event::IkeRekeyed { .. }
            | Event::IkeSaKeys(_)
            | Event::InstallTrap { .. }
            | Event::VirtualIp { .. }
            | Event::InstallChildSaInbound(_)
            | Event::ActivateChildSa { .. } => {}
        }
    }
}

/// Run the demo with the given IKE and ESP proposal strings.
pub async fn run(proposal: &str, esp_proposal: &str, verbose: bool) -> Result<(), String> {
    if verbose {
        crate::daemon::init_logging("debug");
    }
    let ike =
        parse_proposal(proposal, ProposalKind::Ike).map_err(|e| format!("--proposal: {e}"))?;
    let esp = parse_proposal(esp_proposal, ProposalKind::Esp)
        .map_err(|e| format!("--esp-proposal: {e}"))?;
    let lo = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let mut sockets = Vec::new();
    for _ in 0..2 {
        sockets.push(Sockets::bind(&[lo, lo]).await.map_err(|e| e.to_string())?);
    }
    let ports: Vec<[u16; 2]> = sockets
        .iter()
        .map(|s| {
            let a = s.local_addrs();
            [a[0].port(), a[1].port()]
        })
        .collect();
    let (tx, rx) = mpsc::channel(256);
    let mut nodes = Vec::new();
    for (i, socks) in sockets.into_iter().enumerate() {
        socks.spawn_receivers(i, tx.clone());
        let endpoint = EndpointConfig {
            ike_port: ports[i][0],
            nat_port: ports[i][1],
            retransmit_timeout: Duration::from_secs(1),
            ..EndpointConfig::default()
        };
        let mut creds = Credentials::default();
        creds.psks.push((
            Vec::new(),
            zeroize::Zeroizing::new(b"pqike demo: not a real secret".to_vec()),
        ));
        let conn = connection(i, ports[1 - i][0], &ike, &esp)?;
        nodes.push(Node::with(endpoint, vec![conn], creds, socks));
    }
    let nodes: [Node; 2] = nodes.try_into().map_err(|_| "internal: two nodes")?;

    println!("pqike demo: IKEv2 over loopback UDP, PSK authentication");
    println!("  IKE proposal  {proposal}");
    println!(
        "                = {}",
        crate::config::describe_proposal(&ike)
    );
    println!("  ESP proposal  {esp_proposal}");
    for i in 0..2 {
        println!(
            "  {:<9}     127.0.0.1:{} (NAT-T {}), id {}, traffic {}",
            ROLE[i], ports[i][0], ports[i][1], IDS[i], NETS[i]
        );
    }
    println!();

    let mut demo = Demo {
        nodes,
        nat_ports: [ports[0][1], ports[1][1]],
        start: Instant::now(),
        rx,
        bytes: [0; 2],
        datagrams: [0; 2],
        verbose,
    };
    demo.nodes[0]
        .endpoint
        .handle_command(
            Instant::now(),
            Command::Initiate {
                connection: CONN.into(),
            },
        )
        .map_err(|e| e.to_string())?;
    let mut up = [false; 2];
    let mut initiator_up_at = None;
    demo.run_until(|i, ev| {
        if matches!(ev, Event::IkeUp { .. }) {
            up[i] = true;
            if i == 0 {
                initiator_up_at = Some(Instant::now());
            }
        }
        up[0] && up[1]
    })
    .await
    .map_err(|e| format!("handshake failed: {e}"))?;
    let handshake = initiator_up_at.map(|t| t - demo.start).unwrap_or_default();

    println!();
    println!("Negotiated:");
    let now = Instant::now();
    for (role, node) in ROLE.iter().zip(&demo.nodes) {
        for s in node.endpoint.status() {
            let info = IkeSaInfo::from_status(&s, now);
            println!(
                "  {} ({}): {} [{}] <-> {} [{}]",
                role, info.state, info.local, info.local_id, info.remote, info.remote_id
            );
            println!("    IKE SA   SPIs {}_i {}_r", info.spi_i, info.spi_r);
            println!("             {}", transforms_line(&info.transforms));
            println!(
                "             key exchanges: {}",
                info.transforms.ke.join(", then ")
            );
            for c in &info.child_sas {
                let alg = if c.integ.is_empty() {
                    c.encr.clone()
                } else {
                    format!("{}/{}", c.encr, c.integ)
                };
                println!(
                    "    Child SA {} ({}): SPIs {}_i {}_o, {alg}",
                    c.name, c.mode, c.spi_in, c.spi_out
                );
                println!(
                    "             {} === {}",
                    c.local_ts.join(" "),
                    c.remote_ts.join(" ")
                );
            }
        }
    }
    println!();
    println!(
        "Handshake: {:.1} ms, {} datagrams / {} bytes from the initiator, {} / {} from the responder",
        handshake.as_secs_f64() * 1000.0,
        demo.datagrams[0],
        demo.bytes[0],
        demo.datagrams[1],
        demo.bytes[1]
    );
    println!();
    println!("Deleting the IKE SA (INFORMATIONAL with a Delete payload):");
    demo.nodes[0]
        .endpoint
        .handle_command(
            Instant::now(),
            Command::Terminate {
                connection: CONN.into(),
            },
        )
        .map_err(|e| e.to_string())?;
    let mut down = [false; 2];
    demo.run_until(|i, ev| {
        if matches!(ev, Event::IkeDown { .. }) {
            down[i] = true;
        }
        down[0] && down[1]
    })
    .await
    .map_err(|e| format!("delete failed: {e}"))?;
    println!();
    println!("done.");
    Ok(())
}
