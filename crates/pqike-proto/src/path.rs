//! Transport paths: where an IKE SA's messages and a Child SA's ESP packets travel, and how each
//! transport frames them.
//!
//! Every decision that depends on the transport lives here, not in port comparisons spread over
//! the engine: the non-ESP marker on the NAT-T port (RFC 3948 §2.2), the datagram budget for
//! RFC 7383 fragmentation, whether retransmission timers run (they do not on a reliable stream,
//! RFC 9329 §6), and the float to the NAT-T port after NAT detection (RFC 7296 §2.23).
//!
//! An IKE SA has one [`Path`]; each Child SA gets its own [`EspPath`] when it is installed. They
//! start out derived from one another but are separate values, so that IKE over TCP with ESP on
//! UDP (draft-ietf-ipsecme-ikev2-reliable-transport) or an address update (RFC 4555) can change
//! one without the other.
use crate::EndpointConfig;
use pqike_wire::NON_ESP_MARKER;
use std::net::SocketAddr;

/// IPv4 / IPv6 header and UDP header sizes (RFC 7383 §2.5.1: `fragment_size` counts the whole IP
/// datagram).
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;

/// Identifies one reliable stream (a TCP connection, RFC 9329) to the caller that owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// How IKE messages are carried on a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Plain UDP (port 500): one IKE message per datagram.
    Udp,
    /// UDP on the NAT-T port: IKE messages behind the 4-octet non-ESP marker, sharing the port
    /// with ESP-in-UDP and keepalives (RFC 3948 §2.2).
    UdpNatT,
    /// A reliable byte stream (RFC 9329). Reserved: no transport produces it yet.
    Tcp(StreamId),
}

/// Where one IKE SA's messages go, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// The transport's framing.
    pub framing: Framing,
}

/// What a datagram received on a UDP port is, once the framing is known.
#[derive(Debug, PartialEq, Eq)]
pub enum Classified<'a> {
    /// An IKE message (marker removed), received with this framing.
    Ike(Framing, &'a [u8]),
    /// A NAT-T keepalive (RFC 3948 §2.3).
    Keepalive,
    /// An ESP packet on the NAT-T port: the data plane's, not the engine's.
    Esp,
    /// Too short to be anything on the NAT-T port.
    Runt,
}

impl Framing {
    /// The UDP framing of a datagram on our local port: the NAT-T port carries the marker.
    pub fn for_udp_port(local_port: u16, cfg: &EndpointConfig) -> Framing {
        if local_port == cfg.nat_port {
            Framing::UdpNatT
        } else {
            Framing::Udp
        }
    }

    /// Octets this framing adds in front of an IKE message inside one datagram.
    fn prefix_len(self) -> usize {
        match self {
            Framing::UdpNatT => NON_ESP_MARKER.len(),
            Framing::Udp | Framing::Tcp(_) => 0,
        }
    }

    /// Classify a UDP datagram received on `local_port` (RFC 3948 §2.2/§2.3: on the NAT-T port
    /// 0xFF keepalives, ESP with a non-zero SPI, and IKE behind the zero marker share the port).
    pub fn classify<'a>(local_port: u16, cfg: &EndpointConfig, data: &'a [u8]) -> Classified<'a> {
        match Framing::for_udp_port(local_port, cfg) {
            Framing::UdpNatT => {
                if data == [0xff] {
                    return Classified::Keepalive;
                }
                match data.split_at_checked(NON_ESP_MARKER.len()) {
                    Some((marker, rest)) if marker == NON_ESP_MARKER => {
                        Classified::Ike(Framing::UdpNatT, rest)
                    }
                    Some(_) => Classified::Esp,
                    None => Classified::Runt,
                }
            }
            other => Classified::Ike(other, data),
        }
    }

    /// Put one IKE message into the framing (the marker on the NAT-T port).
    pub fn frame(self, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(message.len() + self.prefix_len());
        if self == Framing::UdpNatT {
            out.extend_from_slice(&NON_ESP_MARKER);
        }
        out.extend_from_slice(message);
        out
    }
}

impl Path {
    /// A UDP path; the framing follows from the local port.
    pub fn udp(local: SocketAddr, remote: SocketAddr, cfg: &EndpointConfig) -> Path {
        Path {
            local,
            remote,
            framing: Framing::for_udp_port(local.port(), cfg),
        }
    }

    /// Whether the transport is a datagram one (fragmentation and retransmission apply).
    pub fn is_datagram(&self) -> bool {
        !matches!(self.framing, Framing::Tcp(_))
    }

    /// Whether lost requests are retransmitted on this path. A reliable stream delivers or
    /// breaks, so RFC 9329 §6 runs no IKE retransmission timers over TCP.
    pub fn retransmits(&self) -> bool {
        self.is_datagram()
    }

    /// The largest IKE message that fits in one datagram of `fragment_size` octets (RFC 7383
    /// §2.5.1: the budget counts IP and UDP headers and the non-ESP marker). `None` on a stream,
    /// where RFC 9329 carries whole messages and fragmentation is off.
    pub fn max_ike_len(&self, fragment_size: usize) -> Option<usize> {
        if !self.is_datagram() {
            return None;
        }
        let ip = if self.remote.is_ipv4() {
            IPV4_HEADER
        } else {
            IPV6_HEADER
        };
        Some(fragment_size.saturating_sub(ip + UDP_HEADER + self.framing.prefix_len()))
    }

