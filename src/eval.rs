//! Measures the misfire of DOMAIN.md §1: every person of a truth file (where each person's stays
//! really were, at street precision) is evaluated under both policies through the index and the
//! rules — [`Index::code`], the server's query path ([`Index::code_of`]) without live writes — and the answers are compared
//! with the truth.
//!
//! For the query day D and its window D-13 … D, per policy:
//!
//! * **truly exposed** — a true stay lies inside a risk unit (DOMAIN.md §2: the county that
//!   contains the risk area) on a day of the window on which that risk area was active
//!   ([`truly_exposed`]). A verification never changes the truth.
//! * **risk-area finding** — `IN_RISK_AREA`, `VISITED_RISK_AREA` or `ITINERARY_IMPRECISE`: the
//!   findings made by matching stays against risk areas. (`ARRIVAL_UNREGISTERED` is about a
//!   missing registration, not a stay, and is not one.)
//! * **false_yellow** — not truly exposed, yellow, and the findings other than risk-area
//!   findings give no colour (no CDC or community record active on D): yellow only because of
//!   the risk-area rules.
//! * **false_blocked** — not truly exposed, travel refused, and the findings other than
//!   risk-area findings would allow travel (none has a colour or blocks travel).
//! * **missed** — truly exposed, yet no risk-area finding at all; split into **missed_away**
//!   (truly exposed in a risk unit outside the home region: must be 0) and **missed_home**
//!   (truly exposed only in risk units inside the home region, where a city-level stay matches
//!   nothing: the people the city's own tracing must find).
//!   Without a home region every exposure is away.
//! * **exposed_travel_allowed** — truly exposed, yet travel allowed (whatever the reason).
//! * **hotline_load** — not truly exposed, yet some risk-area finding that only a hotline
//!   verification clears. Split into **hotline_load_blocking** (an `IN_RISK_AREA` or
//!   `VISITED_RISK_AREA` finding: the person cannot travel, or is yellow, until verified) and
//!   **hotline_load_popup** (only `ITINERARY_IMPRECISE`: a popup asks the person to verify the
//!   itinerary, travel stays allowed).
//!
//! A person of the truth who is not in the index answers green with `known = false`, like a
//! query; such persons are counted in [`EvalReport::unknown`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::domain::{Code, Color, Day, IdNumber, Policy, Precision, Reason, RegionCode, RiskArea};
use crate::index::record::RecordError;
use crate::index::{Index, Scratch};
use crate::key::Key;

/// The columns of a truth file (any order; other columns are ignored).
pub const TRUTH_COLUMNS: [&str; 4] = ["id_number", "region", "first_day", "last_day"];

/// Persons per unit of parallel work.
const CHUNK: usize = 8_192;

/// Where a person really was: a region at street precision or finer, for inclusive days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TruthStay {
    /// The street (or community).
    pub region: RegionCode,
    /// First day.
    pub first_day: Day,
    /// Last day (inclusive).
    pub last_day: Day,
}

/// True when the stay lies inside the risk unit of some area of `areas` on a day of the window of
/// `day` on which that area was active (DOMAIN.md §2, §4: the unit is what the travel rules use).
pub fn stay_exposed(stay: &TruthStay, areas: &[RiskArea], day: Day) -> bool {
    exposing_units(stay, areas, day).next().is_some()
}

/// The risk units of the areas of `areas` that the stay lies in on a day of the window of `day`
/// on which the area was active.
fn exposing_units<'a>(
    stay: &'a TruthStay,
    areas: &'a [RiskArea],
    day: Day,
) -> impl Iterator<Item = RegionCode> + 'a {
    let lo = stay.first_day.max(day.window_start());
    let hi = stay.last_day.min(day);
    areas
        .iter()
        .filter(move |z| {
            lo <= hi
                && z.area.risk_unit().contains(stay.region)
                && lo.max(z.period.from) <= z.period.to.map_or(hi, |t| hi.min(t))
        })
        .map(|z| z.area.risk_unit())
}

