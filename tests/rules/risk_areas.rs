//! Risk-area rows of DOMAIN.md §4: in, visited, imprecise; risk units, window and periods.

use super::*;

#[test]
fn in_risk_area_on_d_or_d_minus_1() {
    let areas = [area("110105", -30, None)];
    for (last, day) in [(0, "D"), (-1, "D-1")] {
        let code = query(&own_stays(vec![stay("110105001", -5, last)]), &areas);
        assert_eq!(code.color, Color::Yellow);
        assert!(!code.travel_allowed);
        assert_eq!(
            shown(&code),
            [format!(
                "IN_RISK_AREA region=110105001 area=110105 day={day} blocks"
            )]
        );
    }
}

#[test]
fn visited_risk_area_earlier_in_window_is_popup_that_blocks() {
    let areas = [area("110105", -30, None)];
    let code = query(&own_stays(vec![stay("110105001", -6, -2)]), &areas);
    assert_eq!(code.color, Color::Green);
    assert!(!code.travel_allowed);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-2 blocks"]
    );
}

#[test]
fn visited_not_reported_when_in_risk_area() {
    let areas = [area("110105", -30, None), area("120101", -30, None)];
    let p = own_stays(vec![
        stay("110105001", -9, -6),
        stay("120101", -1, 0),
        stay("110105001", -1, -1),
    ]);
    let code = query(&p, &areas);
    assert_eq!(code.color, Color::Yellow);
    assert_eq!(
        shown(&code),
        [
            "IN_RISK_AREA region=120101 area=120101 day=D blocks",
            "IN_RISK_AREA region=110105001 area=110105 day=D-1 blocks",
        ]
    );

    // The same earlier visit alone is reported.
    let code = query(&own_stays(vec![stay("120101", -9, -6)]), &areas);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=120101 area=120101 day=D-6 blocks"]
    );
}

#[test]
fn itinerary_imprecise_city_stay_is_popup_not_yellow() {
    // The misfire: telecom data only knows the city (Beijing, 1101); one county of it is risky.
    let areas = [area("110105", -30, None)];
    let p = PersonRecords {
        phones: vec![phone(8000, -100, None, vec![telecom("1101", -3, 0)])],
        ..PersonRecords::default()
    };

    let aware = query_with(&p, &areas, Policy::PrecisionAware);
    assert_eq!(aware.color, Color::Green);
    assert!(aware.travel_allowed);
    assert_eq!(
        shown(&aware),
        ["ITINERARY_IMPRECISE region=1101 area=110105 day=D tail=8000"]
    );

    // The legacy policy turns the same person yellow and blocks travel.
    let city = query_with(&p, &areas, Policy::CityLevel);
    assert_eq!(city.color, Color::Yellow);
    assert!(!city.travel_allowed);
    assert_eq!(
        shown(&city),
        ["IN_RISK_AREA region=1101 area=110105 day=D tail=8000 blocks"]
    );
}

#[test]
fn itinerary_imprecise_for_a_possible_match_anywhere_in_window() {
    let areas = [area("110105001", -30, None)];
    let p = own_stays(vec![stay("11", -13, -10)]);
    let code = query(&p, &areas);
    assert_eq!(code.color, Color::Green);
    assert!(code.travel_allowed);
    assert_eq!(
        shown(&code),
        ["ITINERARY_IMPRECISE region=11 area=110105001 day=D-10"]
    );

    // Under the legacy policy the earlier possible match is a visit.
    let city = query_with(&p, &areas, Policy::CityLevel);
    assert_eq!(city.color, Color::Green);
    assert!(!city.travel_allowed);
    assert_eq!(
        shown(&city),
        ["VISITED_RISK_AREA region=11 area=110105001 day=D-10 blocks"]
    );
}

#[test]
fn stay_in_another_county_of_the_same_city_does_not_match() {
    let areas = [area("110105", -30, None)];
    assert_green_without_findings(&query(&own_stays(vec![stay("110106002", -3, 0)]), &areas));
    assert_green_without_findings(&query(&own_stays(vec![stay("1102", -3, 0)]), &areas));
}

