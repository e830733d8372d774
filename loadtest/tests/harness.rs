//! The harness against a real server: every method answers exactly the requests asked for with
//! the mix of ids made, the ceiling runs beside it, and an open-loop run charges a server stall
//! to the requests that were meant to go out during it (no coordinated omission).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use healthcode::domain::{Day, Policy, RegionCode};
use healthcode::key::Key;
use healthcode::pipeline::{self, BuildOptions};
use healthcode::serve::{self, State, Tokens};
use healthcode::synth::{self, GenConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "loadtest-query-token-0123456789";

/// A generated data set of 3,000 persons, built and served in this process.
struct World {
    _dir: tempfile::TempDir,
    feeds: std::path::PathBuf,
    addr: SocketAddr,
    /// The server's Prometheus endpoint (`http://ADDR/metrics`).
    metrics: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds");
    let cfg = GenConfig {
        persons: 3_000,
        seed: 5,
        today: Day::parse(synth::DEFAULT_TODAY).unwrap(),
        city: RegionCode::parse(synth::DEFAULT_CITY).unwrap(),
    };
    synth::generate(&cfg, &feeds, true, &mut |_| {}).unwrap();
    let key = Key::from_words(3, 4);
    let index = dir.path().join("index.hcx");
    pipeline::build_index(
        &feeds,
        &index,
        &key,
        &BuildOptions::default(),
        &mut std::io::sink(),
        &mut |_| {},
    )
    .unwrap();
    let today = Day::parse(synth::DEFAULT_TODAY).unwrap();
    let state = Arc::new(State::new(
        serve::open_index(&index, &key).unwrap(),
        index,
        key,
        Policy::PrecisionAware,
        Some(today),
    ));
    let tokens = Tokens::parse(&format!("query app {TOKEN}\n"), "test").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, metrics) = rt.block_on(async {
        let options = serve::Options::default();
        let recorder = serve::Metrics::new(state.clone(), options.limits.clone());
        let (listener, metrics) = serve::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        tokio::spawn(serve::metrics_http::serve(
            listener,
            recorder.clone(),
            std::future::pending(),
        ));
        let (listener, addr) = serve::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let options = serve::Options {
            metrics: Some(recorder),
            ..options
        };
        tokio::spawn(serve::serve_with(
            state,
            tokens,
            listener,
            std::future::pending(),
            options,
        ));
        (addr, metrics)
    });
    World {
        _dir: dir,
        feeds,
        addr,
        metrics,
        _rt: rt,
    }
}

