//! The index against the reference model, end to end from CSV feeds: random feed directories
//! (up to 20 persons, a few phones sharing tails, stays at every precision, bindings that end,
//! same-day phone statuses, verifications of all regions, arrivals and registrations) are
//! written as the files of DOMAIN.md §3 — columns shuffled, sometimes gzip-compressed, with a
//! byte-order mark, CRLF line ends, an unknown column, quoted text (commas, quotes, line feeds)
//! and the accepted spellings of phones, document numbers and zero-padded region codes — and
//! built by `pipeline::build_index`. Every person's
//! answer from the index must equal the model's answer on records joined here, straight from the
//! generated rows; every document number without a record must be unknown.

mod model;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use healthcode::domain::{
    Arrival, Binding, CdcCategory, CdcRecord, Channel, CommunityRecord, CommunityStatus, Day,
    IdNumber, PersonRecords, Phone, PhoneRecords, PhoneStatus, Policy, RegionCode, Registration,
    RiskArea, RiskLevel, Stay, StaySource, TravelMode, Verification, evaluate,
};
use healthcode::feeds::FeedOptions;
use healthcode::key::Key;
use healthcode::pipeline::{BuildOptions, build_index};
use healthcode::regions::RegionTable;
use healthcode::serve::open_index;
use model::arb;
use proptest::collection::vec;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Region codes at every precision, all in the bundled table: siblings, Dongguan's streets
/// directly under the city, and a second province.
const REGIONS: &[&str] = &[
    "11",
    "1101",
    "110105",
    "110105001",
    "110105001024",
    "110105002",
    "110106",
    "110106002",
    "44",
    "4419",
    "441900003",
    "441900003001",
    "441900004",
    "12",
    "1201",
    "120101",
];

/// The phones: pairs share a tail, so findings from two phones can carry the same one.
const PHONES: &[u64] = &[
    13800008000,
    13912348000,
    15000001234,
    18600001234,
    17700000007,
    13700000007,
];

/// Most persons in one feed directory.
const MAX_PERSONS: usize = 20;

fn key() -> Key {
    Key::from_words(0xfeed_0001, 0xfeed_0002)
}

/// The document numbers persons are drawn from, some with an `X` check character.
fn ids() -> &'static [IdNumber] {
    static IDS: OnceLock<Vec<IdNumber>> = OnceLock::new();
    IDS.get_or_init(|| {
        let (mut with_x, mut plain) = (Vec::new(), Vec::new());
        for body in 11010519900101000u64.. {
            let id = IdNumber::from_body(body);
            match id.to_string().ends_with('X') {
                true if with_x.len() < 5 => with_x.push(id),
                false if plain.len() < MAX_PERSONS - 5 => plain.push(id),
                _ => {}
            }
            if with_x.len() + plain.len() == MAX_PERSONS {
                break;
            }
        }
        // Interleave so that small worlds have both kinds.
        let mut all = Vec::new();
        for (i, id) in plain.into_iter().enumerate() {
            all.push(id);
            if i % 3 == 0 && !with_x.is_empty() {
                all.push(with_x.remove(0));
            }
        }
        all.extend(with_x);
        all
    })
}

fn region() -> impl Strategy<Value = RegionCode> {
    prop::sample::select(REGIONS).prop_map(|s| RegionCode::parse(s).expect("valid code"))
}

fn stay(source: StaySource) -> impl Strategy<Value = Stay> {
    (region(), arb::day(), 0i32..8).prop_map(move |(region, first_day, len)| Stay {
        region,
        first_day,
        last_day: first_day.plus(len),
        source,
    })
}

fn arrival() -> impl Strategy<Value = Arrival> {
    (
        (-20i32..=20).prop_map(|k| arb::query_day().plus(k)),
        -2i32..=25,
        region(),
        prop::sample::select(TravelMode::ALL),
    )
        .prop_map(|(travel_day, ahead, origin, mode)| Arrival {
            travel_day,
            origin,
            mode,
            booked_on: travel_day.plus(-ahead),
        })
}

