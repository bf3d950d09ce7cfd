//! Crawler detection by User-Agent, with the pattern list of the isbot project
//! (<https://github.com/omrilotan/isbot>, Unlicense), vendored in `src/bot_patterns.json`
//! and refreshed with `scripts/refresh-bot-patterns.sh`.
//!
//! isbot's patterns are JavaScript regular expressions; six of them use lookaround, which the
//! `regex` crate does not support (it guarantees linear time instead). So the list is split:
//! - every pattern without lookaround goes into one case-insensitive `regex::bytes::Regex`
//!   (a lazy DFA: one pass over the UA whatever the number of patterns);
//! - each lookaround pattern `(?<!B)C(?!A)` becomes a core regex `C` plus anchored checks
//!   `B$` on the text before and `^A` on the text after each candidate match, which is exactly
//!   what the lookarounds mean.
//!
//! Matching is ASCII case-insensitive (`(?i-u)`), as a JS `RegExp` with the `i` flag is on
//! these ASCII patterns; this also keeps Unicode tables out of the wasm binary.
//! Build it once per isolate: see [`BotMatcher::new`].

use regex::bytes::Regex;
use std::fmt;

/// The vendored isbot pattern list (a JSON array of strings).
pub const PATTERNS_JSON: &str = include_str!("bot_patterns.json");

/// Flags prefixed to every pattern: ASCII case-insensitive, bytes semantics.
const FLAGS: &str = "(?i-u)";

/// Why the bot matcher could not be built (only possible after a bad refresh of the list).
#[derive(Debug)]
pub enum BotPatternError {
    /// `bot_patterns.json` is not a JSON array of strings.
    List(String),
    /// A pattern does not compile.
    Pattern { pattern: String, reason: String },
}

impl fmt::Display for BotPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BotPatternError::List(e) => write!(f, "src/bot_patterns.json is not a JSON array of strings ({e}); run scripts/refresh-bot-patterns.sh"),
            BotPatternError::Pattern { pattern, reason } => write!(f, "bot pattern {pattern:?} does not compile ({reason}); fix src/bot_patterns.json"),
        }
    }
}

impl std::error::Error for BotPatternError {}

/// A pattern with lookbehind and/or lookahead, split into regexes the crate supports.
#[derive(Debug)]
struct LookaroundPattern {
    core: Regex,
    not_after: Option<Regex>,
    not_before: Option<Regex>,
}

impl LookaroundPattern {
    fn is_match(&self, ua: &[u8]) -> bool {
        let mut from = 0;
        while let Some(m) = self.core.find_at(ua, from) {
            let behind_ok = self.not_after.as_ref().is_none_or(|b| !b.is_match(&ua[..m.start()]));
            let ahead_ok = self.not_before.as_ref().is_none_or(|a| !a.is_match(&ua[m.end()..]));
            if behind_ok && ahead_ok {
                return true;
            }
            if m.start() >= ua.len() {
                return false;
            }
            from = m.start() + 1;
        }
        false
    }
}

/// Matches crawler User-Agents.
#[derive(Debug)]
pub struct BotMatcher {
    /// All lookaround-free patterns in one regex; `None` when there are none.
    plain: Option<Regex>,
    /// The cores of all lookaround patterns in one regex: a UA that matches none of them
    /// (almost every browser) needs no per-pattern check, so it is scanned twice, not 2 + N times.
    any_core: Option<Regex>,
    lookaround: Vec<LookaroundPattern>,
}

impl BotMatcher {
    /// Builds the matcher from the vendored list.
    pub fn new() -> Result<Self, BotPatternError> {
        let patterns: Vec<String> = serde_json::from_str(PATTERNS_JSON).map_err(|e| BotPatternError::List(e.to_string()))?;
        Self::from_patterns(&patterns)
    }

    /// Builds a matcher from JS-syntax patterns.
    pub fn from_patterns(patterns: &[String]) -> Result<Self, BotPatternError> {
        let compile = |source: &str, pattern: &str| {
            Regex::new(source).map_err(|e| BotPatternError::Pattern { pattern: pattern.to_string(), reason: e.to_string() })
        };
        let mut plain = Vec::new();
        let mut cores = Vec::new();
        let mut lookaround = Vec::new();
        for p in patterns {
            let p = &js_to_rust_syntax(p);
            match split_lookaround(p) {
                None => plain.push(format!("(?:{p})")),
                Some((behind, core, ahead)) => {
                    cores.push(format!("(?:{core})"));
                    lookaround.push(LookaroundPattern {
                    core: compile(&format!("{FLAGS}{core}"), p)?,
                    not_after: behind.map(|b| compile(&format!("{FLAGS}(?:{b})$"), p)).transpose()?,
                    not_before: ahead.map(|a| compile(&format!("{FLAGS}^(?:{a})"), p)).transpose()?,
                    });
                }
            }
        }
        let union = |parts: Vec<String>, what: &str| match parts.is_empty() {
            true => Ok(None),
            false => compile(&format!("{FLAGS}{}", parts.join("|")), what).map(Some),
        };
        Ok(BotMatcher { plain: union(plain, "<combined list>")?, any_core: union(cores, "<lookaround cores>")?, lookaround })
    }

