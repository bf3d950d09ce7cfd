//! The consent decision at the edge: for each request, whether the visitor agreed to
//! `marketing` (ad platforms) and `statistics` (analytics), from the signals that consent
//! banners leave in every request (see [`signals`]), `Sec-GPC`, and, where nothing speaks,
//! the visitor's country ([`region`]). Nothing is fetched or remembered: a cached page's
//! header is decided anew for each visitor.

pub mod region;
pub mod settings;
pub mod signals;

use crate::proxy::cookies::cookie;
pub use settings::{ConsentSettings, GpcMode, UnknownCountry};
pub use signals::tcf::TcfVendorSetting;
use signals::{Answers, Unreadable};

/// The signal (or rule) that decided a purpose, named in logs as `consent_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `Sec-GPC: 1` (Global Privacy Control).
    Gpc,
    /// Cookiebot's `CookieConsent` cookie.
    Cookiebot,
    /// OneTrust's `OptanonConsent` cookie.
    OneTrust,
    /// CookieYes's `cookieyes-consent` cookie.
    CookieYes,
    /// Complianz's `cmplz_marketing` / `cmplz_statistics` cookies.
    Complianz,
    /// Cloudflare Zaraz's `cf_consent` cookie.
    Zaraz,
    /// An IAB TCF v2 string in `euconsent-v2`.
    Tcf,
    /// The shop's own cookie (`CONSENT_COOKIE`).
    ShopCookie,
    /// No signal: the visitor's country decides (`CONSENT_REQUIRED_IN`).
    Region,
}

impl Source {
    /// Stable name for logs.
    pub fn code(self) -> &'static str {
        match self {
            Source::Gpc => "gpc",
            Source::Cookiebot => "cookiebot",
            Source::OneTrust => "onetrust",
            Source::CookieYes => "cookieyes",
            Source::Complianz => "complianz",
            Source::Zaraz => "zaraz",
            Source::Tcf => "tcf",
            Source::ShopCookie => "cookie",
            Source::Region => "region",
        }
    }
}

/// Why a purpose is denied, named in logs as `rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialRule {
    /// A banner (or the shop's cookie) says no.
    ConsentDenied,
    /// No signal, in a country where consent is required first.
    NoConsent,
    /// Global Privacy Control, with `GPC_MODE=skip`.
    Gpc,
}

impl DenialRule {
    /// Stable name for logs.
    pub fn code(self) -> &'static str {
        match self {
            DenialRule::ConsentDenied => "consent_denied",
            DenialRule::NoConsent => "no_consent",
            DenialRule::Gpc => "gpc",
        }
    }
}

/// The answer for one purpose, and what decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Granted by a signal, or not required where the visitor is.
    Granted(Source),
    /// Denied.
    Denied(DenialRule, Source),
}

impl Verdict {
    /// True when the purpose is granted.
    pub fn granted(self) -> bool {
        matches!(self, Verdict::Granted(_))
    }

    /// True when the visitor said no (a banner, the shop's cookie or GPC), as opposed to
    /// having said nothing where consent is required.
    pub fn explicitly_denied(self) -> bool {
        matches!(self, Verdict::Denied(rule, _) if rule != DenialRule::NoConsent)
    }
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentDecision {
    /// Ad platforms (Meta, TikTok).
    pub marketing: Verdict,
    /// Analytics (GA4).
    pub statistics: Verdict,
    /// GPC with `GPC_MODE=ldu`: send with Meta's Limited Data Use flag.
    pub limited_data_use: bool,
    /// Consent cookies that were present but could not be read (counted as no signal; the
    /// adapter logs their names at warn, never their values).
    pub unreadable: Vec<Unreadable>,
    /// The destinations whose Global Vendor List vendor the TC string denies consent.
    pub tcf_vendors_denied: Vec<&'static str>,
    /// The TC string's `TcfPolicyVersion`, when one was read.
    pub tcf_policy_version: Option<u8>,
}

impl ConsentDecision {
    /// The verdict for `destination`, whose purpose's verdict is `purpose`: the purpose's,
    /// unless the TC string denies the destination's vendor (rule `consent_denied`, source `tcf`).
    pub fn verdict_for(&self, purpose: Verdict, destination: &str) -> Verdict {
        if purpose.granted() && self.tcf_vendors_denied.contains(&destination) {
            Verdict::Denied(DenialRule::ConsentDenied, Source::Tcf)
        } else {
            purpose
        }
    }

    /// The TC string's policy version when it is older than TCF v2.2's (the adapter warns).
    pub fn outdated_tcf_policy(&self) -> Option<u8> {
        self.tcf_policy_version.filter(|v| *v < signals::tcf::TCF_V2_2_POLICY_VERSION)
    }
}

/// What the decision reads from a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsentFacts<'a> {
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
    /// `Sec-GPC: 1` was sent.
    pub gpc: bool,
    /// `request.cf.country` (ISO 3166-1 alpha-2), when known.
    pub country: Option<&'a str>,
}

/// The signals that spoke for one purpose: the first denial, else the first grant.
#[derive(Default)]
struct Tally {
    denied_by: Option<Source>,
    granted_by: Option<Source>,
}

impl Tally {
    fn add(&mut self, answer: Option<bool>, source: Source) {
        match answer {
            Some(false) if self.denied_by.is_none() => self.denied_by = Some(source),
            Some(true) if self.granted_by.is_none() => self.granted_by = Some(source),
            _ => {}
        }
    }

