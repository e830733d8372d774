//! The national region table: the bundled 2023 edition (compiled into the binary from
//! `data/regions/`), overridable and extensible by a feed's `regions.csv`, with names for findings.

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

use crate::domain::{Precision, RegionCode, shown_name};

/// `data/regions/regions.csv`: provinces, cities, counties and streets.
const BUNDLED_REGIONS: &str = include_str!("../data/regions/regions.csv");
/// `data/regions/communities.csv.gz`: villages and communities.
const BUNDLED_COMMUNITIES: &[u8] = include_bytes!("../data/regions/communities.csv.gz");

/// One region of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The official name.
    pub name: Box<str>,
    /// The parent region; `None` for provinces.
    pub parent: Option<RegionCode>,
}

/// A region table: code → name and parent.
#[derive(Clone, Debug, Default)]
pub struct RegionTable {
    map: HashMap<RegionCode, Region>,
}

/// Why a region row could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegionRowError {
    /// A code column is not a region code.
    #[error("{column}: {cause}")]
    Code {
        /// Which column.
        column: &'static str,
        /// What is wrong.
        cause: crate::domain::RegionError,
    },
    /// The `level` column disagrees with the code's length.
    #[error("level {given:?} does not match code {code} (a {actual} code, level {})", *actual as u8)]
    Level {
        /// The code.
        code: RegionCode,
        /// The level given.
        given: String,
        /// The level the code has.
        actual: Precision,
    },
    /// The parent is not the code's ancestor one level up.
    #[error("parent {parent} is not an ancestor of {code}")]
    Parent {
        /// The code.
        code: RegionCode,
        /// The parent given.
        parent: RegionCode,
    },
    /// The parent is not in the table.
    #[error("parent {0} is not a known region")]
    UnknownParent(RegionCode),
    /// The name is empty.
    #[error("name is empty")]
    EmptyName,
}

