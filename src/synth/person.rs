//! One person's life: a home, trips and local visits (the truth), phones and their bindings, and
//! what each source recorded of it — telecom stays at city precision, flow surveys, self reports,
//! CDC and community records, arrivals, registrations, hotline verifications, phone statuses.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::domain::{
    CdcCategory, Channel, CommunityStatus, Day, PhoneState, Precision, RegionCode, StaySource,
    TravelMode,
};

use super::Rates;
use super::world::{HOME, World};
use super::write::{ChunkOut, DayText, Feed, push_padded, push_phone, push_region, push_text};

/// Trips may have started this many days before the first day of truth (so some persons are
/// away on it).
const LOOKBACK_DAYS: i32 = 12;

/// A span of days away from home.
#[derive(Clone, Copy, Debug)]
struct Away {
    street: RegionCode,
    first: Day,
    last: Day,
    place: usize,
    /// Index in `trips`; `None` for a visit inside the home city.
    trip: Option<usize>,
}

/// A trip to other cities and back.
#[derive(Clone, Copy, Debug)]
struct Trip {
    /// The day the person is home again (the arrival's travel day).
    ret: Day,
    /// The last city of the trip (where the arrival comes from).
    last_place: usize,
    /// The last street of the trip.
    last_street: RegionCode,
    /// In a risk unit while it was active.
    definite: bool,
    /// In a risk city, outside its risk unit, while an area of it was active.
    risk_city: bool,
    /// Overlaps the query window.
    in_window: bool,
}

/// A stay of the truth.
#[derive(Clone, Copy, Debug)]
struct TruthStay {
    street: RegionCode,
    first: Day,
    last: Day,
    trip: Option<usize>,
}

/// One binding row.
#[derive(Clone, Copy, Debug)]
struct Bind {
    channel: Channel,
    bound_on: Day,
    unbound_on: Option<Day>,
}

/// One phone of the person.
#[derive(Clone, Copy, Debug)]
struct PhonePlan {
    slot: u64,
    /// Bound until the query day.
    current: bool,
    /// The person's main phone (slot 0).
    primary: bool,
    /// Range of `binds`.
    binds: (usize, usize),
}

/// Generates persons one at a time, reusing its buffers.
#[derive(Debug)]
pub struct PersonGen<'a> {
    world: &'a World,
    rates: &'a Rates,
    days: &'a DayText,
    away: Vec<Away>,
    trips: Vec<Trip>,
    truth: Vec<TruthStay>,
    phones: Vec<PhonePlan>,
    binds: Vec<Bind>,
    intervals: Vec<(Day, Day)>,
}

