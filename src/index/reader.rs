//! Reads an index file in place: `Index<B: AsRef<[u8]>>` runs the same code over a `Vec<u8>` in
//! tests and over a memory map in the server. Opening checks the structure and every checksum;
//! `verify` additionally decodes every record; lookups never allocate.

use std::collections::HashMap;

use roaring::RoaringBitmap;

use super::builder::bucket_of;
use super::format::*;
use super::record::{Decoder, RecordError};
use crate::domain::{
    Code, Day, IdNumber, Period, PersonRecords, PhoneRecords, Policy, Precision, Query, RegionCode,
    RiskArea, RiskAreaSet, RiskLevel, evaluate_into, shown_name,
};
use crate::key::Key;

mod batch;

/// Why an index file cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// Not an index file.
    #[error("not a healthcode index (bad magic)")]
    Magic,
    /// A format this code cannot read.
    #[error(
        "index format version {got} cannot be read: this healthcode reads versions {oldest} to {expected}"
    )]
    Version {
        /// Newest format this code reads.
        expected: u16,
        /// Oldest format this code reads.
        oldest: u16,
        /// The file's format.
        got: u16,
    },
    /// The file is shorter or longer than its header says.
    #[error("index is {got} bytes but its header says {expected}: truncated or padded")]
    Length {
        /// Length from the header.
        expected: u64,
        /// Actual length.
        got: u64,
    },
    /// A checksum or structural check failed.
    #[error("index corrupted in {section}: {what}")]
    Corrupted {
        /// Which part.
        section: &'static str,
        /// What is wrong.
        what: String,
    },
    /// Built with another pseudonymisation key.
    #[error(
        "index built with another key (fingerprint {index:016x}, this server's key {ours:016x}): rebuild it or pass the matching --key-file"
    )]
    KeyMismatch {
        /// The index's key fingerprint.
        index: u64,
        /// This process's key fingerprint.
        ours: u64,
    },
}

fn corrupted(section: &'static str, what: impl Into<String>) -> IndexError {
    IndexError::Corrupted {
        section,
        what: what.into(),
    }
}

/// What one query reuses from the last: the decoded records and the answer's findings, so a
/// query allocates nothing once they have grown. One per thread.
#[derive(Debug)]
pub struct Scratch {
    /// The person's records, decoded (and extended by live records).
    pub records: PersonRecords,
    /// The last answer.
    pub code: Code,
    /// Phones the last records had beyond this person's, kept with their lists' allocations.
    spare_phones: Vec<PhoneRecords>,
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            records: PersonRecords::default(),
            code: Code::green(),
            spare_phones: Vec::new(),
        }
    }
}

/// A region of the index's dictionary as answers write it: its code's digits and its name.
#[derive(Debug)]
pub struct RegionText {
    code: [u8; 12],
    code_len: u8,
    /// The name ("" if the dictionary's bytes for it are not text).
    pub name: Box<str>,
}

impl RegionText {
    /// The code as written (as many digits as its precision has).
    pub fn code(&self) -> &[u8] {
        &self.code[..usize::from(self.code_len)]
    }

    /// The code as written: the first `n` bytes of the array (a fixed-size copy for writers).
    pub fn code_array(&self) -> ([u8; 12], usize) {
        (self.code, usize::from(self.code_len))
    }
}

/// Where a person's key and record offset are read: one `entries` section with both side by
/// side (format 3: a lookup's key and offset share a cache line), or the `keys` and `offsets`
/// arrays of formats 1 and 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Slots {
    /// The section of the keys, and the bytes from one key to the next.
    keys: SectionId,
    key_stride: usize,
    /// The section of the offsets, the bytes from one to the next, and where in its element.
    offsets: SectionId,
    offset_stride: usize,
    offset_at: usize,
}

impl Slots {
    /// Format 3.
    const ENTRIES: Slots = Slots {
        keys: SectionId::Entries,
        key_stride: ENTRY_LEN,
        offsets: SectionId::Entries,
        offset_stride: ENTRY_LEN,
        offset_at: 8,
    };
    /// Formats 1 and 2.
    const SPLIT: Slots = Slots {
        keys: SectionId::Keys,
        key_stride: 8,
        offsets: SectionId::Offsets,
        offset_stride: 4,
        offset_at: 0,
    };

