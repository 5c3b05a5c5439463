//! Hand-made byte vectors, laid out field by field from RFC 7296 §3 / RFC 7383 §2.5.
use super::h;
use crate::*;
use std::net::IpAddr;

/// Decode a body, check the value, and check that encoding gives the same bytes back.
fn body_vector(t: PayloadType, bytes: &[u8], expected: Payload) {
    let p = Payload::decode_body(t, false, bytes).expect("vector decodes");
    assert_eq!(p, expected);
    let mut out = Vec::new();
    p.encode_body(&mut out).unwrap();
    assert_eq!(out, bytes, "re-encoding {t}");
}

/// A captured-style IKE_SA_INIT request: SA(AES-GCM-16/256, PRF-SHA512, X25519, ADDKE1 ML-KEM-768),
/// KE, Nonce, NATD_S_IP, NATD_D_IP, IKEV2_FRAGMENTATION_SUPPORTED.
fn ike_sa_init_bytes() -> Vec<u8> {
    let mut v = h("
        0011223344556677 0000000000000000 21 20 22 08 00000000 000000d8
        22 00 0030
          00 00 002c 01 01 00 04
            03 00 000c 01 00 0014 800e 0100
            03 00 0008 02 00 0007
            03 00 0008 04 00 001f
            00 00 0008 06 00 0024
        28 00 0028 001f 0000");
    v.extend([0xaa; 32]);
    v.extend(h("29 00 0024"));
    v.extend([0xbb; 32]);
    v.extend(h("29 00 001c 00 00 4004"));
    v.extend([0xcc; 20]);
    v.extend(h("29 00 001c 00 00 4005"));
    v.extend([0xdd; 20]);
    v.extend(h("00 00 0008 00 00 402e"));
    v
}

fn ike_sa_init_message() -> Message {
    let t = |transform_type, id, attributes| Transform {
        transform_type,
        id,
        attributes,
    };
    Message {
        header: Header {
            spi_i: 0x0011_2233_4455_6677,
            spi_r: 0,
            next_payload: PayloadType::SA,
            version: 0x20,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags {
                initiator: true,
                response: false,
                version: false,
            },
            message_id: 0,
            length: 216,
        },
        payloads: vec![
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: ProtocolId::IKE,
                spi: vec![],
                transforms: vec![
                    t(
                        TransformType::ENCR,
                        EncrId::AES_GCM_16.0,
                        vec![Attribute::KeyLength(256)],
                    ),
                    t(TransformType::PRF, PrfId::HMAC_SHA2_512.0, vec![]),
                    t(TransformType::KE, KeMethod::CURVE25519.0, vec![]),
                    t(TransformType::ADDKE1, KeMethod::ML_KEM_768.0, vec![]),
                ],
            }]),
            Payload::Ke {
                method: KeMethod::CURVE25519,
                data: vec![0xaa; 32],
            },
            Payload::Nonce(vec![0xbb; 32]),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                vec![0xcc; 20],
            )),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                vec![0xdd; 20],
            )),
            Payload::Notify(Notify::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                vec![],
            )),
        ],
    }
}

#[test]
fn ike_sa_init_request() {
    let bytes = ike_sa_init_bytes();
    assert_eq!(bytes.len(), 216);
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m, ike_sa_init_message());
    assert_eq!(m.encode().unwrap(), bytes);
    assert_eq!(
        m.to_string(),
        "IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) ]"
    );
    assert_eq!(m.notifies().count(), 3);
    let Payload::Sa(props) = &m.payloads[0] else {
        panic!("SA first")
    };
    assert_eq!(props[0].transforms[0].key_length(), Some(256));
    assert_eq!(props[0].transforms[1].key_length(), None);
}

#[test]
fn encode_recomputes_header_length_and_next_payload() {
    let mut m = ike_sa_init_message();
    m.header.length = 0;
    m.header.next_payload = PayloadType::NONE;
    assert_eq!(m.encode().unwrap(), ike_sa_init_bytes());
}