/// Runs `loadtest` with `args` against `server`; its JSON.
fn loadtest(server: &str, feeds: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(args)
        .args([
            "--server",
            server,
            "--token",
            TOKEN,
            "--json",
            "--threads",
            "2",
        ])
        .arg("--ids")
        .arg(feeds)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadtest {args:?} failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

/// `loadtest run` of `requests` measured requests, no warm-up, and `args`, against `server`.
fn run_requests(server: &str, feeds: &Path, requests: &str, args: &[&str]) -> Value {
    let mut all = vec!["run", "--requests", requests, "--warmup", "0s"];
    all.extend_from_slice(args);
    loadtest(server, feeds, &all)
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

#[test]
fn every_method_answers_the_requests_asked_for_with_the_mix_made() {
    let w = world();
    let server = format!("http://{}", w.addr);
    for (method, per) in [("unary", 1), ("batch", 50), ("stream", 1)] {
        let r = loadtest(
            &server,
            &w.feeds,
            &[
                "run",
                "--method",
                method,
                "--batch",
                "50",
                "--requests",
                "400",
                "--warmup",
                "0s",
                "--mix",
                "80,15,5",
                "--connections",
                "2",
                "--concurrency",
                "3",
            ],
        );
        let hc = &r["healthcode"];
        assert_eq!(count(&hc["requests"]), 400, "{method}: {hc}");
        assert_eq!(count(&hc["persons"]), 400 * per, "{method}: {hc}");
        assert_eq!(hc["errors"].as_object().unwrap().len(), 0, "{method}: {hc}");
        let a = &hc["answers"];
        let (k, u, i) = (
            count(&a["known"]),
            count(&a["unknown"]),
            count(&a["invalid"]),
        );
        assert_eq!(k + u + i, 400 * per, "{method}: {a}");
        // Every kind was sent and answered as what it was made as.
        assert!(k > 0 && u > 0 && i > 0, "{method}: {a}");
        assert_eq!(count(&a["surprises"]), 0, "{method}: {a}");
        assert!(r["ceiling"].is_null());
    }
}

#[test]
fn the_servers_own_count_and_timing_of_the_run_are_reported_beside_the_clients() {
    let w = world();
    let server = format!("http://{}", w.addr);
    let metrics = format!("http://{}/metrics", w.metrics);
    // Calls before the run are not the run's.
    run_requests(&server, &w.feeds, "100", &[]);
    for (method, requests) in [("unary", 300), ("batch", 40)] {
        let r = run_requests(
            &server,
            &w.feeds,
            &requests.to_string(),
            &[
                "--method",
                method,
                "--batch",
                "20",
                "--server-metrics",
                &metrics,
            ],
        );
        let hc = &r["healthcode"];
        let v = &hc["server_view"];
        let calls = v["calls"].as_object().unwrap();
        // The server counted exactly the run's calls (a unary call for an invalid id is
        // INVALID_ARGUMENT, a batch answers it in place).
        assert_eq!(calls.values().map(count).sum::<u64>(), requests, "{v}");
        let invalid = if method == "unary" {
            count(&hc["answers"]["invalid"])
        } else {
            0
        };
        assert_eq!(count(&calls["OK"]), requests - invalid, "{v}");
        if invalid > 0 {
            assert_eq!(count(&calls["INVALID_ARGUMENT"]), invalid, "{v}");
        }
        // Each percentile is a bucket bound, and they do not decrease.
        let l = &v["ok_latency_us"];
        let p: Vec<f64> = ["p50", "p90", "p99", "p999"]
            .iter()
            .map(|q| l[q].as_f64().unwrap_or_else(|| panic!("{q} in {v}")))
            .collect();
        assert!(p[0] >= 10.0 && p.windows(2).all(|w| w[0] <= w[1]), "{v}");
        assert!(v["ok_per_s"].as_f64().unwrap() > 0.0, "{v}");
    }
    // Without the option the report has no server view.
    let r = run_requests(&server, &w.feeds, "10", &[]);
    assert!(r["healthcode"].get("server_view").is_none());
}

#[test]
fn the_ceiling_runs_beside_in_alternating_rounds_and_the_ratio_is_reported() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart.png");
    let r = run_requests(
        &format!("http://{}", w.addr),
        &w.feeds,
        "300",
        &["--ceiling", "--chart", chart.to_str().unwrap()],
    );
    assert_eq!(count(&r["ceiling"]["requests"]), 300);
    let ratio = r["ratio_to_ceiling"].as_f64().unwrap();
    let hc = r["healthcode"]["requests_per_s"].as_f64().unwrap();
    let ceiling = r["ceiling"]["requests_per_s"].as_f64().unwrap();
    assert!((ratio - hc / ceiling).abs() < 1e-9);
    let png = std::fs::read(&chart).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn the_ceiling_serves_as_a_process_of_its_own_until_interrupted() {
    use std::io::BufRead;
    let w = world();
    let child = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["ceiling", "--listen", "127.0.0.1:0", "--token", TOKEN])
        .arg("--server")
        .arg(format!("http://{}", w.addr))
        .arg("--ids")
        .arg(&w.feeds)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stopped however the test ends.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Stop(child);
    // Its address, from the line that says it serves.
    let mut lines = std::io::BufReader::new(child.0.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("a line naming the address").unwrap();
        if let Some(rest) = line.strip_prefix("loadtest: ceiling serving on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Driven like any server, it answers every request with the known person's answer.
    let r = run_requests(
        &format!("http://{addr}"),
        &w.feeds,
        "200",
        &["--mix", "100,0,0"],
    );
    let hc = &r["healthcode"];
    assert_eq!(count(&hc["requests"]), 200, "{hc}");
    assert_eq!(count(&hc["answers"]["known"]), 200, "{hc}");
    assert_eq!(hc["errors"].as_object().unwrap().len(), 0, "{hc}");
    // Named as a run's ceiling, it is the one compared with (none is started in the run).
    let r = run_requests(
        &format!("http://{}", w.addr),
        &w.feeds,
        "200",
        &["--ceiling-server", &format!("http://{addr}")],
    );
    assert_eq!(r["ceiling"]["server"], format!("http://{addr}"), "{r}");
    assert_eq!(count(&r["ceiling"]["requests"]), 200, "{r}");
    assert!(r["ratio_to_ceiling"].as_f64().unwrap() > 0.0, "{r}");
    // Ctrl-C stops it, successfully.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGINT) }, 0);
    assert!(child.0.wait().unwrap().success());
}

/// Forwards TCP between the harness and the server, holding every byte while `paused`; sends
/// on `accepted` when a connection comes in.
async fn stalling_proxy(
    upstream: SocketAddr,
    paused: Arc<AtomicBool>,
    accepted: std::sync::mpsc::Sender<()>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            let _ = accepted.send(());
            let up = TcpStream::connect(upstream).await.unwrap();
            let (dr, dw) = down.into_split();
            let (ur, uw) = up.into_split();
            tokio::spawn(pump(dr, uw, paused.clone()));
            tokio::spawn(pump(ur, dw, paused.clone()));
        }
    });
    addr
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    paused: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while paused.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[test]
fn an_open_loop_run_charges_a_stall_to_every_request_meant_for_it() {
    let w = world();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let paused = Arc::new(AtomicBool::new(false));
    let (accepted, connected) = std::sync::mpsc::channel();
    let proxy = rt.block_on(stalling_proxy(w.addr, paused.clone(), accepted));
    // 300 requests/s for 2 s after 0.5 s of warm-up (which starts as the harness connects); the
    // server stalls for 600 ms from 1 s into the measured window: about 180 of the 600 measured
    // requests were meant to go out during it, so more than a tenth of them waited at least
    // 300 ms.
    let mut connected = Some(connected);
    for method in ["unary", "stream"] {
        let stall = {
            let paused = paused.clone();
            let connected = connected.take().unwrap();
            std::thread::spawn(move || {
                connected
                    .recv_timeout(Duration::from_secs(120))
                    .expect("the harness connects");
                std::thread::sleep(Duration::from_millis(1_500));
                paused.store(true, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(600));
                paused.store(false, Ordering::Relaxed);
                // Later connections of this run are not the start of another.
                while connected.try_recv().is_ok() {}
                connected
            })
        };
        let r = loadtest(
            &format!("http://{proxy}"),
            &w.feeds,
            &[
                "run",
                "--method",
                method,
                "--rate",
                "300",
                "--duration",
                "2s",
                "--warmup",
                "0.5s",
                "--connections",
                "1",
                "--concurrency",
                "1",
            ],
        );
        connected = Some(stall.join().unwrap());
        let hc = &r["healthcode"];
        assert_eq!(hc["mode"], "open");
        let p90 = hc["latency_us"]["p90"].as_f64().unwrap();
        assert!(
            p90 >= 300_000.0,
            "{method}: p90 {p90} µs: the stall was not charged: {hc}"
        );
        assert_eq!(hc["errors"].as_object().unwrap().len(), 0, "{method}: {hc}");
    }
}

#[test]
fn a_sweep_offers_each_rate_exactly_and_charts_latency_against_it() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("sweep.png");
    let r = loadtest(
        &format!("http://{}", w.addr),
        &w.feeds,
        &[
            "sweep",
            "--rates",
            "200,400",
            "--duration",
            "1s",
            "--warmup",
            "0.2s",
            "--chart",
            chart.to_str().unwrap(),
        ],
    );
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (run, rate) in runs.iter().zip([200.0, 400.0]) {
        assert_eq!(run["mode"], "open");
        assert_eq!(run["offered_rate"].as_f64().unwrap(), rate);
        // Requests are meant for fixed instants: a measured second holds `rate` of them.
        let n = count(&run["requests"]) as f64;
        assert!((n - rate).abs() <= 1.0, "{n} requests at {rate}/s: {run}");
        assert_eq!(run["errors"].as_object().unwrap().len(), 0, "{run}");
    }
    assert!(r["peak"].is_null(), "given rates need no closed-loop peak");
    let png = std::fs::read(&chart).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}
