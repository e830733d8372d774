//! What the server serves: an immutable snapshot (a memory-mapped, verified index stamped with a
//! generation, plus the risk areas in force over it) behind an atomic pointer, so each request
//! holds one snapshot for its whole life; and the swaps and live writes that replace it.
//!
//! Invariant: a snapshot is replaced only under `swap`, always by a complete one (index, risk
//! areas and the log sequence it folded agree), so a query never sees a mix of two indexes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use memmap2::Mmap;

use crate::domain::{Day, DayText, Policy, RiskAreaSet, mask};
use crate::index::{Index, IndexError};
use crate::key::Key;
use crate::overlay::{Change, Overlay, WriteError};

/// One served index with the risk areas in force over it.
pub struct Snapshot {
    /// The index over its memory map (shared by snapshots that differ only in live risk areas).
    pub index: Arc<Index<Mmap>>,
    /// Bumped by every swap; 1 for the first index served. Live writes keep it.
    pub generation: u64,
    /// The file it was mapped from.
    pub path: PathBuf,
    /// The index's designations with the live changes after `folded` applied.
    pub risk_areas: RiskAreaSet,
    /// The live-update sequence folded into the index (writes up to it are in the index).
    pub folded: u64,
    /// The index's data day as answers carry it, formatted once when the snapshot is made.
    pub data_as_of: DayText,
}

/// Why an index file could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be opened or mapped.
    #[error("index {}: {cause}", mask::quoted_path(path))]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The file is not a valid index for this server.
    #[error("index {}: {cause}", mask::quoted_path(path))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        cause: IndexError,
    },
    /// The file is valid but must not replace the index being served.
    #[error("index {}: {why}", mask::quoted_path(path))]
    Refused {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// Maps, opens and fully verifies an index file, asking the kernel to read it ahead; the full
/// verification reads every byte, so the file is warm in the page cache when it is served.
///
/// When the kernel maps less than half of a large index (at least
/// [`pages::REREAD_FROM`](super::pages::REREAD_FROM) bytes) in 2 MiB pages, the file's cached
/// pages are small ones — as a copy written in small pieces leaves them (`cp`, `cat`) — and
/// every lookup would pay page-table walks: its cached pages are dropped and it is mapped, read
/// and verified again, which reads it back in large pages where the file system makes them
/// (see ARCHITECTURE.md, "Huge pages"). What came of it is logged.
pub fn open_index(path: &Path, key: &Key) -> Result<Index<Mmap>, LoadError> {
    open_index_telling_pages(path, key).map(|(index, _)| index)
}

/// [`open_index`], also telling what it found of the index's pages and whether it read the file
/// again.
pub fn open_index_telling_pages(
    path: &Path,
    key: &Key,
) -> Result<(Index<Mmap>, super::pages::Pages), LoadError> {
    open_index_rereading_from(path, key, super::pages::REREAD_FROM)
}

/// [`open_index`] with the size from which small pages are read again; also returns what the
/// pages were like.
pub(crate) fn open_index_rereading_from(
    path: &Path,
    key: &Key,
    reread_from: usize,
) -> Result<(Index<Mmap>, super::pages::Pages), LoadError> {
    let file = open_regular(path)?;
    let index = map_verified(&file, path, key)?;
    let first = super::pages::huge_page_bytes(index.bytes());
    let len = index.len();
    if len < reread_from || first.is_none_or(|h| h >= len as u64 / 2) {
        return Ok((
            index,
            super::pages::Pages {
                first,
                reread: None,
            },
        ));
    }
    // Our own map holds the pages: it goes first, or they could not be dropped.
    drop(index);
    let started = std::time::Instant::now();
    super::pages::drop_cached(&file);
    let index = map_verified(&file, path, key)?;
    let pages = super::pages::Pages {
        first,
        reread: Some((
            super::pages::huge_page_bytes(index.bytes()),
            started.elapsed(),
        )),
    };
    pages.log(path, len);
    Ok((index, pages))
}

/// Opens `path` for reading without ever waiting on it: anything but a regular file is refused
/// at once (a FIFO would block the opening thread until some writer came, a device or a
/// directory is no index). Opened non-blocking and checked on the open file, so nothing swapped
/// in between a look and the open gets through.
fn open_regular(path: &Path) -> Result<File, LoadError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error(path))?;
    let kind = file.metadata().map_err(io_error(path))?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let what = if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(LoadError::Refused {
        path: path.to_path_buf(),
        why: format!("{what}: an index is a regular file"),
    })
}

