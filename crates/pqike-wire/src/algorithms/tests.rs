use super::*;
use crate::registry::{EncrId, EsnId, IntegId, PrfId};
use std::collections::HashSet;

#[test]
fn one_row_per_kind_id_and_key_size() {
    let mut seen = HashSet::new();
    for a in ALGORITHMS {
        assert!(
            seen.insert((a.kind, a.id, a.key_bits)),
            "duplicate row {a:?}"
        );
    }
}

#[test]
fn rows_of_one_id_agree_on_what_key_sizes_share() {
    // by_id answers with the first row: every other row of the ID must say the same.
    for a in ALGORITHMS {
        let first = by_id(a.kind, a.id).unwrap();
        assert_eq!(
            (first.name, first.iana_name, first.aead, first.wireshark_esp),
            (a.name, a.iana_name, a.aead, a.wireshark_esp),
            "{a:?}"
        );
        assert_eq!(first.key_bits.is_some(), a.key_bits.is_some(), "{a:?}");
    }
}

#[test]
fn every_keyword_is_unique_lowercase_and_finds_its_row() {
    let mut seen = HashSet::new();
    for a in ALGORITHMS {
        for kw in a.keywords {
            assert!(seen.insert(*kw), "keyword {kw} on two rows");
            assert_eq!(*kw, kw.to_ascii_lowercase());
            // `-` separates keywords and `keN_` names ADDKE rounds: neither may start a keyword.
            assert!(!kw.contains('-') && !kw.starts_with("ke"), "{kw}");
            assert_eq!(by_keyword(kw), Some(a));
            assert_eq!(by_keyword(&kw.to_ascii_uppercase()), Some(a));
        }
    }
    assert_eq!(by_keyword("blowfish"), None);
}

#[test]
fn every_display_name_finds_its_row() {
    for a in ALGORITHMS {
        assert_eq!(by_name(&a.display()), Some(a), "{}", a.display());
    }
    assert_eq!(by_name("AES_GCM_16-256").unwrap().key_bits, Some(256));
    assert_eq!(by_name("AES_GCM_16"), None, "key size missing");
    assert_eq!(by_name("AES_GCM_16-512"), None);
}

#[test]
fn names_match_strongswan() {
    assert_eq!(encr_name(20, Some(256)), "AES_GCM_16-256");
    assert_eq!(encr_name(12, Some(128)), "AES_CBC-128");
    assert_eq!(encr_name(28, None), "CHACHA20_POLY1305");
    assert_eq!(encr_name(999, Some(128)), "ENCR_999-128");
    assert_eq!(prf_name(6), "PRF_HMAC_SHA2_384");
    assert_eq!(prf_name(99), "PRF_99");
    assert_eq!(integ_name(12), "HMAC_SHA2_256_128");
    assert_eq!(integ_name(0), "NONE");
    assert_eq!(ke_name(KeMethod::CURVE25519), "CURVE_25519");
    assert_eq!(ke_name(KeMethod::ECP_256), "ECP_256");
    assert_eq!(ke_name(KeMethod::MODP_3072), "MODP_3072");
    assert_eq!(ke_name(KeMethod::ML_KEM_768), "ML_KEM_768");
    assert_eq!(ke_name(KeMethod(1036)), "KE_1036");
    assert_eq!(format!("{:?}", KeMethod::CURVE25519), "CURVE_25519");
    assert_eq!(format!("{}", KeMethod(1036)), "KeMethod(1036)");
    assert_eq!(KeMethod::ML_KEM_768.iana_name(), Some("ML-KEM-768"));
    assert_eq!(EncrId::AES_GCM_16.iana_name(), Some("ENCR_AES_GCM_16"));
}

