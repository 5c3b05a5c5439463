//! HMAC PRFs (RFC 7296 §2.13; HMAC-SHA2 per RFC 4868, HMAC-SHA1 per RFC 2104 for older peers).
use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use crate::Prf;

/// An HMAC-based PRF.
pub(crate) struct HmacPrf {
    id: u16,
    alg: hmac::Algorithm,
}

impl HmacPrf {
    /// PRF_HMAC_SHA1 (2).
    pub(crate) const SHA1: HmacPrf = HmacPrf {
        id: 2,
        alg: hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
    };
    /// PRF_HMAC_SHA2_256 (5).
    pub(crate) const SHA256: HmacPrf = HmacPrf {
        id: 5,
        alg: hmac::HMAC_SHA256,
    };
    /// PRF_HMAC_SHA2_384 (6).
    pub(crate) const SHA384: HmacPrf = HmacPrf {
        id: 6,
        alg: hmac::HMAC_SHA384,
    };
    /// PRF_HMAC_SHA2_512 (7).
    pub(crate) const SHA512: HmacPrf = HmacPrf {
        id: 7,
        alg: hmac::HMAC_SHA512,
    };
}

impl Prf for HmacPrf {
    fn id(&self) -> u16 {
        self.id
    }

    fn output_len(&self) -> usize {
        self.alg.digest_algorithm().output_len()
    }

    fn key_len(&self) -> usize {
        // RFC 4868 §2.1.2 / RFC 7296 §2.13: the preferred key length equals the output length.
        self.output_len()
    }

    fn compute(&self, key: &[u8], data: &[&[u8]]) -> Zeroizing<Vec<u8>> {
        let key = hmac::Key::new(self.alg, key);
        let mut ctx = hmac::Context::with_key(&key);
        for part in data {
            ctx.update(part);
        }
        Zeroizing::new(ctx.sign().as_ref().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &[u8], data: &[u8], sha256: &str, sha384: &str, sha512: &str) {
        assert_eq!(hex::encode(&*HmacPrf::SHA256.compute(key, &[data])), sha256);
        assert_eq!(hex::encode(&*HmacPrf::SHA384.compute(key, &[data])), sha384);
        assert_eq!(hex::encode(&*HmacPrf::SHA512.compute(key, &[data])), sha512);
        // Splitting the input must not change the result.
        let (a, b) = data.split_at(data.len() / 2);
        assert_eq!(
            HmacPrf::SHA256.compute(key, &[a, b]).as_slice(),
            HmacPrf::SHA256.compute(key, &[data]).as_slice()
        );
    }

    /// RFC 4231 §4.2 test case 1.
    #[test]
    fn rfc4231_case1() {
        check(
            &[0x0b; 20],
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        );
    }

    /// RFC 4231 §4.3 test case 2 (key shorter than the block).
    #[test]
    fn rfc4231_case2() {
        check(
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        );
    }

    /// RFC 4231 §4.7 test case 6 (key longer than the block, hashed first).
    #[test]
    fn rfc4231_case6() {
        check(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
        );
    }

    #[test]
    fn lengths() {
        assert_eq!(
            (HmacPrf::SHA1.output_len(), HmacPrf::SHA1.key_len()),
            (20, 20)
        );
        assert_eq!(HmacPrf::SHA256.key_len(), 32);
        assert_eq!(HmacPrf::SHA384.key_len(), 48);
        assert_eq!(HmacPrf::SHA512.key_len(), 64);
    }
}
