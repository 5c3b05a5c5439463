//! Exchanges as tasks (strongSwan's `sa/ikev2/tasks`), with enum dispatch, above the message
//! layer ([`crate::exchange`]).
//!
//! [`manager`] decides what comes next and dispatches messages. The initiator side of an
//! exchange builds a request and parks a [`Pending`] continuation beside the message layer's
//! outstanding request; the response is handed back to that continuation. The responder side is
//! a function from the decrypted request to the response payloads, chosen by exchange type.
//! Tasks that add to another exchange's message (NAT detection, the configuration payload,
//! CERTREQ, the PQ authentication notifies, PFS info) contribute through [`features`].

pub(crate) mod child;
pub(crate) mod cp;
pub(crate) mod features;
pub(crate) mod ike_auth;
pub(crate) mod ike_init;
pub(crate) mod informational;
pub(crate) mod intermediate;
pub(crate) mod manager;
pub(crate) mod natd;
pub(crate) mod ppk_int;
// SA lifecycle: CREATE_CHILD_SA, IKE_FOLLOWUP_KE, rekey timers and collisions.
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
