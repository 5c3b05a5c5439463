//! Engine errors and their mapping to error notifies, in one place (rustls'
//! `From<PeerMisbehaved> for AlertDescription` idea). The strongSwan-style one-line message
//! summaries used in logs and [`crate::Event::Exchange`] are pqike-wire's ([`summary`]), the
//! same format a [`pqike_wire::Message`] displays as.
use pqike_crypto::CryptoError;
use pqike_wire::{
    DecodeError, EncodeError, ExchangeType, KeMethod, Notify, NotifyType, Payload, PayloadType,
};

/// Why an exchange failed. Each variant maps to at most one error notify
/// ([`IkeError::notify`]); `None` means a silent drop (with a log line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IkeError {
    /// The message or a payload could not be decoded.
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// A required payload is missing or a payload is out of place (RFC 7296 §2.21: INVALID_SYNTAX).
    #[error("invalid syntax: {0}")]
    Syntax(String),
    /// No acceptable proposal (RFC 7296 §2.7).
    #[error("no acceptable proposal")]
    NoProposal,
    /// The KE payload's method is not the selected one (RFC 7296 §1.2): carries the one we want.
    #[error("KE payload uses the wrong method, expected {0:?}")]
    InvalidKe(KeMethod),
    /// AUTH or identity check failed (RFC 7296 §2.21.2).
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// No traffic selectors left after narrowing (RFC 7296 §2.9).
    #[error("traffic selectors unacceptable")]
    TsUnacceptable,
    /// An unknown payload with the critical bit (RFC 7296 §2.5).
    #[error("unsupported critical payload {0:?}")]
    UnsupportedCritical(PayloadType),
    /// The peer answered with an error notify.
    #[error("peer sent {0}")]
    PeerNotify(NotifyType),
    /// A crypto operation failed.
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    /// Local configuration does not allow the exchange.
    #[error("configuration: {0}")]
    Config(String),
    /// We cannot take the request now, the peer may retry (RFC 7296 §2.25: e.g. while we
    /// rekey or close the IKE SA).
    #[error("temporary failure: {0}")]
    TemporaryFailure(&'static str),
    /// A REKEY_SA or Delete names a Child SA we do not have (RFC 7296 §2.25); the peer's SPI.
    #[error("no Child SA with SPI {0:08x}")]
    ChildSaNotFound(u32),
    /// An IKE_FOLLOWUP_KE names no exchange we keep state for (RFC 9370 §2.2.4).
    #[error("no state for this IKE_FOLLOWUP_KE")]
    StateNotFound,
    /// No virtual address could be assigned (RFC 7296 §3.15.4).
    #[error("no internal address: {0}")]
    InternalAddressFailure(&'static str),
    /// An invariant of the engine does not hold (a bug, never the peer's doing).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// A message we are building cannot be encoded (e.g. a payload longer than the 2-octet
    /// Payload Length allows, RFC 7296 §3.2): a local problem, nothing is sent.
    #[error("cannot encode message: {0}")]
    Encode(#[from] EncodeError),
}

impl IkeError {
    /// The error notify to send for this error, if the RFC asks for one.
    pub fn notify(&self) -> Option<Notify> {
        let (t, data) = match self {
            IkeError::Decode(_) | IkeError::Syntax(_) => (NotifyType::INVALID_SYNTAX, vec![]),
            // FIPS 203 §7.2 check failure on an ML-KEM encapsulation key: the ML-KEM draft says
            // the responder SHOULD send INVALID_SYNTAX.
            IkeError::Crypto(CryptoError::InvalidPeerKey(_)) => {
                (NotifyType::INVALID_SYNTAX, vec![])
            }
            IkeError::NoProposal => (NotifyType::NO_PROPOSAL_CHOSEN, vec![]),
            // RFC 7296 §3.10.1: the data is the 2-octet accepted group.
            IkeError::InvalidKe(g) => (NotifyType::INVALID_KE_PAYLOAD, g.0.to_be_bytes().to_vec()),
            IkeError::AuthFailed(_) => (NotifyType::AUTHENTICATION_FAILED, vec![]),
            IkeError::TsUnacceptable => (NotifyType::TS_UNACCEPTABLE, vec![]),
            // RFC 7296 §3.10.1: the data is the 1-octet payload type.
            IkeError::UnsupportedCritical(t) => {
                (NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t.0])
            }
            IkeError::TemporaryFailure(_) => (NotifyType::TEMPORARY_FAILURE, vec![]),
            IkeError::ChildSaNotFound(_) => (NotifyType::CHILD_SA_NOT_FOUND, vec![]),
            IkeError::StateNotFound => (NotifyType::STATE_NOT_FOUND, vec![]),
            IkeError::InternalAddressFailure(_) => (NotifyType::INTERNAL_ADDRESS_FAILURE, vec![]),
            IkeError::PeerNotify(_)
            | IkeError::Crypto(_)
            | IkeError::Config(_)
            | IkeError::Internal(_)
            | IkeError::Encode(_) => return None,
        };
        Some(Notify::new(t, data))
    }

    /// The notify to answer a request of `exchange` with when this error refuses it. Errors
    /// without a notify of their own still need one during the initial exchanges, or the peer
    /// never learns that the SA will not come up: AUTHENTICATION_FAILED in IKE_AUTH (RFC 7296
    /// §2.21.2), INVALID_SYNTAX in IKE_INTERMEDIATE (RFC 9242 §3.4 leaves it to §2.21).
    pub fn notify_in(&self, exchange: ExchangeType) -> Option<Notify> {
        self.notify().or_else(|| {
            let t = match exchange {
                ExchangeType::IKE_AUTH => NotifyType::AUTHENTICATION_FAILED,
                ExchangeType::IKE_INTERMEDIATE => NotifyType::INVALID_SYNTAX,
                _ => return None,
            };
            Some(Notify::new(t, Vec::new()))
        })
    }

    /// Short reason text for [`crate::DownReason::LocalError`]: the notify name and the detail.
    pub fn reason(&self) -> String {
        match self.notify() {
            Some(n) => format!("{}: {self}", notify_name(n.notify_type)),
            None => self.to_string(),
        }
    }
}

/// The registry name of a notify type, or its number.
pub fn notify_name(t: NotifyType) -> String {
    t.name().map_or_else(|| t.0.to_string(), str::to_string)
}

/// The first error notify among `payloads`, if any.
pub(crate) fn first_error(payloads: &[Payload]) -> Option<&Notify> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type.is_error() => Some(n),
        _ => None,
    })
}

