//! The world the synthetic persons live in: the home city, the cities they travel to (nearby and
//! far), the risk areas, and the bijections that turn a person's index into a unique resident ID
//! and phone numbers. Built once per run from the seed, shared read-only by every worker.

use std::ops::Range;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::domain::{Day, IdNumber, Phone, Precision, RegionCode, RiskLevel};
use crate::regions::RegionTable;

use super::{GenConfig, GenError, Rates};

/// Birth dates span this many days, ending [`MIN_AGE_DAYS`] before the query day, in data sets
/// of up to [`SMALL_ID_CAPACITY`] persons (every data set of earlier versions: their IDs stay).
const BIRTH_DAYS: u64 = 25_000;
/// Birth dates span this many days (100 years) in larger data sets.
const WIDE_BIRTH_DAYS: u64 = 36_500;
/// The youngest generated person is this many days old (16 years).
const MIN_AGE_DAYS: i32 = 5_844;
/// Distinct resident IDs of a data set of up to this many persons: a birth date and a 3-digit
/// sequence number.
const SMALL_ID_CAPACITY: u64 = BIRTH_DAYS * 1_000;
/// Distinct resident IDs the generator can derive (a city of 30 million fits).
pub const ID_CAPACITY: u64 = WIDE_BIRTH_DAYS * 1_000;
/// Multiplier of the person-index → ID bijection; coprime with both capacities (2^6·5^8 and
/// 2^5·5^6·73).
const ID_MULTIPLIER: u64 = 15_485_863;
/// The most phones one person can have; a phone's index is `person * PHONE_SLOTS + slot`.
pub const PHONE_SLOTS: u64 = 3;
/// Phone numbers 13000000000 … 19999999999.
const PHONE_FIRST: u64 = 13_000_000_000;
/// How many phone numbers there are from [`PHONE_FIRST`] on.
const PHONE_CAPACITY: u64 = 7_000_000_000;
/// Multiplier of the phone-index → number bijection; coprime with [`PHONE_CAPACITY`] (2^9·5^9·7).
const PHONE_MULTIPLIER: u64 = 2_654_435_761;

/// A city persons live in or travel to, with the parts of it the generator picks from.
#[derive(Clone, Debug)]
pub struct Place {
    /// The city code (4 digits).
    pub city: RegionCode,
    /// True for the home city and cities of the home city's part of the country.
    pub near: bool,
    /// Share of trips that go here (0 for the home city).
    pub weight: f64,
    /// The city's villages and communities: a range of [`World::communities`].
    communities: Range<usize>,
    /// Streets that are or contain a risk area.
    risk_streets: Vec<RegionCode>,
    /// The risk counties' villages and communities: ranges of [`World::communities`].
    risk_counties: Vec<Range<usize>>,
}

impl Place {
    /// True when the city holds a risk area.
    pub fn is_risk_city(&self) -> bool {
        !self.risk_counties.is_empty()
    }
}

/// A risk area designation (a row of `risk_areas.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskAreaSpec {
    /// The designated street (9 digits) or community (12 digits).
    pub area: RegionCode,
    /// Medium or high.
    pub level: RiskLevel,
    /// First active day.
    pub from: Day,
    /// Last active day when lifted; `None` = still active.
    pub to: Option<Day>,
}

impl RiskAreaSpec {
    /// The county that contains the area (DOMAIN.md §2).
    pub fn unit(&self) -> RegionCode {
        self.area.risk_unit()
    }

    /// The last day the area is active in the generated data (the query day when not lifted).
    pub fn last_active(&self, today: Day) -> Day {
        self.to.unwrap_or(today)
    }

    /// True when the area is active on `d`.
    pub fn active_on(&self, d: Day) -> bool {
        self.from <= d && self.to.is_none_or(|t| d <= t)
    }
}

