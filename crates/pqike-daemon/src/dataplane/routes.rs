//! Routes that steer traffic for a Child SA's remote traffic selectors into the TUN device.
//!
//! strongSwan installs such routes in table 220 with `src` set to a local address inside the
//! local traffic selector, so locally generated packets get an address the peer's policy
//! accepts. We do the same through `ip route` (the `iproute2` tool), with one reference count
//! per prefix: after a rekey the old and the new Child SA share their routes, which go away with
//! the last SA that needs them.
use std::collections::HashMap;
use std::net::IpAddr;
use std::process::Command;
use tracing::{debug, info, warn};

/// An address prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    /// Network address (host bits zero).
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Cidr {
    /// Whether `ip` lies inside this prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (bits, a, b) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(x)) => (32, u32::from(n) as u128, u32::from(x) as u128),
            (IpAddr::V6(n), IpAddr::V6(x)) => (128, u128::from(n), u128::from(x)),
            _ => return false,
        };
        let host = bits - u32::from(self.len);
        host >= 128 || (a >> host) == (b >> host)
    }
}

impl Cidr {
    /// The prefix `addr/len` with its host bits cleared (`len` capped at the family's width),
    /// e.g. an INTERNAL_IP4_SUBNET attribute (RFC 7296 §3.15.1) the peer may send unaligned.
    pub fn masked(addr: IpAddr, len: u8) -> Cidr {
        match addr {
            IpAddr::V4(a) => {
                let len = len.min(32);
                let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                Cidr {
                    addr: IpAddr::V4((u32::from(a) & m).into()),
                    len,
                }
            }
            IpAddr::V6(a) => {
                let len = len.min(128);
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                Cidr {
                    addr: IpAddr::V6((u128::from(a) & m).into()),
                    len,
                }
            }
        }
    }

    /// The overlap of two prefixes: the longer one if it lies inside the other, else none
    /// (prefixes are nested or disjoint).
    pub fn intersect(&self, other: &Cidr) -> Option<Cidr> {
        if self.len >= other.len && other.contains(self.addr) {
            Some(*self)
        } else if other.len >= self.len && self.contains(other.addr) {
            Some(*other)
        } else {
            None
        }
    }
}

/// The smallest set of prefixes covering exactly `start..=end` (a traffic selector range,
/// RFC 7296 §3.13.1); empty if the range is reversed or mixes families.
pub fn range_to_cidrs(start: IpAddr, end: IpAddr) -> Vec<Cidr> {
    let (bits, mut lo, hi, v6) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => {
            (32u32, u32::from(s) as u128, u32::from(e) as u128, false)
        }
        (IpAddr::V6(s), IpAddr::V6(e)) => (128u32, u128::from(s), u128::from(e), true),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    if lo > hi {
        return out;
    }
    loop {
        // Largest aligned block starting at `lo` that does not pass `hi`.
        let mut host = if lo == 0 {
            bits
        } else {
            lo.trailing_zeros().min(bits)
        };
        while host > 0 {
            let last = if host >= 128 {
                u128::MAX
            } else {
                lo | ((1u128 << host) - 1)
            };
            if last <= hi {
                break;
            }
            host -= 1;
        }
        let addr = if v6 {
            IpAddr::V6(lo.into())
        } else {
            IpAddr::V4((lo as u32).into())
        };
        out.push(Cidr {
            addr,
            len: (bits - host) as u8,
        });
        let size_minus_one = if host >= 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        match lo
            .checked_add(size_minus_one)
            .and_then(|l| l.checked_add(1))
        {
            Some(next) if next <= hi => lo = next,
            _ => break,
        }
    }
    out
}

/// A local address inside one of the local traffic selectors, to use as the routes' `src`
/// (like strongSwan's `charon.install_routes`): the first interface address that a selector
/// covers, in selector order.
pub fn pick_source(local_ts: &[Cidr], v6: bool) -> Option<IpAddr> {
    let addrs: Vec<IpAddr> = match nix::ifaddrs::getifaddrs() {
        Ok(it) => it
            .filter_map(|ifa| ifa.address)
            .filter_map(|a| {
                if let Some(s) = a.as_sockaddr_in() {
                    Some(IpAddr::V4(s.ip()))
                } else {
                    a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip()))
                }
            })
            .collect(),
        Err(e) => {
            warn!("getifaddrs: {e}");
            return None;
        }
    };
    local_ts
        .iter()
        .filter(|c| c.addr.is_ipv6() == v6)
        .find_map(|c| addrs.iter().copied().find(|a| c.contains(*a)))
}

