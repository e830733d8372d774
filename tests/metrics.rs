//! The Prometheus metrics as a scraper sees them: real gRPC calls against the real server, then
//! `GET /metrics` over HTTP. Calls are counted by method and status code, answers by colour and
//! finding, a shed and a rate-limited call each in their own counter, a reload in the generation
//! and swap metrics, live writes in the overlay gauges; no label holds anything but a fixed name
//! and no full document number appears; the binary's `--metrics` serves the same.
//!
//! Each count is read after the client has its answer, which is safe: the server records a call
//! before it hands the call's last frame to HTTP/2. Nothing here depends on timing.

mod util;

use std::collections::HashMap;
use std::sync::Arc;

use healthcode::domain::{
    CdcCategory, CdcRecord, Day, IdNumber, Period, PersonRecords, Policy, mask,
};
use healthcode::proto::{
    BatchCodeRequest, CodeRequest, InfoRequest, RecordVerificationRequest, ReloadRequest,
};
use healthcode::serve::{self, Limits, LimitsConfig, Metrics, Options, State};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use util::{ADMIN_TOKEN, QUERY_TOKEN, Server};

fn today() -> Day {
    Day::parse("2022-05-10").unwrap()
}

/// Persons of the test index: one red, one yellow, one green; `UNKNOWN` is in no feed.
const RED: u64 = 1;
const YELLOW: u64 = 2;
const GREEN: u64 = 3;
const UNKNOWN: u64 = 4;

fn id(n: u64) -> String {
    IdNumber::from_body(11010519800101000 + n).to_string()
}

/// A document number whose check character is wrong.
fn invalid() -> String {
    let good = id(5);
    let wrong = if good.ends_with('0') { '1' } else { '0' };
    format!("{}{wrong}", &good[..17])
}

fn cdc(category: CdcCategory) -> PersonRecords {
    PersonRecords {
        cdc: vec![CdcRecord {
            category,
            period: Period {
                from: today().plus(-2),
                to: None,
            },
        }],
        ..PersonRecords::default()
    }
}

/// The three-person index and a state serving it (with a state directory when `live`).
fn world(live: bool) -> (TempDir, Arc<State>) {
    let dir = tempfile::tempdir().unwrap();
    let people = [
        (RED, cdc(CdcCategory::Confirmed)),
        (YELLOW, cdc(CdcCategory::SecondaryContact)),
        (GREEN, PersonRecords::default()),
    ]
    .map(|(n, p)| (IdNumber::from_body(11010519800101000 + n), p));
    let path = util::write_index(dir.path(), &people, &[], Some(today()));
    let index = serve::open_index(&path, &util::key()).unwrap();
    let overlay = live.then(|| {
        healthcode::overlay::Overlay::open(&dir.path().join("state"), util::key().fingerprint())
            .unwrap()
            .0
    });
    let state = State::with_overlay(
        index,
        path,
        util::key(),
        Policy::PrecisionAware,
        Some(today()),
        overlay,
    )
    .unwrap();
    (dir, Arc::new(state))
}

/// A server keeping metrics, and the address of its metrics endpoint.
async fn start(
    state: Arc<State>,
    limits: LimitsConfig,
) -> (Server, std::net::SocketAddr, Arc<Limits>) {
    let limits = Arc::new(Limits::new(&limits).unwrap());
    let metrics = Metrics::new(state.clone(), limits.clone());
    let (listener, addr) = serve::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    tokio::spawn(serve::metrics_http::serve(
        listener,
        metrics.clone(),
        std::future::pending(),
    ));
    let options = Options {
        limits: limits.clone(),
        metrics: Some(metrics),
        ..Options::default()
    };
    (
        Server::serve_with(state, util::tokens(), options).await,
        addr,
        limits,
    )
}

/// One HTTP/1.1 GET: the status code, the headers (lower-case names) and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, HashMap<String, String>, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The scrape of `GET /metrics`, checked to be OpenMetrics text.
async fn scrape(addr: std::net::SocketAddr) -> String {
    let (status, headers, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"].starts_with("application/openmetrics-text"),
        "{headers:?}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    body
}

/// The value of the sample `name` whose labels include every one of `labels`; panics when there
/// is none (a series that should be there is not) or several.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
            (n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse().unwrap())
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?} in:\n{text}");
    found[0]
}