impl RegionTable {
    /// The bundled table (parsed once per process; about 665,000 regions).
    pub fn bundled() -> &'static RegionTable {
        static TABLE: OnceLock<RegionTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            let mut t = RegionTable {
                map: HashMap::with_capacity(670_000),
            };
            t.load_bundled_csv(BUNDLED_REGIONS);
            let mut text = String::with_capacity(48 << 20);
            flate2::read::GzDecoder::new(BUNDLED_COMMUNITIES)
                .read_to_string(&mut text)
                .expect("bundled communities.csv.gz is valid gzip UTF-8");
            t.load_bundled_csv(&text);
            t
        })
    }

    /// Loads rows of the bundled files (`code,name,parent,level`, no quoting, header first).
    fn load_bundled_csv(&mut self, text: &str) {
        for line in text.lines().skip(1) {
            let mut f = line.split(',');
            let (code, name, parent, level) = (f.next(), f.next(), f.next(), f.next());
            let (Some(code), Some(name), Some(parent), Some(level)) = (code, name, parent, level)
            else {
                panic!("bundled region row {line:?} lacks a column");
            };
            self.insert_row(code, name, parent, level)
                .unwrap_or_else(|e| panic!("bundled region row {line:?}: {e}"));
        }
    }

    /// Adds or replaces a region from the four columns of a `regions.csv` row.
    ///
    /// Codes are normalised. A zero-padded code declaring its normalised code's level
    /// (`110105000000`, level 3) is that region written long, and adds or replaces it like any
    /// row. A code with a zero group declaring a finer level than its normalised code's
    /// (`441900`, level 3: Dongguan's county-level row, which normalises to the city `4419`) is
    /// an alias of that region and only adds it when that code is not in the table yet.
    pub fn insert_row(
        &mut self,
        code: &str,
        name: &str,
        parent: &str,
        level: &str,
    ) -> Result<(), RegionRowError> {
        let c = RegionCode::parse(code).map_err(|source| RegionRowError::Code {
            column: "code",
            cause: source,
        })?;
        let name = name.trim();
        if name.is_empty() {
            return Err(RegionRowError::EmptyName);
        }
        let declared = level
            .trim()
            .parse::<u8>()
            .ok()
            .and_then(Precision::from_level);
        let at_own_level = declared == Some(c.precision());
        let aliased = c.to_string().len() != code.trim().len() && !at_own_level;
        if !aliased && !at_own_level {
            return Err(RegionRowError::Level {
                code: c,
                given: level.to_string(),
                actual: c.precision(),
            });
        }
        let parent = if parent.is_empty() {
            None
        } else {
            let p = RegionCode::parse(parent).map_err(|source| RegionRowError::Code {
                column: "parent",
                cause: source,
            })?;
            if !(p.strictly_contains(c) || aliased && p == c) {
                return Err(RegionRowError::Parent { code: c, parent: p });
            }
            if !self.map.contains_key(&p) {
                return Err(RegionRowError::UnknownParent(p));
            }
            Some(p)
        };
        if c.precision() != Precision::Province && parent.is_none() {
            return Err(RegionRowError::Parent {
                code: c,
                parent: c.truncate(Precision::Province),
            });
        }
        if aliased && self.map.contains_key(&c) {
            return Ok(());
        }
        let parent = parent.filter(|p| *p != c);
        self.map.insert(
            c,
            Region {
                name: name.into(),
                parent,
            },
        );
        Ok(())
    }

    /// The region with this code.
    pub fn get(&self, code: RegionCode) -> Option<&Region> {
        self.map.get(&code)
    }

    /// True when the code is in the table.
    pub fn contains(&self, code: RegionCode) -> bool {
        self.map.contains_key(&code)
    }

    /// The region's name as it is shown (DOMAIN.md §2: the city level of a municipality, `市辖区`
    /// or `县` in the table, is named after its province), or "" when unknown.
    pub fn name(&self, code: RegionCode) -> &str {
        let table = |c: RegionCode| self.map.get(&c).map_or("", |r| &*r.name);
        shown_name(code, table(code), || {
            table(code.truncate(Precision::Province))
        })
    }

    /// The name with every ancestor's name, coarse to fine, a name repeated by the next level
    /// said once ("北京市 朝阳区").
    pub fn full_name(&self, code: RegionCode) -> String {
        let mut names: Vec<&str> = code
            .lineage()
            .map(|c| self.name(c))
            .filter(|n| !n.is_empty())
            .collect();
        names.dedup();
        names.join(" ")
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the table holds no region.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every region code, in no particular order.
    pub fn codes(&self) -> impl Iterator<Item = RegionCode> + '_ {
        self.map.keys().copied()
    }

    /// Every region code at one precision, sorted.
    pub fn codes_at(&self, p: Precision) -> Vec<RegionCode> {
        let mut v: Vec<RegionCode> = self.codes().filter(|c| c.precision() == p).collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn bundled_table_has_every_level_and_the_aliases_fold() {
        let t = RegionTable::bundled();
        // 44,703 + 620,573 rows, less the 4 zero-group rows (441900, 442000, 460400, 350527000)
        // that name a region already in the table, plus 350527000000 folding into 350527.
        assert_eq!(t.len(), 44_703 + 620_573 - 5);
        assert_eq!(t.name(r("110105")), "朝阳区");
        assert_eq!(t.name(r("4419")), "东莞市");
        assert_eq!(t.get(r("441900003")).unwrap().parent, Some(r("4419")));
        assert_eq!(
            t.get(r("110101001001")).unwrap().parent,
            Some(r("110101001"))
        );
        assert!(!t.contains(r("110199")));
        assert_eq!(t.full_name(r("110105")), "北京市 朝阳区");
        // The city level of a municipality is shown by its province's name (DOMAIN.md §2).
        assert_eq!(t.name(r("1101")), "北京市");
        assert_eq!(t.name(r("5001")), "重庆市");
        assert_eq!(t.name(r("5002")), "重庆市");
        assert_eq!(t.name(r("3101")), "上海市");
        assert_eq!(t.get(r("1101")).unwrap().name.as_ref(), "市辖区");
        // Any other city keeps its own name; a county named 市辖区 elsewhere would too.
        assert_eq!(t.name(r("1301")), "石家庄市");
    }

    #[test]
    fn override_rows_are_checked() {
        let mut t = RegionTable::default();
        t.insert_row("11", "北京市", "", "1").unwrap();
        t.insert_row("1101", "市辖区", "11", "2").unwrap();
        assert!(matches!(
            t.insert_row("110105", "朝阳区", "12", "3"),
            Err(RegionRowError::Parent { .. })
        ));
        assert!(matches!(
            t.insert_row("110105", "朝阳区", "1101", "4"),
            Err(RegionRowError::Level { .. })
        ));
        assert!(matches!(
            t.insert_row("110105001", "x", "110105", "4"),
            Err(RegionRowError::UnknownParent(_))
        ));
        t.insert_row("110105", "朝阳区", "1101", "3").unwrap();
        t.insert_row("110105", "新朝阳区", "1101", "3").unwrap();
        assert_eq!(t.name(r("110105")), "新朝阳区");
        // The same county written zero-padded, at its own level, replaces it too.
        t.insert_row("110105000000", "朝阳", "110100000000", "3")
            .unwrap();
        assert_eq!(t.name(r("110105")), "朝阳");
        t.insert_row("110105000", "朝阳区", "1101", "3").unwrap();
        assert_eq!(t.name(r("110105")), "朝阳区");
        assert_eq!(t.get(r("110105")).unwrap().parent, Some(r("1101")));
        // A county-level row that normalises to the city is an alias: the city keeps its name.
        t.insert_row("110100", "市辖区（县级）", "1101", "3")
            .unwrap();
        assert_eq!(t.get(r("1101")).unwrap().name.as_ref(), "市辖区");
        assert_eq!(t.name(r("1101")), "北京市");
    }
}
