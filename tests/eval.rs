//! Integration tests of `healthcode eval`: the real binary on generated worlds (the three zero
//! targets of the precision-aware policy, and the misfire of the city-level one), on a hand-made
//! world whose every count is known, and its errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use healthcode::domain::IdNumber;

/// Persons of each generated world.
const PERSONS: u64 = 20_000;

/// The keys every policy reports (DOMAIN.md §6 `eval`, and the split of the hotline load).
const KEYS: [&str; 11] = [
    "persons",
    "truly_exposed",
    "false_yellow",
    "false_blocked",
    "missed",
    "missed_away",
    "missed_home",
    "exposed_travel_allowed",
    "hotline_load",
    "hotline_load_blocking",
    "hotline_load_popup",
];

fn healthcode(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .env("HEALTHCODE_HOME", home)
        .args(args)
        .output()
        .expect("run healthcode")
}

fn ok(home: &Path, args: &[&str]) -> String {
    let o = healthcode(home, args);
    assert!(
        o.status.success(),
        "healthcode {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8 output")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A generated world of [`PERSONS`] persons and its index, built with the key of `home`.
fn world(home: &Path, dir: &Path, seed: u64) -> (PathBuf, PathBuf) {
    let feeds = dir.join(format!("world-{seed}"));
    let index = dir.join(format!("world-{seed}.hcx"));
    let persons = PERSONS.to_string();
    let seed = seed.to_string();
    ok(
        home,
        &[
            "gen",
            "--persons",
            &persons,
            "--seed",
            &seed,
            "--out",
            s(&feeds),
            "--force",
        ],
    );
    ok(home, &["build", "--feeds", s(&feeds), "--out", s(&index)]);
    (feeds, index)
}

/// The shared home (its key built the shared indexes) and worlds of seeds 1, 2 and 3, made once
/// per test run, in parallel.
fn shared() -> &'static (PathBuf, Vec<(PathBuf, PathBuf)>) {
    static SHARED: OnceLock<(PathBuf, Vec<(PathBuf, PathBuf)>)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("eval-worlds");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        // Create the key before the builds race to.
        ok(
            &home,
            &[
                "gen",
                "--persons",
                "1",
                "--out",
                s(&dir.join("key-probe")),
                "--force",
            ],
        );
        ok(
            &home,
            &[
                "build",
                "--feeds",
                s(&dir.join("key-probe")),
                "--out",
                s(&dir.join("key-probe.hcx")),
            ],
        );
        let worlds = std::thread::scope(|sc| {
            let handles: Vec<_> = [1, 2, 3]
                .map(|seed| {
                    let (home, dir) = (&home, &dir);
                    sc.spawn(move || world(home, dir, seed))
                })
                .into_iter()
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        (home, worlds)
    })
}

// --- a small JSON reader: enough to check the output is JSON and to read it ---

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Obj(Vec<(String, Json)>),
    Str(String),
    Num(u64),
}

impl Json {
    fn parse(text: &str) -> Json {
        let mut p = JsonParser {
            b: text.trim().as_bytes(),
            i: 0,
        };
        let v = p.value();
        assert_eq!(
            p.i,
            p.b.len(),
            "trailing bytes after the JSON value: {text}"
        );
        v
    }

    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(kv) => {
                &kv.iter()
                    .find(|(k, _)| k == key)
                    .unwrap_or_else(|| panic!("no key {key:?} in {self:?}"))
                    .1
            }
            _ => panic!("{self:?} is not an object"),
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Json::Obj(kv) => kv.iter().map(|(k, _)| k.as_str()).collect(),
            _ => panic!("{self:?} is not an object"),
        }
    }

    fn num(&self) -> u64 {
        match self {
            Json::Num(n) => *n,
            _ => panic!("{self:?} is not a number"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("{self:?} is not a string"),
        }
    }
}