#[test]
fn every_registry_constant_has_a_row() {
    let mut all: Vec<(AlgKind, u16)> = Vec::new();
    all.extend(EncrId::KNOWN.iter().map(|x| (AlgKind::Encr, x.0)));
    all.extend(PrfId::KNOWN.iter().map(|x| (AlgKind::Prf, x.0)));
    all.extend(IntegId::KNOWN.iter().map(|x| (AlgKind::Integ, x.0)));
    all.extend(KeMethod::KNOWN.iter().map(|x| (AlgKind::Ke, x.0)));
    all.extend(EsnId::KNOWN.iter().map(|x| (AlgKind::Esn, x.0)));
    for (kind, id) in &all {
        assert!(by_id(*kind, *id).is_some(), "{kind:?} {id} has no row");
    }
    // ...and every row has a constant, so code can name what the table supports.
    for a in ALGORITHMS {
        assert!(all.contains(&(a.kind, a.id)), "{a:?} has no constant");
    }
}

#[test]
fn kind_specific_fields_sit_on_their_kind() {
    for a in ALGORITHMS {
        assert_eq!(a.ke_data.is_some(), a.kind == AlgKind::Ke, "{a:?}");
        if a.kind != AlgKind::Encr {
            assert!(!a.aead && a.key_bits.is_none(), "{a:?}");
        }
        if matches!(a.kind, AlgKind::Prf | AlgKind::Ke | AlgKind::Esn) {
            assert!(
                a.wireshark_ike.is_none() && a.wireshark_esp.is_none(),
                "{a:?}"
            );
        }
        // Wireshark's IKEv2 names carry the key size: rows of one ID differ there.
        if let (Some(ws), Some(bits)) = (a.wireshark_ike, a.key_bits) {
            assert!(ws.contains(&bits.to_string()), "{a:?}");
        }
    }
}

#[test]
fn ke_data_lengths() {
    let len = |m: KeMethod| by_id(AlgKind::Ke, m.0).unwrap().ke_data.unwrap();
    let pair = |m| {
        let l = len(m);
        (l.initiator, l.responder)
    };
    assert_eq!(pair(KeMethod::ML_KEM_768), (1184, 1088));
    assert_eq!(pair(KeMethod::ML_KEM_1024), (1568, 1568));
    assert_eq!(pair(KeMethod::CURVE25519), (32, 32));
    assert_eq!(pair(KeMethod::MODP_2048), (256, 256));
    assert_eq!(pair(KeMethod::ECP_384), (96, 96));
}

#[test]
fn addke_only_rule_follows_the_data_length() {
    for a in ALGORITHMS {
        let fits = a.ke_data.is_none_or(|l| {
            l.initiator <= IKE_SA_INIT_MAX_KE_DATA && l.responder <= IKE_SA_INIT_MAX_KE_DATA
        });
        assert_eq!(a.allowed_in_ike_sa_init, fits, "{a:?}");
    }
    // A row built like the table's with Classic McEliece-sized data (mceliece348864: 261120-octet
    // public key, 96-octet ciphertext) is ADDKE-only; one octet over the limit on either side is
    // enough, the limit itself is not.
    assert!(!ke(99, ("x", "x"), &[], 261_120, 96).allowed_in_ike_sa_init);
    assert!(!ke(99, ("x", "x"), &[], 32, IKE_SA_INIT_MAX_KE_DATA + 1).allowed_in_ike_sa_init);
    assert!(
        ke(
            99,
            ("x", "x"),
            &[],
            IKE_SA_INIT_MAX_KE_DATA,
            IKE_SA_INIT_MAX_KE_DATA
        )
        .allowed_in_ike_sa_init
    );
    // Every method pqike has today fits (ML-KEM-1024's 1568 octets are the largest).
    assert!(ALGORITHMS.iter().all(|a| a.allowed_in_ike_sa_init));
}

#[test]
fn aead_flags() {
    assert!(is_aead(EncrId::AES_GCM_16.0));
    assert!(is_aead(EncrId::CHACHA20_POLY1305.0));
    assert!(!is_aead(EncrId::AES_CBC.0));
    assert!(!is_aead(999));
}
