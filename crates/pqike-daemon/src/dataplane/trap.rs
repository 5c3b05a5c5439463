//! Trap policies: on-demand Child SAs for `start_action` / `close_action` / `dpd_action` =
//! "trap".
//!
//! A trap is the userspace counterpart of strongSwan's trap policies (an XFRM policy without
//! SA, whose first packet makes the kernel send an ACQUIRE, RFC 4301 §4.4.1 "on-demand"): its
//! remote selectors are routed into the TUN device like a Child SA's, and a packet that
//! matches the trap but no installed Child SA ([`pqike_esp::EncapError::NoPolicy`]) becomes
//! an [`Acquire`] for the engine (`Endpoint::handle_acquire`), which initiates the connection
//! (or a CREATE_CHILD_SA on its established IKE SA).
//!
//! The triggering packets are dropped (and counted), as the kernel does with its default
//! `xfrm_larval_drop`: queueing would only help the first packet of a flow, and every
//! protocol above IP retransmits anyway.
//!
//! Rate limit: one acquire per trap per [`ACQUIRE_RETRY`]; the engine ignores further acquires
//! while it sets the connection up, so the limit only saves the event-loop round trips under
//! a packet flood, and an acquire whose IKE SA failed is retried after it. Installing a Child
//! SA of the trap's connection/child resets the limit, so that after that SA goes away again
//! the next packet triggers at once.
//!
//! Traps stay armed while their Child SA exists (as strongSwan's do): the SA's routes and the
//! trap's share the same reference-counted route, and packets the SA carries never reach the
//! trap. So `pqike down` of a trapped connection leaves it on demand, like `swanctl
//! --terminate` does for strongSwan.
use pqike_esp::{flow, Selector};
use pqike_wire::TrafficSelector;
use std::time::{Duration, Instant};

/// The data plane saw traffic for a trap: ask the engine to bring this child up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acquire {
    /// Connection name.
    pub connection: String,
    /// Child config name.
    pub child: String,
}

/// Minimum time between two acquires of the same trap.
pub const ACQUIRE_RETRY: Duration = Duration::from_secs(5);

/// One armed trap.
#[derive(Debug)]
struct Trap {
    connection: String,
    child: String,
    local: Vec<Selector>,
    remote: Vec<Selector>,
    last_acquire: Option<Instant>,
}

/// The armed traps (shared by the outbound packet threads, behind a mutex).
#[derive(Debug, Default)]
pub(crate) struct Traps {
    list: Vec<Trap>,
    /// Packets that matched a trap (no Child SA yet) and were dropped.
    pub drops: u64,
    /// Acquires sent to the engine.
    pub acquires: u64,
}

impl Traps {
    /// Arm a trap for `connection`/`child`, replacing an earlier one of the same child (a
    /// `close_action = "trap"` re-arm of a `start_action = "trap"` connection).
    pub fn arm(
        &mut self,
        connection: &str,
        child: &str,
        local_ts: &[TrafficSelector],
        remote_ts: &[TrafficSelector],
    ) {
        self.list
            .retain(|t| !(t.connection == connection && t.child == child));
        self.list.push(Trap {
            connection: connection.into(),
            child: child.into(),
            local: local_ts.iter().map(Selector::from).collect(),
            remote: remote_ts.iter().map(Selector::from).collect(),
            last_acquire: None,
        });
    }

    /// Whether a trap for `connection`/`child` is armed.
    #[cfg(test)]
    pub fn armed(&self, connection: &str, child: &str) -> bool {
        self.list
            .iter()
            .any(|t| t.connection == connection && t.child == child)
    }

    /// A Child SA of `connection`/`child` was installed: the next packet after it is gone
    /// may trigger at once.
    pub fn satisfied(&mut self, connection: &str, child: &str) {
        for t in self
            .list
            .iter_mut()
            .filter(|t| t.connection == connection && t.child == child)
        {
            t.last_acquire = None;
        }
    }

