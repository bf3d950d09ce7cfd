//! Complianz's `cmplz_marketing` and `cmplz_statistics` cookies: `allow` or `deny` each.

use super::{from_items, Read, Spelling};

/// The marketing cookie's name.
pub const MARKETING_COOKIE: &str = "cmplz_marketing";
/// The statistics cookie's name.
pub const STATISTICS_COOKIE: &str = "cmplz_statistics";

/// Reads the two cookies (either may be absent), each on its own: one that is unreadable
/// does not hide the other's denial.
pub fn parse(marketing: Option<&str>, statistics: Option<&str>) -> Read {
    const SPELLING: Spelling = Spelling { yes: "allow", no: "deny", odd: "neither allow nor deny" };
    let flag = |v: Option<&str>| SPELLING.read(v.map(str::trim));
    from_items(flag(marketing), flag(statistics), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visitor::consent::signals::Answers;

    #[test]
    fn real_values() {
        assert_eq!(parse(Some("allow"), Some("allow")), Ok(Answers::both(true)));
        assert_eq!(parse(Some("deny"), None), Ok(Answers { marketing: Some(false), statistics: None }));
        assert_eq!(parse(None, Some("deny")), Ok(Answers { marketing: None, statistics: Some(false) }));
        assert!(parse(Some("yes"), None).is_err());
        assert!(parse(Some(""), None).is_err());
        let one_odd = parse(Some("deny"), Some("maybe")).unwrap_err();
        assert_eq!(one_odd.denials, Answers { marketing: Some(false), statistics: None }, "the readable denial counts");
        assert_eq!(parse(Some("allow"), Some("maybe")).unwrap_err().denials, Answers::default(), "a grant beside an odd cookie does not");
    }
}
