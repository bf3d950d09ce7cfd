//! Where a visit came from: `utm_source` when the landing URL has one, else the referring
//! site's host when it is another site (`www.` dropped), else nothing (direct, or a page of
//! the shop itself). `utm_medium` and `utm_campaign` are read with it. Values are
//! percent-decoded, trimmed, lowercased and cut to [`MAX_LEN`] bytes.

use crate::proxy::percent;

/// Longest source, medium or campaign kept.
pub const MAX_LEN: usize = 100;

/// The acquisition facts of one page view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acquisition {
    /// `utm_source`, else the referring host; `None` for direct visits and internal links.
    pub source: Option<String>,
    /// `utm_medium`.
    pub medium: Option<String>,
    /// `utm_campaign`.
    pub campaign: Option<String>,
}

/// The acquisition of a page view of `url` with `referer`.
pub fn acquisition(url: &str, referer: Option<&str>) -> Acquisition {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = &query[..query.find('#').unwrap_or(query.len())];
    let param = |name: &str| {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (percent::decode(k, true).eq_ignore_ascii_case(name)).then(|| clean(&percent::decode(v, true))).flatten()
        })
    };
    let source = param("utm_source").or_else(|| {
        let referrer = host_of(referer?)?;
        let own = host_of(url).unwrap_or_default();
        (bare(&referrer) != bare(&own)).then(|| bare(&referrer).to_string())
    });
    Acquisition { source, medium: param("utm_medium"), campaign: param("utm_campaign") }
}

/// Trimmed, lowercased, at most [`MAX_LEN`] bytes; `None` when empty.
fn clean(value: &str) -> Option<String> {
    let v = value.trim().to_lowercase();
    (!v.is_empty()).then(|| super::values::clip(&v, MAX_LEN).to_string())
}

/// The lowercased host of an http(s) URL, without port.
fn host_of(url: &str) -> Option<String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return None;
    }
    let host = crate::proxy::upstream::host_of(url);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `host` without a leading `www.`.
fn bare(host: &str) -> &str {
    host.strip_prefix("www.").unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(url: &str, referer: Option<&str>) -> Option<String> {
        acquisition(url, referer).source
    }

    #[test]
    fn utm_wins_then_external_referrer_then_nothing() {
        let a = acquisition("https://www.spesati.it/p?utm_source=Newsletter&utm_medium=email&utm_campaign=Natale%202026", Some("https://mail.example/"));
        assert_eq!(a, Acquisition { source: Some("newsletter".into()), medium: Some("email".into()), campaign: Some("natale 2026".into()) });
        assert_eq!(src("https://www.spesati.it/p", Some("https://www.google.com/search?q=x")), Some("google.com".into()));
        assert_eq!(src("https://www.spesati.it/p", Some("https://spesati.it/cart")), None, "an internal link");
        assert_eq!(src("https://www.spesati.it/p", Some("https://WWW.Spesati.IT:443/")), None);
        assert_eq!(src("https://www.spesati.it/p", None), None);
        assert_eq!(src("https://www.spesati.it/p", Some("android-app://com.google.android.gm/")), None);
        assert_eq!(src("https://www.spesati.it/p?utm_source=%20", Some("https://l.facebook.com/")), Some("l.facebook.com".into()));
        assert_eq!(src("https://www.spesati.it/p?utm_source=x#utm_source=y", None), Some("x".into()));
        let long = format!("https://s.example/?utm_source={}", "a".repeat(300));
        assert_eq!(src(&long, None).unwrap().len(), MAX_LEN);
    }
}
