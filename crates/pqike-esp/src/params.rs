//! What an SA is built from: [`SaParams`], filled from the engine's
//! [`pqike_proto::ChildSaKeys`] (via `TryFrom`) or by hand in tests and tools.

use crate::error::InstallError;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use zeroize::Zeroizing;

/// IKEv2 transform IDs (IANA "Transform Type 1/3" registries) that this data plane implements.
pub mod ids {
    /// ENCR_AES_CBC (RFC 3602).
    pub const ENCR_AES_CBC: u16 = 12;
    /// ENCR_AES_GCM_16 (RFC 4106).
    pub const ENCR_AES_GCM_16: u16 = 20;
    /// ENCR_CHACHA20_POLY1305 (RFC 7634).
    pub const ENCR_CHACHA20_POLY1305: u16 = 28;
    /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
    pub const AUTH_HMAC_SHA2_256_128: u16 = 12;
    /// AUTH_HMAC_SHA2_384_192 (RFC 4868).
    pub const AUTH_HMAC_SHA2_384_192: u16 = 13;
    /// AUTH_HMAC_SHA2_512_256 (RFC 4868).
    pub const AUTH_HMAC_SHA2_512_256: u16 = 14;
}

/// Encryption algorithm of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncrAlg {
    /// AES-GCM with a 16-octet ICV (RFC 4106); key 128 or 256 bits plus a 4-octet salt.
    AesGcm16 {
        /// 128 or 256.
        key_bits: u16,
    },
    /// ChaCha20-Poly1305 (RFC 7634); 256-bit key plus a 4-octet salt.
    ChaCha20Poly1305,
    /// AES-CBC (RFC 3602) with a separate HMAC (RFC 4868); key 128, 192 or 256 bits.
    AesCbc {
        /// 128, 192 or 256.
        key_bits: u16,
    },
}

/// Integrity algorithm for non-AEAD ciphers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegAlg {
    /// None: only valid with an AEAD.
    None,
    /// HMAC-SHA-256 truncated to 128 bits.
    HmacSha256_128,
    /// HMAC-SHA-384 truncated to 192 bits.
    HmacSha384_192,
    /// HMAC-SHA-512 truncated to 256 bits.
    HmacSha512_256,
}

impl IntegAlg {
    /// Key length in bytes (RFC 4868 §2.1.1: the key is as long as the hash output).
    pub fn key_len(self) -> usize {
        match self {
            IntegAlg::None => 0,
            IntegAlg::HmacSha256_128 => 32,
            IntegAlg::HmacSha384_192 => 48,
            IntegAlg::HmacSha512_256 => 64,
        }
    }

    /// Truncated ICV length in bytes (RFC 4868 §2.3: half the output).
    pub fn icv_len(self) -> usize {
        self.key_len() / 2
    }

    /// The IKEv2 INTEG transform ID (0 = none), as the crypto provider's factory takes it.
    pub fn transform_id(self) -> u16 {
        match self {
            IntegAlg::None => 0,
            IntegAlg::HmacSha256_128 => ids::AUTH_HMAC_SHA2_256_128,
            IntegAlg::HmacSha384_192 => ids::AUTH_HMAC_SHA2_384_192,
            IntegAlg::HmacSha512_256 => ids::AUTH_HMAC_SHA2_512_256,
        }
    }
}

impl EncrAlg {
    /// Key material length in bytes, including the salt for AEADs (RFC 4106 §8.1, RFC 7634 §2).
    pub fn key_len(self) -> usize {
        match self {
            EncrAlg::AesGcm16 { key_bits } => usize::from(key_bits) / 8 + 4,
            EncrAlg::ChaCha20Poly1305 => 36,
            EncrAlg::AesCbc { key_bits } => usize::from(key_bits) / 8,
        }
    }

    /// The IKEv2 ENCR transform ID and Key Length attribute (inverse of [`EncrAlg::from_ids`]).
    pub fn transform_ids(self) -> (u16, Option<u16>) {
        match self {
            EncrAlg::AesGcm16 { key_bits } => (ids::ENCR_AES_GCM_16, Some(key_bits)),
            EncrAlg::ChaCha20Poly1305 => (ids::ENCR_CHACHA20_POLY1305, None),
            EncrAlg::AesCbc { key_bits } => (ids::ENCR_AES_CBC, Some(key_bits)),
        }
    }

    /// Whether the cipher authenticates by itself.
    pub fn is_aead(self) -> bool {
        !matches!(self, EncrAlg::AesCbc { .. })
    }

