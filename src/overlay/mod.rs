//! The overlay: live updates (risk areas set or lifted, verifications, registrations) held in
//! memory on top of the served index and made durable in an append-only log in the state
//! directory before they are acknowledged.
//!
//! A state directory has one writer (the server holding its `LOCK`, which appends to the log) and
//! any number of followers (servers that open it read-only and tail the log, [`Overlay::follow`]).
//!
//! Invariant: every entry has a sequence number; an index records the sequence through which it
//! folded the log (`Index::folded`), and only entries after that are applied on top of it, so an
//! entry is never dropped and never applied twice, whatever the order of swaps and rebuilds. A
//! follower applies the writer's entries in the same order, each once, never one that fails its
//! checksum.

pub mod log;
pub mod tail;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use dashmap::DashMap;

use crate::audit::{self, AuditError, AuditLog, Record};
use crate::domain::{
    Day, Period, PersonRecords, RegionCode, Registration, RiskArea, RiskLevel, Verification,
};
pub use log::{LogError, LogFile, LogWriter, Replay};
pub use tail::{Polled, Tail};

/// The file in a state directory where its writer announces the address it listens on, so that
/// a follower refusing a write can say where writes go.
pub const WRITER_FILE: &str = "WRITER";

/// The live-update log's file name in a state directory.
pub const LOG_FILE: &str = "overlay.log";

/// What one live write changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Designates `area` (replacing every earlier designation of that area code).
    SetRiskArea {
        /// The area.
        area: RegionCode,
        /// Its level.
        level: RiskLevel,
        /// When it is active.
        period: Period,
    },
    /// Ends every designation of `area` after day `to`.
    LiftRiskArea {
        /// The area.
        area: RegionCode,
        /// The last active day.
        to: Day,
    },
    /// A hotline verification of a person.
    Verification {
        /// The person's keyed hash.
        person: u64,
        /// The masked document number, for the audit trail.
        masked: String,
        /// The day of the verification.
        verified_on: Day,
        /// The regions it clears (`None` = all).
        scope: Option<RegionCode>,
    },
    /// A registration with a community.
    Registration {
        /// The person's keyed hash.
        person: u64,
        /// The masked document number, for the audit trail.
        masked: String,
        /// The day of the registration.
        registered_on: Day,
        /// The community, as given.
        community: String,
    },
}

impl Change {
    /// True for the changes that alter the risk areas.
    pub fn is_risk(&self) -> bool {
        matches!(
            self,
            Change::SetRiskArea { .. } | Change::LiftRiskArea { .. }
        )
    }
}

/// One acknowledged write, as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its sequence number (1, 2, … without gaps).
    pub seq: u64,
    /// When it was written (Unix milliseconds).
    pub at_ms: i64,
    /// The caller's token name.
    pub caller: String,
    /// The operator named in the request.
    pub operator: String,
    /// The reason or ticket named in the request.
    pub reason: String,
    /// What it changes.
    pub change: Change,
}

/// A live record of one person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonRecord {
    /// A verification.
    Verification(Verification),
    /// A registration.
    Registration(Registration),
}

impl PersonRecord {
    /// Adds the record to a person's records.
    pub fn add_to(self, p: &mut PersonRecords) {
        match self {
            PersonRecord::Verification(v) => p.verifications.push(v),
            PersonRecord::Registration(r) => p.registrations.push(r),
        }
    }
}

/// Applies risk-area changes, in sequence order, to a list of designations: a set replaces every
/// designation of its area code; a lift ends them after its day (dropping any that would not
/// start by then).
pub fn apply_risk_changes<'a>(
    areas: &mut Vec<RiskArea>,
    changes: impl IntoIterator<Item = &'a Change>,
) {
    for c in changes {
        match *c {
            Change::SetRiskArea {
                area,
                level,
                period,
            } => {
                areas.retain(|z| z.area != area);
                areas.push(RiskArea {
                    area,
                    level,
                    period,
                });
            }
            Change::LiftRiskArea { area, to } => {
                areas.retain(|z| z.area != area || z.period.from <= to);
                for z in areas.iter_mut().filter(|z| z.area == area) {
                    z.period.to = Some(z.period.to.map_or(to, |t| t.min(to)));
                }
            }
            _ => {}
        }
    }
}

