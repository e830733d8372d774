//! One named test per row of the DOMAIN.md §4 findings table and per rule around it, asserting
//! what a person would see: colour, travel permission and each finding's reason, region, risk
//! area, day and phone tail. Every answer is also checked against the reference model, so these
//! cases pin the model down as much as the engine.

mod model;

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
    let code = evaluate(p, &RiskAreaSet::new(areas.to_vec()), query_day(), policy);
    assert_eq!(
        code,
        model::evaluate(p, areas, query_day(), policy),
        "engine and model disagree under {policy}"
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

// ---------------------------------------------------------------------------------------------
// CDC and community rows.

fn assert_cdc_red(category: CdcCategory, name: &str) {
    let p = PersonRecords {
        cdc: vec![cdc(category, -3, None)],
        ..PersonRecords::default()
    };
    let code = query(&p, &[]);
    assert_eq!(code.color, Color::Red);
    assert!(!code.travel_allowed);
    assert_eq!(shown(&code), [format!("{name} day=D-3 blocks")]);
}

#[test]
fn cdc_confirmed_is_red_and_blocks_travel() {
    assert_cdc_red(CdcCategory::Confirmed, "CDC_CONFIRMED");
}

#[test]
fn cdc_suspected_is_red_and_blocks_travel() {
    assert_cdc_red(CdcCategory::Suspected, "CDC_SUSPECTED");
}

#[test]
fn cdc_asymptomatic_is_red_and_blocks_travel() {
    assert_cdc_red(CdcCategory::Asymptomatic, "CDC_ASYMPTOMATIC");
}

#[test]
fn cdc_close_contact_is_red_and_blocks_travel() {
    assert_cdc_red(CdcCategory::CloseContact, "CDC_CLOSE_CONTACT");
}

#[test]
fn cdc_secondary_contact_is_yellow_and_blocks_travel() {
    let p = PersonRecords {
        cdc: vec![cdc(CdcCategory::SecondaryContact, -2, Some(5))],
        ..PersonRecords::default()
    };
    let code = query(&p, &[]);
    assert_eq!(code.color, Color::Yellow);
    assert!(!code.travel_allowed);
    assert_eq!(shown(&code), ["CDC_SECONDARY_CONTACT day=D-2 blocks"]);
}

#[test]
fn cdc_record_counts_only_while_active_on_d() {
    let with = |rec| PersonRecords {
        cdc: vec![rec],
        ..PersonRecords::default()
    };
    // Ended yesterday, or starts tomorrow: nothing on D.
    assert_green_without_findings(&query(
        &with(cdc(CdcCategory::Confirmed, -20, Some(-1))),
        &[],
    ));
    assert_green_without_findings(&query(&with(cdc(CdcCategory::Confirmed, 1, None)), &[]));
    // Both ends are inclusive.
    assert_eq!(
        query(&with(cdc(CdcCategory::Confirmed, -20, Some(0))), &[]).color,
        Color::Red
    );
    assert_eq!(
        query(&with(cdc(CdcCategory::Confirmed, 0, Some(9))), &[]).color,
        Color::Red
    );
}

#[test]
fn community_home_quarantine_is_yellow_and_blocks_travel() {
    let p = PersonRecords {
        community: vec![community(CommunityStatus::HomeQuarantine, -4, Some(3))],
        ..PersonRecords::default()
    };
    let code = query(&p, &[]);
    assert_eq!(code.color, Color::Yellow);
    assert!(!code.travel_allowed);
    assert_eq!(shown(&code), ["COMMUNITY_HOME_QUARANTINE day=D-4 blocks"]);

    let ended = PersonRecords {
        community: vec![community(CommunityStatus::HomeQuarantine, -14, Some(-1))],
        ..PersonRecords::default()
    };
    assert_green_without_findings(&query(&ended, &[]));
}

#[test]
fn community_health_monitoring_gives_no_finding() {
    let p = PersonRecords {
        community: vec![community(CommunityStatus::HealthMonitoring, -4, None)],
        ..PersonRecords::default()
    };
    assert_green_without_findings(&query(&p, &[]));
}

// ---------------------------------------------------------------------------------------------
// Risk-area rows.

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

// ---------------------------------------------------------------------------------------------
// Arrival row.

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
            vec![telecom("110105001", -12, -12)],
        )],
        ..PersonRecords::default()
    };
    // Unbound on D-12: last bound on D-13, inside the window, so its stays count.
    let code = query(&with(-12), &areas);
    assert!(!code.travel_allowed);
    assert_eq!(
        shown(&code),
        ["VISITED_RISK_AREA region=110105001 area=110105 day=D-12 tail=0007 blocks"]
    );
    // Unbound on D-13: last bound on D-14, before the window.
    assert_green_without_findings(&query(&with(-13), &areas));
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

// ---------------------------------------------------------------------------------------------
// Colour, travel and order.

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
