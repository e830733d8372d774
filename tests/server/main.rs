//! The gRPC server end to end: a real tonic client against the real server started in-process on
//! 127.0.0.1:0 over an index file written to a temporary directory. Hand-made persons cover every
//! finding of DOMAIN.md §4; the tests check what a front end sees through `GetCode`, `GetCodes`
//! and `StreamCodes`, the credentials of §5, `Admin.Info` and `Admin.AffectedCount`, the health
//! service and server reflection; `demo.rs` runs `serve --demo` as a process. This file builds
//! the persons and reads the answers; each module holds one part of the API.

#[path = "../util/mod.rs"]
mod util;

mod access;
mod admin;
mod demo;
mod queries;

use healthcode::domain::{
    Arrival, Binding, CdcCategory, CdcRecord, CommunityRecord, CommunityStatus, Day, IdNumber,
    Period, PersonRecords, PhoneRecords, PhoneState, PhoneStatus, PhoneTail, Policy, RegionCode,
    Registration, RiskArea, RiskLevel, Stay, StaySource, TravelMode, Verification,
};
use healthcode::proto::{
    AffectedCountRequest, BatchCodeRequest, CodeRequest, CodeResponse, Color, Finding, InfoRequest,
    Reason,
};
use tempfile::TempDir;
use tonic::Code;
use util::{ADMIN_TOKEN, CodeClient, QUERY_TOKEN, Server};

// ---------------------------------------------------------------------------------------------
// The data: days are offsets from the server's today D = 2022-05-01 (`d(-1)` is D-1).

fn d(k: i32) -> Day {
    Day::parse("2022-05-01").expect("valid day").plus(k)
}

/// The wire form of `d(k)`.
fn day(k: i32) -> String {
    d(k).to_string()
}

fn r(code: &str) -> RegionCode {
    RegionCode::parse(code).expect("valid region code")
}

/// The hand-made persons, each named after what the rules find for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Confirmed,
    Suspected,
    Asymptomatic,
    CloseContact,
    SecondaryContact,
    HomeQuarantine,
    HealthMonitoring,
    InRiskArea,
    Visited,
    Imprecise,
    ArrivalUnregistered,
    ArrivalRegistered,
    PhoneUnverifiable,
    Verified,
    VerifiedBeforeLastDay,
    VerifiedElsewhere,
    VerifiedCdc,
    /// A valid document number with no record in any feed.
    Unknown,
}

const EVERYONE: [Who; 18] = [
    Who::Confirmed,
    Who::Suspected,
    Who::Asymptomatic,
    Who::CloseContact,
    Who::SecondaryContact,
    Who::HomeQuarantine,
    Who::HealthMonitoring,
    Who::InRiskArea,
    Who::Visited,
    Who::Imprecise,
    Who::ArrivalUnregistered,
    Who::ArrivalRegistered,
    Who::PhoneUnverifiable,
    Who::Verified,
    Who::VerifiedBeforeLastDay,
    Who::VerifiedElsewhere,
    Who::VerifiedCdc,
    Who::Unknown,
];

impl Who {
    /// The document number; the confirmed case's ends in `X`.
    fn id(self) -> IdNumber {
        if self == Who::Confirmed {
            IdNumber::parse("11010519491231002X").expect("valid id")
        } else {
            IdNumber::from_body(11010519800101000 + self as u64)
        }
    }

    /// The document number as a front end sends it.
    fn number(self) -> String {
        self.id().to_string()
    }

