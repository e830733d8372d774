//! The query path in process, one evaluation at a time on one core: parse a document number,
//! look it up, decode the person's records and run the rules (DOMAIN.md §4) — for known and
//! unknown numbers, and each step alone. Throughput is evaluations (or lookups) per second.

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
    // The same index as a format-2 file (keys and offsets apart), served beside it: the two
    // layouts' batch paths alternated in one process, so that the machine's drift between runs
    // does not decide which is faster.
    let old_file = world.scratch_path("format2.hcx");
    std::fs::write(
        &old_file,
        healthcode::index::as_format_2(&world.index_bytes()).expect("a format-3 file"),
    )
    .expect("writing the format-2 file");
    let old_state = Arc::new(State::new(
        open_index(&old_file, key).expect("opens the format-2 index"),
        old_file.clone(),
        world.key.clone(),
        Policy::PrecisionAware,
        Some(day),
    ));
    let old_snap = old_state.current();
    for round in 0..3 {
        for (format, (state, snap)) in [(3, (&state, &snap)), (2, (&old_state, &old_snap))] {
            let name = format!("known_serve_batch_format{format}_round{round}");
            g.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(cycle(&batches, |ids| {
                    let mut findings = 0;
                    each_code(state, snap, black_box(ids), day, |_, answer| {
                        findings += answer.expect("valid ids").0.findings.len();
                        Ok::<(), ()>(())
                    })
                    .expect("never stopped");
                    findings
                }))
            });
        }
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
