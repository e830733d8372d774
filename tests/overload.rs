//! Overload protection as a client sees it, against the real server in-process: query calls
//! beyond `--max-in-flight` refused at once with `RESOURCE_EXHAUSTED` while health, reflection
//! and `Admin` still answer; per-caller rate limits with a retry hint that leave other callers
//! alone; the message-size and batch limits; client deadlines that stop an evaluation.
//!
//! Saturation is made deterministic by holding the server's own in-flight permits from the test,
//! as a query being evaluated holds one; nothing here depends on timing.

mod util;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthcode::domain::{IdNumber, PersonRecords, Policy};
use healthcode::proto::{BatchCodeRequest, CodeRequest, InfoRequest, RecordVerificationRequest};
use healthcode::serve::grpc::{HealthCodeService, MAX_BATCH};
use healthcode::serve::limits::{Arrival, Deadline, RETRY_AFTER_MS};
use healthcode::serve::wire::server::health_code_server::HealthCode;
use healthcode::serve::{self, Limits, LimitsConfig, MAX_DECODED_MESSAGE, State, Tokens};
use prost::Message;
use tempfile::TempDir;
use tonic::{Code, Request, Status};
use util::{ADMIN_TOKEN, QUERY_TOKEN, Server};

/// Query tokens of three callers besides the admin.
const KIOSK_TOKEN: &str = "kiosk-token-0123456789abcdef";
const WEB_TOKEN: &str = "web-token-0123456789abcdef00";

fn tokens() -> Tokens {
    let text = format!(
        "query app {QUERY_TOKEN}\nquery kiosk {KIOSK_TOKEN}\nquery web {WEB_TOKEN}\nadmin ops {ADMIN_TOKEN}\n"
    );
    Tokens::parse(&text, "test tokens").expect("the test tokens parse")
}

/// The `i`-th of the test's document numbers; the index holds the first ten.
fn id(i: u64) -> String {
    IdNumber::from_body(11010519800101000 + i).to_string()
}

fn ids(n: usize) -> Vec<String> {
    (0..n as u64).map(id).collect()
}

/// A ten-person index in a temporary directory, its state, and limits built from `config`.
fn world(config: LimitsConfig) -> (TempDir, Arc<State>, Arc<Limits>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let people: Vec<(IdNumber, PersonRecords)> = (0..10)
        .map(|i| {
            (
                IdNumber::from_body(11010519800101000 + i),
                PersonRecords::default(),
            )
        })
        .collect();
    let path = util::write_index(dir.path(), &people, &[], None);
    let index = serve::open_index(&path, &util::key()).expect("the test index opens");
    let state = Arc::new(State::new(
        index,
        path,
        util::key(),
        Policy::PrecisionAware,
        None,
    ));
    let limits = Arc::new(Limits::new(&config).expect("valid limits"));
    (dir, state, limits)
}

async fn start(config: LimitsConfig) -> (TempDir, Server, Arc<Limits>) {
    let (dir, state, limits) = world(config);
    let server = Server::serve_limited(state, tokens(), limits.clone()).await;
    (dir, server, limits)
}

fn in_flight(n: usize) -> LimitsConfig {
    LimitsConfig {
        max_in_flight: n,
        ..LimitsConfig::default()
    }
}

fn get(i: u64) -> CodeRequest {
    CodeRequest {
        id_number: id(i),
        as_of: String::new(),
    }
}

fn batch(n: usize) -> BatchCodeRequest {
    BatchCodeRequest {
        id_numbers: ids(n),
        as_of: String::new(),
    }
}

/// The `retry-after-ms` hint of a refusal.
fn retry_after(s: &Status) -> u64 {
    s.metadata()
        .get(RETRY_AFTER_MS)
        .unwrap_or_else(|| panic!("no {RETRY_AFTER_MS} in {s:?}"))
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole milliseconds")
}