/// Find a notify of type `t`.
pub(crate) fn find_notify(payloads: &[Payload], t: NotifyType) -> Option<&Notify> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == t => Some(n),
        _ => None,
    })
}

/// "IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) ... ]": the one summary format.
pub(crate) use pqike_wire::summary;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_ke_carries_the_group() {
        let n = IkeError::InvalidKe(KeMethod::CURVE25519).notify().unwrap();
        assert_eq!(n.notify_type, NotifyType::INVALID_KE_PAYLOAD);
        assert_eq!(n.data, vec![0, 31]);
    }

    #[test]
    fn every_refusal_goes_through_one_map() {
        let cases = [
            (
                IkeError::TemporaryFailure("x"),
                NotifyType::TEMPORARY_FAILURE,
            ),
            (IkeError::ChildSaNotFound(7), NotifyType::CHILD_SA_NOT_FOUND),
            (IkeError::StateNotFound, NotifyType::STATE_NOT_FOUND),
            (
                IkeError::InternalAddressFailure("pool"),
                NotifyType::INTERNAL_ADDRESS_FAILURE,
            ),
        ];
        for (e, t) in cases {
            assert_eq!(e.notify().unwrap().notify_type, t, "{e}");
        }
        assert!(IkeError::Internal("bug").notify().is_none());
        // Our own message being too large is nothing the peer did.
        let too_long = IkeError::from(EncodeError::TooLong {
            what: "KE payload",
            len: 70_008,
            max: 65_535,
        });
        assert!(too_long.notify().is_none());
        assert!(too_long.reason().contains("KE payload too long: 70008"));
        // Errors without their own notify get the exchange's fallback.
        let internal = IkeError::Internal("bug");
        assert_eq!(
            internal
                .notify_in(ExchangeType::IKE_AUTH)
                .unwrap()
                .notify_type,
            NotifyType::AUTHENTICATION_FAILED
        );
        assert_eq!(
            internal
                .notify_in(ExchangeType::IKE_INTERMEDIATE)
                .unwrap()
                .notify_type,
            NotifyType::INVALID_SYNTAX
        );
        assert!(internal.notify_in(ExchangeType::CREATE_CHILD_SA).is_none());
        // An error's own notify wins over the fallback.
        assert_eq!(
            IkeError::NoProposal
                .notify_in(ExchangeType::IKE_AUTH)
                .unwrap()
                .notify_type,
            NotifyType::NO_PROPOSAL_CHOSEN
        );
    }

    #[test]
    fn integrity_failures_are_silent() {
        assert!(IkeError::Crypto(CryptoError::Integrity).notify().is_none());
        assert_eq!(
            IkeError::Crypto(CryptoError::InvalidPeerKey("ek"))
                .notify()
                .unwrap()
                .notify_type,
            NotifyType::INVALID_SYNTAX
        );
    }
}