    /// A packet from TUN that no Child SA carries. If it matches a trap (source in the local,
    /// destination in the remote selectors, protocol and ports included, RFC 4301 §4.4.1.1)
    /// it is counted as dropped, and an acquire is returned when one is due.
    pub fn packet(&mut self, pkt: &[u8], now: Instant) -> Option<Acquire> {
        let (f, _) = flow::parse_ip(pkt)?;
        let t = self.list.iter_mut().find(|t| {
            flow::matches(&t.local, Some(f.src), f.src_port, f.protocol)
                && flow::matches(&t.remote, Some(f.dst), f.dst_port, f.protocol)
        })?;
        self.drops += 1;
        if t.last_acquire
            .is_some_and(|l| now.saturating_duration_since(l) < ACQUIRE_RETRY)
        {
            return None;
        }
        t.last_acquire = Some(now);
        self.acquires += 1;
        Some(Acquire {
            connection: t.connection.clone(),
            child: t.child.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ts(a: &str, b: &str) -> TrafficSelector {
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start_addr: a.parse().unwrap(),
            end_addr: b.parse().unwrap(),
        }
    }

    /// An IPv4 UDP packet (header checksums are not looked at).
    fn udp4(src: &str, dst: &str, dport: u16) -> Vec<u8> {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (src.parse().unwrap(), dst.parse().unwrap()) else {
            panic!("v4 only")
        };
        let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
        p.extend(s.octets());
        p.extend(d.octets());
        p.extend(1234u16.to_be_bytes());
        p.extend(dport.to_be_bytes());
        p.extend([0, 8, 0, 0]);
        p
    }

    fn armed() -> Traps {
        let mut t = Traps::default();
        t.arm(
            "lab",
            "net",
            &[ts("203.0.113.0", "203.0.113.255")],
            &[ts("198.51.100.0", "198.51.100.255")],
        );
        t
    }

    #[test]
    fn matching_packet_acquires_once_per_retry_interval() {
        let mut t = armed();
        let p = udp4("203.0.113.1", "198.51.100.1", 53);
        let t0 = Instant::now();
        let want = Acquire {
            connection: "lab".into(),
            child: "net".into(),
        };
        assert_eq!(t.packet(&p, t0), Some(want.clone()));
        assert_eq!(t.packet(&p, t0 + Duration::from_secs(1)), None);
        assert_eq!(t.packet(&p, t0 + ACQUIRE_RETRY), Some(want.clone()));
        assert_eq!((t.drops, t.acquires), (3, 2));
        // An installed Child SA resets the limit.
        t.satisfied("lab", "net");
        assert_eq!(t.packet(&p, t0 + ACQUIRE_RETRY), Some(want));
    }

    #[test]
    fn other_traffic_is_not_trapped() {
        let mut t = armed();
        let now = Instant::now();
        // wrong direction, outside the selectors, not a packet at all
        assert_eq!(
            t.packet(&udp4("198.51.100.1", "203.0.113.1", 53), now),
            None
        );
        assert_eq!(t.packet(&udp4("203.0.113.1", "192.0.2.1", 53), now), None);
        assert_eq!(t.packet(&[0x45, 0, 0], now), None);
        assert_eq!(t.packet(&[], now), None);
        assert_eq!((t.drops, t.acquires), (0, 0));
    }

    #[test]
    fn selector_ports_and_protocol_count() {
        let mut t = Traps::default();
        let mut remote = ts("198.51.100.0", "198.51.100.255");
        (remote.ip_protocol, remote.start_port, remote.end_port) = (17, 53, 53);
        t.arm("dns", "net", &[ts("0.0.0.0", "255.255.255.255")], &[remote]);
        let now = Instant::now();
        assert_eq!(
            t.packet(&udp4("203.0.113.1", "198.51.100.1", 80), now),
            None
        );
        assert!(t
            .packet(&udp4("203.0.113.1", "198.51.100.1", 53), now)
            .is_some());
    }

    #[test]
    fn rearming_replaces_the_trap() {
        let mut t = armed();
        let p = udp4("203.0.113.1", "198.51.100.1", 53);
        let now = Instant::now();
        assert!(t.packet(&p, now).is_some());
        // close_action = "trap" re-arms: a fresh trap, acquire due again at once
        t.arm(
            "lab",
            "net",
            &[ts("203.0.113.0", "203.0.113.255")],
            &[ts("198.51.100.0", "198.51.100.255")],
        );
        assert_eq!(t.list.len(), 1);
        assert!(t.armed("lab", "net") && !t.armed("lab", "other"));
        assert!(t.packet(&p, now).is_some());
    }
}
