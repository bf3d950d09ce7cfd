//! The domain a first-party cookie is set on: `COOKIE_DOMAIN` when the shop sets it, else
//! the registrable domain (eTLD+1) of the request's host by the Public Suffix List
//! ([`super::public_suffix`]: `shop.example.co.uk`, `shop.qc.ca` and `myshop.pages.dev` each
//! get their own), and none (a host-only cookie) for an IP address, a
//! one-label host such as `localhost`, or a host that is itself a public suffix.

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
    let host_only = CookieScope { domain: None, subdomain_index: host.matches('.').count() };
    if !host.contains('.') || host.split('.').any(str::is_empty) {
        return host_only;
    }
    match super::public_suffix::registrable_domain(host) {
        Some(domain) => CookieScope { subdomain_index: domain.matches('.').count(), domain: Some(domain.to_string()) },
        None => host_only,
    }
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
        assert_eq!(scope("co.uk"), (None, 1), "a public suffix has no registrable domain: host-only");
        assert_eq!(scope("pages.dev"), (None, 1));
        // Suffixes a two-label guess got wrong.
        assert_eq!(scope("www.shop.qc.ca"), (Some("shop.qc.ca"), 2));
        assert_eq!(scope("myshop.pages.dev"), (Some("myshop.pages.dev"), 2));
        assert_eq!(scope("preview.myshop.pages.dev"), (Some("myshop.pages.dev"), 2));
        assert_eq!(scope("shop.example.co.uk"), (Some("example.co.uk"), 2));
        assert_eq!(scope("www.shop.kyoto.jp"), (Some("shop.kyoto.jp"), 2));
        assert_eq!(scope("a.b"), (Some("a.b"), 1), "an unlisted top-level label is a suffix, as browsers read it");
    }

    #[test]
    fn cookie_domain_wins_for_its_hosts() {
        let s = cookie_scope("www.shop.example.it", Some("shop.example.it"));
        assert_eq!((s.domain.as_deref(), s.subdomain_index), (Some("shop.example.it"), 2));
        let s = cookie_scope("other.example", Some("shop.example.it"));
        assert_eq!(s.domain.as_deref(), Some("other.example"), "not its host: the computed domain");
    }
}