/// The live writes at some sequence, to be folded into a rebuilt index.
#[derive(Clone, Debug, Default)]
pub struct Fold {
    /// The log's identity.
    pub log_id: u64,
    /// The last sequence folded.
    pub through: u64,
    /// Risk-area changes, in sequence order.
    pub risk: Vec<Change>,
    /// Live person records by keyed hash, each in sequence order.
    pub persons: Vec<(u64, Vec<PersonRecord>)>,
}

/// Why the overlay could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OverlayError {
    /// The state directory could not be created, read or locked.
    #[error("state directory {path}: {what}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
    /// The log is unreadable.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The audit log is unreadable or does not verify.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// How a server holds its state directory.
enum Mode {
    /// It owns the directory: it appends to the log and the audit log.
    Writer {
        log: Mutex<LogWriter>,
        /// Written before `log`, under its lock, so both logs hold writes in the same order.
        audit: AuditLog,
        /// Held for the overlay's life: one writer per state directory.
        _lock: File,
    },
    /// It reads the directory another server writes, applying the log's records as they come.
    Follower {
        tail: Mutex<Tail>,
        /// Bytes after the last intact record at the last look (a record being written).
        pending: AtomicU64,
    },
}

/// The live-update overlay of one state directory.
pub struct Overlay {
    dir: PathBuf,
    log_id: u64,
    mode: Mode,
    sequence: AtomicU64,
    /// Live person records by keyed hash, each with its sequence, in sequence order.
    persons: DashMap<u64, Vec<(u64, PersonRecord)>>,
    person_records: AtomicUsize,
    /// Risk-area changes with their sequences, in sequence order.
    risk: RwLock<Vec<(u64, Change)>>,
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("dir", &self.dir)
            .field("sequence", &self.sequence())
            .finish_non_exhaustive()
    }
}

impl Overlay {
    /// Opens (creating when needed) the state directory `dir`, takes its lock and replays its
    /// log. Returns the overlay and what the replay found.
    pub fn open(dir: &Path, key_fingerprint: u64) -> Result<(Overlay, Replay), OverlayError> {
        Overlay::open_with(dir, key_fingerprint, |f| Box::new(f))
    }

    /// [`Overlay::open`], appending to the log through `wrap(file)` (tests inject failures with
    /// it).
    pub fn open_with(
        dir: &Path,
        key_fingerprint: u64,
        wrap: impl FnOnce(File) -> Box<dyn log::LogFile>,
    ) -> Result<(Overlay, Replay), OverlayError> {
        let err = |what: String| OverlayError::StateDir {
            path: dir.to_path_buf(),
            what,
        };
        let dir = &std::path::absolute(dir).map_err(|e| err(e.to_string()))?;
        create_private_dir(dir).map_err(|e| err(format!("cannot create it: {e}")))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(|e| err(format!("cannot open LOCK: {e}")))?;
        lock.try_lock().map_err(|_| {
            err(format!(
                "it is in use by another healthcode server (LOCK is held): give each writer its own --state-dir, or serve a read-only replica of that server with `serve --follow {}`",
                dir.display()
            ))
        })?;
        let (writer, replay) = LogWriter::open_with(&dir.join(LOG_FILE), key_fingerprint, wrap)?;
        let last = replay.entries.last().map_or(0, |e| e.seq);
        let opened = AuditLog::open(&dir.join(audit::AUDIT_FILE), last).map_err(|e| match e {
            AuditError::Broken { .. } => err(format!(
                "{e}. The audit log was changed after it was written: keep it as evidence (`healthcode audit verify {}` tells more) and move it aside to start a new one",
                dir.display()
            )),
            e => OverlayError::Audit(e),
        })?;
        let start = start_record(&opened, &replay, writer.log_id());
        opened.log.append(start)?;
        let o = Overlay::new(
            dir,
            writer.log_id(),
            Mode::Writer {
                log: Mutex::new(writer),
                audit: opened.log,
                _lock: lock,
            },
        );
        for e in &replay.entries {
            o.apply(e);
        }
        Ok((o, replay))
    }

