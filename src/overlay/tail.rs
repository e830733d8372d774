//! Following a live-update log that another process (its writer) appends to: each poll returns
//! the records appended since the last one, exactly once and in order, and never writes.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::Entry;
use super::log::{
    LOG_HEADER_LEN, LogError, Parsed, RECORD_PREFIX_LEN, intact_after, parse_from, read_header,
};

/// What one [`Tail::poll`] found.
#[derive(Debug, Default)]
pub struct Polled {
    /// The records appended since the last poll, in sequence order, each intact.
    pub entries: Vec<Entry>,
    /// Bytes after the last intact record: a record being written now, or a torn one; waited for.
    pub pending: u64,
    /// The waiting bytes are followed by intact records: not a write in progress but a damaged
    /// record (its offset); the log will not advance past it until it is repaired.
    pub stuck_at: Option<u64>,
}

/// Follows a log that another process (the writer) appends to: each [`Tail::poll`] returns the
/// records appended since the last one. It opens the file afresh every time and never writes.
///
/// Invariant: a record is returned only once its length and checksum hold, and exactly once, in
/// sequence order; bytes that do not (yet) form an intact record are waited for, never skipped.
/// A log cut back behind a record already returned, or replaced by another log, is an error: what
/// was returned cannot be taken back.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    key_fingerprint: u64,
    /// The log's id, once its header was read.
    log_id: Option<u64>,
    /// Offset just after the last record returned.
    at: u64,
    /// The sequence of the last record returned (0: none).
    seq: u64,
    /// Offset and first bytes (length, length check and checksum) of the last record returned,
    /// to notice it being cut or rewritten.
    last: Option<(u64, [u8; RECORD_PREFIX_LEN])>,
}

impl Tail {
    /// A tail of the log at `path`, written for `key_fingerprint`, from its first record.
    pub fn new(path: &Path, key_fingerprint: u64) -> Tail {
        Tail {
            path: path.to_path_buf(),
            key_fingerprint,
            log_id: None,
            at: LOG_HEADER_LEN as u64,
            seq: 0,
            last: None,
        }
    }

    /// The log's id, once a poll has read its header.
    pub fn log_id(&self) -> Option<u64> {
        self.log_id
    }

    /// The sequence of the last record returned.
    pub fn sequence(&self) -> u64 {
        self.seq
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads what was appended since the last poll. `None` while the log does not exist yet
    /// (before its writer first started).
    pub fn poll(&mut self) -> Result<Option<Polled>, LogError> {
        let io = |source| LogError::Io {
            path: self.path.clone(),
            cause: source,
        };
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.log_id.is_none() => {
                return Ok(None);
            }
            Err(e) => return Err(io(e)),
        };
        let mut header = [0u8; LOG_HEADER_LEN];
        if let Err(e) = file.read_exact(&mut header) {
            // A writer creates the log by renaming a complete header into place.
            return match (e.kind(), self.log_id) {
                (std::io::ErrorKind::UnexpectedEof, None) => Ok(None),
                _ => Err(io(e)),
            };
        }
        let id = read_header(&self.path, &header, Some(self.key_fingerprint))?;
        if let Some(was) = self.log_id
            && was != id
        {
            return Err(LogError::Replaced {
                path: self.path.clone(),
                was,
                now: id,
            });
        }
        self.log_id = Some(id);
        // From the last record returned, to check that it is still there as it was.
        let from = self.last.map_or(self.at, |(o, _)| o);
        let len = file.metadata().map_err(io)?.len();
        let mut tail = Vec::new();
        if len > from {
            use std::io::{Seek, SeekFrom};
            file.seek(SeekFrom::Start(from)).map_err(io)?;
            file.read_to_end(&mut tail).map_err(io)?;
        }
        let skip = (self.at - from) as usize;
        let still_there = match self.last {
            Some((_, prefix)) => tail.len() >= skip && tail[..RECORD_PREFIX_LEN] == prefix,
            None => true,
        };
        if !still_there {
            return Err(LogError::CutBehind {
                path: self.path.clone(),
                seq: self.seq,
                offset: from,
                len: from + tail.len() as u64,
            });
        }
        let mut entries = Vec::new();
        let mut last_start = None;
        let parsed = parse_from(
            &self.path,
            &tail,
            skip,
            self.seq,
            &mut entries,
            &mut last_start,
        )
        .map_err(|e| shift(e, from))?;
        let (end, stuck) = match parsed {
            Parsed::End(end) => (end, None),
            Parsed::Stopped { at, .. } => (at, intact_after(&tail, at).then_some(at)),
        };
        if let (Some(e), Some(start)) = (entries.last(), last_start) {
            let mut prefix = [0u8; RECORD_PREFIX_LEN];
            prefix.copy_from_slice(&tail[start..start + RECORD_PREFIX_LEN]);
            self.last = Some((from + start as u64, prefix));
            self.seq = e.seq;
        }
        self.at = from + end as u64;
        Ok(Some(Polled {
            entries,
            pending: (tail.len() - end) as u64,
            stuck_at: stuck.map(|s| from + s as u64),
        }))
    }
}

