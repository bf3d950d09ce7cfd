//! The syntax half of the crawler matcher: turns isbot's JavaScript patterns into the pieces
//! the DFA compiler (`src/bots/compile.rs`, run by `build.rs`) accepts.
//!
//! isbot's patterns are JavaScript regular expressions; six of them use lookaround, which
//! finite automata cannot express. Each such pattern `(?<!B)C(?!A)` becomes a core `C` plus
//! anchored checks `B$` on the text before and `^A` on the text after each candidate match,
//! which is exactly what the lookarounds mean (see [`Piece`]).
//!
//! No dependencies, so `build.rs` includes this file with `#[path]`.

/// One isbot pattern, rewritten into regex-automata syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A pattern without lookaround.
    Plain(String),
    /// `(?<!B)C(?!A)`, either lookaround optional: matches where `C` matches, the text before
    /// does not end with `B` and the text after does not start with `A`.
    Lookaround {
        /// `B`, the negative lookbehind.
        not_after: Option<String>,
        /// `C`, what the pattern matches.
        core: String,
        /// `A`, the negative lookahead.
        not_before: Option<String>,
    },
}

/// Rewrites one JavaScript pattern into a [`Piece`]. Lookarounds anywhere but at the very
/// start (lookbehind) or end (lookahead) stay in the core, where the compiler rejects them,
/// so an unsupported shape fails the build loudly.
pub fn piece(js_pattern: &str) -> Piece {
    let pattern = js_to_rust_syntax(js_pattern);
    match split_lookaround(&pattern) {
        None => Piece::Plain(pattern),
        Some((behind, core, ahead)) => Piece::Lookaround {
            not_after: behind.map(str::to_string),
            core: core.to_string(),
            not_before: ahead.map(str::to_string),
        },
    }
}

/// Splits `(?<!B)C(?!A)` (either lookaround optional) into `(B, C, A)`; `None` when the
/// pattern has no lookaround. Lookarounds elsewhere in a pattern are left in the core, where
/// the compiler rejects them.
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
    fn lookarounds_split_into_core_and_checks() {
        assert_eq!(piece("plain"), Piece::Plain("plain".into()));
        assert_eq!(
            piece("(?<! cu)bots?(?:\\b|_)"),
            Piece::Lookaround { not_after: Some(" cu".into()), core: "bots?(?:\\b|_)".into(), not_before: None }
        );
        assert_eq!(piece("java(?!;)"), Piece::Lookaround { not_after: None, core: "java".into(), not_before: Some(";".into()) });
        assert_eq!(split_lookaround("plain"), None);
        assert_eq!(split_lookaround("(?<!a(b))c(?!d)"), Some((Some("a(b)"), "c", Some("d"))));
    }

    #[test]
    fn js_only_class_syntax_is_rewritten() {
        assert_eq!(js_to_rust_syntax(r"[\w\d-.]+[a-z]"), r"[\w\d\-.]+[a-z]");
        assert_eq!(js_to_rust_syntax(r"[.-\w]"), r"[.\-\w]");
        assert_eq!(js_to_rust_syntax(r"a-b[x-z]"), r"a-b[x-z]");
    }
}
