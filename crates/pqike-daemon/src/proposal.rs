//! strongSwan-style proposal strings (`aes256gcm16-prfsha384-x25519-ke1_mlkem768`) to
//! [`ProposalConfig`], and transform names back for display.
//!
//! Rules follow strongSwan's `proposals` documentation so users can carry configs over:
//! keywords are `-`-separated, order only matters among algorithms of one kind (preference),
//! an IKE proposal without an explicit PRF takes the PRFs matching its integrity algorithms, and
//! an AEAD-only proposal drops the integrity algorithms (they only served to name the PRF).
//! strongSwan refuses an IKE proposal that ends up without a PRF; so do we.
use pqike_proto::ProposalConfig;
use pqike_wire::{EncrId, EsnId, IntegId, KeMethod, PrfId};

/// Whether the proposal is for the IKE SA or for ESP Child SAs (different keywords are legal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalKind {
    /// IKE SA proposal: needs ENCR, PRF and a type-4 KE method; no ESN.
    Ike,
    /// ESP proposal: ENCR (+ INTEG unless AEAD), optional KE for PFS, optional ESN.
    Esp,
}

fn encr_keyword(kw: &str) -> Option<(u16, Option<u16>)> {
    let aes = |id: EncrId, bits: u16| Some((id.0, Some(bits)));
    match kw {
        "aes128" => aes(EncrId::AES_CBC, 128),
        "aes192" => aes(EncrId::AES_CBC, 192),
        "aes256" => aes(EncrId::AES_CBC, 256),
        "aes128gcm16" | "aes128gcm128" | "aes128gcm" => aes(EncrId::AES_GCM_16, 128),
        "aes192gcm16" | "aes192gcm128" | "aes192gcm" => aes(EncrId::AES_GCM_16, 192),
        "aes256gcm16" | "aes256gcm128" | "aes256gcm" => aes(EncrId::AES_GCM_16, 256),
        "aes128gcm12" | "aes128gcm96" => aes(EncrId::AES_GCM_12, 128),
        "aes256gcm12" | "aes256gcm96" => aes(EncrId::AES_GCM_12, 256),
        "aes128gcm8" | "aes128gcm64" => aes(EncrId::AES_GCM_8, 128),
        "aes256gcm8" | "aes256gcm64" => aes(EncrId::AES_GCM_8, 256),
        "chacha20poly1305" => Some((EncrId::CHACHA20_POLY1305.0, None)),
        _ => None,
    }
}

fn is_aead(encr: u16) -> bool {
    [
        EncrId::AES_GCM_8,
        EncrId::AES_GCM_12,
        EncrId::AES_GCM_16,
        EncrId::CHACHA20_POLY1305,
    ]
    .iter()
    .any(|e| e.0 == encr)
}

fn integ_keyword(kw: &str) -> Option<u16> {
    Some(match kw {
        "sha1" | "sha" => IntegId::HMAC_SHA1_96.0,
        "sha256" | "sha2_256" => IntegId::HMAC_SHA2_256_128.0,
        "sha384" | "sha2_384" => IntegId::HMAC_SHA2_384_192.0,
        "sha512" | "sha2_512" => IntegId::HMAC_SHA2_512_256.0,
        _ => return None,
    })
}

fn prf_keyword(kw: &str) -> Option<u16> {
    Some(match kw {
        "prfsha1" => PrfId::HMAC_SHA1.0,
        "prfsha256" => PrfId::HMAC_SHA2_256.0,
        "prfsha384" => PrfId::HMAC_SHA2_384.0,
        "prfsha512" => PrfId::HMAC_SHA2_512.0,
        _ => return None,
    })
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
    Some(match kw {
        "none" => KeMethod::NONE,
        "x25519" | "curve25519" => KeMethod::CURVE25519,
        "x448" | "curve448" => KeMethod::CURVE448,
        "ecp256" => KeMethod::ECP_256,
        "ecp384" => KeMethod::ECP_384,
        "ecp521" => KeMethod::ECP_521,
        "modp2048" => KeMethod::MODP_2048,
        "modp3072" => KeMethod::MODP_3072,
        "modp4096" => KeMethod::MODP_4096,
        "mlkem512" => KeMethod::ML_KEM_512,
        "mlkem768" => KeMethod::ML_KEM_768,
        "mlkem1024" => KeMethod::ML_KEM_1024,
        _ => return None,
    })
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
        let lower = kw.to_ascii_lowercase();
        if let Some(e) = encr_keyword(&lower) {
            push_unique(&mut p.encr, e);
        } else if let Some(i) = integ_keyword(&lower) {
            push_unique(&mut p.integ, i);
        } else if let Some(f) = prf_keyword(&lower) {
            if kind == ProposalKind::Esp {
                return Err(format!("`{kw}`: a PRF is not used in ESP proposals"));
            }
            push_unique(&mut p.prf, f);
        } else if let Some(k) = ke_keyword(&lower) {
            push_unique(&mut p.ke, k);
        } else if let Some(k) = addke_keyword(&lower) {
            let (round, method) = k.map_err(|e| format!("`{kw}`: {e}"))?;
            push_unique(&mut p.addke[round], method);
        } else if lower == "esn" || lower == "noesn" {
            if kind == ProposalKind::Ike {
                return Err(format!(
                    "`{kw}`: extended sequence numbers only apply to ESP proposals"
                ));
            }
            let id = if lower == "esn" {
                EsnId::ESN
            } else {
                EsnId::NO_ESN
            };
            push_unique(&mut p.esn, id.0);
        } else if kw.is_empty() {
            return Err(format!("empty keyword in `{s}`"));
        } else {
            return Err(format!("unknown algorithm keyword `{kw}`"));
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
    let aead = p.encr.iter().filter(|e| is_aead(e.0)).count();
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

/// A KE method name as strongSwan prints it (`CURVE_25519`, `ML_KEM_768`, `ECP_384`).
pub fn ke_name(k: KeMethod) -> String {
    match k {
        KeMethod::CURVE25519 => "CURVE_25519".into(),
        KeMethod::CURVE448 => "CURVE_448".into(),
        other => other
            .name()
            .map(str::to_string)
            .unwrap_or_else(|| format!("KE_{}", other.0)),
    }
}

/// An ENCR transform name with key length (`AES_GCM_16-256`, `AES_CBC-128`, `CHACHA20_POLY1305`).
pub fn encr_name(encr: (u16, Option<u16>)) -> String {
    let base = EncrId(encr.0)
        .name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("ENCR_{}", encr.0));
    match encr.1 {
        Some(bits) => format!("{base}-{bits}"),
        None => base,
    }
}

/// An INTEG transform name (`HMAC_SHA2_256_128`); empty for none (AEAD).
pub fn integ_name(integ: u16) -> String {
    if integ == 0 {
        String::new()
    } else {
        IntegId(integ)
            .name()
            .map(str::to_string)
            .unwrap_or_else(|| format!("INTEG_{integ}"))
    }
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

    #[test]
    fn names() {
        assert_eq!(encr_name((20, Some(256))), "AES_GCM_16-256");
        assert_eq!(encr_name((28, None)), "CHACHA20_POLY1305");
        assert_eq!(integ_name(12), "HMAC_SHA2_256_128");
        assert_eq!(integ_name(0), "");
        assert_eq!(ke_name(KeMethod::CURVE25519), "CURVE_25519");
        assert_eq!(ke_name(KeMethod::ML_KEM_768), "ML_KEM_768");
    }
}
