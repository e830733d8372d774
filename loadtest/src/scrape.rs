//! The server's own view of a run: its Prometheus metrics scraped as the measured window opens
//! and again when it closes, read as the calls it counted by status code and the latency of the
//! calls it answered `OK`, timed by the server itself (`--server-metrics`).
//!
//! The client's latencies run from each call's intended send time, so they include waiting in
//! the client's own connections; the server's run from the call's headers arriving. Under
//! overload the two differ, and "accepted requests keep their latency" is read from the second.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::drive::Method;

/// The counters of one method at one scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape {
    /// Calls finished, by gRPC status code name.
    calls: BTreeMap<String, f64>,
    /// `request_ok_duration_seconds` buckets: (upper bound in seconds, cumulative count).
    ok: Vec<(f64, f64)>,
    /// `request_duration_seconds` buckets, every call whatever its code.
    all: Vec<(f64, f64)>,
    /// When it was taken.
    at: Option<Instant>,
}

/// The service and method names the server's metrics label `method`'s calls with.
fn method_name(method: Method) -> &'static str {
    match method {
        Method::Unary => "GetCode",
        Method::Batch => "GetCodes",
        Method::Stream => "StreamCodes",
    }
}

/// `GET url` over HTTP/1.1 (plain `http://host:port/path`, as the server's `--metrics` serves):
/// the body of a 200 answer.
fn get(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--server-metrics {url:?}: expected http://HOST:PORT/metrics"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let mut s = TcpStream::connect(host).with_context(|| format!("connecting to {url}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .with_context(|| format!("reading {url}"))?;
    let raw = String::from_utf8(raw).with_context(|| format!("{url}: not UTF-8"))?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .with_context(|| format!("{url}: not an HTTP answer"))?;
    let status = head.lines().next().unwrap_or("");
    if status.split(' ').nth(1) != Some("200") {
        bail!("{url}: {status}");
    }
    Ok(body.to_string())
}

/// The labels of a sample line (`name{k="v",…} value`) and its name and value.
fn parse_line(line: &str) -> Option<(&str, BTreeMap<&str, &str>, f64)> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((n, l)) => (n, l.strip_suffix('}')?),
        None => (series, ""),
    };
    let labels = labels
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k, v.trim_matches('"')))
        })
        .collect();
    Some((name, labels, value))
}

impl Scrape {
    /// `method`'s counters in the text of one scrape.
    pub fn parse(text: &str, method: Method) -> Scrape {
        let want = method_name(method);
        let mut s = Scrape::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, labels, value)) = parse_line(line) else {
                continue;
            };
            if labels.get("method") != Some(&want) {
                continue;
            }
            let bound = || -> Option<f64> {
                match *labels.get("le")? {
                    "+Inf" => Some(f64::INFINITY),
                    b => b.parse().ok(),
                }
            };
            match name {
                "healthcode_requests_total" => {
                    if let Some(code) = labels.get("code") {
                        s.calls.insert(code.to_string(), value);
                    }
                }
                "healthcode_request_ok_duration_seconds_bucket" => {
                    s.ok.extend(bound().map(|b| (b, value)))
                }
                "healthcode_request_duration_seconds_bucket" => {
                    s.all.extend(bound().map(|b| (b, value)))
                }
                _ => {}
            }
        }
        for h in [&mut s.ok, &mut s.all] {
            h.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        s
    }

    /// Scrapes `url` now.
    pub fn take(url: &str, method: Method) -> anyhow::Result<Scrape> {
        let at = Instant::now();
        let mut s = Scrape::parse(&get(url)?, method);
        if s.calls.is_empty() {
            bail!(
                "{url} holds no healthcode_requests_total series of {}: is it a healthcode server's --metrics?",
                method_name(method)
            );
        }
        s.at = Some(at);
        Ok(s)
    }
}

/// Percentiles read from a histogram's buckets: each is the upper bound of the bucket it falls
/// in, in microseconds (`None`: beyond the last finite bound).
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Bounds {
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
}

/// What the server counted between two scrapes, summed over rounds.
#[derive(Serialize, Clone, Debug, Default)]
pub struct ServerView {
    /// Seconds between the scrapes.
    pub seconds: f64,
    /// Calls the server finished, by gRPC status code name (codes with none left out).
    pub calls: BTreeMap<String, u64>,
    /// Calls answered `OK` a second.
    pub ok_per_s: f64,
    /// The latency of the calls answered `OK` (`request_ok_duration_seconds`).
    pub ok_latency_us: Bounds,
    /// The latency of every call (`request_duration_seconds`), refusals and calls the client
    /// gave up on included.
    pub all_latency_us: Bounds,
    /// Cumulative bucket counts of the `OK` calls, kept to add rounds up.
    #[serde(skip)]
    ok: Vec<(f64, f64)>,
    /// Same, of every call.
    #[serde(skip)]
    all: Vec<(f64, f64)>,
}

/// `after − before` of cumulative buckets, matched by bound.
fn delta(before: &[(f64, f64)], after: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|&(b, n)| {
            let was = before
                .iter()
                .find(|(bb, _)| *bb == b)
                .map_or(0.0, |(_, n)| *n);
            (b, n - was)
        })
        .collect()
}

/// Adds cumulative buckets `more` into `into`, matched by bound.
fn add(into: &mut Vec<(f64, f64)>, more: &[(f64, f64)]) {
    if into.is_empty() {
        into.extend_from_slice(more);
        return;
    }
    for (b, n) in into.iter_mut() {
        *n += more.iter().find(|(bb, _)| bb == b).map_or(0.0, |(_, m)| *m);
    }
}

