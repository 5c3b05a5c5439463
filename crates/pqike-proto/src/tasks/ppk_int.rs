//! RFC 9867: the PPK mixed in an IKE_INTERMEDIATE exchange, so that the whole IKE SA (also
//! IKE_AUTH and the identities) is protected by it, not only SK_d/SK_pi/SK_pr as in RFC 8784.
//!
//! Flow (after any RFC 9370 rounds, as the last IKE_INTERMEDIATE before IKE_AUTH):
//! * request: N(PPK_IDENTITY_KEY, PPK_ID Type | PPK_ID | PPK Confirmation), the confirmation
//!   being the first 64 bits of prf(PPK, Ni | Nr | SPIi | SPIr), so the responder can tell a
//!   wrong secret from an unknown id;
//! * response: N(PPK_IDENTITY, PPK_ID Type | PPK_ID) naming the PPK used, or nothing when the
//!   responder has none (then both continue without PPK, unless a policy requires one);
//! * both messages are folded into IntAuth with the current keys (by the task manager, from the
//!   transcript hook), then every IKE key is
//!   re-derived: SKEYSEED' = prf+(PPK, SK_d) (PRF key length), keys = prf+(SKEYSEED', Ni | Nr |
//!   SPIi | SPIr).
//!
//! The exact derivation is what our reference documents from libreswan's implementation; the
//! interop case against libreswan 5.2 (pre-RFC notify numbers) checks it on the wire.
use crate::exchange::Received;
use crate::keymat::prf_plus;
use crate::notify::{find_notify, IkeError};
use crate::sa_data::SaData;
use crate::tasks::ike_init::install_keys;
use crate::tasks::manager::{next_exchange, peer_error, responder_next_state, Ctx, IkeSa};
use crate::tasks::Pending;
use crate::IkeState;
use pqike_wire::{ExchangeType, Notify, NotifyType, Payload};

/// Initiator state while the PPK round is outstanding.
pub(crate) struct PpkRound {
    ppk_id: String,
}

/// Initiator: run the PPK round now? (negotiated, not done yet, no RFC 9370 round pending)
pub(crate) fn due(sa: &IkeSa) -> bool {
    crate::pqauth::ppk_int_negotiated(sa)
        && !sa.pqauth.ppk_in_intermediate
        && !sa.pqauth.ppk_int_attempted
        && sa.addke_pending.is_empty()
}

/// Is this IKE_INTERMEDIATE request the PPK round (responder)?
pub(crate) fn is_ppk_request(sa: &IkeSa, msg: &Received) -> bool {
    let (_, key) = crate::pqauth::ppk_int_numbers(&sa.conn);
    sa.addke_pending.is_empty() && find_notify(&msg.payloads, key).is_some()
}

/// The new key generation from the PPK.
fn rekey_with_ppk(sa: &mut SaData, ctx: &Ctx<'_>, ppk: &[u8]) -> Result<(), IkeError> {
    let prf = sa.prf(ctx.crypto)?;
    let keys = sa.keys()?;
    let skeyseed = prf_plus(prf, ppk, &[&keys.prf.sk_d], prf.key_len());
    install_keys(sa, ctx, &skeyseed)
}

/// Initiator: send PPK_IDENTITY_KEY for the configured PPK.
pub(crate) fn start(sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<(), IkeError> {
    sa.pqauth.ppk_int_attempted = true;
    let ppk_id = sa
        .conn
        .auth_ext
        .ppk_id
        .clone()
        .ok_or_else(|| IkeError::Config("no ppk_id".into()))?;
    let Some(secret) = crate::ppk::find(ctx.creds, ppk_id.as_bytes()) else {
        if sa.conn.auth_ext.ppk_required {
            return Err(IkeError::Config(format!(
                "no PPK secret for PPK_ID '{ppk_id}' and ppk_required is set"
            )));
        }
        tracing::info!(
            sa = sa.id.0,
            "no PPK secret for '{ppk_id}', skipping RFC 9867"
        );
        return next_exchange(sa, ctx);
    };
    let prf = sa.prf(ctx.crypto)?;
    let confirm = crate::ppk::confirmation(prf, secret, &sa.ni, &sa.nr, sa.spi_i, sa.spi_r);
    let mut data = crate::ppk::identity_data(&ppk_id);
    data.extend_from_slice(&confirm);
    let (_, key) = crate::pqauth::ppk_int_numbers(&sa.conn);
    let payloads = [Payload::Notify(Notify::new(key, data))];
    tracing::debug!(
        sa = sa.id.0,
        "offering PPK '{ppk_id}' in IKE_INTERMEDIATE (RFC 9867)"
    );
    sa.send_request(
        ctx,
        ExchangeType::IKE_INTERMEDIATE,
        &payloads,
        Pending::PpkIntermediate(PpkRound { ppk_id }),
    )?;
    Ok(())
}

/// Initiator: the responder's answer.
pub(crate) fn process_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    st: PpkRound,
    msg: &Received,
) -> Result<(), IkeError> {
    peer_error(&msg.payloads)?;
    match find_notify(&msg.payloads, NotifyType::PPK_IDENTITY) {
        Some(n) => {
            let id = crate::ppk::parse_identity(&n.data)?;
            if id != st.ppk_id.as_bytes() {
                return Err(IkeError::AuthFailed(format!(
                    "responder chose PPK '{}', we offered '{}'",
                    crate::ppk::display_id(id),
                    st.ppk_id
                )));
            }
            let secret = crate::ppk::find(ctx.creds, id)
                .ok_or_else(|| IkeError::Config("PPK secret vanished".into()))?;
            rekey_with_ppk(sa, ctx, secret)?;
            sa.pqauth.ppk_in_intermediate = true;
            tracing::info!(
                sa = sa.id.0,
                "PPK '{}' mixed into all IKE SA keys in IKE_INTERMEDIATE (RFC 9867)",
                st.ppk_id
            );
            sa.pqauth.ppk_used = Some(st.ppk_id);
        }
        None if sa.conn.auth_ext.ppk_required => {
            return Err(IkeError::AuthFailed(format!(
                "responder did not accept PPK '{}' in IKE_INTERMEDIATE and ppk_required is set",
                st.ppk_id
            )));
        }
        None => tracing::info!(
            sa = sa.id.0,
            "responder did not accept PPK '{}' (RFC 9867); continuing without PPK",
            st.ppk_id
        ),
    }
    next_exchange(sa, ctx)
}

