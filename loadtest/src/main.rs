//! `loadtest`: drives a running healthcode server over gRPC (closed or open loop), measures it
//! against a ceiling server of the same stack (beside a run, or served alone), sweeps offered
//! rates, and exports precomputed answers for the Redis comparison (`loadtest/redis-compare.sh`).

mod alarm;
mod balance;
mod ceiling;
mod chart;
mod drive;
mod ids;
mod report;
mod scrape;
mod wire;

/// mimalloc, as the server: the generator allocates per request and should take little CPU.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use healthcode::proto;
use prost::Message as _;

use drive::{Live, Method, Plan};
use ids::{Kind, Mix, Pool};
use report::{Machine, Report, thousands};

#[derive(Parser)]
#[command(
    name = "loadtest",
    about = "Load-test a running healthcode server over gRPC",
    after_help = "With no --ids and no token, the demo's feeds and query token (in the healthcode home) are used: start `healthcode serve --demo`, then run `loadtest run --ceiling`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One run (closed loop, or open loop with --rate); --ceiling adds the same run against a
    /// constant-answer server of the same gRPC stack and prints the ratio.
    Run {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        load: Load,
        #[command(flatten)]
        opts: RunOpts,
        #[command(flatten)]
        out: Output,
    },
    /// Open-loop runs at several offered rates: given, or as fractions of the peak that a
    /// closed-loop run measures first; reports latency against offered rate.
    Sweep {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        load: Load,
        /// Offered rates, requests per second (e.g. 5000,10000,20000).
        #[arg(long, value_delimiter = ',', conflicts_with = "fractions")]
        rates: Vec<f64>,
        /// Fractions of the closed-loop peak (e.g. 0.25,0.5,0.75).
        #[arg(long, value_delimiter = ',', default_value = "0.25,0.5,0.75,0.9")]
        fractions: Vec<f64>,
        #[command(flatten)]
        out: Output,
    },
    /// Serves the ceiling on its own (a process of its own, as healthcode is) until interrupted:
    /// its constant answer is the server's answer for the pool's first known id. `loadtest run
    /// --server` it like any server.
    Ceiling {
        #[command(flatten)]
        target: Target,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50052")]
        listen: SocketAddr,
        /// `as_of` of the sampled answer, YYYY-MM-DD (default: the server's today).
        #[arg(long, default_value = "")]
        as_of: String,
    },
    /// Writes the server's answers for the first N known ids as Redis `SET a:<n> <answer>`
    /// commands (the Redis protocol, for `redis-cli --pipe`): what a precomputing service stores.
    Answers {
        #[command(flatten)]
        target: Target,
        /// How many ids.
        #[arg(long, default_value_t = 1_000_000)]
        keys: usize,
        /// Output file (`-`: standard output).
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
}

/// What `run` adds to the load: open loop, the ceiling beside, rounds, the server's own view.
#[derive(Args, Clone)]
struct RunOpts {
    /// Open loop: requests (stream: messages) per second over all connections.
    #[arg(long)]
    rate: Option<f64>,
    /// Also run the same load against the ceiling server and report the ratio.
    #[arg(long)]
    ceiling: bool,
    /// The ceiling server is the one already serving at this address (`loadtest ceiling`,
    /// say pinned to the server's core) rather than one started in this process; implies
    /// --ceiling.
    #[arg(long, value_name = "ADDR")]
    ceiling_server: Option<String>,
    /// Runs of each target, alternating healthcode and the ceiling; figures are over all.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// The server's metrics (`healthcode serve --metrics ADDR`: http://ADDR/metrics), scraped
    /// as the measured window opens and closes: the report adds the calls the server counted
    /// by code and the latency of those it answered OK, timed by the server.
    #[arg(long, value_name = "URL")]
    server_metrics: Option<String>,
}