    /// Key `i` of the keys' section `keys`.
    #[inline(always)]
    pub(super) fn key(&self, keys: &[u8], i: usize) -> u64 {
        get_u64(keys, i * self.key_stride)
    }

    /// Offset `i` of the offsets' section `offsets`.
    #[inline(always)]
    pub(super) fn offset(&self, offsets: &[u8], i: usize) -> u32 {
        get_u32(offsets, i * self.offset_stride + self.offset_at)
    }

    /// Whether the offsets sit beside the keys.
    #[inline(always)]
    pub(super) fn side_by_side(&self) -> bool {
        self.keys == self.offsets
    }
}

/// An open index over bytes `B` (a `Vec<u8>` or a memory map).
pub struct Index<B: AsRef<[u8]>> {
    bytes: B,
    sections: [std::ops::Range<usize>; SectionId::ALL.len()],
    slots: Slots,
    persons: u32,
    bucket_bits: u32,
    base: Day,
    data_as_of: Day,
    key_fingerprint: u64,
    build_id: u64,
    region_count: usize,
    /// Padded code → the region's texts (small; materialised at open).
    region_texts: HashMap<u64, RegionText, foldhash::fast::FixedState>,
    risk_areas: RiskAreaSet,
    /// (live-update log id, last sequence folded); (0, 0) when none was.
    folded: (u64, u64),
}

impl<B: AsRef<[u8]>> std::fmt::Debug for Index<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("persons", &self.persons)
            .field("data_as_of", &self.data_as_of)
            .finish()
    }
}

impl<B: AsRef<[u8]>> Index<B> {
    /// Opens an index: magic, versions, lengths, every checksum, section bounds, and the key.
    pub fn open(bytes: B, key: &Key) -> Result<Index<B>, IndexError> {
        let b = bytes.as_ref();
        if b.len() < HEADER_LEN + FOOTER_LEN || b[..8] != MAGIC {
            return Err(IndexError::Magic);
        }
        let version = get_u16(b, header::VERSION);
        let oldest = get_u16(b, header::OLDEST_READABLE);
        if version < OLDEST_READABLE || oldest > FORMAT_VERSION {
            return Err(IndexError::Version {
                expected: FORMAT_VERSION,
                oldest: OLDEST_READABLE,
                got: version,
            });
        }
        if xxhash_rust::xxh3::xxh3_64(&b[..header::HEADER_CHECKSUM])
            != get_u64(b, header::HEADER_CHECKSUM)
        {
            return Err(corrupted("header", "header checksum mismatch"));
        }
        let file_len = get_u64(b, header::FILE_LEN);
        if file_len != b.len() as u64 {
            return Err(IndexError::Length {
                expected: file_len,
                got: b.len() as u64,
            });
        }
        let foot = b.len() - FOOTER_LEN;
        if b[foot + 8..] != END_MAGIC {
            return Err(corrupted("footer", "end magic missing"));
        }
        if xxhash_rust::xxh3::xxh3_64(&b[..foot]) != get_u64(b, foot) {
            return Err(corrupted("file", "whole-file checksum mismatch"));
        }
        let fingerprint = get_u64(b, header::KEY_FINGERPRINT);
        if fingerprint != key.fingerprint() {
            return Err(IndexError::KeyMismatch {
                index: fingerprint,
                ours: key.fingerprint(),
            });
        }
        let count = usize::from(get_u16(b, header::SECTION_COUNT));
        let table_end = HEADER_LEN + count * SECTION_ENTRY_LEN;
        if table_end > foot {
            return Err(corrupted(
                "section table",
                format!("{count} sections do not fit"),
            ));
        }
        let mut sections: [std::ops::Range<usize>; SectionId::ALL.len()] = Default::default();
        let mut seen = [false; SectionId::ALL.len()];
        let mut content = xxhash_rust::xxh3::Xxh3::new();
        for i in 0..count {
            let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
            let id = get_u32(b, e);
            let (off, len, sum) = (get_u64(b, e + 8), get_u64(b, e + 16), get_u64(b, e + 24));
            content.update(&sum.to_le_bytes());
            let Some(sid) = SectionId::from_u32(id) else {
                continue; // a section of a newer minor format: skipped, still checksummed
            };
            let end = off
                .checked_add(len)
                .filter(|&end| off >= table_end as u64 && end <= foot as u64);
            let Some(end) = end else {
                return Err(corrupted(
                    sid.name(),
                    format!("bounds {off}+{len} outside the file"),
                ));
            };
            let range = off as usize..end as usize;
            if xxhash_rust::xxh3::xxh3_64(&b[range.clone()]) != sum {
                return Err(corrupted(sid.name(), "section checksum mismatch"));
            }
            let slot = SectionId::ALL
                .iter()
                .position(|s| *s == sid)
                .expect("known");
            if seen[slot] {
                return Err(corrupted(sid.name(), "section listed twice"));
            }
            seen[slot] = true;
            sections[slot] = range;
        }
        if content.digest() != get_u64(b, header::BUILD_ID) {
            return Err(corrupted(
                "header",
                "build id does not match the section checksums",
            ));
        }
        let has =
            |id: SectionId| seen[SectionId::ALL.iter().position(|s| *s == id).expect("known")];
        // Format 3 keeps keys and offsets in `entries`; formats 1 and 2 in two sections.
        let slots = if has(SectionId::Entries) {
            if has(SectionId::Keys) || has(SectionId::Offsets) {
                return Err(corrupted("entries", "listed beside keys or offsets"));
            }
            Slots::ENTRIES
        } else {
            Slots::SPLIT
        };
        let unused = |id: SectionId| match slots {
            Slots::ENTRIES => matches!(id, SectionId::Keys | SectionId::Offsets),
            _ => id == SectionId::Entries,
        };
        if let Some(id) = SectionId::ALL
            .into_iter()
            .find(|&id| !has(id) && !unused(id))
        {
            return Err(corrupted(id.name(), "section missing"));
        }
        let persons = u32::try_from(get_u64(b, header::PERSONS))
            .map_err(|_| corrupted("header", "person count"))?;
        let mut idx = Index {
            sections,
            slots,
            persons,
            bucket_bits: 0,
            base: Day(get_i32(b, header::BASE_DAY)),
            data_as_of: Day(get_i32(b, header::DATA_AS_OF)),
            key_fingerprint: fingerprint,
            build_id: get_u64(b, header::BUILD_ID),
            region_count: 0,
            region_texts: HashMap::default(),
            risk_areas: RiskAreaSet::default(),
            folded: (0, 0),
            bytes,
        };
        idx.check_layout()?;
        Ok(idx)
    }

