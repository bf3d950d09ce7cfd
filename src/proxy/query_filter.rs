//! Query parameters removed from the URLs sent to ad platforms (`STRIP_QUERY_PARAMS`).
//!
//! Shops put personal data in URLs more often than they think (`?email=` from a newsletter
//! link, `?token=` from a password reset), and Meta flags events whose URLs carry it. Before
//! `event_source_url` and `referrer_url` leave the edge, the parameters named here are taken
//! out; click ids (`fbclid`, `gclid`, `ttclid`) and `utm_*` stay, since they are what
//! attribution needs.

use crate::config::parse::ConfigError;

/// Variable: query parameters removed from URLs before they go to a platform; see
/// [`crate::proxy::query_filter`].
pub const VAR_STRIP_QUERY_PARAMS: &str = "STRIP_QUERY_PARAMS";
use std::borrow::Cow;

/// The parameters removed when `STRIP_QUERY_PARAMS` is unset.
pub const DEFAULT_STRIP_QUERY_PARAMS: [&str; 8] = ["email", "e", "mail", "phone", "tel", "name", "token", "password"];
/// `STRIP_QUERY_PARAMS` value that removes nothing.
pub const STRIP_NOTHING: &str = "none";

/// The parameter names to remove, lowercase; matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFilter {
    names: Vec<String>,
}

impl Default for QueryFilter {
    fn default() -> Self {
        QueryFilter { names: DEFAULT_STRIP_QUERY_PARAMS.iter().map(|n| n.to_string()).collect() }
    }
}

impl QueryFilter {
    /// Parses `STRIP_QUERY_PARAMS`: a comma list of names, or `none`; unset is the default list.
    pub fn parse(value: Option<&str>) -> Result<QueryFilter, ConfigError> {
        let Some(value) = value else { return Ok(QueryFilter::default()) };
        if value.trim().eq_ignore_ascii_case(STRIP_NOTHING) {
            return Ok(QueryFilter { names: Vec::new() });
        }
        let names: Vec<String> = value.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect();
        let valid = |n: &String| n.bytes().all(|b| b.is_ascii_graphic() && !b"&=#?%+".contains(&b));
        if names.is_empty() || !names.iter().all(valid) {
            return Err(ConfigError::Invalid {
                var: VAR_STRIP_QUERY_PARAMS,
                expected: "a comma-separated list of query parameter names (e.g. email,phone,token), or none",
                got: value.to_string(),
            });
        }
        Ok(QueryFilter { names })
    }

    /// `url` without the listed parameters (the rest, fragment included, byte for byte).
    pub fn apply<'a>(&self, url: &'a str) -> Cow<'a, str> {
        let Some(q) = url.find('?') else { return Cow::Borrowed(url) };
        let (base, rest) = (&url[..q], &url[q + 1..]);
        let (query, fragment) = rest.split_once('#').map_or((rest, None), |(q, f)| (q, Some(f)));
        if !query.split('&').any(|pair| self.strips(pair)) {
            return Cow::Borrowed(url);
        }
        let kept: Vec<&str> = query.split('&').filter(|pair| !self.strips(pair)).collect();
        let mut out = String::with_capacity(url.len());
        out.push_str(base);
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        Cow::Owned(out)
    }

    fn strips(&self, pair: &str) -> bool {
        if self.names.is_empty() || pair.is_empty() {
            return false;
        }
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        let key = percent_decode_lowercase(key);
        self.names.contains(&key)
    }
}

/// `key` percent-decoded (`%65mail` is `email`, as a server reads it) and lowercased; `+` is a space.
fn percent_decode_lowercase(key: &str) -> String {
    crate::proxy::percent::decode(key, true).to_lowercase()
}

/// `url` without its query and fragment: what a log may show of it.
pub fn without_query(url: &str) -> &str {
    url.find(['?', '#']).map_or(url, |i| &url[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_removes_personal_parameters_and_keeps_click_ids() {
        let f = QueryFilter::default();
        assert_eq!(
            f.apply("https://s.example/p?utm_source=nl&Email=alice%40example.com&fbclid=Iw_1&E=x&gclid=g&ttclid=t#top"),
            "https://s.example/p?utm_source=nl&fbclid=Iw_1&gclid=g&ttclid=t#top"
        );
        assert_eq!(f.apply("https://s.example/reset?token=abc"), "https://s.example/reset");
        assert_eq!(f.apply("https://s.example/?%65mail=a%40b&x=1"), "https://s.example/?x=1", "a percent-encoded name is the same name");
        assert_eq!(f.apply("https://s.example/?name"), "https://s.example/", "a name without a value");
        assert!(matches!(f.apply("https://s.example/p?q=cheese&emails=1"), Cow::Borrowed(_)), "nothing to strip: no copy");
        assert!(matches!(f.apply("https://s.example/p"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_list_is_configurable() {
        let f = QueryFilter::parse(Some(" Customer , ref ")).unwrap();
        assert_eq!(f.apply("https://s.example/?customer=1&email=a&REF=2"), "https://s.example/?email=a");
        let none = QueryFilter::parse(Some("None")).unwrap();
        assert_eq!(none.apply("https://s.example/?email=a"), "https://s.example/?email=a");
        assert_eq!(QueryFilter::parse(None).unwrap(), QueryFilter::default());
        for bad in [",", "a=b", "a&b", "has space"] {
            let err = QueryFilter::parse(Some(bad)).unwrap_err().to_string();
            assert!(err.starts_with("STRIP_QUERY_PARAMS is invalid"), "{err}");
        }
    }

    #[test]
    fn percent_decoding_of_names() {
        assert_eq!(percent_decode_lowercase("%45MAIL"), "email");
        assert_eq!(percent_decode_lowercase("a%2"), "a%2");
        assert_eq!(percent_decode_lowercase("%zz"), "%zz");
        assert_eq!(percent_decode_lowercase("a+b"), "a b");
        assert_eq!(without_query("https://s.example/p?email=a#f"), "https://s.example/p");
        assert_eq!(without_query("https://s.example/p#f"), "https://s.example/p");
    }
}