/// True when the person whose true stays these are is truly exposed on `day`: some stay is
/// [`stay_exposed`].
pub fn truly_exposed<'a>(
    stays: impl IntoIterator<Item = &'a TruthStay>,
    areas: &[RiskArea],
    day: Day,
) -> bool {
    stays.into_iter().any(|s| stay_exposed(s, areas, day))
}

/// Where a person was truly exposed, in a deployment with an optional home region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exposure {
    /// Not truly exposed.
    None,
    /// Truly exposed only in risk units inside the home region.
    Home,
    /// Truly exposed in a risk unit outside the home region (every exposure, without one).
    Away,
}

/// Where the person whose true stays these are was truly exposed on `day`: away when some
/// stay lies in the risk unit of an active area outside `home`, else at home when some stay
/// lies in one inside it.
pub fn exposure<'a>(
    stays: impl IntoIterator<Item = &'a TruthStay>,
    areas: &[RiskArea],
    day: Day,
    home: Option<RegionCode>,
) -> Exposure {
    let mut found = Exposure::None;
    for s in stays {
        for unit in exposing_units(s, areas, day) {
            if !home.is_some_and(|h| h.contains(unit)) {
                return Exposure::Away;
            }
            found = Exposure::Home;
        }
    }
    found
}

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The truth file could not be read.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        cause: std::io::Error,
    },
    /// The truth file lacks a column.
    #[error("{}: no column {column:?} in the header (expected {})", path.display(), TRUTH_COLUMNS.join(","))]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: &'static str,
    },
    /// A row of the truth file is invalid: the truth is the yardstick, so nothing is skipped.
    #[error("{}:{line}: {reason}", path.display())]
    Row {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A person record of the index failed to decode (the index was verified when opened, so
    /// this is a bug).
    #[error("person record {pid} of the index failed to decode: {error:?}")]
    Record {
        /// The person id in the index.
        pid: u32,
        /// The decoder's error.
        error: RecordError,
    },
}

/// The true stays of every person, grouped by person.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    ids: Vec<IdNumber>,
    /// `stays[starts[i]..starts[i + 1]]` are the stays of `ids[i]`.
    starts: Vec<usize>,
    stays: Vec<TruthStay>,
}

impl Truth {
    /// Groups rows by person (a person's stays keep their order).
    pub fn from_rows(mut rows: Vec<(IdNumber, TruthStay)>) -> Truth {
        rows.sort_by_key(|r| r.0);
        let mut t = Truth {
            ids: Vec::new(),
            starts: Vec::new(),
            stays: Vec::with_capacity(rows.len()),
        };
        for (id, s) in rows {
            if t.ids.last() != Some(&id) {
                t.ids.push(id);
                t.starts.push(t.stays.len());
            }
            t.stays.push(s);
        }
        t.starts.push(t.stays.len());
        t
    }