struct JsonParser<'a> {
    b: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) {
        self.ws();
        assert_eq!(
            self.b.get(self.i),
            Some(&c),
            "expected {:?} at byte {}",
            c as char,
            self.i
        );
        self.i += 1;
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut kv = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Json::Obj(kv);
                }
                loop {
                    self.ws();
                    let Json::Str(k) = self.value() else {
                        panic!("object key is not a string at byte {}", self.i)
                    };
                    self.eat(b':');
                    let v = self.value();
                    assert!(!kv.iter().any(|(q, _)| *q == k), "duplicate key {k}");
                    kv.push((k, v));
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Json::Obj(kv);
                        }
                        _ => panic!("expected , or }} at byte {}", self.i),
                    }
                }
            }
            Some(b'"') => {
                self.i += 1;
                let start = self.i;
                while self.b[self.i] != b'"' {
                    assert_ne!(self.b[self.i], b'\\', "no escapes expected");
                    self.i += 1;
                }
                self.i += 1;
                Json::Str(String::from_utf8(self.b[start..self.i - 1].to_vec()).unwrap())
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                Json::Num(
                    std::str::from_utf8(&self.b[start..self.i])
                        .unwrap()
                        .parse()
                        .unwrap(),
                )
            }
            c => panic!("unexpected {c:?} at byte {}", self.i),
        }
    }
}

/// The counts of one policy.
type Counts = BTreeMap<String, u64>;

/// Runs `eval --json` and checks the shape of its answer: the day, both policies, every key,
/// and the identities that hold whatever the data.
fn eval_json(home: &Path, args: &[&str], today: &str) -> (Counts, Counts) {
    let mut all = vec!["eval", "--json"];
    all.extend_from_slice(args);
    let out = ok(home, &all);
    assert_eq!(out.lines().count(), 1, "one line of JSON: {out}");
    let j = Json::parse(&out);
    assert_eq!(j.keys(), ["today", "policies"], "{out}");
    assert_eq!(j.get("today").str(), today);
    let policies = j.get("policies");
    assert_eq!(policies.keys(), ["precision-aware", "city-level"], "{out}");
    let counts = |name: &str| -> Counts {
        let p = policies.get(name);
        assert_eq!(p.keys(), KEYS, "{out}");
        KEYS.iter()
            .map(|k| (k.to_string(), p.get(k).num()))
            .collect()
    };
    let (pa, cl) = (counts("precision-aware"), counts("city-level"));
    for c in [&pa, &cl] {
        assert_eq!(
            c["hotline_load"],
            c["hotline_load_blocking"] + c["hotline_load_popup"],
            "{out}"
        );
        assert!(c["truly_exposed"] <= c["persons"], "{out}");
        assert_eq!(c["missed"], c["missed_away"] + c["missed_home"], "{out}");
        assert!(c["missed"] + c["exposed_travel_allowed"] <= 2 * c["truly_exposed"]);
        assert!(
            c["false_yellow"] + c["truly_exposed"] <= c["persons"],
            "{out}"
        );
        assert!(
            c["false_blocked"] + c["truly_exposed"] <= c["persons"],
            "{out}"
        );
        assert!(c["false_blocked"] <= c["hotline_load_blocking"], "{out}");
    }
    assert_eq!(pa["persons"], cl["persons"]);
    assert_eq!(pa["truly_exposed"], cl["truly_exposed"], "the truth is one");
    (pa, cl)
}

