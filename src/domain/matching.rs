//! Which risk areas a stay's region matches (DOMAIN.md §4, "Match" and "Home region"): the risk
//! areas in force indexed by risk unit, with the deployment's home region, and each thread's memo
//! of the matches of the regions it searched last.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Day, Precision, RegionCode, RiskArea};

/// Whether a stay's region lies inside a risk unit or strictly contains it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// The region equals the risk unit or lies below it.
    Definite,
    /// The region strictly contains the risk unit (the stay is coarser than the unit).
    Possible,
}

/// The risk areas in force, indexed by risk unit so that a stay finds its matches by a few
/// binary searches instead of a scan.
#[derive(Clone, Debug, Default)]
pub struct RiskAreaSet {
    areas: Vec<RiskArea>,
    /// (risk unit's padded code, index into `areas`), sorted.
    by_unit: Vec<(u64, u32)>,
    /// Bit `n` is set when some risk unit lies in province `n` (a code's first two digits): a
    /// stay in any other province matches nothing, which one test tells.
    provinces: u128,
    /// Whether some region is designated more than once (several periods): only then can a
    /// region's matches name one area twice.
    repeats: bool,
    /// This set among all the sets the process has made (0 for the empty default set), so that
    /// a thread's memo of matches ([`MATCHES`]) tells one set's matches from another's.
    id: u64,
    /// The deployment's home region: a risk unit inside it is matched by definite stays only.
    home: Option<RegionCode>,
}

/// The id of the next [`RiskAreaSet`].
static NEXT_SET: AtomicU64 = AtomicU64::new(1);

/// Matches a memo entry holds; a region with more has them gathered at each use.
const MEMO_MATCHES: usize = 14;
/// Entries of a thread's memo of matches, by region code and set (direct-mapped).
const MEMO_SLOTS: usize = 64;

/// One designation a region matches, with what the rules read of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// The designated region (the finding's `risk_area`).
    pub area: RegionCode,
    /// The designation's first day.
    pub from: Day,
    /// Its last day, inclusive (`Day(i32::MAX)` while it is still active).
    pub to: Day,
    /// Whether the region lies in the risk unit or strictly contains it.
    pub kind: MatchKind,
    /// A possible match of a risk unit inside the set's home region: a stay gives no match
    /// (DOMAIN.md §4, "Home region"); an arrival's origin still does.
    pub home: bool,
}

impl Match {
    const NONE: Match = Match {
        area: RegionCode::PLACEHOLDER,
        from: Day(0),
        to: Day(0),
        kind: MatchKind::Definite,
        home: false,
    };

    fn of(z: &RiskArea, kind: MatchKind, home: Option<RegionCode>) -> Match {
        Match {
            area: z.area,
            from: z.period.from,
            to: z.period.to.unwrap_or(Day(i32::MAX)),
            kind,
            home: kind == MatchKind::Possible
                && home.is_some_and(|h| h.contains(z.area.risk_unit())),
        }
    }

    /// Whether a stay in the region gives this match: every match but a possible one of a risk
    /// unit inside the home region.
    #[inline(always)]
    pub fn counts_for_stays(&self) -> bool {
        !self.home
    }

    /// Whether the designation is in force on `d`.
    pub fn contains(&self, d: Day) -> bool {
        self.from <= d && d <= self.to
    }
}

/// The matches of one region in one set, in about the order of the findings they give.
#[derive(Clone, Copy)]
struct Matches {
    /// The set's id; 0 (no set that can match has it) marks an empty entry.
    set: u64,
    /// The region's padded code.
    region: u64,
    len: u8,
    found: [Match; MEMO_MATCHES],
}

impl Matches {
    const EMPTY: Matches = Matches {
        set: 0,
        region: 0,
        len: 0,
        found: [Match::NONE; MEMO_MATCHES],
    };
}

thread_local! {
    /// Each thread's memo of the matches it searched last, by (set, region): the stays of a
    /// city's people name few regions (a telecom stay names the city), and the search of one
    /// costs several binary searches where the memo costs one comparison.
    static MATCHES: RefCell<[Matches; MEMO_SLOTS]> =
        const { RefCell::new([Matches::EMPTY; MEMO_SLOTS]) };
    /// Where the matches of a region with more than a memo entry holds are gathered, kept for
    /// its allocation.
    static GATHERED: RefCell<Vec<Match>> = const { RefCell::new(Vec::new()) };
}

impl RiskAreaSet {
    /// Indexes these designations (several per area are allowed: one per period), for a
    /// deployment without a home region.
    pub fn new(areas: Vec<RiskArea>) -> RiskAreaSet {
        RiskAreaSet::with_home(areas, None)
    }