/// The error of an I/O failure on the index file at `path`.
fn io_error(path: &Path) -> impl Fn(std::io::Error) -> LoadError + '_ {
    move |cause| LoadError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// Maps `file` (at `path`), opens it as an index and verifies it whole.
fn map_verified(file: &File, path: &Path, key: &Key) -> Result<Index<Mmap>, LoadError> {
    // SAFETY: index files are immutable: the builder writes a temporary file and renames it into
    // place, and nothing in healthcode writes to an existing index file. A file truncated under
    // the map by someone else would raise SIGBUS; that is outside healthcode's contract.
    let map = unsafe { Mmap::map(file) }.map_err(io_error(path))?;
    // Large folios where the page cache can make them, so that the kernel maps the index in
    // 2 MiB pages (`serve::pages`); then the whole file read ahead, for the verification.
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::WillNeed);
    let index = Index::open(map, key).map_err(|source| LoadError::Invalid {
        path: path.to_path_buf(),
        cause: source,
    })?;
    index.verify().map_err(|source| LoadError::Invalid {
        path: path.to_path_buf(),
        cause: source,
    })?;
    Ok(index)
}

/// The state every request handler shares.
pub struct State {
    /// The snapshot being served.
    pub snapshot: ArcSwap<Snapshot>,
    /// The pseudonymisation key.
    pub key: Key,
    /// The policy in force.
    pub policy: Policy,
    /// A fixed query day (`--today`); `None` = today in Beijing.
    pub today: Option<Day>,
    /// Live updates and their log; `None` when the server has no state directory.
    pub overlay: Option<Overlay>,
    /// Serialises snapshot replacements.
    swap: Mutex<()>,
    /// Set while a rebuild runs.
    pub(crate) rebuilding: AtomicBool,
    /// Set while a reload asked by a caller runs: one at a time, so that callers cannot pin
    /// threads with file work.
    pub(crate) reloading: AtomicBool,
}

/// A caller's turn to reload a file ([`State::reload_turn`]); the next may start once it is
/// dropped, however the reload ended.
pub struct ReloadTurn(Arc<State>);

impl Drop for ReloadTurn {
    fn drop(&mut self) {
        self.0.reloading.store(false, Ordering::Release);
    }
}

