//! The owned, validated form of every IKEv2 payload (RFC 7296 §3, RFC 7383 §2.5).
//!
//! Decoding never panics: every length is checked and a malformed body yields a
//! [`crate::DecodeError`]. Encoding of a decoded payload reproduces the same bytes
//! (except reserved fields, which are written as zero); a value too large for its length or
//! count field fails with [`crate::EncodeError`].
use crate::registry::*;
use std::net::IpAddr;

/// One transform attribute (RFC 7296 §3.3.5). Only Key Length (type 14, TV format) is defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// Key Length in bits (attribute type 14, TV form).
    KeyLength(u16),
    /// Any other attribute, kept verbatim: (attribute type without the AF bit, TV?, value).
    ///
    /// `attr_type` has 15 bits (the AF bit is `tv`); a TV `value` is exactly 2 octets. Type 14
    /// in TV form always decodes as [`Attribute::KeyLength`].
    Other {
        /// Attribute type without the AF bit.
        attr_type: u16,
        /// TV format (AF bit set): fixed 2-octet value; otherwise TLV.
        tv: bool,
        /// The attribute value.
        value: Vec<u8>,
    },
}

/// A transform substructure (RFC 7296 §3.3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transform {
    /// Transform type (ENCR, PRF, INTEG, KE, ESN, ADDKEn).
    pub transform_type: TransformType,
    /// Transform ID, in the registry of `transform_type` (e.g. [`EncrId`], [`KeMethod`]).
    pub id: u16,
    /// Transform attributes (Key Length).
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// The Key Length attribute, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::KeyLength(l) => Some(*l),
            _ => None,
        })
    }
}

/// A proposal substructure (RFC 7296 §3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number, starting at 1.
    pub number: u8,
    /// IKE, ESP or AH.
    pub protocol: ProtocolId,
    /// Empty in IKE_SA_INIT; 8 octets for an IKE SA rekey; 4 for ESP/AH.
    pub spi: Vec<u8>,
    /// The transforms, in wire order.
    pub transforms: Vec<Transform>,
}

/// Identification payload (IDi / IDr) body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identification {
    /// ID type.
    pub id_type: IdType,
    /// Identification data (address octets, FQDN, DER DN, ...).
    pub data: Vec<u8>,
}

/// Certificate / Certificate Request payload body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertData {
    /// Certificate encoding.
    pub encoding: CertEncoding,
    /// Certificate data, or for CERTREQ the concatenated SHA-1 hashes of CA public keys.
    pub data: Vec<u8>,
}

/// Authentication payload body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// Authentication method.
    pub method: AuthMethod,
    /// Authentication data (for method 14, RFC 7427 AlgorithmIdentifier length/ASN.1 | signature).
    pub data: Vec<u8>,
}

/// Notify payload body (RFC 7296 §3.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    /// Protocol of the SA concerned, [`ProtocolId::NONE`] for IKE SA notifies.
    pub protocol: ProtocolId,
    /// SPI of the SA concerned (usually empty); its length is the SPI Size field.
    pub spi: Vec<u8>,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify with no SPI and no protocol (the common IKE SA case).
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Notify {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }
}

/// Delete payload body (RFC 7296 §3.11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    /// IKE, ESP or AH.
    pub protocol: ProtocolId,
    /// 0 for IKE, 4 for ESP/AH.
    pub spi_size: u8,
    /// The SPIs, each `spi_size` octets (empty when deleting the IKE SA).
    pub spis: Vec<Vec<u8>>,
}

/// A traffic selector (RFC 7296 §3.13.1). IPv4 and IPv6 ranges; both ends the same family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol ID, 0 = any.
    pub ip_protocol: u8,
    /// First port of the range (0 for any).
    pub start_port: u16,
    /// Last port of the range (65535 for any).
    pub end_port: u16,
    /// First address of the range.
    pub start_addr: IpAddr,
    /// Last address of the range; same family as `start_addr`.
    pub end_addr: IpAddr,
}

/// A configuration attribute (RFC 7296 §3.15.1), kept generic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CfgAttribute {
    /// Attribute type, 15 bits (RFC 7296 §3.15.1; e.g. 1 = INTERNAL_IP4_ADDRESS).
    pub attr_type: u16,
    /// Attribute value (may be empty in a request).
    pub value: Vec<u8>,
}

