//! The join from feed rows to the rules' input: one [`PersonRecords`] per document number that
//! appears in any person-keyed feed, with every phone ever bound to the person carrying that
//! phone's telecom stays and status rows; and the risk areas as a [`RiskAreaSet`].
//!
//! Built for tens of millions of rows: persons and phones get dense numbers through compact
//! maps, rows are grouped by a counting sort into flat tables (no vector per person or phone),
//! each row costs one map lookup, and a person's records are only put together when asked for.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::domain::{
    Arrival, Binding, CdcRecord, CommunityRecord, IdNumber, PersonRecords, PhoneRecords,
    PhoneStatus, PhoneTail, Registration, RiskAreaSet, Stay, Verification,
};

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

    /// The keys in number order, dropping the map.
    fn into_keys(self) -> Vec<K> {
        self.keys
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

/// Rows grouped by a dense key number (a phone's or a person's), feed order kept within a key.
struct Grouped<T> {
    items: Vec<T>,
    /// Key `k`'s rows are `items[starts[k]..starts[k + 1]]`.
    starts: Vec<u32>,
}

impl<T> Grouped<T> {
    /// Groups `rows` by `which` (each row's key number below `keys`, or `u32::MAX` to drop the
    /// row): a counting sort, so no per-key vector.
    fn new(rows: impl IntoIterator<Item = T>, which: &[u32], keys: usize) -> Grouped<T> {
        let mut starts = vec![0u32; keys + 1];
        for &k in which {
            if k != u32::MAX {
                starts[k as usize + 1] += 1;
            }
        }
        for i in 0..keys {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        let mut items: Vec<Option<T>> = Vec::new();
        items.resize_with(starts[keys] as usize, || None);
        for (r, &k) in rows.into_iter().zip(which) {
            if k != u32::MAX {
                items[fill[k as usize] as usize] = Some(r);
                fill[k as usize] += 1;
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

    fn get(&self, key: u32) -> &[T] {
        let k = key as usize;
        &self.items[self.starts[k] as usize..self.starts[k + 1] as usize]
    }
}

/// A record of the person-keyed feeds other than stays, in one list so that persons share
/// one table of starts.
#[derive(Clone, Copy)]
enum Extra {
    Cdc(CdcRecord),
    Community(CommunityRecord),
    Arrival(Arrival),
    Registration(Registration),
    Verification(Verification),
}

/// One phone bound to a person: the phone's dense number and its last 4 digits.
#[derive(Clone, Copy)]
struct Slot {
    phone: u32,
    tail: PhoneTail,
}

/// Every person of the feeds with their records, joined in flat tables (no allocation per
/// person or phone): person `p`'s records are put together on demand by [`People::fill`].
///
/// A person appears when any of `bindings`, `person_stays`, `cdc`, `community`, `arrivals`,
/// `registrations` or `verifications` names them. Each distinct phone bound to the person gets
/// one [`PhoneRecords`] (in order of its first binding to the person) with all its bindings to
/// this person, all its telecom stays and all its status rows in feed order; whether a binding
/// covers a day is for the rules to decide. Other lists keep feed order.
pub struct People {
    /// Person number → document number.
    ids: Vec<IdNumber>,
    /// Person `p`'s phones are `slots[phone_starts[p]..phone_starts[p + 1]]` (persons named
    /// only by person-keyed feeds come after the last one with a binding and have none).
    phone_starts: Vec<u32>,
    slots: Vec<Slot>,
    /// Bindings grouped by slot.
    bindings: Grouped<Binding>,
    /// Telecom stays and status rows grouped by dense phone number.
    stays: Grouped<Stay>,
    statuses: Grouped<PhoneStatus>,
    /// Person stays and the other person-keyed records grouped by person.
    own: Grouped<Stay>,
    extras: Grouped<Extra>,
}

impl People {
    /// Joins the rows of `feeds`, taking them out of it (risk areas and regions stay): each
    /// file's rows are dropped as soon as they are grouped, so the rows and the join never
    /// both hold everything.
    pub fn join(feeds: &mut Feeds) -> People {
        let bindings = std::mem::take(&mut feeds.bindings);
        let mut persons = Dense::with_capacity(bindings.len() / 2);
        let mut phones = Dense::with_capacity(bindings.len());
        // (person, binding row), sorted below so each person's bindings come together in order.
        let mut by_person: Vec<(u32, u32)> = Vec::with_capacity(bindings.len());
        let mut phone_of: Vec<u32> = Vec::with_capacity(bindings.len());
        for (row, b) in bindings.iter().enumerate() {
            by_person.push((persons.intern(b.id), row as u32));
            phone_of.push(phones.intern(b.phone));
        }
        by_person.sort_unstable();
        let with_bindings = persons.keys.len();
        let mut phone_starts = Vec::with_capacity(with_bindings + 1);
        let mut slots: Vec<Slot> = Vec::new();
        let mut slot_of: Vec<u32> = vec![0; bindings.len()];
        let mut first = 0; // the current person's first slot
        for (i, &(person, row)) in by_person.iter().enumerate() {
            if i == 0 || by_person[i - 1].0 != person {
                first = slots.len();
                phone_starts.push(first as u32);
            }
            let phone = phone_of[row as usize];
            let slot = match slots[first..].iter().position(|s| s.phone == phone) {
                Some(s) => first + s,
                None => {
                    slots.push(Slot {
                        phone,
                        tail: bindings[row as usize].phone.tail(),
                    });
                    slots.len() - 1
                }
            };
            slot_of[row as usize] = slot as u32;
        }
        phone_starts.push(slots.len() as u32);
        debug_assert_eq!(phone_starts.len(), with_bindings + 1);
        drop((by_person, phone_of));
        // Rows in feed order within each slot: grouped by slot, a slot's rows are its bindings
        // in row order, and slots of one person follow their first bindings' order.
        let bindings = Grouped::new(
            bindings.into_iter().map(|b| b.binding),
            &slot_of,
            slots.len(),
        );
        drop(slot_of);

        let n_phones = phones.keys.len();
        let phone_stays = std::mem::take(&mut feeds.phone_stays);
        let which: Vec<u32> = phone_stays
            .iter()
            .map(|r| phones.get(r.phone).unwrap_or(u32::MAX))
            .collect();
        let stays = Grouped::new(phone_stays.into_iter().map(|r| r.stay), &which, n_phones);
        let phone_status = std::mem::take(&mut feeds.phone_status);
        let which: Vec<u32> = phone_status
            .iter()
            .map(|r| phones.get(r.phone).unwrap_or(u32::MAX))
            .collect();
        let statuses = Grouped::new(phone_status.into_iter().map(|r| r.status), &which, n_phones);
        drop((which, phones));

        let person_stays = std::mem::take(&mut feeds.person_stays);
        let own_which: Vec<u32> = person_stays.iter().map(|r| persons.intern(r.id)).collect();
        let mut extras: Vec<Extra> = Vec::new();
        let mut extra_which: Vec<u32> = Vec::new();
        let mut add = |id: IdNumber, e: Extra| {
            extra_which.push(persons.intern(id));
            extras.push(e);
        };
        for r in std::mem::take(&mut feeds.cdc) {
            add(r.id, Extra::Cdc(r.record));
        }
        for r in std::mem::take(&mut feeds.community) {
            add(r.id, Extra::Community(r.record));
        }
        for r in std::mem::take(&mut feeds.arrivals) {
            add(r.id, Extra::Arrival(r.arrival));
        }
        for r in std::mem::take(&mut feeds.registrations) {
            add(r.id, Extra::Registration(r.registration));
        }
        for r in std::mem::take(&mut feeds.verifications) {
            add(r.id, Extra::Verification(r.verification));
        }
        let n = persons.keys.len();
        let own = Grouped::new(person_stays.into_iter().map(|r| r.stay), &own_which, n);
        drop(own_which);
        let extras = Grouped::new(extras, &extra_which, n);
        drop(extra_which);
        People {
            ids: persons.into_keys(),
            phone_starts,
            slots,
            bindings,
            stays,
            statuses,
            own,
            extras,
        }
    }

    /// The number of persons.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the feeds name nobody.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Person `p`'s document number.
    pub fn id(&self, p: usize) -> IdNumber {
        self.ids[p]
    }

    /// Puts person `p`'s records into `out`, replacing what it held (its vectors are reused).
    pub fn fill(&self, p: usize, out: &mut PersonRecords) {
        let slots: &[Slot] = match self.phone_starts.get(p + 1) {
            Some(&end) => &self.slots[self.phone_starts[p] as usize..end as usize],
            None => &[],
        };
        out.phones.truncate(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            if i == out.phones.len() {
                out.phones.push(PhoneRecords::default());
            }
            let ph = &mut out.phones[i];
            let base = self.phone_starts[p] as usize;
            ph.tail = slot.tail;
            ph.bindings.clear();
            ph.bindings
                .extend_from_slice(self.bindings.get((base + i) as u32));
            ph.stays.clear();
            ph.stays.extend_from_slice(self.stays.get(slot.phone));
            ph.statuses.clear();
            ph.statuses.extend_from_slice(self.statuses.get(slot.phone));
        }
        out.stays.clear();
        out.stays.extend_from_slice(self.own.get(p as u32));
        out.cdc.clear();
        out.community.clear();
        out.arrivals.clear();
        out.registrations.clear();
        out.verifications.clear();
        for e in self.extras.get(p as u32) {
            match *e {
                Extra::Cdc(r) => out.cdc.push(r),
                Extra::Community(r) => out.community.push(r),
                Extra::Arrival(a) => out.arrivals.push(a),
                Extra::Registration(r) => out.registrations.push(r),
                Extra::Verification(v) => out.verifications.push(v),
            }
        }
    }
}

/// Every person of the feeds with their records, keyed by document number: [`People`] as a
/// map, for callers that look persons up by number.
pub fn people(feeds: &Feeds) -> HashMap<IdNumber, PersonRecords> {
    let table = People::join(&mut feeds.clone());
    (0..table.len())
        .map(|p| {
            let mut r = PersonRecords::default();
            table.fill(p, &mut r);
            (table.id(p), r)
        })
        .collect()
}

/// The feed's risk areas, indexed for matching.
pub fn risk_area_set(feeds: &Feeds) -> RiskAreaSet {
    RiskAreaSet::with_home(feeds.risk_areas.clone(), feeds.home)
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
            home: None,
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
        let rows = [(b, 1), (a, 2), (c, 9), (b, 3), (a, 4), (b, 5)];
        let which: Vec<u32> = rows
            .iter()
            .map(|r| phones.get(r.0).unwrap_or(u32::MAX))
            .collect();
        let g = Grouped::new(rows.iter().map(|r| r.1), &which, phones.keys.len());
        assert_eq!(g.get(1), [2, 4]);
        assert_eq!(g.get(0), [1, 3, 5]);
        assert_eq!(g.items.len(), 5, "c is bound to nobody");
        let empty = Grouped::<u8>::new([], &[], phones.keys.len());
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
