//! `healthcode build` as an operator runs it: generated feeds in, an index file out that the
//! server opens with the same key and refuses with another; no raw document or phone number in
//! the file; the default key in the healthcode home; nothing at the output path when a build
//! fails; an atomic replace; and `explain` agreeing with what the index answers.
//!
//! Every run of the binary gets `HEALTHCODE_HOME` set to a temporary directory, so no test reads
//! or creates a key in the real home.

mod util;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use healthcode::domain::{Code, Day, IdNumber, PersonRecords, Phone, Policy, Reason, evaluate};
use healthcode::index::{Index, IndexError};
use healthcode::key::Key;
use healthcode::serve::{LoadError, open_index};
use memmap2::Mmap;
use util::{FeedDir, Run, healthcode_at, healthcode_cmd, id};

/// Persons of the generated data set.
const PERSONS: usize = 2_000;
/// The day `gen` writes its world around.
const TODAY: &str = "2022-05-10";

/// The files whose rows name a person.
const PERSON_FILES: [&str; 7] = [
    "bindings.csv",
    "person_stays.csv",
    "cdc.csv",
    "community.csv",
    "arrivals.csv",
    "registrations.csv",
    "verifications.csv",
];

/// The files whose rows name a phone.
const PHONE_FILES: [&str; 3] = ["bindings.csv", "phone_stays.csv", "phone_status.csv"];

/// The generated feeds and the index built from them once per test run, with key A.
struct Built {
    feeds: PathBuf,
    home: PathBuf,
    key_file: PathBuf,
    index: PathBuf,
    build: Run,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-gen-2000");
        let _ = std::fs::remove_dir_all(&root);
        let (feeds, home) = (root.join("feeds"), root.join("home"));
        let (key_file, index) = (root.join("key-a"), root.join("out/index.hci"));
        std::fs::create_dir_all(&home).unwrap();
        Key::create(&key_file).expect("key A is created");
        let generated = healthcode_at(
            &home,
            &[
                "gen",
                "--persons",
                &PERSONS.to_string(),
                "--seed",
                "10",
                "--out",
                s(&feeds),
            ],
        );
        assert_eq!(generated.code, 0, "gen failed: {}", generated.stderr);
        let build = healthcode_at(
            &home,
            &[
                "build",
                "--feeds",
                s(&feeds),
                "--out",
                s(&index),
                "--key-file",
                s(&key_file),
            ],
        );
        Built {
            feeds,
            home,
            key_file,
            index,
            build,
        }
    })
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn day(text: &str) -> Day {
    Day::parse(text).unwrap()
}

/// The values of column `column` of a generated feed file.
fn column(dir: &Path, file: &str, column: &str) -> Vec<String> {
    let mut r = csv::Reader::from_path(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let at = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("{file} has no column {column}"));
    r.records()
        .map(|rec| rec.unwrap()[at].to_string())
        .collect()
}

/// Every distinct document number the generated feeds name.
fn feed_ids(dir: &Path) -> BTreeSet<IdNumber> {
    PERSON_FILES
        .iter()
        .flat_map(|f| column(dir, f, "id_number"))
        .map(|v| IdNumber::parse(&v).unwrap_or_else(|e| panic!("id {v:?}: {e}")))
        .collect()
}

/// Every distinct phone number the generated feeds name.
fn feed_phones(dir: &Path) -> BTreeSet<Phone> {
    PHONE_FILES
        .iter()
        .flat_map(|f| column(dir, f, "phone"))
        .map(|v| Phone::parse(&v).unwrap_or_else(|e| panic!("phone {v:?}: {e}")))
        .collect()
}

/// The names in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The figure before `unit` in a line of `text` that holds `marker`, e.g. the `201.0` of
/// "(201.0 bytes per person)".
fn figure(text: &str, marker: &str, unit: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no line with {marker:?} in:\n{text}"));
    let before = &line[..line
        .find(unit)
        .unwrap_or_else(|| panic!("no {unit:?} in {line:?}"))];
    let number = before.trim_end().rsplit([' ', '(']).next().unwrap();
    number
        .parse()
        .unwrap_or_else(|e| panic!("{number:?} in {line:?}: {e}"))
}

