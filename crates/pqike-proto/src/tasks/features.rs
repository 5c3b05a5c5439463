//! Payloads several tasks contribute to one shared message, and what each of them takes from
//! the peer's (strongSwan activates IKE_INIT, NATD, CERT_PRE, AUTH, CONFIG and CHILD_CREATE
//! together, and each fills the same message).
//!
//! The exchange tasks (`ike_init`, `ike_auth`) build their own payloads and then call
//! [`build`] for the stage; on a received message they call [`received`]. The contributors, in
//! the order they appear on the wire:
//! * IKE_SA_INIT: NAT detection (`natd`, RFC 7296 §2.23), the capability notifies
//!   (`ike_init`: RFC 7383, RFC 7427, RFC 9242, RFC 6023), the post-quantum authentication
//!   extensions (`pqauth`: RFC 8784, RFC 9867, RFC 4739, RFC 9593), Child SA PFS info
//!   (`rekey`), and in the response CERTREQ (§3.7);
//! * IKE_AUTH: the remote-access configuration payload (`cp`, §3.15).
use crate::notify::IkeError;
use crate::tasks::manager::{Ctx, IkeSa};
use crate::tasks::{cp, ike_init, natd, rekey};
use crate::AuthConfig;
use pqike_wire::{CertData, CertEncoding, Payload};

/// Which shared message is being built or was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The initiator's IKE_SA_INIT request.
    InitRequest,
    /// The responder's IKE_SA_INIT response; `intermediate`: IKE_INTERMEDIATE will run.
    InitResponse { intermediate: bool },
    /// The initiator's first IKE_AUTH request.
    AuthRequest,
    /// The responder's IKE_AUTH response completing authentication (carrying AUTH).
    AuthResponse,
}

/// Add the contributions for `stage` to `out`.
pub(crate) fn build(
    sa: &mut IkeSa,
    ctx: &Ctx<'_>,
    stage: Stage,
    out: &mut Vec<Payload>,
) -> Result<(), IkeError> {
    match stage {
        Stage::InitRequest => {
            out.extend(natd::payloads(sa, ctx.crypto, 0));
            ike_init::capabilities(sa, None, out);
            out.extend(crate::pqauth::init_request_notifies(&sa.conn));
            out.extend(rekey::pfs_info_notify(&sa.conn));
        }
        Stage::InitResponse { intermediate } => {
            out.extend(natd::payloads(sa, ctx.crypto, sa.spi_r));
            ike_init::capabilities(sa, Some(intermediate), out);
            out.extend(crate::pqauth::init_response_notifies(sa, intermediate));
            if sa.life.pfs_info {
                out.extend(rekey::pfs_info_notify(&sa.conn));
            }
            crate::pqauth::defer_auth_methods(sa, intermediate);
            ike_init::childless_notify(sa, out);
            out.extend(certreq(ctx, sa));
        }
        Stage::AuthRequest => out.extend(cp::request_payloads(sa)),
        Stage::AuthResponse => {
            // Only into a response that authenticates us and reports no error (a refused
            // child keeps the lease for a later exchange, as before).
            let authenticates = out.iter().any(|p| matches!(p, Payload::Auth(_)));
            if authenticates && crate::notify::first_error(out).is_none() {
                out.extend(cp::response_payloads(sa));
            }
        }
    }
    Ok(())
}

/// Take what the contributors need from the peer's message of `stage`.
pub(crate) fn received(sa: &mut IkeSa, ctx: &mut Ctx<'_>, stage: Stage, payloads: &[Payload]) {
    match stage {
        Stage::InitRequest | Stage::InitResponse { .. } => {
            let request = stage == Stage::InitRequest;
            sa.peer = ike_init::peer_support(payloads);
            rekey::note_pfs_info(sa, payloads);
            if request {
                crate::pqauth::init_request_received(sa, payloads);
            } else {
                crate::pqauth::init_response_received(sa, payloads);
            }
            let spi_r = if request { 0 } else { sa.spi_r };
            natd::detect(sa, ctx.crypto, payloads, spi_r);
        }
        Stage::AuthRequest => {
            if sa.cp.vips.is_empty() {
                cp::on_request(sa, ctx, payloads);
            }
        }
        Stage::AuthResponse => cp::on_reply(sa, ctx, payloads),
    }
}

/// CERTREQ for our trust anchors (RFC 7296 §3.7: SHA-1 hashes of their SubjectPublicKeyInfo).
pub(crate) fn certreq(ctx: &Ctx<'_>, sa: &IkeSa) -> Option<Payload> {
    let AuthConfig::PubKey { cacerts, .. } = &sa.conn.remote.auth else {
        return None;
    };
    if !sa.conn.send_certreq || cacerts.is_empty() {
        return None;
    }
    let data = crate::certs::ca_key_hashes(ctx.crypto, cacerts);
    Some(Payload::CertReq(CertData {
        encoding: CertEncoding::X509_SIG,
        data,
    }))
}
