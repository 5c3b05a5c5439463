//! Values too large for their length or count fields fail with [`EncodeError`] (never a truncated
//! or saturated length), and everything up to each limit round-trips.
use crate::*;
use proptest::prelude::*;

/// The most KE data one payload can carry: the 2-octet Payload Length (RFC 7296 §3.2) counts the
/// 4-octet generic header and the KE body, which is Group Num (2) | RESERVED (2) | data
/// (RFC 7296 §3.4): 65 535 - 4 - 4 = 65 527 octets.
const KE_DATA_MAX: usize = 65_535 - GENERIC_HEADER_LEN - 4;

fn ke(len: usize) -> Payload {
    Payload::Ke {
        method: KeMethod::ML_KEM_768,
        // A pattern, not zeros, so a misplaced octet shows in the round trip.
        data: (0..len).map(|i| (i % 251) as u8).collect(),
    }
}

fn message(payloads: Vec<Payload>) -> Message {
    Message {
        header: Header::new(1, 2, ExchangeType::IKE_SA_INIT, Flags::default(), 0),
        payloads,
    }
}

#[test]
fn a_70000_octet_ke_payload_is_refused_naming_it() {
    // Payload Length would be 4 (generic header) + 4 (Group Num, RESERVED) + 70 000 = 70 008,
    // above the 65 535 its two octets can hold.
    let expected = EncodeError::TooLong {
        what: "KE payload",
        len: 70_008,
        max: 65_535,
    };
    assert_eq!(encode_payload_chain(&[ke(70_000)]), Err(expected));
    let m = message(vec![ke(70_000), Payload::Nonce(vec![7; 32])]);
    assert_eq!(m.encode(), Err(expected));
    assert_eq!(
        expected.to_string(),
        "KE payload too long: 70008 octets, the length field allows at most 65535"
    );
}

#[test]
fn ke_payload_limit_is_exact() {
    let bytes = message(vec![ke(KE_DATA_MAX)]).encode().unwrap();
    // Payload Length of the only payload: all ones.
    assert_eq!(
        &bytes[IKE_HEADER_LEN + 2..IKE_HEADER_LEN + 4],
        &[0xff, 0xff]
    );
    assert_eq!(
        message(vec![ke(KE_DATA_MAX + 1)]).encode(),
        Err(EncodeError::TooLong {
            what: "KE payload",
            len: 65_536,
            max: 65_535
        })
    );
}

#[test]
fn sk_and_skf_payload_limits() {
    let header = Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::default(), 1);
    // SK body = IV | plaintext | ICV: 16 + 65 499 + 16 = 65 531 = 65 535 - 4.
    let (buf, layout) = sk_layout(&header, PayloadType::IDI, None, 16, &[0; 65_499], 16).unwrap();
    assert_eq!(layout.total_len, IKE_HEADER_LEN + 65_535);
    assert!(Message::decode(&buf).is_ok());
    assert_eq!(
        sk_layout(&header, PayloadType::IDI, None, 16, &[0; 65_500], 16),
        Err(EncodeError::TooLong {
            what: "SK payload",
            len: 65_536,
            max: 65_535
        })
    );
    // SKF spends 4 more octets on Fragment Number and Total Fragments (RFC 7383 §2.5).
    assert!(sk_layout(
        &header,
        PayloadType::IDI,
        Some((1, 1)),
        16,
        &[0; 65_495],
        16
    )
    .is_ok());
    assert_eq!(
        sk_layout(
            &header,
            PayloadType::IDI,
            Some((1, 1)),
            16,
            &[0; 65_496],
            16
        ),
        Err(EncodeError::TooLong {
            what: "SKF payload",
            len: 65_536,
            max: 65_535
        })
    );
}

