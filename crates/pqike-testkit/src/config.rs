//! Config builders for tests and benchmarks: PSK connections between two fixed addresses, with
//! proposals written as strongSwan-style strings (`aes256gcm16-prfsha256-x25519-ke1_mlkem768`).
//!
//! The proposal parser is deliberately small (the daemon owns the full, user-facing one): it
//! takes the algorithm table's keywords literally, with none of strongSwan's defaults (no PRF
//! derived from the integrity algorithm, no AEAD check), and panics on anything else, since a
//! typo in a test's proposal is a bug in the test.
use pqike_proto::{
    AuthConfig, AuthRound, ChildConfig, Childless, ConnectionConfig, Credentials, Identity,
    IpsecMode, ProposalConfig,
};
use pqike_wire::algorithms::{self, AlgKind};
use pqike_wire::{KeMethod, TrafficSelector};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Initiator's address in every test network.
pub const INITIATOR_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Responder's address.
pub const RESPONDER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The PSK both sides use.
pub const PSK: &[u8] = b"pqike-testkit-pre-shared-key-0123456789";
/// Name of the connection on both sides.
pub const CONNECTION: &str = "test";

/// Parse a proposal string such as `aes256gcm16-prfsha384-x25519-ke1_mlkem768` (IKE) or
/// `aes128gcm16-esn` (ESP). Several keywords of one kind are alternatives in preference order.
/// The keywords are those of the algorithm table ([`pqike_wire::algorithms`]), plus `keN_` for
/// RFC 9370 additional key exchange N.
///
/// # Panics
/// On an unknown keyword (a bug in the calling test).
pub fn proposal(s: &str) -> ProposalConfig {
    let mut p = ProposalConfig::default();
    for kw in s.split('-') {
        // `keN_method` is ADDKE N (RFC 9370); a bare method is transform type 4.
        let (round, alg) = match kw.strip_prefix("ke").and_then(|r| r.split_once('_')) {
            Some((n, method)) => {
                let n: usize = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=7).contains(n))
                    .unwrap_or_else(|| panic!("bad ADDKE index in {kw:?}"));
                (Some(n - 1), method)
            }
            None => (None, kw),
        };
        let a = algorithms::by_keyword(alg)
            .unwrap_or_else(|| panic!("unknown keyword {kw:?} in {s:?}"));
        match (a.kind, round) {
            (AlgKind::Ke, Some(r)) => p.addke[r].push(KeMethod(a.id)),
            (_, Some(_)) => panic!("{kw:?}: ADDKE takes a key exchange method"),
            (AlgKind::Ke, None) => p.ke.push(KeMethod(a.id)),
            (AlgKind::Encr, None) => p.encr.push((a.id, a.key_bits)),
            (AlgKind::Prf, None) => p.prf.push(a.id),
            (AlgKind::Integ, None) => p.integ.push(a.id),
            (AlgKind::Esn, None) => p.esn.push(a.id),
        }
    }
    p
}

/// The pieces of one side's configuration: hand them to `Endpoint::new`.
#[derive(Clone, Debug)]
pub struct SideConfig {
    /// Connections (one, named [`CONNECTION`]).
    pub connections: Vec<ConnectionConfig>,
    /// PSK credentials.
    pub credentials: Credentials,
}

impl SideConfig {
    /// Authenticate with certificates instead of the PSK: end entity `idx` of `chain` (with the
    /// chain's intermediates) as ours, the chain's root as the trust anchor for the peer.
    pub fn with_certs(mut self, chain: &pqike_crypto::pkigen::Chain, idx: usize) -> SideConfig {
        let ee = &chain.end_entities[idx];
        let key = pqike_crypto::pki::load_private_key_pem(ee.key_pem.as_bytes())
            .expect("end-entity key of a generated chain");
        let c = &mut self.connections[0];
        c.local.auth = AuthConfig::PubKey {
            cert: Some(ee.cert_der.clone()),
            intermediates: chain
                .intermediates
                .iter()
                .map(|i| i.cert_der.clone())
                .collect(),
            key: Some(key),
            cacerts: vec![],
        };
        c.remote.auth = AuthConfig::PubKey {
            cert: None,
            intermediates: vec![],
            key: None,
            cacerts: vec![chain.root.cert_der.clone()],
        };
        self
    }
}

/// What a test varies in a PSK connection between [`INITIATOR_IP`] and [`RESPONDER_IP`].
#[derive(Clone, Debug)]
pub struct PskPair {
    /// Initiator's IKE proposals (strings for [`proposal`]).
    pub initiator_proposals: Vec<String>,
    /// Responder's IKE proposals.
    pub responder_proposals: Vec<String>,
    /// ESP proposal of the child (both sides).
    pub esp_proposal: String,
    /// Create a Child SA in IKE_AUTH (false = childless, RFC 6023).
    pub child: bool,
    /// Offer/accept RFC 7383 fragmentation.
    pub fragmentation: bool,
}

