//! Postquantum preshared keys: RFC 8784 (PPK mixed into SK_d/SK_pi/SK_pr at IKE_AUTH) and the
//! building blocks RFC 9867 reuses (PPK_ID encoding, the PPK confirmation value).
//!
//! The exchange logic lives in `tasks::ike_auth` (RFC 8784) and `pqauth` (IKE_SA_INIT notifies);
//! this module holds the pure parts: wire format of PPK_IDENTITY, the PPK lookup, and the key
//! update with the saved non-PPK keys for NO_PPK_AUTH and the fallback.
use crate::exchange::protect::PrfKeys;
use crate::keymat::prf_plus;
use crate::notify::IkeError;
use crate::sa_data::SaData;
use crate::Credentials;
use pqike_crypto::Prf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// PPK_ID types (RFC 8784 §3, IANA "IKEv2 PPK_ID Types").
pub(crate) const PPK_ID_OPAQUE: u8 = 1;
/// A PPK_ID the peers agreed on out of band (what configured ids are sent as).
pub(crate) const PPK_ID_FIXED: u8 = 2;

/// PPK_IDENTITY notify data: PPK_ID Type (1) | PPK_ID (RFC 8784 §3).
pub(crate) fn identity_data(ppk_id: &str) -> Vec<u8> {
    let mut d = Vec::with_capacity(1 + ppk_id.len());
    d.push(PPK_ID_FIXED);
    d.extend_from_slice(ppk_id.as_bytes());
    d
}

/// The PPK_ID of a PPK_IDENTITY notify. Both defined types identify the PPK by its octets; the
/// private range (128-255) and unassigned types are refused since we cannot know their meaning.
pub(crate) fn parse_identity(data: &[u8]) -> Result<&[u8], IkeError> {
    match data.split_first() {
        Some((&t, id)) if (t == PPK_ID_FIXED || t == PPK_ID_OPAQUE) && !id.is_empty() => Ok(id),
        Some((&t, _)) if t != PPK_ID_FIXED && t != PPK_ID_OPAQUE => Err(IkeError::AuthFailed(
            format!("unsupported PPK_ID type {t} in PPK_IDENTITY"),
        )),
        _ => Err(IkeError::AuthFailed("empty PPK_IDENTITY".into())),
    }
}

/// Printable form of a PPK_ID for logs (ids are usually ASCII names).
pub(crate) fn display_id(id: &[u8]) -> String {
    match std::str::from_utf8(id) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => format!("0x{}", crate::hexfmt::hex(id)),
    }
}

/// The secret of a PPK_ID.
pub(crate) fn find<'a>(creds: &'a Credentials, id: &[u8]) -> Option<&'a [u8]> {
    creds
        .ppks
        .iter()
        .find(|(i, _)| i.as_slice() == id)
        .map(|(_, k)| k.as_slice())
}

/// `prf+(PPK, key)` truncated to the key's own length (RFC 8784 §3: SK_d' / SK_pi' / SK_pr').
pub(crate) fn mix(prf: &dyn Prf, ppk: &[u8], key: &[u8]) -> Zeroizing<Vec<u8>> {
    prf_plus(prf, ppk, &[key], key.len())
}

/// PPK confirmation (RFC 9867 §3.1): the first 64 bits of prf(PPK, Ni | Nr | SPIi | SPIr).
pub(crate) fn confirmation(
    prf: &dyn Prf,
    ppk: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
) -> [u8; 8] {
    let full = prf.compute(ppk, &[ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()]);
    let mut out = [0u8; 8];
    out.copy_from_slice(&full[..8]);
    out
}

/// RFC 8784 §3: the PPK-mixed key generation (SK_d, SK_pi, SK_pr replaced by prf+(PPK, ...);
/// SK_e*/SK_a* stay, so IKE_AUTH itself is still protected by the non-PPK keys) becomes the
/// SA's current one. Returns the non-PPK generation, untouched, for a NO_PPK_AUTH outcome.
pub(crate) fn apply(sa: &mut SaData, prf: &dyn Prf, ppk: &[u8]) -> Result<Arc<PrfKeys>, IkeError> {
    let keys = sa
        .keys
        .as_mut()
        .ok_or(IkeError::Internal("PPK before the IKE SA keys"))?;
    let mixed = Arc::new(PrfKeys {
        sk_d: mix(prf, ppk, &keys.prf.sk_d),
        sk_pi: mix(prf, ppk, &keys.prf.sk_pi),
        sk_pr: mix(prf, ppk, &keys.prf.sk_pr),
    });
    Ok(std::mem::replace(&mut keys.prf, mixed))
}

/// Make `generation` (the non-PPK one `apply` returned) current again: the responder
/// authenticated us with NO_PPK_AUTH.
pub(crate) fn restore(sa: &mut SaData, generation: Arc<PrfKeys>) {
    if let Some(keys) = sa.keys.as_mut() {
        keys.prf = generation;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymat::test_prf::HmacPrf;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn mix_is_prf_plus_with_the_ppk_as_key() {
        // Python: hmac.new(bytes(range(32)), b"\xaa"*32 + b"\x01", sha256)
        let ppk: Vec<u8> = (0..32).collect();
        let out = mix(&HmacPrf(5), &ppk, &[0xaa; 32]);
        assert_eq!(
            &out[..],
            &unhex("d507efb39511861538d13aa910123fdd55838df0b27ae5ba46ec9a59401638f8")[..]
        );
        // Output length follows the input key, whatever the PRF block size.
        assert_eq!(mix(&HmacPrf(5), &ppk, &[1; 48]).len(), 48);
    }

    #[test]
    fn confirmation_is_64_bits_of_prf_over_nonces_and_spis() {
        let ppk: Vec<u8> = (0..32).collect();
        let c = confirmation(
            &HmacPrf(5),
            &ppk,
            &[0x11; 32],
            &[0x22; 32],
            0x0102030405060708,
            0x1112131415161718,
        );
        assert_eq!(&c[..], &unhex("f1f3c39573457e2e")[..]);
    }

    #[test]
    fn identity_wire_format() {
        assert_eq!(identity_data("lab-ppk"), b"\x02lab-ppk".to_vec());
        assert_eq!(parse_identity(b"\x02lab-ppk").unwrap(), b"lab-ppk");
        assert_eq!(parse_identity(b"\x01\xff\x00").unwrap(), b"\xff\x00");
        assert!(parse_identity(b"").is_err());
        assert!(parse_identity(b"\x02").is_err());
        assert!(parse_identity(b"\x80abc").is_err());
        assert_eq!(display_id(b"lab-ppk"), "lab-ppk");
        assert_eq!(display_id(b"\x00\x01"), "0x0001");
    }
}
