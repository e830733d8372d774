//! A deliberately slow, literal reference model of the rules of DOMAIN.md §4, written to be read
//! next to the spec: it walks every day of the window, every stay and every risk area, compares
//! region codes as digit strings, and shares no code with the engine beyond the plain domain
//! types (parsing, display and the record structs).
//!
//! The interpretations it encodes, where DOMAIN.md leaves room:
//! - a phone's stay counts on day d only when a binding of that phone covers d (`bound_on` ≤ d <
//!   `unbound_on`), for the person that binding binds it to;
//! - with a home region, a possible match (a stay strictly coarser than the risk unit) of a risk
//!   unit inside the home region is no match, under both policies; an arrival's origin is not a
//!   stay and keeps matching as before;
//! - the risk unit of an area is its county (`441900003` → `4419` for Dongguan, which has no
//!   county level), or the area itself when it is a county or coarser;
//! - a finding is unique on (reason, region, risk area, phone tail) and keeps its latest day;
//! - a verification clears risk-area matches on days up to its `verified_on`, for units inside its
//!   scope; it never touches CDC, community, arrival or phone findings.

pub mod arb;

use std::collections::BTreeMap;

use healthcode::domain::{
    Binding, CdcCategory, Code, Color, CommunityStatus, Day, Finding, PersonRecords, PhoneState,
    PhoneStatus, PhoneTail, Policy, Reason, RegionCode, RiskArea, Stay,
};

/// The answer the rules give person `p` on day `d`, computed the slow way, in a deployment
/// without a home region.
#[allow(dead_code)] // not every test binary that includes the model asks without a home
pub fn evaluate(p: &PersonRecords, areas: &[RiskArea], d: Day, policy: Policy) -> Code {
    evaluate_home(p, areas, None, d, policy)
}

