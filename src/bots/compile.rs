//! The compile half of the crawler matcher: builds the pattern list into DFAs and serializes
//! them. `build.rs` runs it when the crate is built, so a Worker isolate loads ready tables
//! (`src/bots/mod.rs`) instead of running a regex compiler on its first tracked request.
//!
//! The tables:
//! - plain patterns that can only match at the start of the UA (`^...`) in one DFA, the other
//!   plain patterns in another: one DFA for all of them would hold the product of both sets'
//!   states (measured: 238 MB instead of 2.8 MB);
//! - the cores of all lookaround patterns in one DFA, a prefilter: a UA that matches none of
//!   them (almost every browser) needs no per-pattern check;
//! - per lookaround pattern, its core as a forward and reverse DFA pair (to find where each
//!   match starts and ends) and its lookbehind `B$` and lookahead `^A` as DFAs.
//!
//! Matching is ASCII case-insensitive on bytes (`unicode(false)`), as a JS `RegExp` with the
//! `i` flag (and no `u` flag) is on these ASCII patterns: `\w`, `\d`, `\b` are ASCII in JS too.
//!
//! Needs regex-automata's `dfa-build` and regex-syntax: a build-dependency, and a
//! dev-dependency for the unit tests that compile their own small lists.

use super::syntax::{piece, Piece};
use regex_automata::dfa::{dense, regex, StartKind};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_syntax::hir::Look;
use std::fmt;

/// One serialized DFA: `bytes[pad..]` is the table, 4-byte aligned while `bytes` is not moved.
#[derive(Debug, Clone)]
pub struct Serialized {
    /// The serialized DFA, preceded by `pad` bytes of alignment padding.
    pub bytes: Vec<u8>,
    /// How many leading bytes of `bytes` are padding.
    pub pad: usize,
}

impl Serialized {
    /// The table itself, without the padding.
    pub fn table(&self) -> &[u8] {
        &self.bytes[self.pad..]
    }
}

/// A lookaround pattern's tables.
#[derive(Debug, Clone)]
pub struct LookaroundTables {
    /// The core, searched forward (finds where a match ends).
    pub core_forward: Serialized,
    /// The core, searched backward from a match's end (finds where it starts).
    pub core_reverse: Serialized,
    /// `B$`, the lookbehind, matched against the text before a core match.
    pub not_after: Option<Serialized>,
    /// `^A`, the lookahead, matched against the text after a core match.
    pub not_before: Option<Serialized>,
}

/// Every table of a pattern list.
#[derive(Debug, Clone)]
pub struct Tables {
    /// Plain patterns that match only at the start of the UA.
    pub plain_at_start: Option<Serialized>,
    /// All other plain patterns.
    pub plain_anywhere: Option<Serialized>,
    /// The cores of all lookaround patterns, as a prefilter.
    pub any_core: Option<Serialized>,
    /// One entry per lookaround pattern.
    pub lookaround: Vec<LookaroundTables>,
}

/// Byte order of the target the tables are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// wasm32, x86, most ARM.
    Little,
    /// A big-endian target.
    Big,
}

/// Why the pattern list could not be compiled (only possible after a refresh of the list).
#[derive(Debug)]
pub enum CompileError {
    /// `patterns.json` is not a JSON array of strings.
    List(String),
    /// A pattern does not compile.
    Pattern {
        /// The pattern as isbot writes it.
        pattern: String,
        /// What the compiler said.
        reason: String,
    },
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::List(e) => write!(f, "src/bots/patterns.json is not a JSON array of strings ({e}); run scripts/refresh-bot-patterns.sh"),
            CompileError::Pattern { pattern, reason } => {
                write!(f, "bot pattern {pattern:?} does not compile ({reason}); fix src/bots/patterns.json or pin an older isbot")
            }
        }
    }
}

impl std::error::Error for CompileError {}

fn syntax_config() -> syntax::Config {
    syntax::Config::new().case_insensitive(true).unicode(false).utf8(false)
}

fn thompson_config() -> thompson::Config {
    thompson::Config::new().utf8(false)
}

fn dense_config() -> dense::Config {
    dense::Config::new().minimize(true).start_kind(StartKind::Unanchored)
}

/// Compiles isbot's JS patterns into tables for a target of byte order `endian`.
pub fn compile(js_patterns: &[String], endian: Endian) -> Result<Tables, CompileError> {
    let serialize = |dfa: &dense::DFA<Vec<u32>>| {
        let (bytes, pad) = match endian {
            Endian::Little => dfa.to_bytes_little_endian(),
            Endian::Big => dfa.to_bytes_big_endian(),
        };
        Serialized { bytes, pad }
    };
    let mut at_start = Vec::new();
    let mut anywhere = Vec::new();
    let mut cores = Vec::new();
    let mut lookaround = Vec::new();
    for js in js_patterns {
        let fail = |reason: String| CompileError::Pattern { pattern: js.clone(), reason };
        let dfa = |pattern: &str| build_dfa(&[pattern]).map(|d| serialize(&d)).map_err(&fail);
        match piece(js) {
            Piece::Plain(p) => {
                let hir = syntax::parse_with(&p, &syntax_config()).map_err(|e| fail(e.to_string()))?;
                match hir.properties().look_set_prefix().contains(Look::Start) {
                    true => at_start.push(p),
                    false => anywhere.push(p),
                }
            }
            Piece::Lookaround { not_after, core, not_before } => {
                let re = regex::Builder::new()
                    .syntax(syntax_config())
                    .thompson(thompson_config())
                    .dense(dense::Config::new().minimize(true))
                    .build(&core)
                    .map_err(|e| fail(e.to_string()))?;
                let (core_forward, core_reverse) = (serialize(re.forward()), serialize(re.reverse()));
                lookaround.push(LookaroundTables {
                    core_forward,
                    core_reverse,
                    not_after: not_after.map(|b| dfa(&format!("(?:{b})$"))).transpose()?,
                    not_before: not_before.map(|a| dfa(&format!("^(?:{a})"))).transpose()?,
                });
                cores.push(core);
            }
        }
    }
    let union = |patterns: &[String], what: &str| -> Result<Option<Serialized>, CompileError> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let dfa = build_dfa(patterns).map_err(|reason| CompileError::Pattern { pattern: what.to_string(), reason })?;
        Ok(Some(serialize(&dfa)))
    };
    Ok(Tables {
        plain_at_start: union(&at_start, "<patterns anchored at the start>")?,
        plain_anywhere: union(&anywhere, "<other patterns>")?,
        any_core: union(&cores, "<lookaround cores>")?,
        lookaround,
    })
}

/// Compiles the JSON list (`src/bots/patterns.json`).
pub fn compile_json(json: &str, endian: Endian) -> Result<Tables, CompileError> {
    let patterns: Vec<String> = serde_json::from_str(json).map_err(|e| CompileError::List(e.to_string()))?;
    compile(&patterns, endian)
}

/// One unanchored DFA that matches where any of `patterns` matches. One alternation, not a
/// multi-pattern DFA: its match states need not remember which pattern matched, so it
/// minimizes to about two thirds of the size.
fn build_dfa<P: AsRef<str>>(patterns: &[P]) -> Result<dense::DFA<Vec<u32>>, String> {
    let union = patterns.iter().map(|p| format!("(?:{})", p.as_ref())).collect::<Vec<_>>().join("|");
    dense::Builder::new()
        .syntax(syntax_config())
        .thompson(thompson_config())
        .configure(dense_config())
        .build(&union)
        .map_err(|e| e.to_string())
}