/// Configuration payload body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// CFG_REQUEST, CFG_REPLY, CFG_SET or CFG_ACK.
    pub cfg_type: CfgType,
    /// The attributes, in wire order.
    pub attributes: Vec<CfgAttribute>,
}

/// The encrypted part of an SK payload, as found on the wire (not decrypted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encrypted {
    /// The Next Payload field of the SK header: type of the first inner payload.
    pub first_inner: PayloadType,
    /// IV | ciphertext | ICV, exactly as on the wire.
    pub body: Vec<u8>,
}

/// The encrypted part of an SKF (Encrypted Fragment) payload (RFC 7383 §2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedFragment {
    /// Next Payload of the SKF header: the first inner payload in fragment 1, 0 otherwise.
    pub first_inner: PayloadType,
    /// Fragment number, from 1.
    pub number: u16,
    /// Total number of fragments (>= `number`).
    pub total: u16,
    /// IV | ciphertext | ICV.
    pub body: Vec<u8>,
}

/// Every IKEv2 payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Security Association: the proposals.
    Sa(Vec<Proposal>),
    /// Key Exchange: method and the public value / encapsulation key / ciphertext.
    Ke {
        /// Key exchange method (Diffie-Hellman Group Num).
        method: KeMethod,
        /// Key exchange data.
        data: Vec<u8>,
    },
    /// Identification - Initiator.
    IdI(Identification),
    /// Identification - Responder.
    IdR(Identification),
    /// Certificate.
    Cert(CertData),
    /// Certificate Request.
    CertReq(CertData),
    /// Authentication.
    Auth(Auth),
    /// Nonce data (16..=256 octets, RFC 7296 §2.10; shorter or longer is rejected on decode).
    Nonce(Vec<u8>),
    /// Notify.
    Notify(Notify),
    /// Delete.
    Delete(Delete),
    /// Vendor ID.
    Vendor(Vec<u8>),
    /// Traffic Selector - Initiator.
    TsI(Vec<TrafficSelector>),
    /// Traffic Selector - Responder.
    TsR(Vec<TrafficSelector>),
    /// Configuration.
    Cp(Config),
    /// EAP is not implemented; kept verbatim.
    Eap(Vec<u8>),
    /// SK; always the last payload of a message.
    Encrypted(Encrypted),
    /// SKF; always the only payload of a message.
    EncryptedFragment(EncryptedFragment),
    /// A payload type we do not know. `critical` is the Critical bit (RFC 7296 §2.5: a critical
    /// unknown payload must make the message be rejected with UNSUPPORTED_CRITICAL_PAYLOAD).
    Unknown {
        /// The payload type (never one of the types above, nor NONE).
        payload_type: PayloadType,
        /// The Critical bit.
        critical: bool,
        /// The body, verbatim.
        body: Vec<u8>,
    },
}

impl Payload {
    /// This payload's type code.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke { .. } => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::Vendor(_) => PayloadType::VENDOR,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Eap(_) => PayloadType::EAP,
            Payload::Encrypted(_) => PayloadType::SK,
            Payload::EncryptedFragment(_) => PayloadType::SKF,
            Payload::Unknown { payload_type, .. } => *payload_type,
        }
    }

    /// The payload's name for error messages and logs, e.g. "KE payload" (abbreviations of
    /// RFC 7296 §3.2 and RFC 7383 §2.5).
    pub fn name(&self) -> &'static str {
        match self {
            Payload::Sa(_) => "SA payload",
            Payload::Ke { .. } => "KE payload",
            Payload::IdI(_) => "IDi payload",
            Payload::IdR(_) => "IDr payload",
            Payload::Cert(_) => "CERT payload",
            Payload::CertReq(_) => "CERTREQ payload",
            Payload::Auth(_) => "AUTH payload",
            Payload::Nonce(_) => "Nonce payload",
            Payload::Notify(_) => "Notify payload",
            Payload::Delete(_) => "Delete payload",
            Payload::Vendor(_) => "Vendor ID payload",
            Payload::TsI(_) => "TSi payload",
            Payload::TsR(_) => "TSr payload",
            Payload::Cp(_) => "CP payload",
            Payload::Eap(_) => "EAP payload",
            Payload::Encrypted(_) => "SK payload",
            Payload::EncryptedFragment(_) => "SKF payload",
            Payload::Unknown { .. } => "unknown payload",
        }
    }
}
