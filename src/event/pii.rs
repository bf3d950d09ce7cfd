//! Normalizing and hashing customer information as Meta specifies
//! (<https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters>).
//!
//! Every value is normalized, then SHA-256 hashed to lowercase hex. A value that already is
//! 64 hex characters is taken as hashed and passed on (lowercased). A value that is empty or
//! invalid after normalization is dropped, never sent.

use sha2::{Digest, Sha256};

/// Length of a SHA-256 digest in hex.
const SHA256_HEX_LEN: usize = 64;

/// Normalizes `value` for the user data field `key`; `None` when nothing valid remains.
pub fn normalize(key: &str, value: &str) -> Option<String> {
    let v = value.trim();
    let out = match key {
        "em" => {
            let email = v.to_lowercase();
            email.contains('@').then_some(email)
        }
        "ph" => {
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            Some(digits.trim_start_matches('0').to_string())
        }
        "fn" | "ln" | "ct" => Some(letters_and_digits(v)),
        "st" => Some(letters_and_digits(v)),
        "zp" => Some(zip(v)),
        "country" => {
            let c = v.to_ascii_lowercase();
            (c.len() == 2 && c.bytes().all(|b| b.is_ascii_lowercase())).then_some(c)
        }
        "db" => date_of_birth(v),
        "ge" => match v.to_lowercase().chars().next() {
            Some(g @ ('f' | 'm')) => Some(g.to_string()),
            _ => None,
        },
        "external_id" => Some(v.to_string()),
        _ => None,
    };
    out.filter(|s| !s.is_empty())
}

/// Google's email rule (GA4's `sha256_email_address`): trimmed, lowercase, and for gmail.com and googlemail.com addresses
/// no dots before the `@`.
pub fn google_email(value: &str) -> Option<String> {
    let email = value.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    if domain == "gmail.com" || domain == "googlemail.com" {
        return Some(format!("{}@{domain}", local.replace('.', "")));
    }
    Some(email)
}

/// E.164 (GA4's `sha256_phone_number`, TikTok's `phone`): `+` and the digits (the origin sends the country code, as Meta also requires;
/// a leading international `00` is dropped). `None` unless 8 to 15 digits remain.
pub fn e164_phone(value: &str) -> Option<String> {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_start_matches('0');
    (8..=15).contains(&digits.len()).then(|| format!("+{digits}"))
}

/// Normalizes and hashes; already-hashed values pass unchanged (lowercased).
pub fn normalize_and_hash(key: &str, value: &str) -> Option<String> {
    hash_with(value, |v| normalize(key, v))
}

/// The SHA-256 of `normalize(value)` (trimmed), for any platform's normalization rules; a
/// value already hashed (64 hex digits) passes unchanged (lowercased).
pub fn hash_with(value: &str, normalize: impl Fn(&str) -> Option<String>) -> Option<String> {
    let trimmed = value.trim();
    if is_sha256_hex(trimmed) {
        return Some(trimmed.to_ascii_lowercase());
    }
    normalize(trimmed).map(|n| sha256_hex(&n))
}

/// SHA-256 of `text`'s UTF-8 bytes, lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(SHA256_HEX_LEN);
    for byte in digest {
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0xF), 16).unwrap_or('0'));
    }
    out
}

/// True for exactly 64 hex digits: a value the origin hashed already.
pub fn is_sha256_hex(value: &str) -> bool {
    value.len() == SHA256_HEX_LEN && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Lowercase, keeping only letters and digits (any script): no punctuation, no spaces.
fn letters_and_digits(v: &str) -> String {
    v.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Lowercase, no spaces or dashes; a US ZIP+4 keeps its first five digits.
fn zip(v: &str) -> String {
    let compact: String = v.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect();
    let is_zip_plus_four = compact.len() == 9 && compact.bytes().all(|b| b.is_ascii_digit()) && v.contains('-');
    if is_zip_plus_four { compact[..5].to_string() } else { compact }
}

/// `YYYYMMDD` from `YYYYMMDD`, `YYYY-MM-DD`, `YYYY/MM/DD` or `YYYY.MM.DD`, if a real date.
fn date_of_birth(v: &str) -> Option<String> {
    let digits: String = v.chars().filter(char::is_ascii_digit).collect();
    let separators_ok = v.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '/' | '.'));
    if digits.len() != 8 || !separators_ok {
        return None;
    }
    let date = chrono::NaiveDate::parse_from_str(&digits, "%Y%m%d").ok()?;
    Some(date.format("%Y%m%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_normalization_examples() {
        // Examples from Meta's customer information parameters page.
        for (key, raw, want) in [
            ("em", " John_Smith@gmail.com ", "john_smith@gmail.com"),
            ("ph", "+1 (616) 954-78 88", "16169547888"),
            ("ph", "001 650 555 1212", "16505551212"),
            ("fn", "Mary-Jane", "maryjane"),
            ("fn", "Valéry", "valéry"),
            ("ln", "O'Neil Smith", "oneilsmith"),
            ("ct", "San Francisco", "sanfrancisco"),
            ("st", "CA", "ca"),
            ("zp", "94035-1234", "94035"),
            ("zp", "W1A 1AA", "w1a1aa"),
            ("country", "US", "us"),
            ("db", "1997-02-16", "19970216"),
            ("db", "19970216", "19970216"),
            ("ge", "Female", "f"),
            ("ge", "m", "m"),
            ("external_id", " abc-123 ", "abc-123"),
        ] {
            assert_eq!(normalize(key, raw).as_deref(), Some(want), "{key} {raw:?}");
        }
    }

    #[test]
    fn invalid_values_are_dropped() {
        for (key, raw) in [
            ("em", "not-an-email"), ("ph", "abc"), ("country", "USA"), ("db", "1997-02-30"),
            ("db", "16/02/97"), ("ge", "x"), ("fn", " - "), ("unknown", "x"), ("em", "  "),
        ] {
            assert_eq!(normalize(key, raw), None, "{key} {raw:?}");
        }
    }

    #[test]
    fn hashes_match_sha256_of_normalized_value() {
        // Digests computed independently with `printf %s VALUE | sha256sum`.
        assert_eq!(normalize_and_hash("em", " John_Smith@gmail.com "), Some("62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f".into()));
        assert_eq!(normalize_and_hash("ph", "+1 (650) 555-1212"), Some("e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176".into()));
        assert_eq!(normalize_and_hash("fn", "John"), Some("96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a".into()));
    }

    #[test]
    fn hashed_values_pass_unchanged() {
        let h = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f";
        assert_eq!(normalize_and_hash("em", h).as_deref(), Some(h));
        assert_eq!(normalize_and_hash("em", &h.to_uppercase()).as_deref(), Some(h));
        assert_eq!(normalize_and_hash("em", "nope"), None);
    }
}
