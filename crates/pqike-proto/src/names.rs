//! strongSwan-style algorithm names for status output and logs (as `swanctl --list-sas` prints
//! them), so that pqike's and strongSwan's status lines can be compared side by side.
//! Unknown IDs print as `<REGISTRY>_<id>` instead of failing.
//!
//! The names live in pqike-wire's one algorithm table ([`pqike_wire::algorithms`]); this module
//! only re-exports its display functions under the engine's names.
pub use pqike_wire::algorithms::{encr_name, integ_name, ke_name, prf_name};

#[cfg(test)]
mod tests {
    use pqike_crypto::awslc::AwsLcProvider;
    use pqike_crypto::CryptoProvider;
    use pqike_wire::algorithms::{by_id, find, AlgKind};

    /// Every key exchange the production provider implements has a row, and the row's data
    /// lengths are what the provider really sends (they decide the ADDKE-only rule).
    #[test]
    fn every_provider_key_exchange_has_a_row_with_its_real_lengths() {
        let provider = AwsLcProvider::new();
        let mut n = 0;
        for id in 0..=u16::MAX {
            let Some(kx) = provider.key_exchange(id) else {
                continue;
            };
            n += 1;
            let row = by_id(AlgKind::Ke, id).unwrap_or_else(|| panic!("KE {id} has no row"));
            let len = row.ke_data.expect("KE rows have data lengths");
            let active = kx.start().unwrap();
            assert_eq!(active.public_data().len(), len.initiator, "{}", row.name);
            let (reply, _) = kx.respond(active.public_data()).unwrap();
            assert_eq!(reply.len(), len.responder, "{}", row.name);
        }
        assert_eq!(n, 9, "MODP 2048/3072, ECP 256/384/521, X25519, ML-KEM x3");
    }

    /// Every PRF and SK cipher the provider implements has a row.
    #[test]
    fn every_provider_prf_and_cipher_has_a_row() {
        let provider = AwsLcProvider::new();
        for id in 0..=1024 {
            if provider.prf(id).is_some() {
                assert!(by_id(AlgKind::Prf, id).is_some(), "PRF {id}");
            }
            for bits in [None, Some(128), Some(192), Some(256)] {
                // AEAD (INTEG NONE) or with an integrity algorithm.
                for integ in [0, 2, 12, 13, 14] {
                    if provider.sk_key_lengths(id, bits, integ).is_some() {
                        // RFC 7634 §3: ChaCha20-Poly1305 has no Key Length attribute; the
                        // provider tolerates an explicit 256, which names the same row.
                        let chacha_256 = id == 28 && bits == Some(256);
                        assert!(
                            find(AlgKind::Encr, id, bits).is_some() || chacha_256,
                            "ENCR {id} {bits:?}"
                        );
                        assert!(by_id(AlgKind::Integ, integ).is_some(), "INTEG {integ}");
                    }
                }
            }
        }
    }
}
