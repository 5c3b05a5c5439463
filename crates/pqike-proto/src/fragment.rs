//! RFC 7383 fragmentation: the size budget for sending and bounded reassembly for receiving.
//!
//! Sealing of the individual fragments lives in [`crate::crypto_ctx`]; this module decides how big
//! a datagram may be and collects already-authenticated fragment plaintexts into one message.
use pqike_wire::PayloadType;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// IPv4 / IPv6 header and UDP header sizes (RFC 7383 §2.5.1: fragment_size counts the whole IP datagram).
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
/// Non-ESP marker on the NAT-T port (RFC 3948 §2.2).
const NON_ESP_MARKER: usize = 4;

/// The largest IKE message that fits in one IP datagram of `fragment_size` octets.
pub(crate) fn max_ike_len(fragment_size: usize, remote: SocketAddr, nat_t: bool) -> usize {
    let ip = if remote.is_ipv4() {
        IPV4_HEADER
    } else {
        IPV6_HEADER
    };
    fragment_size.saturating_sub(ip + UDP_HEADER + if nat_t { NON_ESP_MARKER } else { 0 })
}

/// Reassembly of one fragmented message (one message ID and direction).
#[derive(Debug)]
pub(crate) struct Reassembly {
    pub mid: u32,
    pub response: bool,
    total: u16,
    first_inner: Option<PayloadType>,
    parts: BTreeMap<u16, Vec<u8>>,
    size: usize,
}

/// Outcome of adding a fragment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FragResult {
    /// Stored; more are needed.
    Incomplete,
    /// Already had it (retransmission).
    Duplicate,
    /// Complete: first inner payload type and the whole plaintext.
    Complete(PayloadType, Vec<u8>),
}

impl Reassembly {
    pub fn new(mid: u32, response: bool, total: u16) -> Self {
        Reassembly {
            mid,
            response,
            total,
            first_inner: None,
            parts: BTreeMap::new(),
            size: 0,
        }
    }

    /// Add the authenticated plaintext of fragment `number` of `total`. Errors say why the fragment
    /// (and the message) is dropped; limits follow `max_fragments` and `max_message_size`.
    pub fn add(
        &mut self,
        number: u16,
        total: u16,
        first_inner: PayloadType,
        data: Vec<u8>,
        max_fragments: u16,
        max_message_size: usize,
    ) -> Result<FragResult, String> {
        if total > max_fragments {
            return Err(format!(
                "{total} fragments exceed the limit of {max_fragments}"
            ));
        }
        // RFC 7383 §2.6.1: all fragments of a message carry the same Total Fragments.
        if total != self.total {
            return Err(format!(
                "fragment says total {total}, earlier ones said {}",
                self.total
            ));
        }
        if number == 0 || number > total {
            return Err(format!("fragment number {number} outside 1..={total}"));
        }
        if self.parts.contains_key(&number) {
            return Ok(FragResult::Duplicate);
        }
        if self.size + data.len() > max_message_size {
            return Err(format!(
                "reassembled message would exceed {max_message_size} octets"
            ));
        }
        if number == 1 {
            self.first_inner = Some(first_inner);
        }
        self.size += data.len();
        self.parts.insert(number, data);
        if self.parts.len() < usize::from(self.total) {
            return Ok(FragResult::Incomplete);
        }
        let first = self.first_inner.unwrap_or(PayloadType::NONE);
        let mut whole = Vec::with_capacity(self.size);
        for part in std::mem::take(&mut self.parts).into_values() {
            whole.extend_from_slice(&part);
        }
        Ok(FragResult::Complete(first, whole))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_out_of_order() {
        let mut r = Reassembly::new(1, false, 3);
        assert_eq!(
            r.add(3, 3, PayloadType::NONE, vec![5], 8, 100),
            Ok(FragResult::Incomplete)
        );
        assert_eq!(
            r.add(1, 3, PayloadType::IDI, vec![1, 2], 8, 100),
            Ok(FragResult::Incomplete)
        );
        assert_eq!(
            r.add(1, 3, PayloadType::IDI, vec![1, 2], 8, 100),
            Ok(FragResult::Duplicate)
        );
        assert_eq!(
            r.add(2, 3, PayloadType::NONE, vec![3, 4], 8, 100),
            Ok(FragResult::Complete(PayloadType::IDI, vec![1, 2, 3, 4, 5]))
        );
    }

    #[test]
    fn enforces_limits() {
        let mut r = Reassembly::new(1, false, 3);
        assert!(r.add(1, 4, PayloadType::IDI, vec![1], 8, 100).is_err());
        assert!(r.add(1, 3, PayloadType::IDI, vec![1], 2, 100).is_err());
        assert!(r.add(1, 3, PayloadType::IDI, vec![0; 101], 8, 100).is_err());
    }

    #[test]
    fn size_budget() {
        let v4: SocketAddr = "192.0.2.1:500".parse().unwrap();
        assert_eq!(max_ike_len(1280, v4, false), 1252);
        assert_eq!(max_ike_len(1280, v4, true), 1248);
        let v6: SocketAddr = "[2001:db8::1]:500".parse().unwrap();
        assert_eq!(max_ike_len(1280, v6, false), 1232);
    }
}
