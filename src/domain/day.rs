//! Calendar days (`YYYY-MM-DD`, Beijing time) as a compact day number, and the query window.

use std::fmt;

use chrono::{Datelike, NaiveDate};

/// A calendar day, stored as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i32);

/// Why a text is not a day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DayError {
    /// Not of the form `YYYY-MM-DD`.
    #[error("day {0} is not of the form YYYY-MM-DD")]
    Format(String),
    /// Well formed but no such date (e.g. 2023-02-30).
    #[error("day {0} does not exist")]
    NoSuchDate(String),
}

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

/// Length of the query window in days (D-13 … D).
pub const WINDOW_DAYS: i32 = 14;

impl Day {
    /// Parses a strict `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Day, DayError> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 10
            || b[4] != b'-'
            || b[7] != b'-'
            || !digits(0..4)
            || !digits(5..7)
            || !digits(8..10)
        {
            return Err(DayError::Format(super::mask::quoted(s)));
        }
        let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().expect("checked digits");
        let date = NaiveDate::from_ymd_opt(num(0..4) as i32, num(5..7), num(8..10))
            .ok_or_else(|| DayError::NoSuchDate(super::mask::quoted(s)))?;
        Ok(Day::from_date(date))
    }

    /// Parses an optional day: empty text is `None` (open-ended).
    pub fn parse_opt(s: &str) -> Result<Option<Day>, DayError> {
        if s.is_empty() {
            Ok(None)
        } else {
            Day::parse(s).map(Some)
        }
    }

    /// The day of a calendar date.
    pub fn from_date(d: NaiveDate) -> Day {
        Day(d.num_days_from_ce() - UNIX_EPOCH_FROM_CE)
    }

    /// The calendar date of this day.
    pub fn date(self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.0 + UNIX_EPOCH_FROM_CE).expect("day in range")
    }

    /// Today in Beijing (UTC+8), the default query day.
    pub fn today_beijing() -> Day {
        let now = chrono::Utc::now() + chrono::Duration::hours(8);
        Day::from_date(now.date_naive())
    }

    /// This day moved by `n` days (negative = earlier).
    pub fn plus(self, n: i32) -> Day {
        Day(self.0 + n)
    }

    /// First day of the 14-day window that ends on this day (D-13).
    pub fn window_start(self) -> Day {
        self.plus(-(WINDOW_DAYS - 1))
    }
}

impl Day {
    /// (year, month, day) of this day, by the days-to-civil arithmetic of the proleptic
    /// Gregorian calendar (no table, no division by a variable).
    fn civil(self) -> (i64, u32, u32) {
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }
}

impl Day {
    /// The day as `YYYY-MM-DD` in ASCII, for years 0 to 9999 (every day an answer can carry);
    /// written digit by digit, since answers carry several days each.
    pub fn ascii(self) -> Option<[u8; 10]> {
        let (y, m, d) = self.civil();
        if !(0..=9999).contains(&y) {
            return None;
        }
        let y = y as u32;
        let digit = |v: u32| b'0' + (v % 10) as u8;
        Some([
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ])
    }
}

/// A day's `YYYY-MM-DD` text: ten bytes in place for years 0 to 9999 (every day an answer can
/// carry), formatted otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DayText {
    /// The ten ASCII bytes of [`Day::ascii`].
    Ascii([u8; 10]),
    /// A day outside years 0 to 9999.
    Formatted(String),
}

impl DayText {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            DayText::Ascii(a) => std::str::from_utf8(a).expect("ASCII digits"),
            DayText::Formatted(s) => s,
        }
    }
}

impl Day {
    /// The day's text, without allocating for the years answers carry.
    pub fn text(self) -> DayText {
        match self.ascii() {
            Some(a) => DayText::Ascii(a),
            None => DayText::Formatted(self.to_string()),
        }
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ascii() {
            Some(b) => f.write_str(std::str::from_utf8(&b).expect("ASCII digits")),
            None => {
                let d = self.date();
                write!(f, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_every_day_from_1559_to_2380_as_the_calendar_does() {
        for n in -150_000..150_000 {
            let day = Day(n);
            let d = day.date();
            let want = format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
            assert_eq!(day.to_string(), want, "day {n}");
            assert_eq!(day.text().as_str(), want, "day {n}");
        }
    }

    #[test]
    fn a_day_past_year_9999_is_formatted_not_held_in_place() {
        let day = Day::parse("9999-12-31").unwrap().plus(1);
        assert_eq!(day.text(), DayText::Formatted(day.to_string()));
        assert_eq!(day.text().as_str(), day.to_string());
        assert!(matches!(Day(0).text(), DayText::Ascii(_)));
    }

    #[test]
    fn round_trips_and_orders() {
        let d = Day::parse("2022-04-01").unwrap();
        assert_eq!(d.to_string(), "2022-04-01");
        assert_eq!(Day::parse("1970-01-01").unwrap(), Day(0));
        assert_eq!(d.plus(-1).to_string(), "2022-03-31");
        assert_eq!(d.window_start().to_string(), "2022-03-19");
    }

    #[test]
    fn rejects_malformed_and_impossible_days() {
        assert!(matches!(Day::parse("2022-4-01"), Err(DayError::Format(_))));
        assert!(matches!(Day::parse("2022/04/01"), Err(DayError::Format(_))));
        assert!(matches!(Day::parse(""), Err(DayError::Format(_))));
        assert!(matches!(
            Day::parse("2022-02-30"),
            Err(DayError::NoSuchDate(_))
        ));
        assert_eq!(Day::parse_opt("").unwrap(), None);
    }
}
