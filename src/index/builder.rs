//! Builds an index file from people's records: pseudonymised keys, varint person records, the
//! region dictionary, risk areas and roaring bitmaps, laid out section by section as
//! docs/format.md describes, then written atomically.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use roaring::RoaringBitmap;

use super::format::*;
use super::record::Encoder;
use crate::domain::{
    CdcCategory, CommunityStatus, Day, IdNumber, PersonRecords, RegionCode, RiskArea,
};
use crate::key::Key;
use crate::regions::RegionTable;

/// What goes into an index.
pub struct BuildInput<'a> {
    /// Every known person with their records.
    pub people: Vec<(IdNumber, &'a PersonRecords)>,
    /// The risk area designations.
    pub risk_areas: &'a [RiskArea],
    /// Names (and ancestors) of the regions the records use.
    pub regions: &'a RegionTable,
    /// The data date; `None` = the latest day observed in the records.
    pub data_as_of: Option<Day>,
    /// Persons known only by their keyed hash (live records of people absent from the feeds).
    pub hashed: Vec<(u64, &'a PersonRecords)>,
    /// The live-update log folded into this index: (log id, last sequence folded).
    pub folded: Option<(u64, u64)>,
    /// The deployment's home region (DOMAIN.md §2), recorded in the index.
    pub home: Option<RegionCode>,
}

/// Figures of a finished build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildStats {
    /// Persons indexed.
    pub persons: u64,
    /// Total file size in bytes.
    pub bytes: u64,
    /// Bytes of each section.
    pub sections: Vec<(SectionId, u64)>,
    /// The data date written.
    pub data_as_of: Day,
    /// Distinct regions in the dictionary.
    pub regions: u64,
    /// (region, day) bitmaps written.
    pub stay_bitmaps: u64,
    /// The home region recorded.
    pub home: Option<RegionCode>,
}

impl BuildStats {
    /// File bytes per person.
    pub fn bytes_per_person(&self) -> f64 {
        self.bytes as f64 / self.persons.max(1) as f64
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two document numbers hash alike under this key (about one chance in 10^5 at 30 million
    /// persons): a new key resolves it.
    #[error("two document numbers ({0} and {1}) have the same keyed hash: build with another key")]
    HashCollision(String, String),
    /// The same document number was given twice.
    #[error("document number {0} is listed twice")]
    DuplicatePerson(String),
    /// Person records exceed the 4 GiB the u32 offsets address.
    #[error("person records exceed 4 GiB ({0} bytes)")]
    TooLarge(u64),
    /// Writing the file failed.
    #[error("writing {path}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        cause: std::io::Error,
    },
}

/// One region's stay bitmaps, one per day from `first` on. Persons are added in ascending id
/// order, so each addition lands at the end of a bitmap; a stay costs one lookup of its
/// region, not a hash-map entry per day.
#[derive(Default)]
struct DayBitmaps {
    first: i32,
    days: Vec<RoaringBitmap>,
}

impl DayBitmaps {
    /// The bitmaps of days `from` … `to` (inclusive, `from <= to`), made when missing.
    fn days(&mut self, from: Day, to: Day) -> &mut [RoaringBitmap] {
        if self.days.is_empty() {
            self.first = from.0;
        } else if from.0 < self.first {
            let more = (self.first - from.0) as usize;
            self.days
                .splice(0..0, std::iter::repeat_with(RoaringBitmap::new).take(more));
            self.first = from.0;
        }
        let (a, b) = ((from.0 - self.first) as usize, (to.0 - self.first) as usize);
        if self.days.len() <= b {
            self.days.resize_with(b + 1, RoaringBitmap::new);
        }
        &mut self.days[a..=b]
    }

