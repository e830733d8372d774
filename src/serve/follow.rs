//! A follower's loop (`healthcode serve --follow STATE_DIR`): at a fixed interval it looks at the
//! state directory its writer owns, applies the live-update log's new records in order and, when
//! `CURRENT` names another index file than the one it serves, verifies and swaps that file in, so
//! that every replica converges on the writer's `(index, sequence)`.
//!
//! Invariant: `CURRENT` is read before the log on each look. The writer folds sequence N into an
//! index before it names the index in `CURRENT`, so once the log is caught up the follower holds
//! every record the named index folded, and the swap applies exactly the records after it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::state::{LoadError, State, read_current};
use crate::overlay::LogError;

/// What a follower did or found, for its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowEvent {
    /// Records `from ..= to` of the writer's log were applied.
    Applied {
        /// The first sequence applied.
        from: u64,
        /// The last.
        to: u64,
    },
    /// The index the writer serves was verified and swapped in.
    Swapped {
        /// The file.
        path: PathBuf,
        /// This server's generation for it.
        generation: u64,
        /// The live-update sequence it folds.
        folded: u64,
    },
    /// The index the writer names could not be served here (reported once per file); the
    /// previous one keeps serving.
    SwapRefused(String),
    /// The log holds a damaged record at byte `at` that intact records follow: nothing after it
    /// is applied until the log is repaired (reported once per offset).
    Stuck {
        /// Its offset.
        at: u64,
        /// The bytes from it to the end of the log.
        bytes: u64,
    },
    /// The follower cannot go on: the log was replaced, cut behind what was applied, or is
    /// unreadable. It stops following; the server should stop and be restarted.
    Fatal(String),
}

/// The file a follower serves, as found on disk, to notice another file renamed over its path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileId {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl FileId {
    fn of(path: &Path) -> FileId {
        #[cfg(unix)]
        let id = std::fs::metadata(path).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        });
        #[cfg(not(unix))]
        let id = None;
        FileId {
            path: path.to_path_buf(),
            id,
        }
    }
}

/// The follower's memory between looks.
#[derive(Debug)]
pub struct Following {
    serving: FileId,
    /// A file that cannot be served (unreadable or invalid): not tried again.
    refused: Option<FileId>,
    /// A file folding more than the log holds here: tried again, reported once.
    behind: Option<FileId>,
    stuck: Option<u64>,
}

impl Following {
    /// Starts from what `state` serves now.
    pub fn new(state: &State) -> Following {
        Following {
            serving: FileId::of(&state.current().path),
            refused: None,
            behind: None,
            stuck: None,
        }
    }

    /// One look at the state directory: the log's new records, then the index `CURRENT` names.
    /// An error means the follower cannot go on (see [`FollowEvent::Fatal`]).
    pub fn step(
        &mut self,
        state: &State,
        report: &mut dyn FnMut(FollowEvent),
    ) -> Result<(), LogError> {
        let Some(overlay) = state.overlay.as_ref().filter(|o| o.is_follower()) else {
            return Ok(());
        };
        // CURRENT first (see the invariant above).
        let named = read_current(overlay.dir()).map(|p| FileId::of(&p));
        let polled = overlay.catch_up()?;
        if let (Some(first), Some(last)) = (polled.entries.first(), polled.entries.last()) {
            if polled.entries.iter().any(|e| e.change.is_risk()) {
                state.refresh_risk_areas();
            }
            report(FollowEvent::Applied {
                from: first.seq,
                to: last.seq,
            });
        }
        match polled.stuck_at {
            Some(at) if self.stuck != Some(at) => {
                report(FollowEvent::Stuck {
                    at,
                    bytes: polled.pending,
                });
                self.stuck = Some(at);
            }
            Some(_) => {}
            None => self.stuck = None,
        }
        let Some(named) = named else {
            return Ok(());
        };
        if named == self.serving || self.refused.as_ref() == Some(&named) {
            return Ok(());
        }
        // The writer chose this file (forced or not): serve it whatever its data date.
        match state.reload(&named.path, true) {
            Ok(generation) => {
                report(FollowEvent::Swapped {
                    path: named.path.clone(),
                    generation,
                    folded: state.current().folded,
                });
                self.serving = named;
                self.refused = None;
                self.behind = None;
            }
            // It folds writes this follower has not read (a log cut back under the index): tried
            // again at every look, reported once.
            Err(e @ LoadError::Refused { .. }) => {
                if self.behind.as_ref() != Some(&named) {
                    report(FollowEvent::SwapRefused(format!(
                        "{e}; the previous index keeps serving until the log holds what it folds"
                    )));
                    self.behind = Some(named);
                }
            }
            Err(e) => {
                report(FollowEvent::SwapRefused(format!(
                    "{e}; the previous index keeps serving"
                )));
                self.refused = Some(named);
            }
        }
        Ok(())
    }
}

/// A running follower thread; dropping it stops the thread.
#[derive(Debug)]
pub struct Follower {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Follower {
    /// Follows `state`'s state directory on a thread, looking every `every`, until stopped or a
    /// fatal error (reported as [`FollowEvent::Fatal`], the last event).
    pub fn spawn(
        state: Arc<State>,
        every: Duration,
        mut report: impl FnMut(FollowEvent) + Send + 'static,
    ) -> std::io::Result<Follower> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("follow".into())
            .spawn(move || {
                let mut f = Following::new(&state);
                while !stopping.load(Ordering::Acquire) {
                    if let Err(e) = f.step(&state, &mut report) {
                        report(FollowEvent::Fatal(e.to_string()));
                        return;
                    }
                    std::thread::sleep(every);
                }
            })?;
        Ok(Follower {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
