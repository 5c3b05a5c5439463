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
    socks: Vec<(SocketAddr, Sock)>,
}

/// One bound socket: registered with the tokio reactor, or (once its receive side belongs to
/// the data plane, [`Sockets::hand_over`]) a plain non-blocking socket that IKE only sends on.
#[derive(Clone)]
enum Sock {
    Async(Arc<UdpSocket>),
    Plain(Arc<std::net::UdpSocket>),
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
            socks.push((local, Sock::Async(Arc::new(sock))));
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
            .map(|(a, s)| {
                let fd = match s {
                    Sock::Async(s) => s.as_fd().try_clone_to_owned()?,
                    Sock::Plain(s) => s.as_fd().try_clone_to_owned()?,
                };
                Ok((*a, fd))
            })
            .collect()
    }

    /// Like [`Sockets::dup_port`], and take the sockets on `port` out of the tokio reactor: the
    /// data plane then owns their receive side, and IKE only sends on them. Why: the data
    /// plane's ESP leaves through the same socket, and every send completion makes the kernel
    /// report the socket writable (`sk_write_space`); registered with epoll (mio registers
    /// read and write interest), that woke a runtime thread thousands of times per second
    /// under load, for nothing.
    pub fn hand_over(
        &mut self,
        port: u16,
    ) -> std::io::Result<Vec<(SocketAddr, std::os::fd::OwnedFd)>> {
        // On an error the daemon stops, so a half-rebuilt list does not matter.
        for (a, s) in std::mem::take(&mut self.socks) {
            let s = match s {
                Sock::Async(arc) if a.port() == port => {
                    // Only `bind` holds a reference yet: hand over before cloning `Sockets`.
                    let sock = Arc::try_unwrap(arc).map_err(|_| {
                        std::io::Error::other(format!("socket {a} is shared, cannot hand it over"))
                    })?;
                    // Deregisters it from the reactor; the socket stays non-blocking.
                    Sock::Plain(Arc::new(sock.into_std()?))
                }
                other => other,
            };
            self.socks.push((a, s));
        }
        self.dup_port(port)
    }

    /// Like [`Sockets::spawn_receivers`], for the sockets whose local address passes `keep`.
    pub fn spawn_receivers_filtered(
        &self,
        node: usize,
        tx: mpsc::Sender<Datagram>,
        keep: impl Fn(&SocketAddr) -> bool,
    ) {
        for (local, sock) in self.socks.iter().filter(|(a, _)| keep(a)) {
            let Sock::Async(sock) = sock else {
                tracing::debug!("{local}: its receive side belongs to the data plane");
                continue;
            };
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
    fn socket_for(&self, local: SocketAddr) -> Option<&Sock> {
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
                let sent = match s {
                    Sock::Async(s) => s.send_to(&t.payload, t.remote).await.map(|_| ()),
                    Sock::Plain(s) => send_plain(s, &t.payload, t.remote).await,
                };
                if let Err(e) = sent {
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

/// Send on a socket outside the reactor: a full send buffer (the data plane's ESP shares it)
/// is waited out in short sleeps, for at most ~100 ms; IKE retransmits beyond that.
async fn send_plain(
    s: &std::net::UdpSocket,
    payload: &[u8],
    remote: SocketAddr,
) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match s.send_to(payload, remote) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && tries < 100 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A handed-over socket: its descriptor goes to the data plane (which reads it), the
    /// runtime no longer receives on it, and IKE still sends from it.
    #[tokio::test]
    async fn handed_over_sockets_still_send_and_are_not_read_by_the_runtime() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut socks = Sockets::bind(&[any, any]).await.unwrap();
        let addrs = socks.local_addrs();
        let (ike, nat) = (addrs[0], addrs[1]);
        let fds = socks.hand_over(nat.port()).unwrap();
        assert_eq!(fds.len(), 1);
        assert_eq!(fds[0].0, nat);
        let dp_side = std::net::UdpSocket::from(fds.into_iter().next().unwrap().1);

        let (tx, mut rx) = mpsc::channel(8);
        socks.spawn_receivers(0, tx);
        let peer = std::net::UdpSocket::bind(any).unwrap();
        // Sending from the handed-over socket (IKE on the NAT-T port) still works.
        let t = Transmit {
            local: nat,
            remote: peer.local_addr().unwrap(),
            payload: b"\0\0\0\0ike".to_vec(),
        };
        socks.send(&t).await;
        let mut buf = [0u8; 64];
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"\0\0\0\0ike"[..], nat));
        // What arrives on it is the data plane's to read, not the runtime's.
        peer.send_to(b"esp", nat).unwrap();
        peer.send_to(b"ike", ike).unwrap();
        let d = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((d.local, &d.data[..]), (ike, &b"ike"[..]));
        dp_side
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let n = dp_side.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"esp");
        assert!(rx.try_recv().is_err());
        // Once cloned, a socket cannot be handed over any more.
        let mut again = Sockets::bind(&[any]).await.unwrap();
        let port = again.local_addrs()[0].port();
        let _clone = again.clone();
        assert!(again.hand_over(port).is_err());
    }
}
