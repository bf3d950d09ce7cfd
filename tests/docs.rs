//! The docs stay true to the tree: every relative link in README.md and docs/ (and routes.md)
//! reaches a file and, with `#anchor`, a heading of it, so a moved heading cannot break a link
//! silently; and docs/configuration.md's table names every variable the Worker reads.

use std::fs;
use std::path::{Path, PathBuf};

/// The Markdown files whose links are checked.
fn documents() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("README.md"), PathBuf::from("routes.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir("docs").expect("docs/").map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "md")).collect();
    docs.sort();
    out.extend(docs);
    out
}

/// GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading.trim().to_lowercase().chars().filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_')).map(|c| if c == ' ' { '-' } else { c }).collect()
}

/// The anchors of a Markdown text's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.starts_with("```") {
                fenced = !fenced;
            }
            !fenced && l.starts_with('#')
        })
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// The `](target)` links of a text, outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_reaches_its_file_and_heading() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = fs::read_to_string(&doc).unwrap();
        let dir = doc.parent().unwrap_or(Path::new(""));
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = link.split_once('#').map_or((link.as_str(), None), |(p, a)| (p, Some(a)));
            let target = if path.is_empty() { doc.clone() } else { dir.join(path) };
            if !target.exists() {
                broken.push(format!("{}: {link}: no file {}", doc.display(), target.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                let headings = anchors(&fs::read_to_string(&target).unwrap_or_default());
                if !headings.iter().any(|h| h == anchor) {
                    broken.push(format!("{}: {link}: no heading #{anchor} in {}", doc.display(), target.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_configuration_table_names_every_variable() {
    let table = fs::read_to_string("docs/configuration.md").unwrap();
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| `")).collect();
    let missing: Vec<&str> =
        tagrelay::config::all_vars().into_iter().filter(|var| !rows.iter().any(|r| r.split('|').nth(1).is_some_and(|cell| cell.contains(&format!("`{var}`"))))).collect();
    assert!(missing.is_empty(), "docs/configuration.md has no row for {missing:?}");
}

#[test]
fn the_readme_stays_short_with_the_two_commands_on_its_first_screen() {
    let readme = fs::read_to_string("README.md").unwrap();
    assert!(readme.len() <= 15_000, "README.md is {} bytes", readme.len());
    let first_screen: String = readme.lines().take(40).collect::<Vec<_>>().join("\n");
    assert!(first_screen.contains("make dev") && first_screen.contains("make test"));
}

#[test]
fn slugs_as_github_writes_them() {
    assert_eq!(slug(" Destinations: Meta, GA4, TikTok"), "destinations-meta-ga4-tiktok");
    assert_eq!(slug("Stats: page views counted at the edge"), "stats-page-views-counted-at-the-edge");
    assert_eq!(slug("The `Tagrelay-Debug` header"), "the-tagrelay-debug-header");
}
