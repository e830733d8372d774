//! Replicas of one state directory, as processes of the real binary on loopback: a writer
//! (`serve --state-dir`) and followers (`serve --follow`). Live writes, rebuilds and reloads on
//! the writer reach every follower, which then answers every person as the writer does; a record
//! being written is not applied before it is whole; a follower refuses writes, naming the writer;
//! it outlives a writer restart, waits for a writer that has not started, and stops when the log
//! is cut behind what it applied.

mod util;

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use healthcode::domain::{Day, Period, RegionCode, RiskLevel};
use healthcode::overlay::log::encode_record;
use healthcode::overlay::{Change, Entry};
use healthcode::proto::{self, admin_client::AdminClient, health_code_client::HealthCodeClient};
use tonic::Code;
use util::process::{DataSet, ServerProcess, s};
use util::{ADMIN_TOKEN, CodeClient, OpsClient, bearer, channel};

const TODAY: &str = "2022-05-10";

/// Starts a follower of `data`'s state directory (its index from the writer's CURRENT).
fn follower(data: &DataSet) -> ServerProcess {
    ServerProcess::spawn(follow_command(data)).listening()
}

fn follow_command(data: &DataSet) -> std::process::Command {
    let mut cmd = data.command();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--today", TODAY])
        .args(["--follow", s(&data.state)])
        .args(["--follow-interval", "20ms"])
        .args(["--tokens", s(&data.tokens)]);
    cmd
}

async fn admin(addr: &str) -> OpsClient {
    AdminClient::with_interceptor(channel(addr).await, bearer(Some(ADMIN_TOKEN)))
}

async fn codes(addr: &str) -> CodeClient {
    HealthCodeClient::with_interceptor(channel(addr).await, bearer(Some(ADMIN_TOKEN)))
        .max_decoding_message_size(64 << 20)
}

