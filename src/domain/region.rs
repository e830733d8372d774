//! Region codes of the national statistical division table: normalisation of zero-padded forms,
//! precision, containment and risk units, all by code arithmetic (no table needed).

use std::fmt;
use std::num::NonZeroU64;

/// The level of a region code, coarse to fine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Precision {
    /// 2 digits.
    Province = 1,
    /// 4 digits.
    City = 2,
    /// 6 digits: county, county-level city, district or banner (县/市/区/旗).
    County = 3,
    /// 9 digits: township or street.
    Street = 4,
    /// 12 digits: village or community.
    Community = 5,
}

impl Precision {
    /// All levels, coarse to fine.
    pub const ALL: [Precision; 5] = [
        Precision::Province,
        Precision::City,
        Precision::County,
        Precision::Street,
        Precision::Community,
    ];

    /// Number of digits of a code at this level.
    pub fn digits(self) -> usize {
        [2, 4, 6, 9, 12][self as usize - 1]
    }

    /// The level with this 1-based number (the `level` column of the region table).
    pub fn from_level(n: u8) -> Option<Precision> {
        Precision::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// The lower-case English name.
    pub fn name(self) -> &'static str {
        ["province", "city", "county", "street", "community"][self as usize - 1]
    }

    /// 10^(12 - digits): the size of the padded-code range a region of this level spans.
    #[inline]
    const fn span(self) -> u64 {
        match self {
            Precision::Province => 10_000_000_000,
            Precision::City => 100_000_000,
            Precision::County => 1_000_000,
            Precision::Street => 1_000,
            Precision::Community => 1,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A normalised region code, stored zero-padded to 12 digits; its precision is the level of its
/// last non-zero digit group. Never zero (every code has a province), so an
/// `Option<RegionCode>` takes no more room than the code: findings carry two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionCode(NonZeroU64);

/// Why a text is not a region code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegionError {
    /// Contains something other than digits.
    #[error("region code {0} has a non-digit")]
    NotDigits(String),
    /// Not 2, 4, 6, 9 or 12 digits.
    #[error("region code {0} has {1} digits; a region code has 2, 4, 6, 9 or 12")]
    Length(String, usize),
    /// The province group is 00.
    #[error("region code {0} has no province (starts with 00)")]
    NoProvince(String),
}

impl RegionCode {
    /// A valid code (province `11`) for places that hold a code before they hold a real one
    /// and are never read before that.
    pub(crate) const PLACEHOLDER: RegionCode =
        RegionCode(NonZeroU64::new(110_000_000_000).expect("not zero"));

    /// Parses a code of 2, 4, 6, 9 or 12 digits and strips trailing all-zero groups
    /// (`110105000000` → `110105`).
    pub fn parse(s: &str) -> Result<RegionCode, RegionError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RegionError::NotDigits(super::mask::quoted_code(s)));
        }
        if !matches!(s.len(), 2 | 4 | 6 | 9 | 12) {
            return Err(RegionError::Length(super::mask::quoted_code(s), s.len()));
        }
        let v: u64 = s.parse().expect("checked digits");
        let padded = v * 10u64.pow(12 - s.len() as u32);
        RegionCode::from_padded(padded)
            .ok_or_else(|| RegionError::NoProvince(super::mask::quoted_code(s)))
    }

    /// The region whose 12-digit zero-padded code is `padded`; `None` without a province.
    pub fn from_padded(padded: u64) -> Option<RegionCode> {
        (!(padded / Precision::Province.span()).is_multiple_of(100) && padded < 1_000_000_000_000)
            .then(|| NonZeroU64::new(padded).map(RegionCode))
            .flatten()
    }

    /// The 12-digit zero-padded code.
    #[inline]
    pub fn padded(self) -> u64 {
        self.0.get()
    }

    /// The level of this code: that of its last non-zero digit group. Each test is a remainder
    /// by a constant, which compiles to multiplications (no divide instruction): this runs for
    /// every stay of every query.
    #[inline]
    pub fn precision(self) -> Precision {
        let c = self.0.get();
        if !c.is_multiple_of(Precision::Street.span()) {
            Precision::Community
        } else if !c.is_multiple_of(Precision::County.span()) {
            Precision::Street
        } else if !c.is_multiple_of(Precision::City.span()) {
            Precision::County
        } else if !c.is_multiple_of(Precision::Province.span()) {
            Precision::City
        } else {
            Precision::Province
        }
    }

    /// The ancestor of this region at level `p`, with any zero groups stripped (so it may be
    /// coarser than `p`, as `441900003` → `4419`: Dongguan has no county level); the region
    /// itself when it is already at `p` or coarser.
    #[inline]
    pub fn truncate(self, p: Precision) -> RegionCode {
        // One arm per level, so each division is by a constant.
        // A code's province is not zero, so no truncation is (`self` stands in for the
        // impossible case, which costs a branch that is never taken).
        let t = |span: u64| NonZeroU64::new(self.padded() / span * span).map_or(self, RegionCode);
        match p {
            Precision::Province => t(Precision::Province.span()),
            Precision::City => t(Precision::City.span()),
            Precision::County => t(Precision::County.span()),
            Precision::Street => t(Precision::Street.span()),
            Precision::Community => self,
        }
    }

    /// True when `other` equals this region or lies below it.
    #[inline]
    pub fn contains(self, other: RegionCode) -> bool {
        other.truncate(self.precision()) == self
    }

    /// True when `other` lies strictly below this region.
    pub fn strictly_contains(self, other: RegionCode) -> bool {
        self != other && self.contains(other)
    }

    /// The risk unit of a risk area in this region: the county that contains it, or the region
    /// itself when it is a county or coarser.
    #[inline]
    pub fn risk_unit(self) -> RegionCode {
        self.truncate(Precision::County)
    }

    /// The padded codes of this region and everything below it: `[padded, end)`.
    #[inline]
    pub fn padded_range(self) -> std::ops::Range<u64> {
        let span = self.precision().span();
        self.padded()..self.padded() + span
    }

    /// This region and its ancestors, coarse to fine, without duplicates.
    pub fn lineage(self) -> impl Iterator<Item = RegionCode> {
        let own = self.precision();
        let mut last = None;
        Precision::ALL
            .into_iter()
            .filter(move |p| *p <= own)
            .filter_map(move |p| {
                let a = self.truncate(p);
                (last != Some(a)).then(|| {
                    last = Some(a);
                    a
                })
            })
    }
}