#[test]
fn header_fields() {
    let mut b = ike_sa_init_bytes();
    b[19] = 0x20 | 0x08 | 0x10 | 0x01; // R, I, V and an unknown bit
    b[17] = 0x2f; // minor version 15 is accepted and kept
    let hd = Header::decode(&b).unwrap();
    assert_eq!(
        hd.flags,
        Flags {
            initiator: true,
            response: true,
            version: true
        }
    );
    assert_eq!(hd.version, 0x2f);
    let mut out = Vec::new();
    hd.encode(&mut out);
    assert_eq!(out[19], 0x38, "unknown flag bits are not echoed");
    assert_eq!(out[..19], b[..19]);
    assert_eq!(out[20..28], b[20..28]);
}

#[test]
fn critical_bit_only_kept_for_unknown_payloads() {
    // A Vendor ID with the critical bit set, then a private-use payload 0x80 with it set.
    let mut b = h("0011223344556677 8899aabbccddeeff 2b 20 25 20 00000001 00000024");
    b.extend(h("80 80 0006 abcd   00 80 0006 0102"));
    b[27] = u8::try_from(b.len()).unwrap();
    let m = Message::decode(&b).unwrap();
    assert_eq!(
        m.payloads,
        vec![
            Payload::Vendor(vec![0xab, 0xcd]),
            Payload::Unknown {
                payload_type: PayloadType(0x80),
                critical: true,
                body: vec![1, 2]
            },
        ]
    );
    let out = m.encode().unwrap();
    assert_eq!(
        out[29], 0x00,
        "known payloads are sent with the critical bit clear"
    );
    assert_eq!(out[35], 0x80, "unknown payload keeps its critical bit");
    assert_eq!(
        m.to_string(),
        "INFORMATIONAL response 1 [ V UNKN(128,crit) ]"
    );
    assert_eq!(
        first_unsupported_critical(&m.payloads),
        Some(PayloadType(0x80))
    );
    assert_eq!(first_unsupported_critical(&m.payloads[..1]), None);
    let not_critical = [Payload::Unknown {
        payload_type: PayloadType(0x81),
        critical: false,
        body: vec![],
    }];
    assert_eq!(first_unsupported_critical(&not_critical), None);
}

#[test]
fn reserved_bits_in_generic_header_are_ignored() {
    let mut b = ike_sa_init_bytes();
    b[29] = 0x7f; // SA payload: reserved bits set, critical clear
    let m = Message::decode(&b).unwrap();
    assert_eq!(m, ike_sa_init_message());
}

#[test]
fn ke_payload() {
    let mut b = h("0024 0000");
    b.extend([7u8; 1184]);
    body_vector(
        PayloadType::KE,
        &b,
        Payload::Ke {
            method: KeMethod::ML_KEM_768,
            data: vec![7; 1184],
        },
    );
}

#[test]
fn id_payloads() {
    let mut b = h("02 000000");
    b.extend(b"vpn.example.org");
    let id = Identification {
        id_type: IdType::FQDN,
        data: b"vpn.example.org".to_vec(),
    };
    body_vector(PayloadType::IDI, &b, Payload::IdI(id.clone()));
    body_vector(PayloadType::IDR, &b, Payload::IdR(id));
    // Reserved octets are ignored on receipt and written as zero.
    let p = Payload::decode_body(PayloadType::IDI, false, &h("01 ffffff c0000201")).unwrap();
    assert_eq!(
        p,
        Payload::IdI(Identification {
            id_type: IdType::IPV4_ADDR,
            data: vec![192, 0, 2, 1]
        })
    );
    let mut out = Vec::new();
    p.encode_body(&mut out).unwrap();
    assert_eq!(out, h("01 000000 c0000201"));
}

#[test]
fn cert_and_certreq_payloads() {
    body_vector(
        PayloadType::CERT,
        &h("04 3082000a"),
        Payload::Cert(CertData {
            encoding: CertEncoding::X509_SIG,
            data: h("3082000a"),
        }),
    );
    let b = [vec![4u8], vec![0x5a; 40]].concat();
    body_vector(
        PayloadType::CERTREQ,
        &b,
        Payload::CertReq(CertData {
            encoding: CertEncoding::X509_SIG,
            data: vec![0x5a; 40],
        }),
    );
}

