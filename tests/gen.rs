//! Integration tests of `healthcode gen`: runs the real binary and checks the files it writes
//! with the domain parsers — headers, every value, determinism, the truth and what telecom made
//! of it, uniqueness of IDs and phones, the misfire scenario, and the output-directory safety.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use healthcode::domain::{
    CdcCategory, Channel, CommunityStatus, Day, IdNumber, Phone, PhoneState, Precision, RegionCode,
    RiskLevel, StaySource, TravelMode,
};
use healthcode::regions::RegionTable;

/// Persons of the shared data set.
const PERSONS: usize = 2_000;
/// The default query day of `gen`.
const TODAY: &str = "2022-05-10";

/// Every file `gen` writes, with its header.
const FILES: [(&str, &str); 12] = [
    ("truth.csv", "id_number,region,first_day,last_day"),
    (
        "bindings.csv",
        "id_number,phone,channel,bound_on,unbound_on",
    ),
    ("phone_stays.csv", "phone,region,first_day,last_day"),
    (
        "person_stays.csv",
        "id_number,region,first_day,last_day,source",
    ),
    ("cdc.csv", "id_number,category,from,to"),
    ("community.csv", "id_number,status,from,to,community"),
    ("arrivals.csv", "id_number,travel_day,origin,mode,booked_on"),
    ("registrations.csv", "id_number,registered_on,community"),
    ("risk_areas.csv", "area,level,from,to"),
    (
        "verifications.csv",
        "id_number,verified_on,scope,operator,ticket",
    ),
    ("phone_status.csv", "phone,state,as_of"),
    ("dataset.csv", "key,value"),
];

fn gen_cmd(out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .arg("gen")
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .expect("run healthcode gen")
}

fn gen_ok(out: &Path, args: &[&str]) {
    let o = gen_cmd(out, args);
    assert!(
        o.status.success(),
        "gen {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The shared data set: 2000 persons, seed 1, generated once per test run.
fn shared() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gen-2000-seed-1");
        gen_ok(&dir, &["--persons", &PERSONS.to_string(), "--seed", "1"]);
        dir
    })
}

/// A larger data set where even the rare records occur.
fn large() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gen-30000-seed-1");
        gen_ok(&dir, &["--persons", "30000", "--seed", "1"]);
        dir
    })
}

/// The rows of a file as (line number, fields), after checking its header.
fn rows(dir: &Path, name: &str) -> Vec<(usize, Vec<String>)> {
    let header = FILES.iter().find(|f| f.0 == name).expect("known file").1;
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let got: Vec<&str> = r.headers().expect("header").iter().collect();
    assert_eq!(got.join(","), header, "{name}: header");
    r.records()
        .enumerate()
        .map(|(i, rec)| {
            let rec = rec.unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 2));
            (i + 2, rec.iter().map(str::to_string).collect())
        })
        .collect()
}

fn today() -> Day {
    Day::parse(TODAY).unwrap()
}

fn id(s: &str, at: &str) -> IdNumber {
    let v = IdNumber::parse(s).unwrap_or_else(|e| panic!("{at}: id {s:?}: {e}"));
    assert_eq!(v.to_string(), s, "{at}: id not canonical");
    v
}

fn phone(s: &str, at: &str) -> Phone {
    let p = Phone::parse(s).unwrap_or_else(|e| panic!("{at}: phone {s:?}: {e}"));
    assert_eq!(p.to_string(), s, "{at}: phone not 11 plain digits");
    assert!(
        (13..=19).contains(&(p.number() / 1_000_000_000)),
        "{at}: phone {s} does not start with 13-19"
    );
    p
}

fn day(s: &str, at: &str) -> Day {
    Day::parse(s).unwrap_or_else(|e| panic!("{at}: day {s:?}: {e}"))
}

fn opt_day(s: &str, at: &str) -> Option<Day> {
    Day::parse_opt(s).unwrap_or_else(|e| panic!("{at}: day {s:?}: {e}"))
}