/// The answer the rules give person `p` on day `d` in a deployment whose home region is `home`.
pub fn evaluate_home(
    p: &PersonRecords,
    areas: &[RiskArea],
    home: Option<RegionCode>,
    d: Day,
    policy: Policy,
) -> Code {
    let window: Vec<Day> = (-13..=0).map(|k| d.plus(k)).collect();

    // Every finding key with its latest day.
    let mut found: BTreeMap<Key, Day> = BTreeMap::new();

    // CDC: a record active on D, dated by its `from`.
    for rec in &p.cdc {
        if active(rec.period.from, rec.period.to, d) {
            let reason = match rec.category {
                CdcCategory::Confirmed => Reason::CdcConfirmed,
                CdcCategory::Suspected => Reason::CdcSuspected,
                CdcCategory::Asymptomatic => Reason::CdcAsymptomatic,
                CdcCategory::CloseContact => Reason::CdcCloseContact,
                CdcCategory::SecondaryContact => Reason::CdcSecondaryContact,
            };
            keep_latest(&mut found, (reason, None, None, None), rec.period.from);
        }
    }

    // Community: home quarantine active on D; health monitoring gives nothing.
    for rec in &p.community {
        if rec.status == CommunityStatus::HomeQuarantine
            && active(rec.period.from, rec.period.to, d)
        {
            keep_latest(
                &mut found,
                (Reason::CommunityHomeQuarantine, None, None, None),
                rec.period.from,
            );
        }
    }

    // The stays of P: its own on every day, and its phones' on the days a binding covers.
    let mut stays: Vec<(Stay, Option<PhoneTail>, Vec<Binding>)> =
        p.stays.iter().map(|s| (*s, None, Vec::new())).collect();
    for phone in &p.phones {
        for s in &phone.stays {
            stays.push((*s, Some(phone.tail), phone.bindings.clone()));
        }
    }
    let counts_on = |tail: &Option<PhoneTail>, bindings: &[Binding], day: Day| {
        tail.is_none()
            || bindings.iter().any(|b| {
                b.bound_on <= day && (b.unbound_on.is_none() || day < b.unbound_on.unwrap())
            })
    };

    // Risk-area matches, day by day: (region, area, tail) → latest uncleared day, split by kind.
    let mut definite: BTreeMap<(RegionCode, RegionCode, Option<PhoneTail>), Day> = BTreeMap::new();
    let mut possible: BTreeMap<(RegionCode, RegionCode, Option<PhoneTail>), Day> = BTreeMap::new();
    for &day in &window {
        for (stay, tail, bindings) in &stays {
            if !(stay.first_day <= day && day <= stay.last_day) {
                continue;
            }
            if !counts_on(tail, bindings, day) {
                continue;
            }
            for z in areas {
                if !active(z.period.from, z.period.to, day) {
                    continue;
                }
                let unit = risk_unit(z.area);
                let Some(mut kind) = match_kind(stay.region, unit) else {
                    continue;
                };
                if kind == Kind::Possible && home.is_some_and(|h| inside(unit, h)) {
                    continue;
                }
                if policy == Policy::CityLevel {
                    kind = Kind::Definite;
                }
                if cleared_by_verification(p, d, day, unit) {
                    continue;
                }
                let key = (stay.region, z.area, *tail);
                let map = match kind {
                    Kind::Definite => &mut definite,
                    Kind::Possible => &mut possible,
                };
                let latest = map.entry(key).or_insert(day);
                if day > *latest {
                    *latest = day;
                }
            }
        }
    }
    let mut any_in = false;
    for (&(region, area, tail), &day) in &definite {
        if day == d || day == d.plus(-1) {
            any_in = true;
            keep_latest(
                &mut found,
                (Reason::InRiskArea, Some(region), Some(area), tail),
                day,
            );
        }
    }
    if !any_in {
        for (&(region, area, tail), &day) in &definite {
            if day < d.plus(-1) {
                keep_latest(
                    &mut found,
                    (Reason::VisitedRiskArea, Some(region), Some(area), tail),
                    day,
                );
            }
        }
    }
    if policy == Policy::PrecisionAware {
        for (&(region, area, tail), &day) in &possible {
            keep_latest(
                &mut found,
                (Reason::ItineraryImprecise, Some(region), Some(area), tail),
                day,
            );
        }
    }

    // Arrivals: booked by D, travelling D-13 … D+14, from a risk unit active on min(travel, D),
    // with no registration made from the booking through D.
    for a in &p.arrivals {
        if a.booked_on > d {
            continue;
        }
        if a.travel_day < d.plus(-13) || a.travel_day > d.plus(14) {
            continue;
        }
        let registered = p
            .registrations
            .iter()
            .any(|reg| a.booked_on <= reg.registered_on && reg.registered_on <= d);
        if registered {
            continue;
        }
        let t = if a.travel_day < d { a.travel_day } else { d };
        for z in areas {
            if active(z.period.from, z.period.to, t)
                && match_kind(a.origin, risk_unit(z.area)).is_some()
            {
                keep_latest(
                    &mut found,
                    (
                        Reason::ArrivalUnregistered,
                        Some(a.origin),
                        Some(z.area),
                        None,
                    ),
                    a.travel_day,
                );
            }
        }
    }

    // Phones bound on D whose latest status on or before D says it cannot be traced.
    for phone in &p.phones {
        let bound_on_d = phone
            .bindings
            .iter()
            .any(|b| b.bound_on <= d && (b.unbound_on.is_none() || d < b.unbound_on.unwrap()));
        if !bound_on_d {
            continue;
        }
        // The latest status dated on or before D; of several on one day, the last one given.
        let mut latest: Option<PhoneStatus> = None;
        for s in &phone.statuses {
            if s.as_of > d {
                continue;
            }
            match latest {
                Some(prev) if s.as_of < prev.as_of => {}
                _ => latest = Some(*s),
            }
        }
        if let Some(s) = latest
            && (s.state == PhoneState::LongOff || s.state == PhoneState::NotInCity)
        {
            keep_latest(
                &mut found,
                (Reason::PhoneUnverifiable, None, None, Some(phone.tail)),
                s.as_of,
            );
        }
    }

    // Findings, colour and travel permission.
    let mut findings: Vec<Finding> = found
        .into_iter()
        .map(|((reason, region, risk_area, phone_tail), day)| Finding {
            reason,
            region,
            risk_area,
            day,
            phone_tail,
            blocks_travel: blocks_travel(reason),
        })
        .collect();
    findings.sort_by(|a, b| {
        rank(a.reason)
            .cmp(&rank(b.reason))
            .then(b.day.cmp(&a.day))
            .then(a.region.cmp(&b.region))
            .then(a.risk_area.cmp(&b.risk_area))
            .then(a.phone_tail.cmp(&b.phone_tail))
    });
    let red = findings.iter().any(|f| {
        matches!(
            f.reason,
            Reason::CdcConfirmed
                | Reason::CdcSuspected
                | Reason::CdcAsymptomatic
                | Reason::CdcCloseContact
        )
    });
    let yellow = findings.iter().any(|f| {
        matches!(
            f.reason,
            Reason::CdcSecondaryContact | Reason::CommunityHomeQuarantine | Reason::InRiskArea
        )
    });
    let color = if red {
        Color::Red
    } else if yellow {
        Color::Yellow
    } else {
        Color::Green
    };
    let travel_allowed = color == Color::Green && !findings.iter().any(|f| f.blocks_travel);
    Code {
        color,
        findings,
        travel_allowed,
    }
}