/// Responder: pick the first offered PPK we hold whose confirmation matches.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    msg: &Received,
) -> Result<(), IkeError> {
    if !matches!(sa.state, IkeState::Intermediate | IkeState::Authenticating)
        || sa.pqauth.ppk_in_intermediate
    {
        return Err(IkeError::Syntax("unexpected PPK_IDENTITY_KEY".into()));
    }
    let (_, key) = crate::pqauth::ppk_int_numbers(&sa.conn);
    let prf = sa.prf(ctx.crypto)?;
    let mut chosen: Option<(Vec<u8>, zeroize::Zeroizing<Vec<u8>>)> = None;
    let mut offered = Vec::new();
    for p in &msg.payloads {
        let Payload::Notify(n) = p else { continue };
        if n.notify_type != key || n.data.len() < 1 + 1 + 8 {
            continue;
        }
        let (ident, confirm) = n.data.split_at(n.data.len() - 8);
        let Ok(id) = crate::ppk::parse_identity(ident) else {
            continue;
        };
        offered.push(crate::ppk::display_id(id));
        let Some(secret) = crate::ppk::find(ctx.creds, id) else {
            continue;
        };
        let ours = crate::ppk::confirmation(prf, secret, &sa.ni, &sa.nr, sa.spi_i, sa.spi_r);
        if !pqike_crypto::ct_eq(&ours, confirm) {
            tracing::warn!(
                sa = sa.id.0,
                "PPK confirmation for '{}' does not match: the peers hold different secrets",
                crate::ppk::display_id(id)
            );
            continue;
        }
        chosen = Some((ident.to_vec(), zeroize::Zeroizing::new(secret.to_vec())));
        break;
    }
    let mut reply = Vec::new();
    if let Some((ident, _)) = &chosen {
        reply.push(Payload::Notify(Notify::new(
            NotifyType::PPK_IDENTITY,
            ident.clone(),
        )));
    } else if sa.conn.auth_ext.ppk_required {
        let why = format!(
            "no usable PPK among the peer's PPK_IDENTITY_KEY ids {offered:?} and ppk_required is set"
        );
        tracing::warn!(sa = sa.id.0, "{why}");
        return Err(IkeError::AuthFailed(why));
    } else {
        tracing::info!(
            sa = sa.id.0,
            "no usable PPK among {offered:?} (RFC 9867); continuing without PPK"
        );
    }
    let mid = msg.header.message_id;
    reply.extend(crate::pqauth::intermediate_response_notifies(sa));
    sa.send_response(ctx, ExchangeType::IKE_INTERMEDIATE, mid, &reply)?;
    if let Some((ident, secret)) = chosen {
        rekey_with_ppk(sa, ctx, &secret)?;
        sa.pqauth.ppk_in_intermediate = true;
        let shown = crate::ppk::parse_identity(&ident)
            .map(crate::ppk::display_id)
            .unwrap_or_default();
        tracing::info!(
            sa = sa.id.0,
            "using PPK '{shown}' for all IKE SA keys (RFC 9867 IKE_INTERMEDIATE)"
        );
        sa.pqauth.ppk_used = Some(shown);
    }
    responder_next_state(sa);
    Ok(())
}
