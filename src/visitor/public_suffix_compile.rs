//! The build half of [`super::public_suffix`]: compiles the Public Suffix List's rules
//! (`src/visitor/public_suffix_list.dat`, one rule a line) into three sorted lists that the
//! Worker searches, each one text of lines joined by `\n`, with internationalized labels in
//! their ASCII (punycode, `xn--`) form, as hosts arrive in URLs. One-label rules (`com`) are
//! left out: the list's default rule (`*`) says the same. Run by build.rs; here for its tests.

/// The compiled list.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    /// Suffixes (`co.uk`, `pages.dev`).
    pub rules: String,
    /// Wildcard rules without their `*.` (`*.ck` is `ck`: every label under it is a suffix).
    pub wildcards: String,
    /// Exception rules without their `!` (`!www.ck`: not a suffix, though a wildcard says so).
    pub exceptions: String,
}

/// Compiles the list's text; lines that are empty or comments (`//`) are skipped.
pub fn compile(list: &str) -> Compiled {
    let (mut rules, mut wildcards, mut exceptions) = (Vec::new(), Vec::new(), Vec::new());
    for line in list.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")) {
        let rule = line.split_whitespace().next().unwrap_or(line).to_lowercase();
        if let Some(name) = rule.strip_prefix('!') {
            exceptions.push(ascii_name(name));
        } else if let Some(name) = rule.strip_prefix("*.") {
            wildcards.push(ascii_name(name));
        } else if rule.contains('.') {
            rules.push(ascii_name(&rule));
        }
    }
    let joined = |mut list: Vec<String>| {
        list.sort();
        list.dedup();
        list.join("\n")
    };
    Compiled { rules: joined(rules), wildcards: joined(wildcards), exceptions: joined(exceptions) }
}

/// `name` with each non-ASCII label in its `xn--` form.
fn ascii_name(name: &str) -> String {
    name.split('.').map(|label| if label.is_ascii() { label.to_string() } else { format!("xn--{}", punycode(label)) }).collect::<Vec<_>>().join(".")
}

// RFC 3492's parameters for IDNA.
const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 0x80;

/// RFC 3492 Punycode encoding of one label (without its `xn--`).
pub fn punycode(label: &str) -> String {
    let points: Vec<u32> = label.chars().map(u32::from).collect();
    let mut out: String = label.chars().filter(char::is_ascii).collect();
    let basic = out.len() as u32;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut handled) = (INITIAL_N, 0u32, INITIAL_BIAS, basic);
    while (handled as usize) < points.len() {
        let next = points.iter().copied().filter(|&c| c >= n).min().unwrap_or(n);
        delta += (next - n) * (handled + 1);
        n = next;
        for &c in &points {
            if c < n {
                delta += 1;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias { T_MIN } else if k >= bias + T_MAX { T_MAX } else { k - bias };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    out
}

fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

fn digit(d: u32) -> char {
    char::from(if d < 26 { b'a' + d as u8 } else { b'0' + (d - 26) as u8 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punycode_as_rfc_3492_and_browsers_write_it() {
        assert_eq!(punycode("公司"), "55qx5d");
        assert_eq!(punycode("aéroport"), "aroport-bya");
        assert_eq!(punycode("bücher"), "bcher-kva");
        assert_eq!(punycode("münchen"), "mnchen-3ya");
        assert_eq!(ascii_name("公司.cn"), "xn--55qx5d.cn");
    }

    #[test]
    fn rules_are_sorted_by_kind_and_one_label_rules_dropped() {
        let c = compile("// a comment\ncom\nco.uk\n*.ck\n!www.ck\n\nCOM.AU  trailing\npages.dev\n公司.cn\n");
        assert_eq!(c.rules, "co.uk\ncom.au\npages.dev\nxn--55qx5d.cn");
        assert_eq!(c.wildcards, "ck");
        assert_eq!(c.exceptions, "www.ck");
    }
}
