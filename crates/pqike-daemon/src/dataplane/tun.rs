//! The TUN device and the outbound worker: read IP packets (TCP super-packets split per MSS by
//! the vnet-header GSO helper), encrypt each with the SA the SPD selects, and send runs of
//! equal-sized ESP packets with one UDP GSO system call.
use super::io::{GSO_MAX_BYTES, GSO_MAX_SEGMENTS};
use super::Shared;
use pqike_esp::{EncapError, MAX_OVERHEAD};
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

/// One run of ESP packets for [`super::io::Sockets::send_run`].
#[derive(Clone, Copy)]
struct Run {
    start: usize,
    end: usize,
    seg: usize,
    local: SocketAddr,
    remote: SocketAddr,
    udp_encap: bool,
    closed: bool,
}

/// Outbound worker for one TUN queue.
pub(crate) fn outbound(shared: Arc<Shared>, dev: Arc<tun_rs::SyncDevice>, mtu: usize) {
    let seg_cap = mtu + 64;
    let mut orig = vec![0u8; tun_rs::VIRTIO_NET_HDR_LEN + 65_536];
    let mut bufs: Vec<Vec<u8>> = (0..tun_rs::IDEAL_BATCH_SIZE)
        .map(|_| vec![0u8; seg_cap.max(2048)])
        .collect();
    let mut sizes = vec![0usize; bufs.len()];
    let cap = bufs.len() * (seg_cap + MAX_OVERHEAD);
    let mut out = vec![0u8; cap];
    let mut runs: Vec<Run> = Vec::with_capacity(bufs.len());
    // Packets no SA carries, for the trap policies (super::trap).
    let mut unsent: Vec<usize> = Vec::new();
    loop {
        let n = match dev.recv_multiple(&mut orig, &mut bufs, &mut sizes, 0) {
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
        runs.clear();
        unsent.clear();
        let mut cur = 0usize;
        {
            let mut dp = shared.lock();
            for (i, (b, &len)) in bufs.iter().zip(&sizes).take(n).enumerate() {
                let room = len + MAX_OVERHEAD;
                if cur + room > out.len() {
                    break; // cannot happen with the sizes above; drop the rest rather than grow
                }
                let e = match dp.encapsulate(&b[..len], &mut out[cur..cur + room]) {
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
                let joins = runs.last().is_some_and(|r| {
                    !r.closed
                        && r.local == e.local
                        && r.remote == e.remote
                        && r.udp_encap == e.udp_encap
                        && r.end == cur
                        && plen <= r.seg
                        && (r.end - r.start) / r.seg < GSO_MAX_SEGMENTS
                        && r.end + plen - r.start <= GSO_MAX_BYTES
                });
                if joins {
                    let r = runs.last_mut().expect("checked");
                    r.end += plen;
                    // A shorter packet may only end a GSO run.
                    r.closed = plen < r.seg;
                } else {
                    runs.push(Run {
                        start: cur,
                        end: cur + plen,
                        seg: plen,
                        local: e.local,
                        remote: e.remote,
                        udp_encap: e.udp_encap,
                        closed: false,
                    });
                }
                cur += plen;
            }
        }
        for r in &runs {
            shared
                .sockets
                .send_run(r.local, r.remote, r.udp_encap, &out[r.start..r.end], r.seg);
        }
        if !unsent.is_empty() {
            trap_check(&shared, &bufs, &sizes, &unsent);
        }
    }
}

/// Packets without SA: those matching a trap policy are dropped and may send an acquire to
/// the event loop (super::trap). Outside the data-plane lock, after the batch went out.
fn trap_check(shared: &Shared, bufs: &[Vec<u8>], sizes: &[usize], unsent: &[usize]) {
    let now = std::time::Instant::now();
    let mut acquires = Vec::new();
    {
        let mut traps = shared.traps();
        for &i in unsent {
            if let Some(a) = traps.packet(bufs[i].get(..sizes[i]).unwrap_or_default(), now) {
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
