//! `healthcode serve`: maps an index and serves the gRPC API; `--demo` first generates and builds
//! a demo data set in the healthcode home directory when none exists; `--follow STATE_DIR` serves
//! as a read-only replica of the server that owns STATE_DIR. Plaintext, TLS or mutual TLS;
//! SIGTERM or Ctrl-C drains the calls in flight before the process exits.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use healthcode::domain::{Day, Policy};
use healthcode::index::Index;
use healthcode::key::Key;
use healthcode::overlay::Overlay;
use healthcode::serve::DEFAULT_MAX_STREAMS;
use healthcode::serve::follow::{FollowEvent, Follower};
use healthcode::serve::limits::default_max_in_flight;
use healthcode::serve::{self, Limits, LimitsConfig, Metrics, ServerTls, State, Tokens};
use memmap2::Mmap;

use super::demo;
use super::logging::{self, LogFormat};
use super::serve_config;

/// Arguments of `healthcode serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The index file to serve (default with --demo: the demo index in the healthcode home).
    #[arg(long)]
    pub(super) index: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub(super) listen: SocketAddr,
    /// Fixed query day YYYY-MM-DD (default: today in Beijing; with --demo: the demo data's day).
    #[arg(long)]
    pub(super) today: Option<String>,
    /// Rules policy: precision-aware or city-level.
    #[arg(long, default_value = "precision-aware")]
    pub(super) policy: Policy,
    /// State directory: the live-update log, rebuilt indexes and the record of the index last
    /// swapped in (default: `state` in the healthcode home; with --demo, the demo's own).
    #[arg(long)]
    pub(super) state_dir: Option<PathBuf>,
    /// Serve as a read-only follower of the server that owns this state directory (its writer):
    /// the index its CURRENT names (else --index), and every live write of its log, applied as
    /// it is appended; live writes, reloads and rebuilds are refused with FAILED_PRECONDITION
    /// naming the writer. Waits for the writer to create the log when there is none yet.
    #[arg(long, value_name = "STATE_DIR", conflicts_with_all = ["state_dir", "demo"])]
    pub(super) follow: Option<PathBuf>,
    /// With --follow: how often to look for new live writes and a new index (seconds, or a
    /// number with ms, s or m).
    #[arg(long, default_value = "100ms", value_parser = parse_duration, requires = "follow")]
    pub(super) follow_interval: Duration,
    /// Secret pseudonymisation key (default: `key` in the healthcode home, created on first use).
    #[arg(long)]
    pub(super) key_file: Option<PathBuf>,
    /// Credentials file: lines `ROLE NAME TOKEN` (ROLE is query or admin).
    #[arg(long)]
    pub(super) tokens: Option<PathBuf>,
    /// Serve without credentials (only for a closed test network).
    #[arg(long)]
    pub(super) insecure_no_auth: bool,
    /// Generate, build and serve a demo data set (kept in the healthcode home) when none exists.
    #[arg(long)]
    pub(super) demo: bool,
    /// Persons in the demo data set.
    #[arg(long, default_value_t = 1_000_000)]
    pub(super) demo_persons: u64,
    /// Most query calls in flight (a GetCode or GetCodes call, or a StreamCodes message being
    /// evaluated); beyond it a query is refused at once with RESOURCE_EXHAUSTED. Default: 128 a
    /// core, at most 4096.
    #[arg(long, default_value_t = default_max_in_flight())]
    pub(super) max_in_flight: usize,
    /// Most calls one HTTP/2 connection may have open at once (its SETTINGS_MAX_CONCURRENT_STREAMS):
    /// a client's further calls wait in the client, where they cost this server nothing, instead
    /// of being read here. Default: what the HTTP/2 server announces by itself.
    #[arg(long, default_value_t = DEFAULT_MAX_STREAMS, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) max_streams: u32,
    /// Queueing-time bound (CoDel-style): once the queue has stood for a whole --queue-interval
    /// (a query waited longer than this, and more queries than threads were in flight ever
    /// since), queries that waited longer are refused with RESOURCE_EXHAUSTED before any work;
    /// 0 turns it off.
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    pub(super) queue_target: Duration,
    /// How long the queue must stand above --queue-target before queries are shed by it; also
    /// the longest any query may wait for a thread while the server is crowded.
    #[arg(long, default_value = "30ms", value_parser = parse_duration)]
    pub(super) queue_interval: Duration,
    /// Persons per second each query caller (token name) may look up, with a burst of one
    /// second's worth; beyond it RESOURCE_EXHAUSTED with a retry-after-ms hint. Default: no limit.
    #[arg(long, value_name = "PERSONS_PER_SEC")]
    pub(super) rate_limit: Option<NonZeroU32>,
    /// A caller's own limit instead of --rate-limit (0: no limit); repeatable.
    #[arg(long, value_name = "NAME=PERSONS_PER_SEC", value_parser = parse_rate_for)]
    pub(super) rate_limit_for: Vec<(String, u32)>,
    /// Serve over TLS with this certificate chain (PEM; needs --tls-key).
    #[arg(long, value_name = "FILE")]
    pub(super) tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    pub(super) tls_key: Option<PathBuf>,
    /// Mutual TLS: clients must present a certificate signed by this CA (PEM; needs TLS).
    #[arg(long, value_name = "FILE")]
    pub(super) client_ca: Option<PathBuf>,
    /// On SIGTERM or Ctrl-C, how long the calls in flight may take to finish before they are
    /// cut (seconds, or a number with ms, s or m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(super) drain_timeout: Duration,
    /// Serve Prometheus metrics over HTTP at http://ADDR/metrics (e.g. 127.0.0.1:9100; port 0
    /// picks a free one). Default: no metrics are kept.
    #[arg(long, value_name = "ADDR")]
    pub(super) metrics: Option<SocketAddr>,
    /// How the log on stderr is written: text for a person at a terminal, json for a log
    /// collector (one object per line). The level comes from RUST_LOG (default info).
    #[arg(long, value_enum, default_value = "text")]
    pub(super) log_format: LogFormat,
    /// Read settings from this TOML file: the keys are these flags without the leading --
    /// (max-in-flight = 512); a flag given too wins. See docs/config.md.
    #[arg(long, value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
    /// Print the effective settings as TOML, each with where it came from (default, file or
    /// flag), and exit without serving.
    #[arg(long)]
    pub(super) print_config: bool,
}

