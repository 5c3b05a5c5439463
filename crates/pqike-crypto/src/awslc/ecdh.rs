//! Elliptic-curve Diffie-Hellman: Curve25519 (RFC 8031) and the NIST curves (RFC 5903).
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use zeroize::Zeroizing;

use super::KeySource;
use crate::{ActiveKeyExchange, CryptoError, KeyExchange, SharedSecret};

/// Attempts at drawing a valid NIST-curve scalar before giving up. A uniformly random string is
/// out of range with probability < 2^-32 per draw (P-521 after masking: < 2^-260), so more than
/// one retry means a broken generator.
#[cfg(feature = "testing")]
const SCALAR_DRAWS: usize = 4;

/// One ECDH group. For the NIST curves the IKE public value is X | Y without the SEC1 0x04 prefix
/// and the shared secret is the X coordinate (RFC 5903 §7, §9); for Curve25519 both are the
/// 32-octet RFC 7748 strings (RFC 8031 §2).
#[derive(Clone)]
pub(crate) struct EcdhGroup {
    id: u16,
    alg: &'static agreement::Algorithm,
    /// Octets of the IKE public value.
    public_len: usize,
    /// Octets of the private value (big-endian scalar, or the RFC 7748 string).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))] // read only when drawing keys
    private_len: usize,
    /// True for the NIST curves (SEC1 uncompressed points inside aws-lc).
    sec1: bool,
    /// Where private values come from.
    source: KeySource,
}

impl EcdhGroup {
    pub(crate) const CURVE25519: EcdhGroup = EcdhGroup {
        id: 31,
        alg: &agreement::X25519,
        public_len: 32,
        private_len: 32,
        sec1: false,
        source: KeySource::Library,
    };
    pub(crate) const ECP256: EcdhGroup = EcdhGroup {
        id: 19,
        alg: &agreement::ECDH_P256,
        public_len: 64,
        private_len: 32,
        sec1: true,
        source: KeySource::Library,
    };
    pub(crate) const ECP384: EcdhGroup = EcdhGroup {
        id: 20,
        alg: &agreement::ECDH_P384,
        public_len: 96,
        private_len: 48,
        sec1: true,
        source: KeySource::Library,
    };
    pub(crate) const ECP521: EcdhGroup = EcdhGroup {
        id: 21,
        alg: &agreement::ECDH_P521,
        public_len: 132,
        private_len: 66,
        sec1: true,
        source: KeySource::Library,
    };

    /// The same group with private values from `source`.
    pub(crate) fn with_source(mut self, source: KeySource) -> Self {
        self.source = source;
        self
    }

    fn generate(&self) -> Result<EcdhActive, CryptoError> {
        let private = match self.source {
            KeySource::Library => {
                PrivateKey::generate(self.alg).map_err(|_| CryptoError::Internal)?
            }
            #[cfg(feature = "testing")]
            KeySource::Drawn(_) => self.draw_private()?,
        };
        self.with_private(private)
    }

    /// A private value from drawn bytes (`PrivateKey::from_private_key`, the only seeded path
    /// aws-lc-rs has). X25519 takes any 32 octets (RFC 7748 §5 clamps them); a NIST scalar
    /// must lie in [1, n-1], so out-of-range draws are retried.
    #[cfg(feature = "testing")]
    fn draw_private(&self) -> Result<PrivateKey, CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; self.private_len]);
        for _ in 0..SCALAR_DRAWS {
            self.source.fill(&mut bytes)?;
            if self.id == 21 {
                // P-521: 66 octets carry 528 bits; keep the low 521 so that a draw is below n
                // with overwhelming probability.
                bytes[0] &= 0x01;
            }
            if let Ok(k) = PrivateKey::from_private_key(self.alg, &bytes) {
                return Ok(k);
            }
        }
        Err(CryptoError::Internal)
    }

    /// Wrap an existing private key (used by the RFC 7748 known-answer test).
    pub(crate) fn with_private(&self, private: PrivateKey) -> Result<EcdhActive, CryptoError> {
        let public = private
            .compute_public_key()
            .map_err(|_| CryptoError::Internal)?;
        let bytes = public.as_ref();
        let public = if self.sec1 {
            // Uncompressed SEC1 point: 0x04 | X | Y. IKE carries X | Y only.
            match bytes.split_first() {
                Some((0x04, xy)) if xy.len() == self.public_len => xy.to_vec(),
                _ => return Err(CryptoError::Internal),
            }
        } else {
            bytes.to_vec()
        };
        Ok(EcdhActive {
            group: self.clone(),
            private,
            public,
        })
    }

    /// Agree with the peer's IKE public value. Wrong length or a point not on the curve (aws-lc
    /// validates the point when parsing) is the peer's fault: `InvalidPeerKey`.
    fn agree(&self, private: &PrivateKey, peer: &[u8]) -> Result<SharedSecret, CryptoError> {
        if peer.len() != self.public_len {
            return Err(CryptoError::InvalidPeerKey(
                "ECDH public value has the wrong length",
            ));
        }
        let encoded: Vec<u8> = if self.sec1 {
            let mut v = Vec::with_capacity(1 + peer.len());
            v.push(0x04);
            v.extend_from_slice(peer);
            v
        } else {
            peer.to_vec()
        };
        agreement::agree(
            private,
            UnparsedPublicKey::new(self.alg, &encoded),
            CryptoError::InvalidPeerKey("ECDH public value is not a valid curve point"),
            |secret| Ok(SharedSecret(Zeroizing::new(secret.to_vec()))),
        )
    }
}

impl KeyExchange for EcdhGroup {
    fn id(&self) -> u16 {
        self.id
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        Ok(Box::new(self.generate()?))
    }

    fn respond(&self, peer_data: &[u8]) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        let ours = self.generate()?;
        let secret = self.agree(&ours.private, peer_data)?;
        Ok((ours.public, secret))
    }
}

/// An ECDH key pair waiting for the peer's value.
pub(crate) struct EcdhActive {
    group: EcdhGroup,
    private: PrivateKey,
    public: Vec<u8>,
}

impl ActiveKeyExchange for EcdhActive {
    fn public_data(&self) -> &[u8] {
        &self.public
    }

    fn complete(self: Box<Self>, peer_data: &[u8]) -> Result<SharedSecret, CryptoError> {
        self.group.agree(&self.private, peer_data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 7748 §6.1: Alice's and Bob's key pairs and their shared secret.
    #[test]
    fn x25519_rfc7748_vectors() {
        let alice_priv = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let alice_pub = h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let bob_priv = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let bob_pub = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        let g = EcdhGroup::CURVE25519;
        let alice = g
            .with_private(PrivateKey::from_private_key(g.alg, &alice_priv).unwrap())
            .unwrap();
        let bob = g
            .with_private(PrivateKey::from_private_key(g.alg, &bob_priv).unwrap())
            .unwrap();
        assert_eq!(alice.public_data(), &alice_pub[..]);
        assert_eq!(bob.public_data(), &bob_pub[..]);
        assert_eq!(
            Box::new(alice).complete(&bob_pub).unwrap().as_bytes(),
            &shared[..]
        );
        assert_eq!(
            Box::new(bob).complete(&alice_pub).unwrap().as_bytes(),
            &shared[..]
        );
    }
}
