//! The audit log (docs/format.md, "The audit log"): an append-only, hash-chained record of every
//! admin action — live writes, reloads, rebuilds, server starts — with who called, who operated,
//! why, what changed and the outcome, one JSON line per record in `audit.log` in the state
//! directory; and its verification (`healthcode audit verify`).
//!
//! Invariant: a record is fsynced before the action it records is acknowledged (a live write's
//! record even before the live-update log is written), and each record carries the SHA-256 of the
//! one before it, so an edited, removed, inserted or reordered record breaks the chain at the
//! first record after the change. Nothing but masked document numbers is ever written.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::overlay::log::{bounded, read_log};
use crate::overlay::{Change, Entry};

/// The audit log's file name in a state directory.
pub const AUDIT_FILE: &str = "audit.log";

/// Hashed with the log's random id to give the first record's `prev_hash`.
const GENESIS_TAG: &[u8] = b"healthcode audit log v1\n";

/// What closes every record line: the hash of everything before it, then `"}` and a newline.
const HASH_FIELD: &str = ",\"hash\":\"";

/// The tail of a record line after its hashed body: `,"hash":"` + 64 hex digits + `"}`.
const HASH_TAIL_LEN: usize = HASH_FIELD.len() + 64 + 2;

/// The outcome of a live write's record, written before the live-update log is.
pub const ACCEPTED: &str = "accepted";

/// One audit record. Its line is the JSON of these fields in this order, then `hash`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Its number: 0 for the record that created the log, then 1, 2, … without gaps.
    pub n: u64,
    /// When (UTC, RFC 3339 with milliseconds).
    pub time: String,
    /// What was done: `create`, `start`, `set_risk_area`, `lift_risk_area`,
    /// `record_verification`, `record_registration`, `reload`, `rebuild`.
    pub action: String,
    /// The caller's token name (`healthcode` for the server's own records).
    pub caller: String,
    /// The operator named in the request.
    pub operator: String,
    /// The reason or ticket named in the request.
    pub reason: String,
    /// What the action changes or asked for (document numbers masked).
    pub change: BTreeMap<String, String>,
    /// `accepted` (a live write, written next as `overlay_sequence`), `requested`, `ok`, or
    /// `refused: …` / `failed: …` with the reason.
    pub outcome: String,
    /// A live write's sequence; for other records the live-update sequence at the time.
    pub overlay_sequence: u64,
    /// The hash of the record before (for record 0, of the genesis value and the log's id).
    pub prev_hash: String,
    /// SHA-256 of the line up to this field (filled when appended or read).
    #[serde(skip_serializing, default)]
    pub hash: String,
}

impl Record {
    /// A record of `action` by `caller` for `operator` with `reason` (texts cut to the live-update
    /// log's limit), its time now.
    pub fn new(action: &str, caller: &str, operator: &str, reason: &str) -> Record {
        Record {
            time: now(),
            action: action.to_string(),
            caller: bounded(caller).to_string(),
            operator: bounded(operator).to_string(),
            reason: bounded(reason).to_string(),
            ..Record::default()
        }
    }

    /// Adds one field of what changed (cut to the text limit).
    pub fn with(mut self, field: &str, value: impl std::fmt::Display) -> Record {
        self.change
            .insert(field.to_string(), bounded(&value.to_string()).to_string());
        self
    }

    /// Sets the outcome.
    pub fn outcome(mut self, outcome: impl Into<String>) -> Record {
        self.outcome = outcome.into();
        self
    }

    /// One line for people: number, time, caller, operator, reason, action, change, outcome.
    pub fn readable(&self) -> String {
        let change: Vec<String> = self
            .change
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!(
            "#{} {} caller={:?} operator={:?} reason={:?} {} {} -> {} (live sequence {})",
            self.n,
            self.time,
            self.caller,
            self.operator,
            self.reason,
            self.action,
            change.join(" "),
            crate::domain::mask::one_line(&self.outcome),
            self.overlay_sequence
        )
    }
}

fn now() -> String {
    time_of(chrono::Utc::now())
}

fn time_of(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The action name of a live change.
pub fn action_of(c: &Change) -> &'static str {
    match c {
        Change::SetRiskArea { .. } => "set_risk_area",
        Change::LiftRiskArea { .. } => "lift_risk_area",
        Change::Verification { .. } => "record_verification",
        Change::Registration { .. } => "record_registration",
    }
}

