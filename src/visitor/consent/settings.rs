//! The consent variables: `GPC_MODE`, `CONSENT_REQUIRED_IN`, `CONSENT_COOKIE`,
//! `CONSENT_ONETRUST_*`, `CONSENT_ZARAZ_*` and `CONSENT_TCF_*`.

use super::region::{self, RequiredIn};
use super::signals::onetrust::OneTrustGroups;
use super::signals::shop_cookie::{self, ShopCookie};
use super::signals::tcf::{parse_purposes, parse_vendor, TcfPurposes, TcfVendorSetting, TcfVendors};
use super::signals::zaraz::ZarazPurposes;
use crate::config::parse::{ConfigError, Get};

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
/// `CONSENT_UNKNOWN_COUNTRY`.
pub const VAR_UNKNOWN_COUNTRY: &str = "CONSENT_UNKNOWN_COUNTRY";
/// Every consent variable but each destination's `CONSENT_TCF_VENDOR_*`, which the
/// destination declares ([`TcfVendorSetting`]).
pub const VARS: [&str; 10] = [
    VAR_GPC_MODE,
    region::VAR,
    shop_cookie::VAR,
    VAR_ONETRUST_MARKETING,
    VAR_ONETRUST_STATISTICS,
    VAR_ZARAZ_MARKETING,
    VAR_ZARAZ_STATISTICS,
    VAR_TCF_MARKETING,
    VAR_TCF_STATISTICS,
    VAR_UNKNOWN_COUNTRY,
];

/// What no signal means for a visitor whose country is unknown: `CF-IPCountry` `XX`, `T1`
/// (Tor), or none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownCountry {
    /// As in a country where consent is not required (the default, as before).
    #[default]
    Granted,
    /// As in a country where consent is required first.
    Required,
}

/// Country codes that name no country: Cloudflare's `XX` (unknown) and `T1` (Tor).
const NO_COUNTRY: [&str; 2] = ["XX", "T1"];

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
    /// `CONSENT_UNKNOWN_COUNTRY`.
    pub unknown_country: UnknownCountry,
}

impl ConsentSettings {
    /// Whether a visitor from `country` must agree first: `CONSENT_REQUIRED_IN`, or for an
    /// unknown country, `CONSENT_UNKNOWN_COUNTRY` (`*` requires it everywhere).
    pub fn requires(&self, country: Option<&str>) -> bool {
        match country.map(str::trim).filter(|c| !c.is_empty() && !NO_COUNTRY.iter().any(|n| n.eq_ignore_ascii_case(c))) {
            Some(known) => self.required_in.requires(Some(known)),
            None => self.unknown_country == UnknownCountry::Required || self.required_in.requires(None),
        }
    }

    /// Parses the consent variables through `get`; `vendors` are the destinations' TCF
    /// vendor settings, by destination name.
    pub fn parse(get: Get<'_>, vendors: &[(&'static str, TcfVendorSetting)]) -> Result<ConsentSettings, ConfigError> {
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
        let mut ids = Vec::new();
        for (destination, setting) in vendors {
            let id = match get(setting.var)? {
                Some(value) => parse_vendor(setting.var, &value)?,
                None => setting.default,
            };
            ids.extend(id.map(|id| (*destination, id)));
        }
        let vendors = TcfVendors { ids };
        let tcf = TcfPurposes {
            vendors,
            marketing: get(VAR_TCF_MARKETING)?.map(|v| parse_purposes(VAR_TCF_MARKETING, &v)).transpose()?.unwrap_or(defaults.marketing),
            statistics: get(VAR_TCF_STATISTICS)?.map(|v| parse_purposes(VAR_TCF_STATISTICS, &v)).transpose()?.unwrap_or(defaults.statistics),
        };
        let shop_cookie = get(shop_cookie::VAR)?.map(|v| ShopCookie::parse(&v)).transpose()?;
        let unknown_country = match get(VAR_UNKNOWN_COUNTRY)?.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("granted") => UnknownCountry::Granted,
            Some("required") => UnknownCountry::Required,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: VAR_UNKNOWN_COUNTRY,
                    expected: "granted (no signal counts as consent where the country is unknown) or required (it counts as none)",
                    got: other.to_string(),
                })
            }
        };
        Ok(ConsentSettings { gpc_mode, required_in, onetrust, zaraz, tcf, shop_cookie, unknown_country })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<ConsentSettings, ConfigError> {
        let vendors = [
            ("meta", TcfVendorSetting { var: "CONSENT_TCF_VENDOR_META", default: None }),
            ("ga4", TcfVendorSetting { var: "CONSENT_TCF_VENDOR_GA4", default: Some(755) }),
            ("tiktok", TcfVendorSetting { var: "CONSENT_TCF_VENDOR_TIKTOK", default: None }),
        ];
        ConsentSettings::parse(&|name| Ok(vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())), &vendors)
    }

    #[test]
    fn defaults_and_each_variable() {
        let defaults = parse(&[]).unwrap();
        let without_vendors = TcfPurposes { vendors: TcfVendors::default(), ..defaults.tcf.clone() };
        assert_eq!(ConsentSettings { tcf: without_vendors, ..defaults }, ConsentSettings::default());
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
        assert_eq!(s.tcf.vendors.ids, [("ga4", 755)], "a destination's default GVL id");
        let s = parse(&[("CONSENT_TCF_VENDOR_GA4", "none"), ("CONSENT_TCF_VENDOR_TIKTOK", "1234"), ("CONSENT_UNKNOWN_COUNTRY", "Required")]).unwrap();
        assert_eq!(s.tcf.vendors.ids, [("tiktok", 1234)]);
        assert_eq!(s.unknown_country, UnknownCountry::Required);
    }

    #[test]
    fn unknown_countries() {
        let granted = ConsentSettings::default();
        let required = ConsentSettings { unknown_country: UnknownCountry::Required, ..Default::default() };
        for unknown in [None, Some("XX"), Some("T1"), Some("t1"), Some("")] {
            assert!(!granted.requires(unknown), "{unknown:?}");
            assert!(required.requires(unknown), "{unknown:?}");
        }
        assert!(!required.requires(Some("US")), "a known country keeps its rule");
        assert!(required.requires(Some("IT")));
        let everywhere = ConsentSettings { required_in: RequiredIn::Everywhere, ..Default::default() };
        assert!(everywhere.requires(Some("XX")));
    }

    #[test]
    fn errors_name_the_variable() {
        for (var, bad) in [
            ("GPC_MODE", "maybe"),
            ("CONSENT_TCF_MARKETING", "x"),
            ("CONSENT_COOKIE", "x"),
            ("CONSENT_REQUIRED_IN", "Europe"),
            ("CONSENT_TCF_VENDOR_GA4", "google"),
            ("CONSENT_UNKNOWN_COUNTRY", "maybe"),
        ] {
            let err = parse(&[(var, bad)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{err}");
        }
    }
}