    /// The records, `None` for the unknown person.
    fn records(self) -> Option<PersonRecords> {
        let mut p = PersonRecords::default();
        let cdc = |category| CdcRecord {
            category,
            period: Period {
                from: d(-2),
                to: None,
            },
        };
        let community = |status| CommunityRecord {
            status,
            period: Period {
                from: d(-3),
                to: Some(d(10)),
            },
        };
        let arrival = Arrival {
            travel_day: d(-2),
            origin: r("4419"),
            mode: TravelMode::Rail,
            booked_on: d(-6),
        };
        match self {
            Who::Confirmed => p.cdc.push(cdc(CdcCategory::Confirmed)),
            Who::Suspected => p.cdc.push(cdc(CdcCategory::Suspected)),
            Who::Asymptomatic => p.cdc.push(cdc(CdcCategory::Asymptomatic)),
            Who::CloseContact => p.cdc.push(cdc(CdcCategory::CloseContact)),
            Who::SecondaryContact => p.cdc.push(cdc(CdcCategory::SecondaryContact)),
            Who::HomeQuarantine => p.community.push(community(CommunityStatus::HomeQuarantine)),
            Who::HealthMonitoring => p
                .community
                .push(community(CommunityStatus::HealthMonitoring)),
            Who::InRiskArea => {
                p.phones
                    .push(phone(8000, vec![telecom("110105", -3, 0)], vec![]));
                p.stays.push(stay("110105001", -2, -1));
            }
            Who::Visited => p.stays.push(stay("110105002", -10, -6)),
            Who::Imprecise => p
                .phones
                .push(phone(1234, vec![telecom("1101", -5, 0)], vec![])),
            Who::ArrivalUnregistered => p.arrivals.push(arrival),
            Who::ArrivalRegistered => {
                p.arrivals.push(arrival);
                p.registrations.push(Registration {
                    registered_on: d(-1),
                });
            }
            Who::PhoneUnverifiable => p.phones.push(phone(
                7,
                vec![],
                vec![
                    PhoneStatus {
                        state: PhoneState::Active,
                        as_of: d(-20),
                    },
                    PhoneStatus {
                        state: PhoneState::LongOff,
                        as_of: d(-2),
                    },
                ],
            )),
            Who::Verified | Who::VerifiedBeforeLastDay | Who::VerifiedElsewhere => {
                p.stays.push(stay("110105001", -3, 0));
                let (on, scope) = match self {
                    Who::Verified => (0, Some(r("110105"))),
                    Who::VerifiedBeforeLastDay => (-1, None),
                    _ => (0, Some(r("110106"))),
                };
                p.verifications.push(Verification {
                    verified_on: d(on),
                    scope,
                });
            }
            Who::VerifiedCdc => {
                p.cdc.push(cdc(CdcCategory::CloseContact));
                p.verifications.push(Verification {
                    verified_on: d(0),
                    scope: None,
                });
            }
            Who::Unknown => return None,
        }
        Some(p)
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

/// A phone's telecom stay.
fn telecom(region: &str, first: i32, last: i32) -> Stay {
    Stay {
        source: StaySource::Telecom,
        ..stay(region, first, last)
    }
}

/// A phone bound since long before the window and still bound.
fn phone(tail: u16, stays: Vec<Stay>, statuses: Vec<PhoneStatus>) -> PhoneRecords {
    PhoneRecords {
        tail: PhoneTail(tail),
        bindings: vec![Binding {
            bound_on: d(-100),
            unbound_on: None,
        }],
        stays,
        statuses,
    }
}

/// Risk areas: a street of Chaoyang (risk unit: the county 110105) and a street of Dongguan
/// (risk unit: the city 4419, which has no county level).
fn risk_areas() -> Vec<RiskArea> {
    vec![
        RiskArea {
            area: r("110105001"),
            level: RiskLevel::High,
            period: Period {
                from: d(-20),
                to: None,
            },
        },
        RiskArea {
            area: r("441900004"),
            level: RiskLevel::Medium,
            period: Period {
                from: d(-10),
                to: None,
            },
        },
    ]
}

/// The index's data date, set apart from the server's today so that a mix-up shows.
const DATA_AS_OF: &str = "2022-04-30";

/// The index file of every known person, in a temporary directory kept alive with it.
struct IndexFile {
    _dir: TempDir,
    path: std::path::PathBuf,
}

fn index_file() -> IndexFile {
    index_file_at_home(None)
}

/// [`index_file`] for a deployment whose home region is `home`.
fn index_file_at_home(home: Option<&str>) -> IndexFile {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let people: Vec<(IdNumber, PersonRecords)> = EVERYONE
        .iter()
        .filter_map(|w| Some((w.id(), w.records()?)))
        .collect();
    let path = util::write_index_at_home(
        dir.path(),
        &people,
        &risk_areas(),
        Some(Day::parse(DATA_AS_OF).expect("valid day")),
        home.map(r),
    );
    IndexFile { _dir: dir, path }
}

/// A server over a fresh index file with today = D and the test credentials.
async fn start(policy: Policy) -> (IndexFile, Server) {
    let file = index_file();
    let server = Server::start(&file.path, policy, Some(d(0)), util::tokens()).await;
    (file, server)
}

async fn get(c: &mut CodeClient, id: &str, as_of: &str) -> Result<CodeResponse, tonic::Status> {
    c.get_code(CodeRequest {
        id_number: id.to_string(),
        as_of: as_of.to_string(),
    })
    .await
    .map(|r| r.into_inner())
}

// ---------------------------------------------------------------------------------------------
// What a front end sees.

/// A finding as it travels on the wire.
fn finding(
    reason: Reason,
    region: (&str, &str),
    risk_area: &str,
    day: String,
    phone_tail: &str,
    blocks_travel: bool,
) -> Finding {
    Finding {
        reason: reason as i32,
        region_code: region.0.to_string(),
        region_name: region.1.to_string(),
        risk_area_code: risk_area.to_string(),
        day,
        phone_tail: phone_tail.to_string(),
        blocks_travel,
    }
}

/// A CDC or community finding: no region, risk area or phone; it blocks travel.
fn status_finding(reason: Reason, k: i32) -> Finding {
    finding(reason, ("", ""), "", day(k), "", true)
}

const CHAOYANG: (&str, &str) = ("110105", "朝阳区");
const JIANWAI: (&str, &str) = ("110105001", "建外街道");
const CHAOWAI: (&str, &str) = ("110105002", "朝外街道");
/// Beijing's city level: `市辖区` in the table, shown as the municipality's name (DOMAIN.md §2).
const BEIJING_CITY: (&str, &str) = ("1101", "北京市");
const DONGGUAN: (&str, &str) = ("4419", "东莞市");

/// The colour, findings and travel permission the precision-aware server gives on D.
fn expected(who: Who) -> (Color, Vec<Finding>, bool) {
    use Reason::*;
    let red = |reason| (Color::Red, vec![status_finding(reason, -2)], false);
    match who {
        Who::Confirmed => red(CdcConfirmed),
        Who::Suspected => red(CdcSuspected),
        Who::Asymptomatic => red(CdcAsymptomatic),
        Who::CloseContact | Who::VerifiedCdc => red(CdcCloseContact),
        Who::SecondaryContact => (
            Color::Yellow,
            vec![status_finding(CdcSecondaryContact, -2)],
            false,
        ),
        Who::HomeQuarantine => (
            Color::Yellow,
            vec![status_finding(CommunityHomeQuarantine, -3)],
            false,
        ),
        Who::HealthMonitoring | Who::ArrivalRegistered | Who::Verified | Who::Unknown => {
            (Color::Green, vec![], true)
        }
        Who::InRiskArea => (
            Color::Yellow,
            vec![
                finding(InRiskArea, CHAOYANG, "110105001", day(0), "8000", true),
                finding(InRiskArea, JIANWAI, "110105001", day(-1), "", true),
            ],
            false,
        ),
        Who::Visited => (
            Color::Green,
            vec![finding(
                VisitedRiskArea,
                CHAOWAI,
                "110105001",
                day(-6),
                "",
                true,
            )],
            false,
        ),
        Who::Imprecise => (
            Color::Green,
            vec![finding(
                ItineraryImprecise,
                BEIJING_CITY,
                "110105001",
                day(0),
                "1234",
                false,
            )],
            true,
        ),
        Who::ArrivalUnregistered => (
            Color::Green,
            vec![finding(
                ArrivalUnregistered,
                DONGGUAN,
                "441900004",
                day(-2),
                "",
                false,
            )],
            true,
        ),
        Who::PhoneUnverifiable => (
            Color::Green,
            vec![finding(
                PhoneUnverifiable,
                ("", ""),
                "",
                day(-2),
                "0007",
                false,
            )],
            true,
        ),
        Who::VerifiedBeforeLastDay | Who::VerifiedElsewhere => (
            Color::Yellow,
            vec![finding(InRiskArea, JIANWAI, "110105001", day(0), "", true)],
            false,
        ),
    }
}

fn assert_answer(got: &CodeResponse, who: Who, want: (Color, Vec<Finding>, bool)) {
    let (color, findings, travel_allowed) = want;
    assert_eq!(got.color(), color, "{who:?}: colour");
    assert_eq!(got.findings, findings, "{who:?}: findings");
    assert_eq!(got.travel_allowed, travel_allowed, "{who:?}: travel");
    assert_eq!(got.known, who != Who::Unknown, "{who:?}: known");
    assert!(got.error.is_empty(), "{who:?}: error {:?}", got.error);
}
