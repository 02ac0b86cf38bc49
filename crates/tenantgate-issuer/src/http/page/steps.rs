//! The two form posts of a sign-in: the password step and the TOTP step. Both run the API's
//! flows on the blocking pool and render the outcome as a page.

use axum::http::StatusCode;
use axum::response::Response;

use super::super::{blocking, App};
use super::html::{self, TotpView};
use super::{
    field, form_page, limits, refusal_text, sign_in_html, signed_in, with_retry_after, FormPost,
    Refusal, Visit,
};
use crate::flows::{self, Delivery, FlowError, SecondFactorInput, SignInInput, SignInOutcome};

/// A refusal of a step as a page: an unknown or disabled tenant is the 404 page, the rest
/// re-renders `again` with the message.
fn refused(visit: &Visit, e: &FlowError, again: impl FnOnce(&str) -> String) -> Response {
    if matches!(e, FlowError::TenantNotFound | FlowError::TenantDisabled) {
        return Refusal::NoTenant.into_page(None);
    }
    let (status, text) = refusal_text(e);
    with_retry_after(form_page(status, visit, again(&text)), e)
}

fn totp_html(visit: &Visit, challenge: &str, error: Option<&str>) -> String {
    html::totp_page(&TotpView {
        tenant_id: &visit.tenant.id,
        tenant_name: &visit.tenant.name,
        csrf: &visit.csrf,
        challenge,
        error,
    })
}

/// `POST /t/{tenant}/sign-in`: email and password.
pub(in crate::http) async fn password(FormPost { app, visit, form }: FormPost) -> Response {
    let tenant = visit.tenant.id.clone();
    let input = SignInInput {
        email: field(&form, "email").unwrap_or_default().trim().to_string(),
        password: field(&form, "password").unwrap_or_default().to_string(),
        delivery: Delivery::Cookie,
    };
    let done = blocking(&app, move |app| {
        let ctx = app.ctx("anonymous", Some(&visit.ip));
        let outcome = flows::sign_in(&ctx, &limits(app), &visit.tenant.id, &input);
        Ok(password_page(app, &visit, &input.email, outcome))
    })
    .await;
    done.unwrap_or_else(|e| Refusal::Internal(e.message()).into_page(Some(&tenant)))
}

fn password_page(
    app: &App,
    visit: &Visit,
    email: &str,
    outcome: Result<SignInOutcome, FlowError>,
) -> Response {
    match outcome {
        Ok(SignInOutcome::Session(done)) => signed_in(app, visit, &done, Some(email)),
        Ok(SignInOutcome::SecondFactor(next)) if !next.enroll => form_page(
            StatusCode::OK,
            visit,
            totp_html(visit, &next.challenge, None),
        ),
        Ok(SignInOutcome::SecondFactor(_)) => {
            let text = "This organization requires an authenticator app, and your account has \
                        none yet. Set one up with the sign-in API (POST .../totp/enroll) or ask \
                        an administrator.";
            form_page(
                StatusCode::CONFLICT,
                visit,
                sign_in_html(visit, email, Some(text)),
            )
        }
        Err(e) => refused(visit, &e, |text| sign_in_html(visit, email, Some(text))),
    }
}

/// `POST /t/{tenant}/sign-in/totp`: the code of the second step. Six digits are a TOTP code,
/// anything else a recovery code.
pub(in crate::http) async fn totp(FormPost { app, visit, form }: FormPost) -> Response {
    let tenant = visit.tenant.id.clone();
    let challenge = field(&form, "challenge").unwrap_or_default().to_string();
    let code = field(&form, "code").unwrap_or_default().trim().to_string();
    let is_totp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let input = SecondFactorInput {
        challenge: challenge.clone(),
        code: is_totp.then(|| code.clone()),
        recovery_code: (!is_totp).then_some(code),
    };
    let done = blocking(&app, move |app| {
        if input.challenge.is_empty() || input.challenge.len() > 256 {
            return Ok(refused(&visit, &FlowError::ChallengeInvalid, |text| {
                sign_in_html(&visit, "", Some(text))
            }));
        }
        let ctx = app.ctx("anonymous", Some(&visit.ip));
        Ok(
            match flows::second_factor(&ctx, &limits(app), &visit.tenant.id, &input) {
                Ok(done) => signed_in(app, &visit, &done.signed_in, None),
                // The challenge is gone: back to the password.
                Err(e @ FlowError::ChallengeInvalid) => {
                    refused(&visit, &e, |text| sign_in_html(&visit, "", Some(text)))
                }
                Err(e) => refused(&visit, &e, |text| totp_html(&visit, &challenge, Some(text))),
            },
        )
    })
    .await;
    done.unwrap_or_else(|e| Refusal::Internal(e.message()).into_page(Some(&tenant)))
}
