//! Cloudflare Zaraz's `cf_consent` cookie: URL-encoded JSON mapping each purpose id (random
//! per zone, shown in Zaraz's Consent settings) to true or false. The ids come from
//! `CONSENT_ZARAZ_MARKETING` and `CONSENT_ZARAZ_STATISTICS`; without them the cookie is
//! not read.

use super::{Answers, Read};
use crate::proxy::percent;

/// The cookie's name.
pub const COOKIE: &str = "cf_consent";

/// The Zaraz purpose ids of each purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZarazPurposes {
    /// Marketing's purpose id.
    pub marketing: Option<String>,
    /// Statistics' purpose id.
    pub statistics: Option<String>,
}

/// Reads the cookie's value.
pub fn parse(value: &str, ids: &ZarazPurposes) -> Read {
    let text = percent::decode(value, false);
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| "not JSON")?;
    let map = json.as_object().ok_or("not a JSON object")?;
    let flag = |id: &Option<String>| -> Result<Option<bool>, &'static str> {
        match id.as_ref().and_then(|id| map.get(id)) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or("a purpose that is not true or false"),
        }
    };
    Ok(Answers { marketing: flag(&ids.marketing)?, statistics: flag(&ids.statistics)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_values() {
        let ids = ZarazPurposes { marketing: Some("dqVA".into()), statistics: Some("hJLo".into()) };
        assert_eq!(parse("%7B%22dqVA%22%3Atrue%2C%22hJLo%22%3Afalse%7D", &ids), Ok(Answers { marketing: Some(true), statistics: Some(false) }));
        assert_eq!(parse(r#"{"other":true}"#, &ids), Ok(Answers::default()));
        for bad in ["", "{", "[true]", r#"{"dqVA":"yes"}"#] {
            assert!(parse(bad, &ids).is_err(), "{bad}");
        }
    }
}
