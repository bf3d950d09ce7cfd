//! Money, exactly: an event's `custom_data.value` read as a whole number of thousandths of
//! its currency's unit (three decimals cover every ISO 4217 currency, the Bahraini dinar's
//! fils included), so sums never drift as floats do; and an amount written back with its
//! currency's decimals (two for EUR, none for JPY, three for KWD).

use serde_json::{Number, Value};

/// Thousandths per unit of a currency: what [`Amount`]s count.
pub const SCALE: i64 = 1_000;
/// Digits after the point that [`SCALE`] keeps.
const SCALE_DIGITS: u32 = 3;

/// A sum of money in thousandths of its currency's unit.
pub type Amount = i64;

/// ISO 4217 currencies with no minor unit.
const NO_DECIMALS: [&str; 17] = ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"];
/// ISO 4217 currencies with three decimals.
const THREE_DECIMALS: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// `value` (a JSON number, as the header decoder leaves it) in thousandths, rounded half away
/// from zero past the third decimal; `None` for anything else or an amount too large to sum.
pub fn amount_of(value: &Value) -> Option<Amount> {
    match value {
        Value::Number(n) => amount_of_number(n),
        _ => None,
    }
}

/// A JSON number's exact decimal text (`19.99`, `1e3`, `-0.5`) in thousandths.
fn amount_of_number(n: &Number) -> Option<Amount> {
    if let Some(i) = n.as_i64() {
        return i.checked_mul(SCALE);
    }
    parse_decimal(&n.to_string())
}

/// A decimal text with an optional sign, point and exponent, in thousandths.
fn parse_decimal(text: &str) -> Option<Amount> {
    let (negative, text) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // digits × 10^(exponent − fraction's length), then × SCALE.
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let shift = exponent.checked_sub(i32::try_from(fraction.len()).ok()?)?.checked_add(SCALE_DIGITS as i32)?;
    let mut amount: i64 = 0;
    let (kept, dropped) = if shift >= 0 {
        (digits, "")
    } else {
        let cut = digits.len().saturating_sub(shift.unsigned_abs() as usize);
        digits.split_at(cut)
    };
    for d in kept.bytes() {
        amount = amount.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    if shift > 0 {
        amount = amount.checked_mul(10i64.checked_pow(shift.unsigned_abs())?)?;
    } else if shift < 0 {
        // Digits below a thousandth: round half away from zero. Fewer digits than the shift
        // leaves means the first dropped digit is a leading zero.
        let first_dropped = if (shift.unsigned_abs() as usize) > digits.len() { b'0' } else { dropped.as_bytes().first().copied().unwrap_or(b'0') };
        if first_dropped >= b'5' {
            amount = amount.checked_add(1)?;
        }
    }
    Some(if negative { -amount } else { amount })
}

/// Decimals shown for `currency` (ISO 4217's minor unit; two when unknown).
pub fn decimals(currency: &str) -> u32 {
    if NO_DECIMALS.contains(&currency) {
        0
    } else if THREE_DECIMALS.contains(&currency) {
        3
    } else {
        2
    }
}

/// `amount` written with `currency`'s decimals (`59.98`, `1500`, `1.250`), rounded half away
/// from zero when the amount has finer parts than the currency shows.
pub fn format(amount: Amount, currency: &str) -> String {
    let places = decimals(currency);
    let step = 10i64.pow(SCALE_DIGITS - places);
    let magnitude = amount.unsigned_abs();
    let step_u = step.unsigned_abs();
    let rounded = (magnitude + step_u / 2) / step_u;
    let sign = if amount < 0 && rounded > 0 { "-" } else { "" };
    if places == 0 {
        return format!("{sign}{rounded}");
    }
    let unit = 10u64.pow(places);
    format!("{sign}{}.{:0width$}", rounded / unit, rounded % unit, width = places as usize)
}

/// `amount` as a JSON number with `currency`'s decimals (`59.98`): the shortest float that
/// reads back as that decimal, so JSON readers see the exact figure.
pub fn to_json(amount: Amount, currency: &str) -> Value {
    let text = format(amount, currency);
    text.parse::<f64>().ok().and_then(Number::from_f64).map_or(Value::from(0), Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_read_exactly_in_thousandths() {
        for (value, want) in [
            (json!(19.99), Some(19_990)),
            (json!(0.1), Some(100)),
            (json!(59), Some(59_000)),
            (json!(-4.5), Some(-4_500)),
            (json!(1.0005), Some(1_001)),
            (json!(1.0004), Some(1_000)),
            (json!(0.0004), Some(0)),
            (json!(1e3), Some(1_000_000)),
            (json!(1.25e-1), Some(125)),
            (json!(1.2345e2), Some(123_450)),
            (json!(1e30), None),
            (json!("9.99"), None),
            (json!(null), None),
        ] {
            assert_eq!(amount_of(&value), want, "{value}");
        }
    }

    #[test]
    fn many_cents_sum_with_no_drift() {
        // 0.1 + 0.2 as floats is 0.30000000000000004; in thousandths it is exact.
        let sum: Amount = [json!(0.1), json!(0.2)].iter().filter_map(amount_of).sum();
        assert_eq!(format(sum, "EUR"), "0.30");
        let many: Amount = (0..10_000).map(|_| amount_of(&json!(19.99)).unwrap()).sum();
        assert_eq!(format(many, "EUR"), "199900.00");
        assert_eq!(to_json(many, "EUR"), json!(199900.0));
    }

    #[test]
    fn written_with_the_currencys_decimals() {
        assert_eq!(format(59_980, "EUR"), "59.98");
        assert_eq!(format(1_500_000, "JPY"), "1500");
        assert_eq!(format(1_499_500, "JPY"), "1500", "rounded half away from zero");
        assert_eq!(format(1_250, "KWD"), "1.250");
        assert_eq!(format(-4_505, "USD"), "-4.51");
        assert_eq!(format(-4, "USD"), "0.00", "no minus zero");
        assert_eq!(format(5, "XYZ"), "0.01", "two decimals when unknown");
        assert_eq!(to_json(59_980, "EUR"), json!(59.98));
        assert_eq!(to_json(1_500_000, "JPY"), json!(1500.0));
    }
}