/// Reference-counted routes via one device.
#[derive(Debug, Default)]
pub struct Routes {
    refs: HashMap<Cidr, usize>,
    /// Routing table (0: the main table).
    table: u32,
}

impl Routes {
    /// Routes in `table` (0 = main).
    pub fn new(table: u32) -> Routes {
        Routes {
            refs: HashMap::new(),
            table,
        }
    }

    fn table_args(&self) -> Vec<String> {
        if self.table == 0 {
            Vec::new()
        } else {
            vec!["table".into(), self.table.to_string()]
        }
    }

    /// Take a reference on a route for `cidr` via `dev` (installed on the first one).
    pub fn add(&mut self, cidr: Cidr, dev: &str, src: Option<IpAddr>) {
        let n = self.refs.entry(cidr).or_insert(0);
        *n += 1;
        if *n > 1 {
            return;
        }
        if self.table != 0 {
            self.ensure_rule(cidr.addr.is_ipv6());
        }
        let mut args = vec![
            fam(cidr).to_string(),
            "route".into(),
            "replace".into(),
            cidr.to_string(),
            "dev".into(),
            dev.into(),
        ];
        if let Some(s) = src {
            args.push("src".into());
            args.push(s.to_string());
        }
        args.extend(self.table_args());
        if run_ip(&args) {
            info!(
                "route {cidr} via {dev}{}",
                src.map(|s| format!(" src {s}")).unwrap_or_default()
            );
        }
    }

    /// Drop a reference; the route goes away with the last one.
    pub fn remove(&mut self, cidr: Cidr, dev: &str) {
        let Some(n) = self.refs.get_mut(&cidr) else {
            return;
        };
        *n -= 1;
        if *n > 0 {
            return;
        }
        self.refs.remove(&cidr);
        let mut args = vec![
            fam(cidr).to_string(),
            "route".into(),
            "del".into(),
            cidr.to_string(),
            "dev".into(),
            dev.into(),
        ];
        args.extend(self.table_args());
        if run_ip(&args) {
            info!("route {cidr} via {dev} removed");
        }
    }

    /// Remove every route we installed (shutdown).
    pub fn clear(&mut self, dev: &str) {
        let all: Vec<Cidr> = self.refs.keys().copied().collect();
        for c in all {
            self.refs.insert(c, 1);
            self.remove(c, dev);
        }
    }

    /// Policy rule sending every lookup to our table first (as strongSwan's priority 220).
    fn ensure_rule(&self, v6: bool) {
        let f = if v6 { "-6" } else { "-4" };
        let t = self.table.to_string();
        let shown = Command::new("ip")
            .args([f, "rule", "show", "table", &t])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false);
        if !shown {
            run_ip(&[
                f.into(),
                "rule".into(),
                "add".into(),
                "priority".into(),
                t.clone(),
                "table".into(),
                t,
            ]);
        }
    }
}

/// Transport mode (host to host): the peer's own address goes into the TUN device, except
/// for our IKE and ESP packets to it, which must still leave directly (a kernel with XFRM
/// does this with socket policies; we do it with policy rules).
///
/// Per peer: rules at priority [`HostRoutes::BYPASS_PREF`] send UDP from our IKE/NAT-T ports
/// and IP protocol 50 to the peer through the main table; a rule at [`HostRoutes::PREF`]
/// sends everything else to the peer through table [`HostRoutes::TABLE`], which routes it
/// into the TUN with our outer address as source.
#[derive(Debug, Default)]
pub struct HostRoutes {
    refs: HashMap<IpAddr, usize>,
}

impl HostRoutes {
    /// Routing table for transport-mode peers (next to strongSwan's 220).
    pub const TABLE: u32 = 221;
    /// Priority of the rule sending traffic to the peer into [`HostRoutes::TABLE`].
    pub const PREF: u32 = 219;
    /// Priority of the rules that exempt IKE and ESP.
    pub const BYPASS_PREF: u32 = 218;

    /// The `ip rule` selectors for `peer`: (selector words, table), bypasses first.
    fn rules(peer: IpAddr, ike_ports: &[u16]) -> Vec<(Vec<String>, String)> {
        let len = if peer.is_ipv6() { 128 } else { 32 };
        let to = vec!["to".to_string(), format!("{peer}/{len}")];
        let mut out = Vec::new();
        for p in ike_ports {
            let mut sel = to.clone();
            sel.extend([
                "ipproto".into(),
                "udp".into(),
                "sport".into(),
                p.to_string(),
            ]);
            out.push((sel, "main".to_string()));
        }
        let mut esp = to.clone();
        esp.extend(["ipproto".into(), "50".into()]);
        out.push((esp, "main".to_string()));
        out.push((to, Self::TABLE.to_string()));
        out
    }

