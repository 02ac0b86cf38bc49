//! Schema migrations, applied in order inside one transaction at startup. Each replica may start
//! at the same time: on PostgreSQL an advisory lock serializes them, on SQLite the write lock does.

use super::{StoreError, Tx, Val};
use crate::time::now;

/// (version, description, SQL valid on both SQLite and PostgreSQL). Never edit a released entry;
/// append a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "tenants, users, roles, sessions, refresh tokens, signing keys",
        r#"
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    access_ttl BIGINT NOT NULL,
    refresh_idle BIGINT NOT NULL,
    session_absolute BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE memberships (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE TABLE roles (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE role_grants (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL REFERENCES roles(name),
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, role),
    FOREIGN KEY (tenant_id, user_id) REFERENCES memberships(tenant_id, user_id)
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_refresh_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoke_reason TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    rotated_at BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    generation BIGINT NOT NULL UNIQUE,
    n TEXT NOT NULL,
    e TEXT NOT NULL,
    sealed_private_key TEXT,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL
);
"#,
    ),
    (
        2,
        "sign-in throttle buckets shared by every replica; the salt of a rotated refresh token's child; the longest lifetime each key signed",
        r#"
CREATE TABLE sign_in_throttle (
    bucket TEXT PRIMARY KEY,
    tat_ms BIGINT NOT NULL,
    tripped BIGINT NOT NULL DEFAULT 0
);
ALTER TABLE refresh_tokens ADD COLUMN child_salt TEXT;
ALTER TABLE signing_keys ADD COLUMN longest_ttl BIGINT NOT NULL DEFAULT 0;
"#,
    ),
    (
        3,
        "the signed directory's tenant entries: hosts, tenant values, tenant IdPs",
        r#"
CREATE TABLE tenant_hosts (
    host TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id)
);
CREATE INDEX tenant_hosts_tenant ON tenant_hosts(tenant_id);
CREATE TABLE tenant_values (
    provider TEXT NOT NULL,
    value TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    PRIMARY KEY (provider, value)
);
CREATE INDEX tenant_values_tenant ON tenant_values(tenant_id);
CREATE TABLE tenant_idps (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    issuer TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
"#,
    ),
    (
        4,
        "where a signing key is held when its private half never leaves a KMS or PKCS#11 token",
        r#"
ALTER TABLE signing_keys ADD COLUMN custody TEXT;
"#,
    ),
    (
        5,
        "per-tenant login methods; TOTP secrets, recovery codes and sign-in challenges; SSO states and links",
        r#"
CREATE TABLE tenant_login_methods (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    password BIGINT NOT NULL,
    totp TEXT NOT NULL,
    totp_required_roles TEXT NOT NULL,
    sso_issuer TEXT,
    sso_client_id TEXT,
    sso_client_secret TEXT,
    sso_default_roles TEXT,
    updated_at BIGINT NOT NULL,
    UNIQUE (sso_issuer, sso_client_id)
);
CREATE TABLE user_totp (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    secret TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT -1,
    created_at BIGINT NOT NULL
);
CREATE TABLE totp_recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
CREATE TABLE sign_in_challenges (
    id_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    delivery TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    used_at BIGINT
);
CREATE INDEX sign_in_challenges_expiry ON sign_in_challenges(expires_at);
ALTER TABLE sessions ADD COLUMN amr TEXT;
CREATE TABLE sso_states (
    state_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    redirect TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE TABLE sso_links (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    idp_issuer TEXT NOT NULL,
    idp_subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, idp_issuer, idp_subject)
);
"#,
    ),
];

/// The newest schema version this build knows.
pub const LATEST: i64 = 5;

pub(super) fn migrate(tx: &mut dyn Tx) -> Result<(), StoreError> {
    tx.lock_for_migration()?;
    tx.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )?;
    let applied: Vec<i64> = tx
        .query("SELECT version FROM schema_migrations", &[])?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_, _>>()?;
    let current = applied.iter().copied().max().unwrap_or(0);
    if current > LATEST {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {current}, newer than this issuer supports ({LATEST}); run a newer tenantgate-issuer"
        )));
    }
    // Every version not yet applied, in order: versions written on parallel branches may land
    // out of order, and a database may then have a later one before an earlier one.
    for (version, description, sql) in MIGRATIONS {
        if !applied.contains(version) {
            tx.batch(sql).map_err(|e| {
                StoreError::Migration(format!("version {version} ({description}): {e}"))
            })?;
            tx.exec(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
                &[Val::Int(*version), Val::from(*description), Val::Int(now())],
            )?;
        }
    }
    Ok(())
}
