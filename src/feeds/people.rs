//! The join from feed rows to the rules' input: one [`PersonRecords`] per document number that
//! appears in any person-keyed feed, with every phone ever bound to the person carrying that
//! phone's telecom stays and status rows; and the risk areas as a [`RiskAreaSet`].
//!
//! Built for tens of millions of rows: persons and phones get dense numbers through compact
//! maps, phone-keyed rows are grouped by a counting sort (no per-phone vector), and each row
//! costs one map lookup.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::domain::{IdNumber, PersonRecords, Phone, PhoneRecords, RiskAreaSet};

use super::Feeds;

/// Dense numbers 0, 1, 2, … for keys, in order of first appearance.
struct Dense<K> {
    map: HashMap<K, u32, BuildHasherDefault<FoldHasher>>,
    keys: Vec<K>,
}

impl<K: Copy + Eq + Hash> Dense<K> {
    fn with_capacity(n: usize) -> Dense<K> {
        Dense {
            map: HashMap::with_capacity_and_hasher(n, Default::default()),
            keys: Vec::with_capacity(n),
        }
    }

    /// The key's number, assigning the next one to a new key.
    fn intern(&mut self, k: K) -> u32 {
        let next = self.keys.len() as u32;
        let n = *self.map.entry(k).or_insert(next);
        if n == next {
            self.keys.push(k);
        }
        n
    }

    fn get(&self, k: K) -> Option<u32> {
        self.map.get(&k).copied()
    }
}

/// A fast hasher for the internal maps, keyed by 64-bit numbers (document and phone numbers
/// from the operator's own feeds, so flooding is not a concern): a folded 128-bit multiply,
/// which spreads structured keys (numbers ending in zeros) over every bit.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let p = u128::from(self.0 ^ n) * 0x9e37_79b9_7f4a_7c15_u128;
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Rows of a phone-keyed feed grouped by dense phone number, feed order kept within a phone;
/// rows of phones bound to nobody are dropped.
struct Grouped<T> {
    items: Vec<T>,
    /// Phone `p`'s rows are `items[starts[p]..starts[p + 1]]`.
    starts: Vec<usize>,
}

