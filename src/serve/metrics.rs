//! The server's Prometheus metrics (docs/metrics.md lists them): calls by method and gRPC code,
//! their latency, the colours and findings answered, shed and rate-limited calls, swaps, and
//! gauges of the index, the overlay and admission read at scrape time. `prometheus-client`
//! encodes them; `metrics_http.rs` serves them.
//!
//! The query path records into plain atomics, never through a registry lookup and never by
//! allocating: every counter and histogram of a call lives in fixed arrays indexed by method,
//! code, colour or reason, spread over a few cache-line-aligned shards (one chosen per thread) so
//! the two cores do not fight over one line; a scrape adds the shards up. A batch counts its
//! answers in a [`Tally`] on the stack and adds it once.
//!
//! Invariant: every label value comes from a fixed set (method, code, colour, reason, kind,
//! outcome); no document number, phone number, caller-supplied text or path reaches a metric.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::limits::Limits;
use super::state::State;
use crate::domain::{Code, Color, Reason};

/// The gRPC methods the server serves, by service; anything else is counted as `other`.
const METHODS: [(&str, &str); 15] = [
    ("healthcode.v1.HealthCode", "GetCode"),
    ("healthcode.v1.HealthCode", "GetCodes"),
    ("healthcode.v1.HealthCode", "StreamCodes"),
    ("healthcode.v1.Admin", "SetRiskArea"),
    ("healthcode.v1.Admin", "LiftRiskArea"),
    ("healthcode.v1.Admin", "RecordVerification"),
    ("healthcode.v1.Admin", "RecordRegistration"),
    ("healthcode.v1.Admin", "Reload"),
    ("healthcode.v1.Admin", "Rebuild"),
    ("healthcode.v1.Admin", "AffectedCount"),
    ("healthcode.v1.Admin", "Info"),
    ("grpc.health.v1.Health", "Check"),
    ("grpc.health.v1.Health", "Watch"),
    (
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
    ),
    ("other", "other"),
];
const N_METHODS: usize = METHODS.len();

/// One of the server's gRPC methods (a bounded label value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Method(u8);

impl Method {
    /// `HealthCode.GetCode`.
    pub const GET_CODE: Method = Method(0);
    /// `HealthCode.GetCodes`.
    pub const GET_CODES: Method = Method(1);
    /// `HealthCode.StreamCodes`.
    pub const STREAM_CODES: Method = Method(2);
    /// Any path the server does not serve.
    pub const OTHER: Method = Method(N_METHODS as u8 - 1);

    /// The method of a request path (`/healthcode.v1.HealthCode/GetCode`); `OTHER` for a path
    /// that names none of the server's methods.
    pub fn of_path(path: &str) -> Method {
        let Some((service, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
            return Method::OTHER;
        };
        METHODS[..N_METHODS - 1]
            .iter()
            .position(|&(s, m)| m == method && s == service)
            .map_or(Method::OTHER, |i| Method(i as u8))
    }

    /// The service's full name (`healthcode.v1.HealthCode`).
    pub fn service(self) -> &'static str {
        METHODS[self.0 as usize].0
    }

    /// The method's name (`GetCode`).
    pub fn name(self) -> &'static str {
        METHODS[self.0 as usize].1
    }
}

/// The gRPC status codes, by number.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
const N_CODES: usize = CODES.len();

/// The code of a `grpc-status` value; `UNKNOWN` for anything that is not one.
pub fn code_of_status(value: &[u8]) -> u8 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<u8>().ok())
        .filter(|c| usize::from(*c) < N_CODES)
        .unwrap_or(tonic::Code::Unknown as u8)
}

/// Upper bounds of the call latency buckets, in seconds (and +Inf).
const LATENCY_BOUNDS: [f64; 19] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const N_BUCKETS: usize = LATENCY_BOUNDS.len() + 1;

