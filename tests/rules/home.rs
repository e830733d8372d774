//! The home region of DOMAIN.md §4: inside the deployment's own city (or province) a risk unit is
//! matched by definite stays only, under both policies; outside it nothing changes.

use super::*;

/// Beijing holds a risk county (Chaoyang, 110105); Tianjin another (120101).
fn areas() -> [RiskArea; 2] {
    [area("110105", -30, None), area("120101", -30, None)]
}

/// A person seen only by a phone, at `region`, from D-3 to D.
fn seen_by_telecom(region: &str) -> PersonRecords {
    PersonRecords {
        phones: vec![phone(8000, -100, None, vec![telecom(region, -3, 0)])],
        ..PersonRecords::default()
    }
}

#[test]
fn a_city_level_stay_in_the_home_city_gives_no_finding() {
    for policy in Policy::ALL {
        let code = query_at_home(&seen_by_telecom("1101"), &areas(), Some("1101"), policy);
        assert_green_without_findings(&code);
    }
    // Without a home region the same stay is the possible match it always was.
    assert_eq!(
        shown(&query(&seen_by_telecom("1101"), &areas())),
        ["ITINERARY_IMPRECISE region=1101 area=110105 day=D tail=8000"]
    );
}

#[test]
fn a_province_level_stay_covering_the_home_city_gives_no_finding() {
    let p = PersonRecords {
        stays: vec![Stay {
            source: StaySource::SelfReport,
            ..stay("11", -4, -2)
        }],
        ..PersonRecords::default()
    };
    for home in ["1101", "11"] {
        for policy in Policy::ALL {
            assert_green_without_findings(&query_at_home(&p, &areas(), Some(home), policy));
        }
    }
}

#[test]
fn a_street_level_flow_survey_in_a_home_risk_county_is_in_risk_area() {
    let p = own_stays(vec![stay("110105001", -2, 0)]);
    for policy in Policy::ALL {
        let code = query_at_home(&p, &areas(), Some("1101"), policy);
        assert_eq!(code.color, Color::Yellow);
        assert!(!code.travel_allowed);
        assert_eq!(
            shown(&code),
            ["IN_RISK_AREA region=110105001 area=110105 day=D blocks"]
        );
    }
}

#[test]
fn a_county_level_self_report_in_a_home_risk_county_is_visited_risk_area() {
    let p = own_stays(vec![Stay {
        source: StaySource::SelfReport,
        ..stay("110105", -6, -3)
    }]);
    let code = query_at_home(&p, &areas(), Some("1101"), Policy::default());
    assert_eq!(code.color, Color::Green);
    assert!(!code.travel_allowed);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=110105 area=110105 day=D-3 blocks"]
    );
}

#[test]
fn a_city_level_stay_in_another_city_with_a_risk_county_is_still_imprecise() {
    let code = query_at_home(
        &seen_by_telecom("1201"),
        &areas(),
        Some("1101"),
        Policy::default(),
    );
    assert_eq!(code.color, Color::Green);
    assert!(code.travel_allowed);
    assert_eq!(
        shown(&code),
        ["ITINERARY_IMPRECISE region=1201 area=120101 day=D tail=8000"]
    );
}

#[test]
fn the_legacy_policy_exempts_the_home_city_too() {
    // Home city: no match at all, not even the legacy policy's yellow.
    let code = query_at_home(
        &seen_by_telecom("1101"),
        &areas(),
        Some("1101"),
        Policy::CityLevel,
    );
    assert_green_without_findings(&code);
    // Another city: the legacy misfire, as before.
    let code = query_at_home(
        &seen_by_telecom("1201"),
        &areas(),
        Some("1101"),
        Policy::CityLevel,
    );
    assert_eq!(code.color, Color::Yellow);
    assert_eq!(
        shown(&code),
        ["IN_RISK_AREA region=1201 area=120101 day=D tail=8000 blocks"]
    );
}

#[test]
fn a_province_home_exempts_coarser_stays_in_every_city_of_it() {
    // Home is the province of Beijing: a city-level stay there matches no Beijing county; a
    // province-level stay in Tianjin still matches Tianjin's.
    let code = query_at_home(
        &seen_by_telecom("1101"),
        &areas(),
        Some("11"),
        Policy::default(),
    );
    assert_green_without_findings(&code);
    let p = own_stays(vec![Stay {
        source: StaySource::SelfReport,
        ..stay("12", -2, -2)
    }]);
    assert_eq!(
        shown(&query_at_home(&p, &areas(), Some("11"), Policy::default())),
        ["ITINERARY_IMPRECISE region=12 area=120101 day=D-2"]
    );
}

#[test]
fn a_risk_area_coarser_than_a_county_in_the_home_city_is_matched_by_stays_inside_it() {
    // The whole city designated: its unit is the city itself, so a city-level stay lies inside
    // it (definite) and a province-level stay is coarser (no match at home).
    let city = [area("1101", -30, None)];
    let code = query_at_home(
        &seen_by_telecom("1101"),
        &city,
        Some("1101"),
        Policy::default(),
    );
    assert_eq!(
        shown(&code),
        ["IN_RISK_AREA region=1101 area=1101 day=D tail=8000 blocks"]
    );
    let p = own_stays(vec![stay("11", -2, -2)]);
    assert_green_without_findings(&query_at_home(&p, &city, Some("1101"), Policy::default()));
}

#[test]
fn an_arrival_is_not_a_stay_and_keeps_matching_at_home() {
    // §4's home rule speaks of stays; an arrival's origin matches as before.
    let p = PersonRecords {
        arrivals: vec![arrival("1101", -1, -5)],
        ..PersonRecords::default()
    };
    assert_eq!(
        shown(&query_at_home(
            &p,
            &areas(),
            Some("1101"),
            Policy::default()
        )),
        ["ARRIVAL_UNREGISTERED region=1101 area=110105 day=D-1"]
    );
}
