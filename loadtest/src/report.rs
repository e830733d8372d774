//! What a run reports: throughput, latency percentiles, errors by status code and the answers'
//! kinds, for people (text) and machines (JSON), with the machine and command it ran on.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::drive::{Method, Outcome, Plan};

/// Latency percentiles in microseconds.
#[derive(Serialize, Clone, Debug)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Answers by kind.
#[derive(Serialize, Clone, Debug)]
pub struct Answers {
    /// `known = true`.
    pub known: u64,
    /// Valid id, not held.
    pub unknown: u64,
    /// Invalid id (INVALID_ARGUMENT, `valid = false` or `error` set).
    pub invalid: u64,
    /// Answers of another kind than the id was made as.
    pub surprises: u64,
}

/// One measured run.
#[derive(Serialize, Clone, Debug)]
pub struct Report {
    /// What was driven: `healthcode` or `ceiling`.
    pub target: String,
    /// Its address.
    pub server: String,
    /// The RPC.
    pub method: Method,
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Open loop: the offered rate, requests (or stream messages) per second.
    pub offered_rate: Option<f64>,
    /// Each call's deadline in milliseconds, when the run set one.
    pub timeout_ms: Option<f64>,
    /// Connections.
    pub connections: usize,
    /// Concurrent requests or streams per connection.
    pub concurrency: usize,
    /// Ids per call (batch), else 1.
    pub ids_per_request: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Warm-up seconds (not measured).
    pub warmup_seconds: f64,
    /// Requests answered in the measured window.
    pub requests: u64,
    /// Requests the server shed (`RESOURCE_EXHAUSTED`) in the measured window.
    pub shed: u64,
    /// Ids answered in the measured window.
    pub persons: u64,
    /// Requests answered per second (goodput).
    pub requests_per_s: f64,
    /// Requests shed per second.
    pub shed_per_s: f64,
    /// Ids per second.
    pub persons_per_s: f64,
    /// Latency of an answered request (stream: of a message), end to end as the client saw it;
    /// shed and failed requests are not in it.
    pub latency_us: Latency,
    /// Failed requests by gRPC status code (after their retries).
    pub errors: BTreeMap<String, u64>,
    /// The first message seen with each code of `errors` (and `ResourceExhausted`, if shed).
    pub error_examples: BTreeMap<String, String>,
    /// Requests sent again after a retryable failure, by the failure's gRPC status code (a
    /// request retried twice counts twice).
    pub retried: BTreeMap<String, u64>,
    /// What the answers said.
    pub answers: Answers,
    /// (percentile, latency µs) points for the chart.
    #[serde(skip)]
    pub curve: Vec<(f64, f64)>,
    /// What the server's own metrics counted in the same window (`--server-metrics`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_view: Option<crate::scrape::ServerView>,
}

impl Report {
    /// Summarises `o`, a run of `plan` against `target` at `server`.
    pub fn new(target: &str, server: &str, plan: &Plan, o: &Outcome) -> Report {
        let secs = o.elapsed.as_secs_f64().max(1e-9);
        let us = |ns: u64| ns as f64 / 1_000.0;
        let t = &o.tally;
        let h = &t.latency;
        let curve = if h.is_empty() {
            Vec::new()
        } else {
            h.iter_quantiles(4)
                .map(|v| (v.quantile_iterated_to() * 100.0, us(v.value_iterated_to())))
                .filter(|(p, _)| *p < 99.9999)
                .collect()
        };
        Report {
            target: target.to_string(),
            server: server.to_string(),
            method: plan.method,
            mode: if plan.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            offered_rate: plan.rate,
            timeout_ms: plan.timeout.map(|t| t.as_secs_f64() * 1000.0),
            connections: plan.connections,
            concurrency: plan.concurrency,
            ids_per_request: if plan.method == Method::Batch {
                plan.batch
            } else {
                1
            },
            seconds: secs,
            warmup_seconds: plan.warmup.as_secs_f64(),
            requests: t.requests,
            shed: t.shed,
            persons: t.persons,
            requests_per_s: t.requests as f64 / secs,
            shed_per_s: t.shed as f64 / secs,
            persons_per_s: t.persons as f64 / secs,
            latency_us: Latency {
                p50: us(h.value_at_quantile(0.50)),
                p90: us(h.value_at_quantile(0.90)),
                p99: us(h.value_at_quantile(0.99)),
                p999: us(h.value_at_quantile(0.999)),
                max: us(h.max()),
                mean: h.mean() / 1_000.0,
            },
            errors: t.errors.clone(),
            error_examples: t.error_examples.clone(),
            retried: t.retried.clone(),
            answers: Answers {
                known: t.answers[0],
                unknown: t.answers[1],
                invalid: t.answers[2],
                surprises: t.surprises,
            },
            curve,
            server_view: None,
        }
    }

