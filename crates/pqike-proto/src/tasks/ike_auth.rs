//! IKE_AUTH (RFC 7296 §1.2, §2.15): identities, certificates, AUTH (with the RFC 9242 IntAuth
//! when IKE_INTERMEDIATE ran) and the initial Child SA (or none, RFC 6023).
use crate::auth::{
    build_auth, id_matches, id_payload, id_string, identity_of, identity_string, verify_auth,
};
use crate::exchange::Received;
use crate::hexfmt::hex;
use crate::keymat::{maced_id, signed_octets};
use crate::notify::{first_error, IkeError};
use crate::tasks::child::{self, ChildRequest};
use crate::tasks::features::{self, Stage};
use crate::tasks::manager::{Ctx, IkeSa};
use crate::tasks::Pending;
use crate::{AuthConfig, Childless, Event, Identity, IkeState};
use pqike_wire::{
    Auth, CertData, CertEncoding, ExchangeType, Identification, Notify, NotifyType, Payload,
};

/// Initiator state while IKE_AUTH is outstanding.
pub(crate) struct AuthState {
    child: Option<ChildRequest>,
    /// RFC 4739: 1 for the first IKE_AUTH exchange, 2 for the second authentication round.
    round: u8,
    /// RFC 8784: we sent PPK_IDENTITY; the non-PPK key generation (unchanged) to make current
    /// again if the responder did not use the PPK (it then verified our NO_PPK_AUTH).
    ppk: Option<(String, std::sync::Arc<crate::exchange::protect::PrfKeys>)>,
}

/// Initiator, RFC 8784 §3: decide whether to offer the configured PPK. `Ok(None)`: no PPK (not
/// configured, or optional and unusable); errors when `ppk_required` cannot be met.
fn initiator_ppk<'c>(sa: &IkeSa, ctx: &Ctx<'c>) -> Result<Option<(String, &'c [u8])>, IkeError> {
    let ext = &sa.conn.auth_ext;
    let Some(id) = ext.ppk_id.as_deref() else {
        return Ok(None);
    };
    if sa.pqauth.ppk_in_intermediate {
        // RFC 9867 already mixed the PPK into every IKE key.
        return Ok(None);
    }
    let fail = |why: String| -> Result<Option<(String, &'c [u8])>, IkeError> {
        if ext.ppk_required {
            tracing::warn!(sa = sa.id.0, "{why}, and ppk_required is set: aborting");
            Err(IkeError::AuthFailed(why))
        } else {
            tracing::info!(sa = sa.id.0, "{why}; continuing without PPK");
            Ok(None)
        }
    };
    if !sa.pqauth.peer_use_ppk {
        return fail("peer did not send USE_PPK (no RFC 8784 support or no PPK configured)".into());
    }
    match crate::ppk::find(ctx.creds, id.as_bytes()) {
        Some(secret) => Ok(Some((id.to_string(), secret))),
        None => fail(format!("no PPK secret configured for PPK_ID '{id}'")),
    }
}

/// Which side's SignedOctets to build (RFC 7296 §2.15).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signer {
    Initiator,
    Responder,
}

/// SignedOctets of `signer` for its ID payload `id`; `auth_mid` is the IKE_AUTH request's message
/// ID (RFC 9242 §3.3.2).
fn signed(
    sa: &IkeSa,
    ctx: &Ctx<'_>,
    signer: Signer,
    id: &Identification,
    auth_mid: u32,
) -> Result<Vec<u8>, IkeError> {
    let prf = sa.prf(ctx.crypto)?;
    let keys = sa.keys()?;
    let (real, nonce, sk_p) = match signer {
        Signer::Initiator => (&sa.init_request, &sa.nr, &keys.prf.sk_pi),
        Signer::Responder => (&sa.init_response, &sa.ni, &keys.prf.sk_pr),
    };
    let maced = maced_id(prf, sk_p, id.id_type.0, &id.data);
    let intauth = sa.intauth.value(auth_mid);
    let octets = signed_octets(real, nonce, &maced, intauth.as_deref());
    // Debug level on purpose: lets an operator verify our signatures externally (RFC 7427 AUTH
    // over these octets, e.g. `openssl pkeyutl -verify -rawin`).
    tracing::debug!(
        sa = sa.id.0,
        "{} SignedOctets ({} octets): {}",
        if signer == Signer::Initiator {
            "initiator"
        } else {
            "responder"
        },
        octets.len(),
        hex(&octets)
    );
    Ok(octets)
}