impl<T: Copy> Grouped<T> {
    fn new<R>(rows: &[R], phones: &Dense<Phone>, key: impl Fn(&R) -> (Phone, T)) -> Grouped<T> {
        let n = phones.keys.len();
        let which: Vec<u32> = rows
            .iter()
            .map(|r| phones.get(key(r).0).unwrap_or(u32::MAX))
            .collect();
        let mut starts = vec![0usize; n + 1];
        for &p in &which {
            if p != u32::MAX {
                starts[p as usize + 1] += 1;
            }
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        let mut items: Vec<Option<T>> = vec![None; starts[n]];
        for (r, &p) in rows.iter().zip(&which) {
            if p != u32::MAX {
                items[fill[p as usize]] = Some(key(r).1);
                fill[p as usize] += 1;
            }
        }
        Grouped {
            items: items
                .into_iter()
                .map(|t| t.expect("every slot filled"))
                .collect(),
            starts,
        }
    }

    fn get(&self, phone: u32) -> &[T] {
        let p = phone as usize;
        &self.items[self.starts[p]..self.starts[p + 1]]
    }
}

/// Every person of the feeds with their records, keyed by document number.
///
/// A person appears when any of `bindings`, `person_stays`, `cdc`, `community`, `arrivals`,
/// `registrations` or `verifications` names them. Each distinct phone bound to the person gets
/// one [`PhoneRecords`] (in order of its first binding to the person) with all its bindings to
/// this person, all its telecom stays and all its status rows in feed order; whether a binding
/// covers a day is for the rules to decide. Other lists keep feed order.
pub fn people(feeds: &Feeds) -> HashMap<IdNumber, PersonRecords> {
    let mut persons = Dense::with_capacity(feeds.bindings.len() / 2);
    let mut phones = Dense::with_capacity(feeds.bindings.len());
    // (person, binding row), sorted below so each person's bindings come together in order.
    let mut by_person: Vec<(u32, u32)> = Vec::with_capacity(feeds.bindings.len());
    let mut phone_of: Vec<u32> = Vec::with_capacity(feeds.bindings.len());
    for (row, b) in feeds.bindings.iter().enumerate() {
        by_person.push((persons.intern(b.id), row as u32));
        phone_of.push(phones.intern(b.phone));
    }
    let stays = Grouped::new(&feeds.phone_stays, &phones, |r| (r.phone, r.stay));
    let statuses = Grouped::new(&feeds.phone_status, &phones, |r| (r.phone, r.status));

    let mut records: Vec<PersonRecords> = Vec::new();
    records.resize_with(persons.keys.len(), PersonRecords::default);
    by_person.sort_unstable();
    let mut slots: Vec<u32> = Vec::new(); // the current person's phones, as dense numbers
    for (i, &(person, row)) in by_person.iter().enumerate() {
        if i == 0 || by_person[i - 1].0 != person {
            slots.clear();
        }
        let rec = &mut records[person as usize];
        let phone = phone_of[row as usize];
        let slot = match slots.iter().position(|&p| p == phone) {
            Some(s) => s,
            None => {
                slots.push(phone);
                rec.phones.push(PhoneRecords {
                    tail: feeds.bindings[row as usize].phone.tail(),
                    bindings: Vec::new(),
                    stays: stays.get(phone).to_vec(),
                    statuses: statuses.get(phone).to_vec(),
                });
                rec.phones.len() - 1
            }
        };
        rec.phones[slot]
            .bindings
            .push(feeds.bindings[row as usize].binding);
    }
    drop((by_person, phone_of, stays, statuses, phones));

    // The person's records, made when the id is new.
    macro_rules! person {
        ($id:expr) => {{
            let p = persons.intern($id) as usize;
            if p == records.len() {
                records.push(PersonRecords::default());
            }
            &mut records[p]
        }};
    }
    for r in &feeds.person_stays {
        person!(r.id).stays.push(r.stay);
    }
    for r in &feeds.cdc {
        person!(r.id).cdc.push(r.record);
    }
    for r in &feeds.community {
        person!(r.id).community.push(r.record);
    }
    for r in &feeds.arrivals {
        person!(r.id).arrivals.push(r.arrival);
    }
    for r in &feeds.registrations {
        person!(r.id).registrations.push(r.registration);
    }
    for r in &feeds.verifications {
        person!(r.id).verifications.push(r.verification);
    }

    let mut out = HashMap::with_capacity(records.len());
    out.extend(persons.keys.into_iter().zip(records));
    out
}

/// The feed's risk areas, indexed for matching.
pub fn risk_area_set(feeds: &Feeds) -> RiskAreaSet {
    RiskAreaSet::new(feeds.risk_areas.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;
    use crate::feeds::{BindingRow, CdcRow, PersonStayRow, PhoneStatusRow, PhoneStayRow};
    use proptest::prelude::*;

    /// The join written the obvious way: the model the fast one must agree with.
    fn naive(f: &Feeds) -> HashMap<IdNumber, PersonRecords> {
        let mut out: HashMap<IdNumber, PersonRecords> = HashMap::new();
        let mut order: HashMap<IdNumber, Vec<Phone>> = HashMap::new();
        for b in &f.bindings {
            let p = out.entry(b.id).or_default();
            let seen = order.entry(b.id).or_default();
            let slot = match seen.iter().position(|x| *x == b.phone) {
                Some(s) => s,
                None => {
                    seen.push(b.phone);
                    p.phones.push(PhoneRecords {
                        tail: b.phone.tail(),
                        bindings: vec![],
                        stays: f
                            .phone_stays
                            .iter()
                            .filter(|s| s.phone == b.phone)
                            .map(|s| s.stay)
                            .collect(),
                        statuses: f
                            .phone_status
                            .iter()
                            .filter(|s| s.phone == b.phone)
                            .map(|s| s.status)
                            .collect(),
                    });
                    p.phones.len() - 1
                }
            };
            p.phones[slot].bindings.push(b.binding);
        }
        for r in &f.person_stays {
            out.entry(r.id).or_default().stays.push(r.stay);
        }
        for r in &f.cdc {
            out.entry(r.id).or_default().cdc.push(r.record);
        }
        out
    }

    fn feeds(
        bindings: Vec<(u8, u8, i32)>,
        stays: Vec<(u8, i32)>,
        statuses: Vec<(u8, i32)>,
        own: Vec<(u8, i32)>,
        cdc: Vec<u8>,
    ) -> Feeds {
        // Few ids and phones, so that they repeat; phones share their tail in pairs.
        let id = |n: u8| IdNumber::from_body(11010519900101000 + u64::from(n % 6));
        let phone = |n: u8| Phone::from_number(13800000000 + u64::from(n % 8) * 50_000);
        let region = RegionCode::parse("1101").unwrap();
        let stay = |d: i32, source| Stay {
            region,
            first_day: Day(d),
            last_day: Day(d + 1),
            source,
        };
        Feeds {
            regions: std::borrow::Cow::Owned(crate::regions::RegionTable::default()),
            bindings: bindings
                .into_iter()
                .map(|(i, p, d)| BindingRow {
                    id: id(i),
                    phone: phone(p),
                    channel: Channel::Wechat,
                    binding: Binding {
                        bound_on: Day(d),
                        unbound_on: None,
                    },
                })
                .collect(),
            phone_stays: stays
                .into_iter()
                .map(|(p, d)| PhoneStayRow {
                    phone: phone(p),
                    stay: stay(d, StaySource::Telecom),
                })
                .collect(),
            phone_status: statuses
                .into_iter()
                .map(|(p, d)| PhoneStatusRow {
                    phone: phone(p),
                    status: PhoneStatus {
                        state: PhoneState::LongOff,
                        as_of: Day(d),
                    },
                })
                .collect(),
            person_stays: own
                .into_iter()
                .map(|(i, d)| PersonStayRow {
                    id: id(i),
                    stay: stay(d, StaySource::SelfReport),
                })
                .collect(),
            cdc: cdc
                .into_iter()
                .map(|i| CdcRow {
                    id: id(i),
                    record: CdcRecord {
                        category: CdcCategory::Confirmed,
                        period: Period {
                            from: Day(0),
                            to: None,
                        },
                    },
                })
                .collect(),
            community: vec![],
            arrivals: vec![],
            registrations: vec![],
            risk_areas: vec![],
            verifications: vec![],
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_naive_join(
            bindings in prop::collection::vec((any::<u8>(), any::<u8>(), 0..100i32), 0..30),
            stays in prop::collection::vec((any::<u8>(), 0..100i32), 0..40),
            statuses in prop::collection::vec((any::<u8>(), 0..100i32), 0..20),
            own in prop::collection::vec((any::<u8>(), 0..100i32), 0..10),
            cdc in prop::collection::vec(any::<u8>(), 0..5),
        ) {
            let f = feeds(bindings, stays, statuses, own, cdc);
            prop_assert_eq!(people(&f), naive(&f));
        }
    }

    #[test]
    fn groups_by_phone_keeping_feed_order_and_dropping_unbound_phones() {
        let a = Phone::from_number(13800000001);
        let b = Phone::from_number(13800000002);
        let c = Phone::from_number(13800000003);
        let mut phones = Dense::with_capacity(0);
        assert_eq!(phones.intern(b), 0);
        assert_eq!(phones.intern(a), 1);
        assert_eq!(phones.intern(b), 0);
        let g = Grouped::new(
            &[(b, 1), (a, 2), (c, 9), (b, 3), (a, 4), (b, 5)],
            &phones,
            |r| *r,
        );
        assert_eq!(g.get(1), [2, 4]);
        assert_eq!(g.get(0), [1, 3, 5]);
        assert_eq!(g.items.len(), 5, "c is bound to nobody");
        let empty = Grouped::<u8>::new(&[], &phones, |r: &(Phone, u8)| *r);
        assert!(empty.get(0).is_empty() && empty.get(1).is_empty());
    }

    #[test]
    fn the_hasher_spreads_round_numbers() {
        use std::hash::BuildHasher;
        let h = BuildHasherDefault::<FoldHasher>::default();
        let low: std::collections::HashSet<u64> = (0..1000u64)
            .map(|i| h.hash_one(13_800_000_000 + i * 10_000) & 0xfff)
            .collect();
        assert!(low.len() > 700, "{} distinct low bits", low.len());
    }
}
