//! The overlay's append-only log on disk (docs/format.md, "Live-update log"): a checksummed
//! header, then one length-prefixed, checksummed, sequence-numbered record per acknowledged write.
//!
//! Invariant: a record is acknowledged only after `append` returned, which is after the bytes were
//! fsynced; replay cuts off a torn last record and refuses a damaged record anywhere else. A
//! follower reads the same records as they are appended through `super::tail`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use super::{Change, Entry};
use crate::domain::{Day, Period, RegionCode, RiskLevel};
use crate::index::format::{OPEN_END, get_u32, get_u64, put_i32, put_u16, put_u32, put_u64};

/// First 8 bytes of a log file.
pub const LOG_MAGIC: [u8; 8] = *b"\x89HCLOG\r\n";
/// The log format this code writes and reads.
pub const LOG_VERSION: u32 = 1;
/// Header: magic, version, reserved, log id, key fingerprint, checksum.
pub const LOG_HEADER_LEN: usize = 40;
/// Record prefix: payload length (u32), a check of the length (u32) and the checksum (u64).
pub const RECORD_PREFIX_LEN: usize = 16;
/// Largest payload a record may carry (strings are bounded well below this).
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Longest operator, reason, ticket, caller or community text, in bytes.
pub const MAX_TEXT: usize = 1024;

/// Why a log cannot be opened or replayed; the server refuses to start rather than lose writes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// Reading, writing or syncing failed.
    #[error("{path}: {cause}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The header is not a healthcode log header.
    #[error("{path}: not a healthcode live-update log ({what})")]
    BadHeader {
        /// The log file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The log was written with another pseudonymisation key.
    #[error(
        "{path}: the log was written with key fingerprint {found:016x}, this server's key is {expected:016x}: start with the key the log was written with"
    )]
    KeyMismatch {
        /// The log file.
        path: PathBuf,
        /// The server's key fingerprint.
        expected: u64,
        /// The log's.
        found: u64,
    },
    /// A record before the end of the log is damaged: refusing to start rather than drop it and
    /// every write after it.
    #[error(
        "{path}: record at byte {offset} (after sequence {after}) is corrupt: {what}; {rest} bytes follow it. Nothing was changed; restore the file from a replica or backup"
    )]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the damaged record.
        offset: u64,
        /// The last good sequence before it.
        after: u64,
        /// What is wrong.
        what: String,
        /// Bytes after the damaged record.
        rest: u64,
    },
    /// A follower found another log where the one it follows was (the state directory was
    /// recreated): the writes it applied are not in it.
    #[error(
        "{path}: the log was replaced (log id {was:016x}, now {now:016x}): the writes this follower applied are not in the new log; restart it to follow the new one"
    )]
    Replaced {
        /// The log file.
        path: PathBuf,
        /// The id of the log followed so far.
        was: u64,
        /// The id found now.
        now: u64,
    },
    /// A follower found the log cut back, or rewritten, behind a record it had already applied
    /// (a write that failed and was rolled back after the follower read it, or a file restored
    /// from an older copy).
    #[error(
        "{path}: the log no longer holds sequence {seq} as it was applied here (the record at byte {offset} is cut or rewritten; the log now has {len} bytes): restart this follower to replay the log as it is"
    )]
    CutBehind {
        /// The log file.
        path: PathBuf,
        /// The last sequence applied.
        seq: u64,
        /// Where that record started.
        offset: u64,
        /// The log's length now.
        len: u64,
    },
}

/// What replaying a log found.
#[derive(Debug)]
pub struct Replay {
    /// Every intact record, in sequence order.
    pub entries: Vec<Entry>,
    /// Bytes of a torn last record that were cut off (0 when the log ended cleanly).
    pub torn_bytes: u64,
}

/// The file operations an append makes. A [`File`] in production; tests wrap it to make an
/// operation fail ([`LogWriter::open_with`]).
pub trait LogFile: Send + std::fmt::Debug {
    /// Writes all of `bytes` at byte `at`.
    fn write_all_at(&mut self, at: u64, bytes: &[u8]) -> std::io::Result<()>;
    /// Makes the written bytes durable (`fdatasync`).
    fn sync_data(&mut self) -> std::io::Result<()>;
    /// Cuts the file to `len` bytes and makes that durable.
    fn truncate(&mut self, len: u64) -> std::io::Result<()>;
}

