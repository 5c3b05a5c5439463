//! ML-KEM-512/768/1024 (FIPS 203) as IKEv2 key-exchange methods 35/36/37
//! (draft-ietf-ipsecme-ikev2-mlkem): initiator KE data = encapsulation key, responder KE data =
//! ciphertext, the 32-octet shared secret is used like g^ir.
use aws_lc_rs::kem::{self, Ciphertext, DecapsulationKey, EncapsulationKey};
use zeroize::Zeroizing;

use crate::{ActiveKeyExchange, CryptoError, KeyExchange, SharedSecret};

/// The ML-KEM modulus q (FIPS 203 §2.4).
const Q: u16 = 3329;

/// One ML-KEM parameter set.
#[derive(Clone, Copy)]
pub(crate) struct MlKem {
    id: u16,
    alg: &'static kem::Algorithm,
    /// Module rank k (2, 3, 4).
    k: usize,
    /// Ciphertext length (FIPS 203 §8 table 3).
    ct_len: usize,
}

impl MlKem {
    pub(crate) const ML_KEM_512: MlKem = MlKem {
        id: 35,
        alg: &kem::ML_KEM_512,
        k: 2,
        ct_len: 768,
    };
    pub(crate) const ML_KEM_768: MlKem = MlKem {
        id: 36,
        alg: &kem::ML_KEM_768,
        k: 3,
        ct_len: 1088,
    };
    pub(crate) const ML_KEM_1024: MlKem = MlKem {
        id: 37,
        alg: &kem::ML_KEM_1024,
        k: 4,
        ct_len: 1568,
    };

    /// Module rank k.
    #[cfg(feature = "testing")]
    pub(crate) fn rank(&self) -> usize {
        self.k
    }

    /// Ciphertext length.
    #[cfg(feature = "testing")]
    pub(crate) fn ct_len(&self) -> usize {
        self.ct_len
    }

    /// Encapsulation-key length 384k + 32.
    pub(crate) fn ek_len(&self) -> usize {
        384 * self.k + 32
    }

    /// FIPS 203 §7.2 input checks on an encapsulation key. Done here explicitly (not left to the
    /// library) because the ML-KEM draft makes the responder responsible for them.
    pub(crate) fn check_encapsulation_key(&self, ek: &[u8]) -> Result<(), CryptoError> {
        // Type check: length 384k + 32.
        if ek.len() != self.ek_len() {
            return Err(CryptoError::InvalidPeerKey(
                "ML-KEM encapsulation key has the wrong length",
            ));
        }
        // Modulus check: ByteEncode12(ByteDecode12(ek[0:384k])) == ek[0:384k], i.e. every
        // 12-bit little-endian coefficient is < q. Three octets hold two coefficients.
        // Public data, so a data-dependent early exit is fine.
        for chunk in ek[..384 * self.k].chunks_exact(3) {
            let d0 = u16::from(chunk[0]) | (u16::from(chunk[1] & 0x0f) << 8);
            let d1 = u16::from(chunk[1] >> 4) | (u16::from(chunk[2]) << 4);
            if d0 >= Q || d1 >= Q {
                return Err(CryptoError::InvalidPeerKey(
                    "ML-KEM encapsulation key fails the modulus check",
                ));
            }
        }
        Ok(())
    }
}

impl KeyExchange for MlKem {
    fn id(&self) -> u16 {
        self.id
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        // A fresh key pair per exchange (draft §: no reuse of ML-KEM keys).
        let dk = DecapsulationKey::generate(self.alg).map_err(|_| CryptoError::Internal)?;
        let ek = dk
            .encapsulation_key()
            .and_then(|ek| ek.key_bytes())
            .map_err(|_| CryptoError::Internal)?
            .as_ref()
            .to_vec();
        Ok(Box::new(MlKemActive {
            ct_len: self.ct_len,
            dk,
            ek,
        }))
    }

    fn respond(&self, peer_data: &[u8]) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        self.check_encapsulation_key(peer_data)?;
        let ek = EncapsulationKey::new(self.alg, peer_data)
            .map_err(|_| CryptoError::InvalidPeerKey("ML-KEM encapsulation key rejected"))?;
        let (ct, ss) = ek.encapsulate().map_err(|_| CryptoError::Internal)?;
        Ok((
            ct.as_ref().to_vec(),
            SharedSecret(Zeroizing::new(ss.as_ref().to_vec())),
        ))
    }
}

/// The initiator's decapsulation key, waiting for the ciphertext.
struct MlKemActive {
    ct_len: usize,
    dk: DecapsulationKey,
    ek: Vec<u8>,
}

impl ActiveKeyExchange for MlKemActive {
    fn public_data(&self) -> &[u8] {
        &self.ek
    }

    fn complete(self: Box<Self>, peer_data: &[u8]) -> Result<SharedSecret, CryptoError> {
        // FIPS 203 §7.3 ciphertext type check; anything else is implicit rejection.
        if peer_data.len() != self.ct_len {
            return Err(CryptoError::InvalidPeerKey(
                "ML-KEM ciphertext has the wrong length",
            ));
        }
        let ss = self
            .dk
            .decapsulate(Ciphertext::from(peer_data))
            .map_err(|_| CryptoError::Internal)?;
        Ok(SharedSecret(Zeroizing::new(ss.as_ref().to_vec())))
    }
}
