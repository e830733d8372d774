//! The index file's fixed costs: opening it (every checksum and the layout checks), opening and
//! fully verifying it (what the server runs before serving), over bytes read into memory and
//! over a memory map; and building it from the feed directory (feed rows per second).

mod common;

use std::fs::File;
use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use healthcode::index::Index;
use healthcode::pipeline::{BuildOptions, build_index};
use healthcode::serve::state::open_index;
use memmap2::Mmap;

fn open(c: &mut Criterion, world: &common::World) {
    let key = &world.key;
    let path = world.index_file();
    let bytes = world.index_bytes();
    let n = world.persons;
    let mut g = c.benchmark_group("index");
    // Verification takes about 0.3 s a million persons: twenty samples are plenty, given the
    // time they need.
    let per_verify = Duration::from_secs_f64(0.4 * world.persons as f64 / 1_000_000.0);
    g.sample_size(20)
        .measurement_time((per_verify * 22).max(Duration::from_secs(5)))
        .throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function(BenchmarkId::new("open/vec", n), |b| {
        b.iter(|| Index::open(black_box(bytes.as_slice()), key).expect("opens"))
    });
    g.bench_function(BenchmarkId::new("open_verify/vec", n), |b| {
        b.iter(|| {
            let index = Index::open(black_box(bytes.as_slice()), key).expect("opens");
            index.verify().expect("verifies");
        })
    });
    // Mapping inside the loop: the page cache is warm, so this measures the map, the page
    // faults of the first touch and the checks, as a server start or a swap pays them.
    g.bench_function(BenchmarkId::new("open/mmap", n), |b| {
        b.iter(|| {
            let file = File::open(&path).expect("opens the file");
            // SAFETY: the index file lives in this benchmark's private temporary directory and
            // nothing writes to it while it is mapped.
            let map = unsafe { Mmap::map(&file) }.expect("maps the file");
            Index::open(map, key).expect("opens")
        })
    });
    g.bench_function(BenchmarkId::new("open_verify/mmap", n), |b| {
        b.iter(|| open_index(&path, key).expect("opens and verifies"))
    });
    g.finish();
}

fn build(c: &mut Criterion, world: &common::World) {
    let feeds = world.feeds();
    let out = world.scratch_path("rebuilt.hcx");
    let mut g = c.benchmark_group("build");
    // One build takes seconds (about 2 s a 100,000 persons): ten flat samples, and enough
    // time for them so criterion does not ask for more.
    let per_build = Duration::from_secs_f64(2.5 * world.persons as f64 / 100_000.0);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time((per_build * 12).max(Duration::from_secs(5)))
        .throughput(Throughput::Elements(world.feed_rows));
    g.bench_function(BenchmarkId::new("feeds", world.persons), |b| {
        b.iter(|| {
            build_index(
                &feeds,
                &out,
                &world.key,
                &BuildOptions::default(),
                &mut std::io::sink(),
                &mut |_| {},
            )
            .expect("builds")
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let world = common::World::new();
    open(c, &world);
    build(c, &world);
}

criterion_group!(index_benches, benches);
criterion_main!(index_benches);
