//! strongSwan-style proposal strings (`aes256gcm16-prfsha384-x25519-ke1_mlkem768`) to
//! [`ProposalConfig`].
//!
//! Rules follow strongSwan's `proposals` documentation so users can carry configs over:
//! keywords are `-`-separated, order only matters among algorithms of one kind (preference),
//! an IKE proposal without an explicit PRF takes the PRFs matching its integrity algorithms, and
//! an AEAD-only proposal drops the integrity algorithms (they only served to name the PRF).
//! strongSwan refuses an IKE proposal that ends up without a PRF; so do we.
//!
//! The keywords themselves come from pqike-wire's algorithm table
//! ([`pqike_wire::algorithms`]); this module adds the `keN_` prefix of RFC 9370 additional key
//! exchanges and the rules above. Names for display are the table's too
//! ([`pqike_wire::algorithms::encr_name`] and friends).
use pqike_proto::ProposalConfig;
use pqike_wire::algorithms::{self, AlgKind, Algorithm, IKE_SA_INIT_MAX_KE_DATA};
use pqike_wire::{IntegId, KeMethod, PrfId};

/// Whether the proposal is for the IKE SA or for ESP Child SAs (different keywords are legal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalKind {
    /// IKE SA proposal: needs ENCR, PRF and a type-4 KE method; no ESN.
    Ike,
    /// ESP proposal: ENCR (+ INTEG unless AEAD), optional KE for PFS, optional ESN.
    Esp,
}

/// The PRF strongSwan derives from an integrity algorithm when none is configured.
fn prf_for_integ(integ: u16) -> Option<u16> {
    Some(match IntegId(integ) {
        IntegId::HMAC_SHA1_96 => PrfId::HMAC_SHA1.0,
        IntegId::HMAC_SHA2_256_128 => PrfId::HMAC_SHA2_256.0,
        IntegId::HMAC_SHA2_384_192 => PrfId::HMAC_SHA2_384.0,
        IntegId::HMAC_SHA2_512_256 => PrfId::HMAC_SHA2_512.0,
        _ => return None,
    })
}