/// `NAME=PERSONS_PER_SEC` of `--rate-limit-for`.
fn parse_rate_for(s: &str) -> Result<(String, u32), String> {
    let (name, rate) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=PERSONS_PER_SEC, e.g. app=500"))?;
    let rate = rate.trim().parse::<u32>().map_err(|e| {
        format!("{s:?}: persons per second {rate:?}: {e} (a whole number, 0 for no limit)")
    })?;
    if name.trim().is_empty() {
        return Err(format!("{s:?}: the token name before '=' is empty"));
    }
    Ok((name.trim().to_string(), rate))
}

/// A duration: `10`, `10s`, `500ms` or `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number of seconds, or a number with ms, s or m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; use ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

/// Runs `healthcode serve`: installs the log, then serves. With `--log-format json` an error
/// that stops the server is a JSON line too.
pub fn run(mut args: ServeArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let resolved = serve_config::apply(&mut args, matches)?;
    if args.print_config {
        print!("{}", serve_config::print(&args, &resolved));
        return Ok(ExitCode::SUCCESS);
    }
    let format = args.log_format;
    let (filter, _) = logging::filter().map_err(anyhow::Error::msg)?;
    logging::init(format, filter);
    match serve(args, &resolved) {
        Err(e) if format == LogFormat::Json => {
            tracing::error!(error = %format!("{e:#}"), "{e:#}");
            Ok(ExitCode::from(2))
        }
        r => r,
    }
}

