//! Malformed input: every rule of the codec rejects with the expected error.
use super::h;
use crate::*;

/// An IKE header (SPIs 1/2, INFORMATIONAL, I) with the given first payload, then `body`;
/// the length field is set to the real length.
fn msg(first: u8, body: &[u8]) -> Vec<u8> {
    let mut b = h("0000000000000001 0000000000000002 00 20 25 08 00000000 00000000");
    b[16] = first;
    b.extend_from_slice(body);
    let len = u32::try_from(b.len()).unwrap();
    b[24..28].copy_from_slice(&len.to_be_bytes());
    b
}

fn body_err(t: PayloadType, body: &str) -> DecodeError {
    Payload::decode_body(t, false, &h(body)).expect_err("must be rejected")
}

#[test]
fn header_errors() {
    let good = msg(0, &[]);
    assert!(Message::decode(&good).unwrap().payloads.is_empty());
    assert_eq!(
        Header::decode(&good[..27]),
        Err(DecodeError::Truncated { what: "IKE header" })
    );
    let mut v1 = good.clone();
    v1[17] = 0x10;
    assert_eq!(Header::decode(&v1), Err(DecodeError::BadVersion(1)));
    let mut v3 = good.clone();
    v3[17] = 0x30;
    assert_eq!(Message::decode(&v3), Err(DecodeError::BadVersion(3)));
    let mut short = good.clone();
    short[27] = 27;
    assert_eq!(
        Header::decode(&short),
        Err(DecodeError::BadLength {
            what: "IKE header length"
        })
    );
}

#[test]
fn header_length_must_match_datagram() {
    let mut b = msg(PayloadType::VENDOR.0, &h("00 00 0005 aa"));
    b.push(0);
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::BadLength {
            what: "IKE header length"
        })
    );
    let b = msg(PayloadType::VENDOR.0, &h("00 00 0005 aa"));
    assert_eq!(
        Message::decode(&b[..b.len() - 1]),
        Err(DecodeError::BadLength {
            what: "IKE header length"
        })
    );
    assert_eq!(
        locate_encrypted(&b[..b.len() - 1]),
        Err(DecodeError::BadLength {
            what: "IKE header length"
        })
    );
}

#[test]
fn generic_header_errors() {
    let v = PayloadType::VENDOR.0;
    // Length below the generic header size.
    for l in ["0000", "0003"] {
        let b = msg(v, &h(&format!("00 00 {l}")));
        assert_eq!(
            Message::decode(&b),
            Err(DecodeError::BadLength {
                what: "payload length below 4"
            })
        );
    }
    // Length beyond the message.
    let b = msg(v, &h("00 00 0009 aabb"));
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::BadLength {
            what: "payload length beyond message"
        })
    );
    // Chain ends (next payload NONE) but bytes remain.
    let b = msg(v, &h("00 00 0005 aa 00"));
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::BadLength {
            what: "payload chain (trailing data)"
        })
    );
    // Chain announces another payload but the message ends.
    let b = msg(v, &h("2b 00 0005 aa"));
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::Truncated {
            what: "generic payload header"
        })
    );
    // Partial generic header.
    let b = msg(v, &h("2b 00 0005 aa 00 00"));
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::Truncated {
            what: "generic payload header"
        })
    );
    // A body error inside a payload propagates.
    let b = msg(PayloadType::NONCE.0, &h("00 00 0005 aa"));
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::BadLength { what: "nonce" })
    );
}

#[test]
fn encrypted_payload_placement() {
    let sk = PayloadType::SK.0;
    let skf = PayloadType::SKF.0;
    // SK followed by more bytes (SK not last).
    let b = msg(sk, &h("29 00 0008 00000000 00 00 0008 00 00 4000"));
    assert_eq!(Message::decode(&b), Err(DecodeError::MisplacedEncrypted));
    assert_eq!(locate_encrypted(&b), Err(DecodeError::MisplacedEncrypted));
    // SKF after another payload.
    let b = msg(
        PayloadType::VENDOR.0,
        &h("35 00 0005 aa  00 00 000a 0001 0001 0000"),
    );
    assert_eq!(Message::decode(&b), Err(DecodeError::MisplacedEncrypted));
    assert_eq!(locate_encrypted(&b), Err(DecodeError::MisplacedEncrypted));
    // SKF followed by more bytes.
    let b = msg(skf, &h("00 00 0008 0001 0001 2b 00 0004"));
    assert_eq!(Message::decode(&b), Err(DecodeError::MisplacedEncrypted));
    // SK or SKF inside a decrypted chain.
    assert_eq!(
        decode_payload_chain(PayloadType::SK, &h("00 00 0008 00000000")),
        Err(DecodeError::MisplacedEncrypted)
    );
    assert_eq!(
        decode_payload_chain(PayloadType::SKF, &h("00 00 0008 0001 0001")),
        Err(DecodeError::MisplacedEncrypted)
    );
    // No encrypted payload at all.
    let b = msg(PayloadType::VENDOR.0, &h("00 00 0005 aa"));
    assert_eq!(
        locate_encrypted(&b),
        Err(DecodeError::Invalid {
            what: "no encrypted payload"
        })
    );
}

