//! What the server serves: an immutable snapshot (a memory-mapped, verified index stamped with a
//! generation) behind an atomic pointer, so each request holds one snapshot for its whole life.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use memmap2::Mmap;

use crate::domain::{Day, Policy};
use crate::index::{Index, IndexError};
use crate::key::Key;

/// One served index.
pub struct Snapshot {
    /// The index over its memory map.
    pub index: Index<Mmap>,
    /// Bumped by every swap; 1 for the first index served.
    pub generation: u64,
    /// The file it was mapped from.
    pub path: PathBuf,
}

/// Why an index file could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be opened or mapped.
    #[error("index {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid index for this server.
    #[error("index {path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: IndexError,
    },
}

/// Maps, opens and fully verifies an index file, then asks the kernel to read it ahead.
pub fn open_index(path: &Path, key: &Key) -> Result<Index<Mmap>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // SAFETY: index files are immutable: the builder writes a temporary file and renames it into
    // place, and nothing in healthcode writes to an existing index file. A file truncated under
    // the map by someone else would raise SIGBUS; that is outside healthcode's contract.
    let map = unsafe { Mmap::map(&file) }.map_err(io)?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::WillNeed);
    let index = Index::open(map, key).map_err(|source| LoadError::Invalid {
        path: path.to_path_buf(),
        source,
    })?;
    index.verify().map_err(|source| LoadError::Invalid {
        path: path.to_path_buf(),
        source,
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
}

impl State {
    /// State serving `index` as generation 1.
    pub fn new(
        index: Index<Mmap>,
        path: PathBuf,
        key: Key,
        policy: Policy,
        today: Option<Day>,
    ) -> State {
        State {
            snapshot: ArcSwap::from_pointee(Snapshot {
                index,
                generation: 1,
                path,
            }),
            key,
            policy,
            today,
        }
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