/// Everything shared by all persons of one run.
#[derive(Debug)]
pub struct World {
    /// The query day the data is generated around.
    pub today: Day,
    /// The first day of the truth (and of every stay).
    pub first_day: Day,
    /// The region table the codes come from.
    pub table: &'static RegionTable,
    /// Every village and community code of the table, sorted.
    communities: Vec<RegionCode>,
    /// Every county code of the table, sorted (birthplaces in the IDs of people born elsewhere).
    counties: Vec<RegionCode>,
    /// `places[0]` is the home city, the others are travel destinations.
    pub places: Vec<Place>,
    /// Cumulative trip weights of `places`.
    cumulative: Vec<f64>,
    /// Every risk area, sorted by code.
    pub risk_areas: Vec<RiskAreaSpec>,
    /// Offset of the ID bijection (drawn from the seed).
    id_offset: u64,
    /// Distinct IDs of this data set's bijection.
    id_capacity: u64,
    /// Offset of the phone bijection (drawn from the seed).
    phone_offset: u64,
}

/// The index of the home city in [`World::places`].
pub const HOME: usize = 0;

impl World {
    /// Builds the world of `cfg`, drawing every choice from `rng`.
    pub fn new(cfg: &GenConfig, rates: &Rates, rng: &mut ChaCha8Rng) -> Result<World, GenError> {
        let city_error = |reason: String| GenError::City {
            code: cfg.city.to_string(),
            reason,
        };
        if cfg.city.precision() != Precision::City {
            return Err(city_error(format!(
                "is a {} code; pass a 4-digit city code such as 1101 (Beijing)",
                cfg.city.precision()
            )));
        }
        if cfg.persons > ID_CAPACITY {
            return Err(GenError::TooManyPersons {
                persons: cfg.persons,
                max: ID_CAPACITY,
            });
        }
        let id_capacity = if cfg.persons <= SMALL_ID_CAPACITY {
            SMALL_ID_CAPACITY
        } else {
            ID_CAPACITY
        };
        let table = RegionTable::bundled();
        if !table.contains(cfg.city) {
            return Err(city_error("is not in the bundled region table".into()));
        }
        let communities = table.codes_at(Precision::Community);
        let counties = table.codes_at(Precision::County);
        let range_of = |region: RegionCode| {
            let r = region.padded_range();
            communities.partition_point(|c| c.padded() < r.start)
                ..communities.partition_point(|c| c.padded() < r.end)
        };
        let home_range = range_of(cfg.city);
        if home_range.is_empty() {
            return Err(city_error(
                "has no streets with communities to live in".into(),
            ));
        }
        let today = cfg.today;
        let mut world = World {
            today,
            first_day: today.plus(-rates.truth_days + 1),
            table,
            communities: Vec::new(),
            counties,
            places: Vec::new(),
            cumulative: Vec::new(),
            risk_areas: Vec::new(),
            id_offset: rng.random_range(0..id_capacity),
            id_capacity,
            phone_offset: rng.random_range(0..PHONE_CAPACITY),
        };

        // Destinations: cities of the same part of the country (the first digit of the province
        // code: 1 North, 2 Northeast, 3 East, 4 Central-South, 5 Southwest, 6 Northwest) and
        // far ones, each group weighted by rank like real traffic (a few cities take most).
        let region_of = |c: RegionCode| c.padded() / 100_000_000_000;
        let home_part = region_of(cfg.city);
        let (mut near, mut far): (Vec<_>, Vec<_>) = table
            .codes_at(Precision::City)
            .into_iter()
            .filter(|&c| c != cfg.city && !table.name(c).contains("直辖"))
            .filter(|&c| !range_of(c).is_empty())
            .partition(|&c| region_of(c) == home_part);
        let near = choose(rng, &mut near, rates.near_cities);
        let far = choose(rng, &mut far, rates.far_cities);
        world.places.push(Place {
            city: cfg.city,
            near: true,
            weight: 0.0,
            communities: home_range,
            risk_streets: Vec::new(),
            risk_counties: Vec::new(),
        });
        for (group, share, is_near) in [
            (&near, rates.near_trip_share, true),
            (&far, 1.0 - rates.near_trip_share, false),
        ] {
            let zipf: f64 = (1..=group.len()).map(|k| 1.0 / k as f64).sum();
            for (k, &city) in group.iter().enumerate() {
                world.places.push(Place {
                    city,
                    near: is_near,
                    weight: share / (k + 1) as f64 / zipf,
                    communities: range_of(city),
                    risk_streets: Vec::new(),
                    risk_counties: Vec::new(),
                });
            }
        }
        let mut total = 0.0;
        world.cumulative = world
            .places
            .iter()
            .map(|p| {
                total += p.weight;
                total
            })
            .collect();

        // Risk cities: home, the busiest nearby destination, the two busiest far ones; only
        // cities with a county level (in Dongguan the unit would be the whole city).
        let has_counties = |p: &Place| communities[p.communities.start].risk_unit() != p.city;
        let mut risk_places = vec![HOME];
        for want_near in [true, false] {
            let want = if want_near {
                rates.near_risk_cities
            } else {
                rates.far_risk_cities
            };
            risk_places.extend(
                (1..world.places.len())
                    .filter(|&i| world.places[i].near == want_near)
                    .filter(|&i| has_counties(&world.places[i]))
                    .take(want),
            );
        }
        for &pi in &risk_places {
            let place = &world.places[pi];
            // The counties of the city, in code order.
            let mut city_counties: Vec<RegionCode> = Vec::new();
            for c in &communities[place.communities.clone()] {
                let county = c.risk_unit();
                if county != place.city && city_counties.last() != Some(&county) {
                    city_counties.push(county);
                }
            }
            if city_counties.is_empty() {
                // A home city without counties (Dongguan): its streets lie directly under it and
                // the city itself is the risk unit.
                city_counties.push(place.city);
            }
            let k = if pi == HOME {
                2
            } else {
                rng.random_range(1..=2)
            };
            let chosen = choose(rng, &mut city_counties, k);
            let mut risk_streets = Vec::new();
            let mut risk_counties = Vec::new();
            for (ci, county) in chosen.into_iter().enumerate() {
                let range = range_of(county);
                // In the home city the first county is still under designation, the second
                // lifted; elsewhere a county is lifted at the configured rate.
                let lifted = if pi == HOME {
                    ci == 1
                } else {
                    rng.random_bool(rates.lifted_county_share)
                };
                let areas = rng.random_range(1..=rates.max_areas_per_county);
                for _ in 0..areas {
                    let community = communities[rng.random_range(range.clone())];
                    let area = if rng.random_bool(rates.community_area_share) {
                        community
                    } else {
                        community.truncate(Precision::Street)
                    };
                    if world
                        .risk_areas
                        .iter()
                        .any(|z| z.area.contains(area) || area.contains(z.area))
                    {
                        continue;
                    }
                    let (from, to) = if lifted {
                        let from = today.plus(-rng.random_range(10..=rates.max_area_age_days));
                        let to = from.plus(rng.random_range(5..=14)).min(today.plus(-1));
                        (from, Some(to))
                    } else {
                        (
                            today.plus(-rng.random_range(2..=rates.max_area_age_days)),
                            None,
                        )
                    };
                    let level = if rng.random_bool(rates.high_risk_share) {
                        RiskLevel::High
                    } else {
                        RiskLevel::Medium
                    };
                    world.risk_areas.push(RiskAreaSpec {
                        area,
                        level,
                        from,
                        to,
                    });
                    risk_streets.push(area.truncate(Precision::Street));
                }
                risk_counties.push(range);
            }
            risk_streets.sort_unstable();
            risk_streets.dedup();
            let place = &mut world.places[pi];
            place.risk_streets = risk_streets;
            place.risk_counties = risk_counties;
        }
        world.risk_areas.sort_by_key(|z| z.area);
        world.communities = communities;
        Ok(world)
    }

