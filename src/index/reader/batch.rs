//! Many answers in one pass: the lookups of a batch run as a software pipeline, each query's
//! memory reads (bucket, keys with their offsets, record; format 2: bucket, keys, offset, record)
//! started a few queries ahead of its evaluation, so that the cache misses of a large index
//! overlap instead of following one another.

use super::{Index, Scratch, Slots, bucket_of, get_u32};
use crate::domain::{Code, PersonRecords, Query};
use crate::index::format::SectionId;
use crate::index::record::RecordError;

/// The stages of one query between its hash and its evaluation: each is one dependent read
/// (bucket, keys, offsets, record). In format 3 the offsets come with the keys, so the record is
/// asked for with them and the offsets' stage is left out.
const STAGES: usize = 4;
/// Steps (evaluations) between a stage's prefetch and the read that needs it.
const DISTANCE: usize = 3;
/// Slots of the ring of queries in flight (a power of two above `STAGES * DISTANCE`).
const RING: usize = 16;

/// One query on its way through the pipeline.
#[derive(Clone, Copy, Default)]
struct Probe {
    /// The keyed hash, or `None` for an entry that is not a valid document number.
    hash: Option<u64>,
    /// The keys of the hash's bucket.
    keys: (usize, usize),
    /// The person, once found.
    pid: Option<u32>,
}

/// Asks the processor to bring the cache line holding `s[at]` in (nothing past the end).
#[inline(always)]
fn prefetch(s: &[u8], at: usize) {
    if let Some(b) = s.get(at) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: SSE is part of every x86_64 processor, and a prefetch is a hint: it reads
            // nothing the program sees and cannot fault, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>((b as *const u8).cast::<i8>()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = b;
    }
}

impl<B: AsRef<[u8]>> Index<B> {
    /// [`Index::code_of`] for every entry of `hashes` in order, with the same answers: `each`
    /// receives the entry's position and its answer (`None` for a `None` entry, which is not
    /// looked up). The index reads of the next few entries are started while one is evaluated,
    /// which is what makes a batch cheaper per person than single queries on an index larger
    /// than the processor's caches. An `Err` from `each` stops the pass and is returned.
    pub fn codes_of<E>(
        &self,
        hashes: &[Option<u64>],
        q: Query<'_>,
        scratch: &mut Scratch,
        mut live: impl FnMut(u64, &mut PersonRecords) -> bool,
        mut each: impl FnMut(usize, Option<Result<(&Code, bool), RecordError>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let buckets = self.section(SectionId::Buckets);
        let slots = self.slots;
        let keys = self.section(slots.keys);
        let offsets = self.section(slots.offsets);
        let stride = slots.key_stride;
        let persons = self.section(SectionId::Persons);
        let mut ring = [Probe::default(); RING];
        let n = hashes.len();
        // Step i starts entry i and moves entry i - s * DISTANCE on by stage s; entry
        // i - stages * DISTANCE is answered. Every read a stage makes was prefetched by the
        // stage before, DISTANCE steps earlier.
        let stages = if slots.side_by_side() {
            STAGES - 1
        } else {
            STAGES
        };
        for i in 0..n + stages * DISTANCE {
            if i < n {
                let p = &mut ring[i % RING];
                *p = Probe {
                    hash: hashes[i],
                    ..Probe::default()
                };
                if let Some(h) = p.hash {
                    prefetch(buckets, bucket_of(h, self.bucket_bits) as usize * 4);
                }
            }
            if let Some(j) = i.checked_sub(DISTANCE).filter(|&j| j < n) {
                let p = &mut ring[j % RING];
                if let Some(h) = p.hash {
                    let b = bucket_of(h, self.bucket_bits) as usize;
                    let (lo, hi) = (
                        get_u32(buckets, b * 4) as usize,
                        get_u32(buckets, b * 4 + 4) as usize,
                    );
                    p.keys = (lo, hi);
                    if lo < hi {
                        // Side by side, the entry after the last holds the last one's record
                        // end: the next stage then needs nothing the keys' lines do not hold.
                        let end = if slots.side_by_side() { hi + 1 } else { hi };
                        prefetch(keys, lo * stride);
                        prefetch(keys, end * stride - 1);
                    }
                }
            }
            if let Some(j) = i.checked_sub(2 * DISTANCE).filter(|&j| j < n) {
                let p = &mut ring[j % RING];
                if let Some(h) = p.hash {
                    p.pid = search(slots, keys, p.keys, h);
                    if let Some(pid) = p.pid {
                        if slots.side_by_side() {
                            // The offsets came with the keys: the record's lines now.
                            prefetch_record(slots, offsets, persons, pid as usize);
                        } else {
                            let at = pid as usize * slots.offset_stride;
                            prefetch(offsets, at);
                            prefetch(offsets, at + slots.offset_stride + 3);
                        }
                    }
                }
            }
            if let Some(j) = i.checked_sub(3 * DISTANCE).filter(|&j| j < n)
                && !slots.side_by_side()
                && let Some(pid) = ring[j % RING].pid
            {
                prefetch_record(slots, offsets, persons, pid as usize);
            }
            if let Some(j) = i.checked_sub(stages * DISTANCE).filter(|&j| j < n) {
                let p = ring[j % RING];
                let answer = p
                    .hash
                    .map(|h| self.code_of_person(p.pid, q, scratch, |r| live(h, r)));
                each(j, answer)?;
            }
        }
        Ok(())
    }
}

/// Asks for the lines of person `pid`'s record, whose offsets are in `offsets`.
#[inline(always)]
fn prefetch_record(slots: Slots, offsets: &[u8], persons: &[u8], pid: usize) {
    // A person past the table (a corrupt bucket) has no offsets to read: its decode reports it.
    if (pid + 1) * slots.offset_stride + slots.offset_at + 4 <= offsets.len() {
        let (a, b) = (slots.offset(offsets, pid), slots.offset(offsets, pid + 1));
        prefetch(persons, a as usize);
        if b > a {
            prefetch(persons, b as usize - 1);
        }
    }
}

/// The position of `h` among keys `lo..hi` (sorted) of `keys`, if it is there.
pub(super) fn search(
    slots: Slots,
    keys: &[u8],
    (mut lo, mut hi): (usize, usize),
    h: u64,
) -> Option<u32> {
    while lo < hi {
        let mid = (lo + hi) / 2;
        match slots.key(keys, mid).cmp(&h) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid as u32),
        }
    }
    None
}
