//! Failover under load, with the real binaries: two replicas of one data set (a writer and a
//! follower of its state directory), `loadtest` balancing over both with retries, and one replica
//! killed with SIGKILL in the middle of the run: the run reports zero failed requests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const QUERY_TOKEN: &str = "failover-query-token-0123456789";
const ADMIN_TOKEN: &str = "failover-admin-token-9876543210";

/// The `healthcode` binary of this build. It belongs to another package of the workspace, so
/// cargo does not build it for this package's tests: it is built here as `cargo test
/// --workspace` builds it (the same units, so right after that command, which is what CI runs,
/// nothing is rebuilt).
fn healthcode_binary() -> PathBuf {
    let loadtest = PathBuf::from(env!("CARGO_BIN_EXE_loadtest"));
    let dir = loadtest.parent().unwrap();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["test", "--workspace", "--no-run", "--quiet"]);
    if dir.file_name().is_some_and(|n| n == "release") {
        cargo.arg("--release");
    }
    // What cargo sets for this test alone: inherited, some dependencies' build scripts would
    // see a changed environment and be rebuilt.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_BIN_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .contains(&k.as_ref())
        {
            cargo.env_remove(k.as_ref());
        }
    }
    let status = cargo.status().expect("cargo runs");
    assert!(status.success(), "building the healthcode binary failed");
    let bin = dir.join(format!("healthcode{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}

/// A generated data set: home (key), feeds, index, state directory, tokens.
struct Data {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Data {
    fn new(persons: u32) -> Data {
        let d = Data {
            bin: healthcode_binary(),
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(
            d.path("tokens"),
            format!("query app {QUERY_TOKEN}\nadmin ops {ADMIN_TOKEN}\n"),
        )
        .unwrap();
        let n = persons.to_string();
        d.run(&[
            "gen",
            "--persons",
            &n,
            "--seed",
            "3",
            "--out",
            s(&d.path("feeds")),
        ]);
        d.run(&[
            "build",
            "--feeds",
            s(&d.path("feeds")),
            "--out",
            s(&d.path("index.hci")),
        ]);
        d
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("HEALTHCODE_HOME", self.path("home"));
        c
    }

    fn run(&self, args: &[&str]) {
        let out = self.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "healthcode {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The writer: owns the state directory.
    fn writer(&self) -> Replica {
        let mut c = self.command();
        c.args(["serve", "--listen", "127.0.0.1:0", "--today", "2022-05-10"])
            .args(["--index", s(&self.path("index.hci"))])
            .args(["--state-dir", s(&self.path("state"))])
            .args(["--tokens", s(&self.path("tokens"))]);
        Replica::start(c)
    }

    /// A follower of the writer's state directory.
    fn follower(&self) -> Replica {
        let mut c = self.command();
        c.args(["serve", "--listen", "127.0.0.1:0", "--today", "2022-05-10"])
            .args(["--follow", s(&self.path("state"))])
            .args(["--tokens", s(&self.path("tokens"))]);
        Replica::start(c)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A replica process and its address.
struct Replica {
    child: Child,
    addr: String,
}

impl Replica {
    fn start(mut cmd: Command) -> Replica {
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        let addr = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("the replica exited:\n{}", seen.join("\n")))
                .unwrap();
            if let Some(rest) = line.strip_prefix("healthcode: listening on ") {
                break rest.split(',').next().unwrap().to_string();
            }
            seen.push(line);
        };
        // Keep reading so that the replica never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Replica { child, addr }
    }

    /// SIGKILL: no drain, connections reset, calls in flight lost.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `loadtest run` over `servers`, kills `victim` (one of them) once the run is under way,
/// and returns the report and what loadtest logged.
fn run_and_kill(data: &Data, method: &str, servers: &[String], victim: Replica) -> (Value, String) {
    let mut lt = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["run", "--method", method, "--batch", "20"])
        .args(["--server", &servers.join(",")])
        .args(["--token", QUERY_TOKEN, "--ids", s(&data.path("feeds"))])
        .args([
            "--warmup",
            "0s",
            "--duration",
            "5s",
            "--as-of",
            "2022-05-10",
        ])
        .args(["--connections", "2", "--concurrency", "8", "--threads", "2"])
        .args(["--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = BufReader::new(lt.stderr.take().unwrap());
    let log = std::thread::spawn(move || {
        let mut all = String::new();
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // The pool is described just before the load starts.
    loop {
        let line = rx.recv().expect("loadtest describes its id pool");
        if line.contains("known ids from") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(lt.try_wait().unwrap().is_none(), "the run is still going");
    victim.kill();
    let out = lt.wait_with_output().unwrap();
    let log = log.join().unwrap();
    assert!(out.status.success(), "loadtest failed:\n{log}");
    (serde_json::from_slice(&out.stdout).unwrap(), log)
}

#[test]
fn a_replica_killed_under_load_costs_no_failed_request_after_retries() {
    let data = Data::new(3_000);
    // The writer killed under unary calls, then a follower under batches.
    for (method, kill_writer) in [("unary", true), ("batch", false)] {
        let writer = data.writer();
        let follower = data.follower();
        let servers = [
            format!("http://{}", writer.addr),
            format!("http://{}", follower.addr),
        ];
        let (victim, survivor) = if kill_writer {
            (writer, follower)
        } else {
            (follower, writer)
        };
        let (report, log) = run_and_kill(&data, method, &servers, victim);
        let hc = &report["healthcode"];
        assert_eq!(
            hc["errors"].as_object().unwrap().len(),
            0,
            "{method}: failed requests: {hc}\n{log}"
        );
        assert!(hc["requests"].as_u64().unwrap() > 0, "{method}: {hc}");
        assert_eq!(
            hc["answers"]["surprises"].as_u64(),
            Some(0),
            "{method}: {hc}"
        );
        // The kill cost calls in flight or sent to the dead replica: they were retried.
        let retried: u64 = hc["retried"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert!(retried > 0, "{method}: nothing was retried: {hc}\n{log}");
        assert!(
            log.contains("out of the balancer"),
            "{method}: the dead replica was never left out:\n{log}"
        );
        eprintln!(
            "{method}, the {} killed:\n{log}",
            if kill_writer { "writer" } else { "follower" }
        );
        drop(survivor);
    }
}
