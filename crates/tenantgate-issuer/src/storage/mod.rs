//! Durable state behind one interface: SQLite (embedded, the default) or PostgreSQL (shared by
//! several issuer replicas).
//!
//! The domain code ([`super::directory`], [`super::sessions`], [`super::keys`]) is written once
//! against [`Tx`]: every operation runs in one transaction that commits or rolls back as a whole,
//! so a crash never leaves half a change. The SQL is the common subset of both databases (TEXT and
//! BIGINT columns only, `$n` placeholders); concurrency-sensitive steps use compare-and-set
//! updates (`... WHERE rotated_at IS NULL`, checked by the affected row count), which behave the
//! same under SQLite's single writer and PostgreSQL's READ COMMITTED.

mod migrations;
mod postgres;
mod sqlite;

use std::fmt;

use super::config::Database;

/// A bound parameter or a column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Int(i64),
    Text(String),
    Null,
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Val>);

impl Row {
    fn get(&self, i: usize) -> Result<&Val, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("result has no column {i}")))
    }
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.get(i)? {
            Val::Int(v) => Ok(*v),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected an integer, found {other:?}"
            ))),
        }
    }
    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.get(i)? {
            Val::Text(v) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected text, found {other:?}"
            ))),
        }
    }
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.get(i)? {
            Val::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.get(i)? {
            Val::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
}

/// What can go wrong below the domain logic, and domain refusals that must roll back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The database cannot be opened or reached.
    Unavailable(String),
    /// A statement failed.
    Query(String),
    /// A uniqueness rule was hit (e.g. the tenant already exists).
    Conflict(String),
    /// Something named in the request does not exist.
    NotFound(String),
    /// The request is inconsistent with the stored state.
    Invalid(String),
    /// Stored data has an unexpected shape.
    Corrupt(String),
    /// The schema cannot be brought to this version.
    Migration(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            StoreError::Query(m) => write!(f, "database error: {m}"),
            StoreError::Conflict(m) | StoreError::NotFound(m) | StoreError::Invalid(m) => {
                f.write_str(m)
            }
            StoreError::Corrupt(m) => write!(f, "unexpected stored data: {m}"),
            StoreError::Migration(m) => write!(f, "schema migration: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Statements inside one open transaction.
pub trait Tx {
    /// Runs a statement; returns the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError>;
    /// Runs a query; returns every row.
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError>;
    /// Runs several statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Makes concurrent migrations of several replicas wait for each other.
    fn lock_for_migration(&mut self) -> Result<(), StoreError>;
}

impl dyn Tx + '_ {
    pub fn query_opt(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// A database engine able to run a closure in a transaction.
pub(crate) trait Backend: Send + Sync {
    /// Runs `body` in a transaction: commit if it returns `Ok`, roll back otherwise.
    fn run(
        &self,
        body: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    fn kind(&self) -> &'static str;
    /// Whether the database answers (for `/healthz`).
    fn ping(&self) -> Result<(), StoreError>;
}

/// The issuer's database, migrated to the current schema.
pub struct Store {
    backend: Box<dyn Backend>,
}

impl Store {
    /// Opens (creating if needed) and migrates the configured database.
    pub fn open(db: &Database) -> Result<Store, StoreError> {
        let backend: Box<dyn Backend> = match db {
            Database::Sqlite { path } => Box::new(sqlite::Sqlite::open(path)?),
            Database::Postgres {
                url,
                schema,
                pool_size,
            } => Box::new(postgres::Postgres::open(
                url,
                schema.as_deref(),
                *pool_size,
            )?),
        };
        let store = Store { backend };
        store.tx(migrations::migrate)?;
        Ok(store)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn kind(&self) -> &'static str {
        self.backend.kind()
    }

    pub fn ping(&self) -> Result<(), StoreError> {
        self.backend.ping()
    }

    /// Runs `f` in one transaction and returns its result.
    pub fn tx<R>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut f = Some(f);
        let mut out = None;
        self.backend.run(&mut |tx| {
            let f = f
                .take()
                .ok_or_else(|| StoreError::Query("transaction body invoked twice".into()))?;
            out = Some(f(tx)?);
            Ok(())
        })?;
        out.ok_or_else(|| StoreError::Query("transaction produced no result".into()))
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.tx(|tx| {
            let row = tx.query_opt("SELECT MAX(version) FROM schema_migrations", &[])?;
            Ok(row
                .map(|r| r.opt_int(0))
                .transpose()?
                .flatten()
                .unwrap_or(0))
        })
    }
}

/// `$1`, `$2`, ... → `?1`, `?2`, ... for SQLite. The SQL in this crate has no `$` elsewhere.
pub(crate) fn dollar_to_question(sql: &str) -> String {
    sql.replace('$', "?")
}