#[test]
fn auth_payload() {
    body_vector(
        PayloadType::AUTH,
        &h("0e 000000 0102030405"),
        Payload::Auth(Auth {
            method: AuthMethod::DIGITAL_SIGNATURE,
            data: h("0102030405"),
        }),
    );
}

#[test]
fn nonce_payload_and_its_length_limits() {
    body_vector(PayloadType::NONCE, &[1; 16], Payload::Nonce(vec![1; 16]));
    body_vector(PayloadType::NONCE, &[2; 256], Payload::Nonce(vec![2; 256]));
    for n in [0, 15, 257] {
        assert_eq!(
            Payload::decode_body(PayloadType::NONCE, false, &vec![0; n]),
            Err(DecodeError::BadLength { what: "nonce" })
        );
    }
}

#[test]
fn notify_payloads() {
    // REKEY_SA for an ESP SA: protocol 3, SPI size 4, type 16393, SPI, no data.
    body_vector(
        PayloadType::NOTIFY,
        &h("03 04 4009 11223344"),
        Payload::Notify(Notify {
            protocol: ProtocolId::ESP,
            spi: h("11223344"),
            notify_type: NotifyType::REKEY_SA,
            data: vec![],
        }),
    );
    // INVALID_KE_PAYLOAD carrying the accepted group (RFC 7296 §3.10.1).
    body_vector(
        PayloadType::NOTIFY,
        &h("00 00 0011 001f"),
        Payload::Notify(Notify::new(NotifyType::INVALID_KE_PAYLOAD, h("001f"))),
    );
}

#[test]
fn delete_payloads() {
    body_vector(
        PayloadType::DELETE,
        &h("03 04 0002 aabbccdd 11223344"),
        Payload::Delete(Delete {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: vec![h("aabbccdd"), h("11223344")],
        }),
    );
    body_vector(
        PayloadType::DELETE,
        &h("01 00 0000"),
        Payload::Delete(Delete {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: vec![],
        }),
    );
}

#[test]
fn vendor_and_eap_payloads_are_verbatim() {
    body_vector(
        PayloadType::VENDOR,
        &h("882fe56d6fd20dbc2251613b2ebe5beb"),
        Payload::Vendor(h("882fe56d6fd20dbc2251613b2ebe5beb")),
    );
    body_vector(
        PayloadType::EAP,
        &h("01 02 0005 01"),
        Payload::Eap(h("01 02 0005 01")),
    );
}