/// The record of a live write about to be made durable as `e.seq` (outcome `accepted`).
pub fn of_entry(e: &Entry) -> Record {
    let mut r = Record::new(action_of(&e.change), &e.caller, &e.operator, &e.reason);
    if let Some(t) = chrono::DateTime::from_timestamp_millis(e.at_ms) {
        r.time = time_of(t);
    }
    r.overlay_sequence = e.seq;
    r.outcome = ACCEPTED.to_string();
    let day_or_open = |d: Option<crate::domain::Day>| d.map_or(String::new(), |d| d.to_string());
    match &e.change {
        Change::SetRiskArea {
            area,
            level,
            period,
        } => r
            .with("area", area)
            .with("level", level.as_str())
            .with("from", period.from)
            .with("to", day_or_open(period.to)),
        Change::LiftRiskArea { area, to } => r.with("area", area).with("to", to),
        Change::Verification {
            masked,
            verified_on,
            scope,
            ..
        } => r
            .with("id_number", masked)
            .with("verified_on", verified_on)
            .with("scope", scope.map_or(String::new(), |s| s.to_string())),
        Change::Registration {
            masked,
            registered_on,
            community,
            ..
        } => r
            .with("id_number", masked)
            .with("registered_on", registered_on)
            .with("community", community),
    }
}

/// Why the audit log cannot be used or does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Reading, writing or syncing failed.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A record does not verify: the log was edited after it was written.
    #[error("{path} line {line} (byte {offset}): {what}")]
    Broken {
        /// The audit log.
        path: PathBuf,
        /// The first bad record's line, from 1 (record `n` is on line `n + 1`).
        line: u64,
        /// Its byte offset.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// The last record is incomplete: a write interrupted by a crash (never acknowledged), or a
    /// file cut there.
    #[error(
        "{path} line {line} (byte {offset}): the last record is incomplete ({bytes} bytes without an end of line): a write interrupted by a crash, never acknowledged (a starting server cuts it off), or the file was cut there"
    )]
    Torn {
        /// The audit log.
        path: PathBuf,
        /// The incomplete record's line, from 1.
        line: u64,
        /// Its byte offset.
        offset: u64,
        /// Its length.
        bytes: u64,
    },
    /// A live write in the live-update log has no audit record.
    #[error(
        "{path}: live write sequence {seq} ({action} by {caller:?}) has no audit record: records were removed from the audit log"
    )]
    Unaudited {
        /// The audit log.
        path: PathBuf,
        /// The write's sequence.
        seq: u64,
        /// Its action.
        action: String,
        /// Its caller.
        caller: String,
    },
    /// The live-update log could not be read.
    #[error("{0}")]
    Overlay(String),
    /// The log was unusable after an earlier failure.
    #[error("{0}")]
    Poisoned(String),
    /// This server follows another one's state directory and writes no audit record.
    #[error("{0}")]
    ReadOnly(String),
}

/// The intact records of a log and where they end.
#[derive(Debug)]
pub struct Chain {
    /// Every record, in order.
    pub records: Vec<Record>,
    /// Bytes of the intact records.
    pub intact_len: u64,
    /// An incomplete last record: (line, offset, bytes).
    pub torn: Option<(u64, u64, u64)>,
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    format!("{:x}", h.finalize())
}

/// The `prev_hash` of record 0 of the log with id `log_id`.
pub fn genesis(log_id: &str) -> String {
    sha256_hex(&[GENESIS_TAG, log_id.as_bytes()])
}

/// Checks every record of an audit log's bytes: each line's hash over its own bytes, its number,
/// its link to the record before, and record 0's genesis. An incomplete last line is reported in
/// `torn`, not as an error.
pub fn check(path: &Path, bytes: &[u8]) -> Result<Chain, AuditError> {
    let mut records: Vec<Record> = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let line = records.len() as u64 + 1;
        let Some(nl) = bytes[at..].iter().position(|&b| b == b'\n') else {
            return Ok(Chain {
                records,
                intact_len: at as u64,
                torn: Some((line, at as u64, (bytes.len() - at) as u64)),
            });
        };
        let text = &bytes[at..at + nl];
        let broken = |what: String| AuditError::Broken {
            path: path.to_path_buf(),
            line,
            offset: at as u64,
            what,
        };
        let r = parse_line(text).map_err(broken)?;
        let expected_prev = match records.last() {
            Some(p) => p.hash.clone(),
            None => match r.change.get("log_id") {
                Some(id) if r.action == "create" => genesis(id),
                _ => {
                    return Err(broken(
                        "the first record does not create the log (its head was removed)".into(),
                    ));
                }
            },
        };
        if r.prev_hash != expected_prev {
            return Err(broken(format!(
                "its prev_hash does not match the hash of {}: a record was removed, inserted or reordered here",
                if line == 1 {
                    "the log's genesis".to_string()
                } else {
                    format!("line {}", line - 1)
                }
            )));
        }
        if r.n != line - 1 {
            return Err(broken(format!(
                "record number {} where {} was expected: a record was removed, inserted or reordered here",
                r.n,
                line - 1
            )));
        }
        records.push(r);
        at += nl + 1;
    }
    Ok(Chain {
        records,
        intact_len: at as u64,
        torn: None,
    })
}

