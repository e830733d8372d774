//! The byte layout of an index file (docs/format.md): magic, versions, header, section table,
//! footer, and the little-endian and varint primitives every section is written with.

/// First 8 bytes of every index file (PNG-style: a high byte, the name, CR LF).
pub const MAGIC: [u8; 8] = *b"\x89HCIDX\r\n";
/// Last 8 bytes of every index file.
pub const END_MAGIC: [u8; 8] = *b"HCIDXEND";
/// The format this code writes.
pub const FORMAT_VERSION: u16 = 4;
/// The oldest format this code reads.
pub const OLDEST_READABLE: u16 = 1;
/// The oldest reader that can read what this code writes (the header's `oldest_readable`):
/// format 3 moved the keys and offsets into `entries`, which readers of format 2 lack.
pub const WRITTEN_READABLE_FROM: u16 = 3;
/// The oldest reader that can read a file recording a home region (format 4's meta): a reader
/// of format 3 would serve it without the home region's rule, so it must refuse it.
pub const HOME_READABLE_FROM: u16 = 4;
/// Bytes of one `entries` element: a person's key (u64) and record offset (u32).
pub const ENTRY_LEN: usize = 12;
/// Header size in bytes.
pub const HEADER_LEN: usize = 64;
/// One section-table entry in bytes.
pub const SECTION_ENTRY_LEN: usize = 32;
/// Footer size: whole-file checksum (u64) and [`END_MAGIC`].
pub const FOOTER_LEN: usize = 16;
/// Sections start at multiples of this.
pub const ALIGN: usize = 8;

/// Header field offsets; each is the previous one plus its width.
pub mod header {
    /// `[u8; 8]` magic.
    pub const MAGIC: usize = 0;
    /// `u16` format version.
    pub const VERSION: usize = MAGIC + 8;
    /// `u16` oldest reader version that can read the file.
    pub const OLDEST_READABLE: usize = VERSION + 2;
    /// `u16` number of sections.
    pub const SECTION_COUNT: usize = OLDEST_READABLE + 2;
    /// `u16` flags (zero).
    pub const FLAGS: usize = SECTION_COUNT + 2;
    /// `u64` fingerprint of the pseudonymisation key.
    pub const KEY_FINGERPRINT: usize = FLAGS + 2;
    /// `i32` data date (days since 1970-01-01).
    pub const DATA_AS_OF: usize = KEY_FINGERPRINT + 8;
    /// `i32` base day that day offsets in person records count from.
    pub const BASE_DAY: usize = DATA_AS_OF + 4;
    /// `u64` number of persons.
    pub const PERSONS: usize = BASE_DAY + 4;
    /// `u64` total file length.
    pub const FILE_LEN: usize = PERSONS + 8;
    /// `u64` generation-independent build id (xxh3 of the content sections).
    pub const BUILD_ID: usize = FILE_LEN + 8;
    /// `u64` xxh3 of header bytes `0..HEADER_CHECKSUM`.
    pub const HEADER_CHECKSUM: usize = BUILD_ID + 8;
    const _: () = assert!(HEADER_CHECKSUM + 8 == super::HEADER_LEN);
}

/// Section identifiers, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SectionId {
    /// Build metadata: bucket bits and feed row counts.
    Meta = 1,
    /// Sorted keyed hashes of document numbers; position = person id (formats 1 and 2).
    Keys = 2,
    /// Bucket starts into `Keys` by the top bits of the hash.
    Buckets = 3,
    /// Byte offset of each person's record in `Persons` (persons + 1 entries; formats 1 and 2).
    Offsets = 4,
    /// Person records, varint-encoded.
    Persons = 5,
    /// Region dictionary: codes and names of every region the records use.
    Regions = 6,
    /// Risk area designations.
    RiskAreas = 7,
    /// Roaring bitmaps of person ids per (region, day) of stays.
    StayBitmaps = 8,
    /// Roaring bitmaps of person ids per CDC category and community status.
    StatusBitmaps = 9,
    /// Each person's key and record offset side by side, sorted by key; position = person id
    /// (persons + 1 entries of [`ENTRY_LEN`] bytes; format 3, in place of `Keys` and `Offsets`).
    Entries = 10,
}

impl SectionId {
    /// Every section a file of any readable format may hold.
    pub const ALL: [SectionId; 10] = [
        SectionId::Meta,
        SectionId::Keys,
        SectionId::Buckets,
        SectionId::Offsets,
        SectionId::Persons,
        SectionId::Regions,
        SectionId::RiskAreas,
        SectionId::StayBitmaps,
        SectionId::StatusBitmaps,
        SectionId::Entries,
    ];

    /// Lower-case name, for errors.
    pub fn name(self) -> &'static str {
        match self {
            SectionId::Meta => "meta",
            SectionId::Keys => "keys",
            SectionId::Buckets => "buckets",
            SectionId::Offsets => "offsets",
            SectionId::Persons => "persons",
            SectionId::Regions => "regions",
            SectionId::RiskAreas => "risk_areas",
            SectionId::StayBitmaps => "stay_bitmaps",
            SectionId::StatusBitmaps => "status_bitmaps",
            SectionId::Entries => "entries",
        }
    }

    /// The section with this id.
    pub fn from_u32(v: u32) -> Option<SectionId> {
        SectionId::ALL.into_iter().find(|s| *s as u32 == v)
    }
}

/// Open end of a period, as stored.
pub const OPEN_END: i32 = i32::MAX;

/// Appends a little-endian u16.
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
/// Appends a little-endian u32.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
/// Appends a little-endian i32.
pub fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}
/// Appends a little-endian u64.
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
/// Appends an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a little-endian u16 at `at` (caller checked bounds).
#[inline]
pub fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
/// Reads a little-endian u32 at `at` (caller checked bounds).
#[inline]
pub fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
/// Reads a little-endian i32 at `at` (caller checked bounds).
#[inline]
pub fn get_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
/// Reads a little-endian u64 at `at` (caller checked bounds).
#[inline]
pub fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A bounds-checked cursor over untrusted bytes: every read either succeeds or reports that the
/// bytes ran out or were malformed, never panics.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

/// The cursor ran past its bytes or met a varint longer than 10 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated;

impl<'a> Cursor<'a> {
    /// A cursor at the start of `b`.
    pub fn new(b: &'a [u8]) -> Cursor<'a> {
        Cursor { b, pos: 0 }
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.b.len()
    }

    /// One byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, Truncated> {
        let v = *self.b.get(self.pos).ok_or(Truncated)?;
        self.pos += 1;
        Ok(v)
    }

    /// A little-endian u16.
    #[inline]
    pub fn u16(&mut self) -> Result<u16, Truncated> {
        let s = self.b.get(self.pos..self.pos + 2).ok_or(Truncated)?;
        self.pos += 2;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }

    /// An unsigned LEB128 varint.
    #[inline]
    pub fn varint(&mut self) -> Result<u64, Truncated> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.u8()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Truncated)
    }

    /// A varint that must fit a u32.
    #[inline]
    pub fn varint32(&mut self) -> Result<u32, Truncated> {
        u32::try_from(self.varint()?).map_err(|_| Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_truncation_is_reported() {
        let mut out = Vec::new();
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            put_varint(&mut out, v);
        }
        let mut c = Cursor::new(&out);
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            assert_eq!(c.varint().unwrap(), v);
        }
        assert!(c.is_empty());
        assert_eq!(c.varint(), Err(Truncated));
        assert_eq!(Cursor::new(&[0x80, 0x80]).varint(), Err(Truncated));
        assert_eq!(Cursor::new(&[0xff; 11]).varint(), Err(Truncated));
    }
}
