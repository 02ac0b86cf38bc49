//! OIDC single sign-on against the tenant's own IdP (authorization code flow with PKCE):
//! [`sso_start`] stores a single-use `state` bound to the tenant (with the `nonce` and the PKCE
//! verifier) and names the IdP's authorization URL; [`sso_callback`] takes that state once,
//! exchanges the code, verifies the ID token against the tenant's configured issuer and client,
//! links the user by (tenant, IdP issuer, IdP subject) and opens the session like every other
//! sign-in ([`super::sign_in::open_session`]).

use super::sign_in::{open_session, throttled, Delivery, SignedIn, Who};
use super::{count, rng_failed, FlowError, LoginMethod};
use crate::audit::{Action, Event};
use crate::logins::seal::{sso_owner, Sealer};
use crate::logins::{self, Sso};
use crate::metrics::{Counter, UNKNOWN_TENANT};
use crate::ops::Ctx;
use crate::ratelimit::SignInThrottle;
use crate::sso::id_token::{self, Expected, IdTokenError};
use crate::sso::idp::{form_encode, CodeExchange, IdpClient};
use crate::sso::link::{self, Subject};
use crate::sso::{random_value, state, Pkce};
use crate::time::{now, now_ms};
use crate::{directory, random_token, validate};

/// Longest `return_to` accepted.
const MAX_RETURN_TO: usize = 2048;

/// The issuer's callback URL for `tenant`: what the IdP client must have registered.
pub fn callback_url(ctx: &Ctx<'_>, tenant: &str) -> String {
    let base = ctx
        .config
        .public_url
        .as_deref()
        .unwrap_or(&ctx.config.issuer);
    format!("{base}/v1/tenants/{tenant}/sso/callback")
}

/// A same-site path to send the browser to after the sign-in (never another origin: an open
/// redirect would hand the session cookie's page to whoever crafted the link).
fn check_return_to(value: Option<&str>) -> Result<String, FlowError> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(String::new());
    };
    let ok = v.len() <= MAX_RETURN_TO
        && v.starts_with('/')
        && !v.starts_with("//")
        && !v.contains('\\')
        && v.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(v.to_string())
    } else {
        Err(FlowError::Invalid(format!(
            "return_to: must be a path on this site starting with one / (at most {MAX_RETURN_TO} characters)"
        )))
    }
}

/// Counts and audits a refused SSO step; `reason` is stable, for log queries.
fn refused(ctx: &Ctx<'_>, tenant: &str, reason: &str) {
    count(ctx, Counter::SignInFailure, tenant, None);
    ctx.audit.record(
        Event::new(Action::SignInFailure, Some(tenant), "anonymous", ctx.ip)
            .with("method", "sso")
            .with("reason", reason),
    );
}

/// The tenant's SSO settings, or the refusal of a tenant that has none (or is disabled).
fn tenant_sso(ctx: &Ctx<'_>, tenant: &str) -> Result<Sso, FlowError> {
    let (row, methods) = ctx.store.tx(|tx| {
        Ok((
            directory::get_tenant(tx, tenant)?,
            logins::store::methods_of(tx, tenant)?,
        ))
    })?;
    let Some(row) = row else {
        count(ctx, Counter::SignInFailure, UNKNOWN_TENANT, None);
        return Err(FlowError::TenantNotFound);
    };
    if row.disabled {
        refused(ctx, tenant, "tenant_disabled");
        return Err(FlowError::TenantDisabled);
    }
    methods.sso.ok_or_else(|| {
        refused(ctx, tenant, "sso_off");
        FlowError::LoginMethodDisabled(LoginMethod::Sso)
    })
}

