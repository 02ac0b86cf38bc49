//! SQLite backend: one connection in WAL mode with `synchronous=FULL`, so that a committed
//! transaction survives a crash or power loss; writers are serialized by `BEGIN IMMEDIATE`.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use super::{dollar_to_question, Backend, Row, StoreError, Tx, Val};

pub(super) struct Sqlite {
    conn: Mutex<Connection>,
}

impl Sqlite {
    pub(super) fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let unavailable =
            |e: rusqlite::Error| StoreError::Unavailable(format!("sqlite {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path).map_err(unavailable)?;
        restrict_permissions(path)?;
        // WAL: readers never block the writer; FULL: fsync at every commit (durability first).
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(unavailable)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "sqlite {}: cannot enable WAL (journal_mode is {mode}); use a local file system",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(unavailable)?;
        Ok(Sqlite {
            conn: Mutex::new(conn),
        })
    }
}

/// The database holds password hashes and session state: owner-only, like the key files.
fn restrict_permissions(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| StoreError::Unavailable(format!("cannot chmod 600 {}: {e}", path.display())))
}

fn query_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            StoreError::Conflict(format!("constraint violated: {e}"))
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::CannotOpen
                    | ErrorCode::DiskFull
                    | ErrorCode::SystemIoFailure
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Query(e.to_string()),
    }
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Int(v) => ToSqlOutput::from(*v),
            Val::Text(v) => ToSqlOutput::from(v.as_str()),
            Val::Null => ToSqlOutput::from(rusqlite::types::Null),
        })
    }
}

struct SqliteTx<'a>(&'a rusqlite::Transaction<'a>);

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(&dollar_to_question(sql))
            .map_err(query_error)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(query_error)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(&dollar_to_question(sql))
            .map_err(query_error)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(query_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(query_error)? {
            let mut vals = Vec::with_capacity(columns);
            for i in 0..columns {
                vals.push(match row.get_ref(i).map_err(query_error)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Text(t) => {
                        Val::Text(String::from_utf8(t.to_vec()).map_err(|_| {
                            StoreError::Corrupt(format!("column {i}: text is not UTF-8"))
                        })?)
                    }
                    other => {
                        return Err(StoreError::Corrupt(format!(
                            "column {i}: unexpected type {:?}",
                            other.data_type()
                        )))
                    }
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql).map_err(query_error)
    }

    fn lock_for_migration(&mut self) -> Result<(), StoreError> {
        Ok(()) // BEGIN IMMEDIATE already holds the write lock.
    }
}

impl Backend for Sqlite {
    fn run(
        &self,
        body: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // A panic elsewhere while holding the lock left no open transaction (its drop rolled
        // back), so the connection is still usable.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(query_error)?;
        body(&mut SqliteTx(&tx))?;
        tx.commit().map_err(query_error)
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn ping(&self) -> Result<(), StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row("SELECT 1", [], |_| Ok(()))
            .map_err(query_error)
    }
}