/// `e` with its byte offset counted from the start of the file rather than from `from`.
fn shift(e: LogError, from: u64) -> LogError {
    match e {
        LogError::Corrupt {
            path,
            offset,
            after,
            what,
            rest,
        } => LogError::Corrupt {
            path,
            offset: offset + from,
            after,
            what,
            rest,
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;

    use super::*;
    use crate::overlay::log::tests::{entry, written};
    use crate::overlay::log::{LogWriter, encode_record};

    fn append_raw(path: &Path, bytes: &[u8]) {
        OpenOptions::new()
            .append(true)
            .open(path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }

    fn seqs(p: &Polled) -> Vec<u64> {
        p.entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_tail_returns_each_record_once_and_waits_for_one_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overlay.log");
        let mut t = Tail::new(&path, 7);
        assert!(t.poll().unwrap().is_none(), "no log yet");
        let (mut w, _) = LogWriter::open(&path, 7).unwrap();
        assert_eq!(seqs(&t.poll().unwrap().unwrap()), Vec::<u64>::new());
        assert_eq!(t.log_id(), Some(w.log_id()));
        for s in 1..=3 {
            w.append(&entry(s)).unwrap();
        }
        assert_eq!(seqs(&t.poll().unwrap().unwrap()), vec![1, 2, 3]);
        let p = t.poll().unwrap().unwrap();
        assert_eq!((seqs(&p), p.pending), (vec![], 0), "nothing twice");
        // Record 4 arrives a byte at a time: never returned before it is whole.
        let rec = encode_record(&entry(4));
        for (i, b) in rec.iter().enumerate() {
            let p = t.poll().unwrap().unwrap();
            assert_eq!(
                (seqs(&p), p.pending),
                (vec![], i as u64),
                "{i} bytes written"
            );
            assert_eq!(p.stuck_at, None);
            append_raw(&path, &[*b]);
        }
        let p = t.poll().unwrap().unwrap();
        assert_eq!((seqs(&p), p.pending), (vec![4], 0));
        assert_eq!(p.entries[0], entry(4));
        assert_eq!(t.sequence(), 4);
        // The writer reopens the log (a restart) and goes on where it ended.
        drop(w);
        let (mut w, r) = LogWriter::open(&path, 7).unwrap();
        assert_eq!(r.entries.len(), 4);
        w.append(&entry(5)).unwrap();
        assert_eq!(seqs(&t.poll().unwrap().unwrap()), vec![5]);
    }

    #[test]
    fn a_torn_record_cut_by_a_restarting_writer_is_never_returned() {
        let (_d, path, _) = written(2);
        let mut t = Tail::new(&path, 7);
        assert_eq!(seqs(&t.poll().unwrap().unwrap()), vec![1, 2]);
        let torn = encode_record(&entry(3));
        append_raw(&path, &torn[..torn.len() / 2]);
        assert_eq!(t.poll().unwrap().unwrap().pending, torn.len() as u64 / 2);
        // The writer restarts: it cuts the torn record off and writes another record 3.
        let (mut w, r) = LogWriter::open(&path, 7).unwrap();
        assert_eq!(r.torn_bytes, torn.len() as u64 / 2);
        let mut other = entry(3);
        other.reason = "written after the restart".into();
        w.append(&other).unwrap();
        let p = t.poll().unwrap().unwrap();
        assert_eq!(p.entries, vec![other]);
    }

    #[test]
    fn a_tail_refuses_a_log_cut_or_rewritten_behind_it_and_a_replaced_log() {
        let (_d, path, ends) = written(3);
        let full = std::fs::read(&path).unwrap();
        let mut t = Tail::new(&path, 7);
        assert_eq!(seqs(&t.poll().unwrap().unwrap()), vec![1, 2, 3]);
        // Cut back to before record 3.
        std::fs::write(&path, &full[..ends[2] as usize]).unwrap();
        assert!(
            matches!(t.poll(), Err(LogError::CutBehind { seq: 3, .. })),
            "cut"
        );
        // Record 3 rewritten with other contents.
        let mut t = Tail::new(&path, 7);
        std::fs::write(&path, &full).unwrap();
        t.poll().unwrap();
        let mut other = entry(3);
        other.reason = "ticket X".into();
        let mut b = full[..ends[2] as usize].to_vec();
        b.extend_from_slice(&encode_record(&other));
        std::fs::write(&path, &b).unwrap();
        assert!(
            matches!(t.poll(), Err(LogError::CutBehind { .. })),
            "rewritten"
        );
        // Another log in its place.
        let mut t = Tail::new(&path, 7);
        std::fs::write(&path, &full).unwrap();
        t.poll().unwrap();
        std::fs::remove_file(&path).unwrap();
        LogWriter::open(&path, 7).unwrap();
        assert!(matches!(t.poll(), Err(LogError::Replaced { .. })));
        // Another key.
        assert!(matches!(
            Tail::new(&path, 8).poll(),
            Err(LogError::KeyMismatch { .. })
        ));
    }

    #[test]
    fn a_damaged_record_stops_a_tail_which_says_so_and_returns_nothing_after_it() {
        let (_d, path, ends) = written(4);
        let mut b = std::fs::read(&path).unwrap();
        b[ends[2] as usize + 20] ^= 0x10;
        std::fs::write(&path, &b).unwrap();
        let mut t = Tail::new(&path, 7);
        let p = t.poll().unwrap().unwrap();
        assert_eq!(seqs(&p), vec![1, 2]);
        assert_eq!(p.stuck_at, Some(ends[2]));
        assert_eq!(p.pending, ends[4] - ends[2]);
        assert_eq!(t.sequence(), 2);
    }
}