fn our_signer(sa: &IkeSa) -> Signer {
    if sa.initiator {
        Signer::Initiator
    } else {
        Signer::Responder
    }
}

fn peer_signer(sa: &IkeSa) -> Signer {
    if sa.initiator {
        Signer::Responder
    } else {
        Signer::Initiator
    }
}

/// IDx, CERT* and AUTH payloads for our side.
fn our_auth_payloads(
    sa: &mut IkeSa,
    ctx: &Ctx<'_>,
    auth_mid: u32,
    peer_id: Option<&Identity>,
) -> Result<(Identification, Vec<Payload>, Auth), IkeError> {
    let round = sa.conn.local.clone();
    our_round_payloads(sa, ctx, auth_mid, peer_id, &round)
}

/// IDx, CERT* and AUTH for one of our authentication rounds (RFC 4739: `local` or `local2`).
fn our_round_payloads(
    sa: &mut IkeSa,
    ctx: &Ctx<'_>,
    auth_mid: u32,
    peer_id: Option<&Identity>,
    round: &crate::AuthRound,
) -> Result<(Identification, Vec<Payload>, Auth), IkeError> {
    let id = id_payload(&round.id, sa.local());
    let mut certs = Vec::new();
    if let AuthConfig::PubKey {
        cert: Some(cert),
        intermediates,
        ..
    } = &round.auth
    {
        // Our end-entity certificate, then the intermediates, whether or not the peer sent
        // CERTREQ (RFC 7296 §3.6 allows it; peers rarely have our intermediates).
        certs.push(Payload::Cert(CertData {
            encoding: CertEncoding::X509_SIG,
            data: cert.clone(),
        }));
        for c in intermediates {
            certs.push(Payload::Cert(CertData {
                encoding: CertEncoding::X509_SIG,
                data: c.clone(),
            }));
        }
    }
    let octets = signed(sa, ctx, our_signer(sa), &id, auth_mid)?;
    let prf = sa.prf(ctx.crypto)?;
    let auth = build_auth(
        ctx.creds,
        round,
        peer_id,
        prf,
        &octets,
        &sa.peer.hash_algs,
        &crate::pqauth::peer_methods(sa),
    )?;
    if sa.local_id.is_empty() {
        sa.local_id = id_string(&id);
    }
    Ok((id, certs, auth))
}

/// Verify the peer's identity, certificate chain and AUTH.
fn check_peer(
    sa: &mut IkeSa,
    ctx: &Ctx<'_>,
    msg: &Received,
    id: &Identification,
    auth: &Auth,
) -> Result<(), IkeError> {
    let expected = sa.conn.remote.clone();
    check_peer_round(sa, ctx, msg, id, auth, &expected)
}

/// Verify one authentication round of the peer against `expected` (`remote` or `remote2`).
fn check_peer_round(
    sa: &mut IkeSa,
    ctx: &Ctx<'_>,
    msg: &Received,
    id: &Identification,
    auth: &Auth,
    expected: &crate::AuthRound,
) -> Result<(), IkeError> {
    let conn = sa.conn.clone();
    if !id_matches(&expected.id, id) {
        return Err(IkeError::AuthFailed(format!(
            "peer identity {} not accepted",
            id_string(id)
        )));
    }
    let spki = match &expected.auth {
        AuthConfig::PubKey { cacerts, .. } => {
            let certs: Vec<&[u8]> = msg
                .payloads
                .iter()
                .filter_map(|p| match p {
                    Payload::Cert(c) if c.encoding == CertEncoding::X509_SIG => {
                        Some(c.data.as_slice())
                    }
                    _ => None,
                })
                .collect();
            // The engine reads no clock of its own: without the caller's wall-clock time no
            // validity period can be checked, so no certificate is accepted.
            let unix_now = ctx.unix_now.ok_or_else(|| {
                IkeError::AuthFailed(
                    "no wall-clock time to check certificate validity (Endpoint::set_wall_clock)"
                        .into(),
                )
            })?;
            Some(crate::certs::verify_peer(&certs, cacerts, id, unix_now)?)
        }
        AuthConfig::Psk => None,
    };
    let octets = signed(sa, ctx, peer_signer(sa), id, auth_mid(sa, msg))?;
    let prf = sa.prf(ctx.crypto)?;
    verify_auth(
        ctx.crypto,
        ctx.creds,
        &conn.local.id,
        id,
        expected,
        prf,
        &octets,
        auth,
        spki.as_deref(),
    )?;
    if sa.remote_id.is_empty() {
        sa.remote_id = id_string(id);
    }
    Ok(())
}