impl<'a> PersonGen<'a> {
    /// A generator over `world`.
    pub fn new(world: &'a World, rates: &'a Rates, days: &'a DayText) -> PersonGen<'a> {
        PersonGen {
            world,
            rates,
            days,
            away: Vec::new(),
            trips: Vec::new(),
            truth: Vec::new(),
            phones: Vec::new(),
            binds: Vec::new(),
            intervals: Vec::new(),
        }
    }

    /// Generates person `index` and appends every row about them to `out`.
    pub fn person(&mut self, index: u64, rng: &mut ChaCha8Rng, out: &mut ChunkOut) {
        let w = self.world;
        let r = self.rates;
        let home_community = w.community_in(HOME, rng);
        let home_street = home_community.truncate(Precision::Street);
        let born_in = if rng.random_bool(r.born_elsewhere_share) {
            w.any_county(rng)
        } else {
            home_community.risk_unit()
        };
        let id = w.id_number(index, born_in.padded() / 1_000_000).to_bytes();

        self.itinerary(rng, home_street);
        self.build_truth(home_street);
        for s in &self.truth {
            let b = out.row(Feed::Truth);
            self.id_region_days(b, &id, s.street, s.first, s.last);
            b.push(b'\n');
        }

        self.plan_phones(rng);
        self.write_phones(index, &id, rng, out);

        let exposure = self.exposure(home_community);
        self.write_person_stays(&id, &exposure, rng, out);
        self.write_cdc(&id, &exposure, rng, out);
        let community = w.table.name(home_community);
        self.write_community(&id, community, &exposure, rng, out);
        self.write_arrivals(&id, community, rng, out);
        self.write_verification(&id, &exposure, rng, out);
    }

    /// Draws trips and local visits, in day order, into `away` and `trips`.
    fn itinerary(&mut self, rng: &mut ChaCha8Rng, home_street: RegionCode) {
        let (w, r) = (self.world, self.rates);
        self.away.clear();
        self.trips.clear();
        let p_trip = r.trips_per_14_days / 14.0;
        let p_any = p_trip + r.local_visits_per_14_days / 14.0;
        let mut t = w.first_day.plus(-LOOKBACK_DAYS);
        loop {
            t = t.plus(geometric(rng, p_any));
            if t > w.today {
                break;
            }
            let len;
            if rng.random::<f64>() < p_trip / p_any {
                len = 1 + weighted(rng, &r.trip_days) as i32;
                let trip = self.trips.len();
                let first = w.pick_destination(rng);
                let mut push = |place: usize, from: i32, to: i32, rng: &mut ChaCha8Rng| {
                    let street = w.pick_street(place, r, rng);
                    self.away.push(Away {
                        street,
                        first: t.plus(from),
                        last: t.plus(to),
                        place,
                        trip: Some(trip),
                    });
                };
                let u = rng.random::<f64>();
                if len >= 2 && u < r.second_city_share + r.second_street_share {
                    let split = rng.random_range(1..len);
                    let second = if u < r.second_city_share {
                        w.pick_destination(rng)
                    } else {
                        first
                    };
                    push(first, 0, split - 1, rng);
                    push(second, split, len - 1, rng);
                } else {
                    push(first, 0, len - 1, rng);
                }
                let last = self.away.last().expect("a trip has a stay");
                self.trips.push(Trip {
                    ret: t.plus(len),
                    last_place: last.place,
                    last_street: last.street,
                    definite: false,
                    risk_city: false,
                    in_window: false,
                });
            } else {
                len = rng.random_range(1..=3);
                let street = w.community_in(HOME, rng).truncate(Precision::Street);
                if street != home_street {
                    self.away.push(Away {
                        street,
                        first: t,
                        last: t.plus(len - 1),
                        place: HOME,
                        trip: None,
                    });
                }
            }
            // Back home on t + len, at least one night there before the next departure.
            t = t.plus(len + 1);
        }
    }

    /// Fills the days between away spans with the home street and clips to the truth's days.
    fn build_truth(&mut self, home_street: RegionCode) {
        let w = self.world;
        self.truth.clear();
        let mut cursor = w.first_day;
        let push = |truth: &mut Vec<TruthStay>, s: TruthStay| match truth.last_mut() {
            Some(l) if l.street == s.street && l.last.plus(1) == s.first && l.trip == s.trip => {
                l.last = s.last;
            }
            _ => truth.push(s),
        };
        for a in &self.away {
            let (first, last) = (a.first.max(w.first_day), a.last.min(w.today));
            if first > last {
                continue;
            }
            if cursor < first {
                push(
                    &mut self.truth,
                    TruthStay {
                        street: home_street,
                        first: cursor,
                        last: first.plus(-1),
                        trip: None,
                    },
                );
            }
            push(
                &mut self.truth,
                TruthStay {
                    street: a.street,
                    first,
                    last,
                    trip: a.trip,
                },
            );
            cursor = last.plus(1);
        }
        if cursor <= w.today {
            push(
                &mut self.truth,
                TruthStay {
                    street: home_street,
                    first: cursor,
                    last: w.today,
                    trip: None,
                },
            );
        }
    }

    /// Draws the person's phones and their binding rows into `phones` and `binds`.
    fn plan_phones(&mut self, rng: &mut ChaCha8Rng) {
        let (w, r) = (self.world, self.rates);
        let today = w.today;
        self.phones.clear();
        self.binds.clear();
        let n = 1 + weighted(rng, &r.phone_count) as u64;
        let mut primary_bound = today.plus(-rng.random_range(60..=3_650));
        // (slot, bound_on, unbound_on) of every phone; the primary is slot 0.
        let mut spans = [(0u64, today, None::<Day>); 3];
        for (slot, span) in spans.iter_mut().enumerate().take(n as usize).skip(1) {
            *span = if rng.random_bool(r.old_phone_share) {
                let unbound = today.plus(-rng.random_range(1..=75));
                let bound = unbound.plus(-rng.random_range(30..=3_000));
                if primary_bound < unbound && rng.random_bool(r.replaced_share) {
                    // The current phone replaced this one: bound a few days before the old one
                    // was unbound.
                    primary_bound = unbound.plus(-rng.random_range(0..=2));
                }
                (slot as u64, bound, Some(unbound))
            } else {
                (slot as u64, today.plus(-rng.random_range(10..=2_000)), None)
            };
        }
        spans[0] = (0, primary_bound, None);
        for &(slot, bound, unbound) in &spans[..n as usize] {
            let start = self.binds.len();
            let mut channels = [None::<Channel>; 3];
            let extra = usize::from(rng.random_bool(r.second_channel))
                + usize::from(rng.random_bool(r.third_channel));
            for k in 0..=extra {
                // Draw until the channel is new to this phone (at most 4 distinct exist).
                let c = loop {
                    let c = Channel::ALL[weighted(rng, &r.channel_weights)];
                    if !channels[..k].contains(&Some(c)) {
                        break c;
                    }
                };
                channels[k] = Some(c);
                let latest = unbound.map_or(today, |u| u.plus(-1));
                let bound_on = if k == 0 {
                    bound
                } else {
                    bound.plus(rng.random_range(0..=400)).min(latest)
                };
                match unbound {
                    Some(u) => self.binds.push(Bind {
                        channel: c,
                        bound_on,
                        unbound_on: Some(u),
                    }),
                    None if bound_on < today && rng.random_bool(r.rebind) => {
                        // Unbound and bound again the same day (an account switch, a
                        // reinstall): never a day without the binding, so the phone's telecom
                        // stays keep observing every true stay.
                        let u1 = Day(rng.random_range(bound_on.0 + 1..=today.0));
                        self.binds.push(Bind {
                            channel: c,
                            bound_on,
                            unbound_on: Some(u1),
                        });
                        self.binds.push(Bind {
                            channel: c,
                            bound_on: u1,
                            unbound_on: None,
                        });
                    }
                    None => self.binds.push(Bind {
                        channel: c,
                        bound_on,
                        unbound_on: None,
                    }),
                }
            }
            self.phones.push(PhonePlan {
                slot,
                current: unbound.is_none(),
                primary: slot == 0,
                binds: (start, self.binds.len()),
            });
        }
    }

    /// Writes bindings, telecom stays and statuses of every phone.
    fn write_phones(
        &mut self,
        index: u64,
        id: &[u8; 18],
        rng: &mut ChaCha8Rng,
        out: &mut ChunkOut,
    ) {
        let (w, r, days) = (self.world, self.rates, self.days);
        for p in &self.phones {
            let phone = w.phone(index, p.slot);
            let binds = &self.binds[p.binds.0..p.binds.1];
            for bnd in binds {
                let b = out.row(Feed::Bindings);
                b.extend_from_slice(id);
                b.push(b',');
                push_phone(b, phone);
                b.push(b',');
                b.extend_from_slice(bnd.channel.as_str().as_bytes());
                b.push(b',');
                days.push(b, bnd.bound_on);
                b.push(b',');
                if let Some(u) = bnd.unbound_on {
                    days.push(b, u);
                }
                b.push(b'\n');
            }

            // The days the phone was bound to the person, merged, within the truth's days.
            self.intervals.clear();
            for bnd in binds {
                let first = bnd.bound_on.max(w.first_day);
                let last = bnd.unbound_on.map_or(w.today, |u| u.plus(-1)).min(w.today);
                if first <= last {
                    self.intervals.push((first, last));
                }
            }
            self.intervals.sort_unstable();
            let mut merged = 0;
            for k in 0..self.intervals.len() {
                let (f, l) = self.intervals[k];
                if merged > 0 && f <= self.intervals[merged - 1].1.plus(1) {
                    let m = &mut self.intervals[merged - 1].1;
                    *m = (*m).max(l);
                } else {
                    self.intervals[merged] = (f, l);
                    merged += 1;
                }
            }
            self.intervals.truncate(merged);

            // Telecom sees every city the phone was in while bound, merging consecutive days.
            for &(a, z) in &self.intervals {
                let mut open: Option<(RegionCode, Day, Day)> = None;
                for s in &self.truth {
                    let (f, l) = (s.first.max(a), s.last.min(z));
                    if f > l {
                        continue;
                    }
                    let city = s.street.truncate(Precision::City);
                    match &mut open {
                        Some((c, _, last)) if *c == city && last.plus(1) == f => *last = l,
                        _ => {
                            if let Some((c, f0, l0)) = open {
                                self.phone_stay(out, phone, c, f0, l0);
                            }
                            open = Some((city, f, l));
                        }
                    }
                }
                if let Some((c, f0, l0)) = open {
                    self.phone_stay(out, phone, c, f0, l0);
                }
            }

            if p.current {
                let as_of = w.today.plus(-rng.random_range(0..=2));
                let away = self
                    .truth
                    .iter()
                    .find(|s| s.first <= as_of && as_of <= s.last)
                    .is_some_and(|s| s.trip.is_some());
                let long_off = if p.primary {
                    r.long_off_primary
                } else {
                    r.long_off_other
                };
                let state = if away {
                    PhoneState::NotInCity
                } else if rng.random_bool(long_off) {
                    PhoneState::LongOff
                } else {
                    PhoneState::Active
                };
                let b = out.row(Feed::PhoneStatus);
                push_phone(b, phone);
                b.push(b',');
                b.extend_from_slice(state.as_str().as_bytes());
                b.push(b',');
                days.push(b, as_of);
                b.push(b'\n');
            }
        }
    }

    fn phone_stay(
        &self,
        out: &mut ChunkOut,
        phone: crate::domain::Phone,
        city: RegionCode,
        first: Day,
        last: Day,
    ) {
        let b = out.row(Feed::PhoneStays);
        push_phone(b, phone);
        b.push(b',');
        push_region(b, city);
        b.push(b',');
        self.days.push(b, first);
        b.push(b',');
        self.days.push(b, last);
        b.push(b'\n');
    }

    /// `id,region,first,last` (no line end).
    fn id_region_days(&self, b: &mut Vec<u8>, id: &[u8; 18], region: RegionCode, f: Day, l: Day) {
        b.extend_from_slice(id);
        b.push(b',');
        push_region(b, region);
        b.push(b',');
        self.days.push(b, f);
        b.push(b',');
        self.days.push(b, l);
    }

    /// Compares the truth with the risk areas (and marks the trips).
    fn exposure(&mut self, home_community: RegionCode) -> Exposure {
        let w = self.world;
        let home_street = home_community.truncate(Precision::Street);
        let window = w.today.window_start();
        let mut e = Exposure::default();
        for s in &self.truth {
            let city = s.street.truncate(Precision::City);
            for z in &w.risk_areas {
                let (a, b) = (s.first.max(z.from), s.last.min(z.last_active(w.today)));
                if a > b {
                    continue;
                }
                let unit = z.unit();
                let in_window = b >= window;
                if unit.contains(s.street) {
                    e.definite = Some(e.definite.map_or(a, |d| d.min(a)));
                    // At home the person's community is known; elsewhere only the street.
                    let at_home = s.street == home_street && s.trip.is_none();
                    let in_area = if at_home {
                        z.area.contains(home_community)
                    } else {
                        z.area.truncate(Precision::Street) == s.street
                    };
                    if in_area {
                        e.area = Some(e.area.map_or(a, |d| d.min(a)));
                        if at_home {
                            e.home_area = Some(e.home_area.map_or(a, |d| d.min(a)));
                        }
                    }
                    if let Some(t) = s.trip {
                        self.trips[t].definite = true;
                    }
                } else if city.strictly_contains(unit) {
                    if let Some(t) = s.trip {
                        self.trips[t].risk_city = true;
                    }
                    let possible = if s.trip.is_some() {
                        &mut e.possible_trip
                    } else {
                        &mut e.possible_home
                    };
                    if in_window && possible.is_none_or(|(d, _)| d < b) {
                        *possible = Some((b, unit));
                    }
                }
            }
            if let Some(t) = s.trip {
                self.trips[t].in_window |= s.last >= window;
            }
        }
        e
    }

    /// Flow surveys (street precision, all of the truth) and self-reported trips.
    fn write_person_stays(
        &self,
        id: &[u8; 18],
        e: &Exposure,
        rng: &mut ChaCha8Rng,
        out: &mut ChunkOut,
    ) {
        let r = self.rates;
        let surveyed = if e.definite.is_some() {
            r.flow_survey_exposed
        } else {
            r.flow_survey
        };
        if rng.random_bool(surveyed) {
            for s in &self.truth {
                let b = out.row(Feed::PersonStays);
                self.id_region_days(b, id, s.street, s.first, s.last);
                b.push(b',');
                b.extend_from_slice(StaySource::FlowSurvey.as_str().as_bytes());
                b.push(b'\n');
            }
        }
        if self.trips.iter().any(|t| t.in_window) && rng.random_bool(r.self_report) {
            let county = rng.random_bool(r.self_report_county);
            for s in self.truth.iter().filter(|s| s.trip.is_some()) {
                let region = if county {
                    s.street.truncate(Precision::County)
                } else {
                    s.street
                };
                let b = out.row(Feed::PersonStays);
                self.id_region_days(b, id, region, s.first, s.last);
                b.push(b',');
                b.extend_from_slice(StaySource::SelfReport.as_str().as_bytes());
                b.push(b'\n');
            }
        }
    }

    /// At most one CDC record, likelier for persons who were in a risk street or unit.
    fn write_cdc(&self, id: &[u8; 18], e: &Exposure, rng: &mut ChaCha8Rng, out: &mut ChunkOut) {
        let (w, r) = (self.world, self.rates);
        let (shares, exposed) = match (e.area, e.definite) {
            (Some(d), _) => (&r.cdc_area, Some(d)),
            (None, Some(d)) => (&r.cdc_unit, Some(d)),
            (None, None) => (&r.cdc_other, None),
        };
        let mut u = rng.random::<f64>();
        let Some(k) = shares.iter().position(|&s| {
            let hit = u < s;
            u -= s;
            hit
        }) else {
            return;
        };
        let category = CdcCategory::ALL[k];
        let from = match exposed {
            Some(d) => d.plus(rng.random_range(1..=4)),
            None => w.today.plus(-rng.random_range(0..=25)),
        }
        .min(w.today);
        let to = match category {
            CdcCategory::Confirmed if rng.random_bool(r.confirmed_open) => None,
            CdcCategory::Confirmed => Some(from.plus(20)),
            CdcCategory::Asymptomatic | CdcCategory::CloseContact => Some(from.plus(13)),
            CdcCategory::Suspected | CdcCategory::SecondaryContact => Some(from.plus(6)),
        };
        let b = out.row(Feed::Cdc);
        b.extend_from_slice(id);
        b.push(b',');
        b.extend_from_slice(category.as_str().as_bytes());
        b.push(b',');
        self.period(b, from, to);
        b.push(b'\n');
    }

    /// Home quarantine for residents of a risk street and travellers back from a risk unit,
    /// health monitoring for travellers back from elsewhere in a risk city.
    fn write_community(
        &self,
        id: &[u8; 18],
        community: &str,
        e: &Exposure,
        rng: &mut ChaCha8Rng,
        out: &mut ChunkOut,
    ) {
        let (w, r) = (self.world, self.rates);
        let record = |status: CommunityStatus, from: Day, days: i32, out: &mut ChunkOut| {
            let b = out.row(Feed::Community);
            b.extend_from_slice(id);
            b.push(b',');
            b.extend_from_slice(status.as_str().as_bytes());
            b.push(b',');
            self.period(b, from, Some(from.plus(days - 1)));
            b.push(b',');
            push_text(b, community);
            b.push(b'\n');
        };
        if let Some(d) = e.home_area
            && rng.random_bool(r.quarantine_home_area)
        {
            record(CommunityStatus::HomeQuarantine, d, 14, out);
        }
        for t in &self.trips {
            if t.ret < w.first_day || t.ret > w.today {
                continue;
            }
            if t.definite {
                if rng.random_bool(r.quarantine_after_unit) {
                    record(CommunityStatus::HomeQuarantine, t.ret, 14, out);
                }
            } else if t.risk_city && rng.random_bool(r.monitoring_after_city) {
                record(CommunityStatus::HealthMonitoring, t.ret, 7, out);
            }
        }
    }

    /// Ticket and entry records of returns (past, and booked future ones up to today+14), with
    /// registrations of most arrivals from risk cities.
    fn write_arrivals(
        &self,
        id: &[u8; 18],
        community: &str,
        rng: &mut ChaCha8Rng,
        out: &mut ChunkOut,
    ) {
        let (w, r, days) = (self.world, self.rates, self.days);
        let today = w.today;
        for t in &self.trips {
            if t.ret < w.first_day || t.ret > today.plus(14) {
                continue;
            }
            let past = t.ret <= today;
            if !rng.random_bool(if past {
                r.arrival_recorded
            } else {
                r.future_booking
            }) {
                continue;
            }
            let mode = match (w.places[t.last_place].near, rng.random::<f64>()) {
                (true, u) if u < r.near_rail_share => TravelMode::Rail,
                (true, _) => TravelMode::Road,
                (false, u) if u < r.far_air_share => TravelMode::Air,
                (false, _) => TravelMode::Rail,
            };
            let booked_on = if past {
                t.ret.plus(-rng.random_range(1..=14))
            } else {
                today.plus(-rng.random_range(0..=7))
            };
            let origin = if rng.random_bool(r.arrival_county_origin) {
                t.last_street.truncate(Precision::County)
            } else {
                t.last_street.truncate(Precision::City)
            };
            let b = out.row(Feed::Arrivals);
            b.extend_from_slice(id);
            b.push(b',');
            days.push(b, t.ret);
            b.push(b',');
            push_region(b, origin);
            b.push(b',');
            b.extend_from_slice(mode.as_str().as_bytes());
            b.push(b',');
            days.push(b, booked_on);
            b.push(b'\n');

            let on = t.ret.min(today);
            let risky = w.risk_areas.iter().any(|z| {
                z.active_on(on) && (origin.contains(z.unit()) || z.unit().contains(origin))
            });
            let share = if risky {
                r.register_risky
            } else {
                r.register_other
            };
            let registered_on = if past {
                rng.random_bool(share)
                    .then(|| t.ret.plus(rng.random_range(0..=2)).min(today))
            } else {
                rng.random_bool(share * r.pre_register)
                    .then(|| Day(rng.random_range(booked_on.0..=today.0)))
            };
            if let Some(d) = registered_on {
                let b = out.row(Feed::Registrations);
                b.extend_from_slice(id);
                b.push(b',');
                days.push(b, d);
                b.push(b',');
                push_text(b, community);
                b.push(b'\n');
            }
        }
    }

    /// A hotline call by some persons whose only match in the window is a city-level one.
    ///
    /// A hotline verifies that the person was *not* in the risk units of its scope, so no call is
    /// made for a person who truly was in one of them (while an area of it was active) on any
    /// day up to the call: a verification then never clears a true exposure, whatever the query
    /// day.
    fn write_verification(
        &self,
        id: &[u8; 18],
        e: &Exposure,
        rng: &mut ChaCha8Rng,
        out: &mut ChunkOut,
    ) {
        let (w, r, days) = (self.world, self.rates, self.days);
        // A traveller calls after the trip; a resident some day in the last week.
        let (verified_on, unit) = match (e.possible_trip, e.possible_home) {
            (Some((last, unit)), _) if rng.random_bool(r.hotline_traveller) => {
                (last.plus(rng.random_range(0..=3)).min(w.today), unit)
            }
            (None, Some((_, unit))) if rng.random_bool(r.hotline_resident) => {
                (w.today.plus(-rng.random_range(0..=6)), unit)
            }
            _ => return,
        };
        let scope = (!rng.random_bool(r.hotline_scope_all)).then_some(unit);
        if self.in_risk_unit_through(scope, verified_on) {
            return;
        }
        let b = out.row(Feed::Verifications);
        b.extend_from_slice(id);
        b.push(b',');
        days.push(b, verified_on);
        b.push(b',');
        if let Some(unit) = scope {
            push_region(b, unit);
        }
        b.extend_from_slice(b",hotline-");
        push_padded(b, rng.random_range(1..=40), 2);
        b.extend_from_slice(b",HL");
        let d = verified_on.date();
        use chrono::Datelike;
        push_padded(
            b,
            d.year() as u64 * 10_000 + u64::from(d.month()) * 100 + u64::from(d.day()),
            8,
        );
        push_padded(b, rng.random_range(0..1_000_000), 6);
        b.push(b'\n');
    }

    /// True when the truth lies in the risk unit of an area inside `scope` (`None` = any area)
    /// on a day up to `through` on which that area was active.
    fn in_risk_unit_through(&self, scope: Option<RegionCode>, through: Day) -> bool {
        let w = self.world;
        self.truth.iter().any(|s| {
            w.risk_areas.iter().any(|z| {
                let unit = z.unit();
                scope.is_none_or(|sc| sc.contains(unit))
                    && unit.contains(s.street)
                    && s.first.max(z.from) <= s.last.min(z.last_active(w.today)).min(through)
            })
        })
    }

    /// `from,to` with an empty `to` when open.
    fn period(&self, b: &mut Vec<u8>, from: Day, to: Option<Day>) {
        self.days.push(b, from);
        b.push(b',');
        if let Some(t) = to {
            self.days.push(b, t);
        }
    }
}

/// How a person's truth meets the risk areas.
#[derive(Clone, Copy, Debug, Default)]
struct Exposure {
    /// First day in a risk unit while it was active.
    definite: Option<Day>,
    /// First day in a risk area while it was active: living in it, or staying in its street.
    area: Option<Day>,
    /// The same, living there.
    home_area: Option<Day>,
    /// The latest day in the window on a trip in a risk city outside its unit, and the unit.
    possible_trip: Option<(Day, RegionCode)>,
    /// The same at home or on a visit inside the home city.
    possible_home: Option<(Day, RegionCode)>,
}

/// `dataset.csv`'s one row: the generated city is the data set's home region.
pub fn write_dataset(world: &World, out: &mut ChunkOut) {
    let b = out.row(Feed::Dataset);
    b.extend_from_slice(b"home,");
    push_region(b, world.places[0].city);
    b.push(b'\n');
}

/// Writes the world's risk areas.
pub fn write_risk_areas(world: &World, days: &DayText, out: &mut ChunkOut) {
    for z in &world.risk_areas {
        let b = out.row(Feed::RiskAreas);
        push_region(b, z.area);
        b.push(b',');
        b.extend_from_slice(z.level.as_str().as_bytes());
        b.push(b',');
        days.push(b, z.from);
        b.push(b',');
        if let Some(t) = z.to {
            days.push(b, t);
        }
        b.push(b'\n');
    }
}

/// Days until the next event when each day starts one with probability `p` (0, 1, 2, …).
fn geometric(rng: &mut ChaCha8Rng, p: f64) -> i32 {
    let u = 1.0 - rng.random::<f64>(); // (0, 1]
    (u.ln() / (1.0 - p).ln()).floor().min(100_000.0) as i32
}

/// An index drawn with probability proportional to `weights`.
fn weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, &w) in weights.iter().enumerate() {
        if u < w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}