    /// Reads a truth file (`truth.csv` of `healthcode gen`, or `.csv.gz`): a header naming
    /// [`TRUTH_COLUMNS`] in any order, then one stay per row. Any invalid row fails the read.
    pub fn read(path: &Path) -> Result<Truth, EvalError> {
        let io = |source| EvalError::Io {
            path: path.to_path_buf(),
            cause: source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let input: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
                file,
            )))
        } else {
            Box::new(file)
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .buffer_capacity(1 << 20)
            .from_reader(input);
        let csv_err = |e: csv::Error| match e.into_kind() {
            csv::ErrorKind::Io(e) => io(e),
            k => EvalError::Row {
                path: path.to_path_buf(),
                line: 0,
                reason: format!("{k:?}"),
            },
        };
        let header = rdr.byte_headers().map_err(csv_err)?.clone();
        let mut col = [0usize; 4];
        for (c, name) in col.iter_mut().zip(TRUTH_COLUMNS) {
            *c = header
                .iter()
                .position(|h| h.trim_ascii() == name.as_bytes())
                .ok_or(EvalError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name,
                })?;
        }
        let mut rows = Vec::new();
        let mut rec = csv::ByteRecord::new();
        while rdr.read_byte_record(&mut rec).map_err(csv_err)? {
            let line = rec.position().map_or(0, |p| p.line());
            let row = parse_row(&rec, &col).map_err(|reason| EvalError::Row {
                path: path.to_path_buf(),
                line,
                reason,
            })?;
            rows.push(row);
        }
        Ok(Truth::from_rows(rows))
    }

    /// Number of persons.
    pub fn persons(&self) -> usize {
        self.ids.len()
    }

    /// Number of stays.
    pub fn stays(&self) -> usize {
        self.stays.len()
    }

    /// The latest day the truth covers.
    pub fn last_day(&self) -> Option<Day> {
        self.stays.iter().map(|s| s.last_day).max()
    }

    /// Every person with their stays, in document-number order.
    pub fn iter(&self) -> impl Iterator<Item = (IdNumber, &[TruthStay])> {
        self.ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, &self.stays[self.starts[i]..self.starts[i + 1]]))
    }

    /// Every person and where they were truly exposed on `day` ([`exposure`]).
    pub fn exposure(
        &self,
        areas: &[RiskArea],
        day: Day,
        home: Option<RegionCode>,
    ) -> Vec<(IdNumber, Exposure)> {
        self.iter()
            .map(|(id, stays)| (id, exposure(stays, areas, day, home)))
            .collect()
    }
}

fn parse_row(rec: &csv::ByteRecord, col: &[usize; 4]) -> Result<(IdNumber, TruthStay), String> {
    let field = |i: usize| -> Result<&str, String> {
        let name = TRUTH_COLUMNS[i];
        let raw = rec.get(col[i]).ok_or_else(|| format!("{name}: missing"))?;
        std::str::from_utf8(raw)
            .map(str::trim)
            .map_err(|_| format!("{name}: not UTF-8"))
    };
    let id = IdNumber::parse(field(0)?).map_err(|e| format!("id_number: {e}"))?;
    let region = RegionCode::parse(field(1)?).map_err(|e| format!("region: {e}"))?;
    if region.precision() < Precision::Street {
        return Err(format!(
            "region {region} is a {} code: the truth must be at street precision or finer",
            region.precision()
        ));
    }
    let first_day = Day::parse(field(2)?).map_err(|e| format!("first_day: {e}"))?;
    let last_day = Day::parse(field(3)?).map_err(|e| format!("last_day: {e}"))?;
    if last_day < first_day {
        return Err(format!("last_day {last_day} before first_day {first_day}"));
    }
    Ok((
        id,
        TruthStay {
            region,
            first_day,
            last_day,
        },
    ))
}

/// True for the findings made by matching stays against risk areas.
pub fn is_risk_area_finding(r: Reason) -> bool {
    matches!(
        r,
        Reason::InRiskArea | Reason::VisitedRiskArea | Reason::ItineraryImprecise
    )
}

/// The counts of one policy (see the module documentation for the definitions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Persons evaluated.
    pub persons: u64,
    /// Persons truly exposed.
    pub truly_exposed: u64,
    /// Yellow only because of risk-area findings, yet not truly exposed.
    pub false_yellow: u64,
    /// Travel refused only because of risk-area findings, yet not truly exposed.
    pub false_blocked: u64,
    /// Truly exposed, yet no risk-area finding.
    pub missed: u64,
    /// Of those, truly exposed in a risk unit outside the home region.
    pub missed_away: u64,
    /// Of those, truly exposed only in risk units inside the home region.
    pub missed_home: u64,
    /// Truly exposed, yet travel allowed.
    pub exposed_travel_allowed: u64,
    /// Not truly exposed, yet a risk-area finding only a hotline verification clears.
    pub hotline_load: u64,
    /// Of those, with an `IN_RISK_AREA` or `VISITED_RISK_AREA` finding.
    pub hotline_load_blocking: u64,
    /// Of those, with only `ITINERARY_IMPRECISE`.
    pub hotline_load_popup: u64,
}