    fn new(dir: &Path, log_id: u64, mode: Mode) -> Overlay {
        Overlay {
            dir: dir.to_path_buf(),
            log_id,
            mode,
            sequence: AtomicU64::new(0),
            persons: DashMap::new(),
            person_records: AtomicUsize::new(0),
            risk: RwLock::new(Vec::new()),
        }
    }

    /// Opens the state directory `dir` that another server writes, read-only: takes no lock,
    /// writes nothing, and applies every intact record of its log. `None` while the directory has
    /// no log yet (its writer has never started). [`Overlay::catch_up`] applies later records.
    pub fn follow(
        dir: &Path,
        key_fingerprint: u64,
    ) -> Result<Option<(Overlay, Polled)>, OverlayError> {
        let dir = &std::path::absolute(dir).map_err(|e| OverlayError::StateDir {
            path: dir.to_path_buf(),
            what: e.to_string(),
        })?;
        let mut tail = Tail::new(&dir.join(LOG_FILE), key_fingerprint);
        let Some(first) = tail.poll()? else {
            return Ok(None);
        };
        let log_id = tail.log_id().expect("read with the first records");
        let o = Overlay::new(
            dir,
            log_id,
            Mode::Follower {
                tail: Mutex::new(tail),
                pending: AtomicU64::new(first.pending),
            },
        );
        for e in &first.entries {
            o.apply(e);
        }
        Ok(Some((o, first)))
    }

    /// A follower: applies the records its writer appended since the last look, in order, and
    /// returns them. A writer has nothing to catch up with.
    pub fn catch_up(&self) -> Result<Polled, LogError> {
        let Mode::Follower { tail, pending } = &self.mode else {
            return Ok(Polled::default());
        };
        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
        let polled = t.poll()?.ok_or_else(|| LogError::Io {
            path: t.path().to_path_buf(),
            cause: std::io::Error::new(std::io::ErrorKind::NotFound, "the log disappeared"),
        })?;
        for e in &polled.entries {
            self.apply(e);
        }
        pending.store(polled.pending, Ordering::Release);
        Ok(polled)
    }

    /// True for a follower (it serves the writes of another server and takes none).
    pub fn is_follower(&self) -> bool {
        matches!(self.mode, Mode::Follower { .. })
    }

    /// A follower: bytes after the last intact record of the log at its last look (a record
    /// being written, waited for). 0 for a writer.
    pub fn pending_bytes(&self) -> u64 {
        match &self.mode {
            Mode::Follower { pending, .. } => pending.load(Ordering::Acquire),
            Mode::Writer { .. } => 0,
        }
    }

    /// Why this server takes no writes, naming where they go; `None` for a writer.
    pub fn read_only(&self) -> Option<String> {
        if !self.is_follower() {
            return None;
        }
        let writer = std::fs::read_to_string(self.dir.join(WRITER_FILE))
            .ok()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        Some(format!(
            "this server is a read-only follower of the state directory {dir}: send live writes, reloads and rebuilds to its writer, the server holding {dir}/LOCK{at}",
            dir = self.dir.display(),
            at = writer.map_or_else(String::new, |a| format!(
                " (it last announced {a} in {WRITER_FILE})"
            )),
        ))
    }

    /// A writer: records the address it listens on in the state directory, atomically, for
    /// followers to name when they refuse a write.
    pub fn announce(&self, addr: &str) -> std::io::Result<()> {
        if self.is_follower() {
            return Ok(());
        }
        crate::index::write_atomic(&self.dir.join(WRITER_FILE), format!("{addr}\n").as_bytes())
            .map_err(std::io::Error::other)
    }