    fn section(&self, id: SectionId) -> &[u8] {
        let slot = SectionId::ALL
            .iter()
            .position(|s| *s == id)
            .expect("known section");
        &self.bytes.as_ref()[self.sections[slot].clone()]
    }

    /// Cheap cross-section checks and the small tables kept on the heap.
    fn check_layout(&mut self) -> Result<(), IndexError> {
        let n = self.persons as usize;
        let meta = self.section(SectionId::Meta);
        // Format 1 had 8 bytes of meta; format 2 adds the folded live-update log; format 4 the
        // home region, when there is one.
        let folded = match meta.len() {
            8 => (0, 0),
            24 | 32 => (get_u64(meta, 8), get_u64(meta, 16)),
            n => {
                return Err(corrupted(
                    "meta",
                    format!("{n} bytes, expected 8, 24 or 32"),
                ));
            }
        };
        let home = match meta.len() {
            32 => {
                let code = get_u64(meta, 24);
                let home = RegionCode::from_padded(code)
                    .ok_or_else(|| corrupted("meta", format!("home region {code:012}")))?;
                Some(home)
            }
            _ => None,
        };
        let bits = get_u32(meta, 0);
        if bits > 32 {
            return Err(corrupted("meta", format!("bucket bits {bits}")));
        }
        self.folded = folded;
        if self.slots.side_by_side() {
            let entries = self.section(SectionId::Entries);
            if entries.len() != (n + 1) * ENTRY_LEN {
                return Err(corrupted(
                    "entries",
                    format!("length is not {ENTRY_LEN} bytes a person plus {ENTRY_LEN}"),
                ));
            }
            if self.slots.key(entries, n) != 0 {
                return Err(corrupted("entries", "the last entry's key is not 0"));
            }
        } else {
            if self.section(SectionId::Keys).len() != n * 8 {
                return Err(corrupted("keys", "length is not 8 bytes a person"));
            }
            if self.section(SectionId::Offsets).len() != (n + 1) * 4 {
                return Err(corrupted(
                    "offsets",
                    "length is not 4 bytes a person plus one",
                ));
            }
        }
        let buckets = self.section(SectionId::Buckets);
        if buckets.len() != ((1usize << bits) + 1) * 4 {
            return Err(corrupted(
                "buckets",
                "length does not match the bucket bits",
            ));
        }
        let mut prev = 0u32;
        for i in 0..=(1usize << bits) {
            let v = get_u32(buckets, i * 4);
            if v < prev || v as usize > n {
                return Err(corrupted("buckets", format!("bucket {i} starts at {v}")));
            }
            prev = v;
        }
        if prev as usize != n {
            return Err(corrupted(
                "buckets",
                "last bucket does not end at the person count",
            ));
        }
        let offsets = self.section(self.slots.offsets);
        if self.slots.offset(offsets, n) as usize != self.section(SectionId::Persons).len() {
            return Err(corrupted(
                self.slots.offsets.name(),
                "last offset is not the end of the person records",
            ));
        }
        let regions = self.section(SectionId::Regions);
        if regions.len() < 8 {
            return Err(corrupted("regions", "too short"));
        }
        let rc = get_u32(regions, 0) as usize;
        let names_at = 8 + rc * 8;
        let names_start = names_at + (rc + 1) * 4;
        if regions.len() < names_start {
            return Err(corrupted("regions", format!("{rc} regions do not fit")));
        }
        let names_len = regions.len() - names_start;
        let mut prev = 0u32;
        for i in 0..=rc {
            let v = get_u32(regions, names_at + i * 4);
            if v < prev || v as usize > names_len {
                return Err(corrupted("regions", format!("name offset {i}")));
            }
            prev = v;
        }
        if std::str::from_utf8(&regions[names_start..]).is_err() {
            return Err(corrupted("regions", "names are not UTF-8"));
        }
        let mut region_texts =
            HashMap::with_capacity_and_hasher(rc, foldhash::fast::FixedState::default());
        for i in 0..rc {
            let code = get_u64(regions, 8 + i * 8);
            let Some(region) = RegionCode::from_padded(code) else {
                return Err(corrupted("regions", format!("bad code {code:012}")));
            };
            let (a, b) = (
                get_u32(regions, names_at + i * 4) as usize,
                get_u32(regions, names_at + i * 4 + 4) as usize,
            );
            let name = std::str::from_utf8(&regions[names_start + a..names_start + b])
                .unwrap_or("")
                .into();
            let (ascii, len) = region.ascii();
            let text = RegionText {
                code: ascii,
                code_len: len as u8,
                name,
            };
            if region_texts.insert(code, text).is_some() {
                return Err(corrupted("regions", format!("repeated code {code:012}")));
            }
        }
        // Files built before region names followed DOMAIN.md §2 hold the table's `市辖区` for a
        // municipality's city level: shown by the province's name, as a new build writes it.
        let renamed: Vec<(u64, Box<str>)> = region_texts
            .iter()
            .filter_map(|(&code, t)| {
                let region = RegionCode::from_padded(code)?;
                let province = region.truncate(Precision::Province).padded();
                let shown = shown_name(region, &t.name, || {
                    region_texts.get(&province).map_or("", |p| &*p.name)
                });
                (shown != &*t.name).then(|| (code, shown.into()))
            })
            .collect();
        for (code, name) in renamed {
            if let Some(t) = region_texts.get_mut(&code) {
                t.name = name;
            }
        }
        let risk = self.section(SectionId::RiskAreas);
        if risk.len() < 8 || risk.len() != 8 + get_u32(risk, 0) as usize * 24 {
            return Err(corrupted("risk_areas", "length does not match the count"));
        }
        let mut areas = Vec::new();
        for i in 0..get_u32(risk, 0) as usize {
            let e = 8 + i * 24;
            let area = RegionCode::from_padded(get_u64(risk, e))
                .ok_or_else(|| corrupted("risk_areas", "bad code"))?;
            let from = Day(get_i32(risk, e + 8));
            let to = get_i32(risk, e + 12);
            let level = *RiskLevel::ALL
                .get(usize::from(risk[e + 16]))
                .ok_or_else(|| corrupted("risk_areas", "level"))?;
            areas.push(RiskArea {
                area,
                level,
                period: Period {
                    from,
                    to: (to != OPEN_END).then_some(Day(to)),
                },
            });
        }
        for sid in [SectionId::StayBitmaps, SectionId::StatusBitmaps] {
            check_bitmap_table(self.section(sid), sid.name())?;
        }
        self.bucket_bits = bits;
        self.region_count = rc;
        self.region_texts = region_texts;
        self.risk_areas = RiskAreaSet::with_home(areas, home);
        Ok(())
    }