#[test]
fn skf_fragment_numbers() {
    let skf = PayloadType::SKF.0;
    for (num_total, ok) in [
        ("0001 0001", true),
        ("0003 0003", true),
        ("0000 0001", false),
        ("0003 0002", false),
        ("0000 0000", false),
    ] {
        let b = msg(skf, &h(&format!("00 00 0008 {num_total}")));
        if ok {
            assert!(Message::decode(&b).is_ok(), "{num_total}");
            assert!(locate_encrypted(&b).is_ok(), "{num_total}");
        } else {
            assert_eq!(
                Message::decode(&b),
                Err(DecodeError::Invalid {
                    what: "SKF fragment number"
                })
            );
            assert_eq!(
                locate_encrypted(&b),
                Err(DecodeError::Invalid {
                    what: "SKF fragment number"
                })
            );
        }
    }
    // Too short for the fragment fields.
    let b = msg(skf, &h("00 00 0006 0001"));
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::Truncated {
            what: "SKF payload"
        })
    );
}

#[test]
fn sa_errors() {
    let sa = PayloadType::SA;
    // "More" flag on the only proposal.
    assert_eq!(
        body_err(sa, "02 00 0008 01 01 00 00"),
        DecodeError::Truncated {
            what: "SA payload (missing proposal)"
        }
    );
    // "Last" flag with another proposal after it.
    assert_eq!(
        body_err(sa, "00 00 0008 01 01 00 00 00 00 0008 02 01 00 00"),
        DecodeError::BadLength {
            what: "SA payload (data after last proposal)"
        }
    );
    // Invalid flag value (3 is for transforms).
    assert_eq!(
        body_err(sa, "03 00 0008 01 01 00 00"),
        DecodeError::Invalid {
            what: "proposal last-substructure flag"
        }
    );
    // Proposal length below its fixed header, and beyond the payload.
    assert_eq!(
        body_err(sa, "00 00 0003 01 01 00 00"),
        DecodeError::BadLength { what: "proposal" }
    );
    assert_eq!(
        body_err(sa, "00 00 0009 01 01 00 00"),
        DecodeError::BadLength { what: "proposal" }
    );
    // Proposal too short for its fixed fields.
    assert_eq!(
        body_err(sa, "00 00 0006 01 01"),
        DecodeError::Truncated { what: "proposal" }
    );
    // SPI size beyond the proposal.
    assert_eq!(
        body_err(sa, "00 00 000a 01 03 04 00 aabb"),
        DecodeError::Truncated { what: "proposal" }
    );
    // Transform count says 2 but one is present (and vice versa).
    assert_eq!(
        body_err(sa, "00 00 0010 01 01 00 02 03 00 0008 01 00 0014"),
        DecodeError::Truncated { what: "proposal" }
    );
    assert_eq!(
        body_err(sa, "00 00 0010 01 01 00 00 00 00 0008 01 00 0014"),
        DecodeError::BadLength {
            what: "proposal (transform count)"
        }
    );
    // Wrong transform flag (3 on the last transform; 0 on a non-last one).
    assert_eq!(
        body_err(sa, "00 00 0010 01 01 00 01 03 00 0008 01 00 0014"),
        DecodeError::Invalid {
            what: "transform last-substructure flag"
        }
    );
    assert_eq!(
        body_err(
            sa,
            "00 00 0018 01 01 00 02 00 00 0008 01 00 0014 00 00 0008 02 00 0007"
        ),
        DecodeError::Invalid {
            what: "transform last-substructure flag"
        }
    );
    // Transform length below 4, beyond the proposal, and too short for its fields.
    assert_eq!(
        body_err(sa, "00 00 0010 01 01 00 01 00 00 0002 01 00 0014"),
        DecodeError::BadLength { what: "transform" }
    );
    assert_eq!(
        body_err(sa, "00 00 0010 01 01 00 01 00 00 0009 01 00 0014"),
        DecodeError::BadLength { what: "transform" }
    );
    assert_eq!(
        body_err(sa, "00 00 000e 01 01 00 01 00 00 0006 01 00"),
        DecodeError::Truncated { what: "transform" }
    );
    // TLV attribute longer than the transform; TV attribute cut short.
    assert_eq!(
        body_err(sa, "00 00 0014 01 01 00 01 00 00 000c 01 00 0014 0011 0005"),
        DecodeError::Truncated { what: "transform" }
    );
    assert_eq!(
        body_err(sa, "00 00 0012 01 01 00 01 00 00 000a 01 00 0014 800e"),
        DecodeError::Truncated { what: "transform" }
    );
}