/// Why a live write failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The server was started without a state directory.
    #[error("this server has no state directory (--state-dir), so it cannot make writes durable")]
    NoStateDir,
    /// The write was refused or not made durable.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl State {
    /// State serving `index` as generation 1, without live updates.
    pub fn new(
        index: Index<Mmap>,
        path: PathBuf,
        key: Key,
        policy: Policy,
        today: Option<Day>,
    ) -> State {
        State::with_overlay(index, path, key, policy, today, None)
            .expect("an index without an overlay is always servable")
    }

    /// State serving `index` as generation 1 with the live updates of `overlay` on top.
    pub fn with_overlay(
        index: Index<Mmap>,
        path: PathBuf,
        key: Key,
        policy: Policy,
        today: Option<Day>,
        overlay: Option<Overlay>,
    ) -> Result<State, LoadError> {
        let first = snapshot(overlay.as_ref(), Arc::new(index), path, 1)?;
        if let Some(o) = overlay.as_ref().filter(|o| !o.is_follower())
            && read_current(o.dir()).as_deref() != Some(first.path.as_path())
        {
            // CURRENT names what the writer serves: its followers serve the same file.
            record_current(o, &first.path);
        }
        Ok(State {
            snapshot: ArcSwap::from_pointee(first),
            key,
            policy,
            today,
            overlay,
            swap: Mutex::new(()),
            rebuilding: AtomicBool::new(false),
            reloading: AtomicBool::new(false),
        })
    }

    /// Serves `index` (already opened and verified) from the next query on, as a new
    /// generation. An index with an older data date than the one serving, or knowing fewer than
    /// half of its persons, is refused unless `force`. Returns the new generation.
    pub fn install(
        &self,
        index: Index<Mmap>,
        path: PathBuf,
        force: bool,
    ) -> Result<u64, LoadError> {
        let _g = self.swap.lock().unwrap_or_else(|p| p.into_inner());
        let cur = self.snapshot.load();
        if !force && index.data_as_of() < cur.index.data_as_of() {
            return Err(LoadError::Refused {
                path,
                why: format!(
                    "its data date {} is older than the serving index's {} (generation {}); force it to go back",
                    index.data_as_of(),
                    cur.index.data_as_of(),
                    cur.generation
                ),
            });
        }
        // A file that knows far fewer people than the one serving is more likely a cut feed or
        // the wrong directory than the city shrinking overnight: it would answer confirmed
        // cases green, `known = false`.
        let (now, next) = (u64::from(cur.index.persons()), u64::from(index.persons()));
        if !force && next * 2 < now {
            return Err(LoadError::Refused {
                path,
                why: format!(
                    "it knows {next} persons, fewer than half of the serving index's {now} \
                     (generation {}): a cut feed or the wrong directory? force it to serve it",
                    cur.generation
                ),
            });
        }
        let next = snapshot(
            self.overlay.as_ref(),
            Arc::new(index),
            path,
            cur.generation + 1,
        )?;
        let generation = next.generation;
        let pointer = next.path.clone();
        self.snapshot.store(Arc::new(next));
        if let Some(o) = self.overlay.as_ref().filter(|o| !o.is_follower()) {
            record_current(o, &pointer);
        }
        Ok(generation)
    }

    /// Takes the one turn to reload a file for a caller, or `None` while another reload runs;
    /// the turn ends when the returned value is dropped.
    pub fn reload_turn(self: &Arc<Self>) -> Option<ReloadTurn> {
        (!self.reloading.swap(true, Ordering::AcqRel)).then(|| ReloadTurn(self.clone()))
    }

    /// Opens, verifies and installs the index file at `path` (blocking).
    pub fn reload(&self, path: &Path, force: bool) -> Result<u64, LoadError> {
        let index = open_index(path, &self.key)?;
        self.install(index, path.to_path_buf(), force)
    }

    /// Makes a live change durable and applies it; returns its sequence (blocking: it waits for
    /// the fsync). `check` may refuse the change after every earlier write was applied.
    pub fn write(
        &self,
        caller: &str,
        operator: &str,
        reason: &str,
        change: Change,
        check: impl FnOnce(&Change, &Snapshot) -> Result<(), String>,
    ) -> Result<u64, LiveError> {
        let overlay = self.overlay.as_ref().ok_or(LiveError::NoStateDir)?;
        let risk = change.is_risk();
        Ok(overlay.write(
            caller,
            operator,
            reason,
            change,
            |c| check(c, &self.snapshot.load()),
            || {
                if risk {
                    self.refresh_risk_areas();
                }
            },
        )?)
    }

    /// Why this server takes no writes (a follower), naming where they go; `None` when it does.
    pub fn read_only(&self) -> Option<String> {
        self.overlay.as_ref().and_then(Overlay::read_only)
    }

    /// Replaces the snapshot by one with the same index and the risk areas now in force.
    pub(crate) fn refresh_risk_areas(&self) {
        let _g = self.swap.lock().unwrap_or_else(|p| p.into_inner());
        let cur = self.snapshot.load_full();
        let next = snapshot(
            self.overlay.as_ref(),
            cur.index.clone(),
            cur.path.clone(),
            cur.generation,
        )
        .expect("the serving index was accepted with this overlay");
        self.snapshot.store(Arc::new(next));
    }

    /// Whether a rebuild is running.
    pub fn rebuild_running(&self) -> bool {
        self.rebuilding.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The overlay's sequence (0 without one).
    pub fn overlay_sequence(&self) -> u64 {
        self.overlay.as_ref().map_or(0, Overlay::sequence)
    }

    /// The snapshot for one request.
    pub fn current(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The default query day.
    pub fn today(&self) -> Day {
        self.today.unwrap_or_else(Day::today_beijing)
    }
}

/// A snapshot of `index` with the overlay's risk changes after the index's folded sequence.
fn snapshot(
    overlay: Option<&Overlay>,
    index: Arc<Index<Mmap>>,
    path: PathBuf,
    generation: u64,
) -> Result<Snapshot, LoadError> {
    let (log_id, through) = index.folded();
    let folded = match overlay {
        Some(o) if log_id == o.log_id() => {
            if through > o.sequence() {
                return Err(LoadError::Refused {
                    path,
                    why: format!(
                        "it folds live writes through sequence {through}, but the log in {} ends at {}: the state directory was rolled back; restore it",
                        o.dir().display(),
                        o.sequence()
                    ),
                });
            }
            through
        }
        // Built from the feeds alone, or folding another log: every live write applies on top.
        _ => 0,
    };
    let risk_areas = match overlay {
        Some(o) => RiskAreaSet::with_home(
            o.effective_risk_areas(index.risk_areas().areas(), folded),
            index.home(),
        ),
        None => index.risk_areas().clone(),
    };
    Ok(Snapshot {
        data_as_of: index.data_as_of().text(),
        index,
        generation,
        path,
        risk_areas,
        folded,
    })
}

/// The file in a state directory naming the index last swapped in.
pub const CURRENT_FILE: &str = "CURRENT";

/// A writer: records `index` as the one serving in its state directory. Best effort: a restart
/// that cannot read it serves the --index file instead, and followers keep what they serve.
fn record_current(o: &Overlay, index: &Path) {
    // Best effort: a restart that cannot read it serves the --index file instead.
    if let Err(e) = write_current(o.dir(), index) {
        tracing::warn!(
            state_dir = %o.dir().display(),
            error = %e,
            "could not record the serving index in {}: {e}",
            o.dir().display()
        );
    }
}

/// Records `index` as the one serving, atomically.
fn write_current(state_dir: &Path, index: &Path) -> std::io::Result<()> {
    let abs = std::path::absolute(index)?;
    let text = format!("{}\n", abs.display());
    crate::index::write_atomic(&state_dir.join(CURRENT_FILE), text.as_bytes())
        .map_err(std::io::Error::other)
}

/// The index a state directory last served, if it names one that still exists.
pub fn read_current(state_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(state_dir.join(CURRENT_FILE)).ok()?;
    let p = PathBuf::from(text.trim_end_matches('\n'));
    p.exists().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IdNumber, PersonRecords};
    use crate::index::{BuildInput, build_bytes, write_atomic};
    use crate::regions::RegionTable;

    /// An index of `n` persons without records, written to `dir`.
    fn index_file(dir: &Path, key: &Key, n: u64) -> PathBuf {
        let none = PersonRecords::default();
        let input = BuildInput {
            people: (0..n)
                .map(|i| (IdNumber::from_body(11010519900101000 + i), &none))
                .collect(),
            risk_areas: &[],
            regions: RegionTable::bundled(),
            data_as_of: Day::parse("2022-05-10").ok(),
            hashed: Vec::new(),
            folded: None,
            home: None,
        };
        let path = dir.join("index.hcx");
        write_atomic(&path, &build_bytes(&input, key).unwrap().0).unwrap();
        path
    }

    #[test]
    fn a_large_index_mapped_in_small_pages_is_read_again_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::from_words(3, 4);
        let path = index_file(dir.path(), &key, 100);
        // Any size counts as large here; a 20 KB file has no 2 MiB page, so it is read again.
        let (index, pages) = open_index_rereading_from(&path, &key, 0).unwrap();
        assert_eq!(index.persons(), 100);
        if cfg!(target_os = "linux") {
            assert_eq!(pages.first, Some(0));
            let (after, _) = pages.reread.expect("read again");
            assert_eq!(after, Some(0));
        } else {
            assert!(pages.reread.is_none(), "nothing tells the pages");
        }
        // Below the size it is left as it is.
        let (_, pages) = open_index_rereading_from(&path, &key, index.len() + 1).unwrap();
        assert!(pages.reread.is_none());
    }
}
