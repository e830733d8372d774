//! Drives a server: N connections × M concurrent requests, closed loop (each worker sends its
//! next request when the last one is answered) or open loop (a pacer sends at a fixed rate and
//! every latency is measured from the request's intended send time, so that a stalled server
//! cannot hide its queue), recording into HDR histograms. A query that fails as a dead or
//! draining server makes it fail (`UNAVAILABLE`, or an error of the client's own transport) is
//! sent again, up to `--retries` times: it is a read, so sending it twice is harmless, and over
//! several replicas the balancer sends it to another one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use healthcode::proto::{self, health_code_client::HealthCodeClient};
use tokio::sync::{Notify, Semaphore, mpsc};
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::alarm::Alarm;
use crate::ids::{Kind, Pool};
use crate::wire::{Answer, Conn, LeanCode};

/// Which RPC a run calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `GetCode`, one id per call.
    Unary,
    /// `GetCodes`, `--batch` ids per call.
    Batch,
    /// `StreamCodes`, one id per message, `--window` messages in flight per stream.
    Stream,
}

/// What a run does.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The RPC.
    pub method: Method,
    /// Ids per `GetCodes` call.
    pub batch: usize,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Concurrent requests (closed loop) or streams per connection.
    pub concurrency: usize,
    /// Messages in flight per stream (closed loop).
    pub window: usize,
    /// Not measured: lets connections, caches and the server's threads settle.
    pub warmup: Duration,
    /// Measured time (unless `requests` is set).
    pub duration: Duration,
    /// Measured requests, instead of a duration.
    pub requests: Option<u64>,
    /// Open loop: requests (or stream messages) per second over all connections.
    pub rate: Option<f64>,
    /// `as_of` of every request (empty: the server's today).
    pub as_of: String,
    /// Open loop: most requests outstanding before the generator itself counts as overloaded.
    pub max_in_flight: u64,
    /// The deadline of each unary or batch call (`None`: none), as an app sets one: an answer
    /// later than that counts as `DEADLINE_EXCEEDED`, not as answered.
    pub timeout: Option<Duration>,
    /// Times a unary or batch query that failed retryably is sent again.
    pub retries: u32,
}

/// What a run measured (its measured window only).
pub struct Outcome {
    /// The counts and latencies.
    pub tally: Tally,
    /// The measured window.
    pub elapsed: Duration,
}

impl Outcome {
    /// Adds `o` to `into` (runs of one plan: counts, latencies and windows add up).
    pub fn add(into: &mut Option<Outcome>, o: Outcome) {
        match into {
            Some(a) => {
                a.tally.merge(&o.tally);
                a.elapsed += o.elapsed;
            }
            None => *into = Some(o),
        }
    }
}

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct Auth(Option<MetadataValue<Ascii>>);

impl Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// The generated client (for the few calls that want whole answers).
pub type Client = HealthCodeClient<InterceptedService<Channel, Auth>>;

/// HTTP/2 flow-control window of a stream, bytes.
const WINDOW: u32 = 16 << 20;

/// The URL of `server` (`http://` added when it names no scheme) and its endpoint settings.
pub fn endpoint(server: &str) -> anyhow::Result<(String, Endpoint)> {
    let url = if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    };
    // Windows large enough for a 10,000-id answer: with HTTP/2's default 64 KiB window a large
    // answer waits a round trip for every window update.
    let e = Endpoint::from_shared(url.clone())
        .with_context(|| format!("--server {server}"))?
        .tcp_nodelay(true)
        .initial_stream_window_size(Some(WINDOW))
        .initial_connection_window_size(Some(WINDOW * 4));
    Ok((url, e))
}

