//! Delivering a decapsulated transport-mode payload: ESP carried only what followed the
//! sender's IP header, so the receiver rebuilds one from the SA's outer addresses
//! (RFC 4303 §3.1.1: the IP header is the ESP packet's own, minus ESP).
//!
//! With UDP encapsulation a NAT may have rewritten the outer addresses, so the TCP/UDP (and
//! ICMPv6) checksum, computed by the sender over *its* pseudo-header, no longer matches the
//! header we build. RFC 3948 §3.1.2 lets the receiver fix it incrementally with NAT-OA or
//! recompute it; we recompute it in full (the payload is in cache right after decryption),
//! which is also right when there was no NAT at all.
use crate::checksum::{fold, sum};
use crate::flow::proto;
use crate::Inner;
use std::net::IpAddr;

/// Hop limit of rebuilt headers (Linux's default).
const TTL: u8 = 64;

/// Octets of IP header [`build_ip_packet`] puts before the payload for this address family.
pub fn ip_header_len(src: IpAddr) -> usize {
    if src.is_ipv4() {
        20
    } else {
        40
    }
}

/// Write the IP packet for a transport-mode [`Inner`] into `out`: an IP header from
/// `inner.outer_src` (the peer) to `inner.outer_dst` (us) with `inner.next_header` as the
/// protocol, then the payload, with the upper-layer checksum recomputed if the SA is
/// UDP-encapsulated. Returns the packet length, or `None` if `out` is too small, the
/// addresses mix families, or an IPv4 packet would exceed 65535 octets.
pub fn build_ip_packet(inner: &Inner<'_>, out: &mut [u8]) -> Option<usize> {
    let payload: &[u8] = inner.data;
    let hl = ip_header_len(inner.outer_src);
    let total = hl + payload.len();
    if out.len() < total || total > usize::from(u16::MAX) {
        return None;
    }
    let pkt = &mut out[..total];
    match (inner.outer_src, inner.outer_dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let h = &mut pkt[..20];
            h.fill(0);
            h[0] = 0x45;
            h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            h[8] = TTL;
            h[9] = inner.next_header;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = fold(sum(0, h));
            h[10..12].copy_from_slice(&(!c).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let h = &mut pkt[..40];
            h.fill(0);
            h[0] = 0x60;
            h[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
            h[6] = inner.next_header;
            h[7] = TTL;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
        }
        _ => return None,
    }
    pkt[hl..].copy_from_slice(payload);
    if inner.udp_encap {
        fix_checksum(pkt, hl, inner.outer_src, inner.outer_dst, inner.next_header);
    }
    Some(total)
}

/// Offset of the checksum field in the upper-layer header, for the protocols whose checksum
/// covers the IP pseudo-header.
fn checksum_offset(protocol: u8, v6: bool) -> Option<usize> {
    match protocol {
        proto::TCP => Some(16),
        proto::UDP => Some(6),
        proto::ICMPV6 if v6 => Some(2),
        _ => None,
    }
}

fn fix_checksum(pkt: &mut [u8], hl: usize, src: IpAddr, dst: IpAddr, protocol: u8) {
    let Some(off) = checksum_offset(protocol, src.is_ipv6()) else {
        return;
    };
    let l4_len = pkt.len() - hl;
    if l4_len < off + 2 {
        return; // truncated header: deliver as is, the stack drops it
    }
    // RFC 768: a zero UDP checksum over IPv4 means "none"; keep it that way.
    if protocol == proto::UDP && src.is_ipv4() && pkt[hl + off..hl + off + 2] == [0, 0] {
        return;
    }
    pkt[hl + off..hl + off + 2].fill(0);
    let mut acc = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum(sum(0, &s.octets()), &d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum(sum(0, &s.octets()), &d.octets()),
        _ => return,
    };
    acc += u64::from(protocol) + l4_len as u64;
    acc = sum(acc, &pkt[hl..]);
    let mut c = !fold(acc);
    if protocol == proto::UDP && c == 0 {
        c = 0xffff; // RFC 768 / RFC 8200 §8.1: a computed zero is sent as all ones
    }
    pkt[hl + off..hl + off + 2].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    fn inner<'a>(data: &'a mut [u8], src: &str, dst: &str, nh: u8, udp: bool) -> Inner<'a> {
        Inner {
            spi: 1,
            mode: Mode::Transport,
            next_header: nh,
            outer_src: src.parse().unwrap(),
            outer_dst: dst.parse().unwrap(),
            udp_encap: udp,
            data,
        }
    }

    /// Verify a packet's checksum the way a receiving stack does: the one's-complement sum
    /// over pseudo-header and segment, checksum included, must be 0xffff.
    fn l4_ok(pkt: &[u8], hl: usize, src: IpAddr, dst: IpAddr, protocol: u8) -> bool {
        let mut acc = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => sum(sum(0, &s.octets()), &d.octets()),
            (IpAddr::V6(s), IpAddr::V6(d)) => sum(sum(0, &s.octets()), &d.octets()),
            _ => unreachable!(),
        };
        acc += u64::from(protocol) + (pkt.len() - hl) as u64;
        fold(sum(acc, &pkt[hl..])) == 0xffff
    }

    #[test]
    fn ipv4_header_is_valid_and_udp_checksum_recomputed_for_nat() {
        // UDP 1234 -> 5678, 3 octets of data, checksum computed for other (pre-NAT) addresses.
        let mut udp = [0x04, 0xd2, 0x16, 0x2e, 0, 11, 0x12, 0x34, b'a', b'b', b'c'];
        let i = inner(&mut udp, "192.0.2.1", "192.0.2.2", proto::UDP, true);
        let mut out = [0u8; 64];
        let n = build_ip_packet(&i, &mut out).unwrap();
        assert_eq!(n, 31);
        assert_eq!(&out[..4], &[0x45, 0, 0, 31]);
        assert_eq!(out[9], proto::UDP);
        assert_eq!(fold(sum(0, &out[..20])), 0xffff, "IPv4 header checksum");
        assert_eq!(&out[12..16], &[192, 0, 2, 1]);
        assert_eq!(&out[16..20], &[192, 0, 2, 2]);
        let (s, d) = (i.outer_src, i.outer_dst);
        assert!(l4_ok(&out[..n], 20, s, d, proto::UDP));
        assert_eq!(&out[28..31], b"abc");
    }

    #[test]
    fn without_udp_encap_the_checksum_is_left_alone() {
        let mut tcp = [0u8; 20];
        tcp[12] = 0x50;
        tcp[16] = 0xab;
        tcp[17] = 0xcd;
        let i = inner(&mut tcp, "192.0.2.1", "192.0.2.2", proto::TCP, false);
        let mut out = [0u8; 64];
        let n = build_ip_packet(&i, &mut out).unwrap();
        assert_eq!(&out[20 + 16..20 + 18], &[0xab, 0xcd]);
        assert_eq!(n, 40);
    }

    #[test]
    fn ipv6_tcp_with_odd_length_gets_a_valid_checksum() {
        let mut tcp = [0u8; 21];
        tcp[12] = 0x50;
        tcp[20] = 0x7f;
        let i = inner(&mut tcp, "2001:db8::1", "2001:db8::2", proto::TCP, true);
        let mut out = [0u8; 80];
        let n = build_ip_packet(&i, &mut out).unwrap();
        assert_eq!(n, 61);
        assert_eq!(out[0] >> 4, 6);
        assert_eq!(&out[4..6], &[0, 21]);
        assert_eq!(out[6], proto::TCP);
        assert!(l4_ok(&out[..n], 40, i.outer_src, i.outer_dst, proto::TCP));
    }

    #[test]
    fn ipv4_udp_without_checksum_stays_without() {
        let mut udp = [0, 1, 0, 2, 0, 9, 0, 0, 7];
        let i = inner(&mut udp, "192.0.2.1", "192.0.2.2", proto::UDP, true);
        let mut out = [0u8; 64];
        build_ip_packet(&i, &mut out).unwrap();
        assert_eq!(&out[26..28], &[0, 0]);
    }

    #[test]
    fn refuses_small_buffers_and_mixed_families() {
        let mut d = [0u8; 8];
        let i = inner(&mut d, "192.0.2.1", "192.0.2.2", proto::UDP, false);
        assert!(build_ip_packet(&i, &mut [0u8; 27]).is_none());
        let mut d = [0u8; 8];
        let i = inner(&mut d, "192.0.2.1", "2001:db8::2", proto::UDP, false);
        assert!(build_ip_packet(&i, &mut [0u8; 64]).is_none());
    }
}