    /// The failed requests, all codes together (shed requests are not failures: refusing
    /// excess load at once is what the server is meant to do).
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The text people read.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let what = match self.method {
            Method::Unary => "unary GetCode".to_string(),
            Method::Batch => format!("GetCodes of {} ids", self.ids_per_request),
            Method::Stream => "StreamCodes, one id per message".to_string(),
        };
        let mode = match self.offered_rate {
            Some(r) => format!("open loop at {} requests/s", thousands(r)),
            None => "closed loop".to_string(),
        };
        let mode = match self.timeout_ms {
            Some(t) => format!("{mode}, deadline {t} ms a call"),
            None => mode,
        };
        let per = if self.method == Method::Stream {
            "streams"
        } else {
            "concurrent"
        };
        let _ = writeln!(
            s,
            "{} {}: {what}, {mode}, {} connections × {} {per}, {:.1} s measured after {:.1} s warm-up",
            self.target,
            self.server,
            self.connections,
            self.concurrency,
            self.seconds,
            self.warmup_seconds
        );
        let _ = writeln!(
            s,
            "  throughput  {} requests/s   {} persons/s   answered",
            thousands(self.requests_per_s),
            thousands(self.persons_per_s)
        );
        if self.shed > 0 {
            let _ = writeln!(
                s,
                "  shed        {} requests/s   ({} RESOURCE_EXHAUSTED, {:.1}% of the requests)",
                thousands(self.shed_per_s),
                self.shed,
                100.0 * self.shed as f64
                    / (self.shed + self.requests + self.failed()).max(1) as f64
            );
        }
        let l = &self.latency_us;
        let _ = writeln!(
            s,
            "  latency     p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {}; answered requests)",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            ms(l.mean)
        );
        let a = &self.answers;
        let n = (a.known + a.unknown + a.invalid).max(1) as f64;
        // The ceiling answers every id alike: its answers say nothing.
        let _ = (self.target != "ceiling").then(|| writeln!(
            s,
            "  answers     known {:.1}%  unknown {:.1}%  invalid id {:.1}%  ({} answers of another kind than their id was made as)",
            100.0 * a.known as f64 / n,
            100.0 * a.unknown as f64 / n,
            100.0 * a.invalid as f64 / n,
            a.surprises
        ));
        if self.errors.is_empty() {
            let _ = writeln!(s, "  errors      none");
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "  errors      {}", list.join(", "));
        }
        for (k, m) in &self.error_examples {
            let _ = writeln!(s, "              {k}: first said {m:?}");
        }
        if !self.retried.is_empty() {
            let list: Vec<String> = self
                .retried
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(
                s,
                "  retried     {} (after {}; queries are reads)",
                self.retried.values().sum::<u64>(),
                list.join(", ")
            );
        }
        if let Some(v) = &self.server_view {
            s.push_str(&v.text());
        }
        s
    }
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(v: f64) -> String {
    let n = v.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds as milliseconds with three significant places.
fn ms(us: f64) -> String {
    let m = us / 1_000.0;
    if m >= 100.0 {
        format!("{m:.0} ms")
    } else if m >= 10.0 {
        format!("{m:.1} ms")
    } else {
        format!("{m:.3} ms")
    }
}

/// Where and how a run ran: printed with every figure.
#[derive(Serialize, Clone, Debug)]
pub struct Machine {
    /// UTC start time.
    pub utc: String,
    /// CPUs the machine offers.
    pub cpus: usize,
    /// CPUs the generator may run on (fewer when it is pinned, e.g. by `taskset`).
    pub generator_cpus: usize,
    /// 1-minute load average at the start.
    pub load_before: f64,
    /// 1-minute load average at the end.
    pub load_after: f64,
    /// The command line.
    pub command: String,
}

/// The 1-minute load average, if the system tells it.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The CPUs online, if the system tells.
fn cpus_online() -> Option<usize> {
    count_cpus(&std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?)
}

/// The CPUs of a Linux CPU list (`0-1,4`: three).
fn count_cpus(text: &str) -> Option<usize> {
    text.trim().split(',').try_fold(0, |n, range| {
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
        Some(n + b.checked_sub(a)? + 1)
    })
}

impl Machine {
    /// Notes the start of a run.
    pub fn start() -> Machine {
        let generator_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Machine {
            utc: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            cpus: cpus_online().unwrap_or(generator_cpus),
            generator_cpus,
            load_before: load_average(),
            load_after: f64::NAN,
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }

    /// Notes the end.
    pub fn finish(&mut self) {
        self.load_after = load_average();
    }

    /// The text people read.
    pub fn text(&self) -> String {
        let pinned = if self.generator_cpus < self.cpus {
            format!(" (the generator on {})", self.generator_cpus)
        } else {
            String::new()
        };
        format!(
            "machine: {} CPUs{pinned}, load average {:.2} → {:.2}, started {}\ncommand: {}\n",
            self.cpus, self.load_before, self.load_after, self.utc, self.command
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(count_cpus("0-1\n"), Some(2));
        assert_eq!(count_cpus("0"), Some(1));
        assert_eq!(count_cpus("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpus("3-1"), None);
        assert_eq!(count_cpus(""), None);
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(5_812_345.0), "5,812,345");
    }
}
