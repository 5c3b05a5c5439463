//! Per-SA cryptographic context: one AEAD key or one AES-CBC + HMAC pair, built once at
//! installation and used in place on every packet (no allocation).
//!
//! Layout handled here (RFC 4303 §2): `SPI | Seq | IV | ciphertext | ICV`. The caller has
//! written the header and the padded plaintext; [`SaCipher::seal`] fills IV and ICV.

use crate::params::{EncrAlg, IntegAlg};
use aws_lc_rs::{aead, cipher, hmac};
use subtle::ConstantTimeEq;

/// ESP header: SPI and low 32 bits of the sequence number.
pub(crate) const ESP_HDR: usize = 8;

/// The crypto failed: bad ICV (or, for CBC, a ciphertext that is not whole blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenError;

enum Kind {
    /// RFC 4106 / RFC 7634: `nonce = salt(4) | IV(8)`, the IV is carried in the packet.
    Aead {
        key: aead::LessSafeKey,
        salt: [u8; 4],
    },
    /// RFC 3602 + RFC 4868: encrypt-then-MAC over header, IV and ciphertext. Boxed: the
    /// three AES key schedules and the HMAC state are much larger than an AEAD key.
    CbcHmac(Box<CbcHmac>),
}

struct CbcHmac {
    enc: cipher::EncryptingKey,
    /// Same key in ECB mode, to derive unpredictable IVs from the sequence number.
    iv_gen: cipher::EncryptingKey,
    dec: cipher::DecryptingKey,
    mac: hmac::Key,
    icv_len: usize,
}

/// One direction's cipher state.
pub(crate) struct SaCipher {
    kind: Kind,
}

impl SaCipher {
    /// Builds the context. Key lengths were checked by the caller.
    pub(crate) fn new(encr: EncrAlg, integ: IntegAlg, ekey: &[u8], ikey: &[u8]) -> Option<Self> {
        let kind = match encr {
            EncrAlg::AesGcm16 { .. } | EncrAlg::ChaCha20Poly1305 => {
                let alg = match encr {
                    EncrAlg::AesGcm16 { key_bits: 128 } => &aead::AES_128_GCM,
                    EncrAlg::AesGcm16 { key_bits: 256 } => &aead::AES_256_GCM,
                    EncrAlg::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
                    _ => return None,
                };
                // KEYMAT = key | salt (RFC 4106 §8.1, RFC 7634 §2).
                let (k, s) = ekey.split_at(ekey.len().checked_sub(4)?);
                let key = aead::LessSafeKey::new(aead::UnboundKey::new(alg, k).ok()?);
                Kind::Aead {
                    key,
                    salt: s.try_into().ok()?,
                }
            }
            EncrAlg::AesCbc { key_bits } => {
                let alg = match key_bits {
                    128 => &cipher::AES_128,
                    192 => &cipher::AES_192,
                    256 => &cipher::AES_256,
                    _ => return None,
                };
                let unbound = || cipher::UnboundCipherKey::new(alg, ekey).ok();
                let mac_alg = match integ {
                    IntegAlg::HmacSha256_128 => hmac::HMAC_SHA256,
                    IntegAlg::HmacSha384_192 => hmac::HMAC_SHA384,
                    IntegAlg::HmacSha512_256 => hmac::HMAC_SHA512,
                    IntegAlg::None => return None,
                };
                Kind::CbcHmac(Box::new(CbcHmac {
                    enc: cipher::EncryptingKey::cbc(unbound()?).ok()?,
                    iv_gen: cipher::EncryptingKey::ecb(unbound()?).ok()?,
                    dec: cipher::DecryptingKey::cbc(unbound()?).ok()?,
                    mac: hmac::Key::new(mac_alg, ikey),
                    icv_len: integ.icv_len(),
                }))
            }
        };
        Some(Self { kind })
    }

    /// Octets of IV carried in each packet.
    pub(crate) fn iv_len(&self) -> usize {
        match self.kind {
            Kind::Aead { .. } => 8,
            Kind::CbcHmac(_) => 16,
        }
    }

    /// Octets of ICV.
    pub(crate) fn icv_len(&self) -> usize {
        match self.kind {
            Kind::Aead { .. } => 16,
            Kind::CbcHmac(ref c) => c.icv_len,
        }
    }

    /// Alignment of `payload | padding | pad length | next header` (RFC 4303 §2.4): the cipher
    /// block for CBC, 4 octets for the stream-like AEADs (RFC 4106 §3, RFC 7634 §3).
    pub(crate) fn align(&self) -> usize {
        match self.kind {
            Kind::Aead { .. } => 4,
            Kind::CbcHmac(_) => 16,
        }
    }

