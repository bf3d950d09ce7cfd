//! OneTrust's `OptanonConsent` cookie: a URL-encoded query string whose `groups` lists
//! `<group id>:<0|1>` (`C0004` is targeting/marketing and `C0002` performance/statistics in
//! OneTrust's default categories; `CONSENT_ONETRUST_MARKETING` / `_STATISTICS` change them).

use super::{from_items, Item, Read, Spelling};
use crate::proxy::percent;
use std::borrow::Cow;

/// The cookie's name.
pub const COOKIE: &str = "OptanonConsent";

/// The OneTrust group ids of each purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTrustGroups {
    /// Marketing's group (default `C0004`).
    pub marketing: String,
    /// Statistics' group (default `C0002`).
    pub statistics: String,
}

impl Default for OneTrustGroups {
    fn default() -> Self {
        OneTrustGroups { marketing: "C0004".into(), statistics: "C0002".into() }
    }
}

/// Reads the cookie's value. It is a query string whose `landingPath` holds a URL-encoded
/// URL, query included, before `groups`: the raw value is split on `&` first and only the
/// top-level `groups` item's value is decoded (once), so a `groups=` in the landing URL is
/// never read. A value with no raw `=` was URL-encoded once more whole (some CMS plugins
/// store it so): it is decoded once, then read the same way. The item of each purpose's
/// group is read on its own: an odd item elsewhere in the list does not hide a readable
/// denial.
pub fn parse(value: &str, groups: &OneTrustGroups) -> Read {
    let whole = if value.contains('=') { Cow::Borrowed(value) } else { percent::decode(value, false) };
    // OneTrust writes `groups` after `landingPath`: the last top-level item is its own.
    let raw = whole.split('&').filter_map(|pair| pair.strip_prefix("groups=")).next_back().ok_or("no groups= in it")?;
    let list = percent::decode(raw, true);
    let mut flaw = None;
    let mut items = Vec::new();
    for item in list.split(',').filter(|i| !i.is_empty()) {
        match item.split_once(':') {
            Some(pair) => items.push(pair),
            None => flaw = flaw.or(Some("a group without ':'")),
        }
    }
    const SPELLING: Spelling = Spelling { yes: "1", no: "0", odd: "a group that is neither 0 nor 1" };
    let state = |id: &str| -> Item { SPELLING.read(items.iter().find(|(gid, _)| *gid == id).map(|(_, flag)| *flag)) };
    from_items(state(&groups.marketing), state(&groups.statistics), flaw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visitor::consent::signals::Answers;

    #[test]
    fn real_values() {
        let g = OneTrustGroups::default();
        let accepted = "isGpcEnabled=0&datestamp=Tue+Nov+25+2025+10%3A12%3A31+GMT%2B0100&version=202409.1.0&browserGpcFlag=0&isIABGlobal=false&hosts=&consentId=3d3f&interactionCount=1&isAnonUser=1&landingPath=NotLandingPage&groups=C0001%3A1%2CC0002%3A1%2CC0003%3A1%2CC0004%3A1&AwaitingReconsent=false&geolocation=IT%3B25";
        assert_eq!(parse(accepted, &g), Ok(Answers::both(true)));
        let rejected = accepted.replace("C0002%3A1", "C0002%3A0").replace("C0004%3A1", "C0004%3A0");
        assert_eq!(parse(&rejected, &g), Ok(Answers::both(false)));
        let custom = OneTrustGroups { marketing: "C0005".into(), statistics: "C0002".into() };
        assert_eq!(parse(accepted, &custom), Ok(Answers { marketing: None, statistics: Some(true) }));
        // Doubly encoded, as some CMS plugins store it.
        let doubly = "groups%3DC0001%253A1%252CC0004%253A0";
        assert_eq!(parse(doubly, &g), Ok(Answers { marketing: Some(false), statistics: None }));
    }

    #[test]
    fn unreadable_values() {
        let g = OneTrustGroups::default();
        for bad in ["", "isGpcEnabled=0", "groups=C0004", "groups=C0004%3Ayes"] {
            assert!(parse(bad, &g).is_err(), "{bad}");
        }
    }

    /// OneTrust's `landingPath` holds the URL the visitor landed on, query included: a
    /// `groups=` in it is the visitor's (or an attacker's link's), never the consent.
    #[test]
    fn a_groups_item_in_the_landing_url_is_never_read() {
        let g = OneTrustGroups::default();
        let value = |landing: &str, groups: &str| {
            format!("isGpcEnabled=0&datestamp=Tue+Nov+25+2025&version=202409.1.0&isIABGlobal=false&hosts=&consentId=3d3f&interactionCount=1&landingPath={landing}&groups={groups}&geolocation=US%3BCA")
        };
        // Lands on /?x=1&groups=C0004:1, then says no to C0004.
        let forged = value("https%3A%2F%2Fshop.example%2F%3Fx%3D1%26groups%3DC0004%3A1", "C0001%3A1%2CC0002%3A1%2CC0004%3A0");
        assert_eq!(parse(&forged, &g), Ok(Answers { marketing: Some(false), statistics: Some(true) }));
        // Lands on /search?groups=shoes, then opts out: still a readable denial.
        let shoes = value("https%3A%2F%2Fshop.example%2Fsearch%3Fgroups%3Dshoes", "C0001%3A1%2CC0002%3A0%2CC0004%3A0");
        assert_eq!(parse(&shoes, &g), Ok(Answers::both(false)));
        // The same, doubly encoded whole: the landing URL's `&` is still encoded after one pass.
        let doubly = "landingPath%3Dhttps%253A%252F%252Fx%252F%253Fgroups%253DC0004%253A1%26groups%3DC0004%253A0";
        assert_eq!(parse(doubly, &g), Ok(Answers { marketing: Some(false), statistics: None }));
    }

    #[test]
    fn a_readable_denial_wins_in_a_partly_malformed_list() {
        let g = OneTrustGroups::default();
        let odd = parse("groups=C0001%3A1%2Cjunk%2CC0004%3A0%2CC0002%3A1", &g).unwrap_err();
        assert_eq!(odd.denials, Answers { marketing: Some(false), statistics: None }, "a grant in an odd list is not kept");
        let unreadable_marketing = parse("groups=C0004%3Amaybe%2CC0002%3A0", &g).unwrap_err();
        assert_eq!(unreadable_marketing.denials, Answers { marketing: None, statistics: Some(false) });
    }
}
