//! `healthcode check` and the feed readers behind it, as an operator sees them: one
//! `file:line: reason` line per bad row, the exit code against the reject threshold, warnings,
//! `.csv.gz`, a feed's own `regions.csv`, and the per-person join of `feeds::people`.

mod util;

use std::collections::HashSet;

use healthcode::domain::{
    Binding, CdcCategory, Day, IdNumber, Phone, PhoneState, RegionCode, StaySource,
};
use healthcode::feeds::{self, FeedError, FeedOptions, Feeds};
use util::{FeedDir, check, id};

fn day(s: &str) -> Day {
    Day::parse(s).unwrap()
}

fn lax() -> FeedOptions {
    FeedOptions {
        max_reject_ratio: 1.0,
        strict: false,
    }
}

/// Loads with a generous threshold, returning the feeds and the reject lines.
fn load(dir: &FeedDir) -> (Feeds, feeds::Report, Vec<String>) {
    let mut rejects = Vec::new();
    let (f, r) = feeds::load(dir.path(), &lax(), &mut rejects).expect("loads");
    let lines = String::from_utf8(rejects)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    (f, r, lines)
}

/// Good rows in several files plus one bad row of each kind, with the lines they must be
/// reported on.
fn mixed_feed() -> (FeedDir, Vec<String>) {
    let d = FeedDir::new();
    let (a, b, c) = (id(1), id(2), id(3));
    let bad_check = format!("{}Y", &a[..17]);
    d.write(
        "bindings.csv",
        &[
            "id_number,phone,channel,bound_on,unbound_on",
            &format!("{a},13800000001,wechat,2022-03-01,"),
            &format!("{b},1380000002,alipay,2022-03-01,"), // 3: bad phone
            &format!("{c},13800000003,bjtong,2022-03-01"), // 4: a field short
            &format!("{c},13800000003,baidu,2022-03-01,2022-04-01"),
        ],
    );
    d.write(
        "phone_stays.csv",
        &[
            "phone,region,first_day,last_day",
            "13800000001,1101,2022-04-01,2022-04-03",
            "13800000001,110199,2022-04-01,2022-04-03", // 3: unknown region
            "13800000003,3101,2022-04-02,2022-04-02",
        ],
    );
    d.write(
        "person_stays.csv",
        &[
            "id_number,region,first_day,last_day,source",
            &format!("{a},110105001,2022-04-01,2022-04-01,flow_survey"),
            &format!("{b},110105,2022-04-03,2022-04-01,self_report"), // 3: reversed
        ],
    );
    d.write(
        "cdc.csv",
        &[
            "id_number,category,from,to",
            &format!("{a},close_contact,2022-04-01,"),
            &format!("{bad_check},confirmed,2022-04-01,"), // 3: check character
            &format!("{b},confirm,2022-04-01,2022-04-10"), // 4: unknown enum
            &format!("{c},confirmed,2022-04-01,2022-04-10"),
        ],
    );
    d.write(
        "arrivals.csv",
        &[
            "id_number,travel_day,origin,mode,booked_on",
            &format!("{a},2022-04-02,310101,rail,2022-03-30"),
            &format!("{b},2022-04-31,310101,air,2022-03-30"), // 3: no such day
        ],
    );
    d.write(
        "community.csv",
        &[
            "id_number,status,from,community", // 1: no `to`
            &format!("{a},home_quarantine,2022-04-01,x"),
            &format!("{b},home_quarantine,2022-04-01,y"),
        ],
    );
    let expected = vec![
        "bindings.csv:3: phone \"**********\": 10 digits, a mainland mobile number has 11".into(),
        "bindings.csv:4: row has 4 fields, the header has 5".into(),
        "phone_stays.csv:3: region \"110199\": unknown region".into(),
        "person_stays.csv:3: last_day 2022-04-01 is before first_day 2022-04-03".into(),
        format!(
            "cdc.csv:3: id_number \"{}********{}\": check character 'Y' is not a digit or X",
            &a[..6],
            &bad_check[14..]
        ),
        "cdc.csv:4: category \"confirm\": expected one of confirmed suspected asymptomatic \
         close_contact secondary_contact"
            .into(),
        "community.csv:1: missing column \"to\" (the header must name \
         id_number,status,from,to,community)"
            .into(),
        "arrivals.csv:3: travel_day \"2022-04-31\": no such date".into(),
    ];
    (d, expected)
}

