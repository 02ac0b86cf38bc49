//! The rotation schedule: each key's state derived from the clock, the maintenance pass that
//! creates and deletes keys on time, and manual rotation. Replicas race safely: the database
//! decides which new key stands.

use super::{load_rows, thumbprint, KeyError, KeyInfo, KeyRing, KeyRow, KeyState};
use crate::config::{KeyTiming, CLOCK_LEEWAY};
use crate::storage::{Store, StoreError, Tx, Val};
use crate::time::now_ms;

/// How much earlier than `publish_lead` a scheduled key is created: activation times are whole
/// seconds while publication happens at some millisecond after key generation, so the lead is
/// only kept if the key is stored a little ahead of the boundary it should activate on.
const SCHEDULE_MARGIN: i64 = 2;

/// Derives each key's state at `now`. `rows` must be sorted by generation.
pub fn classify(rows: &[KeyRow], now: i64, timing: &KeyTiming) -> Vec<KeyInfo> {
    let current = rows.iter().rposition(|r| r.activates_at <= now);
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let (state, retired_at, unpublish_at) = match current {
                _ if r.activates_at > now => (KeyState::Next, None, None),
                Some(c) if c == i => (KeyState::Current, None, None),
                _ => {
                    // Activation times grow with the generation, so the successor is next in line.
                    let retired_at = rows.get(i + 1).map_or(now, |s| s.activates_at);
                    let until = retired_at
                        .saturating_add(timing.max_token_ttl.max(r.longest_ttl))
                        .saturating_add(CLOCK_LEEWAY);
                    let state = if now < until {
                        KeyState::Retired
                    } else {
                        KeyState::Expired
                    };
                    (state, Some(retired_at), Some(until))
                }
            };
            KeyInfo {
                kid: r.kid.clone(),
                generation: r.generation,
                state,
                created_at: r.created_at,
                activates_at: r.activates_at,
                retired_at,
                unpublish_at,
                longest_token_ttl: r.longest_ttl,
                n: r.n.clone(),
                e: r.e.clone(),
                custody: r.custody.clone(),
            }
        })
        .collect()
}

/// Result of a rotation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    Created(KeyInfo),
    /// A next key already waits for its activation (rotating again would not make it sooner),
    /// or another replica created the key first: that key stands.
    AlreadyPending(KeyInfo),
}

/// What a maintenance pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub created: Option<KeyInfo>,
    /// The created key is the very first one.
    pub bootstrap: bool,
    pub removed: Vec<String>,
}

impl KeyRing {
    /// Creates the first key (active at once: nobody can have cached a JWKS yet), schedules the
    /// next key when the current one is due, and deletes keys whose tokens have all expired.
    pub fn maintain(&self, store: &Store, now: i64) -> Result<Maintenance, KeyError> {
        let keys = self.list(store, now)?;
        let mut report = Maintenance::default();
        let current = keys.iter().find(|k| k.state == KeyState::Current);
        let has_next = keys.iter().any(|k| k.state == KeyState::Next);
        let activate_at = match current {
            None if !has_next => Some(now),
            Some(c)
                if !has_next
                    && now
                        >= c.activates_at.saturating_add(
                            self.timing.rotation_interval
                                - self.timing.publish_lead
                                - SCHEDULE_MARGIN,
                        ) =>
            {
                Some(
                    now.saturating_add(self.timing.publish_lead)
                        .max(c.activates_at.saturating_add(self.timing.rotation_interval)),
                )
            }
            _ => None,
        };
        if let Some(at) = activate_at {
            if let Rotation::Created(k) = self.create(store, now, at)? {
                report.bootstrap = keys.is_empty();
                report.created = Some(k);
                self.recheck(store, now)?;
            }
        }
        let expired: Vec<String> = keys
            .iter()
            .filter(|k| k.state == KeyState::Expired)
            .map(|k| k.kid.clone())
            .collect();
        for kid in &expired {
            let deleted = store.tx(|tx| {
                tx.exec(
                    "DELETE FROM signing_keys WHERE kid = $1",
                    &[kid.as_str().into()],
                )
            })?;
            if deleted == 1 {
                let custody = keys
                    .iter()
                    .find(|k| &k.kid == kid)
                    .and_then(|k| k.custody.as_deref());
                self.vault.discard(kid, custody);
                report.removed.push(kid.clone());
            }
            self.parsed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(kid);
        }
        Ok(report)
    }

    /// `keys rotate`: publishes a new key now that takes over signing after `publish_lead`.
    pub fn rotate(&self, store: &Store, now: i64) -> Result<Rotation, KeyError> {
        let at = if self.list(store, now)?.is_empty() {
            now
        } else {
            now.saturating_add(self.timing.publish_lead)
        };
        let rotation = self.create(store, now, at)?;
        if matches!(rotation, Rotation::Created(_)) {
            self.recheck(store, now)?;
        }
        Ok(rotation)
    }

