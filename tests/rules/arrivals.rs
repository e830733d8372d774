//! The arrival row of DOMAIN.md §4: unregistered arrivals from risk units, and registrations.

use super::*;

#[test]
fn arrival_unregistered_from_a_risk_unit_is_popup() {
    let areas = [area("110105", -30, None)];
    let p = PersonRecords {
        arrivals: vec![arrival("110105001", -2, -9)],
        ..PersonRecords::default()
    };
    let code = query(&p, &areas);
    assert_eq!(code.color, Color::Green);
    assert!(code.travel_allowed);
    assert_eq!(
        shown(&code),
        ["ARRIVAL_UNREGISTERED region=110105001 area=110105 day=D-2"]
    );
}

#[test]
fn arrival_unregistered_from_an_origin_coarser_than_the_unit() {
    // A ticket from the city of a risky county is a possible match, which counts for arrivals.
    let areas = [area("110105", -30, None)];
    let p = PersonRecords {
        arrivals: vec![arrival("1101", -1, -3)],
        ..PersonRecords::default()
    };
    assert_eq!(
        shown(&query(&p, &areas)),
        ["ARRIVAL_UNREGISTERED region=1101 area=110105 day=D-1"]
    );
    let elsewhere = PersonRecords {
        arrivals: vec![arrival("110106", -1, -3)],
        ..PersonRecords::default()
    };
    assert_green_without_findings(&query(&elsewhere, &areas));
}

#[test]
fn arrival_unregistered_travel_day_from_d_minus_13_to_d_plus_14() {
    let areas = [area("110105", -60, None)];
    let with = |travel, booked| PersonRecords {
        arrivals: vec![arrival("110105", travel, booked)],
        ..PersonRecords::default()
    };
    assert_eq!(
        shown(&query(&with(-13, -20), &areas)),
        ["ARRIVAL_UNREGISTERED region=110105 area=110105 day=D-13"]
    );
    assert_eq!(
        shown(&query(&with(14, -1), &areas)),
        ["ARRIVAL_UNREGISTERED region=110105 area=110105 day=D+14"]
    );
    assert_green_without_findings(&query(&with(-14, -20), &areas));
    assert_green_without_findings(&query(&with(15, -1), &areas));
}

#[test]
fn arrival_unregistered_matches_areas_active_on_the_travel_day_or_d() {
    let p = |travel| PersonRecords {
        arrivals: vec![arrival("110105", travel, -10)],
        ..PersonRecords::default()
    };
    // Past trip: the area must be active on the travel day.
    assert_green_without_findings(&query(&p(-2), &[area("110105", -30, Some(-3))]));
    assert_green_without_findings(&query(&p(-2), &[area("110105", -1, None)]));
    assert_eq!(
        shown(&query(&p(-2), &[area("110105", -2, Some(-2))])),
        ["ARRIVAL_UNREGISTERED region=110105 area=110105 day=D-2"]
    );
    // Upcoming trip: the area must be active on D (nobody knows the future designations).
    assert_eq!(
        shown(&query(&p(5), &[area("110105", -30, Some(0))])),
        ["ARRIVAL_UNREGISTERED region=110105 area=110105 day=D+5"]
    );
    assert_green_without_findings(&query(&p(5), &[area("110105", 1, None)]));
}

#[test]
fn arrival_registered_after_booking_clears() {
    let areas = [area("110105", -30, None)];
    let with = |registered_on| PersonRecords {
        arrivals: vec![arrival("110105", -2, -5)],
        registrations: vec![registration(registered_on)],
        ..PersonRecords::default()
    };
    // Registered on the booking day, before travelling, after arriving, or on D: cleared.
    for on in [-5, -3, -1, 0] {
        assert_green_without_findings(&query(&with(on), &areas));
    }
    // A registration before this trip was booked belongs to an earlier trip.
    assert_eq!(
        shown(&query(&with(-6), &areas)),
        ["ARRIVAL_UNREGISTERED region=110105 area=110105 day=D-2"]
    );
}
