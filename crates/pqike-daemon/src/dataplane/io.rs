//! The data plane's sockets: ESP-in-UDP on the NAT-T port (RFC 3948, shared with IKE) and plain
//! ESP (IP protocol 50) on raw sockets, with UDP GSO on the way out and UDP GRO on the way in so
//! that one system call carries up to 64 ESP packets.
//!
//! The NAT-T sockets are the daemon's own (bound in [`crate::net`]); the data plane reads them
//! on a thread of its own through a duplicated descriptor and passes IKE datagrams on to the
//! engine's channel, so the port-4500 demultiplexing of RFC 3948 §2.2 happens exactly once.
use super::Shared;
use crate::net::Datagram;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrStorage,
};
use pqike_esp::udp::{classify, NatTPayload};
use pqike_esp::{DecapError, Decapsulated, Mode};
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::{debug, info, trace, warn};

/// Largest UDP payload a GRO read can return.
const GRO_BUF: usize = 65_536;
/// Linux accepts at most 64 segments per UDP GSO send (UDP_MAX_SEGMENTS in older kernels).
pub(crate) const GSO_MAX_SEGMENTS: usize = 64;
/// Largest total of one GSO send (an IP datagram's length field).
pub(crate) const GSO_MAX_BYTES: usize = 65_000;

/// Where ESP goes out: the NAT-T sockets (by bound address) and the raw ESP sockets.
pub(crate) struct Sockets {
    nat: Vec<(SocketAddr, UdpSocket)>,
    raw4: Option<socket2::Socket>,
    raw6: Option<socket2::Socket>,
}

impl Sockets {
    /// Duplicate the daemon's NAT-T sockets; open raw ESP sockets if `raw_esp` (needs
    /// CAP_NET_RAW; without it only UDP-encapsulated SAs carry traffic).
    pub(crate) fn new(nat: Vec<(SocketAddr, OwnedFd)>, raw_esp: bool) -> Sockets {
        let nat = nat
            .into_iter()
            .map(|(a, fd)| {
                let s = UdpSocket::from(fd);
                // Let GRO coalesce ESP datagrams of a flow into one read (Linux >= 5.0).
                if let Err(e) = setsockopt(&s, sockopt::UdpGroSegment, &true) {
                    debug!("UDP_GRO on {a}: {e}");
                }
                big_buffers(&s);
                (a, s)
            })
            .collect();
        let raw = |d: socket2::Domain| -> Option<socket2::Socket> {
            if !raw_esp {
                return None;
            }
            match socket2::Socket::new(d, socket2::Type::RAW, Some(socket2::Protocol::from(50))) {
                Ok(s) => {
                    let _ = s.set_nonblocking(true);
                    big_buffers(&s);
                    Some(s)
                }
                Err(e) => {
                    info!("no raw ESP socket ({e}): only UDP-encapsulated ESP will work");
                    None
                }
            }
        };
        Sockets {
            nat,
            raw4: raw(socket2::Domain::IPV4),
            raw6: raw(socket2::Domain::IPV6),
        }
    }

    /// The NAT-T socket for a local address: exact match, else the same port and family.
    fn nat_for(&self, local: SocketAddr) -> Option<&UdpSocket> {
        self.nat
            .iter()
            .find(|(a, _)| *a == local)
            .or_else(|| {
                self.nat.iter().find(|(a, _)| {
                    a.port() == local.port()
                        && a.is_ipv4() == local.is_ipv4()
                        && a.ip().is_unspecified()
                })
            })
            .or_else(|| {
                self.nat
                    .iter()
                    .find(|(a, _)| a.port() == local.port() && a.is_ipv4() == local.is_ipv4())
            })
            .map(|(_, s)| s)
    }

