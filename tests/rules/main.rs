//! One named test per row of the DOMAIN.md §4 findings table and per rule around it, asserting
//! what a person would see: colour, travel permission and each finding's reason, region, risk
//! area, day and phone tail. Every answer is also checked against the reference model, so these
//! cases pin the model down as much as the engine. This file builds records and reads answers;
//! each module holds one family of rules.

#[path = "../model/mod.rs"]
mod model;

mod answer;
mod arrivals;
mod cdc_community;
mod home;
mod phones;
mod risk_areas;
mod verification;

use healthcode::domain::{
    Arrival, Binding, CdcCategory, CdcRecord, Code, Color, CommunityRecord, CommunityStatus, Day,
    Period, PersonRecords, PhoneRecords, PhoneState, PhoneStatus, PhoneTail, Policy, RegionCode,
    Registration, RiskArea, RiskAreaSet, RiskLevel, Stay, StaySource, TravelMode, Verification,
    evaluate,
};

// ---------------------------------------------------------------------------------------------
// Building records. Days are offsets from the query day D (2022-05-01): `d(-1)` is D-1.

fn query_day() -> Day {
    Day::parse("2022-05-01").expect("valid day")
}

fn d(offset: i32) -> Day {
    query_day().plus(offset)
}

fn r(code: &str) -> RegionCode {
    RegionCode::parse(code).expect("valid region code")
}

fn period(from: i32, to: Option<i32>) -> Period {
    Period {
        from: d(from),
        to: to.map(d),
    }
}

/// A person's own stay (flow survey), days inclusive.
fn stay(region: &str, first: i32, last: i32) -> Stay {
    Stay {
        region: r(region),
        first_day: d(first),
        last_day: d(last),
        source: StaySource::FlowSurvey,
    }
}

/// A telecom stay of a phone.
fn telecom(region: &str, first: i32, last: i32) -> Stay {
    Stay {
        source: StaySource::Telecom,
        ..stay(region, first, last)
    }
}

/// A risk area active from `from` through `to` (`None` = still active).
fn area(code: &str, from: i32, to: Option<i32>) -> RiskArea {
    RiskArea {
        area: r(code),
        level: RiskLevel::High,
        period: period(from, to),
    }
}

/// A phone ending in `tail`, bound from `bound` until `unbound` (exclusive; `None` = still bound).
fn phone(tail: u16, bound: i32, unbound: Option<i32>, stays: Vec<Stay>) -> PhoneRecords {
    PhoneRecords {
        tail: PhoneTail(tail),
        bindings: vec![Binding {
            bound_on: d(bound),
            unbound_on: unbound.map(d),
        }],
        stays,
        statuses: Vec::new(),
    }
}

fn status(state: PhoneState, as_of: i32) -> PhoneStatus {
    PhoneStatus {
        state,
        as_of: d(as_of),
    }
}

fn cdc(category: CdcCategory, from: i32, to: Option<i32>) -> CdcRecord {
    CdcRecord {
        category,
        period: period(from, to),
    }
}

fn community(status: CommunityStatus, from: i32, to: Option<i32>) -> CommunityRecord {
    CommunityRecord {
        status,
        period: period(from, to),
    }
}

fn arrival(origin: &str, travel: i32, booked: i32) -> Arrival {
    Arrival {
        travel_day: d(travel),
        origin: r(origin),
        mode: TravelMode::Rail,
        booked_on: d(booked),
    }
}

fn registration(on: i32) -> Registration {
    Registration {
        registered_on: d(on),
    }
}

fn verification(on: i32, scope: Option<&str>) -> Verification {
    Verification {
        verified_on: d(on),
        scope: scope.map(r),
    }
}

fn own_stays(stays: Vec<Stay>) -> PersonRecords {
    PersonRecords {
        stays,
        ..PersonRecords::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Asking, and reading the answer as a user would.

/// The answer on D under `policy`, after checking that the reference model gives the same.
fn query_with(p: &PersonRecords, areas: &[RiskArea], policy: Policy) -> Code {
    query_at_home(p, areas, None, policy)
}

/// The answer on D under `policy` in a deployment whose home region is `home`, after checking
/// that the reference model gives the same.
fn query_at_home(
    p: &PersonRecords,
    areas: &[RiskArea],
    home: Option<&str>,
    policy: Policy,
) -> Code {
    let home = home.map(r);
    let set = RiskAreaSet::with_home(areas.to_vec(), home);
    let code = evaluate(p, &set, query_day(), policy);
    assert_eq!(
        code,
        model::evaluate_home(p, areas, home, query_day(), policy),
        "engine and model disagree under {policy}, home {home:?}"
    );
    code
}

/// The answer on D under the default policy (precision-aware).
fn query(p: &PersonRecords, areas: &[RiskArea]) -> Code {
    query_with(p, areas, Policy::default())
}

/// Each finding as one line: reason, then whatever it carries, then whether it blocks travel.
fn shown(code: &Code) -> Vec<String> {
    code.findings
        .iter()
        .map(|f| {
            let mut line = f.reason.name().to_string();
            if let Some(region) = f.region {
                line += &format!(" region={region}");
            }
            if let Some(area) = f.risk_area {
                line += &format!(" area={area}");
            }
            let offset = f.day.0 - query_day().0;
            line += &match offset {
                0 => " day=D".to_string(),
                _ => format!(" day=D{offset:+}"),
            };
            if let Some(tail) = f.phone_tail {
                line += &format!(" tail={tail}");
            }
            if f.blocks_travel {
                line += " blocks";
            }
            line
        })
        .collect()
}

fn assert_green_without_findings(code: &Code) {
    assert_eq!(code.color, Color::Green);
    assert!(code.findings.is_empty(), "{:?}", shown(code));
    assert!(code.travel_allowed);
}