/// The same bounds in whole nanoseconds, for the recording side.
const LATENCY_BOUNDS_NS: [u64; 19] = {
    let mut ns = [0u64; 19];
    let mut i = 0;
    while i < 19 {
        ns[i] = (LATENCY_BOUNDS[i] * 1e9 + 0.5) as u64;
        i += 1;
    }
    ns
};

/// Upper bounds of the swap duration buckets, in seconds.
const SWAP_BOUNDS: [f64; 14] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];

/// A latency histogram of atomics: a count per bucket (not cumulative) and the sum.
#[derive(Default)]
struct Latency {
    buckets: [AtomicU64; N_BUCKETS],
    sum_ns: AtomicU64,
}

impl Latency {
    fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = LATENCY_BOUNDS_NS.partition_point(|&b| b < ns);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

const N_COLORS: usize = 3;
const N_REASONS: usize = Reason::ALL.len();
/// GetCode, GetCodes, StreamCodes: the methods that can be shed or rate-limited.
const N_QUERY: usize = 3;

fn color_index(c: Color) -> usize {
    match c {
        Color::Green => 0,
        Color::Yellow => 1,
        Color::Red => 2,
    }
}

const COLOR_NAMES: [&str; N_COLORS] = ["green", "yellow", "red"];

/// What one thread (mostly) records into. Aligned so that two shards never share a cache line.
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    calls: [[AtomicU64; N_CODES]; N_METHODS],
    processing: [Latency; N_METHODS],
    total: [Latency; N_METHODS],
    /// `total` of the calls that ended `OK` alone.
    ok: [Latency; N_METHODS],
    colors: [AtomicU64; N_COLORS],
    reasons: [AtomicU64; N_REASONS],
    unknown: AtomicU64,
    invalid: AtomicU64,
    shed: [AtomicU64; N_QUERY],
    rate_limited: [AtomicU64; N_QUERY],
}

/// Shards per server: more than the threads that answer queries on a small machine.
const SHARDS: usize = 8;

/// The shard of the calling thread: threads take shards in turn as they first record.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// The answers of one call, counted on the stack and added to the metrics once.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    colors: [u32; N_COLORS],
    reasons: [u32; N_REASONS],
    unknown: u32,
    invalid: u32,
}

impl Tally {
    /// Counts one answer: its colour, each finding's reason, and whether the person was known.
    #[inline]
    pub fn add(&mut self, code: &Code, known: bool) {
        self.colors[color_index(code.color)] += 1;
        for f in &code.findings {
            self.reasons[f.reason as usize] += 1;
        }
        self.unknown += u32::from(!known);
    }

    /// Counts one invalid document number (answered with an error, not a colour).
    #[inline]
    pub fn add_invalid(&mut self) {
        self.invalid += 1;
    }
}

