//! With `ORIGIN_URL`, the origin sees its own host in `Host` and may build absolute URLs
//! from it. Sent back as they are, those URLs would take the visitor straight to the origin,
//! past the Worker: no tracking, and the origin exposed. So the response headers a reverse
//! proxy rewrites (nginx's `proxy_redirect default` is the model) are rewritten here:
//! `Location`, `Content-Location` and `Refresh` that point at the origin's
//! `scheme://host[:port]` point at the public origin the browser asked for instead, and a
//! `Set-Cookie` scoped to the origin's host (`Domain=`) loses that `Domain`, so the browser
//! keeps it for the public host.

/// Rewrites one origin's URLs to one public origin (both `scheme://host[:port]`).
#[derive(Debug, Clone, Copy)]
pub struct OriginRewrite<'a> {
    origin: &'a str,
    public: &'a str,
}

impl<'a> OriginRewrite<'a> {
    /// `origin`: `ORIGIN_URL` as parsed (lowercase, no trailing slash); `public`: the
    /// scheme and host of the URL the browser asked for.
    pub fn new(origin: &'a str, public: &'a str) -> Self {
        OriginRewrite { origin, public }
    }

    /// A `Location` or `Content-Location` value on the public origin, when it pointed at the
    /// origin; `None` when it stays as it is (relative, or another host).
    pub fn url(&self, value: &str) -> Option<String> {
        let value = value.trim();
        let (scheme, rest) = value.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let same = normalized(scheme, authority) == {
            let (o_scheme, o_authority) = self.origin.split_once("://")?;
            normalized(o_scheme, o_authority)
        };
        same.then(|| format!("{}{}", self.public, &rest[end..]))
    }

    /// A `Refresh` value (`5; url=https://...`) whose URL pointed at the origin, rewritten.
    pub fn refresh(&self, value: &str) -> Option<String> {
        let lower = value.to_ascii_lowercase();
        let at = lower.find("url=")? + "url=".len();
        let target = &value[at..];
        let quote = target.chars().next().filter(|c| *c == '\'' || *c == '"');
        let inner = match quote {
            Some(q) => target[1..].split(q).next().unwrap_or(""),
            None => target.trim_end(),
        };
        let rewritten = self.url(inner)?;
        let after = match quote {
            Some(_) => &target[1 + inner.len()..],
            None => &target[inner.len()..],
        };
        let open = quote.map(String::from).unwrap_or_default();
        Some(format!("{}{open}{rewritten}{after}", &value[..at]))
    }

    /// A `Set-Cookie` value without its `Domain` attribute when that names the origin's host;
    /// `None` when it stays as it is.
    pub fn set_cookie(&self, value: &str) -> Option<String> {
        let host = origin_host(self.origin);
        let mut removed = false;
        let kept: Vec<&str> = value
            .split(';')
            .enumerate()
            .filter(|(i, attribute)| {
                let Some((name, domain)) = attribute.split_once('=') else { return true };
                let drop = *i > 0
                    && name.trim().eq_ignore_ascii_case("domain")
                    && domain.trim().trim_start_matches('.').eq_ignore_ascii_case(host);
                removed |= drop;
                !drop
            })
            .map(|(_, attribute)| attribute)
            .collect();
        removed.then(|| kept.join(";"))
    }
}

/// `scheme://authority`, lowercase, without the scheme's default port.
fn normalized(scheme: &str, authority: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let authority = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    let authority = match authority.strip_suffix(default_port) {
        Some(host) if !default_port.is_empty() => host.to_string(),
        _ => authority,
    };
    format!("{scheme}://{authority}")
}

/// The host of `scheme://host[:port]`, without port or IPv6 brackets' port.
fn origin_host(origin: &str) -> &str {
    let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
    if authority.starts_with('[') {
        return authority.split_once(']').map_or(authority, |(h, _)| &h[1..]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: OriginRewrite<'static> = OriginRewrite { origin: "http://origin.internal:8080", public: "https://shop.example" };

    #[test]
    fn urls_on_the_origin_move_to_the_public_host() {
        assert_eq!(R.url("http://origin.internal:8080/login?next=/a#f").as_deref(), Some("https://shop.example/login?next=/a#f"));
        assert_eq!(R.url("HTTP://Origin.Internal:8080").as_deref(), Some("https://shop.example"));
        assert_eq!(R.url("http://origin.internal:8080?x").as_deref(), Some("https://shop.example?x"));
        for untouched in ["/login", "https://elsewhere.example/x", "http://origin.internal/x", "http://origin.internal:8080.evil.example/",
            "http://origin.internal:80801/", "https://origin.internal:8080/", "//origin.internal:8080/x"] {
            assert_eq!(R.url(untouched), None, "{untouched}");
        }
        let default_port = OriginRewrite::new("https://o.example", "https://shop.example");
        assert_eq!(default_port.url("https://o.example:443/a").as_deref(), Some("https://shop.example/a"));
        assert_eq!(default_port.url("https://o.example:8443/a"), None);
    }

    #[test]
    fn refresh_keeps_its_delay_and_quotes() {
        assert_eq!(R.refresh("5; url=http://origin.internal:8080/next").as_deref(), Some("5; url=https://shop.example/next"));
        assert_eq!(R.refresh("0;URL='http://origin.internal:8080/n' ").as_deref(), Some("0;URL='https://shop.example/n' "));
        assert_eq!(R.refresh("0; url=\"http://origin.internal:8080/\"").as_deref(), Some("0; url=\"https://shop.example/\""));
        assert_eq!(R.refresh("5; url=/relative"), None);
        assert_eq!(R.refresh("30"), None);
    }

    #[test]
    fn cookies_scoped_to_the_origin_lose_that_domain() {
        assert_eq!(R.set_cookie("sid=1; Path=/; Domain=origin.internal; HttpOnly").as_deref(), Some("sid=1; Path=/; HttpOnly"));
        assert_eq!(R.set_cookie("sid=1; domain=.ORIGIN.internal").as_deref(), Some("sid=1"));
        assert_eq!(R.set_cookie("sid=1; Domain=shop.example"), None);
        assert_eq!(R.set_cookie("domain=origin.internal; Path=/"), None, "the cookie's own name is not an attribute");
        assert_eq!(R.set_cookie("sid=1"), None);
        assert_eq!(origin_host("http://[::1]:9000"), "::1");
    }
}
