//! A classic-format pcap writer for captured IKE datagrams, so Wireshark/tshark can dissect
//! a simulated run.
//!
//! Each datagram is wrapped in a synthesized IPv4 and UDP header with the real source and
//! destination ports (500/4500), which is what makes Wireshark's ISAKMP dissector pick them up;
//! on port 4500 the non-ESP marker is kept, as on the wire (RFC 3948 §2.2). The link type is
//! LINKTYPE_RAW (101): the packet starts directly with the IP header.
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// One captured datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// Simulated time since the start of the run.
    pub at: Duration,
    /// Sender's address and port.
    pub src: SocketAddr,
    /// Receiver's address and port.
    pub dst: SocketAddr,
    /// UDP payload as sent (with the non-ESP marker on port 4500).
    pub payload: Vec<u8>,
}

const LINKTYPE_RAW: u32 = 101;
const IPPROTO_UDP: u8 = 17;

/// Write `packets` as a classic pcap file (microsecond timestamps) to `out`.
///
/// IPv6 endpoints are not supported by the synthesized headers (the testkit only uses IPv4);
/// such packets are an `InvalidInput` error.
pub fn write_pcap<W: Write>(mut out: W, packets: &[Captured]) -> io::Result<()> {
    // Global header: magic, version 2.4, GMT offset, accuracy, snaplen, link type.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&0i32.to_le_bytes())?;
    out.write_all(&0u32.to_le_bytes())?;
    out.write_all(&65_535u32.to_le_bytes())?;
    out.write_all(&LINKTYPE_RAW.to_le_bytes())?;
    for p in packets {
        let frame = ipv4_udp(p)?;
        let len = u32::try_from(frame.len()).map_err(|_| invalid("datagram too large"))?;
        // A fixed epoch keeps files reproducible: 2025-01-01T00:00:00Z.
        let secs = 1_735_689_600 + p.at.as_secs();
        out.write_all(&u32::try_from(secs).unwrap_or(u32::MAX).to_le_bytes())?;
        out.write_all(&p.at.subsec_micros().to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&frame)?;
    }
    out.flush()
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned())
}

/// IPv4 header (no options) + UDP header + payload.
fn ipv4_udp(p: &Captured) -> io::Result<Vec<u8>> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (p.src.ip(), p.dst.ip()) else {
        return Err(invalid("only IPv4 is supported"));
    };
    let udp_len = 8 + p.payload.len();
    let total = 20 + udp_len;
    let total16 = u16::try_from(total).map_err(|_| invalid("datagram too large"))?;
    let mut f = Vec::with_capacity(total);
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0]); // ID 0, DF
    f.extend_from_slice(&[64, IPPROTO_UDP, 0, 0]); // TTL, protocol, checksum (below)
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let csum = internet_checksum(&f[..20]);
    f[10..12].copy_from_slice(&csum.to_be_bytes());
    let udp_start = f.len();
    f.extend_from_slice(&p.src.port().to_be_bytes());
    f.extend_from_slice(&p.dst.port().to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&p.payload);
    // UDP checksum over the pseudo-header (RFC 768), so no checker complains.
    let mut pseudo = Vec::with_capacity(12 + udp_len);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, IPPROTO_UDP]);
    pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
    pseudo.extend_from_slice(&f[udp_start..]);
    let c = match internet_checksum(&pseudo) {
        0 => 0xffff, // RFC 768: a computed zero is sent as all ones
        c => c,
    };
    f[udp_start + 6..udp_start + 8].copy_from_slice(&c.to_be_bytes());
    Ok(f)
}

/// RFC 1071 one's-complement checksum.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_rfc1071_example() {
        // RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to ddf2; checksum is its complement.
        assert_eq!(
            internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn layout_of_one_packet() {
        let p = Captured {
            at: Duration::from_millis(1500),
            src: "192.0.2.1:500".parse().unwrap(),
            dst: "192.0.2.2:4500".parse().unwrap(),
            payload: vec![0, 0, 0, 0, 0xaa],
        };
        let mut buf = Vec::new();
        write_pcap(&mut buf, std::slice::from_ref(&p)).unwrap();
        assert_eq!(buf.len(), 24 + 16 + 20 + 8 + 5);
        assert_eq!(&buf[20..24], &LINKTYPE_RAW.to_le_bytes());
        // record header: ts_usec = 500000, lengths 33
        assert_eq!(&buf[28..32], &500_000u32.to_le_bytes());
        assert_eq!(&buf[32..36], &33u32.to_le_bytes());
        let ip = &buf[40..];
        assert_eq!(
            internet_checksum(&ip[..20]),
            0,
            "IP header checksum verifies"
        );
        assert_eq!(&ip[20..24], &[0x01, 0xf4, 0x11, 0x94]); // ports 500 -> 4500
        assert_eq!(&ip[28..], &[0, 0, 0, 0, 0xaa]);
    }

    #[test]
    fn ipv6_is_refused() {
        let p = Captured {
            at: Duration::ZERO,
            src: "[2001:db8::1]:500".parse().unwrap(),
            dst: "[2001:db8::2]:500".parse().unwrap(),
            payload: vec![],
        };
        assert!(write_pcap(Vec::new(), &[p]).is_err());
    }
}
