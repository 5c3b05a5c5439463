//! UDP encapsulation on port 4500 (RFC 3948 §2): one socket carries IKE messages (behind a
//! 4-octet zero non-ESP marker), ESP packets (a non-zero SPI first) and 1-octet NAT-keepalives.
use crate::NON_ESP_MARKER;

/// The single octet of a NAT-keepalive packet (RFC 3948 §2.3).
pub const NAT_KEEPALIVE: u8 = 0xff;

/// What arrived on a UDP-encapsulating socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Udp4500<'a> {
    /// An IKE message (the non-ESP marker removed).
    Ike(&'a [u8]),
    /// An ESP packet (starts with a non-zero SPI); the whole datagram.
    Esp(&'a [u8]),
    /// A NAT-keepalive: to be dropped.
    Keepalive,
    /// Too short to be any of these (RFC 3948 §2.2 does not define it): to be dropped.
    Invalid,
}

/// Classify a datagram received on port 4500.
pub fn classify_udp4500(datagram: &[u8]) -> Udp4500<'_> {
    if datagram == [NAT_KEEPALIVE] {
        return Udp4500::Keepalive;
    }
    match datagram.split_first_chunk::<4>() {
        Some((marker, rest)) if *marker == NON_ESP_MARKER => Udp4500::Ike(rest),
        // An ESP header is SPI (4) | sequence number (4); anything shorter cannot be ESP.
        Some(_) if datagram.len() >= 8 => Udp4500::Esp(datagram),
        _ => Udp4500::Invalid,
    }
}

/// The IKE message inside a port-4500 datagram: `Some` if the first 4 octets are the zero
/// non-ESP marker (RFC 3948 §2.2); `None` for ESP (non-zero SPI), a NAT-keepalive (a single
/// 0xFF octet) or anything shorter than the marker.
pub fn strip_non_esp_marker(datagram: &[u8]) -> Option<&[u8]> {
    match classify_udp4500(datagram) {
        Udp4500::Ike(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_behind_marker() {
        let d = [0, 0, 0, 0, 1, 2, 3];
        assert_eq!(strip_non_esp_marker(&d), Some(&d[4..]));
        assert_eq!(classify_udp4500(&d), Udp4500::Ike(&[1, 2, 3]));
    }

    #[test]
    fn esp_keepalive_and_short() {
        let esp = [0, 0, 0, 1, 0, 0, 0, 7, 0xaa];
        assert_eq!(strip_non_esp_marker(&esp), None);
        assert_eq!(classify_udp4500(&esp), Udp4500::Esp(&esp));
        assert_eq!(strip_non_esp_marker(&[0xff]), None);
        assert_eq!(classify_udp4500(&[0xff]), Udp4500::Keepalive);
        assert_eq!(strip_non_esp_marker(&[0, 0, 0]), None);
        assert_eq!(classify_udp4500(&[0, 0, 0]), Udp4500::Invalid);
        assert_eq!(classify_udp4500(&[1, 2, 3, 4, 5]), Udp4500::Invalid);
        assert_eq!(classify_udp4500(&[]), Udp4500::Invalid);
    }
}
