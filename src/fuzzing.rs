//! The bodies of the fuzz targets (`fuzz/fuzz_targets/`) and their seed inputs, in the library so
//! that the same code runs under libFuzzer (`cargo fuzz`) and under the stable test harness
//! (`tests/fuzz_stable.rs`). Each body takes arbitrary bytes and must never panic: it returns
//! quietly when the input is refused, and asserts the invariants an accepted input must keep.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::domain::{Day, IdNumber, Phone, Policy, Query, RegionCode};
use crate::feeds::{self, FeedOptions, schema};
use crate::index::format::{
    END_MAGIC, FOOTER_LEN, HEADER_LEN, SECTION_ENTRY_LEN, get_u16, get_u64, header,
};
use crate::index::{Index, Scratch};
use crate::key::Key;
use crate::overlay::log::{self, LOG_HEADER_LEN, MAX_TEXT, RECORD_PREFIX_LEN};
use crate::overlay::{Change, Entry, apply_risk_changes};

/// One fuzz target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An index file: open, verify, then every person looked up and answered.
    Index,
    /// One feed file (a CSV header and rows) through the readers and row validators.
    FeedRows,
    /// The live-update log: header, records, replay.
    OverlayLog,
    /// Document numbers, phones, region codes and days as text.
    Domain,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 4] = [
        Target::Index,
        Target::FeedRows,
        Target::OverlayLog,
        Target::Domain,
    ];

    /// The target's name (its file in `fuzz/fuzz_targets/`).
    pub fn name(self) -> &'static str {
        match self {
            Target::Index => "index",
            Target::FeedRows => "feed_rows",
            Target::OverlayLog => "overlay_log",
            Target::Domain => "domain",
        }
    }

    /// Runs the target's body on `data`.
    pub fn run(self, data: &[u8]) {
        match self {
            Target::Index => index(data),
            Target::FeedRows => feed_rows(data),
            Target::OverlayLog => overlay_log(data),
            Target::Domain => domain(data),
        }
    }

    /// Valid inputs to start from (made once per process from a small generated world).
    pub fn seeds(self) -> &'static [Vec<u8>] {
        let s = seeds();
        match self {
            Target::Index => &s.index,
            Target::FeedRows => &s.feed_rows,
            Target::OverlayLog => &s.overlay_log,
            Target::Domain => &s.domain,
        }
    }
}

/// The key every fuzzed index and log is written for.
pub fn key() -> Key {
    Key::from_words(0xf022_0001, 0xf022_0002)
}

/// Index target. The first byte is a mode: odd = reseal the rest (every checksum, the length
/// and the key fingerprint recomputed, so that mutations reach the structural checks behind
/// them), even = take the rest as it is.
pub fn index(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = key();
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        reseal_index(&mut bytes, &key);
    }
    let Ok(idx) = Index::open(bytes.as_slice(), &key) else {
        return;
    };
    if idx.verify().is_err() {
        return;
    }
    // Verified: every person must be found by its own key and answer without error.
    let mut scratch = Scratch::default();
    for pid in 0..idx.persons() {
        let hash = idx
            .key_of(pid)
            .expect("a verified index has a key a person");
        assert_eq!(idx.lookup_hash(hash), Some(pid), "person {pid} by its key");
        for policy in Policy::ALL {
            let (_, known) = idx
                .code_of(
                    hash,
                    Query {
                        day: idx.data_as_of(),
                        policy,
                        areas: idx.risk_areas(),
                    },
                    &mut scratch,
                    |_| false,
                )
                .expect("a verified person decodes");
            assert!(known, "person {pid} is known");
        }
        for s in &scratch.records.stays {
            let _ = idx.region_full_name(s.region);
        }
    }
    for a in idx.risk_areas().areas() {
        let to = a.period.to.unwrap_or(a.period.from);
        let to = Day(to
            .0
            .clamp(a.period.from.0, a.period.from.0.saturating_add(30)));
        let (definite, possible) = idx.affected(a.area, a.period.from, to);
        assert!(definite.max().is_none_or(|m| m < idx.persons()));
        assert!(possible.max().is_none_or(|m| m < idx.persons()));
    }
}

/// Recomputes everything `Index::open` checks by sum or echo — key fingerprint, file length, end
/// magic, section checksums, build id, header and file checksums — so that a mutated file is
/// refused, if at all, by its structure. Files too short to hold a header and footer are left.
pub fn reseal_index(b: &mut [u8], key: &Key) {
    use xxhash_rust::xxh3::{Xxh3, xxh3_64};
    if b.len() < HEADER_LEN + FOOTER_LEN {
        return;
    }
    let put = |b: &mut [u8], at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    let foot = b.len() - FOOTER_LEN;
    put(b, header::KEY_FINGERPRINT, key.fingerprint());
    put(b, header::FILE_LEN, b.len() as u64);
    b[foot + 8..].copy_from_slice(&END_MAGIC);
    let count = usize::from(get_u16(b, header::SECTION_COUNT));
    if HEADER_LEN + count * SECTION_ENTRY_LEN <= foot {
        let mut content = Xxh3::new();
        for i in 0..count {
            let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
            let (off, len) = (get_u64(b, e + 8), get_u64(b, e + 16));
            if let Some(end) = off.checked_add(len).filter(|&end| end <= foot as u64) {
                let sum = xxh3_64(&b[off as usize..end as usize]);
                put(b, e + 24, sum);
            }
            content.update(&get_u64(b, e + 24).to_le_bytes());
        }
        put(b, header::BUILD_ID, content.digest());
    }
    let sum = xxh3_64(&b[..header::HEADER_CHECKSUM]);
    put(b, header::HEADER_CHECKSUM, sum);
    let sum = xxh3_64(&b[..foot]);
    put(b, foot, sum);
}

