//! Resident ID numbers (GB 11643): 17 digits and an ISO 7064 MOD 11-2 check character.

use std::fmt;

/// A valid 18-character resident ID, stored as its first 17 digits (the check character is
/// derived from them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdNumber(u64);

/// Each way a document number can be wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Empty input.
    #[error("document number is empty")]
    Empty,
    /// Not 18 characters long.
    #[error("document number is {0} character(s) long; a resident ID has 18")]
    Length(usize),
    /// A character other than a digit among the first 17.
    #[error("document number has a non-digit {ch:?} at position {pos}")]
    NotDigit {
        /// 1-based position of the character.
        pos: usize,
        /// The offending character.
        ch: char,
    },
    /// The 18th character is neither a digit nor X.
    #[error("check character {0:?} is not a digit or X")]
    CheckNotDigitOrX(char),
    /// The check character does not match the first 17 digits.
    #[error("invalid check character {got:?}: the first 17 digits require {expected:?}")]
    CheckMismatch {
        /// What MOD 11-2 requires.
        expected: char,
        /// What was given.
        got: char,
    },
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [u8; 11] = *b"10X98765432";

/// The MOD 11-2 check character of 17 digits.
pub fn check_char(digits: &[u8; 17]) -> char {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize] as char
}

/// The number 17 ASCII digits spell: each half of the first sixteen read as one word and its
/// digits combined pairwise in three multiplications (instead of a chain of sixteen dependent
/// multiply-adds), then the last digit.
#[inline]
fn digits_value(body: &[u8; 17]) -> u64 {
    let eight = |b: &[u8; 8]| {
        // Byte i holds digit i (the most significant first); no lane ever carries into the next.
        let v = u64::from_le_bytes(*b) - 0x3030_3030_3030_3030;
        let v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
        let v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
        (v * 10_000 + (v >> 32)) & 0xFFFF_FFFF
    };
    let (high, rest) = body.split_first_chunk::<8>().expect("17 bytes");
    let (low, last) = rest.split_first_chunk::<8>().expect("9 bytes");
    eight(high) * 1_000_000_000 + eight(low) * 10 + u64::from(last[0] - b'0')
}

impl IdNumber {
    /// Parses and validates an 18-character resident ID; a lower-case `x` is accepted.
    pub fn parse(s: &str) -> Result<IdNumber, IdError> {
        // The usual case, 17 ASCII digits and a last byte, read as bytes; anything else goes the
        // character way below, which names what is wrong.
        if let Some((body, &[last])) = s.as_bytes().split_first_chunk::<17>()
            && body.iter().all(u8::is_ascii_digit)
        {
            // `s` is UTF-8 and its 18th byte ends it, so that byte is a whole (ASCII) character.
            return Self::checked(body, char::from(last));
        }
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        let n = s.chars().count();
        if n != 18 {
            return Err(IdError::Length(n));
        }
        let mut digits = [0u8; 17];
        let mut chars = s.chars();
        for (i, c) in chars.by_ref().take(17).enumerate() {
            if !c.is_ascii_digit() {
                return Err(IdError::NotDigit { pos: i + 1, ch: c });
            }
            digits[i] = c as u8;
        }
        let last = chars.next().expect("18 characters");
        Self::checked(&digits, last)
    }

    /// The ID of 17 ASCII digits `body` when `last` is their check character (either case).
    #[inline]
    fn checked(body: &[u8; 17], last: char) -> Result<IdNumber, IdError> {
        let got = last.to_ascii_uppercase();
        if !(got.is_ascii_digit() || got == 'X') {
            return Err(IdError::CheckNotDigitOrX(last));
        }
        let expected = check_char(body);
        if got != expected {
            return Err(IdError::CheckMismatch { expected, got });
        }
        Ok(IdNumber(digits_value(body)))
    }

    /// Builds the ID whose first 17 digits are `body` (must be below 10^17).
    pub fn from_body(body: u64) -> IdNumber {
        assert!(body < 100_000_000_000_000_000, "an ID body has 17 digits");
        IdNumber(body)
    }

