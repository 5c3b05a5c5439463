//! SLH-DSA (FIPS 205), all twelve parameter sets, through RustCrypto `slh-dsa` (cargo feature
//! `slh-dsa`, on by default; aws-lc-rs has no SLH-DSA). Pure mode, empty context string, hedged
//! signing (FIPS 205 §10.2: `opt_rand` fresh from the system generator).
//!
//! Keys are kept as the FIPS 205 private key octets SK.seed | SK.prf | PK.seed | PK.root (4n) and
//! turned into the crate's typed key per operation: that is a copy, not a key generation, and it
//! avoids a twelve-way enum of key types.
use zeroize::Zeroizing;

use super::{
    der_encode, der_take, key_rejected, pq_spki, pq_spki_raw_key, SignatureScheme, SigningKey,
};
use crate::CryptoError;

/// n, the security parameter (FIPS 205 Table 2): 16, 24 or 32 octets.
fn param_n(scheme: SignatureScheme) -> Option<usize> {
    scheme
        .public_key_len()
        .filter(|_| scheme.is_slh_dsa())
        .map(|pk| pk / 2)
}

/// Run `$body` with `$P` bound to the `slh_dsa` parameter-set type for `$scheme`.
#[cfg(feature = "slh-dsa")]
macro_rules! with_params {
    ($scheme:expr, $P:ident => $body:expr) => {{
        use SignatureScheme as S;
        match $scheme {
            S::SlhDsaSha2_128s => {
                type $P = slh_dsa::Sha2_128s;
                $body
            }
            S::SlhDsaSha2_128f => {
                type $P = slh_dsa::Sha2_128f;
                $body
            }
            S::SlhDsaSha2_192s => {
                type $P = slh_dsa::Sha2_192s;
                $body
            }
            S::SlhDsaSha2_192f => {
                type $P = slh_dsa::Sha2_192f;
                $body
            }
            S::SlhDsaSha2_256s => {
                type $P = slh_dsa::Sha2_256s;
                $body
            }
            S::SlhDsaSha2_256f => {
                type $P = slh_dsa::Sha2_256f;
                $body
            }
            S::SlhDsaShake128s => {
                type $P = slh_dsa::Shake128s;
                $body
            }
            S::SlhDsaShake128f => {
                type $P = slh_dsa::Shake128f;
                $body
            }
            S::SlhDsaShake192s => {
                type $P = slh_dsa::Shake192s;
                $body
            }
            S::SlhDsaShake192f => {
                type $P = slh_dsa::Shake192f;
                $body
            }
            S::SlhDsaShake256s => {
                type $P = slh_dsa::Shake256s;
                $body
            }
            S::SlhDsaShake256f => {
                type $P = slh_dsa::Shake256f;
                $body
            }
            other => Err(CryptoError::Unsupported(format!(
                "{} is not SLH-DSA",
                other.name()
            ))),
        }
    }};
}

#[cfg(not(feature = "slh-dsa"))]
fn disabled() -> CryptoError {
    CryptoError::Unsupported("SLH-DSA (pqike-crypto built without the `slh-dsa` feature)".into())
}

/// Stack size for SLH-DSA operations. The `slh-dsa` crate keeps signatures (up to 49,856 octets
/// for 256f) and intermediate trees on the stack, several copies deep: a debug build overflows a
/// 2 MiB test or tokio worker stack. Each operation therefore runs on its own thread with this
/// much stack; the spawn costs microseconds next to milliseconds of hashing.
#[cfg(feature = "slh-dsa")]
const SLH_DSA_STACK: usize = 32 << 20;

/// Run `f` on a scoped thread with [`SLH_DSA_STACK`] bytes of stack.
#[cfg(feature = "slh-dsa")]
fn on_big_stack<T: Send>(
    f: impl FnOnce() -> Result<T, CryptoError> + Send,
) -> Result<T, CryptoError> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("slh-dsa".into())
            .stack_size(SLH_DSA_STACK)
            .spawn_scoped(s, f)
            .map_err(|_| CryptoError::Internal)?
            .join()
            .map_err(|_| CryptoError::Internal)?
    })
}

fn random(len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Internal)?;
    Ok(out)
}

/// Verify an SLH-DSA signature; the SPKI must carry exactly `scheme`'s OID.
pub(super) fn verify(
    scheme: SignatureScheme,
    spki_der: &[u8],
    data: &[u8],
    sig: &[u8],
) -> Result<(), CryptoError> {
    let key = pq_spki_raw_key(scheme, spki_der)?;
    #[cfg(feature = "slh-dsa")]
    {
        on_big_stack(|| {
            with_params!(scheme, P => {
                let vk = slh_dsa::VerifyingKey::<P>::try_from(key)
                    .map_err(|_| CryptoError::BadSignature)?;
                let sig = slh_dsa::Signature::<P>::try_from(sig)
                    .map_err(|_| CryptoError::BadSignature)?;
                vk.try_verify_with_context(data, &[], &sig)
                    .map_err(|_| CryptoError::BadSignature)
            })
        })
    }
    #[cfg(not(feature = "slh-dsa"))]
    {
        let _ = (key, data, sig);
        Err(disabled())
    }
}

/// An SLH-DSA key (RustCrypto `slh-dsa`).
pub struct SlhDsaSigningKey {
    scheme: [SignatureScheme; 1],
    /// SK.seed | SK.prf | PK.seed | PK.root (FIPS 205 §9.1).
    sk: Zeroizing<Vec<u8>>,
    spki: Vec<u8>,
}