fn region(s: &str, at: &str) -> RegionCode {
    let r = RegionCode::parse(s).unwrap_or_else(|e| panic!("{at}: region {s:?}: {e}"));
    assert_eq!(r.to_string(), s, "{at}: region not normalised");
    assert!(
        RegionTable::bundled().contains(r),
        "{at}: region {s} is not in the bundled table"
    );
    r
}

/// Truth stays per person: (street, first, last), in file order.
type Truth = BTreeMap<IdNumber, Vec<(RegionCode, Day, Day)>>;

fn truth(dir: &Path) -> Truth {
    let mut t = Truth::new();
    for (line, f) in rows(dir, "truth.csv") {
        let at = format!("truth.csv:{line}");
        t.entry(id(&f[0], &at)).or_default().push((
            region(&f[1], &at),
            day(&f[2], &at),
            day(&f[3], &at),
        ));
    }
    t
}

/// Bindings per phone: (person, first bound day, last bound day).
type Bindings = BTreeMap<Phone, Vec<(IdNumber, Day, Day)>>;

fn bindings(dir: &Path) -> Bindings {
    let mut b = Bindings::new();
    for (line, f) in rows(dir, "bindings.csv") {
        let at = format!("bindings.csv:{line}");
        let last = opt_day(&f[4], &at).map_or(Day(i32::MAX), |u| u.plus(-1));
        b.entry(phone(&f[1], &at))
            .or_default()
            .push((id(&f[0], &at), day(&f[3], &at), last));
    }
    b
}

struct Risk {
    area: RegionCode,
    from: Day,
    last: Day,
}

fn risk_areas(dir: &Path) -> Vec<Risk> {
    rows(dir, "risk_areas.csv")
        .into_iter()
        .map(|(line, f)| {
            let at = format!("risk_areas.csv:{line}");
            Risk {
                area: region(&f[0], &at),
                from: day(&f[2], &at),
                last: opt_day(&f[3], &at).unwrap_or(today()),
            }
        })
        .collect()
}

#[test]
fn writes_every_feed_with_its_header_and_nothing_else() {
    let dir = shared();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = FILES.iter().map(|f| f.0.to_string()).collect();
    want.sort();
    assert_eq!(names, want, "no regions.csv, no leftover temporaries");
    for (name, _) in FILES {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(text.ends_with('\n'), "{name}: ends with a line end");
        if name != "verifications.csv" {
            assert!(!rows(dir, name).is_empty(), "{name} has rows");
        }
    }
}

#[test]
fn the_data_set_names_the_generated_city_as_its_home() {
    let dir = shared();
    assert_eq!(
        std::fs::read_to_string(dir.join("dataset.csv")).unwrap(),
        "key,value\nhome,1101\n"
    );
}

