//! The key-set lifecycle of one provider, as a pure state machine.
//!
//! The glue drives it with a millisecond clock: it asks [`KeySetFetcher::poll`] whether to start
//! a fetch, reports [`KeySetFetcher::fetch_started`], then the response or the failure, and
//! arms its timer for [`KeySetFetcher::next_wakeup`]. The last good key set is kept whatever
//! happens: a bad response (status, size, content) only schedules a retry, with exponential
//! backoff and jitter so that every worker of every proxy does not retry at the same instant.

use super::keyset::KeySet;
use super::source::{CompiledJwks, JwksSource};
use super::JwksError;

pub use super::policy::FetchPolicy;

/// One provider's key set and its fetch schedule.
#[derive(Debug, Clone)]
pub struct KeySetFetcher {
    policy: FetchPolicy,
    remote: bool,
    keys: Option<KeySet>,
    in_flight_since: Option<u64>,
    /// When the next fetch is due (`None`: never, for an inline-only key set).
    next_fetch_at: Option<u64>,
    failures: u32,
    last_unknown_kid_refetch: Option<u64>,
    last_error: Option<JwksError>,
    rng: u64,
}

impl KeySetFetcher {
    /// The fetcher of one provider's compiled key source: an inline key set is there from the
    /// start, a remote one is due at once. `seed` drives the jitter, so workers spread their
    /// retries.
    pub fn new(jwks: &CompiledJwks, seed: u64) -> KeySetFetcher {
        let (keys, remote) = match &jwks.source {
            JwksSource::Inline(keys) => (Some(keys.clone()), false),
            JwksSource::Remote(_) | JwksSource::Discovery(_) => (None, true),
        };
        KeySetFetcher {
            policy: jwks.policy.clone(),
            remote,
            keys,
            in_flight_since: None,
            next_fetch_at: remote.then_some(0),
            failures: 0,
            last_unknown_kid_refetch: None,
            last_error: None,
            rng: seed,
        }
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Whether the key set is fetched (`jwks.remote`) rather than configured inline.
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// Whether the glue should start a fetch now.
    pub fn poll(&self, now_ms: u64) -> bool {
        if !self.remote {
            return false;
        }
        match self.in_flight_since {
            Some(since) => now_ms >= since.saturating_add(self.policy.lost_after_ms),
            None => self.next_fetch_at.is_some_and(|at| now_ms >= at),
        }
    }

    /// The glue dispatched the request.
    pub fn fetch_started(&mut self, now_ms: u64) {
        self.in_flight_since = Some(now_ms);
    }

    /// A fetch is under way.
    pub fn in_flight(&self) -> bool {
        self.in_flight_since.is_some()
    }

    /// The response arrived. On success the new set replaces the old and the next refresh
    /// follows `Cache-Control`; on any error the old set stays and a retry is scheduled.
    /// Returns the number of usable keys loaded.
    pub fn on_response(
        &mut self,
        now_ms: u64,
        status: u32,
        cache_control: Option<&str>,
        body: &[u8],
    ) -> Result<usize, JwksError> {
        self.in_flight_since = None;
        let loaded = if status != 200 {
            Err(JwksError::HttpStatus(status))
        } else if body.len() > self.policy.max_response_bytes {
            Err(JwksError::TooLarge {
                size: body.len(),
                max: self.policy.max_response_bytes,
            })
        } else {
            KeySet::from_json(body)
        };
        match loaded {
            Ok(keys) => {
                let count = keys.len();
                self.keys = Some(keys);
                self.failures = 0;
                self.last_error = None;
                let interval = self.policy.refresh_ms(cache_control);
                // Refresh up to 10% early, so that workers loaded together drift apart.
                let early = self.random_below(interval / 10 + 1);
                self.next_fetch_at = Some(now_ms.saturating_add(interval - early));
                Ok(count)
            }
            Err(err) => {
                self.on_error(now_ms, err.clone());
                Err(err)
            }
        }
    }

    /// The fetch failed without a usable response (timeout, reset, no cluster).
    pub fn on_failure(&mut self, now_ms: u64) {
        self.in_flight_since = None;
        self.on_error(now_ms, JwksError::FetchFailed);
    }

    /// The fetch ended without a key set to load, for a reason the glue found (a refused
    /// discovery document): the last good set stays and a retry is scheduled, with backoff.
    pub fn on_refused(&mut self, now_ms: u64, err: JwksError) {
        self.in_flight_since = None;
        self.on_error(now_ms, err);
    }

    fn on_error(&mut self, now_ms: u64, err: JwksError) {
        self.failures = self.failures.saturating_add(1);
        self.last_error = Some(err);
        // Equal jitter: between half and all of the exponential delay.
        let delay = self.policy.backoff_ms(self.failures);
        let delay = delay - self.random_below(delay / 2 + 1);
        self.next_fetch_at = Some(now_ms.saturating_add(delay.max(1)));
    }

    /// Whether a token with an unknown `kid` may wait for a refetch now (no side effects): a
    /// fetch is already under way, or the unknown-kid rate limit allows one.
    pub fn may_refetch(&self, now_ms: u64) -> bool {
        self.remote && (self.in_flight() || self.refetch_allowed(now_ms))
    }

    /// Ask for a refetch because a token names an unknown `kid`. Returns whether the token may
    /// wait for it: true when a fetch is under way or one is now due; false when rate-limited.
    pub fn request_refetch(&mut self, now_ms: u64) -> bool {
        if !self.remote {
            return false;
        }
        if self.in_flight() {
            return true;
        }
        if !self.refetch_allowed(now_ms) {
            return false;
        }
        self.last_unknown_kid_refetch = Some(now_ms);
        self.next_fetch_at = Some(self.next_fetch_at.map_or(now_ms, |at| at.min(now_ms)));
        true
    }

    /// Install a JWKS body that another worker fetched (see [`super::shared`]). It is checked
    /// again under this fetcher's own limits; if it fails, the current set stays, as after a bad
    /// response. The schedule is not touched: adopt it with [`adopt_schedule`](Self::adopt_schedule).
    /// An inline key set is configuration and is never replaced.
    pub fn adopt_key_set(&mut self, body: &[u8]) -> Result<usize, JwksError> {
        if !self.remote {
            return Err(JwksError::NoSource);
        }
        if body.len() > self.policy.max_response_bytes {
            return Err(JwksError::TooLarge {
                size: body.len(),
                max: self.policy.max_response_bytes,
            });
        }
        let keys = KeySet::from_json(body)?;
        let count = keys.len();
        self.keys = Some(keys);
        Ok(count)
    }

    /// Follow a schedule decided by another worker: when the next fetch (refresh or retry) is
    /// due, the failures since the last success and the last error. A fetch of this worker that
    /// is under way stays under way.
    pub fn adopt_schedule(
        &mut self,
        next_fetch_at: u64,
        failures: u32,
        last_error: Option<JwksError>,
    ) {
        if !self.remote {
            return;
        }
        self.next_fetch_at = Some(next_fetch_at);
        self.failures = failures;
        self.last_error = last_error;
    }

    /// Another worker made an unknown-`kid` refetch at `at_ms`: the rate limit counts from there.
    pub fn adopt_refetch_mark(&mut self, at_ms: u64) {
        if self.last_unknown_kid_refetch.is_none_or(|own| own < at_ms) {
            self.last_unknown_kid_refetch = Some(at_ms);
        }
    }

    fn refetch_allowed(&self, now_ms: u64) -> bool {
        self.last_unknown_kid_refetch
            .is_none_or(|at| now_ms >= at.saturating_add(self.policy.unknown_kid_refetch_ms))
    }

    /// The current key set: the last good one, or `None` before the first success.
    pub fn key_set(&self) -> Option<&KeySet> {
        self.keys.as_ref()
    }

    /// When the glue should call [`poll`](Self::poll) next (`None`: never).
    pub fn next_wakeup(&self) -> Option<u64> {
        if !self.remote {
            return None;
        }
        match self.in_flight_since {
            Some(since) => Some(since.saturating_add(self.policy.lost_after_ms)),
            None => self.next_fetch_at,
        }
    }

    /// Failed fetches since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// Why the last fetch failed, until one succeeds.
    pub fn last_error(&self) -> Option<&JwksError> {
        self.last_error.as_ref()
    }

    /// A uniform-enough value in `0..bound` (splitmix64; jitter needs no cryptographic quality).
    fn random_below(&mut self, bound: u64) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        z.checked_rem(bound).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::jwks::keyset::tests::jwk;

    fn jwks_config(remote: bool, inline: Option<serde_json::Value>) -> config::Jwks {
        let mut v = serde_json::json!({});
        if remote {
            v["remote"] =
                serde_json::json!({"cluster": "idp", "uri": "https://idp.example.com/jwks"});
        }
        if let Some(inline) = inline {
            v["inline"] = inline;
        }
        serde_json::from_value(v).expect("valid config")
    }

    fn body(kids: &[&str]) -> Vec<u8> {
        let keys: Vec<_> = kids.iter().map(|k| jwk(k, 2048)).collect();
        serde_json::json!({ "keys": keys }).to_string().into_bytes()
    }

    fn fetcher(cfg: &config::Jwks, seed: u64) -> KeySetFetcher {
        KeySetFetcher::new(&crate::compile::jwks_for_tests(cfg), seed)
    }

    fn remote() -> KeySetFetcher {
        fetcher(&jwks_config(true, None), 42)
    }

    #[test]
    fn a_remote_set_is_fetched_at_start() {
        let mut f = remote();
        assert!(f.key_set().is_none());
        assert!(f.poll(0) && f.poll(1_000));
        assert_eq!(f.next_wakeup(), Some(0));
        f.fetch_started(1_000);
        assert!(!f.poll(1_001), "one fetch at a time");
        assert_eq!(f.on_response(1_100, 200, None, &body(&["a"])), Ok(1));
        assert!(f.key_set().is_some_and(|k| k.contains("a")));
        // Default refresh: 600 s, up to 10% early.
        let next = f.next_wakeup().expect("scheduled");
        assert!(
            (1_100 + 540_000..=1_100 + 600_000).contains(&next),
            "{next}"
        );
        assert!(!f.poll(next - 1) && f.poll(next));
    }

    #[test]
    fn failures_keep_the_last_good_set_and_back_off_with_jitter() {
        let mut f = remote();
        f.fetch_started(0);
        f.on_response(0, 200, Some("max-age=60"), &body(&["a"]))
            .expect("loaded");
        let mut now = 60_000;
        let mut previous_base = 0;
        for (attempt, (status, payload)) in [
            (500, body(&["b"])),
            (200, b"not json".to_vec()),
            (200, br#"{"keys":[]}"#.to_vec()),
            (200, vec![b' '; 70 * 1024]),
            (404, Vec::new()),
        ]
        .into_iter()
        .enumerate()
        {
            assert!(f.poll(now));
            f.fetch_started(now);
            assert!(f.on_response(now, status, None, &payload).is_err());
            assert!(f
                .key_set()
                .is_some_and(|k| k.contains("a") && !k.contains("b")));
            let failures = attempt as u32 + 1;
            assert_eq!(f.consecutive_failures(), failures);
            let base = f.policy().backoff_ms(failures);
            assert!(base >= previous_base);
            previous_base = base;
            let wait = f.next_wakeup().expect("retry scheduled") - now;
            assert!(
                (base / 2..=base).contains(&wait),
                "attempt {attempt}: {wait} not in [{}, {base}]",
                base / 2
            );
            now += wait;
        }
        assert!(matches!(f.last_error(), Some(JwksError::HttpStatus(404))));
        f.fetch_started(now);
        f.on_failure(now);
        assert_eq!(f.last_error(), Some(&JwksError::FetchFailed));
        assert_eq!(f.consecutive_failures(), 6);
        f.fetch_started(now);
        f.on_response(now, 200, None, &body(&["b"]))
            .expect("recovered");
        assert_eq!(f.consecutive_failures(), 0);
        assert_eq!(f.last_error(), None);
        assert!(f
            .key_set()
            .is_some_and(|k| k.contains("b") && !k.contains("a")));
    }

    #[test]
    fn oversized_responses_are_refused() {
        let mut f = remote();
        f.fetch_started(0);
        let big = vec![b' '; 64 * 1024 + 1];
        assert_eq!(
            f.on_response(0, 200, None, &big),
            Err(JwksError::TooLarge {
                size: 64 * 1024 + 1,
                max: 64 * 1024
            })
        );
        assert!(f.key_set().is_none());
    }

    #[test]
    fn jitter_differs_between_seeds() {
        let waits: std::collections::BTreeSet<u64> = (0..16)
            .map(|seed| {
                let mut f = fetcher(&jwks_config(true, None), seed);
                f.fetch_started(0);
                f.on_failure(0);
                f.next_wakeup().unwrap_or(0)
            })
            .collect();
        assert!(waits.len() > 4, "{waits:?}");
    }

    #[test]
    fn unknown_kid_refetch_is_rate_limited() {
        let mut f = remote();
        f.fetch_started(0);
        // While a fetch is under way, a token may wait for it without using the budget.
        assert!(f.may_refetch(0));
        assert!(f.request_refetch(0));
        f.on_response(10, 200, None, &body(&["a"])).expect("loaded");
        assert!(!f.poll(20));
        assert!(f.may_refetch(20));
        assert!(f.may_refetch(20), "peeking has no side effects");
        assert!(f.request_refetch(20));
        assert!(f.poll(20), "the refetch is due at once");
        f.fetch_started(20);
        f.on_response(30, 200, None, &body(&["a"])).expect("loaded");
        assert!(!f.may_refetch(40));
        assert!(!f.request_refetch(40));
        assert!(!f.poll(40));
        assert!(f.may_refetch(30_020));
        assert!(f.request_refetch(30_020));
        assert!(f.poll(30_020));
    }

    #[test]
    fn inline_sets_load_at_construction_and_never_fetch() {
        let inline = serde_json::from_slice(&body(&["x"])).expect("json");
        let mut f = fetcher(&jwks_config(false, Some(inline)), 1);
        assert!(f.key_set().is_some_and(|k| k.contains("x")));
        assert!(!f.poll(0) && !f.poll(u64::MAX));
        assert_eq!(f.next_wakeup(), None);
        assert!(!f.may_refetch(0) && !f.request_refetch(0));
        // Configuration, never replaced by a fetched set (unusable inline sets and a missing
        // source are refused by the compile step: see compile::tests::providers).
        assert_eq!(f.adopt_key_set(&body(&["y"])), Err(JwksError::NoSource));
        assert!(f
            .key_set()
            .is_some_and(|k| k.contains("x") && !k.contains("y")));
    }

    #[test]
    fn a_set_fetched_elsewhere_is_adopted_only_if_it_loads_here() {
        let mut f = remote();
        assert_eq!(f.adopt_key_set(&body(&["a", "b"])), Ok(2));
        assert!(f
            .key_set()
            .is_some_and(|k| k.contains("a") && k.contains("b")));
        assert!(f.poll(0), "the schedule is adopted separately");
        f.adopt_schedule(60_000, 0, None);
        assert!(!f.poll(59_999) && f.poll(60_000));
        for bad in [
            b"not json".to_vec(),
            br#"{"keys":[]}"#.to_vec(),
            vec![b' '; 64 * 1024 + 1],
        ] {
            assert!(f.adopt_key_set(&bad).is_err());
            assert!(
                f.key_set().is_some_and(|k| k.len() == 2),
                "the good set stays"
            );
        }
        f.adopt_schedule(61_000, 3, Some(JwksError::HttpStatus(503)));
        assert_eq!(f.consecutive_failures(), 3);
        assert_eq!(f.last_error(), Some(&JwksError::HttpStatus(503)));
        assert_eq!(f.next_wakeup(), Some(61_000));
        // Another worker's unknown-kid refetch counts against this worker's limit.
        assert!(f.may_refetch(70_000));
        f.adopt_refetch_mark(69_000);
        assert!(!f.may_refetch(70_000));
        f.adopt_refetch_mark(10_000);
        assert!(
            !f.may_refetch(98_999),
            "an older mark does not move it back"
        );
        assert!(f.may_refetch(99_000));
    }

    #[test]
    fn a_refusal_found_by_the_glue_backs_off_and_keeps_the_set() {
        use crate::jwks::DiscoveryError;
        let mut f = remote();
        f.fetch_started(0);
        f.on_response(0, 200, None, &body(&["a"])).expect("loaded");
        f.fetch_started(600_000);
        let refused = JwksError::Discovery(DiscoveryError::NoJwksUri);
        f.on_refused(600_000, refused.clone());
        assert!(!f.in_flight());
        assert_eq!(f.last_error(), Some(&refused));
        assert_eq!(f.consecutive_failures(), 1);
        assert!(f.key_set().is_some_and(|k| k.contains("a")));
        let wait = f.next_wakeup().expect("retry scheduled") - 600_000;
        assert!((500..=1_000).contains(&wait), "{wait}");
    }

    #[test]
    fn a_lost_fetch_can_be_restarted() {
        let mut f = remote();
        f.fetch_started(0);
        let lost = f.policy().lost_after_ms;
        assert_eq!(f.next_wakeup(), Some(lost));
        assert!(!f.poll(lost - 1) && f.poll(lost));
    }
}