/// Opens one HTTP/2 connection to `server`.
pub async fn channel(server: &str) -> anyhow::Result<Channel> {
    let (url, e) = endpoint(server)?;
    e.connect()
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// The credential interceptor for `token`.
pub fn auth(token: Option<&str>) -> anyhow::Result<Auth> {
    Ok(Auth(
        token
            .map(|t| format!("Bearer {t}").parse())
            .transpose()
            .context("the token is not valid header text")?,
    ))
}

/// A generated client on a new connection.
pub async fn client(server: &str, token: Option<&str>) -> anyhow::Result<Client> {
    Ok(
        HealthCodeClient::with_interceptor(channel(server).await?, auth(token)?)
            .max_decoding_message_size(256 << 20),
    )
}

/// A load connection to `server`; `full` decodes every field of the answers.
pub async fn connect(server: &str, token: Option<&str>, full: bool) -> anyhow::Result<Conn> {
    Ok(Conn::new(channel(server).await?, auth(token)?, full))
}

/// Counters the progress line reads while a run goes on.
#[derive(Default)]
pub struct Live {
    /// Requests answered, warm-up included.
    pub requests: AtomicU64,
    /// Failed requests, warm-up included.
    pub errors: AtomicU64,
    /// Requests sent again after a retryable failure, warm-up included.
    pub retries: AtomicU64,
    /// Notified at each retryable failure (the replicas' prober checks them at once).
    pub failing: Arc<Notify>,
}

/// What one worker, one run or several runs counted.
pub struct Tally {
    /// Latency per answered request (per message for streams), nanoseconds: a refused or
    /// failed request is counted, not timed, so a fast refusal cannot flatter the figures.
    pub latency: Histogram<u64>,
    /// Requests (calls, or stream messages) answered in the window.
    pub requests: u64,
    /// Requests the server shed (`RESOURCE_EXHAUSTED`: overloaded or over a rate limit).
    pub shed: u64,
    /// Ids answered in the window.
    pub persons: u64,
    /// Failed requests by gRPC status code.
    pub errors: BTreeMap<String, u64>,
    /// The first failure's message for each code of `errors`, so a report says what failed.
    pub error_examples: BTreeMap<String, String>,
    /// Requests sent again, by the gRPC status code of the failure that made them retried.
    pub retried: BTreeMap<String, u64>,
    /// Answers by what they said: known, unknown (valid, not held), invalid id.
    pub answers: [u64; 3],
    /// Answers whose kind differs from what the id was made as (e.g. a generated "unknown" id
    /// that the index holds after all).
    pub surprises: u64,
    /// When the last measured answer came.
    last: Option<Instant>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency: Histogram::new_with_bounds(1_000, 600_000_000_000, 3).expect("valid bounds"),
            requests: 0,
            shed: 0,
            persons: 0,
            errors: BTreeMap::new(),
            error_examples: BTreeMap::new(),
            retried: BTreeMap::new(),
            answers: [0; 3],
            surprises: 0,
            last: None,
        }
    }

    fn merge(&mut self, o: &Tally) {
        self.latency.add(&o.latency).expect("same bounds");
        self.requests += o.requests;
        self.shed += o.shed;
        self.persons += o.persons;
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.error_examples {
            self.error_examples
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        for (k, v) in &o.retried {
            *self.retried.entry(k.clone()).or_default() += v;
        }
        for i in 0..3 {
            self.answers[i] += o.answers[i];
        }
        self.surprises += o.surprises;
        self.last = self.last.max(o.last);
    }

    fn latency(&mut self, t0: Instant, t1: Instant) {
        let ns = (t1 - t0).as_nanos().min(u128::from(u64::MAX)) as u64;
        self.latency.saturating_record(ns.max(1_000));
        self.last = self.last.max(Some(t1));
    }

    fn answer(&mut self, said: Kind, meant: Kind) {
        self.answers[said as usize] += 1;
        if said != meant {
            self.surprises += 1;
        }
    }

    fn error(&mut self, status: &tonic::Status) {
        let code = status.code();
        let key = format!("{code:?}");
        if !self.error_examples.contains_key(&key) {
            // The message, and what caused it (a transport error's cause is the useful part).
            let mut said = status.message().to_string();
            let mut cause = std::error::Error::source(status);
            while let Some(c) = cause {
                said = format!("{said}: {c}");
                cause = c.source();
            }
            self.error_examples.insert(key.clone(), said);
        }
        if code == Code::ResourceExhausted {
            self.shed += 1;
            return;
        }
        *self.errors.entry(key).or_default() += 1;
    }
}

