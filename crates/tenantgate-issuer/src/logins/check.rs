//! The rules a tenant's login methods follow, applied to a change before it is stored. Each
//! refusal names the member to fix.

use super::{Methods, Sso, SsoInput, Totp, Update};
use crate::validate;

/// Longest client id and client secret accepted (IdPs use far less).
const CLIENT_ID_MAX: usize = 255;
const CLIENT_SECRET_MAX: usize = 1024;
/// Most roles in `totp_required_roles` or `sso.default_roles`.
const ROLES_MAX: usize = 64;

/// `before` with `update` applied. `seal` seals a new client secret for a client id.
pub fn apply(
    before: &Methods,
    update: Update,
    own_issuer: &str,
    seal: impl FnOnce(&str, &str) -> Result<String, String>,
) -> Result<Methods, String> {
    let mut after = before.clone();
    if let Some(p) = update.password {
        after.password = p;
    }
    if let Some(t) = update.totp {
        after.totp = t;
        if t != Totp::Optional && update.totp_required_roles.is_none() {
            after.totp_required_roles.clear();
        }
    }
    if let Some(roles) = update.totp_required_roles {
        after.totp_required_roles = roles_list("totp_required_roles", &roles)?;
    }
    if !after.totp_required_roles.is_empty() && after.totp != Totp::Optional {
        return Err(format!(
            "totp_required_roles: only meaningful with totp = \"optional\" (totp is {:?}); \
             \"required\" already asks every member",
            after.totp.name()
        ));
    }
    if let Some(sso) = update.sso {
        after.sso = match sso {
            None => None,
            Some(input) => Some(sso_of(before.sso.as_ref(), input, own_issuer, seal)?),
        };
    }
    if !after.password && after.sso.is_none() {
        return Err(
            "password: cannot be off while single sign-on is off too: nobody could sign in; \
             set \"sso\" first"
                .into(),
        );
    }
    Ok(after)
}

