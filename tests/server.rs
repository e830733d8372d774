//! The gRPC server end to end: a real tonic client against the real server started in-process on
//! 127.0.0.1:0 over an index file written to a temporary directory. Hand-made persons cover every
//! finding of DOMAIN.md §4; the tests check what a front end sees through `GetCode`, `GetCodes`
//! and `StreamCodes`, the credentials of §5, `Admin.Info` and `Admin.AffectedCount`, the health
//! service and server reflection.

mod util;

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
    let dir = tempfile::tempdir().expect("a temporary directory");
    let people: Vec<(IdNumber, PersonRecords)> = EVERYONE
        .iter()
        .filter_map(|w| Some((w.id(), w.records()?)))
        .collect();
    let path = util::write_index(
        dir.path(),
        &people,
        &risk_areas(),
        Some(Day::parse(DATA_AS_OF).expect("valid day")),
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
const BEIJING_CITY: (&str, &str) = ("1101", "市辖区");
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

// ---------------------------------------------------------------------------------------------
// GetCode

#[tokio::test(flavor = "multi_thread")]
async fn get_code_gives_every_person_the_findings_of_the_rules() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    for who in EVERYONE {
        let got = get(&mut c, &who.number(), "").await.expect("a valid id");
        assert_answer(&got, who, expected(who));
        assert_eq!(got.as_of, day(0), "{who:?}: the server's today");
        assert_eq!(got.index_generation, 1);
        assert_eq!(got.data_as_of, DATA_AS_OF);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_city_level_server_turns_the_imprecise_itinerary_yellow() {
    let (_file, server) = start(Policy::CityLevel).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    let got = get(&mut c, &Who::Imprecise.number(), "").await.expect("ok");
    let in_risk = finding(
        Reason::InRiskArea,
        BEIJING_CITY,
        "110105001",
        day(0),
        "1234",
        true,
    );
    assert_answer(&got, Who::Imprecise, (Color::Yellow, vec![in_risk], false));
    // Everything that does not hang on a possible match answers as under precision-aware.
    for who in [Who::Confirmed, Who::InRiskArea, Who::Verified, Who::Unknown] {
        let got = get(&mut c, &who.number(), "").await.expect("ok");
        assert_answer(&got, who, expected(who));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn as_of_overrides_the_servers_today() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;

    // The CDC record starts on D-2: before it the person is green, though known.
    let got = get(&mut c, &Who::Confirmed.number(), &day(-3))
        .await
        .expect("ok");
    assert_eq!(got.as_of, day(-3));
    assert_answer(&got, Who::Confirmed, (Color::Green, vec![], true));
    let got = get(&mut c, &Who::Confirmed.number(), &day(5))
        .await
        .expect("ok");
    assert_eq!(got.as_of, day(5));
    assert_eq!(got.color(), Color::Red);

    // The verification is made on D: on D-1 it does not exist yet.
    let got = get(&mut c, &Who::Verified.number(), &day(-1))
        .await
        .expect("ok");
    let in_risk = finding(Reason::InRiskArea, JIANWAI, "110105001", day(-1), "", true);
    assert_answer(&got, Who::Verified, (Color::Yellow, vec![in_risk], false));

    // Three weeks on, the stays have left the window.
    let got = get(&mut c, &Who::InRiskArea.number(), &day(21))
        .await
        .expect("ok");
    assert_answer(&got, Who::InRiskArea, (Color::Green, vec![], true));

    let err = get(&mut c, &Who::Confirmed.number(), "2022-13-01")
        .await
        .expect_err("a bad day");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("as_of"), "{}", err.message());
    server.stop().await;
}

/// Invalid document numbers and why: the message names the reason, never the number.
fn invalid_ids() -> Vec<(String, &'static str)> {
    let good = Who::Confirmed.number();
    vec![
        (format!("{}1", &good[..17]), "check character"),
        (good[..17].to_string(), "17 character(s)"),
        (format!("{}Y", &good[..17]), "not a digit or X"),
        (format!("1101A5{}", &good[6..]), "non-digit"),
        (String::new(), "empty"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_id_is_invalid_argument_with_the_reason_and_without_the_number() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    for (id, reason) in invalid_ids() {
        let err = get(&mut c, &id, "").await.expect_err("an invalid id");
        assert_eq!(err.code(), Code::InvalidArgument, "{id:?}");
        assert!(
            err.message().contains(reason),
            "{id:?}: {:?} lacks {reason:?}",
            err.message()
        );
        if !id.is_empty() {
            assert!(
                !err.message().contains(&id),
                "{:?} repeats the number",
                err.message()
            );
        }
    }
    // A lower-case x is the same document.
    let lower = Who::Confirmed.number().to_lowercase();
    assert!(lower.ends_with('x'));
    let got = get(&mut c, &lower, "").await.expect("x may be lower case");
    assert_answer(&got, Who::Confirmed, expected(Who::Confirmed));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// GetCodes and StreamCodes

#[tokio::test(flavor = "multi_thread")]
async fn get_codes_agrees_with_get_code_item_by_item_and_in_order() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    // Every person, in reverse, with the invalid ids interleaved.
    let mut ids: Vec<(String, Option<&str>)> = Vec::new();
    let mut invalid = invalid_ids().into_iter();
    for who in EVERYONE.iter().rev() {
        ids.push((who.number(), None));
        if let Some((id, reason)) = invalid.next() {
            ids.push((id, Some(reason)));
        }
    }
    for as_of in [String::new(), day(-3)] {
        let batch = c
            .get_codes(BatchCodeRequest {
                id_numbers: ids.iter().map(|(id, _)| id.clone()).collect(),
                as_of: as_of.clone(),
            })
            .await
            .expect("invalid items never fail the call")
            .into_inner();
        assert_eq!(batch.results.len(), ids.len());
        for ((id, invalid), res) in ids.iter().zip(&batch.results) {
            match invalid {
                None => {
                    assert!(res.valid && res.error.is_empty(), "{id}: {res:?}");
                    let single = get(&mut c, id, &as_of).await.expect("valid");
                    assert_eq!(res.code.as_ref(), Some(&single), "{id} as of {as_of:?}");
                }
                Some(reason) => {
                    assert!(!res.valid, "{id:?} is valid in the batch");
                    assert!(res.error.contains(reason), "{id:?}: {:?}", res.error);
                    assert!(
                        id.is_empty() || !res.error.contains(id.as_str()),
                        "{:?}",
                        res.error
                    );
                    assert!(
                        res.code.is_none()
                            || res.code.as_ref().unwrap().color() == Color::Unspecified
                    );
                }
            }
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_codes_takes_10_000_ids_and_rejects_10_001() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    let ids: Vec<String> = (0..10_000)
        .map(|i| EVERYONE[i % EVERYONE.len()].number())
        .collect();
    let batch = c
        .get_codes(BatchCodeRequest {
            id_numbers: ids.clone(),
            as_of: String::new(),
        })
        .await
        .expect("a full batch")
        .into_inner();
    assert_eq!(batch.results.len(), 10_000);
    for (i, res) in batch.results.iter().enumerate() {
        let who = EVERYONE[i % EVERYONE.len()];
        assert_eq!(
            res.code.as_ref().map(|c| c.color()),
            Some(expected(who).0),
            "item {i}"
        );
    }

    let mut over = ids;
    over.push(Who::Unknown.number());
    let err = c
        .get_codes(BatchCodeRequest {
            id_numbers: over,
            as_of: String::new(),
        })
        .await
        .expect_err("one id too many");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("10001"), "{}", err.message());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_codes_answers_in_order_and_goes_on_after_an_invalid_id() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    let mut requests = Vec::new();
    for (i, who) in EVERYONE.iter().enumerate() {
        let as_of = if i % 3 == 0 { day(-3) } else { String::new() };
        requests.push(CodeRequest {
            id_number: who.number(),
            as_of,
        });
        if i % 4 == 1 {
            let (id, _) = &invalid_ids()[i / 4 % invalid_ids().len()];
            requests.push(CodeRequest {
                id_number: id.clone(),
                as_of: String::new(),
            });
        }
    }
    let mut stream = c
        .stream_codes(tokio_stream::iter(requests.clone()))
        .await
        .expect("the stream opens")
        .into_inner();
    let mut answers = Vec::new();
    while let Some(a) = stream.message().await.expect("the stream goes on") {
        answers.push(a);
    }
    assert_eq!(answers.len(), requests.len(), "one answer per request");
    let mut invalid = 0;
    for (req, got) in requests.iter().zip(&answers) {
        match get(&mut c, &req.id_number, &req.as_of).await {
            Ok(single) => assert_eq!(got, &single, "{req:?}"),
            Err(e) => {
                invalid += 1;
                assert_eq!(got.color(), Color::Unspecified, "{req:?}");
                assert!(!got.error.is_empty(), "{req:?}");
                assert_eq!(got.error, e.message(), "{req:?}");
                assert!(req.id_number.is_empty() || !got.error.contains(&req.id_number));
                assert!(got.findings.is_empty());
            }
        }
    }
    assert!(invalid >= 3, "{invalid} invalid requests in the stream");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Credentials, health and reflection

#[tokio::test(flavor = "multi_thread")]
async fn credentials_guard_each_service_by_role() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let id = Who::Confirmed.number();

    let mut anonymous = server.codes(None).await;
    let err = get(&mut anonymous, &id, "").await.expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = anonymous
        .get_codes(BatchCodeRequest {
            id_numbers: vec![id.clone()],
            as_of: String::new(),
        })
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = anonymous
        .stream_codes(tokio_stream::iter(vec![CodeRequest {
            id_number: id.clone(),
            as_of: String::new(),
        }]))
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);

    let mut forged = server.codes(Some("not-a-known-token-0000")).await;
    let err = get(&mut forged, &id, "").await.expect_err("unknown token");
    assert_eq!(err.code(), Code::Unauthenticated);

    let err = server
        .admin(None)
        .await
        .info(InfoRequest {})
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = server
        .admin(Some(QUERY_TOKEN))
        .await
        .info(InfoRequest {})
        .await
        .expect_err("a query token");
    assert_eq!(err.code(), Code::PermissionDenied);

    let mut query = server.codes(Some(QUERY_TOKEN)).await;
    assert_eq!(
        get(&mut query, &id, "").await.expect("query").color(),
        Color::Red
    );
    let mut admin_codes = server.codes(Some(ADMIN_TOKEN)).await;
    assert_eq!(
        get(&mut admin_codes, &id, "").await.expect("admin").color(),
        Color::Red
    );
    server
        .admin(Some(ADMIN_TOKEN))
        .await
        .info(InfoRequest {})
        .await
        .expect("admin");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_serving_without_a_token() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut h = HealthClient::new(server.channel().await);
    for service in ["", "healthcode.v1.HealthCode", "healthcode.v1.Admin"] {
        let got = h
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
            .into_inner();
        assert_eq!(got.status(), ServingStatus::Serving, "{service:?}");
    }
    let err = h
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .expect_err("an unknown service");
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_the_services_without_a_token() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = ServerReflectionClient::new(server.channel().await);
    let ask = |m| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let requests = vec![
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "healthcode.v1.HealthCode".into(),
        )),
    ];
    let mut stream = c
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection answers")
        .into_inner();
    let mut next = async || -> ServerReflectionResponse {
        stream
            .message()
            .await
            .expect("no error")
            .expect("an answer")
    };

    let Some(MessageResponse::ListServicesResponse(list)) = next().await.message_response else {
        panic!("not a service list");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "healthcode.v1.HealthCode",
        "healthcode.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }

    let Some(MessageResponse::FileDescriptorResponse(files)) = next().await.message_response else {
        panic!("no descriptor for healthcode.v1.HealthCode");
    };
    assert!(
        files
            .file_descriptor_proto
            .iter()
            .any(|f| f.windows(7).any(|w| w == b"GetCode")),
        "the descriptor does not describe GetCode"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Admin

#[tokio::test(flavor = "multi_thread")]
async fn info_describes_the_index_being_served() {
    for policy in Policy::ALL {
        let (_file, server) = start(policy).await;
        let info = server
            .admin(Some(ADMIN_TOKEN))
            .await
            .info(InfoRequest {})
            .await
            .expect("admin")
            .into_inner();
        assert_eq!(info.generation, 1);
        assert_eq!(
            info.persons,
            EVERYONE.len() as u64 - 1,
            "all but the unknown"
        );
        assert_eq!(info.data_as_of, DATA_AS_OF);
        assert_eq!(info.policy, policy.as_str());
        assert_eq!(info.overlay_sequence, 0);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn affected_count_counts_persons_by_risk_unit() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut a = server.admin(Some(ADMIN_TOKEN)).await;
    let mut count = async |region: &str, from: i32, to: Option<i32>| {
        a.affected_count(AffectedCountRequest {
            region: region.to_string(),
            from: day(from),
            to: to.map(day).unwrap_or_default(),
        })
        .await
        .map(|r| {
            let r = r.into_inner();
            (r.definite, r.possible)
        })
    };
    // On D-1 … D, inside Chaoyang (110105): the in-risk-area person and the three verified ones
    // (a verification does not undo a stay); containing it, the city-level itinerary (1101).
    assert_eq!(count("110105001", -1, Some(0)).await.expect("ok"), (4, 1));
    // Another street of the same county is the same risk unit; `to` defaults to today.
    assert_eq!(count("110105002", -1, None).await.expect("ok"), (4, 1));
    // Earlier, only the visitor of 朝外街道 was there; the city-level stay starts on D-5.
    assert_eq!(count("110105", -10, Some(-6)).await.expect("ok"), (1, 0));
    // Tianjin and Dongguan: nobody stayed (an arrival's origin is not a stay).
    assert_eq!(count("120101", -20, Some(0)).await.expect("ok"), (0, 0));
    assert_eq!(count("441900003", -20, Some(0)).await.expect("ok"), (0, 0));

    for (region, from, to, what) in [
        ("1101051", -1, Some(0), "region"),
        ("110105", 0, Some(-1), "before"),
    ] {
        let err = count(region, from, to).await.expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument, "{region} {from} {to:?}");
        assert!(err.message().contains(what), "{}", err.message());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_server_accepts_no_connection() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let addr = server.addr;
    {
        let mut c = server.codes(Some(QUERY_TOKEN)).await;
        get(&mut c, &Who::Confirmed.number(), "")
            .await
            .expect("served before the signal");
    }
    server.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Without a tokens file the server does not start (unless `--demo` makes one or
/// `--insecure-no-auth` says to run open), and it says what to pass.
#[test]
fn serve_refuses_to_start_without_credentials() {
    let home = tempfile::tempdir().unwrap();
    let out = util::process::bin()
        .env("HEALTHCODE_HOME", home.path())
        .args(["serve", "--index", "missing.hci", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no credentials") && err.contains("--tokens FILE"),
        "{err}"
    );
}
