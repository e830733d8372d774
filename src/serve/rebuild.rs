//! The rebuild trigger: build a new index from a feed directory on a background thread at low
//! priority, folding the live writes so far, report its progress, then swap it in.
//!
//! Invariant: at most one rebuild runs per server; its output goes to the state directory under a
//! fresh name, so the file being served is never written.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::state::{State, read_current};
use crate::domain::mask;
use crate::pipeline::{BuildOptions, Stage, build_index_folding};

/// What a running rebuild reports, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum RebuildEvent {
    /// The build began; it writes `out` and folds live writes through `folded`.
    Started {
        /// The index file it writes.
        out: PathBuf,
        /// The last live-update sequence folded into it.
        folded: u64,
    },
    /// A build stage began (`n` of `of`).
    Stage {
        /// The stage.
        stage: Stage,
        /// Its position, from 1.
        n: u64,
        /// How many stages there are.
        of: u64,
    },
    /// The index was written.
    Built {
        /// Persons in it.
        persons: u64,
        /// Feed rows read.
        rows: u64,
        /// Feed rows rejected (listed in `rejects`).
        rejected: u64,
        /// The rejects report.
        rejects: PathBuf,
        /// What the feeds' reading warned of (an unknown column or file, an empty file).
        warnings: Vec<String>,
        /// Seconds the build took.
        seconds: f64,
    },
    /// The new index serves from the next query on.
    Swapped {
        /// Its generation.
        generation: u64,
    },
    /// The rebuild failed; the old index keeps serving.
    Failed(String),
}

/// Why a rebuild could not start.
#[derive(Debug, thiserror::Error)]
pub enum RebuildRefused {
    /// Another rebuild is running.
    #[error("a rebuild is already running; wait for it to finish")]
    Busy,
    /// The server has nowhere to write the index.
    #[error(
        "this server has no state directory (--state-dir) to build into; build with `healthcode build` and reload the file instead"
    )]
    NoStateDir,
    /// The rebuild thread could not be started.
    #[error("cannot start the rebuild thread: {0}")]
    Thread(String),
}

/// How many stages a build reports.
const STAGES: u64 = 5;

/// Rebuilt index files kept in the state directory (the serving one and the ones before it).
const KEEP_REBUILT: usize = 2;

impl State {
    /// Starts a rebuild from `feeds` on a background thread; `report` receives its events, the
    /// last being `Swapped` or `Failed`.
    pub fn start_rebuild(
        self: &Arc<Self>,
        feeds: PathBuf,
        force: bool,
        report: impl Fn(RebuildEvent) + Send + 'static,
    ) -> Result<(), RebuildRefused> {
        let Some(overlay) = &self.overlay else {
            return Err(RebuildRefused::NoStateDir);
        };
        if self.rebuilding.swap(true, Ordering::AcqRel) {
            return Err(RebuildRefused::Busy);
        }
        let dir = overlay.dir().join("indexes");
        let state = self.clone();
        let spawned = std::thread::Builder::new()
            .name("rebuild".into())
            .spawn(move || {
                let running = Running(&state.rebuilding);
                lower_priority();
                let event = match state.rebuild_into(&feeds, &dir, force, &report) {
                    Ok(generation) => RebuildEvent::Swapped { generation },
                    Err(e) => RebuildEvent::Failed(e),
                };
                // Over before its caller hears so: a caller that asks again at once is not told
                // that this rebuild still runs.
                drop(running);
                report(event);
            });
        if let Err(e) = spawned {
            self.rebuilding.store(false, Ordering::Release);
            return Err(RebuildRefused::Thread(e.to_string()));
        }
        Ok(())
    }

    fn rebuild_into(
        &self,
        feeds: &Path,
        dir: &Path,
        force: bool,
        report: &dyn Fn(RebuildEvent),
    ) -> Result<u64, String> {
        let overlay = self.overlay.as_ref().expect("checked by start_rebuild");
        if !feeds.is_dir() {
            return Err(format!(
                "feed directory {} does not exist",
                mask::quoted_path(feeds)
            ));
        }
        // A directory with no file of people (an empty one, `/etc`) would build an index of the
        // live writes alone.
        let of_people = crate::feeds::FILES
            .iter()
            .filter(|f| !matches!(f.name, "regions.csv" | "dataset.csv"))
            .any(|f| feeds.join(f.name).exists() || feeds.join(format!("{}.gz", f.name)).exists());
        if !of_people {
            return Err(format!(
                "feed directory {} holds no feed file of people (bindings.csv, phone_stays.csv, \
                 person_stays.csv, cdc.csv, …): nothing to build from",
                mask::quoted_path(feeds)
            ));
        }
        crate::overlay::create_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let fold = overlay.fold();
        let name = format!(
            "index-{}-seq{}.hci",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            fold.through
        );
        let out = dir.join(&name);
        report(RebuildEvent::Started {
            out: out.clone(),
            folded: fold.through,
        });
        let rejects_path = dir.join(format!("{name}.rejects.txt"));
        let rejects_file = std::fs::File::create(&rejects_path)
            .map_err(|e| format!("{}: {e}", rejects_path.display()))?;
        let mut rejects = BufWriter::new(rejects_file);
        let started = Instant::now();
        let mut n = 0;
        let outcome = build_index_folding(
            feeds,
            &out,
            &self.key,
            &BuildOptions {
                // Feeds without a `dataset.csv` keep the serving index's home region.
                home_otherwise: self.current().index.home(),
                ..BuildOptions::default()
            },
            Some(&fold),
            &mut rejects,
            &mut |stage| {
                n += 1;
                report(RebuildEvent::Stage {
                    stage,
                    n,
                    of: STAGES,
                })
            },
        )
        .map_err(|e| {
            // The feeds' own errors name the caller's directory and its files: one line.
            let e = mask::one_line(&e.to_string());
            format!("building from {}: {e}", mask::quoted_path(feeds))
        })?;
        drop(rejects);
        report(RebuildEvent::Built {
            persons: outcome.stats.persons,
            rows: outcome.report.total_rows(),
            rejected: outcome.report.total_rejected(),
            rejects: rejects_path,
            warnings: outcome.report.warnings.clone(),
            seconds: started.elapsed().as_secs_f64(),
        });
        let generation = self.reload(&out, force).map_err(|e| e.to_string())?;
        prune(dir, &out);
        release_build_memory();
        Ok(generation)
    }
}

/// Clears the rebuild flag when the rebuild thread ends, however it ends.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Lowers the calling thread's CPU priority so that queries keep theirs while a build runs.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; on Linux a thread id names one thread.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

/// Returns the build's freed heap to the system, so a server that rebuilt does not keep the
/// builder's peak as its resident size.
fn release_build_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Deletes rebuilt index files (and their rejects reports) beyond the newest few, never the one
/// just built or the one a restart would serve. A deleted file that is still mapped stays
/// readable until its last snapshot is released.
fn prune(dir: &Path, keep: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let current = dir.parent().and_then(read_current);
    let mut built: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hci"))
        .collect();
    built.sort();
    let n = built.len();
    for p in built.into_iter().take(n.saturating_sub(KEEP_REBUILT)) {
        if p == keep || current.as_deref() == Some(p.as_path()) {
            continue;
        }
        let _ = std::fs::remove_file(&p);
        let mut r = p.into_os_string();
        r.push(".rejects.txt");
        let _ = std::fs::remove_file(r);
    }
}
