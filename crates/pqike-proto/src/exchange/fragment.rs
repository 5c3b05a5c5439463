//! RFC 7383 fragmentation: bounded reassembly for receiving.
//!
//! Sealing of the individual fragments lives in [`super::protect`], the datagram budget in
//! [`crate::path`]; this module collects already-authenticated fragment plaintexts into one
//! message, within the configured limits.
use pqike_wire::PayloadType;
use std::collections::BTreeMap;

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
}
