//! `EndpointConfig::export_keys`: the exported IKE SA keys must be the ones that protect the
//! messages on the wire (they feed Wireshark's `ikev2_decryption_table`), for each generation:
//! IKE_SA_INIT, every RFC 9370 IKE_INTERMEDIATE key update and the new SA of an IKE rekey.
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::CryptoProvider;
use pqike_proto::*;
use pqike_sim::{Net, Pair};
use pqike_wire::{
    decode_payload_chain, locate_encrypted, ExchangeType, Header, KeMethod, Payload, PayloadType,
    TrafficSelector,
};
use std::net::IpAddr;
use std::time::Duration;

const A: [u8; 4] = [192, 0, 2, 1];
const B: [u8; 4] = [198, 51, 100, 2];

fn ts(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: IpAddr::from([a[0], a[1], 0, 0]),
        end_addr: IpAddr::from([a[0], a[1], 255, 255]),
    }
}

fn connection(initiator: bool) -> ConnectionConfig {
    let (me, peer, my_id, peer_id, lnet, rnet) = if initiator {
        (A, B, "a.example", "b.example", [10, 1, 0, 0], [10, 2, 0, 0])
    } else {
        (B, A, "b.example", "a.example", [10, 2, 0, 0], [10, 1, 0, 0])
    };
    let mut ike = ProposalConfig {
        // AES-CBC-256 + HMAC-SHA2-256-128: exercises SK_a too (AEAD leaves it empty).
        encr: vec![(12, Some(256))],
        prf: vec![5],
        integ: vec![12],
        ke: vec![KeMethod::CURVE25519],
        ..Default::default()
    };
    ike.addke[0] = vec![KeMethod::ML_KEM_768];
    ConnectionConfig {
        name: "c".into(),
        local_addrs: vec![IpAddr::from(me)],
        remote_addrs: vec![IpAddr::from(peer)],
        remote_port: 500,
        proposals: vec![ike],
        local: AuthRound {
            id: Identity::Fqdn(my_id.into()),
            auth: AuthConfig::Psk,
        },
        remote: AuthRound {
            id: Identity::Fqdn(peer_id.into()),
            auth: AuthConfig::Psk,
        },
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![ts(lnet)],
            remote_ts: vec![ts(rnet)],
            esp_proposals: vec![ProposalConfig {
                encr: vec![(20, Some(256))],
                ..Default::default()
            }],
            mode: IpsecMode::Tunnel,
            lifetime: Duration::from_secs(3600),
        }],
        fragmentation: true,
        childless: Childless::Allow,
        send_certreq: false,
        ike_lifetime: Duration::from_secs(3600 * 4),
        auth_ext: Default::default(),
        lifecycle: Default::default(),
    }
}

fn creds() -> Credentials {
    Credentials {
        ppks: Vec::new(),
        psks: vec![(
            vec![
                Identity::Fqdn("a.example".into()),
                Identity::Fqdn("b.example".into()),
            ],
            zeroize::Zeroizing::new(b"secret".to_vec()),
        )],
    }
}

/// Two endpoints wired back to back (the `pqike-sim` harness with no latency and no loss,
/// driven without advancing the clock); every datagram's IKE message is recorded.
fn key_export_pair(export: [bool; 2]) -> Pair {
    let cfg = |i: usize| EndpointConfig {
        export_keys: export[i],
        // Whole messages keep the checks simple; fragments are covered by the testkit's tshark
        // test.
        fragment_size: 9000,
        ..Default::default()
    };
    let mut net = Net::new(1);
    net.set_latency(Duration::ZERO);
    let mut p = Pair::new(
        [cfg(0), cfg(1)],
        [connection(true), connection(false)],
        [creds(), creds()],
        net,
    );
    p.horizon = Some(Duration::ZERO);
    p
}

/// Recorded messages of one exchange (header, raw).
fn messages(p: &Pair, ex: ExchangeType) -> Vec<(Header, Vec<u8>)> {
    p.net
        .sent
        .iter()
        .filter_map(|r| {
            Header::decode(r.message())
                .ok()
                .map(|h| (h, r.message().to_vec()))
        })
        .filter(|(h, _)| h.exchange == ex)
        .collect()
}

/// Open an SK message with an exported key set, as Wireshark would: SK_ei/SK_ai for requests
/// from the original initiator, SK_er/SK_ar for the other direction.
fn open(k: &IkeSaKeyLog, hdr: &Header, raw: &[u8]) -> Option<Vec<Payload>> {
    let crypto = AwsLcProvider::new();
    let from_initiator = hdr.flags.initiator;
    let (ek, ak) = if from_initiator {
        (&k.sk_ei, &k.sk_ai)
    } else {
        (&k.sk_er, &k.sk_ar)
    };
    let cipher = crypto
        .sk_cipher(k.encr.0, k.encr.1, k.integ, ek, ak)
        .expect("cipher");
    let loc = locate_encrypted(raw).ok()?;
    let mut buf = raw.to_vec();
    cipher.open(&mut buf, loc.iv_offset).ok()?;
    let pt = &buf[loc.iv_offset + cipher.iv_len()..buf.len() - cipher.icv_len()];
    let (&pad, rest) = pt.split_last()?;
    let inner = &rest[..rest.len() - usize::from(pad)];
    decode_payload_chain(loc.first_inner, inner).ok()
}

