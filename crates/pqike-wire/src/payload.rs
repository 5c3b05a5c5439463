//! The owned, validated form of every IKEv2 payload (RFC 7296 §3, RFC 7383 §2.5).
//!
//! Decoding never panics: every length is checked and a malformed body yields a
//! [`crate::DecodeError`]. Encoding of a decoded payload reproduces the same bytes
//! (except reserved fields, which are written as zero).
use crate::registry::*;
use std::net::IpAddr;

/// One transform attribute (RFC 7296 §3.3.5). Only Key Length (type 14, TV format) is defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// Key Length in bits (attribute type 14, TV form).
    KeyLength(u16),
    /// Any other attribute, kept verbatim: (attribute type without the AF bit, TV?, value).
    Other { attr_type: u16, tv: bool, value: Vec<u8> },
}

/// A transform substructure (RFC 7296 §3.3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transform {
    pub transform_type: TransformType,
    pub id: u16,
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
    pub protocol: ProtocolId,
    /// Empty in IKE_SA_INIT; 8 octets for an IKE SA rekey; 4 for ESP/AH.
    pub spi: Vec<u8>,
    pub transforms: Vec<Transform>,
}

/// Identification payload (IDi / IDr) body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identification {
    pub id_type: IdType,
    pub data: Vec<u8>,
}

/// Certificate / Certificate Request payload body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertData {
    pub encoding: CertEncoding,
    pub data: Vec<u8>,
}

/// Authentication payload body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    pub method: AuthMethod,
    pub data: Vec<u8>,
}

/// Notify payload body (RFC 7296 §3.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    pub protocol: ProtocolId,
    pub spi: Vec<u8>,
    pub notify_type: NotifyType,
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify with no SPI and no protocol (the common IKE SA case).
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Notify { protocol: ProtocolId::NONE, spi: Vec::new(), notify_type, data }
    }
}

/// Delete payload body (RFC 7296 §3.11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    pub protocol: ProtocolId,
    /// 0 for IKE, 4 for ESP/AH.
    pub spi_size: u8,
    pub spis: Vec<Vec<u8>>,
}

/// A traffic selector (RFC 7296 §3.13.1). IPv4 and IPv6 ranges; both ends the same family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol ID, 0 = any.
    pub ip_protocol: u8,
    pub start_port: u16,
    pub end_port: u16,
    pub start_addr: IpAddr,
    pub end_addr: IpAddr,
}

/// A configuration attribute (RFC 7296 §3.15.1), kept generic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CfgAttribute {
    pub attr_type: u16,
    pub value: Vec<u8>,
}

/// Configuration payload body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub cfg_type: CfgType,
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
    pub total: u16,
    /// IV | ciphertext | ICV.
    pub body: Vec<u8>,
}

/// Every IKEv2 payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Sa(Vec<Proposal>),
    /// Key Exchange: method and the public value / encapsulation key / ciphertext.
    Ke { method: KeMethod, data: Vec<u8> },
    IdI(Identification),
    IdR(Identification),
    Cert(CertData),
    CertReq(CertData),
    Auth(Auth),
    Nonce(Vec<u8>),
    Notify(Notify),
    Delete(Delete),
    Vendor(Vec<u8>),
    TsI(Vec<TrafficSelector>),
    TsR(Vec<TrafficSelector>),
    Cp(Config),
    /// EAP is not implemented; kept verbatim.
    Eap(Vec<u8>),
    /// SK; always the last payload of a message.
    Encrypted(Encrypted),
    /// SKF; always the only payload of a message.
    EncryptedFragment(EncryptedFragment),
    /// A payload type we do not know. `critical` is the Critical bit (RFC 7296 §2.5: a critical
    /// unknown payload must make the message be rejected with UNSUPPORTED_CRITICAL_PAYLOAD).
    Unknown { payload_type: PayloadType, critical: bool, body: Vec<u8> },
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
}
