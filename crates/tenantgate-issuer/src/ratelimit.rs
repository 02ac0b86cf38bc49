//! Sign-in throttling keyed by what an attacker guesses: the account (the normalized email,
//! across all the tenants it belongs to), the client address, and all attempts together.
//!
//! Each budget is a token bucket (burst = the per-minute value, refilled evenly over a minute)
//! kept in the database as a GCRA "theoretical arrival time", so that replicas sharing one
//! PostgreSQL draw from the same budget instead of each granting its own. Taking an attempt is a
//! compare-and-set `UPDATE` whose `WHERE` holds the admission rule: PostgreSQL re-checks it on
//! the newest row version after waiting for a concurrent writer, SQLite has a single writer, so
//! two replicas can never both spend the last attempt.

use crate::storage::{StoreError, Tx, Val};

/// Which budget refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Account,
    Address,
    Overall,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
            Scope::Overall => "overall",
        }
    }
}

/// A refused attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub scope: Scope,
    /// Seconds until the next attempt of this budget is allowed (at least 1).
    pub retry_after: u64,
    /// Whether this refusal is the first since the budget last admitted an attempt (the moment
    /// the limit trips, worth one audit line).
    pub tripped: bool,
}

/// The three per-minute budgets of sign-in.
#[derive(Debug, Clone, Copy)]
pub struct SignInThrottle {
    pub per_account: u32,
    pub per_address: u32,
    pub overall: u32,
}

impl SignInThrottle {
    /// Takes one attempt from each budget in a fixed order (address, account, overall; the same
    /// order in every transaction, so concurrent ones cannot deadlock). Stops at the first
    /// budget that refuses; the attempts taken before it stay spent. Runs inside the caller's
    /// transaction, which must commit to make the count stick.
    pub fn take(
        &self,
        tx: &mut dyn Tx,
        email: &str,
        ip: Option<&str>,
        now_ms: i64,
    ) -> Result<Result<(), Throttled>, StoreError> {
        self.take_from(tx, Some(email), ip, now_ms)
    }

    /// An attempt that names no account yet (a single sign-on starting): one attempt from the
    /// address's and the overall budgets, the same ones password sign-ins draw from.
    pub fn take_anonymous(
        &self,
        tx: &mut dyn Tx,
        ip: Option<&str>,
        now_ms: i64,
    ) -> Result<Result<(), Throttled>, StoreError> {
        self.take_from(tx, None, ip, now_ms)
    }

    fn take_from(
        &self,
        tx: &mut dyn Tx,
        email: Option<&str>,
        ip: Option<&str>,
        now_ms: i64,
    ) -> Result<Result<(), Throttled>, StoreError> {
        let by_ip = ip.map(|ip| (Scope::Address, format!("ip:{ip}"), self.per_address));
        let by_account =
            email.map(|email| (Scope::Account, format!("account:{email}"), self.per_account));
        let overall = (Scope::Overall, "overall".to_string(), self.overall);
        let budgets = by_ip.into_iter().chain(by_account).chain([overall]);
        for (scope, key, per_minute) in budgets {
            if let Err((retry_after, tripped)) = take_one(tx, &key, per_minute, now_ms)? {
                return Ok(Err(Throttled {
                    scope,
                    retry_after,
                    tripped,
                }));
            }
        }
        Ok(Ok(()))
    }
}

/// Milliseconds between two refills of a bucket of `per_minute`.
fn interval_ms(per_minute: u32) -> i64 {
    (60_000 / i64::from(per_minute.max(1))).max(1)
}