fn types(p: &[Payload]) -> Vec<PayloadType> {
    p.iter().map(Payload::payload_type).collect()
}

fn spis(h: &Header) -> (u64, u64) {
    (h.spi_i, h.spi_r)
}

#[test]
fn exported_keys_decrypt_every_generation() {
    // Export on the initiator only: the responder (default config) must stay silent.
    let mut p = key_export_pair([true, false]);
    p.eps[0]
        .handle_command(
            p.now,
            Command::Initiate {
                connection: "c".into(),
            },
        )
        .unwrap();
    p.drive();
    assert!(p.events[0].iter().any(|e| matches!(e, Event::IkeUp { .. })));
    assert!(p.key_logs(1).is_empty(), "export_keys defaults to off");

    let logs = p.key_logs(0);
    let stages: Vec<_> = logs.iter().map(|k| k.stage).collect();
    assert_eq!(stages, [IkeKeyStage::Init, IkeKeyStage::Intermediate]);
    let (init, last) = (&logs[0], &logs[1]);
    assert_eq!((init.spi_i, init.spi_r), (last.spi_i, last.spi_r));
    assert_ne!(init.sk_ei, last.sk_ei, "RFC 9370 update changes SK_e");
    assert_eq!(last.sk_ai.len(), 32, "HMAC-SHA2-256 key");

    // IKE_INTERMEDIATE is protected by the IKE_SA_INIT keys, not by the updated ones.
    let inter = messages(&p, ExchangeType::IKE_INTERMEDIATE);
    assert_eq!(inter.len(), 2);
    for (h, raw) in &inter {
        assert_eq!(spis(h), (init.spi_i, init.spi_r));
        let pl = open(init, h, raw).expect("IKE_INTERMEDIATE opens with the Init keys");
        assert_eq!(types(&pl), [PayloadType::KE]);
        assert!(open(last, h, raw).is_none());
    }
    // IKE_AUTH with the final keys; the Init keys fail (ICV).
    let auth = messages(&p, ExchangeType::IKE_AUTH);
    assert_eq!(auth.len(), 2);
    for (h, raw) in &auth {
        let pl = open(last, h, raw).expect("IKE_AUTH opens with the final keys");
        let t = types(&pl);
        let id = if h.flags.initiator {
            PayloadType::IDI
        } else {
            PayloadType::IDR
        };
        assert!(t.contains(&id) && t.contains(&PayloadType::AUTH), "{t:?}");
        assert!(open(init, h, raw).is_none());
    }

    // IKE SA rekey: a new key set under the new SPIs, which opens the new SA's traffic.
    p.net.sent.clear();
    p.eps[0]
        .handle_command(
            p.now,
            Command::RekeyIke {
                connection: "c".into(),
            },
        )
        .unwrap();
    p.drive();
    let logs = p.key_logs(0);
    let rekey = logs.last().expect("rekey key set");
    assert_eq!(rekey.stage, IkeKeyStage::Rekey);
    assert_ne!(rekey.sa, last.sa);
    // The rekey exchange itself runs on the old SA.
    let cc = messages(&p, ExchangeType::CREATE_CHILD_SA);
    assert!(!cc.is_empty());
    for (h, raw) in &cc {
        assert_eq!(spis(h), (last.spi_i, last.spi_r));
        let pl = open(last, h, raw).expect("CREATE_CHILD_SA opens with the old SA's keys");
        assert!(types(&pl).contains(&PayloadType::SA));
    }
    // Then the old SA is deleted over... the old SA; anything on the new SPIs opens with the
    // new keys. Force one exchange on the new SA: delete it.
    p.net.sent.clear();
    p.eps[0]
        .handle_command(p.now, Command::TerminateSa(rekey.sa))
        .unwrap();
    p.drive();
    let info: Vec<_> = messages(&p, ExchangeType::INFORMATIONAL)
        .into_iter()
        .filter(|(h, _)| spis(h) == (rekey.spi_i, rekey.spi_r))
        .collect();
    assert_eq!(info.len(), 2, "delete request and response on the new SA");
    for (h, raw) in &info {
        let pl = open(rekey, h, raw).expect("INFORMATIONAL opens with the rekeyed keys");
        if !h.flags.response {
            assert_eq!(types(&pl), [PayloadType::DELETE]);
        }
    }
}

#[test]
fn key_log_debug_hides_keys() {
    let k = IkeSaKeyLog {
        sa: SaId(1),
        connection: "c".into(),
        stage: IkeKeyStage::Init,
        initiator: true,
        spi_i: 1,
        spi_r: 2,
        encr: (20, Some(256)),
        integ: 0,
        prf: 7,
        sk_ei: zeroize::Zeroizing::new(vec![0xab; 36]),
        sk_er: zeroize::Zeroizing::new(vec![0xcd; 36]),
        sk_ai: Default::default(),
        sk_ar: Default::default(),
    };
    let s = format!("{:?}", Event::IkeSaKeys(k));
    assert!(
        !s.contains("ab, ") && !s.contains("171") && !s.contains("abab"),
        "{s}"
    );
}