#[test]
fn every_value_passes_feed_validation() {
    let dir = shared();
    let (d, t) = (today(), truth(dir));
    let people: BTreeSet<IdNumber> = t.keys().copied().collect();
    let known = |v: IdNumber, at: &str| assert!(people.contains(&v), "{at}: unknown person");

    for (line, f) in rows(dir, "bindings.csv") {
        let at = format!("bindings.csv:{line}");
        known(id(&f[0], &at), &at);
        phone(&f[1], &at);
        assert!(Channel::parse(&f[2]).is_some(), "{at}: channel {:?}", f[2]);
        let bound = day(&f[3], &at);
        assert!(bound <= d, "{at}: bound in the future");
        if let Some(u) = opt_day(&f[4], &at) {
            assert!(u > bound, "{at}: unbound_on not after bound_on");
            assert!(u <= d, "{at}: unbound in the future");
        }
    }
    let phones: BTreeSet<Phone> = bindings(dir).keys().copied().collect();
    for (line, f) in rows(dir, "phone_stays.csv") {
        let at = format!("phone_stays.csv:{line}");
        assert!(phones.contains(&phone(&f[0], &at)), "{at}: unbound phone");
        region(&f[1], &at);
        assert!(
            day(&f[3], &at) >= day(&f[2], &at),
            "{at}: last before first"
        );
    }
    for (line, f) in rows(dir, "person_stays.csv") {
        let at = format!("person_stays.csv:{line}");
        known(id(&f[0], &at), &at);
        let r = region(&f[1], &at);
        assert!(
            day(&f[3], &at) >= day(&f[2], &at),
            "{at}: last before first"
        );
        match StaySource::parse(&f[4]) {
            Some(StaySource::FlowSurvey) => assert_eq!(r.precision(), Precision::Street, "{at}"),
            Some(StaySource::SelfReport) => assert!(r.precision() >= Precision::City, "{at}"),
            _ => panic!("{at}: source {:?}", f[4]),
        }
    }
    for (line, f) in rows(dir, "cdc.csv") {
        let at = format!("cdc.csv:{line}");
        known(id(&f[0], &at), &at);
        assert!(CdcCategory::parse(&f[1]).is_some(), "{at}: category");
        let from = day(&f[2], &at);
        assert!(from <= d, "{at}: from in the future");
        assert!(
            opt_day(&f[3], &at).is_none_or(|to| to >= from),
            "{at}: to before from"
        );
    }
    for (line, f) in rows(dir, "community.csv") {
        let at = format!("community.csv:{line}");
        known(id(&f[0], &at), &at);
        assert!(CommunityStatus::parse(&f[1]).is_some(), "{at}: status");
        let from = day(&f[2], &at);
        assert!(
            opt_day(&f[3], &at).is_none_or(|to| to >= from),
            "{at}: to before from"
        );
        assert!(!f[4].trim().is_empty(), "{at}: community name");
    }
    for (line, f) in rows(dir, "arrivals.csv") {
        let at = format!("arrivals.csv:{line}");
        known(id(&f[0], &at), &at);
        let travel = day(&f[1], &at);
        let origin = region(&f[2], &at);
        assert!(
            matches!(origin.precision(), Precision::City | Precision::County),
            "{at}: origin {origin} is not a city or county"
        );
        assert!(
            !RegionCode::parse("1101").unwrap().contains(origin),
            "{at}: from home"
        );
        assert!(TravelMode::parse(&f[3]).is_some(), "{at}: mode");
        let booked = day(&f[4], &at);
        assert!(booked < travel, "{at}: booked on or after travel");
        assert!(
            booked <= d && travel <= d.plus(14),
            "{at}: days out of range"
        );
    }
    for (line, f) in rows(dir, "registrations.csv") {
        let at = format!("registrations.csv:{line}");
        known(id(&f[0], &at), &at);
        assert!(day(&f[1], &at) <= d, "{at}: registered in the future");
        assert!(!f[2].trim().is_empty(), "{at}: community name");
    }
    for (line, f) in rows(dir, "risk_areas.csv") {
        let at = format!("risk_areas.csv:{line}");
        let area = region(&f[0], &at);
        assert!(
            matches!(area.precision(), Precision::Street | Precision::Community),
            "{at}: area {area} is not a street or community"
        );
        assert!(RiskLevel::parse(&f[1]).is_some(), "{at}: level");
        let from = day(&f[2], &at);
        assert!(
            opt_day(&f[3], &at).is_none_or(|to| to >= from),
            "{at}: to before from"
        );
    }
    for (line, f) in rows(dir, "verifications.csv") {
        let at = format!("verifications.csv:{line}");
        known(id(&f[0], &at), &at);
        assert!(day(&f[1], &at) <= d, "{at}: verified in the future");
        if !f[2].is_empty() {
            region(&f[2], &at);
        }
        assert!(
            !f[3].is_empty() && !f[4].is_empty(),
            "{at}: operator, ticket"
        );
    }
    for (line, f) in rows(dir, "phone_status.csv") {
        let at = format!("phone_status.csv:{line}");
        assert!(phones.contains(&phone(&f[0], &at)), "{at}: unbound phone");
        assert!(PhoneState::parse(&f[1]).is_some(), "{at}: state");
        assert!(day(&f[2], &at) <= d, "{at}: as_of in the future");
    }
}

