//! The data plane's sockets: ESP-in-UDP on the NAT-T port (RFC 3948, shared with IKE) and plain
//! ESP (IP protocol 50) on raw sockets, with UDP GSO on the way out and UDP GRO on the way in so
//! that one system call carries up to 64 ESP packets.
//!
//! The NAT-T sockets are the daemon's own (bound in [`crate::net`]); the data plane reads them
//! on a thread of its own through a duplicated descriptor and passes IKE datagrams on to the
//! engine's channel, so the port-4500 demultiplexing of RFC 3948 §2.2 happens exactly once.
use super::{gro, Shared};
use crate::net::Datagram;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrStorage,
};
use pqike_esp::udp::{classify, NatTPayload};
use pqike_esp::{Decapsulated, Mode};
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
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

    /// Send `pkts`, a run of ESP packets of `seg` octets each (the last may be shorter),
    /// from `local` to `remote`. UDP: one GSO send that gathers the packets (the kernel cuts
    /// the concatenation at every `seg` octets, so each must be exactly that long but the
    /// last); raw ESP: one send per packet.
    pub(crate) fn send_run(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        udp_encap: bool,
        pkts: &[IoSlice<'_>],
        seg: usize,
    ) {
        if pkts.is_empty() || seg == 0 {
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
            let cmsgs: &[ControlMessage] = if pkts.len() > 1 { &gso } else { &[] };
            loop {
                match sendmsg(sock.as_raw_fd(), pkts, cmsgs, MsgFlags::empty(), Some(&dst)) {
                    Ok(_) => return,
                    Err(nix::errno::Errno::EAGAIN) => wait(sock.as_fd(), PollFlags::POLLOUT),
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(e) if pkts.len() > 1 && e == nix::errno::Errno::EIO => {
                        // No GSO for this route (e.g. a device without checksum offload):
                        // fall back to one datagram per packet.
                        for p in pkts {
                            let _ = sock.send_to(p, remote);
                        }
                        return;
                    }
                    Err(e) => {
                        let bytes: usize = pkts.iter().map(|p| p.len()).sum();
                        debug!("ESP send {local} -> {remote} ({bytes} bytes): {e}");
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
            for p in pkts {
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

/// Size of the receive area: datagrams are read into it one after another, decrypted in
/// place and written to TUN from there once the socket runs dry or the area is full.
const RX_AREA: usize = 4 * GRO_BUF;
/// Most packets held for one flush.
const RX_MAX_PKTS: usize = 256;

/// Decrypted packets waiting for their TUN write, where they were decrypted: consecutive TCP
/// segments of a flow go out as one packet gathered from there ([`super::gro`]).
pub(crate) struct RxBatch {
    buf: Vec<u8>,
    used: usize,
    /// Transport-mode packets, rebuilt behind a new IP header (they cannot stay in place).
    rebuilt: Vec<u8>,
    rebuilt_used: usize,
    /// The packets to write, in order: (in `rebuilt`, range).
    pkts: Vec<(bool, Range<usize>)>,
    groups: Vec<gro::Group>,
}

impl RxBatch {
    pub(crate) fn new() -> RxBatch {
        RxBatch {
            buf: vec![0; RX_AREA],
            used: 0,
            rebuilt: vec![0; RX_AREA],
            rebuilt_used: 0,
            pkts: Vec::with_capacity(RX_MAX_PKTS),
            groups: Vec::with_capacity(RX_MAX_PKTS),
        }
    }

    fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }

    /// Whether the next read might not fit: write what is held first.
    fn must_flush(&self) -> bool {
        self.buf.len() - self.used < GRO_BUF || self.pkts.len() + GSO_MAX_SEGMENTS > RX_MAX_PKTS
    }

    /// Where the next datagram is read to (at least [`GRO_BUF`] octets after a flush).
    fn area(&mut self) -> &mut [u8] {
        let end = (self.used + GRO_BUF).min(self.buf.len());
        &mut self.buf[self.used..end]
    }

    /// The octets just read into [`RxBatch::area`].
    fn read(&self, range: Range<usize>) -> &[u8] {
        &self.buf[self.used + range.start..self.used + range.end]
    }

    /// Decapsulate `range` of what was just read (errors are counted by the core and logged
    /// there); keep the packet for the next flush.
    fn decap(&mut self, dp: &mut pqike_esp::DataPlane, range: Range<usize>) {
        let base = self.buf.as_ptr() as usize;
        let at = self.used + range.start..self.used + range.end;
        match dp.decapsulate(&mut self.buf[at]) {
            Ok(Decapsulated::Packet(inner)) if inner.mode == Mode::Tunnel => {
                let start = inner.data.as_ptr() as usize - base;
                self.pkts.push((false, start..start + inner.data.len()));
            }
            Ok(Decapsulated::Packet(inner)) => {
                // Transport mode: the payload behind an IP header rebuilt from the SA's outer
                // addresses (RFC 4303 §3.1.1; checksum fix-up for ESP-in-UDP, RFC 3948
                // §3.1.2).
                let out = &mut self.rebuilt[self.rebuilt_used..];
                match pqike_esp::transport::build_ip_packet(&inner, out) {
                    Some(n) => {
                        let r = self.rebuilt_used..self.rebuilt_used + n;
                        self.rebuilt_used += n;
                        self.pkts.push((true, r));
                    }
                    None => debug!(
                        "ESP in: transport-mode packet on SPI {:08x} cannot be rebuilt, dropped",
                        inner.spi
                    ),
                }
            }
            Ok(Decapsulated::Dummy { .. }) => {}
            Err(_) => {}
        }
    }

    /// `len` octets were read into the area and handled: keep them until the flush.
    fn commit(&mut self, len: usize) {
        self.used += len;
    }

    /// Write the held packets to TUN: merged runs of TCP segments (when the device takes vnet
    /// headers), everything else one write each, in arrival order.
    fn flush(&mut self, shared: &Shared) {
        let RxBatch {
            buf,
            rebuilt,
            pkts,
            groups,
            ..
        } = self;
        if let (Some(tun), false) = (shared.tun.get(), pkts.is_empty()) {
            let mut slices: [&[u8]; RX_MAX_PKTS] = [&[]; RX_MAX_PKTS];
            for (s, (in_rebuilt, r)) in slices.iter_mut().zip(pkts.iter()) {
                *s = if *in_rebuilt {
                    &rebuilt[r.clone()]
                } else {
                    &buf[r.clone()]
                };
            }
            let slices = &slices[..pkts.len().min(RX_MAX_PKTS)];
            let vnet = tun.tcp_gso();
            if vnet {
                gro::plan(slices, groups);
            } else {
                groups.clear();
                groups.extend((0..slices.len()).map(|first| gro::Group { first, count: 1 }));
            }
            for g in groups.iter() {
                let mut hdr = [0u8; gro::HEADER_ROOM];
                let mut iov = [IoSlice::new(&[]); gro::MAX_SEGMENTS + 1];
                let n = if g.count == 1 {
                    let p = slices[g.first];
                    if vnet {
                        iov[0] = IoSlice::new(&gro::PLAIN_HDR);
                        iov[1] = IoSlice::new(p);
                        2
                    } else {
                        iov[0] = IoSlice::new(p);
                        1
                    }
                } else {
                    let h = gro::merged_header(slices, *g, &mut hdr);
                    iov[0] = IoSlice::new(&hdr[..h]);
                    for (v, p) in iov[1..].iter_mut().zip(&slices[g.first..g.first + g.count]) {
                        *v = IoSlice::new(&p[gro::payload_range(p)]);
                    }
                    g.count + 1
                };
                if let Err(e) = nix::sys::uio::writev(tun.as_fd(), &iov[..n]) {
                    debug!("TUN write: {e}");
                }
            }
        }
        pkts.clear();
        self.used = 0;
        self.rebuilt_used = 0;
    }
}

fn udp_rx(shared: Arc<Shared>, idx: usize, ike: mpsc::Sender<Datagram>) {
    let (local, sock) = &shared.sockets.nat[idx];
    let local = *local;
    let mut cmsg = nix::cmsg_space!(i32);
    let mut batch = RxBatch::new();
    loop {
        if batch.must_flush() {
            batch.flush(&shared);
        }
        let (len, seg, remote) = {
            let mut iov = [IoSliceMut::new(batch.area())];
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
                    // Dry: write what is held, then look again before sleeping. Writing to
                    // TUN runs the inner TCP in this thread, during which the next datagrams
                    // usually arrive; reading them at once saves a sleep and a wake-up.
                    if batch.is_empty() {
                        wait(sock.as_fd(), PollFlags::POLLIN);
                    } else {
                        batch.flush(&shared);
                    }
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
        let seg = if seg == 0 { len } else { seg }.max(1);
        for start in (0..len).step_by(seg) {
            let chunk = start..(start + seg).min(len);
            match classify(batch.read(chunk.clone())) {
                NatTPayload::Esp => {
                    // Per packet, like the outbound worker (see there).
                    batch.decap(&mut shared.lock(), chunk);
                }
                NatTPayload::Ike => {
                    let d = Datagram {
                        node: 0,
                        local,
                        remote,
                        data: batch.read(chunk).to_vec(),
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
        batch.commit(len);
    }
}

fn raw_rx(shared: Arc<Shared>, v6: bool) {
    let sock = if v6 {
        shared.sockets.raw6.as_ref()
    } else {
        shared.sockets.raw4.as_ref()
    };
    let Some(sock) = sock else { return };
    let mut batch = RxBatch::new();
    loop {
        if batch.must_flush() {
            batch.flush(&shared);
        }
        let n = match std::io::Read::read(&mut &*sock, batch.area()) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // As in udp_rx: write what is held, look again before sleeping.
                if batch.is_empty() {
                    wait(sock.as_fd(), PollFlags::POLLIN);
                } else {
                    batch.flush(&shared);
                }
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
            match batch.read(0..n).first() {
                Some(b) => usize::from(b & 0x0f) * 4,
                None => continue,
            }
        };
        if n > off {
            let mut dp = shared.lock();
            batch.decap(&mut dp, off..n);
        }
        batch.commit(n);
    }
}
