//! The analytics variables: whether page views are counted, how often counts are flushed to
//! D1, how long they are kept, and where (and with which token) the stats are served.

use crate::config::parse::{ConfigError, Get};

/// Variable: `off` turns counting off (on by default when the D1 binding exists).
pub const VAR_ANALYTICS: &str = "ANALYTICS";
/// Variable: milliseconds between flushes of an isolate's counts to D1.
pub const VAR_STATS_FLUSH_MS: &str = "STATS_FLUSH_MS";
/// Variable: days that daily rows are kept.
pub const VAR_STATS_RETENTION_DAYS: &str = "STATS_RETENTION_DAYS";
/// Variable: the path the stats are served under.
pub const VAR_STATS_PATH: &str = "STATS_PATH";
/// Secret: the token that opens the stats; unset, the stats path is proxied like any other.
pub const VAR_STATS_TOKEN: &str = "STATS_TOKEN";

/// Default [`VAR_STATS_FLUSH_MS`].
pub const DEFAULT_FLUSH_MS: u32 = 10_000;
/// Shortest flush interval accepted (tests use it; a shop should not).
pub const MIN_FLUSH_MS: u32 = 100;
/// Longest flush interval: `waitUntil` keeps work alive for 30 s after the response.
pub const MAX_FLUSH_MS: u32 = 25_000;
/// Default [`VAR_STATS_RETENTION_DAYS`].
pub const DEFAULT_RETENTION_DAYS: u32 = 400;
/// Longest retention accepted (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// Default [`VAR_STATS_PATH`].
pub const DEFAULT_STATS_PATH: &str = "/_tagrelay";
/// Shortest token accepted: a short token can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// The analytics settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsSettings {
    /// Count page views (`ANALYTICS` is not `off`; the binding is checked by the adapter).
    pub counting: bool,
    /// [`VAR_STATS_FLUSH_MS`].
    pub flush_ms: u32,
    /// [`VAR_STATS_RETENTION_DAYS`].
    pub retention_days: u32,
    /// [`VAR_STATS_PATH`]: starts with `/`, no trailing `/`.
    pub stats_path: String,
    /// [`VAR_STATS_TOKEN`]; `None`: the stats are not served.
    pub stats_token: Option<String>,
    /// `BOT_SCORE_THRESHOLD`, shared with events.
    pub bot_score_threshold: u8,
}

impl AnalyticsSettings {
    /// Parses the analytics variables.
    pub fn parse(get: Get<'_>) -> Result<Self, ConfigError> {
        let counting = crate::config::parse::parse_flag(get, VAR_ANALYTICS, true, "on or off")?;
        let flush_ms = number(get, VAR_STATS_FLUSH_MS, DEFAULT_FLUSH_MS, MIN_FLUSH_MS..=MAX_FLUSH_MS, "milliseconds from 100 to 25000")?;
        let retention_days = number(get, VAR_STATS_RETENTION_DAYS, DEFAULT_RETENTION_DAYS, 1..=MAX_RETENTION_DAYS, "days from 1 to 3650")?;
        let stats_path = match get(VAR_STATS_PATH)? {
            None => DEFAULT_STATS_PATH.to_string(),
            Some(p) => {
                let path = p.trim_end_matches('/').to_string();
                let ok = path.starts_with('/')
                    && path.len() > 1
                    && !path.contains("//")
                    && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
                if !ok {
                    return Err(ConfigError::Invalid {
                        var: VAR_STATS_PATH,
                        expected: "a path such as /_tagrelay (letters, digits, - _ . ~ and /)",
                        got: p,
                    });
                }
                path
            }
        };
        let stats_token = get(VAR_STATS_TOKEN)?;
        if let Some(t) = &stats_token {
            if t.len() < MIN_TOKEN_LEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::Invalid {
                    var: VAR_STATS_TOKEN,
                    expected: "at least 16 visible characters with no spaces (make one with `openssl rand -hex 24`)",
                    got: "<hidden>".into(),
                });
            }
        }
        let bot_score_threshold = crate::config::parse::parse_bot_score_threshold(get)?;
        Ok(AnalyticsSettings { counting, flush_ms, retention_days, stats_path, stats_token, bot_score_threshold })
    }
}

fn number(get: Get<'_>, var: &'static str, default: u32, range: std::ops::RangeInclusive<u32>, expected: &'static str) -> Result<u32, ConfigError> {
    match get(var)? {
        None => Ok(default),
        Some(v) => v.parse::<u32>().ok().filter(|n| range.contains(n)).ok_or(ConfigError::Invalid { var, expected, got: v }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&'static str, &str)]) -> Result<AnalyticsSettings, ConfigError> {
        let map: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
        AnalyticsSettings::parse(&|name| Ok(map.get(name).cloned()))
    }

    #[test]
    fn defaults() {
        let s = parse(&[]).unwrap();
        assert_eq!(s, AnalyticsSettings { counting: true, flush_ms: 10_000, retention_days: 400, stats_path: "/_tagrelay".into(), stats_token: None, bot_score_threshold: 30 });
    }

    #[test]
    fn values_and_errors_name_the_variable() {
        let s = parse(&[("ANALYTICS", "off"), ("STATS_FLUSH_MS", "500"), ("STATS_PATH", "/stats/"), ("STATS_TOKEN", "0123456789abcdef")]).unwrap();
        assert!(!s.counting);
        assert_eq!((s.flush_ms, s.stats_path.as_str(), s.stats_token.as_deref()), (500, "/stats", Some("0123456789abcdef")));
        for (var, value) in [("ANALYTICS", "maybe"), ("STATS_FLUSH_MS", "50"), ("STATS_FLUSH_MS", "60000"), ("STATS_RETENTION_DAYS", "0"), ("STATS_PATH", "stats"), ("STATS_PATH", "/"), ("STATS_PATH", "/a b"), ("STATS_TOKEN", "short")] {
            let err = parse(&[(var, value)]).unwrap_err();
            assert_eq!(err.var(), var);
        }
        let err = parse(&[("STATS_TOKEN", "short secret")]).unwrap_err().to_string();
        assert!(!err.contains("short secret"), "{err}");
    }
}
