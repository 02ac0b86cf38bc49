//! PostgreSQL backend for several issuer replicas: a small pool of synchronous connections
//! (the async server calls the store from `spawn_blocking`), READ COMMITTED transactions, an
//! optional dedicated schema. A broken connection is replaced on its next use.

use std::error::Error;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use super::{Backend, Row, StoreError, Tx, Val};

/// Key of the advisory lock that serializes schema migrations across replicas ("tgis").
const MIGRATION_LOCK: i64 = 0x7467_6973;

pub(super) struct Postgres {
    config: postgres::Config,
    schema: Option<String>,
    pool: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
}

impl Postgres {
    pub(super) fn open(
        url: &str,
        schema: Option<&str>,
        pool_size: usize,
    ) -> Result<Postgres, StoreError> {
        let mut config = postgres::Config::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid postgres URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if let Some(s) = schema {
            // Validated by the config loader: a plain lower-case identifier.
            config.options(&format!("-c search_path={s}"));
        }
        let pg = Postgres {
            config,
            schema: schema.map(str::to_string),
            pool: (0..pool_size.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        };
        pg.ping()?; // fail at startup, not on the first request
        Ok(pg)
    }

    fn connect(&self) -> Result<Client, StoreError> {
        self.config
            .connect(NoTls)
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to postgres: {e}")))
    }

    /// Runs `f` on a pooled connection, preferring an idle one.
    fn with_client<R>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.pool.len();
        let mut guard = (0..n)
            .find_map(|i| self.pool[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.pool[start % n]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
            });
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connect()?);
        }
        match guard.as_mut() {
            Some(client) => f(client),
            None => Err(StoreError::Unavailable("no postgres connection".into())),
        }
    }
}

fn query_error(e: postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::FOREIGN_KEY_VIOLATION => {
            StoreError::Conflict(format!("constraint violated: {e}"))
        }
        _ if e.is_closed() => StoreError::Unavailable(format!("postgres connection lost: {e}")),
        _ => StoreError::Query(format!("{e}")),
    }
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                _ => Err(format!("integer bound to a {ty} parameter").into()),
            },
            Val::Text(v) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    v.as_str().to_sql(ty, out)
                }
                _ => Err(format!("text bound to a {ty} parameter").into()),
            },
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8
                | Type::INT4
                | Type::INT2
                | Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::NAME
                | Type::UNKNOWN
        )
    }

    to_sql_checked!();
}

fn params(vals: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    vals.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

struct PgTx<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
    schema: Option<&'a str>,
}

impl Tx for PgTx<'_, '_> {
    fn exec(&mut self, sql: &str, p: &[Val]) -> Result<u64, StoreError> {
        self.tx.execute(sql, &params(p)).map_err(query_error)
    }

    fn query(&mut self, sql: &str, p: &[Val]) -> Result<Vec<Row>, StoreError> {
        let rows = self.tx.query(sql, &params(p)).map_err(query_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut vals = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let val = match *column.type_() {
                    Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Val::Int)),
                    Type::INT4 => row
                        .try_get::<_, Option<i32>>(i)
                        .map(|v| v.map(|v| Val::Int(v.into()))),
                    Type::INT2 => row
                        .try_get::<_, Option<i16>>(i)
                        .map(|v| v.map(|v| Val::Int(v.into()))),
                    Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
                        .try_get::<_, Option<String>>(i)
                        .map(|v| v.map(Val::Text)),
                    ref other => {
                        return Err(StoreError::Corrupt(format!(
                            "column {}: unexpected type {other}",
                            column.name()
                        )))
                    }
                }
                .map_err(query_error)?;
                vals.push(val.unwrap_or(Val::Null));
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.tx.batch_execute(sql).map_err(query_error)
    }

    fn lock_for_migration(&mut self) -> Result<(), StoreError> {
        self.tx
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(query_error)?;
        if let Some(schema) = self.schema {
            self.tx
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .map_err(query_error)?;
        }
        Ok(())
    }
}

impl Backend for Postgres {
    fn run(
        &self,
        body: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.with_client(|client| {
            let mut tx = client.transaction().map_err(query_error)?;
            body(&mut PgTx {
                tx: &mut tx,
                schema: self.schema.as_deref(),
            })?;
            tx.commit().map_err(query_error)
        })
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.with_client(|c| c.simple_query("SELECT 1").map(|_| ()).map_err(query_error))
    }
}