/// The answer an index gives: lookup, decode, evaluate. `None` when the person is not in it.
fn answer(index: &Index<Mmap>, key: &Key, id: IdNumber, d: Day, policy: Policy) -> Option<Code> {
    let pid = index.lookup(key, id)?;
    let mut p = PersonRecords::default();
    index.person(pid, &mut p).expect("a verified index decodes");
    Some(evaluate(&p, index.risk_areas(), d, policy))
}

#[test]
fn build_of_generated_feeds_reports_its_size_and_serves_every_person() {
    let b = built();
    assert_eq!(b.build.code, 0, "build failed: {}", b.build.stderr);
    let err = &b.build.stderr;
    let ids = feed_ids(&b.feeds);
    assert_eq!(ids.len(), PERSONS, "gen names every person it makes");

    let len = std::fs::metadata(&b.index)
        .expect("the index file exists")
        .len();
    assert!(
        err.contains(&format!(
            "wrote {} — {PERSONS} persons, {len} bytes",
            s(&b.index)
        )),
        "the summary names the file, the persons and its size:\n{err}"
    );
    let per_person = figure(err, "bytes per person", "bytes per person");
    assert!(
        (per_person - len as f64 / PERSONS as f64).abs() <= 0.05,
        "{per_person} bytes per person reported for {len} bytes"
    );
    // The sections that grow with the population; the region dictionary and the stay bitmaps
    // cost per (region, day) and only amortise over a city's population.
    let records: f64 = ["entries", "buckets", "persons"]
        .iter()
        .map(|section| figure(err, &format!("  {section} "), "per person"))
        .sum();
    assert!(
        records <= 64.0,
        "the per-person sections take {records} bytes per person:\n{err}"
    );

    let key = Key::load(&b.key_file).unwrap();
    let index = open_index(&b.index, &key).expect("the server opens the index with its key");
    assert_eq!(index.persons() as usize, ids.len());
    assert_eq!(index.key_fingerprint(), key.fingerprint());
    assert!(err.contains(&format!("data as of {}", index.data_as_of())));
    assert_eq!(index.data_as_of(), day(TODAY));
    let pids: HashSet<u32> = ids
        .iter()
        .map(|&i| {
            index
                .lookup(&key, i)
                .unwrap_or_else(|| panic!("{} is not in the index", i.masked()))
        })
        .collect();
    assert_eq!(pids.len(), ids.len(), "two persons share a person id");
    let stranger = (0..)
        .map(|n| IdNumber::from_body(11010519800101000 + n))
        .find(|i| !ids.contains(i))
        .unwrap();
    assert_eq!(index.lookup(&key, stranger), None);
    assert!(
        !b.home.join("key").exists(),
        "with --key-file, build creates no key in the home"
    );
}

/// Where an identifier occurs in `bytes`: as ASCII digits (inside any run of digits) or as a
/// little- or big-endian u64. Returns one description per hit.
fn raw_identifiers(bytes: &[u8], bodies: &HashSet<u64>, phones: &HashSet<u64>) -> Vec<String> {
    let mut hits = Vec::new();
    for (at, w) in bytes.windows(8).enumerate() {
        let w: [u8; 8] = w.try_into().unwrap();
        for (order, v) in [("LE", u64::from_le_bytes(w)), ("BE", u64::from_be_bytes(w))] {
            if bodies.contains(&v) {
                hits.push(format!("document body {v} as {order} u64 at {at}"));
            }
            if phones.contains(&v) {
                hits.push(format!("phone {v} as {order} u64 at {at}"));
            }
        }
    }
    let mut at = 0;
    while at < bytes.len() {
        let run = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if run == 0 {
            at += 1;
            continue;
        }
        let digits = &bytes[at..at + run];
        for (width, set, what) in [(17, bodies, "document body"), (11, phones, "phone")] {
            for (k, w) in digits.windows(width).enumerate() {
                let v: u64 = std::str::from_utf8(w).unwrap().parse().unwrap();
                if set.contains(&v) {
                    hits.push(format!("{what} {v} as text at {}", at + k));
                }
            }
        }
        at += run;
    }
    hits
}