async fn info(addr: &str) -> proto::InfoResponse {
    admin(addr)
        .await
        .info(proto::InfoRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// Polls `done` until it holds; a generous bound only turns a hang into a failure.
async fn wait_until<F: Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let until = Instant::now() + Duration::from_secs(120);
    while !done().await {
        assert!(Instant::now() < until, "still waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every follower serves the writer's index file with the writer's folded
/// sequence and has applied the writer's last live write.
async fn converged(writer: &str, followers: &[&str]) -> proto::InfoResponse {
    let w = info(writer).await;
    for f in followers {
        wait_until(&format!("{f} to reach the writer's state"), || async {
            let i = info(f).await;
            (i.overlay_sequence, i.index_build_id, i.folded_sequence)
                == (w.overlay_sequence, w.index_build_id, w.folded_sequence)
        })
        .await;
    }
    w
}

/// The answer for every id, as of TODAY, without the generation (a number each server counts
/// for itself).
async fn answers(addr: &str, ids: &[String]) -> Vec<proto::CodeResult> {
    let mut c = codes(addr).await;
    let mut out = Vec::new();
    for chunk in ids.chunks(1000) {
        let r = c
            .get_codes(proto::BatchCodeRequest {
                id_numbers: chunk.to_vec(),
                as_of: TODAY.into(),
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(r.results.into_iter().map(|mut r| {
            if let Some(c) = &mut r.code {
                c.index_generation = 0;
            }
            r
        }));
    }
    out
}

/// Asserts that every follower answers every id as the writer does; returns the answers.
async fn same_answers(writer: &str, followers: &[&str], ids: &[String]) -> Vec<proto::CodeResult> {
    let w = answers(writer, ids).await;
    for f in followers {
        let a = answers(f, ids).await;
        let differ = ids.iter().zip(w.iter().zip(&a)).find(|(_, (x, y))| x != y);
        assert!(differ.is_none(), "{f} answers {differ:?} unlike the writer");
    }
    w
}

/// The distinct document numbers of the data set's feeds.
fn ids(data: &DataSet) -> Vec<String> {
    let text = std::fs::read_to_string(data.dir.path().join("feeds/bindings.csv")).unwrap();
    let mut v: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn set(area: &str, from: &str, reason: &str) -> proto::SetRiskAreaRequest {
    proto::SetRiskAreaRequest {
        area: area.into(),
        level: proto::RiskLevel::High as i32,
        from: from.into(),
        to: String::new(),
        operator: "Wang Wei".into(),
        reason: reason.into(),
    }
}

fn verification(id: &str, ticket: &str) -> proto::RecordVerificationRequest {
    proto::RecordVerificationRequest {
        id_number: id.into(),
        verified_on: "2022-05-09".into(),
        scope: String::new(),
        operator: "Li Na".into(),
        ticket: ticket.into(),
    }
}

/// Stops a server with SIGTERM and waits for it.
fn stop(p: ServerProcess) {
    p.signal(libc::SIGTERM);
    let (status, log) = p.wait();
    assert!(status.success(), "{}", log.join("\n"));
}

fn append(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_writes_swaps_and_a_writer_restart_reach_every_follower_and_answers_agree() {
    let data = DataSet::generate(2_000);
    let ids = ids(&data);
    assert!(ids.len() > 1_500, "{} ids", ids.len());
    let writer = data.serve(&[]);
    let (f1, f2) = (follower(&data), follower(&data));
    let (w, fs) = (writer.addr.clone(), [f1.addr.as_str(), f2.addr.as_str()]);
    converged(&w, &fs).await;
    assert_eq!(info(&w).await.role, "writer");
    for f in fs {
        assert_eq!(info(f).await.role, "follower");
    }
    let before = same_answers(&w, &fs, &ids).await;

    // Live writes on the writer.
    let mut a = admin(&w).await;
    a.set_risk_area(set("110105", "2022-04-28", "CDC notice 17"))
        .await
        .unwrap();
    a.set_risk_area(set("110106", "2022-04-28", "CDC notice 18"))
        .await
        .unwrap();
    a.lift_risk_area(proto::LiftRiskAreaRequest {
        area: "110106".into(),
        to: "2022-05-01".into(),
        operator: "Wang Wei".into(),
        reason: "CDC notice 19".into(),
    })
    .await
    .unwrap();
    for (n, id) in ids.iter().step_by(97).enumerate() {
        a.record_verification(verification(id, &format!("T-{n}")))
            .await
            .unwrap();
    }
    a.record_registration(proto::RecordRegistrationRequest {
        id_number: ids[3].clone(),
        registered_on: "2022-05-08".into(),
        community: "Jianwai".into(),
        operator: "Li Na".into(),
        reason: "registered at the gate".into(),
    })
    .await
    .unwrap();
    let i = converged(&w, &fs).await;
    assert!(i.overlay_sequence > 20, "{i:?}");
    let live = same_answers(&w, &fs, &ids).await;
    let changed = before.iter().zip(&live).filter(|(b, l)| b != l).count();
    assert!(changed > 0, "the live writes changed no answer");

    // A follower takes no write and says where writes go; its state is unchanged.
    let mut fa = admin(fs[0]).await;
    let refused = fa
        .record_verification(verification(&ids[0], "T-follower"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("read-only follower") && refused.message().contains(&w),
        "{}",
        refused.message()
    );
    let reload = fa
        .reload(proto::ReloadRequest {
            path: s(&data.index).into(),
            force: true,
        })
        .await
        .unwrap_err();
    assert_eq!(reload.code(), Code::FailedPrecondition);
    assert_eq!(info(fs[0]).await.overlay_sequence, i.overlay_sequence);

    // A rebuild on the writer folds the writes; the followers swap the same file in and apply
    // nothing twice: the answers do not move.
    let mut progress = a
        .rebuild(proto::RebuildRequest {
            feeds: s(&data.dir.path().join("feeds")).into(),
            force: false,
        })
        .await
        .unwrap()
        .into_inner();
    let mut swapped = false;
    while let Some(p) = progress.message().await.unwrap() {
        swapped |= p.stage == "swapped";
    }
    assert!(swapped);
    let r = converged(&w, &fs).await;
    assert_ne!(r.index_build_id, i.index_build_id, "another file serves");
    assert_eq!(
        r.folded_sequence, i.overlay_sequence,
        "it folds every write"
    );
    assert_eq!(same_answers(&w, &fs, &ids).await, live);

    // A write after the rebuild, then a reload of the original file (folding nothing: every
    // live write applies on top of it).
    a.record_verification(verification(&ids[1], "T-after-rebuild"))
        .await
        .unwrap();
    converged(&w, &fs).await;
    let after_rebuild = same_answers(&w, &fs, &ids).await;
    a.reload(proto::ReloadRequest {
        path: s(&data.index).into(),
        force: false,
    })
    .await
    .unwrap();
    let o = converged(&w, &fs).await;
    assert_eq!((o.folded_sequence, o.index_build_id), (0, i.index_build_id));
    assert_eq!(same_answers(&w, &fs, &ids).await, after_rebuild);

    // The writer stops. A record is then appended a part at a time (as a writer's append is
    // seen while it is written): the followers wait for it and apply it once it is whole.
    stop(writer);
    let log = data.state.join("overlay.log");
    let entry = Entry {
        seq: o.overlay_sequence + 1,
        at_ms: 1_652_140_800_000,
        caller: "ops".into(),
        operator: "Wang Wei".into(),
        reason: "written by hand".into(),
        change: Change::SetRiskArea {
            area: RegionCode::parse("110108").unwrap(),
            level: RiskLevel::High,
            period: Period {
                from: Day::parse("2022-04-28").unwrap(),
                to: None,
            },
        },
    };
    let record = encode_record(&entry);
    let half = record.len() / 2;
    append(&log, &record[..half]);
    for f in fs {
        wait_until("the follower to see the partial record", || async {
            info(f).await.log_pending_bytes == half as u64
        })
        .await;
        assert_eq!(
            info(f).await.overlay_sequence,
            o.overlay_sequence,
            "not applied"
        );
        assert_eq!(answers(f, &ids).await, after_rebuild);
    }
    append(&log, &record[half..]);
    for f in fs {
        wait_until("the follower to apply the whole record", || async {
            let i = info(f).await;
            (i.overlay_sequence, i.log_pending_bytes) == (entry.seq, 0)
        })
        .await;
    }

    // The writer restarts on the same directory; the followers go on following it.
    let writer = data.serve(&[]);
    let w = writer.addr.clone();
    assert_eq!(info(&w).await.overlay_sequence, entry.seq);
    let mut a = admin(&w).await;
    let ack = a
        .record_verification(verification(&ids[2], "T-after-restart"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.sequence, entry.seq + 1);
    converged(&w, &fs).await;
    let end = same_answers(&w, &fs, &ids).await;
    assert_ne!(
        end, after_rebuild,
        "the hand-written designation changed answers"
    );
    for f in [f1, f2] {
        let log = f.log();
        assert!(
            log.iter().any(|l| l.contains("verified and swapped in")),
            "{}",
            log.join("\n")
        );
        stop(f);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_waits_for_its_writer_and_stops_when_the_log_is_cut_behind_it() {
    let data = DataSet::generate(300);
    let ids = ids(&data);
    // No writer has run yet: the follower waits without listening.
    let f = ServerProcess::spawn(follow_command(&data));
    f.wait_for("healthcode: waiting for the writer of ");
    let writer = data.serve(&[]);
    let f = f.listening();
    let (w, fs) = (writer.addr.clone(), [f.addr.as_str()]);
    let mut a = admin(&w).await;
    for (n, id) in ids.iter().take(3).enumerate() {
        a.record_verification(verification(id, &format!("T-{n}")))
            .await
            .unwrap();
    }
    converged(&w, &fs).await;
    same_answers(&w, &fs, &ids).await;

    // The log cut back behind what the follower applied (a file restored from an older copy):
    // it cannot take a write back, so it stops, saying why, for a restart to replay the log.
    stop(writer);
    let log = data.state.join("overlay.log");
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let (status, lines) = f.wait();
    assert_eq!(status.code(), Some(2), "{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cannot follow any more") && l.contains("sequence 3")),
        "{}",
        lines.join("\n")
    );
}