    /// Maps IKEv2 transform IDs to an algorithm pair, refusing what we do not implement.
    pub fn from_ids(
        encr: u16,
        key_bits: Option<u16>,
        integ: u16,
    ) -> Result<(EncrAlg, IntegAlg), InstallError> {
        let unsupported = InstallError::UnsupportedTransform {
            encr,
            key_bits,
            integ,
        };
        let integ_alg = match integ {
            0 => IntegAlg::None,
            ids::AUTH_HMAC_SHA2_256_128 => IntegAlg::HmacSha256_128,
            ids::AUTH_HMAC_SHA2_384_192 => IntegAlg::HmacSha384_192,
            ids::AUTH_HMAC_SHA2_512_256 => IntegAlg::HmacSha512_256,
            _ => return Err(unsupported),
        };
        let encr_alg = match (encr, key_bits) {
            (ids::ENCR_AES_GCM_16, Some(b @ (128 | 256))) => EncrAlg::AesGcm16 { key_bits: b },
            (ids::ENCR_CHACHA20_POLY1305, None | Some(256)) => EncrAlg::ChaCha20Poly1305,
            (ids::ENCR_AES_CBC, Some(b @ (128 | 192 | 256))) => EncrAlg::AesCbc { key_bits: b },
            _ => return Err(unsupported),
        };
        // RFC 7296 §3.3.3: an AEAD carries no INTEG; a plain cipher needs one.
        if encr_alg.is_aead() != (integ_alg == IntegAlg::None) {
            return Err(unsupported);
        }
        Ok((encr_alg, integ_alg))
    }
}

/// Tunnel or transport mode (RFC 4303 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The ESP payload is a whole inner IP packet.
    Tunnel,
    /// The ESP payload is the upper-layer payload of the outer packet.
    Transport,
}

/// One traffic selector range (RFC 7296 §3.13.1), in a form cheap to match per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    /// IP protocol, 0 = any.
    pub protocol: u8,
    /// First port (ICMP: type << 8 | code).
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// First address.
    pub start_addr: IpAddr,
    /// Last address (same family).
    pub end_addr: IpAddr,
}

impl Selector {
    /// Everything of one family: `0.0.0.0-255.255.255.255` or `::-ffff:...`, any protocol/port.
    pub fn any(v6: bool) -> Self {
        let (s, e): (IpAddr, IpAddr) = if v6 {
            (IpAddr::V6(0u128.into()), IpAddr::V6(u128::MAX.into()))
        } else {
            (IpAddr::V4(0u32.into()), IpAddr::V4(u32::MAX.into()))
        };
        Self {
            protocol: 0,
            start_port: 0,
            end_port: 65535,
            start_addr: s,
            end_addr: e,
        }
    }

    /// A single host, any protocol/port.
    pub fn host(addr: IpAddr) -> Self {
        Self {
            protocol: 0,
            start_port: 0,
            end_port: 65535,
            start_addr: addr,
            end_addr: addr,
        }
    }
}

#[cfg(feature = "proto")]
impl From<&pqike_wire::TrafficSelector> for Selector {
    fn from(ts: &pqike_wire::TrafficSelector) -> Self {
        Self {
            protocol: ts.ip_protocol,
            start_port: ts.start_port,
            end_port: ts.end_port,
            start_addr: ts.start_addr,
            end_addr: ts.end_addr,
        }
    }
}

/// Limits of one lifetime stage; `None` = unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of inner payload, per direction.
    pub bytes: Option<u64>,
    /// Packets, per direction.
    pub packets: Option<u64>,
    /// Time since installation.
    pub time: Option<Duration>,
}

/// Soft (rekey now) and hard (stop using the SA) limits, as in RFC 4301 §4.4.2.1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// Crossing it raises [`crate::ExpiryKind::Soft`] once.
    pub soft: Limits,
    /// Crossing it raises [`crate::ExpiryKind::Hard`] once and disables the SA.
    pub hard: Limits,
}

/// Everything needed to install one Child SA (both directions).
#[derive(Clone)]
pub struct SaParams {
    /// SPI the peer puts on packets to us.
    pub spi_in: u32,
    /// SPI we put on packets to the peer.
    pub spi_out: u32,
    /// Encryption algorithm.
    pub encr: EncrAlg,
    /// Integrity algorithm ([`IntegAlg::None`] for AEADs).
    pub integ: IntegAlg,
    /// Extended (64-bit) sequence numbers (RFC 4303 §2.2.1).
    pub esn: bool,
    /// Inbound encryption key (with salt for AEADs).
    pub encr_key_in: Zeroizing<Vec<u8>>,
    /// Inbound integrity key (empty for AEADs).
    pub integ_key_in: Zeroizing<Vec<u8>>,
    /// Outbound encryption key.
    pub encr_key_out: Zeroizing<Vec<u8>>,
    /// Outbound integrity key.
    pub integ_key_out: Zeroizing<Vec<u8>>,
    /// Our side's selectors (source of outbound traffic).
    pub local_ts: Vec<Selector>,
    /// The peer's selectors (destination of outbound traffic).
    pub remote_ts: Vec<Selector>,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Our outer address.
    pub local: SocketAddr,
    /// The peer's outer address.
    pub remote: SocketAddr,
    /// RFC 3948 UDP encapsulation.
    pub udp_encap: bool,
    /// Lifetime limits.
    pub lifetime: Lifetime,
    /// Anti-replay window in packets (0 = default 1024).
    pub replay_window: u32,
}