/// One record line (without its newline), checked against its own hash.
fn parse_line(text: &[u8]) -> Result<Record, String> {
    let bad_tail = || "not a record line (it must end with its hash)".to_string();
    if text.len() < HASH_TAIL_LEN + 2 {
        return Err(bad_tail());
    }
    let (body, tail) = text.split_at(text.len() - HASH_TAIL_LEN);
    let stored = tail
        .strip_prefix(HASH_FIELD.as_bytes())
        .and_then(|t| t.strip_suffix(b"\"}"))
        .filter(|h| h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(bad_tail)?;
    let stored = std::str::from_utf8(stored).expect("hex digits");
    if sha256_hex(&[body]) != stored {
        return Err("its hash does not match its contents: the record was edited".into());
    }
    let mut r: Record = serde_json::from_slice(text).map_err(|e| format!("not a record: {e}"))?;
    r.hash = stored.to_string();
    Ok(r)
}

/// The line of record `r` (its `n` and `prev_hash` set) with its hash, and the hash.
fn encode(r: &Record) -> (Vec<u8>, String) {
    let json = serde_json::to_string(r).expect("a record serialises");
    let body = json.strip_suffix('}').expect("a JSON object");
    let hash = sha256_hex(&[body.as_bytes()]);
    let line = format!("{body}{HASH_FIELD}{hash}\"}}\n");
    (line.into_bytes(), hash)
}

/// The open audit log, positioned at its end.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    len: u64,
    next: u64,
    head: String,
    /// Set when a failed append could not be cut back; every later append is refused.
    poisoned: Option<String>,
}

/// What opening an audit log found.
#[derive(Debug)]
pub struct Opened {
    /// The log.
    pub log: AuditLog,
    /// Its records.
    pub records: Vec<Record>,
    /// Bytes of an incomplete last record that were cut off.
    pub torn_bytes: u64,
    /// True when the log was created now.
    pub created: bool,
}

impl AuditLog {
    /// Opens the log at `path`, creating it (record 0, with a fresh random id and the live-update
    /// sequence `overlay_sequence` it starts at) when it does not exist; verifies every record
    /// and cuts off an incomplete last one. A record that does not verify stops the open.
    pub fn open(path: &Path, overlay_sequence: u64) -> Result<Opened, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_path_buf(),
            cause: source,
        };
        let created = !path.exists();
        if created {
            let mut id = [0u8; 16];
            getrandom::fill(&mut id).map_err(|e| io(std::io::Error::other(e)))?;
            let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
            let mut r = Record::new("create", "healthcode", "", "")
                .with("log_id", &id)
                .outcome("ok");
            r.overlay_sequence = overlay_sequence;
            r.prev_hash = genesis(&id);
            // Written beside the final name and renamed, so a crash never leaves half a head.
            crate::index::write_atomic(path, &encode(&r).0)
                .map_err(|e| io(std::io::Error::other(e)))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let chain = check(path, &bytes)?;
        let torn_bytes = bytes.len() as u64 - chain.intact_len;
        if torn_bytes > 0 {
            file.set_len(chain.intact_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let last = chain.records.last().ok_or_else(|| AuditError::Broken {
            path: path.to_path_buf(),
            line: 1,
            offset: 0,
            what: "the log has no complete record (its head was removed)".into(),
        })?;
        let inner = Inner {
            file,
            len: chain.intact_len,
            next: last.n + 1,
            head: last.hash.clone(),
            poisoned: None,
        };
        Ok(Opened {
            log: AuditLog {
                path: path.to_path_buf(),
                inner: Mutex::new(inner),
            },
            records: chain.records,
            torn_bytes,
            created,
        })
    }

    /// The log's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `r` as the next record (its number and `prev_hash` set here) and fsyncs it; returns
    /// the record as written. On error nothing was acknowledged and the file is cut back so that
    /// it still verifies; if even that fails, every later append is refused until a restart.
    pub fn append(&self, mut r: Record) -> Result<Record, AuditError> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &g.poisoned {
            return Err(AuditError::Poisoned(format!(
                "the audit log {} is unusable after an earlier failure ({why}); restart the server",
                self.path.display()
            )));
        }
        r.n = g.next;
        r.prev_hash = g.head.clone();
        let (line, hash) = encode(&r);
        let inner = &mut *g;
        let res = (|| {
            inner.file.seek(SeekFrom::Start(inner.len))?;
            inner.file.write_all(&line)?;
            inner.file.sync_data()
        })();
        match res {
            Ok(()) => {
                g.len += line.len() as u64;
                g.next += 1;
                g.head = hash.clone();
                r.hash = hash;
                Ok(r)
            }
            Err(source) => {
                let len = g.len;
                if let Err(e2) = g.file.set_len(len).and_then(|_| g.file.sync_all()) {
                    g.poisoned = Some(format!(
                        "writing failed: {source}; cutting back failed: {e2}"
                    ));
                }
                Err(AuditError::Io {
                    path: self.path.clone(),
                    cause: source,
                })
            }
        }
    }
}

