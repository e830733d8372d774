//! The index file: one compact, immutable, versioned file per build (docs/format.md). The
//! builder writes it atomically; the reader works in place over any bytes.
//!
//! Invariant: `index` is plain synchronous code over bytes; it knows nothing of tokio or tonic.

pub mod builder;
pub mod format;
pub mod reader;
pub mod record;

pub use builder::{
    BuildError, BuildInput, BuildSettings, BuildStats, Ident, PersonSource, as_format_2,
    build_bytes, build_from, latest_observed, write_atomic,
};
pub use reader::{Index, IndexError, RegionText, Scratch};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;
    use crate::key::Key;
    use crate::regions::RegionTable;

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }
    fn region(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    fn sample() -> Vec<(IdNumber, PersonRecords)> {
        let stay = |r: &str, a: &str, b: &str, source| Stay {
            region: region(r),
            first_day: day(a),
            last_day: day(b),
            source,
        };
        let mut p1 = PersonRecords::default();
        p1.stays.push(stay(
            "110105001",
            "2022-04-20",
            "2022-04-22",
            StaySource::FlowSurvey,
        ));
        p1.stays.push(stay(
            "110105",
            "2022-04-21",
            "2022-04-21",
            StaySource::SelfReport,
        ));
        p1.phones.push(PhoneRecords {
            tail: PhoneTail(42),
            bindings: vec![Binding {
                bound_on: day("2021-01-01"),
                unbound_on: None,
            }],
            stays: vec![stay(
                "1101",
                "2022-04-01",
                "2022-05-01",
                StaySource::Telecom,
            )],
            statuses: vec![PhoneStatus {
                state: PhoneState::LongOff,
                as_of: day("2022-04-30"),
            }],
        });
        p1.cdc.push(CdcRecord {
            category: CdcCategory::CloseContact,
            period: Period {
                from: day("2022-04-28"),
                to: None,
            },
        });
        p1.arrivals.push(Arrival {
            travel_day: day("2022-05-03"),
            origin: region("4419"),
            mode: TravelMode::Rail,
            booked_on: day("2022-04-29"),
        });
        p1.verifications.push(Verification {
            verified_on: day("2022-04-25"),
            scope: Some(region("110105")),
        });
        p1.verifications.push(Verification {
            verified_on: day("2022-04-26"),
            scope: None,
        });
        p1.registrations.push(Registration {
            registered_on: day("2022-05-04"),
        });
        p1.community.push(CommunityRecord {
            status: CommunityStatus::HealthMonitoring,
            period: Period {
                from: day("2022-04-01"),
                to: Some(day("2022-04-14")),
            },
        });
        let mut p2 = PersonRecords::default();
        for i in 0..9 {
            p2.phones.push(PhoneRecords {
                tail: PhoneTail(i),
                ..Default::default()
            });
        }
        vec![
            (IdNumber::parse("11010519491231002X").unwrap(), p1),
            (IdNumber::parse("440524188001010014").unwrap(), p2),
            (
                IdNumber::from_body(11010519900101001),
                PersonRecords::default(),
            ),
        ]
    }

    fn build(people: &[(IdNumber, PersonRecords)], key: &Key) -> Vec<u8> {
        let risk = [RiskArea {
            area: region("110105001"),
            level: RiskLevel::High,
            period: Period {
                from: day("2022-04-15"),
                to: None,
            },
        }];
        let input = BuildInput {
            people: people.iter().map(|(i, p)| (*i, p)).collect(),
            risk_areas: &risk,
            regions: RegionTable::bundled(),
            data_as_of: None,
            hashed: Vec::new(),
            folded: None,
            home: None,
        };
        build_bytes(&input, key).unwrap().0
    }

    #[test]
    fn records_round_trip_through_the_file() {
        let key = Key::from_words(7, 9);
        let people = sample();
        let bytes = build(&people, &key);
        let idx = Index::open(bytes.as_slice(), &key).unwrap();
        idx.verify().unwrap();
        assert_eq!(idx.persons(), 3);
        assert_eq!(idx.data_as_of(), day("2022-05-04"));
        let mut scratch = PersonRecords::default();
        for (id, p) in &people {
            let pid = idx.lookup(&key, *id).expect("every person is found");
            idx.person(pid, &mut scratch).unwrap();
            assert_eq!(&scratch, p);
        }
        assert_eq!(
            idx.lookup(&key, IdNumber::from_body(11010519900101002)),
            None
        );
        assert_eq!(idx.region_name(region("110105001")), "建外街道");
        assert_eq!(idx.risk_areas().areas().len(), 1);
        let (definite, possible) =
            idx.affected(region("110105001"), day("2022-04-20"), day("2022-04-21"));
        assert_eq!((definite.len(), possible.len()), (1, 0));
        let (definite, possible) =
            idx.affected(region("110106001"), day("2022-04-20"), day("2022-04-21"));
        assert_eq!(
            (definite.len(), possible.len()),
            (0, 1),
            "the city-level telecom stay is a possible match"
        );
    }

    #[test]
    fn another_key_and_corruption_are_refused() {
        let key = Key::from_words(7, 9);
        let bytes = build(&sample(), &key);
        assert!(matches!(
            Index::open(bytes.as_slice(), &Key::from_words(1, 1)),
            Err(IndexError::KeyMismatch { .. })
        ));
        for at in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[at] ^= 0x5a;
            assert!(
                Index::open(b.as_slice(), &key).is_err(),
                "flipped byte {at} accepted"
            );
        }
        for len in (0..bytes.len()).step_by(5) {
            assert!(
                Index::open(&bytes[..len], &key).is_err(),
                "truncation to {len} accepted"
            );
        }
    }

    #[test]
    fn no_document_number_is_stored_in_clear() {
        let key = Key::from_words(7, 9);
        let people = sample();
        let bytes = build(&people, &key);
        for (id, _) in &people {
            let text = id.to_string();
            assert!(
                !bytes.windows(18).any(|w| w == text.as_bytes()),
                "{text} found in the index"
            );
            assert!(
                !bytes.windows(8).any(|w| w == id.body().to_le_bytes()),
                "{text} found as a number"
            );
        }
    }
}