#[test]
fn same_arguments_give_identical_files_and_another_seed_does_not() {
    let base = shared();
    let tmp = tempfile::tempdir().unwrap();
    let again = tmp.path().join("again");
    let other = tmp.path().join("other");
    // The defaults, spelled out: the same data set.
    gen_ok(
        &again,
        &[
            "--persons",
            &PERSONS.to_string(),
            "--seed",
            "1",
            "--today",
            TODAY,
            "--city",
            "1101",
        ],
    );
    gen_ok(&other, &["--persons", &PERSONS.to_string(), "--seed", "2"]);
    let mut differing = Vec::new();
    for (name, _) in FILES {
        let a = std::fs::read(base.join(name)).unwrap();
        assert!(
            a == std::fs::read(again.join(name)).unwrap(),
            "{name} differs between two runs of the same seed"
        );
        if a != std::fs::read(other.join(name)).unwrap() {
            differing.push(name);
        }
    }
    for name in [
        "truth.csv",
        "bindings.csv",
        "phone_stays.csv",
        "risk_areas.csv",
    ] {
        assert!(differing.contains(&name), "{name} same for seeds 1 and 2");
    }
}

#[test]
fn a_smaller_run_is_a_prefix_of_a_larger_one() {
    let (small, large) = (shared(), large());
    for (name, _) in FILES {
        let a = std::fs::read(small.join(name)).unwrap();
        let b = std::fs::read(large.join(name)).unwrap();
        assert!(
            b.len() > a.len() || ["risk_areas.csv", "dataset.csv"].contains(&name),
            "{name} grew"
        );
        assert!(
            b.starts_with(&a),
            "{name} of 2000 persons is not a prefix of 30000's"
        );
    }
}

#[test]
fn truth_covers_each_person_at_street_precision_and_ids_are_unique() {
    let dir = shared();
    let t = truth(dir);
    assert_eq!(t.len(), PERSONS, "one distinct ID per person");
    let d = today();
    let first = d.plus(-30);
    let mut lines = 0;
    for (person, stays) in &t {
        lines += stays.len();
        let mut next = first;
        for &(street, f, l) in stays {
            assert_eq!(street.precision(), Precision::Street, "{person}: {street}");
            assert_eq!(f, next, "{person}: gap or overlap before {f}");
            assert!(l >= f, "{person}: last before first");
            next = l.plus(1);
        }
        assert_eq!(
            next,
            d.plus(1),
            "{person}: truth ends on {next:?}, not today"
        );
        // The ID's first 6 digits are a county.
        let prefix = RegionCode::parse(&person.to_string()[..6]).unwrap();
        assert!(
            RegionTable::bundled().contains(prefix),
            "{person}: birthplace {prefix} unknown"
        );
    }
    // Rows of one person are adjacent in the file.
    assert_eq!(lines, rows(dir, "truth.csv").len());
    let home = RegionCode::parse("1101").unwrap();
    let travellers = t
        .values()
        .filter(|s| s.iter().any(|(r, _, _)| !home.contains(*r)))
        .count();
    assert!(
        (PERSONS / 50..PERSONS / 4).contains(&travellers),
        "{travellers} of {PERSONS} persons left the home city"
    );
}

#[test]
fn phones_are_unique_and_each_belongs_to_one_person() {
    let b = bindings(shared());
    let mut per_person: HashMap<IdNumber, usize> = HashMap::new();
    for (p, rows) in &b {
        let owners: BTreeSet<IdNumber> = rows.iter().map(|r| r.0).collect();
        assert_eq!(owners.len(), 1, "{p} bound to {} persons", owners.len());
        *per_person.entry(rows[0].0).or_default() += 1;
    }
    assert_eq!(per_person.len(), PERSONS, "every person has a phone");
    assert!(per_person.values().all(|n| (1..=3).contains(n)));
    assert!(
        per_person.values().any(|&n| n > 1),
        "some have several phones"
    );
    let multi_channel = b
        .values()
        .filter(|rows| rows.len() > 1 && rows.iter().any(|r| r.1 != rows[0].1))
        .count();
    assert!(multi_channel > 0, "some phones are bound more than once");
    let ended = b
        .values()
        .filter(|rows| rows.iter().all(|r| r.2 < today()))
        .count();
    assert!(ended > 0, "some phones are no longer bound at all");
}