    fn create(&self, store: &Store, now: i64, activates_at: i64) -> Result<Rotation, KeyError> {
        // The millisecond `now` stands for, and when generation started: the lead is counted
        // from the moment the key is stored, not from the whole second the caller read.
        let started = std::time::Instant::now();
        let now_exact_ms = now
            .saturating_mul(1000)
            .saturating_add(now_ms().rem_euclid(1000));
        if let Some(next) = self
            .list(store, now)?
            .into_iter()
            .find(|k| k.state == KeyState::Next)
        {
            return Ok(Rotation::AlreadyPending(next));
        }
        // Generation takes a while: outside any transaction.
        let new = self.vault.create()?;
        let activates_at = if activates_at > now {
            let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            let earliest_ms = now_exact_ms
                .saturating_add(elapsed)
                .saturating_add(self.timing.publish_lead.saturating_mul(1000));
            // Rounded up to the whole second the key states are computed in.
            activates_at.max(earliest_ms.saturating_add(999) / 1000)
        } else {
            activates_at
        };
        let kid = thumbprint(&new.n, &new.e);
        let row = KeyRow {
            kid: kid.clone(),
            generation: 0,
            n: new.n,
            e: new.e,
            sealed: new.sealed,
            created_at: now,
            activates_at,
            longest_ttl: 0,
            custody: new.custody,
        };
        let discard = || self.vault.discard(&kid, row.custody.as_deref());
        let inserted = store.tx(|tx| self.insert_unless_raced(tx, &row, now));
        match inserted {
            Ok(Ok(())) => {}
            Ok(Err(next)) => {
                discard();
                return Ok(Rotation::AlreadyPending(next));
            }
            Err(StoreError::Conflict(_)) => {
                // Lost a race on the generation number; the winner's key stands.
                discard();
                let keys = self.list(store, now)?;
                let winner = keys
                    .iter()
                    .find(|k| k.state == KeyState::Next)
                    .or_else(|| keys.iter().find(|k| k.state == KeyState::Current));
                return winner
                    .cloned()
                    .map(Rotation::AlreadyPending)
                    .ok_or_else(|| KeyError::Generate("concurrent rotation; retry".into()));
            }
            Err(e) => {
                discard();
                return Err(e.into());
            }
        }
        let info = self
            .list(store, now)?
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| KeyError::Store(StoreError::Corrupt("new key vanished".into())))?;
        Ok(Rotation::Created(info))
    }

    /// Inserts `row` as the newest generation, unless another replica's key already stands:
    /// a pending next key, or (for the very first key) any key at all. Then returns that key.
    fn insert_unless_raced(
        &self,
        tx: &mut dyn Tx,
        row: &KeyRow,
        now: i64,
    ) -> Result<Result<(), KeyInfo>, StoreError> {
        // Only the very first key may sign at once; nobody can have cached a JWKS without it.
        let bootstrap = row.activates_at <= now;
        let rows = load_rows(tx)?;
        let infos = classify(&rows, now, &self.timing);
        let pending = infos.iter().position(|k| k.state == KeyState::Next);
        let first_key = if bootstrap {
            infos.len().checked_sub(1)
        } else {
            None
        };
        if let Some(i) = pending.or(first_key) {
            return Ok(Err(infos[i].clone()));
        }
        let generation = rows.last().map_or(1, |r| r.generation + 1);
        let activates_at = rows
            .last()
            .map_or(row.activates_at, |r| row.activates_at.max(r.activates_at));
        tx.exec(
            "INSERT INTO signing_keys
                 (kid, generation, n, e, sealed_private_key, created_at, activates_at, custody)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                row.kid.as_str().into(),
                generation.into(),
                row.n.as_str().into(),
                row.e.as_str().into(),
                Val::from(row.sealed.clone()),
                now.into(),
                activates_at.into(),
                Val::from(row.custody.clone()),
            ],
        )?;
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_rows::row;
    use super::*;

    fn timing() -> KeyTiming {
        KeyTiming {
            rotation_interval: 1000,
            publish_lead: 100,
            max_token_ttl: 50,
            jwks_max_age: 10,
        }
    }

    #[test]
    fn states_follow_the_clock() {
        let t = timing();
        let rows = [row(1, 0), row(2, 1000)];
        let at = |now| {
            classify(&rows, now, &t)
                .iter()
                .map(|k| k.state)
                .collect::<Vec<_>>()
        };
        assert_eq!(at(500), [KeyState::Current, KeyState::Next]);
        assert_eq!(at(1000), [KeyState::Retired, KeyState::Current]);
        // Retired stays published for max_token_ttl + leeway after its successor took over.
        assert_eq!(
            at(1000 + 50 + CLOCK_LEEWAY - 1),
            [KeyState::Retired, KeyState::Current]
        );
        assert_eq!(
            at(1000 + 50 + CLOCK_LEEWAY),
            [KeyState::Expired, KeyState::Current]
        );
        let info = &classify(&rows, 1001, &t)[0];
        assert_eq!(info.retired_at, Some(1000));
        assert_eq!(info.unpublish_at, Some(1000 + 50 + CLOCK_LEEWAY));
    }

    #[test]
    fn a_key_that_signed_longer_lifetimes_stays_published_for_them() {
        // max_token_ttl was lowered to 50 s after the key signed tokens living 400 s.
        let mut first = row(1, 0);
        first.longest_ttl = 400;
        let rows = [first, row(2, 1000)];
        let info = &classify(&rows, 1001, &timing())[0];
        assert_eq!(info.unpublish_at, Some(1000 + 400 + CLOCK_LEEWAY));
        let at = 1000 + 50 + CLOCK_LEEWAY;
        assert_eq!(classify(&rows, at, &timing())[0].state, KeyState::Retired);
    }
}
