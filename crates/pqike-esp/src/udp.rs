//! RFC 3948 UDP encapsulation framing on the NAT-T port, shared with IKE.
//!
//! On port 4500 three things arrive in UDP payloads (RFC 3948 §2): ESP (starts with a non-zero
//! SPI), IKE (starts with the 4-octet non-ESP marker, all zero) and NAT keepalives (one octet
//! 0xFF). ESP-in-UDP needs no extra framing: the ESP packet is the UDP payload.

/// The IKE NAT-T port.
pub const NAT_T_PORT: u16 = 4500;
/// Non-ESP marker before IKE messages on port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// NAT-keepalive payload (RFC 3948 §2.3).
pub const KEEPALIVE: [u8; 1] = [0xff];

/// What a port-4500 datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatTPayload {
    /// IKE message at offset 4 (after the non-ESP marker).
    Ike,
    /// ESP packet starting at offset 0: hand it to [`crate::DataPlane::decapsulate`].
    Esp,
    /// NAT keepalive: ignore (it only refreshes the NAT binding).
    Keepalive,
    /// Too short to be any of them: drop.
    Invalid,
}

/// Classifies a UDP payload received on the NAT-T port.
pub fn classify(payload: &[u8]) -> NatTPayload {
    match payload {
        [0xff] => NatTPayload::Keepalive,
        // An IKE header is 28 octets; ESP needs at least SPI and sequence number.
        [0, 0, 0, 0, rest @ ..] if rest.len() >= 28 => NatTPayload::Ike,
        [0, 0, 0, 0, ..] => NatTPayload::Invalid,
        p if p.len() >= 8 => NatTPayload::Esp,
        _ => NatTPayload::Invalid,
    }
}

/// Writes `marker | ike` into `out`; returns the length, or `None` if `out` is too small.
pub fn write_ike_with_marker(ike: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = 4 + ike.len();
    let out = out.get_mut(..len)?;
    out[..4].copy_from_slice(&NON_ESP_MARKER);
    out[4..].copy_from_slice(ike);
    Some(len)
}

/// Writes an 8-octet UDP header for an ESP-in-UDP packet of `payload_len` octets, for callers
/// that build whole IPv4 packets (raw sockets, TUN). The checksum is zero, as RFC 3948 §2.1
/// recommends for IPv4; IPv6 requires a real checksum, which the caller's socket computes.
/// `None` if the length does not fit a UDP datagram.
pub fn write_udp_header(src_port: u16, dst_port: u16, payload_len: usize) -> Option<[u8; 8]> {
    let len = u16::try_from(payload_len.checked_add(8)?).ok()?;
    let mut h = [0u8; 8];
    h[..2].copy_from_slice(&src_port.to_be_bytes());
    h[2..4].copy_from_slice(&dst_port.to_be_bytes());
    h[4..6].copy_from_slice(&len.to_be_bytes());
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(&[0xff]), NatTPayload::Keepalive);
        assert_eq!(classify(&[]), NatTPayload::Invalid);
        assert_eq!(classify(&[0xff, 0]), NatTPayload::Invalid);
        let mut ike = vec![0u8; 4 + 28];
        ike[4] = 1;
        assert_eq!(classify(&ike), NatTPayload::Ike);
        assert_eq!(classify(&ike[..20]), NatTPayload::Invalid);
        assert_eq!(classify(&[0, 0, 0, 1, 0, 0, 0, 1]), NatTPayload::Esp);
        assert_eq!(classify(&[0, 0, 0, 1, 0, 0, 0]), NatTPayload::Invalid);

        let mut buf = [0u8; 64];
        let n = write_ike_with_marker(&[7; 28], &mut buf).unwrap();
        assert_eq!(n, 32);
        assert_eq!(classify(&buf[..n]), NatTPayload::Ike);
        assert!(write_ike_with_marker(&[7; 61], &mut buf).is_none());

        assert_eq!(
            write_udp_header(4500, 4500, 100).unwrap(),
            [0x11, 0x94, 0x11, 0x94, 0, 108, 0, 0]
        );
        assert!(write_udp_header(1, 2, 65528).is_none());
    }
}