#[test]
fn risk_unit_of_a_street_area_is_its_county() {
    // A risk street makes its whole county the unit: a stay in another street of that county is
    // a definite match, and the finding names the designated street.
    let areas = [area("110105001", -30, None)];
    let code = query(&own_stays(vec![stay("110105002", -3, 0)]), &areas);
    assert_eq!(code.color, Color::Yellow);
    assert_eq!(
        shown(&code),
        ["IN_RISK_AREA region=110105002 area=110105001 day=D blocks"]
    );
    // A county-level stay in that county is definite too, not imprecise.
    let code = query(&own_stays(vec![stay("110105", -3, 0)]), &areas);
    assert_eq!(
        shown(&code),
        ["IN_RISK_AREA region=110105 area=110105001 day=D blocks"]
    );
}

#[test]
fn risk_area_coarser_than_a_county_is_its_own_unit() {
    let areas = [area("1101", -30, None)];
    let code = query(&own_stays(vec![stay("110106002", -1, 0)]), &areas);
    assert_eq!(
        shown(&code),
        ["IN_RISK_AREA region=110106002 area=1101 day=D blocks"]
    );
    let code = query(&own_stays(vec![stay("11", -1, 0)]), &areas);
    assert_eq!(
        shown(&code),
        ["ITINERARY_IMPRECISE region=11 area=1101 day=D"]
    );
}

#[test]
fn dongguan_street_risk_unit_is_the_city() {
    // Dongguan (4419) has no county level: its streets sit directly under the city, so the city
    // is the risk unit and even a city-level telecom stay there is a definite match.
    let areas = [area("441900003", -30, None)];
    let code = query(&own_stays(vec![stay("441900004", -2, 0)]), &areas);
    assert_eq!(code.color, Color::Yellow);
    assert_eq!(
        shown(&code),
        ["IN_RISK_AREA region=441900004 area=441900003 day=D blocks"]
    );

    let p = PersonRecords {
        phones: vec![phone(1234, -50, None, vec![telecom("4419", -2, 0)])],
        ..PersonRecords::default()
    };
    let code = query(&p, &areas);
    assert_eq!(code.color, Color::Yellow);
    assert_eq!(
        shown(&code),
        ["IN_RISK_AREA region=4419 area=441900003 day=D tail=1234 blocks"]
    );

    // The province is coarser than the unit: a possible match only.
    let code = query(&own_stays(vec![stay("44", -2, 0)]), &areas);
    assert_eq!(
        shown(&code),
        ["ITINERARY_IMPRECISE region=44 area=441900003 day=D"]
    );
}

#[test]
fn stay_outside_window_does_not_match() {
    let areas = [area("110105", -60, None)];
    // Ended on D-14, the day before the window.
    assert_green_without_findings(&query(&own_stays(vec![stay("110105", -20, -14)]), &areas));
    // A stay on D-13 is in the window.
    let code = query(&own_stays(vec![stay("110105", -20, -13)]), &areas);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=110105 area=110105 day=D-13 blocks"]
    );
    // A stay after D has not happened yet on D.
    assert_green_without_findings(&query(&own_stays(vec![stay("110105", 1, 3)]), &areas));
}

#[test]
fn risk_area_lifted_before_stay_does_not_match() {
    let p = own_stays(vec![stay("110105001", -5, 0)]);
    assert_green_without_findings(&query(&p, &[area("110105", -10, Some(-6))]));
    // Lifted on the stay's first day: that day still matches.
    let code = query(&p, &[area("110105", -10, Some(-5))]);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-5 blocks"]
    );
}

#[test]
fn risk_area_designated_after_stay_does_not_match() {
    let p = own_stays(vec![stay("110105001", -8, -4)]);
    assert_green_without_findings(&query(&p, &[area("110105", -3, None)]));
    // Designated on the stay's last day: that day matches.
    let code = query(&p, &[area("110105", -4, None)]);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-4 blocks"]
    );
}

#[test]
fn finding_day_is_the_latest_match_day() {
    // Still in the county on D, but the area was lifted on D-4.
    let p = own_stays(vec![stay("110105001", -9, 0), stay("110105001", -12, -11)]);
    let code = query(&p, &[area("110105", -30, Some(-4))]);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-4 blocks"]
    );
}
