//! The query path in process, one evaluation at a time on one core: parse a document number,
//! look it up, decode the person's records and run the rules (DOMAIN.md §4) — for known and
//! unknown numbers, and each step alone. Throughput is evaluations (or lookups) per second.
//! With `HEALTHCODE_BENCH_AB_SECONDS` set, also compares batch paths call by call (`interleaved`).

mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use healthcode::domain::{Code, Day, IdNumber, PersonRecords, Policy, evaluate, evaluate_into};
use healthcode::index::{Index, Scratch};
use healthcode::key::Key;
use healthcode::serve::answer::{Stamp, each_code, with_code};
use healthcode::serve::metrics::{CallTimer, Metrics, Tally};
use healthcode::serve::state::{State, open_index};
use healthcode::serve::wire::{AnswerWriter, BatchWriter, put_code};
use healthcode::serve::{Limits, LimitsConfig};

/// Ids drawn per sample; a power of two so the next one is a mask away.
const SAMPLE: usize = 1 << 16;
/// Records decoded ahead for `evaluate` alone.
const DECODED: usize = 1 << 12;
/// Ids per call of the batch benchmark: a `GetCodes` call of the load targets.
const BATCH: usize = 1000;

/// One query as the server answers it (`serve::answer::with_code` without the snapshot, the
/// live records and the thread-local): parse, then `Index::code` (lookup, decode into the
/// scratch's records, evaluate into its code); unknown ids are green. Returns the number of
/// findings and whether the person is known.
fn query<B: AsRef<[u8]>>(
    index: &Index<B>,
    key: &Key,
    text: &str,
    day: Day,
    scratch: &mut Scratch,
) -> (usize, bool) {
    let id = IdNumber::parse(text).expect("a valid id");
    let (code, known) = index
        .code(key, id, day, Policy::PrecisionAware, scratch)
        .expect("a verified record");
    (code.findings.len(), known)
}

/// Calls `f` on the samples in turn, one per iteration.
fn cycle<T, R>(samples: &[T], mut f: impl FnMut(&T) -> R) -> impl FnMut() -> R {
    assert!(samples.len().is_power_of_two());
    let mask = samples.len() - 1;
    let mut i = 0usize;
    move || {
        let r = f(&samples[i & mask]);
        i = i.wrapping_add(1);
        r
    }
}

/// Prints what the evaluated records hold and what they answer, to read the figures by.
fn describe<B: AsRef<[u8]>>(index: &Index<B>, decoded: &[PersonRecords], day: Day) {
    let n = decoded.len() as f64;
    let (mut stays, mut phones, mut findings, mut green) = (0, 0, 0, 0);
    for r in decoded {
        stays += r.stays.len() + r.phones.iter().map(|p| p.stays.len()).sum::<usize>();
        phones += r.phones.len();
        let code = evaluate(r, index.risk_areas(), day, Policy::PrecisionAware);
        findings += code.findings.len();
        green += usize::from(code.findings.is_empty());
    }
    eprintln!(
        "setup: {} sampled persons: {:.2} stays, {:.2} phones, {:.2} findings each; \
         {:.1}% with no finding; {} risk areas",
        decoded.len(),
        stays as f64 / n,
        phones as f64 / n,
        findings as f64 / n,
        100.0 * green as f64 / n,
        index.risk_areas().areas().len()
    );
}

/// The environment variable that asks for the interleaved comparisons, and for how long each
/// runs (seconds).
const AB_VAR: &str = "HEALTHCODE_BENCH_AB_SECONDS";

/// How much of `bytes` the kernel maps in 2 MiB pages, as a share.
fn pages(bytes: &[u8]) -> String {
    match healthcode::serve::pages::huge_page_bytes(bytes) {
        Some(h) => format!("{:.0} %", 100.0 * h as f64 / bytes.len() as f64),
        None => "not told".to_string(),
    }
}

/// `HEALTHCODE_BENCH_AB_SECONDS`, if set.
fn ab_seconds() -> Option<f64> {
    let v = std::env::var(AB_VAR).ok()?;
    let s: f64 = v
        .parse()
        .unwrap_or_else(|_| panic!("{AB_VAR}={v:?} is not a number of seconds"));
    assert!(s > 0.0, "{AB_VAR}={v:?} must be above 0");
    Some(s)
}

