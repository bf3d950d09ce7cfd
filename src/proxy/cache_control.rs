//! A response that sets a visitor's own cookie (`_fbp`, `_fbc`, `_ga`, `ttclid`, or their
//! expiry) must never be kept by a shared cache after the Worker: replayed to the next
//! visitor, it would hand them the first visitor's ids (and ad click). Such a response is made
//! `private`: `public` and `s-maxage` are dropped (a browser's own cache may still keep it, by
//! its `max-age`), `no-store` and every other directive kept, and the headers that speak only
//! to shared caches and CDNs are removed.

/// Directives that let a shared cache keep a response.
const SHARED_DIRECTIVES: [&str; 3] = ["public", "s-maxage", "proxy-revalidate"];
/// The directive that keeps it out of shared caches.
const PRIVATE: &str = "private";
/// Headers read only by shared caches and CDNs, removed from such a response.
pub const SHARED_CACHE_HEADERS: [&str; 3] = ["cdn-cache-control", "cloudflare-cdn-cache-control", "surrogate-control"];

/// The `Cache-Control` for a response that sets a visitor's cookie, from the origin's
/// (`None`: it sent none).
pub fn private_cache_control(origin: Option<&str>) -> String {
    let mut out = vec![PRIVATE.to_string()];
    for directive in origin.unwrap_or("").split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let name = directive.split('=').next().unwrap_or("").trim().to_ascii_lowercase();
        if name == PRIVATE || SHARED_DIRECTIVES.contains(&name.as_str()) {
            continue;
        }
        out.push(directive.to_string());
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_caching_is_removed_and_the_rest_kept() {
        assert_eq!(private_cache_control(None), "private");
        assert_eq!(private_cache_control(Some("public, max-age=300, s-maxage=3600")), "private, max-age=300");
        assert_eq!(private_cache_control(Some("no-store")), "private, no-store");
        assert_eq!(private_cache_control(Some("Public,S-MaxAge=60 , must-revalidate")), "private, must-revalidate");
        assert_eq!(private_cache_control(Some("private, no-cache")), "private, no-cache");
        assert_eq!(private_cache_control(Some(" , ")), "private");
    }
}