/// The first IKE_AUTH request's message ID (RFC 9242 §3.3.2; the response carries the same).
fn auth_mid(sa: &IkeSa, msg: &Received) -> u32 {
    sa.pqauth.first_auth_mid.unwrap_or(msg.header.message_id)
}

/// Initiator: send IKE_AUTH.
pub(crate) fn start(sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<(), IkeError> {
    let conn = sa.conn.clone();
    let mid = sa.msg.next_request_mid();
    let peer_id = (conn.remote.id != Identity::Any).then_some(&conn.remote.id);
    log_peer_methods(sa);
    sa.pqauth.first_auth_mid = Some(mid);
    let another_round = conn.auth_ext.local2.is_some();
    if another_round && !sa.pqauth.peer_multiple_auth {
        return Err(IkeError::Config(
            "local2 is configured but the peer did not send MULTIPLE_AUTH_SUPPORTED (RFC 4739)"
                .into(),
        ));
    }
    // RFC 8784 §3: NO_PPK_AUTH carries the AUTH data computed with the non-PPK SK_pi, so a
    // responder without our PPK can still authenticate us (only when the PPK is optional).
    let mut ppk_notifies = Vec::new();
    let mut ppk_state = None;
    if let Some((ppk_id, secret)) = initiator_ppk(sa, ctx)? {
        let no_ppk_auth = if conn.auth_ext.ppk_required {
            None
        } else {
            Some(our_auth_payloads(sa, ctx, mid, peer_id)?.2.data)
        };
        let prf = sa.prf(ctx.crypto)?;
        let saved = crate::ppk::apply(sa, prf, secret)?;
        tracing::debug!(sa = sa.id.0, "offering PPK '{ppk_id}' (RFC 8784)");
        ppk_notifies.push(Payload::Notify(Notify::new(
            NotifyType::PPK_IDENTITY,
            crate::ppk::identity_data(&ppk_id),
        )));
        if let Some(d) = no_ppk_auth {
            ppk_notifies.push(Payload::Notify(Notify::new(NotifyType::NO_PPK_AUTH, d)));
        }
        ppk_state = Some((ppk_id, saved));
    }
    let (id, certs, auth) = our_auth_payloads(sa, ctx, mid, peer_id)?;
    let mut payloads = vec![Payload::IdI(id)];
    payloads.extend(certs);
    if let Some(p) = features::certreq(ctx, sa) {
        payloads.push(p);
    }
    if let Some(r) = peer_id {
        payloads.push(Payload::IdR(id_payload(r, sa.remote())));
    }
    payloads.push(Payload::Auth(auth));
    payloads.extend(ppk_notifies);
    if another_round {
        // RFC 4739 §3: our second authentication follows in another IKE_AUTH exchange; the
        // initiator's support notify belongs in this first IKE_AUTH request (§3.1).
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::MULTIPLE_AUTH_SUPPORTED,
            vec![],
        )));
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::ANOTHER_AUTH_FOLLOWS,
            vec![],
        )));
    }
    if conn.auth_ext.announce_auth_methods && sa.pqauth.peer_auth_methods.is_some() {
        // RFC 9593 §3.1: the initiator's list rides in the IKE_AUTH request.
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::SUPPORTED_AUTH_METHODS,
            crate::auth_methods::ours(&conn),
        )));
    }
    if sa.send_initial_contact {
        // RFC 7296 §2.4: only on the first IKE SA with this peer (the endpoint checked), since
        // the peer deletes every other SA it has with our identity when it sees this notify.
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::INITIAL_CONTACT,
            vec![],
        )));
    }
    let childless = match conn.childless {
        Childless::Force if !sa.peer.childless => {
            return Err(IkeError::Config(
                "childless forced but the peer does not support RFC 6023".into(),
            ));
        }
        Childless::Force => true,
        // Without a child config only a childless IKE SA is possible.
        _ => conn.children.is_empty(),
    };
    let mut child = None;
    if !childless {
        if let Some((req, p)) = child::offer(sa, ctx)? {
            payloads.extend(p);
            child = Some(req);
        }
    }
    features::build(sa, ctx, Stage::AuthRequest, &mut payloads)?;
    sa.send_request(
        ctx,
        ExchangeType::IKE_AUTH,
        &payloads,
        Pending::IkeAuth(AuthState {
            child,
            round: 1,
            ppk: ppk_state,
        }),
    )?;
    Ok(())
}

