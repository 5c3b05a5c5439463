//! Addresses and small configuration builders shared by the simulations.
use pqike_proto::{Credentials, ProposalConfig};
use pqike_wire::KeMethod;
use std::net::IpAddr;

/// Node 0's address (the initiator in most runs; RFC 5737 TEST-NET-1).
pub const A: [u8; 4] = [192, 0, 2, 1];
/// Node 1's address (RFC 5737 TEST-NET-2).
pub const B: [u8; 4] = [198, 51, 100, 2];
/// The public address of the NAT in front of node 0, when [`crate::Net::nat`] is on
/// (RFC 5737 TEST-NET-3).
pub const NAT_PUBLIC: [u8; 4] = [203, 0, 113, 7];

/// An IPv4 address from its octets.
pub fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

/// An IKE proposal with AES-256-GCM and PRF-HMAC-SHA2-384, the key exchange methods `ke` and
/// the additional key exchanges `addke` (RFC 9370: index 0 is ADDKE1).
pub fn ike_proposal(ke: &[KeMethod], addke: &[&[KeMethod]]) -> ProposalConfig {
    let mut p = ProposalConfig {
        encr: vec![(20, Some(256))],
        prf: vec![6],
        ke: ke.to_vec(),
        ..Default::default()
    };
    for (i, l) in addke.iter().enumerate() {
        p.addke[i] = l.to_vec();
    }
    p
}

/// Credentials holding one PSK for every identity.
pub fn psk(secret: &[u8]) -> Credentials {
    Credentials {
        ppks: Vec::new(),
        psks: vec![(Vec::new(), zeroize::Zeroizing::new(secret.to_vec()))],
    }
}
