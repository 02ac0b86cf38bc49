//! The HTTP API: tenant-scoped session endpoints, the hosted sign-in page (HTML,
//! `/t/{tenant}/sign-in`), the admin API, the well-known documents, the signed tenant directory,
//! `/healthz` and `/metrics`. Handlers are thin: the shared extractors parse and bound the input
//! (every malformed request gets a 400 with a JSON error), the work runs on the blocking pool (the
//! session flows of [`crate::flows`], the operations of [`crate::ops`] and [`crate::entries`]), and
//! outcomes map to stable error codes ([`error::ApiError`]).

mod admin;
mod elevate;
mod entries;
pub mod error;
mod extract;
mod logins;
mod meta;
mod mfa;
mod page;
mod reply;
mod server;
mod session;
mod sso;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post, put};
use axum::Router;

pub use self::entries::DirectoryBuilds;
use self::error::ApiError;
use super::audit::AuditLog;
use super::config::{read_secret_file, Config};
use super::keys::KeyRing;
use super::metrics::Metrics;
use super::ops::{self, Ctx};
use super::password::HashGate;
use super::ratelimit::SignInThrottle;
use super::storage::Store;
use super::time::now;

/// Everything a request handler needs.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub keys: KeyRing,
    pub audit: AuditLog,
    pub metrics: Metrics,
    pub throttle: SignInThrottle,
    pub hashing: HashGate,
    pub admin_token: Option<String>,
    /// Coalesces the builds of the signed tenant directory.
    pub directory_builds: DirectoryBuilds,
    /// Calls tenants' IdPs for single sign-on (caches their metadata and keys).
    pub idp: super::sso::idp::IdpClient,
}

impl App {
    pub fn new(
        config: Config,
        store: Store,
        keys: KeyRing,
        audit: AuditLog,
    ) -> Result<App, String> {
        let admin_token = match &config.admin_token_file {
            Some(path) => {
                let token = read_secret_file(path)?;
                if token.len() < 32 {
                    return Err(format!(
                        "{}: the admin token must be at least 32 characters",
                        path.display()
                    ));
                }
                Some(token)
            }
            None => None,
        };
        Ok(App {
            hashing: HashGate::with_memory(config.password_hash_memory_kib),
            throttle: SignInThrottle {
                per_account: config.sign_in_per_user_per_minute,
                per_address: config.sign_in_per_ip_per_minute,
                overall: config.sign_in_overall_per_minute,
            },
            config,
            store,
            keys,
            audit,
            metrics: Metrics::new(),
            admin_token,
            directory_builds: DirectoryBuilds::default(),
            idp: super::sso::idp::IdpClient::new(),
        })
    }