fn id_and_auth(msg: &Received, initiator_id: bool) -> Result<(&Identification, &Auth), IkeError> {
    let id = msg
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::IdI(i) if initiator_id => Some(i),
            Payload::IdR(i) if !initiator_id => Some(i),
            _ => None,
        })
        .ok_or_else(|| IkeError::Syntax("IKE_AUTH without ID payload".into()))?;
    let auth = msg
        .payloads
        .iter()
        .find_map(|p| {
            if let Payload::Auth(a) = p {
                Some(a)
            } else {
                None
            }
        })
        .ok_or_else(|| IkeError::Syntax("IKE_AUTH without AUTH payload".into()))?;
    Ok((id, auth))
}

/// Initiator: the IKE_AUTH response.
pub(crate) fn process_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    st: AuthState,
    msg: &Received,
) -> Result<(), IkeError> {
    features::received(sa, ctx, Stage::AuthResponse, &msg.payloads);
    if st.round == 2 {
        return second_round_response(sa, ctx, st, msg);
    }
    let has_auth = msg.payloads.iter().any(|p| matches!(p, Payload::Auth(_)));
    // Without AUTH an error notify is about the IKE SA (e.g. AUTHENTICATION_FAILED); with AUTH
    // it concerns the Child SA only (RFC 7296 §2.21.2).
    if !has_auth {
        if let Some(n) = first_error(&msg.payloads) {
            if let (Some((ppk_id, _)), NotifyType::AUTHENTICATION_FAILED) = (&st.ppk, n.notify_type)
            {
                tracing::warn!(
                    sa = sa.id.0,
                    "peer refused our authentication with PPK '{ppk_id}' (it lacks this PPK, \
                     holds a different secret for it, or requires a PPK we do not share)"
                );
            }
            return Err(IkeError::PeerNotify(n.notify_type));
        }
    }
    if let Some((ppk_id, saved)) = st.ppk {
        // RFC 8784 §3: a responder that used the PPK says so with PPK_IDENTITY.
        if crate::notify::find_notify(&msg.payloads, NotifyType::PPK_IDENTITY).is_some() {
            tracing::info!(
                sa = sa.id.0,
                "PPK '{ppk_id}' mixed into the IKE SA keys (RFC 8784)"
            );
            sa.pqauth.ppk_used = Some(ppk_id);
        } else if sa.conn.auth_ext.ppk_required {
            return Err(IkeError::AuthFailed(format!(
                "responder did not use PPK '{ppk_id}' but ppk_required is set"
            )));
        } else {
            tracing::info!(
                sa = sa.id.0,
                "responder did not use PPK '{ppk_id}' (it accepted NO_PPK_AUTH); IKE SA without PPK"
            );
            crate::ppk::restore(sa, saved);
        }
    }
    let (id, auth) = id_and_auth(msg, false)?;
    check_peer(sa, ctx, msg, id, auth)?;
    if let Some(local2) = sa.conn.auth_ext.local2.clone() {
        // RFC 4739 §2: the responder is authenticated; now our second round (e.g. the PQ
        // certificate after the classic one). The Child SA completes in its response.
        let mid = auth_mid(sa, msg);
        let peer_id = identity_of(id);
        let (id2, certs2, auth2) = our_round_payloads(sa, ctx, mid, peer_id.as_ref(), &local2)?;
        tracing::info!(
            sa = sa.id.0,
            "first authentication round done, sending the second as {}",
            id_string(&id2)
        );
        let mut payloads = vec![Payload::IdI(id2)];
        payloads.extend(certs2);
        payloads.push(Payload::Auth(auth2));
        sa.send_request(
            ctx,
            ExchangeType::IKE_AUTH,
            &payloads,
            Pending::IkeAuth(AuthState {
                child: st.child,
                round: 2,
                ppk: None,
            }),
        )?;
        return Ok(());
    }
    if let Some(req) = st.child {
        if let Err(e) = child::complete(sa, ctx, req, &msg.payloads) {
            tracing::warn!(sa = sa.id.0, "IKE SA up, but the Child SA failed: {e}");
        }
    }
    established(sa, ctx);
    Ok(())
}