/// Free text of the community, operator and ticket columns: empty, Chinese, with a comma, a
/// quote or a line feed (which the CSV writer must quote).
fn text() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "",
            "朝阳区团结湖社区",
            "Block 3, Room 2",
            "say \"hi\"",
            "line one\nline two",
            "T-0042",
        ][..],
    )
    .prop_map(str::to_string)
}

/// The rows of one feed directory, as records of the domain types. Persons and phones are
/// indexes into [`ids`] and [`PHONES`].
#[derive(Clone, Debug)]
struct World {
    bindings: Vec<(usize, usize, Channel, Binding)>,
    phone_stays: Vec<(usize, Stay)>,
    person_stays: Vec<(usize, Stay)>,
    cdc: Vec<(usize, CdcRecord)>,
    community: Vec<(usize, CommunityRecord, String)>,
    arrivals: Vec<(usize, Arrival)>,
    registrations: Vec<(usize, Registration, String)>,
    verifications: Vec<(usize, Verification, String, String)>,
    phone_status: Vec<(usize, PhoneStatus)>,
    risk_areas: Vec<RiskArea>,
    /// Drives the spelling and layout of the files.
    layout_seed: u64,
}

fn world() -> impl Strategy<Value = World> {
    (1usize..=MAX_PERSONS, 1usize..=PHONES.len()).prop_flat_map(|(n, m)| {
        let person = 0..n;
        let phone = 0..m;
        let person_rows = (
            vec(
                (
                    person.clone(),
                    phone.clone(),
                    prop::sample::select(Channel::ALL),
                    arb::binding(),
                ),
                0..=2 * n,
            ),
            vec(
                (
                    person.clone(),
                    prop_oneof![stay(StaySource::FlowSurvey), stay(StaySource::SelfReport)],
                ),
                0..=n,
            ),
            vec(
                (
                    person.clone(),
                    (prop::sample::select(CdcCategory::ALL), arb::period())
                        .prop_map(|(category, period)| CdcRecord { category, period }),
                ),
                0..=n / 3 + 1,
            ),
            vec(
                (
                    person.clone(),
                    (prop::sample::select(CommunityStatus::ALL), arb::period())
                        .prop_map(|(status, period)| CommunityRecord { status, period }),
                    text(),
                ),
                0..=n / 3 + 1,
            ),
            vec((person.clone(), arrival()), 0..=n / 2 + 1),
            vec(
                (
                    person.clone(),
                    arb::day().prop_map(|registered_on| Registration { registered_on }),
                    text(),
                ),
                0..=n / 2 + 1,
            ),
            vec(
                (
                    person.clone(),
                    (arb::day(), prop::option::weighted(0.6, region()))
                        .prop_map(|(verified_on, scope)| Verification { verified_on, scope }),
                    text(),
                    text(),
                ),
                0..=n / 2 + 1,
            ),
        );
        // Statuses, then groups of two or three on one day of one phone: the last one in the
        // file is the one that counts.
        let statuses = (
            vec((phone.clone(), arb::status()), 0..=2 * m),
            vec(
                (
                    phone.clone(),
                    arb::day(),
                    vec(
                        prop::sample::select(healthcode::domain::PhoneState::ALL),
                        2..=3,
                    ),
                ),
                0..=2,
            ),
        )
            .prop_map(|(mut rows, ties)| {
                for (p, as_of, states) in ties {
                    rows.extend(
                        states
                            .into_iter()
                            .map(|state| (p, PhoneStatus { state, as_of })),
                    );
                }
                rows
            });
        let areas = vec(
            (
                region(),
                prop::sample::select(RiskLevel::ALL),
                arb::period(),
            )
                .prop_map(|(area, level, period)| RiskArea {
                    area,
                    level,
                    period,
                }),
            0..=5,
        );
        (
            person_rows,
            vec((phone, stay(StaySource::Telecom)), 0..=3 * m),
            statuses,
            areas,
            any::<u64>(),
        )
            .prop_map(
                |(
                    (
                        bindings,
                        person_stays,
                        cdc,
                        community,
                        arrivals,
                        registrations,
                        verifications,
                    ),
                    phone_stays,
                    phone_status,
                    risk_areas,
                    layout_seed,
                )| World {
                    bindings,
                    phone_stays,
                    person_stays,
                    cdc,
                    community,
                    arrivals,
                    registrations,
                    verifications,
                    phone_status,
                    risk_areas,
                    layout_seed,
                },
            )
    })
}

