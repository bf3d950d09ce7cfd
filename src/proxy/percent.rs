//! Percent-decoding, as servers read query strings and banners store cookies.

use std::borrow::Cow;

/// `text` with each `%XX` decoded (an invalid escape is kept as it is). With
/// `plus_is_space`, `+` is a space, as in a query string; cookies keep their `+`.
/// Bytes that do not form UTF-8 are replaced, never an error.
pub fn decode(text: &str, plus_is_space: bool) -> Cow<'_, str> {
    if !(text.contains('%') || plus_is_space && text.contains('+')) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16);
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `text` percent-encoded for a URL's query value: everything but RFC 3986's unreserved
/// characters (letters, digits, `-._~`) is escaped.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_escapes_and_keeps_bad_ones() {
        assert_eq!(decode("%7Bstamp%3A%27-1%27%7D", false), "{stamp:'-1'}");
        assert_eq!(decode("a+b%2", false), "a+b%2");
        assert_eq!(decode("a+b%zz", true), "a b%zz");
        assert_eq!(decode("%65mail", true), "email");
        assert_eq!(decode("%ff", false), "\u{fffd}");
        assert!(matches!(decode("plain", true), std::borrow::Cow::Borrowed(_)));
    }
}
