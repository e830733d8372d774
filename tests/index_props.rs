//! End-to-end property tests of the index file: random people and risk areas (the generators of
//! `model::arb`) go through `build_bytes`, `Index::open` and `verify`; then every person is found
//! by their document number, decodes to exactly the records given, and gets from the rules over
//! the decoded records the answer the reference model gives on the original input, on several
//! query days under both policies. `affected` is checked against a brute-force count.

mod model;

use std::collections::BTreeSet;

use healthcode::domain::{
    Binding, Day, IdNumber, Period, PersonRecords, PhoneRecords, PhoneTail, Policy, Precision,
    Query, RegionCode, RiskArea, RiskLevel, Stay, StaySource, Verification, evaluate,
};
use healthcode::index::{BuildInput, Index, build_bytes};
use healthcode::key::Key;
use healthcode::regions::RegionTable;
use model::arb;
use proptest::prelude::*;

/// The 17-digit body of the first generated person's document number; person `i` has
/// `FIRST_BODY + i`.
const FIRST_BODY: u64 = 11010519900101000;

fn id(i: usize) -> IdNumber {
    IdNumber::from_body(FIRST_BODY + i as u64)
}

fn key() -> Key {
    Key::from_words(0x5eed_0001, 0xca11_0002)
}

/// Query days around the generators' D: the window's and the arrival range's edges fall on
/// different records for each.
fn query_days() -> [Day; 4] {
    [-9, -1, 0, 4].map(|k| arb::query_day().plus(k))
}

/// Builds, opens and fully verifies an index over `people` (person `i` under `id(i)`).
fn build(people: &[PersonRecords], areas: &[RiskArea]) -> Index<Vec<u8>> {
    build_at_home(people, areas, None)
}

/// [`build`] for a deployment whose home region is `home`.
fn build_at_home(
    people: &[PersonRecords],
    areas: &[RiskArea],
    home: Option<RegionCode>,
) -> Index<Vec<u8>> {
    let input = BuildInput {
        people: people.iter().enumerate().map(|(i, p)| (id(i), p)).collect(),
        risk_areas: areas,
        regions: RegionTable::bundled(),
        data_as_of: None,
        hashed: Vec::new(),
        folded: None,
        home,
    };
    let (bytes, stats) = build_bytes(&input, &key()).expect("the build succeeds");
    assert_eq!(stats.persons, people.len() as u64);
    assert_eq!(stats.bytes, bytes.len() as u64);
    let index = Index::open(bytes, &key()).expect("a fresh build opens");
    index.verify().expect("a fresh build verifies");
    index
}