#[test]
fn index_holds_no_raw_document_or_phone_number() {
    let b = built();
    assert_eq!(b.build.code, 0, "build failed: {}", b.build.stderr);
    let bodies: HashSet<u64> = feed_ids(&b.feeds).iter().map(|i| i.body()).collect();
    let phones: HashSet<u64> = feed_phones(&b.feeds).iter().map(|p| p.number()).collect();
    assert_eq!(bodies.len(), PERSONS);
    assert!(phones.len() >= PERSONS, "every person has a phone");
    let bytes = std::fs::read(&b.index).unwrap();

    let hits = raw_identifiers(&bytes, &bodies, &phones);
    assert!(hits.is_empty(), "raw identifiers in the index: {hits:?}");

    // The scan finds what it looks for: the same bytes with identifiers planted in them.
    let (&body, &phone) = (bodies.iter().next().unwrap(), phones.iter().next().unwrap());
    let mut planted = bytes.clone();
    planted.extend_from_slice(IdNumber::from_body(body).to_string().as_bytes());
    planted.push(0);
    planted.extend_from_slice(&body.to_le_bytes());
    planted.extend_from_slice(phone.to_string().as_bytes());
    planted.push(b',');
    planted.extend_from_slice(&phone.to_le_bytes());
    assert_eq!(raw_identifiers(&planted, &bodies, &phones).len(), 4);
}