/// The table names of a city-level code that say only "the districts" or "the counties" of a
/// municipality (`1101` 市辖区, `5002` 县): such a city is shown by its province's name.
const PLACEHOLDER_CITY_NAMES: [&str; 2] = ["市辖区", "县"];

/// The name a region is shown by (DOMAIN.md §2, "region name"): its table name `name`, except
/// that a city-level code whose table name is only `市辖区` or `县` (the city level of a
/// municipality such as 1101, 5002) is named after its province, `province()` (`北京市`), when
/// that is known (not empty).
pub fn shown_name<'a>(
    code: RegionCode,
    name: &'a str,
    province: impl FnOnce() -> &'a str,
) -> &'a str {
    if code.precision() == Precision::City && PLACEHOLDER_CITY_NAMES.contains(&name.trim()) {
        let p = province();
        if !p.is_empty() {
            return p;
        }
    }
    name
}

impl RegionCode {
    /// The code's digits in ASCII: the first `n` bytes of the array. Written directly, since
    /// answers carry several codes each. The stored value is zero-padded to 12 digits; the code
    /// is its first `digits()` of them.
    pub fn ascii(self) -> ([u8; 12], usize) {
        let mut b = [b'0'; 12];
        let mut v = self.padded();
        for d in b.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        (b, self.precision().digits().min(12))
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (b, n) = self.ascii();
        f.write_str(std::str::from_utf8(&b[..n]).expect("ASCII digits"))
    }
}

