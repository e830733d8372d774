//! The answers' bytes: what the server writes directly, one by one, in batches and in stream
//! chunks, is exactly what the generated protobuf types encode and what one message alone gets.

mod util;

use healthcode::proto;
use healthcode::serve::{self, answer};
use util::world::{served_world, today};

/// The server writes its answers' bytes itself (`serve::wire`): for every person of a generated
/// world, on days before, at and after the data date, and in batches mixing invalid ids, the bytes
/// are exactly those the generated protobuf types encode, one by one and through the batch path.
#[test]
fn answers_written_directly_are_the_bytes_the_generated_types_encode() {
    use prost::Message;
    use serve::answer::Stamp;
    use serve::wire::{self, BatchWriter};

    let dir = tempfile::tempdir().unwrap();
    let (state, ids) = served_world(dir.path(), 3_000, 23);
    let snap = state.current();
    let mut findings = 0;
    for day in [today().plus(-15), today(), today().plus(3)] {
        let stamp = Stamp::new(&snap, day);
        for chunk in ids.chunks(700) {
            let mut batch = BatchWriter::new(&snap, &stamp, chunk.len());
            let mut reference = proto::BatchCodeResponse::default();
            for id in chunk {
                let direct = answer::with_code(&state, &snap, id, day, |code, known| {
                    findings += code.findings.len();
                    batch.valid(code, known);
                    (
                        wire::code(&snap, code, known, &stamp),
                        answer::response(&snap, code, known, &stamp),
                    )
                });
                reference.results.push(match direct {
                    Ok((bytes, generated)) => {
                        assert_eq!(bytes.0, generated.encode_to_vec(), "{id} on {day}");
                        proto::CodeResult {
                            valid: true,
                            error: String::new(),
                            code: Some(generated),
                        }
                    }
                    Err(e) => {
                        batch.invalid(&e.0);
                        proto::CodeResult {
                            valid: false,
                            error: e.0,
                            code: None,
                        }
                    }
                });
            }
            // The batch path (index reads run ahead of the evaluation) writes the same bytes.
            let mut pipelined = BatchWriter::new(&snap, &stamp, chunk.len());
            answer::each_code(&state, &snap, chunk, day, |_, a| {
                match a {
                    Ok((code, known)) => pipelined.valid(code, known),
                    Err(e) => pipelined.invalid(&e.0),
                }
                Ok::<(), ()>(())
            })
            .unwrap();
            let reference = reference.encode_to_vec();
            assert_eq!(batch.finish().0, reference, "a batch on {day}");
            assert_eq!(
                pipelined.finish().0,
                reference,
                "a pipelined batch on {day}"
            );
        }
    }
    assert!(
        findings > 1_000,
        "the world has findings to encode: {findings}"
    );
}

