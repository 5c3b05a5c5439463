//! Traffic selector narrowing (RFC 7296 §2.9).
//!
//! The responder calls [`narrow`] with the initiator's TSi (resp. TSr) and its own configured
//! selectors for that side; an empty result means TS_UNACCEPTABLE. The initiator checks the
//! responder's reply with [`is_subset`] against what it proposed.
//!
//! Ports: the range 65535..0 is OPAQUE (RFC 7296 §3.13.1, the ports exist but are hidden, e.g.
//! fragments); it only matches the full range 0..65535 or another OPAQUE.
use pqike_wire::TrafficSelector;
use std::net::IpAddr;

/// An address as (family, integer) so that ranges compare numerically.
fn addr_key(a: IpAddr) -> (u8, u128) {
    match a {
        IpAddr::V4(v4) => (4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (6, u128::from(v6)),
    }
}

fn from_key(family: u8, v: u128) -> IpAddr {
    if family == 4 {
        // Only called with values that came from IPv4 addresses of the same family.
        IpAddr::V4(u32::try_from(v).unwrap_or(u32::MAX).into())
    } else {
        IpAddr::V6(v.into())
    }
}

/// (family, start, end) of a well-formed TS, or `None` for mixed families or start > end
/// (a malformed selector matches nothing).
fn addr_range(ts: &TrafficSelector) -> Option<(u8, u128, u128)> {
    let (fs, s) = addr_key(ts.start_addr);
    let (fe, e) = addr_key(ts.end_addr);
    (fs == fe && s <= e).then_some((fs, s, e))
}

/// Port range of a TS: `Some(None)` = OPAQUE, `Some(Some((s, e)))` = a range, `None` = empty.
#[allow(clippy::option_option)]
fn ports(ts: &TrafficSelector) -> Option<Option<(u16, u16)>> {
    if ts.start_port == u16::MAX && ts.end_port == 0 {
        Some(None)
    } else if ts.start_port <= ts.end_port {
        Some(Some((ts.start_port, ts.end_port)))
    } else {
        None
    }
}

/// Intersection of two port ranges (OPAQUE only with the full range or OPAQUE).
#[allow(clippy::option_option)]
fn port_intersection(a: Option<(u16, u16)>, b: Option<(u16, u16)>) -> Option<Option<(u16, u16)>> {
    const ANY: Option<(u16, u16)> = Some((0, u16::MAX));
    match (a, b) {
        (None, None) => Some(None),
        (None, x) | (x, None) => (x == ANY).then_some(None),
        (Some((s1, e1)), Some((s2, e2))) => {
            let (s, e) = (s1.max(s2), e1.min(e2));
            (s <= e).then_some(Some((s, e)))
        }
    }
}

/// Protocol intersection: 0 is "any".
fn proto_intersection(a: u8, b: u8) -> Option<u8> {
    match (a, b) {
        (0, x) | (x, 0) => Some(x),
        (x, y) if x == y => Some(x),
        _ => None,
    }
}

/// The intersection of two selectors, if not empty.
pub fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    let (fa, sa, ea) = addr_range(a)?;
    let (fb, sb, eb) = addr_range(b)?;
    if fa != fb {
        return None;
    }
    let (s, e) = (sa.max(sb), ea.min(eb));
    if s > e {
        return None;
    }
    let ip_protocol = proto_intersection(a.ip_protocol, b.ip_protocol)?;
    let (start_port, end_port) = port_intersection(ports(a)?, ports(b)?)?.unwrap_or((u16::MAX, 0));
    Some(TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        start_addr: from_key(fa, s),
        end_addr: from_key(fa, e),
    })
}

/// True if `inner` lies entirely within `outer`.
pub fn contains(outer: &TrafficSelector, inner: &TrafficSelector) -> bool {
    intersect(outer, inner).as_ref() == Some(inner)
}

/// Responder narrowing (RFC 7296 §2.9): every pairwise intersection of the peer's `proposed`
/// selectors with our `configured` ones, our order first, duplicates removed. Empty = nothing
/// acceptable (TS_UNACCEPTABLE).
pub fn narrow(
    proposed: &[TrafficSelector],
    configured: &[TrafficSelector],
) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for c in configured {
        for p in proposed {
            if let Some(ts) = intersect(p, c) {
                if !out.contains(&ts) {
                    out.push(ts);
                }
            }
        }
    }
    out
}

