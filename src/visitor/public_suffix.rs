//! The registrable domain (eTLD+1) of a host by the Public Suffix List, as browsers find it
//! before they accept a cookie's `Domain`. The list (`public_suffix_list.dat`, vendored from
//! <https://publicsuffix.org/list/>; `scripts/update-public-suffix-list.sh` refreshes it) is
//! compiled by build.rs into three sorted texts ([`public_suffix_compile`]) that this module
//! searches by bisection: no table is built in the isolate, and the texts cost ~40 KB of
//! the gzipped Worker (the `psl` crate, which compiles the list into code, cost 230 KB).

#[cfg(test)]
#[path = "public_suffix_compile.rs"]
mod public_suffix_compile;

mod compiled {
    include!(concat!(env!("OUT_DIR"), "/public_suffix.rs"));
}

/// Whether `name` is a line of `list` (sorted lines joined by `\n`).
fn listed(list: &str, name: &str) -> bool {
    let bytes = list.as_bytes();
    let (mut low, mut high) = (0, bytes.len());
    while low < high {
        let mid = low + (high - low) / 2;
        // The line holding byte `mid`.
        let start = bytes[..mid].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let end = bytes[mid..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| mid + i);
        match list[start..end].cmp(name) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => low = end + 1,
            std::cmp::Ordering::Greater => high = start,
        }
    }
    false
}

/// The registrable domain of `host` (lower case, no port, no trailing dot): its public suffix
/// and one more label. `None` when the host is itself a public suffix (or has one label).
pub fn registrable_domain(host: &str) -> Option<&str> {
    let starts: Vec<usize> = std::iter::once(0).chain(host.match_indices('.').map(|(i, _)| i + 1)).collect();
    let labels = starts.len();
    // Labels in the public suffix: the list's default rule (`*`) makes it the last label.
    let mut suffix_labels = 1;
    for (i, &start) in starts.iter().enumerate() {
        let name = &host[start..];
        if listed(compiled::EXCEPTIONS, name) {
            suffix_labels = labels - i - 1;
            break;
        }
        let wildcard = starts.get(i + 1).is_some_and(|&next| listed(compiled::WILDCARDS, &host[next..]));
        if wildcard || listed(compiled::RULES, name) {
            suffix_labels = labels - i;
            break;
        }
    }
    (suffix_labels < labels).then(|| &host[starts[labels - suffix_labels - 1]..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_tests_as_browsers_apply_them() {
        // From the list's own test cases (publicsuffix.org/list/, checkPublicSuffix).
        for (host, domain) in [
            ("example.com", Some("example.com")),
            ("b.example.com", Some("example.com")),
            ("uk.com", None),
            ("example.uk.com", Some("example.uk.com")),
            ("a.b.example.uk.com", Some("example.uk.com")),
            ("test.ac", Some("test.ac")),
            ("c.kobe.jp", None),
            ("b.c.kobe.jp", Some("b.c.kobe.jp")),
            ("a.b.c.kobe.jp", Some("b.c.kobe.jp")),
            ("city.kobe.jp", Some("city.kobe.jp")),
            ("www.city.kobe.jp", Some("city.kobe.jp")),
            ("ck", None),
            ("test.ck", None),
            ("b.test.ck", Some("b.test.ck")),
            ("www.ck", Some("www.ck")),
            ("www.www.ck", Some("www.ck")),
            ("us", None),
            ("test.us", Some("test.us")),
            ("k12.ak.us", None),
            ("test.k12.ak.us", Some("test.k12.ak.us")),
            ("xn--85x722f.xn--55qx5d.cn", Some("xn--85x722f.xn--55qx5d.cn")),
            ("xn--55qx5d.cn", None),
            ("shishi.xn--fiqs8s", Some("shishi.xn--fiqs8s")),
            ("example", None),
            ("example.example", Some("example.example")),
        ] {
            assert_eq!(registrable_domain(host), domain, "{host}");
        }
    }

    #[test]
    fn search_finds_every_line_and_nothing_else() {
        let list = public_suffix_compile::compile(include_str!("public_suffix_list.dat"));
        for text in [&list.rules, &list.wildcards, &list.exceptions] {
            for line in text.lines() {
                assert!(listed(text, line), "{line}");
                assert!(!listed(text, &format!("{line}x")), "{line}x");
            }
        }
        assert_eq!(list.rules, compiled::RULES, "build.rs compiled the vendored list");
        assert!(list.rules.lines().count() > 8_000);
    }
}
