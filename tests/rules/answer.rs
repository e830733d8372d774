//! What an answer shows: colour, travel permission and the order of findings.

use super::*;

#[test]
fn colour_red_beats_yellow() {
    let p = PersonRecords {
        stays: vec![stay("110105001", -1, 0)],
        cdc: vec![cdc(CdcCategory::Asymptomatic, -1, None)],
        community: vec![community(CommunityStatus::HomeQuarantine, -5, None)],
        ..PersonRecords::default()
    };
    let code = query(&p, &[area("110105", -30, None)]);
    assert_eq!(code.color, Color::Red);
    assert_eq!(
        shown(&code),
        [
            "CDC_ASYMPTOMATIC day=D-1 blocks",
            "COMMUNITY_HOME_QUARANTINE day=D-5 blocks",
            "IN_RISK_AREA region=110105001 area=110105 day=D blocks",
        ]
    );
}

#[test]
fn colour_yellow_beats_green_popups() {
    let mut ph = phone(8000, -100, None, vec![telecom("1101", -2, -2)]);
    ph.statuses = vec![status(PhoneState::NotInCity, -1)];
    let p = PersonRecords {
        stays: vec![stay("120101", -1, 0)],
        phones: vec![ph],
        arrivals: vec![arrival("110105", -1, -4)],
        ..PersonRecords::default()
    };
    let code = query(&p, &[area("110105", -30, None), area("120101", -30, None)]);
    assert_eq!(code.color, Color::Yellow);
    assert_eq!(
        shown(&code),
        [
            "IN_RISK_AREA region=120101 area=120101 day=D blocks",
            "ITINERARY_IMPRECISE region=1101 area=110105 day=D-2 tail=8000",
            "ARRIVAL_UNREGISTERED region=110105 area=110105 day=D-1",
            "PHONE_UNVERIFIABLE day=D-1 tail=8000",
        ]
    );
}

#[test]
fn travel_allowed_requires_green_and_no_blocking_finding() {
    let areas = [area("110105", -30, None)];
    // Green with popups that do not block: allowed.
    let mut ph = phone(8000, -100, None, vec![telecom("1101", -1, 0)]);
    ph.statuses = vec![status(PhoneState::LongOff, -1)];
    let popups = PersonRecords {
        phones: vec![ph],
        arrivals: vec![arrival("110105", -1, -4)],
        ..PersonRecords::default()
    };
    let code = query(&popups, &areas);
    assert_eq!(code.color, Color::Green);
    assert_eq!(code.findings.len(), 3);
    assert!(code.travel_allowed);

    // Green with a blocking popup (a visit): not allowed.
    let visited = query(&own_stays(vec![stay("110105", -6, -4)]), &areas);
    assert_eq!(visited.color, Color::Green);
    assert!(!visited.travel_allowed);

    // Yellow: not allowed.
    let yellow = query(&own_stays(vec![stay("110105", -6, 0)]), &areas);
    assert_eq!(yellow.color, Color::Yellow);
    assert!(!yellow.travel_allowed);

    // Nothing at all: green and allowed.
    assert_green_without_findings(&query(&PersonRecords::default(), &areas));
}

#[test]
fn findings_of_one_reason_are_latest_first_then_by_region() {
    let areas = [area("110105", -30, None), area("120101", -30, None)];
    let p = own_stays(vec![
        stay("120101", -9, -5),
        stay("110105002", -9, -7),
        stay("110105001", -9, -7),
    ]);
    assert_eq!(
        shown(&query(&p, &areas)),
        [
            "VISITED_RISK_AREA region=120101 area=120101 day=D-5 blocks",
            "VISITED_RISK_AREA region=110105001 area=110105 day=D-7 blocks",
            "VISITED_RISK_AREA region=110105002 area=110105 day=D-7 blocks",
        ]
    );
}
