//! Why a packet was not encapsulated or was dropped on decapsulation.
//!
//! Every variant is a drop of one packet; none of them tears down an SA. The daemon logs them at
//! debug level and the counters in [`crate::SaCounters`] / [`crate::GlobalCounters`] keep the tally.

/// Errors of [`crate::DataPlane::install`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The ENCR/INTEG combination is not one this data plane implements.
    #[error("unsupported ESP transform: ENCR {encr} ({key_bits:?} bits), INTEG {integ}")]
    UnsupportedTransform {
        /// ENCR transform ID.
        encr: u16,
        /// Key length attribute.
        key_bits: Option<u16>,
        /// INTEG transform ID.
        integ: u16,
    },
    /// Key material has the wrong length for the transform.
    #[error("wrong key length for {what}: got {got}, want {want}")]
    KeyLength {
        /// Which key.
        what: &'static str,
        /// Bytes handed in.
        got: usize,
        /// Bytes needed.
        want: usize,
    },
    /// An SA with this inbound SPI is already installed.
    #[error("inbound SPI {0:08x} already installed")]
    DuplicateSpi(u32),
    /// Replay window outside 0..=65536 packets.
    #[error("replay window {0} out of range (max 65536)")]
    ReplayWindow(u32),
}

/// Why [`crate::DataPlane::encapsulate`] produced no packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncapError {
    /// The packet matched no outbound SA (RFC 4301 §5.1: DISCARD); counted in
    /// [`crate::GlobalCounters::no_policy`].
    #[error("no SA matches the packet's traffic selectors")]
    NoPolicy,
    /// The inner packet is not a parseable IPv4/IPv6 packet.
    #[error("inner packet malformed")]
    MalformedInner,
    /// The matching SA reached a hard lifetime limit (rekey/delete is the engine's job).
    #[error("SA {spi_out:08x} hard-expired")]
    Expired {
        /// Outbound SPI.
        spi_out: u32,
    },
    /// RFC 4303 §3.3.3: the sequence number would cycle; the SA must be rekeyed.
    #[error("sequence number space of SA {spi_out:08x} exhausted; rekey needed")]
    SequenceExhausted {
        /// Outbound SPI.
        spi_out: u32,
    },
    /// `out` is too small; `needed` bytes are required.
    #[error("output buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

/// Why [`crate::DataPlane::decapsulate`] dropped a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecapError {
    /// Shorter than an ESP header, IV and ICV, or ciphertext not a whole number of blocks.
    #[error("truncated or malformed ESP packet")]
    Malformed,
    /// SPI 0 is reserved (RFC 4303 §2.1); on port 4500 it is the non-ESP marker of IKE.
    #[error("SPI 0: not an ESP packet")]
    ZeroSpi,
    /// No inbound SA with this SPI.
    #[error("unknown SPI {0:08x}")]
    UnknownSpi(u32),
    /// The SA reached a hard lifetime limit.
    #[error("SA {0:08x} hard-expired")]
    Expired(u32),
    /// Anti-replay (RFC 4303 §3.4.3): duplicate or left of the window.
    #[error("replayed or too old sequence number {seq} on SA {spi:08x}")]
    Replay {
        /// Inbound SPI.
        spi: u32,
        /// Full (inferred) sequence number.
        seq: u64,
    },
    /// ICV verification failed (RFC 4303 §3.4.4).
    #[error("ICV check failed on SA {0:08x}")]
    AuthFailed(u32),
    /// Pad Length larger than the payload, or pad bytes not 1, 2, 3, ... (RFC 4303 §2.4).
    #[error("bad padding on SA {0:08x}")]
    BadPadding(u32),
    /// Next Header not allowed for the SA's mode, or the inner packet does not parse.
    #[error("bad next header {next_header} on SA {spi:08x}")]
    BadNextHeader {
        /// Inbound SPI.
        spi: u32,
        /// The value found.
        next_header: u8,
    },
    /// The decrypted packet is outside the SA's traffic selectors (RFC 4301 §5.2 step 4).
    #[error("inner packet outside the traffic selectors of SA {0:08x}")]
    TsMismatch(u32),
}
