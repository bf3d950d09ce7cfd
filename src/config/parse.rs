//! The leaf every part's settings are read with: how a variable's value arrives
//! ([`VarValue`]), the one error type ([`ConfigError`], naming the variable and what to do),
//! the lookup each part's `parse` takes ([`Get`]), and the parsers several parts share.
//! Secrets are compared here too ([`same`]).
//!
//! May use: nothing of tagrelay's. Used by every part.

use sha2::{Digest, Sha256};
use std::fmt;

/// Variable: requests whose Cloudflare bot score is below this are bots (0 disables). Events
/// and page views share it.
pub const VAR_BOT_SCORE_THRESHOLD: &str = "BOT_SCORE_THRESHOLD";
/// Default bot score threshold: Cloudflare calls scores below 30 "likely automated".
pub const DEFAULT_BOT_SCORE_THRESHOLD: u8 = 30;

/// The largest integer a JavaScript number holds exactly (2^53 - 1): wrangler hands an
/// unquoted TOML number to the Worker as a JS number, so a longer one has lost digits.
const MAX_EXACT_NUMBER: f64 = 9_007_199_254_740_991.0;

/// A variable's value as the runtime hands it over. Wrangler passes a `[vars]` string as a
/// string, but a TOML boolean or number as that JSON value (`DRY_RUN = true`,
/// `BATCH_WINDOW_MS = 0`), and a TOML table or array as an object or array.
#[derive(Debug, Clone, PartialEq)]
pub enum VarValue {
    /// A string: a secret, or a quoted `[vars]` value.
    Text(String),
    /// An unquoted `true` / `false`.
    Bool(bool),
    /// An unquoted number.
    Number(f64),
    /// Anything else; the text names its kind ("an array", "an object").
    Unsupported(&'static str),
}

impl VarValue {
    /// The value as text: a boolean as `true`/`false`, a number as its decimal digits.
    /// Arrays, objects, and numbers too long to be exact are refused, naming `var`.
    pub(crate) fn into_text(self, var: &'static str) -> Result<String, ConfigError> {
        match self {
            VarValue::Text(text) => Ok(text),
            VarValue::Bool(b) => Ok(b.to_string()),
            // Integral and exact: written without a fraction (`0`, `1234567890`).
            VarValue::Number(n) if n.fract() == 0.0 && n.abs() <= MAX_EXACT_NUMBER => Ok(format!("{}", n as i64)),
            VarValue::Number(n) if n.is_finite() && n.fract() != 0.0 => Ok(n.to_string()),
            VarValue::Number(_) => Err(ConfigError::WrongType { var, got: "a number too long for JavaScript to hold exactly" }),
            VarValue::Unsupported(kind) => Err(ConfigError::WrongType { var, got: kind }),
        }
    }
}

/// A configuration problem, naming the variable and what to do about it.
/// Messages never contain the access token, nor credentials written into a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A variable has a value of the wrong form.
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// What the value must look like.
        expected: &'static str,
        /// The value received, or a placeholder when it must not be shown.
        got: String,
    },
    /// A variable that a setting turned on needs is not set.
    Missing {
        /// The variable's name.
        var: &'static str,
        /// The setting that needs it, as written (`USER_DATA_COOKIE=on`).
        needed_by: &'static str,
        /// What the value must look like.
        expected: &'static str,
    },
    /// A variable is neither a string, a boolean nor a number (a TOML array or table).
    WrongType {
        /// The variable's name.
        var: &'static str,
        /// What it is instead.
        got: &'static str,
    },
}

impl ConfigError {
    pub(crate) fn invalid(var: &'static str, expected: &'static str, got: &str) -> Self {
        ConfigError::Invalid { var, expected, got: got.to_string() }
    }

    /// The variable this error is about.
    #[cfg(test)]
    pub fn var(&self) -> &'static str {
        match self {
            ConfigError::Invalid { var, .. } | ConfigError::Missing { var, .. } | ConfigError::WrongType { var, .. } => var,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid { var, expected, got } => write!(
                f,
                "{var} is invalid ({got:?}): it must be {expected}; fix it in wrangler.toml [vars] or with `wrangler secret put {var}`"
            ),
            ConfigError::Missing { var, needed_by, expected } => write!(
                f,
                "{var} is not set, and {needed_by} needs it: it must be {expected}; set it with `wrangler secret put {var}`, or turn the setting off"
            ),
            ConfigError::WrongType { var, got } => write!(
                f,
                "{var} is {got}: it must be a string, true/false or a whole number; write it in quotes in wrangler.toml [vars] (`{var} = \"...\"`)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Looks a variable up as trimmed text; `None` when unset or empty.
pub type Get<'a> = &'a dyn Fn(&'static str) -> Result<Option<String>, ConfigError>;

/// A platform's API base URL from `var` (`default` when unset): http(s), with no query,
/// fragment, credentials or spaces; without its trailing `/`. `expected` says what it must be.
pub fn parse_api_base(get: Get<'_>, var: &'static str, default: &str, expected: &'static str) -> Result<String, ConfigError> {
    let base = get(var)?.unwrap_or_else(|| default.to_string());
    let ok = (base.starts_with("https://") || base.starts_with("http://")) && !base.contains(['?', '#', '@', ' ']);
    if !ok {
        return Err(ConfigError::invalid(var, expected, &base));
    }
    Ok(base.trim_end_matches('/').to_string())
}

/// A secret from `var` that must be sent exactly as given: printable ASCII, no spaces. Its
/// value is never shown in the error.
pub fn parse_secret(get: Get<'_>, var: &'static str, expected: &'static str) -> Result<Option<String>, ConfigError> {
    match get(var)? {
        Some(t) if !t.bytes().all(|b| b.is_ascii_graphic()) => Err(ConfigError::invalid(var, expected, "<hidden>")),
        other => Ok(other),
    }
}

/// An on/off variable: `default` when unset, else [`parse_bool`]'s answer; any other value is
/// an error saying it must be `expected` (`"on or off"`, `"true or false"`).
pub fn parse_flag(get: Get<'_>, var: &'static str, default: bool, expected: &'static str) -> Result<bool, ConfigError> {
    match get(var)? {
        None => Ok(default),
        Some(v) => parse_bool(&v).ok_or_else(|| ConfigError::invalid(var, expected, &v)),
    }
}

/// `BOT_SCORE_THRESHOLD`: events and page views share it.
pub fn parse_bot_score_threshold(get: Get<'_>) -> Result<u8, ConfigError> {
    match get(VAR_BOT_SCORE_THRESHOLD)? {
        None => Ok(DEFAULT_BOT_SCORE_THRESHOLD),
        Some(v) => v
            .parse::<u8>()
            .ok()
            .filter(|n| *n <= 99)
            .ok_or_else(|| ConfigError::invalid(VAR_BOT_SCORE_THRESHOLD, "a whole number from 0 (off) to 99", &v)),
    }
}

/// `true`/`false` and their usual spellings (`1`, `yes`, `on`, ...); `None` otherwise.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// An RFC 9110 token, as header names are.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether two secrets are equal, in constant time: compares the SHA-256 digests of both,
/// every byte, so the time depends neither on where, or whether, they differ, nor on their
/// lengths. Shared by the stats token and the debug token.
pub fn same(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    da.iter().zip(db.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