/// Which server, with which credentials and ids.
#[derive(Args, Clone)]
struct Target {
    /// The server. Repeat it, or separate addresses by commas, to spread the load over replicas:
    /// every connection is then balanced over all of them, and a replica that stops answering
    /// its health check is left out until it answers again.
    #[arg(
        long = "server",
        value_name = "ADDR",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:50051"
    )]
    servers: Vec<String>,
    /// Bearer token (default: $HEALTHCODE_TOKEN, else the demo's query token).
    #[arg(long)]
    token: Option<String>,
    /// Tokens file (`ROLE NAME TOKEN` lines): its first query token.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Document numbers: a `gen` feed directory (its bindings.csv) or a file of ids
    /// (default: the demo's feeds).
    #[arg(long)]
    ids: Option<PathBuf>,
    /// Most distinct known ids read.
    #[arg(long, default_value_t = 2_000_000)]
    max_ids: usize,
    /// Shares of known, unknown and invalid ids, in percent.
    #[arg(long, default_value = "90,9,1")]
    mix: Mix,
    /// Ids in the shuffled pool the workers walk.
    #[arg(long, default_value_t = 1 << 20)]
    pool: usize,
    /// Seed of the pool.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The shape of the load.
#[derive(Args, Clone)]
struct Load {
    /// The RPC.
    #[arg(long, value_enum, default_value = "unary")]
    method: Method,
    /// Ids per GetCodes call.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Concurrent requests (or streams) per connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Stream messages in flight per stream (closed loop).
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Warm-up before measuring (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Measured time (e.g. 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Measured requests instead of a duration.
    #[arg(long)]
    requests: Option<u64>,
    /// `as_of` of every request, YYYY-MM-DD (default: the server's today).
    #[arg(long, default_value = "")]
    as_of: String,
    /// Open loop: most requests outstanding before the generator counts itself overloaded.
    #[arg(long, default_value_t = 100_000)]
    max_in_flight: u64,
    /// Decode every field of every answer, as an app would (default: only colour, `known` and
    /// validity, so that the generator leaves the CPU to the server).
    #[arg(long)]
    full_decode: bool,
    /// Deadline of each GetCode/GetCodes call, sent as grpc-timeout and kept by the client (e.g.
    /// 500ms): a later answer is DEADLINE_EXCEEDED, so "answered" is the goodput an app sees.
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Worker threads of the load generator (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// Times a GetCode or GetCodes call that fails with UNAVAILABLE or a connection error is
    /// sent again, after 10, 20, 40… ms (over replicas: to whichever the balancer picks, the
    /// failed one left out once its health check fails). Queries are reads, so this is safe;
    /// streams are not retried.
    #[arg(long, default_value_t = 4)]
    retries: u32,
}

/// Where results go.
#[derive(Args, Clone)]
struct Output {
    /// Print the results as JSON on standard output (the text goes to standard error).
    #[arg(long)]
    json: bool,
    /// Draw a PNG chart of the latencies.
    #[arg(long)]
    chart: Option<PathBuf>,
}

/// `10s`, `500ms`, `2m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 10s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("{s:?}: unit {unit:?}: expected ms, s or m")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("{s:?}: expected a non-negative duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl Target {
    /// The demo directory in the healthcode home.
    fn demo_dir() -> Option<PathBuf> {
        healthcode::key::Key::home_dir()
            .ok()
            .map(|h| h.join("demo"))
    }

    /// The token to send.
    fn token(&self) -> anyhow::Result<Option<String>> {
        if let Some(t) = &self.token {
            return Ok(Some(t.clone()));
        }
        if let Some(p) = &self.tokens {
            return first_query_token(p).map(Some);
        }
        if let Ok(t) = std::env::var("HEALTHCODE_TOKEN") {
            return Ok(Some(t));
        }
        Ok(Self::demo_dir().and_then(|d| first_query_token(&d.join("tokens")).ok()))
    }

    /// The token and the pool of ids a run sends.
    fn prepare(&self) -> anyhow::Result<(Option<String>, Arc<Pool>)> {
        let token = self.token()?;
        let known = self.known()?;
        let pool = Pool::new(&known, self.mix, self.pool, self.seed);
        pool.describe();
        Ok((token, Arc::new(pool)))
    }

    /// The known ids.
    fn known(&self) -> anyhow::Result<Vec<String>> {
        let path = match &self.ids {
            Some(p) => p.clone(),
            None => {
                let d = Self::demo_dir().context("no healthcode home: pass --ids")?;
                let feeds = d.join("feeds");
                if !feeds.join("bindings.csv").exists() {
                    bail!(
                        "no --ids given and no demo data set in {}: start `healthcode serve --demo` once, or pass --ids FEED_DIR",
                        d.display()
                    );
                }
                feeds
            }
        };
        let t = Instant::now();
        let ids = ids::read_known(&path, self.max_ids)?;
        eprintln!(
            "loadtest: {} known ids from {} in {:.1?}",
            thousands(ids.len() as f64),
            path.display(),
            t.elapsed()
        );
        Ok(ids)
    }
}

/// The first `query` token of a tokens file.
fn first_query_token(path: &std::path::Path) -> anyhow::Result<String> {
    healthcode::serve::auth::first_token(path, "query").map_err(anyhow::Error::msg)
}

impl Load {
    fn plan(&self, rate: Option<f64>) -> anyhow::Result<Plan> {
        if self.connections == 0 || self.concurrency == 0 {
            bail!("--connections and --concurrency must be at least 1");
        }
        if self.method == Method::Batch && !(1..=10_000).contains(&self.batch) {
            bail!(
                "--batch {}: a GetCodes call carries 1 to 10,000 ids",
                self.batch
            );
        }
        if let Some(r) = rate
            && !(r.is_finite() && r > 0.0)
        {
            bail!("--rate {r}: expected a positive number of requests per second");
        }
        Ok(Plan {
            method: self.method,
            batch: self.batch,
            connections: self.connections,
            concurrency: self.concurrency,
            window: self.window,
            warmup: self.warmup,
            duration: self.duration,
            requests: self.requests,
            rate,
            as_of: self.as_of.clone(),
            max_in_flight: self.max_in_flight,
            timeout: self.timeout,
            retries: self.retries,
        })
    }

    fn runtime(&self) -> anyhow::Result<tokio::runtime::Runtime> {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if let Some(t) = self.threads {
            b.worker_threads(t.max(1));
        }
        Ok(b.enable_all().thread_name("loadtest").build()?)
    }
}

/// Shows a live progress line on a terminal while a run goes on.
fn progress(label: String, live: Arc<Live>, total: Duration) -> impl FnOnce() {
    let bar = indicatif::ProgressBar::new(total.as_millis() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t = {
        let (bar, stop) = (bar.clone(), stop.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut last = (start, 0u64);
            while !stop.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let now = Instant::now();
                let n = live.requests.load(Relaxed);
                let rate = (n - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-9);
                last = (now, n);
                bar.set_position((now - start).as_millis() as u64);
                bar.set_message(format!(
                    "{} requests/s, {} answered, {} errors",
                    thousands(rate),
                    thousands(n as f64),
                    live.errors.load(Relaxed)
                ));
            }
        })
    };
    move || {
        stop.store(true, Relaxed);
        let _ = t.join();
        bar.finish_and_clear();
    }
}

/// Where a run's calls go, and how.
struct Dial<'a> {
    /// The target's name on the progress line.
    target: &'a str,
    servers: &'a [String],
    token: Option<&'a str>,
    /// Decode every field of every answer.
    full: bool,
    /// The target's metrics, scraped as the measured window opens and closes.
    metrics: Option<&'a str>,
}