/// The feed files the row target picks from (`regions.csv` changes the region table itself and
/// is exercised by the feed tests).
fn row_files() -> Vec<&'static schema::FileSpec> {
    schema::FILES
        .iter()
        .filter(|f| f.name != schema::REGIONS.name)
        .collect()
}

/// Feed-row target. The first byte picks the file (low 7 bits) and whether the rest is read as
/// gzip (high bit); the rest is the file, header row first. Every row read must be counted as
/// accepted or rejected, and a load that succeeds must join into persons.
pub fn feed_rows(data: &[u8]) {
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::tempdir().expect("a temporary directory");
    }
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let files = row_files();
    let spec = files[usize::from(sel & 0x7f) % files.len()];
    let name = if sel & 0x80 != 0 {
        format!("{}.gz", spec.name)
    } else {
        spec.name.to_string()
    };
    DIR.with(|dir| {
        clear_dir(dir.path());
        std::fs::write(dir.path().join(&name), rest).expect("writing the feed file");
        let opts = FeedOptions {
            max_reject_ratio: 1.0,
            strict: false,
        };
        let mut rejects = Vec::new();
        let Ok((f, report)) = feeds::load(dir.path(), &opts, &mut rejects) else {
            return;
        };
        for fr in &report.files {
            assert_eq!(
                fr.rows,
                fr.accepted + fr.rejected,
                "{}: every row is kept or rejected",
                fr.name()
            );
        }
        let reject_lines = rejects.iter().filter(|&&c| c == b'\n').count() as u64;
        let rejected: u64 = report.files.iter().map(|f| f.rejected).sum();
        let header_errors = report
            .files
            .iter()
            .filter(|f| f.header_error.is_some())
            .count() as u64;
        if header_errors == 0 {
            assert_eq!(reject_lines, rejected, "one report line per rejected row");
        }
        let _ = feeds::people(&f);
    });
}

fn clear_dir(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("reading the temporary directory") {
        let p = e.expect("a directory entry").path();
        std::fs::remove_file(&p).expect("removing an old feed file");
    }
}

/// Overlay-log target. The first byte is a mode: 0 = the rest is the whole log; 1 = a valid
/// header, then the rest; otherwise a valid header, then the rest cut into payloads (a u16
/// length, then that many bytes) each wrapped in a record prefix with correct checks, so that
/// mutations reach the payload decoder and the sequence rules. An accepted log must re-encode
/// to exactly its intact prefix.
pub fn overlay_log(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fp = key().fingerprint();
    let bytes = match mode {
        0 => rest.to_vec(),
        1 => [log::encode_header(7, fp).as_slice(), rest].concat(),
        _ => {
            let mut b = log::encode_header(7, fp);
            let mut r = rest;
            while r.len() >= 2 {
                let n = usize::from(u16::from_le_bytes([r[0], r[1]])).min(r.len() - 2);
                b.extend_from_slice(&log::wrap_payload(&r[2..2 + n]));
                r = &r[2 + n..];
            }
            b
        }
    };
    let Ok((_, entries, good)) = log::read_log_bytes(Path::new("fuzz.log"), &bytes, Some(fp))
    else {
        return;
    };
    assert!(good as usize <= bytes.len() && good as usize >= LOG_HEADER_LEN);
    let texts_fit = |e: &Entry| {
        let masked = match &e.change {
            Change::Verification { masked, .. } | Change::Registration { masked, .. } => masked,
            _ => "",
        };
        let community = match &e.change {
            Change::Registration { community, .. } => community,
            _ => "",
        };
        [&e.caller, &e.operator, &e.reason, masked, community]
            .iter()
            .all(|t| t.len() <= MAX_TEXT)
    };
    if entries.iter().all(texts_fit) {
        let again: Vec<u8> = entries.iter().flat_map(log::encode_record).collect();
        assert_eq!(
            again,
            bytes[LOG_HEADER_LEN..good as usize],
            "accepted records re-encode to the bytes they were read from"
        );
    }
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "sequences follow each other");
    }
    let mut areas = Vec::new();
    apply_risk_changes(&mut areas, entries.iter().map(|e| &e.change));
}