    /// A random village or community of the place: where a person lives (home city) or stays.
    pub fn community_in(&self, place: usize, rng: &mut ChaCha8Rng) -> RegionCode {
        self.communities[rng.random_range(self.places[place].communities.clone())]
    }

    /// A random county (a birthplace elsewhere in the country).
    pub fn any_county(&self, rng: &mut ChaCha8Rng) -> RegionCode {
        self.counties[rng.random_range(0..self.counties.len())]
    }

    /// A random travel destination, by weight (never the home city).
    pub fn pick_destination(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.cumulative.last().expect("the home city is a place");
        let u = rng.random::<f64>() * total;
        self.cumulative
            .partition_point(|&c| c <= u)
            .clamp(1, self.places.len() - 1)
    }

    /// The street a traveller to `place` stays in: in a risk city, a risk street or another street
    /// of a risk county at the configured shares, else any street (by its number of communities).
    pub fn pick_street(&self, place: usize, rates: &Rates, rng: &mut ChaCha8Rng) -> RegionCode {
        let p = &self.places[place];
        if p.is_risk_city() {
            let u = rng.random::<f64>();
            if u < rates.risk_street_share {
                return p.risk_streets[rng.random_range(0..p.risk_streets.len())];
            }
            if u < rates.risk_street_share + rates.risk_county_share {
                let county = &p.risk_counties[rng.random_range(0..p.risk_counties.len())];
                return self.communities[rng.random_range(county.clone())]
                    .truncate(Precision::Street);
            }
        }
        self.community_in(place, rng).truncate(Precision::Street)
    }

