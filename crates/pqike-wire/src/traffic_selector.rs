//! Constructors and display for [`TrafficSelector`] (RFC 7296 §3.13.1).
use crate::payload::TrafficSelector;
use crate::registry::TsType;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl TrafficSelector {
    /// An IPv4 address range, any protocol, all ports.
    pub fn ipv4_range(start: Ipv4Addr, end: Ipv4Addr) -> Self {
        Self::any_proto(IpAddr::V4(start), IpAddr::V4(end))
    }

    /// An IPv6 address range, any protocol, all ports.
    pub fn ipv6_range(start: Ipv6Addr, end: Ipv6Addr) -> Self {
        Self::any_proto(IpAddr::V6(start), IpAddr::V6(end))
    }

    /// A range of either family; `None` if the ends differ in family (not expressible, RFC 7296
    /// §3.13.1) or `start > end`.
    pub fn range(start: IpAddr, end: IpAddr) -> Option<Self> {
        let ok = match (start, end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => s <= e,
            (IpAddr::V6(s), IpAddr::V6(e)) => s <= e,
            _ => false,
        };
        ok.then(|| Self::any_proto(start, end))
    }

    /// All IPv4 addresses (0.0.0.0 - 255.255.255.255).
    pub fn any_ipv4() -> Self {
        Self::ipv4_range(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST)
    }

    /// All IPv6 addresses (:: - ffff:...:ffff).
    pub fn any_ipv6() -> Self {
        Self::ipv6_range(Ipv6Addr::UNSPECIFIED, Ipv6Addr::from(u128::MAX))
    }

    /// A single host (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        Self::any_proto(addr, addr)
    }

    /// A subnet: host bits of `addr` are ignored. `None` if `prefix_len` exceeds the family's width.
    pub fn subnet(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        match addr {
            IpAddr::V4(a) => {
                let (s, e) = prefix_bounds(u128::from(u32::from(a)), u32::from(prefix_len), 32)?;
                // Both bounds fit in 32 bits because the width is 32.
                let v4 = |x: u128| Ipv4Addr::from(u32::try_from(x).unwrap_or(u32::MAX));
                Some(Self::ipv4_range(v4(s), v4(e)))
            }
            IpAddr::V6(a) => {
                let (s, e) = prefix_bounds(u128::from(a), u32::from(prefix_len), 128)?;
                Some(Self::ipv6_range(Ipv6Addr::from(s), Ipv6Addr::from(e)))
            }
        }
    }

    /// Parse `"10.1.0.0/16"`, `"2001:db8::/32"` or a bare address (a single host).
    /// `None` on any syntax error.
    pub fn from_cidr(s: &str) -> Option<Self> {
        match s.split_once('/') {
            Some((a, p)) => {
                // `u8::from_str` accepts a leading '+': reject anything but digits.
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Self::subnet(a.parse().ok()?, p.parse().ok()?)
            }
            None => Some(Self::host(s.parse().ok()?)),
        }
    }

    /// The same selector restricted to IP protocol `ip_protocol` (0 = any).
    pub fn with_protocol(mut self, ip_protocol: u8) -> Self {
        self.ip_protocol = ip_protocol;
        self
    }

    /// The same selector restricted to ports `start..=end`.
    pub fn with_ports(mut self, start: u16, end: u16) -> Self {
        self.start_port = start;
        self.end_port = end;
        self
    }

    /// The wire type, or `None` if the two ends differ in family.
    pub fn ts_type(&self) -> Option<TsType> {
        match (self.start_addr, self.end_addr) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Some(TsType::IPV4_ADDR_RANGE),
            (IpAddr::V6(_), IpAddr::V6(_)) => Some(TsType::IPV6_ADDR_RANGE),
            _ => None,
        }
    }

    /// Whether `addr` lies within the address range (ports and protocol not considered).
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        match (self.start_addr, self.end_addr, addr) {
            (IpAddr::V4(s), IpAddr::V4(e), IpAddr::V4(a)) => s <= a && a <= e,
            (IpAddr::V6(s), IpAddr::V6(e), IpAddr::V6(a)) => s <= a && a <= e,
            _ => false,
        }
    }

    fn any_proto(start_addr: IpAddr, end_addr: IpAddr) -> Self {
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr,
            end_addr,
        }
    }

    /// `Some(prefix_len)` if the address range is exactly one CIDR block.
    fn as_prefix(&self) -> Option<u8> {
        let (s, e, width) = match (self.start_addr, self.end_addr) {
            (IpAddr::V4(s), IpAddr::V4(e)) => {
                (u128::from(u32::from(s)), u128::from(u32::from(e)), 32u32)
            }
            (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128u32),
            _ => return None,
        };
        (0..=width).find_map(|p| {
            let (ps, pe) = prefix_bounds(s, p, width)?;
            (ps == s && pe == e).then(|| u8::try_from(p).unwrap_or(u8::MAX))
        })
    }
}

