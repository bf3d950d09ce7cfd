//! Where a request is forwarded and which of its headers travel with it.

use crate::config::Origin;

/// Hop-by-hop headers (RFC 9110 §7.6.1) that describe one connection and are never forwarded.
/// `Upgrade` is kept: the runtime needs it to proxy WebSockets, and it forwards nothing else.
pub const HOP_BY_HOP_REQUEST_HEADERS: [&str; 6] =
    ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"];

/// The URL to fetch for `request_url`: with an origin, its scheme and authority plus the
/// request's path and query, byte for byte; without one, the request's own URL.
///
/// Only the path and query of the request are used, so nothing the client sends (Host,
/// absolute-form targets, `//host` or `@` in the path) can choose another host.
pub fn upstream_url(request_url: &str, origin: Option<&Origin>) -> String {
    match origin {
        None => request_url.to_string(),
        Some(origin) => {
            let pq = path_and_query(request_url);
            let slash = if pq.starts_with('/') { "" } else { "/" };
            format!("{}{slash}{pq}", origin.as_str())
        }
    }
}

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

/// The path of an absolute URL without its query (queries can carry PII; logs show paths).
pub fn path_only(url: &str) -> &str {
    let pq = path_and_query(url);
    let path = pq.split_once('?').map_or(pq, |(path, _)| path);
    if path.is_empty() { "/" } else { path }
}

/// The names of request headers to drop before forwarding: the hop-by-hop set, those the
/// `Connection` header nominates, and the tracking header (a client must not be able to
/// send it to the origin).
pub fn request_headers_to_drop<'a>(connection: Option<&'a str>, tracking_header: &'a str) -> Vec<&'a str> {
    let mut names: Vec<&str> = HOP_BY_HOP_REQUEST_HEADERS.to_vec();
    names.push(tracking_header);
    if let Some(value) = connection {
        names.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("upgrade") && !t.eq_ignore_ascii_case("close") && !t.eq_ignore_ascii_case("keep-alive")),
        );
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::parse("http://127.0.0.1:8080").unwrap()
    }

    #[test]
    fn keeps_path_and_query_byte_exact() {
        let o = origin();
        for (url, want) in [
            ("https://shop.example/p/1?a=%20b&c", "http://127.0.0.1:8080/p/1?a=%20b&c"),
            ("https://shop.example", "http://127.0.0.1:8080/"),
            ("https://shop.example?x=1", "http://127.0.0.1:8080/?x=1"),
            ("https://shop.example/a#frag", "http://127.0.0.1:8080/a"),
            ("https://shop.example/%2e%2e/%2E%2E/etc", "http://127.0.0.1:8080/%2e%2e/%2E%2E/etc"),
        ] {
            assert_eq!(upstream_url(url, Some(&o)), want);
        }
    }

    #[test]
    fn crafted_paths_cannot_change_the_host() {
        let o = origin();
        for url in [
            "https://shop.example//evil.example/x",
            "https://shop.example/@evil.example",
            "https://shop.example/\\evil.example",
            "https://user@shop.example/x",
            "https://shop.example/http://evil.example/",
        ] {
            let up = upstream_url(url, Some(&o));
            assert!(up.starts_with("http://127.0.0.1:8080/"), "{url} -> {up}");
        }
    }

    #[test]
    fn without_origin_forwards_to_own_url() {
        assert_eq!(upstream_url("https://shop.example/x?y", None), "https://shop.example/x?y");
    }

    #[test]
    fn path_only_drops_query() {
        assert_eq!(path_only("https://s.example/p/1?email=a@b"), "/p/1");
        assert_eq!(path_only("https://s.example?x"), "/");
        assert_eq!(path_only("https://s.example"), "/");
    }

    #[test]
    fn drops_hop_by_hop_and_nominated_headers_but_keeps_upgrade() {
        let names = request_headers_to_drop(Some("keep-alive, X-Secret-Hop, Upgrade"), "Worker-Tracking");
        assert!(names.contains(&"transfer-encoding"));
        assert!(names.contains(&"X-Secret-Hop"));
        assert!(names.contains(&"Worker-Tracking"));
        assert!(!names.iter().any(|n| n.eq_ignore_ascii_case("upgrade")));
    }
}
