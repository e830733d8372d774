//! CDC and community rows of DOMAIN.md §4.

use super::*;

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