    /// The resident ID of person `index`, born in the county whose 6-digit code is `prefix`.
    ///
    /// The birth date and sequence number come from a bijection of the index, so two persons
    /// never share an ID whatever their prefixes.
    pub fn id_number(&self, index: u64, prefix: u64) -> IdNumber {
        let j = bijection(index, ID_MULTIPLIER, self.id_offset, self.id_capacity);
        let birth = self.today.plus(-MIN_AGE_DAYS - (j / 1_000) as i32).date();
        use chrono::Datelike;
        let yyyymmdd =
            birth.year() as u64 * 10_000 + u64::from(birth.month()) * 100 + u64::from(birth.day());
        IdNumber::from_body(prefix * 100_000_000_000 + yyyymmdd * 1_000 + j % 1_000)
    }

    /// The phone number in slot `slot` of person `index` (unique across the data set).
    pub fn phone(&self, index: u64, slot: u64) -> Phone {
        debug_assert!(slot < PHONE_SLOTS);
        let k = index * PHONE_SLOTS + slot;
        Phone::from_number(
            PHONE_FIRST + bijection(k, PHONE_MULTIPLIER, self.phone_offset, PHONE_CAPACITY),
        )
    }
}

/// `(i * a + b) mod m`: a bijection of `0..m` when `a` is coprime with `m`.
fn bijection(i: u64, a: u64, b: u64, m: u64) -> u64 {
    ((u128::from(i) * u128::from(a) + u128::from(b)) % u128::from(m)) as u64
}

/// `k` distinct items of `items` in random order (a partial Fisher–Yates shuffle).
fn choose<T: Copy>(rng: &mut ChaCha8Rng, items: &mut [T], k: usize) -> Vec<T> {
    let k = k.min(items.len());
    for i in 0..k {
        let j = rng.random_range(i..items.len());
        items.swap(i, j);
    }
    items[..k].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }

    #[test]
    fn the_bijections_multipliers_are_coprime_with_their_moduli() {
        assert_eq!(gcd(ID_MULTIPLIER, SMALL_ID_CAPACITY), 1);
        assert_eq!(gcd(ID_MULTIPLIER, ID_CAPACITY), 1);
        assert_eq!(gcd(PHONE_MULTIPLIER, PHONE_CAPACITY), 1);
        let mut seen: Vec<u64> = (0..1000).map(|i| bijection(i, 7, 3, 1000)).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }
}