    /// Appends an audit record of an action that is not a live write (a reload, a rebuild, a
    /// refused request), stamped with the current live-update sequence; durable when it returns.
    pub fn audit(&self, mut r: Record) -> Result<Record, AuditError> {
        let Mode::Writer { audit, .. } = &self.mode else {
            return Err(AuditError::ReadOnly(self.read_only().expect("a follower")));
        };
        r.overlay_sequence = self.sequence();
        audit.append(r)
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's identity.
    pub fn log_id(&self) -> u64 {
        self.log_id
    }

    /// The sequence of the last acknowledged write (0 before the first).
    pub fn sequence(&self) -> u64 {
        self.sequence.load(Ordering::Acquire)
    }

    /// Live person records (verifications and registrations) held in memory.
    pub fn person_records(&self) -> usize {
        self.person_records.load(Ordering::Acquire)
    }

    /// Live risk-area changes held in memory.
    pub fn risk_changes(&self) -> usize {
        self.risk.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Makes `change` durable, then applies it in memory; returns its sequence. `check` runs under
    /// the write lock first (so it sees every earlier write) and may refuse the change; `then`
    /// runs under it last (so what it publishes is in sequence order). Blocking: it waits for the
    /// fsync.
    pub fn write(
        &self,
        caller: &str,
        operator: &str,
        reason: &str,
        change: Change,
        check: impl FnOnce(&Change) -> Result<(), String>,
        then: impl FnOnce(),
    ) -> Result<u64, WriteError> {
        let Mode::Writer { log, audit, .. } = &self.mode else {
            return Err(WriteError::ReadOnly(self.read_only().expect("a follower")));
        };
        let mut w = log.lock().unwrap_or_else(|p| p.into_inner());
        let entry = Entry {
            seq: self.sequence() + 1,
            at_ms: chrono::Utc::now().timestamp_millis(),
            caller: caller.to_string(),
            operator: operator.to_string(),
            reason: reason.to_string(),
            change,
        };
        if let Err(why) = check(&entry.change) {
            let mut r = audit::of_entry(&entry).outcome(format!("refused: {why}"));
            r.overlay_sequence = self.sequence();
            // Nothing changes either way, so a refusal the audit log cannot take stays refused.
            let _ = audit.append(r);
            return Err(WriteError::Refused(why));
        }
        // The audit record first: no write takes effect without one. A crash between the two
        // leaves an `accepted` record whose write never happened; the next start names it.
        audit
            .append(audit::of_entry(&entry))
            .map_err(|e| WriteError::Io(format!("the audit log: {e}")))?;
        if let Err(e) = w.append(&entry) {
            let mut r = audit::of_entry(&entry).outcome(format!("failed: {e}"));
            r.overlay_sequence = self.sequence();
            let _ = audit.append(r);
            return Err(WriteError::Io(e));
        }
        self.apply(&entry);
        then();
        Ok(entry.seq)
    }

    fn apply(&self, e: &Entry) {
        let rec = match e.change {
            Change::Verification {
                person,
                verified_on,
                scope,
                ..
            } => Some((
                person,
                PersonRecord::Verification(Verification { verified_on, scope }),
            )),
            Change::Registration {
                person,
                registered_on,
                ..
            } => Some((
                person,
                PersonRecord::Registration(Registration { registered_on }),
            )),
            _ => None,
        };
        match rec {
            Some((h, r)) => {
                self.persons.entry(h).or_default().push((e.seq, r));
                self.person_records.fetch_add(1, Ordering::Release);
            }
            None => self
                .risk
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .push((e.seq, e.change.clone())),
        }
        self.sequence.store(e.seq, Ordering::Release);
    }

    /// Adds the live records of person `hash` written after sequence `folded` to `out`; true
    /// when there was any.
    #[inline]
    pub fn add_person_records(&self, hash: u64, folded: u64, out: &mut PersonRecords) -> bool {
        if self.person_records.load(Ordering::Acquire) == 0 {
            return false;
        }
        let Some(v) = self.persons.get(&hash) else {
            return false;
        };
        let mut any = false;
        for (_, r) in v.iter().filter(|(s, _)| *s > folded) {
            r.add_to(out);
            any = true;
        }
        any
    }

    /// The risk areas in force over an index whose own designations are `base` and which folded
    /// the log through `folded`.
    pub fn effective_risk_areas(&self, base: &[RiskArea], folded: u64) -> Vec<RiskArea> {
        let mut areas = base.to_vec();
        let risk = self.risk.read().unwrap_or_else(|p| p.into_inner());
        apply_risk_changes(
            &mut areas,
            risk.iter().filter(|(s, _)| *s > folded).map(|(_, c)| c),
        );
        areas
    }

    /// Every live write through the current sequence, for a rebuild to fold.
    pub fn fold(&self) -> Fold {
        // Holding the write (or follow) lock: no write is half-applied while the fold is taken.
        let (mut _log, mut _tail) = (None, None);
        match &self.mode {
            Mode::Writer { log, .. } => _log = Some(log.lock().unwrap_or_else(|p| p.into_inner())),
            Mode::Follower { tail, .. } => {
                _tail = Some(tail.lock().unwrap_or_else(|p| p.into_inner()))
            }
        }
        let through = self.sequence();
        let risk = self
            .risk
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        let mut persons: Vec<(u64, Vec<PersonRecord>)> = self
            .persons
            .iter()
            .map(|e| (*e.key(), e.value().iter().map(|(_, r)| *r).collect()))
            .collect();
        persons.sort_unstable_by_key(|e| e.0);
        Fold {
            log_id: self.log_id,
            through,
            risk,
            persons,
        }
    }
}

/// The audit record of a server opening its state directory: the live-update log it replayed,
/// the torn tails cut from both logs, and any disagreement between them since the last start
/// (writes audited but never written, because the server stopped between the two; live writes
/// without an audit record, because audit records were removed).
fn start_record(opened: &audit::Opened, replay: &Replay, log_id: u64) -> Record {
    let last = replay.entries.last().map_or(0, |e| e.seq);
    let since = opened
        .records
        .iter()
        .rposition(|r| r.action == "start")
        .map_or(0, |i| i + 1);
    let list = |v: Vec<u64>| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    let unwritten: Vec<u64> = opened.records[since..]
        .iter()
        .filter(|r| r.outcome == audit::ACCEPTED && r.overlay_sequence > last)
        .map(|r| r.overlay_sequence)
        .collect();
    let predating = opened.records.first().map_or(0, |r| r.overlay_sequence);
    let audited: std::collections::HashSet<u64> = opened
        .records
        .iter()
        .filter(|r| r.outcome == audit::ACCEPTED)
        .map(|r| r.overlay_sequence)
        .collect();
    let unaudited: Vec<u64> = replay
        .entries
        .iter()
        .map(|e| e.seq)
        .filter(|s| *s > predating && !audited.contains(s))
        .collect();
    let mut r = Record::new("start", "healthcode", "", "")
        .with("overlay_log_id", format!("{log_id:016x}"))
        .with("audit_torn_bytes_cut", opened.torn_bytes)
        .with("overlay_torn_bytes_cut", replay.torn_bytes)
        .outcome("ok");
    if !unwritten.is_empty() {
        r = r.with("audited_never_written", list(unwritten));
    }
    if !unaudited.is_empty() {
        r = r.with("written_without_audit_record", list(unaudited));
    }
    r.overlay_sequence = last;
    r
}

/// Why a live write was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The change was refused before anything was written.
    #[error("{0}")]
    Refused(String),
    /// Writing or syncing the log failed; nothing was acknowledged.
    #[error("the write was not made durable: {0}")]
    Io(String),
    /// This server follows another one's state directory and takes no writes (where they go).
    #[error("{0}")]
    ReadOnly(String),
}

/// Creates `dir` (and parents) readable by its owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: i32) -> Day {
        Day(19000 + n)
    }
    fn area(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }
    fn z(a: &str, from: i32, to: Option<i32>) -> RiskArea {
        RiskArea {
            area: area(a),
            level: RiskLevel::High,
            period: Period {
                from: d(from),
                to: to.map(d),
            },
        }
    }

    #[test]
    fn the_latest_set_wins_and_a_lift_ends_every_designation() {
        let mut areas = vec![
            z("110105001", 0, Some(5)),
            z("110105001", 10, None),
            z("110106", 0, None),
        ];
        let set = Change::SetRiskArea {
            area: area("110105001"),
            level: RiskLevel::Medium,
            period: Period {
                from: d(20),
                to: None,
            },
        };
        apply_risk_changes(&mut areas, [&set]);
        assert_eq!(areas.len(), 2);
        assert_eq!(areas[1].level, RiskLevel::Medium);
        let lift = Change::LiftRiskArea {
            area: area("110106"),
            to: d(3),
        };
        apply_risk_changes(&mut areas, [&lift]);
        assert_eq!(areas[0], z("110106", 0, Some(3)));
        let lift = Change::LiftRiskArea {
            area: area("110105001"),
            to: d(19),
        };
        apply_risk_changes(&mut areas, [&lift]);
        assert_eq!(
            areas,
            vec![z("110106", 0, Some(3))],
            "a designation that would start after the lift is gone"
        );
    }

    #[test]
    fn a_write_the_audit_log_cannot_take_is_not_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let (o, _) = Overlay::open(dir.path(), 5).unwrap();
        let v = Change::Verification {
            person: 99,
            masked: "110105********002X".into(),
            verified_on: d(1),
            scope: None,
        };
        assert_eq!(
            o.write("ops", "li", "T-1", v.clone(), |_| Ok(()), || ())
                .unwrap(),
            1
        );
        let log = dir.path().join("overlay.log");
        let (log_len, audit_len) = (
            std::fs::metadata(&log).unwrap().len(),
            std::fs::metadata(dir.path().join(audit::AUDIT_FILE))
                .unwrap()
                .len(),
        );
        let Mode::Writer { audit, .. } = &o.mode else {
            unreachable!()
        };
        audit.fail_appends();
        let mut applied = false;
        let e = o
            .write("ops", "li", "T-2", v, |_| Ok(()), || applied = true)
            .unwrap_err();
        assert!(
            matches!(&e, WriteError::Io(why) if why.starts_with("the audit log: ")),
            "{e}"
        );
        assert!(!applied, "nothing published");
        assert_eq!(o.sequence(), 1, "not acknowledged");
        assert_eq!(
            std::fs::metadata(&log).unwrap().len(),
            log_len,
            "not logged"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join(audit::AUDIT_FILE))
                .unwrap()
                .len(),
            audit_len,
            "the audit log is left as it was"
        );
        drop(o);
        let (o, r) = Overlay::open(dir.path(), 5).unwrap();
        assert_eq!((r.entries.len(), o.sequence()), (1, 1));
        drop(o);
        assert_eq!(audit::verify_dir(dir.path()).unwrap().writes_checked, 1);
    }

    #[test]
    fn a_state_directory_older_than_its_audit_log_verifies_from_where_the_log_starts() {
        let dir = tempfile::tempdir().unwrap();
        let v = Change::Verification {
            person: 7,
            masked: "110105********002X".into(),
            verified_on: d(1),
            scope: None,
        };
        let (o, _) = Overlay::open(dir.path(), 5).unwrap();
        o.write("ops", "li", "T-1", v.clone(), |_| Ok(()), || ())
            .unwrap();
        drop(o);
        std::fs::remove_file(dir.path().join(audit::AUDIT_FILE)).unwrap();
        let (o, _) = Overlay::open(dir.path(), 5).unwrap();
        o.write("ops", "li", "T-2", v, |_| Ok(()), || ()).unwrap();
        drop(o);
        let verified = audit::verify_dir(dir.path()).unwrap();
        assert_eq!((verified.predating, verified.writes_checked), (1, 1));
        assert_eq!(verified.records[0].action, "create");
        assert_eq!(verified.records[0].overlay_sequence, 1);
    }

    #[test]
    fn writes_survive_a_reopen_and_the_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let (o, r) = Overlay::open(dir.path(), 5).unwrap();
        assert!(r.entries.is_empty());
        assert!(matches!(
            Overlay::open(dir.path(), 5),
            Err(OverlayError::StateDir { .. })
        ));
        let v = Change::Verification {
            person: 99,
            masked: "x".into(),
            verified_on: d(1),
            scope: None,
        };
        assert_eq!(
            o.write("ops", "li", "T-1", v.clone(), |_| Ok(()), || ())
                .unwrap(),
            1
        );
        let refused = o.write("ops", "li", "T-2", v, |_| Err("no".into()), || ());
        assert!(matches!(refused, Err(WriteError::Refused(_))));
        assert_eq!(o.sequence(), 1);
        let mut p = PersonRecords::default();
        assert!(o.add_person_records(99, 0, &mut p));
        assert!(!o.add_person_records(99, 1, &mut p), "folded through 1");
        assert_eq!(p.verifications.len(), 1);
        drop(o);
        let (o, r) = Overlay::open(dir.path(), 5).unwrap();
        assert_eq!((r.entries.len(), o.sequence()), (1, 1));
        assert_eq!(
            o.fold().persons,
            vec![(
                99,
                vec![PersonRecord::Verification(Verification {
                    verified_on: d(1),
                    scope: None
                })]
            )]
        );
    }
}