    /// Every day with at least one person, in day order.
    fn nonempty(&self) -> impl Iterator<Item = (Day, &RoaringBitmap)> {
        (self.first..)
            .map(Day)
            .zip(&self.days)
            .filter(|(_, b)| !b.is_empty())
    }
}

/// The latest day `p`'s records observe (what dates a build's data), if any.
pub fn latest_observed(p: &PersonRecords) -> Option<Day> {
    let mut latest = None;
    observed_days(p, |d, observed| {
        if observed {
            latest = latest.max(Some(d));
        }
    });
    latest
}

/// Every day a record of `p` carries, for the base day and the data date.
fn observed_days(p: &PersonRecords, mut f: impl FnMut(Day, bool)) {
    // (day, observed): `observed` days count for the data date; planned ones (travel days,
    // period ends) only for the base.
    let stays = p
        .stays
        .iter()
        .chain(p.phones.iter().flat_map(|ph| ph.stays.iter()));
    for s in stays {
        f(s.first_day, true);
        f(s.last_day, true);
    }
    for ph in &p.phones {
        for b in &ph.bindings {
            f(b.bound_on, true);
            if let Some(u) = b.unbound_on {
                f(u, false);
            }
        }
        for s in &ph.statuses {
            f(s.as_of, true);
        }
    }
    for r in &p.cdc {
        f(r.period.from, true);
    }
    for r in &p.community {
        f(r.period.from, true);
    }
    for a in &p.arrivals {
        f(a.travel_day, false);
        f(a.booked_on, true);
    }
    for r in &p.registrations {
        f(r.registered_on, true);
    }
    for v in &p.verifications {
        f(v.verified_on, true);
    }
}

/// Who a person of a build is: a document number, or only a keyed hash (live records of a
/// person absent from the feeds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ident {
    /// Known by document number (hashed under the build's key).
    Id(IdNumber),
    /// Known only by keyed hash.
    Hash(u64),
}

/// The persons of a build, numbered `0 .. count()` in any order, each put together on demand:
/// a build holds one person's records at a time, never all of them.
pub trait PersonSource {
    /// The number of persons.
    fn count(&self) -> usize;
    /// Who person `i` is.
    fn ident(&self, i: usize) -> Ident;
    /// Puts person `i`'s records into `out`, replacing what it held.
    fn fill(&self, i: usize, out: &mut PersonRecords);
}

impl PersonSource for BuildInput<'_> {
    fn count(&self) -> usize {
        self.people.len() + self.hashed.len()
    }

    fn ident(&self, i: usize) -> Ident {
        match self.people.get(i) {
            Some(&(id, _)) => Ident::Id(id),
            None => Ident::Hash(self.hashed[i - self.people.len()].0),
        }
    }

    fn fill(&self, i: usize, out: &mut PersonRecords) {
        let p = match self.people.get(i) {
            Some(&(_, p)) => p,
            None => self.hashed[i - self.people.len()].1,
        };
        out.clone_from(p);
    }
}

/// Everything of a build but its persons.
#[derive(Clone, Copy)]
pub struct BuildSettings<'a> {
    /// The risk area designations.
    pub risk_areas: &'a [RiskArea],
    /// Names (and ancestors) of the regions the records use.
    pub regions: &'a RegionTable,
    /// The data date; `None` = the latest day observed in the records.
    pub data_as_of: Option<Day>,
    /// The live-update log folded into this index: (log id, last sequence folded).
    pub folded: Option<(u64, u64)>,
    /// The deployment's home region (DOMAIN.md §2), recorded in the index.
    pub home: Option<RegionCode>,
}

/// Builds the bytes of an index file.
pub fn build_bytes(input: &BuildInput<'_>, key: &Key) -> Result<(Vec<u8>, BuildStats), BuildError> {
    let settings = BuildSettings {
        risk_areas: input.risk_areas,
        regions: input.regions,
        data_as_of: input.data_as_of,
        folded: input.folded,
        home: input.home,
    };
    build_from(input, &settings, key)
}

