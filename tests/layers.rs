//! The parts of the core stand in layers (src/lib.rs lists them, lowest first): a part may use
//! the parts below it, never one above, so no import runs up and no circle can form. This reads
//! every source file's `crate::<part>` paths (comments and test modules left out) and checks
//! them against the order. `cargo test --test layers` runs it alone.

use std::fs;
use std::path::Path;

/// The parts, lowest first, as src/lib.rs lists them. `config::parse` is the leaf of
/// `config`, whose `mod.rs` assembles every part's settings at the top of the core.
const LAYERS: [&str; 13] =
    ["config::parse", "proxy", "log", "bots", "event", "page_events", "visitor", "destinations", "delivery", "analytics", "tracking", "config", "edge"];

/// The part a file under `src/` belongs to.
fn part_of(relative: &str) -> &str {
    if relative == "config/parse.rs" {
        return "config::parse";
    }
    relative.split('/').next().unwrap_or(relative).trim_end_matches(".rs")
}

/// The text a build of the Worker compiles: without comments and test modules (a test
/// module, `#[cfg(test)]` then `mod <name> {`, runs to the end of its file by tagrelay's
/// convention; a test-only declaration such as `#[cfg(test)] mod compile;` is one line).
fn code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            let next = lines.get(i + 1).map_or("", |l| l.trim());
            if next.starts_with("mod ") && next.ends_with('{') {
                break;
            }
            continue;
        }
        out.push_str(trimmed.split("//").next().unwrap_or(""));
        out.push('\n');
    }
    out
}

/// Every `crate::<part>` a text uses (`crate::config::parse` as `config::parse`).
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let path = if name == "config" && after[name.len()..].starts_with("::parse") { "config::parse".to_string() } else { name };
        out.push(path);
        rest = after;
    }
    out
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_import_runs_from_a_lower_layer_to_a_higher_one() {
    let mut all = Vec::new();
    files(Path::new("src"), &mut all);
    let mut upward = Vec::new();
    for path in all {
        let relative = path.strip_prefix("src").unwrap().to_string_lossy().replace('\\', "/");
        if relative == "lib.rs" {
            continue;
        }
        let part = part_of(&relative);
        let Some(level) = LAYERS.iter().position(|l| *l == part) else {
            panic!("src/{relative}: part {part:?} is in no layer: add it to LAYERS and src/lib.rs");
        };
        for used in uses(&code(&fs::read_to_string(&path).unwrap())) {
            if used == part {
                continue;
            }
            match LAYERS.iter().position(|l| *l == used) {
                Some(other) if other < level => {}
                _ => upward.push(format!("src/{relative} ({part}) uses crate::{used}")),
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "imports from a lower layer up:\n{}", upward.join("\n"));
}

#[test]
fn only_lib_rs_stands_in_src() {
    let loose: Vec<String> = fs::read_dir("src")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "lib.rs"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(loose.is_empty(), "files in src/ besides lib.rs: {loose:?}");
}

#[test]
fn the_reader_finds_paths_and_skips_comments_and_tests() {
    assert_eq!(uses("use crate::config::parse::Get; crate::proxy::x"), ["config::parse", "proxy"]);
    assert_eq!(uses(&code("// crate::edge\nlet a = 1; // crate::edge\n")), Vec::<String>::new());
    assert_eq!(uses(&code("use crate::log;\n#[cfg(test)]\nmod tests {\n use crate::edge;\n}\n")), ["log"]);
    assert_eq!(uses(&code("#[cfg(test)]\nmod compile;\nuse crate::proxy;\n")), ["proxy"], "a test-only declaration is one line");
    assert_eq!(part_of("visitor/consent/mod.rs"), "visitor");
    assert_eq!(part_of("config/parse.rs"), "config::parse");
}
