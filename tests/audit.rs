//! The audit log as an operator meets it: admin actions through the real gRPC service leave
//! hash-chained records that `healthcode audit verify` accepts and `audit show` prints; every kind
//! of tampering (an edited byte, a removed, swapped or forged record, a cut file) is caught at the
//! first bad record; a restarted server continues the same chain.

mod util;

use std::path::{Path, PathBuf};

use healthcode::audit::{AUDIT_FILE, AuditError, verify_dir};
use healthcode::domain::{Day, IdNumber, PersonRecords, Policy};
use healthcode::proto;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use util::*;

fn today() -> Day {
    Day::parse("2022-04-20").unwrap()
}

/// The document number of the one person in the index.
fn person_id() -> String {
    IdNumber::from_body(11010519491231002).to_string()
}

/// A state directory after a server took a series of admin actions: writes, refusals, a reload
/// and a failed rebuild. Returns the temp dir and the state directory.
async fn audited() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let id = IdNumber::parse(&person_id()).unwrap();
    let index = write_index(
        tmp.path(),
        &[(id, PersonRecords::default())],
        &[],
        Some(today()),
    );
    let state_dir = tmp.path().join("state");
    let (server, state) =
        Server::start_live(&index, &state_dir, Policy::PrecisionAware, Some(today())).await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let set = |reason: &str| proto::SetRiskAreaRequest {
        area: "110105001".into(),
        level: proto::RiskLevel::High as i32,
        from: "2022-04-10".into(),
        to: String::new(),
        operator: "王伟".into(),
        reason: reason.into(),
    };
    admin
        .set_risk_area(set("outbreak ticket 17"))
        .await
        .unwrap();
    admin
        .record_verification(proto::RecordVerificationRequest {
            id_number: person_id(),
            verified_on: "2022-04-18".into(),
            scope: String::new(),
            operator: "李娜".into(),
            ticket: "T-204".into(),
        })
        .await
        .unwrap();
    admin
        .record_registration(proto::RecordRegistrationRequest {
            id_number: person_id(),
            registered_on: "2022-04-19".into(),
            community: "建外".into(),
            operator: "赵敏".into(),
            reason: "arrival".into(),
        })
        .await
        .unwrap();
    let bad = format!("{}9", &person_id()[..17]);
    let refused = admin
        .record_verification(proto::RecordVerificationRequest {
            id_number: bad,
            verified_on: String::new(),
            scope: String::new(),
            operator: "李娜".into(),
            ticket: "T-205".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let g = admin
        .reload(proto::ReloadRequest {
            path: index.display().to_string(),
            force: false,
        })
        .await
        .unwrap()
        .into_inner()
        .generation;
    assert_eq!(g, 2);
    let mut stream = admin
        .rebuild(proto::RebuildRequest {
            feeds: tmp.path().join("no-such-feeds").display().to_string(),
            force: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.is_err(), "the rebuild fails");
    admin
        .lift_risk_area(proto::LiftRiskAreaRequest {
            area: "110105001".into(),
            to: "2022-04-19".into(),
            operator: "王伟".into(),
            reason: "cleared".into(),
        })
        .await
        .unwrap();
    let nothing = admin
        .lift_risk_area(proto::LiftRiskAreaRequest {
            area: "3101".into(),
            to: String::new(),
            operator: "王伟".into(),
            reason: "by mistake".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(nothing.code(), tonic::Code::FailedPrecondition);
    admin.set_risk_area(set("second wave")).await.unwrap();
    admin.set_risk_area(set("third wave")).await.unwrap();
    server.stop().await;
    drop(state);
    (tmp, state_dir)
}

fn audit(args: &[&str], dir: &Path) -> Run {
    let mut a = vec!["audit"];
    a.extend_from_slice(args);
    a.push(dir.to_str().unwrap());
    healthcode(&a)
}

/// The audit log's lines, each with its newline.
fn lines(dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read(dir.join(AUDIT_FILE))
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// A copy of the state directory with its audit log replaced by `lines`.
fn tampered(state: &Path, lines: &[Vec<u8>]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::copy(state.join("overlay.log"), t.path().join("overlay.log")).unwrap();
    std::fs::write(t.path().join(AUDIT_FILE), lines.concat()).unwrap();
    t
}

/// The byte offset of line `n` (from 1).
fn offset(lines: &[Vec<u8>], n: usize) -> usize {
    lines[..n - 1].iter().map(Vec::len).sum()
}

/// Runs `audit verify` on a tampered copy and checks it fails with `code`, naming line `line`.
fn fails_at(state: &Path, lines: &[Vec<u8>], line: usize, code: i32, what: &str) {
    let t = tampered(state, lines);
    let run = audit(&["verify"], t.path());
    assert_eq!(run.code, code, "{what}: {}{}", run.stdout, run.stderr);
    let at = format!("line {line} (byte {})", offset(lines, line));
    assert!(
        run.stdout.contains(&at),
        "{what}: wanted {at:?} in {}",
        run.stdout
    );
    // (A temporary directory's random name may hold "OK": only the verdict counts.)
    assert!(!run.stdout.contains(": OK, "), "{what}: {}", run.stdout);
}

/// The line of `record` re-hashed as the log's own code would, so only the chain can tell.
fn forged(record: serde_json::Value) -> Vec<u8> {
    let json = serde_json::to_string(&record).unwrap();
    let body = json.strip_suffix('}').unwrap();
    let hash = format!("{:x}", Sha256::digest(body.as_bytes()));
    format!("{body},\"hash\":\"{hash}\"}}\n").into_bytes()
}

fn record(line: &[u8]) -> serde_json::Value {
    serde_json::from_slice(line).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_are_recorded_with_who_why_and_outcome_and_verify() {
    let (_tmp, state) = audited().await;
    let run = audit(&["verify"], &state);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let l = lines(&state);
    assert!(
        run.stdout
            .contains(&format!("OK, {} records from ", l.len())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("6 live writes match their records"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().count(), 1, "a one-line summary");

    let show = audit(&["show"], &state);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let shown: Vec<&str> = show.stdout.lines().collect();
    assert_eq!(shown.len(), l.len());
    let has = |needle: &[&str]| {
        assert!(
            shown.iter().any(|s| needle.iter().all(|n| s.contains(n))),
            "no record with {needle:?} in\n{}",
            show.stdout
        )
    };
    has(&["#0 ", "create", "log_id="]);
    has(&["#1 ", "start", "caller=\"healthcode\""]);
    has(&[
        "caller=\"ops\" operator=\"王伟\" reason=\"outbreak ticket 17\" set_risk_area",
        "area=\"110105001\"",
        "level=\"high\"",
        "from=\"2022-04-10\"",
        "-> accepted (live sequence 1)",
    ]);
    has(&[
        "operator=\"李娜\" reason=\"T-204\" record_verification",
        "id_number=\"110105********002X\"",
        "-> accepted (live sequence 2)",
    ]);
    has(&[
        "operator=\"赵敏\" reason=\"arrival\" record_registration",
        "community=\"建外\"",
        "-> accepted (live sequence 3)",
    ]);
    has(&[
        "reason=\"T-205\" record_verification",
        "id_number=\"110105********0029\"",
        "-> refused: id_number: invalid check character",
    ]);
    has(&["caller=\"ops\"", "reload", "index.hci", "-> requested"]);
    has(&["reload", "generation=\"2\"", "-> ok"]);
    has(&["rebuild", "no-such-feeds", "-> requested"]);
    has(&["rebuild", "-> failed: ", "does not exist"]);
    has(&[
        "reason=\"cleared\" lift_risk_area",
        "-> accepted (live sequence 4)",
    ]);
    has(&[
        "reason=\"by mistake\" lift_risk_area",
        "-> refused: area 3101 has no risk designation to lift",
    ]);
    let text = String::from_utf8(l.concat()).unwrap();
    assert!(!text.contains(&person_id()), "no full document number");
    for line in &l {
        let t = record(line)["time"].as_str().unwrap().to_string();
        assert!(
            t.ends_with('Z') && t.len() == 24,
            "UTC with milliseconds: {t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_tampering_is_caught_at_the_first_bad_record() {
    let (_tmp, state) = audited().await;
    let l = lines(&state);
    assert!(l.len() >= 14, "{} records", l.len());

    // One byte of a middle record edited (its reason): that record.
    let mut edited = l.clone();
    let at = edited[4].windows(3).position(|w| w == b"arr").unwrap();
    edited[4][at] = b'A';
    fails_at(&state, &edited, 5, 1, "an edited byte");

    // A record removed: the one after it no longer links.
    let mut removed = l.clone();
    removed.remove(4);
    fails_at(&state, &removed, 5, 1, "a removed record");

    // Two records swapped: the first of them.
    let mut swapped = l.clone();
    swapped.swap(4, 5);
    fails_at(&state, &swapped, 5, 1, "swapped records");

    // A forged record with a correctly computed hash, linked to the record before it: it
    // verifies itself, so the chain breaks at the record after it.
    let mut rec = record(&l[3]);
    rec.as_object_mut().unwrap().remove("hash");
    rec["prev_hash"] = record(&l[3])["hash"].clone();
    rec["n"] = 4.into();
    rec["reason"] = "quietly added".into();
    let mut inserted = l.clone();
    inserted.insert(4, forged(rec.clone()));
    fails_at(&state, &inserted, 6, 1, "a forged record");
    // The same forgery without the link fails at itself.
    rec["prev_hash"] = "0".repeat(64).into();
    let mut unlinked = l.clone();
    unlinked.insert(4, forged(rec));
    fails_at(&state, &unlinked, 5, 1, "an unlinked forged record");

    // Cut in the middle of a record: an incomplete last record (exit 3), named.
    let mut cut = l[..7].to_vec();
    cut[6].truncate(40);
    fails_at(&state, &cut, 7, 3, "a file cut inside a record");
    let run = audit(&["verify"], tampered(&state, &cut).path());
    assert!(run.stdout.contains("incomplete"), "{}", run.stdout);

    // Cut between records: the live writes whose records went are named.
    let t = tampered(&state, &l[..l.len() - 2]);
    let run = audit(&["verify"], t.path());
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("live write sequence 5 (set_risk_area by \"ops\") has no audit record"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_rewritten_from_a_record_on_fails_against_a_head_kept_elsewhere() {
    let (_tmp, state) = audited().await;
    let l = lines(&state);
    let head = record(l.last().unwrap())["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let run = audit(&["verify", "--head", &head], &state);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.ends_with(&format!("head {head}\n")),
        "{}",
        run.stdout
    );

    // Every hash recomputed from the reload request on: the chain alone cannot tell.
    let mut rewritten = l[..6].to_vec();
    for line in &l[6..] {
        let mut r = record(line);
        r.as_object_mut().unwrap().remove("hash");
        r["prev_hash"] = record(rewritten.last().unwrap())["hash"].clone();
        if r["action"] == "reload" {
            r["caller"] = "someone else".into();
        }
        rewritten.push(forged(r));
    }
    let t = tampered(&state, &rewritten);
    assert_eq!(
        audit(&["verify"], t.path()).code,
        0,
        "a whole rewrite verifies"
    );
    let run = audit(&["verify", "--head", &head], t.path());
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("is not in the chain"), "{}", run.stdout);
    // A head noted before the rewritten part is still there.
    let early = record(&l[5])["hash"].as_str().unwrap().to_string();
    assert_eq!(audit(&["verify", "--head", &early], t.path()).code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_continues_the_same_chain() {
    let (tmp, state) = audited().await;
    let before = lines(&state);
    let index = tmp.path().join("index.hci");
    let (server, st) =
        Server::start_live(&index, &state, Policy::PrecisionAware, Some(today())).await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let ack = admin
        .lift_risk_area(proto::LiftRiskAreaRequest {
            area: "110105001".into(),
            to: "2022-04-20".into(),
            operator: "王伟".into(),
            reason: "after restart".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.sequence, 7);
    server.stop().await;
    drop(st);
    let after = lines(&state);
    assert_eq!(&after[..before.len()], &before[..], "nothing rewritten");
    assert_eq!(
        after.len(),
        before.len() + 2,
        "a start record and the write"
    );
    let start = record(&after[before.len()]);
    assert_eq!(start["action"], "start");
    assert_eq!(start["n"], before.len() as u64);
    assert_eq!(start["prev_hash"], record(before.last().unwrap())["hash"]);
    assert_eq!(start["overlay_sequence"], 6);
    let run = audit(&["verify"], &state);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("7 live writes match"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_is_cut_at_start_and_the_cut_is_recorded() {
    let (tmp, state) = audited().await;
    let mut l = lines(&state);
    let n = l.len();
    l.push(b"{\"n\":".to_vec());
    std::fs::write(state.join(AUDIT_FILE), l.concat()).unwrap();
    assert_eq!(audit(&["verify"], &state).code, 3, "torn, not tampered");
    let index = tmp.path().join("index.hci");
    let (server, st) =
        Server::start_live(&index, &state, Policy::PrecisionAware, Some(today())).await;
    server.stop().await;
    drop(st);
    let after = lines(&state);
    assert_eq!(after.len(), n + 1);
    assert_eq!(record(&after[n])["change"]["audit_torn_bytes_cut"], "5");
    assert_eq!(audit(&["verify"], &state).code, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any one byte changed anywhere is caught, at the record that holds it.
    #[test]
    fn any_changed_byte_is_caught_where_it_is(at in any::<prop::sample::Index>(), xor in 1u8..) {
        let state = shared_log();
        let bytes = std::fs::read(state.join(AUDIT_FILE)).unwrap();
        let i = at.index(bytes.len());
        let mut b = bytes.clone();
        b[i] ^= xor;
        let t = tempfile::tempdir().unwrap();
        std::fs::copy(state.join("overlay.log"), t.path().join("overlay.log")).unwrap();
        std::fs::write(t.path().join(AUDIT_FILE), &b).unwrap();
        let line = bytes[..i].iter().filter(|&&c| c == b'\n').count() as u64 + 1;
        match verify_dir(t.path()) {
            Err(AuditError::Broken { line: l, .. }) => prop_assert_eq!(l, line),
            Err(AuditError::Torn { line: l, .. }) => prop_assert_eq!(l, line, "only the last newline"),
            other => prop_assert!(false, "byte {} ^ {}: {:?}", i, xor, other.map(|v| v.records.len())),
        }
    }
}

/// One audited state directory shared by the property's cases (made once).
fn shared_log() -> PathBuf {
    static DIR: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_, p) = DIR.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(audited())
    });
    p.clone()
}