/// Compares two ways of doing the same work on a machine whose speed drifts: calls `a` and `b`
/// in pairs (which goes first alternates), one call each, for `seconds`, timing every call,
/// and prints the median of the pairs' time ratios with its 95 % confidence interval and each
/// side's median rate. Runs of a few seconds each, as separate benchmarks, differ by ±20 % on
/// a shared machine; two calls a millisecond apart see the same machine, so their ratio does not
/// drift. `per_call` is the elements one call does; `i` is the call's number in its series.
fn interleaved(
    what: &str,
    (a_name, a): (&str, &mut dyn FnMut(usize) -> usize),
    (b_name, b): (&str, &mut dyn FnMut(usize) -> usize),
    per_call: usize,
    seconds: f64,
) {
    let time = |f: &mut dyn FnMut(usize) -> usize, i| {
        let t = std::time::Instant::now();
        black_box(f(i));
        t.elapsed().as_secs_f64()
    };
    // A warm-up of each side, not counted.
    for i in 0..16 {
        time(&mut *a, i);
        time(&mut *b, i);
    }
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let start = std::time::Instant::now();
    let mut i = 0;
    while start.elapsed().as_secs_f64() < seconds || i < 16 {
        if i % 2 == 0 {
            ta.push(time(&mut *a, i));
            tb.push(time(&mut *b, i));
        } else {
            tb.push(time(&mut *b, i));
            ta.push(time(&mut *a, i));
        }
        i += 1;
    }
    let mut ratios: Vec<f64> = tb.iter().zip(&ta).map(|(b, a)| b / a).collect();
    let (lo, mid, hi) = median_interval(&mut ratios);
    let rate = |t: &mut Vec<f64>| per_call as f64 / median_interval(t).1 / 1e6;
    eprintln!(
        "interleaved {what}: {a_name} {:.3} M/s, {b_name} {:.3} M/s (medians of {i} calls \
         each over {:.1} s); {a_name} is {mid:.3}x as fast (95 % interval {lo:.3}-{hi:.3})",
        rate(&mut ta),
        rate(&mut tb),
        start.elapsed().as_secs_f64()
    );
}

/// The median of `v` and the 95 % confidence interval of the population's median (by ranks:
/// the median lies between the order statistics `n/2 -+ 0.98 sqrt(n)`). Sorts `v`.
fn median_interval(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let half = 0.98 * (n as f64).sqrt();
    let at = |r: f64| v[(r.round().max(0.0) as usize).min(n - 1)];
    (
        at(n as f64 / 2.0 - half),
        at((n - 1) as f64 / 2.0),
        at(n as f64 / 2.0 + half),
    )
}