/// Initiator, RFC 4739: the response to our second authentication round (no AUTH in it; the
/// Child SA payloads, or AUTHENTICATION_FAILED).
fn second_round_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    st: AuthState,
    msg: &Received,
) -> Result<(), IkeError> {
    if let Some(n) = first_error(&msg.payloads) {
        if n.notify_type == NotifyType::AUTHENTICATION_FAILED {
            tracing::warn!(sa = sa.id.0, "peer refused our second authentication round");
            return Err(IkeError::PeerNotify(n.notify_type));
        }
    }
    if let Some(req) = st.child {
        if let Err(e) = child::complete(sa, ctx, req, &msg.payloads) {
            tracing::warn!(sa = sa.id.0, "IKE SA up, but the Child SA failed: {e}");
        }
    }
    established(sa, ctx);
    Ok(())
}

/// Responder, RFC 4739: the initiator's second authentication round against `remote2`, then
/// the Child SA requested in the first IKE_AUTH request.
fn second_round_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    msg: &Received,
    first_payloads: Vec<Payload>,
) -> Result<(), IkeError> {
    let expected = sa
        .conn
        .auth_ext
        .remote2
        .clone()
        .ok_or_else(|| IkeError::AuthFailed("no remote2 configured".into()))?;
    let (id, auth) = id_and_auth(msg, true)?;
    check_peer_round(sa, ctx, msg, id, auth, &expected).map_err(|e| {
        let e = match e {
            IkeError::AuthFailed(s) => IkeError::AuthFailed(format!("second round: {s}")),
            other => IkeError::AuthFailed(format!("second round: {other}")),
        };
        tracing::warn!(sa = sa.id.0, "{e}");
        e
    })?;
    tracing::info!(
        sa = sa.id.0,
        "second authentication round of {} verified (RFC 4739)",
        id_string(id)
    );
    let mut reply = Vec::new();
    respond_child(sa, ctx, &first_payloads, &mut reply);
    sa.send_response(ctx, ExchangeType::IKE_AUTH, msg.header.message_id, &reply)?;
    established(sa, ctx);
    Ok(())
}

/// The Child SA part of the (last) IKE_AUTH response.
fn respond_child(sa: &mut IkeSa, ctx: &mut Ctx<'_>, request: &[Payload], reply: &mut Vec<Payload>) {
    if child::requested(request) {
        match child::respond(sa, ctx, request) {
            Ok(p) => reply.extend(p),
            Err(e) => {
                // RFC 7296 §2.21.1: the IKE SA still comes up, only the child fails.
                tracing::warn!(sa = sa.id.0, "refusing the Child SA: {e}");
                if let Some(n) = e.notify() {
                    reply.push(Payload::Notify(n));
                }
            }
        }
    } else if sa.conn.childless == Childless::Never {
        tracing::warn!(
            sa = sa.id.0,
            "peer created a childless IKE SA although childless = never"
        );
    }
}

/// Log the peer's RFC 9593 announcement once we have it.
fn log_peer_methods(sa: &IkeSa) {
    let list = crate::pqauth::peer_methods(sa);
    if !list.is_empty() {
        tracing::info!(
            sa = sa.id.0,
            "peer accepts auth methods (RFC 9593): {}",
            crate::auth_methods::describe(&list)
        );
    }
}