/// The join written the obvious way, straight from the generated rows: every person some
/// person-keyed row names, each phone bound to them (in order of its first binding) with its
/// bindings to them and all its stays and statuses, everything in file order.
fn join(w: &World) -> BTreeMap<usize, PersonRecords> {
    let mut out: BTreeMap<usize, PersonRecords> = BTreeMap::new();
    let mut bound: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &(person, phone, _, binding) in &w.bindings {
        let p = out.entry(person).or_default();
        let phones = bound.entry(person).or_default();
        let slot = match phones.iter().position(|&x| x == phone) {
            Some(slot) => slot,
            None => {
                phones.push(phone);
                p.phones.push(PhoneRecords {
                    tail: Phone::from_number(PHONES[phone]).tail(),
                    bindings: Vec::new(),
                    stays: w
                        .phone_stays
                        .iter()
                        .filter(|s| s.0 == phone)
                        .map(|s| s.1)
                        .collect(),
                    statuses: w
                        .phone_status
                        .iter()
                        .filter(|s| s.0 == phone)
                        .map(|s| s.1)
                        .collect(),
                });
                phones.len() - 1
            }
        };
        p.phones[slot].bindings.push(binding);
    }
    for &(i, s) in &w.person_stays {
        out.entry(i).or_default().stays.push(s);
    }
    for &(i, r) in &w.cdc {
        out.entry(i).or_default().cdc.push(r);
    }
    for (i, r, _) in &w.community {
        out.entry(*i).or_default().community.push(*r);
    }
    for &(i, a) in &w.arrivals {
        out.entry(i).or_default().arrivals.push(a);
    }
    for (i, r, _) in &w.registrations {
        out.entry(*i).or_default().registrations.push(*r);
    }
    for (i, v, _, _) in &w.verifications {
        out.entry(*i).or_default().verifications.push(*v);
    }
    out
}

/// Writes the world's files in one of the spellings and layouts a feed may use.
struct Writer {
    rng: ChaCha8Rng,
}

impl Writer {
    fn id(&mut self, person: usize) -> String {
        let text = ids()[person].to_string();
        let text = if self.rng.random_bool(0.5) {
            text.to_lowercase()
        } else {
            text
        };
        self.padded(text)
    }

    fn phone(&mut self, phone: usize) -> String {
        let n = PHONES[phone].to_string();
        let text = match self.rng.random_range(0..4) {
            0 => format!("+86 {}-{}-{}", &n[..3], &n[3..7], &n[7..]),
            1 => format!("0086{n}"),
            2 => format!("{} {} {}", &n[..3], &n[3..7], &n[7..]),
            _ => n,
        };
        self.padded(text)
    }

    /// A region code as written, or zero-padded to 6 or 12 digits.
    fn region(&mut self, r: RegionCode) -> String {
        let code = r.to_string();
        let text = match (code.len(), self.rng.random_range(0..3)) {
            (2 | 4, 1) => format!("{code:0<6}"),
            (2 | 4 | 6 | 9, 2) => format!("{code:0<12}"),
            _ => code,
        };
        debug_assert_eq!(RegionCode::parse(&text), Ok(r), "{text}");
        text
    }

    fn opt_region(&mut self, r: Option<RegionCode>) -> String {
        r.map_or_else(String::new, |r| self.region(r))
    }

    fn day(&mut self, d: Day) -> String {
        self.padded(d.to_string())
    }

    fn opt_day(&mut self, d: Option<Day>) -> String {
        d.map_or_else(String::new, |d| self.day(d))
    }

    /// Sometimes surrounds a value with spaces, which the reader trims.
    fn padded(&mut self, text: String) -> String {
        if self.rng.random_bool(0.1) {
            format!(" {text}  ")
        } else {
            text
        }
    }