fn benches(c: &mut Criterion) {
    let world = common::World::new();
    let index = world.open();
    let key = &world.key;
    let day = common::query_day();
    let known = common::known_ids(&world, &index, SAMPLE);
    let unknown = common::unknown_ids(key, &index, &known, SAMPLE);
    let known_text: Vec<String> = known.iter().map(|&id| common::id_text(id)).collect();
    let unknown_text: Vec<String> = unknown.iter().map(|&id| common::id_text(id)).collect();
    let pids: Vec<u32> = known
        .iter()
        .map(|&id| index.lookup(key, id).expect("known"))
        .collect();
    let decoded: Vec<PersonRecords> = pids[..DECODED]
        .iter()
        .map(|&pid| {
            let mut r = PersonRecords::default();
            index.person(pid, &mut r).expect("a verified record");
            r
        })
        .collect();

    describe(&index, &decoded, day);

    let n = world.persons;
    let mut g = c.benchmark_group("query");
    g.throughput(Throughput::Elements(1));
    let mut scratch = Scratch::default();
    g.bench_function(BenchmarkId::new("known", n), |b| {
        b.iter(cycle(&known_text, |t| {
            query(&index, key, black_box(t), day, &mut scratch)
        }))
    });
    g.bench_function(BenchmarkId::new("unknown", n), |b| {
        b.iter(cycle(&unknown_text, |t| {
            query(&index, key, black_box(t), day, &mut scratch)
        }))
    });
    // The server's own function over the server's own open path (a verified memory map): the
    // library's instantiation of the generic index code rather than this crate's.
    let state = Arc::new(State::new(
        open_index(&world.index_file(), key).expect("opens the index"),
        world.index_file(),
        world.key.clone(),
        Policy::PrecisionAware,
        Some(day),
    ));
    let snap = state.current();
    g.bench_function(BenchmarkId::new("known_serve", n), |b| {
        b.iter(cycle(&known_text, |t| {
            with_code(&state, &snap, black_box(t), day, |code, known| {
                (code.findings.len(), known)
            })
            .expect("a valid id")
        }))
    });
    // A GetCodes call's evaluation as the server runs it: the batch path, whose index reads run
    // a few ids ahead of the evaluation. Throughput counts ids, so it compares with `known_serve`.
    let batches: Vec<&[String]> = known_text.chunks_exact(BATCH).take(64).collect();
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(BenchmarkId::new("known_serve_batch", n), |b| {
        b.iter(cycle(&batches, |ids| {
            let mut findings = 0;
            each_code(&state, &snap, black_box(ids), day, |_, answer| {
                findings += answer.expect("valid ids").0.findings.len();
                Ok::<(), ()>(())
            })
            .expect("never stopped");
            findings
        }))
    });
    // Comparisons of the batch path on one machine at one moment, call by call (`interleaved`),
    // when asked for: the same index as a format-2 file (keys and offsets apart), and the same
    // file mapped a second time with 2 MiB pages refused (`MADV_NOHUGEPAGE`).
    if let Some(seconds) = ab_seconds() {
        let batch = |state: &Arc<State>, snap: &Arc<healthcode::serve::Snapshot>, i: usize| {
            let mut findings = 0;
            let ids = batches[i % batches.len()];
            each_code(state, snap, black_box(ids), day, |_, answer| {
                findings += answer.expect("valid ids").0.findings.len();
                Ok::<(), ()>(())
            })
            .expect("never stopped");
            findings
        };
        let serving = |index, path| {
            let state = Arc::new(State::new(
                index,
                path,
                world.key.clone(),
                Policy::PrecisionAware,
                Some(day),
            ));
            let snap = state.current();
            (state, snap)
        };
        let old_file = world.scratch_path("format2.hcx");
        healthcode::index::write_atomic(
            &old_file,
            &healthcode::index::as_format_2(&world.index_bytes()).expect("a format-3 file"),
        )
        .expect("writing the format-2 file");
        let (old_state, old_snap) = serving(
            open_index(&old_file, key).expect("opens the format-2 index"),
            old_file.clone(),
        );
        // Two served indexes' batches, interleaved, after how much of each is in 2 MiB pages.
        type Served<'a> = (
            &'a str,
            &'a Arc<State>,
            &'a Arc<healthcode::serve::Snapshot>,
        );
        let compare = |(a, a_state, a_snap): Served<'_>, (b, b_state, b_snap): Served<'_>| {
            eprintln!(
                "setup: in 2 MiB pages: {a} {}, {b} {}",
                pages(a_snap.index.bytes()),
                pages(b_snap.index.bytes())
            );
            interleaved(
                &format!("known_serve_batch at {n} persons"),
                (a, &mut |i| batch(a_state, a_snap, i)),
                (b, &mut |i| batch(b_state, b_snap, i)),
                BATCH,
                seconds,
            );
        };
        compare(
            ("format 3", &state, &snap),
            ("format 2", &old_state, &old_snap),
        );
        drop((old_state, old_snap));
        let file = std::fs::File::open(world.index_file()).expect("opening the index");
        // SAFETY: the world's index file is written once and never changed.
        let map = unsafe { memmap2::Mmap::map(&file) }.expect("mapping the index");
        map.advise(memmap2::Advice::NoHugePage)
            .expect("asking for small pages");
        let small = Index::open(map, key).expect("opens the index");
        small.verify().expect("verifies");
        let (small_state, small_snap) = serving(small, world.index_file());
        compare(
            ("as served", &state, &snap),
            ("MADV_NOHUGEPAGE", &small_state, &small_snap),
        );
    }
    // The same with the answers written as `GetCodes` sends them: the whole call's work in the
    // server but for the transport.
    g.bench_function(BenchmarkId::new("known_serve_batch_written", n), |b| {
        b.iter(cycle(&batches, |ids| {
            let stamp = Stamp::new(&snap, day);
            let mut out = BatchWriter::new(&snap, &stamp, ids.len());
            each_code(&state, &snap, black_box(ids), day, |_, answer| {
                let (code, known) = answer.expect("valid ids");
                out.valid(code, known);
                Ok::<(), ()>(())
            })
            .expect("never stopped");
            out.finish().0.len()
        }))
    });
    g.throughput(Throughput::Elements(1));
    // The same with what `serve --metrics` records for a GetCode call on top: its timing and
    // status code (three clock readings, the path's method) and its answer's colour and findings.
    let limits = Arc::new(Limits::new(&LimitsConfig::default()).expect("default limits"));
    let metrics = Metrics::new(state.clone(), limits);
    g.bench_function(BenchmarkId::new("known_serve_metered", n), |b| {
        b.iter(cycle(&known_text, |t| {
            let call = CallTimer::start(black_box("/healthcode.v1.HealthCode/GetCode"));
            let mut tally = Tally::default();
            let r = with_code(&state, &snap, black_box(t), day, |code, known| {
                tally.add(code, known);
                (code.findings.len(), known)
            })
            .expect("a valid id");
            metrics.answered(&tally);
            metrics.processed(call.method, call.elapsed());
            metrics.finished(call.method, 0, call.elapsed());
            r
        }))
    });
    g.bench_function(BenchmarkId::new("parse", n), |b| {
        b.iter(cycle(&known_text, |t| IdNumber::parse(black_box(t))))
    });
    g.bench_function(BenchmarkId::new("lookup", n), |b| {
        b.iter(cycle(&known, |&id| index.lookup(key, black_box(id))))
    });
    g.bench_function(BenchmarkId::new("lookup_unknown", n), |b| {
        b.iter(cycle(&unknown, |&id| index.lookup(key, black_box(id))))
    });
    let (mut records, mut spare) = (PersonRecords::default(), Vec::new());
    g.bench_function(BenchmarkId::new("decode", n), |b| {
        b.iter(cycle(&pids, |&pid| {
            index
                .person_reusing(black_box(pid), &mut records, &mut spare)
                .expect("decodes");
        }))
    });
    let mut code = Code::green();
    g.bench_function(BenchmarkId::new("evaluate", n), |b| {
        b.iter(cycle(&decoded, |r| {
            evaluate_into(
                black_box(r),
                index.risk_areas(),
                day,
                Policy::PrecisionAware,
                &mut code,
            );
            code.findings.len()
        }))
    });
    // Writing an evaluated answer's protobuf bytes alone: as the answers of a batch or a stream's
    // chunk are (one writer for all, remembering the texts it wrote), and as a `GetCode` call's.
    let codes: Vec<Code> = decoded
        .iter()
        .map(|r| evaluate(r, index.risk_areas(), day, Policy::PrecisionAware))
        .collect();
    let stamp = Stamp::new(&snap, day);
    let mut out = Vec::new();
    let mut writer = AnswerWriter::new(&snap, &stamp);
    g.bench_function(BenchmarkId::new("write", n), |b| {
        b.iter(cycle(&codes, |code| {
            out.clear();
            writer.put(&mut out, black_box(code), true);
            out.len()
        }))
    });
    g.bench_function(BenchmarkId::new("write_one", n), |b| {
        b.iter(cycle(&codes, |code| {
            out.clear();
            put_code(&mut out, &snap, black_box(code), true, &stamp);
            out.len()
        }))
    });
    g.finish();
}

criterion_group!(evaluate_benches, benches);
criterion_main!(evaluate_benches);
