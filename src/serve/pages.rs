//! How the serving index sits in memory: how much of its mapping the kernel backs with 2 MiB
//! pages, read from `/proc/self/smaps`. A lookup in a large index touches a few pages nobody
//! touched lately; with 4 KiB pages each costs a page-table walk besides its cache miss, and at
//! 10,000,000 persons that makes batched lookups 1.10–1.31× slower (BENCHMARKS.md, "Huge pages").

/// The index size from which [`crate::serve::open_index`] reads a file mapped mostly in small
/// pages again: below it the page-table walks cost little (the processor's TLB and caches hold
/// most of them), and a re-read would only cost the time of a second verification.
pub const REREAD_FROM: usize = 64 << 20;

/// What the opening of an index found of its pages.
#[derive(Clone, Copy, Debug)]
pub struct Pages {
    /// Bytes in 2 MiB pages once it was mapped and verified (`None`: not told).
    pub first: Option<u64>,
    /// When its cached pages were dropped and it was read again: the bytes in 2 MiB pages then,
    /// and the time the second opening took.
    pub reread: Option<(Option<u64>, std::time::Duration)>,
}

impl Pages {
    /// Logs a re-read: at `info` when it gave the index large pages, at `warn` when it did not
    /// (then lookups pay the walks, and the metric `index_huge_page_bytes` shows it).
    pub fn log(&self, path: &std::path::Path, len: usize) {
        let Some((after, took)) = self.reread else {
            return;
        };
        let mb = |b: Option<u64>| b.map_or("?".to_string(), |b| format!("{:.1}", b as f64 / 1e6));
        let (before, now, total) = (mb(self.first), mb(after), mb(Some(len as u64)));
        if after.is_some_and(|h| h >= len as u64 / 2) {
            tracing::info!(
                index = %path.display(),
                huge_page_bytes = after,
                took_ms = took.as_millis() as u64,
                "{}: {before} of {total} MB was in 2 MiB pages (its cached pages were small, as a \
                 copy leaves them); dropped and read again in {took:.2?}: now {now} MB",
                path.display()
            );
        } else {
            tracing::warn!(
                index = %path.display(),
                huge_page_bytes = after,
                took_ms = took.as_millis() as u64,
                "{}: only {now} of {total} MB is in 2 MiB pages, even read again ({took:.2?}): \
                 this file system or kernel gives the file no large pages, or another mapping \
                 (another process, or the generation serving it now) holds its small ones; lookups in an index this size pay page-table walks \
                 (1.10-1.31x slower at 10,000,000 persons)",
                path.display()
            );
        }
    }
}

/// Asks the kernel to drop `file`'s cached pages that no process maps, so that the next reads
/// fill the cache afresh. Only clean pages can go: a copy made moments ago may still have dirty
/// ones, so they are written out first.
pub fn drop_cached(file: &std::fs::File) {
    #[cfg(target_os = "linux")]
    {
        let _ = file.sync_data();
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on an open descriptor; it reads and writes no memory of
        // ours. Its failure only leaves the cache as it was, which the caller measures.
        let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// The `smaps` fields that count a mapping's bytes in pages of 2 MiB or more: a file's page
/// cache mapped whole-folio (`FilePmdMapped`), and anonymous or shared memory.
const HUGE_FIELDS: [&str; 3] = ["FilePmdMapped:", "AnonHugePages:", "ShmemPmdMapped:"];

/// Bytes of `bytes` (memory of this process) that the kernel maps in pages of 2 MiB or more,
/// or `None` where the system does not tell (no `/proc/self/smaps`, or no mapping holds it).
pub fn huge_page_bytes(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let start = bytes.as_ptr() as usize;
    in_smaps(&smaps, start, start + bytes.len())
}

/// [`huge_page_bytes`] of the address range `start..end` as an `smaps` text gives it: the sum
/// over the mappings that overlap the range, each counted only up to its overlap (the kernel
/// does not say where in a mapping its huge pages lie). `None` when no mapping overlaps.
fn in_smaps(smaps: &str, start: usize, end: usize) -> Option<u64> {
    let mut total = None;
    // The overlap of the mapping whose fields are being read, in bytes (0: not ours).
    let mut overlap = 0u64;
    for line in smaps.lines() {
        if let Some((from, to)) = mapping_range(line) {
            overlap = to.min(end).saturating_sub(from.max(start)) as u64;
            if overlap > 0 {
                total.get_or_insert(0);
            }
            continue;
        }
        if overlap == 0 {
            continue;
        }
        let mut fields = line.split_whitespace();
        if let (Some(name), Some(kb), Some("kB")) = (fields.next(), fields.next(), fields.next())
            && HUGE_FIELDS.contains(&name)
            && let (Some(t), Ok(kb)) = (total.as_mut(), kb.parse::<u64>())
        {
            *t += (kb * 1024).min(overlap);
        }
    }
    total
}

/// The address range of an `smaps` mapping line (`7f0a...-7f0b... r--s 00000000 fe:00 12 /path`);
/// `None` for a field line (`Rss:   4 kB`).
fn mapping_range(line: &str) -> Option<(usize, usize)> {
    let range = line.split_whitespace().next()?;
    let (from, to) = range.split_once('-')?;
    let from = usize::from_str_radix(from, 16).ok()?;
    let to = usize::from_str_radix(to, 16).ok()?;
    (from < to).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two mappings as Linux 6 prints them: a file mapped partly in 2 MiB pages, then an
    /// anonymous one.
    const SMAPS: &str = "\
7f0000000000-7f0000800000 r--s 00000000 fe:00 10010695                   /srv/index.hcx
Size:               8192 kB
Rss:                8192 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:      6144 kB
VmFlags: rd sh mr mw me ms hg
7f0000800000-7f0000a00000 rw-p 00000000 00:00 0
Size:               2048 kB
AnonHugePages:      2048 kB
FilePmdMapped:         0 kB
";

    #[test]
    fn the_huge_pages_of_the_mapping_that_holds_the_range_are_counted() {
        let file = 0x7f00_0000_0000;
        assert_eq!(in_smaps(SMAPS, file, file + (8 << 20)), Some(6 << 20));
        // A range inside the file's mapping: its huge pages may be anywhere in it, so at most
        // the range's own length is counted.
        assert_eq!(in_smaps(SMAPS, file + 4096, file + 8192), Some(4096));
        // Both mappings.
        assert_eq!(in_smaps(SMAPS, file, file + (10 << 20)), Some(8 << 20));
        // The anonymous one alone.
        assert_eq!(
            in_smaps(SMAPS, file + (8 << 20), file + (10 << 20)),
            Some(2 << 20)
        );
    }

    #[test]
    fn a_range_no_mapping_holds_is_not_told() {
        assert_eq!(in_smaps(SMAPS, 0x1000, 0x2000), None);
        assert_eq!(in_smaps("", 0x1000, 0x2000), None);
    }

    #[test]
    fn a_mapping_without_huge_pages_counts_zero() {
        let smaps =
            "5600000-5601000 r--p 00000000 fe:00 1 /bin/x\nRss: 4 kB\nFilePmdMapped: 0 kB\n";
        assert_eq!(in_smaps(smaps, 0x5600000, 0x5601000), Some(0));
    }

    #[test]
    fn memory_of_this_process_is_told_on_linux() {
        let v = vec![1u8; 1 << 20];
        let told = huge_page_bytes(&v);
        if cfg!(target_os = "linux") {
            assert!(told.is_some_and(|b| b <= v.len() as u64), "{told:?}");
        }
        assert_eq!(huge_page_bytes(&[]), None);
    }
}