/// Domain-text target: the rest as UTF-8 (lossily) parsed as a document number, a phone, a
/// region code and a day; whatever parses must print back to a text that parses to the same.
pub fn domain(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for s in [text.as_ref(), text.trim()] {
        if let Ok(id) = IdNumber::parse(s) {
            assert_eq!(IdNumber::parse(&id.to_string()), Ok(id), "{s:?}");
            assert_eq!(IdNumber::from_body(id.body()), id);
            let _ = id.masked();
        }
        if let Ok(p) = Phone::parse(s) {
            assert_eq!(Phone::parse(&p.to_string()), Ok(p), "{s:?}");
            assert!(p.tail().0 <= 9999);
            let _ = p.masked();
        }
        if let Ok(r) = RegionCode::parse(s) {
            assert_eq!(RegionCode::parse(&r.to_string()), Ok(r), "{s:?}");
            assert_eq!(RegionCode::from_padded(r.padded()), Some(r));
            assert!(r.contains(r) && r.risk_unit().contains(r));
            assert!(r.lineage().all(|a| a.contains(r)));
            assert!(r.padded_range().contains(&r.padded()));
        }
        if let Ok(d) = Day::parse(s) {
            assert_eq!(Day::parse(&d.to_string()), Ok(d), "{s:?}");
        }
        let _ = Day::parse_opt(s);
    }
}

/// Seed inputs of every target.
struct Seeds {
    index: Vec<Vec<u8>>,
    feed_rows: Vec<Vec<u8>>,
    overlay_log: Vec<Vec<u8>>,
    domain: Vec<Vec<u8>>,
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(make_seeds)
}

/// A generated world of 40 persons: its index file (both modes) and the first rows of each of
/// its feed files; log records of every kind; and texts of every domain type.
fn make_seeds() -> Seeds {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let feeds_dir = tmp.path().join("feeds");
    let today = Day::parse(crate::synth::DEFAULT_TODAY).expect("the default day");
    let cfg = crate::synth::GenConfig {
        persons: 40,
        seed: 7,
        today,
        city: RegionCode::parse(crate::synth::DEFAULT_CITY).expect("the default city"),
    };
    crate::synth::generate(&cfg, &feeds_dir, false, &mut |_| {}).expect("the seed world");
    let out: PathBuf = tmp.path().join("seed.hci");
    crate::pipeline::build_index(
        &feeds_dir,
        &out,
        &key(),
        &crate::pipeline::BuildOptions {
            data_as_of: Some(today),
            ..Default::default()
        },
        &mut std::io::sink(),
        &mut |_| {},
    )
    .expect("the seed index builds");
    let built = std::fs::read(&out).expect("reading the seed index");
    let index = vec![[&[0u8][..], &built].concat(), [&[1u8][..], &built].concat()];

    let mut feed_rows = Vec::new();
    for (i, spec) in row_files().into_iter().enumerate() {
        let Ok(text) = std::fs::read_to_string(feeds_dir.join(spec.name)) else {
            continue;
        };
        let head: Vec<&str> = text.lines().take(6).collect();
        let mut seed = vec![i as u8];
        seed.extend_from_slice(head.join("\n").as_bytes());
        seed.push(b'\n');
        feed_rows.push(seed);
    }

    let fp = key().fingerprint();
    let entries = sample_entries();
    let records: Vec<u8> = entries.iter().flat_map(log::encode_record).collect();
    let mut whole = vec![0u8];
    whole.extend_from_slice(&log::encode_header(7, fp));
    whole.extend_from_slice(&records);
    let mut payloads = vec![2u8];
    for e in &entries {
        let rec = log::encode_record(e);
        let p = &rec[RECORD_PREFIX_LEN..];
        payloads.extend_from_slice(&(p.len() as u16).to_le_bytes());
        payloads.extend_from_slice(p);
    }
    let overlay_log = vec![whole, [&[1u8][..], &records].concat(), payloads];

    let domain = [
        "11010519491231002X",
        "110105194912310021",
        " 440524188001010014 ",
        "13800138000",
        "+86 138 0013 8000",
        "110105001",
        "441900003",
        "4419",
        "110105000000",
        "2022-05-10",
        "2022-02-29",
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    Seeds {
        index,
        feed_rows,
        overlay_log,
        domain,
    }
}

/// One log entry of every kind, with sequences 1, 2, …
pub fn sample_entries() -> Vec<Entry> {
    use crate::domain::{Period, RiskLevel};
    let area = RegionCode::parse("110105001").expect("a region");
    let changes = [
        Change::SetRiskArea {
            area,
            level: RiskLevel::High,
            period: Period {
                from: Day(19100),
                to: None,
            },
        },
        Change::LiftRiskArea {
            area,
            to: Day(19110),
        },
        Change::Verification {
            person: 0xdead_beef,
            masked: "110105********002X".into(),
            verified_on: Day(19105),
            scope: Some(RegionCode::parse("1101").expect("a region")),
        },
        Change::Registration {
            person: 42,
            masked: "110105********002X".into(),
            registered_on: Day(19106),
            community: "建外".into(),
        },
    ];
    changes
        .into_iter()
        .enumerate()
        .map(|(i, change)| Entry {
            seq: i as u64 + 1,
            at_ms: 1_650_000_000_000 + i as i64,
            caller: "ops".into(),
            operator: "王伟".into(),
            reason: format!("T-{i}"),
            change,
        })
        .collect()
}