/// Builds the bytes of an index file from persons put together one at a time.
pub fn build_from(
    source: &dyn PersonSource,
    input: &BuildSettings<'_>,
    key: &Key,
) -> Result<(Vec<u8>, BuildStats), BuildError> {
    // Persons in keyed-hash order: position = person id.
    let hash = |i: usize| match source.ident(i) {
        Ident::Id(id) => key.hash_id(id),
        Ident::Hash(h) => h,
    };
    let mut people: Vec<(u64, u32)> = (0..source.count()).map(|i| (hash(i), i as u32)).collect();
    people.sort_unstable();
    if let Some(w) = people.windows(2).find(|w| w[0].0 == w[1].0) {
        // The persons sharing the first repeated hash, as a sort by (hash, document number)
        // would list them.
        let mut same: Vec<Option<IdNumber>> = people
            .iter()
            .filter(|e| e.0 == w[0].0)
            .map(|e| match source.ident(e.1 as usize) {
                Ident::Id(id) => Some(id),
                Ident::Hash(_) => None,
            })
            .collect();
        same.sort_unstable();
        let name = |e: Option<IdNumber>| {
            e.map_or_else(|| format!("keyed hash {:016x}", w[0].0), |id| id.masked())
        };
        return Err(match (same[0], same[1]) {
            (Some(a), Some(b)) if a != b => BuildError::HashCollision(a.masked(), b.masked()),
            _ => BuildError::DuplicatePerson(name(same[0])),
        });
    }
    let n = people.len();
    let mut scratch = PersonRecords::default();

    // Days: base = the earliest day any record carries; data date = the latest observed day.
    let mut base = i32::MAX;
    let mut latest = i32::MIN;
    // Region dictionary: every region used, most used first (shorter varints), plus ancestors.
    let mut uses: HashMap<RegionCode, u64> = HashMap::new();
    let mut use_region = |r: RegionCode, w: u64| {
        for a in r.lineage() {
            *uses.entry(a).or_default() += if a == r { w } else { 0 };
        }
    };
    for i in 0..n {
        source.fill(i, &mut scratch);
        let p = &scratch;
        observed_days(p, |d, observed| {
            base = base.min(d.0);
            if observed {
                latest = latest.max(d.0);
            }
        });
        for s in p
            .stays
            .iter()
            .chain(p.phones.iter().flat_map(|ph| ph.stays.iter()))
        {
            use_region(s.region, 1);
        }
        for a in &p.arrivals {
            use_region(a.origin, 1);
        }
        for v in &p.verifications {
            if let Some(s) = v.scope {
                use_region(s, 1);
            }
        }
    }
    for z in input.risk_areas {
        base = base.min(z.period.from.0);
        latest = latest.max(z.period.from.0);
    }
    if base == i32::MAX {
        base = 0;
    }
    let data_as_of =
        input
            .data_as_of
            .unwrap_or(Day(if latest == i32::MIN { base } else { latest }));

    for z in input.risk_areas {
        use_region(z.area, 0);
        use_region(z.area.risk_unit(), 0);
    }
    let mut dict: Vec<(RegionCode, u64)> = uses.into_iter().collect();
    dict.sort_unstable_by_key(|&(r, c)| (std::cmp::Reverse(c), r));
    let index_of: HashMap<RegionCode, u32> = dict
        .iter()
        .enumerate()
        .map(|(i, (r, _))| (*r, i as u32))
        .collect();
    let region_index = |r: RegionCode| index_of[&r];

    // Person records, bitmaps.
    let enc = Encoder {
        base: Day(base),
        region_index: &region_index,
    };
    let mut persons = Vec::with_capacity(n * 40);
    let mut offsets = Vec::with_capacity((n + 1) * 4);
    let mut stay_bitmaps: Vec<DayBitmaps> = Vec::new();
    stay_bitmaps.resize_with(dict.len(), DayBitmaps::default);
    let mut cdc_bitmaps = vec![RoaringBitmap::new(); CdcCategory::ALL.len()];
    let mut community_bitmaps = vec![RoaringBitmap::new(); CommunityStatus::ALL.len()];
    for (pid, &(_, i)) in people.iter().enumerate() {
        let pid = pid as u32;
        source.fill(i as usize, &mut scratch);
        let p = &scratch;
        let at =
            u32::try_from(persons.len()).map_err(|_| BuildError::TooLarge(persons.len() as u64))?;
        put_u32(&mut offsets, at);
        enc.encode(p, &mut persons);
        for s in &p.stays {
            let days = stay_bitmaps[region_index(s.region) as usize].days(s.first_day, s.last_day);
            days.iter_mut().for_each(|b| {
                b.insert(pid);
            });
        }
        for ph in &p.phones {
            for s in &ph.stays {
                let days =
                    stay_bitmaps[region_index(s.region) as usize].days(s.first_day, s.last_day);
                for (d, b) in (s.first_day.0..).map(Day).zip(days) {
                    // A phone's stay counts for the person on the days a binding covers.
                    if ph.bindings.iter().any(|b| b.bound_on_day(d)) {
                        b.insert(pid);
                    }
                }
            }
        }
        for r in &p.cdc {
            cdc_bitmaps[r.category as usize].insert(pid);
        }
        for r in &p.community {
            community_bitmaps[r.status as usize].insert(pid);
        }
    }
    let end =
        u32::try_from(persons.len()).map_err(|_| BuildError::TooLarge(persons.len() as u64))?;
    put_u32(&mut offsets, end);

    // Sections.
    let bucket_bits = bucket_bits(n as u64);
    let mut meta = Vec::new();
    put_u32(&mut meta, bucket_bits);
    put_u32(&mut meta, 0);
    let (log_id, folded_through) = input.folded.unwrap_or((0, 0));
    put_u64(&mut meta, log_id);
    put_u64(&mut meta, folded_through);
    // Format 4: the home region, only when there is one, so that a file without keeps the
    // 24-byte meta readers of format 3 read (with one, they must refuse it: they would answer
    // without the home region's rule).
    if let Some(home) = input.home {
        put_u64(&mut meta, home.padded());
    }
    let readable_from = if input.home.is_some() {
        HOME_READABLE_FROM
    } else {
        WRITTEN_READABLE_FROM
    };

    // Each person's key with its record's offset beside it, so that a lookup finds both in one
    // cache line; then a last entry holding the records' end (its key is 0).
    let mut keyed = Vec::with_capacity((n + 1) * ENTRY_LEN);
    for (i, (h, _)) in people.iter().enumerate() {
        put_u64(&mut keyed, *h);
        keyed.extend_from_slice(&offsets[i * 4..i * 4 + 4]);
    }
    put_u64(&mut keyed, 0);
    keyed.extend_from_slice(&offsets[n * 4..]);
    drop(offsets);
    let mut buckets = Vec::new();
    let nb = 1u64 << bucket_bits;
    let mut i = 0usize;
    for b in 0..=nb {
        while i < n && (b == nb || bucket_of(people[i].0, bucket_bits) < b) {
            i += 1;
        }
        put_u32(&mut buckets, i as u32);
    }

    let mut regions = Vec::new();
    put_u32(&mut regions, dict.len() as u32);
    put_u32(&mut regions, 0);
    for (r, _) in &dict {
        put_u64(&mut regions, r.padded());
    }
    let mut names = Vec::new();
    for (r, _) in &dict {
        put_u32(&mut regions, names.len() as u32);
        names.extend_from_slice(input.regions.name(*r).as_bytes());
    }
    put_u32(&mut regions, names.len() as u32);
    regions.extend_from_slice(&names);

    let mut risk = Vec::new();
    put_u32(&mut risk, input.risk_areas.len() as u32);
    put_u32(&mut risk, 0);
    for z in input.risk_areas {
        put_u64(&mut risk, z.area.padded());
        put_i32(&mut risk, z.period.from.0);
        put_i32(&mut risk, z.period.to.map_or(OPEN_END, |t| t.0));
        risk.push(z.level as u8);
        risk.extend_from_slice(&[0; 7]);
    }

    let mut entries: Vec<((u64, i32), u32, &RoaringBitmap)> = stay_bitmaps
        .iter()
        .enumerate()
        .flat_map(|(r, days)| {
            let padded = dict[r].0.padded();
            days.nonempty()
                .map(move |(d, b)| ((padded, d.0), r as u32, b))
        })
        .collect();
    entries.sort_unstable_by_key(|e| e.0);
    let stay_section = bitmap_section(entries.iter().map(|((_, d), r, b)| (*r, *d, *b)));
    let status_section = bitmap_section(
        cdc_bitmaps
            .iter()
            .enumerate()
            .map(|(i, b)| (0u32, i as i32, b))
            .chain(
                community_bitmaps
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (1u32, i as i32, b)),
            ),
    );

    let sections: Vec<(SectionId, Vec<u8>)> = vec![
        (SectionId::Meta, meta),
        (SectionId::Entries, keyed),
        (SectionId::Buckets, buckets),
        (SectionId::Persons, persons),
        (SectionId::Regions, regions),
        (SectionId::RiskAreas, risk),
        (SectionId::StayBitmaps, stay_section),
        (SectionId::StatusBitmaps, status_section),
    ];
    let header_input = Header {
        key_fingerprint: key.fingerprint(),
        data_as_of,
        base_day: Day(base),
        persons: n as u64,
    };
    let section_sizes = sections
        .iter()
        .map(|(id, b)| (*id, b.len() as u64))
        .collect();
    let stay_bitmap_count = entries.len() as u64;
    drop(entries);
    drop(stay_bitmaps);
    let bytes = assemble(&header_input, sections, FORMAT_VERSION, readable_from);
    let stats = BuildStats {
        persons: n as u64,
        bytes: bytes.len() as u64,
        sections: section_sizes,
        data_as_of,
        regions: dict.len() as u64,
        stay_bitmaps: stay_bitmap_count,
        home: input.home,
    };
    Ok((bytes, stats))
}

