//! IKE_AUTH authentication (RFC 7296 §2.15, RFC 7427, RFC 4754): identities, PSK lookup,
//! building and verifying the AUTH payload, and the peer's certificate chain.
use crate::notify::IkeError;
use crate::{AuthConfig, AuthRound, Credentials, Identity};
use pqike_crypto::sig::{ecdsa_der_to_raw, ecdsa_raw_to_der};
use pqike_crypto::{ct_eq, CryptoProvider, Prf, SignatureScheme};
use pqike_wire::{Auth, AuthMethod, IdType, Identification};
use std::net::{IpAddr, SocketAddr};

/// Our ID payload for a configured identity. `%any` as our own identity falls back to our IP.
pub(crate) fn id_payload(id: &Identity, local: SocketAddr) -> Identification {
    let ip = |a: IpAddr| match a {
        IpAddr::V4(a) => Identification {
            id_type: IdType::IPV4_ADDR,
            data: a.octets().to_vec(),
        },
        IpAddr::V6(a) => Identification {
            id_type: IdType::IPV6_ADDR,
            data: a.octets().to_vec(),
        },
    };
    match id {
        Identity::Fqdn(s) => Identification {
            id_type: IdType::FQDN,
            data: s.as_bytes().to_vec(),
        },
        Identity::Rfc822(s) => Identification {
            id_type: IdType::RFC822_ADDR,
            data: s.as_bytes().to_vec(),
        },
        Identity::Ip(a) => ip(*a),
        Identity::DerDn(d) => Identification {
            id_type: IdType::DER_ASN1_DN,
            data: d.clone(),
        },
        Identity::Any => ip(local.ip()),
    }
}

/// The peer's ID payload as an [`Identity`] (`None` for types we do not model).
pub(crate) fn identity_of(id: &Identification) -> Option<Identity> {
    let text = || String::from_utf8(id.data.clone()).ok();
    match id.id_type {
        IdType::FQDN => text().map(Identity::Fqdn),
        IdType::RFC822_ADDR => text().map(Identity::Rfc822),
        IdType::IPV4_ADDR => <[u8; 4]>::try_from(id.data.as_slice())
            .ok()
            .map(|a| Identity::Ip(IpAddr::from(a))),
        IdType::IPV6_ADDR => <[u8; 16]>::try_from(id.data.as_slice())
            .ok()
            .map(|a| Identity::Ip(IpAddr::from(a))),
        IdType::DER_ASN1_DN => Some(Identity::DerDn(id.data.clone())),
        _ => None,
    }
}

/// Display form of an identity for status and logs.
pub(crate) fn identity_string(id: &Identity) -> String {
    match id {
        Identity::Fqdn(s) | Identity::Rfc822(s) => s.clone(),
        Identity::Ip(a) => a.to_string(),
        Identity::DerDn(d) => format!("DN:{}", crate::hexfmt::hex(d)),
        Identity::Any => "%any".into(),
    }
}

/// Display form of a received ID payload.
pub(crate) fn id_string(id: &Identification) -> String {
    identity_of(id).map_or_else(
        || format!("{}:{}", id.id_type, crate::hexfmt::hex(&id.data)),
        |i| identity_string(&i),
    )
}

/// Does the peer's ID payload match what we expect?
pub(crate) fn id_matches(expected: &Identity, got: &Identification) -> bool {
    match expected {
        Identity::Any => true,
        // DNs match by attribute, not by encoding (a configured DN vs a certificate's subject)
        Identity::DerDn(dn) => {
            got.id_type == IdType::DER_ASN1_DN && pqike_wire::dn::dn_equivalent(dn, &got.data)
        }
        e => identity_of(got).as_ref() == Some(e),
    }
}

