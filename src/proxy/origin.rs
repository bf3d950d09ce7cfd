//! `ORIGIN_URL`: the origin requests are forwarded to, checked so that nothing in it can be
//! confused with the request path, and no credentials reach a log.

use crate::config::parse::ConfigError;

/// Variable: `scheme://host[:port]` of the origin; unset forwards to the request's own URL.
pub const VAR_ORIGIN_URL: &str = "ORIGIN_URL";

/// The origin requests are forwarded to: `scheme://host[:port]`, no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    /// Parses `http(s)://host[:port]` with an optional trailing `/`; no path, query,
    /// fragment or credentials, so nothing in it can be confused with the request path.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        const EXPECTED: &str = "http:// or https:// followed by a host and optional port, with no path, query or credentials (e.g. https://origin.shop.example)";
        const NO_CREDENTIALS: &str = "a URL without credentials (credentials do not belong in ORIGIN_URL, where they would reach logs; restrict the origin by other means, such as Cloudflare Tunnel or authenticated origin pulls), e.g. https://origin.shop.example";
        let (shown, had_credentials) = without_credentials(value);
        if had_credentials {
            return Err(ConfigError::invalid(VAR_ORIGIN_URL, NO_CREDENTIALS, &shown));
        }
        let err = || ConfigError::invalid(VAR_ORIGIN_URL, EXPECTED, value);
        let trimmed = value.trim();
        let (scheme, rest) = trimmed.split_once("://").ok_or_else(err)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(err());
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if !is_valid_authority(authority) {
            return Err(err());
        }
        Ok(Origin(format!("{scheme}://{}", authority.to_ascii_lowercase())))
    }

    /// `scheme://host[:port]`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `value` with the `user:password@` of its authority (if any) replaced by `<credentials>`,
/// so it can be logged, and whether there was one.
pub(crate) fn without_credentials(value: &str) -> (String, bool) {
    let start = value.find("://").map_or(0, |i| i + 3);
    let end = value[start..].find(['/', '?', '#']).map_or(value.len(), |i| start + i);
    match value[start..end].rfind('@') {
        Some(at) => (format!("{}<credentials>{}", &value[..start], &value[start + at..]), true),
        None => (value.to_string(), false),
    }
}

/// `host[:port]` where host is a DNS name, IPv4 or bracketed IPv6 and port is 1..=65535.
fn is_valid_authority(authority: &str) -> bool {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else { return false };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => (v6, None),
            p => match p.strip_prefix(':') {
                Some(port) => (v6, Some(port)),
                None => return false,
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let host_ok = !host.is_empty()
        && (authority.starts_with('[')
            || host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0) && !p.starts_with('+'));
    host_ok && port_ok
}
