//! RFC 9593 SUPPORTED_AUTH_METHODS: the wire format of the announcement list, the list we
//! announce (what we accept from the peer), and choosing our signature scheme from the peer's.
//!
//! Exchanges (RFC 9593 §3.1, as libreswan implements it; docs/rfc9593-notes.md): the responder
//! sends its list in the IKE_SA_INIT response whatever the request held, or an empty notify
//! there and the list in the first IKE_INTERMEDIATE response when the list would make
//! IKE_SA_INIT (which cannot be fragmented) too big; the initiator sends its list in the
//! IKE_AUTH request if the responder announced. (pqike's initiator also puts an empty notify in
//! its IKE_SA_INIT request, which RFC 9593 peers ignore.)
//!
//! Announcement format (RFC 9593 §3.2.1), concatenated:
//! `Length (1) | Auth Method (1) [| Cert Link (1) [| AlgorithmIdentifier]]`, Length counting
//! itself: 2 for PSK / NULL, 3 for the classic signature methods 1, 9, 10, 11 (with a Cert Link),
//! more for method 14 (the DER AlgorithmIdentifier without RFC 7427's length octet).
use crate::notify::IkeError;
use crate::{AuthConfig, AuthRound, ConnectionConfig};
use pqike_crypto::SignatureScheme;

/// One announced method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Announcement {
    /// IKEv2 Authentication Method.
    pub method: u8,
    /// Index of the CA in our CERTREQ the credential chains to; 0 = any (RFC 9593 §3.2.1).
    pub cert_link: u8,
    /// For method 14: the DER AlgorithmIdentifier.
    pub aid: Option<Vec<u8>>,
}

/// Announcement lists above this size go into IKE_INTERMEDIATE when that exchange runs
/// (IKE_SA_INIT is never fragmented; RFC 9593 §3.1 leaves the threshold to us).
pub(crate) const MAX_IN_IKE_SA_INIT: usize = 160;

const PSK: u8 = 2;
const DIGITAL_SIGNATURE: u8 = 14;

/// Encode a list (RFC 9593 §3.2.1).
pub(crate) fn encode(list: &[Announcement]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in list {
        let len = match (&a.aid, a.method) {
            (Some(aid), _) => 3 + aid.len(),
            (None, PSK) | (None, 13) => 2,
            (None, _) => 3,
        };
        // AlgorithmIdentifiers are short (< 100 octets); refuse what does not fit one octet.
        let Ok(len8) = u8::try_from(len) else {
            continue;
        };
        out.push(len8);
        out.push(a.method);
        if len >= 3 {
            out.push(a.cert_link);
        }
        if let Some(aid) = &a.aid {
            out.extend_from_slice(aid);
        }
    }
    out
}

/// Decode a list; a malformed list is an error (the caller ignores the notify then, since a
/// status notify must never fail the exchange).
pub(crate) fn decode(mut data: &[u8]) -> Result<Vec<Announcement>, IkeError> {
    let mut out = Vec::new();
    while let Some(&len) = data.first() {
        let len = usize::from(len);
        if len < 2 || len > data.len() {
            return Err(IkeError::Syntax(format!(
                "SUPPORTED_AUTH_METHODS entry of length {len} with {} octets left",
                data.len()
            )));
        }
        let (entry, rest) = data.split_at(len);
        out.push(Announcement {
            method: entry[1],
            cert_link: entry.get(2).copied().unwrap_or(0),
            aid: (len > 3).then(|| entry[3..].to_vec()),
        });
        data = rest;
    }
    Ok(out)
}

/// Schemes we verify in RFC 7427 AUTH, post-quantum first (the reason to announce at all).
fn verifiable_schemes() -> Vec<SignatureScheme> {
    let mut v: Vec<SignatureScheme> = SignatureScheme::ALL
        .into_iter()
        .filter(|s| s.is_post_quantum())
        .collect();
    v.extend([
        SignatureScheme::EcdsaP256Sha256,
        SignatureScheme::EcdsaP384Sha384,
        SignatureScheme::EcdsaP521Sha512,
        SignatureScheme::Ed25519,
        SignatureScheme::RsaPssSha256,
    ]);
    v
}