/// What a scrape shows: the recorded atomics, the registered cold metrics and the gauges read
/// from the state.
pub struct Metrics {
    shards: Arc<[Shard]>,
    registry: Registry,
    swaps: Family<[(&'static str, &'static str); 2], Counter>,
    swap_seconds: Family<[(&'static str, &'static str); 1], Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Kinds of swap: a reload of a prebuilt file, or a rebuild from feeds.
pub const SWAP_KINDS: [&str; 2] = ["reload", "rebuild"];

impl Metrics {
    /// The metrics of a server serving `state` within `limits`.
    pub fn new(state: Arc<State>, limits: Arc<Limits>) -> Arc<Metrics> {
        // The call clock calibrates itself on first use: here, not on the first call.
        let _ = quanta::Instant::now();
        let shards: Arc<[Shard]> = (0..SHARDS).map(|_| Shard::default()).collect();
        let mut registry = Registry::with_prefix("healthcode");
        registry.register_collector(Box::new(Recorded(shards.clone())));
        registry.register_collector(Box::new(StateGauges {
            state: state.clone(),
            limits,
        }));
        registry.register(
            "build",
            "The server's version and rules policy",
            Info::new([
                ("version", env!("CARGO_PKG_VERSION")),
                ("policy", state.policy.as_str()),
            ]),
        );
        let swaps = Family::<[(&'static str, &'static str); 2], Counter>::default();
        registry.register(
            "swaps",
            "Index swaps requested, by kind (reload, rebuild) and outcome (ok: serving; refused: \
             the file was not accepted; failed: the rebuild did not finish)",
            swaps.clone(),
        );
        let swap_seconds =
            Family::<[(&'static str, &'static str); 1], Histogram>::new_with_constructor(
                (|| Histogram::new(SWAP_BOUNDS)) as fn() -> Histogram,
            );
        registry.register(
            "swap_duration_seconds",
            "Time from a swap's request to its outcome: verify and install for a reload; build, \
             verify and install for a rebuild",
            swap_seconds.clone(),
        );
        // Every kind shows from the start, so a rate over it has a first sample.
        for kind in SWAP_KINDS {
            drop(swaps.get_or_create(&[("kind", kind), ("outcome", "ok")]));
            drop(swap_seconds.get_or_create(&[("kind", kind)]));
        }
        Arc::new(Metrics {
            shards,
            registry,
            swaps,
            swap_seconds,
        })
    }

    fn shard(&self) -> &Shard {
        &self.shards[shard_index()]
    }

    /// A call of `method` got its answer (or its refusal) ready `d` after its headers arrived.
    #[inline]
    pub fn processed(&self, method: Method, d: Duration) {
        self.shard().processing[method.0 as usize].observe(d);
    }

    /// A call of `method` ended with `code` (a gRPC status code) `d` after its headers arrived.
    #[inline]
    pub fn finished(&self, method: Method, code: u8, d: Duration) {
        let s = self.shard();
        let code = usize::from(code).min(N_CODES - 1);
        s.calls[method.0 as usize][code].fetch_add(1, Ordering::Relaxed);
        s.total[method.0 as usize].observe(d);
        if code == tonic::Code::Ok as usize {
            s.ok[method.0 as usize].observe(d);
        }
    }

    /// Adds the answers of one call.
    #[inline]
    pub fn answered(&self, t: &Tally) {
        let s = self.shard();
        for (c, n) in s.colors.iter().zip(t.colors) {
            if n > 0 {
                c.fetch_add(u64::from(n), Ordering::Relaxed);
            }
        }
        for (c, n) in s.reasons.iter().zip(t.reasons) {
            if n > 0 {
                c.fetch_add(u64::from(n), Ordering::Relaxed);
            }
        }
        if t.unknown > 0 {
            s.unknown.fetch_add(u64::from(t.unknown), Ordering::Relaxed);
        }
        if t.invalid > 0 {
            s.invalid.fetch_add(u64::from(t.invalid), Ordering::Relaxed);
        }
    }