/// Starts an SSO sign-in of `tenant`; returns the IdP's authorization URL to redirect to.
/// Each start is a sign-in attempt of its address (and of all together): it stores a state row
/// and asks the IdP's discovery, so `throttle` bounds both.
pub fn sso_start(
    ctx: &Ctx<'_>,
    idp: &IdpClient,
    throttle: &SignInThrottle,
    tenant: &str,
    return_to: Option<&str>,
) -> Result<String, FlowError> {
    let redirect = check_return_to(return_to)?;
    let sso = tenant_sso(ctx, tenant)?;
    take_start(ctx, throttle, tenant)?;
    let (metadata, _) = idp.metadata(&sso.issuer, false).map_err(|e| {
        refused(ctx, tenant, "sso_idp_unavailable");
        FlowError::SsoIdp(e.to_string())
    })?;
    let (state_value, nonce) = (random_value(), random_value());
    let (Ok(state_value), Ok(nonce), Ok(pkce)) = (state_value, nonce, Pkce::generate()) else {
        return Err(rng_failed());
    };
    let pending = state::Pending {
        nonce,
        code_verifier: pkce.verifier,
        redirect,
    };
    let t = now();
    ctx.store
        .tx(|tx| state::put(tx, &state_value, tenant, &pending, t))?;
    ctx.audit.record(
        Event::new(Action::SsoStart, Some(tenant), "anonymous", ctx.ip)
            .with("idp", sso.issuer.as_str()),
    );
    let sep = if metadata.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let params = [
        ("response_type", "code"),
        ("scope", "openid email"),
        ("client_id", sso.client_id.as_str()),
        ("redirect_uri", &callback_url(ctx, tenant)),
        ("state", &state_value),
        ("nonce", &pending.nonce),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", form_encode(v)))
        .collect();
    Ok(format!(
        "{}{sep}{}",
        metadata.authorization_endpoint,
        query.join("&")
    ))
}

/// One attempt from the address's and the overall sign-in budgets.
fn take_start(ctx: &Ctx<'_>, throttle: &SignInThrottle, tenant: &str) -> Result<(), FlowError> {
    let verdict = ctx
        .store
        .tx(|tx| throttle.take_anonymous(tx, ctx.ip, now_ms()))?;
    verdict.map_err(|refusal| throttled(ctx, tenant, refusal, ("method", "sso")))
}

/// What the IdP sent back to the callback.
pub struct CallbackInput {
    pub code: Option<String>,
    pub state: String,
    /// The IdP's `error`, when it refused the sign-in.
    pub error: Option<String>,
    pub delivery: Delivery,
}

/// A finished SSO sign-in: the session and where the browser goes next (empty: answer JSON).
pub struct SsoDone {
    pub session: SignedIn,
    pub return_to: String,
}

/// Finishes the sign-in the callback's `state` started.
pub fn sso_callback(
    ctx: &Ctx<'_>,
    idp: &IdpClient,
    tenant: &str,
    input: &CallbackInput,
) -> Result<SsoDone, FlowError> {
    let t = now();
    // Taken first, whatever else is wrong: a state is spent by any callback that names it.
    let pending = ctx
        .store
        .tx(|tx| state::take(tx, &input.state, tenant, t))?;
    let Some(pending) = pending else {
        refused(ctx, tenant, "sso_state_invalid");
        return Err(FlowError::SsoStateInvalid);
    };
    let sso = tenant_sso(ctx, tenant)?;
    if let Some(error) = &input.error {
        refused(ctx, tenant, "sso_idp_refused");
        return Err(FlowError::SsoIdpRefused(error.chars().take(64).collect()));
    }
    let code = input.code.as_deref().filter(|c| !c.is_empty());
    let code = code.ok_or_else(|| FlowError::Invalid("code: the IdP sent no code".into()))?;
    let id_token = exchange(ctx, idp, tenant, &sso, code, &pending.code_verifier)?;
    let claims = verify(ctx, idp, tenant, &sso, &id_token, &pending.nonce, t)?;
    let email = claims
        .email
        .as_deref()
        .and_then(|e| validate::email("email", e).ok());
    let new_id = format!("u_{}", random_token(12).map_err(|_| rng_failed())?);
    let subject = Subject {
        tenant,
        idp_issuer: &sso.issuer,
        idp_subject: &claims.sub,
        email: email.as_deref(),
    };
    let linked = ctx
        .store
        .tx(|tx| link::find_or_create(tx, &subject, &sso.default_roles, &new_id, t))?;
    if linked.created {
        ctx.audit.record(
            Event::new(Action::SsoUserCreate, Some(tenant), &linked.user_id, ctx.ip)
                .with("idp", sso.issuer.as_str())
                .with("idp_subject", claims.sub.as_str())
                .with("email", linked.email.as_str()),
        );
    }
    let mut amr: Vec<&str> = vec!["sso"];
    amr.extend(
        claims
            .amr
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "sso"),
    );
    let who = Who {
        tenant,
        user_id: &linked.user_id,
        email: &linked.email,
    };
    let session = open_session(ctx, &who, input.delivery, &amr, t)?;
    Ok(SsoDone {
        session,
        return_to: pending.redirect,
    })
}

fn exchange(
    ctx: &Ctx<'_>,
    idp: &IdpClient,
    tenant: &str,
    sso: &Sso,
    code: &str,
    code_verifier: &str,
) -> Result<String, FlowError> {
    let secret = Sealer::open(ctx.config)
        .and_then(|s| s.open_secret(&sso_owner(tenant, &sso.client_id), &sso.sealed_secret))
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    let secret = String::from_utf8(secret)
        .map_err(|_| FlowError::Internal("the sealed SSO client secret is not text".into()))?;
    let (metadata, _) = idp.metadata(&sso.issuer, false).map_err(|e| {
        refused(ctx, tenant, "sso_idp_unavailable");
        FlowError::SsoIdp(e.to_string())
    })?;
    let redirect_uri = callback_url(ctx, tenant);
    let req = CodeExchange {
        code,
        code_verifier,
        redirect_uri: &redirect_uri,
        client_id: &sso.client_id,
        client_secret: &secret,
    };
    idp.exchange(&metadata, &req).map_err(|e| match e {
        crate::sso::idp::IdpError::CodeRejected(m) => {
            refused(ctx, tenant, "sso_code_rejected");
            FlowError::SsoCodeRejected(m)
        }
        other => {
            refused(ctx, tenant, "sso_idp_unavailable");
            FlowError::SsoIdp(other.to_string())
        }
    })
}

fn verify(
    ctx: &Ctx<'_>,
    idp: &IdpClient,
    tenant: &str,
    sso: &Sso,
    token: &str,
    nonce: &str,
    t: i64,
) -> Result<id_token::IdClaims, FlowError> {
    let expected = Expected {
        issuer: &sso.issuer,
        client_id: &sso.client_id,
        nonce,
        now: t,
    };
    let keys = |fresh| {
        idp.metadata(&sso.issuer, fresh)
            .map(|(_, k)| k)
            .map_err(|e| FlowError::SsoIdp(e.to_string()))
    };
    let mut result = id_token::verify(token, keys(false)?.as_ref(), &expected);
    // The IdP rotated its keys since they were cached: fetch them once more.
    if result == Err(IdTokenError::UnknownKey) {
        result = id_token::verify(token, keys(true)?.as_ref(), &expected);
    }
    result.map_err(|e| {
        refused(ctx, tenant, e.reason());
        FlowError::SsoIdToken(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_is_a_path_on_this_site() {
        assert_eq!(check_return_to(None).ok(), Some(String::new()));
        assert_eq!(
            check_return_to(Some("/app?x=1")).ok(),
            Some("/app?x=1".into())
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil",
            "app",
            "/a b",
        ] {
            assert!(check_return_to(Some(bad)).is_err(), "{bad}");
        }
    }
}
