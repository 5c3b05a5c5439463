//! The endpoint: the set of IKE SAs, SPI demultiplexing, cookies and half-open limits.
use crate::*;
use pqike_crypto::{CryptoProvider, SecureRandom};
use std::sync::Arc;

/// All IKE SAs of one daemon (strongSwan's ike_sa_manager), driven by the caller.
pub struct Endpoint {
    _todo: (),
}

impl Endpoint {
    /// Create an endpoint.
    pub fn new(
        config: EndpointConfig,
        connections: Vec<ConnectionConfig>,
        credentials: Credentials,
        crypto: Arc<dyn CryptoProvider>,
        rng: Box<dyn SecureRandom>,
    ) -> Endpoint {
        todo!("engine helper")
    }

    /// A datagram arrived on `local` (our address and port) from `remote`. `data` is the UDP
    /// payload as received (on the NAT-T port it starts with the non-ESP marker; ESP packets and
    /// keepalives there are not IKE and are ignored here).
    pub fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        todo!()
    }

    /// Run a user command. Errors (unknown connection, no address) are returned as text.
    pub fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<(), String> {
        todo!()
    }

    /// Timers: call when `now >= poll_timeout()`.
    pub fn handle_timeout(&mut self, now: Instant) {
        todo!()
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        todo!()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        todo!()
    }

    /// Earliest timer deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }

    /// Snapshot of all IKE SAs.
    pub fn status(&self) -> Vec<IkeSaStatus> {
        todo!()
    }
}
