//! The key-set lifecycle of one provider, as a pure state machine.
//!
//! The glue drives it with a millisecond clock: it asks [`KeySetFetcher::poll`] whether to start
//! a fetch, reports [`KeySetFetcher::fetch_started`], then the response or the failure, and
//! arms its timer for [`KeySetFetcher::next_wakeup`]. The last good key set is kept whatever
//! happens: a bad response (status, size, content) only schedules a retry, with exponential
//! backoff and jitter so that every worker of every proxy does not retry at the same instant.

use crate::config;

use super::keyset::KeySet;
use super::JwksError;

/// The timing and size limits of one provider's fetches, in milliseconds and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    pub refresh_default_ms: u64,
    pub refresh_min_ms: u64,
    pub refresh_max_ms: u64,
    pub max_response_bytes: usize,
    pub unknown_kid_refetch_ms: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// A fetch with no news after this long is considered lost, and may be started again.
    pub lost_after_ms: u64,
}

impl FetchPolicy {
    pub fn from_config(cfg: &config::Jwks) -> FetchPolicy {
        let timeout_ms = cfg.remote.as_ref().map_or(5_000, |r| r.timeout_ms);
        FetchPolicy {
            refresh_default_ms: cfg.refresh_default_seconds.saturating_mul(1000),
            refresh_min_ms: cfg.refresh_min_seconds.saturating_mul(1000),
            refresh_max_ms: cfg.refresh_max_seconds.saturating_mul(1000),
            max_response_bytes: cfg.max_response_bytes,
            unknown_kid_refetch_ms: cfg.unknown_kid_refetch_seconds.saturating_mul(1000),
            backoff_initial_ms: cfg.backoff_initial_ms,
            backoff_max_ms: cfg.backoff_max_ms,
            // The host enforces the callout timeout; this only recovers from a lost callback.
            lost_after_ms: timeout_ms.saturating_mul(2).saturating_add(1_000),
        }
    }

    /// The refresh interval for a response's `Cache-Control`, clamped to [min, max].
    pub fn refresh_ms(&self, cache_control: Option<&str>) -> u64 {
        let wanted = match cache_control.map(parse_cache_control) {
            Some(CacheDirective::NoCache) => self.refresh_min_ms,
            Some(CacheDirective::MaxAge(seconds)) => seconds.saturating_mul(1000),
            Some(CacheDirective::Unspecified) | None => self.refresh_default_ms,
        };
        // Not `clamp`: it panics when min > max, and the configuration is not ours to trust here.
        wanted
            .max(self.refresh_min_ms)
            .min(self.refresh_max_ms)
            .max(1)
    }

    /// The backoff before retry number `failures` (1 for the first retry), without jitter.
    pub fn backoff_ms(&self, failures: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(63);
        let delay = self
            .backoff_initial_ms
            .checked_shl(doublings)
            .unwrap_or(u64::MAX);
        // Doubling past 2^64 wraps bits away: detect it by shifting back.
        let delay = if delay >> doublings == self.backoff_initial_ms {
            delay
        } else {
            u64::MAX
        };
        delay.min(self.backoff_max_ms).max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheDirective {
    MaxAge(u64),
    NoCache,
    Unspecified,
}

/// The directives of `Cache-Control` (RFC 9111 section 5.2) that set a refresh interval:
/// `no-cache`/`no-store` (refresh as often as allowed) win over `max-age`; the first `max-age`
/// counts.
fn parse_cache_control(value: &str) -> CacheDirective {
    let mut max_age = None;
    for directive in value.split(',') {
        let (name, arg) = match directive.split_once('=') {
            Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
            return CacheDirective::NoCache;
        }
        if name.eq_ignore_ascii_case("max-age") && max_age.is_none() {
            max_age = arg.and_then(parse_delta_seconds);
        }
    }
    max_age.map_or(CacheDirective::Unspecified, CacheDirective::MaxAge)
}

/// RFC 9111 delta-seconds: digits only; too large saturates.
fn parse_delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

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
    /// The fetcher of one provider. An inline key set is loaded now (an error if unusable); a
    /// remote one is due at once. `seed` drives the jitter, so workers spread their retries.
    pub fn new(cfg: &config::Jwks, seed: u64) -> Result<KeySetFetcher, JwksError> {
        let keys = match &cfg.inline {
            Some(doc) => Some(KeySet::from_value(doc)?),
            None => None,
        };
        let remote = cfg.remote.is_some();
        if keys.is_none() && !remote {
            return Err(JwksError::NoSource);
        }
        Ok(KeySetFetcher {
            policy: FetchPolicy::from_config(cfg),
            remote,
            keys,
            in_flight_since: None,
            next_fetch_at: remote.then_some(0),
            failures: 0,
            last_unknown_kid_refetch: None,
            last_error: None,
            rng: seed,
        })
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

/// Split `jwks.remote.uri` into the callout's `:authority` and `:path` (with the query, if any).
/// Accepts `http://` and `https://` only (TLS is the cluster's business); refuses user info,
/// fragments, whitespace and control characters.
pub fn callout_target(uri: &str) -> Result<(String, String), JwksError> {
    let bad = |why: &str| JwksError::BadUri(format!("{why} (got {uri:?})"));
    if !uri.is_ascii() || uri.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(bad("must be ASCII without spaces or control characters"));
    }
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("the scheme must be http or https"));
    }
    if rest.contains('#') {
        return Err(bad("must not have a fragment"));
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => (
            rest.get(..at).unwrap_or_default(),
            rest.get(at..).unwrap_or_default(),
        ),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad("must not carry user info"));
    }
    let host = match authority.strip_prefix('[') {
        // IPv6 literal: `[addr]` or `[addr]:port`.
        Some(v6) => {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed IPv6 literal"))?;
            if addr.is_empty()
                || !addr
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return Err(bad("invalid IPv6 literal"));
            }
            check_port(after, &bad)?;
            addr
        }
        None => {
            let (host, port) = match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if let Some(port) = port {
                check_port(&format!(":{port}"), &bad)?;
            }
            if !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            {
                return Err(bad("invalid host name"));
            }
            host
        }
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let path = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok((authority.to_owned(), path))
}