    /// Encrypts `pkt = hdr | IV(space) | plaintext | ICV(space)` in place. `seq` is the full
    /// 64-bit sequence number; `esn` says whether its high half is authenticated.
    ///
    /// IVs: for the AEADs the 64-bit sequence number itself, which is unique per key as RFC 4106
    /// §3.1 requires (a counter is explicitly allowed). For CBC, RFC 3602 §2.4 wants an
    /// unpredictable IV: we use `AES_K(label | seq)` (NIST SP 800-38A Appendix C, first method:
    /// the forward cipher under the same key applied to a nonce).
    pub(crate) fn seal(&self, seq: u64, esn: bool, pkt: &mut [u8]) -> Result<(), OpenError> {
        let iv_len = self.iv_len();
        let icv_len = self.icv_len();
        let body = ESP_HDR + iv_len;
        let icv_at = pkt.len().checked_sub(icv_len).ok_or(OpenError)?;
        if icv_at < body {
            return Err(OpenError);
        }
        match &self.kind {
            Kind::Aead { key, salt } => {
                let iv = seq.to_be_bytes();
                pkt[ESP_HDR..body].copy_from_slice(&iv);
                let (aad, len) = aead_aad(pkt, seq, esn);
                let (head, tail) = pkt.split_at_mut(icv_at);
                let tag = key
                    .seal_in_place_separate_tag(
                        aead_nonce(salt, &iv),
                        aead::Aad::from(&aad[..len]),
                        &mut head[body..],
                    )
                    .map_err(|_| OpenError)?;
                tail.copy_from_slice(tag.as_ref());
            }
            Kind::CbcHmac(c) => {
                let CbcHmac {
                    enc, iv_gen, mac, ..
                } = &**c;
                let mut iv = [0u8; 16];
                iv[..8].copy_from_slice(b"pqike-iv");
                iv[8..].copy_from_slice(&seq.to_be_bytes());
                iv_gen
                    .less_safe_encrypt(&mut iv, cipher::EncryptionContext::None)
                    .map_err(|_| OpenError)?;
                pkt[ESP_HDR..body].copy_from_slice(&iv);
                enc.less_safe_encrypt(
                    &mut pkt[body..icv_at],
                    cipher::EncryptionContext::Iv128((&iv).into()),
                )
                .map_err(|_| OpenError)?;
                let tag = cbc_mac(mac, &pkt[..icv_at], seq, esn);
                pkt[icv_at..].copy_from_slice(&tag.as_ref()[..icv_len]);
            }
        }
        Ok(())
    }

    /// Verifies and decrypts in place; on success the plaintext is at
    /// `pkt[ESP_HDR + iv_len .. len - icv_len]`. Nothing is decrypted if the ICV is wrong.
    pub(crate) fn open(&self, seq: u64, esn: bool, pkt: &mut [u8]) -> Result<(), OpenError> {
        let iv_len = self.iv_len();
        let icv_len = self.icv_len();
        let body = ESP_HDR + iv_len;
        let icv_at = pkt.len().checked_sub(icv_len).ok_or(OpenError)?;
        if icv_at < body {
            return Err(OpenError);
        }
        match &self.kind {
            Kind::Aead { key, salt } => {
                let mut iv = [0u8; 8];
                iv.copy_from_slice(&pkt[ESP_HDR..body]);
                let (aad, len) = aead_aad(pkt, seq, esn);
                key.open_in_place(
                    aead_nonce(salt, &iv),
                    aead::Aad::from(&aad[..len]),
                    &mut pkt[body..],
                )
                .map_err(|_| OpenError)?;
            }
            Kind::CbcHmac(c) => {
                let CbcHmac { dec, mac, .. } = &**c;
                let tag = cbc_mac(mac, &pkt[..icv_at], seq, esn);
                // Constant-time: the comparison must not tell a forger how many octets matched.
                if !bool::from(tag.as_ref()[..icv_len].ct_eq(&pkt[icv_at..])) {
                    return Err(OpenError);
                }
                let ct = &mut pkt[body..icv_at];
                if ct.is_empty() || ct.len() & 15 != 0 {
                    return Err(OpenError);
                }
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&pkt[ESP_HDR..body]);
                dec.decrypt(
                    &mut pkt[body..icv_at],
                    cipher::DecryptionContext::Iv128((&iv).into()),
                )
                .map_err(|_| OpenError)?;
            }
        }
        Ok(())
    }
}

fn aead_nonce(salt: &[u8; 4], iv: &[u8; 8]) -> aead::Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(iv);
    aead::Nonce::assume_unique_for_key(n)
}

/// RFC 4106 §5 (used unchanged by RFC 7634 §2.1): AAD = SPI | Seq (8 octets), or with ESN
/// SPI | Seq high | Seq low (12 octets).
fn aead_aad(pkt: &[u8], seq: u64, esn: bool) -> ([u8; 12], usize) {
    let mut aad = [0u8; 12];
    aad[..4].copy_from_slice(&pkt[..4]);
    if esn {
        aad[4..].copy_from_slice(&seq.to_be_bytes());
        (aad, 12)
    } else {
        aad[4..8].copy_from_slice(&pkt[4..8]);
        (aad, 8)
    }
}

