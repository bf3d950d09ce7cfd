//! The consent variables: `GPC_MODE`, `CONSENT_REQUIRED_IN`, `CONSENT_COOKIE`,
//! `CONSENT_ONETRUST_*`, `CONSENT_ZARAZ_*` and `CONSENT_TCF_*`.

use super::region::{self, RequiredIn};
use super::signals::onetrust::OneTrustGroups;
use super::signals::shop_cookie::{self, ShopCookie};
use super::signals::tcf::{parse_purposes, TcfPurposes};
use super::signals::zaraz::ZarazPurposes;
use crate::config::{ConfigError, Get};

/// `GPC_MODE`.
pub const VAR_GPC_MODE: &str = "GPC_MODE";
/// `CONSENT_ONETRUST_MARKETING`.
pub const VAR_ONETRUST_MARKETING: &str = "CONSENT_ONETRUST_MARKETING";
/// `CONSENT_ONETRUST_STATISTICS`.
pub const VAR_ONETRUST_STATISTICS: &str = "CONSENT_ONETRUST_STATISTICS";
/// `CONSENT_ZARAZ_MARKETING`.
pub const VAR_ZARAZ_MARKETING: &str = "CONSENT_ZARAZ_MARKETING";
/// `CONSENT_ZARAZ_STATISTICS`.
pub const VAR_ZARAZ_STATISTICS: &str = "CONSENT_ZARAZ_STATISTICS";
/// `CONSENT_TCF_MARKETING`.
pub const VAR_TCF_MARKETING: &str = "CONSENT_TCF_MARKETING";
/// `CONSENT_TCF_STATISTICS`.
pub const VAR_TCF_STATISTICS: &str = "CONSENT_TCF_STATISTICS";

/// Every consent variable.
pub const VARS: [&str; 9] = [
    VAR_GPC_MODE,
    region::VAR,
    shop_cookie::VAR,
    VAR_ONETRUST_MARKETING,
    VAR_ONETRUST_STATISTICS,
    VAR_ZARAZ_MARKETING,
    VAR_ZARAZ_STATISTICS,
    VAR_TCF_MARKETING,
    VAR_TCF_STATISTICS,
];

/// What `Sec-GPC: 1` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GpcMode {
    /// Nothing goes to ad platforms (rule `gpc`). The default.
    #[default]
    Skip,
    /// Events go to Meta flagged Limited Data Use (`data_processing_options: ["LDU"]`,
    /// country 0 and state 0: Meta geolocates).
    Ldu,
    /// GPC is not read.
    Ignore,
}

/// The consent settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentSettings {
    /// `GPC_MODE`.
    pub gpc_mode: GpcMode,
    /// `CONSENT_REQUIRED_IN`.
    pub required_in: RequiredIn,
    /// OneTrust group ids.
    pub onetrust: OneTrustGroups,
    /// Zaraz purpose ids; `None` when neither is set (the cookie is not read).
    pub zaraz: Option<ZarazPurposes>,
    /// TCF purposes needed.
    pub tcf: TcfPurposes,
    /// `CONSENT_COOKIE`.
    pub shop_cookie: Option<ShopCookie>,
}

impl ConsentSettings {
    /// Parses the consent variables through `get`.
    pub fn parse(get: Get<'_>) -> Result<ConsentSettings, ConfigError> {
        let gpc_mode = match get(VAR_GPC_MODE)?.map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("skip") => GpcMode::Skip,
            Some("ldu") => GpcMode::Ldu,
            Some("ignore") => GpcMode::Ignore,
            Some(other) => {
                return Err(ConfigError::Invalid { var: VAR_GPC_MODE, expected: "skip, ldu or ignore", got: other.to_string() })
            }
        };
        let required_in = RequiredIn::parse(get(region::VAR)?.as_deref().unwrap_or(region::DEFAULT))?;
        let defaults = OneTrustGroups::default();
        let onetrust = OneTrustGroups {
            marketing: get(VAR_ONETRUST_MARKETING)?.unwrap_or(defaults.marketing),
            statistics: get(VAR_ONETRUST_STATISTICS)?.unwrap_or(defaults.statistics),
        };
        let zaraz = ZarazPurposes { marketing: get(VAR_ZARAZ_MARKETING)?, statistics: get(VAR_ZARAZ_STATISTICS)? };
        let zaraz = (zaraz != ZarazPurposes::default()).then_some(zaraz);
        let defaults = TcfPurposes::default();
        let tcf = TcfPurposes {
            marketing: get(VAR_TCF_MARKETING)?.map(|v| parse_purposes(VAR_TCF_MARKETING, &v)).transpose()?.unwrap_or(defaults.marketing),
            statistics: get(VAR_TCF_STATISTICS)?.map(|v| parse_purposes(VAR_TCF_STATISTICS, &v)).transpose()?.unwrap_or(defaults.statistics),
        };
        let shop_cookie = get(shop_cookie::VAR)?.map(|v| ShopCookie::parse(&v)).transpose()?;
        Ok(ConsentSettings { gpc_mode, required_in, onetrust, zaraz, tcf, shop_cookie })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<ConsentSettings, ConfigError> {
        ConsentSettings::parse(&|name| Ok(vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())))
    }

    #[test]
    fn defaults_and_each_variable() {
        assert_eq!(parse(&[]).unwrap(), ConsentSettings::default());
        let s = parse(&[
            ("GPC_MODE", "LDU"),
            ("CONSENT_REQUIRED_IN", "*"),
            ("CONSENT_ONETRUST_MARKETING", "C0005"),
            ("CONSENT_ZARAZ_MARKETING", "dqVA"),
            ("CONSENT_TCF_STATISTICS", "1,7"),
            ("CONSENT_COOKIE", "ok=1"),
        ])
        .unwrap();
        assert_eq!(s.gpc_mode, GpcMode::Ldu);
        assert_eq!(s.required_in, RequiredIn::Everywhere);
        assert_eq!(s.onetrust.marketing, "C0005");
        assert_eq!(s.zaraz.unwrap().marketing.as_deref(), Some("dqVA"));
        assert_eq!(s.tcf.statistics, vec![1, 7]);
        assert_eq!(s.tcf.marketing, vec![1, 3, 4, 7]);
        assert_eq!(s.shop_cookie.unwrap().name, "ok");
    }

    #[test]
    fn errors_name_the_variable() {
        for (var, bad) in [("GPC_MODE", "maybe"), ("CONSENT_TCF_MARKETING", "x"), ("CONSENT_COOKIE", "x"), ("CONSENT_REQUIRED_IN", "Europe")] {
            let err = parse(&[(var, bad)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{err}");
        }
    }
}