#[test]
fn precision_aware_never_misfires_nor_misses_on_generated_worlds() {
    let (home, worlds) = shared();
    for (seed, (feeds, index)) in worlds.iter().enumerate() {
        let truth = feeds.join("truth.csv");
        for today in ["2022-05-10", "2022-05-03", "2022-04-26"] {
            let (pa, cl) = eval_json(
                home,
                &["--index", s(index), "--truth", s(&truth), "--today", today],
                today,
            );
            let at = format!("seed {}, today {today}: {pa:?} / {cl:?}", seed + 1);
            assert_eq!(pa["persons"], PERSONS, "{at}");
            assert!(pa["truly_exposed"] > 0, "{at}");
            assert_eq!(pa["false_yellow"], 0, "{at}");
            assert_eq!(pa["false_blocked"], 0, "{at}");
            assert_eq!(pa["missed_away"], 0, "{at}");
            // Every true stay is observed at least at city precision: outside the home city the
            // legacy policy misses nobody either; it turns travellers to the safe part of a risk
            // city yellow instead.
            assert_eq!(cl["missed_away"], 0, "{at}");
            // In the home city a city-level stay matches nothing, under either policy: both
            // miss the same residents with no finer record.
            assert_eq!(pa["missed_home"], cl["missed_home"], "{at}");
            assert_eq!(
                cl["hotline_load_popup"], 0,
                "{at}: no possible match under city-level"
            );
            // The popups are the travellers' (about 5 % travel in any 14 days), not the city's.
            assert!(pa["hotline_load"] < PERSONS / 10, "{at}");
            if today == "2022-05-10" {
                assert!(
                    cl["false_yellow"] > 0,
                    "{at}: the travellers' misfire is in the data"
                );
                assert!(cl["false_blocked"] >= cl["false_yellow"], "{at}");
                assert!(pa["hotline_load_popup"] > 0, "{at}");
                assert!(pa["missed_home"] > 0, "{at}: residents only tracing finds");
            }
        }
    }
}

