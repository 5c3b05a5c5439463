//! SK / SKF protection with one key generation of an IKE SA (RFC 7296 §3.14, RFC 7383 §2.5).
//!
//! Sending: the inner payloads are encoded once; if the SK message would not fit in one datagram
//! (and fragmentation was negotiated) the plaintext is cut into SKF fragments, each padded, given a
//! fresh IV and sealed on its own. Receiving: each SK/SKF body is opened (ICV checked) on its own;
//! fragment reassembly happens on the plaintexts ([`super::fragment`]).
use crate::keymat::IkeKeys;
use crate::notify::IkeError;
use pqike_crypto::{CryptoProvider, SecureRandom, SkCipher};
use pqike_wire::{
    decode_payload_chain, locate_encrypted, sk_layout, EncryptedLocation, Header, Payload,
    PayloadType, IKE_HEADER_LEN,
};
use zeroize::Zeroizing;

/// SKF header: generic header (4) + Fragment Number (2) + Total Fragments (2) (RFC 7383 §2.5).
const SKF_HEADER_LEN: usize = 8;
/// SK generic header.
const SK_HEADER_LEN: usize = 4;

/// The negotiated IKE SA algorithms (transform IDs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IkeAlgs {
    pub encr: u16,
    pub key_bits: Option<u16>,
    pub integ: u16,
    pub prf: u16,
}

/// SK_d, SK_pi and SK_pr of one key generation (RFC 7296 §2.14). Immutable once derived: an
/// RFC 8784 PPK mix makes a new value (`ppk::apply`) instead of editing this one, so the
/// non-PPK generation stays intact for NO_PPK_AUTH.
pub(crate) struct PrfKeys {
    pub sk_d: Zeroizing<Vec<u8>>,
    pub sk_pi: Zeroizing<Vec<u8>>,
    pub sk_pr: Zeroizing<Vec<u8>>,
}

/// One generation of IKE SA keys: the PRF keys and the two directions' SK ciphers.
pub(crate) struct SaKeys {
    pub prf: std::sync::Arc<PrfKeys>,
    /// Protects what we send.
    pub out: Box<dyn SkCipher>,
    /// Opens what we receive.
    pub inp: Box<dyn SkCipher>,
}

impl SaKeys {
    /// Build the ciphers from derived keys. The initiator sends with SK_ei/SK_ai, the responder with
    /// SK_er/SK_ar (RFC 7296 §2.14).
    pub fn new(
        crypto: &dyn CryptoProvider,
        algs: IkeAlgs,
        keys: IkeKeys,
        initiator: bool,
    ) -> Result<SaKeys, IkeError> {
        let i = crypto.sk_cipher(
            algs.encr,
            algs.key_bits,
            algs.integ,
            &keys.sk_ei,
            &keys.sk_ai,
        )?;
        let r = crypto.sk_cipher(
            algs.encr,
            algs.key_bits,
            algs.integ,
            &keys.sk_er,
            &keys.sk_ar,
        )?;
        let (out, inp) = if initiator { (i, r) } else { (r, i) };
        Ok(SaKeys {
            prf: std::sync::Arc::new(PrfKeys {
                sk_d: keys.sk_d,
                sk_pi: keys.sk_pi,
                sk_pr: keys.sk_pr,
            }),
            out,
            inp,
        })
    }
}

/// Pad `data` for a cipher with block length `block` and append the Pad Length octet
/// (RFC 7296 §3.14: padding makes plaintext + Pad Length a multiple of the block size).
fn pad(data: &[u8], block: usize) -> Vec<u8> {
    let block = block.max(1);
    let pad_len = (block - (data.len() + 1) % block) % block;
    let mut out = Vec::with_capacity(data.len() + pad_len + 1);
    out.extend_from_slice(data);
    out.resize(data.len() + pad_len, 0);
    // pad_len < block <= 255 for every cipher the provider offers.
    out.push(u8::try_from(pad_len).unwrap_or(0));
    out
}

