//! Random records for the property tests, over a universe small enough (a few regions at every
//! level, ~40 days around the query day) that stays, risk areas, verifications and arrivals meet
//! often. Shared by several test binaries, each of which uses only some of the generators.
#![allow(dead_code)]

use healthcode::domain::{
    Arrival, Binding, CdcCategory, CdcRecord, CommunityRecord, CommunityStatus, Day, Period,
    PersonRecords, PhoneRecords, PhoneState, PhoneStatus, PhoneTail, RegionCode, Registration,
    RiskArea, RiskLevel, Stay, StaySource, TravelMode, Verification,
};
use proptest::prelude::*;

/// Codes at every level, with siblings, and Dongguan's streets that sit directly under the city.
pub const REGIONS: &[&str] = &[
    "11",
    "1101",
    "110105",
    "110105001",
    "110105001001",
    "110105002",
    "110106",
    "110106002",
    "1102",
    "110100001",
    "44",
    "4419",
    "441900003",
    "441900003001",
    "441900004",
    "12",
    "1201",
    "120101",
];

/// Phone tails; few, so that two phones sometimes share one.
pub const TAILS: &[u16] = &[8000, 1234, 7];

pub fn query_day() -> Day {
    Day::parse("2022-05-01").expect("valid day")
}

pub fn region() -> impl Strategy<Value = RegionCode> {
    prop::sample::select(REGIONS).prop_map(|s| RegionCode::parse(s).expect("valid code"))
}

/// A day from D-20 to D+16: both edges of the window and of the arrival range, and beyond.
pub fn day() -> impl Strategy<Value = Day> {
    (-20i32..=16).prop_map(|k| query_day().plus(k))
}

pub fn period() -> impl Strategy<Value = Period> {
    (day(), prop::option::weighted(0.7, 0i32..12)).prop_map(|(from, len)| Period {
        from,
        to: len.map(|n| from.plus(n)),
    })
}

pub fn stay(source: StaySource) -> impl Strategy<Value = Stay> {
    (region(), day(), 0i32..8).prop_map(move |(region, first_day, len)| Stay {
        region,
        first_day,
        last_day: first_day.plus(len),
        source,
    })
}

/// A binding of at least one day. Bindings that end on or before their first day are not
/// generated: the feed validation rejects them (`unbound_on` must be after `bound_on`).
pub fn binding() -> impl Strategy<Value = Binding> {
    (day(), prop::option::weighted(0.6, 1i32..16)).prop_map(|(bound_on, len)| Binding {
        bound_on,
        unbound_on: len.map(|n| bound_on.plus(n)),
    })
}

pub fn status() -> impl Strategy<Value = PhoneStatus> {
    (prop::sample::select(PhoneState::ALL), day())
        .prop_map(|(state, as_of)| PhoneStatus { state, as_of })
}

pub fn phone() -> impl Strategy<Value = PhoneRecords> {
    (
        prop::sample::select(TAILS),
        prop::collection::vec(binding(), 0..=3),
        prop::collection::vec(stay(StaySource::Telecom), 0..=4),
        prop::collection::vec(status(), 0..=3),
    )
        .prop_map(|(tail, bindings, stays, statuses)| PhoneRecords {
            tail: PhoneTail(tail),
            bindings,
            stays,
            statuses,
        })
}

/// An arrival booked up to 25 days ahead (or, for entry records, up to 2 days after travel).
pub fn arrival() -> impl Strategy<Value = Arrival> {
    (
        (-20i32..=20).prop_map(|k| query_day().plus(k)),
        -2i32..=25,
        region(),
        prop::sample::select(TravelMode::ALL),
    )
        .prop_map(|(travel_day, ahead, origin, mode)| Arrival {
            travel_day,
            origin,
            mode,
            booked_on: travel_day.plus(-ahead),
        })
}

pub fn person() -> impl Strategy<Value = PersonRecords> {
    (
        prop::collection::vec(
            prop_oneof![stay(StaySource::FlowSurvey), stay(StaySource::SelfReport)],
            0..=4,
        ),
        prop::collection::vec(phone(), 0..=4),
        prop::collection::vec(
            (prop::sample::select(CdcCategory::ALL), period())
                .prop_map(|(category, period)| CdcRecord { category, period }),
            0..=2,
        ),
        prop::collection::vec(
            (prop::sample::select(CommunityStatus::ALL), period())
                .prop_map(|(status, period)| CommunityRecord { status, period }),
            0..=2,
        ),
        prop::collection::vec(arrival(), 0..=2),
        prop::collection::vec(
            day().prop_map(|registered_on| Registration { registered_on }),
            0..=2,
        ),
        prop::collection::vec(
            (day(), prop::option::weighted(0.7, region()))
                .prop_map(|(verified_on, scope)| Verification { verified_on, scope }),
            0..=3,
        ),
    )
        .prop_map(
            |(stays, phones, cdc, community, arrivals, registrations, verifications)| {
                PersonRecords {
                    stays,
                    phones,
                    cdc,
                    community,
                    arrivals,
                    registrations,
                    verifications,
                }
            },
        )
}

/// A deployment's home region: none (a third of the cases), a city (Beijing, Dongguan — whose
/// streets sit directly under the city — or Tianjin), or a province.
pub fn home() -> impl Strategy<Value = Option<RegionCode>> {
    prop::option::weighted(
        0.67,
        prop::sample::select(&["1101", "4419", "1201", "11", "44"][..])
            .prop_map(|s| RegionCode::parse(s).expect("valid code")),
    )
}

pub fn risk_areas() -> impl Strategy<Value = Vec<RiskArea>> {
    prop::collection::vec(
        (region(), prop::sample::select(RiskLevel::ALL), period()).prop_map(
            |(area, level, period)| RiskArea {
                area,
                level,
                period,
            },
        ),
        0..=5,
    )
}

/// Records that are all dated after D: a later verification, registration, booking and status.
pub fn future_records() -> impl Strategy<Value = (Verification, Registration, Arrival, PhoneStatus)>
{
    let after = || (1i32..=10).prop_map(|k| query_day().plus(k));
    (
        after(),
        prop::option::of(region()),
        after(),
        arrival(),
        after(),
        prop::sample::select(PhoneState::ALL),
    )
        .prop_map(|(v, scope, reg, a, booked, state)| {
            (
                Verification {
                    verified_on: v,
                    scope,
                },
                Registration { registered_on: reg },
                Arrival {
                    booked_on: booked,
                    travel_day: a.travel_day.max(booked),
                    ..a
                },
                PhoneStatus {
                    state,
                    as_of: booked,
                },
            )
        })
}
