//! Selector fields of an IP packet (RFC 4301 §4.4.1.1) and matching against traffic selectors.

use crate::params::Selector;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers used here.
pub(crate) mod proto {
    pub(crate) const ICMP: u8 = 1;
    pub(crate) const IPV4_IN_IP: u8 = 4;
    pub(crate) const TCP: u8 = 6;
    pub(crate) const UDP: u8 = 17;
    pub(crate) const IPV6_IN_IP: u8 = 41;
    pub(crate) const ICMPV6: u8 = 58;
    /// RFC 4303 §2.6: "no next header", marks TFC dummy packets.
    pub(crate) const NO_NEXT: u8 = 59;
    pub(crate) const SCTP: u8 = 132;
}

/// The selector-relevant fields of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol.
    pub protocol: u8,
    /// Source port, ICMP `type << 8 | code` (RFC 7296 §3.13.1), or `None` when OPAQUE
    /// (non-initial fragment, truncated header, protocol without ports).
    pub src_port: Option<u16>,
    /// Destination port (ICMP: same value as `src_port`).
    pub dst_port: Option<u16>,
}

/// Ports of an upper-layer header starting at `l4`.
pub(crate) fn ports(protocol: u8, l4: &[u8]) -> (Option<u16>, Option<u16>) {
    match protocol {
        proto::TCP | proto::UDP | proto::SCTP if l4.len() >= 4 => (
            Some(u16::from_be_bytes([l4[0], l4[1]])),
            Some(u16::from_be_bytes([l4[2], l4[3]])),
        ),
        proto::ICMP | proto::ICMPV6 if l4.len() >= 2 => {
            let tc = u16::from_be_bytes([l4[0], l4[1]]);
            (Some(tc), Some(tc))
        }
        _ => (None, None),
    }
}

/// The length an IP packet claims (IPv4 total length, IPv6 40 + payload length), checked
/// against the buffer. `None` if not a plausible IPv4/IPv6 packet.
pub(crate) fn ip_len(pkt: &[u8]) -> Option<usize> {
    let len = match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => usize::from(u16::from_be_bytes([pkt[2], pkt[3]])),
        6 if pkt.len() >= 40 => 40 + usize::from(u16::from_be_bytes([pkt[4], pkt[5]])),
        _ => return None,
    };
    // An IPv4 Total Length below the minimum header (found by fuzzing: 0) is not a packet;
    // every caller may then index the fixed header safely.
    let min = if pkt[0] >> 4 == 4 { 20 } else { 40 };
    (min..=pkt.len()).contains(&len).then_some(len)
}

/// Parses an IPv4/IPv6 packet: the flow and the offset of the upper-layer header (for
/// transport mode). IPv6 extension headers (hop-by-hop, routing, fragment, destination
/// options) are skipped. Public for the daemon's trap policies (packets no SA carries).
pub fn parse_ip(pkt: &[u8]) -> Option<(Flow, usize)> {
    let len = ip_len(pkt)?;
    let pkt = &pkt[..len];
    match pkt[0] >> 4 {
        4 => {
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            if ihl < 20 || ihl > len {
                return None;
            }
            let protocol = pkt[9];
            let src = IpAddr::V4(Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]));
            let dst = IpAddr::V4(Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]));
            // RFC 4301 §7: non-initial fragments carry no ports.
            let frag_off = u16::from_be_bytes([pkt[6], pkt[7]]) & 0x1fff;
            let (sp, dp) = if frag_off == 0 {
                ports(protocol, &pkt[ihl..])
            } else {
                (None, None)
            };
            Some((
                Flow {
                    src,
                    dst,
                    protocol,
                    src_port: sp,
                    dst_port: dp,
                },
                ihl,
            ))
        }
        6 => {
            let src = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[8..24]).ok()?));
            let dst = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[24..40]).ok()?));
            let mut next = pkt[6];
            let mut off = 40;
            let mut opaque = false;
            // Bounded walk: a packet cannot make us loop.
            for _ in 0..8 {
                match next {
                    0 | 43 | 60 => {
                        let h = pkt.get(off..off + 2)?;
                        next = h[0];
                        off += (usize::from(h[1]) + 1) * 8;
                    }
                    44 => {
                        let h = pkt.get(off..off + 8)?;
                        next = h[0];
                        opaque |= u16::from_be_bytes([h[2], h[3]]) >> 3 != 0;
                        off += 8;
                    }
                    _ => break,
                }
            }
            if off > len {
                return None;
            }
            let (sp, dp) = if opaque {
                (None, None)
            } else {
                ports(next, &pkt[off..])
            };
            Some((
                Flow {
                    src,
                    dst,
                    protocol: next,
                    src_port: sp,
                    dst_port: dp,
                },
                off,
            ))
        }
        _ => None,
    }
}

