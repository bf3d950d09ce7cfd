//! The destinations tagrelay knows, one [`Registration`] each, listed once in
//! [`super::REGISTRY`]. Everything that lists destinations reads it: the configuration (each
//! destination's settings and routes), the adapter's variable lookup, the header's
//! `destinations` vocabulary, the TCF vendor settings, and the Delivery panel's order.

use super::Destination;
use crate::config::parse::{ConfigError, Get};
use crate::visitor::consent::TcfVendorSetting;

/// Parses a destination's settings: `None` when its variables are unset (it is off), else
/// the destination, or why its settings are unusable.
pub type Parse = fn(Get<'_>) -> Option<Result<Box<dyn Destination>, ConfigError>>;

/// What tagrelay needs to know of a destination besides its [`Destination`] implementation.
#[derive(Debug, Clone, Copy)]
pub struct Registration {
    /// Its name, as log lines, the header's `destinations` list and the debug header spell it.
    pub name: &'static str,
    /// The variables and secrets its settings read (the adapter looks up only listed names).
    pub vars: &'static [&'static str],
    /// How the IAB TCF knows it (`CONSENT_TCF_VENDOR_*`, read with the consent settings).
    pub tcf_vendor: TcfVendorSetting,
    /// The match keys its bodies may carry ([`super::Mapped::keys`]), in the order the stats
    /// page's Match quality panel lists them.
    pub match_keys: &'static [&'static str],
    /// Its settings parser. `None` for Meta only: Meta is built from the tracking settings it
    /// shares with every destination (`crate::config::MetaConfig`), and is the one a fresh
    /// install logs in dry run.
    pub parse: Option<Parse>,
}

/// Every registered destination's name, in the registry's order.
pub fn names() -> impl Iterator<Item = &'static str> {
    super::REGISTRY.iter().map(|r| r.name)
}

/// Whether `name` is a registered destination's.
pub fn is_known(name: &str) -> bool {
    names().any(|n| n == name)
}

/// Every variable the destinations read, their `CONSENT_TCF_VENDOR_*` included.
pub fn vars() -> impl Iterator<Item = &'static str> {
    super::REGISTRY.iter().flat_map(|r| r.vars.iter().copied().chain([r.tcf_vendor.var]))
}

/// Each destination's TCF vendor setting, by name, for the consent settings.
pub fn tcf_vendors() -> Vec<(&'static str, TcfVendorSetting)> {
    super::REGISTRY.iter().map(|r| (r.name, r.tcf_vendor)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_variables_are_unique() {
        let names: Vec<_> = names().collect();
        assert_eq!(names[..3], ["meta", "ga4", "tiktok"], "Meta first: the fallback of a fresh install");
        for (i, name) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(name), "{name} is registered twice");
            assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{name}: lowercase, as logs spell it");
        }
        let vars: Vec<_> = vars().collect();
        for (i, var) in vars.iter().enumerate() {
            assert!(!vars[i + 1..].contains(var), "{var} is registered twice");
        }
        for r in super::super::REGISTRY {
            assert!(r.tcf_vendor.var.starts_with("CONSENT_TCF_VENDOR_"), "{}", r.name);
            assert_eq!(r.parse.is_none(), r.name == "meta", "only Meta is built from the shared settings");
        }
    }
}
