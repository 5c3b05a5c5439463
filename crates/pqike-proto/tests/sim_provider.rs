//! The crypto provider seen from the engine (issue 11 part 5):
//! - with the seeded provider a simulation is byte-for-byte reproducible;
//! - adding a key exchange method is one provider part (plus, for a named one, one row of the
//!   algorithm table): a test KE under a private ID (0x8001, used only because this test
//!   configures it) is negotiated as an RFC 9370 additional key exchange.
use pqike_crypto::testing::{private_mlkem768, PRIVATE_MLKEM768_ID};
use pqike_crypto::CryptoProvider;
use pqike_proto::*;
use pqike_sim::{connection, ike_proposal, psk, seeded_provider, Net, Pair};
use pqike_wire::KeMethod;
use std::sync::Arc;

fn hybrid() -> Vec<ProposalConfig> {
    vec![ike_proposal(
        &[KeMethod::CURVE25519],
        &[&[KeMethod::ML_KEM_768]],
    )]
}

/// Every datagram's IKE message of one handshake with seeded providers.
fn seeded_run(seed: u64) -> Vec<Vec<u8>> {
    let mut p = Pair::with_providers(
        [EndpointConfig::default(), EndpointConfig::default()],
        [
            vec![connection(true, hybrid())],
            vec![connection(false, hybrid())],
        ],
        [psk(b"secret"), psk(b"secret")],
        Net::new(3),
        [seed, seed + 1],
        [seeded_provider(seed), seeded_provider(seed + 100)],
    );
    p.initiate();
    p.assert_up_with_child();
    p.net.sent.iter().map(|r| r.message().to_vec()).collect()
}

#[test]
fn seeded_simulations_are_byte_reproducible() {
    let a = seeded_run(5);
    let b = seeded_run(5);
    // IKE_SA_INIT, IKE_INTERMEDIATE (ML-KEM-768) and IKE_AUTH, each way.
    assert!(a.len() >= 6, "{} datagrams", a.len());
    assert_eq!(a, b, "same seeds, different bytes");
    let c = seeded_run(6);
    assert_eq!(a.len(), c.len());
    assert_ne!(
        a[0], c[0],
        "another seed must change the KE data and nonces"
    );
}

#[test]
fn a_provider_part_adds_a_key_exchange_the_engine_negotiates() {
    let extra = || -> Arc<dyn CryptoProvider> {
        Arc::new(pqike_crypto::awslc::aws_lc().with_key_exchange(private_mlkem768()))
    };
    let private = KeMethod(PRIVATE_MLKEM768_ID);
    let proposals = vec![ike_proposal(&[KeMethod::CURVE25519], &[&[private]])];
    let mut p = Pair::with_providers(
        [EndpointConfig::default(), EndpointConfig::default()],
        [
            vec![connection(true, proposals.clone())],
            vec![connection(false, proposals.clone())],
        ],
        [psk(b"secret"), psk(b"secret")],
        Net::new(4),
        [1, 2],
        [extra(), extra()],
    );
    p.initiate();
    let (i, r) = p.assert_up_with_child();
    assert_eq!(i.key_in, r.key_out);
    let t = &p.ups(0)[0].transforms;
    assert_eq!(t.ke.len(), 2, "{t:?}");
    assert_eq!(p.ups(1)[0].transforms.ke, t.ke);
    // The private method ran as ADDKE1: its KE payload is in an IKE_INTERMEDIATE exchange,
    // 1184 octets of ML-KEM-768 encapsulation key from the initiator.
    let inter = p.net.count(|r| {
        r.exchange == Some(pqike_wire::ExchangeType::IKE_INTERMEDIATE)
            && !r.response
            && r.len > 1184
    });
    assert_eq!(inter, 1);

    // Without the part, the same configuration cannot agree: the responder has no such method.
    let mut q = Pair::with_providers(
        [EndpointConfig::default(), EndpointConfig::default()],
        [
            vec![connection(true, proposals.clone())],
            vec![connection(false, proposals)],
        ],
        [psk(b"secret"), psk(b"secret")],
        Net::new(4),
        [1, 2],
        [extra(), pqike_sim::provider()],
    );
    q.initiate();
    assert!(q.ups(0).is_empty() && q.ups(1).is_empty());
}
