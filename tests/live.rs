//! Live data on a running server: hot swaps under load, refused reloads, live writes checked
//! against the reference model on a generated world, and rebuilds that fold live writes once.

mod model;
mod util;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use healthcode::audit::AUDIT_FILE;
use healthcode::domain::{
    Day, IdNumber, Period, PersonRecords, Policy, Precision, RegionCode, RiskArea, RiskLevel,
    Verification,
};
use healthcode::overlay::{Change, Fold};
use healthcode::pipeline::{BuildOptions, build_index, build_index_folding};
use healthcode::proto;
use healthcode::serve::{self, State, answer};
use healthcode::synth;
use tokio_stream::StreamExt;
use util::world::{opts, people, today, world};
use util::*;

/// What a client sees of an answer, generation aside.
type Seen = (
    i32,
    bool,
    bool,
    Vec<(i32, String, String, String, String, bool)>,
);

fn seen(r: &proto::CodeResponse) -> Seen {
    (
        r.color,
        r.known,
        r.travel_allowed,
        r.findings
            .iter()
            .map(|f| {
                (
                    f.reason,
                    f.region_code.clone(),
                    f.risk_area_code.clone(),
                    f.day.clone(),
                    f.phone_tail.clone(),
                    f.blocks_travel,
                )
            })
            .collect(),
    )
}

/// The wire answer of the reference model, for a person of a generated world (whose home region
/// is its city, Beijing).
fn modelled(p: Option<&PersonRecords>, areas: &[RiskArea], day: Day) -> Seen {
    let Some(p) = p else {
        return (proto::Color::Green as i32, false, true, vec![]);
    };
    let home = healthcode::domain::RegionCode::parse(healthcode::synth::DEFAULT_CITY).ok();
    let code = model::evaluate_home(p, areas, home, day, Policy::PrecisionAware);
    (
        answer::color(code.color) as i32,
        true,
        code.travel_allowed,
        code.findings
            .iter()
            .map(|f| {
                (
                    answer::reason(f.reason) as i32,
                    f.region.map(|r| r.to_string()).unwrap_or_default(),
                    f.risk_area.map(|r| r.to_string()).unwrap_or_default(),
                    f.day.to_string(),
                    f.phone_tail.map(|t| t.to_string()).unwrap_or_default(),
                    f.blocks_travel,
                )
            })
            .collect(),
    )
}

/// Every answer of the server for `ids`, in order, through full batches.
async fn all_answers(c: &mut CodeClient, ids: &[String]) -> Vec<proto::CodeResponse> {
    let mut out = Vec::with_capacity(ids.len());
    // Batches stay well under the 4 MB a default gRPC client accepts in one message.
    for chunk in ids.chunks(2_000) {
        let r = c
            .get_codes(proto::BatchCodeRequest {
                id_numbers: chunk.to_vec(),
                as_of: String::new(),
            })
            .await
            .expect("a batch is answered")
            .into_inner();
        out.extend(r.results.into_iter().map(|x| x.code.expect("valid ids")));
    }
    out
}

/// The answers one index gives by itself (no server, no live writes).
fn answers_of(index: &Path, ids: &[String]) -> HashMap<String, Seen> {
    let idx = serve::open_index(index, &key()).unwrap();
    let state = State::new(
        idx,
        index.to_path_buf(),
        key(),
        Policy::PrecisionAware,
        Some(today()),
    );
    let snap = state.current();
    ids.iter()
        .map(|id| {
            let r = answer::answer(&state, &snap, id, "", &mut None).expect("valid ids");
            (id.clone(), seen(&r))
        })
        .collect()
}

/// The server's answer for one document number.
async fn get_code(codes: &mut CodeClient, id: &str) -> proto::CodeResponse {
    codes
        .get_code(proto::CodeRequest {
            id_number: id.to_string(),
            as_of: String::new(),
        })
        .await
        .expect("a valid id is answered")
        .into_inner()
}