/// First and last address of the `prefix`-bit block containing `addr` in a `width`-bit space.
fn prefix_bounds(addr: u128, prefix: u32, width: u32) -> Option<(u128, u128)> {
    if prefix > width {
        return None;
    }
    let host_bits = width - prefix;
    let host_mask = if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    Some((addr & !host_mask, addr | host_mask))
}

/// strongSwan-like: `10.0.0.0/24`, `10.0.0.1..10.0.0.5`, followed by `[proto/ports]` when
/// restricted, e.g. `192.0.2.1/32[6/443]` or `192.0.2.0/24[17/1000-2000]`.
impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_prefix() {
            Some(p) => write!(f, "{}/{}", self.start_addr, p)?,
            None => write!(f, "{}..{}", self.start_addr, self.end_addr)?,
        }
        let all_ports = self.start_port == 0 && self.end_port == u16::MAX;
        if self.ip_protocol != 0 || !all_ports {
            write!(f, "[{}", self.ip_protocol)?;
            if !all_ports {
                if self.start_port == self.end_port {
                    write!(f, "/{}", self.start_port)?;
                } else {
                    write!(f, "/{}-{}", self.start_port, self.end_port)?;
                }
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing() {
        let ts = TrafficSelector::from_cidr("10.1.2.3/16").unwrap();
        assert_eq!(
            ts,
            TrafficSelector::ipv4_range([10, 1, 0, 0].into(), [10, 1, 255, 255].into())
        );
        assert_eq!(
            TrafficSelector::from_cidr("0.0.0.0/0").unwrap(),
            TrafficSelector::any_ipv4()
        );
        assert_eq!(
            TrafficSelector::from_cidr("::/0").unwrap(),
            TrafficSelector::any_ipv6()
        );
        let h = TrafficSelector::from_cidr("2001:db8::1").unwrap();
        assert_eq!(h.start_addr, h.end_addr);
        let v6 = TrafficSelector::from_cidr("2001:db8::/32").unwrap();
        assert_eq!(
            v6.end_addr,
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse::<IpAddr>()
                .unwrap()
        );
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "x/8",
            "10.0.0/8",
            "",
        ] {
            assert_eq!(TrafficSelector::from_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn range_rejects_mixed_and_reversed() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v4b: IpAddr = "10.0.0.9".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert!(TrafficSelector::range(v4, v6).is_none());
        assert!(TrafficSelector::range(v4b, v4).is_none());
        let r = TrafficSelector::range(v4, v4b).unwrap();
        assert_eq!(r.ts_type(), Some(TsType::IPV4_ADDR_RANGE));
        assert!(r.contains_addr("10.0.0.5".parse().unwrap()));
        assert!(!r.contains_addr("10.0.0.10".parse().unwrap()));
        assert!(!r.contains_addr(v6));
    }

    #[test]
    fn display() {
        assert_eq!(
            TrafficSelector::from_cidr("10.0.0.0/24")
                .unwrap()
                .to_string(),
            "10.0.0.0/24"
        );
        assert_eq!(TrafficSelector::any_ipv6().to_string(), "::/0");
        let r = TrafficSelector::ipv4_range([10, 0, 0, 1].into(), [10, 0, 0, 5].into());
        assert_eq!(r.to_string(), "10.0.0.1..10.0.0.5");
        let h = TrafficSelector::from_cidr("192.0.2.1")
            .unwrap()
            .with_protocol(6)
            .with_ports(443, 443);
        assert_eq!(h.to_string(), "192.0.2.1/32[6/443]");
        let p = TrafficSelector::from_cidr("192.0.2.0/24")
            .unwrap()
            .with_protocol(17)
            .with_ports(1000, 2000);
        assert_eq!(p.to_string(), "192.0.2.0/24[17/1000-2000]");
        assert_eq!(
            TrafficSelector::any_ipv4().with_protocol(1).to_string(),
            "0.0.0.0/0[1]"
        );
    }
}
