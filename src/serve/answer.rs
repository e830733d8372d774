//! Answers one code query against a snapshot: parse, look up, decode, add the person's live
//! records, apply the rules with the risk areas in force, and shape the `CodeResponse` (region
//! names from the index's dictionary).

use std::cell::RefCell;

use tonic::Status;

use super::state::{Snapshot, State};
use super::wire;
use crate::domain::{Code, Color, Day, DayText, IdNumber, PersonRecords, Query, Reason};
use crate::index::Scratch;
use crate::proto;

thread_local! {
    /// Reused per worker thread so a query allocates nothing for decoding and evaluating.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Why a query item is invalid; its text goes into `INVALID_ARGUMENT` or a batch item's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl From<Invalid> for Status {
    fn from(e: Invalid) -> Status {
        Status::invalid_argument(e.0)
    }
}

/// Parses a request's `as_of` (empty = the server's today).
pub fn query_day(state: &State, as_of: &str) -> Result<Day, Invalid> {
    if as_of.is_empty() {
        Ok(state.today())
    } else {
        Day::parse(as_of).map_err(|e| Invalid(format!("as_of: {e}")))
    }
}

/// The rules' answer for one document number on one day, or why the number is invalid.
pub fn code_for(
    state: &State,
    snap: &Snapshot,
    id_number: &str,
    day: Day,
) -> Result<(Code, bool), Invalid> {
    with_code(state, snap, id_number, day, |code, known| {
        (code.clone(), known)
    })
}

/// Calls `f` with the rules' answer for one document number on one day (evaluated into this
/// thread's scratch, so nothing is copied), or says why the number is invalid.
pub fn with_code<R>(
    state: &State,
    snap: &Snapshot,
    id_number: &str,
    day: Day,
    f: impl FnOnce(&Code, bool) -> R,
) -> Result<R, Invalid> {
    let hash = state.key.hash_id(parse(id_number)?);
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        // The snapshot was fully verified before it was served, so a record always decodes.
        let (code, known) = snap
            .index
            .code_of(hash, query(state, snap, day), &mut s, |p| {
                add_live(state, snap, hash, p)
            })
            .expect("a verified index decodes every record");
        Ok(f(code, known))
    })
}

/// What a query on `day` is evaluated against: the server's policy, the snapshot's risk areas.
fn query<'a>(state: &State, snap: &'a Snapshot, day: Day) -> Query<'a> {
    Query {
        day,
        policy: state.policy,
        areas: &snap.risk_areas,
    }
}

/// Adds the live records of the person with keyed hash `hash` that `snap` did not fold; whether
/// there were any.
fn add_live(state: &State, snap: &Snapshot, hash: u64, p: &mut PersonRecords) -> bool {
    state
        .overlay
        .as_ref()
        .is_some_and(|o| o.add_person_records(hash, snap.folded, p))
}

/// A query's document number, or why it is not one.
fn parse(id_number: &str) -> Result<IdNumber, Invalid> {
    IdNumber::parse(trimmed(id_number)).map_err(|e| Invalid(format!("id_number: {e}")))
}

/// `s.trim()`, without its scan when `s` starts and ends with a printable ASCII character, as
/// every well-formed number does: such a byte is a whole character, and not whitespace.
#[inline]
fn trimmed(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// [`with_code`] for every document number of a batch, in order: `f` gets each one's position
/// and answer (or why it is invalid). The index reads of the next numbers are started while one
/// is evaluated ([`crate::index::Index::codes_of`]); an `Err` from `f` stops the batch.
pub fn each_code<E>(
    state: &State,
    snap: &Snapshot,
    id_numbers: &[String],
    day: Day,
    mut f: impl FnMut(usize, Result<(&Code, bool), Invalid>) -> Result<(), E>,
) -> Result<(), E> {
    let hashes: Vec<Option<u64>> = id_numbers
        .iter()
        .map(|t| parse(t).ok().map(|id| state.key.hash_id(id)))
        .collect();
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        snap.index.codes_of(
            &hashes,
            query(state, snap, day),
            &mut s,
            |hash, p| add_live(state, snap, hash, p),
            |i, answer| match answer {
                // The snapshot was fully verified before it was served, so a record decodes.
                Some(a) => f(i, Ok(a.expect("a verified index decodes every record"))),
                None => f(i, Err(parse(&id_numbers[i]).expect_err("not a number"))),
            },
        )
    })
}

/// The texts every answer of one call (or one stream message) shares: a unary call makes one
/// for its single answer, so it holds them without allocating, and the data day's text comes
/// ready from the snapshot.
pub struct Stamp {
    day: Day,
    generation: u64,
    as_of: DayText,
    data_as_of: DayText,
    /// The three fields above as every answer ends with them ([`wire::stamp_tail`]).
    tail: ([u8; wire::STAMP_TAIL], usize),
}