/// Bits of hash prefix that pick a bucket: about 8 persons a bucket.
pub fn bucket_bits(persons: u64) -> u32 {
    let mut bits = 0;
    while bits < 32 && (persons >> bits) > 8 {
        bits += 1;
    }
    bits
}

/// The bucket of a hash.
pub fn bucket_of(hash: u64, bits: u32) -> u64 {
    if bits == 0 { 0 } else { hash >> (64 - bits) }
}

/// A bitmap section: count, then (tag u32, day i32, offset u64, len u64) entries, then the
/// serialized bitmaps.
fn bitmap_section<'b>(items: impl Iterator<Item = (u32, i32, &'b RoaringBitmap)>) -> Vec<u8> {
    let items: Vec<_> = items.collect();
    let mut table = Vec::new();
    let mut blob = Vec::new();
    put_u64(&mut table, items.len() as u64);
    for (tag, day, b) in items {
        let at = blob.len() as u64;
        b.serialize_into(&mut blob)
            .expect("writing to a Vec cannot fail");
        put_u32(&mut table, tag);
        put_i32(&mut table, day);
        put_u64(&mut table, at);
        put_u64(&mut table, blob.len() as u64 - at);
    }
    table.extend_from_slice(&blob);
    table
}

struct Header {
    key_fingerprint: u64,
    data_as_of: Day,
    base_day: Day,
    persons: u64,
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(ALIGN) {
        out.push(0);
    }
}

