//! Verifications clearing risk-area matches (DOMAIN.md §4), and records dated after D.

use super::*;

// ---------------------------------------------------------------------------------------------
// Verification.

#[test]
fn verification_clears_earlier_matches_only() {
    let areas = [area("110105", -30, None)];
    let with = |stays, verified_on| PersonRecords {
        stays,
        verifications: vec![verification(verified_on, None)],
        ..PersonRecords::default()
    };
    // Every match day on or before the verification: cleared.
    assert_green_without_findings(&query(&with(vec![stay("110105001", -8, -3)], -3), &areas));
    assert_green_without_findings(&query(&with(vec![stay("110105001", -8, 0)], 0), &areas));
    // Matches on later days count again, dated by the latest one.
    let code = query(&with(vec![stay("110105001", -8, 0)], -3), &areas);
    assert_eq!(code.color, Color::Yellow);
    assert_eq!(
        shown(&code),
        ["IN_RISK_AREA region=110105001 area=110105 day=D blocks"]
    );
    let code = query(&with(vec![stay("110105001", -8, -2)], -4), &areas);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-2 blocks"]
    );
}

#[test]
fn verification_clears_itinerary_imprecise() {
    // The hotline verifies the city-level stay: the popup goes away.
    let areas = [area("110105", -30, None)];
    let mut p = PersonRecords {
        phones: vec![phone(8000, -100, None, vec![telecom("1101", -5, -1)])],
        ..PersonRecords::default()
    };
    assert_eq!(
        shown(&query(&p, &areas)),
        ["ITINERARY_IMPRECISE region=1101 area=110105 day=D-1 tail=8000"]
    );
    p.verifications = vec![verification(-1, Some("1101"))];
    assert_green_without_findings(&query(&p, &areas));
}

#[test]
fn verification_scope_limits_what_it_clears() {
    let areas = [area("110105", -30, None), area("120101", -30, None)];
    let with = |scope| PersonRecords {
        stays: vec![stay("110105001", -6, -4), stay("120101", -6, -4)],
        verifications: vec![verification(-2, scope)],
        ..PersonRecords::default()
    };
    let tianjin_only = ["VISITED_RISK_AREA region=120101 area=120101 day=D-4 blocks"];
    // The unit 110105 lies inside the scope: cleared; Tianjin is outside it.
    assert_eq!(shown(&query(&with(Some("1101")), &areas)), tianjin_only);
    assert_eq!(shown(&query(&with(Some("110105")), &areas)), tianjin_only);
    // A scope finer than the risk unit does not cover the unit: nothing cleared.
    assert_eq!(
        shown(&query(&with(Some("110105001")), &areas)),
        [
            "VISITED_RISK_AREA region=110105001 area=110105 day=D-4 blocks",
            "VISITED_RISK_AREA region=120101 area=120101 day=D-4 blocks",
        ]
    );
    // No scope: everything.
    assert_green_without_findings(&query(&with(None), &areas));
}

#[test]
fn verification_never_clears_cdc_or_community() {
    let p = PersonRecords {
        cdc: vec![cdc(CdcCategory::SecondaryContact, -3, None)],
        community: vec![community(CommunityStatus::HomeQuarantine, -2, None)],
        verifications: vec![verification(0, None)],
        ..PersonRecords::default()
    };
    let code = query(&p, &[]);
    assert_eq!(code.color, Color::Yellow);
    assert_eq!(
        shown(&code),
        [
            "CDC_SECONDARY_CONTACT day=D-3 blocks",
            "COMMUNITY_HOME_QUARANTINE day=D-2 blocks",
        ]
    );
}

#[test]
fn verification_never_clears_arrival_or_phone() {
    let mut ph = phone(8000, -100, None, Vec::new());
    ph.statuses = vec![status(PhoneState::LongOff, -3)];
    let p = PersonRecords {
        phones: vec![ph],
        arrivals: vec![arrival("110105", -2, -5)],
        verifications: vec![verification(0, None)],
        ..PersonRecords::default()
    };
    assert_eq!(
        shown(&query(&p, &[area("110105", -30, None)])),
        [
            "ARRIVAL_UNREGISTERED region=110105 area=110105 day=D-2",
            "PHONE_UNVERIFIABLE day=D-3 tail=8000",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Records dated after D do not exist yet on D.

#[test]
fn records_dated_after_d_do_not_exist_yet_verified_on() {
    let p = PersonRecords {
        stays: vec![stay("110105001", -3, 0)],
        verifications: vec![verification(1, None)],
        ..PersonRecords::default()
    };
    assert_eq!(
        shown(&query(&p, &[area("110105", -30, None)])),
        ["IN_RISK_AREA region=110105001 area=110105 day=D blocks"]
    );
}

#[test]
fn records_dated_after_d_do_not_exist_yet_registered_on() {
    let p = PersonRecords {
        arrivals: vec![arrival("110105", -2, -5)],
        registrations: vec![registration(1)],
        ..PersonRecords::default()
    };
    assert_eq!(
        shown(&query(&p, &[area("110105", -30, None)])),
        ["ARRIVAL_UNREGISTERED region=110105 area=110105 day=D-2"]
    );
}

#[test]
fn records_dated_after_d_do_not_exist_yet_booked_on() {
    let areas = [area("110105", -30, None)];
    let with = |booked| PersonRecords {
        arrivals: vec![arrival("110105", 3, booked)],
        ..PersonRecords::default()
    };
    assert_green_without_findings(&query(&with(1), &areas));
    assert_eq!(
        shown(&query(&with(0), &areas)),
        ["ARRIVAL_UNREGISTERED region=110105 area=110105 day=D+3"]
    );
}

#[test]
fn records_dated_after_d_do_not_exist_yet_as_of() {
    let with = |statuses| {
        let mut ph = phone(8000, -100, None, Vec::new());
        ph.statuses = statuses;
        PersonRecords {
            phones: vec![ph],
            ..PersonRecords::default()
        }
    };
    // A status observed tomorrow says nothing today…
    assert_green_without_findings(&query(&with(vec![status(PhoneState::LongOff, 1)]), &[]));
    // …and does not hide the latest one observed by today.
    assert_eq!(
        shown(&query(
            &with(vec![
                status(PhoneState::NotInCity, -4),
                status(PhoneState::Active, 1),
            ]),
            &[]
        )),
        ["PHONE_UNVERIFIABLE day=D-4 tail=8000"]
    );
}