impl Stamp {
    /// The stamp of answers for `day` from `snap`.
    pub fn new(snap: &Snapshot, day: Day) -> Stamp {
        let as_of = day.text();
        let tail = wire::stamp_tail(
            as_of.as_str().as_bytes(),
            snap.generation,
            snap.data_as_of.as_str().as_bytes(),
        );
        Stamp {
            day,
            generation: snap.generation,
            as_of,
            data_as_of: snap.data_as_of.clone(),
            tail,
        }
    }

    /// The encoded `as_of`, `index_generation` and `data_as_of` fields that end every answer.
    pub fn tail(&self) -> &[u8] {
        &self.tail.0[..self.tail.1]
    }

    /// The day the answers are for.
    pub fn day(&self) -> Day {
        self.day
    }

    /// The answers' `as_of`.
    pub fn as_of(&self) -> &str {
        self.as_of.as_str()
    }

    /// The answers' `index_generation`.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The answers' `data_as_of`.
    pub fn data_as_of(&self) -> &str {
        self.data_as_of.as_str()
    }

    /// Whether it stamps answers for `day` from `snap`.
    pub fn fits(&self, snap: &Snapshot, day: Day) -> bool {
        self.day == day && self.generation == snap.generation
    }
}

/// The wire form of a code as a generated message: the reference `wire::code` is tested against,
/// and what in-process callers that want fields (not bytes) use.
pub fn response(snap: &Snapshot, code: &Code, known: bool, stamp: &Stamp) -> proto::CodeResponse {
    proto::CodeResponse {
        color: color(code.color) as i32,
        findings: code
            .findings
            .iter()
            .map(|f| proto::Finding {
                reason: reason(f.reason) as i32,
                region_code: f.region.map(|r| r.to_string()).unwrap_or_default(),
                region_name: f
                    .region
                    .map(|r| snap.index.region_name(r).to_string())
                    .unwrap_or_default(),
                risk_area_code: f.risk_area.map(|r| r.to_string()).unwrap_or_default(),
                day: f.day.to_string(),
                phone_tail: f.phone_tail.map(|t| t.to_string()).unwrap_or_default(),
                blocks_travel: f.blocks_travel,
            })
            .collect(),
        travel_allowed: code.travel_allowed,
        known,
        as_of: stamp.as_of().to_string(),
        index_generation: stamp.generation,
        data_as_of: stamp.data_as_of().to_string(),
        error: String::new(),
    }
}

/// One query, start to end, shaped by `shape` from the code and its stamp; `stamp` is reused
/// while it fits the snapshot and day.
pub fn answer_with<R>(
    state: &State,
    snap: &Snapshot,
    id_number: &str,
    as_of: &str,
    stamp: &mut Option<Stamp>,
    shape: impl FnOnce(&Code, bool, &Stamp) -> R,
) -> Result<R, Invalid> {
    let day = query_day(state, as_of)?;
    with_code(state, snap, id_number, day, |code, known| {
        let stamp = match stamp {
            Some(s) if s.fits(snap, day) => s,
            _ => stamp.insert(Stamp::new(snap, day)),
        };
        shape(code, known, stamp)
    })
}

/// One query, start to end, as a generated message.
pub fn answer(
    state: &State,
    snap: &Snapshot,
    id_number: &str,
    as_of: &str,
    stamp: &mut Option<Stamp>,
) -> Result<proto::CodeResponse, Invalid> {
    answer_with(
        state,
        snap,
        id_number,
        as_of,
        stamp,
        |code, known, stamp| response(snap, code, known, stamp),
    )
}

/// The wire colour.
pub fn color(c: Color) -> proto::Color {
    match c {
        Color::Green => proto::Color::Green,
        Color::Yellow => proto::Color::Yellow,
        Color::Red => proto::Color::Red,
    }
}

/// The wire reason.
pub fn reason(r: Reason) -> proto::Reason {
    match r {
        Reason::CdcConfirmed => proto::Reason::CdcConfirmed,
        Reason::CdcSuspected => proto::Reason::CdcSuspected,
        Reason::CdcAsymptomatic => proto::Reason::CdcAsymptomatic,
        Reason::CdcCloseContact => proto::Reason::CdcCloseContact,
        Reason::CdcSecondaryContact => proto::Reason::CdcSecondaryContact,
        Reason::CommunityHomeQuarantine => proto::Reason::CommunityHomeQuarantine,
        Reason::InRiskArea => proto::Reason::InRiskArea,
        Reason::VisitedRiskArea => proto::Reason::VisitedRiskArea,
        Reason::ItineraryImprecise => proto::Reason::ItineraryImprecise,
        Reason::ArrivalUnregistered => proto::Reason::ArrivalUnregistered,
        Reason::PhoneUnverifiable => proto::Reason::PhoneUnverifiable,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The shortcut trims exactly as `str::trim` does, whatever the text.
        #[test]
        fn trimmed_is_trim(s in "\\s{0,2}\\PC{0,3}[ \t\u{a0}\u{3000}0-9xX]{0,20}\\PC{0,3}\\s{0,2}") {
            prop_assert_eq!(super::trimmed(&s), s.trim());
        }
    }
}
