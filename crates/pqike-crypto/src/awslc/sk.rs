//! SK / SKF payload protection (RFC 7296 §3.14): AEAD ciphers (AES-GCM-16 per RFC 5282,
//! ChaCha20-Poly1305 per RFC 7634) and AES-CBC with a truncated-HMAC integrity transform.
//!
//! Buffer layout for both `seal` and `open` (see [`SkCipher`]):
//! `AAD = buf[..iv_offset] | IV (iv_len) | plaintext or ciphertext | ICV (icv_len)`.
use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use crate::{ct_eq, CryptoError, SkCipher};

/// ENCR_AES_CBC.
pub(crate) const ENCR_AES_CBC: u16 = 12;
/// ENCR_AES_GCM_16.
pub(crate) const ENCR_AES_GCM_16: u16 = 20;
/// ENCR_CHACHA20_POLY1305.
pub(crate) const ENCR_CHACHA20_POLY1305: u16 = 28;

/// AEAD salt length (RFC 5282 §7.1, RFC 7634 §2).
const SALT_LEN: usize = 4;
/// AEAD IV on the wire (RFC 5282 §3.1, RFC 7634 §2).
const AEAD_IV_LEN: usize = 8;
/// AEAD tag length: the "-16" ICV variant and Poly1305.
const AEAD_TAG_LEN: usize = 16;
/// AES block / CBC IV length.
const AES_BLOCK: usize = 16;

/// An integrity transform (RFC 7296 §3.3.2 type 3): HMAC with a truncated output.
#[derive(Clone, Copy)]
pub(crate) struct Integ {
    alg: hmac::Algorithm,
    key_len: usize,
    icv_len: usize,
}

impl Integ {
    /// The INTEG transforms we support: AUTH_HMAC_SHA1_96 (2, RFC 2404),
    /// AUTH_HMAC_SHA2_256_128 / 384_192 / 512_256 (12/13/14, RFC 4868).
    pub(crate) fn from_id(id: u16) -> Option<Integ> {
        Some(match id {
            2 => Integ {
                alg: hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
                key_len: 20,
                icv_len: 12,
            },
            12 => Integ {
                alg: hmac::HMAC_SHA256,
                key_len: 32,
                icv_len: 16,
            },
            13 => Integ {
                alg: hmac::HMAC_SHA384,
                key_len: 48,
                icv_len: 24,
            },
            14 => Integ {
                alg: hmac::HMAC_SHA512,
                key_len: 64,
                icv_len: 32,
            },
            _ => return None,
        })
    }
}

/// `(encryption key incl. salt, integrity key)` lengths, `None` for unsupported or invalid
/// combinations (AEAD + INTEG, CBC without INTEG, missing/odd key length).
pub(crate) fn key_lengths(encr: u16, key_bits: Option<u16>, integ: u16) -> Option<(usize, usize)> {
    match encr {
        ENCR_AES_GCM_16 => {
            let bits = key_bits?;
            if integ != 0 || !matches!(bits, 128 | 192 | 256) {
                return None;
            }
            Some((usize::from(bits) / 8 + SALT_LEN, 0))
        }
        ENCR_CHACHA20_POLY1305 => {
            // RFC 7634 §3: no Key Length attribute (tolerate an explicit 256).
            if integ != 0 || !matches!(key_bits, None | Some(256)) {
                return None;
            }
            Some((32 + SALT_LEN, 0))
        }
        ENCR_AES_CBC => {
            let bits = key_bits?;
            if !matches!(bits, 128 | 192 | 256) {
                return None;
            }
            let integ = Integ::from_id(integ)?;
            Some((usize::from(bits) / 8, integ.key_len))
        }
        _ => None,
    }
}