    pub(crate) fn ctx<'a>(&'a self, actor: &'a str, ip: Option<&'a str>) -> Ctx<'a> {
        Ctx {
            config: &self.config,
            store: &self.store,
            keys: &self.keys,
            audit: &self.audit,
            metrics: Some(&self.metrics),
            actor,
            ip,
        }
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/tenants/{tenant}/sign-in", post(session::sign_in))
        .route(
            "/v1/tenants/{tenant}/sign-in/totp",
            post(mfa::second_factor),
        )
        .route("/v1/tenants/{tenant}/totp/enroll", post(mfa::enroll))
        .route("/v1/tenants/{tenant}/totp/confirm", post(mfa::confirm))
        .route("/v1/tenants/{tenant}/sso/start", get(sso::start))
        .route("/v1/tenants/{tenant}/sso/callback", get(sso::callback))
        .route("/v1/tenants/{tenant}/refresh", post(session::refresh))
        .route("/v1/tenants/{tenant}/sign-out", post(session::sign_out))
        .route("/t/{tenant}/sign-in", get(page::show).post(page::password))
        .route("/t/{tenant}/sign-in/totp", post(page::totp))
        .route("/t/{tenant}/sign-in/done", get(page::done))
        .route("/assets/sign-in.css", get(page::style))
        .route("/.well-known/jwks.json", get(meta::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(meta::openid_configuration),
        )
        .route("/v1/directory", get(entries::directory))
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(meta::metrics))
        .route(
            "/admin/tenants",
            get(admin::list_tenants).post(admin::create_tenant),
        )
        .route(
            "/admin/tenants/{tenant}/disable",
            post(admin::disable_tenant),
        )
        .route("/admin/tenants/{tenant}/enable", post(admin::enable_tenant))
        .route("/admin/tenants/{tenant}", get(entries::get_tenant))
        .route("/admin/tenants/{tenant}/hosts", put(entries::put_hosts))
        .route(
            "/admin/tenants/{tenant}/tenant-values",
            put(entries::put_tenant_values),
        )
        .route(
            "/admin/tenants/{tenant}/idp",
            put(entries::put_idp).delete(entries::delete_idp),
        )
        .route(
            "/admin/tenants/{tenant}/login-methods",
            get(logins::get_methods).patch(logins::patch_methods),
        )
        .route(
            "/admin/tenants/{tenant}/users",
            get(admin::list_members).post(admin::add_user),
        )
        .route(
            "/admin/tenants/{tenant}/users/{email}/roles/{role}",
            put(admin::grant_role).delete(admin::revoke_role),
        )
        .route("/admin/roles", get(admin::list_roles))
        .route("/admin/roles/{role}", put(admin::define_role))
        .route(
            "/admin/users/{email}/revoke-sessions",
            post(admin::revoke_sessions),
        )
        .route("/admin/users/{email}/totp/reset", post(logins::reset_totp))
        .route("/admin/sessions/{sid}", get(admin::get_session))
        .route("/admin/keys", get(admin::list_keys))
        .route("/admin/keys/rotate", post(admin::rotate_keys))
        .route("/admin/elevate", post(elevate::elevate))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app)
}

/// Runs `f` on the blocking pool (storage, Argon2, RSA); a panic there becomes a 500, not a
/// dropped connection.
pub(crate) async fn blocking<R: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|_| ApiError::Internal("request handler failed".into()))?
}

/// Starts the server and the key maintenance timer; returns when a shutdown signal arrives.
pub async fn serve(app: Arc<App>) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(app.config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", app.config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let maintenance = tokio::spawn(maintain_keys(app.clone()));
    eprintln!(
        "{}",
        serde_json::json!({"level": "info", "msg": "listening", "addr": addr.to_string(),
            "database": app.store.kind(), "issuer": app.config.issuer})
    );
    let limits = app.config.connections;
    server::run(listener, router(app), limits, shutdown_signal()).await;
    maintenance.abort();
    eprintln!("{}", serde_json::json!({"level": "info", "msg": "stopped"}));
    Ok(())
}

/// Key maintenance interval: frequent enough that a replica publishes a key created by another
/// well within the publish lead (the JWKS is read from the database on every request anyway).
fn maintenance_period(app: &App) -> Duration {
    let t = app.keys.timing();
    let secs = ((t.publish_lead - t.jwks_max_age) / 3).clamp(1, 60);
    Duration::from_secs(u64::try_from(secs).unwrap_or(60))
}

async fn maintain_keys(app: Arc<App>) {
    let mut tick = tokio::time::interval(maintenance_period(&app));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let result = blocking(&app, |app| {
            let t = now();
            let report = app
                .keys
                .maintain(&app.store, t)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            ops::record_maintenance(&app.audit, Some(&app.metrics), &report, "scheduler");
            app.store
                .tx(|tx| {
                    super::sessions::purge(tx, t)?;
                    super::mfa::purge(tx, t)?;
                    super::sso::state::purge(tx, t)?;
                    super::ratelimit::purge(tx, super::time::now_ms())
                })
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(())
        })
        .await;
        if let Err(e) = result {
            eprintln!(
                "{}",
                serde_json::json!({"level": "error", "msg": "key maintenance failed", "error": e.message()})
            );
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
