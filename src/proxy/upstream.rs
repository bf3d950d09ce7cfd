//! URL pieces and header rules of forwarding. The hot path that applies them runs in the JS
//! entry (`src/edge/entry.js`); the lists live here, and reach it through `configure`.

/// Hop-by-hop headers (RFC 9110 §7.6.1) that describe one connection and are never forwarded,
/// besides any the `Connection` header names. `Upgrade` is kept: the runtime needs it to proxy
/// WebSockets.
pub const HOP_BY_HOP_REQUEST_HEADERS: [&str; 6] =
    ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"];

/// `Connection` tokens that name the connection's own options, not headers to drop.
pub const CONNECTION_OPTIONS: [&str; 3] = ["close", "keep-alive", "upgrade"];

/// Request headers a `Connection` token never removes: none of them is hop-by-hop, the origin
/// needs them to know the visitor and the request, and a client naming them in `Connection`
/// (`Connection: cookie, authorization`) is not asking for a hop's semantics.
pub const PROTECTED_REQUEST_HEADERS: [&str; 10] = [
    "authorization",
    "content-encoding",
    "content-length",
    "content-type",
    "cookie",
    "forwarded",
    "host",
    "true-client-ip",
    "user-agent",
    "x-real-ip",
];

/// Prefixes of request headers a `Connection` token never removes: those Cloudflare sets
/// (`CF-Connecting-IP`, ...) and those tagrelay sets (`X-Forwarded-Host`, `-Proto`).
pub const PROTECTED_REQUEST_PREFIXES: [&str; 2] = ["cf-", "x-forwarded-"];

/// The path and query of an absolute URL, fragment dropped: `/` when it has neither, and
/// starting with `?` when it has a query but an empty path.
pub fn path_and_query(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let without_fragment = after_scheme.split_once('#').map_or(after_scheme, |(before, _)| before);
    match without_fragment.find(['/', '?']) {
        // `https://host?q` has an empty path: the slice starts with `?`.
        Some(i) => &without_fragment[i..],
        None => "/",
    }
}

/// The host of an absolute URL, without userinfo or port (an IPv6 host keeps its brackets);
/// empty when there is none.
pub fn host_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    match authority.find(']') {
        Some(end) if authority.starts_with('[') => &authority[..=end],
        _ => authority.split(':').next().unwrap_or(""),
    }
}

/// The path of an absolute URL without its query (queries can carry PII; logs show paths).
pub fn path_only(url: &str) -> &str {
    let pq = path_and_query(url);
    let path = pq.split_once('?').map_or(pq, |(path, _)| path);
    if path.is_empty() { "/" } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_drops_userinfo_and_port() {
        assert_eq!(host_of("https://Shop.example:8443/p?q#f"), "Shop.example");
        assert_eq!(host_of("http://user:pw@shop.example/"), "shop.example");
        assert_eq!(host_of("http://[::1]:8787/"), "[::1]");
        assert_eq!(host_of("https://shop.example?x=1"), "shop.example");
        assert_eq!(host_of("https:///p"), "");
    }

    #[test]
    fn path_only_drops_query() {
        assert_eq!(path_only("https://s.example/p/1?email=a@b"), "/p/1");
        assert_eq!(path_only("https://s.example?x"), "/");
        assert_eq!(path_only("https://s.example"), "/");
    }

    #[test]
    fn path_and_query_keeps_bytes() {
        assert_eq!(path_and_query("https://s.example/a%20b?x=%2F&y"), "/a%20b?x=%2F&y");
        assert_eq!(path_and_query("https://s.example//evil.example/x"), "//evil.example/x");
        assert_eq!(path_and_query("https://s.example?q"), "?q");
        let lowercase = |h: &&str| h.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        assert!(HOP_BY_HOP_REQUEST_HEADERS.iter().all(lowercase));
        assert!(CONNECTION_OPTIONS.iter().chain(&PROTECTED_REQUEST_HEADERS).chain(&PROTECTED_REQUEST_PREFIXES).all(lowercase));
    }
}