/// The percentiles of cumulative buckets.
fn bounds(h: &[(f64, f64)]) -> Bounds {
    let total = h.last().map_or(0.0, |(_, n)| *n);
    let at = |q: f64| -> Option<f64> {
        if total <= 0.0 {
            return None;
        }
        h.iter()
            .find(|(_, n)| *n >= q * total)
            .map(|(b, _)| *b)
            .filter(|b| b.is_finite())
            .map(|b| b * 1e6)
    };
    Bounds {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p999: at(0.999),
    }
}

impl ServerView {
    /// Adds what happened between `before` and `after` (one round).
    pub fn add(&mut self, before: &Scrape, after: &Scrape) {
        if let (Some(a), Some(b)) = (before.at, after.at) {
            self.seconds += b.duration_since(a).as_secs_f64();
        }
        for (code, n) in &after.calls {
            let d = n - before.calls.get(code).copied().unwrap_or(0.0);
            if d > 0.0 {
                *self.calls.entry(code.clone()).or_default() += d as u64;
            }
        }
        add(&mut self.ok, &delta(&before.ok, &after.ok));
        add(&mut self.all, &delta(&before.all, &after.all));
        self.ok_per_s = self.calls.get("OK").copied().unwrap_or(0) as f64 / self.seconds.max(1e-9);
        self.ok_latency_us = bounds(&self.ok);
        self.all_latency_us = bounds(&self.all);
    }

    /// The lines people read.
    pub fn text(&self) -> String {
        let b = |v: Option<f64>| match v {
            Some(us) if us >= 1000.0 => format!("≤ {} ms", us / 1000.0),
            Some(us) => format!("≤ {us} µs"),
            None => "beyond the last bucket".to_string(),
        };
        let line = |l: &Bounds| {
            format!(
                "p50 {}  p90 {}  p99 {}  p99.9 {}",
                b(l.p50),
                b(l.p90),
                b(l.p99),
                b(l.p999)
            )
        };
        let calls: Vec<String> = self
            .calls
            .iter()
            .map(|(k, v)| format!("{k} {}", crate::report::thousands(*v as f64)))
            .collect();
        format!(
            "  server      {} OK/s over {:.1} s between scrapes; calls {}\n  server OK   {}  (the server's timing of the calls it answered, bucket bounds)\n  server all  {}  (every call, refusals and calls given up on included)\n",
            crate::report::thousands(self.ok_per_s),
            self.seconds,
            calls.join(", "),
            line(&self.ok_latency_us),
            line(&self.all_latency_us),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# HELP healthcode_requests Calls finished.
# TYPE healthcode_requests counter
healthcode_requests_total{service="healthcode.v1.HealthCode",method="GetCode",code="OK"} 10
healthcode_requests_total{service="healthcode.v1.HealthCode",method="GetCodes",code="OK"} 7
healthcode_request_ok_duration_seconds_bucket{service="healthcode.v1.HealthCode",method="GetCode",le="0.001"} 10
healthcode_request_ok_duration_seconds_bucket{service="healthcode.v1.HealthCode",method="GetCode",le="0.01"} 10
healthcode_request_ok_duration_seconds_bucket{service="healthcode.v1.HealthCode",method="GetCode",le="+Inf"} 10
# EOF
"#;

    const AFTER: &str = r#"healthcode_requests_total{service="healthcode.v1.HealthCode",method="GetCode",code="OK"} 1010
healthcode_requests_total{service="healthcode.v1.HealthCode",method="GetCode",code="RESOURCE_EXHAUSTED"} 50
healthcode_requests_total{service="healthcode.v1.HealthCode",method="GetCodes",code="OK"} 99
healthcode_request_ok_duration_seconds_bucket{service="healthcode.v1.HealthCode",method="GetCode",le="0.001"} 990
healthcode_request_ok_duration_seconds_bucket{service="healthcode.v1.HealthCode",method="GetCode",le="0.01"} 1009
healthcode_request_ok_duration_seconds_bucket{service="healthcode.v1.HealthCode",method="GetCode",le="+Inf"} 1010
healthcode_request_duration_seconds_bucket{service="healthcode.v1.HealthCode",method="GetCode",le="0.001"} 990
healthcode_request_duration_seconds_bucket{service="healthcode.v1.HealthCode",method="GetCode",le="+Inf"} 1060
"#;

    #[test]
    fn a_view_is_the_difference_of_two_scrapes_of_one_method() {
        let mut v = ServerView::default();
        v.add(
            &Scrape::parse(BEFORE, Method::Unary),
            &Scrape::parse(AFTER, Method::Unary),
        );
        // GetCodes' calls are another method's.
        assert_eq!(
            v.calls,
            BTreeMap::from([("OK".into(), 1000), ("RESOURCE_EXHAUSTED".into(), 50)])
        );
        // 1,000 OK calls between: 980 within 1 ms, 19 within 10 ms, one beyond.
        assert_eq!(
            v.ok_latency_us,
            Bounds {
                p50: Some(1000.0),
                p90: Some(1000.0),
                p99: Some(10_000.0),
                p999: Some(10_000.0),
            }
        );
        // Every call: 50 of 1,050 beyond the last finite bound, from the 96th percentile on.
        assert_eq!(v.all_latency_us.p90, Some(1000.0));
        assert_eq!(v.all_latency_us.p99, None);
    }

    #[test]
    fn rounds_add_up_bucket_by_bucket() {
        let (a, b) = (
            Scrape::parse(BEFORE, Method::Unary),
            Scrape::parse(AFTER, Method::Unary),
        );
        let mut v = ServerView::default();
        v.add(&a, &b);
        v.add(&a, &b);
        assert_eq!(v.calls["OK"], 2000);
        assert_eq!(
            v.ok,
            vec![(0.001, 1960.0), (0.01, 1998.0), (f64::INFINITY, 2000.0)]
        );
    }
}