#[test]
fn traffic_selector_payloads() {
    let b = h("
        02 000000
        07 00 0010 0000 ffff 0a000000 0a0000ff
        08 06 0028 01bb 01bb 20010db8000000000000000000000000 20010db8000000000000000000000001");
    let v6a: IpAddr = "2001:db8::".parse().unwrap();
    let v6b: IpAddr = "2001:db8::1".parse().unwrap();
    let ts = vec![
        TrafficSelector::from_cidr("10.0.0.0/24").unwrap(),
        TrafficSelector::range(v6a, v6b)
            .unwrap()
            .with_protocol(6)
            .with_ports(443, 443),
    ];
    body_vector(PayloadType::TSI, &b, Payload::TsI(ts.clone()));
    body_vector(PayloadType::TSR, &b, Payload::TsR(ts));
}

#[test]
fn mixed_family_selector_is_encoded_as_ipv6() {
    let ts = TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: "10.0.0.1".parse().unwrap(),
        end_addr: "::1".parse().unwrap(),
    };
    let mut out = Vec::new();
    Payload::TsI(vec![ts]).encode_body(&mut out).unwrap();
    assert_eq!(out.len(), 4 + 40);
    assert_eq!(out[4], 8);
    let Payload::TsI(back) = Payload::decode_body(PayloadType::TSI, false, &out).unwrap() else {
        panic!()
    };
    assert_eq!(
        back[0].start_addr,
        "::ffff:10.0.0.1".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn cp_payloads() {
    // CFG_REQUEST for INTERNAL_IP4_ADDRESS and INTERNAL_IP4_DNS, both empty.
    body_vector(
        PayloadType::CP,
        &h("01 000000 0001 0000 0003 0000"),
        Payload::Cp(Config {
            cfg_type: CfgType::REQUEST,
            attributes: vec![
                CfgAttribute {
                    attr_type: 1,
                    value: vec![],
                },
                CfgAttribute {
                    attr_type: 3,
                    value: vec![],
                },
            ],
        }),
    );
    // CFG_REPLY with an address; the reserved high bit of the type is ignored.
    let p =
        Payload::decode_body(PayloadType::CP, false, &h("02 000000 8001 0004 0a000001")).unwrap();
    let expected = Payload::Cp(Config {
        cfg_type: CfgType::REPLY,
        attributes: vec![CfgAttribute {
            attr_type: 1,
            value: h("0a000001"),
        }],
    });
    assert_eq!(p, expected);
    let mut out = Vec::new();
    p.encode_body(&mut out).unwrap();
    assert_eq!(out, h("02 000000 0001 0004 0a000001"));
    assert_eq!(
        summary(ExchangeType::IKE_AUTH, true, 1, &[p]),
        "IKE_AUTH response 1 [ CPRP(ADDR) ]"
    );
}

#[test]
fn sa_with_esp_proposals_and_attributes() {
    // Two ESP proposals (SPI size 4): #1 AES-CBC/128 + HMAC-SHA2-256 + ESN, #2 ENCR with a TLV attribute.
    let b = h("
        02 00 0028 01 03 04 03 cafebabe
          03 00 000c 01 00 000c 800e 0080
          03 00 0008 03 00 000c
          00 00 0008 05 00 0000
        00 00 001a 02 03 04 01 cafebabe
          00 00 000e 01 00 0014 0011 0002 abcd");
    let expected = Payload::Sa(vec![
        Proposal {
            number: 1,
            protocol: ProtocolId::ESP,
            spi: h("cafebabe"),
            transforms: vec![
                Transform {
                    transform_type: TransformType::ENCR,
                    id: 12,
                    attributes: vec![Attribute::KeyLength(128)],
                },
                Transform {
                    transform_type: TransformType::INTEG,
                    id: 12,
                    attributes: vec![],
                },
                Transform {
                    transform_type: TransformType::ESN,
                    id: 0,
                    attributes: vec![],
                },
            ],
        },
        Proposal {
            number: 2,
            protocol: ProtocolId::ESP,
            spi: h("cafebabe"),
            transforms: vec![Transform {
                transform_type: TransformType::ENCR,
                id: 20,
                attributes: vec![Attribute::Other {
                    attr_type: 0x11,
                    tv: false,
                    value: h("abcd"),
                }],
            }],
        },
    ]);
    body_vector(PayloadType::SA, &b, expected);
}

#[test]
fn sk_message_layout_and_location() {
    let header = Header::new(
        1,
        2,
        ExchangeType::IKE_AUTH,
        Flags {
            initiator: true,
            ..Flags::default()
        },
        1,
    );
    let plaintext = [9u8; 23];
    let (buf, layout) = sk_layout(&header, PayloadType::IDI, None, 16, &plaintext, 16).unwrap();
    assert_eq!(
        layout,
        SkLayout {
            iv_offset: 32,
            plaintext_offset: 48,
            icv_offset: 71,
            total_len: 87
        }
    );
    assert_eq!(buf.len(), 87);
    // IKE header: next payload SK (46), length 87; SK header: next IDi (35), length 59.
    assert_eq!(buf[16], 46);
    assert_eq!(buf[24..28], 87u32.to_be_bytes());
    assert_eq!(buf[28..32], h("23 00 003b"));
    assert_eq!(buf[48..71], plaintext);
    let m = Message::decode(&buf).unwrap();
    let e = m.encrypted().unwrap();
    assert_eq!(e.first_inner, PayloadType::IDI);
    assert_eq!(e.body.len(), 16 + 23 + 16);
    assert_eq!(m.to_string(), "IKE_AUTH request 1 [ SK ]");
    let loc = locate_encrypted(&buf).unwrap();
    assert_eq!(
        loc,
        EncryptedLocation {
            payload_offset: 28,
            iv_offset: 32,
            end: 87,
            payload_type: PayloadType::SK,
            first_inner: PayloadType::IDI,
            fragment: None
        }
    );
}

#[test]
fn skf_message_layout_and_location() {
    let header = Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::default(), 1);
    let (buf, layout) = sk_layout(
        &header,
        PayloadType::NONE,
        Some((2, 3)),
        8,
        &[1, 2, 3, 4],
        16,
    )
    .unwrap();
    assert_eq!(
        layout,
        SkLayout {
            iv_offset: 36,
            plaintext_offset: 44,
            icv_offset: 48,
            total_len: 64
        }
    );
    // SKF header: next NONE (not the first fragment), length 36, fragment 2 of 3.
    assert_eq!(buf[16], 53);
    assert_eq!(buf[28..36], h("00 00 0024 0002 0003"));
    let m = Message::decode(&buf).unwrap();
    let f = m.encrypted_fragment().unwrap();
    assert_eq!(
        (f.number, f.total, f.first_inner, f.body.len()),
        (2, 3, PayloadType::NONE, 28)
    );
    assert_eq!(m.to_string(), "IKE_AUTH request 1 [ EF(2/3) ]");
    let loc = locate_encrypted(&buf).unwrap();
    assert_eq!((loc.payload_offset, loc.iv_offset, loc.end), (28, 36, 64));
    assert_eq!(
        (loc.payload_type, loc.fragment),
        (PayloadType::SKF, Some((2, 3)))
    );
}

#[test]
fn locate_encrypted_after_plain_payloads() {
    let m = Message {
        header: Header::new(5, 6, ExchangeType::INFORMATIONAL, Flags::default(), 7),
        payloads: vec![
            Payload::Vendor(vec![1, 2, 3]),
            Payload::Encrypted(Encrypted {
                first_inner: PayloadType::DELETE,
                body: vec![0; 40],
            }),
        ],
    };
    let buf = m.encode().unwrap();
    let loc = locate_encrypted(&buf).unwrap();
    assert_eq!((loc.payload_offset, loc.iv_offset, loc.end), (35, 39, 79));
    assert_eq!(loc.first_inner, PayloadType::DELETE);
}

#[test]
fn inner_chain_round_trip() {
    let inner = vec![
        Payload::IdI(Identification {
            id_type: IdType::FQDN,
            data: b"a".to_vec(),
        }),
        Payload::Auth(Auth {
            method: AuthMethod::PSK,
            data: vec![3; 32],
        }),
        Payload::TsI(vec![TrafficSelector::any_ipv4()]),
    ];
    let (first, bytes) = encode_payload_chain(&inner).unwrap();
    assert_eq!(first, PayloadType::IDI);
    assert_eq!(bytes[0], PayloadType::AUTH.0);
    assert_eq!(decode_payload_chain(first, &bytes).unwrap(), inner);
    assert_eq!(
        encode_payload_chain(&[]).unwrap(),
        (PayloadType::NONE, vec![])
    );
    assert_eq!(
        decode_payload_chain(PayloadType::NONE, &[]).unwrap(),
        vec![]
    );
}

#[test]
fn summary_of_unknown_notify_and_exchange() {
    let p = [
        Payload::Notify(Notify::new(NotifyType(40000), vec![])),
        Payload::Delete(Delete {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: vec![],
        }),
    ];
    assert_eq!(
        summary(ExchangeType(99), false, 3, &p),
        "ExchangeType(99) request 3 [ N(40000) D ]"
    );
}
