//! RFC 4180 fields: a field holding a comma, a quote, CR or LF is quoted, its quotes doubled.

use std::borrow::Cow;

/// `value` as one CSV field.
pub fn field(value: &str) -> Cow<'_, str> {
    if value.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

/// One CSV record: the fields joined by commas, ended by CRLF (RFC 4180's line break).
pub fn record(fields: &[&str]) -> String {
    let mut out = fields.iter().map(|f| field(f)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(field("/p/42"), "/p/42");
        assert_eq!(field("/a,b"), "\"/a,b\"");
        assert_eq!(field("/say \"hi\""), "\"/say \"\"hi\"\"\"");
        assert_eq!(field("a\nb"), "\"a\nb\"");
        assert_eq!(record(&["2026-12-01", "/a,b", "3", "2"]), "2026-12-01,\"/a,b\",3,2\r\n");
    }
}