/// Build the cipher for one direction.
pub(crate) fn build(
    encr: u16,
    key_bits: Option<u16>,
    integ: u16,
    encr_key: &[u8],
    integ_key: &[u8],
) -> Result<Box<dyn SkCipher>, CryptoError> {
    let (encr_len, integ_len) = key_lengths(encr, key_bits, integ).ok_or_else(|| {
        CryptoError::Unsupported(format!(
            "SK cipher encr={encr} key_bits={key_bits:?} integ={integ}"
        ))
    })?;
    if encr_key.len() != encr_len || integ_key.len() != integ_len {
        return Err(CryptoError::Malformed(
            "SK key length does not match the transforms".into(),
        ));
    }
    match encr {
        ENCR_AES_GCM_16 | ENCR_CHACHA20_POLY1305 => {
            let alg = match (encr, encr_len - SALT_LEN) {
                (ENCR_CHACHA20_POLY1305, _) => &aead::CHACHA20_POLY1305,
                (_, 16) => &aead::AES_128_GCM,
                (_, 24) => &aead::AES_192_GCM,
                _ => &aead::AES_256_GCM,
            };
            Ok(Box::new(AeadCipher::new(alg, encr_key)?))
        }
        _ => {
            let integ = Integ::from_id(integ).ok_or(CryptoError::Internal)?;
            Ok(Box::new(CbcHmacCipher::new(encr_key, integ, integ_key)?))
        }
    }
}

/// The four regions of an SK buffer.
struct Layout<'a> {
    aad: &'a mut [u8],
    iv: &'a mut [u8],
    payload: &'a mut [u8],
    icv: &'a mut [u8],
}

/// Split `buf` into its regions, or `None` if it is too short for the layout.
fn split_layout(
    buf: &mut [u8],
    iv_offset: usize,
    iv_len: usize,
    icv_len: usize,
) -> Option<Layout<'_>> {
    let payload_start = iv_offset.checked_add(iv_len)?;
    let payload_end = buf.len().checked_sub(icv_len)?;
    if payload_start > payload_end {
        return None;
    }
    let (head, icv) = buf.split_at_mut(payload_end);
    let (head, payload) = head.split_at_mut(payload_start);
    let (aad, iv) = head.split_at_mut(iv_offset);
    Some(Layout {
        aad,
        iv,
        payload,
        icv,
    })
}

/// AES-GCM-16 or ChaCha20-Poly1305: nonce = salt (from the key material) | IV (from the wire).
struct AeadCipher {
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
}

impl AeadCipher {
    fn new(alg: &'static aead::Algorithm, key_material: &[u8]) -> Result<Self, CryptoError> {
        // RFC 5282 §7.1 / RFC 7634 §2: the last four octets of the keying material are the salt.
        let (key, salt) = key_material.split_at(key_material.len() - SALT_LEN);
        let key = UnboundKey::new(alg, key).map_err(|_| CryptoError::Internal)?;
        let mut s = [0u8; SALT_LEN];
        s.copy_from_slice(salt);
        Ok(AeadCipher {
            key: LessSafeKey::new(key),
            salt: s,
        })
    }

    fn nonce(&self, iv: &[u8]) -> Nonce {
        let mut n = [0u8; 12];
        n[..SALT_LEN].copy_from_slice(&self.salt);
        n[SALT_LEN..].copy_from_slice(iv);
        Nonce::assume_unique_for_key(n)
    }
}

impl SkCipher for AeadCipher {
    fn iv_len(&self) -> usize {
        AEAD_IV_LEN
    }

    fn block_len(&self) -> usize {
        1
    }

    fn icv_len(&self) -> usize {
        AEAD_TAG_LEN
    }

    fn seal(&self, buf: &mut [u8], iv_offset: usize) -> Result<(), CryptoError> {
        let Layout {
            aad,
            iv,
            payload,
            icv,
        } = split_layout(buf, iv_offset, AEAD_IV_LEN, AEAD_TAG_LEN)
            .ok_or_else(|| CryptoError::Malformed("buffer too short for the SK layout".into()))?;
        // RFC 5282 §5.1: the AAD is the IKE header through the SK payload header.
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(iv), Aad::from(&*aad), payload)
            .map_err(|_| CryptoError::Internal)?;
        icv.copy_from_slice(tag.as_ref());
        Ok(())
    }

    fn open(&self, buf: &mut [u8], iv_offset: usize) -> Result<(), CryptoError> {
        let Layout {
            aad,
            iv,
            payload,
            icv,
        } = split_layout(buf, iv_offset, AEAD_IV_LEN, AEAD_TAG_LEN)
            .ok_or(CryptoError::Integrity)?;
        self.key
            .open_in_place_separate_tag(self.nonce(iv), Aad::from(&*aad), icv, payload)
            .map_err(|_| CryptoError::Integrity)?;
        Ok(())
    }
}

