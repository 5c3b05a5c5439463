//! proptest strategies for every payload and for whole messages (feature `arbitrary`, and in
//! this crate's tests). Generated values are *encodable*: each one survives
//! encode → decode unchanged, which is what the round-trip properties check.
use crate::payload::*;
use crate::registry::*;
use crate::{Flags, Header, Message, IKE_VERSION_2_0, NONCE_MAX_LEN, NONCE_MIN_LEN};
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Arbitrary bytes, up to `max` long.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

/// A transform attribute (Key Length, other TV, other TLV).
pub fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        any::<u16>().prop_map(Attribute::KeyLength),
        // Type 14 in TV form is Key Length, so exclude it here.
        (0u16..0x8000)
            .prop_filter("TV 14 is KeyLength", |t| *t != 14)
            .prop_flat_map(|attr_type| vec(any::<u8>(), 2).prop_map(move |value| {
                Attribute::Other {
                    attr_type,
                    tv: true,
                    value,
                }
            })),
        (0u16..0x8000, bytes(12)).prop_map(|(attr_type, value)| Attribute::Other {
            attr_type,
            tv: false,
            value
        }),
    ]
}

/// A transform substructure.
pub fn transform() -> impl Strategy<Value = Transform> {
    (any::<u8>(), any::<u16>(), vec(attribute(), 0..3)).prop_map(|(t, id, attributes)| Transform {
        transform_type: TransformType(t),
        id,
        attributes,
    })
}

/// A proposal substructure.
pub fn proposal() -> impl Strategy<Value = Proposal> {
    (any::<u8>(), any::<u8>(), bytes(8), vec(transform(), 0..6)).prop_map(
        |(number, p, spi, transforms)| Proposal {
            number,
            protocol: ProtocolId(p),
            spi,
            transforms,
        },
    )
}

/// A traffic selector of either family (both ends the same family).
pub fn traffic_selector() -> impl Strategy<Value = TrafficSelector> {
    let v4 = (any::<u32>(), any::<u32>())
        .prop_map(|(s, e)| (IpAddr::V4(Ipv4Addr::from(s)), IpAddr::V4(Ipv4Addr::from(e))));
    let v6 = (any::<u128>(), any::<u128>())
        .prop_map(|(s, e)| (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(e))));
    (any::<u8>(), any::<u16>(), any::<u16>(), prop_oneof![v4, v6]).prop_map(
        |(ip_protocol, start_port, end_port, (s, e))| TrafficSelector {
            ip_protocol,
            start_port,
            end_port,
            start_addr: s,
            end_addr: e,
        },
    )
}

/// A notify payload body.
pub fn notify() -> impl Strategy<Value = Notify> {
    (any::<u8>(), bytes(8), any::<u16>(), bytes(40)).prop_map(|(p, spi, t, data)| Notify {
        protocol: ProtocolId(p),
        spi,
        notify_type: NotifyType(t),
        data,
    })
}

/// A delete payload body: no SPIs with SPI size 0, else SPIs all of the SPI size.
pub fn delete() -> impl Strategy<Value = Delete> {
    let ike = any::<u8>().prop_map(|p| Delete {
        protocol: ProtocolId(p),
        spi_size: 0,
        spis: Vec::new(),
    });
    let child = (any::<u8>(), 1u8..=8).prop_flat_map(|(p, size)| {
        vec(vec(any::<u8>(), usize::from(size)), 0..5).prop_map(move |spis| Delete {
            protocol: ProtocolId(p),
            spi_size: size,
            spis,
        })
    });
    prop_oneof![ike, child]
}

/// A configuration payload body.
pub fn config() -> impl Strategy<Value = Config> {
    let attr =
        (0u16..0x8000, bytes(16)).prop_map(|(attr_type, value)| CfgAttribute { attr_type, value });
    (any::<u8>(), vec(attr, 0..5)).prop_map(|(t, attributes)| Config {
        cfg_type: CfgType(t),
        attributes,
    })
}