/// The measured window and the stop rule, shared by every worker.
struct Window {
    from: Instant,
    until: Option<Instant>,
    requests: Option<u64>,
    issued: AtomicU64,
    stop: AtomicBool,
    /// Open loop: measured requests the generator could not send (its own in-flight limit).
    overloaded: AtomicU64,
}

impl Window {
    /// Whether a request sent (or meant to be sent) at `t` is measured.
    fn measured(&self, t: Instant) -> bool {
        t >= self.from && self.until.is_none_or(|u| t < u)
    }

    /// Takes the next request slot; false when the run is over.
    fn next(&self, now: Instant) -> bool {
        if self.stop.load(Relaxed) {
            return false;
        }
        if let Some(u) = self.until
            && now >= u
        {
            self.stop.store(true, Relaxed);
            return false;
        }
        if let Some(n) = self.requests
            && now >= self.from
            && self.issued.fetch_add(1, Relaxed) >= n
        {
            self.stop.store(true, Relaxed);
            return false;
        }
        true
    }
}

/// Walks the id pool from a worker's own offset.
#[derive(Clone)]
struct Cursor {
    pool: Arc<Pool>,
    at: usize,
}

impl Cursor {
    fn new(pool: Arc<Pool>, worker: usize, workers: usize) -> Cursor {
        let at = pool.len() / workers.max(1) * worker;
        Cursor { pool, at }
    }

    /// A cursor at this one's position; this one moves on by `n` ids.
    fn take(&mut self, n: usize) -> Cursor {
        let taken = Cursor {
            pool: self.pool.clone(),
            at: self.at,
        };
        self.at = self.at.wrapping_add(n);
        taken
    }

    fn next(&mut self) -> (String, Kind) {
        let i = self.at % self.pool.len();
        self.at = self.at.wrapping_add(1);
        (self.pool.id(i).to_owned(), self.pool.kinds[i])
    }
}

/// Whether a failed query is sent again: `UNAVAILABLE` (a server draining, or the connection
/// not ready), or any error the client's own transport made rather than a server's answer (a
/// connection refused or reset by a replica that died). A query is a read: sending it twice
/// changes nothing. Admin writes are never sent through here.
pub fn retryable(s: &tonic::Status) -> bool {
    s.code() == Code::Unavailable || std::error::Error::source(s).is_some()
}

/// The wait before retry `n` (from 1): a few milliseconds, doubling, so that the prober has
/// taken a dead replica out of the balancer by the second.
fn backoff(n: u32) -> Duration {
    Duration::from_millis(5 << n.min(8))
}

/// One unary or batch call of `plan.method` with ids from `cur`: what each id was made as, and
/// what the answer said.
async fn send(
    client: &mut Conn,
    plan: &Plan,
    cur: &mut Cursor,
) -> (Vec<Kind>, Result<Vec<Kind>, tonic::Status>) {
    match plan.method {
        Method::Unary => {
            let (id, kind) = cur.next();
            let req = proto::CodeRequest {
                id_number: id,
                as_of: plan.as_of.clone(),
            };
            let r = match client.get_code(req, plan.timeout).await {
                // The contract's answer to a malformed document number in a unary call.
                Err(s) if s.code() == Code::InvalidArgument && kind == Kind::Invalid => {
                    Ok(Kind::Invalid)
                }
                r => r,
            };
            (vec![kind], r.map(|k| vec![k]))
        }
        Method::Batch => {
            let (ids, kinds): (Vec<String>, Vec<Kind>) =
                (0..plan.batch).map(|_| cur.next()).unzip();
            let req = proto::BatchCodeRequest {
                id_numbers: ids,
                as_of: plan.as_of.clone(),
            };
            (kinds, client.get_codes(req, plan.timeout).await)
        }
        Method::Stream => unreachable!("streams are driven by `stream_lane`"),
    }
}