impl SlhDsaSigningKey {
    fn from_raw(scheme: SignatureScheme, sk: Zeroizing<Vec<u8>>) -> Result<Self, CryptoError> {
        let n = param_n(scheme)
            .ok_or_else(|| CryptoError::Unsupported(format!("{} is not SLH-DSA", scheme.name())))?;
        if sk.len() != 4 * n {
            return Err(key_rejected("SLH-DSA private key has the wrong length"));
        }
        let spki = pq_spki(scheme, &sk[2 * n..]);
        Ok(SlhDsaSigningKey {
            scheme: [scheme],
            sk,
            spki,
        })
    }

    /// A fresh random key for `scheme` (must be SLH-DSA): FIPS 205 Algorithm 21 with SK.seed,
    /// SK.prf and PK.seed from the system generator.
    pub fn generate(scheme: SignatureScheme) -> Result<Self, CryptoError> {
        let n = param_n(scheme)
            .ok_or_else(|| CryptoError::Unsupported(format!("{} is not SLH-DSA", scheme.name())))?;
        let seeds = random(3 * n)?;
        Self::from_seeds(scheme, &seeds[..n], &seeds[n..2 * n], &seeds[2 * n..])
    }

    /// The key for given seeds (FIPS 205 Algorithm 18 `slh_keygen_internal`; deterministic).
    /// Each seed is n octets (16, 24 or 32).
    pub fn from_seeds(
        scheme: SignatureScheme,
        sk_seed: &[u8],
        sk_prf: &[u8],
        pk_seed: &[u8],
    ) -> Result<Self, CryptoError> {
        let n = param_n(scheme)
            .ok_or_else(|| CryptoError::Unsupported(format!("{} is not SLH-DSA", scheme.name())))?;
        if [sk_seed, sk_prf, pk_seed].iter().any(|s| s.len() != n) {
            return Err(key_rejected("SLH-DSA seeds must be n octets each"));
        }
        #[cfg(feature = "slh-dsa")]
        {
            let sk = on_big_stack(|| {
                with_params!(scheme, P => {
                    let key =
                        slh_dsa::SigningKey::<P>::slh_keygen_internal(sk_seed, sk_prf, pk_seed);
                    Ok(Zeroizing::new(key.to_vec()))
                })
            })?;
            Self::from_raw(scheme, sk)
        }
        #[cfg(not(feature = "slh-dsa"))]
        {
            Err(disabled())
        }
    }

    /// From PKCS#8 (RFC 9909 §6): privateKey is the 4n raw key octets; the parameter set comes
    /// from the AlgorithmIdentifier. A PKCS#8 v2 trailing publicKey is ignored.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let bad = || key_rejected("not an SLH-DSA PKCS#8 key");
        let (info, trailing) = der_take(der, 0x30).map_err(|_| bad())?;
        if !trailing.is_empty() {
            return Err(bad());
        }
        let (version, rest) = der_take(info, 0x02).map_err(|_| bad())?;
        if version != [0] && version != [1] {
            return Err(bad());
        }
        let scheme = SignatureScheme::SLH_DSA
            .into_iter()
            .find(|s| rest.starts_with(s.algorithm_identifier()))
            .ok_or_else(bad)?;
        let rest = &rest[scheme.algorithm_identifier().len()..];
        let (key, _attributes_or_public_key) = der_take(rest, 0x04).map_err(|_| bad())?;
        Self::from_raw(scheme, Zeroizing::new(key.to_vec()))
    }

    /// The PKCS#8 v1 encoding: { 0, AlgorithmIdentifier, OCTET STRING raw key } (RFC 9909 §6,
    /// the form OpenSSL 3.5 writes and reads).
    pub fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        let mut body = Zeroizing::new(vec![0x02, 0x01, 0x00]);
        body.extend_from_slice(self.scheme[0].algorithm_identifier());
        body.extend_from_slice(&Zeroizing::new(der_encode(0x04, &self.sk)));
        Zeroizing::new(der_encode(0x30, &body))
    }

    /// The scheme (parameter set) of this key.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme[0]
    }
}

impl SigningKey for SlhDsaSigningKey {
    fn schemes(&self) -> &[SignatureScheme] {
        &self.scheme
    }

    fn sign(&self, scheme: SignatureScheme, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if scheme != self.scheme[0] {
            return Err(CryptoError::Unsupported(format!(
                "{} with an {} key",
                scheme.name(),
                self.scheme[0].name()
            )));
        }
        #[cfg(feature = "slh-dsa")]
        {
            let n = param_n(scheme).ok_or(CryptoError::Internal)?;
            let opt_rand = random(n)?;
            on_big_stack(|| {
                with_params!(scheme, P => {
                    let key = slh_dsa::SigningKey::<P>::try_from(&self.sk[..])
                        .map_err(|_| CryptoError::Internal)?;
                    let sig = key
                        .try_sign_with_context(data, &[], Some(&opt_rand))
                        .map_err(|_| CryptoError::Internal)?;
                    Ok(sig.to_vec())
                })
            })
        }
        #[cfg(not(feature = "slh-dsa"))]
        {
            let _ = data;
            Err(disabled())
        }
    }

    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }
}

#[cfg(all(test, feature = "slh-dsa"))]
mod tests {
    use super::*;

    /// Our AlgorithmIdentifiers carry the OIDs the `slh-dsa` crate assigns (const-oid's FIPS 205
    /// table): an independent check of the 0x14..0x1f arc values.
    #[test]
    fn algorithm_identifiers_match_the_crate_oids() {
        for scheme in SignatureScheme::SLH_DSA {
            let oid: Result<Vec<u8>, CryptoError> = with_params!(scheme, P => {
                use slh_dsa::ParameterSet;
                Ok(P::ALGORITHM_OID.as_bytes().to_vec())
            });
            let aid = scheme.algorithm_identifier();
            assert_eq!(&aid[4..], &oid.unwrap()[..], "{}", scheme.name());
        }
    }
}