#[test]
fn fixed_field_truncation() {
    let t = |what| DecodeError::Truncated { what };
    assert_eq!(body_err(PayloadType::KE, "001f 00"), t("payload body"));
    assert_eq!(body_err(PayloadType::IDI, "02 0000"), t("payload body"));
    assert_eq!(body_err(PayloadType::CERT, ""), t("payload body"));
    assert_eq!(body_err(PayloadType::AUTH, "02"), t("payload body"));
    assert_eq!(body_err(PayloadType::NOTIFY, "00 00 40"), t("payload body"));
    // SPI size beyond the payload.
    assert_eq!(
        body_err(PayloadType::NOTIFY, "03 04 4009 1122"),
        t("payload body")
    );
    assert_eq!(body_err(PayloadType::DELETE, "03 04 00"), t("payload body"));
    assert_eq!(body_err(PayloadType::TSI, "01 0000"), t("payload body"));
    assert_eq!(
        body_err(PayloadType::CP, "01 000000 0001"),
        t("payload body")
    );
    // CP attribute value longer than the payload.
    assert_eq!(
        body_err(PayloadType::CP, "01 000000 0001 0004 0a00"),
        t("payload body")
    );
}

#[test]
fn delete_errors() {
    assert_eq!(
        body_err(PayloadType::DELETE, "01 00 0001"),
        DecodeError::Invalid {
            what: "Delete payload (SPIs with SPI size 0)"
        }
    );
    assert_eq!(
        body_err(PayloadType::DELETE, "03 04 0002 aabbccdd"),
        DecodeError::BadLength {
            what: "Delete payload"
        }
    );
    assert_eq!(
        body_err(PayloadType::DELETE, "03 04 0001 aabbccdd 00"),
        DecodeError::BadLength {
            what: "Delete payload"
        }
    );
}

#[test]
fn traffic_selector_errors() {
    let ts = PayloadType::TSR;
    // Unknown TS type (9 = RFC 9478 security label).
    assert_eq!(
        body_err(ts, "01 000000 09 00 0008 0000 ffff"),
        DecodeError::Invalid {
            what: "traffic selector type"
        }
    );
    // IPv4 type with an IPv6 length, and IPv6 type with an IPv4 length (family mismatch).
    assert_eq!(
        body_err(
            ts,
            &format!("01 000000 07 00 0028 0000 ffff {}", "00".repeat(32))
        ),
        DecodeError::BadLength {
            what: "traffic selector"
        }
    );
    assert_eq!(
        body_err(ts, "01 000000 08 00 0010 0000 ffff 0a000000 0a0000ff"),
        DecodeError::BadLength {
            what: "traffic selector"
        }
    );
    // Count larger / smaller than the selectors present.
    assert_eq!(
        body_err(ts, "02 000000 07 00 0010 0000 ffff 0a000000 0a0000ff"),
        DecodeError::Truncated {
            what: "payload body"
        }
    );
    assert_eq!(
        body_err(ts, "00 000000 07 00 0010 0000 ffff 0a000000 0a0000ff"),
        DecodeError::BadLength {
            what: "TS payload (selector count)"
        }
    );
    // Selector cut short.
    assert_eq!(
        body_err(ts, "01 000000 07 00 0010 0000 ffff 0a000000"),
        DecodeError::Truncated {
            what: "payload body"
        }
    );
}

#[test]
fn sk_bodies_need_their_header() {
    assert!(matches!(
        body_err(PayloadType::SK, "00"),
        DecodeError::Invalid { .. }
    ));
    assert!(matches!(
        body_err(PayloadType::SKF, "0001 0001"),
        DecodeError::Invalid { .. }
    ));
}
