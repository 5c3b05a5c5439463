//! NAT detection (RFC 7296 §2.23): the NAT_DETECTION_*_IP notifies every IKE_SA_INIT message
//! carries, and what the peer's hashes tell us. A task that contributes to the shared
//! IKE_SA_INIT messages ([`crate::tasks::features`]).
use crate::tasks::manager::IkeSa;
use pqike_crypto::{CryptoProvider, HashAlgorithm};
use pqike_wire::{Notify, NotifyType, Payload};
use std::net::{IpAddr, SocketAddr};

/// NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP | port) (RFC 7296 §2.23).
pub(crate) fn natd_hash(
    crypto: &dyn CryptoProvider,
    spi_i: u64,
    spi_r: u64,
    addr: SocketAddr,
) -> Vec<u8> {
    let ip = match addr.ip() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    crypto.hash(
        HashAlgorithm::Sha1,
        &[
            &spi_i.to_be_bytes(),
            &spi_r.to_be_bytes(),
            &ip,
            &addr.port().to_be_bytes(),
        ],
    )
}

/// Our two NAT-D notifies, hashed with `spi_r` (0 in the request, RFC 7296 §2.23).
pub(crate) fn payloads(sa: &IkeSa, crypto: &dyn CryptoProvider, spi_r: u64) -> [Payload; 2] {
    let (local, remote) = (sa.local(), sa.remote());
    // Forced encapsulation: hash the unspecified address with port 0, which no real source
    // address matches, so the peer sees us behind a NAT (RFC 7296 §2.23, "fake" NAT-D).
    let src = if sa.conn.lifecycle.force_encap {
        let any: IpAddr = match local {
            SocketAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        };
        SocketAddr::new(any, 0)
    } else {
        local
    };
    [
        Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            natd_hash(crypto, sa.spi_i, spi_r, src),
        )),
        Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            natd_hash(crypto, sa.spi_i, spi_r, remote),
        )),
    ]
}

/// Compare the peer's NAT-D hashes with what we see (RFC 7296 §2.23). No NAT-D notifies: the peer
/// does not do NAT-T, assume no NAT.
pub(crate) fn detect(
    sa: &mut IkeSa,
    crypto: &dyn CryptoProvider,
    payloads: &[Payload],
    spi_r: u64,
) {
    let mut src = Vec::new();
    let mut dst = None;
    for p in payloads {
        if let Payload::Notify(n) = p {
            match n.notify_type {
                NotifyType::NAT_DETECTION_SOURCE_IP => src.push(n.data.as_slice()),
                NotifyType::NAT_DETECTION_DESTINATION_IP => dst = Some(n.data.as_slice()),
                _ => {}
            }
        }
    }
    let Some(dst) = dst else { return };
    if src.is_empty() {
        return;
    }
    let ours = natd_hash(crypto, sa.spi_i, spi_r, sa.local());
    let theirs = natd_hash(crypto, sa.spi_i, spi_r, sa.remote());
    // With forced encapsulation we act as if behind a NAT ourselves: float to 4500, send
    // keepalives, UDP-encapsulate ESP (RFC 3948).
    sa.nat_local = dst != ours.as_slice() || sa.conn.lifecycle.force_encap;
    sa.nat_remote = !src.contains(&theirs.as_slice());
    if sa.nat_detected() {
        tracing::info!(
            sa = sa.id.0,
            "NAT detected (local: {}, remote: {})",
            sa.nat_local,
            sa.nat_remote
        );
    }
}
