//! The TUN device and the outbound worker: read IP packets (TCP super-packets split per MSS by
//! the vnet-header GSO helper), encrypt each in place with the SA the SPD selects, and send
//! runs of equal-sized ESP packets with one UDP GSO system call.
use super::io::{GSO_MAX_BYTES, GSO_MAX_SEGMENTS};
use super::Shared;
use pqike_esp::{EncapError, IN_PLACE_HEADROOM, MAX_OVERHEAD};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::{debug, info};

/// Create the device (vnet header offloads on, so the kernel hands us TCP super-packets and
/// accepts coalesced ones) and bring it up.
pub(crate) fn create(
    name: &str,
    mtu: u16,
    queues: usize,
) -> std::io::Result<Vec<tun_rs::SyncDevice>> {
    let dev = tun_rs::DeviceBuilder::new()
        .name(name)
        .mtu(mtu)
        .offload(true)
        .multi_queue(queues > 1)
        .build_sync()?;
    let mut devs = vec![dev];
    for _ in 1..queues {
        match devs[0].try_clone() {
            Ok(d) => devs.push(d),
            Err(e) => {
                debug!("second TUN queue: {e}");
                break;
            }
        }
    }
    // The builder may leave the link down without an address: bring it up ourselves.
    let _ = std::process::Command::new("ip")
        .args(["link", "set", name, "up"])
        .status();
    info!(
        "TUN {name} up (mtu {mtu}, {} queue(s), offload {})",
        devs.len(),
        devs[0].tcp_gso()
    );
    Ok(devs)
}

/// One run of ESP packets for [`super::io::Sockets::send_run`]: `pkts[first..first + count]`.
#[derive(Clone, Copy)]
struct Run {
    first: usize,
    count: usize,
    bytes: usize,
    seg: usize,
    local: SocketAddr,
    remote: SocketAddr,
    udp_encap: bool,
    closed: bool,
}

/// Outbound worker for one TUN queue.
///
/// Each packet of a batch gets a slot `headroom | inner packet | padding and ICV room`: the
/// GSO split writes the inner packets behind the headroom, ESP is built around them in place
/// ([`pqike_esp::DataPlane::encapsulate_in_place`]), and the kernel gathers a run's packets
/// from their slots (one iovec each) into one UDP GSO send: no copy in userspace between the
/// TUN read and the send.
pub(crate) fn outbound(shared: Arc<Shared>, dev: Arc<tun_rs::SyncDevice>, mtu: usize) {
    let inner_cap = (mtu + 64).max(2048);
    let slot = IN_PLACE_HEADROOM + inner_cap + MAX_OVERHEAD;
    let mut orig = vec![0u8; tun_rs::VIRTIO_NET_HDR_LEN + 65_536];
    let mut slots = vec![0u8; tun_rs::IDEAL_BATCH_SIZE * slot];
    let mut bufs: Vec<&mut [u8]> = slots.chunks_mut(slot).collect();
    let mut sizes = vec![0usize; bufs.len()];
    // Per packet sent: (slot, start, end) of its ESP packet.
    let mut pkts: Vec<(usize, usize, usize)> = Vec::with_capacity(bufs.len());
    let mut runs: Vec<Run> = Vec::with_capacity(bufs.len());
    // Packets no SA carries, for the trap policies (super::trap).
    let mut unsent: Vec<usize> = Vec::new();
    loop {
        let n = match dev.recv_multiple(&mut orig, &mut bufs, &mut sizes, IN_PLACE_HEADROOM) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                debug!("TUN read: {e}");
                if e.raw_os_error() == Some(nix::libc::EBADFD) {
                    return;
                }
                continue;
            }
        };
        pkts.clear();
        runs.clear();
        unsent.clear();
        {
            for (i, (b, &len)) in bufs.iter_mut().zip(&sizes).take(n).enumerate() {
                let base = b.as_ptr() as usize;
                // The lock per packet, not per batch: the inbound thread then never waits
                // longer than one packet's encryption (short enough for the mutex's spinning,
                // where a batch-long hold made it sleep and be woken).
                let mut dp = shared.lock();
                let e = match dp.encapsulate_in_place(b, IN_PLACE_HEADROOM, len) {
                    Ok(e) => e,
                    Err(EncapError::NoPolicy) => {
                        unsent.push(i);
                        continue;
                    }
                    Err(EncapError::MalformedInner) => continue,
                    Err(e) => {
                        debug!("ESP out: {e}");
                        continue;
                    }
                };
                let plen = e.packet.len();
                let start = e.packet.as_ptr() as usize - base;
                let joins = runs.last().is_some_and(|r| {
                    !r.closed
                        && r.local == e.local
                        && r.remote == e.remote
                        && r.udp_encap == e.udp_encap
                        && plen <= r.seg
                        && r.count < GSO_MAX_SEGMENTS
                        && r.bytes + plen <= GSO_MAX_BYTES
                });
                if joins {
                    let r = runs.last_mut().expect("checked");
                    r.count += 1;
                    r.bytes += plen;
                    // A shorter packet may only end a GSO run.
                    r.closed = plen < r.seg;
                } else {
                    runs.push(Run {
                        first: pkts.len(),
                        count: 1,
                        bytes: plen,
                        seg: plen,
                        local: e.local,
                        remote: e.remote,
                        udp_encap: e.udp_encap,
                        closed: false,
                    });
                }
                pkts.push((i, start, start + plen));
            }
        }
        let mut iov = [IoSlice::new(&[]); GSO_MAX_SEGMENTS];
        for r in &runs {
            for (v, &(i, a, z)) in iov.iter_mut().zip(&pkts[r.first..r.first + r.count]) {
                *v = IoSlice::new(&bufs[i][a..z]);
            }
            shared
                .sockets
                .send_run(r.local, r.remote, r.udp_encap, &iov[..r.count], r.seg);
        }
        if !unsent.is_empty() {
            trap_check(&shared, &bufs, &sizes, &unsent);
        }
    }
}

/// Packets without SA: those matching a trap policy are dropped and may send an acquire to
/// the event loop (super::trap). Outside the data-plane lock, after the batch went out.
fn trap_check(shared: &Shared, bufs: &[&mut [u8]], sizes: &[usize], unsent: &[usize]) {
    let now = std::time::Instant::now();
    let mut acquires = Vec::new();
    {
        let mut traps = shared.traps();
        for &i in unsent {
            let inner = bufs[i].get(IN_PLACE_HEADROOM..IN_PLACE_HEADROOM + sizes[i]);
            if let Some(a) = traps.packet(inner.unwrap_or_default(), now) {
                acquires.push(a);
            }
        }
    }
    for a in acquires {
        info!(
            "trap {}/{}: traffic without Child SA, acquiring",
            a.connection, a.child
        );
        // The receiver only goes away with the event loop (shutdown).
        let _ = shared.acquire.send(a);
    }
}
