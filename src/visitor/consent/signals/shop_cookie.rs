//! The shop's own consent cookie, `CONSENT_COOKIE=name=value`: both purposes granted when
//! the cookie has exactly that value (URL-decoded), denied when it has another.

use super::Answers;
use crate::config::parse::ConfigError;
use crate::proxy::percent;

/// The variable's name.
pub const VAR: &str = "CONSENT_COOKIE";

/// The cookie and the value that means "granted".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopCookie {
    /// Its name.
    pub name: String,
    /// The value that grants.
    pub granted_value: String,
}

impl ShopCookie {
    /// Parses `name=value`.
    pub fn parse(setting: &str) -> Result<ShopCookie, ConfigError> {
        match setting.split_once('=') {
            Some((name, value)) if crate::config::parse::is_header_name(name.trim()) && !value.trim().is_empty() => {
                Ok(ShopCookie { name: name.trim().to_string(), granted_value: value.trim().to_string() })
            }
            _ => Err(ConfigError::Invalid {
                var: VAR,
                expected: "the cookie's name, '=', and the value that means consent was given, such as shop_consent=all",
                got: setting.to_string(),
            }),
        }
    }

    /// The answer of the cookie's `value`.
    pub fn read(&self, value: &str) -> Answers {
        Answers::both(value == self.granted_value || percent::decode(value, false) == self.granted_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_value_grants_any_other_denies() {
        let c = ShopCookie::parse("shop_consent=all yes").unwrap();
        assert_eq!(c.read("all yes"), Answers::both(true));
        assert_eq!(c.read("all%20yes"), Answers::both(true));
        assert_eq!(c.read("all"), Answers::both(false));
        assert_eq!(c.read(""), Answers::both(false));
        for bad in ["novalue", "=x", "a b=c", "name="] {
            assert!(ShopCookie::parse(bad).is_err(), "{bad}");
        }
    }
}