fn round_methods(round: &AuthRound, out: &mut Vec<Announcement>) {
    match &round.auth {
        AuthConfig::Psk => out.push(Announcement {
            method: PSK,
            cert_link: 0,
            aid: None,
        }),
        AuthConfig::PubKey { .. } => {
            for s in verifiable_schemes() {
                out.push(Announcement {
                    method: DIGITAL_SIGNATURE,
                    cert_link: 0,
                    aid: Some(s.algorithm_identifier().to_vec()),
                });
            }
            // RFC 7296 RSA and RFC 4754 ECDSA, for peers without RFC 7427.
            for m in [1, 9, 10, 11] {
                out.push(Announcement {
                    method: m,
                    cert_link: 0,
                    aid: None,
                });
            }
        }
    }
}

/// What we accept from the peer (its first and, with RFC 4739, second round), deduplicated.
pub(crate) fn ours(conn: &ConnectionConfig) -> Vec<u8> {
    let mut list = Vec::new();
    round_methods(&conn.remote, &mut list);
    if let Some(r2) = &conn.auth_ext.remote2 {
        round_methods(r2, &mut list);
    }
    let mut seen = Vec::new();
    list.retain(|a| {
        let new = !seen.contains(a);
        seen.push(a.clone());
        new
    });
    encode(&list)
}

/// Human-readable list for logs: "PSK, ML-DSA-65, ECDSA-P256 (9)".
pub(crate) fn describe(list: &[Announcement]) -> String {
    list.iter()
        .map(|a| match &a.aid {
            Some(aid) => SignatureScheme::from_algorithm_identifier(aid).map_or_else(
                || "method 14 (unknown algorithm)".into(),
                |s| s.name().to_string(),
            ),
            None if a.method == PSK => "PSK".into(),
            None => format!("method {}", a.method),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Order `ours` (our key's schemes, most preferred first) by what the peer announced: the
/// schemes it listed, in our order. Empty when it listed none of them.
pub(crate) fn acceptable(ours: &[SignatureScheme], peer: &[Announcement]) -> Vec<SignatureScheme> {
    ours.iter()
        .copied()
        .filter(|s| {
            peer.iter().any(|a| match &a.aid {
                Some(aid) => a.method == DIGITAL_SIGNATURE && aid == s.algorithm_identifier(),
                None => s.classic_auth_method() == Some(a.method),
            })
        })
        .collect()
}

/// Whether the peer accepts PSK authentication from us.
pub(crate) fn accepts_psk(peer: &[Announcement]) -> bool {
    peer.iter().any(|a| a.method == PSK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_lengths() {
        let list = vec![
            Announcement {
                method: 2,
                cert_link: 0,
                aid: None,
            },
            Announcement {
                method: 9,
                cert_link: 1,
                aid: None,
            },
            Announcement {
                method: 14,
                cert_link: 0,
                aid: Some(SignatureScheme::MlDsa65.algorithm_identifier().to_vec()),
            },
        ];
        let wire = encode(&list);
        // 02 02 | 03 09 01 | 10 0e 00 30 0b 06 09 60 86 48 01 65 03 04 03 12
        assert_eq!(&wire[..5], &[2, 2, 3, 9, 1]);
        assert_eq!(wire[5], 3 + 13);
        assert_eq!(&wire[6..8], &[14, 0]);
        assert_eq!(&wire[8..], SignatureScheme::MlDsa65.algorithm_identifier());
        assert_eq!(decode(&wire).unwrap(), list);
        assert_eq!(describe(&list), "PSK, method 9, ML-DSA-65");
    }

    #[test]
    fn malformed_lists_are_errors() {
        assert!(decode(&[]).unwrap().is_empty());
        assert!(decode(&[1, 2]).is_err());
        assert!(decode(&[5, 14, 0]).is_err());
        assert!(decode(&[0]).is_err());
    }

    #[test]
    fn the_peer_list_orders_our_schemes() {
        let ours = [
            SignatureScheme::RsaPssSha256,
            SignatureScheme::RsaPssSha384,
            SignatureScheme::RsaPkcs1Sha1,
        ];
        let peer = decode(&encode(&[
            Announcement {
                method: 14,
                cert_link: 0,
                aid: Some(
                    SignatureScheme::RsaPssSha384
                        .algorithm_identifier()
                        .to_vec(),
                ),
            },
            Announcement {
                method: 1,
                cert_link: 0,
                aid: None,
            },
        ]))
        .unwrap();
        assert_eq!(
            acceptable(&ours, &peer),
            vec![SignatureScheme::RsaPssSha384, SignatureScheme::RsaPkcs1Sha1]
        );
        assert!(acceptable(&[SignatureScheme::MlDsa44], &peer).is_empty());
        assert!(!accepts_psk(&peer));
    }
}
