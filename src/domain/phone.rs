//! Mainland mobile numbers: normalisation of `+86`, `0086`, spaces and dashes, and the 4-digit
//! tail that findings show.

use std::fmt;

/// An 11-digit mainland mobile number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Phone(u64);

/// The last 4 digits of a phone, the only part a finding shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneTail(pub u16);

/// Why a text is not a mainland mobile number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    /// A character other than a digit, space or dash (after the country prefix).
    #[error("phone has a non-digit {0:?}")]
    NotDigit(char),
    /// Not 11 digits once the prefix, spaces and dashes are stripped.
    #[error("phone has {0} digits, a mainland mobile number has 11")]
    Length(usize),
    /// 11 digits that do not start with 1.
    #[error("phone does not start with 1, as a mainland mobile number does")]
    NotMobile,
}

impl Phone {
    /// Parses a phone number, stripping `+86`, `0086`, spaces and dashes.
    pub fn parse(s: &str) -> Result<Phone, PhoneError> {
        let t = s.trim();
        let t = t
            .strip_prefix("+86")
            .or_else(|| t.strip_prefix("0086"))
            .unwrap_or(t);
        let mut value = 0u64;
        let mut n = 0usize;
        for c in t.chars() {
            match c {
                ' ' | '-' => {}
                '0'..='9' => {
                    n += 1;
                    if n <= 11 {
                        value = value * 10 + u64::from(c as u8 - b'0');
                    }
                }
                _ => return Err(PhoneError::NotDigit(c)),
            }
        }
        if n != 11 {
            return Err(PhoneError::Length(n));
        }
        if value / 10_000_000_000 != 1 {
            return Err(PhoneError::NotMobile);
        }
        Ok(Phone(value))
    }

    /// The phone with this 11-digit value (must start with 1).
    pub fn from_number(n: u64) -> Phone {
        assert!(
            (10_000_000_000..20_000_000_000).contains(&n),
            "a mobile number has 11 digits starting with 1"
        );
        Phone(n)
    }

    /// The 11 digits as a number.
    pub fn number(self) -> u64 {
        self.0
    }

    /// The last 4 digits.
    pub fn tail(self) -> PhoneTail {
        PhoneTail((self.0 % 10_000) as u16)
    }

    /// The number with its middle masked, for logs and errors.
    pub fn masked(self) -> String {
        super::mask::phone_text(&self.to_string())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:011}", self.0)
    }
}

/// The two ASCII digits of every number below 100.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

impl PhoneTail {
    /// The last four digits of the value in ASCII (in most answers' findings: written
    /// directly), two at a time from a table.
    pub fn ascii(self) -> [u8; 4] {
        let v = usize::from(self.0);
        let [a, b] = DIGIT_PAIRS[v / 100 % 100];
        let [c, d] = DIGIT_PAIRS[v % 100];
        [a, b, c, d]
    }
}

impl fmt::Display for PhoneTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.ascii()).expect("ASCII digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_prefixes_spaces_and_dashes() {
        let p = Phone::parse("13800138000").unwrap();
        assert_eq!(Phone::parse("+86 138-0013-8000").unwrap(), p);
        assert_eq!(Phone::parse("0086 13800138000").unwrap(), p);
        assert_eq!(p.tail().to_string(), "8000");
        assert_eq!(
            Phone::parse("13800130007").unwrap().tail().to_string(),
            "0007"
        );
        assert_eq!(p.masked(), "138****8000");
    }

    #[test]
    fn every_tail_is_written_as_its_four_digits() {
        for v in 0..=9999u16 {
            assert_eq!(PhoneTail(v).ascii(), *format!("{v:04}").as_bytes(), "{v}");
        }
    }

    #[test]
    fn rejects_non_mobile_numbers() {
        assert_eq!(Phone::parse("1380013800"), Err(PhoneError::Length(10)));
        assert_eq!(Phone::parse("138001380001"), Err(PhoneError::Length(12)));
        assert_eq!(Phone::parse("23800138000"), Err(PhoneError::NotMobile));
        assert_eq!(Phone::parse("1380013800a"), Err(PhoneError::NotDigit('a')));
        assert_eq!(Phone::parse(""), Err(PhoneError::Length(0)));
    }
}