/// Responder's RFC 8784 decision.
enum ResponderPpk {
    /// The PPK is now mixed into SK_d/SK_pi/SK_pr; verify the AUTH payload.
    Used,
    /// No PPK involved.
    NotOffered,
    /// The initiator's PPK is unknown to us and optional for both: verify NO_PPK_AUTH instead.
    UseNoPpkAuth(Vec<u8>),
}

/// Responder, RFC 8784 §3: apply the initiator's PPK if we hold it, else fall back to
/// NO_PPK_AUTH when our policy allows; every refusal is AUTHENTICATION_FAILED with a log line.
fn responder_ppk(sa: &mut IkeSa, ctx: &Ctx<'_>, msg: &Received) -> Result<ResponderPpk, IkeError> {
    let required = sa.conn.auth_ext.ppk_required;
    if sa.pqauth.ppk_in_intermediate {
        return Ok(ResponderPpk::NotOffered);
    }
    let ppk_identity = crate::notify::find_notify(&msg.payloads, NotifyType::PPK_IDENTITY);
    let no_ppk_auth = crate::notify::find_notify(&msg.payloads, NotifyType::NO_PPK_AUTH);
    let refuse = |why: String| {
        tracing::warn!(sa = sa.id.0, "{why}");
        Err(IkeError::AuthFailed(why))
    };
    let Some(n) = ppk_identity else {
        if required && sa.pqauth.ppk_int_chosen {
            return refuse(
                "peer did not complete the RFC 9867 PPK exchange but ppk_required is set".into(),
            );
        }
        if required {
            return refuse(
                "peer did not offer a PPK (no PPK_IDENTITY) but ppk_required is set".into(),
            );
        }
        return Ok(ResponderPpk::NotOffered);
    };
    if !sa.pqauth.peer_use_ppk {
        return refuse("PPK_IDENTITY without USE_PPK in IKE_SA_INIT".into());
    }
    let id = crate::ppk::parse_identity(&n.data)?;
    let shown = crate::ppk::display_id(id);
    // We only answered USE_PPK when a PPK is configured for this connection, so a PPK_IDENTITY
    // here means the initiator wants one from us.
    match crate::ppk::find(ctx.creds, id) {
        Some(secret) => {
            let prf = sa.prf(ctx.crypto)?;
            // The non-PPK keys are not needed again: a wrong PPK fails AUTH with no fallback
            // (RFC 8784 §3 does not allow trying NO_PPK_AUTH once the PPK was picked).
            let _ = crate::ppk::apply(sa, prf, secret)?;
            tracing::info!(sa = sa.id.0, "using PPK '{shown}' (RFC 8784)");
            sa.pqauth.ppk_used = Some(shown);
            Ok(ResponderPpk::Used)
        }
        None if required => refuse(format!(
            "no PPK for the peer's PPK_ID '{shown}' and ppk_required is set"
        )),
        None => match no_ppk_auth {
            Some(n) => {
                tracing::info!(
                    sa = sa.id.0,
                    "no PPK for the peer's PPK_ID '{shown}': authenticating with NO_PPK_AUTH"
                );
                Ok(ResponderPpk::UseNoPpkAuth(n.data.clone()))
            }
            None => refuse(format!(
                "no PPK for the peer's PPK_ID '{shown}' and the peer sent no NO_PPK_AUTH \
                 (it requires the PPK)"
            )),
        },
    }
}