#[test]
fn substructure_fields_are_checked() {
    let transform = Transform {
        transform_type: TransformType::ENCR,
        id: 20,
        attributes: vec![],
    };
    let sa = |transforms: usize, spi: usize| {
        Payload::Sa(vec![Proposal {
            number: 1,
            protocol: ProtocolId::IKE,
            spi: vec![0; spi],
            transforms: vec![transform.clone(); transforms],
        }])
    };
    let mut out = Vec::new();
    assert!(sa(255, 0).encode_body(&mut out).is_ok());
    assert_eq!(
        sa(256, 0).encode_body(&mut Vec::new()),
        Err(EncodeError::TooMany {
            what: "transforms in a proposal",
            count: 256,
            max: 255
        })
    );
    assert_eq!(
        sa(1, 256).encode_body(&mut Vec::new()),
        Err(EncodeError::TooLong {
            what: "proposal SPI",
            len: 256,
            max: 255
        })
    );
    // A TLV attribute of 65 535 octets fits its own Length field but not the transform's.
    let big_attr = Payload::Sa(vec![Proposal {
        number: 1,
        protocol: ProtocolId::IKE,
        spi: vec![],
        transforms: vec![Transform {
            attributes: vec![Attribute::Other {
                attr_type: 1,
                tv: false,
                value: vec![0; 65_535],
            }],
            ..transform.clone()
        }],
    }]);
    assert_eq!(
        big_attr.encode_body(&mut Vec::new()),
        Err(EncodeError::TooLong {
            what: "transform",
            // Transform header (8) + attribute header (4) + value.
            len: 8 + 4 + 65_535,
            max: 65_535
        })
    );
    let tv = Payload::Sa(vec![Proposal {
        number: 1,
        protocol: ProtocolId::IKE,
        spi: vec![],
        transforms: vec![Transform {
            attributes: vec![Attribute::Other {
                attr_type: 1,
                tv: true,
                value: vec![1, 2, 3],
            }],
            ..transform
        }],
    }]);
    assert_eq!(
        tv.encode_body(&mut Vec::new()),
        Err(EncodeError::TooLong {
            what: "TV attribute value",
            len: 3,
            max: 2
        })
    );
    let ts = Payload::TsI(vec![TrafficSelector::any_ipv4(); 256]);
    assert_eq!(
        ts.encode_body(&mut Vec::new()),
        Err(EncodeError::TooMany {
            what: "traffic selectors in a TS payload",
            count: 256,
            max: 255
        })
    );
    let notify = Payload::Notify(Notify {
        spi: vec![0; 256],
        ..Notify::new(NotifyType::REKEY_SA, vec![])
    });
    assert_eq!(
        notify.encode_body(&mut Vec::new()),
        Err(EncodeError::TooLong {
            what: "Notify SPI",
            len: 256,
            max: 255
        })
    );
    let cp = Payload::Cp(Config {
        cfg_type: CfgType::REQUEST,
        attributes: vec![CfgAttribute {
            attr_type: 1,
            value: vec![0; 65_536],
        }],
    });
    assert_eq!(
        cp.encode_body(&mut Vec::new()),
        Err(EncodeError::TooLong {
            what: "configuration attribute",
            len: 65_536,
            max: 65_535
        })
    );
    let delete = Payload::Delete(Delete {
        protocol: ProtocolId::ESP,
        spi_size: 0,
        spis: vec![vec![]; 65_536],
    });
    assert_eq!(
        delete.encode_body(&mut Vec::new()),
        Err(EncodeError::TooMany {
            what: "SPIs in a Delete payload",
            count: 65_536,
            max: 65_535
        })
    );
}

proptest! {
    // Large bodies: fewer cases than the default keep this test quick.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any KE data length up to the limit encodes and decodes unchanged; one beyond never does.
    #[test]
    fn payload_sizes_round_trip_up_to_the_limit(len in 0..=KE_DATA_MAX, vendor_len in 0..=65_531usize) {
        let m = message(vec![ke(len), Payload::Vendor(vec![0x5a; vendor_len])]);
        let bytes = m.encode().unwrap();
        prop_assert_eq!(bytes.len(), IKE_HEADER_LEN + 8 + len + 4 + vendor_len);
        let decoded = Message::decode(&bytes).unwrap();
        prop_assert_eq!(decoded.payloads, m.payloads);

        let (first, chain) = encode_payload_chain(&[ke(len)]).unwrap();
        prop_assert_eq!(decode_payload_chain(first, &chain).unwrap(), vec![ke(len)]);
    }

    /// Past the limit the error reports the exact Payload Length that would have been needed.
    #[test]
    fn payload_sizes_beyond_the_limit_are_refused(extra in 1usize..5_000) {
        let len = KE_DATA_MAX + extra;
        prop_assert_eq!(
            message(vec![ke(len)]).encode(),
            Err(EncodeError::TooLong { what: "KE payload", len: 65_535 + extra, max: 65_535 })
        );
    }
}
