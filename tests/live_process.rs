//! The durability promise of live writes against the real binary: write continuously, `kill -9`
//! the server at random moments, restart it; every acknowledged write is in the replayed log,
//! in order, and none appears twice.

mod util;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use healthcode::domain::IdNumber;
use healthcode::key::Key;
use healthcode::overlay::{Change, LogWriter};
use healthcode::proto::{self, admin_client::AdminClient};
use util::ADMIN_TOKEN;
use util::process::bin;

/// Starts `healthcode serve` on a free port; returns the child and its address.
fn start(home: &Path, index: &Path, state: &Path, tokens: &Path) -> (Child, String) {
    let mut child = bin()
        .env("HEALTHCODE_HOME", home)
        .args(["serve", "--listen", "127.0.0.1:0", "--today", "2022-05-10"])
        .arg("--index")
        .arg(index)
        .arg("--state-dir")
        .arg(state)
        .arg("--tokens")
        .arg(tokens)
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server announces its address")
            .unwrap();
        if let Some(rest) = line.strip_prefix("healthcode: listening on ") {
            break rest.split(',').next().unwrap().to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_kill_9_and_none_is_applied_twice() {
    let data = util::process::DataSet::generate(500);
    let (home, index, state, tokens) = (&data.home, &data.index, &data.state, &data.tokens);

    // ticket → acknowledged sequence
    let mut acked: HashMap<String, u64> = HashMap::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..8 {
        let (mut child, addr) = start(home, index, state, tokens);
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connecting to the restarted server");
        let mut admin = AdminClient::with_interceptor(channel, |mut r: tonic::Request<()>| {
            r.metadata_mut().insert(
                "authorization",
                format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
            );
            Ok(r)
        });
        let info = admin
            .info(proto::InfoRequest {})
            .await
            .unwrap()
            .into_inner();
        let most = acked.values().copied().max().unwrap_or(0);
        assert!(
            info.overlay_sequence >= most,
            "round {round}: the log ends at {} but write {most} was acknowledged",
            info.overlay_sequence
        );

        // Two writers race each other until the kill.
        let kill_after = Duration::from_millis(100 + next() % 400);
        let mut writers = Vec::new();
        for w in 0..2u64 {
            let mut admin = admin.clone();
            writers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for n in 0u64.. {
                    let ticket = format!("r{round}-w{w}-{n}");
                    let res = if n % 5 == 4 {
                        admin
                            .set_risk_area(proto::SetRiskAreaRequest {
                                area: "110105001".into(),
                                level: proto::RiskLevel::High as i32,
                                from: "2022-05-01".into(),
                                to: String::new(),
                                operator: "op".into(),
                                reason: ticket.clone(),
                            })
                            .await
                    } else {
                        admin
                            .record_verification(proto::RecordVerificationRequest {
                                id_number: IdNumber::from_body(11_010_519_900_101_000 + n)
                                    .to_string(),
                                verified_on: "2022-05-09".into(),
                                scope: String::new(),
                                operator: "op".into(),
                                ticket: ticket.clone(),
                            })
                            .await
                    };
                    match res {
                        Ok(ack) => mine.push((ticket, ack.into_inner().sequence)),
                        Err(_) => break, // the server died under the call: not acknowledged
                    }
                }
                mine
            }));
        }
        tokio::time::sleep(kill_after).await;
        child.kill().expect("kill -9");
        child.wait().unwrap();
        for w in writers {
            for (ticket, seq) in w.await.unwrap() {
                assert!(acked.insert(ticket, seq).is_none());
            }
        }
    }
    assert!(
        acked.len() > 50,
        "only {} writes were acknowledged",
        acked.len()
    );

    // The log after the last kill: contiguous sequences, every acknowledged write at its own
    // sequence, and no write twice.
    let key = Key::load(&home.join("key")).unwrap();
    let (_, replay) = LogWriter::open(&state.join("overlay.log"), key.fingerprint()).unwrap();
    let mut by_ticket: HashMap<&str, u64> = HashMap::new();
    for (i, e) in replay.entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "sequences are contiguous");
        assert_eq!(e.caller, "ops", "the caller's token name is recorded");
        assert_eq!(e.operator, "op");
        assert!(
            by_ticket.insert(e.reason.as_str(), e.seq).is_none(),
            "{} is in the log twice",
            e.reason
        );
        assert!(matches!(
            e.change,
            Change::Verification { .. } | Change::SetRiskArea { .. }
        ));
    }
    for (ticket, seq) in &acked {
        assert_eq!(
            by_ticket.get(ticket.as_str()),
            Some(seq),
            "acknowledged write {ticket} (sequence {seq}) is missing"
        );
    }

    // The audit log after the last kill: the chain holds (a last record the kill cut short
    // aside), and every acknowledged write has its record at its sequence.
    let audit = state.join(healthcode::audit::AUDIT_FILE);
    let chain = healthcode::audit::check(&audit, &std::fs::read(&audit).unwrap())
        .expect("the audit chain holds through kill -9");
    for (ticket, seq) in &acked {
        assert!(
            chain.records.iter().any(|r| r.reason == *ticket
                && r.overlay_sequence == *seq
                && r.outcome == healthcode::audit::ACCEPTED),
            "acknowledged write {ticket} (sequence {seq}) has no audit record"
        );
    }
    if chain.torn.is_none() {
        let v = healthcode::audit::verify_dir(state).expect("every live write has its record");
        assert_eq!(v.writes_checked, replay.entries.len() as u64);
    }
}
