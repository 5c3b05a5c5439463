//! Finite-field Diffie-Hellman over the RFC 3526 MODP groups 14 and 15 (generator 2).
//!
//! aws-lc-rs has no finite-field DH in its safe API, so the arithmetic is done here with
//! crypto-bigint's constant-time Montgomery exponentiation (the exponent is secret).
use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};
use zeroize::{Zeroize, Zeroizing};

use super::modp_primes::{MODP_2048, MODP_3072};
use super::KeySource;
use crate::{ActiveKeyExchange, CryptoError, KeyExchange, SharedSecret};

/// Bits of the private exponent. RFC 3526 §8 estimates 320 (group 14) and 420 (group 15) bits as
/// sufficient; 512 covers both with margin while keeping the exponentiation fast.
const EXPONENT_BITS: u32 = 512;

/// A MODP group.
#[derive(Clone)]
pub(crate) struct ModpGroup {
    id: u16,
    prime: &'static [u8],
    params: BoxedMontyParams,
    /// Where private exponents come from.
    source: KeySource,
}

impl ModpGroup {
    fn new(id: u16, prime: &'static [u8], source: KeySource) -> Self {
        let bits = (prime.len() * 8) as u32;
        let p = BoxedUint::from_be_slice(prime, bits).expect("prime fits its own precision");
        let p = Option::from(Odd::new(p)).expect("RFC 3526 primes are odd");
        ModpGroup {
            id,
            prime,
            params: BoxedMontyParams::new(p),
            source,
        }
    }

    /// Group 14: 2048-bit MODP.
    pub(crate) fn modp2048(source: KeySource) -> Self {
        Self::new(14, &MODP_2048, source)
    }

    /// Group 15: 3072-bit MODP.
    pub(crate) fn modp3072(source: KeySource) -> Self {
        Self::new(15, &MODP_3072, source)
    }

    fn len(&self) -> usize {
        self.prime.len()
    }

    fn bits(&self) -> u32 {
        (self.len() * 8) as u32
    }

    fn generate(&self) -> Result<KeyPair, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; (EXPONENT_BITS / 8) as usize]);
        self.source.fill(&mut bytes[..])?;
        let exponent = BoxedUint::from_be_slice(&bytes[..], EXPONENT_BITS)
            .map_err(|_| CryptoError::Internal)?;
        let two = BoxedMontyForm::new(
            BoxedUint::from_be_slice(&[2], self.bits()).map_err(|_| CryptoError::Internal)?,
            &self.params,
        );
        let public = two.pow(&exponent).retrieve();
        Ok(KeyPair {
            exponent,
            public: self.encode(&public),
        })
    }

    /// Big-endian, left-padded to the prime length (RFC 7296 §3.4 for the public value, §2.14
    /// for g^ir).
    fn encode(&self, value: &BoxedUint) -> Vec<u8> {
        let bytes = value.to_be_bytes();
        let mut out = vec![0u8; self.len()];
        // `to_be_bytes` is exactly the precision (= prime length) but stay robust.
        let take = bytes.len().min(out.len());
        out[self.len() - take..].copy_from_slice(&bytes[bytes.len() - take..]);
        out
    }

    /// Check the peer's public value: exact length and 1 < y < p-1 (rejects the degenerate
    /// values 0, 1 and p-1 that would force the shared secret into a subgroup of order <= 2).
    fn validate_peer(&self, peer: &[u8]) -> Result<(), CryptoError> {
        if peer.len() != self.len() {
            return Err(CryptoError::InvalidPeerKey(
                "MODP public value has the wrong length",
            ));
        }
        // Public data: a variable-time comparison is fine. Equal-length big-endian strings
        // compare numerically like they compare lexicographically.
        let (last, rest) = peer.split_last().expect("non-empty");
        if rest.iter().all(|&b| b == 0) && *last <= 1 {
            return Err(CryptoError::InvalidPeerKey("MODP public value is 0 or 1"));
        }
        let mut p_minus_1 = self.prime.to_vec();
        // The RFC 3526 primes end in 0xff, so p-1 only changes the last octet.
        *p_minus_1.last_mut().expect("non-empty") -= 1;
        if peer >= &p_minus_1[..] {
            return Err(CryptoError::InvalidPeerKey("MODP public value is >= p-1"));
        }
        Ok(())
    }

    fn agree(&self, exponent: &BoxedUint, peer: &[u8]) -> Result<SharedSecret, CryptoError> {
        self.validate_peer(peer)?;
        let y = BoxedUint::from_be_slice(peer, self.bits())
            .map_err(|_| CryptoError::InvalidPeerKey("MODP public value does not fit"))?;
        let y = BoxedMontyForm::new(y, &self.params);
        let mut secret = y.pow(exponent).retrieve();
        let out = SharedSecret(Zeroizing::new(self.encode(&secret)));
        secret.zeroize();
        Ok(out)
    }
}

