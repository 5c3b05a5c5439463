//! Receive-side coalescing of decrypted TCP segments into one TUN write, without copying them.
//!
//! The peer's GSO split cut a TCP super-packet into MSS-sized segments; after decryption they
//! lie one after the other in the receive buffer. A run of consecutive segments of one flow
//! goes to the kernel as one packet: a `virtio_net_hdr` asking for TCP segmentation
//! (`GSO_TCPV4/6`, `NEEDS_CSUM`), the first segment's headers with the lengths of the whole, and
//! the payloads gathered from where they were decrypted (`writev`). The kernel's TCP then sees
//! one large segment, as Linux's own GRO would have produced.
//!
//! Conditions for a segment to join a run (the same ones Linux's `tcp_gro_receive` applies, a
//! little stricter): same addresses, ports, IP TOS/TTL (hop limit, flow label), TCP header
//! length, options, acknowledgment and window; sequence number exactly following the run; only
//! ACK set (PSH may end a run); IPv4 without options or fragmentation, with DF or consecutive
//! IDs; all segments the size of the first but the last; at most [`MAX_SEGMENTS`] and 64 KiB.
//!
//! Checksums: with `NEEDS_CSUM` the kernel takes the merged packet's TCP checksum as valid,
//! so every segment merged is verified here first (a bad one is written on its own, for the
//! kernel to drop and count, as it would without coalescing).
use pqike_esp::checksum::{fold, sum};
use std::ops::Range;

/// `struct virtio_net_hdr` (without `num_buffers`): what precedes each packet on a TUN device
/// opened with `IFF_VNET_HDR`.
pub(crate) const VNET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;

/// Most segments merged into one write (like the UDP GSO limit on the sending side).
pub(crate) const MAX_SEGMENTS: usize = 64;
/// Room for the vnet header and the largest IPv6 + TCP header of a merged packet.
pub(crate) const HEADER_ROOM: usize = VNET_HDR_LEN + 40 + 60;

const TCP: u8 = 6;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;

/// One run of packets to write as one: `count` packets from `first`, merged if `count > 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    pub first: usize,
    pub count: usize,
}