/// Responder: the IKE_AUTH request.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    msg: &Received,
) -> Result<(), IkeError> {
    features::received(sa, ctx, Stage::AuthRequest, &msg.payloads);
    if sa.state != IkeState::Authenticating {
        return Err(IkeError::Syntax(format!(
            "IKE_AUTH in state {:?}",
            sa.state
        )));
    }
    if let Some(first) = sa.pqauth.expect_round2.take() {
        return second_round_request(sa, ctx, msg, first);
    }
    sa.pqauth.first_auth_mid = Some(msg.header.message_id);
    let another =
        crate::notify::find_notify(&msg.payloads, NotifyType::ANOTHER_AUTH_FOLLOWS).is_some();
    match (sa.conn.auth_ext.remote2.is_some(), another) {
        (true, false) => {
            let why = "remote2 requires a second authentication round (RFC 4739), but the peer \
                       sent no ANOTHER_AUTH_FOLLOWS";
            tracing::warn!(sa = sa.id.0, "{why}");
            return Err(IkeError::AuthFailed(why.into()));
        }
        (false, true) => {
            let why = "peer announced a second authentication round (ANOTHER_AUTH_FOLLOWS), but \
                       no remote2 is configured";
            tracing::warn!(sa = sa.id.0, "{why}");
            return Err(IkeError::AuthFailed(why.into()));
        }
        _ => {}
    }
    let (id, auth) = id_and_auth(msg, true)?;
    if let Some(n) = crate::notify::find_notify(&msg.payloads, NotifyType::SUPPORTED_AUTH_METHODS) {
        sa.pqauth.peer_auth_methods = Some(n.data.clone());
    }
    log_peer_methods(sa);
    let no_ppk_auth;
    let auth = match responder_ppk(sa, ctx, msg)? {
        ResponderPpk::Used | ResponderPpk::NotOffered => auth,
        ResponderPpk::UseNoPpkAuth(data) => {
            no_ppk_auth = Auth {
                method: auth.method,
                data,
            };
            &no_ppk_auth
        }
    };
    if let Err(e) = check_peer(sa, ctx, msg, id, auth) {
        if let Some(ppk_id) = &sa.pqauth.ppk_used {
            tracing::warn!(
                sa = sa.id.0,
                "peer AUTH does not verify with PPK '{ppk_id}' in use: the peers probably hold \
                 different secrets for this PPK_ID"
            );
        }
        // Always AUTHENTICATION_FAILED on the wire, whatever the detail (RFC 7296 §2.21.2).
        return Err(match e {
            IkeError::AuthFailed(s) => IkeError::AuthFailed(s),
            other => IkeError::AuthFailed(other.to_string()),
        });
    }
    let mid = msg.header.message_id;
    let peer = identity_of(id);
    let (our_id, certs, our_auth) = our_auth_payloads(sa, ctx, mid, peer.as_ref())?;
    let mut reply = vec![Payload::IdR(our_id)];
    reply.extend(certs);
    reply.push(Payload::Auth(our_auth));
    if sa.pqauth.ppk_used.is_some() && !sa.pqauth.ppk_in_intermediate {
        // RFC 8784 §3: tell the initiator the PPK was used (no data).
        reply.push(Payload::Notify(Notify::new(
            NotifyType::PPK_IDENTITY,
            vec![],
        )));
    }
    sa.initial_contact =
        crate::notify::find_notify(&msg.payloads, NotifyType::INITIAL_CONTACT).is_some();
    if another {
        // RFC 4739 §2: answer the first round with IDr/CERT/AUTH only; the Child SA comes with
        // the response to the last round.
        features::build(sa, ctx, Stage::AuthResponse, &mut reply)?;
        sa.send_response(ctx, ExchangeType::IKE_AUTH, mid, &reply)?;
        sa.pqauth.expect_round2 = Some(msg.payloads.clone());
        tracing::info!(
            sa = sa.id.0,
            "first authentication round of {} verified, waiting for the second (RFC 4739)",
            identity_string(&peer.unwrap_or(Identity::Any))
        );
        return Ok(());
    }
    respond_child(sa, ctx, &msg.payloads, &mut reply);
    features::build(sa, ctx, Stage::AuthResponse, &mut reply)?;
    sa.send_response(ctx, ExchangeType::IKE_AUTH, mid, &reply)?;
    tracing::debug!(
        sa = sa.id.0,
        "authenticated peer {}",
        identity_string(&peer.unwrap_or(Identity::Any))
    );
    established(sa, ctx);
    Ok(())
}

/// ESTABLISHED: log with transforms and emit IkeUp.
fn established(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    sa.state = IkeState::Established;
    sa.established_at = Some(ctx.now);
    let status = sa.status();
    let t = &status.transforms;
    tracing::info!(
        sa = sa.id.0,
        "IKE_SA {} established between {}[{}]...{}[{}]: {}",
        sa.conn.name,
        sa.local(),
        sa.local_id,
        sa.remote(),
        sa.remote_id,
        t.proposal_line()
    );
    ctx.out.events.push_back(Event::IkeUp { sa: sa.id, status });
}