    /// Writes `name` with `header` and `rows` (fields in header order): columns shuffled,
    /// sometimes an unknown column, a byte-order mark, CRLF or LF, plain or `.gz`; a file
    /// without rows is sometimes left out.
    fn file(&mut self, dir: &Path, name: &str, header: &[&str], rows: Vec<Vec<String>>) {
        if rows.is_empty() && self.rng.random_bool(0.5) {
            return;
        }
        let mut order: Vec<Option<usize>> = (0..header.len()).map(Some).collect();
        if self.rng.random_bool(0.25) {
            order.push(None);
        }
        order.shuffle(&mut self.rng);
        let crlf = self.rng.random_bool(0.25);
        let mut w = csv::WriterBuilder::new()
            .terminator(if crlf {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            })
            .from_writer(Vec::new());
        let cell = |row: &[String], o: &Option<usize>, unknown: &str| match o {
            Some(i) => row[*i].clone(),
            None => unknown.to_string(),
        };
        let names: Vec<String> = header.iter().map(|h| h.to_string()).collect();
        w.write_record(order.iter().map(|o| cell(&names, o, "remarks")))
            .unwrap();
        for row in &rows {
            w.write_record(order.iter().map(|o| cell(row, o, "ignored, really")))
                .unwrap();
        }
        let mut bytes = w.into_inner().unwrap();
        if self.rng.random_bool(0.15) {
            bytes.splice(0..0, "\u{feff}".bytes());
        }
        if self.rng.random_bool(0.3) {
            let f = std::fs::File::create(dir.join(format!("{name}.gz"))).unwrap();
            let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            gz.write_all(&bytes).unwrap();
            gz.finish().unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

/// Writes the feed files of `w` into `dir`.
fn write_feeds(w: &World, dir: &Path) {
    let mut f = Writer {
        rng: ChaCha8Rng::seed_from_u64(w.layout_seed),
    };
    let rows: Vec<Vec<String>> = w
        .bindings
        .iter()
        .map(|&(i, p, channel, b)| {
            vec![
                f.id(i),
                f.phone(p),
                channel.to_string(),
                f.day(b.bound_on),
                f.opt_day(b.unbound_on),
            ]
        })
        .collect();
    let header = ["id_number", "phone", "channel", "bound_on", "unbound_on"];
    f.file(dir, "bindings.csv", &header, rows);

    let rows = w
        .phone_stays
        .iter()
        .map(|&(p, s)| {
            vec![
                f.phone(p),
                f.region(s.region),
                f.day(s.first_day),
                f.day(s.last_day),
            ]
        })
        .collect();
    let header = ["phone", "region", "first_day", "last_day"];
    f.file(dir, "phone_stays.csv", &header, rows);

    let rows = w
        .person_stays
        .iter()
        .map(|&(i, s)| {
            vec![
                f.id(i),
                f.region(s.region),
                f.day(s.first_day),
                f.day(s.last_day),
                s.source.to_string(),
            ]
        })
        .collect();
    let header = ["id_number", "region", "first_day", "last_day", "source"];
    f.file(dir, "person_stays.csv", &header, rows);

    let rows = w
        .cdc
        .iter()
        .map(|&(i, r)| {
            vec![
                f.id(i),
                r.category.to_string(),
                f.day(r.period.from),
                f.opt_day(r.period.to),
            ]
        })
        .collect();
    f.file(
        dir,
        "cdc.csv",
        &["id_number", "category", "from", "to"],
        rows,
    );

    let rows = w
        .community
        .iter()
        .map(|(i, r, community)| {
            vec![
                f.id(*i),
                r.status.to_string(),
                f.day(r.period.from),
                f.opt_day(r.period.to),
                community.clone(),
            ]
        })
        .collect();
    let header = ["id_number", "status", "from", "to", "community"];
    f.file(dir, "community.csv", &header, rows);

    let rows = w
        .arrivals
        .iter()
        .map(|&(i, a)| {
            vec![
                f.id(i),
                f.day(a.travel_day),
                f.region(a.origin),
                a.mode.to_string(),
                f.day(a.booked_on),
            ]
        })
        .collect();
    let header = ["id_number", "travel_day", "origin", "mode", "booked_on"];
    f.file(dir, "arrivals.csv", &header, rows);

    let rows = w
        .registrations
        .iter()
        .map(|(i, r, community)| vec![f.id(*i), f.day(r.registered_on), community.clone()])
        .collect();
    let header = ["id_number", "registered_on", "community"];
    f.file(dir, "registrations.csv", &header, rows);

    let rows = w
        .risk_areas
        .iter()
        .map(|z| {
            vec![
                f.region(z.area),
                z.level.to_string(),
                f.day(z.period.from),
                f.opt_day(z.period.to),
            ]
        })
        .collect();
    f.file(
        dir,
        "risk_areas.csv",
        &["area", "level", "from", "to"],
        rows,
    );

    let rows = w
        .verifications
        .iter()
        .map(|(i, v, operator, ticket)| {
            vec![
                f.id(*i),
                f.day(v.verified_on),
                f.opt_region(v.scope),
                operator.clone(),
                ticket.clone(),
            ]
        })
        .collect();
    let header = ["id_number", "verified_on", "scope", "operator", "ticket"];
    f.file(dir, "verifications.csv", &header, rows);

    let rows = w
        .phone_status
        .iter()
        .map(|&(p, s)| vec![f.phone(p), s.state.to_string(), f.day(s.as_of)])
        .collect();
    f.file(dir, "phone_status.csv", &["phone", "state", "as_of"], rows);
}

/// Query days around the generators' D: the window's and the arrival range's edges fall on
/// different records for each.
fn query_days() -> [Day; 5] {
    [-9, -1, 0, 4, 14].map(|k| arb::query_day().plus(k))
}

#[test]
fn every_region_of_the_generators_is_in_the_bundled_table() {
    for code in REGIONS {
        let r = RegionCode::parse(code).unwrap();
        assert!(RegionTable::bundled().contains(r), "{code} is not a region");
        assert_eq!(r.to_string(), *code, "{code} is not written normalised");
    }
    let ids = ids();
    assert_eq!(ids.len(), MAX_PERSONS);
    assert!(ids.iter().filter(|i| i.to_string().ends_with('X')).count() >= 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    #[test]
    fn index_built_from_csv_feeds_answers_as_the_model_does(w in world()) {
        let dir = tempfile::tempdir().unwrap();
        let feeds = dir.path().join("feeds");
        std::fs::create_dir(&feeds).unwrap();
        write_feeds(&w, &feeds);
        let out = dir.path().join("index.hci");

        let opts = BuildOptions {
            feeds: FeedOptions { max_reject_ratio: 0.0, strict: true },
            data_as_of: None,
            ..Default::default()
        };
        let mut rejects = Vec::new();
        let built = build_index(&feeds, &out, &key(), &opts, &mut rejects, &mut |_| {});
        let rejects = String::from_utf8(rejects).unwrap();
        prop_assert!(built.is_ok(), "build failed: {:?}\n{}", built.err(), rejects);
        prop_assert_eq!(rejects, "");
        let index = open_index(&out, &key()).expect("a built index opens");

        let people = join(&w);
        prop_assert_eq!(index.persons() as usize, people.len());
        prop_assert_eq!(index.risk_areas().areas(), w.risk_areas.as_slice());
        let mut decoded = PersonRecords::default();
        for (i, &id) in ids().iter().enumerate() {
            let pid = index.lookup(&key(), id);
            let Some(p) = people.get(&i) else {
                prop_assert_eq!(pid, None, "{} has no record but is found", id);
                continue;
            };
            prop_assert!(pid.is_some(), "{} is not found", id);
            index.person(pid.unwrap(), &mut decoded).expect("a verified index decodes");
            prop_assert_eq!(&decoded, p, "{}: the index holds other records than the feeds", id);
            for day in query_days() {
                for policy in Policy::ALL {
                    prop_assert_eq!(
                        evaluate(&decoded, index.risk_areas(), day, policy),
                        model::evaluate(p, &w.risk_areas, day, policy),
                        "{} on {} under {}", id, day, policy
                    );
                }
            }
        }
        let stranger = IdNumber::from_body(11010519900101000 - 1);
        prop_assert_eq!(index.lookup(&key(), stranger), None);
    }
}
