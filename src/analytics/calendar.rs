//! UTC days (days since 1970-01-01) to and from `YYYY-MM-DD`, by the proleptic Gregorian
//! calendar (Howard Hinnant's `days_from_civil` / `civil_from_days`). Written out rather than
//! taken from chrono, whose formatting machinery would grow the Worker by kilobytes.

/// Days in a 400-year era.
const DAYS_PER_ERA: i64 = 146_097;
/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT: i64 = 719_468;

/// Whether `year` is a leap year.
fn leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`.
fn month_days(year: i64, month: u32) -> u32 {
    match month {
        2 if leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a valid date on or after it; `None` otherwise.
pub fn day_of(year: i64, month: u32, day: u32) -> Option<u64> {
    if !(1..=12).contains(&month) || day == 0 || day > month_days(year, month) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * DAYS_PER_ERA + doe - EPOCH_SHIFT).ok()
}

/// `YYYY-MM-DD` of day `day` since 1970-01-01.
pub fn date_of(day: u64) -> String {
    let z = day as i64 + EPOCH_SHIFT;
    let era = z.div_euclid(DAYS_PER_ERA);
    let doe = z - era * DAYS_PER_ERA;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD` (exactly that shape, a real date, not before 1970) as days since 1970-01-01.
pub fn parse_date(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    day_of(i64::from(num(0..4)?), num(5..7)?, num(8..10)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(20_423), "2025-12-01");
        assert_eq!(parse_date("2025-12-01"), Some(20_423));
        assert_eq!(parse_date("2000-02-29"), Some(11_016));
        assert_eq!(date_of(11_016), "2000-02-29");
    }

    #[test]
    fn invalid_dates() {
        for bad in ["2025-02-29", "1900-02-29", "2025-13-01", "2025-00-10", "2025-04-31", "1969-12-31", "2025-1-01", "+025-01-01", "2025-01-0a", ""] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_every_day_for_six_centuries() {
        for day in 0..220_000u64 {
            let date = date_of(day);
            assert_eq!(parse_date(&date), Some(day), "{date}");
        }
    }
}