#[test]
fn one_reject_line_per_bad_row_naming_its_line() {
    let (d, expected) = mixed_feed();
    let run = check(&d, &[]);
    assert_eq!(run.stdout_lines(), expected);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for file in ["bindings.csv", "cdc.csv", "community.csv", "arrivals.csv"] {
        assert!(
            run.stderr.contains(file),
            "the failure names {file}: {}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains("raise --max-reject-ratio"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("cdc.csv: 2 of 4 rows rejected (50.000%)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_generous_ratio_passes_and_keeps_the_good_rows() {
    let (d, expected) = mixed_feed();
    let run = check(&d, &["--max-reject-ratio", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout_lines(), expected);

    let (f, report, lines) = load(&d);
    assert_eq!(lines, expected);
    assert_eq!(f.bindings.len(), 2);
    assert_eq!(f.phone_stays.len(), 2);
    assert_eq!(f.person_stays.len(), 1);
    assert_eq!(f.cdc.len(), 2);
    assert_eq!(f.arrivals.len(), 1);
    assert_eq!(f.community.len(), 0, "a file without `to` keeps nothing");
    let community = report.file("community.csv").unwrap();
    assert_eq!(
        (community.rows, community.accepted, community.rejected),
        (2, 0, 2)
    );
    let cdc = report.file("cdc.csv").unwrap();
    assert_eq!((cdc.rows, cdc.accepted, cdc.rejected), (4, 2, 2));
    assert_eq!(report.total_rejected(), 9);
    assert!(report.file("regions.csv").unwrap().file.is_none());

    // The summary on stderr carries the same counts.
    let cdc_line: Vec<&str> = run
        .stderr
        .lines()
        .find(|l| l.starts_with("cdc.csv"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(cdc_line, ["cdc.csv", "4", "2", "2", "50.000%"]);
}

#[test]
fn the_library_refuses_the_same_feed_at_the_default_threshold() {
    let (d, expected) = mixed_feed();
    let mut rejects = Vec::new();
    let e = feeds::load(d.path(), &FeedOptions::default(), &mut rejects).unwrap_err();
    let FeedError::TooManyRejects {
        offending, report, ..
    } = e
    else {
        panic!("expected the threshold error, got {e}");
    };
    let files: Vec<&str> = offending.iter().map(|o| o.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "bindings.csv",
            "phone_stays.csv",
            "person_stays.csv",
            "cdc.csv",
            "community.csv",
            "arrivals.csv"
        ]
    );
    assert_eq!(report.total_rejected(), 9);
    assert_eq!(
        String::from_utf8(rejects).unwrap().lines().count(),
        expected.len()
    );
}

#[test]
fn the_threshold_is_a_share_per_file() {
    let d = FeedDir::new();
    let rows = |bad: usize| {
        let mut v = vec!["phone,state,as_of".to_string()];
        for i in 0..1000 {
            let state = if i < bad { "off" } else { "active" };
            v.push(format!("138{:08},{state},2022-04-01", i));
        }
        v
    };
    let one_bad = rows(1);
    d.write(
        "phone_status.csv",
        &one_bad.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let run = check(&d, &[]);
    assert_eq!(run.code, 0, "1 in 1000 is within 0.001: {}", run.stderr);
    assert_eq!(run.stdout_lines().len(), 1);
    let strict = check(&d, &["--strict"]);
    assert_eq!(strict.code, 1, "--strict fails on any reject");
    assert!(strict.stderr.contains("--strict"), "{}", strict.stderr);

    let two_bad = rows(2);
    d.write(
        "phone_status.csv",
        &two_bad.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let run = check(&d, &[]);
    assert_eq!(run.code, 1, "2 in 1000 is beyond 0.001");
    assert!(
        run.stderr
            .contains("phone_status.csv: 2 of 1000 rows rejected (0.200%)"),
        "{}",
        run.stderr
    );
    assert_eq!(check(&d, &["--max-reject-ratio", "0.002"]).code, 0);
}

#[test]
fn gz_files_read_like_plain_ones() {
    let (plain, expected) = mixed_feed();
    let gz = FeedDir::new();
    for name in plain.listing() {
        let text = std::fs::read_to_string(plain.join(&name)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        gz.write_gz(&format!("{name}.gz"), &lines);
    }
    let run = check(&gz, &["--max-reject-ratio", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let renamed: Vec<String> = expected
        .iter()
        .map(|l| l.replacen(".csv:", ".csv.gz:", 1))
        .collect();
    assert_eq!(run.stdout_lines(), renamed);

    let (a, _, _) = load(&plain);
    let (b, report, _) = load(&gz);
    assert_eq!(a.bindings, b.bindings);
    assert_eq!(a.phone_stays, b.phone_stays);
    assert_eq!(a.cdc, b.cdc);
    assert_eq!(
        report.file("cdc.csv").unwrap().file.as_deref(),
        Some("cdc.csv.gz")
    );
}

#[test]
fn a_file_both_plain_and_compressed_is_an_error() {
    let d = FeedDir::new();
    d.write("cdc.csv", &["id_number,category,from,to"]);
    d.write_gz("cdc.csv.gz", &["id_number,category,from,to"]);
    let run = check(&d, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cdc.csv and ") && run.stderr.contains("cdc.csv.gz exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_directory_is_an_error() {
    let d = FeedDir::new();
    let run = util::healthcode(&["check", "--feeds", d.join("nope").to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
}

#[test]
fn unknown_columns_and_files_warn_and_rows_are_kept() {
    let d = FeedDir::new();
    d.write(
        "risk_areas.csv",
        &[
            "note,to,level,area,from",
            "first wave,,high,110105001,2022-04-01",
            "second,2022-04-20,medium,310101,2022-04-05",
        ],
    );
    d.write("phone_stay.csv", &["phone,region,first_day,last_day"]);
    let run = check(&d, &["--strict"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("warning: risk_areas.csv: unknown column \"note\" ignored"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("warning: phone_stay.csv: not a feed file, ignored"),
        "{}",
        run.stderr
    );
    let (f, report, _) = load(&d);
    assert_eq!(f.risk_areas.len(), 2);
    assert_eq!(
        f.risk_areas[0].area,
        RegionCode::parse("110105001").unwrap()
    );
    assert_eq!(f.risk_areas[1].period.to, Some(day("2022-04-20")));
    assert_eq!(report.warnings.len(), 2);
}

#[test]
fn a_file_without_a_header_row_fails_check_and_build_even_with_one_row() {
    // Its one row, a confirmed case, is read as the header: the row must not vanish quietly.
    let d = FeedDir::new();
    d.write("cdc.csv", &[&format!("{},confirmed,2022-05-01,", id(7))]);
    let run = check(&d, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cdc.csv: the whole file rejected (0 rows after its first)"),
        "{}",
        run.stderr
    );
    let out = d.join("x.hcx");
    let home = tempfile::tempdir().unwrap();
    let build = util::healthcode_at(
        home.path(),
        &[
            "build",
            "--feeds",
            d.path().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(build.code, 1, "{}", build.stderr);
    assert!(!out.exists());
    // Told to take every reject, the build goes through without the file.
    let lax = check(&d, &["--max-reject-ratio", "1"]);
    assert_eq!(lax.code, 0, "{}", lax.stderr);
}

#[test]
fn a_feeds_regions_csv_adds_regions_that_then_validate() {
    let d = FeedDir::new();
    d.write(
        "phone_stays.csv",
        &[
            "phone,region,first_day,last_day",
            "13800000001,110199001,2022-04-01,2022-04-03",
            "13800000001,110199,2022-04-04,2022-04-05",
        ],
    );
    let (_, _, lines) = load(&d);
    assert_eq!(lines.len(), 2, "unknown before regions.csv: {lines:?}");

    d.write(
        "regions.csv",
        &[
            "code,name,parent,level",
            "110199001,新区街道,110199,4", // before its parent: retried
            "110199,新区,1101,3",
            "110198,坏区,12,3", // 4: wrong parent
        ],
    );
    let (f, report, lines) = load(&d);
    assert_eq!(
        lines,
        ["regions.csv:4: parent 12 is not an ancestor of 110198"]
    );
    assert_eq!(f.phone_stays.len(), 2);
    assert_eq!(f.regions.name(RegionCode::parse("110199").unwrap()), "新区");
    assert!(
        f.regions.contains(RegionCode::parse("110105").unwrap()),
        "bundled kept"
    );
    let r = report.file("regions.csv").unwrap();
    assert_eq!((r.rows, r.accepted, r.rejected), (3, 2, 1));
}

#[test]
fn lines_are_physical_lines_and_cells_are_trimmed() {
    let d = FeedDir::new();
    let a = id(1);
    let mut bytes = format!(
        "\u{feff}id_number,registered_on,community\n\
         {a}, 2022-04-01 ,\"朝阳\n建外\"\n\
         \n\
         {a},2022-04-02,"
    )
    .into_bytes();
    // GBK bytes where UTF-8 is expected, on physical line 5.
    bytes.extend_from_slice(b"\xb3\xaf\n");
    bytes.extend_from_slice(format!("{a},2022-04-0x,ok\n").as_bytes());
    d.write_bytes("registrations.csv", &bytes);
    let (f, _, lines) = load(&d);
    assert_eq!(
        lines,
        [
            "registrations.csv:5: community \"\u{fffd}\u{fffd}\": not UTF-8 (bad byte at offset 0; \
             convert the file to UTF-8)",
            "registrations.csv:6: registered_on \"2022-04-0x\": not a day of the form YYYY-MM-DD",
        ]
    );
    assert_eq!(f.registrations.len(), 1);
    assert_eq!(f.registrations[0].community, "朝阳\n建外");
    assert_eq!(
        f.registrations[0].registration.registered_on,
        day("2022-04-01")
    );
}

#[test]
fn rejects_go_to_a_file_written_whole() {
    let (d, expected) = mixed_feed();
    let out = FeedDir::new();
    let path = out.join("rejects.txt");
    std::fs::write(&path, "old report\n").unwrap();
    let run = check(&d, &["--rejects", path.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stdout, "", "rejects are not on stdout");
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written.lines().collect::<Vec<_>>(), expected);
    assert_eq!(out.listing(), ["rejects.txt"], "no temporary file left");
    assert!(
        run.stderr.contains("9 rejected rows reported in"),
        "{}",
        run.stderr
    );

    // A feed that cannot be read leaves the previous report in place.
    let both = FeedDir::new();
    both.write("cdc.csv", &["id_number,category,from,to"]);
    both.write("cdc.csv.gz", &[]);
    let run = check(&both, &["--rejects", path.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    assert_eq!(out.listing(), ["rejects.txt"]);
}

#[test]
fn people_joins_every_feed_by_person_and_phone() {
    let d = FeedDir::new();
    let (a, b, c) = (id(1), id(2), id(3));
    let (p1, p2, p3) = ("13800000001", "13900000002", "13700000003");
    d.write(
        "bindings.csv",
        &[
            "id_number,phone,channel,bound_on,unbound_on",
            &format!("{a},{p1},wechat,2022-01-01,2022-03-01"),
            &format!("{a},{p2},alipay,2022-02-01,"),
            &format!("{b},{p2},wechat,2021-01-01,2022-02-01"), // p2 reassigned from b to a
            &format!("{a},{p1},alipay,2022-03-10,"),           // p1 rebound to a
        ],
    );
    d.write(
        "phone_stays.csv",
        &[
            "phone,region,first_day,last_day",
            &format!("{p2},3101,2022-04-02,2022-04-02"),
            &format!("{p1},1101,2022-04-01,2022-04-01"),
            &format!("{p3},4401,2022-04-01,2022-04-01"), // bound to nobody
            &format!("{p2},1101,2022-04-03,2022-04-04"),
        ],
    );
    d.write(
        "phone_status.csv",
        &[
            "phone,state,as_of",
            &format!("{p2},active,2022-04-01"),
            &format!("{p2},long_off,2022-04-05"),
        ],
    );
    d.write(
        "person_stays.csv",
        &[
            "id_number,region,first_day,last_day,source",
            &format!("{a},110105001,2022-04-01,2022-04-01,flow_survey"),
        ],
    );
    d.write(
        "cdc.csv",
        &[
            "id_number,category,from,to",
            &format!("{c},secondary_contact,2022-04-01,"),
        ],
    );
    d.write(
        "verifications.csv",
        &[
            "id_number,verified_on,scope,operator,ticket",
            &format!("{b},2022-04-06,,op,T1"),
        ],
    );
    d.write(
        "risk_areas.csv",
        &["area,level,from,to", "110105001,high,2022-04-01,"],
    );
    let (f, _, lines) = load(&d);
    assert!(lines.is_empty(), "{lines:?}");
    let people = feeds::people(&f);
    let key = |s: &str| IdNumber::parse(s).unwrap();
    let ids: HashSet<IdNumber> = people.keys().copied().collect();
    assert_eq!(ids, HashSet::from([key(&a), key(&b), key(&c)]));

    let pa = &people[&key(&a)];
    assert_eq!(pa.phones.len(), 2, "one entry per distinct phone");
    assert_eq!(pa.phones[0].tail.to_string(), "0001");
    assert_eq!(
        pa.phones[0].bindings,
        [
            Binding {
                bound_on: day("2022-01-01"),
                unbound_on: Some(day("2022-03-01"))
            },
            Binding {
                bound_on: day("2022-03-10"),
                unbound_on: None
            },
        ]
    );
    assert_eq!(pa.phones[0].stays.len(), 1);
    assert_eq!(pa.phones[0].stays[0].source, StaySource::Telecom);
    assert!(pa.phones[0].statuses.is_empty());
    let a2 = &pa.phones[1];
    assert_eq!(a2.tail.to_string(), "0002");
    let regions: Vec<String> = a2.stays.iter().map(|s| s.region.to_string()).collect();
    assert_eq!(
        regions,
        ["3101", "1101"],
        "all the phone's stays, feed order"
    );
    let states: Vec<PhoneState> = a2.statuses.iter().map(|s| s.state).collect();
    assert_eq!(states, [PhoneState::Active, PhoneState::LongOff]);
    assert_eq!(pa.stays.len(), 1);
    assert_eq!(pa.stays[0].source, StaySource::FlowSurvey);
    assert!(pa.cdc.is_empty() && pa.verifications.is_empty());

    let pb = &people[&key(&b)];
    assert_eq!(pb.phones.len(), 1);
    assert_eq!(pb.phones[0].bindings.len(), 1);
    assert_eq!(
        pb.phones[0].stays, a2.stays,
        "a shared phone's stays go to both"
    );
    assert_eq!(pb.verifications.len(), 1);
    assert_eq!(pb.verifications[0].scope, None);

    let pc = &people[&key(&c)];
    assert!(pc.phones.is_empty() && pc.stays.is_empty());
    assert_eq!(pc.cdc[0].category, CdcCategory::SecondaryContact);

    let set = feeds::risk_area_set(&f);
    assert_eq!(set.areas().len(), 1);
    assert!(!people.contains_key(&key(&id(4))));
    let p3_tail = Phone::parse(p3).unwrap().tail();
    assert!(
        people
            .values()
            .all(|p| p.phones.iter().all(|ph| ph.tail != p3_tail)),
        "an unbound phone belongs to nobody"
    );
}