impl Tally {
    /// Counts one person's answer against the truth.
    pub fn add(&mut self, code: &Code, exposure: Exposure) {
        let exposed = exposure != Exposure::None;
        let mut risk = false;
        let mut blocking_risk = false;
        let mut other_color = false;
        let mut other_blocks = false;
        for f in &code.findings {
            if is_risk_area_finding(f.reason) {
                risk = true;
                blocking_risk |= f.reason != Reason::ItineraryImprecise;
            } else {
                other_color |= f.reason.color().is_some();
                other_blocks |= f.blocks_travel || f.reason.color().is_some();
            }
        }
        self.persons += 1;
        if exposed {
            self.truly_exposed += 1;
            self.missed += u64::from(!risk);
            self.missed_away += u64::from(!risk && exposure == Exposure::Away);
            self.missed_home += u64::from(!risk && exposure == Exposure::Home);
            self.exposed_travel_allowed += u64::from(code.travel_allowed);
        } else {
            self.false_yellow += u64::from(code.color == Color::Yellow && !other_color);
            self.false_blocked += u64::from(!code.travel_allowed && !other_blocks);
            self.hotline_load += u64::from(risk);
            self.hotline_load_blocking += u64::from(blocking_risk);
            self.hotline_load_popup += u64::from(risk && !blocking_risk);
        }
    }

    /// Adds another tally's counts.
    pub fn merge(&mut self, o: &Tally) {
        for (a, b) in self.fields_mut().into_iter().zip(o.fields()) {
            *a += b.1;
        }
    }

    /// The counts with their names, in report order.
    pub fn fields(&self) -> [(&'static str, u64); 11] {
        [
            ("persons", self.persons),
            ("truly_exposed", self.truly_exposed),
            ("false_yellow", self.false_yellow),
            ("false_blocked", self.false_blocked),
            ("missed", self.missed),
            ("missed_away", self.missed_away),
            ("missed_home", self.missed_home),
            ("exposed_travel_allowed", self.exposed_travel_allowed),
            ("hotline_load", self.hotline_load),
            ("hotline_load_blocking", self.hotline_load_blocking),
            ("hotline_load_popup", self.hotline_load_popup),
        ]
    }

    fn fields_mut(&mut self) -> [&mut u64; 11] {
        [
            &mut self.persons,
            &mut self.truly_exposed,
            &mut self.false_yellow,
            &mut self.false_blocked,
            &mut self.missed,
            &mut self.missed_away,
            &mut self.missed_home,
            &mut self.exposed_travel_allowed,
            &mut self.hotline_load,
            &mut self.hotline_load_blocking,
            &mut self.hotline_load_popup,
        ]
    }
}

/// The result of an evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalReport {
    /// The query day.
    pub today: Day,
    /// Persons of the truth not in the index (answered green, `known = false`).
    pub unknown: u64,
    /// One tally per policy, in the order asked.
    pub policies: Vec<(Policy, Tally)>,
}

impl EvalReport {
    /// `{"today": "YYYY-MM-DD", "policies": {"precision-aware": {...}, "city-level": {...}}}`.
    pub fn to_json(&self) -> String {
        let policies: Vec<String> = self
            .policies
            .iter()
            .map(|(p, t)| {
                let fields: Vec<String> = t
                    .fields()
                    .iter()
                    .map(|(k, v)| format!("\"{k}\": {v}"))
                    .collect();
                format!("\"{p}\": {{{}}}", fields.join(", "))
            })
            .collect();
        format!(
            "{{\"today\": \"{}\", \"policies\": {{{}}}}}",
            self.today,
            policies.join(", ")
        )
    }

    /// A plain-text table, one row per count and one column per policy.
    pub fn table(&self) -> String {
        let mut s = format!(
            "misfires as of {} (window {} … {}):\n",
            self.today,
            self.today.window_start(),
            self.today
        );
        s.push_str(&format!("{:<24}", ""));
        for (p, _) in &self.policies {
            s.push_str(&format!(" {:>16}", p.as_str()));
        }
        s.push('\n');
        for (i, (name, _)) in Tally::default().fields().iter().enumerate() {
            s.push_str(&format!("{name:<24}"));
            for (_, t) in &self.policies {
                s.push_str(&format!(" {:>16}", t.fields()[i].1));
            }
            s.push('\n');
        }
        s
    }
}