    /// A denial wins; with no signal, the visitor's country decides.
    fn verdict(&self, required_here: bool) -> Verdict {
        match (self.denied_by, self.granted_by) {
            (Some(Source::Gpc), _) => Verdict::Denied(DenialRule::Gpc, Source::Gpc),
            (Some(source), _) => Verdict::Denied(DenialRule::ConsentDenied, source),
            (None, Some(source)) => Verdict::Granted(source),
            (None, None) if required_here => Verdict::Denied(DenialRule::NoConsent, Source::Region),
            (None, None) => Verdict::Granted(Source::Region),
        }
    }
}

/// Decides both purposes for one request. Pure: the same facts give the same decision.
pub fn decide(settings: &ConsentSettings, facts: &ConsentFacts<'_>) -> ConsentDecision {
    let mut marketing = Tally::default();
    let mut statistics = Tally::default();
    let mut limited_data_use = false;
    if facts.gpc {
        match settings.gpc_mode {
            GpcMode::Skip => marketing.add(Some(false), Source::Gpc),
            GpcMode::Ldu => limited_data_use = true,
            GpcMode::Ignore => {}
        }
    }
    let mut unreadable = Vec::new();
    let mut tcf_vendors_denied = Vec::new();
    let mut tcf_policy_version = None;
    if let Some(header) = facts.cookie {
        // Each signal's answers; an unreadable cookie's readable denials count all the same.
        let mut hear = |answers: Answers, source: Source| {
            marketing.add(answers.marketing, source);
            statistics.add(answers.statistics, source);
        };
        for (source, result) in signals::read_all(settings, &|name| cookie(header, name)) {
            match result {
                Ok(answers) => hear(answers, source),
                Err((e, denials)) => {
                    hear(denials, source);
                    unreadable.push(e);
                }
            }
        }
        match signals::read_tcf(settings, &|name| cookie(header, name)) {
            None => {}
            Some(Ok(read)) => {
                hear(read.answers, Source::Tcf);
                tcf_vendors_denied = read.vendors_denied;
                tcf_policy_version = Some(read.policy_version);
            }
            Some(Err((e, denials))) => {
                hear(denials, Source::Tcf);
                unreadable.push(e);
            }
        }
    }
    let required_here = settings.requires(facts.country);
    let marketing = marketing.verdict(required_here);
    ConsentDecision {
        limited_data_use: limited_data_use && marketing.granted(),
        marketing,
        statistics: statistics.verdict(required_here),
        unreadable,
        tcf_vendors_denied,
        tcf_policy_version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_with(cookie: Option<&str>, gpc: bool, country: Option<&str>) -> ConsentDecision {
        decide(&ConsentSettings::default(), &ConsentFacts { cookie, gpc, country })
    }

    #[test]
    fn no_signal_depends_on_the_country() {
        let it = decide_with(None, false, Some("IT"));
        assert_eq!(it.marketing, Verdict::Denied(DenialRule::NoConsent, Source::Region));
        assert_eq!(it.statistics, Verdict::Denied(DenialRule::NoConsent, Source::Region));
        assert!(!it.marketing.explicitly_denied());
        let us = decide_with(None, false, Some("US"));
        assert_eq!(us.marketing, Verdict::Granted(Source::Region));
        for unknown in [None, Some("XX"), Some("T1")] {
            assert!(decide_with(None, false, unknown).marketing.granted(), "{unknown:?} is in no list");
        }
    }

    #[test]
    fn a_denial_wins_over_a_grant() {
        let both = "CookieConsent={stamp:%27a%27%2Cmarketing:true%2Cstatistics:true}; cmplz_marketing=deny; cmplz_statistics=allow";
        let d = decide_with(Some(both), false, Some("US"));
        assert_eq!(d.marketing, Verdict::Denied(DenialRule::ConsentDenied, Source::Complianz));
        assert_eq!(d.statistics, Verdict::Granted(Source::Cookiebot));
        assert!(d.marketing.explicitly_denied());
    }

    #[test]
    fn gpc_modes() {
        let granted = Some("cmplz_marketing=allow");
        let skip = decide_with(granted, true, Some("US"));
        assert_eq!(skip.marketing, Verdict::Denied(DenialRule::Gpc, Source::Gpc));
        assert!(skip.statistics.granted(), "GPC is about ads, not statistics");
        let ldu = ConsentSettings { gpc_mode: GpcMode::Ldu, ..Default::default() };
        let d = decide(&ldu, &ConsentFacts { cookie: granted, gpc: true, country: Some("US") });
        assert_eq!(d.marketing, Verdict::Granted(Source::Complianz));
        assert!(d.limited_data_use);
        let d = decide(&ldu, &ConsentFacts { cookie: Some("cmplz_marketing=deny"), gpc: true, country: Some("US") });
        assert!(!d.limited_data_use, "nothing is sent, so no flag");
        let ignore = ConsentSettings { gpc_mode: GpcMode::Ignore, ..Default::default() };
        let d = decide(&ignore, &ConsentFacts { cookie: None, gpc: true, country: Some("US") });
        assert_eq!(d.marketing, Verdict::Granted(Source::Region));
        assert!(!d.limited_data_use);
    }

    #[test]
    fn an_unreadable_cookie_is_no_signal_and_reported() {
        let d = decide_with(Some("CookieConsent=garbage; cmplz_marketing=allow"), false, Some("IT"));
        assert_eq!(d.marketing, Verdict::Granted(Source::Complianz));
        assert_eq!(d.statistics, Verdict::Denied(DenialRule::NoConsent, Source::Region));
        assert_eq!(d.unreadable.len(), 1);
        assert_eq!(d.unreadable[0].source, Source::Cookiebot);
    }
}