impl core::fmt::Debug for SaParams {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SaParams")
            .field("spi_in", &format_args!("{:08x}", self.spi_in))
            .field("spi_out", &format_args!("{:08x}", self.spi_out))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("esn", &self.esn)
            .field("mode", &self.mode)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "proto")]
/// The soft limit is taken at 90% of the engine's lifetime so that rekeying can finish before
/// the hard limit (strongSwan uses a similar margin between rekey_time and life_time).
const SOFT_PERCENT: u32 = 90;

#[cfg(feature = "proto")]
impl TryFrom<&pqike_proto::ChildSaKeys> for SaParams {
    type Error = InstallError;

    fn try_from(k: &pqike_proto::ChildSaKeys) -> Result<Self, InstallError> {
        let (encr, integ) = EncrAlg::from_ids(k.encr.0, k.encr.1, k.integ)?;
        let time = (!k.lifetime.is_zero()).then_some(k.lifetime);
        Ok(SaParams {
            spi_in: k.spi_in,
            spi_out: k.spi_out,
            encr,
            integ,
            esn: k.esn,
            encr_key_in: k.key_in.0.clone(),
            integ_key_in: k.key_in.1.clone(),
            encr_key_out: k.key_out.0.clone(),
            integ_key_out: k.key_out.1.clone(),
            local_ts: k.local_ts.iter().map(Selector::from).collect(),
            remote_ts: k.remote_ts.iter().map(Selector::from).collect(),
            mode: match k.mode {
                pqike_proto::IpsecMode::Tunnel => Mode::Tunnel,
                pqike_proto::IpsecMode::Transport => Mode::Transport,
            },
            local: k.local,
            remote: k.remote,
            udp_encap: k.udp_encap,
            lifetime: Lifetime {
                soft: Limits {
                    time: time.map(|t| t * SOFT_PERCENT / 100),
                    ..Limits::default()
                },
                hard: Limits {
                    time,
                    ..Limits::default()
                },
            },
            replay_window: crate::replay::DEFAULT_WINDOW,
        })
    }
}

#[cfg(all(test, feature = "proto"))]
mod tests {
    use super::*;
    use pqike_proto::{ChildSaKeys, IpsecMode, SaId};

    fn keys(encr: (u16, Option<u16>), integ: u16) -> ChildSaKeys {
        let ts = pqike_wire::TrafficSelector {
            ip_protocol: 17,
            start_port: 53,
            end_port: 53,
            start_addr: "10.0.0.0".parse().unwrap(),
            end_addr: "10.0.0.255".parse().unwrap(),
        };
        ChildSaKeys {
            ike_sa: SaId(1),
            connection: "c".into(),
            child: "ch".into(),
            spi_in: 1,
            spi_out: 2,
            encr,
            integ,
            esn: true,
            key_in: (Zeroizing::new(vec![1; 36]), Zeroizing::new(vec![])),
            key_out: (Zeroizing::new(vec![2; 36]), Zeroizing::new(vec![])),
            local_ts: vec![ts.clone()],
            remote_ts: vec![ts],
            mode: IpsecMode::Transport,
            local: "192.0.2.1:4500".parse().unwrap(),
            remote: "192.0.2.2:4500".parse().unwrap(),
            udp_encap: true,
            lifetime: Duration::from_secs(100),
        }
    }

    #[test]
    fn from_child_sa_keys() {
        let p = SaParams::try_from(&keys((28, None), 0)).unwrap();
        assert_eq!(p.encr, EncrAlg::ChaCha20Poly1305);
        assert_eq!(p.mode, Mode::Transport);
        assert!(p.esn && p.udp_encap);
        assert_eq!((p.spi_in, p.spi_out), (1, 2));
        assert_eq!(p.local_ts[0].start_port, 53);
        assert_eq!(p.lifetime.hard.time, Some(Duration::from_secs(100)));
        assert_eq!(p.lifetime.soft.time, Some(Duration::from_secs(90)));
        // Installs as is.
        crate::DataPlane::new()
            .install(p, std::time::Instant::now())
            .unwrap();
        assert!(
            SaParams::try_from(&keys((18, Some(128)), 0)).is_err(),
            "GCM-8 unsupported"
        );
    }

    #[test]
    fn transform_ids_invert_from_ids() {
        for (encr, bits, integ) in [
            (20, Some(128), 0),
            (20, Some(256), 0),
            (28, None, 0),
            (12, Some(128), 12),
            (12, Some(192), 13),
            (12, Some(256), 14),
        ] {
            let (e, i) = EncrAlg::from_ids(encr, bits, integ).unwrap();
            assert_eq!((e.transform_ids(), i.transform_id()), ((encr, bits), integ));
        }
    }
}