/// Lays out header, section table, aligned sections and footer, with every checksum, as format
/// `version` readable from `readable_from`. Each section is freed once copied, so the file and
/// its sections are never all held twice.
fn assemble(
    h: &Header,
    sections: Vec<(SectionId, Vec<u8>)>,
    version: u16,
    readable_from: u16,
) -> Vec<u8> {
    let count = sections.len();
    let table_len = count * SECTION_ENTRY_LEN;
    let total: usize = sections.iter().map(|(_, b)| b.len() + ALIGN).sum::<usize>()
        + HEADER_LEN
        + table_len
        + FOOTER_LEN;
    let mut out = Vec::with_capacity(total);
    out.resize(HEADER_LEN + table_len, 0);
    let mut table = Vec::with_capacity(table_len);
    let mut content = xxhash_rust::xxh3::Xxh3::new();
    for (id, bytes) in sections {
        pad(&mut out);
        let checksum = xxhash_rust::xxh3::xxh3_64(&bytes);
        content.update(&checksum.to_le_bytes());
        put_u32(&mut table, id as u32);
        put_u32(&mut table, 0);
        put_u64(&mut table, out.len() as u64);
        put_u64(&mut table, bytes.len() as u64);
        put_u64(&mut table, checksum);
        out.extend_from_slice(&bytes);
    }
    pad(&mut out);
    let file_len = (out.len() + FOOTER_LEN) as u64;
    let mut head = Vec::with_capacity(HEADER_LEN);
    head.extend_from_slice(&MAGIC);
    put_u16(&mut head, version);
    put_u16(&mut head, readable_from);
    put_u16(&mut head, count as u16);
    put_u16(&mut head, 0);
    put_u64(&mut head, h.key_fingerprint);
    put_i32(&mut head, h.data_as_of.0);
    put_i32(&mut head, h.base_day.0);
    put_u64(&mut head, h.persons);
    put_u64(&mut head, file_len);
    put_u64(&mut head, content.digest());
    let hc = xxhash_rust::xxh3::xxh3_64(&head);
    put_u64(&mut head, hc);
    debug_assert_eq!(head.len(), HEADER_LEN);
    out[..HEADER_LEN].copy_from_slice(&head);
    out[HEADER_LEN..HEADER_LEN + table_len].copy_from_slice(&table);
    let whole = xxhash_rust::xxh3::xxh3_64(&out);
    put_u64(&mut out, whole);
    out.extend_from_slice(&END_MAGIC);
    debug_assert_eq!(out.len() as u64, file_len);
    out
}

