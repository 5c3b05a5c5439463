//! Exchanges as tasks (strongSwan's `sa/ikev2/tasks`), with enum dispatch.
//!
//! The initiator side of an exchange builds a request and parks a [`Pending`] continuation in the
//! SA's outstanding slot; the response is handed back to that continuation. The responder side is
//! a function from the decrypted request to the response payloads, chosen by exchange type.
use crate::ike_sa::{Ctx, IkeSa, Outstanding, Received};
use crate::notify::{first_error, notify_name, IkeError};
use crate::DownReason;
use pqike_wire::{ExchangeType, Message, Notify, NotifyType, Payload};

pub(crate) mod child;
pub(crate) mod ike_auth;
pub(crate) mod ike_init;
pub(crate) mod informational;
pub(crate) mod intermediate;
pub(crate) mod ppk_int;
// SA lifecycle (issue 5): CREATE_CHILD_SA, IKE_FOLLOWUP_KE, rekey timers and collisions.
pub(crate) mod create_child;
pub(crate) mod rekey;
pub(crate) mod rekey_ike;

/// The continuation of the request we have outstanding.
pub(crate) enum Pending {
    /// IKE_SA_INIT (with its COOKIE / INVALID_KE_PAYLOAD retry state).
    IkeInit(ike_init::InitState),
    /// One IKE_INTERMEDIATE round (RFC 9242 / RFC 9370).
    Intermediate(intermediate::RoundState),
    /// The RFC 9867 PPK round in IKE_INTERMEDIATE.
    PpkIntermediate(ppk_int::PpkRound),
    /// IKE_AUTH with the optional initial Child SA.
    IkeAuth(ike_auth::AuthState),
    /// INFORMATIONAL deleting the IKE SA.
    Delete,
    /// Empty INFORMATIONAL (liveness check).
    Liveness,
    /// CREATE_CHILD_SA / IKE_FOLLOWUP_KE / Child SA delete of the lifecycle tasks.
    Lifecycle(Box<create_child::Task>),
}

/// The IKE_SA_INIT response (unencrypted) for the initiator.
pub(crate) fn process_init_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    out: Outstanding,
    msg: Message,
    raw: &[u8],
) {
    let Pending::IkeInit(state) = out.task else {
        tracing::warn!(
            sa = sa.id.0,
            "IKE_SA_INIT response without an IKE_SA_INIT task"
        );
        return;
    };
    if let Err(e) = ike_init::process_response(sa, ctx, state, out.packets, msg, raw) {
        fail(sa, e);
    }
}

/// Hand a response to the task that sent the request.
pub(crate) fn process_response(sa: &mut IkeSa, ctx: &mut Ctx<'_>, task: Pending, msg: Received) {
    if let Some(p) = msg
        .payloads
        .iter()
        .find(|p| matches!(p, Payload::Unknown { critical: true, .. }))
    {
        fail(sa, IkeError::UnsupportedCritical(p.payload_type()));
        return;
    }
    let r = match task {
        Pending::IkeInit(_) => Err(IkeError::Syntax(
            "IKE_SA_INIT task got a protected response".into(),
        )),
        Pending::Intermediate(st) => intermediate::process_response(sa, ctx, st, &msg),
        Pending::PpkIntermediate(st) => ppk_int::process_response(sa, ctx, st, &msg),
        Pending::IkeAuth(st) => {
            crate::cp::on_reply(sa, ctx, &msg.payloads);
            ike_auth::process_response(sa, ctx, st, &msg)
        }
        Pending::Delete => {
            sa.finish(DownReason::LocalDelete);
            Ok(())
        }
        Pending::Liveness => Ok(()),
        Pending::Lifecycle(t) => create_child::process_response(sa, ctx, *t, &msg),
    };
    if let Err(e) = r {
        fail(sa, e);
    }
}

/// A failed exchange we initiated tears the SA down (strongSwan's FAILED task status).
fn fail(sa: &mut IkeSa, e: IkeError) {
    tracing::warn!(sa = sa.id.0, "exchange failed: {e}");
    let reason = match e {
        IkeError::PeerNotify(t) => DownReason::PeerError(notify_name(t)),
        e => DownReason::LocalError(e.reason()),
    };
    sa.finish(reason);
}

/// The peer's error notify in a response, as an error.
pub(crate) fn peer_error(payloads: &[Payload]) -> Result<(), IkeError> {
    match first_error(payloads) {
        Some(n) => Err(IkeError::PeerNotify(n.notify_type)),
        None => Ok(()),
    }
}

/// Answer a decrypted request.
pub(crate) fn process_request(sa: &mut IkeSa, ctx: &mut Ctx<'_>, msg: Received) {
    let exchange = msg.header.exchange;
    let mid = msg.header.message_id;
    // RFC 7296 §2.5: an unknown payload with the critical bit rejects the whole message.
    if let Some(p) = msg
        .payloads
        .iter()
        .find(|p| matches!(p, Payload::Unknown { critical: true, .. }))
    {
        let e = IkeError::UnsupportedCritical(p.payload_type());
        tracing::warn!(sa = sa.id.0, "{exchange} request {mid}: {e}");
        respond_error(sa, ctx, exchange, mid, &e);
        return;
    }
    let r = match exchange {
        ExchangeType::IKE_INTERMEDIATE => intermediate::process_request(sa, ctx, &msg),
        ExchangeType::IKE_AUTH => {
            if sa.life.vips.is_empty() {
                crate::cp::on_request(sa, ctx, &msg.payloads);
            }
            ike_auth::process_request(sa, ctx, &msg)
        }
        ExchangeType::INFORMATIONAL => informational::process_request(sa, ctx, &msg),
        ExchangeType::CREATE_CHILD_SA
            if matches!(
                sa.state,
                crate::IkeState::Established | crate::IkeState::Deleting
            ) =>
        {
            create_child::process_request(sa, ctx, &msg)
        }
        ExchangeType::IKE_FOLLOWUP_KE
            if matches!(
                sa.state,
                crate::IkeState::Established | crate::IkeState::Deleting
            ) =>
        {
            create_child::process_followup_request(sa, ctx, &msg)
        }
        other => {
            tracing::warn!(
                sa = sa.id.0,
                "unsupported exchange {other} in request {mid}"
            );
            Err(IkeError::Syntax(format!("exchange {other} not supported")))
        }
    };
    if let Err(e) = r {
        tracing::warn!(sa = sa.id.0, "refusing {exchange} request {mid}: {e}");
        respond_error(sa, ctx, exchange, mid, &e);
        if sa.state != crate::IkeState::Established {
            sa.finish(DownReason::LocalError(e.reason()));
        }
    }
}

fn respond_error(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    exchange: ExchangeType,
    mid: u32,
    e: &IkeError,
) {
    // Local failures carry no notify of their own; during the initial exchanges the peer still
    // has to learn that the SA will not come up.
    let fallback = match exchange {
        ExchangeType::IKE_AUTH => Some(NotifyType::AUTHENTICATION_FAILED),
        ExchangeType::IKE_INTERMEDIATE => Some(NotifyType::INVALID_SYNTAX),
        _ => None,
    };
    let notify = e
        .notify()
        .or_else(|| fallback.map(|t| Notify::new(t, Vec::new())));
    let payloads: Vec<Payload> = notify.map(Payload::Notify).into_iter().collect();
    if let Err(e) = sa.send_response(ctx, exchange, mid, &payloads) {
        tracing::warn!(sa = sa.id.0, "cannot send error response: {e}");
    }
}
