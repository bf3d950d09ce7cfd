//! The device class of a page view, from its User-Agent: the three classes analytics tools
//! report. Tablets first (an iPad's or Android tablet's UA would otherwise read as mobile or
//! desktop), then phones; everything else is a desktop.

/// A device class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Device {
    /// Phones.
    Mobile,
    /// Tablets.
    Tablet,
    /// Everything else.
    Desktop,
}

impl Device {
    /// Stable name, as stored and shown.
    pub fn code(self) -> &'static str {
        match self {
            Device::Mobile => "mobile",
            Device::Tablet => "tablet",
            Device::Desktop => "desktop",
        }
    }
}

/// UA fragments of tablets.
const TABLET: [&str; 6] = ["ipad", "tablet", "kindle", "silk/", "playbook", "nexus 7"];
/// UA fragments of phones.
const MOBILE: [&str; 7] = ["mobi", "iphone", "ipod", "windows phone", "blackberry", "opera mini", "android"];

/// The class of `user_agent`.
pub fn classify(user_agent: &str) -> Device {
    let ua = user_agent.to_ascii_lowercase();
    // Android tablets leave "Mobile" out of their UA; Android phones put it in.
    let android_tablet = ua.contains("android") && !ua.contains("mobile");
    if android_tablet || TABLET.iter().any(|t| ua.contains(t)) {
        Device::Tablet
    } else if MOBILE.iter().any(|m| ua.contains(m)) {
        Device::Mobile
    } else {
        Device::Desktop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_user_agents() {
        for (ua, want) in [
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", Device::Mobile),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", Device::Mobile),
            ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", Device::Tablet),
            ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", Device::Tablet),
            ("Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/537.36 (KHTML, like Gecko) Silk/3.68 like Chrome/39.0.2171.93 Safari/537.36", Device::Tablet),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", Device::Desktop),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0", Device::Desktop),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", Device::Desktop),
            ("", Device::Desktop),
        ] {
            assert_eq!(classify(ua), want, "{ua}");
        }
        assert_eq!(Device::Tablet.code(), "tablet");
    }
}
