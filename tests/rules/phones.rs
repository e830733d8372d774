//! The phone row of DOMAIN.md §4, and how bound and unbound phones count in the window.

use super::*;

// ---------------------------------------------------------------------------------------------
// Phone row.

#[test]
fn phone_unverifiable_long_off_or_not_in_city_is_popup() {
    for state in [PhoneState::LongOff, PhoneState::NotInCity] {
        let mut ph = phone(8000, -100, None, Vec::new());
        ph.statuses = vec![status(PhoneState::Active, -10), status(state, -3)];
        let p = PersonRecords {
            phones: vec![ph],
            ..PersonRecords::default()
        };
        let code = query(&p, &[]);
        assert_eq!(code.color, Color::Green);
        assert!(code.travel_allowed);
        assert_eq!(shown(&code), ["PHONE_UNVERIFIABLE day=D-3 tail=8000"]);
    }
}

#[test]
fn phone_unverifiable_uses_the_latest_status() {
    let with = |statuses| {
        let mut ph = phone(8000, -100, None, Vec::new());
        ph.statuses = statuses;
        PersonRecords {
            phones: vec![ph],
            ..PersonRecords::default()
        }
    };
    // Active again since.
    let p = with(vec![
        status(PhoneState::Active, -1),
        status(PhoneState::LongOff, -5),
    ]);
    assert_green_without_findings(&query(&p, &[]));
    // Two statuses on one day: the last one given wins.
    let p = with(vec![
        status(PhoneState::LongOff, -2),
        status(PhoneState::Active, -2),
    ]);
    assert_green_without_findings(&query(&p, &[]));
    let p = with(vec![
        status(PhoneState::Active, -2),
        status(PhoneState::NotInCity, -2),
    ]);
    assert_eq!(
        shown(&query(&p, &[])),
        ["PHONE_UNVERIFIABLE day=D-2 tail=8000"]
    );
}

#[test]
fn phone_unverifiable_only_for_a_phone_bound_on_d() {
    let with = |bound, unbound| {
        let mut ph = phone(8000, bound, unbound, Vec::new());
        ph.statuses = vec![status(PhoneState::LongOff, -20)];
        PersonRecords {
            phones: vec![ph],
            ..PersonRecords::default()
        }
    };
    // Unbound on D (exclusive): no longer this person's phone.
    assert_green_without_findings(&query(&with(-100, Some(0)), &[]));
    // Bound tomorrow: not yet.
    assert_green_without_findings(&query(&with(1, None), &[]));
    // Bound on D, unbound tomorrow.
    assert_eq!(
        shown(&query(&with(0, Some(1)), &[])),
        ["PHONE_UNVERIFIABLE day=D-20 tail=8000"]
    );
}

// ---------------------------------------------------------------------------------------------
// Phones and the window.

#[test]
fn unbound_phone_still_counts_for_14_days() {
    let areas = [area("110105", -30, None)];
    let with = |unbound| PersonRecords {
        phones: vec![phone(
            7,
            -60,
            Some(unbound),
            vec![telecom("110105001", -20, -10)],
        )],
        ..PersonRecords::default()
    };
    // Unbound on D-12: its bound days D-20 … D-13 are in the window from D-13 on, so the stay
    // counts on D-13 alone.
    let code = query(&with(-12), &areas);
    assert!(!code.travel_allowed);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-13 tail=0007 blocks"]
    );
    // Unbound on D-13, 13 days ago: its last bound day is D-14, before the window, so the
    // number no longer counts at all, though the stay itself runs to D-10.
    assert_green_without_findings(&query(&with(-13), &areas));
}

#[test]
fn a_stay_before_the_binding_does_not_count() {
    // A recycled number: its telecom history before this person bound it is someone else's.
    let areas = [area("110105", -30, None)];
    let with = |stays| PersonRecords {
        phones: vec![phone(7, -5, None, stays)],
        ..PersonRecords::default()
    };
    assert_green_without_findings(&query(&with(vec![telecom("110105001", -9, -6)]), &areas));
    // A stay that runs into the binding counts from the bound day on.
    assert_eq!(
        shown(&query(&with(vec![telecom("110105001", -9, -4)]), &areas)),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-4 tail=0007 blocks"]
    );
}

#[test]
fn a_stay_after_the_unbinding_does_not_count() {
    // The number went to someone else on D-5: what it did since marks them, not this person.
    let areas = [area("110105", -30, None)];
    let p = PersonRecords {
        phones: vec![phone(7, -60, Some(-5), vec![telecom("110105001", -4, 0)])],
        ..PersonRecords::default()
    };
    assert_green_without_findings(&query(&p, &areas));
}

#[test]
fn a_stay_across_the_unbinding_counts_up_to_the_last_bound_day() {
    let areas = [area("110105", -30, None)];
    let p = PersonRecords {
        phones: vec![phone(7, -60, Some(-5), vec![telecom("110105001", -8, 0)])],
        ..PersonRecords::default()
    };
    let code = query(&p, &areas);
    // Last bound on D-6: visited, not in the risk area now.
    assert_eq!(code.color, Color::Green);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-6 tail=0007 blocks"]
    );
}

#[test]
fn a_number_bound_twice_counts_on_the_days_of_each_binding() {
    let areas = [area("110105", -30, None)];
    let mut ph = phone(7, -12, Some(-9), vec![telecom("110105001", -12, 0)]);
    ph.bindings.push(Binding {
        bound_on: d(-3),
        unbound_on: Some(d(-1)),
    });
    let p = PersonRecords {
        phones: vec![ph],
        ..PersonRecords::default()
    };
    // Bound D-12 … D-10 and D-3 … D-2: the latest bound day of the stay is D-2.
    assert_eq!(
        shown(&query(&p, &areas)),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-2 tail=0007 blocks"]
    );
}

#[test]
fn two_bound_phones_with_one_tail_give_one_finding_per_key() {
    let areas = [area("110105", -30, None)];
    let p = PersonRecords {
        phones: vec![
            phone(8000, -100, None, vec![telecom("110105001", -6, -4)]),
            phone(8000, -100, None, vec![telecom("110105001", -3, -2)]),
        ],
        ..PersonRecords::default()
    };
    assert_eq!(
        shown(&query(&p, &areas)),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-2 tail=8000 blocks"]
    );
}

#[test]
fn phone_bound_after_d_does_not_count() {
    let areas = [area("110105", -30, None)];
    let p = PersonRecords {
        phones: vec![phone(7, 1, None, vec![telecom("110105001", -3, 0)])],
        ..PersonRecords::default()
    };
    assert_green_without_findings(&query(&p, &areas));
}

#[test]
fn one_stay_seen_by_two_phones_gives_one_finding_per_phone() {
    let areas = [area("110105", -30, None)];
    let p = PersonRecords {
        stays: vec![stay("110105001", 0, 0)],
        phones: vec![
            phone(8000, -100, None, vec![telecom("110105001", -1, 0)]),
            phone(1234, -100, None, vec![telecom("110105001", -1, -1)]),
        ],
        ..PersonRecords::default()
    };
    assert_eq!(
        shown(&query(&p, &areas)),
        [
            "IN_RISK_AREA region=110105001 area=110105 day=D blocks",
            "IN_RISK_AREA region=110105001 area=110105 day=D tail=8000 blocks",
            "IN_RISK_AREA region=110105001 area=110105 day=D-1 tail=1234 blocks",
        ]
    );
}
