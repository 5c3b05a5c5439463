//! UDP sockets around the sans-IO engine: one receive task per socket feeding a channel, and
//! sending each [`Transmit`] from the socket bound to its local address and port.
use pqike_proto::Transmit;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// A datagram received on one of our sockets.
#[derive(Debug)]
pub struct Datagram {
    /// Which node (the demo runs two in one process; the daemon has one, 0).
    pub node: usize,
    /// Our address and port it arrived on (the bound address).
    pub local: SocketAddr,
    /// Sender.
    pub remote: SocketAddr,
    /// UDP payload.
    pub data: Vec<u8>,
}

/// The bound UDP sockets of one node.
#[derive(Clone, Default)]
pub struct Sockets {
    socks: Vec<(SocketAddr, Arc<UdpSocket>)>,
}

impl Sockets {
    /// Bind every address (IPv6 sockets are v6-only so `::` and `0.0.0.0` can coexist on a port).
    pub async fn bind(addrs: &[SocketAddr]) -> std::io::Result<Sockets> {
        let mut socks = Vec::new();
        for addr in addrs {
            let std_sock = bind_std(*addr).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}"))
            })?;
            let sock = UdpSocket::from_std(std_sock)?;
            let local = sock.local_addr()?;
            socks.push((local, Arc::new(sock)));
        }
        Ok(Sockets { socks })
    }

    /// The bound addresses (with the actual ports when binding port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.socks.iter().map(|s| s.0).collect()
    }

    /// Start one receive task per socket, tagged with `node`.
    pub fn spawn_receivers(&self, node: usize, tx: mpsc::Sender<Datagram>) {
        self.spawn_receivers_filtered(node, tx, |_| true)
    }

    /// Duplicated descriptors of the sockets bound to `port` (the userspace data plane reads
    /// the NAT-T sockets itself and forwards their IKE datagrams).
    pub fn dup_port(&self, port: u16) -> std::io::Result<Vec<(SocketAddr, std::os::fd::OwnedFd)>> {
        use std::os::fd::AsFd;
        self.socks
            .iter()
            .filter(|(a, _)| a.port() == port)
            .map(|(a, s)| Ok((*a, s.as_fd().try_clone_to_owned()?)))
            .collect()
    }

    /// Like [`Sockets::spawn_receivers`], for the sockets whose local address passes `keep`.
    pub fn spawn_receivers_filtered(
        &self,
        node: usize,
        tx: mpsc::Sender<Datagram>,
        keep: impl Fn(&SocketAddr) -> bool,
    ) {
        for (local, sock) in self.socks.iter().filter(|(a, _)| keep(a)) {
            let (local, sock, tx) = (*local, sock.clone(), tx.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                loop {
                    match sock.recv_from(&mut buf).await {
                        Ok((n, remote)) => {
                            let d = Datagram {
                                node,
                                local,
                                remote,
                                data: buf[..n].to_vec(),
                            };
                            if tx.send(d).await.is_err() {
                                return; // the engine task is gone
                            }
                        }
                        Err(e) => {
                            tracing::debug!("recv on {local}: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        }
                    }
                }
            });
        }
    }

    /// The socket for a transmit's local address: an exact match, else one bound to the
    /// wildcard address of the same family and port, else any of the same family and port.
    fn socket_for(&self, local: SocketAddr) -> Option<&Arc<UdpSocket>> {
        let same_port = |a: &SocketAddr| a.port() == local.port() && a.is_ipv4() == local.is_ipv4();
        self.socks
            .iter()
            .find(|(a, _)| *a == local)
            .or_else(|| {
                self.socks
                    .iter()
                    .find(|(a, _)| same_port(a) && a.ip().is_unspecified())
            })
            .or_else(|| self.socks.iter().find(|(a, _)| same_port(a)))
            .map(|(_, s)| s)
    }

    /// Send one datagram; failures are logged (UDP: the engine's retransmission covers losses).
    pub async fn send(&self, t: &Transmit) {
        match self.socket_for(t.local) {
            Some(s) => {
                if let Err(e) = s.send_to(&t.payload, t.remote).await {
                    tracing::warn!(
                        "send {} -> {} ({} bytes): {e}",
                        t.local,
                        t.remote,
                        t.payload.len()
                    );
                }
            }
            None => tracing::warn!(
                "no socket bound for {} (sending to {}); datagram dropped",
                t.local,
                t.remote
            ),
        }
    }
}

fn bind_std(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // v6-only, so `::` and `0.0.0.0` can both be listed in `listen` with the same port.
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    Ok(sock.into())
}