    fn rule_args(op: &str, peer: IpAddr, sel: &[String], table: &str) -> Vec<String> {
        let f = if peer.is_ipv6() { "-6" } else { "-4" };
        let pref = if table == "main" {
            Self::BYPASS_PREF
        } else {
            Self::PREF
        };
        let mut a = vec![
            f.into(),
            "rule".into(),
            op.into(),
            "priority".into(),
            pref.to_string(),
        ];
        a.extend(sel.iter().cloned());
        a.extend(["lookup".into(), table.into()]);
        a
    }

    /// Take a reference on the rules and route for `peer` (installed on the first one).
    pub fn add(&mut self, peer: IpAddr, local: IpAddr, dev: &str, ike_ports: &[u16]) {
        let n = self.refs.entry(peer).or_insert(0);
        *n += 1;
        if *n > 1 {
            return;
        }
        let f = if peer.is_ipv6() { "-6" } else { "-4" };
        let len = if peer.is_ipv6() { 128 } else { 32 };
        let route: Vec<String> = vec![
            f.into(),
            "route".into(),
            "replace".into(),
            format!("{peer}/{len}"),
            "dev".into(),
            dev.into(),
            "src".into(),
            local.to_string(),
            "table".into(),
            Self::TABLE.to_string(),
        ];
        if !run_ip(&route) {
            return;
        }
        for (sel, table) in Self::rules(peer, ike_ports) {
            // A leftover identical rule (crashed daemon) would otherwise pile up.
            while run_ip_quiet(&Self::rule_args("del", peer, &sel, &table)) {}
            run_ip(&Self::rule_args("add", peer, &sel, &table));
        }
        info!("transport mode: traffic to {peer} via {dev} (src {local}), IKE/ESP bypass");
    }

    /// Drop a reference; rules and route go away with the last one.
    pub fn remove(&mut self, peer: IpAddr, ike_ports: &[u16]) {
        let Some(n) = self.refs.get_mut(&peer) else {
            return;
        };
        *n -= 1;
        if *n > 0 {
            return;
        }
        self.refs.remove(&peer);
        for (sel, table) in Self::rules(peer, ike_ports).into_iter().rev() {
            run_ip(&Self::rule_args("del", peer, &sel, &table));
        }
        let f = if peer.is_ipv6() { "-6" } else { "-4" };
        let len = if peer.is_ipv6() { 128 } else { 32 };
        run_ip(&[
            f.into(),
            "route".into(),
            "del".into(),
            format!("{peer}/{len}"),
            "table".into(),
            Self::TABLE.to_string(),
        ]);
        info!("transport mode: route and rules for {peer} removed");
    }

    /// Remove everything (shutdown).
    pub fn clear(&mut self, ike_ports: &[u16]) {
        let all: Vec<IpAddr> = self.refs.keys().copied().collect();
        for p in all {
            self.refs.insert(p, 1);
            self.remove(p, ike_ports);
        }
    }
}

/// A virtual IP (remote access, RFC 7296 §2.19) on `dev`, as a host address (/32, /128) so
/// that no connected route for the pool's subnet bypasses the tunnel selectors. IPv6 without
/// duplicate address detection, usable at once. `replace`: idempotent when the address is
/// already there (an earlier IKE SA of the same connection, a crashed daemon).
pub fn addr_add(dev: &str, addr: IpAddr) -> bool {
    let mut args = vec![
        if addr.is_ipv6() { "-6" } else { "-4" }.to_string(),
        "addr".into(),
        "replace".into(),
        host_prefix(addr),
        "dev".into(),
        dev.into(),
    ];
    if addr.is_ipv6() {
        args.push("nodad".into());
    }
    let ok = run_ip(&args);
    if ok {
        info!("virtual IP {addr} on {dev}");
    }
    ok
}

/// Remove a virtual IP from `dev` (the kernel drops the routes using it as `src`).
pub fn addr_del(dev: &str, addr: IpAddr) -> bool {
    let ok = run_ip(&[
        if addr.is_ipv6() { "-6" } else { "-4" }.to_string(),
        "addr".into(),
        "del".into(),
        host_prefix(addr),
        "dev".into(),
        dev.into(),
    ]);
    if ok {
        info!("virtual IP {addr} removed from {dev}");
    }
    ok
}

fn host_prefix(addr: IpAddr) -> String {
    format!("{addr}/{}", if addr.is_ipv6() { 128 } else { 32 })
}

