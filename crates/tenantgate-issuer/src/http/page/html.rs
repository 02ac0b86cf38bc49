//! The pages of the hosted sign-in, as HTML strings. Every value that comes from outside (the
//! tenant's display name, an email typed back, a message) goes through [`escape`]; the markup
//! itself holds no script and no inline style, so the Content-Security-Policy can forbid both.

use std::fmt::Write;

/// HTML-escapes `text` for element content and double-quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The frame of every page: `title` and `heading` are plain text, `body` is markup built here.
pub(super) fn layout(title: &str, heading: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<link rel=\"stylesheet\" href=\"{STYLE_PATH}\">\n</head>\n\
         <body>\n<main class=\"card\">\n<h1>{}</h1>\n{body}</main>\n</body>\n</html>\n",
        escape(title),
        escape(heading)
    )
}

/// Where the page's stylesheet is served (same origin: `style-src 'self'`).
pub(super) const STYLE_PATH: &str = "/assets/sign-in.css";

/// The stylesheet of every page.
pub(super) const STYLE: &str = include_str!("sign-in.css");

/// A message box: `kind` is `error` or `info`.
fn notice(kind: &str, message: &str) -> String {
    let role = if kind == "error" { "alert" } else { "status" };
    format!(
        "<p class=\"notice {kind}\" role=\"{role}\">{}</p>\n",
        escape(message)
    )
}

/// What the first page offers.
pub(super) struct SignInView<'a> {
    pub tenant_id: &'a str,
    pub tenant_name: &'a str,
    pub csrf: &'a str,
    pub password: bool,
    /// The SSO start URL (already built from checked parts), when the tenant has SSO.
    pub sso_url: Option<String>,
    /// The email to fill in again after a failed attempt.
    pub email: &'a str,
    pub error: Option<&'a str>,
}

pub(super) fn sign_in_page(v: &SignInView<'_>) -> String {
    let mut body = String::new();
    body.push_str("<p class=\"lead\">Sign in to continue.</p>\n");
    if let Some(e) = v.error {
        body.push_str(&notice("error", e));
    }
    if v.password {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/t/{}/sign-in\">\n\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
             <label for=\"email\">Email</label>\n\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\">\n\
             <label for=\"password\">Password</label>\n\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\n\
             <button type=\"submit\">Sign in</button>\n</form>\n",
            escape(v.tenant_id),
            escape(v.csrf),
            escape(v.email)
        );
    }
    if let Some(url) = &v.sso_url {
        if v.password {
            body.push_str("<p class=\"or\">or</p>\n");
        }
        let _ = writeln!(
            body,
            "<a class=\"button secondary\" href=\"{}\">Sign in with single sign-on</a>",
            escape(url)
        );
    }
    if !v.password && v.sso_url.is_none() {
        body.push_str(&notice(
            "error",
            "This organization has no way to sign in here yet; ask its administrator.",
        ));
    }
    layout(
        &format!("Sign in · {}", v.tenant_name),
        v.tenant_name,
        &body,
    )
}

/// The second step: a code from the authenticator app (or a recovery code).
pub(super) struct TotpView<'a> {
    pub tenant_id: &'a str,
    pub tenant_name: &'a str,
    pub csrf: &'a str,
    pub challenge: &'a str,
    pub error: Option<&'a str>,
}

pub(super) fn totp_page(v: &TotpView<'_>) -> String {
    let mut body = String::new();
    body.push_str(
        "<p class=\"lead\">Enter the 6-digit code your authenticator app shows, \
         or one of your recovery codes.</p>\n",
    );
    if let Some(e) = v.error {
        body.push_str(&notice("error", e));
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/t/{}/sign-in/totp\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
         <input type=\"hidden\" name=\"challenge\" value=\"{}\">\n\
         <label for=\"code\">Verification code</label>\n\
         <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" \
         autocomplete=\"one-time-code\" maxlength=\"64\" required autofocus>\n\
         <button type=\"submit\">Verify</button>\n</form>\n\
         <p class=\"small\"><a href=\"/t/{}/sign-in\">Start over</a></p>\n",
        escape(v.tenant_id),
        escape(v.csrf),
        escape(v.challenge),
        escape(v.tenant_id)
    );
    layout(
        &format!("Verification code · {}", v.tenant_name),
        v.tenant_name,
        &body,
    )
}

/// The end of the sign-in: the session cookie is set.
pub(super) fn signed_in_page(tenant_name: &str, email: Option<&str>) -> String {
    let who = match email {
        Some(e) => format!("You are signed in to {tenant_name} as {e}."),
        None => format!("You are signed in to {tenant_name}."),
    };
    let body = format!(
        "{}<p class=\"small\">You can close this page and return to the application.</p>\n",
        notice("info", &who)
    );
    layout(&format!("Signed in · {tenant_name}"), "Signed in", &body)
}

/// A page with only a message (unknown tenant, expired form, an outage).
pub(super) fn message_page(heading: &str, message: &str, again: Option<&str>) -> String {
    let mut body = notice("error", message);
    if let Some(tenant) = again {
        let _ = writeln!(
            body,
            "<p class=\"small\"><a href=\"/t/{}/sign-in\">Back to sign-in</a></p>",
            escape(tenant)
        );
    }
    layout(heading, heading, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn tenant_name_is_escaped_everywhere() {
        let name = "<script>alert(1)</script>";
        let page = sign_in_page(&SignInView {
            tenant_id: "acme",
            tenant_name: name,
            csrf: "tok",
            password: true,
            sso_url: Some("/v1/tenants/acme/sso/start?redirect_uri=x&y".into()),
            email: "\"><b>",
            error: Some("<i>"),
        });
        assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("redirect_uri=x&amp;y"));
        let done = signed_in_page(name, Some("a@b.c"));
        assert!(!done.contains("<script>"));
    }

    #[test]
    fn sign_in_page_shows_only_enabled_methods() {
        let mut v = SignInView {
            tenant_id: "acme",
            tenant_name: "Acme",
            csrf: "tok",
            password: false,
            sso_url: Some("/sso".into()),
            email: "",
            error: None,
        };
        let page = sign_in_page(&v);
        assert!(!page.contains("type=\"password\"") && page.contains("single sign-on"));
        v.password = true;
        v.sso_url = None;
        let page = sign_in_page(&v);
        assert!(page.contains("type=\"password\"") && !page.contains("single sign-on"));
    }
}
