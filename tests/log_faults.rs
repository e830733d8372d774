//! A live write whose log append fails is not acknowledged, is reported, and leaves the log
//! readable: a later write succeeds and a restart replays exactly the acknowledged writes.
//!
//! A failed fsync is injected through the log's file seam (`Overlay::open_with`): the record's
//! bytes are in the file, so only the writer's cut-back keeps them from being replayed.
//!
//! A failed write is real: the process's file-size limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored)
//! is lowered to a few bytes past the log's end, so the kernel accepts part of the record and
//! then fails the write with `EFBIG`, as a full disk would. The limit is process-wide, so the
//! tests of this file take turns.

mod util;

use healthcode::domain::{Day, IdNumber, Policy, Verification};
use healthcode::overlay::{Change, LogFile, LogWriter, Overlay, WriteError};
use healthcode::proto;
use healthcode::serve::State;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use util::*;

/// One test at a time: the file-size limit one lowers is the whole process's.
static LIMIT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// While alive, the process cannot write past byte `limit` of any file (`SIGXFSZ` ignored, so
/// such a write fails with `EFBIG`); dropping it restores the limit.
struct FileSizeLimit(libc::rlimit);

impl FileSizeLimit {
    fn set(limit: u64) -> FileSizeLimit {
        // SAFETY: ignoring a signal and reading or setting a resource limit have no
        // memory-safety preconditions; `old` is written by getrlimit before it is read.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let mut old = std::mem::zeroed::<libc::rlimit>();
            assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
            let lowered = libc::rlimit {
                rlim_cur: limit,
                rlim_max: old.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lowered), 0);
            FileSizeLimit(old)
        }
    }
}

impl Drop for FileSizeLimit {
    fn drop(&mut self) {
        // SAFETY: as above; the soft limit goes back to what it was, within the unchanged hard
        // limit.
        unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &self.0) };
    }
}

fn log_len(state: &Path) -> u64 {
    std::fs::metadata(state.join("overlay.log")).unwrap().len()
}

fn verification(person: u64) -> Change {
    Change::Verification {
        person,
        masked: "110105********002X".into(),
        verified_on: Day(19120),
        scope: None,
    }
}

/// One live verification of `person`, as the admin service writes it.
fn write(o: &Overlay, person: u64) -> Result<u64, WriteError> {
    o.write("ops", "li", "T", verification(person), |_| Ok(()), || ())
}

/// The (sequence, change) of every record a reopened log replays; it must have no torn tail.
fn replayed(log: &Path) -> Vec<(u64, Change)> {
    let (_, replay) = LogWriter::open(log, key().fingerprint()).unwrap();
    assert_eq!(replay.torn_bytes, 0, "no torn tail was left to cut");
    replay
        .entries
        .iter()
        .map(|e| (e.seq, e.change.clone()))
        .collect()
}

