//! strongSwan-style algorithm names for status output and logs (as `swanctl --list-sas` prints
//! them), so that pqike's and strongSwan's status lines can be compared side by side.
//! Unknown IDs print as `<REGISTRY>_<id>` instead of failing.
use pqike_wire::KeMethod;

/// ENCR name with the key size appended: "AES_GCM_16-256", "AES_CBC-128", "CHACHA20_POLY1305".
pub fn encr_name(id: u16, key_bits: Option<u16>) -> String {
    let base = match id {
        3 => "3DES",
        11 => "NULL",
        12 => "AES_CBC",
        13 => "AES_CTR",
        14 => "AES_CCM_8",
        15 => "AES_CCM_12",
        16 => "AES_CCM_16",
        18 => "AES_GCM_8",
        19 => "AES_GCM_12",
        20 => "AES_GCM_16",
        21 => "NULL_AES_GMAC",
        23 => "CAMELLIA_CBC",
        24 => "CAMELLIA_CTR",
        25 => "CAMELLIA_CCM_8",
        26 => "CAMELLIA_CCM_12",
        27 => "CAMELLIA_CCM_16",
        28 => "CHACHA20_POLY1305",
        _ => return with_bits(format!("ENCR_{id}"), key_bits),
    };
    with_bits(base.to_owned(), key_bits)
}

fn with_bits(name: String, key_bits: Option<u16>) -> String {
    match key_bits {
        Some(b) => format!("{name}-{b}"),
        None => name,
    }
}

/// PRF name: "PRF_HMAC_SHA2_384".
pub fn prf_name(id: u16) -> String {
    match id {
        1 => "PRF_HMAC_MD5".into(),
        2 => "PRF_HMAC_SHA1".into(),
        4 => "PRF_AES128_XCBC".into(),
        5 => "PRF_HMAC_SHA2_256".into(),
        6 => "PRF_HMAC_SHA2_384".into(),
        7 => "PRF_HMAC_SHA2_512".into(),
        8 => "PRF_AES128_CMAC".into(),
        _ => format!("PRF_{id}"),
    }
}

/// INTEG name: "HMAC_SHA2_256_128".
pub fn integ_name(id: u16) -> String {
    match id {
        0 => "NONE".into(),
        1 => "HMAC_MD5_96".into(),
        2 => "HMAC_SHA1_96".into(),
        5 => "AES_XCBC_96".into(),
        8 => "AES_CMAC_96".into(),
        12 => "HMAC_SHA2_256_128".into(),
        13 => "HMAC_SHA2_384_192".into(),
        14 => "HMAC_SHA2_512_256".into(),
        _ => format!("INTEG_{id}"),
    }
}

/// Key exchange method name: "CURVE_25519", "ECP_256", "MODP_3072", "ML_KEM_768".
pub fn ke_name(m: KeMethod) -> String {
    match m.0 {
        0 => "KE_NONE".into(),
        1 => "MODP_768".into(),
        2 => "MODP_1024".into(),
        5 => "MODP_1536".into(),
        14 => "MODP_2048".into(),
        15 => "MODP_3072".into(),
        16 => "MODP_4096".into(),
        17 => "MODP_6144".into(),
        18 => "MODP_8192".into(),
        19 => "ECP_256".into(),
        20 => "ECP_384".into(),
        21 => "ECP_521".into(),
        22 => "MODP_1024_160".into(),
        23 => "MODP_2048_224".into(),
        24 => "MODP_2048_256".into(),
        25 => "ECP_192".into(),
        26 => "ECP_224".into(),
        27 => "ECP_224_BP".into(),
        28 => "ECP_256_BP".into(),
        29 => "ECP_384_BP".into(),
        30 => "ECP_512_BP".into(),
        31 => "CURVE_25519".into(),
        32 => "CURVE_448".into(),
        35 => "ML_KEM_512".into(),
        36 => "ML_KEM_768".into(),
        37 => "ML_KEM_1024".into(),
        id => format!("KE_{id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_strongswan() {
        assert_eq!(encr_name(20, Some(256)), "AES_GCM_16-256");
        assert_eq!(encr_name(12, Some(128)), "AES_CBC-128");
        assert_eq!(encr_name(28, None), "CHACHA20_POLY1305");
        assert_eq!(encr_name(999, Some(128)), "ENCR_999-128");
        assert_eq!(prf_name(6), "PRF_HMAC_SHA2_384");
        assert_eq!(integ_name(12), "HMAC_SHA2_256_128");
        assert_eq!(ke_name(KeMethod::CURVE25519), "CURVE_25519");
        assert_eq!(ke_name(KeMethod::ECP_256), "ECP_256");
        assert_eq!(ke_name(KeMethod::MODP_3072), "MODP_3072");
        assert_eq!(ke_name(KeMethod::ML_KEM_768), "ML_KEM_768");
        assert_eq!(ke_name(KeMethod(1036)), "KE_1036");
    }
}