/// The scrapes of the target's metrics as a run's measured window opened and closed.
type Scrapes = (scrape::Scrape, scrape::Scrape);

/// Connects `plan.connections` clients to `dial.servers` (each balanced over all of them when
/// there are several) and runs `plan`, scraping `dial.metrics` around the measured window.
fn measure(
    rt: &tokio::runtime::Runtime,
    dial: &Dial,
    plan: &Plan,
    pool: &Arc<Pool>,
) -> anyhow::Result<(drive::Outcome, Option<Scrapes>)> {
    let Dial {
        target,
        servers,
        token,
        full,
        metrics,
    } = *dial;
    let live = Arc::new(Live::default());
    let (clients, replicas) = rt.block_on(async {
        let mut v = Vec::new();
        if let [server] = servers {
            for _ in 0..plan.connections {
                v.push(drive::connect(server, token, full).await?);
            }
            return anyhow::Ok((v, None));
        }
        let endpoints = servers
            .iter()
            .map(|s| drive::endpoint(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (channels, replicas) =
            balance::balanced(endpoints, plan.connections, live.failing.clone());
        let auth = drive::auth(token)?;
        for c in channels {
            v.push(wire::Conn::new(c, auth.clone(), full));
        }
        anyhow::Ok((v, Some(replicas)))
    })?;
    let total = plan.warmup + plan.duration;
    // The window opens when the warm-up ends: the opening scrape waits for it on a thread of its
    // own; without a warm-up it is taken now, before the first call.
    type Opening = Box<dyn FnOnce() -> anyhow::Result<scrape::Scrape>>;
    let opening = metrics
        .map(|url| -> anyhow::Result<Opening> {
            let method = plan.method;
            if plan.warmup.is_zero() {
                let s = scrape::Scrape::take(url, method)?;
                return Ok(Box::new(move || Ok(s)));
            }
            let (url, warmup) = (url.to_string(), plan.warmup);
            let h = std::thread::spawn(move || {
                std::thread::sleep(warmup);
                scrape::Scrape::take(&url, method)
            });
            Ok(Box::new(move || {
                h.join().expect("the scraping thread does not panic")
            }))
        })
        .transpose()?;
    let done = progress(target.to_string(), live.clone(), total);
    let outcome = rt.block_on(drive::run(plan.clone(), clients, pool.clone(), live));
    done();
    drop(replicas);
    let outcome = outcome?;
    let scrapes = match (metrics, opening) {
        (Some(url), Some(opened)) => Some((opened()?, scrape::Scrape::take(url, plan.method)?)),
        _ => None,
    };
    Ok((outcome, scrapes))
}

/// Starts the ceiling server on `listen`, its constant answer the one `server` gives the pool's
/// first known id.
fn start_ceiling(
    rt: &tokio::runtime::Runtime,
    server: &str,
    token: Option<&str>,
    pool: &Pool,
    as_of: &str,
    listen: SocketAddr,
) -> anyhow::Result<ceiling::Ceiling> {
    let id = pool
        .iter()
        .find(|(_, k)| *k == Kind::Known)
        .map(|(id, _)| id.to_owned())
        .context("the pool holds no known id")?;
    let answer = rt.block_on(async {
        let mut c = drive::client(server, token).await?;
        let r = c
            .get_code(proto::CodeRequest {
                id_number: id,
                as_of: as_of.to_string(),
            })
            .await
            .map_err(|s| anyhow::anyhow!("{:?}: {}", s.code(), s.message()))?;
        anyhow::Ok(r.into_inner())
    })?;
    ceiling::start(answer, token, listen)
}

/// `loadtest ceiling`: the ceiling server in a process of its own, until Ctrl-C.
fn serve_ceiling(target: Target, listen: SocketAddr, as_of: &str) -> anyhow::Result<bool> {
    let (token, pool) = target.prepare()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let c = start_ceiling(
        &rt,
        &target.servers[0],
        token.as_deref(),
        &pool,
        as_of,
        listen,
    )?;
    eprintln!("loadtest: ceiling serving on {} (Ctrl-C stops it)", c.addr);
    rt.block_on(tokio::signal::ctrl_c())?;
    Ok(true)
}

fn emit(out: &Output, text: &str, json: serde_json::Value) -> anyhow::Result<()> {
    if out.json {
        eprint!("{text}");
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{text}");
    }
    Ok(())
}

fn run(target: Target, load: Load, opts: RunOpts, out: Output) -> anyhow::Result<bool> {
    let RunOpts {
        rate,
        ceiling: with_ceiling,
        ceiling_server: ceiling_at,
        rounds,
        server_metrics,
    } = opts;
    let plan = load.plan(rate)?;
    if let Some(url) = &server_metrics {
        // A wrong address is found now, not after the run.
        scrape::Scrape::take(url, plan.method)?;
    }
    let (token, pool) = target.prepare()?;
    let rt = load.runtime()?;
    let mut machine = Machine::start();
    // The ceiling server (and the answer it repeats) lives across the rounds.
    let ceiling_server = if with_ceiling && ceiling_at.is_none() {
        Some(start_ceiling(
            &rt,
            &target.servers[0],
            token.as_deref(),
            &pool,
            &plan.as_of,
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )?)
    } else {
        None
    };
    let ceiling_addr = ceiling_at.or_else(|| {
        ceiling_server
            .as_ref()
            .map(|c| format!("http://{}", c.addr))
    });
    // Rounds alternate healthcode and the ceiling, so that a change in the machine's load hits
    // both sides alike; each side's rounds are summed.
    let mut hc_all: Option<drive::Outcome> = None;
    let mut ceiling_all: Option<drive::Outcome> = None;
    let mut server_view = None;
    for round in 0..rounds.max(1) {
        if rounds > 1 {
            eprintln!("loadtest: round {} of {rounds}", round + 1);
        }
        let dial = Dial {
            target: "healthcode",
            servers: &target.servers,
            token: token.as_deref(),
            full: load.full_decode,
            metrics: server_metrics.as_deref(),
        };
        let (o, scrapes) = measure(&rt, &dial, &plan, &pool)?;
        drive::Outcome::add(&mut hc_all, o);
        if let Some((before, after)) = scrapes {
            server_view
                .get_or_insert_with(scrape::ServerView::default)
                .add(&before, &after);
        }
        if let Some(addr) = &ceiling_addr {
            let dial = Dial {
                target: "ceiling",
                servers: std::slice::from_ref(addr),
                metrics: None,
                ..dial
            };
            let (o, _) = measure(&rt, &dial, &plan, &pool)?;
            drive::Outcome::add(&mut ceiling_all, o);
        }
    }
    drop(ceiling_server);
    let mut hc = Report::new(
        "healthcode",
        &target.servers.join(","),
        &plan,
        &hc_all.expect("one round at least"),
    );
    hc.server_view = server_view;
    let ceiling = ceiling_all
        .map(|o| Report::new("ceiling", ceiling_addr.as_deref().unwrap_or(""), &plan, &o));
    machine.finish();
    let mut text = hc.text();
    let mut ratio = None;
    if let Some(c) = &ceiling {
        text.push_str(&c.text());
        let r = hc.requests_per_s / c.requests_per_s.max(1e-9);
        ratio = Some(r);
        text.push_str(&format!(
            "healthcode / ceiling: {:.1}% of the requests/s the gRPC stack itself allows here\n",
            100.0 * r
        ));
    }
    text.push_str(&machine.text());
    if let Some(p) = &out.chart {
        let mut series = vec![&hc];
        series.extend(ceiling.as_ref());
        chart::percentiles(
            p,
            &format!("{} latency by percentile", hc.method_label()),
            &series,
        )?;
        text.push_str(&format!("chart: {}\n", p.display()));
    }
    let ok = hc.failed() == 0 && ceiling.as_ref().is_none_or(|c| c.failed() == 0);
    emit(
        &out,
        &text,
        serde_json::json!({
            "healthcode": hc,
            "ceiling": ceiling,
            "ratio_to_ceiling": ratio,
            "machine": machine,
        }),
    )?;
    Ok(ok)
}

fn sweep(
    target: Target,
    load: Load,
    rates: Vec<f64>,
    fractions: Vec<f64>,
    out: Output,
) -> anyhow::Result<bool> {
    let (token, pool) = target.prepare()?;
    let rt = load.runtime()?;
    let mut machine = Machine::start();
    let mut text = String::new();
    let mut peak = None;
    // One run against healthcode at `rate` (None: closed loop).
    let at = |rate: Option<f64>| -> anyhow::Result<Report> {
        let plan = load.plan(rate)?;
        let dial = Dial {
            target: "healthcode",
            servers: &target.servers,
            token: token.as_deref(),
            full: load.full_decode,
            metrics: None,
        };
        let (o, _) = measure(&rt, &dial, &plan, &pool)?;
        Ok(Report::new(
            "healthcode",
            &target.servers.join(","),
            &plan,
            &o,
        ))
    };
    let rates = if rates.is_empty() {
        let r = at(None)?;
        text.push_str(&r.text());
        eprint!("{}", r.text());
        let p = r.requests_per_s;
        peak = Some(r);
        fractions.iter().map(|f| f * p).collect()
    } else {
        rates
    };
    let mut runs = Vec::new();
    for rate in rates {
        let r = at(Some(rate))?;
        eprint!("{}", r.text());
        runs.push(r);
    }
    machine.finish();
    text.push_str(
        "offered/s   answered/s   shed/s     p50        p99        p99.9      max        errors\n",
    );
    for r in &runs {
        text.push_str(&format!(
            "{:<11} {:<12} {:<10} {:<10.3} {:<10.3} {:<10.3} {:<10.3} {}\n",
            thousands(r.offered_rate.unwrap_or(0.0)),
            thousands(r.requests_per_s),
            thousands(r.shed_per_s),
            r.latency_us.p50 / 1000.0,
            r.latency_us.p99 / 1000.0,
            r.latency_us.p999 / 1000.0,
            r.latency_us.max / 1000.0,
            r.failed()
        ));
    }
    text.push_str(
        "(latencies in ms of answered requests, measured from each request's intended send time)\n",
    );
    text.push_str(&machine.text());
    if let Some(p) = &out.chart {
        let title = format!(
            "{} latency against offered rate",
            runs.first().map_or(String::new(), |r| r.method_label())
        );
        chart::sweep(p, &title, &runs)?;
        text.push_str(&format!("chart: {}\n", p.display()));
    }
    let ok = runs.iter().chain(peak.as_ref()).all(|r| r.failed() == 0);
    emit(
        &out,
        &text,
        serde_json::json!({ "peak": peak, "runs": runs, "machine": machine }),
    )?;
    Ok(ok)
}

fn answers(target: Target, keys: usize, out: PathBuf) -> anyhow::Result<bool> {
    let token = target.token()?;
    let known = ids::read_known(
        &match &target.ids {
            Some(p) => p.clone(),
            None => Target::demo_dir()
                .context("no healthcode home: pass --ids")?
                .join("feeds"),
        },
        keys,
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut w: Box<dyn std::io::Write> = if out.as_os_str() == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?,
        ))
    };
    let mut n = 0usize;
    rt.block_on(async {
        let mut c = drive::client(&target.servers[0], token.as_deref()).await?;
        for chunk in known.chunks(1000) {
            let r = c
                .get_codes(proto::BatchCodeRequest {
                    id_numbers: chunk.to_vec(),
                    as_of: String::new(),
                })
                .await
                .map_err(|s| anyhow::anyhow!("{:?}: {}", s.code(), s.message()))?;
            for res in r.into_inner().results {
                let value = res.code.unwrap_or_default().encode_to_vec();
                let key = format!("a:{n:012}");
                write!(
                    w,
                    "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n",
                    key.len(),
                    value.len()
                )?;
                w.write_all(&value)?;
                w.write_all(b"\r\n")?;
                n += 1;
            }
        }
        anyhow::Ok(())
    })?;
    w.flush()?;
    eprintln!(
        "loadtest: {n} answers written as keys a:000000000000 … a:{:012}",
        n.saturating_sub(1)
    );
    Ok(true)
}

impl Report {
    /// The RPC in words, for chart titles.
    fn method_label(&self) -> String {
        match self.method {
            Method::Unary => "GetCode".into(),
            Method::Batch => format!("GetCodes ×{}", self.ids_per_request),
            Method::Stream => "StreamCodes".into(),
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Run {
            target,
            load,
            opts,
            out,
        } => run(target, load, opts, out),
        Command::Sweep {
            target,
            load,
            rates,
            fractions,
            out,
        } => sweep(target, load, rates, fractions, out),
        Command::Ceiling {
            target,
            listen,
            as_of,
        } => serve_ceiling(target, listen, &as_of),
        Command::Answers { target, keys, out } => answers(target, keys, out),
    };
    match r {
        Ok(true) => std::process::ExitCode::SUCCESS,
        // Requests failed: the figures are printed, the exit status says so.
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