/// A TCP segment that may be coalesced.
#[derive(Clone, Copy, Debug)]
struct Seg {
    v6: bool,
    iph: usize,
    tcph: usize,
    payload: usize,
    seq: u32,
    psh: bool,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The segment's layout, if it is a candidate at all.
fn parse(p: &[u8]) -> Option<Seg> {
    let (v6, iph) = match p.first()? >> 4 {
        4 => {
            // No options, length consistent, TCP, not a fragment (MF clear, offset 0).
            if p.len() < 20 || p[0] != 0x45 || usize::from(be16(p, 2)) != p.len() || p[9] != TCP {
                return None;
            }
            if be16(p, 6) & 0x3fff != 0 {
                return None;
            }
            (false, 20)
        }
        6 => {
            if p.len() < 40 || 40 + usize::from(be16(p, 4)) != p.len() || p[6] != TCP {
                return None;
            }
            (true, 40)
        }
        _ => return None,
    };
    let t = p.get(iph..)?;
    if t.len() < 20 {
        return None;
    }
    let tcph = usize::from(t[12] >> 4) * 4;
    if !(20..=60).contains(&tcph) || t.len() <= tcph {
        return None; // bad offset, or no payload
    }
    let flags = t[13];
    if flags != TCP_ACK && flags != TCP_ACK | TCP_PSH {
        return None;
    }
    Some(Seg {
        v6,
        iph,
        tcph,
        payload: t.len() - tcph,
        seq: be32(t, 4),
        psh: flags & TCP_PSH != 0,
    })
}

/// Whether `b` may follow `a` (which is the `index`-th segment after the run's first, `f`)
/// as far as the headers go; sequence and sizes are checked by the caller.
fn same_flow(f: &[u8], fs: &Seg, b: &[u8], bs: &Seg, index: usize) -> bool {
    if fs.v6 != bs.v6 || fs.tcph != bs.tcph {
        return false;
    }
    if fs.v6 {
        // Version/traffic class/flow label, hop limit, addresses.
        if f[..4] != b[..4] || f[7] != b[7] || f[8..40] != b[8..40] {
            return false;
        }
    } else {
        // TOS, flags (DF), TTL, addresses.
        if f[1] != b[1] || f[6] != b[6] || f[8] != b[8] || f[12..20] != b[12..20] {
            return false;
        }
        let df = f[6] & 0x40 != 0;
        if !df && be16(b, 4) != be16(f, 4).wrapping_add(index as u16) {
            return false;
        }
    }
    let (ft, bt) = (&f[fs.iph..], &b[bs.iph..]);
    // Ports, acknowledgment; window; options.
    ft[..4] == bt[..4]
        && ft[8..12] == bt[8..12]
        && ft[14..16] == bt[14..16]
        && ft[20..fs.tcph] == bt[20..bs.tcph]
}

/// Sum of the TCP pseudo-header (RFC 793 / RFC 8200 §8.1) for `len` octets of TCP.
fn pseudo(p: &[u8], s: &Seg, len: usize) -> u64 {
    let addrs = if s.v6 { &p[8..40] } else { &p[12..20] };
    sum(u64::from(TCP) + len as u64, addrs)
}

/// Whether the segment's TCP checksum is right.
fn checksum_ok(p: &[u8], s: &Seg) -> bool {
    let tcp = &p[s.iph..];
    fold(sum(pseudo(p, s, tcp.len()), tcp)) == 0xffff
}

/// Split `pkts` (in arrival order) into groups to write; each packet is in exactly one group,
/// in order.
pub(crate) fn plan(pkts: &[&[u8]], out: &mut Vec<Group>) {
    out.clear();
    let mut i = 0;
    while i < pkts.len() {
        let count = run_from(pkts, i);
        out.push(Group { first: i, count });
        i += count;
    }
}

/// Length of the run that starts at `pkts[i]` (1 if it cannot be merged with what follows).
fn run_from(pkts: &[&[u8]], i: usize) -> usize {
    let f = pkts[i];
    let Some(fs) = parse(f) else { return 1 };
    let hdrs = fs.iph + fs.tcph;
    let mut count = 1;
    let mut bytes = fs.payload;
    let mut last = fs;
    let mut first_checked = false;
    while let Some(&b) = pkts.get(i + count) {
        if count == MAX_SEGMENTS || last.psh || last.payload != fs.payload {
            break;
        }
        let Some(bs) = parse(b) else { break };
        if bs.payload > fs.payload
            || hdrs + bytes + bs.payload > usize::from(u16::MAX)
            || bs.seq != fs.seq.wrapping_add(bytes as u32)
            || !same_flow(f, &fs, b, &bs, count)
        {
            break;
        }
        if !first_checked {
            if !checksum_ok(f, &fs) {
                return 1;
            }
            first_checked = true;
        }
        if !checksum_ok(b, &bs) {
            break;
        }
        count += 1;
        bytes += bs.payload;
        last = bs;
    }
    count
}

/// The vnet header for a packet written on its own: no offload requested, the kernel verifies
/// the checksum itself.
pub(crate) const PLAIN_HDR: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

/// Write into `out` the vnet header and the merged IP + TCP header for `group` (of more than
/// one packet); returns its length. The payloads follow it unchanged.
pub(crate) fn merged_header(pkts: &[&[u8]], group: Group, out: &mut [u8; HEADER_ROOM]) -> usize {
    let f = pkts[group.first];
    let fs = parse(f).expect("planned groups start with a TCP segment");
    let members = &pkts[group.first..group.first + group.count];
    let payload: usize = members.iter().map(|p| p.len() - fs.iph - fs.tcph).sum();
    let last_psh = members.last().and_then(|p| parse(p)).is_some_and(|s| s.psh);
    let hdrs = fs.iph + fs.tcph;
    let (hdr, ip) = out.split_at_mut(VNET_HDR_LEN);
    // virtio_net_hdr in the device's (legacy: native) byte order.
    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr[1] = if fs.v6 {
        VIRTIO_NET_HDR_GSO_TCPV6
    } else {
        VIRTIO_NET_HDR_GSO_TCPV4
    };
    hdr[2..4].copy_from_slice(&(hdrs as u16).to_ne_bytes());
    hdr[4..6].copy_from_slice(&(fs.payload as u16).to_ne_bytes());
    hdr[6..8].copy_from_slice(&(fs.iph as u16).to_ne_bytes());
    hdr[8..10].copy_from_slice(&16u16.to_ne_bytes());
    let h = &mut ip[..hdrs];
    h.copy_from_slice(&f[..hdrs]);
    if fs.v6 {
        h[4..6].copy_from_slice(&((fs.tcph + payload) as u16).to_be_bytes());
    } else {
        h[2..4].copy_from_slice(&((hdrs + payload) as u16).to_be_bytes());
        h[10..12].fill(0);
        let c = !fold(sum(0, &h[..20]));
        h[10..12].copy_from_slice(&c.to_be_bytes());
    }
    if last_psh {
        h[fs.iph + 13] |= TCP_PSH;
    }
    // NEEDS_CSUM: the checksum field holds the pseudo-header sum, not complemented; the
    // kernel (or the NIC, if forwarded) completes it over csum_start.. .
    let ps = fold(pseudo(h, &fs, fs.tcph + payload));
    h[fs.iph + 16..fs.iph + 18].copy_from_slice(&ps.to_be_bytes());
    VNET_HDR_LEN + hdrs
}

/// Where the payload of a merged group's member starts (behind its headers).
pub(crate) fn payload_range(p: &[u8]) -> Range<usize> {
    match parse(p) {
        Some(s) => s.iph + s.tcph..p.len(),
        None => 0..p.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Segments of one TCP stream as the peer's GSO split makes them.
    fn stream(v6: bool, sizes: &[usize], psh_last: bool) -> Vec<Vec<u8>> {
        let mut seq = 1000u32;
        let n = sizes.len();
        sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                let payload: Vec<u8> = (0..len).map(|k| (k as u32 + seq) as u8).collect();
                let p = segment(v6, seq, i as u16, &payload, psh_last && i + 1 == n);
                seq = seq.wrapping_add(len as u32);
                p
            })
            .collect()
    }