/// The PSK for a pair of identities: an entry naming both wins over one naming either, which wins
/// over a wildcard entry (strongSwan's shared-key matching order); among equals the entry naming
/// fewer identities is the more specific one.
pub(crate) fn find_psk<'a>(
    creds: &'a Credentials,
    ours: &Identity,
    peer: Option<&Identity>,
) -> Option<&'a [u8]> {
    let score = |ids: &[Identity]| -> u8 {
        if ids.is_empty() {
            return 1;
        }
        let has = |i: &Identity| ids.contains(i);
        match (has(ours), peer.is_some_and(has)) {
            (true, true) => 4,
            (false, true) => 3,
            (true, false) => 2,
            (false, false) => 0,
        }
    };
    creds
        .psks
        .iter()
        .map(|(ids, k)| ((score(ids), std::cmp::Reverse(ids.len())), k))
        .filter(|((s, _), _)| *s > 0)
        .max_by_key(|(s, _)| *s)
        .map(|(_, k)| k.as_slice())
}

/// RFC 7427 §3: AUTH data = ASN.1 length (1) | AlgorithmIdentifier | signature.
fn digital_signature_data(scheme: SignatureScheme, sig: &[u8]) -> Vec<u8> {
    let aid = scheme.algorithm_identifier();
    let mut out = Vec::with_capacity(1 + aid.len() + sig.len());
    out.push(u8::try_from(aid.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(aid);
    out.extend_from_slice(sig);
    out
}

/// Our AUTH payload over `signed` (the SignedOctets).
pub(crate) fn build_auth(
    creds: &Credentials,
    local: &AuthRound,
    peer_id: Option<&Identity>,
    prf: &dyn Prf,
    signed: &[u8],
    peer_hash_algs: &[u16],
    peer_methods: &[crate::auth_methods::Announcement],
) -> Result<Auth, IkeError> {
    match &local.auth {
        AuthConfig::Psk => {
            if !peer_methods.is_empty() && !crate::auth_methods::accepts_psk(peer_methods) {
                tracing::warn!(
                    "peer's SUPPORTED_AUTH_METHODS ({}) does not list PSK; using it anyway",
                    crate::auth_methods::describe(peer_methods)
                );
            }
            let psk = find_psk(creds, &local.id, peer_id)
                .ok_or_else(|| IkeError::Config("no PSK for these identities".into()))?;
            Ok(Auth {
                method: AuthMethod::PSK,
                data: crate::keymat::psk_auth(prf, psk, signed),
            })
        }
        AuthConfig::PubKey { key, .. } => {
            let key = key
                .as_ref()
                .ok_or_else(|| IkeError::Config("no private key configured".into()))?;
            // RFC 9593 §4: sign with what the peer announced it accepts, in our preference
            // order; without an announcement (or with no overlap) every scheme of the key.
            let mut schemes = key.schemes().to_vec();
            if !peer_methods.is_empty() {
                let ok = crate::auth_methods::acceptable(&schemes, peer_methods);
                if ok.is_empty() {
                    tracing::warn!(
                        "peer's SUPPORTED_AUTH_METHODS ({}) lists none of our key's schemes; \
                         signing anyway",
                        crate::auth_methods::describe(peer_methods)
                    );
                } else {
                    schemes = ok;
                }
            }
            // RFC 7427 §4: with SIGNATURE_HASH_ALGORITHMS from the peer, use method 14 with a hash it
            // listed; otherwise the classic methods (1 for RSA, 9-11 for ECDSA, RFC 4754).
            // ML-DSA / SLH-DSA sign the octets themselves (hash ID 5, Identity): the
            // pqc-auth draft allows them only when the peer listed Identity (RFC 8420).
            if !peer_hash_algs.is_empty() {
                if let Some(&scheme) = schemes
                    .iter()
                    .find(|s| peer_hash_algs.contains(&s.hash_algorithm_id()))
                {
                    let sig = key.sign(scheme, signed)?;
                    // With the SignedOctets (logged by the caller) this lets anyone verify
                    // the signature independently, e.g. `openssl pkeyutl -verify -rawin`.
                    tracing::debug!(
                        "AUTH: RFC 7427 digital signature with {} ({} octets): {}",
                        scheme.name(),
                        sig.len(),
                        crate::hexfmt::hex(&sig)
                    );
                    return Ok(Auth {
                        method: AuthMethod::DIGITAL_SIGNATURE,
                        data: digital_signature_data(scheme, &sig),
                    });
                }
            }
            if schemes.iter().all(|s| s.is_post_quantum()) {
                return Err(IkeError::Config(format!(
                    "our key is {}, but the peer did not announce Identity (5) in \
                     SIGNATURE_HASH_ALGORITHMS (got {peer_hash_algs:?}); \
                     draft-ietf-ipsecme-ikev2-pqc-auth forbids PQ signatures then",
                    key.schemes().first().map_or("post-quantum", |s| s.name())
                )));
            }
            let scheme = schemes
                .iter()
                .copied()
                .find(|s| s.classic_auth_method().is_some())
                .ok_or_else(|| {
                    IkeError::Config("key has no scheme usable without RFC 7427".into())
                })?;
            let sig = key.sign(scheme, signed)?;
            let data = match scheme.ecdsa_field_len() {
                Some(len) => ecdsa_der_to_raw(&sig, len)?,
                None => sig,
            };
            let method = AuthMethod(scheme.classic_auth_method().unwrap_or(1));
            Ok(Auth { method, data })
        }
    }
}

/// Verify the peer's AUTH payload. `peer_spki` is the verified end-entity key for signatures.
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify_auth(
    crypto: &dyn CryptoProvider,
    creds: &Credentials,
    ours: &Identity,
    peer_id: &Identification,
    expected: &AuthRound,
    prf: &dyn Prf,
    signed: &[u8],
    auth: &Auth,
    peer_spki: Option<&[u8]>,
) -> Result<(), IkeError> {
    match &expected.auth {
        AuthConfig::Psk => {
            if auth.method != AuthMethod::PSK {
                return Err(IkeError::AuthFailed(format!(
                    "peer used {} instead of PSK",
                    auth.method
                )));
            }
            let psk = find_psk(creds, ours, identity_of(peer_id).as_ref())
                .ok_or_else(|| IkeError::AuthFailed("no PSK for these identities".into()))?;
            if ct_eq(&crate::keymat::psk_auth(prf, psk, signed), &auth.data) {
                Ok(())
            } else {
                Err(IkeError::AuthFailed("PSK AUTH value does not match".into()))
            }
        }
        AuthConfig::PubKey { .. } => {
            let spki = peer_spki
                .ok_or_else(|| IkeError::AuthFailed("no verified peer certificate".into()))?;
            let (scheme, sig) = match auth.method {
                AuthMethod::DIGITAL_SIGNATURE => {
                    let (&len, rest) = auth
                        .data
                        .split_first()
                        .ok_or_else(|| IkeError::AuthFailed("empty AUTH data".into()))?;
                    let len = usize::from(len);
                    if rest.len() < len {
                        return Err(IkeError::AuthFailed(
                            "AUTH AlgorithmIdentifier truncated".into(),
                        ));
                    }
                    let (aid, sig) = rest.split_at(len);
                    let scheme =
                        SignatureScheme::from_algorithm_identifier(aid).ok_or_else(|| {
                            IkeError::AuthFailed("unsupported signature algorithm".into())
                        })?;
                    (scheme, sig.to_vec())
                }
                m => {
                    let scheme =
                        SignatureScheme::from_classic_auth_method(m.0).ok_or_else(|| {
                            IkeError::AuthFailed(format!("unsupported auth method {m}"))
                        })?;
                    let sig = if scheme.ecdsa_field_len().is_some() {
                        ecdsa_raw_to_der(&auth.data)
                            .map_err(|e| IkeError::AuthFailed(e.to_string()))?
                    } else {
                        auth.data.clone()
                    };
                    (scheme, sig)
                }
            };
            crypto
                .verify(scheme, spki, signed, &sig)
                .map_err(|e| IkeError::AuthFailed(format!("{} signature: {e}", scheme.name())))?;
            tracing::debug!("peer AUTH: {} signature verified", scheme.name());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pqike_crypto::awslc::AwsLcProvider;
    use pqike_crypto::sig::EcdsaSigningKey;
    use std::sync::Arc;
    use zeroize::Zeroizing;

    fn fqdn(s: &str) -> Identity {
        Identity::Fqdn(s.into())
    }

    fn pubkey_round(id: &str, key: Option<Arc<dyn pqike_crypto::SigningKey>>) -> AuthRound {
        AuthRound {
            id: fqdn(id),
            auth: AuthConfig::PubKey {
                cert: None,
                intermediates: vec![],
                key,
                cacerts: vec![],
            },
        }
    }

    #[test]
    fn psk_lookup_prefers_the_most_specific_entry() {
        let creds = Credentials {
            ppks: Vec::new(),
            psks: vec![
                (vec![], Zeroizing::new(b"any".to_vec())),
                (vec![fqdn("a")], Zeroizing::new(b"a only".to_vec())),
                (vec![fqdn("a"), fqdn("b")], Zeroizing::new(b"pair".to_vec())),
            ],
        };
        assert_eq!(
            find_psk(&creds, &fqdn("a"), Some(&fqdn("b"))),
            Some(&b"pair"[..])
        );
        assert_eq!(
            find_psk(&creds, &fqdn("a"), Some(&fqdn("c"))),
            Some(&b"a only"[..])
        );
        assert_eq!(
            find_psk(&creds, &fqdn("x"), Some(&fqdn("y"))),
            Some(&b"any"[..])
        );
        assert_eq!(find_psk(&Credentials::default(), &fqdn("x"), None), None);
    }

    /// Sign with `peer_hash_algs` announced, verify, and check the method used.
    fn round_trip(peer_hash_algs: &[u16]) -> AuthMethod {
        let crypto = AwsLcProvider::new();
        let prf = pqike_crypto::CryptoProvider::prf(&crypto, 5).unwrap();
        let key: Arc<dyn pqike_crypto::SigningKey> =
            Arc::new(EcdsaSigningKey::generate(SignatureScheme::EcdsaP256Sha256).unwrap());
        let spki = key.public_key_spki().to_vec();
        let local = pubkey_round("a", Some(key));
        let creds = Credentials::default();
        let auth = build_auth(
            &creds,
            &local,
            None,
            prf,
            b"signed octets",
            peer_hash_algs,
            &[],
        )
        .unwrap();
        let id = Identification {
            id_type: IdType::FQDN,
            data: b"a".to_vec(),
        };
        let expected = pubkey_round("a", None);
        verify_auth(
            &crypto,
            &creds,
            &fqdn("b"),
            &id,
            &expected,
            prf,
            b"signed octets",
            &auth,
            Some(&spki),
        )
        .unwrap();
        let err = verify_auth(
            &crypto,
            &creds,
            &fqdn("b"),
            &id,
            &expected,
            prf,
            b"other octets",
            &auth,
            Some(&spki),
        );
        assert!(matches!(err, Err(IkeError::AuthFailed(_))));
        auth.method
    }

    #[test]
    fn rfc7427_signature_when_peer_lists_hashes() {
        assert_eq!(round_trip(&[2, 3, 4, 5]), AuthMethod::DIGITAL_SIGNATURE);
    }

    #[test]
    fn rfc4754_ecdsa_without_signature_hash_algorithms() {
        assert_eq!(round_trip(&[]), AuthMethod::ECDSA_SHA256_P256);
    }

    fn pq_key(scheme: SignatureScheme) -> Arc<dyn pqike_crypto::SigningKey> {
        Arc::new(pqike_crypto::sig::MlDsaSigningKey::generate(scheme).unwrap())
    }

    #[test]
    fn ml_dsa_uses_method_14_with_the_pq_algorithm_identifier() {
        let crypto = AwsLcProvider::new();
        let prf = pqike_crypto::CryptoProvider::prf(&crypto, 5).unwrap();
        let key = pq_key(SignatureScheme::MlDsa65);
        let spki = key.public_key_spki().to_vec();
        let creds = Credentials::default();
        let auth = build_auth(
            &creds,
            &pubkey_round("a", Some(key)),
            None,
            prf,
            b"octets",
            &[2, 5],
            &[],
        )
        .unwrap();
        assert_eq!(auth.method, AuthMethod::DIGITAL_SIGNATURE);
        // 1-octet length 0x0d, then AlgorithmIdentifier id-ml-dsa-65 (2.16.840.1.101.3.4.3.18),
        // parameters absent, then the 3309-octet FIPS 204 signature.
        let aid = [
            0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12,
        ];
        assert_eq!(&auth.data[..14], &aid);
        assert_eq!(auth.data.len(), 14 + 3309);
        let id = Identification {
            id_type: IdType::FQDN,
            data: b"a".to_vec(),
        };
        let verify = |octets: &[u8], a: &Auth| {
            verify_auth(
                &crypto,
                &creds,
                &fqdn("b"),
                &id,
                &pubkey_round("a", None),
                prf,
                octets,
                a,
                Some(&spki),
            )
        };
        assert!(verify(b"octets", &auth).is_ok());
        assert!(matches!(
            verify(b"other", &auth),
            Err(IkeError::AuthFailed(_))
        ));
        let mut bad = auth.clone();
        let last = bad.data.len() - 1;
        bad.data[last] ^= 1;
        assert!(verify(b"octets", &bad).is_err());
    }

    #[test]
    fn ml_dsa_needs_identity_in_signature_hash_algorithms() {
        let crypto = AwsLcProvider::new();
        let prf = pqike_crypto::CryptoProvider::prf(&crypto, 5).unwrap();
        let round = pubkey_round("a", Some(pq_key(SignatureScheme::MlDsa44)));
        let creds = Credentials::default();
        for hashes in [&[][..], &[2, 3, 4][..]] {
            match build_auth(&creds, &round, None, prf, b"x", hashes, &[]) {
                Err(IkeError::Config(m)) => assert!(m.contains("Identity (5)"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn psk_auth_refuses_other_methods() {
        let crypto = AwsLcProvider::new();
        let prf = pqike_crypto::CryptoProvider::prf(&crypto, 5).unwrap();
        let creds = Credentials {
            ppks: Vec::new(),
            psks: vec![(vec![], Zeroizing::new(b"k".to_vec()))],
        };
        let psk_round = AuthRound {
            id: fqdn("a"),
            auth: AuthConfig::Psk,
        };
        let id = Identification {
            id_type: IdType::FQDN,
            data: b"a".to_vec(),
        };
        let good = build_auth(&creds, &psk_round, None, prf, b"x", &[], &[]).unwrap();
        assert!(verify_auth(
            &crypto,
            &creds,
            &fqdn("b"),
            &id,
            &psk_round,
            prf,
            b"x",
            &good,
            None
        )
        .is_ok());
        let forged = Auth {
            method: AuthMethod::ECDSA_SHA256_P256,
            data: good.data.clone(),
        };
        assert!(verify_auth(
            &crypto,
            &creds,
            &fqdn("b"),
            &id,
            &psk_round,
            prf,
            b"x",
            &forged,
            None
        )
        .is_err());
    }

    #[test]
    fn identities_round_trip() {
        let local: SocketAddr = "192.0.2.1:500".parse().unwrap();
        for id in [
            fqdn("gw.example"),
            Identity::Rfc822("u@x".into()),
            Identity::Ip("2001:db8::1".parse().unwrap()),
        ] {
            let p = id_payload(&id, local);
            assert!(id_matches(&id, &p));
            assert_eq!(identity_of(&p), Some(id));
        }
        assert_eq!(
            identity_of(&id_payload(&Identity::Any, local)),
            Some(Identity::Ip(local.ip()))
        );
        assert!(!id_matches(&fqdn("a"), &id_payload(&fqdn("b"), local)));
    }
}