/// A finding's identity: (reason, region, risk area, phone tail).
type Key = (
    Reason,
    Option<RegionCode>,
    Option<RegionCode>,
    Option<PhoneTail>,
);

/// How a region relates to a risk unit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Definite,
    Possible,
}

fn keep_latest(found: &mut BTreeMap<Key, Day>, key: Key, day: Day) {
    let latest = found.entry(key).or_insert(day);
    if day > *latest {
        *latest = day;
    }
}

/// True when `day` lies in `[from, to]`, `to = None` being open-ended.
fn active(from: Day, to: Option<Day>, day: Day) -> bool {
    from <= day && (to.is_none() || day <= to.unwrap())
}

/// True when `inner` equals `outer` or lies below it: the code of `outer` is a prefix of that of
/// `inner` (codes are 2, 4, 6, 9 or 12 digits, each length one level).
pub fn inside(inner: RegionCode, outer: RegionCode) -> bool {
    inner.to_string().starts_with(&outer.to_string())
}

/// The county containing `area`, or `area` itself when it is a county or coarser. The county is
/// the first 6 digits, normalised (`441900` is Dongguan, the city `4419`).
pub fn risk_unit(area: RegionCode) -> RegionCode {
    let code = area.to_string();
    if code.len() <= 6 {
        area
    } else {
        RegionCode::parse(&code[..6]).expect("the first 6 digits of a region code are a code")
    }
}

/// Definite when `region` lies inside `unit`, possible when it strictly contains it.
fn match_kind(region: RegionCode, unit: RegionCode) -> Option<Kind> {
    if inside(region, unit) {
        Some(Kind::Definite)
    } else if inside(unit, region) && unit != region {
        Some(Kind::Possible)
    } else {
        None
    }
}

/// True when a verification that exists on `d` clears a match on `day` with risk unit `unit`.
fn cleared_by_verification(p: &PersonRecords, d: Day, day: Day, unit: RegionCode) -> bool {
    p.verifications.iter().any(|v| {
        v.verified_on <= d
            && day <= v.verified_on
            && match v.scope {
                None => true,
                Some(scope) => inside(unit, scope),
            }
    })
}

/// The position of a reason in the §4 table, strongest first.
fn rank(r: Reason) -> usize {
    [
        Reason::CdcConfirmed,
        Reason::CdcSuspected,
        Reason::CdcAsymptomatic,
        Reason::CdcCloseContact,
        Reason::CdcSecondaryContact,
        Reason::CommunityHomeQuarantine,
        Reason::InRiskArea,
        Reason::VisitedRiskArea,
        Reason::ItineraryImprecise,
        Reason::ArrivalUnregistered,
        Reason::PhoneUnverifiable,
    ]
    .iter()
    .position(|x| *x == r)
    .expect("every reason is in the table")
}

/// The "blocks travel" column of the §4 table.
fn blocks_travel(r: Reason) -> bool {
    match r {
        Reason::CdcConfirmed
        | Reason::CdcSuspected
        | Reason::CdcAsymptomatic
        | Reason::CdcCloseContact
        | Reason::CdcSecondaryContact
        | Reason::CommunityHomeQuarantine
        | Reason::InRiskArea
        | Reason::VisitedRiskArea => true,
        Reason::ItineraryImprecise | Reason::ArrivalUnregistered | Reason::PhoneUnverifiable => {
            false
        }
    }
}
