//! ML-KEM with seeded randomness, from RustCrypto `ml-kem`: aws-lc-rs's safe API has no
//! deterministic key generation or encapsulation (crates.md §1), RustCrypto has both
//! (`DecapsulationKey::from_seed`, FIPS 203 §6.1 ML-KEM.KeyGen_internal(d, z), and
//! `encapsulate_deterministic`, §6.2 ML-KEM.Encaps_internal(ek, m)). Same wire format as
//! [`crate::awslc`]'s ML-KEM, and the same FIPS 203 §7.2/§7.3 input checks (done by the shared
//! [`MlKem`] code before RustCrypto sees the data).
use std::sync::Arc;

use ml_kem::array::Array;
use ml_kem::kem::{Decapsulate, KeyExport};
use zeroize::Zeroizing;

use crate::awslc::MlKem;
use crate::{ActiveKeyExchange, CryptoError, KeyExchange, SecureRandom, SharedSecret};

/// One seeded parameter set; `params` gives the ID, sizes and input checks.
pub(crate) struct SeededMlKem {
    params: MlKem,
    rng: Arc<dyn SecureRandom>,
}

impl SeededMlKem {
    pub(crate) fn new(params: MlKem, rng: Arc<dyn SecureRandom>) -> Self {
        SeededMlKem { params, rng }
    }

    /// 64 octets d | z for key generation (FIPS 203 §7.1 draws them as two 32-octet strings).
    fn seed(&self) -> Result<Zeroizing<[u8; 64]>, CryptoError> {
        let mut seed = Zeroizing::new([0u8; 64]);
        self.rng.fill(&mut seed[..])?;
        Ok(seed)
    }

    /// The 32-octet message m for encapsulation (FIPS 203 §7.2).
    fn message(&self) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let mut m = Zeroizing::new([0u8; 32]);
        self.rng.fill(&mut m[..])?;
        Ok(m)
    }
}

/// The decapsulation key of one parameter set (the three are distinct RustCrypto types).
enum Dk {
    K512(Box<ml_kem::DecapsulationKey512>),
    K768(Box<ml_kem::DecapsulationKey768>),
    K1024(Box<ml_kem::DecapsulationKey1024>),
}

/// Runs `$body` with `$t` bound to the RustCrypto parameter-set type for rank `$k`.
macro_rules! per_rank {
    ($k:expr, $t:ident => $body:expr) => {
        match $k {
            2 => {
                type $t = ml_kem::MlKem512;
                $body
            }
            3 => {
                type $t = ml_kem::MlKem768;
                $body
            }
            _ => {
                type $t = ml_kem::MlKem1024;
                $body
            }
        }
    };
}

impl KeyExchange for SeededMlKem {
    fn id(&self) -> u16 {
        self.params.id()
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let seed = self.seed()?;
        let seed = Array::from(*seed);
        let (dk, ek) = match self.params.rank() {
            2 => {
                let dk = ml_kem::DecapsulationKey512::from_seed(seed);
                let ek = dk.encapsulation_key().to_bytes().to_vec();
                (Dk::K512(Box::new(dk)), ek)
            }
            3 => {
                let dk = ml_kem::DecapsulationKey768::from_seed(seed);
                let ek = dk.encapsulation_key().to_bytes().to_vec();
                (Dk::K768(Box::new(dk)), ek)
            }
            _ => {
                let dk = ml_kem::DecapsulationKey1024::from_seed(seed);
                let ek = dk.encapsulation_key().to_bytes().to_vec();
                (Dk::K1024(Box::new(dk)), ek)
            }
        };
        Ok(Box::new(SeededMlKemActive {
            ct_len: self.params.ct_len(),
            dk,
            ek,
        }))
    }

    fn respond(&self, peer_data: &[u8]) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        self.params.check_encapsulation_key(peer_data)?;
        let m = Array::from(*self.message()?);
        let rejected = |_| CryptoError::InvalidPeerKey("ML-KEM encapsulation key rejected");
        let (ct, ss) = per_rank!(self.params.rank(), P => {
            let key = Array::try_from(peer_data).map_err(|_| CryptoError::Internal)?;
            let ek = ml_kem::EncapsulationKey::<P>::new(&key).map_err(rejected)?;
            let (ct, ss) = ek.encapsulate_deterministic(&m);
            (ct.to_vec(), ss)
        });
        Ok((ct, SharedSecret(Zeroizing::new(ss.to_vec()))))
    }
}

/// The initiator's seeded decapsulation key (RustCrypto zeroizes it on drop).
struct SeededMlKemActive {
    ct_len: usize,
    dk: Dk,
    ek: Vec<u8>,
}

impl ActiveKeyExchange for SeededMlKemActive {
    fn public_data(&self) -> &[u8] {
        &self.ek
    }

    fn complete(self: Box<Self>, peer_data: &[u8]) -> Result<SharedSecret, CryptoError> {
        // FIPS 203 §7.3 ciphertext type check, as in the aws-lc implementation.
        if peer_data.len() != self.ct_len {
            return Err(CryptoError::InvalidPeerKey(
                "ML-KEM ciphertext has the wrong length",
            ));
        }
        let bad = |_| CryptoError::Internal;
        let ss = match &self.dk {
            Dk::K512(dk) => dk.decapsulate_slice(peer_data).map_err(bad)?,
            Dk::K768(dk) => dk.decapsulate_slice(peer_data).map_err(bad)?,
            Dk::K1024(dk) => dk.decapsulate_slice(peer_data).map_err(bad)?,
        };
        Ok(SharedSecret(Zeroizing::new(ss.to_vec())))
    }
}