    /// A query of `method` refused because `--max-in-flight` calls were in flight.
    pub fn shed(&self, method: Method) {
        if let Some(c) = self.shard().shed.get(method.0 as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A query of `method` refused by its caller's rate limit.
    pub fn rate_limited(&self, method: Method) {
        if let Some(c) = self.shard().rate_limited.get(method.0 as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A swap of `kind` (one of [`SWAP_KINDS`]) ended with `outcome` (`ok`, `refused` or
    /// `failed`) after `d`.
    pub fn swapped(&self, kind: &'static str, outcome: &'static str, d: Duration) {
        self.swaps
            .get_or_create(&[("kind", kind), ("outcome", outcome)])
            .inc();
        self.swap_seconds
            .get_or_create(&[("kind", kind)])
            .observe(d.as_secs_f64());
    }

    /// The metrics in the OpenMetrics text format, as a scrape gets them.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(32 << 10);
        // Writing into a String cannot fail; an encoder error would be a bug in a label.
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("the metrics encode");
        out
    }
}

/// Every shard added up.
fn sum(shards: &[Shard]) -> Sums {
    let mut t = Sums::default();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    for s in shards {
        for m in 0..N_METHODS {
            for c in 0..N_CODES {
                t.calls[m][c] += load(&s.calls[m][c]);
            }
            for (dst, src) in [
                (&mut t.processing[m], &s.processing[m]),
                (&mut t.total[m], &s.total[m]),
                (&mut t.ok[m], &s.ok[m]),
            ] {
                for b in 0..N_BUCKETS {
                    dst.buckets[b] += load(&src.buckets[b]);
                }
                dst.sum_ns += load(&src.sum_ns);
            }
        }
        for c in 0..N_COLORS {
            t.colors[c] += load(&s.colors[c]);
        }
        for r in 0..N_REASONS {
            t.reasons[r] += load(&s.reasons[r]);
        }
        t.unknown += load(&s.unknown);
        t.invalid += load(&s.invalid);
        for q in 0..N_QUERY {
            t.shed[q] += load(&s.shed[q]);
            t.rate_limited[q] += load(&s.rate_limited[q]);
        }
    }
    t
}

#[derive(Default, Clone, Copy)]
struct LatencySum {
    buckets: [u64; N_BUCKETS],
    sum_ns: u64,
}

impl LatencySum {
    fn encode(&self, mut e: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.buckets)
            .collect();
        let count = self.buckets.iter().sum();
        e.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.sum_ns as f64 / 1e9,
            count,
            &buckets,
            None,
        )
    }

    fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// The recorded atomics at one scrape.
#[derive(Clone)]
struct Sums {
    calls: [[u64; N_CODES]; N_METHODS],
    processing: [LatencySum; N_METHODS],
    total: [LatencySum; N_METHODS],
    ok: [LatencySum; N_METHODS],
    colors: [u64; N_COLORS],
    reasons: [u64; N_REASONS],
    unknown: u64,
    invalid: u64,
    shed: [u64; N_QUERY],
    rate_limited: [u64; N_QUERY],
}

impl Default for Sums {
    fn default() -> Sums {
        Sums {
            calls: [[0; N_CODES]; N_METHODS],
            processing: [LatencySum::default(); N_METHODS],
            total: [LatencySum::default(); N_METHODS],
            ok: [LatencySum::default(); N_METHODS],
            colors: [0; N_COLORS],
            reasons: [0; N_REASONS],
            unknown: 0,
            invalid: 0,
            shed: [0; N_QUERY],
            rate_limited: [0; N_QUERY],
        }
    }
}

impl std::fmt::Debug for Sums {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sums").finish_non_exhaustive()
    }
}

/// Encodes the recorded atomics, summed over the shards at each scrape.
struct Recorded(Arc<[Shard]>);

impl std::fmt::Debug for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorded").finish_non_exhaustive()
    }
}

fn counter(
    e: &mut prometheus_client::encoding::MetricEncoder,
    labels: &impl prometheus_client::encoding::EncodeLabelSet,
    v: u64,
) -> std::fmt::Result {
    e.encode_family(labels)?
        .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&v, None)
}