/// A unary or batch call of `plan.method` with ids from `cur`, sent again (the same ids) after a
/// retryable failure up to `plan.retries` times; records into `rec` when the send time `t0` is
/// in the measured window, its latency from `t0` to the last answer.
async fn call(
    client: &mut Conn,
    plan: &Plan,
    cur: &mut Cursor,
    t0: Instant,
    window: &Window,
    rec: &Mutex<Tally>,
    live: &Live,
) {
    let mark = cur.clone();
    let (meant, mut r) = send(client, plan, cur).await;
    let mut retried = Vec::new();
    while let Err(s) = &r {
        if !retryable(s) || retried.len() >= plan.retries as usize {
            break;
        }
        retried.push(s.code());
        live.retries.fetch_add(1, Relaxed);
        live.failing.notify_one();
        tokio::time::sleep(backoff(retried.len() as u32)).await;
        r = send(client, plan, &mut mark.clone()).await.1;
    }
    let t1 = Instant::now();
    let ok = r.is_ok();
    if window.measured(t0) {
        let mut rec = rec.lock().expect("recorder lock");
        for c in &retried {
            *rec.retried.entry(format!("{c:?}")).or_default() += 1;
        }
        match r {
            Ok(said) => {
                rec.latency(t0, t1);
                rec.requests += 1;
                for (k, m) in said.iter().zip(&meant) {
                    rec.answer(*k, *m);
                }
                rec.persons += said.len() as u64;
            }
            Err(s) => rec.error(&s),
        }
    }
    live.requests.fetch_add(1, Relaxed);
    if !ok {
        live.errors.fetch_add(1, Relaxed);
    }
}

/// One stream: sends messages (paced by `pacer` in open loop, or keeping `window` in flight in
/// closed loop), matches answers to send times in order.
async fn stream_lane<A: Answer>(
    mut client: Conn,
    plan: Arc<Plan>,
    mut cur: Cursor,
    window: Arc<Window>,
    rec: Arc<Mutex<Tally>>,
    live: Arc<Live>,
    pacer: Option<mpsc::UnboundedReceiver<Instant>>,
) {
    let (tx, rx) = mpsc::channel::<proto::CodeRequest>(plan.window.max(1) * 2);
    let sent: Arc<Mutex<VecDeque<(Instant, Kind)>>> = Arc::default();
    let credit = Arc::new(Semaphore::new(plan.window.max(1)));
    let sender = {
        let sent = sent.clone();
        let credit = credit.clone();
        let window = window.clone();
        let plan = plan.clone();
        tokio::spawn(async move {
            let mut ticks = pacer;
            loop {
                // Open loop: the pacer's intended time; closed loop: now, once a message of
                // the window has been answered.
                let t0 = match &mut ticks {
                    Some(t) => match t.recv().await {
                        Some(t0) => t0,
                        None => break,
                    },
                    None => {
                        let Ok(permit) = credit.acquire().await else {
                            break;
                        };
                        permit.forget();
                        let t0 = Instant::now();
                        if !window.next(t0) {
                            break;
                        }
                        t0
                    }
                };
                let (id, kind) = cur.next();
                sent.lock().expect("lock").push_back((t0, kind));
                let req = proto::CodeRequest {
                    id_number: id,
                    as_of: plan.as_of.clone(),
                };
                if tx.send(req).await.is_err() {
                    break;
                }
            }
        })
    };
    let outbound = tokio_stream::wrappers::ReceiverStream::new(rx);
    match client.stream_codes::<A>(outbound).await {
        Ok(resp) => {
            let mut inbound = resp;
            loop {
                match inbound.message().await {
                    Ok(Some(msg)) => {
                        let t1 = Instant::now();
                        credit.add_permits(1);
                        let Some((t0, kind)) = sent.lock().expect("lock").pop_front() else {
                            break;
                        };
                        live.requests.fetch_add(1, Relaxed);
                        if window.measured(t0) {
                            let mut rec = rec.lock().expect("recorder lock");
                            rec.latency(t0, t1);
                            rec.requests += 1;
                            rec.persons += 1;
                            rec.answer(msg.kind(), kind);
                        }
                    }
                    Ok(None) => break,
                    Err(s) => {
                        live.errors.fetch_add(1, Relaxed);
                        rec.lock().expect("recorder lock").error(&s);
                        break;
                    }
                }
            }
        }
        Err(s) => {
            live.errors.fetch_add(1, Relaxed);
            rec.lock().expect("recorder lock").error(&s);
        }
    }
    credit.close();
    sender.abort();
}