fn roles_list(field: &str, roles: &[String]) -> Result<Vec<String>, String> {
    if roles.len() > ROLES_MAX {
        return Err(format!("{field}: at most {ROLES_MAX} roles"));
    }
    let mut out = roles
        .iter()
        .map(|r| validate::role_name(field, r))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn sso_of(
    before: Option<&Sso>,
    input: SsoInput,
    own_issuer: &str,
    seal: impl FnOnce(&str, &str) -> Result<String, String>,
) -> Result<Sso, String> {
    let issuer = issuer_url(&input.issuer, own_issuer)?;
    let client_id = validate::subject("sso.client_id", &input.client_id)?;
    if client_id.chars().count() > CLIENT_ID_MAX {
        return Err(format!(
            "sso.client_id: must be at most {CLIENT_ID_MAX} characters"
        ));
    }
    let sealed_secret = match (input.client_secret, before) {
        (Some(secret), _) => {
            if secret.is_empty() || secret.chars().count() > CLIENT_SECRET_MAX {
                return Err(format!(
                    "sso.client_secret: must be 1 to {CLIENT_SECRET_MAX} characters"
                ));
            }
            validate::text("sso.client_secret", &secret, CLIENT_SECRET_MAX)?;
            seal(&client_id, &secret)?
        }
        (None, Some(b)) if b.issuer == issuer && b.client_id == client_id => {
            b.sealed_secret.clone()
        }
        (None, _) => {
            return Err(
                "sso.client_secret: required when single sign-on is first set or its issuer \
                 or client id changes"
                    .into(),
            )
        }
    };
    Ok(Sso {
        issuer,
        client_id,
        sealed_secret,
        default_roles: roles_list("sso.default_roles", &input.default_roles)?,
    })
}

/// An IdP issuer: `https://host[/path]`, or `http://` on a loopback host (development and
/// tests), without query, fragment, credentials or a trailing `/`; not this issuer itself.
pub fn issuer_url(value: &str, own_issuer: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("sso.issuer: {value:?} {why}"));
    let rest = if let Some(r) = value.strip_prefix("https://") {
        r
    } else if let Some(r) = value.strip_prefix("http://") {
        if !validate::loopback_authority(r.split('/').next().unwrap_or("")) {
            return bad("must use https:// (http:// only on a loopback host)");
        }
        r
    } else {
        return bad("must be an https:// URL");
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        return bad("must name a host (without credentials)");
    }
    if value.len() > 2048 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must be at most 2048 characters without spaces");
    }
    if rest.contains(['?', '#']) || value.ends_with('/') {
        return bad("must not have a query, a fragment or a trailing '/' (the exact `iss` of its ID tokens)");
    }
    if value.trim_end_matches('/') == own_issuer.trim_end_matches('/') {
        return bad("is this issuer itself");
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(client: &str, secret: &str) -> Result<String, String> {
        Ok(format!("sealed({client},{secret})"))
    }

    fn update(json: &str) -> Update {
        serde_json::from_str(json).expect("update")
    }

    const OWN: &str = "https://auth.example.com";

    #[test]
    fn sso_is_set_kept_and_removed() {
        let set = update(
            r#"{"sso": {"issuer": "https://acme.okta.com", "client_id": "c1",
                "client_secret": "s", "default_roles": ["viewer", "viewer"]}}"#,
        );
        let m = apply(&Methods::default(), set, OWN, seal).expect("valid");
        let sso = m.sso.clone().expect("sso");
        assert_eq!(sso.sealed_secret, "sealed(c1,s)");
        assert_eq!(sso.default_roles, ["viewer"]);
        // Same issuer and client: the secret may be left out and is kept.
        let again = update(r#"{"sso": {"issuer": "https://acme.okta.com", "client_id": "c1"}}"#);
        let kept = apply(&m, again, OWN, |_, _| Err("not called".into())).expect("valid");
        assert_eq!(kept.sso.expect("sso").sealed_secret, "sealed(c1,s)");
        // Another client: a secret is required.
        let other = update(r#"{"sso": {"issuer": "https://acme.okta.com", "client_id": "c2"}}"#);
        let e = apply(&m, other, OWN, seal).expect_err("needs a secret");
        assert!(e.starts_with("sso.client_secret:"), "{e}");
        let off = apply(&m, update(r#"{"sso": null}"#), OWN, seal).expect("valid");
        assert_eq!(off.sso, None);
    }

    #[test]
    fn refusals_name_the_member() {
        let cases = [
            (r#"{"password": false}"#, "password:"),
            (
                r#"{"totp": "required", "totp_required_roles": ["admin"]}"#,
                "totp_required_roles:",
            ),
            (
                r#"{"totp_required_roles": ["admin"]}"#,
                "totp_required_roles:",
            ),
            (
                r#"{"totp": "optional", "totp_required_roles": ["bad role"]}"#,
                "totp_required_roles:",
            ),
            (
                r#"{"sso": {"issuer": "http://idp.example.com", "client_id": "c", "client_secret": "s"}}"#,
                "sso.issuer:",
            ),
            (
                r#"{"sso": {"issuer": "https://idp.example.com/", "client_id": "c", "client_secret": "s"}}"#,
                "sso.issuer:",
            ),
            (
                r#"{"sso": {"issuer": "https://auth.example.com", "client_id": "c", "client_secret": "s"}}"#,
                "sso.issuer:",
            ),
            (
                r#"{"sso": {"issuer": "https://idp.example.com", "client_id": "", "client_secret": "s"}}"#,
                "sso.client_id:",
            ),
            (
                r#"{"sso": {"issuer": "https://idp.example.com", "client_id": "c", "client_secret": ""}}"#,
                "sso.client_secret:",
            ),
        ];
        for (json, field) in cases {
            let e = apply(&Methods::default(), update(json), OWN, seal).expect_err(json);
            assert!(e.starts_with(field), "{json}: {e}");
        }
    }

    #[test]
    fn totp_policy_and_roles() {
        let m = apply(
            &Methods::default(),
            update(r#"{"totp": "optional", "totp_required_roles": ["admin", "ops"]}"#),
            OWN,
            seal,
        )
        .expect("valid");
        assert_eq!(m.totp, Totp::Optional);
        assert_eq!(m.totp_required_roles, ["admin", "ops"]);
        // Moving to required clears the role list rather than refusing.
        let r = apply(&m, update(r#"{"totp": "required"}"#), OWN, seal).expect("valid");
        assert!(r.totp_required_roles.is_empty());
    }

    #[test]
    fn loopback_http_issuers_are_for_development() {
        for ok in [
            "http://127.0.0.1:4000",
            "http://localhost:4000/oidc",
            "https://a.b/c",
        ] {
            assert_eq!(issuer_url(ok, OWN).as_deref(), Ok(ok));
        }
        for bad in [
            "ftp://x",
            "https://",
            "https://u:p@x",
            "https://x?y=1",
            "http://10.0.0.1",
        ] {
            assert!(issuer_url(bad, OWN).is_err(), "{bad}");
        }
    }
}
