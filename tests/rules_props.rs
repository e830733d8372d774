//! Property tests of the rules of DOMAIN.md §4: the engine agrees with the slow reference model
//! on random records (the generators of `model::arb`, a universe small enough that stays, risk
//! areas, verifications and arrivals meet often).

mod model;

use healthcode::domain::{PersonRecords, Policy, Reason, RiskAreaSet, evaluate};
use model::arb::{future_records, home, person, query_day, risk_areas};

/// One person holding the records of several: far more findings than one person has (the
/// engine keeps a few findings unique as it finds them and sorts many at the end; both ways
/// must agree with the model).
fn crowded() -> impl Strategy<Value = PersonRecords> {
    prop::collection::vec(person(), 30..60).prop_map(|ps| {
        let mut all = PersonRecords::default();
        for p in ps {
            all.cdc.extend(p.cdc);
            all.community.extend(p.community);
            all.stays.extend(p.stays);
            all.phones.extend(p.phones);
            all.verifications.extend(p.verifications);
            all.registrations.extend(p.registrations);
            all.arrivals.extend(p.arrivals);
        }
        all
    })
}
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn engine_agrees_with_the_model(p in person(), areas in risk_areas(), home in home()) {
        let set = RiskAreaSet::with_home(areas.clone(), home);
        let d = query_day();
        for policy in Policy::ALL {
            let engine = evaluate(&p, &set, d, policy);
            let slow = model::evaluate_home(&p, &areas, home, d, policy);
            prop_assert_eq!(engine, slow, "policy {}, home {:?}", policy, home);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn engine_agrees_with_the_model_on_crowded_records(
        p in crowded(),
        areas in risk_areas(),
        home in home(),
    ) {
        let set = RiskAreaSet::with_home(areas.clone(), home);
        let d = query_day();
        for policy in Policy::ALL {
            prop_assert_eq!(
                evaluate(&p, &set, d, policy),
                model::evaluate_home(&p, &areas, home, d, policy)
            );
        }
    }
}

/// The crowded records do reach many findings (past the 16 the engine keeps unique by a scan).
#[test]
fn crowded_records_have_many_findings() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = (crowded(), risk_areas());
    let many = (0..200)
        .filter(|_| {
            let (p, areas) = strategy.new_tree(&mut runner).expect("a case").current();
            let code = evaluate(&p, &RiskAreaSet::new(areas), query_day(), Policy::CityLevel);
            code.findings.len() > 16
        })
        .count();
    assert!(
        many >= 10,
        "only {many} of 200 crowded cases have over 16 findings"
    );
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
    fn precision_aware_is_never_worse_than_city_level(
        p in person(),
        areas in risk_areas(),
        home in home(),
    ) {
        let set = RiskAreaSet::with_home(areas, home);
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
    let mut by_home = 0;
    let beijing = healthcode::domain::RegionCode::parse("1101").ok();
    let d = query_day();
    for _ in 0..2000 {
        let (p, areas) = strategy.new_tree(&mut runner).expect("a case").current();
        let set = RiskAreaSet::new(areas.clone());
        let at_home = RiskAreaSet::with_home(areas, beijing);
        for policy in Policy::ALL {
            let code = evaluate(&p, &set, d, policy);
            by_home += usize::from(evaluate(&p, &at_home, d, policy) != code);
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
    assert!(by_home >= 20, "a home region matters in {by_home} answers");
    assert!(
        by_unbound_phone >= 20,
        "unbound phones matter in {by_unbound_phone} answers"
    );
}