/// Waits for a child at most `limit`, killing it when it is still running then.
fn wait_or_kill(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            return Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_index_built_with_another_key_is_refused() {
    let b = built();
    assert_eq!(b.build.code, 0, "build failed: {}", b.build.stderr);
    let dir = tempfile::tempdir().unwrap();
    let key_b = dir.path().join("key-b");
    let other = Key::create(&key_b).unwrap();
    let ours = Key::load(&b.key_file).unwrap();
    assert_ne!(other.fingerprint(), ours.fingerprint());

    let err = open_index(&b.index, &other).expect_err("another key opens the index");
    match &err {
        LoadError::Invalid {
            cause: IndexError::KeyMismatch { index, ours: mine },
            ..
        } => {
            assert_eq!(*index, ours.fingerprint());
            assert_eq!(*mine, other.fingerprint());
        }
        e => panic!("expected a key mismatch, got {e}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("built with another key") && msg.contains("--key-file"),
        "{msg}"
    );

    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("query app {}\n", util::QUERY_TOKEN)).unwrap();
    let mut child = healthcode_cmd(&b.home)
        .args(["serve", "--index", s(&b.index), "--key-file", s(&key_b)])
        .args(["--tokens", s(&tokens), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start healthcode serve");
    let status = wait_or_kill(&mut child, Duration::from_secs(30))
        .expect("serve with the wrong key exits within 30 s instead of serving");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "serve exited 0:\n{stderr}");
    assert!(
        stderr.contains("built with another key")
            && stderr.contains("--key-file")
            && stderr.contains(&format!("{:016x}", ours.fingerprint())),
        "serve's message names the mismatch and what to do:\n{stderr}"
    );
    assert_eq!(
        stderr.matches("built with another key").count(),
        1,
        "the cause is said once:\n{stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
}

#[test]
fn build_warns_of_unknown_columns_and_files_as_check_does() {
    let home = tempfile::tempdir().unwrap();
    let d = FeedDir::new();
    d.write(
        "risk_areas.csv",
        &[
            "note,area,level,from,to",
            "first wave,110105,high,2022-05-01,",
        ],
    );
    // A misnamed file: its rows reach no index, so the operator must hear of it.
    d.write(
        "risk_area.csv",
        &["area,level,from,to", "310101,high,2022-05-01,"],
    );
    let out = d.join("x.hcx");
    let run = healthcode_at(
        home.path(),
        &["build", "--feeds", s(d.path()), "--out", s(&out)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for w in [
        "healthcode: warning: risk_areas.csv: unknown column \"note\" ignored",
        "healthcode: warning: risk_area.csv: not a feed file, ignored",
    ] {
        assert!(run.stderr.contains(w), "{w:?} in:\n{}", run.stderr);
    }
}

#[test]
fn a_missing_file_is_named_with_its_cause_said_once() {
    let b = built();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let m = s(&missing);
    let state = dir.path().join("state");
    let out = dir.path().join("x.hcx");
    let key = s(&b.key_file);
    let runs: [&[&str]; 4] = [
        &["verify", m, "--key-file", key],
        &[
            "serve",
            "--index",
            m,
            "--key-file",
            key,
            "--insecure-no-auth",
            "--state-dir",
            s(&state),
            "--listen",
            "127.0.0.1:0",
        ],
        &[
            "build",
            "--feeds",
            s(&b.feeds),
            "--out",
            s(&out),
            "--key-file",
            m,
        ],
        &["audit", "verify", m],
    ];
    for args in runs {
        let run = healthcode_at(&b.home, args);
        assert_ne!(run.code, 0, "{args:?} succeeded:\n{}", run.stderr);
        assert!(
            run.stderr.contains(m),
            "{args:?} names the file:\n{}",
            run.stderr
        );
        assert_eq!(
            run.stderr.matches("No such file or directory").count(),
            1,
            "{args:?} says its cause once:\n{}",
            run.stderr
        );
    }
    assert!(
        !state.exists(),
        "serve with a missing index created its state directory"
    );
}

/// A small feed directory of valid rows for persons `0..n`.
fn small_feeds(n: u64) -> FeedDir {
    let d = FeedDir::new();
    let mut bindings = vec!["id_number,phone,channel,bound_on,unbound_on".to_string()];
    let mut stays = vec!["phone,region,first_day,last_day".to_string()];
    for i in 0..n {
        let phone = 13800000100 + i;
        bindings.push(format!("{},{phone},wechat,2022-03-01,", id(i)));
        stays.push(format!("{phone},1101,2022-04-20,2022-04-25"));
    }
    fn lines(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    d.write("bindings.csv", &lines(&bindings))
        .write("phone_stays.csv", &lines(&stays))
        .write(
            "risk_areas.csv",
            &["area,level,from,to", "110105001,high,2022-04-18,"],
        );
    d
}

fn build_at(home: &Path, feeds: &FeedDir, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["build", "--feeds", s(feeds.path()), "--out", s(out)];
    args.extend_from_slice(extra);
    healthcode_at(home, &args)
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn without_key_file_build_creates_the_home_key_reuses_it_and_replaces_the_index() {
    let home = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("index.hci");
    let key_path = home.path().join("key");
    assert!(!key_path.exists());

    let run = build_at(home.path(), &small_feeds(2), &out, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(key_path.exists(), "build created no key in the home");
    #[cfg(unix)]
    assert_eq!(mode(&key_path), 0o600, "the new key is readable by others");
    let created = std::fs::read(&key_path).unwrap();
    let key = Key::load(&key_path).expect("the home key is a valid key file");
    let before = std::fs::read(&out).unwrap();
    // A reader that maps the old file keeps it whole while the new one is renamed in.
    let held = open_index(&out, &key).expect("the home key opens the first index");
    assert_eq!(held.persons(), 2);

    let run = build_at(
        home.path(),
        &small_feeds(5),
        &out,
        &["--data-as-of", "2022-05-09"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read(&key_path).unwrap(),
        created,
        "the second build changed the home key"
    );
    assert_ne!(
        std::fs::read(&out).unwrap(),
        before,
        "the second build did not replace the index"
    );
    let index = open_index(&out, &key).expect("the home key opens the second index");
    assert_eq!(index.key_fingerprint(), held.key_fingerprint());
    assert_eq!(index.persons(), 5);
    assert_eq!(index.data_as_of(), day("2022-05-09"));
    assert!(
        index
            .lookup(&key, IdNumber::parse(&id(4)).unwrap())
            .is_some()
    );
    assert_eq!(held.persons(), 2);
    held.verify().expect("the old mapping is still whole");
    assert_eq!(
        listing(out_dir.path()),
        ["index.hci"],
        "a rebuild left temporary files beside the index"
    );
}

/// Feeds whose bindings are one bad row in two (ratio 0.5): lines 3 and 5 are rejected.
fn bad_feeds() -> FeedDir {
    let d = FeedDir::new();
    d.write(
        "bindings.csv",
        &[
            "id_number,phone,channel,bound_on,unbound_on",
            &format!("{},13800000001,wechat,2022-03-01,", id(1)),
            &format!("{},1380000002,alipay,2022-03-01,", id(2)),
            &format!("{},13800000003,baidu,2022-03-01,", id(3)),
            &format!("{},13800000004,telegram,2022-03-01,", id(4)),
        ],
    );
    d
}

/// The rejects report's lines, each checked to be `file:line: reason`.
fn reject_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("a rejects report was written");
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    for l in &lines {
        let (place, reason) = l.split_once(": ").unwrap_or_else(|| panic!("{l:?}"));
        let (file, line) = place.split_once(':').unwrap_or_else(|| panic!("{l:?}"));
        assert!(file.ends_with(".csv"), "{l:?}");
        assert!(line.parse::<u64>().is_ok(), "{l:?}");
        assert!(!reason.is_empty(), "{l:?}");
    }
    lines
}

#[test]
fn a_failed_build_leaves_nothing_new_at_the_output_path() {
    let home = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("index.hci");
    let report = out_dir.path().join("index.hci.rejects.txt");

    // Over the default threshold: exit 1, no index, only the rejects report beside --out.
    let run = build_at(home.path(), &bad_feeds(), &out, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("nothing was written to {}", s(&out))),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "a failed build left a file at --out");
    assert_eq!(
        listing(out_dir.path()),
        ["index.hci.rejects.txt"],
        "a failed build left temporary files"
    );
    let lines = reject_lines(&report);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("bindings.csv:3: phone"), "{lines:?}");
    assert!(lines[1].starts_with("bindings.csv:5: channel"), "{lines:?}");

    // A good build takes the path; its clean run removes the stale report.
    let run = build_at(home.path(), &small_feeds(3), &out, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let good = std::fs::read(&out).unwrap();
    assert_eq!(listing(out_dir.path()), ["index.hci"]);

    // A rebuild that fails (here on --strict, under a lax ratio) leaves that index as it was.
    let elsewhere = home.path().join("rejects/today.txt");
    let run = build_at(
        home.path(),
        &bad_feeds(),
        &out,
        &[
            "--strict",
            "--max-reject-ratio",
            "0.9",
            "--rejects",
            s(&elsewhere),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        good,
        "a failed rebuild changed the index at --out"
    );
    assert_eq!(
        listing(out_dir.path()),
        ["index.hci"],
        "a failed rebuild left files beside the index"
    );
    assert_eq!(reject_lines(&elsewhere), lines);
    let key = Key::load(&home.path().join("key")).unwrap();
    assert_eq!(open_index(&out, &key).unwrap().persons(), 3);
}

/// What `explain` prints for one person and one day under both policies, rendered from the
/// index's answers.
fn expected_explain(index: &Index<Mmap>, key: &Key, id: IdNumber, d: Day) -> String {
    let mut out = String::new();
    for policy in Policy::ALL {
        let code = answer(index, key, id, d, policy).expect("the person is in the index");
        out += &format!(
            "{} as of {d} under {policy}: {} · travel {}\n",
            id.masked(),
            code.color.as_str().to_uppercase(),
            if code.travel_allowed {
                "allowed"
            } else {
                "NOT allowed"
            }
        );
        for f in &code.findings {
            let region = f
                .region
                .map(|r| format!(" in {} ({r})", index.region_full_name(r)))
                .unwrap_or_default();
            let area = f
                .risk_area
                .map(|a| format!(", risk area {a}"))
                .unwrap_or_default();
            let tail = f
                .phone_tail
                .map(|t| format!(", phone ending {t}"))
                .unwrap_or_default();
            let blocks = if f.blocks_travel {
                "blocks travel"
            } else {
                "popup"
            };
            out += &format!(
                "  - {}{region}{area}, {}{tail}, {blocks}\n",
                f.reason, f.day
            );
        }
    }
    out
}

#[test]
fn explain_agrees_with_what_the_index_answers() {
    let b = built();
    assert_eq!(b.build.code, 0, "build failed: {}", b.build.stderr);
    let key = Key::load(&b.key_file).unwrap();
    let index = open_index(&b.index, &key).unwrap();
    let d = day(TODAY);
    let ids = feed_ids(&b.feeds);
    let answers = |i: IdNumber| Policy::ALL.map(|p| answer(&index, &key, i, d, p).unwrap());

    // A misfire case (the policies disagree), a risk-area or CDC finding, and a green person.
    let misfire = ids.iter().find(|&&i| {
        let [aware, legacy] = answers(i);
        aware.color != legacy.color
    });
    let flagged = ids.iter().find(|&&i| {
        let [aware, _] = answers(i);
        Some(&i) != misfire
            && aware.findings.iter().any(|f| {
                matches!(
                    f.reason,
                    Reason::InRiskArea | Reason::VisitedRiskArea | Reason::CdcConfirmed
                )
            })
    });
    let green = ids.iter().find(|&&i| answers(i)[0].findings.is_empty());
    let picked: Vec<IdNumber> = [misfire, flagged, green]
        .into_iter()
        .map(|i| *i.expect("the generated world has a misfire, a finding and a green person"))
        .collect();

    // Each run parses the whole region table; run them side by side.
    let runs: Vec<(IdNumber, std::process::Child)> = picked
        .iter()
        .map(|&i| {
            let child = healthcode_cmd(&b.home)
                .args(["explain", "--feeds", s(&b.feeds), &i.to_string()])
                .args(["--today", TODAY])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start healthcode explain");
            (i, child)
        })
        .collect();
    for (i, child) in runs {
        let run = Run::from(child.wait_with_output().unwrap());
        assert_eq!(run.code, 0, "explain {}: {}", i.masked(), run.stderr);
        assert_eq!(
            run.stdout,
            expected_explain(&index, &key, i, d),
            "explain and the index disagree on {}",
            i.masked()
        );
    }
}

/// The home region (DOMAIN.md §2): `gen` names its city in `dataset.csv` and the index records
/// it; `build --home` records another over it; a home finer than a city, unknown, or given twice
/// is a rejected row of `dataset.csv` naming its line (or a refused flag), which fails the build
/// and writes nothing; another key of `dataset.csv` is a warning only.
#[test]
fn the_home_region_comes_from_dataset_csv_or_the_flag() {
    let b = built();
    assert_eq!(b.build.code, 0, "{}", b.build.stderr);
    assert!(
        b.build.stderr.contains("home region 北京市 (1101)"),
        "{}",
        b.build.stderr
    );
    let key = Key::load(&b.key_file).unwrap();
    let home_of = |path: &Path| {
        open_index(path, &key)
            .unwrap()
            .home()
            .map(|h| h.to_string())
    };
    assert_eq!(home_of(&b.index).as_deref(), Some("1101"));

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("index.hci");
    let flag = |home: &str| {
        healthcode_at(
            &b.home,
            &[
                "build",
                "--feeds",
                s(&b.feeds),
                "--out",
                s(&out),
                "--key-file",
                s(&b.key_file),
                "--home",
                home,
            ],
        )
    };
    let run = flag("12");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("home region 天津市 (12)"),
        "{}",
        run.stderr
    );
    assert_eq!(home_of(&out).as_deref(), Some("12"));
    std::fs::remove_file(&out).unwrap();
    for (bad, why) in [
        ("110105", "a county code"),
        ("1199", "not a region"),
        ("x", "--home"),
    ] {
        let run = flag(bad);
        assert_ne!(run.code, 0, "--home {bad}");
        assert!(run.stderr.contains(why), "--home {bad}: {}", run.stderr);
        assert!(!out.exists(), "--home {bad} wrote an index");
    }

    // Without dataset.csv there is no home.
    let feeds = small_feeds(3);
    let run = build_at(tmp.path(), &feeds, &out, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("home region none"), "{}", run.stderr);
    let tmp_key = Key::load(&tmp.path().join("key")).unwrap();
    assert_eq!(open_index(&out, &tmp_key).unwrap().home(), None);
    std::fs::remove_file(&out).unwrap();

    for (rows, reason) in [
        (
            &["key,value", "home,110105"][..],
            "dataset.csv:2: value \"110105\": a county code; the home region is a city or a province",
        ),
        (
            &["key,value", "home,1199"][..],
            "dataset.csv:2: value \"1199\": unknown region",
        ),
        (
            &["key,value", "home,1101", "home,12"][..],
            "dataset.csv:3: home given again (line 2 named 1101)",
        ),
    ] {
        feeds.write("dataset.csv", rows);
        let run = build_at(tmp.path(), &feeds, &out, &[]);
        assert_eq!(run.code, 1, "{rows:?}: {}", run.stderr);
        let rejects = std::fs::read_to_string(tmp.path().join("index.hci.rejects.txt")).unwrap();
        assert!(rejects.contains(reason), "{rows:?}: {rejects}");
        assert!(!out.exists(), "{rows:?} wrote an index");
    }
    feeds.write(
        "dataset.csv",
        &["key,value", "region_edition,2023", "home,1201"],
    );
    let run = build_at(tmp.path(), &feeds, &out, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("dataset.csv:2: unknown key \"region_edition\", ignored"),
        "{}",
        run.stderr
    );
    assert_eq!(
        open_index(&out, &tmp_key)
            .unwrap()
            .home()
            .map(|h| h.to_string())
            .as_deref(),
        Some("1201")
    );
}
