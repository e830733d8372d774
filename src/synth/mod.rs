//! The synthetic data generator behind `healthcode gen`: a city's residents over the real region
//! table, their true itineraries (`truth.csv`) and every feed of DOMAIN.md §3 as the real sources
//! would have recorded them — telecom at city precision, flow surveys at street precision, and so
//! on. `docs/synthetic-data.md` describes the world and its rates.
//!
//! Layout: this file holds the configuration, the rates and the driver (chunks of persons
//! generated on every core, written in order); `world.rs` the cities and risk areas; `person.rs`
//! one person's life; `write.rs` the files.
//!
//! Invariant: the output depends only on the configuration (persons, seed, query day, home city),
//! never on the clock, the number of cores or hash iteration order.

mod person;
mod world;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::domain::{Day, RegionCode};

pub use world::{ID_CAPACITY, Place, RiskAreaSpec, World};
pub use write::Feed;

use write::{ChunkOut, DayText, Output};

/// The query day the data is generated around unless `--today` says otherwise: a fixed day, so
/// that the output never depends on the clock.
pub const DEFAULT_TODAY: &str = "2022-05-10";
/// The home city unless `--city` says otherwise (Beijing).
pub const DEFAULT_CITY: &str = "1101";
/// Persons per chunk: the unit of parallel work and of the random streams.
const CHUNK: u64 = 4_096;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// Number of residents.
    pub persons: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// The query day the data is generated around.
    pub today: Day,
    /// The home city (a 4-digit code).
    pub city: RegionCode,
}

/// Every rate and size of the generated world, in one place (documented with their effects in
/// `docs/synthetic-data.md`). Probabilities are per person unless said otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct Rates {
    // --- time ---
    /// Days of truth, ending on the query day (today-30 … today for 31).
    pub truth_days: i32,

    // --- the world ---
    /// Destination cities in the home city's part of the country.
    pub near_cities: usize,
    /// Destination cities elsewhere.
    pub far_cities: usize,
    /// Share of trips that go to a nearby city.
    pub near_trip_share: f64,
    /// Nearby destination cities with risk areas (the busiest ones).
    pub near_risk_cities: usize,
    /// Far destination cities with risk areas (the busiest ones).
    pub far_risk_cities: usize,
    /// Risk areas per risk county: 1 up to this.
    pub max_areas_per_county: u32,
    /// Share of risk areas designated at community (12-digit) rather than street level.
    pub community_area_share: f64,
    /// Share of risk areas designated `high` (the others `medium`).
    pub high_risk_share: f64,
    /// Share of destination risk counties whose areas are lifted (`to` set).
    pub lifted_county_share: f64,
    /// A risk area was designated at most this many days before the query day.
    pub max_area_age_days: i32,

    // --- itineraries ---
    /// Share of persons who start a trip to another city in any 14 days.
    pub trips_per_14_days: f64,
    /// Share of persons who spend 1–3 days in another street of the home city in any 14 days.
    pub local_visits_per_14_days: f64,
    /// Relative weights of trip lengths 1, 2, … days.
    pub trip_days: [f64; 10],
    /// Share of trips (of 2+ days) that move to a second street of the same city.
    pub second_street_share: f64,
    /// Share of trips (of 2+ days) that go on to a second city.
    pub second_city_share: f64,
    /// Share of stays in a risk city that are in a risk street.
    pub risk_street_share: f64,
    /// Share of stays in a risk city that are in another street of a risk county.
    pub risk_county_share: f64,
    /// Share of persons whose ID carries a birthplace outside the home city.
    pub born_elsewhere_share: f64,

    // --- phones ---
    /// Shares of persons with 1, 2 and 3 phones.
    pub phone_count: [f64; 3],
    /// Share of additional phones that are old numbers no longer bound.
    pub old_phone_share: f64,
    /// Share of persons with an old number whose current phone replaced it (bound around the
    /// day the old one was unbound); the other old numbers were just unbound.
    pub replaced_share: f64,
    /// Relative weights of the channels wechat, alipay, baidu, bjtong.
    pub channel_weights: [f64; 4],
    /// Share of phones bound through a second channel.
    pub second_channel: f64,
    /// Share of phones bound through a third channel.
    pub third_channel: f64,
    /// Share of current bindings that were unbound once and bound again.
    pub rebind: f64,
    /// Share of primary phones whose status is `long_off`.
    pub long_off_primary: f64,
    /// Share of second and third phones whose status is `long_off`.
    pub long_off_other: f64,

    // --- person stays ---
    /// Share of persons with a flow survey.
    pub flow_survey: f64,
    /// Share of persons who were in a risk unit while it was active with a flow survey.
    pub flow_survey_exposed: f64,
    /// Share of travellers (a trip in the window) who self-report their trip.
    pub self_report: f64,
    /// Share of self-reports at county rather than street precision.
    pub self_report_county: f64,

    // --- arrivals ---
    /// Share of returns with a ticket or entry record.
    pub arrival_recorded: f64,
    /// Share of persons away on the query day who booked their return already.
    pub future_booking: f64,
    /// Share of arrival origins at county rather than city precision.
    pub arrival_county_origin: f64,
    /// Share of arrivals from a nearby city by rail (the others by road).
    pub near_rail_share: f64,
    /// Share of arrivals from a far city by air (the others by rail).
    pub far_air_share: f64,
    /// Share of arrivals from a risk city (or unit) that register with the community.
    pub register_risky: f64,
    /// Share of other arrivals that register anyway.
    pub register_other: f64,
    /// Share of registering future arrivals who registered before travelling.
    pub pre_register: f64,

    // --- hotline ---
    /// Share of travellers with only a city-level (possible) match in the window who called.
    pub hotline_traveller: f64,
    /// Share of residents with only a city-level match in the home city who called.
    pub hotline_resident: f64,
    /// Share of verifications with an empty scope (all regions) rather than the risk unit.
    pub hotline_scope_all: f64,

    // --- CDC and community ---
    /// CDC category shares (confirmed, suspected, asymptomatic, close contact, secondary contact)
    /// of persons who were in a risk area while it was active (living in it, or staying in its
    /// street away from home).
    pub cdc_area: [f64; 5],
    /// The same for persons who were elsewhere in a risk unit while it was active.
    pub cdc_unit: [f64; 5],
    /// The same for everyone else.
    pub cdc_other: [f64; 5],
    /// Share of confirmed cases still open (no `to`); the others end after 21 days.
    pub confirmed_open: f64,
    /// Share of residents of a risk area (living in the designated street or community) put in
    /// home quarantine.
    pub quarantine_home_area: f64,
    /// Share of travellers back from a risk unit put in home quarantine.
    pub quarantine_after_unit: f64,
    /// Share of travellers back from a risk city (outside the unit) under health monitoring.
    pub monitoring_after_city: f64,
}