fn addr_in(a: IpAddr, s: &Selector) -> bool {
    match (a, s.start_addr, s.end_addr) {
        (IpAddr::V4(a), IpAddr::V4(lo), IpAddr::V4(hi)) => lo <= a && a <= hi,
        (IpAddr::V6(a), IpAddr::V6(lo), IpAddr::V6(hi)) => lo <= a && a <= hi,
        _ => false,
    }
}

fn port_in(p: Option<u16>, s: &Selector) -> bool {
    match p {
        Some(p) => s.start_port <= p && p <= s.end_port,
        // OPAQUE ports match only a selector that allows every port (RFC 4301 §4.4.1.1).
        None => s.start_port == 0 && s.end_port == 65535,
    }
}

/// Whether `(addr, port, protocol)` lies in one of `sels`. `addr = None` skips the address
/// (transport mode behind NAT, where the peer's original address is not what we see).
pub fn matches(sels: &[Selector], addr: Option<IpAddr>, port: Option<u16>, protocol: u8) -> bool {
    sels.iter().any(|s| {
        (s.protocol == 0 || s.protocol == protocol)
            && addr.is_none_or(|a| addr_in(a, s))
            && port_in(port, s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn udp4(
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        payload: usize,
    ) -> Vec<u8> {
        let total = 28 + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = proto::UDP;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p[24..26].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
        p
    }

    #[test]
    fn parses_v4_udp_and_matches() {
        let p = udp4([10, 0, 0, 1], [10, 0, 1, 2], 1234, 53, 10);
        let (f, off) = parse_ip(&p).unwrap();
        assert_eq!(off, 20);
        assert_eq!(f.protocol, proto::UDP);
        assert_eq!((f.src_port, f.dst_port), (Some(1234), Some(53)));
        let dns = Selector {
            protocol: proto::UDP,
            start_port: 53,
            end_port: 53,
            start_addr: "10.0.1.0".parse().unwrap(),
            end_addr: "10.0.1.255".parse().unwrap(),
        };
        assert!(matches(&[dns], Some(f.dst), f.dst_port, f.protocol));
        assert!(!matches(&[dns], Some(f.src), f.dst_port, f.protocol));
        assert!(!matches(&[dns], Some(f.dst), Some(54), f.protocol));
        assert!(!matches(&[dns], Some(f.dst), f.dst_port, proto::TCP));
        // A v6 selector never matches a v4 address.
        assert!(!matches(&[Selector::any(true)], Some(f.dst), None, 0));
    }

    #[test]
    fn fragments_are_opaque() {
        let mut p = udp4([10, 0, 0, 1], [10, 0, 1, 2], 1, 2, 10);
        p[7] = 1; // fragment offset 8
        let (f, _) = parse_ip(&p).unwrap();
        assert_eq!(f.dst_port, None);
        let narrow = Selector {
            start_port: 2,
            end_port: 2,
            ..Selector::any(false)
        };
        assert!(!matches(&[narrow], Some(f.dst), f.dst_port, f.protocol));
        assert!(matches(
            &[Selector::any(false)],
            Some(f.dst),
            f.dst_port,
            f.protocol
        ));
    }

    #[test]
    fn v6_with_extension_header() {
        let mut p = vec![0u8; 40 + 8 + 8];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&16u16.to_be_bytes());
        p[6] = 60; // destination options
        p[8..24].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p[24..40].copy_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p[40] = proto::UDP;
        p[41] = 0;
        p[48..50].copy_from_slice(&500u16.to_be_bytes());
        p[50..52].copy_from_slice(&4500u16.to_be_bytes());
        let (f, off) = parse_ip(&p).unwrap();
        assert_eq!(off, 48);
        assert_eq!(f.protocol, proto::UDP);
        assert_eq!(f.dst_port, Some(4500));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_ip(&[]).is_none());
        assert!(parse_ip(&[0x45; 19]).is_none());
        let mut p = udp4([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 0);
        p[2..4].copy_from_slice(&1000u16.to_be_bytes()); // longer than the buffer
        assert!(parse_ip(&p).is_none());
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[0] = 0x4f; // IHL 60 > length
        assert!(parse_ip(&p).is_none());
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Fuzzing found an IPv4 header claiming Total Length 0, which made parse_ip index an
    /// empty slice.
    #[test]
    fn ipv4_total_length_below_header_is_rejected() {
        let mut pkt = [0u8; 20];
        pkt[0] = 0x45;
        assert_eq!(ip_len(&pkt), None);
        assert!(parse_ip(&pkt).is_none());
        pkt[3] = 19;
        assert!(parse_ip(&pkt).is_none());
        pkt[3] = 20;
        assert_eq!(ip_len(&pkt), Some(20));
    }
}