impl Collector for Recorded {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let t = &sum(&self.0);
        let method = |m: usize| {
            let m = Method(m as u8);
            [("service", m.service()), ("method", m.name())]
        };
        // Methods never called are left out, except the queries' OK series, so a rate over
        // them starts at zero.
        let shown = |m: usize| m < N_QUERY || t.calls[m].iter().any(|&n| n > 0);
        {
            let mut e = enc.encode_descriptor(
                "requests",
                "Calls finished, by service, method and gRPC status code (refusals included).",
                None,
                MetricType::Counter,
            )?;
            for m in (0..N_METHODS).filter(|&m| shown(m)) {
                for (c, name) in CODES.iter().enumerate() {
                    let n = t.calls[m][c];
                    if n > 0 || c == 0 {
                        let [s, me] = method(m);
                        counter(&mut e, &[s, me, ("code", name)], n)?;
                    }
                }
            }
        }
        for (name, help, hist) in [
            (
                "request_processing_seconds",
                "From a call's headers arriving to its answer (or refusal) being ready: \
                 decoding, admission and evaluation; for StreamCodes, until the stream opens.",
                &t.processing,
            ),
            (
                "request_duration_seconds",
                "From a call's headers arriving to its last frame handed to HTTP/2 (or the \
                 call ending early): processing plus sending; for StreamCodes, the stream's life.",
                &t.total,
            ),
            (
                "request_ok_duration_seconds",
                "request_duration_seconds of the calls that ended OK alone: the latency of the \
                 calls answered, unblurred by refusals and by calls the client gave up on.",
                &t.ok,
            ),
        ] {
            let mut e = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for (m, h) in hist.iter().enumerate() {
                if shown(m) || h.count() > 0 {
                    h.encode(e.encode_family(&method(m))?)?;
                }
            }
        }
        {
            let mut e = enc.encode_descriptor(
                "answers",
                "Persons answered with a colour, by colour (one per GetCode call, stream message \
                 or valid id of a GetCodes batch).",
                None,
                MetricType::Counter,
            )?;
            for (c, name) in COLOR_NAMES.iter().enumerate() {
                counter(&mut e, &[("color", *name)], t.colors[c])?;
            }
        }
        {
            let mut e = enc.encode_descriptor(
                "findings",
                "Findings in the answers, by reason (DOMAIN.md section 4 names).",
                None,
                MetricType::Counter,
            )?;
            for r in Reason::ALL {
                counter(&mut e, &[("reason", r.name())], t.reasons[r as usize])?;
            }
        }
        let single = |enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64| {
            let mut e = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            e.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&v, None)
        };
        single(
            &mut enc,
            "answers_unknown",
            "Persons answered who are not in the index (green, known = false).",
            t.unknown,
        )?;
        single(
            &mut enc,
            "answers_invalid",
            "Document numbers answered with an error instead of a colour.",
            t.invalid,
        )?;
        for (name, help, v) in [
            (
                "shed",
                "Queries refused with RESOURCE_EXHAUSTED because --max-in-flight were in flight.",
                &t.shed,
            ),
            (
                "rate_limited",
                "Queries refused with RESOURCE_EXHAUSTED by their caller's rate limit.",
                &t.rate_limited,
            ),
        ] {
            let mut e = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (q, n) in v.iter().enumerate() {
                let [s, m] = method(q);
                counter(&mut e, &[s, m], *n)?;
            }
        }
        Ok(())
    }
}

/// Gauges read from the serving state at each scrape.
struct StateGauges {
    state: Arc<State>,
    limits: Arc<Limits>,
}

impl std::fmt::Debug for StateGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateGauges").finish_non_exhaustive()
    }
}

