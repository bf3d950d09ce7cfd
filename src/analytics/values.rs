//! The small value helpers the stats share: reading a field of a D1 row (a JSON object), and
//! bounding a text to a byte length without cutting a character.

use serde_json::Value;

/// Field `key` of `row` as a whole number, 0 when missing.
pub fn num(row: &Value, key: &str) -> u64 {
    row.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Field `key` of `row` as text, empty when missing.
pub fn text<'a>(row: &'a Value, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The longest start of `text` of at most `max` bytes that ends on a character boundary.
pub fn clip(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_and_clipping() {
        let row = json!({"n": 3, "t": "x"});
        assert_eq!((num(&row, "n"), num(&row, "t"), text(&row, "t"), text(&row, "n")), (3, 0, "x", ""));
        assert_eq!(clip("héllo", 2), "h", "é is two bytes: not cut");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }
}