/// RFC 4303 §2.2.1 / §3.3.2.1: with ESN the high 32 bits are appended after the Next Header
/// (i.e. after the ciphertext) for the ICV computation only; they are never sent.
fn cbc_mac(mac: &hmac::Key, covered: &[u8], seq: u64, esn: bool) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(mac);
    ctx.update(covered);
    if esn {
        ctx.update(&((seq >> 32) as u32).to_be_bytes());
    }
    ctx.sign()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7634 Appendix A: tunnel-mode ESP with ChaCha20-Poly1305, SPI 0x01020304, Seq 5,
    /// IV 0x1011121314151617; the plaintext is an ICMP echo request (84 octets) followed by
    /// padding 01 02, pad length 2 and next header 4.
    pub(crate) const RFC7634_KEYMAT: &str =
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3";
    pub(crate) const RFC7634_PLAINTEXT: &str = "45000054a6f200004001e778c6336405\
        c000020508005b7a3a080000553bec10000736270809\
        0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
        202122232425262728292a2b2c2d2e2f303132333435363701020204";
    pub(crate) const RFC7634_CT_TAG: &str = "24039428b97f417e3c13753a4f05087b\
        67c352e6a7fab1b982d466ef407ae5c614ee8099d52844eb61aa95dfab4c02f7\
        2aa71e7c4c4f64c9befe2facc638e8f3cbec163fac469b502773f6fb94e664da\
        9165b82829f641e076aaa8266b7fb0f7b11b369907e1ad43";

    #[test]
    fn rfc7634_appendix_a_seal_and_open() {
        let key = hex::decode(RFC7634_KEYMAT).unwrap();
        let c = SaCipher::new(EncrAlg::ChaCha20Poly1305, IntegAlg::None, &key, &[]).unwrap();
        let plain = hex::decode(RFC7634_PLAINTEXT).unwrap();
        let expect = hex::decode(RFC7634_CT_TAG).unwrap();
        assert_eq!(plain.len(), 88);
        // The RFC's IV is not the sequence number, so this checks the AEAD framing (salt,
        // nonce, AAD) directly with that IV.
        let Kind::Aead { key: k, salt } = &c.kind else {
            panic!()
        };
        let iv = hex::decode("1011121314151617").unwrap();
        let mut buf = plain.clone();
        let aad = hex::decode("0102030400000005").unwrap();
        let tag = k
            .seal_in_place_separate_tag(
                aead_nonce(salt, iv.as_slice().try_into().unwrap()),
                aead::Aad::from(&aad),
                &mut buf,
            )
            .unwrap();
        buf.extend_from_slice(tag.as_ref());
        assert_eq!(hex::encode(&buf), hex::encode(&expect));

        // And `open` on the full ESP packet as it appears on the wire.
        let mut pkt = hex::decode("0102030400000005").unwrap();
        pkt.extend_from_slice(&iv);
        pkt.extend_from_slice(&expect);
        c.open(5, false, &mut pkt).unwrap();
        assert_eq!(&pkt[16..16 + 88], &plain[..]);
    }

    #[test]
    fn cbc_hmac_round_trip_and_tamper() {
        for (bits, integ) in [
            (128, IntegAlg::HmacSha256_128),
            (192, IntegAlg::HmacSha384_192),
            (256, IntegAlg::HmacSha512_256),
        ] {
            let ek = vec![7u8; bits / 8];
            let ik = vec![9u8; integ.key_len()];
            let c = SaCipher::new(
                EncrAlg::AesCbc {
                    key_bits: bits as u16,
                },
                integ,
                &ek,
                &ik,
            )
            .unwrap();
            for esn in [false, true] {
                let mut pkt = vec![0u8; 8 + 16 + 32 + integ.icv_len()];
                pkt[..8].copy_from_slice(&[1, 2, 3, 4, 0, 0, 0, 9]);
                for (i, b) in pkt[24..56].iter_mut().enumerate() {
                    *b = i as u8;
                }
                let seq = (1u64 << 32) | 9;
                c.seal(seq, esn, &mut pkt).unwrap();
                assert_ne!(&pkt[24..56], &(0..32u8).collect::<Vec<_>>()[..]);
                let mut bad = pkt.clone();
                bad[30] ^= 1;
                assert_eq!(c.open(seq, esn, &mut bad), Err(OpenError));
                if esn {
                    // The high half is authenticated although it is not sent.
                    let mut other = pkt.clone();
                    assert_eq!(c.open(9, esn, &mut other), Err(OpenError));
                }
                c.open(seq, esn, &mut pkt).unwrap();
                assert_eq!(&pkt[24..56], &(0..32u8).collect::<Vec<_>>()[..]);
            }
        }
    }
}
