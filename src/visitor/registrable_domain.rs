//! The domain a first-party cookie is set on: `COOKIE_DOMAIN` when the shop sets it, else
//! the registrable domain (eTLD+1) of the request's host, and none (a host-only cookie) for
//! an IP address or a one-label host such as `localhost`.
//!
//! The registrable domain is found without the Public Suffix List (compiled in, it would
//! nearly double the Worker's size): the last two labels, or the last three when the host
//! ends in a two-letter country code preceded by one of the generic second-level labels that
//! registries use (`co.uk`, `com.au`, `co.jp`, `com.br`, …). A shop under another multi-label
//! suffix sets `COOKIE_DOMAIN`; README says so.

/// Second-level labels under which country registries register names (`shop.co.uk`).
const GENERIC_SECOND_LEVEL: [&str; 24] = [
    "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "gv", "nic", "mil", "ltd", "plc", "sch",
    "me", "id", "asn", "gen", "biz", "info", "nom",
];

/// The cookie scope for a host: `domain` for the `Domain` attribute (`None`: host-only)
/// and Meta's subdomain index (the number of dots in the domain the cookie is set on; 0
/// for an IP address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieScope {
    /// `Domain=` value, or none.
    pub domain: Option<String>,
    /// Meta's `<subdomain index>`.
    pub subdomain_index: usize,
}

/// The scope for `host` (no port; lower case), with `configured` (`COOKIE_DOMAIN`) winning
/// when the host is it or one of its subdomains.
pub fn cookie_scope(host: &str, configured: Option<&str>) -> CookieScope {
    let host = host.trim_end_matches('.');
    if is_ip(host) {
        return CookieScope { domain: None, subdomain_index: 0 };
    }
    if let Some(domain) = configured {
        if host == domain || host.ends_with(&format!(".{domain}")) {
            return CookieScope { domain: Some(domain.to_string()), subdomain_index: domain.matches('.').count() };
        }
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return CookieScope { domain: None, subdomain_index: labels.len().saturating_sub(1) };
    }
    let n = labels.len();
    let take = if n >= 3 && labels[n - 1].len() == 2 && GENERIC_SECOND_LEVEL.contains(&labels[n - 2]) { 3 } else { 2 };
    let domain = labels[n - take..].join(".");
    CookieScope { subdomain_index: take - 1, domain: Some(domain) }
}

/// True for an IPv4 address or a bracketed IPv6 one.
fn is_ip(host: &str) -> bool {
    host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(host: &str) -> (Option<&'static str>, usize) {
        let s = cookie_scope(host, None);
        (s.domain.map(|d| &*Box::leak(d.into_boxed_str())), s.subdomain_index)
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(scope("www.spesati.it"), (Some("spesati.it"), 1));
        assert_eq!(scope("spesati.it"), (Some("spesati.it"), 1));
        assert_eq!(scope("a.b.shop.example.com"), (Some("example.com"), 1));
        assert_eq!(scope("www.shop.co.uk"), (Some("shop.co.uk"), 2));
        assert_eq!(scope("shop.com.au"), (Some("shop.com.au"), 2));
        assert_eq!(scope("shop.co"), (Some("shop.co"), 1));
        assert_eq!(scope("www.example.com."), (Some("example.com"), 1));
        assert_eq!(scope("localhost"), (None, 0));
        assert_eq!(scope("127.0.0.1"), (None, 0));
        assert_eq!(scope("[::1]"), (None, 0));
        assert_eq!(scope("co.uk"), (Some("co.uk"), 1), "two labels: the browser decides");
    }

    #[test]
    fn cookie_domain_wins_for_its_hosts() {
        let s = cookie_scope("www.shop.example.it", Some("shop.example.it"));
        assert_eq!((s.domain.as_deref(), s.subdomain_index), (Some("shop.example.it"), 2));
        let s = cookie_scope("other.example", Some("shop.example.it"));
        assert_eq!(s.domain.as_deref(), Some("other.example"), "not its host: the computed domain");
    }
}
