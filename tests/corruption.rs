//! The corruption matrix: for every part of an index file (header, section table, each section
//! as the header lists it, the padding between sections, the footer), bytes flipped at sampled
//! offsets and the file truncated at many lengths. Every variant must be refused — by
//! `Index::open` + `verify` (without a panic), by `healthcode verify` (non-zero exit), and by the
//! server's `Reload` (the old index keeps serving, same generation, same answers). The files of
//! format 2, which deployments still hold, go through the same matrix and must read as the same
//! index as format 3.

mod util;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use healthcode::domain::{Day, Policy, RegionCode};
use healthcode::index::format::{
    FOOTER_LEN, HEADER_LEN, SECTION_ENTRY_LEN, SectionId, get_u16, get_u32, get_u64, header,
};
use healthcode::index::{Index, IndexError, as_format_2};
use healthcode::key::Key;
use healthcode::pipeline::{BuildOptions, build_index};
use healthcode::proto;
use healthcode::serve::{self, State};
use healthcode::synth::{self, GenConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use util::*;

fn today() -> Day {
    Day::parse(synth::DEFAULT_TODAY).unwrap()
}

/// A small generated world built into `dir/good.hci` with a fresh key at `dir/key`; the index,
/// the key and a document number the index knows.
fn built(dir: &Path) -> (PathBuf, PathBuf, Key, String) {
    let feeds = dir.join("feeds");
    let cfg = GenConfig {
        persons: 150,
        seed: 21,
        today: today(),
        city: RegionCode::parse(synth::DEFAULT_CITY).unwrap(),
    };
    synth::generate(&cfg, &feeds, false, &mut |_| {}).expect("the world generates");
    let key_file = dir.join("key");
    let key = Key::create(&key_file).expect("a key file");
    let index = dir.join("good.hci");
    let opts = BuildOptions {
        data_as_of: Some(today()),
        ..Default::default()
    };
    build_index(
        &feeds,
        &index,
        &key,
        &opts,
        &mut std::io::sink(),
        &mut |_| {},
    )
    .expect("the world builds");
    let bindings = std::fs::read_to_string(feeds.join("bindings.csv")).unwrap();
    let id = bindings.lines().nth(1).unwrap().split(',').next().unwrap();
    (index, key_file, key, id.to_string())
}

/// A named byte range of the file.
#[derive(Clone, Debug)]
struct Part {
    name: String,
    range: std::ops::Range<usize>,
    /// The section this range is, when it is one.
    section: Option<SectionId>,
}

/// The sections a file of format `version` holds: format 3 keeps keys and record offsets side by
/// side in `entries`, formats 1 and 2 in `keys` and `offsets`.
fn sections_of(version: u16) -> Vec<SectionId> {
    let split = [SectionId::Keys, SectionId::Offsets];
    SectionId::ALL
        .into_iter()
        .filter(|s| match version {
            3 | 4 => !split.contains(s),
            _ => *s != SectionId::Entries,
        })
        .collect()
}

/// The good file of `dir`'s world as it is built (format 4), and the same index as format 2.
fn good_files(index: &Path) -> [(u16, Vec<u8>); 2] {
    let good = std::fs::read(index).unwrap();
    let old = as_format_2(&good).expect("a file the builder wrote");
    [(4, good), (2, old)]
}

/// Every part of the file, from the header's own account of it: header, section table, each
/// section, each gap of padding between sections, footer.
fn parts(b: &[u8]) -> Vec<Part> {
    let count = usize::from(get_u16(b, header::SECTION_COUNT));
    let version = get_u16(b, header::VERSION);
    assert_eq!(
        count,
        sections_of(version).len(),
        "every section of format {version} is listed"
    );
    let table_end = HEADER_LEN + count * SECTION_ENTRY_LEN;
    let mut out = vec![
        Part {
            name: "header".into(),
            range: 0..HEADER_LEN,
            section: None,
        },
        Part {
            name: "section table".into(),
            range: HEADER_LEN..table_end,
            section: None,
        },
    ];
    let mut sections: Vec<(SectionId, usize, usize)> = (0..count)
        .map(|i| {
            let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
            let id = SectionId::from_u32(get_u32(b, e)).expect("a known section id");
            (id, get_u64(b, e + 8) as usize, get_u64(b, e + 16) as usize)
        })
        .collect();
    sections.sort_by_key(|s| s.1);
    let mut at = table_end;
    for (id, off, len) in sections {
        assert!(off >= at, "{} starts after what precedes it", id.name());
        if off > at {
            out.push(Part {
                name: format!("padding before {}", id.name()),
                range: at..off,
                section: None,
            });
        }
        assert!(len > 0, "{} is not empty", id.name());
        out.push(Part {
            name: id.name().to_string(),
            range: off..off + len,
            section: Some(id),
        });
        at = off + len;
    }
    let foot = b.len() - FOOTER_LEN;
    if foot > at {
        out.push(Part {
            name: "padding before the footer".into(),
            range: at..foot,
            section: None,
        });
    }
    out.push(Part {
        name: "footer".into(),
        range: foot..b.len(),
        section: None,
    });
    out
}

/// Offsets to flip in a part: start, end, middle and three seeded random ones.
fn sampled(range: &std::ops::Range<usize>, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut v = vec![range.start, range.end - 1, (range.start + range.end) / 2];
    for _ in 0..3 {
        v.push(rng.random_range(range.clone()));
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Every corrupt variant: (what it is, its bytes).
fn variants(good: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(0xbad_f11e);
    let mut out = Vec::new();
    for part in parts(good) {
        for at in sampled(&part.range, &mut rng) {
            let mut b = good.to_vec();
            b[at] ^= rng.random_range(1..=255u8);
            out.push((format!("{}: byte {at} flipped", part.name), b));
        }
    }
    let mut lengths = vec![0, 1, 8, HEADER_LEN / 2, HEADER_LEN - 1, HEADER_LEN];
    for part in parts(good) {
        for l in [part.range.start, part.range.end] {
            lengths.extend([l.saturating_sub(1), l, l + 1]);
        }
    }
    for _ in 0..10 {
        lengths.push(rng.random_range(0..good.len()));
    }
    lengths.retain(|&l| l < good.len());
    lengths.sort_unstable();
    lengths.dedup();
    for l in lengths {
        out.push((format!("truncated to {l} bytes"), good[..l].to_vec()));
    }
    out
}

/// Open and verify, as a server does; a panic fails the test.
fn check(what: &str, b: &[u8], key: &Key) -> Result<(), IndexError> {
    catch_unwind(AssertUnwindSafe(|| {
        Index::open(b, key).and_then(|idx| idx.verify())
    }))
    .unwrap_or_else(|_| panic!("{what}: open or verify panicked"))
}

#[test]
fn every_flipped_byte_and_truncation_in_every_part_is_refused_without_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let (index, _, key, _) = built(tmp.path());
    for (version, good) in good_files(&index) {
        check("the good file", &good, &key).expect("the good file verifies");
        let names: Vec<String> = parts(&good).into_iter().map(|p| p.name).collect();
        for s in sections_of(version) {
            assert!(names.iter().any(|n| n == s.name()), "{} sampled", s.name());
        }
        let all = variants(&good);
        assert!(all.len() > 100, "{} variants", all.len());
        for (what, b) in &all {
            assert!(
                check(what, b, &key).is_err(),
                "format {version}: {what}: accepted"
            );
        }
    }
}

/// An index written as format 2 (keys and offsets apart) reads as the same index its format-4
/// file is: same persons, same keys, the same answer for every person on every policy, whether
/// looked up one by one or in a batch; and the server opens and serves it.
#[test]
fn a_format_2_file_reads_as_the_same_index_as_format_4() {
    use healthcode::domain::Query;
    use healthcode::index::Scratch;
    let tmp = tempfile::tempdir().unwrap();
    let (index, _, key, id) = built(tmp.path());
    let [(_, new), (_, old)] = good_files(&index);
    assert_eq!(get_u16(&old, header::VERSION), 2);
    assert_eq!(get_u16(&new, header::VERSION), 4);
    let (new, old) = (
        Index::open(new.as_slice(), &key).unwrap(),
        Index::open(old.as_slice(), &key).unwrap(),
    );
    old.verify().expect("the format-2 file verifies");
    assert_eq!((old.persons(), old.build_id() != 0), (new.persons(), true));
    let hashes: Vec<Option<u64>> = (0..new.persons()).map(|p| new.key_of(p)).collect();
    let mut answers = [Vec::new(), Vec::new()];
    for policy in Policy::ALL {
        let q = Query {
            day: today(),
            policy,
            areas: new.risk_areas(),
        };
        for (w, idx) in [&new, &old].into_iter().enumerate() {
            let mut scratch = Scratch::default();
            for (pid, h) in hashes.iter().enumerate() {
                assert_eq!(idx.key_of(pid as u32), *h);
                assert_eq!(idx.lookup_hash(h.unwrap()), Some(pid as u32));
                let (code, known) = idx.code_of(h.unwrap(), q, &mut scratch, |_| false).unwrap();
                answers[w].push((code.clone(), known));
            }
            idx.codes_of(
                &hashes,
                q,
                &mut scratch,
                |_, _| false,
                |_, a| {
                    let (code, known) = a.unwrap().unwrap();
                    answers[w].push((code.clone(), known));
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
        }
    }
    assert_eq!(answers[0].len(), 4 * new.persons() as usize);
    assert!(answers[0].iter().any(|(c, _)| !c.findings.is_empty()));
    assert_eq!(answers[0], answers[1]);

    let path = tmp.path().join("old.hci");
    std::fs::write(&path, as_format_2(&std::fs::read(&index).unwrap()).unwrap()).unwrap();
    let served = serve::open_index(&path, &key).expect("the server opens a format-2 file");
    let h = key.hash_id(healthcode::domain::IdNumber::parse(&id).unwrap());
    assert!(served.lookup_hash(h).is_some(), "{id} is found in it");
}

/// Defence in depth: with the whole-file checksum recomputed after the flip (as a bad copy that
/// rewrote the footer would), a flipped byte inside a section is still refused, and the error
/// names that section.
#[test]
fn a_flip_inside_a_section_is_caught_by_the_sections_own_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let (index, _, key, _) = built(tmp.path());
    for (_, good) in good_files(&index) {
        let foot = good.len() - FOOTER_LEN;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for part in parts(&good) {
            let Some(id) = part.section else { continue };
            for at in sampled(&part.range, &mut rng) {
                let mut b = good.clone();
                b[at] ^= 0x20;
                let sum = xxhash_rust::xxh3::xxh3_64(&b[..foot]);
                b[foot..foot + 8].copy_from_slice(&sum.to_le_bytes());
                let what = format!("{}: byte {at} flipped, file checksum redone", id.name());
                match check(&what, &b, &key) {
                    Err(IndexError::Corrupted { section, .. }) => {
                        assert_eq!(section, id.name(), "{what}")
                    }
                    other => panic!("{what}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn healthcode_verify_says_ok_for_a_good_file_and_fails_for_damaged_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (index, key_file, key, _) = built(tmp.path());
    let good = std::fs::read(&index).unwrap();
    let run = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_healthcode"))
            .args(["verify", file.to_str().unwrap(), "--key-file"])
            .arg(&key_file)
            .output()
            .expect("running healthcode verify")
    };
    let ok = run(&index);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{ok:?}");
    let idx = Index::open(good.as_slice(), &key).unwrap();
    for part in [
        "OK ".to_string(),
        format!("{} persons", idx.persons()),
        format!("data as of {}", today()),
        format!("{} bytes", good.len()),
        format!("build id {:016x}", idx.build_id()),
    ] {
        assert!(stdout.contains(&part), "{part:?} in {stdout}");
    }

    let all = variants(&good);
    let chosen = [
        "persons: byte",
        "header: byte",
        "truncated to 0 ",
        "footer: byte",
    ];
    for prefix in chosen {
        let (what, b) = all
            .iter()
            .find(|(w, _)| w.starts_with(prefix))
            .unwrap_or_else(|| panic!("a variant {prefix:?}"));
        let bad = tmp.path().join("bad.hci");
        std::fs::write(&bad, b).unwrap();
        let out = run(&bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("FAILED") && stderr.contains("bad.hci"),
            "{what}: {stderr}"
        );
    }
    // A flip inside a section with the file checksum redone names the section.
    let persons = parts(&good)
        .into_iter()
        .find(|p| p.section == Some(SectionId::Persons))
        .unwrap();
    let mut b = good.clone();
    b[persons.range.start + 1] ^= 0x01;
    let foot = b.len() - FOOTER_LEN;
    let sum = xxhash_rust::xxh3::xxh3_64(&b[..foot]);
    b[foot..foot + 8].copy_from_slice(&sum.to_le_bytes());
    let bad = tmp.path().join("bad.hci");
    std::fs::write(&bad, &b).unwrap();
    let out = run(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("section persons: section checksum mismatch"),
        "{stderr}"
    );
    // Another key is refused and says so.
    let other = tmp.path().join("other-key");
    Key::create(&other).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .args(["verify", index.to_str().unwrap(), "--key-file"])
        .arg(&other)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another key"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_refuses_every_variant_and_the_old_index_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let (index, _, key, id) = built(tmp.path());
    let good = std::fs::read(&index).unwrap();
    let idx = serve::open_index(&index, &key).unwrap();
    let state = Arc::new(State::new(
        idx,
        index.clone(),
        key.clone(),
        Policy::PrecisionAware,
        Some(today()),
    ));
    let server = Server::serve(state, tokens()).await;
    let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
    let mut codes = server.codes(Some(QUERY_TOKEN)).await;
    let ask = |codes: &mut CodeClient| {
        let mut codes = codes.clone();
        let id = id.clone();
        async move {
            codes
                .get_code(proto::CodeRequest {
                    id_number: id,
                    as_of: String::new(),
                })
                .await
                .expect("a known person is answered")
                .into_inner()
        }
    };
    let before = ask(&mut codes).await;
    assert!(before.known, "the person asked about is in the index");

    for (what, b) in variants(&good) {
        let bad = tmp.path().join("bad.hci");
        std::fs::write(&bad, &b).unwrap();
        let e = admin
            .reload(proto::ReloadRequest {
                path: bad.display().to_string(),
                force: true,
            })
            .await
            .expect_err(&what);
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{what}: {e:?}");
    }
    let info = admin
        .info(proto::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.generation, 1, "nothing was swapped in");
    assert_eq!(
        ask(&mut codes).await,
        before,
        "the old index answers as before"
    );
    server.stop().await;
}
