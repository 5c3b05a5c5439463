//! Remote access: the configuration payload in IKE_AUTH (RFC 7296 §2.19, §3.15) with virtual IPv4
//! and IPv6 addresses from pools, DNS servers and split-tunnel subnets, and RFC 8983's
//! IP4_ALLOWED / IP6_ALLOWED. EAP is not implemented.
//!
//! * Client (`vips` configured): the first IKE_AUTH request carries CP(CFG_REQUEST) with
//!   INTERNAL_IP4_ADDRESS / INTERNAL_IP6_ADDRESS (empty = any, or the address wanted) and the
//!   DNS attributes; the CP(CFG_REPLY) becomes [`crate::Event::VirtualIp`]. The child's TSi
//!   (e.g. 0.0.0.0/0) is narrowed by the server to the assigned address.
//! * Server (`pools` configured): a CFG_REQUEST gets an address per requested family from the
//!   first pool of that family with a free address (a peer identity keeps its lease across
//!   rekeys and gets the same address back), DNS and subnets of that pool; the child's TSi is
//!   narrowed to the assigned addresses. No free address: INTERNAL_ADDRESS_FAILURE.
//!
//! A task contributing to the shared IKE_AUTH messages ([`crate::tasks::features`]):
//! [`request_payloads`] / [`response_payloads`] add to them, [`on_request`] / [`on_reply`] look
//! at received ones.
use crate::notify::IkeError;
use crate::sa_data::SaData;
use crate::tasks::manager::Ctx;
use crate::{Event, PoolConfig, VirtualIp};
use pqike_wire::{CfgAttribute, CfgType, Config, Notify, NotifyType, Payload, TrafficSelector};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// RFC 7296 §3.15.1 attribute types.
const INTERNAL_IP4_ADDRESS: u16 = 1;
const INTERNAL_IP4_NETMASK: u16 = 2;
const INTERNAL_IP4_DNS: u16 = 3;
const INTERNAL_IP6_ADDRESS: u16 = 8;
const INTERNAL_IP6_DNS: u16 = 10;
const INTERNAL_IP4_SUBNET: u16 = 13;
const INTERNAL_IP6_SUBNET: u16 = 15;

/// Address leases of all pools: pool name -> address -> owner (connection and peer identity).
#[derive(Default, Debug)]
pub(crate) struct Leases {
    pools: HashMap<String, BTreeMap<IpAddr, String>>,
}

impl Leases {
    /// The owner's existing lease in `pool`, else the first free address.
    fn acquire(&mut self, pool: &PoolConfig, owner: &str) -> Option<IpAddr> {
        let used = self.pools.entry(pool.name.clone()).or_default();
        if let Some((a, _)) = used.iter().find(|(_, o)| *o == owner) {
            return Some(*a);
        }
        let mut a = pool.first;
        loop {
            if let std::collections::btree_map::Entry::Vacant(e) = used.entry(a) {
                e.insert(owner.to_string());
                return Some(a);
            }
            if a == pool.last {
                return None;
            }
            a = next_addr(a)?;
        }
    }

    /// Give back every lease of `owner`.
    pub fn release(&mut self, owner: &str) {
        for used in self.pools.values_mut() {
            used.retain(|_, o| o != owner);
        }
    }
}

fn next_addr(a: IpAddr) -> Option<IpAddr> {
    match a {
        IpAddr::V4(v) => u32::from(v)
            .checked_add(1)
            .map(|n| Ipv4Addr::from(n).into()),
        IpAddr::V6(v) => u128::from(v)
            .checked_add(1)
            .map(|n| Ipv6Addr::from(n).into()),
    }
}

fn attr(t: u16, value: Vec<u8>) -> CfgAttribute {
    CfgAttribute {
        attr_type: t,
        value,
    }
}

fn addr_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

fn netmask(prefix: u8) -> Vec<u8> {
    let p = u32::from(prefix.min(32));
    let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    m.to_be_bytes().to_vec()
}

/// Client: CP(CFG_REQUEST) for the first IKE_AUTH request.
pub(crate) fn request_payloads(sa: &mut SaData) -> Vec<Payload> {
    let vips = &sa.conn.lifecycle.vips;
    if !sa.initiator || vips.is_empty() || sa.cp.sent {
        return Vec::new();
    }
    sa.cp.sent = true;
    let mut attributes = Vec::new();
    for v in vips {
        match v {
            IpAddr::V4(a) => {
                let value = if a.is_unspecified() {
                    Vec::new()
                } else {
                    a.octets().to_vec()
                };
                attributes.push(attr(INTERNAL_IP4_ADDRESS, value));
                attributes.push(attr(INTERNAL_IP4_DNS, Vec::new()));
            }
            IpAddr::V6(a) => {
                let value = if a.is_unspecified() {
                    Vec::new()
                } else {
                    let mut v = a.octets().to_vec();
                    v.push(128);
                    v
                };
                attributes.push(attr(INTERNAL_IP6_ADDRESS, value));
                attributes.push(attr(INTERNAL_IP6_DNS, Vec::new()));
            }
        }
    }
    tracing::debug!(sa = sa.id.0, "requesting virtual IPs {vips:?}");
    vec![Payload::Cp(Config {
        cfg_type: CfgType::REQUEST,
        attributes,
    })]
}