    /// Send `buf`, a run of ESP packets of `seg` octets each (the last may be shorter), from
    /// `local` to `remote`. UDP: one GSO send; raw ESP: one send per packet.
    pub(crate) fn send_run(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        udp_encap: bool,
        buf: &[u8],
        seg: usize,
    ) {
        if buf.is_empty() || seg == 0 {
            return;
        }
        if udp_encap {
            let Some(sock) = self.nat_for(local) else {
                debug!("no NAT-T socket for {local}: ESP dropped");
                return;
            };
            let dst = SockaddrStorage::from(remote);
            let seg16 = seg as u16;
            let gso = [ControlMessage::UdpGsoSegments(&seg16)];
            let cmsgs: &[ControlMessage] = if buf.len() > seg { &gso } else { &[] };
            let iov = [IoSlice::new(buf)];
            loop {
                match sendmsg(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), Some(&dst)) {
                    Ok(_) => return,
                    Err(nix::errno::Errno::EAGAIN) => wait(sock.as_fd(), PollFlags::POLLOUT),
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(e) if buf.len() > seg && e == nix::errno::Errno::EIO => {
                        // No GSO for this route (e.g. a device without checksum offload):
                        // fall back to one datagram per packet.
                        for p in buf.chunks(seg) {
                            let _ = sock.send_to(p, remote);
                        }
                        return;
                    }
                    Err(e) => {
                        debug!("ESP send {local} -> {remote} ({} bytes): {e}", buf.len());
                        return;
                    }
                }
            }
        } else {
            let raw = if remote.is_ipv4() {
                &self.raw4
            } else {
                &self.raw6
            };
            let Some(raw) = raw else {
                debug!("no raw ESP socket: ESP to {remote} dropped");
                return;
            };
            let dst = socket2::SockAddr::from(SocketAddr::new(remote.ip(), 0));
            for p in buf.chunks(seg) {
                loop {
                    match raw.send_to(p, &dst) {
                        Ok(_) => break,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            wait(raw.as_fd(), PollFlags::POLLOUT)
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            debug!("raw ESP send to {remote}: {e}");
                            break;
                        }
                    }
                }
            }
        }
    }

    /// RFC 3948 §2.3 NAT keepalive (one 0xFF octet).
    pub(crate) fn keepalive(&self, local: SocketAddr, remote: SocketAddr) {
        if let Some(s) = self.nat_for(local) {
            if let Err(e) = s.send_to(&pqike_esp::udp::KEEPALIVE, remote) {
                debug!("keepalive {local} -> {remote}: {e}");
            }
        }
    }
}

/// Socket buffers for bursts of a few ms at 10 Gbit/s (the defaults hold ~150 datagrams):
/// beyond the sysctl limits when we may (`*BUFFORCE` needs CAP_NET_ADMIN).
fn big_buffers(s: &impl AsFd) {
    const SIZE: usize = 8 << 20;
    if setsockopt(s, sockopt::RcvBufForce, &SIZE).is_err() {
        let _ = setsockopt(s, sockopt::RcvBuf, &SIZE);
    }
    if setsockopt(s, sockopt::SndBufForce, &SIZE).is_err() {
        let _ = setsockopt(s, sockopt::SndBuf, &SIZE);
    }
}

fn wait(fd: std::os::fd::BorrowedFd<'_>, ev: PollFlags) {
    let mut p = [PollFd::new(fd, ev)];
    let _ = nix::poll::poll(&mut p, PollTimeout::from(1000u16));
}

/// Start one receive thread per NAT-T socket and per raw ESP socket.
pub(crate) fn spawn_receivers(shared: &Arc<Shared>, ike: mpsc::Sender<Datagram>) {
    for i in 0..shared.sockets.nat.len() {
        let (shared, ike) = (shared.clone(), ike.clone());
        let _ = std::thread::Builder::new()
            .name("esp-rx-udp".into())
            .spawn(move || udp_rx(shared, i, ike));
    }
    for v6 in [false, true] {
        let has = if v6 {
            shared.sockets.raw6.is_some()
        } else {
            shared.sockets.raw4.is_some()
        };
        if has {
            let shared = shared.clone();
            let _ = std::thread::Builder::new()
                .name("esp-rx-raw".into())
                .spawn(move || raw_rx(shared, v6));
        }
    }
}

/// Decrypted packets waiting to be written to TUN, with the headroom the vnet header needs.
pub(crate) struct TunBatch {
    bufs: Vec<Vec<u8>>,
    n: usize,
    gro: tun_rs::GROTable,
}

impl TunBatch {
    pub(crate) fn new() -> TunBatch {
        TunBatch {
            bufs: (0..tun_rs::IDEAL_BATCH_SIZE)
                .map(|_| Vec::with_capacity(GRO_BUF + tun_rs::VIRTIO_NET_HDR_LEN))
                .collect(),
            n: 0,
            gro: tun_rs::GROTable::new(),
        }
    }

    fn push(&mut self, pkt: &[u8]) -> bool {
        let Some(b) = self.bufs.get_mut(self.n) else {
            return false;
        };
        b.clear();
        b.resize(tun_rs::VIRTIO_NET_HDR_LEN, 0);
        b.extend_from_slice(pkt);
        self.n += 1;
        true
    }

    /// Transport mode: the payload behind an IP header rebuilt from the SA's outer addresses
    /// (RFC 4303 §3.1.1; checksum fix-up for ESP-in-UDP, RFC 3948 §3.1.2).
    fn push_transport(&mut self, inner: &pqike_esp::Inner<'_>) -> bool {
        let Some(b) = self.bufs.get_mut(self.n) else {
            return false;
        };
        let hl = pqike_esp::transport::ip_header_len(inner.outer_src);
        b.clear();
        b.resize(tun_rs::VIRTIO_NET_HDR_LEN + hl + inner.data.len(), 0);
        match pqike_esp::transport::build_ip_packet(inner, &mut b[tun_rs::VIRTIO_NET_HDR_LEN..]) {
            Some(_) => {
                self.n += 1;
                true
            }
            None => {
                debug!(
                    "ESP in: transport-mode packet on SPI {:08x} cannot be rebuilt, dropped",
                    inner.spi
                );
                false
            }
        }
    }