#[cfg(test)]
impl AuditLog {
    /// Makes every later append fail, as a full or failing disk would.
    pub(crate) fn fail_appends(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.file = File::open(&self.path).expect("the log opens read-only");
    }
}

/// What `healthcode audit verify` found in an intact state directory.
#[derive(Debug)]
pub struct Verified {
    /// Every record.
    pub records: Vec<Record>,
    /// Live writes checked against the live-update log.
    pub writes_checked: u64,
    /// Live writes older than the audit log (sequences up to it), not checked.
    pub predating: u64,
}

/// Verifies the audit log of state directory `dir` without changing anything: the chain, and that
/// every live write in `overlay.log` after the audit log was created has its `accepted` record
/// (same sequence, time, caller, operator, reason and change).
pub fn verify_dir(dir: &Path) -> Result<Verified, AuditError> {
    let path = dir.join(AUDIT_FILE);
    let bytes = std::fs::read(&path).map_err(|source| AuditError::Io {
        path: path.clone(),
        cause: source,
    })?;
    let chain = check(&path, &bytes)?;
    if let Some((line, offset, bytes)) = chain.torn {
        return Err(AuditError::Torn {
            path,
            line,
            offset,
            bytes,
        });
    }
    let predating = chain.records.first().map_or(0, |r| r.overlay_sequence);
    let log = dir.join("overlay.log");
    let mut writes_checked = 0;
    if log.exists() {
        let (_, replay) = read_log(&log).map_err(|e| AuditError::Overlay(e.to_string()))?;
        // A sequence has more than one `accepted` record only when a write failed, or a crash
        // came between the two logs, and the sequence was used again.
        let mut accepted: std::collections::HashMap<u64, Vec<&Record>> = Default::default();
        for r in chain.records.iter().filter(|r| r.outcome == ACCEPTED) {
            accepted.entry(r.overlay_sequence).or_default().push(r);
        }
        for e in replay.entries.iter().filter(|e| e.seq > predating) {
            let mut want = of_entry(e);
            let found = accepted.get(&e.seq).is_some_and(|rs| {
                rs.iter().any(|r| {
                    // Everything but the chain's own fields.
                    want.n = r.n;
                    want.prev_hash.clone_from(&r.prev_hash);
                    want.hash.clone_from(&r.hash);
                    **r == want
                })
            });
            if !found {
                return Err(AuditError::Unaudited {
                    path,
                    seq: e.seq,
                    action: want.action,
                    caller: want.caller,
                });
            }
            writes_checked += 1;
        }
    }
    Ok(Verified {
        records: chain.records,
        writes_checked,
        predating,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(n: u64) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let o = AuditLog::open(&path, 0).unwrap();
        assert!(o.created);
        for i in 0..n {
            o.log
                .append(Record::new("reload", "ops", "李", &format!("T-{i}")).outcome("ok"))
                .unwrap();
        }
        (dir, path)
    }

    #[test]
    fn records_chain_and_reopen_continues_the_chain() {
        let (_d, path) = written(3);
        let o = AuditLog::open(&path, 0).unwrap();
        assert!(!o.created);
        assert_eq!(o.records.len(), 4);
        let r = o
            .log
            .append(Record::new("start", "healthcode", "", ""))
            .unwrap();
        assert_eq!((r.n, &r.prev_hash), (4, &o.records[3].hash));
        let chain = check(&path, &std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(chain.records.len(), 5);
        assert_eq!(chain.records[2].reason, "T-1");
    }

    #[test]
    fn a_torn_tail_is_cut_at_open_and_an_edit_stops_it() {
        let (_d, path) = written(3);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 10]).unwrap();
        let o = AuditLog::open(&path, 0).unwrap();
        assert_eq!(o.records.len(), 3);
        assert!(o.torn_bytes > 0);
        drop(o);
        let mut b = std::fs::read(&path).unwrap();
        let at = b.len() - 100;
        b[at] ^= 1;
        std::fs::write(&path, &b).unwrap();
        match AuditLog::open(&path, 0) {
            Err(AuditError::Broken { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }
}