impl std::str::FromStr for RegionCode {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegionCode::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_codes_of_every_precision_as_the_padded_formatter_does() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // A code of a random precision: its digits, zeros after them.
            let p = Precision::ALL[(x % 5) as usize];
            let span = p.span();
            let mut v = (x >> 8) % 1_000_000_000_000 / span * span;
            if v == 0 {
                v = span;
            }
            let code = RegionCode(NonZeroU64::new(v).unwrap());
            let q = code.precision();
            let want = format!("{:0width$}", v / q.span(), width = q.digits());
            assert_eq!(code.to_string(), want, "{v}");
        }
    }

    fn r(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn normalises_zero_padded_forms() {
        assert_eq!(r("110105000000"), r("110105"));
        assert_eq!(r("110105000000").to_string(), "110105");
        assert_eq!(r("110000").to_string(), "11");
        assert_eq!(r("441900003").to_string(), "441900003");
        assert_eq!(r("441900").to_string(), "4419");
        assert_eq!(r("110101001001").to_string(), "110101001001");
    }

    #[test]
    fn precision_of_each_level() {
        assert_eq!(r("11").precision(), Precision::Province);
        assert_eq!(r("1101").precision(), Precision::City);
        assert_eq!(r("110105").precision(), Precision::County);
        assert_eq!(r("110105001").precision(), Precision::Street);
        assert_eq!(r("110105001001").precision(), Precision::Community);
        assert_eq!(r("441900003").precision(), Precision::Street);
    }

    /// The arithmetic against the digits themselves: the precision is the level of the last
    /// non-zero digit group, and truncating keeps the digits of the coarser groups.
    #[test]
    fn precision_and_truncation_follow_the_digit_groups() {
        let groups = [(0, 2), (2, 4), (4, 6), (6, 9), (9, 12)];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Zero some groups so that every level and zero groups in the middle occur.
            let mut digits: Vec<u8> = format!("{:012}", x % 1_000_000_000_000).into_bytes();
            for (g, &(a, b)) in groups.iter().enumerate().skip(1) {
                if (i >> g) & 1 == 1 {
                    digits[a..b].fill(b'0');
                }
            }
            if digits[..2] == *b"00" {
                digits[1] = b'1';
            }
            let text = String::from_utf8(digits).unwrap();
            let code = r(&text);
            let last = groups
                .iter()
                .rposition(|&(a, b)| text[a..b].bytes().any(|d| d != b'0'))
                .unwrap();
            assert_eq!(code.precision(), Precision::ALL[last], "{text}");
            for (g, p) in Precision::ALL.into_iter().enumerate() {
                let keep = groups[g].1;
                let want: u64 = format!("{}{}", &text[..keep], "0".repeat(12 - keep))
                    .parse()
                    .unwrap();
                assert_eq!(code.truncate(p).padded(), want, "{text} {p}");
            }
        }
    }

    #[test]
    fn rejects_bad_codes() {
        assert!(matches!(
            RegionCode::parse("11a"),
            Err(RegionError::NotDigits(_))
        ));
        assert!(matches!(
            RegionCode::parse("1101051"),
            Err(RegionError::Length(_, 7))
        ));
        assert!(matches!(
            RegionCode::parse("000000"),
            Err(RegionError::NoProvince(_))
        ));
        assert!(matches!(
            RegionCode::parse(""),
            Err(RegionError::NotDigits(_))
        ));
    }

    #[test]
    fn containment_and_risk_units() {
        assert!(r("1101").contains(r("110105001")));
        assert!(r("110105").contains(r("110105")));
        assert!(!r("110105").strictly_contains(r("110105")));
        assert!(!r("110105").contains(r("1101")));
        assert!(!r("110105").contains(r("110106001")));
        assert_eq!(r("110105001001").risk_unit(), r("110105"));
        assert_eq!(r("110105001").risk_unit(), r("110105"));
        assert_eq!(r("110105").risk_unit(), r("110105"));
        assert_eq!(r("1101").risk_unit(), r("1101"));
        // Dongguan's streets sit directly under the city: the city is their unit.
        assert_eq!(r("441900003").risk_unit(), r("4419"));
        assert!(r("4419").contains(r("441900003")));
    }

    #[test]
    fn lineage_is_coarse_to_fine_without_gaps() {
        let l: Vec<String> = r("110105001001").lineage().map(|c| c.to_string()).collect();
        assert_eq!(l, ["11", "1101", "110105", "110105001", "110105001001"]);
        let l: Vec<String> = r("441900003").lineage().map(|c| c.to_string()).collect();
        assert_eq!(l, ["44", "4419", "441900003"]);
        assert_eq!(
            r("110105001").padded_range(),
            110_105_001_000..110_105_002_000
        );
    }
}
