//! CookieYes's `cookieyes-consent` cookie: `consentid:…,consent:yes,action:yes,
//! necessary:yes,functional:no,analytics:yes,performance:no,advertisement:no,other:no`.
//! `action:no` means the visitor has not chosen yet: no signal.

use super::{colon_pairs, Answers, Read};
use crate::percent;

/// The cookie's name.
pub const COOKIE: &str = "cookieyes-consent";

/// Reads the cookie's value.
pub fn parse(value: &str) -> Read {
    let text = percent::decode(value, false);
    let pairs = colon_pairs(&text).ok_or("an item without ':'")?;
    let get = |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let flag = |name: &str| -> Result<Option<bool>, &'static str> {
        match get(name) {
            None => Ok(None),
            Some("yes") => Ok(Some(true)),
            Some("no") => Ok(Some(false)),
            Some(_) => Err("a category that is neither yes nor no"),
        }
    };
    let answers = Answers { marketing: flag("advertisement")?, statistics: flag("analytics")? };
    if answers == Answers::default() {
        return Err("neither advertisement nor analytics");
    }
    if get("action") == Some("no") {
        return Ok(Answers::default());
    }
    Ok(answers)
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
}