    fn segment(v6: bool, seq: u32, id: u16, payload: &[u8], psh: bool) -> Vec<u8> {
        let iph = if v6 { 40 } else { 20 };
        let tcph = 32; // with a 12-octet timestamp option
        let mut p = vec![0u8; iph + tcph + payload.len()];
        if v6 {
            p[0] = 0x60;
            p[4..6].copy_from_slice(&((tcph + payload.len()) as u16).to_be_bytes());
            p[6] = TCP;
            p[7] = 64;
            p[8..24].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            p[24..40].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        } else {
            p[0] = 0x45;
            let total = p.len() as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            p[4..6].copy_from_slice(&(7 + id).to_be_bytes());
            p[6] = 0x40; // DF
            p[8] = 64;
            p[9] = TCP;
            p[12..16].copy_from_slice(&[198, 51, 100, 1]);
            p[16..20].copy_from_slice(&[203, 0, 113, 1]);
            let c = !fold(sum(0, &p[..20]));
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let t = &mut p[iph..];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&5201u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&77u32.to_be_bytes());
        t[12] = (tcph as u8 / 4) << 4;
        t[13] = TCP_ACK | if psh { TCP_PSH } else { 0 };
        t[14..16].copy_from_slice(&512u16.to_be_bytes());
        t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
        t[32..].copy_from_slice(payload);
        let s = parse(&p).unwrap();
        let c = !fold(sum(pseudo(&p, &s, p.len() - iph), &p[iph..]));
        p[iph + 16..iph + 18].copy_from_slice(&c.to_be_bytes());
        assert!(checksum_ok(&p, &s));
        p
    }

    fn groups(pkts: &[Vec<u8>]) -> Vec<Group> {
        let refs: Vec<&[u8]> = pkts.iter().map(|p| &p[..]).collect();
        let mut g = Vec::new();
        plan(&refs, &mut g);
        g
    }

