//! The timing and size limits of one provider's fetches: refresh intervals from
//! `Cache-Control` within the configured clamp, and the exponential backoff after failures.

use crate::config;

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
        // With discovery a fetch is two callouts in a row (document, then key set).
        let (timeout_ms, callouts) = match (&cfg.remote, &cfg.discovery) {
            (Some(remote), _) => (remote.timeout_ms, 1),
            (None, Some(discovery)) => (discovery.timeout_ms, 2),
            (None, None) => (5_000, 1),
        };
        FetchPolicy {
            refresh_default_ms: cfg.refresh_default_seconds.saturating_mul(1000),
            refresh_min_ms: cfg.refresh_min_seconds.saturating_mul(1000),
            refresh_max_ms: cfg.refresh_max_seconds.saturating_mul(1000),
            max_response_bytes: cfg.max_response_bytes,
            unknown_kid_refetch_ms: cfg.unknown_kid_refetch_seconds.saturating_mul(1000),
            backoff_initial_ms: cfg.backoff_initial_ms,
            backoff_max_ms: cfg.backoff_max_ms,
            // The host enforces the callout timeout; this only recovers from a lost callback.
            lost_after_ms: timeout_ms
                .saturating_mul(2 * callouts)
                .saturating_add(1_000),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy of a remote key set with every setting at its default.
    fn defaults() -> FetchPolicy {
        let cfg: config::Jwks = serde_json::from_value(serde_json::json!({
            "remote": {"cluster": "idp", "uri": "https://idp.example.com/jwks"}
        }))
        .expect("valid config");
        FetchPolicy::from_config(&cfg)
    }

    #[test]
    fn refresh_follows_cache_control_within_the_clamp() {
        let p = defaults();
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
        let mut p = defaults();
        p.refresh_min_ms = 10_000;
        p.refresh_max_ms = 5_000;
        assert_eq!(p.refresh_ms(Some("max-age=1")), 5_000);
    }

    #[test]
    fn backoff_doubles_to_the_max() {
        let p = defaults();
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
}