/// A key-exchange keyword (`x25519`, `mlkem768`, `none`, ...).
pub fn ke_keyword(kw: &str) -> Option<KeMethod> {
    algorithms::by_keyword(kw).and_then(|a| a.ke_method())
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Parse one proposal string. Errors name the offending keyword or the missing algorithm.
pub fn parse_proposal(s: &str, kind: ProposalKind) -> Result<ProposalConfig, String> {
    let mut p = ProposalConfig::default();
    if s.trim().is_empty() {
        return Err("empty proposal".into());
    }
    for kw in s.split('-') {
        let kw = kw.trim();
        if kw.is_empty() {
            return Err(format!("empty keyword in `{s}`"));
        }
        if let Some(k) = addke_keyword(&kw.to_ascii_lowercase()) {
            let (round, method) = k.map_err(|e| format!("`{kw}`: {e}"))?;
            push_unique(&mut p.addke[round], method);
            continue;
        }
        let Some(a) = algorithms::by_keyword(kw) else {
            return Err(format!("unknown algorithm keyword `{kw}`"));
        };
        match a.kind {
            AlgKind::Encr => push_unique(&mut p.encr, (a.id, a.key_bits)),
            AlgKind::Integ => push_unique(&mut p.integ, a.id),
            AlgKind::Prf if kind == ProposalKind::Esp => {
                return Err(format!("`{kw}`: a PRF is not used in ESP proposals"));
            }
            AlgKind::Prf => push_unique(&mut p.prf, a.id),
            AlgKind::Ke => push_unique(&mut p.ke, KeMethod(a.id)),
            AlgKind::Esn if kind == ProposalKind::Ike => {
                return Err(format!(
                    "`{kw}`: extended sequence numbers only apply to ESP proposals"
                ));
            }
            AlgKind::Esn => push_unique(&mut p.esn, a.id),
        }
    }
    validate(&mut p, kind)?;
    Ok(p)
}

/// `keN_<method>` -> (N-1, method).
fn addke_keyword(kw: &str) -> Option<Result<(usize, KeMethod), String>> {
    let rest = kw.strip_prefix("ke")?;
    let (n, method) = rest.split_once('_')?;
    let n: usize = n.parse().ok()?;
    Some(if !(1..=7).contains(&n) {
        Err("additional key exchanges are numbered ke1_ .. ke7_".into())
    } else {
        match ke_keyword(method) {
            Some(m) => Ok((n - 1, m)),
            None => Err(format!("unknown key exchange method `{method}`")),
        }
    })
}

fn validate(p: &mut ProposalConfig, kind: ProposalKind) -> Result<(), String> {
    if p.encr.is_empty() {
        return Err("no encryption algorithm (e.g. aes256gcm16)".into());
    }
    let aead = p.encr.iter().filter(|e| algorithms::is_aead(e.0)).count();
    if aead != 0 && aead != p.encr.len() {
        // RFC 7296 §3.3: combined-mode and classic ciphers must be offered in separate proposals.
        return Err(
            "AEAD and non-AEAD encryption algorithms cannot share a proposal; use two proposals"
                .into(),
        );
    }
    if kind == ProposalKind::Ike {
        if p.prf.is_empty() {
            let derived: Vec<u16> = p.integ.iter().filter_map(|&i| prf_for_integ(i)).collect();
            for f in derived {
                push_unique(&mut p.prf, f);
            }
        }
        if p.prf.is_empty() {
            return Err("an IKE proposal needs a PRF (e.g. prfsha384)".into());
        }
        if p.ke.is_empty() || p.ke.contains(&KeMethod::NONE) {
            return Err(
                "an IKE proposal needs a key exchange method (e.g. x25519 or mlkem768)".into(),
            );
        }
        check_ike_sa_init_ke(&p.ke)?;
    }
    if aead > 0 {
        // Integrity algorithms of an AEAD proposal only name the PRF (strongSwan strips them).
        p.integ.clear();
    } else if p.integ.is_empty() {
        return Err("a non-AEAD proposal needs an integrity algorithm (e.g. sha256)".into());
    }
    if kind == ProposalKind::Esp && p.ke == [KeMethod::NONE] {
        p.ke.clear();
    }
    Ok(())
}

/// The type-4 KE of an IKE proposal travels in IKE_SA_INIT, which cannot be fragmented
/// (RFC 7383 §2.5): a method with more public data than that can carry is ADDKE only.
/// (ESP proposals' KE runs in CREATE_CHILD_SA, which is encrypted and can be fragmented.)
fn check_ike_sa_init_ke(ke: &[KeMethod]) -> Result<(), String> {
    ke.iter()
        .filter_map(|m| algorithms::by_id(AlgKind::Ke, m.0))
        .find_map(ike_sa_init_refusal)
        .map_or(Ok(()), Err)
}

/// Why `ke` cannot be the type-4 KE of an IKE proposal, if it cannot.
fn ike_sa_init_refusal(ke: &Algorithm) -> Option<String> {
    let kw = ke.keyword().unwrap_or(ke.name);
    (!ke.allowed_in_ike_sa_init).then(|| {
        format!(
            "`{kw}` cannot be the key exchange of IKE_SA_INIT (more than \
             {IKE_SA_INIT_MAX_KE_DATA} octets of key exchange data, and IKE_SA_INIT cannot be \
             fragmented); use it as an additional key exchange, e.g. ke1_{kw}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ike(s: &str) -> ProposalConfig {
        parse_proposal(s, ProposalKind::Ike).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn hybrid_x25519_mlkem768() {
        let p = ike("aes256gcm16-prfsha384-x25519-ke1_mlkem768");
        assert_eq!(p.encr, vec![(20, Some(256))]);
        assert_eq!(p.prf, vec![6]);
        assert!(p.integ.is_empty());
        assert_eq!(p.ke, vec![KeMethod::CURVE25519]);
        assert_eq!(p.addke[0], vec![KeMethod::ML_KEM_768]);
        assert!(p.addke[1..].iter().all(Vec::is_empty));
        assert!(p.esn.is_empty());
    }

    #[test]
    fn three_rounds() {
        let p = ike("aes256gcm16-prfsha384-x25519-ke1_ecp384-ke2_modp3072");
        assert_eq!(p.ke, vec![KeMethod::CURVE25519]);
        assert_eq!(p.addke[0], vec![KeMethod::ECP_384]);
        assert_eq!(p.addke[1], vec![KeMethod::MODP_3072]);
    }

    #[test]
    fn pure_mlkem() {
        let p = ike("aes256gcm16-prfsha384-mlkem768");
        assert_eq!(p.ke, vec![KeMethod::ML_KEM_768]);
        assert!(p.addke.iter().all(Vec::is_empty));
    }

    #[test]
    fn optional_round_and_alternatives() {
        let p = ike("aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp384-x25519-ke1_mlkem768-ke1_none-ke2_none");
        assert_eq!(p.encr, vec![(20, Some(256)), (20, Some(128))]);
        assert_eq!(p.prf, vec![6, 5]);
        assert_eq!(p.ke, vec![KeMethod::ECP_384, KeMethod::CURVE25519]);
        assert_eq!(p.addke[0], vec![KeMethod::ML_KEM_768, KeMethod::NONE]);
        assert_eq!(p.addke[1], vec![KeMethod::NONE]);
    }

    #[test]
    fn prf_derived_from_integrity() {
        let p = ike("aes128-sha256-modp2048");
        assert_eq!(p.encr, vec![(12, Some(128))]);
        assert_eq!(p.integ, vec![12]);
        assert_eq!(p.prf, vec![5]);
        let p = ike("aes256-sha512-sha1-ecp521");
        assert_eq!(p.prf, vec![7, 2]);
        // AEAD with an integrity keyword: it names the PRF and is then stripped.
        let p = ike("aes256gcm16-sha384-x25519");
        assert_eq!(p.prf, vec![6]);
        assert!(p.integ.is_empty());
    }

    #[test]
    fn explicit_prf_wins_over_integrity() {
        let p = ike("aes256-sha256-prfsha512-ecp256");
        assert_eq!(p.prf, vec![7]);
        assert_eq!(p.integ, vec![12]);
    }

    #[test]
    fn aliases() {
        assert_eq!(
            ike("aes256gcm-prfsha256-curve25519"),
            ike("aes256gcm16-prfsha256-x25519")
        );
        let p = ike("chacha20poly1305-prfsha256-mlkem1024");
        assert_eq!(p.encr, vec![(28, None)]);
        assert_eq!(p.ke, vec![KeMethod::ML_KEM_1024]);
        assert_eq!(
            ike("AES256GCM16-PRFSHA384-X25519"),
            ike("aes256gcm16-prfsha384-x25519")
        );
    }

    #[test]
    fn ike_errors() {
        let err = |s: &str| parse_proposal(s, ProposalKind::Ike).unwrap_err();
        assert!(err("aes256gcm16-prfsha384-x25519-ke1_mlkem999").contains("`mlkem999`"));
        assert!(err("aes256gcm16-prfsha384-x25519-blowfish").contains("`blowfish`"));
        assert!(err("aes256gcm16-x25519").contains("PRF"));
        assert!(err("aes256gcm16-prfsha384").contains("key exchange"));
        assert!(err("aes256gcm16-prfsha384-none").contains("key exchange"));
        assert!(err("aes256-prfsha256-x25519").contains("integrity"));
        assert!(err("aes256-aes256gcm16-sha256-x25519").contains("AEAD"));
        assert!(err("aes256gcm16-prfsha384-x25519-ke8_mlkem768").contains("ke7_"));
        assert!(err("aes256gcm16-prfsha384-x25519-esn").contains("ESP"));
        assert!(err("prfsha384-x25519").contains("encryption"));
        assert!(err("aes256gcm16--x25519").contains("empty keyword"));
        assert!(err("").contains("empty"));
    }

    #[test]
    fn esp() {
        let esp =
            |s: &str| parse_proposal(s, ProposalKind::Esp).unwrap_or_else(|e| panic!("{s}: {e}"));
        let p = esp("aes256gcm16");
        assert_eq!(p.encr, vec![(20, Some(256))]);
        assert!(p.integ.is_empty() && p.ke.is_empty() && p.prf.is_empty() && p.esn.is_empty());
        let p = esp("aes128-sha256-esn-noesn");
        assert_eq!(p.integ, vec![12]);
        assert_eq!(p.esn, vec![1, 0]);
        let p = esp("aes256gcm16-mlkem768");
        assert_eq!(p.ke, vec![KeMethod::ML_KEM_768]);
        assert!(parse_proposal("aes256gcm16-prfsha256", ProposalKind::Esp)
            .unwrap_err()
            .contains("PRF"));
        assert!(parse_proposal("aes256", ProposalKind::Esp)
            .unwrap_err()
            .contains("integrity"));
    }

    /// Every keyword of the algorithm table parses to its row, in the smallest proposal that
    /// makes the keyword legal; KE keywords also as additional key exchanges.
    #[test]
    fn every_table_keyword_round_trips() {
        let esp =
            |s: &str| parse_proposal(s, ProposalKind::Esp).unwrap_or_else(|e| panic!("{s}: {e}"));
        let mut n = 0;
        for a in algorithms::ALGORITHMS {
            for kw in a.keywords {
                n += 1;
                match a.kind {
                    AlgKind::Encr if a.aead => {
                        assert_eq!(esp(kw).encr, vec![(a.id, a.key_bits)], "{kw}")
                    }
                    AlgKind::Encr => {
                        assert_eq!(esp(&format!("{kw}-sha256")).encr, vec![(a.id, a.key_bits)])
                    }
                    AlgKind::Integ => assert_eq!(esp(&format!("aes128-{kw}")).integ, vec![a.id]),
                    AlgKind::Prf => {
                        assert_eq!(ike(&format!("aes128gcm16-{kw}-x25519")).prf, vec![a.id])
                    }
                    AlgKind::Esn => assert_eq!(esp(&format!("aes128gcm16-{kw}")).esn, vec![a.id]),
                    AlgKind::Ke => {
                        let m = KeMethod(a.id);
                        if m != KeMethod::NONE {
                            assert_eq!(ike(&format!("aes128gcm16-prfsha256-{kw}")).ke, vec![m]);
                        }
                        let p = ike(&format!("aes128gcm16-prfsha256-x25519-ke7_{kw}"));
                        assert_eq!(p.addke[6], vec![m], "{kw}");
                        assert_eq!(ke_keyword(kw), Some(m));
                    }
                }
                // Keywords are case-insensitive, as in strongSwan.
                assert_eq!(
                    algorithms::by_keyword(&kw.to_ascii_uppercase()),
                    Some(a),
                    "{kw}"
                );
            }
        }
        assert!(n > 40, "{n} keywords");
    }

    #[test]
    fn addke_only_methods_are_refused_in_ike_sa_init() {
        let mlkem = algorithms::by_keyword("mlkem1024").unwrap();
        assert_eq!(ike_sa_init_refusal(mlkem), None);
        // A method over the IKE_SA_INIT limit (none of today's is): refused, with the way out.
        let big = Algorithm {
            allowed_in_ike_sa_init: false,
            ..*mlkem
        };
        let e = ike_sa_init_refusal(&big).unwrap();
        assert!(
            e.contains("`mlkem1024`") && e.contains("ke1_mlkem1024"),
            "{e}"
        );
        assert!(check_ike_sa_init_ke(&[KeMethod::CURVE25519, KeMethod::ML_KEM_1024]).is_ok());
    }
}