/// `StreamCodes` answers the messages that have arrived a chunk at a time through the batch path
/// (`serve::stream::answer_chunk`): over every person of a generated world, with `as_of` changing
/// in runs of every length (the server's today, other days, a day that does not exist) and invalid
/// ids among them, each answer is the bytes the one-message path writes, in order, and an invalid
/// message is answered with its error, its own `as_of`, the generation and the data date.
#[test]
fn stream_chunks_answer_exactly_what_single_messages_would() {
    use serve::answer::{Stamp, answer_with};
    use serve::stream::{CHUNK, answer_chunk};
    use serve::wire::{self, EncodedCode};

    let dir = tempfile::tempdir().unwrap();
    let (state, ids) = served_world(dir.path(), 2_000, 29);
    let snap = state.current();
    let days = [
        String::new(),
        today().plus(-15).to_string(),
        today().to_string(),
        "2022-02-30".to_string(),
        today().plus(3).to_string(),
    ];
    // Runs of one as_of: 1, 2, 3, … messages long, cycling through the days; invalid ids spread.
    let mut requests = Vec::new();
    let (mut run, mut d) = (1, 0);
    while requests.len() < ids.len() {
        for _ in 0..run {
            let k = requests.len();
            let id = if k % 97 == 5 {
                ids[ids.len() - 1 - k % 4].clone()
            } else {
                ids[k % ids.len()].clone()
            };
            requests.push(proto::CodeRequest {
                id_number: id,
                as_of: days[d % days.len()].clone(),
            });
        }
        run = run % (CHUNK + 3) + 1;
        d += 1;
    }
    let mut expected = Vec::new();
    let mut single_stamp = None;
    for r in &requests {
        let one = answer_with(
            &state,
            &snap,
            &r.id_number,
            &r.as_of,
            &mut single_stamp,
            |code, known, stamp| wire::code(&snap, code, known, stamp),
        );
        expected.push(one.unwrap_or_else(|e| {
            EncodedCode::from(proto::CodeResponse {
                color: proto::Color::Unspecified as i32,
                as_of: r.as_of.clone(),
                index_generation: snap.generation,
                data_as_of: snap.index.data_as_of().to_string(),
                error: e.0,
                ..Default::default()
            })
        }));
    }
    // Chunks of sizes up to CHUNK, out of step with the runs, one stamp kept across them as the
    // stream keeps it.
    let mut got = Vec::new();
    let mut stamp: Option<Stamp> = None;
    let mut at = 0;
    let mut size = 1;
    while at < requests.len() {
        let end = (at + size).min(requests.len());
        answer_chunk(&state, &snap, &mut stamp, requests[at..end].to_vec(), |a| {
            got.push(a)
        });
        at = end;
        size = (size * 37 + 11) % CHUNK + 1;
    }
    assert_eq!(got.len(), requests.len(), "one answer per message");
    for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "message {k}: {:?}", requests[k]);
    }
    let invalid = expected
        .iter()
        .filter(|e| {
            use prost::Message;
            !proto::CodeResponse::decode(&e.0[..])
                .unwrap()
                .error
                .is_empty()
        })
        .count();
    assert!(
        invalid > 50 && invalid < requests.len() / 2,
        "{invalid} invalid of {}",
        requests.len()
    );
}

/// A live risk area in a county that no record of the index names, so that the index's region
/// dictionary does not hold it: findings against it carry its code and no name, and every answer
/// — one by one, in a batch, in a stream's chunk — is exactly what the generated types encode.
#[test]
fn a_live_risk_area_outside_the_region_dictionary_is_written_as_the_generated_types_encode_it() {
    use healthcode::domain::RegionCode;
    use prost::Message;
    use serve::answer::Stamp;
    use serve::stream::answer_chunk;
    use serve::wire::{self, BatchWriter};

    let dir = tempfile::tempdir().unwrap();
    let (state, people) = live_world(dir.path(), 2_000, 31);
    let ids: Vec<String> = people.iter().map(|(id, _)| id.to_string()).collect();
    // A county of the generated city (Beijing) that the dictionary lacks.
    let area = (1..=99)
        .filter_map(|c| RegionCode::parse(&format!("1101{c:02}")).ok())
        .find(|r| state.current().index.region_text(*r).is_none())
        .expect("a county of the city that no record names");
    set_live_area(&state, area, today().plus(-5));

    let snap = state.current();
    let stamp = Stamp::new(&snap, today());
    let mut against_it = 0;
    let mut batch = BatchWriter::new(&snap, &stamp, ids.len());
    let mut reference = proto::BatchCodeResponse::default();
    for id in &ids {
        let (one, generated) = answer::with_code(&state, &snap, id, today(), |code, known| {
            against_it += code
                .findings
                .iter()
                .filter(|f| f.risk_area == Some(area))
                .count();
            batch.valid(code, known);
            (
                wire::code(&snap, code, known, &stamp),
                answer::response(&snap, code, known, &stamp),
            )
        })
        .unwrap();
        assert_eq!(one.0, generated.encode_to_vec(), "{id}");
        reference.results.push(proto::CodeResult {
            valid: true,
            error: String::new(),
            code: Some(generated),
        });
    }
    assert!(
        against_it > 100,
        "findings against the live area: {against_it}"
    );
    assert_eq!(batch.finish().0, reference.encode_to_vec());
    // A stream's chunks.
    let requests: Vec<proto::CodeRequest> = ids
        .iter()
        .map(|id| proto::CodeRequest {
            id_number: id.clone(),
            as_of: String::new(),
        })
        .collect();
    let mut streamed = Vec::new();
    for chunk in requests.chunks(256) {
        answer_chunk(&state, &snap, &mut None, chunk.to_vec(), |a| {
            streamed.push(proto::CodeResponse::decode(&a.0[..]).unwrap())
        });
    }
    let expected: Vec<_> = reference
        .results
        .into_iter()
        .map(|r| r.code.unwrap())
        .collect();
    assert_eq!(streamed, expected);
}

