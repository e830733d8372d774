//! Property tests of the rules of DOMAIN.md §4: the engine agrees with the slow reference model
//! on random records, over a universe small enough (a few regions at every level, ~40 days around
//! the query day) that stays, risk areas, verifications and arrivals meet often.

mod model;

use healthcode::domain::{
    Arrival, Binding, CdcCategory, CdcRecord, CommunityRecord, CommunityStatus, Day, Period,
    PersonRecords, PhoneRecords, PhoneState, PhoneStatus, PhoneTail, Policy, Reason, RegionCode,
    Registration, RiskArea, RiskAreaSet, RiskLevel, Stay, StaySource, TravelMode, Verification,
    evaluate,
};
use proptest::prelude::*;

/// Codes at every level, with siblings, and Dongguan's streets that sit directly under the city.
const REGIONS: &[&str] = &[
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
const TAILS: &[u16] = &[8000, 1234, 7];

fn query_day() -> Day {
    Day::parse("2022-05-01").expect("valid day")
}

fn region() -> impl Strategy<Value = RegionCode> {
    prop::sample::select(REGIONS).prop_map(|s| RegionCode::parse(s).expect("valid code"))
}

/// A day from D-20 to D+16: both edges of the window and of the arrival range, and beyond.
fn day() -> impl Strategy<Value = Day> {
    (-20i32..=16).prop_map(|k| query_day().plus(k))
}

fn period() -> impl Strategy<Value = Period> {
    (day(), prop::option::weighted(0.7, 0i32..12)).prop_map(|(from, len)| Period {
        from,
        to: len.map(|n| from.plus(n)),
    })
}

fn stay(source: StaySource) -> impl Strategy<Value = Stay> {
    (region(), day(), 0i32..8).prop_map(move |(region, first_day, len)| Stay {
        region,
        first_day,
        last_day: first_day.plus(len),
        source,
    })
}

/// A binding of at least one day. Bindings that end on or before their first day are not
/// generated: the engine's `Binding::intersects` treats them as covering the window, and whether
/// such rows can reach the rules at all is for the feed validation to decide.
fn binding() -> impl Strategy<Value = Binding> {
    (day(), prop::option::weighted(0.6, 1i32..16)).prop_map(|(bound_on, len)| Binding {
        bound_on,
        unbound_on: len.map(|n| bound_on.plus(n)),
    })
}

fn status() -> impl Strategy<Value = PhoneStatus> {
    (prop::sample::select(PhoneState::ALL), day())
        .prop_map(|(state, as_of)| PhoneStatus { state, as_of })
}

fn phone() -> impl Strategy<Value = PhoneRecords> {
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
fn arrival() -> impl Strategy<Value = Arrival> {
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

fn person() -> impl Strategy<Value = PersonRecords> {
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

fn risk_areas() -> impl Strategy<Value = Vec<RiskArea>> {
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
fn future_records() -> impl Strategy<Value = (Verification, Registration, Arrival, PhoneStatus)> {
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn engine_agrees_with_the_model(p in person(), areas in risk_areas()) {
        let set = RiskAreaSet::new(areas.clone());
        let d = query_day();
        for policy in Policy::ALL {
            let engine = evaluate(&p, &set, d, policy);
            let slow = model::evaluate(&p, &areas, d, policy);
            prop_assert_eq!(engine, slow, "policy {}", policy);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn city_level_never_reports_itinerary_imprecise(p in person(), areas in risk_areas()) {
        let code = evaluate(&p, &RiskAreaSet::new(areas), query_day(), Policy::CityLevel);
        prop_assert!(code.findings.iter().all(|f| f.reason != Reason::ItineraryImprecise));
    }

    /// City level only turns possible matches into definite ones, so it can add yellow and
    /// blocking findings but never remove one: precision-aware is never a worse answer.
    #[test]
    fn precision_aware_is_never_worse_than_city_level(p in person(), areas in risk_areas()) {
        let set = RiskAreaSet::new(areas);
        let aware = evaluate(&p, &set, query_day(), Policy::PrecisionAware);
        let city = evaluate(&p, &set, query_day(), Policy::CityLevel);
        prop_assert!(aware.color <= city.color, "{:?} vs {:?}", aware.color, city.color);
        prop_assert!(!city.travel_allowed || aware.travel_allowed);
    }

    /// A query on D answers as the service would have on D: records dated later change nothing.
    #[test]
    fn records_dated_after_d_change_nothing(
        p in person(),
        areas in risk_areas(),
        (v, reg, a, st) in future_records(),
        phone_index in 0usize..4,
    ) {
        let set = RiskAreaSet::new(areas);
        let mut later = p.clone();
        later.verifications.push(v);
        later.registrations.push(reg);
        later.arrivals.push(a);
        if !later.phones.is_empty() {
            let i = phone_index % later.phones.len();
            later.phones[i].statuses.push(st);
        }
        for policy in Policy::ALL {
            prop_assert_eq!(
                evaluate(&p, &set, query_day(), policy),
                evaluate(&later, &set, query_day(), policy)
            );
        }
    }
}

/// The generator must keep reaching every rule, or the agreement above proves little: over a
/// fixed-seed sample, every reason appears, and verifications, registrations and phones that are
/// no longer bound on D each change some answer.
#[test]
fn generated_cases_reach_every_rule() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = (person(), risk_areas());
    let mut reasons = std::collections::BTreeMap::new();
    let (mut by_verification, mut by_registration, mut by_unbound_phone) = (0, 0, 0);
    let d = query_day();
    for _ in 0..2000 {
        let (p, areas) = strategy.new_tree(&mut runner).expect("a case").current();
        let set = RiskAreaSet::new(areas);
        for policy in Policy::ALL {
            let code = evaluate(&p, &set, d, policy);
            for f in &code.findings {
                *reasons.entry(f.reason).or_insert(0) += 1;
            }
            let without = |f: fn(&mut PersonRecords)| {
                let mut q = p.clone();
                f(&mut q);
                evaluate(&q, &set, d, policy) != code
            };
            by_verification += usize::from(without(|q| q.verifications.clear()));
            by_registration += usize::from(without(|q| q.registrations.clear()));
            by_unbound_phone += usize::from(without(|q| {
                q.phones
                    .retain(|ph| ph.bindings.iter().any(|b| b.bound_on_day(query_day())))
            }));
        }
    }
    for r in Reason::ALL {
        let n = reasons.get(&r).copied().unwrap_or(0);
        assert!(n >= 20, "{r} appears in only {n} generated answers");
    }
    assert!(
        by_verification >= 20,
        "verifications matter in {by_verification} answers"
    );
    assert!(
        by_registration >= 20,
        "registrations matter in {by_registration} answers"
    );
    assert!(
        by_unbound_phone >= 20,
        "unbound phones matter in {by_unbound_phone} answers"
    );
}