/// `after` is empty or `:port` with a port in 1..=65535.
fn check_port(after: &str, bad: &dyn Fn(&str) -> JwksError) -> Result<(), JwksError> {
    if after.is_empty() {
        return Ok(());
    }
    let port = after
        .strip_prefix(':')
        .ok_or_else(|| bad("unexpected characters after the host"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(bad("the port must be a number from 1 to 65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn remote() -> KeySetFetcher {
        KeySetFetcher::new(&jwks_config(true, None), 42).expect("valid")
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
    fn refresh_follows_cache_control_within_the_clamp() {
        let p = remote().policy().clone();
        assert_eq!(p.refresh_ms(Some("max-age=120")), 120_000);
        assert_eq!(p.refresh_ms(Some("public, Max-Age=\"300\"")), 300_000);
        assert_eq!(p.refresh_ms(Some("max-age=5")), 30_000, "clamped up to min");
        assert_eq!(
            p.refresh_ms(Some("max-age=86400")),
            600_000,
            "clamped down to max"
        );
        assert_eq!(
            p.refresh_ms(Some("max-age=99999999999999999999999")),
            600_000
        );
        assert_eq!(p.refresh_ms(Some("no-cache")), 30_000);
        assert_eq!(p.refresh_ms(Some("max-age=300, no-store")), 30_000);
        assert_eq!(
            p.refresh_ms(Some("max-age=abc")),
            600_000,
            "unparsable: the default"
        );
        assert_eq!(p.refresh_ms(Some("public")), 600_000);
        assert_eq!(p.refresh_ms(None), 600_000);
    }

    #[test]
    fn an_inverted_clamp_does_not_panic() {
        let mut p = remote().policy().clone();
        p.refresh_min_ms = 10_000;
        p.refresh_max_ms = 5_000;
        assert_eq!(p.refresh_ms(Some("max-age=1")), 5_000);
    }

    #[test]
    fn backoff_doubles_to_the_max() {
        let p = remote().policy().clone();
        let delays: Vec<_> = (1..=9).map(|n| p.backoff_ms(n)).collect();
        assert_eq!(
            delays,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        assert_eq!(p.backoff_ms(u32::MAX), 60_000);
        let mut huge = p.clone();
        huge.backoff_initial_ms = u64::MAX / 3;
        huge.backoff_max_ms = u64::MAX;
        assert_eq!(
            huge.backoff_ms(3),
            u64::MAX,
            "saturates instead of wrapping"
        );
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
                let mut f = KeySetFetcher::new(&jwks_config(true, None), seed).expect("valid");
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
        let mut f = KeySetFetcher::new(&jwks_config(false, Some(inline)), 1).expect("valid");
        assert!(f.key_set().is_some_and(|k| k.contains("x")));
        assert!(!f.poll(0) && !f.poll(u64::MAX));
        assert_eq!(f.next_wakeup(), None);
        assert!(!f.may_refetch(0) && !f.request_refetch(0));
        let bad = serde_json::json!({"keys": [{"kty": "RSA"}]});
        assert!(matches!(
            KeySetFetcher::new(&jwks_config(false, Some(bad)), 1),
            Err(JwksError::NoUsableKey { total: 1, .. })
        ));
        assert_eq!(
            KeySetFetcher::new(&jwks_config(false, None), 1).err(),
            Some(JwksError::NoSource)
        );
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
    fn a_lost_fetch_can_be_restarted() {
        let mut f = remote();
        f.fetch_started(0);
        let lost = f.policy().lost_after_ms;
        assert_eq!(f.next_wakeup(), Some(lost));
        assert!(!f.poll(lost - 1) && f.poll(lost));
    }

    #[test]
    fn callout_targets() {
        let ok = |uri: &str| callout_target(uri).expect(uri);
        assert_eq!(
            ok("https://idp.example.com/.well-known/jwks.json"),
            ("idp.example.com".into(), "/.well-known/jwks.json".into())
        );
        assert_eq!(
            ok("http://idp:8080/jwks?tenant=a"),
            ("idp:8080".into(), "/jwks?tenant=a".into())
        );
        assert_eq!(
            ok("HTTPS://idp.example.com"),
            ("idp.example.com".into(), "/".into())
        );
        assert_eq!(ok("https://idp?x=1"), ("idp".into(), "/?x=1".into()));
        assert_eq!(
            ok("http://[::1]:9000/k"),
            ("[::1]:9000".into(), "/k".into())
        );
        for bad in [
            "ftp://idp/jwks",
            "idp/jwks",
            "https:///jwks",
            "https://user:pw@idp/jwks",
            "https://idp/jwks#frag",
            "https://idp:0/jwks",
            "https://idp:99999/jwks",
            "https://idp:/jwks",
            "https://idp:+80/jwks",
            "https://id p/jwks",
            "https://idp/jw\nks",
            "https://[::1/jwks",
            "https://[]/jwks",
            "https://[::1]x/jwks",
            "https://idé/jwks",
            "",
        ] {
            let err = callout_target(bad).expect_err(bad);
            assert!(
                matches!(&err, JwksError::BadUri(msg) if msg.contains("got")),
                "{err}"
            );
        }
    }
}
