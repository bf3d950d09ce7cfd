//! Complianz's `cmplz_marketing` and `cmplz_statistics` cookies: `allow` or `deny` each.

use super::{Answers, Read};

/// The marketing cookie's name.
pub const MARKETING_COOKIE: &str = "cmplz_marketing";
/// The statistics cookie's name.
pub const STATISTICS_COOKIE: &str = "cmplz_statistics";

/// Reads the two cookies (either may be absent).
pub fn parse(marketing: Option<&str>, statistics: Option<&str>) -> Read {
    let flag = |v: Option<&str>| -> Result<Option<bool>, &'static str> {
        match v.map(str::trim) {
            None => Ok(None),
            Some("allow") => Ok(Some(true)),
            Some("deny") => Ok(Some(false)),
            Some(_) => Err("neither allow nor deny"),
        }
    };
    Ok(Answers { marketing: flag(marketing)?, statistics: flag(statistics)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_values() {
        assert_eq!(parse(Some("allow"), Some("allow")), Ok(Answers::both(true)));
        assert_eq!(parse(Some("deny"), None), Ok(Answers { marketing: Some(false), statistics: None }));
        assert_eq!(parse(None, Some("deny")), Ok(Answers { marketing: None, statistics: Some(false) }));
        assert!(parse(Some("yes"), None).is_err());
        assert!(parse(Some(""), None).is_err());
    }
}