impl Rates {
    /// The rates `healthcode gen` uses.
    pub const DEFAULT: Rates = Rates {
        truth_days: 31,

        near_cities: 8,
        far_cities: 12,
        near_trip_share: 0.6,
        near_risk_cities: 1,
        far_risk_cities: 2,
        max_areas_per_county: 3,
        community_area_share: 0.5,
        high_risk_share: 0.4,
        lifted_county_share: 0.35,
        max_area_age_days: 28,

        trips_per_14_days: 0.05,
        local_visits_per_14_days: 0.04,
        trip_days: [10.0, 16.0, 16.0, 13.0, 10.0, 8.0, 7.0, 6.0, 5.0, 4.0],
        second_street_share: 0.15,
        second_city_share: 0.06,
        risk_street_share: 0.12,
        risk_county_share: 0.10,
        born_elsewhere_share: 0.3,

        phone_count: [0.72, 0.22, 0.06],
        old_phone_share: 0.45,
        replaced_share: 0.7,
        channel_weights: [0.55, 0.30, 0.05, 0.10],
        second_channel: 0.25,
        third_channel: 0.05,
        rebind: 0.03,
        long_off_primary: 0.01,
        long_off_other: 0.10,

        flow_survey: 0.05,
        flow_survey_exposed: 0.85,
        self_report: 0.25,
        self_report_county: 0.5,

        arrival_recorded: 0.85,
        future_booking: 0.7,
        arrival_county_origin: 0.3,
        near_rail_share: 0.6,
        far_air_share: 0.55,
        register_risky: 0.8,
        register_other: 0.03,
        pre_register: 0.4,

        hotline_traveller: 0.3,
        hotline_resident: 0.005,
        hotline_scope_all: 0.4,

        cdc_area: [0.03, 0.02, 0.04, 0.20, 0.10],
        cdc_unit: [0.000_5, 0.000_5, 0.001, 0.004, 0.008],
        cdc_other: [0.000_02, 0.000_05, 0.000_03, 0.000_3, 0.000_6],
        confirmed_open: 0.5,
        quarantine_home_area: 0.5,
        quarantine_after_unit: 0.6,
        monitoring_after_city: 0.3,
    };
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenError {
    /// Reading or writing a file failed.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        cause: std::io::Error,
    },
    /// The output path exists and is not a directory.
    #[error("{} exists and is not a directory; pass a directory to --out", .0.display())]
    NotADirectory(PathBuf),
    /// The output directory holds files a previous run did not write.
    #[error(
        "{} holds files gen did not write ({}); pick another --out, or pass --force to replace \
         gen's own files in it (the others are left alone)",
        dir.display(),
        entries.join(", ")
    )]
    NotGenOutput {
        /// The directory.
        dir: PathBuf,
        /// The entries that are not gen's.
        entries: Vec<String>,
    },
    /// The home city cannot be used.
    #[error("--city {code} {reason}")]
    City {
        /// The code given.
        code: String,
        /// Why not.
        reason: String,
    },
    /// More persons than distinct IDs.
    #[error("--persons {persons} is more than the {max} distinct resident IDs gen can derive")]
    TooManyPersons {
        /// Persons asked for.
        persons: u64,
        /// The most there can be.
        max: u64,
    },
}

