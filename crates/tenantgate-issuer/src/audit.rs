//! Structured audit log: one JSON object per line, written and flushed before the response goes
//! out, to stdout (serve) or stderr (CLI commands), or appended to `audit.path`.
//!
//! Every line has `type: "audit"`, `timestamp` (RFC 3339 UTC), `action`, `tenantId`, `actor`,
//! `roles` and `ip`; more fields depend on the action.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::time::rfc3339_now;

/// The audited actions (stable names for log queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignIn,
    SignInFailure,
    SignInThrottled,
    /// A correct password; the TOTP step comes next.
    SignInChallenge,
    /// A TOTP enrollment started, confirmed, or a recovery code used.
    TotpEnroll,
    TotpEnrolled,
    /// An administrator removed a user's TOTP enrollment.
    TotpReset,
    /// An SSO sign-in sent to the tenant's IdP.
    SsoStart,
    /// A user created at their first SSO sign-in (linked to the IdP subject).
    SsoUserCreate,
    Refresh,
    RefreshFailure,
    TokenTheft,
    SignOut,
    SessionRevocation,
    RoleGrant,
    RoleRevoke,
    RoleDefine,
    KeyRotation,
    KeyRemoval,
    TenantCreate,
    TenantDisable,
    TenantEnable,
    /// A tenant's hosts replaced (signed directory).
    TenantHostsSet,
    /// A tenant's tenant values replaced (signed directory).
    TenantValuesSet,
    /// A tenant's own IdP set or replaced (signed directory).
    TenantIdpSet,
    TenantIdpRemove,
    /// A tenant's login methods changed (password, TOTP policy, SSO).
    TenantLoginMethodsSet,
    UserAdd,
    Mint,
    /// An operator's break-glass token for another tenant.
    Elevate,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::SignIn => "sign_in",
            Action::SignInFailure => "sign_in_failure",
            Action::SignInThrottled => "sign_in_throttled",
            Action::SignInChallenge => "sign_in_challenge",
            Action::TotpEnroll => "totp_enroll",
            Action::TotpEnrolled => "totp_enrolled",
            Action::TotpReset => "totp_reset",
            Action::SsoStart => "sso_start",
            Action::SsoUserCreate => "sso_user_create",
            Action::Refresh => "refresh",
            Action::RefreshFailure => "refresh_failure",
            Action::TokenTheft => "token_theft",
            Action::SignOut => "sign_out",
            Action::SessionRevocation => "session_revocation",
            Action::RoleGrant => "role_grant",
            Action::RoleRevoke => "role_revoke",
            Action::RoleDefine => "role_define",
            Action::KeyRotation => "key_rotation",
            Action::KeyRemoval => "key_removal",
            Action::TenantCreate => "tenant_create",
            Action::TenantDisable => "tenant_disable",
            Action::TenantEnable => "tenant_enable",
            Action::TenantHostsSet => "tenant_hosts_set",
            Action::TenantValuesSet => "tenant_values_set",
            Action::TenantIdpSet => "tenant_idp_set",
            Action::TenantIdpRemove => "tenant_idp_remove",
            Action::TenantLoginMethodsSet => "tenant_login_methods_set",
            Action::UserAdd => "user_add",
            Action::Mint => "mint",
            Action::Elevate => "elevate",
        }
    }
}

/// One audit event, built fluently.
#[derive(Debug, Clone)]
pub struct Event {
    fields: Map<String, Value>,
}

impl Event {
    pub fn new(action: Action, tenant: Option<&str>, actor: &str, ip: Option<&str>) -> Event {
        let mut fields = Map::new();
        fields.insert("type".into(), "audit".into());
        fields.insert("timestamp".into(), rfc3339_now().into());
        fields.insert("action".into(), action.name().into());
        fields.insert("tenantId".into(), tenant.map_or(Value::Null, Into::into));
        fields.insert("actor".into(), actor.into());
        fields.insert("roles".into(), Value::Array(Vec::new()));
        fields.insert("ip".into(), ip.map_or(Value::Null, Into::into));
        Event { fields }
    }

    pub fn roles(mut self, roles: &[String]) -> Event {
        self.fields.insert("roles".into(), roles.into());
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Event {
        self.fields.insert(key.into(), value.into());
        self
    }

    pub fn to_json(&self) -> String {
        Value::Object(self.fields.clone()).to_string()
    }
}

/// Where audit lines go.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl AuditLog {
    /// Appends to `path` (created 0600) or writes to `fallback`.
    pub fn open(path: Option<&Path>, fallback: Box<dyn Write + Send>) -> std::io::Result<AuditLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let out: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(p)?,
            ),
            None => fallback,
        };
        Ok(AuditLog {
            out: Mutex::new(out),
        })
    }

    /// Writes one line. An audit line that cannot be written is reported on stderr rather than
    /// failing the user's request.
    pub fn record(&self, event: Event) {
        let line = event.to_json();
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            eprintln!(
                r#"{{"level":"error","msg":"audit write failed","error":{:?},"event":{line}}}"#,
                e.to_string()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_has_the_required_fields() {
        let e = Event::new(
            Action::TokenTheft,
            Some("acme"),
            "user:u1",
            Some("10.0.0.1"),
        )
        .roles(&["admin".to_string()])
        .with("sid", "s1");
        let v: Value = serde_json::from_str(&e.to_json()).expect("json");
        for key in ["timestamp", "action", "tenantId", "actor", "roles", "ip"] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["action"], "token_theft");
        assert_eq!(v["roles"][0], "admin");
        assert_eq!(v["sid"], "s1");
    }

    #[test]
    fn appends_lines_to_a_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(Some(&path), Box::new(std::io::sink())).expect("open");
        log.record(Event::new(Action::SignIn, Some("a"), "user:1", None));
        log.record(Event::new(Action::SignOut, Some("a"), "user:1", None));
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 2);
    }
}