/// Server: a CFG_REQUEST in an IKE_AUTH request. Assigns addresses and prepares the reply.
pub(crate) fn on_request(sa: &mut SaData, ctx: &mut Ctx<'_>, payloads: &[Payload]) {
    let Some(req) = payloads.iter().find_map(|p| match p {
        Payload::Cp(c) if c.cfg_type == CfgType::REQUEST => Some(c),
        _ => None,
    }) else {
        return;
    };
    let pools = sa.conn.lifecycle.pools.clone();
    if pools.is_empty() {
        tracing::info!(
            sa = sa.id.0,
            "peer requests a virtual IP, but no pool is configured"
        );
        return;
    }
    let wants = |t: u16| req.attributes.iter().any(|a| a.attr_type == t);
    let (want4, want6) = (wants(INTERNAL_IP4_ADDRESS), wants(INTERNAL_IP6_ADDRESS));
    let owner = sa.lease_owner();
    let mut attributes = Vec::new();
    let mut assigned = Vec::new();
    let mut failed = false;
    for (want, v6) in [(want4, false), (want6, true)] {
        if !want {
            continue;
        }
        let candidates: Vec<&PoolConfig> =
            pools.iter().filter(|p| p.first.is_ipv6() == v6).collect();
        let Some((pool, a)) = candidates
            .iter()
            .find_map(|p| ctx.leases.acquire(p, &owner).map(|a| (*p, a)))
        else {
            // RFC 8983: the family is not served; IP4/6_ALLOWED below tells which is.
            failed |= !candidates.is_empty();
            continue;
        };
        tracing::info!(
            sa = sa.id.0,
            "assigning virtual IP {a} from pool {} to {owner}",
            pool.name
        );
        assigned.push(a);
        if v6 {
            let mut v = addr_bytes(a);
            v.push(pool.prefix);
            attributes.push(attr(INTERNAL_IP6_ADDRESS, v));
        } else {
            attributes.push(attr(INTERNAL_IP4_ADDRESS, addr_bytes(a)));
            attributes.push(attr(INTERNAL_IP4_NETMASK, netmask(pool.prefix)));
        }
        for d in pool.dns.iter().filter(|d| d.is_ipv6() == v6) {
            let t = if v6 {
                INTERNAL_IP6_DNS
            } else {
                INTERNAL_IP4_DNS
            };
            attributes.push(attr(t, addr_bytes(*d)));
        }
        for (net, plen) in pool.split.iter().filter(|(n, _)| n.is_ipv6() == v6) {
            let mut v = addr_bytes(*net);
            if v6 {
                v.push(*plen);
                attributes.push(attr(INTERNAL_IP6_SUBNET, v));
            } else {
                v.extend(netmask(*plen));
                attributes.push(attr(INTERNAL_IP4_SUBNET, v));
            }
        }
    }
    let mut reply = Vec::new();
    if assigned.is_empty() {
        if failed || want4 || want6 {
            tracing::warn!(
                sa = sa.id.0,
                "no virtual IP for {owner}: pools exhausted or wrong family"
            );
            reply.extend(
                IkeError::InternalAddressFailure("pools exhausted or wrong family")
                    .notify()
                    .map(Payload::Notify),
            );
        }
    } else {
        reply.push(Payload::Cp(Config {
            cfg_type: CfgType::REPLY,
            attributes,
        }));
    }
    // RFC 8983 §3: the address families we assign.
    if want4 || want6 {
        if pools.iter().any(|p| p.first.is_ipv4()) {
            reply.push(Payload::Notify(Notify::new(
                NotifyType::IP4_ALLOWED,
                Vec::new(),
            )));
        }
        if pools.iter().any(|p| p.first.is_ipv6()) {
            reply.push(Payload::Notify(Notify::new(
                NotifyType::IP6_ALLOWED,
                Vec::new(),
            )));
        }
    }
    sa.cp.vips = assigned;
    sa.cp.reply = reply;
}

/// Server: the CP reply prepared by [`on_request`], for the IKE_AUTH response that completes
/// authentication (the one carrying AUTH, not an error).
pub(crate) fn response_payloads(sa: &mut SaData) -> Vec<Payload> {
    std::mem::take(&mut sa.cp.reply)
}