    /// Indexes these designations for a deployment whose home region is `home`: a risk unit
    /// inside it is matched by definite stays only.
    pub fn with_home(areas: Vec<RiskArea>, home: Option<RegionCode>) -> RiskAreaSet {
        let mut by_unit: Vec<(u64, u32)> = areas
            .iter()
            .enumerate()
            .map(|(i, a)| (a.area.risk_unit().padded(), i as u32))
            .collect();
        by_unit.sort_unstable();
        let provinces = by_unit
            .iter()
            .fold(0, |bits, &(u, _)| bits | (1 << province(u)));
        let mut designated: Vec<RegionCode> = areas.iter().map(|a| a.area).collect();
        designated.sort_unstable();
        let repeats = designated.windows(2).any(|w| w[0] == w[1]);
        RiskAreaSet {
            areas,
            by_unit,
            provinces,
            repeats,
            id: NEXT_SET.fetch_add(1, Ordering::Relaxed),
            home,
        }
    }

    /// The home region the set was made for.
    pub fn home(&self) -> Option<RegionCode> {
        self.home
    }

    /// The designations, in the order given.
    pub fn areas(&self) -> &[RiskArea] {
        &self.areas
    }

    /// Whether some region is designated more than once; if not, the matches of a region name
    /// every area at most once.
    pub fn repeats_areas(&self) -> bool {
        self.repeats
    }

    /// Calls `f` with every designation whose risk unit contains `region` (definite) or lies
    /// strictly inside it (possible), whatever the days.
    #[inline]
    pub fn for_each_match(&self, region: RegionCode, mut f: impl FnMut(&Match)) {
        self.with_matches(region, |found| found.iter().for_each(&mut f));
    }

    /// Calls `f` once with every designation whose risk unit contains `region` (definite) or
    /// lies strictly inside it (possible), whatever the days, definite before possible and
    /// latest-ending first (about the order of the findings they give). The matches of a
    /// region are remembered by the thread for the next stay in it; `f` runs while they are
    /// borrowed, and a call made from inside `f` searches afresh.
    #[inline]
    pub fn with_matches<R>(&self, region: RegionCode, f: impl FnOnce(&[Match]) -> R) -> R {
        let code = region.padded();
        if self.provinces & (1 << province(code)) == 0 {
            return f(&[]);
        }
        let slot = (code ^ self.id).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58;
        let slot = slot as usize % MEMO_SLOTS;
        let mut f = Some(f);
        let memo = MATCHES.try_with(|memo| {
            let mut memo = memo.try_borrow_mut().ok()?;
            let e = &mut memo[slot];
            if e.set != self.id || e.region != code {
                let mut m = Matches {
                    set: self.id,
                    region: code,
                    ..Matches::EMPTY
                };
                let mut more = false;
                self.search(region, |i, kind| {
                    match m.found.get_mut(usize::from(m.len)) {
                        Some(e) => {
                            *e = Match::of(&self.areas[i as usize], kind, self.home);
                            m.len += 1;
                        }
                        None => more = true,
                    }
                });
                if more {
                    return None;
                }
                in_finding_order(&mut m.found[..usize::from(m.len)]);
                *e = m;
            }
            let f = f.take().expect("called once");
            Some(f(&e.found[..usize::from(e.len)]))
        });
        if let Ok(Some(r)) = memo {
            return r;
        }
        // Too many to remember (or no memo at hand): gathered into the thread's spare list.
        let f = f.take().expect("not called yet");
        let mut spare = GATHERED
            .try_with(|g| g.try_borrow_mut().map(|mut g| std::mem::take(&mut *g)).ok())
            .ok()
            .flatten()
            .unwrap_or_default();
        spare.clear();
        self.search(region, |i, kind| {
            spare.push(Match::of(&self.areas[i as usize], kind, self.home))
        });
        in_finding_order(&mut spare);
        let r = f(&spare);
        let _ = GATHERED.try_with(|g| {
            if let Ok(mut g) = g.try_borrow_mut() {
                *g = spare;
            }
        });
        r
    }