/// AES-CBC + truncated HMAC (encrypt-then-MAC, RFC 7296 §3.14).
struct CbcHmacCipher {
    enc: EncryptingKey,
    dec: DecryptingKey,
    integ: Integ,
    mac_key: hmac::Key,
}

impl CbcHmacCipher {
    fn new(encr_key: &[u8], integ: Integ, integ_key: &[u8]) -> Result<Self, CryptoError> {
        let alg = match encr_key.len() {
            16 => &cipher::AES_128,
            24 => &cipher::AES_192,
            32 => &cipher::AES_256,
            _ => return Err(CryptoError::Malformed("AES key length".into())),
        };
        let unbound = || UnboundCipherKey::new(alg, encr_key).map_err(|_| CryptoError::Internal);
        Ok(CbcHmacCipher {
            enc: EncryptingKey::cbc(unbound()?).map_err(|_| CryptoError::Internal)?,
            dec: DecryptingKey::cbc(unbound()?).map_err(|_| CryptoError::Internal)?,
            integ,
            mac_key: hmac::Key::new(integ.alg, integ_key),
        })
    }

    /// Truncated HMAC over everything before the ICV (RFC 7296 §3.14: header through the
    /// encrypted data, after encryption).
    fn icv(&self, authenticated: &[u8]) -> hmac::Tag {
        hmac::sign(&self.mac_key, authenticated)
    }
}

fn iv_block(iv: &[u8]) -> Result<FixedLength<AES_BLOCK>, CryptoError> {
    FixedLength::<AES_BLOCK>::try_from(iv).map_err(|_| CryptoError::Internal)
}

impl SkCipher for CbcHmacCipher {
    fn iv_len(&self) -> usize {
        AES_BLOCK
    }

    fn block_len(&self) -> usize {
        AES_BLOCK
    }

    fn icv_len(&self) -> usize {
        self.integ.icv_len
    }

    fn seal(&self, buf: &mut [u8], iv_offset: usize) -> Result<(), CryptoError> {
        let icv_len = self.integ.icv_len;
        {
            let Layout { iv, payload, .. } = split_layout(buf, iv_offset, AES_BLOCK, icv_len)
                .ok_or_else(|| {
                    CryptoError::Malformed("buffer too short for the SK layout".into())
                })?;
            if payload.len() % AES_BLOCK != 0 {
                return Err(CryptoError::Malformed(
                    "CBC plaintext is not a multiple of 16".into(),
                ));
            }
            let ctx = EncryptionContext::Iv128(iv_block(iv)?);
            self.enc
                .less_safe_encrypt(payload, ctx)
                .map_err(|_| CryptoError::Internal)?;
        }
        let mac_end = buf.len() - icv_len;
        let tag = self.icv(&buf[..mac_end]);
        buf[mac_end..].copy_from_slice(&tag.as_ref()[..icv_len]);
        Ok(())
    }

    fn open(&self, buf: &mut [u8], iv_offset: usize) -> Result<(), CryptoError> {
        let icv_len = self.integ.icv_len;
        let mac_end = match buf.len().checked_sub(icv_len) {
            Some(end) if end >= iv_offset.saturating_add(AES_BLOCK) => end,
            _ => return Err(CryptoError::Integrity),
        };
        // Verify before decrypting (encrypt-then-MAC); constant-time comparison.
        let tag = self.icv(&buf[..mac_end]);
        if !ct_eq(&tag.as_ref()[..icv_len], &buf[mac_end..]) {
            return Err(CryptoError::Integrity);
        }
        let Layout { iv, payload, .. } =
            split_layout(buf, iv_offset, AES_BLOCK, icv_len).ok_or(CryptoError::Integrity)?;
        if payload.len() % AES_BLOCK != 0 {
            return Err(CryptoError::Integrity);
        }
        let ctx = DecryptionContext::Iv128(iv_block(iv)?);
        self.dec
            .decrypt(payload, ctx)
            .map_err(|_| CryptoError::Integrity)?;
        Ok(())
    }
}