    /// What the kernel does with a merged write: re-cut it into the original segments.
    fn resegment(hdr: &[u8], payload: &[u8]) -> Vec<Vec<u8>> {
        let (vnet, h) = hdr.split_at(VNET_HDR_LEN);
        let gso = usize::from(u16::from_ne_bytes([vnet[4], vnet[5]]));
        let v6 = h[0] >> 4 == 6;
        let iph = if v6 { 40 } else { 20 };
        let s = Seg {
            v6,
            iph,
            tcph: usize::from(h[iph + 12] >> 4) * 4,
            payload: 0,
            seq: 0,
            psh: false,
        };
        assert_eq!(h.len(), s.iph + s.tcph);
        let id0 = be16(h, 4);
        let seq0 = be32(&h[s.iph..], 4);
        let chunks: Vec<&[u8]> = payload.chunks(gso).collect();
        chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p = [h, c].concat();
                let last = i + 1 == chunks.len();
                if s.v6 {
                    p[4..6].copy_from_slice(&((s.tcph + c.len()) as u16).to_be_bytes());
                } else {
                    let total = p.len() as u16;
                    p[2..4].copy_from_slice(&total.to_be_bytes());
                    p[4..6].copy_from_slice(&(id0 + i as u16).to_be_bytes());
                    p[10..12].fill(0);
                    let c = !fold(sum(0, &p[..20]));
                    p[10..12].copy_from_slice(&c.to_be_bytes());
                }
                let seq = seq0.wrapping_add((i * gso) as u32);
                p[s.iph + 4..s.iph + 8].copy_from_slice(&seq.to_be_bytes());
                if !last {
                    p[s.iph + 13] &= !TCP_PSH;
                }
                // Complete the checksum as the kernel does from the pseudo-header sum.
                p[s.iph + 16..s.iph + 18].fill(0);
                let c = !fold(sum(pseudo(&p, &s, p.len() - s.iph), &p[s.iph..]));
                p[s.iph + 16..s.iph + 18].copy_from_slice(&c.to_be_bytes());
                p
            })
            .collect()
    }

    fn merge(pkts: &[Vec<u8>], g: Group) -> (Vec<u8>, Vec<u8>) {
        let refs: Vec<&[u8]> = pkts.iter().map(|p| &p[..]).collect();
        let mut hdr = [0u8; HEADER_ROOM];
        let n = merged_header(&refs, g, &mut hdr);
        let payload: Vec<u8> = refs[g.first..g.first + g.count]
            .iter()
            .flat_map(|p| p[payload_range(p)].to_vec())
            .collect();
        (hdr[..n].to_vec(), payload)
    }

    #[test]
    fn a_split_stream_merges_into_one_packet_that_resegments_to_the_original() {
        for v6 in [false, true] {
            let pkts = stream(v6, &[1348, 1348, 1348, 1348, 700], true);
            let g = groups(&pkts);
            assert_eq!(g, [Group { first: 0, count: 5 }], "v6 {v6}");
            let (hdr, payload) = merge(&pkts, g[0]);
            assert_eq!(hdr[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
            assert_eq!(
                hdr[1],
                if v6 {
                    VIRTIO_NET_HDR_GSO_TCPV6
                } else {
                    VIRTIO_NET_HDR_GSO_TCPV4
                }
            );
            assert_eq!(resegment(&hdr, &payload), pkts, "v6 {v6}");
            // NEEDS_CSUM: completing the sum from csum_start (the field holding the
            // pseudo-header sum) gives the merged packet's true checksum.
            let merged = [&hdr[VNET_HDR_LEN..], &payload[..]].concat();
            let iph = if v6 { 40 } else { 20 };
            let completed = !fold(sum(0, &merged[iph..]));
            let mut zeroed = merged.clone();
            zeroed[iph + 16..iph + 18].fill(0);
            let s = Seg {
                v6,
                iph,
                tcph: 32,
                payload: 0,
                seq: 0,
                psh: false,
            };
            let truth = !fold(sum(pseudo(&zeroed, &s, zeroed.len() - iph), &zeroed[iph..]));
            assert_eq!(completed, truth, "v6 {v6}");
            if !v6 {
                assert_eq!(fold(sum(0, &merged[..20])), 0xffff, "IPv4 header checksum");
                assert_eq!(usize::from(be16(&merged, 2)), merged.len());
            }
        }
    }

    #[test]
    fn runs_break_where_coalescing_would_change_the_stream() {
        // A gap in the sequence numbers.
        let mut pkts = stream(false, &[1000, 1000, 1000], false);
        let later = stream(false, &[1000; 5], false).remove(4); // seq 5000, not 4000
        pkts.push(later.clone());
        pkts.push(later);
        assert_eq!(
            groups(&pkts),
            [
                Group { first: 0, count: 3 },
                Group { first: 3, count: 1 },
                Group { first: 4, count: 1 }
            ]
        );
        // PSH ends a run; a shorter segment too; a longer one cannot follow.
        let pkts = stream(false, &[1000, 1000], true);
        let mut more = pkts.clone();
        more.extend(stream(false, &[1000], false).into_iter().map(|mut p| {
            p[20 + 4..20 + 8].copy_from_slice(&3000u32.to_be_bytes());
            let s = parse(&p).unwrap();
            p[36..38].fill(0);
            let c = !fold(sum(pseudo(&p, &s, p.len() - 20), &p[20..]));
            p[36..38].copy_from_slice(&c.to_be_bytes());
            p
        }));
        assert_eq!(
            groups(&more),
            [Group { first: 0, count: 2 }, Group { first: 2, count: 1 }]
        );
        let pkts = stream(false, &[1000, 500, 500], false);
        assert_eq!(
            groups(&pkts),
            [Group { first: 0, count: 2 }, Group { first: 2, count: 1 }]
        );
        let pkts = stream(false, &[500, 1000], false);
        assert_eq!(
            groups(&pkts),
            [Group { first: 0, count: 1 }, Group { first: 1, count: 1 }]
        );
    }

    #[test]
    fn a_segment_with_a_bad_checksum_is_written_alone() {
        for bad in 0..3 {
            let mut pkts = stream(false, &[1000, 1000, 1000], false);
            let n = pkts[bad].len();
            pkts[bad][n - 1] ^= 0x55;
            let g = groups(&pkts);
            assert!(
                g.iter().any(|g| g.first == bad && g.count == 1),
                "bad {bad}: {g:?}"
            );
            assert_eq!(g.iter().map(|g| g.count).sum::<usize>(), 3);
        }
    }

    #[test]
    fn other_flows_and_non_tcp_are_not_merged() {
        let a = stream(false, &[1000, 1000], false);
        let mut b = a[1].clone();
        b[20..22].copy_from_slice(&40001u16.to_be_bytes()); // other source port
        let s = parse(&b).unwrap();
        b[36..38].fill(0);
        let c = !fold(sum(pseudo(&b, &s, b.len() - 20), &b[20..]));
        b[36..38].copy_from_slice(&c.to_be_bytes());
        assert_eq!(groups(&[a[0].clone(), b]).len(), 2);
        let mut udp = a.clone();
        udp[1][9] = 17;
        assert_eq!(groups(&udp).len(), 2);
        // Pure ACKs (no payload) and SYNs are never merged.
        let mut syn = a.clone();
        syn[0][20 + 13] = 0x02;
        assert_eq!(groups(&syn).len(), 2);
        // Garbage does not panic and is passed on alone.
        let junk: Vec<Vec<u8>> = vec![vec![0x45], vec![], vec![0x60; 39], a[0].clone()];
        assert_eq!(groups(&junk).len(), 4);
    }

    #[test]
    fn at_most_64_segments_and_64_kib() {
        let pkts = stream(false, &[100; 130], false);
        let g = groups(&pkts);
        assert_eq!(g[0].count, MAX_SEGMENTS);
        assert_eq!(g.iter().map(|g| g.count).sum::<usize>(), 130);
        // 52 octets of IPv4 + TCP headers: 46 payloads of 1400 fit in 65535, 47 do not.
        let pkts = stream(false, &[1400; 60], false);
        let g = groups(&pkts);
        assert_eq!(
            g,
            [
                Group {
                    first: 0,
                    count: 46
                },
                Group {
                    first: 46,
                    count: 14
                }
            ]
        );
    }

    /// Decrypted packets are whatever an authenticated peer sent: mangled segments must
    /// neither panic nor get lost (every packet is in exactly one group, in order).
    #[test]
    fn mangled_segments_never_panic_and_are_all_written() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..2000 {
            let v6 = round % 2 == 0;
            let mut pkts = stream(v6, &[600, 600, 600, 600, 300], round % 3 == 0);
            for _ in 0..(rnd() % 6) {
                let i = (rnd() % pkts.len() as u64) as usize;
                match rnd() % 3 {
                    0 if !pkts[i].is_empty() => {
                        let n = pkts[i].len();
                        let at = (rnd() % n as u64) as usize;
                        pkts[i][at] = rnd() as u8;
                    }
                    0 => {}
                    1 => {
                        let n = (rnd() % (pkts[i].len() as u64 + 1)) as usize;
                        pkts[i].truncate(n);
                    }
                    _ => {
                        // Recompute the checksum so that the mangled header is what gets
                        // judged, not just the checksum.
                        if let Some(s) = parse(&pkts[i]) {
                            let p = &mut pkts[i];
                            p[s.iph + 16..s.iph + 18].fill(0);
                            let c = !fold(sum(pseudo(p, &s, p.len() - s.iph), &p[s.iph..]));
                            p[s.iph + 16..s.iph + 18].copy_from_slice(&c.to_be_bytes());
                        }
                    }
                }
            }
            let g = groups(&pkts);
            let mut next = 0;
            for grp in &g {
                assert_eq!(grp.first, next);
                assert!(grp.count >= 1);
                next += grp.count;
                if grp.count > 1 {
                    let (hdr, payload) = merge(&pkts, *grp);
                    assert!(hdr.len() > VNET_HDR_LEN && !payload.is_empty());
                }
            }
            assert_eq!(next, pkts.len());
        }
    }
}
