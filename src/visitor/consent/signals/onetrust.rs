//! OneTrust's `OptanonConsent` cookie: a URL-encoded query string whose `groups` lists
//! `<group id>:<0|1>` (`C0004` is targeting/marketing and `C0002` performance/statistics in
//! OneTrust's default categories; `CONSENT_ONETRUST_MARKETING` / `_STATISTICS` change them).

use super::{Answers, Read};
use crate::percent;

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

/// Reads the cookie's value.
pub fn parse(value: &str, groups: &OneTrustGroups) -> Read {
    // The cookie is URL-encoded once more by some sites: decode the pair separators too.
    let whole = percent::decode(value, false);
    let raw = whole
        .split('&')
        .find_map(|pair| pair.strip_prefix("groups="))
        .ok_or("no groups= in it")?;
    let list = percent::decode(raw, true);
    let state = |id: &str| -> Result<Option<bool>, &'static str> {
        for item in list.split(',').filter(|i| !i.is_empty()) {
            let (gid, flag) = item.split_once(':').ok_or("a group without ':'")?;
            if gid == id {
                return match flag {
                    "1" => Ok(Some(true)),
                    "0" => Ok(Some(false)),
                    _ => Err("a group that is neither 0 nor 1"),
                };
            }
        }
        Ok(None)
    };
    Ok(Answers { marketing: state(&groups.marketing)?, statistics: state(&groups.statistics)? })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