    /// RFC 7296 §2.23: after NAT detection the initiator moves to the NAT-T port on both sides.
    /// Only UDP paths float; a stream stays where it is.
    pub fn float_to_nat_t(&mut self, cfg: &EndpointConfig) {
        if self.is_datagram() {
            self.local.set_port(cfg.nat_port);
            self.remote.set_port(cfg.nat_port);
            self.framing = Framing::UdpNatT;
        }
    }

    /// After NAT detection the peer may appear from a new address or port (RFC 7296 §2.23: the
    /// responder follows the initiator's float to 4500 and NAT rebinding). Returns whether the
    /// path changed.
    pub fn follow(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        framing: Framing,
        nat: bool,
    ) -> bool {
        if (self.local, self.remote) == (local, remote) {
            return false;
        }
        if !nat && local.port() == self.local.port() {
            return false;
        }
        self.local = local;
        self.remote = remote;
        self.framing = framing;
        true
    }

    /// The ESP path of a Child SA created now over this IKE path: the same addresses, UDP
    /// encapsulation when a NAT was detected (RFC 3948).
    pub fn esp(&self, nat_detected: bool) -> EspPath {
        EspPath {
            local: self.local,
            remote: self.remote,
            udp_encap: nat_detected,
        }
    }

    /// One IKE message as the datagram payload to send on this path.
    pub fn frame(&self, message: &[u8]) -> Vec<u8> {
        self.framing.frame(message)
    }
}

/// Where one Child SA's ESP packets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspPath {
    /// Our outer address.
    pub local: SocketAddr,
    /// The peer's outer address.
    pub remote: SocketAddr,
    /// RFC 3948 UDP encapsulation.
    pub udp_encap: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EndpointConfig {
        EndpointConfig::default()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nat_t_port_carries_the_marker() {
        let c = cfg();
        assert_eq!(
            Framing::classify(4500, &c, &[0, 0, 0, 0, 1, 2]),
            Classified::Ike(Framing::UdpNatT, &[1, 2][..])
        );
        assert_eq!(Framing::classify(4500, &c, &[0xff]), Classified::Keepalive);
        assert_eq!(
            Framing::classify(4500, &c, &[0, 0, 0, 1, 9]),
            Classified::Esp
        );
        assert_eq!(Framing::classify(4500, &c, &[0, 0]), Classified::Runt);
        assert_eq!(
            Framing::classify(500, &c, &[0, 0, 0, 0]),
            Classified::Ike(Framing::Udp, &[0, 0, 0, 0][..])
        );
        let p = Path::udp(addr("192.0.2.1:4500"), addr("192.0.2.2:4500"), &c);
        assert_eq!(p.frame(&[7]), vec![0, 0, 0, 0, 7]);
        let p = Path::udp(addr("192.0.2.1:500"), addr("192.0.2.2:500"), &c);
        assert_eq!(p.frame(&[7]), vec![7]);
    }

    #[test]
    fn fragment_budget_counts_headers_and_marker() {
        let c = cfg();
        let v4 = Path::udp(addr("192.0.2.1:500"), addr("192.0.2.2:500"), &c);
        assert_eq!(v4.max_ike_len(1280), Some(1280 - 28));
        let mut nat = v4;
        nat.float_to_nat_t(&c);
        assert_eq!(nat.framing, Framing::UdpNatT);
        assert_eq!(nat.local.port(), 4500);
        assert_eq!(nat.max_ike_len(1280), Some(1280 - 32));
        let v6 = Path::udp(addr("[2001:db8::1]:500"), addr("[2001:db8::2]:500"), &c);
        assert_eq!(v6.max_ike_len(1280), Some(1280 - 48));
        let tcp = Path {
            framing: Framing::Tcp(StreamId(1)),
            ..v4
        };
        assert_eq!(tcp.max_ike_len(1280), None);
        assert!(!tcp.retransmits());
        let mut t = tcp;
        t.float_to_nat_t(&c);
        assert_eq!(t, tcp, "a stream does not float");
    }

    #[test]
    fn follows_only_after_nat_or_a_port_change() {
        let c = cfg();
        let mut p = Path::udp(addr("192.0.2.1:500"), addr("192.0.2.2:500"), &c);
        // Same port, no NAT: a spoofed source must not move the SA.
        assert!(!p.follow(
            addr("192.0.2.1:500"),
            addr("198.51.100.9:500"),
            Framing::Udp,
            false
        ));
        // The initiator's float to 4500.
        assert!(p.follow(
            addr("192.0.2.1:4500"),
            addr("192.0.2.2:4500"),
            Framing::UdpNatT,
            false
        ));
        assert_eq!(p.framing, Framing::UdpNatT);
        // NAT rebinding.
        assert!(p.follow(
            addr("192.0.2.1:4500"),
            addr("192.0.2.2:61000"),
            Framing::UdpNatT,
            true
        ));
        let esp = p.esp(true);
        assert_eq!(
            (esp.local, esp.remote, esp.udp_encap),
            (p.local, p.remote, true)
        );
    }
}