impl LogFile for File {
    fn write_all_at(&mut self, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom};
        self.seek(SeekFrom::Start(at))?;
        self.write_all(bytes)
    }

    fn sync_data(&mut self) -> std::io::Result<()> {
        File::sync_data(self)
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)?;
        self.sync_all()
    }
}

/// The open log, positioned at its end.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: Box<dyn LogFile>,
    len: u64,
    log_id: u64,
    /// Set when a failed write could not be rolled back; every later write is refused.
    poisoned: Option<String>,
}

impl LogWriter {
    /// Opens the log at `path`, creating it (with a fresh random id) when it does not exist;
    /// replays it and cuts off a torn last record.
    pub fn open(path: &Path, key_fingerprint: u64) -> Result<(LogWriter, Replay), LogError> {
        LogWriter::open_with(path, key_fingerprint, |f| Box::new(f))
    }

    /// [`LogWriter::open`], appending through `wrap(file)` (tests inject failures with it).
    pub fn open_with(
        path: &Path,
        key_fingerprint: u64,
        wrap: impl FnOnce(File) -> Box<dyn LogFile>,
    ) -> Result<(LogWriter, Replay), LogError> {
        let io = |source| LogError::Io {
            path: path.to_path_buf(),
            cause: source,
        };
        if !path.exists() {
            create(path, key_fingerprint).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let (log_id, entries, good) = read_log_bytes(path, &bytes, Some(key_fingerprint))?;
        let torn_bytes = bytes.len() as u64 - good;
        if torn_bytes > 0 {
            file.set_len(good).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((
            LogWriter {
                path: path.to_path_buf(),
                file: wrap(file),
                len: good,
                log_id,
                poisoned: None,
            },
            Replay {
                entries,
                torn_bytes,
            },
        ))
    }

    /// The log's random identity, recorded in indexes that fold its records.
    pub fn log_id(&self) -> u64 {
        self.log_id
    }

    /// Appends one record and fsyncs it. On error nothing is acknowledged and the file is cut
    /// back to its previous length so that it stays readable; if even that fails, every later
    /// append is refused until a restart replays the log.
    pub fn append(&mut self, entry: &Entry) -> Result<(), String> {
        if let Some(why) = &self.poisoned {
            return Err(format!(
                "the live-update log {} is unusable after an earlier failure ({why}); restart the server",
                self.path.display()
            ));
        }
        let rec = encode_record(entry);
        let res = self
            .file
            .write_all_at(self.len, &rec)
            .and_then(|()| self.file.sync_data());
        match res {
            Ok(()) => {
                self.len += rec.len() as u64;
                Ok(())
            }
            Err(e) => {
                let why = format!("writing {}: {e}", self.path.display());
                if let Err(e2) = self.file.truncate(self.len) {
                    self.poisoned = Some(format!("{why}; cutting back failed: {e2}"));
                }
                Err(why)
            }
        }
    }
}

/// Reads the log at `path` without changing it and whatever key wrote it (for `healthcode audit
/// verify`): its id and every intact record; a torn last record is counted, not cut.
pub fn read_log(path: &Path) -> Result<(u64, Replay), LogError> {
    let bytes = std::fs::read(path).map_err(|source| LogError::Io {
        path: path.to_path_buf(),
        cause: source,
    })?;
    let (log_id, entries, good) = read_log_bytes(path, &bytes, None)?;
    Ok((
        log_id,
        Replay {
            entries,
            torn_bytes: bytes.len() as u64 - good,
        },
    ))
}

fn create(path: &Path, key_fingerprint: u64) -> std::io::Result<()> {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(std::io::Error::other)?;
    // Never 0: 0 means "folds no log" in an index.
    let h = encode_header(u64::from_le_bytes(id) | 1, key_fingerprint);
    // Written beside the final name and renamed, so a crash never leaves a half header.
    crate::index::write_atomic(path, &h).map_err(std::io::Error::other)
}

/// Checks a whole log's bytes as [`LogWriter::open`] does, touching no file (`path` only names
/// it in errors; the key is checked when given): the log id, every intact record in sequence
/// order, and the length of the intact prefix (shorter than `bytes` when the last record is torn).
pub fn read_log_bytes(
    path: &Path,
    bytes: &[u8],
    key_fingerprint: Option<u64>,
) -> Result<(u64, Vec<Entry>, u64), LogError> {
    let log_id = read_header(path, bytes, key_fingerprint)?;
    let (entries, good) = parse_records(path, bytes)?;
    Ok((log_id, entries, good as u64))
}

/// The header of a new log with id `log_id`, written for `key_fingerprint`.
pub fn encode_header(log_id: u64, key_fingerprint: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(LOG_HEADER_LEN);
    h.extend_from_slice(&LOG_MAGIC);
    put_u32(&mut h, LOG_VERSION);
    put_u32(&mut h, 0);
    put_u64(&mut h, log_id);
    put_u64(&mut h, key_fingerprint);
    let sum = xxh3_64(&h);
    put_u64(&mut h, sum);
    h
}

/// The log id from a header, checked against `key_fingerprint` when given.
pub(super) fn read_header(
    path: &Path,
    b: &[u8],
    key_fingerprint: Option<u64>,
) -> Result<u64, LogError> {
    let bad = |what: &str| LogError::BadHeader {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    if b.len() < LOG_HEADER_LEN {
        return Err(bad(&format!("{} bytes, shorter than the header", b.len())));
    }
    if b[..8] != LOG_MAGIC {
        return Err(bad("wrong magic"));
    }
    if xxh3_64(&b[..LOG_HEADER_LEN - 8]) != get_u64(b, LOG_HEADER_LEN - 8) {
        return Err(bad("header checksum mismatch"));
    }
    let v = get_u32(b, 8);
    if v != LOG_VERSION {
        return Err(bad(&format!(
            "log version {v}, this build reads {LOG_VERSION}"
        )));
    }
    let found = get_u64(b, 24);
    if let Some(key_fingerprint) = key_fingerprint
        && found != key_fingerprint
    {
        return Err(LogError::KeyMismatch {
            path: path.to_path_buf(),
            expected: key_fingerprint,
            found,
        });
    }
    Ok(get_u64(b, 16))
}

/// Parses every record after the header; returns them and the length of the intact prefix.
///
/// A record that fails its checks is a torn write when no intact record follows it (the write
/// that was interrupted was the last), and corruption when one does (cutting there would drop
/// acknowledged writes).
fn parse_records(path: &Path, b: &[u8]) -> Result<(Vec<Entry>, usize), LogError> {
    let mut entries = Vec::new();
    match parse_from(path, b, LOG_HEADER_LEN, 0, &mut entries, &mut None)? {
        Parsed::End(at) => Ok((entries, at)),
        Parsed::Stopped { at, what } => {
            if intact_after(b, at) {
                let after = entries.last().map_or(0, |e: &Entry| e.seq);
                return Err(LogError::Corrupt {
                    path: path.to_path_buf(),
                    offset: at as u64,
                    after,
                    what: format!("{what}, and intact records follow it"),
                    rest: (b.len() - at) as u64,
                });
            }
            Ok((entries, at)) // torn: the interrupted write was the last one
        }
    }
}

/// How far [`parse_from`] got.
pub(super) enum Parsed {
    /// Every byte was an intact record; the end.
    End(usize),
    /// The record at `at` fails its checks (`what`): torn, being written, or damaged.
    Stopped { at: usize, what: &'static str },
}

/// Parses the records of `b` from offset `at` on, the first with sequence `after + 1`, into
/// `entries`, until the end or a record that fails its checks. A record whose checksum holds but
/// which does not decode, or breaks the sequence, is corruption.
pub(super) fn parse_from(
    path: &Path,
    b: &[u8],
    mut at: usize,
    mut after: u64,
    entries: &mut Vec<Entry>,
    last_start: &mut Option<usize>,
) -> Result<Parsed, LogError> {
    while at < b.len() {
        let corrupt = |what: String| LogError::Corrupt {
            path: path.to_path_buf(),
            offset: at as u64,
            after,
            what,
            rest: (b.len() - at) as u64,
        };
        let payload = match record_at(b, at) {
            Ok(p) => p,
            Err(what) => return Ok(Parsed::Stopped { at, what }),
        };
        let e = decode_payload(payload).map_err(corrupt)?;
        if e.seq != after + 1 {
            return Err(corrupt(format!(
                "sequence {} where {} was expected",
                e.seq,
                after + 1
            )));
        }
        after = e.seq;
        *last_start = Some(at);
        at += RECORD_PREFIX_LEN + payload.len();
        entries.push(e);
    }
    Ok(Parsed::End(at))
}

/// Whether an intact record starts anywhere after offset `at`.
pub(super) fn intact_after(b: &[u8], at: usize) -> bool {
    (at + 1..b.len()).any(|o| record_at(b, o).is_ok())
}

/// The payload of the record starting at `at`, when its length and checksum hold.
fn record_at(b: &[u8], at: usize) -> Result<&[u8], &'static str> {
    if b.len() - at < RECORD_PREFIX_LEN {
        return Err("the record's prefix is incomplete");
    }
    let len = get_u32(b, at);
    if get_u32(b, at + 4) != length_check(len) || len as usize > MAX_PAYLOAD {
        return Err("the record's length is damaged");
    }
    let end = at + RECORD_PREFIX_LEN + len as usize;
    if end > b.len() {
        return Err("the record is incomplete");
    }
    let payload = &b[at + RECORD_PREFIX_LEN..end];
    if record_checksum(len, payload) != get_u64(b, at + 8) {
        return Err("checksum mismatch");
    }
    Ok(payload)
}

fn length_check(len: u32) -> u32 {
    xxh3_64(&len.to_le_bytes()) as u32 ^ 0x4843_4c47
}

fn record_checksum(len: u32, payload: &[u8]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.digest()
}

/// `s` cut to at most [`MAX_TEXT`] bytes on a character boundary, as a record stores it.
pub fn bounded(s: &str) -> &str {
    let mut n = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// Appends a text field, cut to at most [`MAX_TEXT`] bytes on a character boundary (requests are
/// checked against that limit; this only bounds names from elsewhere, such as token names).
fn put_text(out: &mut Vec<u8>, s: &str) {
    let b = bounded(s).as_bytes();
    put_u16(out, b.len() as u16);
    out.extend_from_slice(b);
}

fn put_day_or_open(out: &mut Vec<u8>, d: Option<Day>) {
    put_i32(out, d.map_or(OPEN_END, |d| d.0));
}

/// Encodes one record: prefix and payload.
pub fn encode_record(e: &Entry) -> Vec<u8> {
    let mut p = Vec::with_capacity(128);
    put_u64(&mut p, e.seq);
    put_u64(&mut p, e.at_ms as u64);
    put_text(&mut p, &e.caller);
    put_text(&mut p, &e.operator);
    put_text(&mut p, &e.reason);
    match &e.change {
        Change::SetRiskArea {
            area,
            level,
            period,
        } => {
            p.push(1);
            put_u64(&mut p, area.padded());
            p.push(match level {
                RiskLevel::Medium => 1,
                RiskLevel::High => 2,
            });
            put_i32(&mut p, period.from.0);
            put_day_or_open(&mut p, period.to);
        }
        Change::LiftRiskArea { area, to } => {
            p.push(2);
            put_u64(&mut p, area.padded());
            put_i32(&mut p, to.0);
        }
        Change::Verification {
            person,
            masked,
            verified_on,
            scope,
        } => {
            p.push(3);
            put_u64(&mut p, *person);
            put_text(&mut p, masked);
            put_i32(&mut p, verified_on.0);
            put_u64(&mut p, scope.map_or(0, |s| s.padded()));
        }
        Change::Registration {
            person,
            masked,
            registered_on,
            community,
        } => {
            p.push(4);
            put_u64(&mut p, *person);
            put_text(&mut p, masked);
            put_i32(&mut p, registered_on.0);
            put_text(&mut p, community);
        }
    }
    wrap_payload(&p)
}

/// A record of `payload`: its length, the length's check and the checksum, then the payload.
pub fn wrap_payload(payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(RECORD_PREFIX_LEN + payload.len());
    put_u32(&mut out, len);
    put_u32(&mut out, length_check(len));
    put_u64(&mut out, record_checksum(len, payload));
    out.extend_from_slice(payload);
    out
}

/// A bounds-checked reader over one record's payload.
struct Reader<'a>(&'a [u8], usize);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .0
            .get(self.1..self.1 + n)
            .ok_or_else(|| "payload ends early".to_string())?;
        self.1 += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(get_u64(self.bytes(8)?, 0))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(get_u32(self.bytes(4)?, 0) as i32)
    }
    fn text(&mut self) -> Result<String, String> {
        let n = u16::from_le_bytes(self.bytes(2)?.try_into().expect("2 bytes")) as usize;
        String::from_utf8(self.bytes(n)?.to_vec()).map_err(|_| "text is not UTF-8".to_string())
    }
    fn region(&mut self) -> Result<RegionCode, String> {
        let v = self.u64()?;
        RegionCode::from_padded(v).ok_or_else(|| format!("region {v} is not a region code"))
    }
    fn day(&mut self) -> Result<Day, String> {
        Ok(Day(self.i32()?))
    }
}

fn decode_payload(b: &[u8]) -> Result<Entry, String> {
    let mut r = Reader(b, 0);
    let seq = r.u64()?;
    let at_ms = r.u64()? as i64;
    let caller = r.text()?;
    let operator = r.text()?;
    let reason = r.text()?;
    let change = match r.u8()? {
        1 => {
            let area = r.region()?;
            let level = match r.u8()? {
                1 => RiskLevel::Medium,
                2 => RiskLevel::High,
                l => return Err(format!("risk level {l}")),
            };
            let from = r.day()?;
            let to = r.i32()?;
            Change::SetRiskArea {
                area,
                level,
                period: Period {
                    from,
                    to: (to != OPEN_END).then_some(Day(to)),
                },
            }
        }
        2 => Change::LiftRiskArea {
            area: r.region()?,
            to: r.day()?,
        },
        3 => {
            let person = r.u64()?;
            let masked = r.text()?;
            let verified_on = r.day()?;
            let scope = match r.u64()? {
                0 => None,
                v => Some(RegionCode::from_padded(v).ok_or_else(|| format!("scope {v}"))?),
            };
            Change::Verification {
                person,
                masked,
                verified_on,
                scope,
            }
        }
        4 => Change::Registration {
            person: r.u64()?,
            masked: r.text()?,
            registered_on: r.day()?,
            community: r.text()?,
        },
        k => return Err(format!("unknown record kind {k}")),
    };
    if r.1 != b.len() {
        return Err(format!(
            "{} unexpected bytes after the record",
            b.len() - r.1
        ));
    }
    Ok(Entry {
        seq,
        at_ms,
        caller,
        operator,
        reason,
        change,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A record of every kind in turn (the tail's tests use it too).
    pub(crate) fn entry(seq: u64) -> Entry {
        Entry {
            seq,
            at_ms: 1_650_000_000_000 + seq as i64,
            caller: "ops".into(),
            operator: "王伟".into(),
            reason: format!("ticket {seq}"),
            change: match seq % 4 {
                0 => Change::SetRiskArea {
                    area: RegionCode::parse("110105001").unwrap(),
                    level: RiskLevel::High,
                    period: Period {
                        from: Day(19100),
                        to: None,
                    },
                },
                1 => Change::LiftRiskArea {
                    area: RegionCode::parse("110105001").unwrap(),
                    to: Day(19110),
                },
                2 => Change::Verification {
                    person: 0xdead_beef ^ seq,
                    masked: "110105********002X".into(),
                    verified_on: Day(19105),
                    scope: Some(RegionCode::parse("1101").unwrap()),
                },
                _ => Change::Registration {
                    person: 42,
                    masked: "110105********002X".into(),
                    registered_on: Day(19106),
                    community: "建外".into(),
                },
            },
        }
    }

    pub(crate) fn written(n: u64) -> (tempfile::TempDir, PathBuf, Vec<u64>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overlay.log");
        let (mut w, r) = LogWriter::open(&path, 7).unwrap();
        assert!(r.entries.is_empty());
        let mut ends = vec![std::fs::metadata(&path).unwrap().len()];
        for s in 1..=n {
            w.append(&entry(s)).unwrap();
            ends.push(std::fs::metadata(&path).unwrap().len());
        }
        (dir, path, ends)
    }

    #[test]
    fn records_round_trip() {
        let (_d, path, _) = written(9);
        let (w, r) = LogWriter::open(&path, 7).unwrap();
        assert_eq!(r.torn_bytes, 0);
        assert_eq!(r.entries, (1..=9).map(entry).collect::<Vec<_>>());
        assert_ne!(w.log_id(), 0);
    }

    #[test]
    fn an_overlong_text_is_cut_on_a_character_boundary_and_replays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overlay.log");
        let (mut w, _) = LogWriter::open(&path, 7).unwrap();
        let mut e = entry(1);
        e.caller = "运维".repeat(400); // 2,400 bytes of 3-byte characters
        w.append(&e).unwrap();
        let (_, r) = LogWriter::open(&path, 7).unwrap();
        assert_eq!(r.entries.len(), 1);
        assert_eq!(r.entries[0].caller.len(), 1023);
        assert!(e.caller.starts_with(&r.entries[0].caller));
    }

    #[test]
    fn a_torn_last_record_is_cut_off_at_every_length() {
        let (_d, path, ends) = written(5);
        let full = std::fs::read(&path).unwrap();
        for cut in ends[4] + 1..ends[5] {
            std::fs::write(&path, &full[..cut as usize]).unwrap();
            let (_, r) = LogWriter::open(&path, 7).unwrap();
            assert_eq!(r.entries.len(), 4, "cut at {cut}");
            assert_eq!(r.torn_bytes, cut - ends[4]);
            assert_eq!(std::fs::metadata(&path).unwrap().len(), ends[4]);
        }
        // Garbage in the last record's bytes (length intact) is a torn write too.
        let mut b = full.clone();
        let last = b.len() - 3;
        b[last] ^= 0xff;
        std::fs::write(&path, &b).unwrap();
        assert_eq!(LogWriter::open(&path, 7).unwrap().1.entries.len(), 4);
    }

    #[test]
    fn a_damaged_record_in_the_middle_stops_the_start() {
        let (_d, path, ends) = written(5);
        let full = std::fs::read(&path).unwrap();
        for at in ends[1]..ends[2] {
            let mut b = full.clone();
            b[at as usize] ^= 0x41;
            std::fs::write(&path, &b).unwrap();
            match LogWriter::open(&path, 7) {
                Err(LogError::Corrupt { offset, after, .. }) => {
                    assert_eq!((offset, after), (ends[1], 1), "flip at {at}")
                }
                other => panic!("flip at {at}: {other:?}"),
            }
            // Nothing was cut: the operator can still repair the file.
            assert_eq!(std::fs::read(&path).unwrap().len(), full.len());
        }
    }

    #[test]
    fn another_key_and_a_bad_header_are_refused() {
        let (_d, path, _) = written(1);
        assert!(matches!(
            LogWriter::open(&path, 8),
            Err(LogError::KeyMismatch { .. })
        ));
        let mut b = std::fs::read(&path).unwrap();
        b[17] ^= 1;
        std::fs::write(&path, &b).unwrap();
        assert!(matches!(
            LogWriter::open(&path, 7),
            Err(LogError::BadHeader { .. })
        ));
    }
}