impl Collector for StateGauges {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let snap = self.state.current();
        let (person_records, risk_changes) = self
            .state
            .overlay
            .as_ref()
            .map_or((0, 0), |o| (o.person_records(), o.risk_changes()));
        let huge = super::pages::huge_page_bytes(snap.index.bytes());
        let gauges: [(&str, &str, i64); 12] = [
            (
                "index_generation",
                "Generation of the index being served (1 at start, one more per swap).",
                snap.generation as i64,
            ),
            (
                "index_data_date_seconds",
                "Data date of the index being served, as the Unix time of its 00:00 UTC.",
                i64::from(snap.index.data_as_of().0) * 86_400,
            ),
            (
                "index_persons",
                "Persons in the index being served.",
                i64::from(snap.index.persons()),
            ),
            (
                "index_bytes",
                "Size of the index file being served.",
                snap.index.len() as i64,
            ),
            (
                "index_huge_page_bytes",
                "Bytes of the index being served that the kernel maps in 2 MiB pages (the rest \
                 in 4 KiB pages, whose page-table walks slow lookups in a large index); -1 where \
                 the system does not tell.",
                huge.map_or(-1, |b| b as i64),
            ),
            (
                "index_folded_sequence",
                "Live-write sequence folded into the index being served.",
                snap.folded as i64,
            ),
            (
                "overlay_sequence",
                "Sequence of the last acknowledged live write.",
                self.state.overlay_sequence() as i64,
            ),
            (
                "overlay_person_records",
                "Live verifications and registrations held in memory.",
                person_records as i64,
            ),
            (
                "overlay_risk_changes",
                "Live risk-area changes held in memory.",
                risk_changes as i64,
            ),
            (
                "queries_in_flight",
                "Query calls (and streams evaluating a chunk of messages) admitted and not finished.",
                self.limits.in_flight() as i64,
            ),
            (
                "queries_max_in_flight",
                "The --max-in-flight bound.",
                self.limits.max_in_flight() as i64,
            ),
            (
                "rebuild_running",
                "1 while a rebuild runs, else 0.",
                i64::from(self.state.rebuild_running()),
            ),
        ];
        for (name, help, v) in gauges {
            enc.encode_descriptor(name, help, None, MetricType::Gauge)?
                .encode_gauge(&v)?;
        }
        Ok(())
    }
}

/// A call being timed: its method and when its headers arrived. The clock is the CPU's
/// time-stamp counter through `quanta` (the operating system's clock where that is not
/// reliable): a call reads it three times, and it costs half of `Instant::now`.
#[derive(Clone, Copy, Debug)]
pub struct CallTimer {
    /// The method.
    pub method: Method,
    start: quanta::Instant,
}

impl CallTimer {
    /// Starts timing a call to `path`.
    #[inline]
    pub fn start(path: &str) -> CallTimer {
        CallTimer {
            method: Method::of_path(path),
            start: quanta::Instant::now(),
        }
    }

    /// The time since the call's headers arrived.
    #[inline]
    pub fn elapsed(&self) -> Duration {
        quanta::Instant::now().duration_since(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_method_and_anything_else_to_other() {
        assert_eq!(
            Method::of_path("/healthcode.v1.HealthCode/GetCode"),
            Method::GET_CODE
        );
        assert_eq!(
            Method::of_path("/healthcode.v1.HealthCode/StreamCodes"),
            Method::STREAM_CODES
        );
        let info = Method::of_path("/healthcode.v1.Admin/Info");
        assert_eq!(
            (info.service(), info.name()),
            ("healthcode.v1.Admin", "Info")
        );
        for p in [
            "/healthcode.v1.HealthCode/GetCode/x",
            "/healthcode.v1.Admin/GetCode",
            "/110105194912310021",
            "",
            "/",
        ] {
            assert_eq!(Method::of_path(p), Method::OTHER, "{p}");
        }
    }

    #[test]
    fn status_values_map_to_codes() {
        assert_eq!(code_of_status(b"0"), 0);
        assert_eq!(code_of_status(b"8"), 8);
        assert_eq!(code_of_status(b"16"), 16);
        for bad in [&b"17"[..], b"", b"x", b"-1"] {
            assert_eq!(code_of_status(bad), 2, "{bad:?}");
        }
    }

    #[test]
    fn latency_buckets_hold_their_upper_bound() {
        let h = Latency::default();
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_nanos(10_001));
        h.observe(Duration::from_secs(11));
        assert_eq!(h.buckets[0].load(Ordering::Relaxed), 1, "le 1e-05");
        assert_eq!(h.buckets[1].load(Ordering::Relaxed), 1, "le 2.5e-05");
        assert_eq!(h.buckets[N_BUCKETS - 1].load(Ordering::Relaxed), 1, "+Inf");
        assert_eq!(h.sum_ns.load(Ordering::Relaxed), 11_000_020_001);
    }
}