    fn full(&self) -> bool {
        self.n == self.bufs.len()
    }

    /// Write the batch (TCP segments coalesced by GRO when the device has offloads).
    fn flush(&mut self, shared: &Shared) {
        if self.n == 0 {
            return;
        }
        if let Some(tun) = shared.tun.get() {
            if let Err(e) = tun.send_multiple(
                &mut self.gro,
                &mut self.bufs[..self.n],
                tun_rs::VIRTIO_NET_HDR_LEN,
            ) {
                debug!("TUN write: {e}");
            }
        }
        self.n = 0;
    }
}

/// Decapsulate one ESP packet into the batch (errors are counted by the core and logged there).
fn decap_into(dp: &mut pqike_esp::DataPlane, pkt: &mut [u8], batch: &mut TunBatch) {
    match dp.decapsulate(pkt) {
        Ok(Decapsulated::Packet(inner)) if inner.mode == Mode::Tunnel => {
            batch.push(inner.data);
        }
        Ok(Decapsulated::Packet(inner)) => {
            batch.push_transport(&inner);
        }
        Ok(Decapsulated::Dummy { .. }) => {}
        Err(DecapError::UnknownSpi { .. }) | Err(_) => {}
    }
}

fn udp_rx(shared: Arc<Shared>, idx: usize, ike: mpsc::Sender<Datagram>) {
    let (local, sock) = &shared.sockets.nat[idx];
    let local = *local;
    let mut buf = vec![0u8; GRO_BUF];
    let mut cmsg = nix::cmsg_space!(i32);
    let mut batch = TunBatch::new();
    loop {
        let (len, seg, remote) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<SockaddrStorage>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(m) => {
                    let mut seg = 0usize;
                    if let Ok(cm) = m.cmsgs() {
                        for c in cm {
                            if let ControlMessageOwned::UdpGroSegments(s) = c {
                                seg = s.max(0) as usize;
                            }
                        }
                    }
                    let remote = m.address.and_then(|a| {
                        a.as_sockaddr_in()
                            .map(|s| SocketAddr::from((s.ip(), s.port())))
                            .or_else(|| {
                                a.as_sockaddr_in6()
                                    .map(|s| SocketAddr::from((s.ip(), s.port())))
                            })
                    });
                    (m.bytes, seg, remote)
                }
                Err(nix::errno::Errno::EAGAIN) => {
                    batch.flush(&shared);
                    wait(sock.as_fd(), PollFlags::POLLIN);
                    continue;
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    warn!("recv on {local}: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
            }
        };
        let Some(remote) = remote else { continue };
        let seg = if seg == 0 { len } else { seg };
        let mut dp = None;
        for chunk in buf[..len].chunks_mut(seg.max(1)) {
            match classify(chunk) {
                NatTPayload::Esp => {
                    let dp = dp.get_or_insert_with(|| shared.lock());
                    decap_into(dp, chunk, &mut batch);
                    if batch.full() {
                        batch.flush(&shared);
                    }
                }
                NatTPayload::Ike => {
                    let d = Datagram {
                        node: 0,
                        local,
                        remote,
                        data: chunk.to_vec(),
                    };
                    if ike.blocking_send(d).is_err() {
                        return; // the engine is gone
                    }
                }
                NatTPayload::Keepalive => trace!("NAT-T keepalive from {remote}"),
                NatTPayload::Invalid => debug!(
                    "dropping {}-octet datagram from {remote} on {local}",
                    chunk.len()
                ),
            }
        }
        drop(dp);
    }
}

fn raw_rx(shared: Arc<Shared>, v6: bool) {
    let sock = if v6 {
        shared.sockets.raw6.as_ref()
    } else {
        shared.sockets.raw4.as_ref()
    };
    let Some(sock) = sock else { return };
    let mut buf = vec![0u8; GRO_BUF];
    let mut batch = TunBatch::new();
    loop {
        let n = match std::io::Read::read(&mut &*sock, &mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                batch.flush(&shared);
                wait(sock.as_fd(), PollFlags::POLLIN);
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                warn!("raw ESP recv: {e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        // IPv4 raw sockets deliver the IP header, IPv6 ones do not.
        let off = if v6 {
            0
        } else {
            match buf.first() {
                Some(b) => usize::from(b & 0x0f) * 4,
                None => continue,
            }
        };
        if n <= off {
            continue;
        }
        let mut dp = shared.lock();
        decap_into(&mut dp, &mut buf[off..n], &mut batch);
        drop(dp);
        if batch.full() {
            batch.flush(&shared);
        }
    }
}
