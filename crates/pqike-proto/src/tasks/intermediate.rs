//! IKE_INTERMEDIATE (RFC 9242) carrying one RFC 9370 additional key exchange per round.
//!
//! Round n is protected with generation n-1 keys; both messages are folded into the IntAuth chains
//! with the SK_pi/SK_pr in force when they were protected (the task manager does that for every
//! IKE_INTERMEDIATE message the message layer's transcript hook records, with [`fold`]); after
//! the exchange both sides derive generation n: SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr)
//! (RFC 9370 §2.2.2).
use crate::exchange::Received;
use crate::keymat::{addke_skeyseed, intauth_a};
use crate::notify::IkeError;
use crate::sa_data::SaData;
use crate::tasks::ike_init::install_keys;
use crate::tasks::manager::{next_exchange, peer_error, responder_next_state, Ctx, IkeSa};
use crate::tasks::Pending;
use crate::IkeState;
use pqike_crypto::ActiveKeyExchange;
use pqike_wire::{Delete, ExchangeType, Header, KeMethod, Payload, PayloadType, ProtocolId};

/// Initiator state of one round.
pub(crate) struct RoundState {
    ke: Box<dyn ActiveKeyExchange>,
    method: KeMethod,
}

/// Which IntAuth chain a message belongs to.
#[derive(Clone, Copy)]
pub(crate) enum Chain {
    Initiator,
    Responder,
}

/// Fold one IKE_INTERMEDIATE message into its chain with the current SK_pi / SK_pr
/// (RFC 9242 §3.3.2), computed from the logical message so fragmentation does not matter.
pub(crate) fn fold(
    sa: &mut SaData,
    ctx: &Ctx<'_>,
    header: &Header,
    unencrypted: &[u8],
    first_inner: PayloadType,
    inner: &[u8],
    chain: Chain,
) -> Result<(), IkeError> {
    let prf = sa.prf(ctx.crypto)?;
    let keys = sa
        .keys
        .as_ref()
        .ok_or_else(|| IkeError::Config("no keys".into()))?;
    let a = intauth_a(
        header,
        unencrypted,
        header.next_payload,
        first_inner,
        inner.len(),
    )?;
    match chain {
        Chain::Initiator => sa.intauth.update_initiator(prf, &keys.prf.sk_pi, &a, inner),
        Chain::Responder => sa.intauth.update_responder(prf, &keys.prf.sk_pr, &a, inner),
    }
    Ok(())
}

/// Derive the next key generation from this round's shared secret.
fn update_keys(
    sa: &mut SaData,
    ctx: &Ctx<'_>,
    method: KeMethod,
    shared: &[u8],
) -> Result<(), IkeError> {
    let prf = sa.prf(ctx.crypto)?;
    let keys = sa
        .keys
        .as_ref()
        .ok_or_else(|| IkeError::Config("no keys".into()))?;
    let skeyseed = addke_skeyseed(prf, &keys.prf.sk_d, shared, &sa.ni, &sa.nr);
    install_keys(sa, ctx, &skeyseed)?;
    sa.addke_pending.pop_front();
    sa.ke_done.push(method);
    tracing::debug!(
        sa = sa.id.0,
        "additional key exchange {method} done, keys updated"
    );
    Ok(())
}

/// Initiator: send the next round's KE.
pub(crate) fn start_round(sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<(), IkeError> {
    let (_, method) = *sa
        .addke_pending
        .front()
        .ok_or_else(|| IkeError::Config("no round pending".into()))?;
    let kex = ctx
        .crypto
        .key_exchange(method.0)
        .ok_or_else(|| IkeError::Config(format!("{method} unsupported")))?;
    let ke = kex.start()?;
    let payloads = [Payload::Ke {
        method,
        data: ke.public_data().to_vec(),
    }];
    sa.send_request(
        ctx,
        ExchangeType::IKE_INTERMEDIATE,
        &payloads,
        Pending::Intermediate(RoundState { ke, method }),
    )?;
    Ok(())
}

fn ke_payload(msg: &Received) -> Result<(KeMethod, &[u8]), IkeError> {
    msg.payloads
        .iter()
        .find_map(|p| {
            if let Payload::Ke { method, data } = p {
                Some((*method, data.as_slice()))
            } else {
                None
            }
        })
        .ok_or_else(|| IkeError::Syntax("IKE_INTERMEDIATE without KE payload".into()))
}

/// Initiator: the round's response.
pub(crate) fn process_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    st: RoundState,
    msg: &Received,
) -> Result<(), IkeError> {
    peer_error(&msg.payloads)?;
    let (method, data) = ke_payload(msg)?;
    if method != st.method {
        return Err(IkeError::Syntax(format!(
            "KE method {method} in response, sent {}",
            st.method
        )));
    }
    // ML-KEM: the FIPS 203 §7.3 ciphertext check fails the exchange and the IKE SA is deleted
    // (ML-KEM draft §3); the Delete is protected with the keys both sides still share.
    let shared = match st.ke.complete(data) {
        Ok(s) => s,
        Err(e) => {
            let d = Payload::Delete(Delete {
                protocol: ProtocolId::IKE,
                spi_size: 0,
                spis: Vec::new(),
            });
            if let Err(e) = sa.send_request(ctx, ExchangeType::INFORMATIONAL, &[d], Pending::Delete)
            {
                tracing::debug!(sa = sa.id.0, "cannot send Delete: {e}");
            }
            return Err(e.into());
        }
    };
    crate::pqauth::intermediate_response_received(sa, &msg.payloads);
    update_keys(sa, ctx, method, shared.as_bytes())?;
    next_exchange(sa, ctx)
}

/// Responder: one round.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    msg: &Received,
) -> Result<(), IkeError> {
    // RFC 9867: the PPK round comes after the RFC 9370 rounds.
    if crate::tasks::ppk_int::is_ppk_request(sa, msg) {
        return crate::tasks::ppk_int::process_request(sa, ctx, msg);
    }
    if sa.state != IkeState::Intermediate {
        return Err(IkeError::Syntax(
            "IKE_INTERMEDIATE outside the initial exchanges".into(),
        ));
    }
    let (_, want) = *sa
        .addke_pending
        .front()
        .ok_or_else(|| IkeError::Syntax("no additional key exchange pending".into()))?;
    let (method, data) = ke_payload(msg)?;
    if method != want {
        return Err(IkeError::InvalidKe(want));
    }
    let kex = ctx
        .crypto
        .key_exchange(want.0)
        .ok_or(IkeError::NoProposal)?;
    // ML-KEM: FIPS 203 §7.2 checks on the encapsulation key; failure -> INVALID_SYNTAX.
    let (our_data, shared) = kex.respond(data)?;
    let mid = msg.header.message_id;
    let mut reply = vec![Payload::Ke {
        method: want,
        data: our_data,
    }];
    reply.extend(crate::pqauth::intermediate_response_notifies(sa));
    sa.send_response(ctx, ExchangeType::IKE_INTERMEDIATE, mid, &reply)?;
    update_keys(sa, ctx, want, shared.as_bytes())?;
    responder_next_state(sa);
    Ok(())
}
