//! `PAGE_EVENTS`: which pages describe their own event, and where in the page it is read.
//! A list of `path-pattern=Event:source` rules, separated by commas or line breaks, e.g.
//! `/products/*=ViewContent:jsonld-product, /checkout/thank-you*=Purchase:datalayer-purchase`.
//! `*` in a pattern matches any run of characters (`/` included); the rules are checked in
//! order and the first that matches a path wins (the JS entry matches with
//! [`PageRule::path_regex`]).

use crate::config::parse::{ConfigError, Get};

/// Variable: the page rules (none by default: no page is read).
pub const VAR_PAGE_EVENTS: &str = "PAGE_EVENTS";
/// Most rules: each is checked against every untracked HTML page's path.
pub const MAX_RULES: usize = 32;
/// What a rule looks like, for the error that refuses one.
const EXPECTED: &str = "a list of path-pattern=Event:source rules separated by commas, such as \
/products/*=ViewContent:jsonld-product, with source jsonld-product, jsonld-order or datalayer-purchase (at most 32 rules)";

/// Where a rule reads its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSource {
    /// The first schema.org `Product` (or `ProductGroup` with a variant) in the page's JSON-LD.
    JsonLdProduct,
    /// The first schema.org `Order` in the page's JSON-LD.
    JsonLdOrder,
    /// The first strict-JSON `dataLayer.push({"event":"purchase","ecommerce":{…}})` in an
    /// inline script.
    DataLayerPurchase,
}

impl PageSource {
    /// The name a rule gives it.
    pub fn code(self) -> &'static str {
        match self {
            PageSource::JsonLdProduct => "jsonld-product",
            PageSource::JsonLdOrder => "jsonld-order",
            PageSource::DataLayerPurchase => "datalayer-purchase",
        }
    }

    fn parse(name: &str) -> Option<PageSource> {
        [PageSource::JsonLdProduct, PageSource::JsonLdOrder, PageSource::DataLayerPurchase].into_iter().find(|s| s.code() == name)
    }

    /// Whether it reads `<script type="application/ld+json">` (else inline scripts).
    pub fn reads_json_ld(self) -> bool {
        !matches!(self, PageSource::DataLayerPurchase)
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRule {
    /// The path pattern, `*` a wildcard.
    pub pattern: String,
    /// The event it declares (`ViewContent`, `Purchase`, ...).
    pub event_name: String,
    /// Where its data is read.
    pub source: PageSource,
}

/// The rules, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRules(pub Vec<PageRule>);

impl PageRules {
    /// Reads `PAGE_EVENTS`; unset or empty: no rule.
    pub fn parse(get: Get<'_>) -> Result<PageRules, ConfigError> {
        let Some(text) = get(VAR_PAGE_EVENTS)? else { return Ok(PageRules::default()) };
        let invalid = || ConfigError::invalid(VAR_PAGE_EVENTS, EXPECTED, &text);
        let mut rules = Vec::new();
        for part in text.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
            let (pattern, action) = part.rsplit_once('=').ok_or_else(invalid)?;
            let (event_name, source) = action.split_once(':').ok_or_else(invalid)?;
            let (pattern, event_name) = (pattern.trim(), event_name.trim());
            let source = PageSource::parse(source.trim()).ok_or_else(invalid)?;
            let name_ok = !event_name.is_empty() && event_name.len() <= 40 && event_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !pattern.starts_with('/') || !name_ok {
                return Err(invalid());
            }
            rules.push(PageRule { pattern: pattern.to_string(), event_name: event_name.to_string(), source });
        }
        if rules.len() > MAX_RULES {
            return Err(invalid());
        }
        Ok(PageRules(rules))
    }
}

impl PageRule {
    /// The pattern as the JS entry matches a path with it: a regular expression's source,
    /// anchored at both ends, every character a regular expression gives a meaning escaped,
    /// and each `*` as `.*` (a path holds no line break).
    pub fn path_regex(&self) -> String {
        let mut out = String::with_capacity(self.pattern.len() + 8);
        out.push('^');
        for c in self.pattern.chars() {
            match c {
                '*' => out.push_str(".*"),
                c if REGEX_SYNTAX.contains(c) => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        out.push('$');
        out
    }
}

/// The characters a regular expression gives a meaning (escaped in [`PageRule::path_regex`]).
const REGEX_SYNTAX: &str = "\\^$.|?+()[]{}/-";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PageRules, ConfigError> {
        let text = text.to_string();
        PageRules::parse(&move |name| Ok((name == VAR_PAGE_EVENTS).then(|| text.clone())))
    }

    /// The index of the first rule whose path regex matches `path`, run by a regular
    /// expression engine as the JS entry runs it.
    fn matching(rules: &PageRules, path: &str) -> Option<usize> {
        use regex_automata::dfa::regex::Regex;
        rules.0.iter().position(|r| Regex::new(&r.path_regex()).unwrap().is_match(path))
    }

    fn rule(pattern: &str) -> PageRules {
        PageRules(vec![PageRule { pattern: pattern.into(), event_name: "ViewContent".into(), source: PageSource::JsonLdProduct }])
    }

    #[test]
    fn rules_parse_in_order_and_the_first_match_wins() {
        let rules = parse("/products/*=ViewContent:jsonld-product, /checkout/thank-you*=Purchase:datalayer-purchase\n/*=PageView:jsonld-product").unwrap();
        assert_eq!(rules.0.len(), 3);
        assert_eq!(rules.0[1], PageRule { pattern: "/checkout/thank-you*".into(), event_name: "Purchase".into(), source: PageSource::DataLayerPurchase });
        assert_eq!(matching(&rules, "/products/pecorino"), Some(0));
        assert_eq!(matching(&rules, "/checkout/thank-you/42"), Some(1));
        assert_eq!(matching(&rules, "/about"), Some(2));
        assert_eq!(parse("").unwrap(), PageRules::default());
        assert_eq!(matching(&parse("/p/*=ViewContent:jsonld-product").unwrap(), "/other"), None);
    }

    #[test]
    fn a_bad_rule_is_refused_with_what_a_rule_looks_like() {
        for bad in ["products/*=ViewContent:jsonld-product", "/p=ViewContent", "/p=ViewContent:microdata", "/p=:jsonld-product", "/p=View Content:jsonld-product"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(VAR_PAGE_EVENTS) && err.contains("jsonld-product"), "{bad}: {err}");
        }
        let many = vec!["/a=X:jsonld-product"; MAX_RULES + 1].join(",");
        assert!(parse(&many).is_err());
    }

    #[test]
    fn wildcards_and_every_other_character_as_itself() {
        for (p, t, want) in [
            ("/products/*", "/products/a/b", true),
            ("/products/*", "/products/", true),
            ("/products/*", "/product", false),
            ("/checkout/thank-you*", "/checkout/thank-you", true),
            ("/*/p/*", "/it/p/x", true),
            ("/*/p/*", "/it/q/x", false),
            ("/exact", "/exact", true),
            ("/exact", "/exact/", false),
            ("*", "/anything", true),
            ("/a*b*c", "/aXbYbZc", true),
            ("/a*b*c", "/aXbYbZ", false),
            ("/p.html", "/p.html", true),
            ("/p.html", "/pXhtml", false),
            ("/a+b(1)[x]{2}|c?$^\\", "/a+b(1)[x]{2}|c?$^\\", true),
            ("/a+b", "/aab", false),
        ] {
            assert_eq!(matching(&rule(p), t), want.then_some(0), "{p} {t}");
        }
        assert_eq!(rule("/products/*.html").0[0].path_regex(), r"^\/products\/.*\.html$");
    }
}