/// A payload type that [`Payload`] has no variant for (and not NONE).
pub fn unknown_payload_type() -> impl Strategy<Value = PayloadType> {
    (1u8..=255)
        .prop_filter("known type", |t| !(33..=48).contains(t) && *t != 53)
        .prop_map(PayloadType)
}

/// Any payload that may appear in a plain chain (everything but SK and SKF).
pub fn plain_payload() -> impl Strategy<Value = Payload> {
    let ident = || {
        (any::<u8>(), bytes(40)).prop_map(|(t, data)| Identification {
            id_type: IdType(t),
            data,
        })
    };
    let cert = || {
        (any::<u8>(), bytes(60)).prop_map(|(e, data)| CertData {
            encoding: CertEncoding(e),
            data,
        })
    };
    prop_oneof![
        vec(proposal(), 0..4).prop_map(Payload::Sa),
        (any::<u16>(), bytes(100)).prop_map(|(m, data)| Payload::Ke {
            method: KeMethod(m),
            data
        }),
        ident().prop_map(Payload::IdI),
        ident().prop_map(Payload::IdR),
        cert().prop_map(Payload::Cert),
        cert().prop_map(Payload::CertReq),
        (any::<u8>(), bytes(64)).prop_map(|(m, data)| Payload::Auth(Auth {
            method: AuthMethod(m),
            data
        })),
        vec(any::<u8>(), NONCE_MIN_LEN..=NONCE_MAX_LEN).prop_map(Payload::Nonce),
        notify().prop_map(Payload::Notify),
        delete().prop_map(Payload::Delete),
        bytes(32).prop_map(Payload::Vendor),
        vec(traffic_selector(), 0..4).prop_map(Payload::TsI),
        vec(traffic_selector(), 0..4).prop_map(Payload::TsR),
        config().prop_map(Payload::Cp),
        bytes(40).prop_map(Payload::Eap),
        (unknown_payload_type(), any::<bool>(), bytes(40)).prop_map(
            |(payload_type, critical, body)| {
                Payload::Unknown {
                    payload_type,
                    critical,
                    body,
                }
            }
        ),
    ]
}

/// An SK payload (opaque body).
pub fn encrypted() -> impl Strategy<Value = Encrypted> {
    (any::<u8>(), bytes(80)).prop_map(|(t, body)| Encrypted {
        first_inner: PayloadType(t),
        body,
    })
}

/// An SKF payload with 1 <= number <= total.
pub fn encrypted_fragment() -> impl Strategy<Value = EncryptedFragment> {
    (1u16..=u16::MAX).prop_flat_map(|total| {
        (1..=total, any::<u8>(), bytes(80)).prop_map(move |(number, t, body)| EncryptedFragment {
            first_inner: PayloadType(t),
            number,
            total,
            body,
        })
    })
}

/// A header with `next_payload` NONE and `length` 0 (what [`Message::encode`] recomputes).
pub fn header() -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        any::<u64>(),
        0u8..16,
        any::<u8>(),
        any::<[bool; 3]>(),
        any::<u32>(),
    )
        .prop_map(
            |(spi_i, spi_r, minor, exchange, [initiator, response, version], message_id)| Header {
                spi_i,
                spi_r,
                next_payload: PayloadType::NONE,
                version: IKE_VERSION_2_0 | minor,
                exchange: ExchangeType(exchange),
                flags: Flags {
                    initiator,
                    response,
                    version,
                },
                message_id,
                length: 0,
            },
        )
}

/// A whole message: plain payloads optionally followed by an SK payload, or a lone SKF.
/// The header's `next_payload` and `length` are left for [`Message::encode`] to compute.
pub fn message() -> impl Strategy<Value = Message> {
    let chain = (
        vec(plain_payload(), 0..6),
        proptest::option::of(encrypted()),
    )
        .prop_map(|(mut ps, sk)| {
            ps.extend(sk.map(Payload::Encrypted));
            ps
        });
    let fragment = encrypted_fragment().prop_map(|f| vec![Payload::EncryptedFragment(f)]);
    (header(), prop_oneof![4 => chain, 1 => fragment])
        .prop_map(|(header, payloads)| Message { header, payloads })
}