fn requests(text: &str, service: &str, method: &str, code: &str) -> f64 {
    sample(
        text,
        "healthcode_requests_total",
        &[("service", service), ("method", method), ("code", code)],
    )
}

const CODES: &str = "healthcode.v1.HealthCode";
const ADMIN: &str = "healthcode.v1.Admin";

/// Every label value is a short fixed name (a bucket bound is a number): none has a run of six
/// digits (a document or phone number, a sequence, a port) and no secret appears anywhere.
fn assert_no_numbers(text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!text.contains(secret.as_str()), "{secret} in the scrape");
    }
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else {
            continue;
        };
        let labels = labels.rsplit_once('}').unwrap().0;
        let parts: Vec<&str> = labels.split('"').collect();
        for pair in parts.chunks(2).filter(|p| p.len() == 2) {
            let (key, value) = (
                pair[0].trim_start_matches(',').trim_end_matches('='),
                pair[1],
            );
            if key == "le" {
                assert!(value == "+Inf" || value.parse::<f64>().is_ok(), "{line}");
                continue;
            }
            let mut run = 0;
            for c in value.chars() {
                run = if c.is_ascii_digit() { run + 1 } else { 0 };
                assert!(run < 6, "label {key}={value:?} in {line}");
            }
        }
    }
}

