//! Post-quantum authentication extensions negotiated in IKE_SA_INIT: RFC 8784 USE_PPK, RFC 9867
//! USE_PPK_INT, RFC 4739 MULTIPLE_AUTH_SUPPORTED and RFC 9593 SUPPORTED_AUTH_METHODS.
//!
//! `tasks::ike_init` calls the four hooks below; what the peer announced is kept in [`crate::sa_data::PqauthState`]
//! for `tasks::ike_auth` (and `tasks::intermediate` for RFC 9867).
use crate::sa_data::SaData;
use crate::ConnectionConfig;
use pqike_wire::{Notify, NotifyType, Payload};

/// The USE_PPK_INT / PPK_IDENTITY_KEY notify numbers for this connection (RFC 9867 §5, or the
/// pre-RFC private ones libreswan <= 5.3 speaks).
pub(crate) fn ppk_int_numbers(conn: &ConnectionConfig) -> (NotifyType, NotifyType) {
    if conn.auth_ext.ppk_int_legacy_numbers {
        (NotifyType(50209), NotifyType(50208))
    } else {
        (NotifyType::USE_PPK_INT, NotifyType::PPK_IDENTITY_KEY)
    }
}

fn empty(t: NotifyType) -> Payload {
    Payload::Notify(Notify::new(t, Vec::new()))
}

fn has(payloads: &[Payload], t: NotifyType) -> bool {
    crate::notify::find_notify(payloads, t).is_some()
}

/// Whether this connection wants RFC 9867 (it then needs IKE_INTERMEDIATE announced).
pub(crate) fn wants_ppk_int(conn: &ConnectionConfig) -> bool {
    conn.auth_ext.ppk_id.is_some() && conn.auth_ext.ppk_intermediate
}

/// Initiator: notifies for the IKE_SA_INIT request.
pub(crate) fn init_request_notifies(conn: &ConnectionConfig) -> Vec<Payload> {
    let mut out = Vec::new();
    let ext = &conn.auth_ext;
    if ext.ppk_id.is_some() {
        out.push(empty(NotifyType::USE_PPK));
        if ext.ppk_intermediate {
            out.push(empty(ppk_int_numbers(conn).0));
        }
    }
    if ext.local2.is_some() || ext.remote2.is_some() {
        out.push(empty(NotifyType::MULTIPLE_AUTH_SUPPORTED));
    }
    if ext.announce_auth_methods {
        // Not in what could be read of RFC 9593 (docs/rfc9593-notes.md): the responder announces
        // unconditionally and libreswan's initiator sends nothing here. An unknown or ignored
        // status notify (RFC 7296 §3.10.1), kept for pqiked responders that waited for it.
        out.push(empty(NotifyType::SUPPORTED_AUTH_METHODS));
    }
    out
}

fn record_peer(sa: &mut SaData, payloads: &[Payload]) {
    let (use_ppk_int, _) = ppk_int_numbers(&sa.conn);
    sa.pqauth.peer_use_ppk = has(payloads, NotifyType::USE_PPK);
    sa.pqauth.peer_use_ppk_int = has(payloads, use_ppk_int);
    sa.pqauth.peer_multiple_auth = has(payloads, NotifyType::MULTIPLE_AUTH_SUPPORTED);
    sa.pqauth.peer_auth_methods =
        crate::notify::find_notify(payloads, NotifyType::SUPPORTED_AUTH_METHODS)
            .map(|n| n.data.clone());
}

/// Responder: what the initiator announced.
pub(crate) fn init_request_received(sa: &mut SaData, payloads: &[Payload]) {
    record_peer(sa, payloads);
}