/// Sends `n` stream messages and reads until the stream ends: the answers and how it ended.
async fn stream(client: &mut util::CodeClient, n: u64) -> (usize, Result<(), Status>) {
    let msgs: Vec<CodeRequest> = (0..n).map(get).collect();
    let mut inbound = match client.stream_codes(tokio_stream::iter(msgs)).await {
        Ok(r) => r.into_inner(),
        Err(s) => return (0, Err(s)),
    };
    let mut answered = 0;
    loop {
        match inbound.message().await {
            Ok(Some(_)) => answered += 1,
            Ok(None) => return (answered, Ok(())),
            Err(s) => return (answered, Err(s)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// In flight

#[tokio::test(flavor = "multi_thread")]
async fn a_full_server_refuses_every_query_at_once_but_answers_health_and_admin() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let (_dir, server, limits) = start(in_flight(2)).await;
    let mut q = server.codes(Some(QUERY_TOKEN)).await;
    // Two queries being evaluated: the server is full.
    let held = [limits.try_admit().unwrap(), limits.try_admit().unwrap()];

    let unary = q.get_code(get(1)).await.expect_err("shed");
    let batched = q.get_codes(batch(3)).await.expect_err("shed");
    let (answered, streamed) = stream(&mut q, 3).await;
    assert_eq!(
        answered, 0,
        "no stream message is evaluated while the server is full"
    );
    let streamed = streamed.expect_err("shed");
    for s in [&unary, &batched, &streamed] {
        assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
        assert!(
            s.message()
                .starts_with("server overloaded: 2 requests in flight; retry after 100 ms"),
            "{s:?}"
        );
        assert_eq!(retry_after(s), 100);
    }

    // Health, reflection and Admin are not query load.
    let mut h = HealthClient::new(server.channel().await);
    let health = h
        .check(HealthCheckRequest {
            service: "healthcode.v1.HealthCode".into(),
        })
        .await
        .expect("health answers while queries are shed")
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);
    let info = server
        .admin(Some(ADMIN_TOKEN))
        .await
        .info(InfoRequest {})
        .await
        .expect("Admin.Info answers while queries are shed")
        .into_inner();
    assert_eq!(info.persons, 10);
    {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        let mut c = ServerReflectionClient::new(server.channel().await);
        let req = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut s = c
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .expect("reflection answers while queries are shed")
            .into_inner();
        assert!(s.message().await.expect("no error").is_some());
    }
    // A refused call took nothing: the credential is still checked first.
    let unauthenticated = server
        .codes(None)
        .await
        .get_code(get(1))
        .await
        .expect_err("no token");
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);

    // One evaluation finishes: queries are admitted again.
    drop(held);
    let a = q.get_code(get(1)).await.expect("admitted").into_inner();
    assert!(a.known, "{a:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_gives_its_permit_back_whatever_its_outcome() {
    let (_dir, server, limits) = start(in_flight(1)).await;
    let mut q = server.codes(Some(QUERY_TOKEN)).await;
    for round in 0..3 {
        q.get_code(get(round)).await.expect("a unary answer");
        let invalid = q
            .get_code(CodeRequest {
                id_number: "not a number".into(),
                as_of: String::new(),
            })
            .await
            .expect_err("an invalid id");
        assert_eq!(invalid.code(), Code::InvalidArgument);
        let b = q.get_codes(batch(20)).await.expect("a batch").into_inner();
        assert_eq!(b.results.len(), 20);
        let too_big = q
            .get_codes(batch(MAX_BATCH + 1))
            .await
            .expect_err("too big");
        assert_eq!(too_big.code(), Code::InvalidArgument);
        let mut late = Request::new(batch(5));
        late.set_timeout(Duration::from_nanos(1));
        assert!(q.get_codes(late).await.is_err(), "a call past its deadline");
        // The client gave up at once; the server ends that call on its own time, and may even
        // admit it only after the count below has read zero. Its permit must come back before
        // the stream can have the only one: a kept permit fails the wait, a late one is waited
        // out again.
        let given_up = Instant::now();
        let (answered, end) = loop {
            while limits.in_flight() > 0 {
                assert!(
                    given_up.elapsed() < Duration::from_secs(30),
                    "round {round}: the call past its deadline kept its permit"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            match stream(&mut q, 5).await {
                (0, Err(s)) if s.code() == Code::ResourceExhausted => assert!(
                    given_up.elapsed() < Duration::from_secs(30),
                    "round {round}: the stream is refused with no call in flight"
                ),
                done => break done,
            }
        };
        assert_eq!((answered, end.map_err(|s| s.code())), (5, Ok(())));
        assert_eq!(limits.in_flight(), 0, "round {round}: a permit was kept");
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Rate limits

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_over_its_rate_is_refused_with_a_hint_and_other_callers_are_not() {
    // One person a second (burst 1) for everyone but kiosk, which has no limit: slow enough
    // that no allowance refills while the test runs.
    let (_dir, server, _) = start(LimitsConfig {
        max_in_flight: 8,
        rate: NonZeroU32::new(1),
        rate_for: [("kiosk".to_string(), None)].into_iter().collect(),
        ..LimitsConfig::default()
    })
    .await;
    let mut app = server.codes(Some(QUERY_TOKEN)).await;
    let mut web = server.codes(Some(WEB_TOKEN)).await;
    let mut kiosk = server.codes(Some(KIOSK_TOKEN)).await;

    app.get_code(get(1)).await.expect("within the allowance");
    for refused in [
        app.get_code(get(2)).await.expect_err("over the limit"),
        stream(&mut app, 2).await.1.expect_err("over the limit"),
    ] {
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(
            refused
                .message()
                .starts_with("rate limit of caller \"app\": 1 persons/s"),
            "{refused:?}"
        );
        let wait = retry_after(&refused);
        assert!((1..=1000).contains(&wait), "retry after {wait} ms");
        assert!(
            refused
                .message()
                .contains(&format!("retry after {wait} ms"))
        );
    }
    // A batch is weighed by its ids: more than the burst can never pass.
    let split = web.get_codes(batch(2)).await.expect_err("two persons");
    assert_eq!(split.code(), Code::ResourceExhausted);
    assert!(split.message().contains("split the batch"), "{split:?}");
    // Other callers keep their own allowances.
    web.get_code(get(3))
        .await
        .expect("web has its own allowance");
    let many = kiosk
        .get_codes(batch(MAX_BATCH))
        .await
        .expect("kiosk is not limited")
        .into_inner();
    assert_eq!(many.results.len(), MAX_BATCH);
    assert_eq!(stream(&mut kiosk, 50).await.0, 50);
    server.stop().await;
}

/// A stream's messages are answered a chunk at a time but admitted one by one: the messages
/// within the caller's allowance are answered, in order, and the first one beyond it ends the
/// stream with the refusal, even when all of them arrive together.
#[tokio::test(flavor = "multi_thread")]
async fn a_stream_answers_its_callers_allowance_then_ends_with_the_refusal() {
    // Three persons a second, a burst of three: no allowance refills while the stream runs.
    let (_dir, server, _) = start(LimitsConfig {
        max_in_flight: 8,
        rate: NonZeroU32::new(3),
        ..LimitsConfig::default()
    })
    .await;
    let mut app = server.codes(Some(QUERY_TOKEN)).await;
    let (answered, end) = stream(&mut app, 40).await;
    assert_eq!(answered, 3, "the allowance's messages are answered");
    let end = end.expect_err("the fourth message is refused");
    assert_eq!(end.code(), Code::ResourceExhausted, "{end:?}");
    assert!(
        end.message()
            .starts_with("rate limit of caller \"app\": 3 persons/s"),
        "{end:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_credentials_every_query_is_one_anonymous_caller() {
    let (_dir, state, limits) = world(LimitsConfig {
        max_in_flight: 8,
        rate: NonZeroU32::new(1),
        ..LimitsConfig::default()
    });
    let server = Server::serve_limited(state, Tokens::disabled(), limits).await;
    let mut one = server.codes(None).await;
    let mut other = server.codes(Some("any-token-at-all-0123")).await;
    one.get_code(get(1)).await.expect("within the allowance");
    let refused = other.get_code(get(2)).await.expect_err("the same caller");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("caller \"anonymous\""),
        "{refused:?}"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Message and batch limits

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_message_is_refused_by_every_service() {
    let (_dir, server, limits) = start(LimitsConfig::default()).await;
    let huge = "1".repeat(MAX_DECODED_MESSAGE + 1);
    let mut q = server.codes(Some(QUERY_TOKEN)).await;
    let unary = q
        .get_code(CodeRequest {
            id_number: huge.clone(),
            as_of: String::new(),
        })
        .await
        .expect_err("too large");
    let batched = q
        .get_codes(BatchCodeRequest {
            id_numbers: vec![huge.clone()],
            as_of: String::new(),
        })
        .await
        .expect_err("too large");
    let streamed = {
        let msg = CodeRequest {
            id_number: huge.clone(),
            as_of: String::new(),
        };
        let r = q.stream_codes(tokio_stream::iter([msg])).await;
        match r {
            Err(s) => s,
            Ok(resp) => resp.into_inner().message().await.expect_err("too large"),
        }
    };
    let admin = server
        .admin(Some(ADMIN_TOKEN))
        .await
        .record_verification(RecordVerificationRequest {
            id_number: id(1),
            operator: huge.clone(),
            ..Default::default()
        })
        .await
        .expect_err("too large");
    for s in [&unary, &batched, &streamed, &admin] {
        assert_eq!(s.code(), Code::OutOfRange, "{s:?}");
        assert!(
            s.message().contains("message length too large")
                && s.message()
                    .contains(&format!("the limit is: {MAX_DECODED_MESSAGE} bytes")),
            "{s:?}"
        );
    }
    // A full batch of real ids fits with room to spare.
    let full = q.get_codes(batch(MAX_BATCH)).await.expect("a full batch");
    assert_eq!(full.into_inner().results.len(), MAX_BATCH);
    assert_eq!(limits.in_flight(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_beyond_ten_thousand_ids_is_refused_with_what_to_do() {
    let (_dir, server, _) = start(LimitsConfig::default()).await;
    let mut q = server.codes(Some(QUERY_TOKEN)).await;
    assert_eq!(MAX_BATCH, 10_000);
    let err = q
        .get_codes(batch(MAX_BATCH + 1))
        .await
        .expect_err("too many ids");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.message(),
        "10001 ids in one call; at most 10000: split the batch"
    );
    let ok = q
        .get_codes(batch(MAX_BATCH))
        .await
        .expect("exactly the most");
    let results = ok.into_inner().results;
    assert_eq!(results.len(), MAX_BATCH);
    assert_eq!(
        results
            .iter()
            .filter(|r| r.code.as_ref().is_some_and(|c| c.known))
            .count(),
        10
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Queueing time

/// A request that arrived `ago` before now, as the admission layer stamps it.
fn arrived<T>(msg: T, ago: Duration) -> Request<T> {
    let mut req = Request::new(msg);
    req.extensions_mut().insert(Arrival(Instant::now() - ago));
    req
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_that_queued_too_long_in_a_crowd_is_refused_before_any_id_is_evaluated() {
    let (_dir, state, limits) = world(LimitsConfig {
        max_in_flight: 4096,
        queue_target: Duration::from_millis(5),
        queue_interval: Duration::from_secs(1),
        ..LimitsConfig::default()
    });
    let svc = HealthCodeService {
        state,
        limits: limits.clone(),
        metrics: None,
    };
    // A crowd: more calls in flight than the machine has threads.
    let crowd: Vec<_> = (0..4095).map(|_| limits.try_admit().unwrap()).collect();
    // Waited longer than the interval: refused, whatever the queue did before, with a hint.
    for refused in [
        svc.get_codes(arrived(batch(MAX_BATCH), Duration::from_secs(2)))
            .await
            .map(|_| ())
            .expect_err("queued too long"),
        svc.get_code(arrived(get(1), Duration::from_secs(2)))
            .await
            .map(|_| ())
            .expect_err("queued too long"),
    ] {
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(refused.message().contains("waited"), "{refused:?}");
        assert_eq!(retry_after(&refused), 100);
    }
    // A short wait is answered, in a crowd too.
    let ok = svc
        .get_codes(arrived(batch(10), Duration::ZERO))
        .await
        .expect("a call that did not queue is answered")
        .into_inner();
    let ok = healthcode::proto::BatchCodeResponse::decode(&ok.0[..]).expect("decodes");
    assert_eq!(ok.results.len(), 10);
    // The same long wait without a crowd is the machine's, not a queue's: answered.
    drop(crowd);
    svc.get_code(arrived(get(1), Duration::from_secs(2)))
        .await
        .expect("no crowd, no shedding");
    // And off, nothing is refused for its queueing time.
    let (_dir, state, limits) = world(LimitsConfig {
        max_in_flight: 4096,
        queue_target: Duration::ZERO,
        ..LimitsConfig::default()
    });
    let _crowd: Vec<_> = (0..4095).map(|_| limits.try_admit().unwrap()).collect();
    HealthCodeService {
        state,
        limits,
        metrics: None,
    }
    .get_code(arrived(get(1), Duration::from_secs(10)))
    .await
    .expect("--queue-target 0 turns the bound off");
}

// ---------------------------------------------------------------------------------------------
// Deadlines

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_past_its_deadline_stops_evaluating() {
    let (_dir, state, limits) = world(LimitsConfig::default());
    let svc = HealthCodeService {
        state,
        limits,
        metrics: None,
    };
    // The deadline has passed when the handler starts (as after a wait for a thread): no id
    // is evaluated, and the call says how far it got.
    let mut req = Request::new(batch(MAX_BATCH));
    let arrived = Instant::now() - Duration::from_millis(5);
    req.extensions_mut()
        .insert(Deadline::from_header("1m", arrived).expect("a valid grpc-timeout"));
    let err = svc.get_codes(req).await.expect_err("past its deadline");
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(
        err.message()
            .contains("passed after 0 of 10000 persons were evaluated"),
        "{err:?}"
    );
    // The same call with time to spare is answered in full.
    let mut req = Request::new(batch(MAX_BATCH));
    req.extensions_mut()
        .insert(Deadline::from_header("1H", Instant::now()).expect("a valid grpc-timeout"));
    let answered = svc.get_codes(req).await.expect("in time").into_inner();
    let answered = healthcode::proto::BatchCodeResponse::decode(&answered.0[..]).expect("decodes");
    assert_eq!(answered.results.len(), MAX_BATCH);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_deadline_ends_the_call_instead_of_a_late_answer() {
    let (_dir, server, limits) = start(LimitsConfig::default()).await;
    let mut q = server.codes(Some(QUERY_TOKEN)).await;
    // 10,000 ids within a millisecond: the server gives up instead of answering late.
    let mut req = Request::new(batch(MAX_BATCH));
    req.set_timeout(Duration::from_millis(1));
    let err = q.get_codes(req).await.expect_err("past its deadline");
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    let mut req = Request::new(get(1));
    req.set_timeout(Duration::from_nanos(1));
    let err = q.get_code(req).await.expect_err("past its deadline");
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    // A stream past its deadline answers nothing more.
    let msgs: Vec<CodeRequest> = (0..100).map(get).collect();
    let mut req = Request::new(tokio_stream::iter(msgs));
    req.set_timeout(Duration::from_nanos(1));
    let mut answered = 0;
    let end = match q.stream_codes(req).await {
        Err(s) => s,
        Ok(r) => {
            let mut inbound = r.into_inner();
            loop {
                match inbound.message().await {
                    Ok(Some(_)) => answered += 1,
                    Ok(None) => panic!("a stream past its deadline ended without an error"),
                    Err(s) => break s,
                }
            }
        }
    };
    assert_eq!(answered, 0);
    assert!(
        matches!(end.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{end:?}"
    );
    // With time to spare, the same calls are answered.
    let mut req = Request::new(batch(MAX_BATCH));
    req.set_timeout(Duration::from_secs(3600));
    assert_eq!(
        q.get_codes(req)
            .await
            .expect("in time")
            .into_inner()
            .results
            .len(),
        MAX_BATCH
    );
    assert_eq!(limits.in_flight(), 0);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The flags

#[test]
fn serve_refuses_limits_that_would_limit_nobody_or_refuse_everything() {
    let home = tempfile::tempdir().expect("a temporary directory");
    let tokens = home.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("query app {QUERY_TOKEN}\nadmin ops {ADMIN_TOKEN}\n"),
    )
    .expect("the tokens file is written");
    let tokens = tokens.to_str().expect("a UTF-8 path");
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--index", "absent.hcx", "--tokens", tokens];
        args.extend_from_slice(extra);
        util::healthcode_at(home.path(), &args)
    };

    let typo = serve(&["--rate-limit-for", "apps=100"]);
    assert_ne!(typo.code, 0, "{}", typo.stderr);
    assert!(
        typo.stderr
            .contains("no caller is named \"apps\" (callers: app, ops)"),
        "{}",
        typo.stderr
    );
    let zero = serve(&["--max-in-flight", "0"]);
    assert_ne!(zero.code, 0, "{}", zero.stderr);
    assert!(
        zero.stderr
            .contains("--max-in-flight 0 would refuse every query"),
        "{}",
        zero.stderr
    );
    let malformed = serve(&["--rate-limit-for", "app"]);
    assert_ne!(malformed.code, 0);
    assert!(
        malformed.stderr.contains("expected NAME=PERSONS_PER_SEC"),
        "{}",
        malformed.stderr
    );
    let no_rate = serve(&["--rate-limit", "0"]);
    assert_ne!(no_rate.code, 0, "a rate of 0 persons/s is refused");
    assert!(
        no_rate.stderr.contains("--rate-limit"),
        "{}",
        no_rate.stderr
    );
}

/// `serve --max-streams`: every connection is told, in the server's HTTP/2 SETTINGS, how many
/// calls it may have open at once, so a flooding client's further calls wait on its own side.
#[tokio::test]
async fn a_connection_is_told_how_many_calls_it_may_have_open() {
    for max_streams in [3, serve::DEFAULT_MAX_STREAMS] {
        let (_dir, state, limits) = world(LimitsConfig::default());
        let options = serve::Options {
            max_streams,
            limits,
            ..serve::Options::default()
        };
        let server = Server::serve_with(state, tokens(), options).await;
        let tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connects");
        let (_send, mut conn) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
        // The server's SETTINGS come with its first frames: drive the connection until they do.
        let announced = tokio::time::timeout(Duration::from_secs(10), async {
            std::future::poll_fn(|cx| {
                let _ = std::pin::Pin::new(&mut conn).poll(cx);
                match conn.max_concurrent_send_streams() {
                    n if n == max_streams as usize => std::task::Poll::Ready(n),
                    _ => std::task::Poll::Pending,
                }
            })
            .await
        })
        .await;
        assert_eq!(
            announced.ok(),
            Some(max_streams as usize),
            "the connection's limit of open calls"
        );
        server.stop().await;
    }
}
