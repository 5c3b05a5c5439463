//! Addresses and small configuration builders shared by the simulations.
use pqike_proto::{
    AuthConfig, AuthRound, ChildConfig, Childless, ConnectionConfig, Credentials, Identity,
    IpsecMode, ProposalConfig,
};
use pqike_wire::{KeMethod, TrafficSelector};
use std::net::IpAddr;
use std::time::Duration;

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

fn any_ts() -> TrafficSelector {
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: ip([10, 0, 0, 0]),
        end_addr: ip([10, 255, 255, 255]),
    }
}

/// Connection "c" between [`A`] (initiator side) and [`B`]: FQDN identities `a.example` and
/// `b.example`, PSK both ways, one tunnel-mode Child SA "net" for 10.0.0.0/8 with AES-256-GCM,
/// a 1 h child and 4 h IKE lifetime.
pub fn connection(initiator: bool, proposals: Vec<ProposalConfig>) -> ConnectionConfig {
    let (me, peer, my_id, peer_id) = if initiator {
        (A, B, "a.example", "b.example")
    } else {
        (B, A, "b.example", "a.example")
    };
    ConnectionConfig {
        name: "c".into(),
        local_addrs: vec![ip(me)],
        remote_addrs: vec![ip(peer)],
        remote_port: 500,
        proposals,
        local: AuthRound {
            id: Identity::Fqdn(my_id.into()),
            auth: AuthConfig::Psk,
        },
        remote: AuthRound {
            id: Identity::Fqdn(peer_id.into()),
            auth: AuthConfig::Psk,
        },
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![any_ts()],
            remote_ts: vec![any_ts()],
            esp_proposals: vec![ProposalConfig {
                encr: vec![(20, Some(256))],
                ..Default::default()
            }],
            mode: IpsecMode::Tunnel,
            lifetime: Duration::from_secs(3600),
        }],
        fragmentation: true,
        childless: Childless::Allow,
        send_certreq: false,
        ike_lifetime: Duration::from_secs(4 * 3600),
        auth_ext: Default::default(),
        lifecycle: Default::default(),
    }
}