/// Requests an open-loop pacer behind its schedule dispatches before it lets other tasks run.
const CATCH_UP: u64 = 64;

/// Runs `plan` against `clients` (one per connection) with ids from `pool`.
pub async fn run(
    plan: Plan,
    clients: Vec<Conn>,
    pool: Arc<Pool>,
    live: Arc<Live>,
) -> anyhow::Result<Outcome> {
    let plan = Arc::new(plan);
    let start = Instant::now();
    let from = start + plan.warmup;
    let window = Arc::new(Window {
        from,
        until: plan.requests.is_none().then(|| from + plan.duration),
        requests: plan.requests,
        issued: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        overloaded: AtomicU64::new(0),
    });
    let lanes = clients.len() * plan.concurrency.max(1);
    let recs: Vec<Arc<Mutex<Tally>>> = (0..lanes)
        .map(|_| Arc::new(Mutex::new(Tally::new())))
        .collect();
    let mut tasks = Vec::new();
    match (plan.method, plan.rate) {
        (Method::Stream, rate) => {
            let mut pacer_txs = Vec::new();
            for lane in 0..lanes {
                let ticks = rate.map(|_| {
                    let (t, r) = mpsc::unbounded_channel();
                    pacer_txs.push(t);
                    r
                });
                let args = (
                    clients[lane % clients.len()].clone(),
                    plan.clone(),
                    Cursor::new(pool.clone(), lane, lanes),
                    window.clone(),
                    recs[lane].clone(),
                    live.clone(),
                    ticks,
                );
                tasks.push(if args.0.full {
                    tokio::spawn(stream_lane::<proto::CodeResponse>(
                        args.0, args.1, args.2, args.3, args.4, args.5, args.6,
                    ))
                } else {
                    tokio::spawn(stream_lane::<LeanCode>(
                        args.0, args.1, args.2, args.3, args.4, args.5, args.6,
                    ))
                });
            }
            if let Some(rate) = rate {
                let window = window.clone();
                let live = live.clone();
                tokio::spawn(async move {
                    pace(rate, start, &window, &live, |k, t0| {
                        pacer_txs[k as usize % pacer_txs.len()].send(t0).is_ok()
                    })
                    .await
                })
                .await??;
            }
        }
        (_, None) => {
            for lane in 0..lanes {
                let mut client = clients[lane % clients.len()].clone();
                let plan = plan.clone();
                let mut cur = Cursor::new(pool.clone(), lane, lanes);
                let window = window.clone();
                let rec = recs[lane].clone();
                let live = live.clone();
                tasks.push(tokio::spawn(async move {
                    loop {
                        let t0 = Instant::now();
                        if !window.next(t0) {
                            break;
                        }
                        call(&mut client, &plan, &mut cur, t0, &window, &rec, &live).await;
                    }
                }));
            }
        }
        (_, Some(rate)) => {
            let in_flight = Arc::new(AtomicU64::new(0));
            let mut cursors: Vec<Cursor> = (0..lanes)
                .map(|l| Cursor::new(pool.clone(), l, lanes))
                .collect();
            let per_call = if plan.method == Method::Batch {
                plan.batch
            } else {
                1
            };
            let (window2, live2, recs2, clients2, plan2) = (
                window.clone(),
                live.clone(),
                recs.clone(),
                clients.clone(),
                plan.clone(),
            );
            // The pacer is a task on a worker thread, so each call it starts is queued on that
            // thread (no hand-over from a thread of its own, no wake-up per call).
            let spawned = tokio::spawn(async move {
                let mut spawned: Vec<tokio::task::JoinHandle<()>> = Vec::new();
                pace(rate, start, &window2, &live2, |k, t0| {
                    let lane = k as usize % lanes;
                    if in_flight.load(Relaxed) >= plan2.max_in_flight {
                        return false;
                    }
                    in_flight.fetch_add(1, Relaxed);
                    let mut client = clients2[lane % clients2.len()].clone();
                    let mut cur = cursors[lane].take(per_call);
                    let (plan, window, rec, live, in_flight) = (
                        plan2.clone(),
                        window2.clone(),
                        recs2[lane].clone(),
                        live2.clone(),
                        in_flight.clone(),
                    );
                    spawned.push(tokio::spawn(async move {
                        call(&mut client, &plan, &mut cur, t0, &window, &rec, &live).await;
                        in_flight.fetch_sub(1, Relaxed);
                    }));
                    // Keep the list of handles short: drop the finished ones now and then.
                    if spawned.len() >= 4096 {
                        spawned.retain(|h| !h.is_finished());
                    }
                    true
                })
                .await
                .map(|()| spawned)
            })
            .await??;
            tasks.extend(spawned);
        }
    }
    for t in tasks {
        t.await?;
    }
    let mut all = Tally::new();
    for r in &recs {
        all.merge(&r.lock().expect("recorder lock"));
    }
    let overloaded = window.overloaded.load(Relaxed);
    if overloaded > 0 {
        all.errors.insert("GENERATOR_OVERLOADED".into(), overloaded);
    }
    let elapsed = match plan.requests {
        Some(_) => all
            .last
            .map_or(Duration::ZERO, |l| l.saturating_duration_since(from)),
        None => plan.duration,
    };
    Ok(Outcome {
        tally: all,
        elapsed,
    })
}

