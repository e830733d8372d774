//! No full document or phone number in what healthcode shows: `check` and `build` on feeds whose
//! bad rows carry full numbers (reports, stdout, stderr), and the server's errors for invalid
//! document numbers (single, batch, stream, admin, and the audit log).

mod util;

use healthcode::domain::{Day, IdNumber, PersonRecords, Policy};
use healthcode::proto;
use tokio_stream::StreamExt;
use util::*;

/// Rows that are rejected and hold full numbers, and the numbers none of the output may show.
fn bad_feeds() -> (FeedDir, Vec<String>) {
    let good = id(7);
    let bad_check = format!("{}Y", &id(8)[..17]);
    let too_long = format!("{}4", id(9));
    let too_short = id(10)[..17].to_string();
    let d = FeedDir::new();
    d.write(
        "cdc.csv",
        &[
            "id_number,category,from,to",
            &format!("{good},close_contact,2022-04-01,"),
            &format!("{good},confirm,2022-04-01,"), // a full id in a row rejected for another field
            &format!("{bad_check},confirmed,2022-04-01,"),
            &format!("{too_long},confirmed,2022-04-01,"),
            &format!("{too_short},confirmed,2022-04-01,"),
        ],
    );
    d.write(
        "bindings.csv",
        &[
            "id_number,phone,channel,bound_on,unbound_on",
            &format!("{good},13912345678,wechat,2022-03-01,"),
            &format!("{good},139123456789,wechat,2022-03-01,"),
            &format!("{good},23912345678,alipay,2022-03-01,"),
            &format!("{good},+86 139-1234-567a,alipay,2022-03-01,"),
        ],
    );
    d.write(
        "phone_stays.csv",
        &[
            "phone,region,first_day,last_day",
            "13912345678,1101,2022-04-01,2022-04-02",
            "1391234567,1101,2022-04-01,2022-04-02",
        ],
    );
    // A document number followed by a byte that is not UTF-8.
    let mut bytes = b"id_number,registered_on,community\n".to_vec();
    bytes.extend_from_slice(id(11).as_bytes());
    bytes.extend_from_slice(b"\xff,2022-04-03,x\n");
    d.write_bytes("registrations.csv", &bytes);
    let secrets = vec![
        good,
        bad_check,
        too_long,
        too_short,
        id(11),
        "13912345678".into(),
        "139123456789".into(),
        "23912345678".into(),
        "1391234567".into(),
        "139-1234-567a".into(),
    ];
    (d, secrets)
}

fn assert_hidden(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} shows {s}:\n{text}");
    }
}

#[test]
fn check_and_build_never_show_a_full_number() {
    let (d, secrets) = bad_feeds();
    let out = tempfile::tempdir().unwrap();
    let rejects = out.path().join("rejects.txt");
    let run = check(
        &d,
        &[
            "--max-reject-ratio",
            "1",
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(
        report.lines().count(),
        9,
        "every bad row reported:\n{report}"
    );
    assert!(
        report.contains(r#"cdc.csv:4: id_number "110105********008Y": check character 'Y'"#),
        "file:line, field and reason stay:\n{report}"
    );
    assert!(
        report.contains("bindings.csv:3: phone \"139*****6789\""),
        "{report}"
    );
    assert!(
        report.contains("registrations.csv:2: id_number \"110105********"),
        "{report}"
    );
    assert_hidden("the rejects report", &report, &secrets);
    assert_hidden("check's stdout", &run.stdout, &secrets);
    assert_hidden("check's stderr", &run.stderr, &secrets);

    // Without --rejects, the rejects go to stdout.
    let run = check(&d, &["--max-reject-ratio", "1"]);
    assert!(
        run.stdout.contains("cdc.csv:4: id_number"),
        "{}",
        run.stdout
    );
    assert_hidden("check's stdout", &run.stdout, &secrets);
    assert_hidden("check's stderr", &run.stderr, &secrets);

    let home = tempfile::tempdir().unwrap();
    let index = out.path().join("index.hci");
    for ratio in ["1", "0"] {
        let run = healthcode_at(
            home.path(),
            &[
                "build",
                "--feeds",
                d.path().to_str().unwrap(),
                "--out",
                index.to_str().unwrap(),
                "--max-reject-ratio",
                ratio,
            ],
        );
        let report = std::fs::read_to_string(out.path().join("index.hci.rejects.txt")).unwrap();
        assert_eq!(report.lines().count(), 9, "{report}");
        assert_hidden("build's rejects report", &report, &secrets);
        assert_hidden("build's stdout", &run.stdout, &secrets);
        assert_hidden("build's stderr", &run.stderr, &secrets);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_document_number_is_never_echoed_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let today = Day::parse("2022-04-20").unwrap();
    let known = IdNumber::from_body(11010519491231002);
    let index = write_index(
        tmp.path(),
        &[(known, PersonRecords::default())],
        &[],
        Some(today),
    );
    let (server, state) = Server::start_live(
        &index,
        &tmp.path().join("state"),
        Policy::PrecisionAware,
        Some(today),
    )
    .await;
    let long = format!("{known}{known}");
    let bad_check = format!("{}9", &known.to_string()[..17]);
    let bad: Vec<String> = vec![long.clone(), bad_check.clone(), format!("{known}A")];
    let secrets: Vec<String> = vec![
        long,
        bad_check,
        known.to_string(),
        known.to_string()[..17].to_string(),
    ];
    let mut codes = server.codes(Some(QUERY_TOKEN)).await;
    for id in &bad {
        let e = codes
            .get_code(proto::CodeRequest {
                id_number: id.clone(),
                as_of: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().starts_with("id_number: "), "{}", e.message());
        assert_hidden("GetCode's error", e.message(), &secrets);
    }
    let batch = codes
        .get_codes(proto::BatchCodeRequest {
            id_numbers: bad.clone(),
            as_of: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.results.len(), bad.len());
    for r in &batch.results {
        assert!(!r.valid && !r.error.is_empty());
        assert_hidden("a batch item's error", &r.error, &secrets);
    }
    let requests: Vec<proto::CodeRequest> = bad
        .iter()
        .map(|id| proto::CodeRequest {
            id_number: id.clone(),
            as_of: String::new(),
        })
        .collect();
    let mut answers = codes
        .stream_codes(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(a) = answers.next().await {
        let a = a.unwrap();
        assert!(!a.error.is_empty());
        assert_hidden("a streamed answer's error", &a.error, &secrets);
        n += 1;
    }
    assert_eq!(n, bad.len());

    // `healthcode query` shows whom it looked up masked, even to the person who typed it.
    let addr = server.addr.to_string();
    let query = tokio::task::spawn_blocking(move || {
        healthcode(&[
            "query",
            &known.to_string(),
            "--server",
            &addr,
            "--token",
            QUERY_TOKEN,
        ])
    })
    .await
    .unwrap();
    assert_eq!(query.code, 0, "{}", query.stderr);
    assert!(
        query.stdout.contains("110105********002X"),
        "{}",
        query.stdout
    );
    assert_hidden("query's output", &query.stdout, &secrets);

    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    for id in &bad {
        let e = admin
            .record_verification(proto::RecordVerificationRequest {
                id_number: id.clone(),
                operator: "李娜".into(),
                ticket: "T-1".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert_hidden("RecordVerification's error", e.message(), &secrets);
    }
    server.stop().await;
    drop(state);
    let audit = std::fs::read_to_string(tmp.path().join("state/audit.log")).unwrap();
    assert_eq!(audit.matches("\"refused: id_number: ").count(), bad.len());
    assert_hidden("the audit log", &audit, &secrets);
}