#[test]
fn a_failed_append_is_not_acknowledged_and_the_log_replays_only_acknowledged_writes() {
    let _turn = LIMIT.blocking_lock();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let fp = key().fingerprint();
    let (o, _) = Overlay::open(&state, fp).unwrap();
    assert_eq!(write(&o, 1).unwrap(), 1);
    let good_len = log_len(&state);

    // The disk fills: the write fails. The audit record goes first and is the longer file, so
    // it is the one that fails here (the live log's own partial write is the next test's).
    let limit = FileSizeLimit::set(good_len + 10);
    let failed = write(&o, 2);
    drop(limit);
    let Err(WriteError::Io(why)) = failed else {
        panic!("the append past the limit fails: {failed:?}");
    };
    assert!(
        why.contains("audit.log") || why.contains("overlay.log"),
        "the error names the log: {why}"
    );
    assert_eq!(o.sequence(), 1, "nothing was acknowledged");
    let mut p = Default::default();
    assert!(
        !o.add_person_records(2, 0, &mut p),
        "the failed write is not applied"
    );
    assert_eq!(log_len(&state), good_len, "the live log is as it was");

    // Nothing fits at all: the write fails before any byte.
    let limit = FileSizeLimit::set(good_len);
    let failed = write(&o, 3);
    drop(limit);
    assert!(matches!(failed, Err(WriteError::Io(_))), "{failed:?}");
    assert_eq!(log_len(&state), good_len);

    // The disk has room again: the next write succeeds, with the next sequence (no gap).
    assert_eq!(write(&o, 4).unwrap(), 2);
    assert!(o.add_person_records(4, 0, &mut p));
    drop(o);

    assert_eq!(
        replayed(&state.join("overlay.log")),
        vec![(1, verification(1)), (2, verification(4))]
    );
    // The audit appends that failed were cut back too: the chain is whole and matches the log.
    healthcode::audit::verify_dir(&state).expect("the audit log verifies after the failures");
    let (o, _) = Overlay::open(&state, fp).unwrap();
    let mut p = Default::default();
    assert!(o.add_person_records(4, 0, &mut p));
    assert_eq!(
        p.verifications,
        vec![Verification {
            verified_on: Day(19120),
            scope: None
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_service_reports_a_failed_append_and_a_restart_replays_only_acknowledged_writes()
{
    let _turn = LIMIT.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let today = Day::parse("2022-05-10").unwrap();
    let known = IdNumber::parse("11010519491231002X").unwrap();
    let index = write_index(tmp.path(), &[(known, Default::default())], &[], Some(today));
    let state_dir = tmp.path().join("state");
    let (server, state) =
        Server::start_live(&index, &state_dir, Policy::PrecisionAware, Some(today)).await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let mut codes = server.codes(Some(QUERY_TOKEN)).await;
    let (a, b) = (
        IdNumber::from_body(98_000_000_000_000_001),
        IdNumber::from_body(98_000_000_000_000_002),
    );
    let verify = |id: IdNumber| proto::RecordVerificationRequest {
        id_number: id.to_string(),
        verified_on: String::new(),
        scope: String::new(),
        operator: "李娜".into(),
        ticket: format!("H-{id}"),
    };
    let known_now = |codes: &mut CodeClient, id: IdNumber| {
        let mut codes = codes.clone();
        async move {
            codes
                .get_code(proto::CodeRequest {
                    id_number: id.to_string(),
                    as_of: String::new(),
                })
                .await
                .unwrap()
                .into_inner()
                .known
        }
    };

    let ack = admin.record_verification(verify(a)).await.unwrap();
    assert_eq!(ack.into_inner().sequence, 1);
    let good_len = log_len(&state_dir);

    // The process cannot grow any file past the log's end plus 10 bytes while the call runs.
    let limit = FileSizeLimit::set(good_len + 10);
    let refused_verification = admin.record_verification(verify(b)).await;
    let refused_risk = admin
        .set_risk_area(proto::SetRiskAreaRequest {
            area: "110105001".into(),
            level: proto::RiskLevel::High as i32,
            from: "2022-05-01".into(),
            to: String::new(),
            operator: "李娜".into(),
            reason: "R-1".into(),
        })
        .await;
    drop(limit);
    for (what, r) in [
        ("verification", refused_verification.map(|_| ())),
        ("risk area", refused_risk.map(|_| ())),
    ] {
        let e = r.expect_err(what);
        assert_eq!(e.code(), tonic::Code::Unavailable, "{what}: {e:?}");
        assert!(
            e.message().contains("not made durable"),
            "{what}: {}",
            e.message()
        );
    }
    assert!(
        !known_now(&mut codes, b).await,
        "the failed write is not live"
    );
    let info = admin
        .info(proto::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.overlay_sequence, 1, "nothing more was acknowledged");
    assert_eq!(
        log_len(&state_dir),
        good_len,
        "the partial record was cut back"
    );

    let ack = admin.record_verification(verify(b)).await.unwrap();
    assert_eq!(
        ack.into_inner().sequence,
        2,
        "the next write follows without a gap"
    );
    assert!(known_now(&mut codes, b).await);
    server.stop().await;
    drop(state);

    // A restart replays exactly the two acknowledged writes.
    let (server, _state) =
        Server::start_live(&index, &state_dir, Policy::PrecisionAware, Some(today)).await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let mut codes = server.codes(Some(QUERY_TOKEN)).await;
    let info = admin
        .info(proto::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.overlay_sequence, 2);
    assert!(known_now(&mut codes, a).await && known_now(&mut codes, b).await);
    server.stop().await;
}

/// The log's file, whose fsync fails with EIO while `fail` is set (after the bytes were written,
/// as a failing disk does).
#[derive(Debug)]
struct FailingSync {
    file: File,
    fail: Arc<AtomicBool>,
}

impl LogFile for FailingSync {
    fn write_all_at(&mut self, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(at, bytes)
    }

    fn sync_data(&mut self) -> std::io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        LogFile::sync_data(&mut self.file)
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.file.truncate(len)
    }
}

fn failing_overlay(state: &Path) -> (Overlay, Arc<AtomicBool>) {
    let fail = Arc::new(AtomicBool::new(false));
    let f = fail.clone();
    let (o, _) = Overlay::open_with(state, key().fingerprint(), move |file| {
        Box::new(FailingSync { file, fail: f })
    })
    .unwrap();
    (o, fail)
}

/// The live log's own append, part of whose record gets in before the disk is full: refused,
/// cut back to the last good record, and the next append follows.
#[test]
fn a_live_log_append_cut_short_is_refused_and_cut_back() {
    let _turn = LIMIT.blocking_lock();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("overlay.log");
    let fp = key().fingerprint();
    let entry = |seq, person| healthcode::overlay::Entry {
        seq,
        at_ms: 1_650_000_000_000,
        caller: "ops".into(),
        operator: "li".into(),
        reason: "T".into(),
        change: verification(person),
    };
    let (mut w, _) = LogWriter::open(&path, fp).unwrap();
    w.append(&entry(1, 1)).unwrap();
    let good_len = std::fs::metadata(&path).unwrap().len();
    let limit = FileSizeLimit::set(good_len + 10);
    let failed = w.append(&entry(2, 2));
    drop(limit);
    assert!(failed.is_err(), "the append past the limit fails");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        good_len,
        "the partial record was cut back"
    );
    w.append(&entry(2, 4)).unwrap();
    drop(w);
    assert_eq!(
        replayed(&path),
        vec![(1, verification(1)), (2, verification(4))]
    );
}

#[test]
fn a_failed_fsync_is_not_acknowledged_and_its_written_record_is_not_replayed() {
    let _turn = LIMIT.blocking_lock();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (o, fail) = failing_overlay(&state);
    assert_eq!(write(&o, 1).unwrap(), 1);
    let good_len = log_len(&state);
    fail.store(true, Ordering::SeqCst);
    let failed = write(&o, 2);
    let Err(WriteError::Io(why)) = &failed else {
        panic!("a failed fsync fails the write: {failed:?}");
    };
    assert!(why.contains("overlay.log"), "{why}");
    assert_eq!(o.sequence(), 1);
    assert_eq!(log_len(&state), good_len, "the unsynced record was cut off");
    fail.store(false, Ordering::SeqCst);
    assert_eq!(write(&o, 3).unwrap(), 2);
    drop(o);
    assert_eq!(
        replayed(&state.join("overlay.log")),
        vec![(1, verification(1)), (2, verification(3))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_service_reports_a_failed_fsync_with_no_write_ack() {
    let _turn = LIMIT.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let today = Day::parse("2022-05-10").unwrap();
    let known = IdNumber::parse("11010519491231002X").unwrap();
    let index = write_index(tmp.path(), &[(known, Default::default())], &[], Some(today));
    let state_dir = tmp.path().join("state");
    let (overlay, fail) = failing_overlay(&state_dir);
    let idx = healthcode::serve::open_index(&index, &key()).unwrap();
    let state = Arc::new(
        State::with_overlay(
            idx,
            index.clone(),
            key(),
            Policy::PrecisionAware,
            Some(today),
            Some(overlay),
        )
        .unwrap(),
    );
    let server = Server::serve(state.clone(), tokens()).await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let request = |area: &str| proto::SetRiskAreaRequest {
        area: area.into(),
        level: proto::RiskLevel::High as i32,
        from: "2022-05-01".into(),
        to: String::new(),
        operator: "李娜".into(),
        reason: "R-1".into(),
    };
    fail.store(true, Ordering::SeqCst);
    let e = admin
        .set_risk_area(request("110105001"))
        .await
        .expect_err("no WriteAck for a write that was not made durable");
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    assert!(e.message().contains("not made durable"), "{}", e.message());
    let info = admin
        .info(proto::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.overlay_sequence, 0);
    fail.store(false, Ordering::SeqCst);
    let ack = admin
        .set_risk_area(request("110105002"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.sequence, 1);
    server.stop().await;
    drop(state);
    let (_, replay) = LogWriter::open(&state_dir.join("overlay.log"), key().fingerprint()).unwrap();
    assert_eq!(replay.entries.len(), 1);
    assert!(matches!(
        replay.entries[0].change,
        Change::SetRiskArea { area, .. } if area.to_string() == "110105002"
    ));
}