#[test]
fn telecom_sees_the_city_of_every_true_stay_of_every_bound_phone() {
    let dir = shared();
    let (t, b) = (truth(dir), bindings(dir));
    let d = today();
    let first = d.plus(-30);
    let city_on = |person: IdNumber, day: Day| {
        t[&person]
            .iter()
            .find(|s| s.1 <= day && day <= s.2)
            .map(|s| s.0.truncate(Precision::City))
            .expect("truth covers every day")
    };
    let bound_to =
        |p: Phone, day: Day| b[&p].iter().find(|r| r.1 <= day && day <= r.2).map(|r| r.0);
    // Every telecom stay: the phone was bound, and its holder was in that city, on every day.
    let mut seen: BTreeMap<(Phone, Day), RegionCode> = BTreeMap::new();
    let mut last_row: Option<(Phone, RegionCode, Day)> = None;
    for (line, f) in rows(dir, "phone_stays.csv") {
        let at = format!("phone_stays.csv:{line}");
        let p = phone(&f[0], &at);
        let city = region(&f[1], &at);
        assert_eq!(
            city.precision(),
            Precision::City,
            "{at}: telecom is city precision"
        );
        let (a, z) = (day(&f[2], &at), day(&f[3], &at));
        if let Some((lp, lc, ll)) = last_row {
            assert!(
                !(lp == p && lc == city && ll.plus(1) == a),
                "{at}: consecutive days in one city not merged"
            );
        }
        last_row = Some((p, city, z));
        for n in a.0..=z.0 {
            let day = Day(n);
            let holder = bound_to(p, day).unwrap_or_else(|| panic!("{at}: {p} unbound on {day}"));
            assert_eq!(
                city_on(holder, day),
                city,
                "{at}: holder elsewhere on {day}"
            );
            assert!(
                seen.insert((p, day), city).is_none(),
                "{at}: day {day} twice"
            );
        }
    }
    // And the converse: every bound day of every phone in the truth's days was seen.
    let mut checked = 0;
    for (p, rows) in &b {
        for &(person, bound, last) in rows {
            for n in bound.max(first).0..=last.min(d).0 {
                let day = Day(n);
                assert_eq!(
                    seen.get(&(*p, day)),
                    Some(&city_on(person, day)),
                    "{p} of {person} not seen on {day}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > PERSONS * 31, "{checked} phone-days checked");
}

#[test]
fn travellers_stay_in_risk_streets_and_many_more_elsewhere_in_risk_cities() {
    let dir = shared();
    let (t, risks) = (truth(dir), risk_areas(dir));
    let home = RegionCode::parse("1101").unwrap();
    let cities: BTreeSet<RegionCode> = risks
        .iter()
        .map(|z| z.area.truncate(Precision::City))
        .collect();
    assert!(cities.contains(&home), "the home city has risk areas");
    assert!(
        cities.len() >= 3,
        "risk areas in several cities: {cities:?}"
    );
    let units: BTreeSet<RegionCode> = risks.iter().map(|z| z.area.risk_unit()).collect();
    assert!(units.len() >= 4, "a handful of risk units: {units:?}");
    assert!(risks.iter().any(|z| z.last < today()), "some areas lifted");
    assert!(risks.iter().any(|z| z.last == today()), "some still active");

    let (mut in_risk_street, mut misfire) = (0, 0);
    for stays in t.values() {
        for &(street, f, l) in stays {
            if home.contains(street) {
                continue;
            }
            for z in &risks {
                if f.max(z.from) > l.min(z.last) {
                    continue;
                }
                if z.area.truncate(Precision::Street) == street {
                    in_risk_street += 1;
                } else if street
                    .truncate(Precision::City)
                    .strictly_contains(z.area.risk_unit())
                    && !units.iter().any(|u| u.contains(street))
                {
                    // A city-level telecom stay here matches the risk unit: the misfire case.
                    misfire += 1;
                }
            }
        }
    }
    assert!(in_risk_street > 0, "no traveller stayed in a risk street");
    assert!(
        misfire > 2 * in_risk_street,
        "{misfire} stays outside the units of risk cities vs {in_risk_street} in risk streets"
    );
}

#[test]
fn every_spelling_occurs_in_a_larger_data_set() {
    let dir = large();
    let column = |name: &str, k: usize| -> BTreeSet<String> {
        rows(dir, name)
            .into_iter()
            .map(|(_, f)| f[k].clone())
            .collect()
    };
    let all = |v: Vec<&str>| -> BTreeSet<String> { v.into_iter().map(String::from).collect() };
    assert_eq!(
        column("cdc.csv", 1),
        all(CdcCategory::ALL.iter().map(|c| c.as_str()).collect())
    );
    assert_eq!(
        column("community.csv", 1),
        all(CommunityStatus::ALL.iter().map(|c| c.as_str()).collect())
    );
    assert_eq!(
        column("arrivals.csv", 3),
        all(TravelMode::ALL.iter().map(|c| c.as_str()).collect())
    );
    assert_eq!(
        column("bindings.csv", 2),
        all(Channel::ALL.iter().map(|c| c.as_str()).collect())
    );
    assert_eq!(
        column("phone_status.csv", 1),
        all(PhoneState::ALL.iter().map(|c| c.as_str()).collect())
    );
    assert_eq!(
        column("person_stays.csv", 4),
        all(vec!["flow_survey", "self_report"])
    );
    assert_eq!(column("risk_areas.csv", 1), all(vec!["high", "medium"]));
    let scopes = column("verifications.csv", 2);
    assert!(scopes.contains(""), "some verifications cover all regions");
    assert!(scopes.iter().any(|s| s.len() == 6), "some cover a county");
    let d = today();
    let arrivals = rows(dir, "arrivals.csv");
    assert!(
        arrivals.iter().any(|(_, f)| Day::parse(&f[1]).unwrap() > d),
        "some future bookings"
    );
    let registered: BTreeSet<String> = column("registrations.csv", 0);
    let unregistered = arrivals
        .iter()
        .filter(|(_, f)| !registered.contains(&f[0]))
        .count();
    assert!(!registered.is_empty() && unregistered > 0);
    let self_reported: BTreeSet<usize> = rows(dir, "person_stays.csv")
        .into_iter()
        .filter(|(_, f)| f[4] == "self_report")
        .map(|(_, f)| f[1].len())
        .collect();
    assert!(self_reported.contains(&9) && self_reported.contains(&6));
}

#[test]
fn refuses_a_directory_it_did_not_write_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("feeds");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "an operator's file").unwrap();
    let o = gen_cmd(&dir, &["--persons", "10"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("notes.txt") && err.contains("--force"),
        "{err}"
    );
    assert!(!dir.join("truth.csv").exists(), "nothing written");

    gen_ok(&dir, &["--persons", "10", "--force"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "an operator's file"
    );
    assert!(dir.join("truth.csv").exists());

    // A file where the directory should be.
    let o = gen_cmd(&dir.join("notes.txt"), &["--persons", "10"]);
    assert!(!o.status.success());
}

#[test]
fn replaces_its_own_previous_output_and_creates_missing_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a").join("b");
    gen_ok(&dir, &["--persons", "50"]);
    let before = std::fs::read(dir.join("truth.csv")).unwrap();
    gen_ok(&dir, &["--persons", "20"]);
    let after = std::fs::read(dir.join("truth.csv")).unwrap();
    assert!(
        after.len() < before.len(),
        "the smaller run replaced the file"
    );
}

#[test]
fn rejects_a_home_city_that_is_not_a_city() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let o = gen_cmd(&dir, &["--persons", "10", "--city", "11"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--city 11"), "{err}");
    assert!(!dir.exists(), "nothing created for a bad argument");
}