    /// Calls `f` with the index of every area whose risk unit contains `region` (definite) or
    /// lies strictly inside it (possible), for a region in a province that holds a risk unit.
    #[inline]
    fn search(&self, region: RegionCode, mut f: impl FnMut(u32, MatchKind)) {
        // A risk unit is a county or coarser, so only the region's ancestors (or itself) at
        // province, city and county level can be one; with zero groups stripped two of them
        // may be the same code (`441900003`: `44`, `4419`, `4419`), which counts once.
        let own = region.precision();
        let p = region.truncate(Precision::Province).padded();
        self.each_of_unit(p, MatchKind::Definite, &mut f);
        if own >= Precision::City {
            let c = region.truncate(Precision::City).padded();
            if c != p {
                self.each_of_unit(c, MatchKind::Definite, &mut f);
            }
            if own >= Precision::County {
                let k = region.truncate(Precision::County).padded();
                if k != c {
                    self.each_of_unit(k, MatchKind::Definite, &mut f);
                }
            }
        }
        // Only a province or a city can strictly contain a risk unit.
        if own <= Precision::City {
            let range = region.padded_range();
            let start = self.by_unit.partition_point(|e| e.0 <= range.start);
            for &(u, i) in &self.by_unit[start..] {
                if u >= range.end {
                    break;
                }
                f(i, MatchKind::Possible);
            }
        }
    }

    /// Calls `f` with the index of every area whose risk unit's padded code is `unit`.
    #[inline]
    fn each_of_unit(&self, unit: u64, kind: MatchKind, f: &mut impl FnMut(u32, MatchKind)) {
        let start = self.by_unit.partition_point(|e| e.0 < unit);
        for &(u, i) in &self.by_unit[start..] {
            if u != unit {
                break;
            }
            f(i, kind);
        }
    }
}

/// Orders matches as [`RiskAreaSet::with_matches`] gives them: definite before possible, then a
/// match's day is the stay's last day capped by the designation's end, so latest-ending
/// designations first, then by area.
fn in_finding_order(found: &mut [Match]) {
    found.sort_unstable_by_key(|m| (m.kind == MatchKind::Possible, Reverse(m.to), m.area));
}

/// The province number of a padded code: its first two digits.
#[inline]
fn province(padded: u64) -> u32 {
    // A padded code is under 10^12, so this is under 100 and fits the `provinces` mask.
    (padded / 10_000_000_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Day;

    /// The (area, kind) matches of `region` in `set`, as `for_each_match` gives them.
    fn matches_of(set: &RiskAreaSet, region: RegionCode) -> Vec<(RegionCode, Day, MatchKind)> {
        let mut found = Vec::new();
        set.for_each_match(region, |m| found.push((m.area, m.from, m.kind)));
        found
    }

    /// A region with more matches than a thread's memo holds gets every one of them each time,
    /// and one with fewer the same matches from the memo as from the search; two sets with
    /// different areas never answer each other's regions.
    #[test]
    fn every_match_is_given_whether_or_not_the_memo_holds_it() {
        use crate::domain::{Period, RiskLevel};
        let code = |c: &str| RegionCode::parse(c).unwrap();
        let area = |c: &str, from: i32| RiskArea {
            area: code(c),
            level: RiskLevel::High,
            period: Period {
                from: Day(from),
                to: None,
            },
        };
        let counties = [
            "110101", "110102", "110105", "110106", "110107", "110108", "110109",
        ];
        // Three periods of each county, and one street: 22 possible matches of the city.
        let mut crowded: Vec<RiskArea> = (0..3)
            .flat_map(|p| counties.iter().map(move |c| area(c, 19_000 + p)))
            .collect();
        crowded.push(area("110101001", 19_005));
        let crowded = RiskAreaSet::new(crowded);
        let few = RiskAreaSet::new(vec![area("110105", 19_000), area("1101", 19_001)]);
        let (city, county) = (code("1101"), code("110105"));
        for _ in 0..3 {
            let all = matches_of(&crowded, city);
            assert_eq!(all.len(), 22, "{all:?}");
            assert!(all.iter().all(|m| m.2 == MatchKind::Possible));
            assert_eq!(
                matches_of(&few, city),
                [
                    (city, Day(19_001), MatchKind::Definite),
                    (county, Day(19_000), MatchKind::Possible)
                ]
            );
            let in_county = matches_of(&crowded, county);
            assert_eq!(in_county.len(), 3, "{in_county:?}");
            assert!(
                in_county
                    .iter()
                    .all(|m| m.0 == county && m.2 == MatchKind::Definite)
            );
            assert_eq!(matches_of(&few, county).len(), 2);
            // A search from inside another, while the memo is lent out, finds the same.
            let (outer, inner) = few.with_matches(county, |outer| {
                (
                    outer.to_vec(),
                    crowded.with_matches(county, |inner| inner.to_vec()),
                )
            });
            assert_eq!(outer.len(), 2);
            assert_eq!(inner.len(), 3);
            assert_eq!(few.with_matches(county, |m| m.to_vec()), outer);
        }
    }
}