/// A thread's writer remembers findings' encoded fields (their regions' codes and names) from one
/// answer to the next, and they are the texts of one index: a street first written nameless, as
/// a live risk area outside one index's dictionary, is written with its name as a stay's region
/// once another index, whose records name it, is served on the same thread — and so is the very
/// same finding written against each index in turn.
#[test]
fn a_region_remembered_from_one_index_is_written_as_the_next_index_names_it() {
    use prost::Message;
    use serve::answer::Stamp;
    use serve::wire;

    let dir = tempfile::tempdir().unwrap();
    let (small, small_people) = live_world(&dir.path().join("small"), 300, 41);
    let (large, large_people) = live_world(&dir.path().join("large"), 6_000, 42);
    // A street where the large world's people stay and that the small world's records never name.
    let area = large_people
        .iter()
        .flat_map(|(_, p)| p.stays.iter().map(|s| s.region))
        .find(|r| {
            small.current().index.region_text(*r).is_none()
                && large.current().index.region_text(*r).is_some()
        })
        .expect("a stay region named by the large world only");
    for state in [&small, &large] {
        set_live_area(state, area, today().plus(-30));
    }
    // Against it: (as a risk area, in the small world; as a stay's region, in the large one).
    let mut against = [0, 0];
    for (w, (state, people)) in [(&small, &small_people), (&large, &large_people)]
        .into_iter()
        .enumerate()
    {
        let snap = state.current();
        let stamp = Stamp::new(&snap, today());
        for (id, _) in people {
            let id = id.to_string();
            let (one, generated) = answer::with_code(state, &snap, &id, today(), |code, known| {
                against[w] += code
                    .findings
                    .iter()
                    .filter(|f| [f.risk_area, f.region][w] == Some(area))
                    .count();
                (
                    wire::code(&snap, code, known, &stamp),
                    answer::response(&snap, code, known, &stamp),
                )
            })
            .unwrap();
            assert_eq!(one.0, generated.encode_to_vec(), "{id}");
        }
    }
    assert!(
        against[0] > 0 && against[1] > 0,
        "findings against the area in each world: {against:?}"
    );
    // One finding naming the street, written against the small index (nameless), the large one
    // (named), then the small one again, on a thread of its own (whose writer's tables are not
    // already full): what the writer remembered of one index is not the other's.
    let code = healthcode::domain::Code::from_findings(vec![healthcode::domain::Finding {
        reason: healthcode::domain::Reason::ALL[0],
        region: Some(area),
        risk_area: Some(area),
        day: today(),
        phone_tail: None,
        blocks_travel: healthcode::domain::Reason::ALL[0].blocks_travel(),
    }]);
    std::thread::scope(|t| {
        t.spawn(|| {
            for state in [&small, &large, &small] {
                let snap = state.current();
                let stamp = Stamp::new(&snap, today());
                let generated = answer::response(&snap, &code, true, &stamp);
                assert_eq!(
                    wire::code(&snap, &code, true, &stamp).0,
                    generated.encode_to_vec(),
                    "{:?}",
                    generated.findings
                );
            }
        });
    });
}