/// Responder: notifies for the IKE_SA_INIT response. USE_PPK_INT is preferred over USE_PPK and
/// needs IKE_INTERMEDIATE (RFC 9867 §3); the caller has already decided on INTERMEDIATE.
pub(crate) fn init_response_notifies(sa: &mut SaData, intermediate: bool) -> Vec<Payload> {
    let mut out = Vec::new();
    let ext = &sa.conn.auth_ext;
    let ppk_configured = ext.ppk_id.is_some() || ext.ppk_required;
    if ppk_configured && sa.pqauth.peer_use_ppk_int && ext.ppk_intermediate && intermediate {
        out.push(empty(ppk_int_numbers(&sa.conn).0));
        sa.pqauth.ppk_int_chosen = true;
    } else if ppk_configured && sa.pqauth.peer_use_ppk {
        out.push(empty(NotifyType::USE_PPK));
    }
    // RFC 4739 §3.1: the responder announces support in IKE_SA_INIT; initiators (strongSwan)
    // send theirs in the first IKE_AUTH request, so this does not wait for the peer's.
    if ext.local2.is_some() || ext.remote2.is_some() {
        out.push(empty(NotifyType::MULTIPLE_AUTH_SUPPORTED));
    }
    // RFC 9593 §3.1: the responder announces in the IKE_SA_INIT response whether or not the
    // initiator said anything (an RFC 9593 initiator sends nothing in its IKE_SA_INIT request;
    // one without support ignores the status notify).
    if ext.announce_auth_methods {
        let list = crate::auth_methods::ours(&sa.conn);
        if list.len() > crate::auth_methods::MAX_IN_IKE_SA_INIT && intermediate {
            // RFC 9593 §3.1: too big for the unfragmentable IKE_SA_INIT; announce support
            // now and send the list in the first IKE_INTERMEDIATE response.
            out.push(empty(NotifyType::SUPPORTED_AUTH_METHODS));
            // (set by the caller through `defer_auth_methods`)
        } else {
            out.push(Payload::Notify(Notify::new(
                NotifyType::SUPPORTED_AUTH_METHODS,
                list,
            )));
        }
    }
    out
}

/// Responder: whether `init_response_notifies` deferred our list to IKE_INTERMEDIATE.
pub(crate) fn defer_auth_methods(sa: &mut SaData, intermediate: bool) {
    sa.pqauth.auth_methods_in_intermediate = sa.conn.auth_ext.announce_auth_methods
        && intermediate
        && crate::auth_methods::ours(&sa.conn).len() > crate::auth_methods::MAX_IN_IKE_SA_INIT;
}

/// Responder: notifies for an IKE_INTERMEDIATE response (the deferred RFC 9593 list, once).
pub(crate) fn intermediate_response_notifies(sa: &mut SaData) -> Vec<Payload> {
    if std::mem::take(&mut sa.pqauth.auth_methods_in_intermediate) {
        vec![Payload::Notify(Notify::new(
            NotifyType::SUPPORTED_AUTH_METHODS,
            crate::auth_methods::ours(&sa.conn),
        ))]
    } else {
        Vec::new()
    }
}

/// Initiator: an IKE_INTERMEDIATE response may carry the responder's deferred RFC 9593 list.
pub(crate) fn intermediate_response_received(sa: &mut SaData, payloads: &[Payload]) {
    if let Some(n) = crate::notify::find_notify(payloads, NotifyType::SUPPORTED_AUTH_METHODS) {
        sa.pqauth.peer_auth_methods = Some(n.data.clone());
    }
}

/// The peer's announcement, decoded; empty when it sent none (or a malformed one, logged).
pub(crate) fn peer_methods(sa: &SaData) -> Vec<crate::auth_methods::Announcement> {
    match sa.pqauth.peer_auth_methods.as_deref() {
        None | Some([]) => Vec::new(),
        Some(d) => crate::auth_methods::decode(d).unwrap_or_else(|e| {
            tracing::warn!(sa = sa.id.0, "ignoring SUPPORTED_AUTH_METHODS: {e}");
            Vec::new()
        }),
    }
}

/// Initiator: what the responder announced.
pub(crate) fn init_response_received(sa: &mut SaData, payloads: &[Payload]) {
    record_peer(sa, payloads);
}

/// Whether RFC 9867 applies to this SA: the responder chose USE_PPK_INT and IKE_INTERMEDIATE is
/// on (initiator view; the responder decided it when answering).
pub(crate) fn ppk_int_negotiated(sa: &SaData) -> bool {
    wants_ppk_int(&sa.conn) && sa.pqauth.peer_use_ppk_int && sa.peer.intermediate
}