/// The same index as a format-2 file (what healthcode wrote before format 3: keys and record
/// offsets in two sections), from the bytes of a file this code wrote. Kept so that the tests
/// can hold the reader to the files already deployed; `None` for bytes that are not such a file.
#[doc(hidden)]
pub fn as_format_2(file: &[u8]) -> Option<Vec<u8>> {
    let count = usize::from(get_u16(file.get(..HEADER_LEN)?, header::SECTION_COUNT));
    let h = Header {
        key_fingerprint: get_u64(file, header::KEY_FINGERPRINT),
        data_as_of: Day(get_i32(file, header::DATA_AS_OF)),
        base_day: Day(get_i32(file, header::BASE_DAY)),
        persons: get_u64(file, header::PERSONS),
    };
    let n = usize::try_from(h.persons).ok()?;
    let mut sections = Vec::with_capacity(count + 1);
    for i in 0..count {
        let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
        let (id, at, len) = (
            get_u32(file.get(..e + 24)?, e),
            usize::try_from(get_u64(file, e + 8)).ok()?,
            usize::try_from(get_u64(file, e + 16)).ok()?,
        );
        let bytes = file.get(at..at.checked_add(len)?)?;
        match SectionId::from_u32(id)? {
            SectionId::Entries => {
                if bytes.len() != (n + 1) * ENTRY_LEN {
                    return None;
                }
                let (mut keys, mut offsets) = (Vec::new(), Vec::new());
                for (i, e) in bytes.chunks_exact(ENTRY_LEN).enumerate() {
                    if i < n {
                        keys.extend_from_slice(&e[..8]);
                    }
                    offsets.extend_from_slice(&e[8..]);
                }
                sections.push((SectionId::Keys, keys));
                sections.push((SectionId::Offsets, offsets));
            }
            id => sections.push((id, bytes.to_vec())),
        }
    }
    Some(assemble(&h, sections, 2, 1))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename,
/// fsync of the directory. A reader never sees a half-written file at `path`.
///
/// The temporary file is named `.NAME.XXXXXX.tmp` and locked (`flock`) while it is written, so
/// that one left behind by a writer that was killed is recognisably stale: each write first
/// removes the unlocked temporaries of its own `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let io = |source| BuildError::Io {
        path: path.display().to_string(),
        cause: source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io)?;
    let prefix = format!(
        ".{}.",
        path.file_name()
            .map_or("index".into(), |n| n.to_string_lossy())
    );
    remove_stale_temporaries(&dir, &prefix);
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(&dir)
        .map_err(io)?;
    tmp.as_file().lock().map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

/// The suffix of [`write_atomic`]'s temporary files.
const TEMP_SUFFIX: &str = ".tmp";

/// Removes the temporaries `prefix*.tmp` in `dir` that no live writer holds locked (their writer
/// was killed before its rename). Best effort: a temporary that cannot be inspected is left.
fn remove_stale_temporaries(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(prefix) && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        let Ok(f) = fs::File::open(e.path()) else {
            continue;
        };
        // A live writer holds the lock from just after creating its file to its rename; a
        // file removed in the instant before it locks makes that writer's rename fail (its
        // build reports the error), never leaves a wrong file at the path.
        if f.try_lock().is_ok() {
            let _ = fs::remove_file(e.path());
        }
    }
}