/// Whatever its findings, an answer is written as the generated types encode it: answers with
/// findings of every reason over hundreds of regions and risk areas (in the index's dictionary,
/// named, and outside it, nameless), on days across two years, with and without phone tails —
/// more distinct (reason, region, risk area) than a writer remembers, so that its tables fill and
/// the rest is assembled at each use — one by one on one thread and in batches.
#[test]
fn any_findings_are_written_as_the_generated_types_encode_them() {
    use healthcode::domain::{Code, Finding, PhoneTail, Precision, Reason};
    use healthcode::regions::RegionTable;
    use prost::Message;
    use rand::{Rng, SeedableRng};
    use serve::answer::Stamp;
    use serve::wire::{self, BatchWriter};

    let dir = tempfile::tempdir().unwrap();
    let (state, _) = served_world(dir.path(), 300, 43);
    let snap = state.current();
    let counties = RegionTable::bundled().codes_at(Precision::County);
    let cities = RegionTable::bundled().codes_at(Precision::City);
    let named: Vec<_> = counties
        .iter()
        .chain(&cities)
        .copied()
        .filter(|r| snap.index.region_text(*r).is_some())
        .collect();
    let mut pool: Vec<_> = counties.iter().step_by(7).take(300).copied().collect();
    pool.extend(&named);
    assert!(
        !named.is_empty() && pool.len() > 300,
        "regions named by the index and not: {} and {}",
        named.len(),
        pool.len()
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(44);
    let region = |rng: &mut rand_chacha::ChaCha8Rng| {
        rng.random_bool(0.9)
            .then(|| pool[rng.random_range(0..pool.len())])
    };
    let stamp = Stamp::new(&snap, today());
    let mut middles = std::collections::HashSet::new();
    for _ in 0..40 {
        let codes: Vec<Code> = (0..50)
            .map(|_| {
                let findings = (0..rng.random_range(0..12))
                    .map(|_| {
                        let reason = Reason::ALL[rng.random_range(0..Reason::ALL.len())];
                        Finding {
                            reason,
                            region: region(&mut rng),
                            risk_area: region(&mut rng),
                            day: today().plus(rng.random_range(-400..400)),
                            phone_tail: rng
                                .random_bool(0.7)
                                .then(|| PhoneTail(rng.random_range(0..=9999))),
                            blocks_travel: reason.blocks_travel(),
                        }
                    })
                    .collect();
                Code::from_findings(findings)
            })
            .collect();
        let mut batch = BatchWriter::new(&snap, &stamp, codes.len());
        let mut reference = proto::BatchCodeResponse::default();
        for (i, code) in codes.iter().enumerate() {
            let known = i % 5 != 0;
            middles.extend(
                code.findings
                    .iter()
                    .map(|f| (f.reason, f.region, f.risk_area)),
            );
            let generated = answer::response(&snap, code, known, &stamp);
            assert_eq!(
                wire::code(&snap, code, known, &stamp).0,
                generated.encode_to_vec(),
                "{code:?}"
            );
            batch.valid(code, known);
            reference.results.push(proto::CodeResult {
                valid: true,
                error: String::new(),
                code: Some(generated),
            });
        }
        assert_eq!(batch.finish().0, reference.encode_to_vec());
    }
    assert!(
        middles.len() > 1_000,
        "distinct (reason, region, risk area): {}",
        middles.len()
    );
}

/// A generated world without a home region, its index served as of `today()` with a
/// live-update log (so that risk areas can be set live), and the world's people.
fn live_world(
    dir: &std::path::Path,
    persons: u64,
    seed: u64,
) -> (
    serve::State,
    Vec<(
        healthcode::domain::IdNumber,
        healthcode::domain::PersonRecords,
    )>,
) {
    use healthcode::domain::Policy;
    use healthcode::overlay::Overlay;
    use util::key;
    use util::world::{people, world_with_home};

    // Without a home region, so that residents' city-level telecom stays match any area of
    // their city (these tests are about how findings are written, not which are made).
    let (feeds, index) = world_with_home(dir, persons, seed, false);
    let (overlay, _) = Overlay::open(&dir.join("state"), key().fingerprint()).unwrap();
    let idx = serve::open_index(&index, &key()).unwrap();
    let state = serve::State::with_overlay(
        idx,
        index,
        key(),
        Policy::PrecisionAware,
        Some(today()),
        Some(overlay),
    )
    .unwrap();
    (state, people(&feeds).0)
}

/// Makes `area` a high-risk area from `from` on, by a live write.
fn set_live_area(
    state: &serve::State,
    area: healthcode::domain::RegionCode,
    from: healthcode::domain::Day,
) {
    use healthcode::domain::{Period, RiskLevel};
    use healthcode::overlay::Change;

    let change = Change::SetRiskArea {
        area,
        level: RiskLevel::High,
        period: Period { from, to: None },
    };
    state
        .write(
            "test",
            "operator",
            "a live risk area",
            change,
            |_, _| Ok(()),
        )
        .unwrap();
}
