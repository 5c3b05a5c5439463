//! Traffic selector strings, strongSwan syntax: `10.0.0.0/8`, `10.0.0.1-10.0.0.9`, `192.0.2.1`,
//! `2001:db8::/32`, each optionally followed by `[proto/port]`, e.g. `10.0.0.0/8[tcp/443]`,
//! `0.0.0.0/0[udp/1000-2000]`, `[icmp/8]` (ICMP type in the port field, RFC 7296 §3.13.1).
use pqike_wire::TrafficSelector;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn to_u128(ip: IpAddr) -> (u128, u32) {
    match ip {
        IpAddr::V4(a) => (u32::from(a) as u128, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn from_u128(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    }
}

fn parse_addr(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{}` is not an IP address", s.trim()))
}

fn parse_proto(s: &str) -> Result<u8, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "" | "%any" | "any" => 0,
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "icmpv6" | "ipv6-icmp" => 58,
        "sctp" => 132,
        n => n.parse().map_err(|_| format!("unknown protocol `{s}`"))?,
    })
}

fn parse_ports(s: &str, proto: u8) -> Result<(u16, u16), String> {
    let s = s.trim();
    if s.is_empty() || s == "%any" {
        return Ok((0, 0xffff));
    }
    let num = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("bad port `{}`", p.trim()))
    };
    if proto == 1 || proto == 58 {
        // ICMP: the type goes in the high octet, any code (RFC 7296 §3.13.1).
        let t = s
            .parse::<u8>()
            .map_err(|_| format!("bad ICMP type `{s}`"))?;
        return Ok(((t as u16) << 8, ((t as u16) << 8) | 0xff));
    }
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("port range `{s}` is reversed"));
            }
            Ok((a, b))
        }
        None => {
            let p = num(s)?;
            Ok((p, p))
        }
    }
}

/// Parse one traffic selector.
pub fn parse_ts(s: &str) -> Result<TrafficSelector, String> {
    let s = s.trim();
    let (net, proto_port) = match s.find('[') {
        Some(i) => {
            let rest = s[i + 1..]
                .strip_suffix(']')
                .ok_or_else(|| format!("`{s}`: missing `]`"))?;
            (&s[..i], Some(rest))
        }
        None => (s, None),
    };
    let (start_addr, end_addr) = if let Some((addr, len)) = net.split_once('/') {
        let addr = parse_addr(addr)?;
        let (v, bits) = to_u128(addr);
        let len: u32 = len
            .trim()
            .parse()
            .map_err(|_| format!("bad prefix length `{len}`"))?;
        if len > bits {
            return Err(format!("prefix length /{len} is too long for {addr}"));
        }
        let host_mask: u128 = if len == 0 {
            u128::MAX
        } else {
            (1u128 << (bits - len)) - 1
        };
        let host_mask = if bits == 32 {
            host_mask & 0xffff_ffff
        } else {
            host_mask
        };
        let v6 = bits == 128;
        (from_u128(v & !host_mask, v6), from_u128(v | host_mask, v6))
    } else if let Some((a, b)) = net.split_once('-') {
        let (a, b) = (parse_addr(a)?, parse_addr(b)?);
        if a.is_ipv4() != b.is_ipv4() {
            return Err(format!("`{net}` mixes IPv4 and IPv6"));
        }
        if to_u128(a).0 > to_u128(b).0 {
            return Err(format!("address range `{net}` is reversed"));
        }
        (a, b)
    } else {
        let a = parse_addr(net)?;
        (a, a)
    };
    let (ip_protocol, (start_port, end_port)) = match proto_port {
        None => (0, (0, 0xffff)),
        Some(pp) => {
            let (proto, port) = pp.split_once('/').unwrap_or((pp, ""));
            let proto = parse_proto(proto.trim())?;
            (proto, parse_ports(port, proto)?)
        }
    };
    Ok(TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        start_addr,
        end_addr,
    })
}

/// Format a traffic selector back in the same syntax (CIDR when the range is a prefix).
pub fn format_ts(ts: &TrafficSelector) -> String {
    let (a, bits) = to_u128(ts.start_addr);
    let (b, _) = to_u128(ts.end_addr);
    let mut out = if a == b {
        format!("{}/{}", ts.start_addr, bits)
    } else {
        let span = a ^ b;
        let host_bits = 128 - span.leading_zeros();
        let is_prefix = span.count_ones() == host_bits && a & span == 0 && host_bits <= bits;
        if is_prefix {
            format!("{}/{}", ts.start_addr, bits - host_bits)
        } else {
            format!("{}-{}", ts.start_addr, ts.end_addr)
        }
    };
    let all_ports = ts.start_port == 0 && ts.end_port == 0xffff;
    if ts.ip_protocol != 0 || !all_ports {
        let proto = match ts.ip_protocol {
            0 => String::new(),
            1 => "icmp".into(),
            6 => "tcp".into(),
            17 => "udp".into(),
            58 => "icmpv6".into(),
            132 => "sctp".into(),
            n => n.to_string(),
        };
        if all_ports {
            out.push_str(&format!("[{proto}]"));
        } else if ts.start_port == ts.end_port {
            out.push_str(&format!("[{proto}/{}]", ts.start_port));
        } else {
            out.push_str(&format!("[{proto}/{}-{}]", ts.start_port, ts.end_port));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr() {
        let ts = parse_ts("203.0.113.77/24").unwrap();
        assert_eq!(
            (ts.start_addr, ts.end_addr),
            (ip("203.0.113.0"), ip("203.0.113.255"))
        );
        assert_eq!((ts.ip_protocol, ts.start_port, ts.end_port), (0, 0, 0xffff));
        let ts = parse_ts("0.0.0.0/0").unwrap();
        assert_eq!(
            (ts.start_addr, ts.end_addr),
            (ip("0.0.0.0"), ip("255.255.255.255"))
        );
        let ts = parse_ts("2001:db8::/32").unwrap();
        assert_eq!(
            (ts.start_addr, ts.end_addr),
            (
                ip("2001:db8::"),
                ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
            )
        );
        let ts = parse_ts("::/0").unwrap();
        assert_eq!(ts.end_addr, ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        let ts = parse_ts("192.0.2.1").unwrap();
        assert_eq!(
            (ts.start_addr, ts.end_addr),
            (ip("192.0.2.1"), ip("192.0.2.1"))
        );
    }

    #[test]
    fn ranges_and_ports() {
        let ts = parse_ts("10.0.0.1-10.0.0.9[tcp/443]").unwrap();
        assert_eq!(
            (ts.start_addr, ts.end_addr),
            (ip("10.0.0.1"), ip("10.0.0.9"))
        );
        assert_eq!((ts.ip_protocol, ts.start_port, ts.end_port), (6, 443, 443));
        let ts = parse_ts("10.0.0.0/8[udp/1000-2000]").unwrap();
        assert_eq!(
            (ts.ip_protocol, ts.start_port, ts.end_port),
            (17, 1000, 2000)
        );
        let ts = parse_ts("10.0.0.0/8[tcp]").unwrap();
        assert_eq!((ts.ip_protocol, ts.start_port, ts.end_port), (6, 0, 0xffff));
        let ts = parse_ts("10.0.0.0/8[icmp/8]").unwrap();
        assert_eq!(
            (ts.ip_protocol, ts.start_port, ts.end_port),
            (1, 0x0800, 0x08ff)
        );
        let ts = parse_ts("10.0.0.0/8[47]").unwrap();
        assert_eq!(ts.ip_protocol, 47);
    }

    #[test]
    fn errors() {
        assert!(parse_ts("10.0.0.300/8")
            .unwrap_err()
            .contains("`10.0.0.300`"));
        assert!(parse_ts("10.0.0.0/33").unwrap_err().contains("/33"));
        assert!(parse_ts("10.0.0.9-10.0.0.1")
            .unwrap_err()
            .contains("reversed"));
        assert!(parse_ts("10.0.0.1-::1").unwrap_err().contains("mixes"));
        assert!(parse_ts("10.0.0.0/8[tcp/443").unwrap_err().contains("]"));
        assert!(parse_ts("10.0.0.0/8[foo/1]").unwrap_err().contains("`foo`"));
        assert!(parse_ts("10.0.0.0/8[tcp/99999]")
            .unwrap_err()
            .contains("99999"));
    }

    #[test]
    fn format_round_trip() {
        for s in [
            "203.0.113.0/24",
            "0.0.0.0/0",
            "10.0.0.1-10.0.0.9",
            "192.0.2.1/32",
            "2001:db8::/32",
            "10.0.0.0/8[tcp/443]",
            "10.0.0.0/8[udp/1000-2000]",
            "10.0.0.0/8[tcp]",
        ] {
            assert_eq!(format_ts(&parse_ts(s).unwrap()), s);
        }
        assert_eq!(
            format_ts(&parse_ts("10.0.0.0-10.0.0.255").unwrap()),
            "10.0.0.0/24"
        );
        assert_eq!(
            format_ts(&parse_ts("10.0.0.1-10.0.0.2").unwrap()),
            "10.0.0.1-10.0.0.2"
        );
    }
}