    /// Decodes every person record and bitmap: the full check the builder and the swap path
    /// run (never the request path).
    pub fn verify(&self) -> Result<(), IndexError> {
        let (slots, keys) = (self.slots, self.section(self.slots.keys));
        for i in 1..self.persons as usize {
            if slots.key(keys, i - 1) >= slots.key(keys, i) {
                return Err(corrupted(
                    slots.keys.name(),
                    format!("keys not strictly ascending at {i}"),
                ));
            }
        }
        let buckets = self.section(SectionId::Buckets);
        for i in 0..self.persons as usize {
            let b = bucket_of(slots.key(keys, i), self.bucket_bits) as usize;
            let (lo, hi) = (
                get_u32(buckets, b * 4) as usize,
                get_u32(buckets, b * 4 + 4) as usize,
            );
            if !(lo..hi).contains(&i) {
                return Err(corrupted(
                    "buckets",
                    format!("person {i} outside its bucket"),
                ));
            }
        }
        let offsets = self.section(slots.offsets);
        let mut prev = 0u32;
        for i in 0..=self.persons as usize {
            let v = slots.offset(offsets, i);
            if v < prev {
                return Err(corrupted(
                    slots.offsets.name(),
                    format!("offset {i} goes backwards"),
                ));
            }
            prev = v;
        }
        let mut scratch = PersonRecords::default();
        for pid in 0..self.persons {
            self.person(pid, &mut scratch)
                .map_err(|e| corrupted("persons", format!("person {pid}: {e:?}")))?;
        }
        for sid in [SectionId::StayBitmaps, SectionId::StatusBitmaps] {
            let s = self.section(sid);
            for i in 0..get_u64(s, 0) as usize {
                let bm = self
                    .bitmap_at(s, i)
                    .ok_or_else(|| corrupted(sid.name(), format!("bitmap {i} undecodable")))?;
                if bm.max().is_some_and(|m| m >= self.persons) {
                    return Err(corrupted(
                        sid.name(),
                        format!("bitmap {i} names a person past the end"),
                    ));
                }
                if sid == SectionId::StayBitmaps
                    && get_u32(s, 8 + i * 24) as usize >= self.region_count
                {
                    return Err(corrupted(
                        sid.name(),
                        format!("bitmap {i} names an unknown region"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The deployment's home region the index records (DOMAIN.md §2), if any.
    pub fn home(&self) -> Option<RegionCode> {
        self.risk_areas.home()
    }

    /// The live-update log this index folded: (log id, last sequence folded), or (0, 0).
    pub fn folded(&self) -> (u64, u64) {
        self.folded
    }

    /// Number of persons.
    pub fn persons(&self) -> u32 {
        self.persons
    }

    /// The data date.
    pub fn data_as_of(&self) -> Day {
        self.data_as_of
    }

    /// The key fingerprint the index was built with.
    pub fn key_fingerprint(&self) -> u64 {
        self.key_fingerprint
    }

    /// An id of this build's content (changes whenever any section changes).
    pub fn build_id(&self) -> u64 {
        self.build_id
    }

    /// The whole file's bytes, as opened (for what the system can tell of their memory).
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// File size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.as_ref().len()
    }

    /// Never true for an opened index (the header alone has bytes); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.bytes.as_ref().is_empty()
    }

    /// The risk areas of the build.
    pub fn risk_areas(&self) -> &RiskAreaSet {
        &self.risk_areas
    }

    /// The keyed hash of person `pid`'s document number; `None` past the last person.
    pub fn key_of(&self, pid: u32) -> Option<u64> {
        (pid < self.persons).then(|| self.slots.key(self.section(self.slots.keys), pid as usize))
    }

    /// The person id of a keyed document hash.
    pub fn lookup_hash(&self, h: u64) -> Option<u32> {
        let buckets = self.section(SectionId::Buckets);
        let b = bucket_of(h, self.bucket_bits) as usize;
        let range = (
            get_u32(buckets, b * 4) as usize,
            get_u32(buckets, b * 4 + 4) as usize,
        );
        batch::search(self.slots, self.section(self.slots.keys), range, h)
    }

    /// The person id of a document number.
    pub fn lookup(&self, key: &Key, id: IdNumber) -> Option<u32> {
        self.lookup_hash(key.hash_id(id))
    }

    /// Decodes person `pid`'s records into `out` (reusing its allocations).
    pub fn person(&self, pid: u32, out: &mut PersonRecords) -> Result<(), RecordError> {
        self.person_reusing(pid, out, &mut Vec::new())
    }

    /// [`Index::person`], keeping the phones `out` had beyond this person's in `spare` (and
    /// taking phones from there), so no list is dropped and reallocated when consecutive
    /// persons have different numbers of phones.
    pub fn person_reusing(
        &self,
        pid: u32,
        out: &mut PersonRecords,
        spare: &mut Vec<PhoneRecords>,
    ) -> Result<(), RecordError> {
        let offsets = self.section(self.slots.offsets);
        let i = pid as usize;
        if i >= self.persons as usize {
            return Err(RecordError::Truncated);
        }
        let (a, b) = (
            self.slots.offset(offsets, i) as usize,
            self.slots.offset(offsets, i + 1) as usize,
        );
        let rec = self
            .section(SectionId::Persons)
            .get(a..b)
            .ok_or(RecordError::Truncated)?;
        let regions = self.section(SectionId::Regions);
        Decoder {
            base: self.base,
            regions: &regions[8..8 + self.region_count * 8],
        }
        .decode_reusing(rec, out, spare)
    }

    /// The rules' answer for document number `id` on `day` under `policy`, and whether the
    /// person is known: look up, decode into `scratch` (reused), evaluate against the index's
    /// risk areas. A number with no record answers green with `known = false`. `eval` uses it;
    /// the server calls [`Index::code_of`] with its live risk areas and records.
    pub fn code<'s>(
        &self,
        key: &Key,
        id: IdNumber,
        day: Day,
        policy: Policy,
        scratch: &'s mut Scratch,
    ) -> Result<(&'s Code, bool), RecordError> {
        let q = Query {
            day,
            policy,
            areas: &self.risk_areas,
        };
        self.code_of(key.hash_id(id), q, scratch, |_| false)
    }

    /// The rules' answer for the person with keyed hash `hash` to query `q`, and whether the
    /// person is known: decodes their record (if any) into `scratch.records`, lets
    /// `live` add records of their own (it says whether it added any), and evaluates into
    /// `scratch.code`. The one path every answer takes, from the server and from `eval`.
    pub fn code_of<'s>(
        &self,
        hash: u64,
        q: Query<'_>,
        scratch: &'s mut Scratch,
        live: impl FnOnce(&mut PersonRecords) -> bool,
    ) -> Result<(&'s Code, bool), RecordError> {
        let pid = self.lookup_hash(hash);
        self.code_of_person(pid, q, scratch, live)
    }

    /// [`Index::code_of`] once the person (if any) is found.
    fn code_of_person<'s>(
        &self,
        pid: Option<u32>,
        q: Query<'_>,
        scratch: &'s mut Scratch,
        live: impl FnOnce(&mut PersonRecords) -> bool,
    ) -> Result<(&'s Code, bool), RecordError> {
        match pid {
            Some(pid) => {
                self.person_reusing(pid, &mut scratch.records, &mut scratch.spare_phones)?
            }
            None => scratch.records.clear(),
        }
        if !live(&mut scratch.records) && pid.is_none() {
            scratch.code.clear();
            return Ok((&scratch.code, false));
        }
        evaluate_into(
            &scratch.records,
            q.areas,
            q.day,
            q.policy,
            &mut scratch.code,
        );
        Ok((&scratch.code, true))
    }

    /// The name of a region the index knows, or "".
    pub fn region_name(&self, r: RegionCode) -> &str {
        self.region_text(r).map_or("", |t| &t.name)
    }

    /// The code and name of a region the index knows, as answers write them (formatted once,
    /// when the index was opened).
    #[inline]
    pub fn region_text(&self, r: RegionCode) -> Option<&RegionText> {
        self.region_texts.get(&r.padded())
    }

    /// The name of a region with its ancestors' names, coarse to fine, a name repeated by the
    /// next level said once ("北京市 朝阳区").
    pub fn region_full_name(&self, r: RegionCode) -> String {
        let mut names: Vec<&str> = r
            .lineage()
            .map(|c| self.region_name(c))
            .filter(|n| !n.is_empty())
            .collect();
        names.dedup();
        names.join(" ")
    }

    fn bitmap_at(&self, s: &[u8], i: usize) -> Option<RoaringBitmap> {
        let n = get_u64(s, 0) as usize;
        let e = 8 + i * 24;
        let (off, len) = (get_u64(s, e + 8) as usize, get_u64(s, e + 16) as usize);
        let blob = &s[8 + n * 24..];
        RoaringBitmap::deserialize_from(blob.get(off..off.checked_add(len)?)?).ok()
    }

    /// Persons who stayed (by their own or a bound phone's stay) in a region inside `inside`
    /// (`definite`) or in a region strictly containing it (`possible`, those not already
    /// definite), on some day of `[from, to]`.
    pub fn affected(&self, area: RegionCode, from: Day, to: Day) -> (RoaringBitmap, RoaringBitmap) {
        let unit = area.risk_unit();
        let s = self.section(SectionId::StayBitmaps);
        let n = get_u64(s, 0) as usize;
        let regions = self.section(SectionId::Regions);
        let mut definite = RoaringBitmap::new();
        let mut possible = RoaringBitmap::new();
        // Entries are sorted by (padded region code, day): find the unit's range by search.
        let code_of = |i: usize| get_u64(regions, 8 + get_u32(s, 8 + i * 24) as usize * 8);
        let range = unit.padded_range();
        let start = partition(n, |i| code_of(i) < range.start);
        for i in start..n {
            if code_of(i) >= range.end {
                break;
            }
            let d = get_i32(s, 8 + i * 24 + 4);
            if (from.0..=to.0).contains(&d) {
                definite |= self.bitmap_at(s, i).unwrap_or_default();
            }
        }
        for anc in unit.lineage().filter(|a| *a != unit) {
            let start = partition(n, |i| code_of(i) < anc.padded());
            for i in start..n {
                if code_of(i) != anc.padded() {
                    break;
                }
                let d = get_i32(s, 8 + i * 24 + 4);
                if (from.0..=to.0).contains(&d) {
                    possible |= self.bitmap_at(s, i).unwrap_or_default();
                }
            }
        }
        possible -= &definite;
        (definite, possible)
    }
}

/// The first index in `0..n` for which `pred` is false (pred true then false).
fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(mid) { lo = mid + 1 } else { hi = mid }
    }
    lo
}

fn check_bitmap_table(s: &[u8], name: &'static str) -> Result<(), IndexError> {
    if s.len() < 8 {
        return Err(corrupted(name, "too short"));
    }
    let n = get_u64(s, 0);
    let table_end = n
        .checked_mul(24)
        .and_then(|t| t.checked_add(8))
        .filter(|&t| t <= s.len() as u64);
    let Some(table_end) = table_end else {
        return Err(corrupted(name, format!("{n} bitmaps do not fit")));
    };
    let blob_len = s.len() as u64 - table_end;
    for i in 0..n as usize {
        let e = 8 + i * 24;
        let (off, len) = (get_u64(s, e + 8), get_u64(s, e + 16));
        if off.checked_add(len).is_none_or(|end| end > blob_len) {
            return Err(corrupted(name, format!("bitmap {i} outside the section")));
        }
    }
    Ok(())
}
