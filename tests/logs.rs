//! The server's log as a log collector and a person read it: `serve --log-format json` writes one
//! JSON object per line on stderr (timestamp, level, target, message and the event's fields) for
//! its start, a reload, a live write and the drain, and never a full document number; the text
//! form stays one readable sentence per line; a bad `RUST_LOG` is refused by name.

mod util;

use healthcode::proto::{self, admin_client::AdminClient, health_code_client::HealthCodeClient};
use serde_json::Value;
use util::process::{DataSet, s};
use util::{ADMIN_TOKEN, QUERY_TOKEN, channel, id};

fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// A reload of the served file, a live verification of `id(3)` and one query of `id(4)`.
async fn admin_and_query(addr: &str, index: &str) -> (u64, u64) {
    let mut admin = AdminClient::new(channel(addr).await);
    let generation = admin
        .reload(with_token(
            proto::ReloadRequest {
                path: index.to_string(),
                force: false,
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("the reload is accepted")
        .into_inner()
        .generation;
    let sequence = admin
        .record_verification(with_token(
            proto::RecordVerificationRequest {
                id_number: id(3),
                verified_on: "2022-05-10".into(),
                scope: String::new(),
                operator: "Li Na".into(),
                ticket: "T-1".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("the live write is acknowledged")
        .into_inner()
        .sequence;
    HealthCodeClient::new(channel(addr).await)
        .get_code(with_token(
            proto::CodeRequest {
                id_number: id(4),
                as_of: String::new(),
            },
            QUERY_TOKEN,
        ))
        .await
        .expect("the query is answered");
    (generation, sequence)
}

/// The event whose message starts with `prefix`.
fn event<'a>(events: &'a [Value], prefix: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
        .unwrap_or_else(|| panic!("no event starting {prefix:?} in {events:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_events_fields_and_no_full_number() {
    let data = DataSet::generate(300);
    let server = data.serve(&["--log-format", "json"]);
    let addr = server.addr.clone();
    let (generation, sequence) = admin_and_query(&addr, s(&data.index)).await;
    server.signal(libc::SIGTERM);
    let (status, log) = server.wait();
    assert!(status.success(), "exit status {status:?}: {log:#?}");

    // Every line is a JSON object with the common fields.
    let events: Vec<Value> = log
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {l:?}"));
            assert!(v.is_object(), "{l}");
            for k in ["timestamp", "level", "target", "message"] {
                assert!(v[k].is_string(), "{k} missing in {l}");
            }
            v
        })
        .collect();

    let listening = event(&events, "listening on ");
    assert_eq!(listening["level"], "INFO");
    assert_eq!(listening["addr"], addr.as_str());
    assert_eq!(listening["policy"], "precision-aware");
    assert_eq!(listening["query_day"], "2022-05-10");

    let opened = event(&events, "serving ");
    assert_eq!(opened["persons"], 300);
    assert_eq!(opened["index"], s(&data.index));

    let reload = event(&events, "reload by ops");
    assert_eq!(reload["kind"], "reload");
    assert_eq!(reload["generation"], generation);
    assert_eq!(reload["caller"], "ops");

    let write = event(&events, &format!("live write {sequence} "));
    assert_eq!(write["kind"], "verification");
    assert_eq!(write["sequence"], sequence);
    let masked = healthcode::domain::mask::id_text(&id(3));
    assert!(
        write["message"].as_str().unwrap().contains(&masked),
        "the write names its person masked: {write}"
    );

    let draining = event(&events, "SIGTERM: draining");
    assert_eq!(draining["signal"], "SIGTERM");
    assert_eq!(draining["drain_timeout_ms"], 10_000);
    assert_eq!(event(&events, "stopped after draining")["in_flight"], 0);

    for full in [id(3), id(4)] {
        assert!(
            !log.iter().any(|l| l.contains(&full)),
            "a full document number in the log: {log:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_are_one_sentence_per_line() {
    let data = DataSet::generate(300);
    let server = data.serve(&[]);
    let addr = server.addr.clone();
    let (generation, sequence) = admin_and_query(&addr, s(&data.index)).await;
    server.signal(libc::SIGTERM);
    let (status, log) = server.wait();
    assert!(status.success(), "exit status {status:?}: {log:#?}");
    assert!(
        log.iter().all(|l| l.starts_with("healthcode: ")),
        "{log:#?}"
    );
    let masked = healthcode::domain::mask::id_text(&id(3));
    for expected in [
        format!("healthcode: listening on {addr}, policy precision-aware"),
        format!("and serving as generation {generation}"),
        format!(
            "healthcode: live write {sequence} by ops: verification of {masked} on 2022-05-10 (durable)"
        ),
        "healthcode: SIGTERM: draining".to_string(),
    ] {
        assert!(
            log.iter().any(|l| l.contains(&expected)),
            "no line with {expected:?} in {log:#?}"
        );
    }
    assert!(!log.iter().any(|l| l.contains(&id(3))), "{log:#?}");
}

#[test]
fn a_bad_rust_log_is_refused_by_name() {
    let data = DataSet::generate(50);
    let out = data
        .command()
        .env("RUST_LOG", "healthcode=loud")
        .args(["serve", "--listen", "127.0.0.1:0", "--index"])
        .arg(&data.index)
        .arg("--tokens")
        .arg(&data.tokens)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RUST_LOG=\"healthcode=loud\""), "{err}");
}

/// Caller-supplied text never starts a line of its own: a `Reload.path` and a `Rebuild.feeds`
/// holding newlines and a forged "live write … (durable)" sentence come back, in the server's
/// text log, in the refusals' messages and in `audit show`, escaped on the line that quotes
/// them; and an `as_of` holding a document number, or 3 MB, is quoted short and masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_text_never_forges_a_line_of_the_log_or_the_audit() {
    let data = DataSet::generate(100);
    let server = data.serve(&[]);
    let addr = server.addr.clone();
    let forged = "healthcode: live write 12 by ops: verification of 110105********002X on 2022-05-10 (durable)";
    let mut admin = AdminClient::new(channel(&addr).await);
    let e = admin
        .reload(with_token(
            proto::ReloadRequest {
                path: format!("/nonexistent.hci\n{forged}"),
                force: false,
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect_err("no such file");
    assert!(!e.message().contains('\n'), "{}", e.message());
    let mut rebuild = admin
        .rebuild(with_token(
            proto::RebuildRequest {
                feeds: format!("/nonexistent\n{forged}"),
                force: false,
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("the rebuild starts")
        .into_inner();
    let e = loop {
        match rebuild.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the rebuild of no directory succeeded"),
            Err(e) => break e,
        }
    };
    assert!(!e.message().contains('\n'), "{}", e.message());
    let mut codes = HealthCodeClient::new(channel(&addr).await);
    for as_of in [id(5), "x".repeat(3 << 20)] {
        let e = codes
            .get_code(with_token(
                proto::CodeRequest {
                    id_number: id(5),
                    as_of: as_of.clone(),
                },
                QUERY_TOKEN,
            ))
            .await
            .expect_err("not a day");
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().len() < 200, "{} bytes", e.message().len());
        assert!(!e.message().contains(&id(5)), "{}", e.message());
    }
    server.signal(libc::SIGTERM);
    let (status, log) = server.wait();
    assert!(status.success(), "exit status {status:?}: {log:#?}");
    assert!(
        log.iter().all(|l| l.starts_with("healthcode: ")),
        "{log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.starts_with(forged)),
        "a forged line in the log: {log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("\\nhealthcode: live write 12")),
        "the caller's text is quoted escaped: {log:#?}"
    );
    let show = data
        .command()
        .args(["audit", "show"])
        .arg(&data.state)
        .output()
        .unwrap();
    let show = String::from_utf8(show.stdout).unwrap();
    assert!(
        show.lines().all(|l| l.starts_with('#')),
        "every line of audit show is a record: {show}"
    );
    assert!(show.contains("\\nhealthcode: live write 12"), "{show}");
}