fn get_code(n: &str) -> CodeRequest {
    CodeRequest {
        id_number: n.to_string(),
        as_of: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_counted_by_method_and_code_and_answers_by_colour_and_finding() {
    let (_dir, state) = world(false);
    let (server, metrics, _) = start(state, LimitsConfig::default()).await;
    let mut codes = server.codes(Some(QUERY_TOKEN)).await;

    // Before any call: the query methods' OK series are there, at zero.
    let before = scrape(metrics).await;
    assert_eq!(requests(&before, CODES, "GetCode", "OK"), 0.0);
    assert_eq!(sample(&before, "healthcode_index_generation", &[]), 1.0);
    assert_eq!(sample(&before, "healthcode_index_persons", &[]), 3.0);
    // The index's bytes in 2 MiB pages: told on Linux (a small index has none to speak of).
    let huge = sample(&before, "healthcode_index_huge_page_bytes", &[]);
    let bytes = sample(&before, "healthcode_index_bytes", &[]);
    if cfg!(target_os = "linux") {
        assert!((0.0..=bytes).contains(&huge), "{huge} of {bytes}");
    } else {
        assert_eq!(huge, -1.0);
    }
    assert_eq!(
        sample(&before, "healthcode_index_data_date_seconds", &[]),
        f64::from(today().0) * 86_400.0
    );

    // GetCode: one answered, one invalid, one without a credential.
    codes.get_code(get_code(&id(RED))).await.unwrap();
    let e = codes.get_code(get_code(&invalid())).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let mut anonymous = server.codes(None).await;
    let e = anonymous.get_code(get_code(&id(RED))).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // GetCodes: red, yellow, green, unknown (green) and invalid.
    let batch = codes
        .get_codes(BatchCodeRequest {
            id_numbers: vec![id(RED), id(YELLOW), id(GREEN), id(UNKNOWN), invalid()],
            as_of: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.results.len(), 5);
    // StreamCodes: yellow, green, invalid.
    let answers: Vec<_> = codes
        .stream_codes(tokio_stream::iter([
            get_code(&id(YELLOW)),
            get_code(&id(GREEN)),
            get_code(&invalid()),
        ]))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(answers.len(), 3);
    // Admin and health.
    server
        .admin(Some(ADMIN_TOKEN))
        .await
        .info(InfoRequest {})
        .await
        .unwrap();
    HealthClient::new(server.channel().await)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();

    let text = scrape(metrics).await;
    assert_eq!(requests(&text, CODES, "GetCode", "OK"), 1.0);
    assert_eq!(requests(&text, CODES, "GetCode", "INVALID_ARGUMENT"), 1.0);
    assert_eq!(requests(&text, CODES, "GetCode", "UNAUTHENTICATED"), 1.0);
    assert_eq!(requests(&text, CODES, "GetCodes", "OK"), 1.0);
    assert_eq!(requests(&text, CODES, "StreamCodes", "OK"), 1.0);
    assert_eq!(requests(&text, ADMIN, "Info", "OK"), 1.0);
    assert_eq!(requests(&text, "grpc.health.v1.Health", "Check", "OK"), 1.0);
    let getcode = [("service", CODES), ("method", "GetCode")];
    for h in [
        "healthcode_request_duration_seconds_count",
        "healthcode_request_processing_seconds_count",
    ] {
        assert_eq!(sample(&text, h, &getcode), 3.0, "{h}");
    }
    // The answered call alone, not the invalid id nor the refused credentials.
    assert_eq!(
        sample(
            &text,
            "healthcode_request_ok_duration_seconds_count",
            &getcode
        ),
        1.0
    );
    let mut inf = getcode.to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(
        sample(&text, "healthcode_request_duration_seconds_bucket", &inf),
        3.0
    );

    // Answers: GetCode red; batch red, yellow, green, green (unknown); stream yellow, green.
    let answers = |color| sample(&text, "healthcode_answers_total", &[("color", color)]);
    assert_eq!(
        (answers("red"), answers("yellow"), answers("green")),
        (2.0, 2.0, 3.0)
    );
    assert_eq!(sample(&text, "healthcode_answers_unknown_total", &[]), 1.0);
    assert_eq!(sample(&text, "healthcode_answers_invalid_total", &[]), 3.0);
    let findings = |reason| sample(&text, "healthcode_findings_total", &[("reason", reason)]);
    assert_eq!(findings("CDC_CONFIRMED"), 2.0);
    assert_eq!(findings("CDC_SECONDARY_CONTACT"), 2.0);
    assert_eq!(findings("IN_RISK_AREA"), 0.0);

    let secrets: Vec<String> = [RED, YELLOW, GREEN, UNKNOWN]
        .map(id)
        .into_iter()
        .chain([invalid(), QUERY_TOKEN.into(), ADMIN_TOKEN.into()])
        .collect();
    assert_no_numbers(&text, &secrets);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shed_call_and_a_rate_limited_call_are_counted_apart() {
    let (_dir, state) = world(false);
    let config = LimitsConfig {
        max_in_flight: 2,
        rate: std::num::NonZeroU32::new(2),
        ..LimitsConfig::default()
    };
    let (server, metrics, limits) = start(state, config).await;
    let mut codes = server.codes(Some(QUERY_TOKEN)).await;

    // Three ids exceed a burst of two persons: refused by the rate limit, whatever the time.
    let e = codes
        .get_codes(BatchCodeRequest {
            id_numbers: vec![id(RED), id(YELLOW), id(GREEN)],
            as_of: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("rate limit"), "{}", e.message());

    // Every place taken, as by two calls being evaluated: the next query is shed.
    let held = [limits.try_admit().unwrap(), limits.try_admit().unwrap()];
    let e = codes.get_code(get_code(&id(RED))).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("server overloaded"), "{}", e.message());
    let stream_end = codes
        .stream_codes(tokio_stream::iter([get_code(&id(RED))]))
        .await
        .unwrap()
        .into_inner()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(stream_end.code(), Code::ResourceExhausted);
    let text = scrape(metrics).await;
    assert_eq!(sample(&text, "healthcode_queries_in_flight", &[]), 2.0);
    assert_eq!(sample(&text, "healthcode_queries_max_in_flight", &[]), 2.0);
    drop(held);

    let text = scrape(metrics).await;
    let by = |name, method| sample(&text, name, &[("service", CODES), ("method", method)]);
    assert_eq!(by("healthcode_rate_limited_total", "GetCodes"), 1.0);
    assert_eq!(by("healthcode_rate_limited_total", "GetCode"), 0.0);
    assert_eq!(by("healthcode_shed_total", "GetCode"), 1.0);
    assert_eq!(by("healthcode_shed_total", "StreamCodes"), 1.0);
    assert_eq!(by("healthcode_shed_total", "GetCodes"), 0.0);
    assert_eq!(
        requests(&text, CODES, "GetCodes", "RESOURCE_EXHAUSTED"),
        1.0
    );
    assert_eq!(requests(&text, CODES, "GetCode", "RESOURCE_EXHAUSTED"), 1.0);
    assert_eq!(
        requests(&text, CODES, "StreamCodes", "RESOURCE_EXHAUSTED"),
        1.0
    );
    assert_eq!(sample(&text, "healthcode_queries_in_flight", &[]), 0.0);
    // Nothing was answered.
    assert_eq!(
        sample(&text, "healthcode_answers_total", &[("color", "red")]),
        0.0
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_shows_in_the_generation_and_the_swaps_and_a_live_write_in_the_overlay() {
    let (dir, state) = world(true);
    let index = state.current().path.clone();
    let (server, metrics, _) = start(state, LimitsConfig::default()).await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;

    let generation = admin
        .reload(ReloadRequest {
            path: index.display().to_string(),
            force: false,
        })
        .await
        .unwrap()
        .into_inner()
        .generation;
    assert_eq!(generation, 2);
    let missing = dir.path().join("missing.hci");
    let e = admin
        .reload(ReloadRequest {
            path: missing.display().to_string(),
            force: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let ack = admin
        .record_verification(RecordVerificationRequest {
            id_number: id(YELLOW),
            verified_on: today().to_string(),
            scope: String::new(),
            operator: "Li Na".into(),
            ticket: "T-1".into(),
        })
        .await
        .unwrap()
        .into_inner();

    let text = scrape(metrics).await;
    assert_eq!(sample(&text, "healthcode_index_generation", &[]), 2.0);
    let swaps = |outcome| {
        sample(
            &text,
            "healthcode_swaps_total",
            &[("kind", "reload"), ("outcome", outcome)],
        )
    };
    assert_eq!((swaps("ok"), swaps("refused")), (1.0, 1.0));
    assert_eq!(
        sample(
            &text,
            "healthcode_swap_duration_seconds_count",
            &[("kind", "reload")]
        ),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            "healthcode_swaps_total",
            &[("kind", "rebuild"), ("outcome", "ok")]
        ),
        0.0
    );
    assert_eq!(requests(&text, ADMIN, "Reload", "OK"), 1.0);
    assert_eq!(requests(&text, ADMIN, "Reload", "NOT_FOUND"), 1.0);
    assert_eq!(requests(&text, ADMIN, "RecordVerification", "OK"), 1.0);
    assert_eq!(
        sample(&text, "healthcode_overlay_sequence", &[]),
        ack.sequence as f64
    );
    assert_eq!(sample(&text, "healthcode_overlay_person_records", &[]), 1.0);
    assert_eq!(sample(&text, "healthcode_rebuild_running", &[]), 0.0);
    assert_no_numbers(
        &text,
        &[
            id(YELLOW),
            mask::id_text(&id(YELLOW)),
            index.display().to_string(),
        ],
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_metrics_on_its_own_port() {
    let data = util::process::DataSet::generate(200);
    let server = data.serve(&["--metrics", "127.0.0.1:0"]);
    let log = server.log();
    let addr: std::net::SocketAddr = log
        .iter()
        .find_map(|l| l.strip_prefix("healthcode: metrics at http://"))
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("the server says where its metrics are: {log:#?}"))
        .parse()
        .unwrap();
    let out = data
        .command()
        .args(["query", &util::id(7), "--server", &server.addr])
        .arg("--tokens")
        .arg(&data.tokens)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = scrape(addr).await;
    assert_eq!(requests(&text, CODES, "GetCode", "OK"), 1.0);
    assert_eq!(sample(&text, "healthcode_index_persons", &[]), 200.0);
    assert_no_numbers(&text, &[util::id(7)]);
    let (status, _, body) = get(addr, "/").await;
    assert_eq!(status, 404);
    assert!(body.contains("/metrics"), "{body}");
    assert_ne!(addr.to_string(), server.addr, "a port of its own");
}
