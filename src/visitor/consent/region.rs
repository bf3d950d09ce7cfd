//! `CONSENT_REQUIRED_IN`: the countries where no signal means no consent.

use crate::config::parse::ConfigError;

/// The variable's name.
pub const VAR: &str = "CONSENT_REQUIRED_IN";
/// Its default: the EEA, the United Kingdom and Switzerland.
pub const DEFAULT: &str = "EEA,GB,CH";
/// The European Economic Area: the EU-27, Iceland, Liechtenstein and Norway.
pub const EEA: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT",
    "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// Where consent is required before marketing or statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequiredIn {
    /// Everywhere (`*`), unknown countries included.
    Everywhere,
    /// These ISO 3166-1 alpha-2 codes, upper case.
    Countries(Vec<String>),
}

impl Default for RequiredIn {
    fn default() -> Self {
        RequiredIn::parse(DEFAULT).expect("the default parses")
    }
}

impl RequiredIn {
    /// Parses a comma list of country codes, `EEA`, `*` or `none`.
    pub fn parse(value: &str) -> Result<RequiredIn, ConfigError> {
        let mut countries = Vec::new();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item.to_ascii_uppercase().as_str() {
                "*" => return Ok(RequiredIn::Everywhere),
                "NONE" => {}
                "EEA" => countries.extend(EEA.iter().map(|c| c.to_string())),
                code if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) => countries.push(code.to_string()),
                _ => {
                    return Err(ConfigError::Invalid {
                        var: VAR,
                        expected: "a comma list of ISO 3166-1 alpha-2 country codes, EEA, * (everywhere) or none, such as EEA,GB,CH",
                        got: item.to_string(),
                    })
                }
            }
        }
        Ok(RequiredIn::Countries(countries))
    }

    /// Whether a visitor from `country` must agree first. An unknown country is in no list
    /// (only in `*`).
    pub fn requires(&self, country: Option<&str>) -> bool {
        match self {
            RequiredIn::Everywhere => true,
            RequiredIn::Countries(list) => {
                country.is_some_and(|c| list.iter().any(|l| l.eq_ignore_ascii_case(c)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_groups_and_wildcards() {
        let d = RequiredIn::default();
        for c in ["IT", "de", "NO", "GB", "CH"] {
            assert!(d.requires(Some(c)), "{c}");
        }
        for c in [None, Some("US"), Some("XX"), Some("BR")] {
            assert!(!d.requires(c), "{c:?}");
        }
        assert!(RequiredIn::parse("*").unwrap().requires(None));
        assert!(!RequiredIn::parse("none").unwrap().requires(Some("IT")));
        assert!(RequiredIn::parse("us, br").unwrap().requires(Some("BR")));
        assert_eq!(EEA.len(), 30);
        let err = RequiredIn::parse("EEA,Italy").unwrap_err().to_string();
        assert!(err.contains("CONSENT_REQUIRED_IN") && err.contains("Italy"), "{err}");
    }
}