impl KeyExchange for ModpGroup {
    fn id(&self) -> u16 {
        self.id
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        Ok(Box::new(ModpActive {
            group: self.clone(),
            keys: self.generate()?,
        }))
    }

    fn respond(&self, peer_data: &[u8]) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        // Validate before spending an exponentiation on our own key pair.
        self.validate_peer(peer_data)?;
        let ours = self.generate()?;
        let secret = self.agree(&ours.exponent, peer_data)?;
        Ok((ours.public.clone(), secret))
    }
}

/// A private exponent and its public value; the exponent is wiped on drop.
struct KeyPair {
    exponent: BoxedUint,
    public: Vec<u8>,
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        self.exponent.zeroize();
    }
}

/// An initiator's key pair (owns a copy of the group parameters).
struct ModpActive {
    group: ModpGroup,
    keys: KeyPair,
}

impl ActiveKeyExchange for ModpActive {
    fn public_data(&self) -> &[u8] {
        &self.keys.public
    }

    fn complete(self: Box<Self>, peer_data: &[u8]) -> Result<SharedSecret, CryptoError> {
        self.group.agree(&self.keys.exponent, peer_data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_match_rfc3526_and_pass_fermat() {
        for group in [
            ModpGroup::modp2048(KeySource::Library),
            ModpGroup::modp3072(KeySource::Library),
        ] {
            // RFC 3526: every prime starts FFFFFFFF FFFFFFFF C90FDAA2 and ends FFFFFFFF FFFFFFFF.
            assert_eq!(
                &group.prime[..12],
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc9, 0x0f, 0xda, 0xa2]
            );
            assert_eq!(&group.prime[group.len() - 8..], &[0xff; 8]);
            // Fermat: 2^(p-1) = 1 mod p (a typo in the constant would break this).
            let mut pm1 = group.prime.to_vec();
            *pm1.last_mut().unwrap() -= 1;
            let e = BoxedUint::from_be_slice(&pm1, group.bits()).unwrap();
            let two = BoxedMontyForm::new(
                BoxedUint::from_be_slice(&[2], group.bits()).unwrap(),
                &group.params,
            );
            let r = group.encode(&two.pow(&e).retrieve());
            let mut one = vec![0u8; group.len()];
            *one.last_mut().unwrap() = 1;
            assert_eq!(r, one);
        }
        assert_eq!(&MODP_2048[244..248], &[0x8a, 0xac, 0xaa, 0x68]);
        assert_eq!(&MODP_3072[372..376], &[0xa9, 0x3a, 0xd2, 0xca]);
    }

    #[test]
    fn degenerate_public_values_rejected() {
        let g = ModpGroup::modp2048(KeySource::Library);
        let mut v = vec![0u8; 256];
        assert!(matches!(g.respond(&v), Err(CryptoError::InvalidPeerKey(_))));
        v[255] = 1;
        assert!(matches!(g.respond(&v), Err(CryptoError::InvalidPeerKey(_))));
        v[255] = 2;
        assert!(g.respond(&v).is_ok());
        let mut pm1 = MODP_2048.to_vec();
        pm1[255] -= 1;
        assert!(matches!(
            g.respond(&pm1),
            Err(CryptoError::InvalidPeerKey(_))
        ));
        assert!(matches!(
            g.respond(&MODP_2048),
            Err(CryptoError::InvalidPeerKey(_))
        ));
        assert!(matches!(
            g.respond(&[0xff; 256]),
            Err(CryptoError::InvalidPeerKey(_))
        ));
        assert!(matches!(
            g.respond(&v[..255]),
            Err(CryptoError::InvalidPeerKey(_))
        ));
    }
}