impl PskPair {
    /// Both sides with the same single IKE proposal, one child, fragmentation on.
    pub fn new(ike_proposal: &str) -> Self {
        PskPair {
            initiator_proposals: vec![ike_proposal.to_owned()],
            responder_proposals: vec![ike_proposal.to_owned()],
            esp_proposal: "aes256gcm16".to_owned(),
            child: true,
            fragmentation: true,
        }
    }

    /// The initiator's configuration (identity `initiator.test`).
    pub fn initiator(&self) -> SideConfig {
        self.side(true)
    }

    /// The responder's configuration (identity `responder.test`).
    pub fn responder(&self) -> SideConfig {
        self.side(false)
    }

    fn side(&self, initiator: bool) -> SideConfig {
        let (me, peer, my_id, peer_id, props) = if initiator {
            (
                INITIATOR_IP,
                RESPONDER_IP,
                "initiator.test",
                "responder.test",
                &self.initiator_proposals,
            )
        } else {
            (
                RESPONDER_IP,
                INITIATOR_IP,
                "responder.test",
                "initiator.test",
                &self.responder_proposals,
            )
        };
        let net = |last: u8| {
            TrafficSelector::ipv4_range(
                Ipv4Addr::new(10, last, 0, 0),
                Ipv4Addr::new(10, last, 255, 255),
            )
        };
        // The initiator protects 10.1/16 <-> 10.2/16; the responder the mirror image.
        let (local_net, remote_net) = if initiator {
            (net(1), net(2))
        } else {
            (net(2), net(1))
        };
        let children = vec![ChildConfig {
            name: "net".to_owned(),
            local_ts: vec![local_net],
            remote_ts: vec![remote_net],
            esp_proposals: vec![proposal(&self.esp_proposal)],
            mode: IpsecMode::Tunnel,
            lifetime: Duration::from_secs(3600),
        }];
        let connection = ConnectionConfig {
            name: CONNECTION.to_owned(),
            local_addrs: vec![IpAddr::V4(me)],
            // The responder accepts the initiator from anywhere (it may sit behind a NAT).
            remote_addrs: if initiator {
                vec![IpAddr::V4(peer)]
            } else {
                Vec::new()
            },
            remote_port: 500,
            proposals: props.iter().map(|s| proposal(s)).collect(),
            local: AuthRound {
                id: Identity::Fqdn(my_id.to_owned()),
                auth: AuthConfig::Psk,
            },
            remote: AuthRound {
                id: Identity::Fqdn(peer_id.to_owned()),
                auth: AuthConfig::Psk,
            },
            children,
            fragmentation: self.fragmentation,
            childless: if self.child {
                Childless::Allow
            } else {
                Childless::Force
            },
            send_certreq: false,
            ike_lifetime: Duration::from_secs(4 * 3600),
            auth_ext: Default::default(),
            lifecycle: Default::default(),
        };
        let credentials = Credentials {
            ppks: Vec::new(),
            psks: vec![(
                vec![
                    Identity::Fqdn("initiator.test".to_owned()),
                    Identity::Fqdn("responder.test".to_owned()),
                ],
                zeroize::Zeroizing::new(PSK.to_vec()),
            )],
        };
        SideConfig {
            connections: vec![connection],
            credentials,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pqike_wire::{EncrId, EsnId, IntegId, PrfId};

    #[test]
    fn parses_hybrid_ike_proposal() {
        let p = proposal("aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_none");
        assert_eq!(p.encr, vec![(EncrId::AES_GCM_16.0, Some(256))]);
        assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_384.0]);
        assert_eq!(p.ke, vec![KeMethod::CURVE25519]);
        assert_eq!(p.addke[0], vec![KeMethod::ML_KEM_768]);
        assert_eq!(p.addke[1], vec![KeMethod::NONE]);
        assert!(p.integ.is_empty() && p.esn.is_empty());
    }

    #[test]
    fn parses_cbc_esp_proposal() {
        let p = proposal("aes128-sha256-esn-noesn");
        assert_eq!(p.encr, vec![(EncrId::AES_CBC.0, Some(128))]);
        assert_eq!(p.integ, vec![IntegId::HMAC_SHA2_256_128.0]);
        assert_eq!(p.esn, vec![EsnId::ESN.0, EsnId::NO_ESN.0]);
    }

    #[test]
    fn every_table_keyword_parses_to_its_row() {
        for a in algorithms::ALGORITHMS {
            for kw in a.keywords {
                let p = proposal(kw);
                let got = match a.kind {
                    AlgKind::Encr => p.encr == [(a.id, a.key_bits)],
                    AlgKind::Prf => p.prf == [a.id],
                    AlgKind::Integ => p.integ == [a.id],
                    AlgKind::Ke => {
                        p.ke == [KeMethod(a.id)]
                            && proposal(&format!("ke3_{kw}")).addke[2] == [KeMethod(a.id)]
                    }
                    AlgKind::Esn => p.esn == [a.id],
                };
                assert!(got, "{kw}: {p:?}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "unknown keyword")]
    fn rejects_unknown_keyword() {
        proposal("aes256gcm16-bogus");
    }
}