/// What a run wrote.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Persons generated.
    pub persons: u64,
    /// Rows (without the header) and bytes (with it) per file, in [`Feed::ALL`] order.
    pub files: Vec<(Feed, u64, u64)>,
    /// The risk areas of the world.
    pub risk_areas: Vec<RiskAreaSpec>,
    /// The travel destinations (city codes), busiest first within nearby and far.
    pub destinations: Vec<RegionCode>,
}

/// Generates the data set of `cfg` into `dir`, calling `progress` with the number of persons
/// written so far.
///
/// `dir` is created when missing. An existing directory must be empty or hold only files of a
/// previous run, unless `force` is set (even then only gen's own file names are replaced). Every
/// file is written under a temporary name and renamed once all are complete: no file is ever
/// half-written, and a run that fails before the end leaves the previous files as they were.
pub fn generate(
    cfg: &GenConfig,
    dir: &Path,
    force: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, GenError> {
    let rates = &Rates::DEFAULT;
    // Refuse a foreign directory before the slower work of building the world.
    Output::check(dir, force)?;
    let mut world_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let world = World::new(cfg, rates, &mut world_rng)?;
    let days = DayText::new(world.today.plus(-4_000), world.today.plus(60));
    let mut output = Output::create(dir, force)?;

    let mut rows = [0u64; Feed::ALL.len()];
    let mut head = ChunkOut::default();
    person::write_dataset(&world, &mut head);
    person::write_risk_areas(&world, &days, &mut head);
    output.write_chunk(&head)?;
    for (r, n) in rows.iter_mut().zip(head.rows) {
        *r += n;
    }

    let chunks = cfg.persons.div_ceil(CHUNK);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(16) as u64;
    let workers = workers.clamp(1, chunks.max(1));
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let pool: Mutex<Vec<ChunkOut>> = Mutex::new(Vec::new());
    let result = std::thread::scope(|scope| -> Result<(), GenError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, ChunkOut)>(2 * workers as usize);
        for _ in 0..workers {
            let tx = tx.clone();
            let (world, days, next, stop, pool) = (&world, &days, &next, &stop, &pool);
            scope.spawn(move || {
                let mut persons = person::PersonGen::new(world, rates, days);
                loop {
                    let c = next.fetch_add(1, Ordering::Relaxed);
                    if c >= chunks || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut out = pool.lock().expect("pool lock").pop().unwrap_or_default();
                    out.clear();
                    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
                    rng.set_stream(c + 1);
                    for i in c * CHUNK..((c + 1) * CHUNK).min(cfg.persons) {
                        persons.person(i, &mut rng, &mut out);
                    }
                    if tx.send((c, out)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut written = 0u64;
        for (c, out) in rx.iter() {
            pending.insert(c, out);
            while let Some(out) = pending.remove(&written) {
                if let Err(e) = output.write_chunk(&out) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                for (r, n) in rows.iter_mut().zip(out.rows) {
                    *r += n;
                }
                written += 1;
                progress((written * CHUNK).min(cfg.persons));
                pool.lock().expect("pool lock").push(out);
            }
        }
        Ok(())
    });
    result?;
    let bytes = output.bytes();
    output.commit()?;
    Ok(Summary {
        persons: cfg.persons,
        files: Feed::ALL
            .iter()
            .map(|&f| (f, rows[f.index()], bytes[f.index()]))
            .collect(),
        risk_areas: world.risk_areas.clone(),
        destinations: world.places[1..].iter().map(|p| p.city).collect(),
    })
}