/// The open-loop pacer, a task of the runtime: request `k` is meant to go out at
/// `start + k / rate`; it sleeps until the next one is due (`Alarm`, to the microsecond) and
/// dispatches every due request with its intended time, letting the runtime's other tasks run
/// now and then while it catches up. A request it cannot dispatch (the generator's own in-flight
/// limit) counts as a `GENERATOR_OVERLOADED` error, never silently skipped.
async fn pace(
    rate: f64,
    start: Instant,
    window: &Window,
    live: &Live,
    mut dispatch: impl FnMut(u64, Instant) -> bool,
) -> anyhow::Result<()> {
    let alarm = Alarm::new().context("the open-loop pacer's timer")?;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut k: u64 = 0;
    loop {
        let due = start + interval.mul_f64(k as f64);
        let now = Instant::now();
        if due > now {
            alarm
                .sleep(due - now)
                .await
                .context("the open-loop pacer's timer")?;
        } else if k % CATCH_UP == CATCH_UP - 1 {
            tokio::task::yield_now().await;
        }
        if !window.next(due) {
            return Ok(());
        }
        if !dispatch(k, due) {
            live.errors.fetch_add(1, Relaxed);
            if window.measured(due) {
                window.overloaded.fetch_add(1, Relaxed);
            }
        }
        k += 1;
    }
}