/// Evaluates every person of `persons` (document number, where truly exposed) on `day` under each of
/// `policies` through [`Index::code`], on every core; `progress` is called with the number of
/// persons just finished.
pub fn evaluate<B: AsRef<[u8]> + Sync>(
    index: &Index<B>,
    key: &Key,
    persons: &[(IdNumber, Exposure)],
    day: Day,
    policies: &[Policy],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<EvalReport, EvalError> {
    let chunks = persons.len().div_ceil(CHUNK);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, chunks.max(1));
    let next = AtomicUsize::new(0);
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<(Vec<Tally>, u64), EvalError> {
                    let mut tallies = vec![Tally::default(); policies.len()];
                    let mut unknown = 0;
                    let mut scratch = Scratch::default();
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= chunks {
                            break;
                        }
                        let part = &persons[c * CHUNK..((c + 1) * CHUNK).min(persons.len())];
                        for &(id, exposed) in part {
                            for (i, (policy, tally)) in
                                policies.iter().zip(&mut tallies).enumerate()
                            {
                                let (code, known) = index
                                    .code(key, id, day, *policy, &mut scratch)
                                    .map_err(|error| EvalError::Record {
                                        pid: index.lookup(key, id).unwrap_or(u32::MAX),
                                        error,
                                    })?;
                                tally.add(code, exposed);
                                if i == 0 {
                                    unknown += u64::from(!known);
                                }
                            }
                        }
                        progress(part.len() as u64);
                    }
                    Ok((tallies, unknown))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an evaluation worker panicked"))
            .collect::<Vec<_>>()
    });
    let mut tallies = vec![Tally::default(); policies.len()];
    let mut unknown = 0;
    for r in results {
        let (t, u) = r?;
        for (a, b) in tallies.iter_mut().zip(&t) {
            a.merge(b);
        }
        unknown += u;
    }
    Ok(EvalReport {
        today: day,
        unknown,
        policies: policies.iter().copied().zip(tallies).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Finding, Period, RiskLevel};

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }
    fn region(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }
    fn stay(r: &str, a: &str, b: &str) -> TruthStay {
        TruthStay {
            region: region(r),
            first_day: day(a),
            last_day: day(b),
        }
    }
    fn area(a: &str, from: &str, to: Option<&str>) -> RiskArea {
        RiskArea {
            area: region(a),
            level: RiskLevel::High,
            period: Period {
                from: day(from),
                to: to.map(day),
            },
        }
    }

    /// Chaoyang (110105) holds a risk community from 2022-05-01, still active; Haidian
    /// (110108) held a risk street from 2022-04-01 to 2022-04-20.
    fn areas() -> Vec<RiskArea> {
        vec![
            area("110105001001", "2022-05-01", None),
            area("110108001", "2022-04-01", Some("2022-04-20")),
        ]
    }

    #[test]
    fn a_street_of_the_risk_county_on_an_active_day_in_the_window_is_exposed() {
        let d = day("2022-05-10");
        // Another street of Chaoyang (the unit, not the area itself): exposed.
        assert!(stay_exposed(
            &stay("110105002", "2022-05-09", "2022-05-10"),
            &areas(),
            d
        ));
        // The last day of the stay is the first active day.
        assert!(stay_exposed(
            &stay("110105002", "2022-04-25", "2022-05-01"),
            &areas(),
            d
        ));
        // A community inside the unit counts as well.
        assert!(stay_exposed(
            &stay("110105003004", "2022-05-03", "2022-05-03"),
            &areas(),
            d
        ));
    }

    #[test]
    fn outside_the_unit_before_activity_or_outside_the_window_is_not_exposed() {
        let d = day("2022-05-10");
        // Dongcheng (110101) is another county of the same city.
        assert!(!stay_exposed(
            &stay("110101001", "2022-04-01", "2022-05-10"),
            &areas(),
            d
        ));
        // In Chaoyang, but the day before the area became active.
        assert!(!stay_exposed(
            &stay("110105002", "2022-04-20", "2022-04-30"),
            &areas(),
            d
        ));
        // In Haidian while its area was active, but before the window (2022-04-27 … 2022-05-10).
        assert!(!stay_exposed(
            &stay("110108005", "2022-04-10", "2022-04-26"),
            &areas(),
            d
        ));
        // In Haidian in the window, after the area was lifted.
        assert!(!stay_exposed(
            &stay("110108005", "2022-04-27", "2022-05-10"),
            &areas(),
            d
        ));
        // After the query day: not yet.
        assert!(!stay_exposed(
            &stay("110105002", "2022-05-11", "2022-05-12"),
            &areas(),
            d
        ));
    }

    #[test]
    fn the_window_moves_with_the_query_day() {
        let s = stay("110108005", "2022-04-10", "2022-04-15");
        assert!(stay_exposed(&s, &areas(), day("2022-04-20")));
        assert!(
            stay_exposed(&s, &areas(), day("2022-04-28")),
            "D-13 = 04-15"
        );
        assert!(!stay_exposed(&s, &areas(), day("2022-04-29")));
        assert!(
            !stay_exposed(&s, &areas(), day("2022-04-09")),
            "before the stay"
        );
    }

    #[test]
    fn a_person_is_exposed_when_any_stay_is() {
        let d = day("2022-05-10");
        let home = stay("110101001", "2022-04-10", "2022-05-05");
        let trip = stay("110105002", "2022-05-06", "2022-05-08");
        let back = stay("110101001", "2022-05-09", "2022-05-10");
        assert!(truly_exposed([&home, &trip, &back], &areas(), d));
        assert!(!truly_exposed([&home, &back], &areas(), d));
        assert!(!truly_exposed([], &areas(), d));
    }

    #[test]
    fn truth_rows_are_grouped_by_person() {
        let a = IdNumber::parse("11010519491231002X").unwrap();
        let b = IdNumber::from_body(11010119900101001);
        let t = Truth::from_rows(vec![
            (a, stay("110101001", "2022-04-10", "2022-05-05")),
            (b, stay("110105002", "2022-05-01", "2022-05-10")),
            (a, stay("110105002", "2022-05-06", "2022-05-08")),
        ]);
        assert_eq!((t.persons(), t.stays()), (2, 3));
        assert_eq!(t.last_day(), Some(day("2022-05-10")));
        let e = t.exposure(&areas(), day("2022-05-10"), None);
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|&(_, x)| x == Exposure::Away));
        let e = t.exposure(&areas(), day("2022-04-30"), None);
        assert!(e.iter().all(|&(_, x)| x == Exposure::None));
    }

    #[test]
    fn an_exposure_inside_the_home_region_is_at_home_and_any_other_away() {
        let d = day("2022-05-10");
        let mut areas = areas();
        areas.push(area("120101001", "2022-05-01", None));
        let chaoyang = stay("110105002", "2022-05-09", "2022-05-10");
        let tianjin = stay("120101002", "2022-05-05", "2022-05-06");
        let safe = stay("110101001", "2022-04-10", "2022-05-08");
        let beijing = Some(region("1101"));
        assert_eq!(
            exposure([&chaoyang, &safe], &areas, d, beijing),
            Exposure::Home
        );
        assert_eq!(exposure([&tianjin], &areas, d, beijing), Exposure::Away);
        assert_eq!(
            exposure([&chaoyang, &tianjin], &areas, d, beijing),
            Exposure::Away
        );
        assert_eq!(exposure([&safe], &areas, d, beijing), Exposure::None);
        // A province as home holds its cities; without a home every exposure is away.
        assert_eq!(
            exposure([&chaoyang], &areas, d, Some(region("11"))),
            Exposure::Home
        );
        assert_eq!(exposure([&chaoyang], &areas, d, None), Exposure::Away);
    }

    fn finding(reason: Reason) -> Finding {
        Finding {
            reason,
            region: None,
            risk_area: None,
            day: day("2022-05-10"),
            phone_tail: None,
            blocks_travel: reason.blocks_travel(),
        }
    }
    fn code(reasons: &[Reason]) -> Code {
        Code::from_findings(reasons.iter().map(|&r| finding(r)).collect())
    }

    #[test]
    fn misfires_are_counted_only_when_the_risk_area_rules_alone_cause_them() {
        use Reason::*;
        let mut t = Tally::default();
        t.add(&code(&[InRiskArea]), Exposure::None);
        assert_eq!(
            (t.false_yellow, t.false_blocked, t.hotline_load_blocking),
            (1, 1, 1)
        );
        // A CDC yellow makes the colour and the refusal not the risk-area rules' doing.
        let mut t = Tally::default();
        t.add(&code(&[CdcSecondaryContact, InRiskArea]), Exposure::None);
        assert_eq!((t.false_yellow, t.false_blocked, t.hotline_load), (0, 0, 1));
        // Visited: green with a blocking popup.
        let mut t = Tally::default();
        t.add(&code(&[VisitedRiskArea]), Exposure::None);
        assert_eq!((t.false_yellow, t.false_blocked), (0, 1));
        // An unverifiable phone is a popup that does not block: still a false refusal.
        let mut t = Tally::default();
        t.add(&code(&[VisitedRiskArea, PhoneUnverifiable]), Exposure::None);
        assert_eq!(t.false_blocked, 1);
        // The imprecise popup: hotline load, nothing false.
        let mut t = Tally::default();
        t.add(&code(&[ItineraryImprecise]), Exposure::None);
        assert_eq!(
            (
                t.false_yellow,
                t.false_blocked,
                t.hotline_load,
                t.hotline_load_popup
            ),
            (0, 0, 1, 1)
        );
    }

    #[test]
    fn exposed_persons_are_missed_without_a_risk_area_finding() {
        use Reason::*;
        let mut t = Tally::default();
        t.add(&code(&[]), Exposure::Away);
        t.add(&code(&[CdcCloseContact]), Exposure::Away);
        t.add(&code(&[ArrivalUnregistered]), Exposure::Away);
        t.add(&code(&[ItineraryImprecise]), Exposure::Away);
        t.add(&code(&[InRiskArea]), Exposure::Away);
        t.add(&code(&[]), Exposure::Home);
        t.add(&code(&[VisitedRiskArea]), Exposure::Home);
        assert_eq!(t.truly_exposed, 7);
        assert_eq!(t.missed, 4);
        assert_eq!((t.missed_away, t.missed_home), (3, 1));
        assert_eq!(
            t.exposed_travel_allowed, 4,
            "green, arrival popup, imprecise, green at home"
        );
        assert_eq!((t.false_yellow, t.false_blocked, t.hotline_load), (0, 0, 0));
    }

    #[test]
    fn the_json_has_the_contract_keys() {
        let mut t = Tally::default();
        t.add(&code(&[Reason::InRiskArea]), Exposure::None);
        let r = EvalReport {
            today: day("2022-05-10"),
            unknown: 0,
            policies: vec![
                (Policy::PrecisionAware, Tally::default()),
                (Policy::CityLevel, t),
            ],
        };
        let j = r.to_json();
        assert!(j.starts_with("{\"today\": \"2022-05-10\", \"policies\": {\"precision-aware\": {"));
        assert!(j.contains("\"city-level\": {\"persons\": 1, \"truly_exposed\": 0, \"false_yellow\": 1, \"false_blocked\": 1, \"missed\": 0, \"missed_away\": 0, \"missed_home\": 0, \"exposed_travel_allowed\": 0, \"hotline_load\": 1,"));
        assert!(r.table().contains("false_yellow"));
    }
}
