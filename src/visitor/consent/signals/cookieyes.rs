//! CookieYes's `cookieyes-consent` cookie: `consentid:…,consent:yes,action:yes,
//! necessary:yes,functional:no,analytics:yes,performance:no,advertisement:no,other:no`.
//! `action:no` means the visitor has not chosen yet: no signal.

use super::{colon_pairs, from_items, Answers, Read, Spelling, Unread};
use crate::proxy::percent;

/// The cookie's name.
pub const COOKIE: &str = "cookieyes-consent";

/// Reads the cookie's value. Each category's item is read on its own: in a cookie that is
/// odd elsewhere, a readable `advertisement:no` is still a denial (and nothing is granted),
/// unless `action:no` says the visitor has not chosen (its `no`s are the banner's defaults).
pub fn parse(value: &str) -> Read {
    let text = percent::decode(value, false);
    let (pairs, odd) = colon_pairs(&text);
    let flaw = odd.then_some("an item without ':'");
    let get = |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    const SPELLING: Spelling = Spelling { yes: "yes", no: "no", odd: "a category that is neither yes nor no" };
    let flag = |name: &str| SPELLING.read(get(name));
    let (marketing, statistics) = (flag("advertisement"), flag("analytics"));
    if marketing == Ok(None) && statistics == Ok(None) {
        return Err(Unread::new(flaw.unwrap_or("neither advertisement nor analytics")));
    }
    if get("action") == Some("no") {
        return flaw.map_or(Ok(Answers::default()), |f| Err(Unread::new(f)));
    }
    from_items(marketing, statistics, flaw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_values() {
        let accepted = "consentid:eWFGQ1BxUEhPdWlFY2hTTnRDUlBuZUhLSEdGNmJpSGo,consent:yes,action:yes,necessary:yes,functional:yes,analytics:yes,performance:yes,advertisement:yes,other:yes";
        assert_eq!(parse(accepted), Ok(Answers::both(true)));
        let mixed = "consentid:abc,consent:yes,action:yes,necessary:yes,functional:no,analytics:yes,performance:no,advertisement:no,other:no";
        assert_eq!(parse(mixed), Ok(Answers { marketing: Some(false), statistics: Some(true) }));
        let encoded = "consentid%3Aabc%2Cconsent%3Ano%2Caction%3Ayes%2Cnecessary%3Ayes%2Canalytics%3Ano%2Cadvertisement%3Ano";
        assert_eq!(parse(encoded), Ok(Answers::both(false)));
        let undecided = "consentid:abc,consent:no,action:no,necessary:yes,analytics:no,advertisement:no";
        assert_eq!(parse(undecided), Ok(Answers::default()));
    }

    #[test]
    fn unreadable_values() {
        for bad in ["", "yes", "consentid:abc,consent:yes", "advertisement:maybe", "advertisement"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_readable_denial_wins_in_an_odd_cookie() {
        let odd = parse("consentid:abc,consent:no,action:yes,junk,analytics:yes,advertisement:no").unwrap_err();
        assert_eq!(odd.denials, Answers { marketing: Some(false), statistics: None });
        let unreadable_ads = parse("consentid:abc,action:yes,analytics:no,advertisement:perhaps").unwrap_err();
        assert_eq!(unreadable_ads.denials, Answers { marketing: None, statistics: Some(false) });
        // Not chosen yet: the banner's default "no"s are no denial, odd cookie or not.
        assert_eq!(parse("consentid:abc,action:no,junk,advertisement:no").unwrap_err().denials, Answers::default());
    }
}