/// Up to 16 people; some have 7 or more phones, which the record format counts apart.
fn people() -> impl Strategy<Value = Vec<PersonRecords>> {
    let many_phones =
        (arb::person(), prop::collection::vec(arb::phone(), 7..=9)).prop_map(|(mut p, phones)| {
            p.phones = phones;
            p
        });
    prop::collection::vec(prop_oneof![6 => arb::person(), 1 => many_phones], 0..=16)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn index_answers_as_the_model_does_on_the_input(
        people in people(),
        areas in arb::risk_areas(),
        home in arb::home(),
        stranger in 0u64..100_000_000_000_000_000,
    ) {
        let index = build_at_home(&people, &areas, home);
        prop_assert_eq!(index.persons() as usize, people.len());
        prop_assert_eq!(index.home(), home);
        prop_assert_eq!(index.risk_areas().areas(), areas.as_slice());

        let mut pids = BTreeSet::new();
        let mut decoded = PersonRecords::default();
        for (i, p) in people.iter().enumerate() {
            let pid = index.lookup(&key(), id(i));
            prop_assert!(pid.is_some(), "person {} not found", i);
            let pid = pid.unwrap();
            prop_assert!(pids.insert(pid), "person {} shares id {} with another", i, pid);
            index.person(pid, &mut decoded).expect("a verified index decodes every record");
            prop_assert_eq!(&decoded, p, "person {} decodes to other records", i);
            for day in query_days() {
                for policy in Policy::ALL {
                    prop_assert_eq!(
                        evaluate(&decoded, index.risk_areas(), day, policy),
                        model::evaluate_home(p, &areas, home, day, policy),
                        "person {} on {} under {}", i, day, policy
                    );
                }
            }
        }

        prop_assert_eq!(index.lookup(&key(), id(people.len())), None);
        let known = FIRST_BODY..FIRST_BODY + people.len() as u64;
        if !known.contains(&stranger) {
            prop_assert_eq!(index.lookup(&key(), IdNumber::from_body(stranger)), None);
        }
        if !people.is_empty() {
            let other = Key::from_words(1, 2);
            prop_assert!(
                (0..people.len()).any(|i| index.lookup(&other, id(i)).is_none()),
                "another key finds every person"
            );
        }

        for code in arb::REGIONS {
            let r = RegionCode::parse(code).expect("valid code");
            let used = people.iter().any(|p| regions_of(p).any(|x| x == r))
                || areas.iter().any(|z| z.area == r);
            if used {
                prop_assert_eq!(index.region_name(r), RegionTable::bundled().name(r));
            }
        }
    }

    #[test]
    fn a_batch_answers_as_single_queries_and_the_model_do(
        people in people(),
        areas in arb::risk_areas(),
        picks in prop::collection::vec((0usize..3, 0usize..32, 0u64..100_000_000_000_000_000), 0..48),
        live_for in 0usize..17,
        live in arb::person(),
    ) {
        let index = build(&people, &areas);
        // Known persons (often the same one again), strangers and entries that are not ids.
        let hashes: Vec<Option<u64>> = picks
            .iter()
            .map(|&(kind, i, body)| match kind {
                0 if !people.is_empty() => Some(key().hash_id(id(i % people.len()))),
                1 if !(FIRST_BODY..FIRST_BODY + people.len() as u64).contains(&body) => {
                    Some(key().hash_id(IdNumber::from_body(body)))
                }
                _ => None,
            })
            .collect();
        let live_hash = key().hash_id(id(live_for));
        let add_live = |h: u64, p: &mut PersonRecords| {
            if h != live_hash {
                return false;
            }
            p.stays.extend_from_slice(&live.stays);
            p.phones.extend(live.phones.iter().cloned());
            true
        };
        let day = query_days()[0];
        for policy in Policy::ALL {
            let q = Query {
                day,
                policy,
                areas: index.risk_areas(),
            };
            let mut seen = Vec::new();
            let mut single = healthcode::index::Scratch::default();
            index
                .codes_of(
                    &hashes,
                    q,
                    &mut healthcode::index::Scratch::default(),
                    add_live,
                    |i, answer| {
                        let expected = hashes[i].map(|h| {
                            index
                                .code_of(h, q, &mut single, |p| add_live(h, p))
                                .map(|(c, k)| (c.clone(), k))
                        });
                        let got = answer.map(|a| a.map(|(c, k)| (c.clone(), k)));
                        if let (Some(Ok((code, true))), Some(h)) = (&got, hashes[i])
                            && h != live_hash
                        {
                            let (kind, who, _) = picks[i];
                            prop_assert_eq!(kind, 0);
                            let p = &people[who % people.len()];
                            prop_assert_eq!(code, &model::evaluate(p, &areas, day, policy));
                        }
                        prop_assert_eq!(got, expected, "entry {} under {}", i, policy);
                        seen.push(i);
                        Ok(())
                    },
                )?;
            prop_assert_eq!(seen, (0..hashes.len()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn affected_matches_a_brute_force_count(
        people in people(),
        areas in arb::risk_areas(),
        ranges in prop::collection::vec((arb::day(), 0i32..10), 1..=3),
    ) {
        let index = build(&people, &areas);
        let pid_of: Vec<u32> = (0..people.len())
            .map(|i| index.lookup(&key(), id(i)).expect("every person is found"))
            .collect();
        let codes = arb::REGIONS
            .iter()
            .map(|c| RegionCode::parse(c).expect("valid code"))
            .chain(areas.iter().map(|z| z.area));
        for area in codes {
            for &(from, len) in &ranges {
                let to = from.plus(len);
                let (definite, possible) = index.affected(area, from, to);
                let (want_definite, want_possible) = brute_affected(&people, area, from, to);
                let as_pids = |s: &BTreeSet<usize>| s.iter().map(|&i| pid_of[i]).collect::<BTreeSet<u32>>();
                prop_assert_eq!(
                    definite.iter().collect::<BTreeSet<u32>>(),
                    as_pids(&want_definite),
                    "definite for {} from {} to {}", area, from, to
                );
                prop_assert_eq!(
                    possible.iter().collect::<BTreeSet<u32>>(),
                    as_pids(&want_possible),
                    "possible for {} from {} to {}", area, from, to
                );
            }
        }
    }
}

/// Every region a person's records name.
fn regions_of(p: &PersonRecords) -> impl Iterator<Item = RegionCode> + '_ {
    p.stays
        .iter()
        .chain(p.phones.iter().flat_map(|ph| ph.stays.iter()))
        .map(|s| s.region)
        .chain(p.arrivals.iter().map(|a| a.origin))
        .chain(p.verifications.iter().filter_map(|v| v.scope))
}

/// True when some binding of `ph` covers day `d`: only then does the phone's stay on `d` count
/// for its person (DOMAIN.md §4).
fn bound_on(ph: &PhoneRecords, d: Day) -> bool {
    ph.bindings
        .iter()
        .any(|b| b.bound_on <= d && b.unbound_on.is_none_or(|u| d < u))
}

/// The persons (by input position) with a stay, their own or a phone's bound on that day, on
/// some day of `[from, to]`: in a region inside `area`'s risk unit (definite), or else in a
/// region strictly containing it (possible). Counted day by day, with the model's digit-string
/// containment.
fn brute_affected(
    people: &[PersonRecords],
    area: RegionCode,
    from: Day,
    to: Day,
) -> (BTreeSet<usize>, BTreeSet<usize>) {
    let unit = model::risk_unit(area);
    let mut definite = BTreeSet::new();
    let mut possible = BTreeSet::new();
    for (i, p) in people.iter().enumerate() {
        for d in (from.0..=to.0).map(Day) {
            let phone_stays = p
                .phones
                .iter()
                .filter(|ph| bound_on(ph, d))
                .flat_map(|ph| ph.stays.iter());
            for s in p.stays.iter().chain(phone_stays) {
                if !(s.first_day <= d && d <= s.last_day) {
                    continue;
                }
                if model::inside(s.region, unit) {
                    definite.insert(i);
                } else if model::inside(unit, s.region) {
                    possible.insert(i);
                }
            }
        }
    }
    let possible = &possible - &definite;
    (definite, possible)
}

/// The generators must make `affected` non-trivial, or the agreement above proves little: over a
/// fixed-seed sample, both sets are often non-empty, and many phones have stays on days no
/// binding covers (days that must not count).
#[test]
fn generated_cases_reach_every_kind_of_affected() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut definite, mut possible, mut unbound_days) = (0, 0, 0);
    let d = arb::query_day();
    for _ in 0..100 {
        let people = people().new_tree(&mut runner).expect("a case").current();
        for code in arb::REGIONS {
            let area = RegionCode::parse(code).expect("valid code");
            let (def, pos) = brute_affected(&people, area, d.plus(-5), d);
            definite += usize::from(!def.is_empty());
            possible += usize::from(!pos.is_empty());
        }
        unbound_days += people
            .iter()
            .flat_map(|p| p.phones.iter())
            .filter(|ph| {
                ph.stays.iter().any(|s| {
                    (s.first_day.0..=s.last_day.0)
                        .map(Day)
                        .any(|day| !bound_on(ph, day))
                })
            })
            .count();
    }
    assert!(definite >= 500, "definite non-empty in {definite} cases");
    assert!(possible >= 250, "possible non-empty in {possible} cases");
    assert!(
        unbound_days >= 250,
        "{unbound_days} phones have stays on days no binding covers"
    );
}

/// Records whose numbers need more than one varint byte: 300 streets (dictionary indices past
/// 127), days 1,000 after the index's first day, a stay of 200 days, nine phones, and phone tails
/// up to 9999. They must decode unchanged and answer as the model does.
#[test]
fn records_with_large_numbers_round_trip() {
    let streets = RegionTable::bundled().codes_at(Precision::Street);
    let d = arb::query_day();
    let mut p = PersonRecords::default();
    for (k, &region) in streets.iter().step_by(97).take(300).enumerate() {
        let first_day = d.plus(-(k as i32 % 20));
        p.stays.push(Stay {
            region,
            first_day,
            last_day: first_day.plus(k as i32 % 3),
            source: if k % 2 == 0 {
                StaySource::FlowSurvey
            } else {
                StaySource::SelfReport
            },
        });
    }
    p.stays.push(Stay {
        region: streets[0],
        first_day: d.plus(-190),
        last_day: d.plus(10),
        source: StaySource::SelfReport,
    });
    for tail in [0u16, 1, 127, 128, 999, 4095, 8000, 9998, 9999] {
        p.phones.push(PhoneRecords {
            tail: PhoneTail(tail),
            bindings: vec![Binding {
                bound_on: d.plus(-1000 + i32::from(tail) / 10),
                unbound_on: (tail % 2 == 1).then(|| d.plus(-5)),
            }],
            stays: vec![Stay {
                region: streets[usize::from(tail) % streets.len()],
                first_day: d.plus(-3),
                last_day: d,
                source: StaySource::Telecom,
            }],
            statuses: Vec::new(),
        });
    }
    p.verifications.push(Verification {
        verified_on: d.plus(-2),
        scope: Some(streets[600].risk_unit()),
    });
    let areas: Vec<RiskArea> = [0, 300, 600, 9000]
        .iter()
        .map(|&i| RiskArea {
            area: streets[i],
            level: RiskLevel::High,
            period: Period {
                from: d.plus(-1000),
                to: None,
            },
        })
        .collect();
    let people = vec![p, PersonRecords::default()];
    let index = build(&people, &areas);
    let mut decoded = PersonRecords::default();
    for (i, p) in people.iter().enumerate() {
        let pid = index.lookup(&key(), id(i)).expect("found");
        index.person(pid, &mut decoded).expect("decodes");
        assert_eq!(&decoded, p, "person {i}");
        for day in query_days() {
            for policy in Policy::ALL {
                let code = evaluate(&decoded, index.risk_areas(), day, policy);
                assert_eq!(code, model::evaluate(p, &areas, day, policy));
            }
        }
    }
    let code = model::evaluate(&people[0], &areas, d, Policy::PrecisionAware);
    assert!(!code.findings.is_empty(), "the case reaches the rules");
    let (definite, _) = index.affected(streets[0], d.plus(-190), d.plus(-185));
    assert_eq!(
        definite.len(),
        1,
        "the 200-day stay is counted on its first days"
    );
}