/// One attempt from the bucket `key`: `Err((seconds to wait, first refusal))` when empty.
fn take_one(
    tx: &mut dyn Tx,
    key: &str,
    per_minute: u32,
    now_ms: i64,
) -> Result<Result<(), (u64, bool)>, StoreError> {
    let t = interval_ms(per_minute);
    // How far ahead of now the arrival time may run: a full burst of `per_minute` attempts.
    let tau = t * i64::from(per_minute.max(1));
    tx.exec(
        "INSERT INTO sign_in_throttle (bucket, tat_ms, tripped) VALUES ($1, 0, 0) \
         ON CONFLICT (bucket) DO NOTHING",
        &[key.into()],
    )?;
    let admitted = tx.exec(
        "UPDATE sign_in_throttle \
         SET tat_ms = (CASE WHEN tat_ms > $2 THEN tat_ms ELSE $2 END) + $3, tripped = 0 \
         WHERE bucket = $1 AND (CASE WHEN tat_ms > $2 THEN tat_ms ELSE $2 END) + $3 - $2 <= $4",
        &[key.into(), Val::Int(now_ms), Val::Int(t), Val::Int(tau)],
    )?;
    if admitted == 1 {
        return Ok(Ok(()));
    }
    let tripped = tx.exec(
        "UPDATE sign_in_throttle SET tripped = 1 WHERE bucket = $1 AND tripped = 0",
        &[key.into()],
    )? == 1;
    let tat = tx
        .query_opt(
            "SELECT tat_ms FROM sign_in_throttle WHERE bucket = $1",
            &[key.into()],
        )?
        .map(|r| r.int(0))
        .transpose()?
        .unwrap_or(now_ms);
    let wait_ms = (tat + t - tau - now_ms).max(1);
    let wait = u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1);
    Ok(Err((wait, tripped)))
}

/// Forgets buckets that have refilled completely (they hold nothing a fresh bucket would not).
pub fn purge(tx: &mut dyn Tx, now_ms: i64) -> Result<u64, StoreError> {
    tx.exec(
        "DELETE FROM sign_in_throttle WHERE tat_ms < $1",
        &[Val::Int(now_ms)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Database;
    use crate::storage::Store;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::Sqlite {
            path: dir.path().join("t.db"),
        };
        let store = Store::open(&db).expect("open");
        (dir, store)
    }

    fn check(store: &Store, key: &str, per_minute: u32, at_ms: i64) -> Result<(), u64> {
        store
            .tx(|tx| take_one(tx, key, per_minute, at_ms))
            .expect("tx")
            .map_err(|(wait, _)| wait)
    }

    #[test]
    fn burst_then_refill() {
        let (_dir, s) = store();
        let t0 = 1_000_000;
        for _ in 0..3 {
            assert!(check(&s, "a", 3, t0).is_ok());
        }
        let wait = check(&s, "a", 3, t0).expect_err("limited");
        assert_eq!(wait, 20);
        assert!(check(&s, "b", 3, t0).is_ok(), "keys are independent");
        assert!(check(&s, "a", 3, t0 + 20_000).is_ok());
        assert!(check(&s, "a", 3, t0 + 21_000).is_err());
    }

    #[test]
    fn trips_once_until_admitted_again() {
        let (_dir, s) = store();
        let take = |at| s.tx(|tx| take_one(tx, "k", 1, at)).expect("tx");
        assert_eq!(take(0), Ok(()));
        assert_eq!(take(1), Err((60, true)), "first refusal trips");
        assert_eq!(take(2), Err((60, false)), "later refusals do not");
        assert_eq!(take(60_000), Ok(()));
        assert_eq!(
            take(60_001),
            Err((60, true)),
            "trips again after an admission"
        );
    }

    #[test]
    fn account_budget_is_shared_whatever_the_address() {
        let (_dir, s) = store();
        let limits = SignInThrottle {
            per_account: 2,
            per_address: 100,
            overall: 100,
        };
        let take = |ip: &str| {
            s.tx(|tx| limits.take(tx, "a@x.io", Some(ip), 0))
                .expect("tx")
        };
        assert!(take("10.0.0.1").is_ok());
        assert!(take("10.0.0.2").is_ok());
        let refused = take("10.0.0.3").expect_err("account budget spent");
        assert_eq!(refused.scope, Scope::Account);
        let other = s
            .tx(|tx| limits.take(tx, "b@x.io", Some("10.0.0.3"), 0))
            .expect("tx");
        assert!(other.is_ok(), "another account is not affected");
    }

    #[test]
    fn purge_forgets_refilled_buckets_only() {
        let (_dir, s) = store();
        assert!(check(&s, "a", 1, 0).is_ok());
        assert_eq!(s.tx(|tx| purge(tx, 30_000)).expect("purge"), 0);
        assert_eq!(s.tx(|tx| purge(tx, 60_001)).expect("purge"), 1);
    }
}
