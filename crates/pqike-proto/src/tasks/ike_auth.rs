//! IKE_AUTH (RFC 7296 §1.2, §2.15): identities, certificates, AUTH (with the RFC 9242 IntAuth
//! when IKE_INTERMEDIATE ran) and the initial Child SA (or none, RFC 6023).
use crate::auth::{
    build_auth, id_matches, id_payload, id_string, identity_of, identity_string, verify_auth,
};
use crate::ike_sa::{hex, Ctx, IkeSa, Received};
use crate::keymat::{maced_id, signed_octets};
use crate::notify::{first_error, IkeError};
use crate::tasks::child::{self, ChildRequest};
use crate::tasks::Pending;
use crate::{AuthConfig, Childless, Event, Identity, IkeState};
use pqike_wire::{
    Auth, CertData, CertEncoding, ExchangeType, Identification, Notify, NotifyType, Payload,
};

/// Initiator state while IKE_AUTH is outstanding.
pub(crate) struct AuthState {
    child: Option<ChildRequest>,
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
        Signer::Initiator => (&sa.init_request, &sa.nr, &keys.sk_pi),
        Signer::Responder => (&sa.init_response, &sa.ni, &keys.sk_pr),
    };
    let maced = maced_id(prf, sk_p, id.id_type.0, &id.data);
    let intauth = sa.intauth.value(auth_mid);
    let octets = signed_octets(real, nonce, &maced, intauth.as_deref());
    tracing::trace!(
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
    let conn = sa.conn.clone();
    let id = id_payload(&conn.local.id, sa.local);
    let mut certs = Vec::new();
    if let AuthConfig::PubKey {
        cert: Some(cert),
        intermediates,
        ..
    } = &conn.local.auth
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
        &conn.local,
        peer_id,
        prf,
        &octets,
        &sa.peer.hash_algs,
    )?;
    sa.local_id = id_string(&id);
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
    let conn = sa.conn.clone();
    if !id_matches(&conn.remote.id, id) {
        return Err(IkeError::AuthFailed(format!(
            "peer identity {} not accepted",
            id_string(id)
        )));
    }
    let spki = match &conn.remote.auth {
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
            Some(crate::certs::verify_peer(
                &certs,
                cacerts,
                id,
                ctx.unix_now,
            )?)
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
        &conn.remote,
        prf,
        &octets,
        auth,
        spki.as_deref(),
    )?;
    sa.remote_id = id_string(id);
    Ok(())
}

/// The IKE_AUTH request's message ID (the response carries the same one).
fn auth_mid(_sa: &IkeSa, msg: &Received) -> u32 {
    msg.header.message_id
}

/// Initiator: send IKE_AUTH.
pub(crate) fn start(sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<(), IkeError> {
    let conn = sa.conn.clone();
    let mid = sa.next_request_mid;
    let peer_id = (conn.remote.id != Identity::Any).then_some(&conn.remote.id);
    let (id, certs, auth) = our_auth_payloads(sa, ctx, mid, peer_id)?;
    let mut payloads = vec![Payload::IdI(id)];
    payloads.extend(certs);
    if let Some(p) = crate::tasks::ike_init::certreq(ctx, &conn) {
        payloads.push(p);
    }
    if let Some(r) = peer_id {
        payloads.push(Payload::IdR(id_payload(r, sa.remote)));
    }
    payloads.push(Payload::Auth(auth));
    payloads.push(Payload::Notify(Notify::new(
        NotifyType::INITIAL_CONTACT,
        vec![],
    )));
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
    sa.send_request(
        ctx,
        ExchangeType::IKE_AUTH,
        &payloads,
        Pending::IkeAuth(AuthState { child }),
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
    let has_auth = msg.payloads.iter().any(|p| matches!(p, Payload::Auth(_)));
    // Without AUTH an error notify is about the IKE SA (e.g. AUTHENTICATION_FAILED); with AUTH
    // it concerns the Child SA only (RFC 7296 §2.21.2).
    if !has_auth {
        if let Some(n) = first_error(&msg.payloads) {
            return Err(IkeError::PeerNotify(n.notify_type));
        }
    }
    let (id, auth) = id_and_auth(msg, false)?;
    check_peer(sa, ctx, msg, id, auth)?;
    if let Some(req) = st.child {
        if let Err(e) = child::complete(sa, ctx, req, &msg.payloads) {
            tracing::warn!(sa = sa.id.0, "IKE SA up, but the Child SA failed: {e}");
        }
    }
    established(sa, ctx);
    Ok(())
}

/// Responder: the IKE_AUTH request.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    msg: &Received,
) -> Result<(), IkeError> {
    if sa.state != IkeState::Authenticating {
        return Err(IkeError::Syntax(format!(
            "IKE_AUTH in state {:?}",
            sa.state
        )));
    }
    let (id, auth) = id_and_auth(msg, true)?;
    if let Err(e) = check_peer(sa, ctx, msg, id, auth) {
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
    if child::requested(&msg.payloads) {
        match child::respond(sa, ctx, &msg.payloads) {
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
    sa.send_response(ctx, ExchangeType::IKE_AUTH, mid, &reply)?;
    sa.initial_contact =
        crate::notify::find_notify(&msg.payloads, NotifyType::INITIAL_CONTACT).is_some();
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
        "IKE_SA {} established between {}[{}]...{}[{}]: {}/{}/{}/{}",
        sa.conn.name,
        sa.local,
        sa.local_id,
        sa.remote,
        sa.remote_id,
        t.encr,
        t.integ,
        t.prf,
        t.ke.join("/")
    );
    ctx.out.events.push_back(Event::IkeUp { sa: sa.id, status });
}