    /// True when `user_agent` matches any crawler pattern.
    pub fn is_bot(&self, user_agent: &str) -> bool {
        let ua = user_agent.as_bytes();
        self.plain.as_ref().is_some_and(|re| re.is_match(ua))
            || (self.any_core.as_ref().is_some_and(|re| re.is_match(ua)) && self.lookaround.iter().any(|p| p.is_match(ua)))
    }
}

/// Splits `(?<!B)C(?!A)` (either lookaround optional) into `(B, C, A)`; `None` when the
/// pattern has no lookaround. Lookarounds elsewhere in a pattern are left in the core, where
/// the regex crate rejects them at build time, so an unsupported shape fails loudly in tests.
fn split_lookaround(pattern: &str) -> Option<(Option<&str>, &str, Option<&str>)> {
    let mut core = pattern;
    let mut behind = None;
    if let Some(rest) = core.strip_prefix("(?<!") {
        let close = closing_paren(rest)?;
        behind = Some(&rest[..close]);
        core = &rest[close + 1..];
    }
    let mut ahead = None;
    if core.ends_with(')') {
        if let Some(open) = core.rfind("(?!") {
            let inner = &core[open + 3..];
            if closing_paren(inner) == Some(inner.len() - 1) {
                ahead = Some(&inner[..inner.len() - 1]);
                core = &core[..open];
            }
        }
    }
    (behind.is_some() || ahead.is_some()).then_some((behind, core, ahead))
}

/// Rewrites the JS-only syntax isbot uses into the regex crate's: in a character class, a `-`
/// next to a class escape (`[\w\d-.]`) is a literal in JS but an error here, so escape it.
fn js_to_rust_syntax(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut in_class = false;
    let mut i = 0;
    let is_class_escape = |c: Option<&char>| matches!(c, Some('w' | 'W' | 'd' | 'D' | 's' | 'S'));
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.get(i + 1) {
                    out.push(*next);
                }
                i += 2;
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '-' if in_class => {
                let after_escape = i >= 2 && chars[i - 2] == '\\' && is_class_escape(chars.get(i - 1));
                let before_escape = chars.get(i + 1) == Some(&'\\') && is_class_escape(chars.get(i + 2));
                if after_escape || before_escape {
                    out.push_str("\\-");
                    i += 1;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Index in `s` of the `)` closing a group opened just before `s`.
fn closing_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut escaped = false;
    let mut in_class = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => {
                if depth == 0 {
                    return Some(i);
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendored_pattern_compiles_and_list_is_not_empty() {
        let patterns: Vec<String> = serde_json::from_str(PATTERNS_JSON).unwrap();
        assert!(patterns.len() > 100, "only {} patterns", patterns.len());
        for p in &patterns {
            BotMatcher::from_patterns(std::slice::from_ref(p)).unwrap_or_else(|e| panic!("{e}"));
        }
        BotMatcher::new().unwrap();
    }

    #[test]
    fn known_crawlers_match() {
        let m = BotMatcher::new().unwrap();
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "curl/8.4.0",
            "python-requests/2.31.0",
            "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
            "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Java/17.0.2",
            "HeadlessChrome/120.0",
            "Some Scanner",
        ] {
            assert!(m.is_bot(ua), "{ua}");
        }
    }

    #[test]
    fn real_browsers_do_not_match() {
        let m = BotMatcher::new().unwrap();
        for ua in [
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/440.0.0.0]",
            "Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 GoogleApp/15.0",
        ] {
            assert!(!m.is_bot(ua), "{ua}");
        }
    }

    #[test]
    fn lookarounds_mean_what_they_say() {
        let m = BotMatcher::from_patterns(&["(?<!cam)scan".into(), "java(?!;)".into(), "(?<! cu)bots?(?:\\b|_)".into()]).unwrap();
        assert!(m.is_bot("virus scan"));
        assert!(!m.is_bot("webcamscan"));
        assert!(m.is_bot("camscan then scan"));
        assert!(m.is_bot("java/1.8"));
        assert!(!m.is_bot("java; enabled"));
        assert!(m.is_bot("a bot here"));
        assert!(!m.is_bot("Mozilla cubot phone"));
        assert_eq!(split_lookaround("plain"), None);
        assert_eq!(js_to_rust_syntax(r"[\w\d-.]+[a-z]"), r"[\w\d\-.]+[a-z]");
        assert_eq!(js_to_rust_syntax(r"[.-\w]"), r"[.\-\w]");
        assert_eq!(split_lookaround("(?<!a(b))c(?!d)"), Some((Some("a(b)"), "c", Some("d"))));
    }
}