fn run_ip_quiet(args: &[String]) -> bool {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn fam(c: Cidr) -> &'static str {
    if c.addr.is_ipv6() {
        "-6"
    } else {
        "-4"
    }
}

fn run_ip(args: &[String]) -> bool {
    debug!("ip {}", args.join(" "));
    match Command::new("ip").args(args).output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            warn!(
                "`ip {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            );
            false
        }
        Err(e) => {
            warn!("cannot run `ip`: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        let (a, l) = s.split_once('/').unwrap();
        Cidr {
            addr: a.parse().unwrap(),
            len: l.parse().unwrap(),
        }
    }

    fn r(a: &str, b: &str) -> Vec<String> {
        range_to_cidrs(a.parse().unwrap(), b.parse().unwrap())
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    #[test]
    fn ranges_become_prefixes() {
        assert_eq!(r("203.0.113.0", "203.0.113.255"), ["203.0.113.0/24"]);
        assert_eq!(r("203.0.113.1", "203.0.113.1"), ["203.0.113.1/32"]);
        assert_eq!(r("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(r("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ["::/0"]);
        assert_eq!(r("fd00:b::", "fd00:b::ffff"), ["fd00:b::/112"]);
        assert_eq!(
            r("10.0.0.1", "10.0.0.6"),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(
            r("255.255.255.254", "255.255.255.255"),
            ["255.255.255.254/31"]
        );
        assert!(r("10.0.0.2", "10.0.0.1").is_empty());
        assert!(r("10.0.0.1", "::1").is_empty());
    }

    #[test]
    fn transport_rules_exempt_ike_and_esp_before_the_tun_rule() {
        let peer: IpAddr = "192.0.2.2".parse().unwrap();
        let rules = HostRoutes::rules(peer, &[500, 4500]);
        let args: Vec<String> = rules
            .iter()
            .map(|(sel, t)| HostRoutes::rule_args("add", peer, sel, t).join(" "))
            .collect();
        assert_eq!(
            args,
            [
                "-4 rule add priority 218 to 192.0.2.2/32 ipproto udp sport 500 lookup main",
                "-4 rule add priority 218 to 192.0.2.2/32 ipproto udp sport 4500 lookup main",
                "-4 rule add priority 218 to 192.0.2.2/32 ipproto 50 lookup main",
                "-4 rule add priority 219 to 192.0.2.2/32 lookup 221",
            ]
        );
    }

    #[test]
    fn split_subnets_intersect_selectors() {
        // unaligned INTERNAL_IP4_SUBNET values are masked
        assert_eq!(
            Cidr::masked("10.1.2.3".parse().unwrap(), 16),
            c("10.1.0.0/16")
        );
        assert_eq!(
            Cidr::masked("10.1.2.3".parse().unwrap(), 40),
            c("10.1.2.3/32")
        );
        assert_eq!(Cidr::masked("10.1.2.3".parse().unwrap(), 0), c("0.0.0.0/0"));
        assert_eq!(
            Cidr::masked("fd00:b::7".parse().unwrap(), 64),
            c("fd00:b::/64")
        );
        // a split subnet inside the selector, the selector inside a split, disjoint, families
        let any = c("0.0.0.0/0");
        assert_eq!(any.intersect(&c("10.0.0.0/8")), Some(c("10.0.0.0/8")));
        assert_eq!(
            c("10.1.0.0/16").intersect(&c("10.0.0.0/8")),
            Some(c("10.1.0.0/16"))
        );
        assert_eq!(c("10.1.0.0/16").intersect(&c("10.2.0.0/16")), None);
        assert_eq!(any.intersect(&c("fd00::/8")), None);
    }

    #[test]
    fn virtual_ips_are_host_addresses() {
        assert_eq!(host_prefix("10.4.0.1".parse().unwrap()), "10.4.0.1/32");
        assert_eq!(host_prefix("fd00:4::1".parse().unwrap()), "fd00:4::1/128");
    }

    #[test]
    fn containment() {
        assert!(c("203.0.113.0/24").contains("203.0.113.9".parse().unwrap()));
        assert!(!c("203.0.113.0/24").contains("203.0.114.9".parse().unwrap()));
        assert!(c("0.0.0.0/0").contains("192.0.2.2".parse().unwrap()));
        assert!(!c("0.0.0.0/0").contains("::1".parse().unwrap()));
        assert!(c("::/0").contains("fd00::1".parse().unwrap()));
        assert!(c("fd00:a::1/128").contains("fd00:a::1".parse().unwrap()));
    }
}