#[test]
fn building_from_the_feeds_gives_the_counts_of_the_prebuilt_index() {
    let (home, worlds) = shared();
    let (feeds, index) = &worlds[0];
    let truth = feeds.join("truth.csv");
    // The default day is the data date of the index.
    let from_index = eval_json(
        home,
        &["--index", s(index), "--truth", s(&truth)],
        "2022-05-10",
    );
    let from_feeds = eval_json(
        home,
        &[
            "--feeds",
            s(feeds),
            "--truth",
            s(&truth),
            "--today",
            "2022-05-10",
        ],
        "2022-05-10",
    );
    assert_eq!(from_index, from_feeds);

    // The table names the day, both policies and every count.
    let table = ok(home, &["eval", "--index", s(index), "--truth", s(&truth)]);
    for word in ["2022-05-10", "precision-aware", "city-level"]
        .iter()
        .chain(KEYS.iter())
    {
        assert!(table.contains(word), "{word} missing from\n{table}");
    }

    // Another home, another default key: the index is refused, not misread.
    let other = tempfile::tempdir().unwrap();
    let o = healthcode(
        other.path(),
        &["eval", "--index", s(index), "--truth", s(&truth)],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("another key"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn id(body: u64) -> String {
    IdNumber::from_body(body).to_string()
}

/// A hand-made world as of 2022-05-10 with a risk street in Chaoyang (110105) since 2022-05-01:
/// A truly stayed in Dongcheng (110101) but self-reported Chaoyang; B stayed in Chaoyang, seen by
/// telecom only; C stayed in Chaoyang and no feed knows C; D stayed in Dongcheng, seen by
/// telecom only.
fn hand_made(tmp: &Path) -> (PathBuf, PathBuf) {
    let dir = tmp.join("hand");
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b, c, d) = (
        id(11010119800101001),
        id(11010119800101002),
        id(11010119800101003),
        id(11010119800101004),
    );
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
    write(
        "risk_areas.csv",
        "area,level,from,to\n110105001,high,2022-05-01,\n".into(),
    );
    write(
        "bindings.csv",
        format!(
            "id_number,phone,channel,bound_on,unbound_on\n\
             {a},13800000001,wechat,2020-01-01,\n\
             {b},13800000002,wechat,2020-01-01,\n\
             {d},13800000004,alipay,2020-01-01,\n"
        ),
    );
    write(
        "phone_stays.csv",
        "phone,region,first_day,last_day\n\
         13800000001,1101,2022-04-20,2022-05-10\n\
         13800000002,1101,2022-04-20,2022-05-10\n\
         13800000004,1101,2022-04-20,2022-05-10\n"
            .into(),
    );
    write(
        "person_stays.csv",
        format!(
            "id_number,region,first_day,last_day,source\n\
             {a},110105002,2022-05-09,2022-05-10,self_report\n"
        ),
    );
    let truth = tmp.join("hand-truth.csv");
    std::fs::write(
        &truth,
        format!(
            "last_day,id_number,region,first_day\n\
             2022-05-10,{a},110101001,2022-04-20\n\
             2022-05-05,{b},110101001,2022-04-20\n\
             2022-05-10,{b},110105003,2022-05-06\n\
             2022-05-10,{c},110105003001,2022-04-20\n\
             2022-05-10,{d},110101002,2022-04-20\n"
        ),
    )
    .unwrap();
    (dir, truth)
}

#[test]
fn every_count_of_a_hand_made_world() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, truth) = hand_made(tmp.path());
    let eval_on = |today: &str| {
        eval_json(
            tmp.path(),
            &["--feeds", s(&dir), "--truth", s(&truth), "--today", today],
            today,
        )
    };
    let (pa, cl) = eval_on("2022-05-10");
    let counts = |v: [u64; 11]| -> Counts { KEYS.iter().map(|k| k.to_string()).zip(v).collect() };
    // No home region: A: a false self-report makes A yellow under both policies; B: exposed, a
    // popup (travel allowed) or yellow; C: exposed, unknown, missed (away: without a home every
    // exposure is); D: a popup or yellow.
    assert_eq!(pa, counts([4, 2, 1, 1, 1, 1, 0, 2, 2, 1, 1]));
    assert_eq!(cl, counts([4, 2, 2, 2, 1, 1, 0, 1, 2, 2, 0]));

    // Beijing as home (dataset.csv): the city-level telecom stays of B and D match nothing, under
    // either policy; A's self-reported street still does. B and C are missed at home.
    std::fs::write(dir.join("dataset.csv"), "key,value\nhome,1101\n").unwrap();
    let (pa, cl) = eval_on("2022-05-10");
    assert_eq!(pa, counts([4, 2, 1, 1, 2, 0, 2, 2, 1, 1, 0]));
    assert_eq!(cl, pa);
    std::fs::remove_file(dir.join("dataset.csv")).unwrap();

    // Before the area was designated nobody is exposed and nothing fires.
    let (pa, cl) = eval_on("2022-04-30");
    assert_eq!(pa, counts([4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    assert_eq!(cl, pa);
}

#[test]
fn a_bad_truth_row_fails_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = hand_made(tmp.path());
    let truth = tmp.path().join("bad-truth.csv");
    let good = id(11010119800101001);
    let wrong_check = format!(
        "{}{}",
        &good[..17],
        if good.ends_with('0') { '1' } else { '0' }
    );
    for (row, reason) in [
        (
            format!("{good},1101,2022-04-20,2022-05-10"),
            "street precision",
        ),
        (
            format!("{good},110101001,2022-05-10,2022-04-20"),
            "before first_day",
        ),
        (
            format!("{wrong_check},110101001,2022-04-20,2022-05-10"),
            "id_number",
        ),
    ] {
        std::fs::write(
            &truth,
            format!("id_number,region,first_day,last_day\n{good},110101001,2022-04-01,2022-04-19\n{row}\n"),
        )
        .unwrap();
        let o = healthcode(
            tmp.path(),
            &["eval", "--feeds", s(&dir), "--truth", s(&truth)],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{row}");
        assert!(
            err.contains("bad-truth.csv:3:") && err.contains(reason),
            "{row}: {err}"
        );
    }
    std::fs::write(&truth, "id_number,region,first_day\n").unwrap();
    let o = healthcode(
        tmp.path(),
        &["eval", "--feeds", s(&dir), "--truth", s(&truth)],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("last_day"));
    // --feeds or --index is required.
    let o = healthcode(tmp.path(), &["eval", "--truth", s(&truth)]);
    assert!(!o.status.success());
}