/// Initiator check of the reply: every selector in `narrowed` lies within one we `proposed`.
/// An empty reply is not a valid narrowing (the responder must send TS_UNACCEPTABLE instead).
pub fn is_subset(narrowed: &[TrafficSelector], proposed: &[TrafficSelector]) -> bool {
    !narrowed.is_empty()
        && narrowed
            .iter()
            .all(|n| proposed.iter().any(|p| contains(p, n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(proto: u8, ports: (u16, u16), start: &str, end: &str) -> TrafficSelector {
        TrafficSelector {
            ip_protocol: proto,
            start_port: ports.0,
            end_port: ports.1,
            start_addr: start.parse().unwrap(),
            end_addr: end.parse().unwrap(),
        }
    }
    const ANY: (u16, u16) = (0, 65535);

    #[test]
    fn narrows_address_ranges() {
        let proposed = [ts(0, ANY, "0.0.0.0", "255.255.255.255")];
        let configured = [ts(0, ANY, "10.1.0.0", "10.1.255.255")];
        assert_eq!(narrow(&proposed, &configured), configured.to_vec());
        let proposed = [ts(0, ANY, "10.1.128.0", "10.2.0.10")];
        assert_eq!(
            narrow(&proposed, &configured),
            vec![ts(0, ANY, "10.1.128.0", "10.1.255.255")]
        );
    }

    #[test]
    fn narrows_ports_and_protocols() {
        let proposed = [ts(6, (1000, 2000), "10.0.0.1", "10.0.0.1")];
        let configured = [ts(0, (1500, 65535), "10.0.0.0", "10.0.0.255")];
        assert_eq!(
            narrow(&proposed, &configured),
            vec![ts(6, (1500, 2000), "10.0.0.1", "10.0.0.1")]
        );
        // TCP vs UDP: nothing in common.
        let configured = [ts(17, ANY, "10.0.0.0", "10.0.0.255")];
        assert!(narrow(&proposed, &configured).is_empty());
        // Disjoint ports.
        let configured = [ts(6, (3000, 4000), "10.0.0.0", "10.0.0.255")];
        assert!(narrow(&proposed, &configured).is_empty());
    }

    #[test]
    fn opaque_ports() {
        let opaque = ts(17, (65535, 0), "10.0.0.1", "10.0.0.1");
        let any = ts(0, ANY, "10.0.0.0", "10.0.0.255");
        assert_eq!(
            narrow(std::slice::from_ref(&opaque), &[any]),
            vec![opaque.clone()]
        );
        let some = ts(0, (500, 500), "10.0.0.0", "10.0.0.255");
        assert!(narrow(&[opaque], &[some]).is_empty());
    }

    #[test]
    fn ipv6_and_mixed_families() {
        let v6 = [ts(0, ANY, "2001:db8::", "2001:db8::ffff")];
        let cfg = [
            ts(0, ANY, "2001:db8::100", "2001:db8:1::"),
            ts(0, ANY, "10.0.0.0", "10.255.255.255"),
        ];
        assert_eq!(
            narrow(&v6, &cfg),
            vec![ts(0, ANY, "2001:db8::100", "2001:db8::ffff")]
        );
        let v4 = [ts(0, ANY, "0.0.0.0", "255.255.255.255")];
        assert_eq!(narrow(&v4, &cfg[..1]), vec![]);
    }

    #[test]
    fn disjoint_is_empty_and_duplicates_are_removed() {
        let proposed = [ts(0, ANY, "10.0.0.0", "10.0.0.255")];
        assert!(narrow(&proposed, &[ts(0, ANY, "10.0.1.0", "10.0.1.255")]).is_empty());
        let cfg = [
            ts(0, ANY, "10.0.0.0", "10.0.0.255"),
            ts(0, ANY, "0.0.0.0", "255.255.255.255"),
        ];
        assert_eq!(narrow(&proposed, &cfg), proposed.to_vec());
        // malformed (start > end) matches nothing
        assert!(narrow(&[ts(0, ANY, "10.0.0.9", "10.0.0.1")], &cfg).is_empty());
    }

    #[test]
    fn subset_check() {
        let proposed = [ts(0, ANY, "10.0.0.0", "10.0.255.255")];
        assert!(is_subset(
            &[ts(6, (80, 80), "10.0.1.0", "10.0.1.255")],
            &proposed
        ));
        assert!(!is_subset(&[ts(0, ANY, "10.0.0.0", "10.1.0.0")], &proposed));
        assert!(!is_subset(&[], &proposed));
        let tcp = [ts(6, ANY, "10.0.0.0", "10.0.255.255")];
        assert!(!is_subset(&[ts(0, ANY, "10.0.0.0", "10.0.0.1")], &tcp));
    }
}