    /// The first 17 digits as a number.
    pub fn body(self) -> u64 {
        self.0
    }

    /// The canonical 18 characters (upper-case X).
    pub fn to_bytes(self) -> [u8; 18] {
        let mut out = [0u8; 18];
        let mut v = self.0;
        for i in (0..17).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        let d: &[u8; 17] = out[..17].try_into().expect("17 bytes");
        out[17] = check_char(d) as u8;
        out
    }

    /// The number with all but the first 6 and last 4 characters masked, for logs and errors
    /// ([`super::mask::id_text`]).
    pub fn masked(self) -> String {
        super::mask::id_text(std::str::from_utf8(&self.to_bytes()).expect("ASCII digits"))
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.to_bytes()).expect("ascii"))
    }
}

impl std::str::FromStr for IdNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdNumber::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_ids_and_lower_case_x() {
        // 11010519491231002X is the textbook example of GB 11643.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.to_string(), "11010519491231002X");
        assert_eq!(IdNumber::parse("11010519491231002x").unwrap(), id);
        assert_eq!(
            IdNumber::parse("440524188001010014").unwrap().to_string(),
            "440524188001010014"
        );
        assert_eq!(id.masked(), "110105********002X");
    }

    #[test]
    fn names_each_way_an_id_can_be_wrong() {
        assert_eq!(IdNumber::parse(""), Err(IdError::Empty));
        assert_eq!(
            IdNumber::parse("11010519491231002"),
            Err(IdError::Length(17))
        );
        assert_eq!(
            IdNumber::parse("11010519491231002XX"),
            Err(IdError::Length(19))
        );
        assert_eq!(
            IdNumber::parse("1101051949123100２X"),
            Err(IdError::NotDigit { pos: 17, ch: '２' })
        );
        assert_eq!(
            IdNumber::parse("11010519491a31002X"),
            Err(IdError::NotDigit { pos: 12, ch: 'a' })
        );
        assert_eq!(
            IdNumber::parse("11010519491231002Y"),
            Err(IdError::CheckNotDigitOrX('Y'))
        );
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(IdError::CheckMismatch {
                expected: 'X',
                got: '1'
            })
        );
    }

    /// GB 11643 read character by character, as the standard states it: the reference the
    /// byte-wise parse must agree with on every text.
    fn reference(s: &str) -> Result<IdNumber, IdError> {
        let chars: Vec<char> = s.chars().collect();
        if chars.is_empty() {
            return Err(IdError::Empty);
        }
        if chars.len() != 18 {
            return Err(IdError::Length(chars.len()));
        }
        let mut digits = [0u8; 17];
        for (i, &c) in chars[..17].iter().enumerate() {
            if !c.is_ascii_digit() {
                return Err(IdError::NotDigit { pos: i + 1, ch: c });
            }
            digits[i] = c as u8;
        }
        let got = chars[17].to_ascii_uppercase();
        if !(got.is_ascii_digit() || got == 'X') {
            return Err(IdError::CheckNotDigitOrX(chars[17]));
        }
        let expected = check_char(&digits);
        if got != expected {
            return Err(IdError::CheckMismatch { expected, got });
        }
        let body = digits.iter().fold(0, |v, &d| v * 10 + u64::from(d - b'0'));
        Ok(IdNumber(body))
    }

    proptest::proptest! {
        #[test]
        fn parse_agrees_with_the_character_reading(
            s in "[0-9]{16,18}[0-9xXyY２é]{0,2}|\\PC{0,20}",
            body in 0u64..100_000_000_000_000_000,
            last in proptest::char::any(),
        ) {
            proptest::prop_assert_eq!(IdNumber::parse(&s), reference(&s));
            // Every 17-digit body with every last character: valid, lower-case x, wrong check
            // digits and characters of any width.
            let text = format!("{body:017}{last}");
            proptest::prop_assert_eq!(IdNumber::parse(&text), reference(&text));
            let valid = IdNumber::from_body(body).to_string();
            proptest::prop_assert_eq!(IdNumber::parse(&valid), Ok(IdNumber(body)));
        }
    }
}