/// Server: narrow the child's TSi (the client's side) to its virtual IPs (RFC 7296 §2.19).
pub(crate) fn narrow_to_vips(sa: &SaData, tsi: Vec<TrafficSelector>) -> Vec<TrafficSelector> {
    if sa.cp.vips.is_empty() {
        return tsi;
    }
    let mut out = Vec::new();
    for v in &sa.cp.vips {
        let host = TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start_addr: *v,
            end_addr: *v,
        };
        for t in &tsi {
            if let Some(i) = crate::ts::intersect(t, &host) {
                out.push(i);
            }
        }
    }
    out
}

fn parse_addr(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => <[u8; 4]>::try_from(v).ok().map(IpAddr::from),
        16 | 17 => <[u8; 16]>::try_from(&v[..16]).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Client: the CFG_REPLY in the IKE_AUTH response -> [`Event::VirtualIp`].
pub(crate) fn on_reply(sa: &mut SaData, ctx: &mut Ctx<'_>, payloads: &[Payload]) {
    let Some(reply) = payloads.iter().find_map(|p| match p {
        Payload::Cp(c) if c.cfg_type == CfgType::REPLY => Some(c),
        _ => None,
    }) else {
        if sa.cp.sent {
            tracing::warn!(
                sa = sa.id.0,
                "virtual IP requested, but the peer assigned none"
            );
        }
        return;
    };
    let mut v4: Option<VirtualIp> = None;
    let mut v6: Option<VirtualIp> = None;
    let (mut dns4, mut dns6, mut split4, mut split6) = (vec![], vec![], vec![], vec![]);
    let mut mask4 = 32u8;
    for a in &reply.attributes {
        let v = a.value.as_slice();
        match a.attr_type {
            INTERNAL_IP4_ADDRESS => {
                if let Some(addr) = parse_addr(v).filter(|_| v.len() == 4) {
                    v4 = Some(VirtualIp {
                        addr,
                        prefix: 32,
                        dns: vec![],
                        split: vec![],
                    });
                }
            }
            INTERNAL_IP4_NETMASK if v.len() == 4 => {
                mask4 = u32::from_be_bytes([v[0], v[1], v[2], v[3]]).count_ones() as u8;
            }
            INTERNAL_IP6_ADDRESS if v.len() == 17 => {
                if let Some(addr) = parse_addr(v) {
                    v6 = Some(VirtualIp {
                        addr,
                        prefix: v[16].min(128),
                        dns: vec![],
                        split: vec![],
                    });
                }
            }
            INTERNAL_IP4_DNS if v.len() == 4 => dns4.extend(parse_addr(v)),
            INTERNAL_IP6_DNS if v.len() == 16 => dns6.extend(parse_addr(v)),
            INTERNAL_IP4_SUBNET if v.len() == 8 => {
                if let Some(n) = parse_addr(&v[..4]) {
                    let m = u32::from_be_bytes([v[4], v[5], v[6], v[7]]).count_ones() as u8;
                    split4.push((n, m));
                }
            }
            INTERNAL_IP6_SUBNET if v.len() == 17 => {
                if let Some(n) = parse_addr(v) {
                    split6.push((n, v[16].min(128)));
                }
            }
            other => tracing::debug!(sa = sa.id.0, "ignoring CP attribute {other}"),
        }
    }
    if let Some(v) = &mut v4 {
        v.prefix = mask4;
        v.dns = dns4;
        v.split = split4;
    }
    if let Some(v) = &mut v6 {
        v.dns = dns6;
        v.split = split6;
    }
    for vip in [v4, v6].into_iter().flatten() {
        tracing::info!(sa = sa.id.0, "virtual IP {} assigned by the peer", vip.addr);
        sa.cp.vips.push(vip.addr);
        ctx.out.events.push_back(Event::VirtualIp {
            sa: sa.id,
            connection: sa.conn.name.clone(),
            vip,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(first: &str, last: &str) -> PoolConfig {
        PoolConfig {
            name: "p".into(),
            first: first.parse().unwrap(),
            last: last.parse().unwrap(),
            prefix: 24,
            dns: vec![],
            split: vec![],
        }
    }

    #[test]
    fn leases_are_per_owner_and_run_out() {
        let p = pool("10.3.0.1", "10.3.0.2");
        let mut l = Leases::default();
        let a = l.acquire(&p, "x").unwrap();
        assert_eq!(l.acquire(&p, "x"), Some(a), "same owner, same address");
        let b = l.acquire(&p, "y").unwrap();
        assert_ne!(a, b);
        assert_eq!(l.acquire(&p, "z"), None);
        l.release("x");
        assert_eq!(l.acquire(&p, "z"), Some(a));
    }

    #[test]
    fn netmask_from_prefix() {
        assert_eq!(netmask(24), vec![255, 255, 255, 0]);
        assert_eq!(netmask(0), vec![0, 0, 0, 0]);
        assert_eq!(netmask(32), vec![255; 4]);
    }
}
