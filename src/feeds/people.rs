//! The join from feed rows to the rules' input: one [`PersonRecords`] per document number that
//! appears in any person-keyed feed, with every phone ever bound to the person carrying that
//! phone's telecom stays and status rows; and the risk areas as a [`RiskAreaSet`].

use std::collections::HashMap;
use std::ops::Range;

use crate::domain::{IdNumber, PersonRecords, Phone, PhoneRecords, RiskAreaSet};

use super::Feeds;

/// Rows of one phone-keyed feed grouped by phone, feed order kept within each phone: one
/// sorted copy and one map, instead of a vector per phone.
struct ByPhone<T> {
    items: Vec<T>,
    ranges: HashMap<Phone, Range<usize>>,
}

impl<T: Copy> ByPhone<T> {
    fn new<R>(rows: &[R], key: impl Fn(&R) -> (Phone, T)) -> ByPhone<T> {
        let mut keyed: Vec<(Phone, T)> = rows.iter().map(key).collect();
        // Stable: a phone's rows keep their feed order.
        keyed.sort_by_key(|(p, _)| *p);
        let mut ranges = HashMap::new();
        let mut start = 0;
        for i in 1..=keyed.len() {
            if i == keyed.len() || keyed[i].0 != keyed[start].0 {
                ranges.insert(keyed[start].0, start..i);
                start = i;
            }
        }
        ByPhone {
            items: keyed.into_iter().map(|(_, t)| t).collect(),
            ranges,
        }
    }

    fn get(&self, phone: Phone) -> &[T] {
        self.ranges
            .get(&phone)
            .map_or(&[][..], |r| &self.items[r.clone()])
    }
}

/// Every person of the feeds with their records, keyed by document number.
///
/// A person appears when any of `bindings`, `person_stays`, `cdc`, `community`, `arrivals`,
/// `registrations` or `verifications` names them. Each distinct phone bound to the person gets
/// one [`PhoneRecords`] (in order of its first binding) with all its bindings to this person,
/// all its telecom stays and all its status rows in feed order; whether a binding covers a day
/// is for the rules to decide. Other lists keep feed order.
pub fn people(feeds: &Feeds) -> HashMap<IdNumber, PersonRecords> {
    let stays = ByPhone::new(&feeds.phone_stays, |r| (r.phone, r.stay));
    let statuses = ByPhone::new(&feeds.phone_status, |r| (r.phone, r.status));
    let mut out: HashMap<IdNumber, PersonRecords> = HashMap::new();

    // (person, phone) → index into that person's phones, so a person with many binding rows
    // does not scan its phone list for each.
    let mut phone_slot: HashMap<(IdNumber, Phone), usize> = HashMap::new();
    for b in &feeds.bindings {
        let p = out.entry(b.id).or_default();
        let slot = *phone_slot.entry((b.id, b.phone)).or_insert_with(|| {
            p.phones.push(PhoneRecords {
                tail: b.phone.tail(),
                stays: stays.get(b.phone).to_vec(),
                statuses: statuses.get(b.phone).to_vec(),
                bindings: Vec::new(),
            });
            p.phones.len() - 1
        });
        p.phones[slot].bindings.push(b.binding);
    }
    drop(phone_slot);

    for r in &feeds.person_stays {
        out.entry(r.id).or_default().stays.push(r.stay);
    }
    for r in &feeds.cdc {
        out.entry(r.id).or_default().cdc.push(r.record);
    }
    for r in &feeds.community {
        out.entry(r.id).or_default().community.push(r.record);
    }
    for r in &feeds.arrivals {
        out.entry(r.id).or_default().arrivals.push(r.arrival);
    }
    for r in &feeds.registrations {
        out.entry(r.id)
            .or_default()
            .registrations
            .push(r.registration);
    }
    for r in &feeds.verifications {
        out.entry(r.id)
            .or_default()
            .verifications
            .push(r.verification);
    }
    out
}

/// The feed's risk areas, indexed for matching.
pub fn risk_area_set(feeds: &Feeds) -> RiskAreaSet {
    RiskAreaSet::new(feeds.risk_areas.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_phone_keeping_feed_order() {
        let a = Phone::from_number(13800000001);
        let b = Phone::from_number(13800000002);
        let g = ByPhone::new(&[(b, 1), (a, 2), (b, 3), (a, 4), (b, 5)], |r| *r);
        assert_eq!(g.get(a), [2, 4]);
        assert_eq!(g.get(b), [1, 3, 5]);
        assert!(g.get(Phone::from_number(13800000003)).is_empty());
        let empty = ByPhone::<u8>::new(&[] as &[(Phone, u8)], |r| *r);
        assert!(empty.get(a).is_empty());
    }
}