/// Asks the server to serve the index at `path`; its new generation or why not.
async fn reload(admin: &mut OpsClient, path: &Path, force: bool) -> Result<u64, tonic::Status> {
    admin
        .reload(proto::ReloadRequest {
            path: path.display().to_string(),
            force,
        })
        .await
        .map(|r| r.into_inner().generation)
}

/// The street that most persons' own stays name, and its county.
fn busiest_street(people: &[(IdNumber, PersonRecords)]) -> RegionCode {
    let mut n: HashMap<RegionCode, usize> = HashMap::new();
    for (_, p) in people {
        for s in &p.stays {
            if s.region.precision() >= Precision::Street {
                *n.entry(s.region.truncate(Precision::Street)).or_default() += 1;
            }
        }
    }
    n.into_iter()
        .max_by_key(|e| (e.1, e.0))
        .expect("the world has street-level stays")
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_swaps_under_load_fail_no_query_and_never_mix_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let (feeds, a) = world(tmp.path(), 3_000, 11);
    let (people, _) = people(&feeds);
    // B: the same feeds with the home city designated, so most answers differ from A's.
    let b = tmp.path().join("b.hci");
    let fold = Fold {
        log_id: 77,
        through: 1,
        risk: vec![Change::SetRiskArea {
            area: RegionCode::parse(synth::DEFAULT_CITY).unwrap(),
            level: RiskLevel::High,
            period: Period {
                from: today().plus(-20),
                to: None,
            },
        }],
        persons: vec![],
    };
    build_index_folding(
        &feeds,
        &b,
        &key(),
        &opts(),
        Some(&fold),
        &mut std::io::sink(),
        &mut |_| {},
    )
    .unwrap();
    let mut ids: Vec<String> = people
        .iter()
        .take(400)
        .map(|(i, _)| i.to_string())
        .collect();
    ids.extend((0..20).map(|i| IdNumber::from_body(99_000_000_000_000_000 + i).to_string()));
    let expect = [answers_of(&a, &ids), answers_of(&b, &ids)];
    let differ = ids
        .iter()
        .filter(|i| expect[0][*i] != expect[1][*i])
        .count();
    assert!(differ > 100, "only {differ} answers differ between A and B");
    let file_of = |generation: u64| (generation + 1) % 2; // 1 → A, 2 → B, 3 → A, …

    let server = Server::start(&a, Policy::PrecisionAware, Some(today()), tokens()).await;
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let expect = Arc::new(expect);
    let ids = Arc::new(ids);
    let mut load = Vec::new();
    for w in 0..6u64 {
        let mut c = server.codes(Some(QUERY_TOKEN)).await;
        let (done, answered, expect, ids) =
            (done.clone(), answered.clone(), expect.clone(), ids.clone());
        load.push(tokio::spawn(async move {
            let mut i = w as usize * 37;
            let mut failures = Vec::new();
            while !done.load(Ordering::Acquire) {
                let check = |r: &proto::CodeResponse, id: &String| {
                    let want = &expect[file_of(r.index_generation) as usize][id];
                    assert_eq!(&seen(r), want, "{id} at generation {}", r.index_generation);
                };
                match w % 3 {
                    0 => {
                        let id = &ids[i % ids.len()];
                        match c
                            .get_code(proto::CodeRequest {
                                id_number: id.clone(),
                                as_of: String::new(),
                            })
                            .await
                        {
                            Ok(r) => check(&r.into_inner(), id),
                            Err(s) => failures.push(s),
                        }
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    1 => {
                        let batch: Vec<String> =
                            (0..64).map(|k| ids[(i + k) % ids.len()].clone()).collect();
                        match c
                            .get_codes(proto::BatchCodeRequest {
                                id_numbers: batch.clone(),
                                as_of: String::new(),
                            })
                            .await
                        {
                            Ok(r) => {
                                let r = r.into_inner();
                                let g = r.results[0].code.as_ref().unwrap().index_generation;
                                for (res, id) in r.results.iter().zip(&batch) {
                                    let code = res.code.as_ref().unwrap();
                                    assert_eq!(code.index_generation, g, "one batch, one index");
                                    check(code, id);
                                }
                            }
                            Err(s) => failures.push(s),
                        }
                        answered.fetch_add(64, Ordering::Relaxed);
                        i += 63;
                    }
                    _ => {
                        let batch: Vec<String> =
                            (0..64).map(|k| ids[(i + k) % ids.len()].clone()).collect();
                        let reqs = batch.clone().into_iter().map(|id| proto::CodeRequest {
                            id_number: id,
                            as_of: String::new(),
                        });
                        match c.stream_codes(tokio_stream::iter(reqs)).await {
                            Ok(r) => {
                                let mut s = r.into_inner();
                                let mut k = 0;
                                while let Some(item) = s.next().await {
                                    match item {
                                        Ok(code) => check(&code, &batch[k]),
                                        Err(e) => failures.push(e),
                                    }
                                    k += 1;
                                }
                                assert_eq!(k, batch.len(), "every streamed id is answered");
                            }
                            Err(s) => failures.push(s),
                        }
                        answered.fetch_add(64, Ordering::Relaxed);
                        i += 63;
                    }
                }
                i += 1;
            }
            failures
        }));
    }

    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let mut before = answered.load(Ordering::Relaxed);
    for swap in 0..20u64 {
        // Let the load run against each generation before the next swap.
        while answered.load(Ordering::Relaxed) < before + 200 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        before = answered.load(Ordering::Relaxed);
        let next = if swap % 2 == 0 { &b } else { &a };
        let g = reload(&mut admin, next, false)
            .await
            .expect("a valid index swaps in");
        assert_eq!(g, swap + 2);
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    done.store(true, Ordering::Release);
    let mut failures = Vec::new();
    for t in load {
        failures.extend(t.await.expect("no load task panicked"));
    }
    assert!(failures.is_empty(), "failed queries: {failures:?}");
    assert!(answered.load(Ordering::Relaxed) >= 20 * 200);

    // Generation 21 is A: B's map was released once the last request holding it ended.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(maps.contains(&a.display().to_string()), "A is mapped");
    assert!(
        !maps.contains(&b.display().to_string()),
        "the replaced index is still mapped"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_truncated_foreign_or_older_indexes_are_refused_and_the_old_one_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let (feeds, a) = world(tmp.path(), 300, 12);
    let (people, _) = people(&feeds);
    let id = people[0].0.to_string();
    let server = Server::start(&a, Policy::PrecisionAware, Some(today()), tokens()).await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let mut codes = server.codes(Some(QUERY_TOKEN)).await;
    let before = get_code(&mut codes, &id).await;

    let bytes = std::fs::read(&a).unwrap();
    let mut bad: Vec<(String, Vec<u8>)> = Vec::new();
    for k in 0..48 {
        let at = bytes.len() * k / 48 + 3;
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        bad.push((format!("flip at {at}"), b));
    }
    for len in [
        0,
        7,
        64,
        200,
        bytes.len() / 2,
        bytes.len() - 9,
        bytes.len() - 1,
    ] {
        bad.push((format!("truncated to {len}"), bytes[..len].to_vec()));
    }
    for (what, b) in &bad {
        let p = tmp.path().join("bad.hci");
        std::fs::write(&p, b).unwrap();
        let e = reload(&mut admin, &p, true).await.expect_err(what);
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{what}: {e:?}");
        assert!(
            e.message().contains("previous index keeps serving"),
            "{what}"
        );
    }
    let missing = admin
        .reload(proto::ReloadRequest {
            path: tmp.path().join("nope.hci").display().to_string(),
            force: false,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // Another key.
    let other = tmp.path().join("other.hci");
    build_index(
        &feeds,
        &other,
        &healthcode::key::Key::from_words(1, 2),
        &opts(),
        &mut std::io::sink(),
        &mut |_| {},
    )
    .unwrap();
    let refused = |e: Result<u64, tonic::Status>| e.expect_err("refused").message().to_string();
    let e = refused(reload(&mut admin, &other, true).await);
    assert!(e.contains("key"), "{e}");

    // An older data date: refused, unless forced.
    let older = tmp.path().join("older.hci");
    build_index(
        &feeds,
        &older,
        &key(),
        &BuildOptions {
            data_as_of: Some(today().plus(-1)),
            ..Default::default()
        },
        &mut std::io::sink(),
        &mut |_| {},
    )
    .unwrap();
    let e = refused(reload(&mut admin, &older, false).await);
    assert!(e.contains("older"), "{e}");

    let info = admin
        .info(proto::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.generation, 1, "nothing was swapped");
    let after = get_code(&mut codes, &id).await;
    assert_eq!(after, before, "the old index answers as before");

    let g = reload(&mut admin, &older, true).await.expect("forced");
    assert_eq!(g, 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_risk_area_and_verifications_flag_exactly_whom_the_model_says() {
    let tmp = tempfile::tempdir().unwrap();
    let (feeds, a) = world(tmp.path(), 20_000, 13);
    let (people, mut areas) = people(&feeds);
    let street = busiest_street(&people);
    let county = street.truncate(Precision::County);
    let (server, _state) = Server::start_live(
        &a,
        &tmp.path().join("state"),
        Policy::PrecisionAware,
        Some(today()),
    )
    .await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let mut codes = server.codes(Some(QUERY_TOKEN)).await;
    let ids: Vec<String> = people.iter().map(|(i, _)| i.to_string()).collect();
    let before = all_answers(&mut codes, &ids).await;

    let ack = admin
        .set_risk_area(proto::SetRiskAreaRequest {
            area: street.to_string(),
            level: proto::RiskLevel::High as i32,
            from: today().plus(-9).to_string(),
            to: String::new(),
            operator: "王伟".into(),
            reason: "outbreak ticket 17".into(),
        })
        .await
        .expect("the write is acknowledged")
        .into_inner();
    assert_eq!(ack.sequence, 1);
    assert!(ack.affected_definite > 0, "{ack:?}");
    let ack2 = admin
        .set_risk_area(proto::SetRiskAreaRequest {
            area: county.to_string(),
            level: proto::RiskLevel::Medium as i32,
            from: today().plus(-3).to_string(),
            to: today().plus(-1).to_string(),
            operator: "王伟".into(),
            reason: "ticket 18".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack2.sequence, 2);
    for z in [
        RiskArea {
            area: street,
            level: RiskLevel::High,
            period: Period {
                from: today().plus(-9),
                to: None,
            },
        },
        RiskArea {
            area: county,
            level: RiskLevel::Medium,
            period: Period {
                from: today().plus(-3),
                to: Some(today().plus(-1)),
            },
        },
    ] {
        areas.retain(|x| x.area != z.area);
        areas.push(z);
    }
    let after = all_answers(&mut codes, &ids).await;
    let mut changed = 0;
    for (i, (id, p)) in people.iter().enumerate() {
        assert_eq!(seen(&after[i]), modelled(Some(p), &areas, today()), "{id}");
        changed += usize::from(seen(&after[i]) != seen(&before[i]));
    }
    assert!(changed > 50, "only {changed} answers changed");

    // Hotline verifications of a hundred of the people now yellow or flagged, some scoped.
    let flagged: Vec<usize> = (0..people.len())
        .filter(|&i| !after[i].findings.is_empty() && seen(&after[i]) != seen(&before[i]))
        .take(100)
        .collect();
    let mut people = people;
    for (k, &i) in flagged.iter().enumerate() {
        let scope = if k % 2 == 0 { Some(county) } else { None };
        let v = Verification {
            verified_on: today().plus(-(k as i32 % 3)),
            scope,
        };
        admin
            .record_verification(proto::RecordVerificationRequest {
                id_number: people[i].0.to_string(),
                verified_on: v.verified_on.to_string(),
                scope: scope.map(|s| s.to_string()).unwrap_or_default(),
                operator: "李娜".into(),
                ticket: format!("H-{k}"),
            })
            .await
            .unwrap();
        people[i].1.verifications.push(v);
    }
    // And one for a person absent from the feeds: known from now on, still green.
    let stranger = IdNumber::from_body(98_000_000_000_000_001);
    admin
        .record_verification(proto::RecordVerificationRequest {
            id_number: stranger.to_string(),
            verified_on: String::new(),
            scope: String::new(),
            operator: "李娜".into(),
            ticket: "H-x".into(),
        })
        .await
        .unwrap();
    let after = all_answers(&mut codes, &ids).await;
    for (i, (id, p)) in people.iter().enumerate() {
        assert_eq!(seen(&after[i]), modelled(Some(p), &areas, today()), "{id}");
    }
    let s = all_answers(&mut codes, &[stranger.to_string()]).await;
    assert_eq!((s[0].known, s[0].color), (true, proto::Color::Green as i32));
    let info = admin
        .info(proto::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.overlay_sequence, 2 + flagged.len() as u64 + 1);
    assert_eq!(info.generation, 1, "live writes do not swap the index");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_folds_live_writes_once_and_they_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (feeds, a) = world(tmp.path(), 4_000, 14);
    let (mut people, mut areas) = people(&feeds);
    let street = busiest_street(&people);
    let other = street.truncate(Precision::County);
    // The first person gets a live verification below; the model sees it too.
    people[0].1.verifications.push(Verification {
        verified_on: today().plus(-1),
        scope: None,
    });
    let state_dir = tmp.path().join("state");
    let ids: Vec<String> = people.iter().map(|(i, _)| i.to_string()).collect();
    let set = |area: RegionCode, from: i32| proto::SetRiskAreaRequest {
        area: area.to_string(),
        level: proto::RiskLevel::High as i32,
        from: today().plus(from).to_string(),
        to: String::new(),
        operator: "王伟".into(),
        reason: "T".into(),
    };
    let lift = |area: RegionCode, to: i32| proto::LiftRiskAreaRequest {
        area: area.to_string(),
        to: today().plus(to).to_string(),
        operator: "王伟".into(),
        reason: "T".into(),
    };
    let check = |answers: &[proto::CodeResponse], areas: &[RiskArea], what: &str| {
        for (i, (id, p)) in people.iter().enumerate() {
            assert_eq!(
                seen(&answers[i]),
                modelled(Some(p), areas, today()),
                "{what}: {id}"
            );
        }
    };

    {
        let (server, state) =
            Server::start_live(&a, &state_dir, Policy::PrecisionAware, Some(today())).await;
        let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
        let mut codes = server.codes(Some(QUERY_TOKEN)).await;
        // 1: set the street; 2: lift it before it starts (so it is gone); 3: verify a person.
        admin.set_risk_area(set(street, -9)).await.unwrap();
        admin.lift_risk_area(lift(street, -10)).await.unwrap();
        let e = admin.lift_risk_area(lift(street, -10)).await.unwrap_err();
        assert_eq!(
            e.code(),
            tonic::Code::FailedPrecondition,
            "nothing left to lift"
        );
        let (pid, precords) = &people[0];
        admin
            .record_verification(proto::RecordVerificationRequest {
                id_number: pid.to_string(),
                verified_on: today().plus(-1).to_string(),
                scope: String::new(),
                operator: "李娜".into(),
                ticket: "H-1".into(),
            })
            .await
            .unwrap();
        let hash = key().hash_id(*pid);
        let in_index = |snap: &serve::Snapshot| {
            let mut r = PersonRecords::default();
            snap.index
                .person(snap.index.lookup_hash(hash).unwrap(), &mut r)
                .unwrap();
            let mut live = PersonRecords::default();
            state
                .overlay
                .as_ref()
                .unwrap()
                .add_person_records(hash, snap.folded, &mut live);
            (r.verifications.len(), live.verifications.len())
        };
        let feed_verifications = precords.verifications.len() - 1;
        assert_eq!(in_index(&state.current()), (feed_verifications, 1));

        // A misnamed feed file: the rebuild says it left it out.
        std::fs::write(feeds.join("risk_area.csv"), "area,level,from,to\n").unwrap();
        let mut progress = admin
            .rebuild(proto::RebuildRequest {
                feeds: feeds.display().to_string(),
                force: false,
            })
            .await
            .expect("the rebuild starts")
            .into_inner();
        let busy = admin
            .rebuild(proto::RebuildRequest {
                feeds: feeds.display().to_string(),
                force: false,
            })
            .await
            .unwrap_err();
        assert_eq!(busy.code(), tonic::Code::AlreadyExists, "{busy:?}");
        // The refused second rebuild is in the audit log, with what it asked for.
        let audit = std::fs::read_to_string(state_dir.join(AUDIT_FILE)).unwrap();
        let refused = format!("refused: {}", busy.message());
        assert!(
            audit.lines().any(|l| l.contains("\"rebuild\"")
                && l.contains(&refused)
                && l.contains(&feeds.display().to_string())),
            "no refused rebuild in the audit log:\n{audit}"
        );
        let mut stages = Vec::new();
        let mut built = String::new();
        let mut generation = 0;
        while let Some(p) = progress.next().await {
            let p = p.expect("the rebuild succeeds");
            stages.push(p.stage.clone());
            if p.stage == "built" {
                built = p.message.clone();
            }
            generation = p.generation;
        }
        assert_eq!(generation, 2, "stages: {stages:?}");
        assert!(
            built.contains("warning: risk_area.csv: not a feed file, ignored"),
            "{built}"
        );
        assert_eq!(stages.first().map(String::as_str), Some("started"));
        assert!(stages.contains(&"encoding".to_string()));
        assert_eq!(stages.last().map(String::as_str), Some("swapped"));
        let snap = state.current();
        assert_eq!(snap.index.folded().1, 3, "the rebuild folded writes 1 to 3");
        assert_eq!(snap.folded, 3);
        // The verification is in the index now, and no longer added on top: applied once.
        assert_eq!(in_index(&snap), (feed_verifications + 1, 0));
        check(
            &all_answers(&mut codes, &ids).await,
            &areas,
            "after the rebuild",
        );

        // 4: after the rebuild, a new area.
        admin.set_risk_area(set(other, -5)).await.unwrap();
        areas.push(RiskArea {
            area: other,
            level: RiskLevel::High,
            period: Period {
                from: today().plus(-5),
                to: None,
            },
        });
        check(
            &all_answers(&mut codes, &ids).await,
            &areas,
            "after write 3",
        );

        // A feeds-only index folds nothing: every write applies on top of it, once.
        let g = reload(&mut admin, &a, false).await.unwrap();
        assert_eq!(g, 3);
        check(
            &all_answers(&mut codes, &ids).await,
            &areas,
            "feeds-only index",
        );
        assert_eq!(in_index(&state.current()), (feed_verifications, 1));
        // Back to the rebuilt one for the restart below.
        let rebuilt = snap.path.clone();
        drop(snap);
        reload(&mut admin, &rebuilt, false).await.unwrap();
        drop(state);
        server.stop().await;
    }

    // A restart replays the log over the index the state directory last served.
    let current = serve::state::read_current(&state_dir).expect("the swap was recorded");
    assert!(
        current.starts_with(state_dir.join("indexes")),
        "{current:?}"
    );
    let (server, state) =
        Server::start_live(&current, &state_dir, Policy::PrecisionAware, Some(today())).await;
    assert_eq!(state.overlay_sequence(), 4);
    assert_eq!(state.current().folded, 3);
    let mut codes = server.codes(Some(QUERY_TOKEN)).await;
    check(
        &all_answers(&mut codes, &ids).await,
        &areas,
        "after the restart",
    );
    server.stop().await;
}

/// A verification or registration dated after tomorrow (a mistyped year) is refused with
/// `INVALID_ARGUMENT`; one dated tomorrow (clock skew) is taken; and a rebuild that folds it still
/// dates its index by the feeds, so the next index built from the feeds is not "older".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_ahead_is_refused_and_no_live_write_dates_a_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let (feeds, a) = world(tmp.path(), 500, 15);
    let (people, _) = people(&feeds);
    let id = people[0].0.to_string();
    let (server, _) = Server::start_live(
        &a,
        &tmp.path().join("state"),
        Policy::PrecisionAware,
        Some(today()),
    )
    .await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let verification = |on: &str| proto::RecordVerificationRequest {
        id_number: id.clone(),
        verified_on: on.to_string(),
        scope: String::new(),
        operator: "李娜".into(),
        ticket: "H-7".into(),
    };
    for on in ["2202-05-10".to_string(), today().plus(2).to_string()] {
        let e = admin
            .record_verification(verification(&on))
            .await
            .expect_err("a day not yet come");
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{on}");
        assert!(e.message().contains("has not come yet"), "{}", e.message());
    }
    let e = admin
        .record_registration(proto::RecordRegistrationRequest {
            id_number: id.clone(),
            registered_on: today().plus(3).to_string(),
            community: "幸福里".into(),
            operator: "李娜".into(),
            reason: "arrival".into(),
        })
        .await
        .expect_err("a day not yet come");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let tomorrow = today().plus(1).to_string();
    let ack = admin
        .record_verification(verification(&tomorrow))
        .await
        .expect("a day of clock skew is allowed")
        .into_inner();
    assert_eq!(ack.sequence, 1, "only the allowed write went to the log");

    let mut progress = admin
        .rebuild(proto::RebuildRequest {
            feeds: feeds.display().to_string(),
            force: false,
        })
        .await
        .expect("the rebuild starts")
        .into_inner();
    let mut generation = 0;
    while let Some(p) = progress.message().await.expect("the rebuild succeeds") {
        generation = generation.max(p.generation);
    }
    assert_eq!(generation, 2);
    let info = admin
        .info(proto::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.folded_sequence, 1, "the verification is folded");
    assert_eq!(info.data_as_of, today().to_string(), "dated by the feeds");
    server.stop().await;
}

/// `Reload` of a named pipe, a device or a directory is refused at once (an open of a pipe would
/// otherwise wait forever for a writer, holding a thread), the old index keeps serving and live
/// writes go on; while one reload runs a second is refused with `ALREADY_EXISTS` rather than
/// given a thread of its own, and the refusal is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_of_anything_but_a_file_is_refused_at_once_and_one_runs_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, a) = world(tmp.path(), 300, 16);
    let (server, state) = Server::start_live(
        &a,
        &tmp.path().join("state"),
        Policy::PrecisionAware,
        Some(today()),
    )
    .await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let fifo = tmp.path().join("index.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for (path, what) in [
        (fifo.as_path(), "a named pipe"),
        (Path::new("/dev/zero"), "a device"),
        (tmp.path(), "a directory"),
    ] {
        let mut req = tonic::Request::new(proto::ReloadRequest {
            path: path.display().to_string(),
            force: true,
        });
        req.set_timeout(std::time::Duration::from_secs(20));
        let e = admin.reload(req).await.expect_err("refused");
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{what}: {e:?}");
        assert!(e.message().contains(what), "{}", e.message());
        assert!(e.message().contains("keeps serving"), "{}", e.message());
    }
    let ack = admin
        .set_risk_area(proto::SetRiskAreaRequest {
            area: "110105".into(),
            level: proto::RiskLevel::High as i32,
            from: today().to_string(),
            to: String::new(),
            operator: "王伟".into(),
            reason: "after the refused reloads".into(),
        })
        .await
        .expect("live writes go on");
    assert_eq!(ack.into_inner().sequence, 1);

    // A reload running (its turn held here): the next is refused at once and audited.
    let turn = state.reload_turn().expect("no reload runs");
    let e = reload(&mut admin, &a, true)
        .await
        .expect_err("one at a time");
    assert_eq!(e.code(), tonic::Code::AlreadyExists, "{e:?}");
    assert!(
        e.message().contains("a reload is running"),
        "{}",
        e.message()
    );
    drop(turn);
    assert_eq!(reload(&mut admin, &a, true).await.expect("its turn"), 2);
    let audit = std::fs::read_to_string(tmp.path().join("state").join(AUDIT_FILE)).unwrap();
    assert!(audit.contains("refused: a reload is running"), "{audit}");
    assert!(
        audit.contains("a named pipe: an index is a regular file"),
        "{audit}"
    );
    server.stop().await;
}

/// A reload whose caller gives up while it runs still happens to the end, and its outcome is in
/// the audit log as for any other: the caller's hang-up does not leave a bare "requested".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_whose_caller_gave_up_is_recorded_with_its_outcome() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, a) = world(tmp.path(), 20_000, 17);
    let state_dir = tmp.path().join("state");
    let (server, _) =
        Server::start_live(&a, &state_dir, Policy::PrecisionAware, Some(today())).await;
    let audit = state_dir.join(AUDIT_FILE);
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let mut call = Box::pin(reload(&mut admin, &a, true));
    // Hang up as soon as the server has the request on record, while it verifies the file (a
    // machine fast enough to finish first makes this an ordinary reload, recorded the same).
    loop {
        tokio::select! {
            r = &mut call => {
                r.expect("the reload succeeds");
                break;
            }
            _ = tokio::time::sleep(std::time::Duration::from_micros(200)) => {}
        }
        if std::fs::read_to_string(&audit)
            .unwrap()
            .contains(r#""action":"reload""#)
        {
            break;
        }
    }
    drop(call);
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&audit).unwrap();
        let reloads: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(r#""action":"reload""#))
            .collect();
        if reloads.len() == 2 {
            assert!(reloads[0].contains(r#""outcome":"requested""#), "{text}");
            assert!(reloads[1].contains(r#""outcome":"ok""#), "{text}");
            assert!(reloads[1].contains(r#""generation":"2""#), "{text}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no outcome recorded for the reload: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let info = admin
        .info(proto::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.generation, 2);
    server.stop().await;
}

/// After a live write, a rebuild from a directory with no feed of people (an empty one, `/etc`)
/// is refused and the old index keeps answering every person as before, known.
/// A reload of an index that knows fewer than half of the serving one's persons is refused
/// unless forced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_of_almost_nobody_never_replaces_the_serving_one_unforced() {
    let tmp = tempfile::tempdir().unwrap();
    let (feeds, a) = world(tmp.path(), 2_000, 18);
    let (people, _) = people(&feeds);
    let ids: Vec<String> = people.iter().map(|(id, _)| id.to_string()).collect();
    let (server, _) = Server::start_live(
        &a,
        &tmp.path().join("state"),
        Policy::PrecisionAware,
        Some(today()),
    )
    .await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let mut codes = server.codes(Some(QUERY_TOKEN)).await;
    let before = all_answers(&mut codes, &ids).await;
    admin
        .record_registration(proto::RecordRegistrationRequest {
            id_number: ids[0].clone(),
            registered_on: today().to_string(),
            community: "幸福里".into(),
            operator: "李娜".into(),
            reason: "arrival".into(),
        })
        .await
        .expect("a live write");
    let before_after_write = all_answers(&mut codes, &ids).await;

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for dir in [empty.as_path(), Path::new("/etc")] {
        let e = admin
            .rebuild(proto::RebuildRequest {
                feeds: dir.display().to_string(),
                force: true,
            })
            .await
            .expect("the rebuild starts")
            .into_inner()
            .message()
            .await
            .map(|_| ())
            .expect_err("refused");
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
        assert!(
            e.message().contains("no feed file of people"),
            "{}",
            e.message()
        );
    }

    // A small index of the same key: refused, then forced.
    let small_dir = tmp.path().join("small");
    let (_, small) = world(&small_dir, 300, 19);
    let e = reload(&mut admin, &small, false)
        .await
        .expect_err("too few");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains("fewer than half"), "{}", e.message());
    let after = all_answers(&mut codes, &ids).await;
    assert_eq!(after.len(), before.len());
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(seen(&after[i]), seen(&before_after_write[i]), "{id}");
        assert!(after[i].known, "{id}");
    }
    assert_eq!(reload(&mut admin, &small, true).await.expect("forced"), 2);
    server.stop().await;
}