fn serve(args: ServeArgs, resolved: &serve_config::Resolved) -> anyhow::Result<ExitCode> {
    if let Some(c) = &args.config {
        tracing::info!(
            config = %c.display(),
            "settings from {} (flags given too override it; --print-config shows each)",
            c.display()
        );
    }
    // TLS files first: a bad one is reported before any data is built or opened.
    let tls = ServerTls::from_files(
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        args.client_ca.as_deref(),
    )
    .map_err(resolved.at(&["tls-cert", "tls-key", "client-ca"]))?;
    let key = Key::load_or_default(args.key_file.as_deref()).map_err(resolved.at(&["key-file"]))?;
    let today = args
        .today
        .as_deref()
        .map(Day::parse)
        .transpose()
        .context("--today")?;
    let demo = if args.demo {
        Some(demo::ensure(&key, args.demo_persons)?)
    } else {
        None
    };
    let tokens_path = match &demo {
        Some(d) => Some(args.tokens.clone().unwrap_or(d.tokens.clone())),
        None => args.tokens.clone(),
    };
    let index_arg = args
        .index
        .clone()
        .or(demo.as_ref().map(|d| d.index.clone()));
    if index_arg.is_none() && args.follow.is_none() {
        bail!("--index FILE is required (or --demo to build and serve a demo data set)");
    }
    let tokens = match (&tokens_path, args.insecure_no_auth) {
        (Some(p), _) => Tokens::load(p)
            .map_err(anyhow::Error::msg)
            .map_err(resolved.at(&["tokens"]))?,
        (None, true) => {
            tracing::warn!(
                auth = "none",
                "serving without credentials (--insecure-no-auth)"
            );
            Tokens::disabled()
        }
        (None, false) => bail!(
            "no credentials: pass --tokens FILE (lines `ROLE NAME TOKEN`), or --demo, or --insecure-no-auth on a closed test network"
        ),
    };
    let known = tokens.names();
    if let Some((name, _)) = args
        .rate_limit_for
        .iter()
        .find(|(n, _)| !known.contains(&n.as_str()))
    {
        let e = anyhow::anyhow!(
            "--rate-limit-for {name}=…: no caller is named {name:?} (callers: {}): use a token name of the tokens file",
            known.join(", ")
        );
        return Err(serve_config::placed(e, resolved.rate_for_origin(name)));
    }
    let limits = Arc::new(
        Limits::new(&LimitsConfig {
            max_in_flight: args.max_in_flight,
            rate: args.rate_limit,
            rate_for: args
                .rate_limit_for
                .iter()
                .map(|(n, r)| (n.clone(), NonZeroU32::new(*r)))
                .collect(),
            queue_target: args.queue_target,
            queue_interval: args.queue_interval,
        })
        .map_err(anyhow::Error::msg)?,
    );
    let started = std::time::Instant::now();
    let (overlay, index, index_path) = match &args.follow {
        Some(dir) => open_follower(dir, index_arg.as_deref(), &key, args.follow_interval)?,
        None => {
            let index_path = index_arg.expect("checked above");
            let state_dir = match (&args.state_dir, &demo) {
                (Some(d), _) => d.clone(),
                (None, Some(d)) => d.state.clone(),
                (None, None) => Key::home_dir()?.join("state"),
            };
            open_writer(&state_dir, index_path, &key, resolved)?
        }
    };
    let huge = serve::pages::huge_page_bytes(index.bytes());
    tracing::info!(
        index = %index_path.display(),
        persons = index.persons(),
        data_as_of = %index.data_as_of(),
        bytes = index.len(),
        huge_page_bytes = huge,
        open_ms = started.elapsed().as_millis() as u64,
        home_region = %index.home().map_or_else(String::new, |h| h.to_string()),
        "serving {} ({} persons, data as of {}, home region {}, {:.1} MB{}) opened and verified in {:.2?}",
        index_path.display(),
        index.persons(),
        index.data_as_of(),
        index.home().map_or_else(
            || "none".to_string(),
            |h| match index.region_name(h) {
                "" => h.to_string(),
                name => format!("{name} ({h})"),
            }
        ),
        index.len() as f64 / 1e6,
        huge.map_or(String::new(), |h| format!(
            ", {:.0} % in 2 MiB pages",
            100.0 * h as f64 / index.len() as f64
        )),
        started.elapsed()
    );
    // The demo data describes its own day, not the calendar's: query it as of its data date.
    let today = today.or_else(|| demo.as_ref().map(|_| index.data_as_of()));
    let state = Arc::new(State::with_overlay(
        index,
        index_path.clone(),
        key,
        args.policy,
        today,
        Some(overlay),
    )?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async move {
        let (listener, addr) = serve::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))
            .map_err(resolved.at(&["listen"]))?;
        let signal = shutdown_signal()?;
        let metrics = match args.metrics {
            Some(at) => {
                let (listener, addr) = serve::bind(at)
                    .await
                    .with_context(|| format!("--metrics {at}: listening"))
                    .map_err(resolved.at(&["metrics"]))?;
                let metrics = Metrics::new(state.clone(), limits.clone());
                tokio::spawn(serve::metrics_http::serve(
                    listener,
                    metrics.clone(),
                    std::future::pending(),
                ));
                tracing::info!(
                    metrics_addr = %addr,
                    "metrics at http://{addr}{}",
                    serve::metrics_http::PATH
                );
                Some(metrics)
            }
            None => None,
        };
        if let Some(o) = state.overlay.as_ref().filter(|o| !o.is_follower())
            && let Err(e) = o.announce(&addr.to_string())
        {
            tracing::warn!("could not announce this writer's address in {}: {e}",
                o.dir().display()
            );
        }
        // A follower looks at its writer's state directory from now on; if it cannot go on,
        // it stops serving (drained) and exits 1, for its supervisor to restart it.
        let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel::<String>();
        let _follower = match state.overlay.as_ref().filter(|o| o.is_follower()) {
            Some(o) => {
                tracing::info!("following {} read-only every {:?}: live writes, reloads and rebuilds go to its writer",
                    o.dir().display(),
                    args.follow_interval
                );
                let mut fatal = Some(fatal_tx);
                Some(Follower::spawn(state.clone(), args.follow_interval, move |e| {
                    match e {
                        FollowEvent::Fatal(why) => {
                            tracing::error!("cannot follow any more: {why}");
                            if let Some(tx) = fatal.take() {
                                let _ = tx.send(why);
                            }
                        }
                        e => tracing::info!("{}", describe(&e)),
                    }
                })?)
            }
            None => None,
        };
        let day = state.today.map_or_else(
            || format!("today in Beijing ({})", Day::today_beijing()),
            |d| d.to_string(),
        );
        match &tls {
            Some(t) => tracing::info!(
                tls = if t.client_ca.is_some() { "mutual" } else { "on" },
                "{}",
                t.describe()
            ),
            None => tracing::info!(
                tls = "off",
                "TLS off: plaintext gRPC (--tls-cert and --tls-key to encrypt)"
            ),
        }
        tracing::info!(
            max_in_flight = limits.max_in_flight(),
            max_streams = args.max_streams,
            queue_target_ms = args.queue_target.as_millis() as u64,
            queue_interval_ms = args.queue_interval.as_millis() as u64,
            rate_limit = args.rate_limit.map_or(0, |r| r.get()),
            "at most {} queries in flight ({} calls a connection), {}; rate limit {}",
            limits.max_in_flight(),
            args.max_streams,
            if args.queue_target.is_zero() {
                "no queueing-time bound".to_string()
            } else {
                format!(
                    "shed past {:?} of queueing once the queue stands for {:?}",
                    args.queue_target, args.queue_interval
                )
            },
            args.rate_limit.map_or_else(
                || "none".to_string(),
                |r| format!("{r} persons/s per caller")
            )
        );
        if let Some(p) = &tokens_path {
            tracing::info!(tokens = %p.display(), "credentials from {}", p.display());
        }
        // Last: whoever waits for this line finds everything else said.
        tracing::info!(
            addr = %addr,
            policy = %args.policy,
            query_day = %day,
            "listening on {addr}, policy {}, query day {day}",
            args.policy
        );
        if let Some(d) = &demo {
            // Instructions for the person at the terminal, on stdout rather than in the log:
            // they show whole (synthetic) document numbers, which no log line may.
            println!(
                "Try it from another terminal (the query token is read from {}):",
                d.tokens.display()
            );
            for (id, what) in demo::examples(d, &state) {
                println!("  cargo run --release -- query {id} --server {addr}    # {what}");
            }
        }
        let drain_timeout = args.drain_timeout;
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let failed_in = failed.clone();
        let shutdown = async move {
            let signal = tokio::select! {
                s = signal => s,
                Ok(why) = fatal_rx => {
                    *failed_in.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                    "the follower stopped"
                }
            };
            tracing::info!(
                signal,
                drain_timeout_ms = drain_timeout.as_millis() as u64,
                "{signal}: draining… (health NOT_SERVING, new calls refused, up to {drain_timeout:?} for the calls in flight)"
            );
        };
        let options = serve::Options {
            tls,
            drain_timeout,
            max_streams: args.max_streams,
            limits,
            metrics,
        };
        let stopped = serve::serve_with(state, tokens, listener, shutdown, options).await?;
        if stopped.cut > 0 {
            tracing::warn!(
                cut = stopped.cut,
                in_flight = stopped.in_flight,
                "drain timeout ({drain_timeout:?}): cut {} of {} in-flight requests; stopped",
                stopped.cut,
                stopped.in_flight
            );
        } else {
            tracing::info!(
                in_flight = stopped.in_flight,
                drained_ms = stopped.drained_in.as_millis() as u64,
                "stopped after draining {} in-flight requests in {:.2?}",
                stopped.in_flight,
                stopped.drained_in
            );
        }
        let failed = failed.lock().unwrap_or_else(|p| p.into_inner()).take();
        match failed {
            Some(why) => bail!("stopped following: {why}"),
            None => anyhow::Ok(()),
        }
    });
    // A rebuild still running on a blocking thread is abandoned (its output is written
    // atomically); a live write that was acknowledged is already on disk.
    rt.shutdown_timeout(Duration::from_secs(1));
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Opens the index to serve and the state directory as its writer (its lock, its logs
/// replayed): `index_path`, or the one `CURRENT` records when that one is newer. The index comes
/// first, so that a mistyped `--index` leaves no state directory behind.
fn open_writer(
    state_dir: &Path,
    index_path: PathBuf,
    key: &Key,
    resolved: &serve_config::Resolved,
) -> anyhow::Result<(Overlay, Index<Mmap>, PathBuf)> {
    let mut index = serve::open_index(&index_path, key).map_err(resolved.at(&["index"]))?;
    let (overlay, replay) =
        Overlay::open(state_dir, key.fingerprint()).map_err(resolved.at(&["state-dir"]))?;
    tracing::info!(
        state_dir = %state_dir.display(),
        replayed = replay.entries.len(),
        sequence = overlay.sequence(),
        torn_bytes = replay.torn_bytes,
        "state directory {}: {} live writes replayed (sequence {}){}",
        state_dir.display(),
        replay.entries.len(),
        overlay.sequence(),
        if replay.torn_bytes > 0 {
            format!(
                ", a torn last record of {} bytes cut off (it was never acknowledged)",
                replay.torn_bytes
            )
        } else {
            String::new()
        }
    );
    let mut index_path = index_path;
    // A rebuild or reload since the last start is recorded in the state directory: serve it
    // when it is newer than --index, so that a restart never goes back silently.
    if let Some(cur) = serve::state::read_current(state_dir).filter(|c| *c != index_path) {
        match serve::open_index(&cur, key) {
            Ok(newer) if newer.data_as_of() > index.data_as_of() => {
                tracing::info!(
                    index = %cur.display(),
                    data_as_of = %newer.data_as_of(),
                    instead_of = %index_path.display(),
                    "serving {} (swapped in before the last stop, data as of {}) instead of {} (data as of {})",
                    cur.display(),
                    newer.data_as_of(),
                    index_path.display(),
                    index.data_as_of()
                );
                index = newer;
                index_path = cur;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                index = %cur.display(),
                error = %e,
                "the index recorded in the state directory is unusable ({e}); serving --index"
            ),
        }
    }
    Ok((overlay, index, index_path))
}

/// Opens the state directory `dir` as a follower of its writer: waits (looking every `every`)
/// until the writer has created its log and an index to serve is known, replays the log, and
/// opens the index `CURRENT` names (else `index_arg`).
fn open_follower(
    dir: &Path,
    index_arg: Option<&Path>,
    key: &Key,
    every: Duration,
) -> anyhow::Result<(Overlay, Index<Mmap>, PathBuf)> {
    let mut said = false;
    loop {
        // CURRENT before the log: the log then holds every write the named index folds.
        let current = serve::state::read_current(dir);
        if (current.is_some() || index_arg.is_some())
            && let Some((overlay, first)) = Overlay::follow(dir, key.fingerprint())?
        {
            tracing::info!(
                "following state directory {}: {} live writes applied (sequence {}){}",
                overlay.dir().display(),
                first.entries.len(),
                overlay.sequence(),
                if first.pending > 0 {
                    format!(
                        ", {} bytes of a record being written waited for",
                        first.pending
                    )
                } else {
                    String::new()
                }
            );
            let (index, path) = match (current, index_arg) {
                (Some(cur), fallback) => match serve::open_index(&cur, key) {
                    Ok(i) => (i, cur),
                    Err(e) => {
                        let Some(f) = fallback else {
                            bail!(
                                "{e} (the index {}/CURRENT names); pass --index FILE to serve another until the writer swaps a good one in",
                                dir.display()
                            );
                        };
                        tracing::warn!(
                            "the index the writer serves is unusable here ({e}); serving --index until it swaps another in"
                        );
                        (serve::open_index(f, key)?, f.to_path_buf())
                    }
                },
                (None, Some(f)) => (serve::open_index(f, key)?, f.to_path_buf()),
                (None, None) => unreachable!("checked above"),
            };
            return Ok((overlay, index, path));
        }
        if !said {
            tracing::info!(
                "waiting for the writer of {} to create its live-update log{}…",
                dir.display(),
                if index_arg.is_none() {
                    " and name its index in CURRENT (or pass --index FILE)"
                } else {
                    ""
                }
            );
            said = true;
        }
        std::thread::sleep(every);
    }
}

/// A follower's event, for its log.
fn describe(e: &FollowEvent) -> String {
    match e {
        FollowEvent::Applied { from, to } if from == to => format!("applied live write {to}"),
        FollowEvent::Applied { from, to } => format!("applied live writes {from}–{to}"),
        FollowEvent::Swapped {
            path,
            generation,
            folded,
        } => format!(
            "the writer serves {}: verified and swapped in as generation {generation} (it folds live writes through {folded})",
            path.display()
        ),
        FollowEvent::SwapRefused(why) => format!("WARNING: {why}"),
        FollowEvent::Stuck { at, bytes } => format!(
            "WARNING: the live-update log holds a damaged record at byte {at} followed by intact ones ({bytes} bytes): nothing after it is applied until the writer's log is repaired"
        ),
        FollowEvent::Fatal(why) => format!("ERROR: {why}"),
    }
}

/// Installs the handlers of Ctrl-C and SIGTERM at once (a signal from now on drains rather than
/// kills); the future resolves on either, naming which.
fn shutdown_signal() -> anyhow::Result<Pin<Box<dyn Future<Output = &'static str> + Send>>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?;
        Ok(Box::pin(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "Ctrl-C",
            }
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(Box::pin(async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use healthcode::serve::limits::{DEFAULT_QUEUE_INTERVAL, DEFAULT_QUEUE_TARGET};

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    /// The flags' defaults are written as text for `--help`; the library's are constants. They
    /// must say the same, or `serve` and an embedded server would shed differently.
    #[test]
    fn the_queueing_flags_default_to_the_librarys_defaults() {
        let s = Serve::try_parse_from(["serve"]).expect("serve parses with no flags");
        assert_eq!(s.args.queue_target, DEFAULT_QUEUE_TARGET);
        assert_eq!(s.args.queue_interval, DEFAULT_QUEUE_INTERVAL);
    }
}