/// Fragment if needed and seal the encoded inner payload chain (`first_inner`, `inner`).
/// `max_len` is the largest IKE message (without IP/UDP headers or non-ESP marker) we may send in
/// one datagram; `None` = never fragment. Returns one datagram (SK) or several (SKF), without
/// any framing.
pub(crate) fn seal_message(
    cipher: &dyn SkCipher,
    rng: &dyn SecureRandom,
    header: &Header,
    first_inner: PayloadType,
    inner: &[u8],
    max_len: Option<usize>,
) -> Result<Vec<Vec<u8>>, IkeError> {
    let iv_len = cipher.iv_len();
    let icv_len = cipher.icv_len();
    let block = cipher.block_len().max(1);
    let whole = IKE_HEADER_LEN + SK_HEADER_LEN + iv_len + pad(inner, block).len() + icv_len;
    let mut packets = Vec::new();
    match max_len {
        Some(max) if whole > max => {
            // RFC 7383 §2.5.3: every fragment carries its own IV, padding and ICV.
            let room = max.saturating_sub(IKE_HEADER_LEN + SKF_HEADER_LEN + iv_len + icv_len);
            let chunk = (room / block * block).saturating_sub(1);
            if chunk == 0 {
                return Err(IkeError::Config(format!("fragment size {max} too small")));
            }
            let total = inner.len().div_ceil(chunk);
            let total = u16::try_from(total).map_err(|_| {
                IkeError::Config(format!(
                    "message of {} octets needs too many fragments",
                    inner.len()
                ))
            })?;
            for (i, part) in inner.chunks(chunk).enumerate() {
                // i < total <= u16::MAX.
                let number = u16::try_from(i + 1).unwrap_or(u16::MAX);
                // RFC 7383 §2.5: only the first fragment names the first inner payload.
                let next = if number == 1 {
                    first_inner
                } else {
                    PayloadType::NONE
                };
                packets.push(seal_one(
                    cipher,
                    rng,
                    header,
                    next,
                    Some((number, total)),
                    &pad(part, block),
                )?);
            }
        }
        _ => packets.push(seal_one(
            cipher,
            rng,
            header,
            first_inner,
            None,
            &pad(inner, block),
        )?),
    }
    Ok(packets)
}

fn seal_one(
    cipher: &dyn SkCipher,
    rng: &dyn SecureRandom,
    header: &Header,
    next: PayloadType,
    fragment: Option<(u16, u16)>,
    plaintext: &[u8],
) -> Result<Vec<u8>, IkeError> {
    let (mut buf, layout) = sk_layout(
        header,
        next,
        fragment,
        cipher.iv_len(),
        plaintext,
        cipher.icv_len(),
    )?;
    // A random IV per message: unique with overwhelming probability for the 64-bit GCM/ChaCha IVs
    // within the few messages an IKE SA protects, and unpredictable as CBC requires (RFC 7296 §3.14).
    let iv = buf
        .get_mut(layout.iv_offset..layout.plaintext_offset)
        .ok_or_else(|| IkeError::Config("SK layout out of range".into()))?;
    rng.fill(iv)?;
    cipher.seal(&mut buf, layout.iv_offset)?;
    Ok(buf)
}

/// An opened SK or SKF payload.
pub(crate) struct Opened {
    pub loc: EncryptedLocation,
    /// Decrypted plaintext without IV, padding, Pad Length and ICV.
    pub inner: Vec<u8>,
    /// The unencrypted payload bytes between the IKE header and the SK(F) payload.
    pub unencrypted: Vec<u8>,
}

/// Authenticate and decrypt the SK/SKF payload of a received message.
pub(crate) fn open_message(cipher: &dyn SkCipher, buf: &[u8]) -> Result<Opened, IkeError> {
    let loc = locate_encrypted(buf)?;
    if loc.end != buf.len() {
        return Err(IkeError::Syntax(
            "encrypted payload does not end the message".into(),
        ));
    }
    let mut b = buf.to_vec();
    cipher.open(&mut b, loc.iv_offset)?;
    let start = loc.iv_offset + cipher.iv_len();
    let end = b
        .len()
        .checked_sub(cipher.icv_len())
        .ok_or(IkeError::Syntax("SK payload too short".into()))?;
    let pt = b
        .get(start..end)
        .ok_or_else(|| IkeError::Syntax("SK payload too short".into()))?;
    let (&pad_len, rest) = pt
        .split_last()
        .ok_or_else(|| IkeError::Syntax("empty SK plaintext".into()))?;
    let keep = rest
        .len()
        .checked_sub(usize::from(pad_len))
        .ok_or_else(|| IkeError::Syntax("SK pad length exceeds plaintext".into()))?;
    let inner = rest[..keep].to_vec();
    let unencrypted = buf
        .get(IKE_HEADER_LEN..loc.payload_offset)
        .ok_or_else(|| IkeError::Syntax("encrypted payload inside the header".into()))?
        .to_vec();
    Ok(Opened {
        loc,
        inner,
        unencrypted,
    })
}

/// Decode the inner payload chain.
pub(crate) fn decode_inner(first: PayloadType, inner: &[u8]) -> Result<Vec<Payload>, IkeError> {
    Ok(decode_payload_chain(first, inner)?)
}

#[cfg(test)]
mod tests {
    use super::pad;

    #[test]
    fn padding_fills_blocks() {
        assert_eq!(pad(&[1, 2, 3], 1), vec![1, 2, 3, 0]);
        let p = pad(&[7; 20], 16);
        assert_eq!(p.len(), 32);
        assert_eq!(*p.last().unwrap(), 11);
        assert_eq!(pad(&[7; 15], 16).len(), 16);
    }
}
