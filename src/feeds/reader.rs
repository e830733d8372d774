//! CSV plumbing shared by every feed file: finding `X.csv` or `X.csv.gz`, streaming records
//! through one reused `ByteRecord`, resolving the header against the file's [`FileSpec`], and
//! handing each row's fields (UTF-8 checked and trimmed on access) to a parser.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use csv::ByteRecord;

use super::FeedError;
use super::report::{FileReport, RejectSink};
use super::schema::FileSpec;

/// Read buffer for plain files and for the compressed side of `.gz` files.
const BUFFER: usize = 256 << 10;

/// The longest value quoted in a message; longer values are cut (a runaway field should not
/// flood the rejects report).
const MAX_QUOTED: usize = 64;

/// A feed file found in the directory.
#[derive(Clone, Debug)]
pub(crate) struct FoundFile {
    /// The name as found (`cdc.csv` or `cdc.csv.gz`), used in every message.
    pub name: String,
    /// The full path.
    pub path: PathBuf,
    /// True for `.csv.gz`.
    pub gz: bool,
}

/// Finds `spec.name` or `spec.name.gz` in `dir`; both present is an error, neither is `None`.
pub(crate) fn locate(dir: &Path, spec: &FileSpec) -> Result<Option<FoundFile>, FeedError> {
    let plain = dir.join(spec.name);
    let gz_name = format!("{}.gz", spec.name);
    let gz = dir.join(&gz_name);
    let exists = |p: &Path| {
        p.try_exists().map_err(|source| FeedError::Io {
            path: p.to_path_buf(),
            cause: source,
        })
    };
    match (exists(&plain)?, exists(&gz)?) {
        (true, true) => Err(FeedError::BothPlainAndGz { plain, gz }),
        (true, false) => Ok(Some(FoundFile {
            name: spec.name.to_string(),
            path: plain,
            gz: false,
        })),
        (false, true) => Ok(Some(FoundFile {
            name: gz_name,
            path: gz,
            gz: true,
        })),
        (false, false) => Ok(None),
    }
}

/// The CSV reader of one file.
type CsvReader = csv::Reader<LineFeeds<Box<dyn Read>>>;

/// Opens a feed file as a CSV reader that leaves header handling and field counts to us.
fn open(file: &FoundFile) -> Result<CsvReader, FeedError> {
    let f = File::open(&file.path).map_err(|source| FeedError::Io {
        path: file.path.clone(),
        cause: source,
    })?;
    let input: Box<dyn Read> = if file.gz {
        // Multi-member aware: concatenated gzip files (bgzip, `cat a.gz b.gz`) read whole.
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            BUFFER, f,
        )))
    } else {
        Box::new(f)
    };
    Ok(csv_reader(input))
}

fn csv_reader(input: Box<dyn Read>) -> CsvReader {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(BUFFER)
        .from_reader(LineFeeds::new(input))
}

/// Passes bytes through, keeping the most recent ones, so that a record's physical line can be
/// told.
///
/// `csv` stamps a record with the line where the previous one ended: blank lines it skips,
/// and the `\n` of a CRLF file (read with the next record), put reject lines one line off.
/// A record's first line is instead worked out from where it ends: the line after its last
/// byte, less the line feeds inside quoted fields, less one when its own terminator was a
/// line feed, which only the bytes can tell. The CSV reader buffers at most [`BUFFER`] bytes
/// ahead of the record it returns, so a window of twice that always holds the record's end.
pub(crate) struct LineFeeds<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// The last `RECENT` bytes read; byte `o` sits at `o % RECENT`.
    recent: Box<[u8]>,
}

const RECENT: usize = 2 * BUFFER;

impl<R> LineFeeds<R> {
    fn new(inner: R) -> LineFeeds<R> {
        LineFeeds {
            inner,
            offset: 0,
            recent: vec![0; RECENT].into_boxed_slice(),
        }
    }

    /// True when the byte just before offset `end` (already read) is a line feed.
    fn feed_before(&self, end: u64) -> bool {
        let Some(last) = end.checked_sub(1) else {
            return false;
        };
        let held = last < self.offset && self.offset - last <= RECENT as u64;
        debug_assert!(
            held,
            "byte {last} is in the last {RECENT} of {}",
            self.offset
        );
        held && self.recent[(last % RECENT as u64) as usize] == b'\n'
    }
}

impl<R: Read> Read for LineFeeds<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        // Keep the tail of what was read (all of it unless one read exceeds the window).
        let keep = &buf[n.saturating_sub(RECENT)..n];
        let start = self.offset + (n - keep.len()) as u64;
        let at = (start % RECENT as u64) as usize;
        let first = keep.len().min(RECENT - at);
        self.recent[at..at + first].copy_from_slice(&keep[..first]);
        self.recent[..keep.len() - first].copy_from_slice(&keep[first..]);
        self.offset += n as u64;
        Ok(n)
    }
}

/// The 1-based physical line the record just read starts on.
fn line_of(rdr: &CsvReader, rec: &ByteRecord) -> u64 {
    let pos = rdr.position();
    let (after, end) = (pos.line(), pos.byte());
    let inside = rec.as_slice().iter().filter(|b| **b == b'\n').count() as u64;
    let own = u64::from(rdr.get_ref().feed_before(end));
    after.saturating_sub(inside + own).max(1)
}

/// Where each column of the spec sits in the file's records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// `idx[i]` = position in a record of the spec's column `i`.
    idx: Vec<usize>,
    /// Number of fields of the header; every row must have as many.
    width: usize,
}

/// Resolves a header row against the spec: unknown columns become warnings, a missing or
/// duplicated column makes the whole file unreadable (the `Err` reason).
pub(crate) fn layout(
    spec: &FileSpec,
    file_name: &str,
    header: &ByteRecord,
    warnings: &mut Vec<String>,
) -> Result<Layout, String> {
    let mut idx: Vec<Option<usize>> = vec![None; spec.columns.len()];
    let mut duplicates = Vec::new();
    for (pos, raw) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(raw);
        let name = name.trim();
        match spec.columns.iter().position(|c| c.name == name) {
            Some(i) if idx[i].is_some() => duplicates.push(name.to_string()),
            Some(i) => idx[i] = Some(pos),
            None => warnings.push(format!(
                "{file_name}: unknown column {} ignored",
                quote(name)
            )),
        }
    }
    let missing: Vec<&str> = spec
        .columns
        .iter()
        .zip(&idx)
        .filter(|(_, i)| i.is_none())
        .map(|(c, _)| c.name)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing column{} {} (the header must name {})",
            if missing.len() > 1 { "s" } else { "" },
            quote_list(&missing),
            spec.header()
        ));
    }
    if !duplicates.is_empty() {
        let d: Vec<&str> = duplicates.iter().map(String::as_str).collect();
        return Err(format!(
            "duplicate column{} {}",
            if d.len() > 1 { "s" } else { "" },
            quote_list(&d)
        ));
    }
    Ok(Layout {
        idx: idx.into_iter().map(|i| i.expect("checked")).collect(),
        width: header.len(),
    })
}

/// The fields of one data row, addressed by the spec's column index.
pub(crate) struct Fields<'r> {
    rec: &'r ByteRecord,
    layout: &'r Layout,
    spec: &'static FileSpec,
}

impl<'r> Fields<'r> {
    /// The column's name.
    pub fn name(&self, i: usize) -> &'static str {
        self.spec.columns[i].name
    }

    /// The trimmed value of column `i`; invalid UTF-8 is a reject, and so is an empty value in a
    /// column that does not allow one.
    pub fn get(&self, i: usize) -> Result<&'r str, String> {
        let raw = self.rec.get(self.layout.idx[i]).unwrap_or_default();
        let trimmed = raw.trim_ascii();
        let s = std::str::from_utf8(trimmed).map_err(|e| {
            let lead = raw.len() - raw.trim_ascii_start().len();
            format!(
                "{} {}: not UTF-8 (bad byte at offset {}; convert the file to UTF-8)",
                self.name(i),
                quote(&shown(self.name(i), &String::from_utf8_lossy(trimmed))),
                lead + e.valid_up_to()
            )
        })?;
        // Unicode spaces (U+3000 from CJK input methods) only where a non-ASCII byte is.
        let s = match (s.as_bytes().first(), s.as_bytes().last()) {
            (Some(a), Some(z)) if !a.is_ascii() || !z.is_ascii() => s.trim(),
            _ => s,
        };
        if s.is_empty() && !self.spec.columns[i].may_be_empty {
            return Err(format!("{} is empty", self.name(i)));
        }
        Ok(s)
    }
}

/// Streams one file: resolves its header, counts every data row, writes each reject to the sink
/// as it happens, and calls `row` for each row with the right number of fields. `row` returns
/// the reject reason of a bad row.
pub(crate) fn read_file(
    spec: &'static FileSpec,
    file: &FoundFile,
    report: &mut FileReport,
    sink: &mut RejectSink<'_>,
    warnings: &mut Vec<String>,
    mut row: impl FnMut(&Fields<'_>, u64) -> Result<(), String>,
) -> Result<(), FeedError> {
    let mut rdr = open(file)?;
    let read_err = |e: csv::Error| FeedError::Io {
        path: file.path.clone(),
        cause: match e.into_kind() {
            csv::ErrorKind::Io(io) => io,
            other => std::io::Error::other(format!("{other:?}")),
        },
    };
    let mut rec = ByteRecord::new();
    if !rdr.read_byte_record(&mut rec).map_err(read_err)? {
        warnings.push(format!(
            "{}: empty file (no header row), no records",
            file.name
        ));
        return Ok(());
    }
    let header_line = line_of(&rdr, &rec);
    let layout = match layout(spec, &file.name, &rec, warnings) {
        Ok(l) => Ok(l),
        Err(reason) => {
            sink.write(&file.name, header_line, &reason)?;
            report.header_error = Some(reason);
            Err(())
        }
    };
    while rdr.read_byte_record(&mut rec).map_err(read_err)? {
        report.rows += 1;
        let Ok(layout) = &layout else {
            // The header already said why; one line for the file, every row counted.
            report.rejected += 1;
            continue;
        };
        let line = line_of(&rdr, &rec);
        let outcome = if rec.len() != layout.width {
            Err(format!(
                "row has {} field{}, the header has {}",
                rec.len(),
                if rec.len() == 1 { "" } else { "s" },
                layout.width
            ))
        } else {
            row(
                &Fields {
                    rec: &rec,
                    layout,
                    spec,
                },
                line,
            )
        };
        match outcome {
            Ok(()) => report.accepted += 1,
            Err(reason) => {
                report.rejected += 1;
                sink.write(&file.name, line, &reason)?;
            }
        }
    }
    Ok(())
}

/// A value in double quotes with escapes, cut to a readable length.
pub(crate) fn quote(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

/// A value as a reject line may show it: document and phone numbers masked.
pub(crate) fn shown(column: &str, value: &str) -> String {
    match column {
        "id_number" => crate::domain::mask::id_text(value),
        "phone" => crate::domain::mask::phone_text(value),
        _ => value.to_string(),
    }
}

fn quote_list(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| quote(n)).collect();
    q.join(", ")
}

/// Runs `f` on one CSV data line laid out in the spec's column order (for parser tests).
#[cfg(test)]
pub(crate) fn with_row<R>(
    spec: &'static FileSpec,
    line: &str,
    f: impl FnOnce(&Fields<'_>) -> R,
) -> R {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let mut rec = ByteRecord::new();
    assert!(rdr.read_byte_record(&mut rec).unwrap(), "one record");
    let layout = Layout {
        idx: (0..spec.columns.len()).collect(),
        width: spec.columns.len(),
    };
    assert_eq!(rec.len(), layout.width, "{line:?} has the spec's width");
    f(&Fields {
        rec: &rec,
        layout: &layout,
        spec,
    })
}

#[cfg(test)]
mod tests {
    use super::super::schema::CDC;
    use super::*;

    fn header(cols: &[&str]) -> ByteRecord {
        ByteRecord::from(cols.to_vec())
    }

    #[test]
    fn columns_in_any_order_unknown_ones_warned() {
        let mut w = Vec::new();
        let l = layout(
            &CDC,
            "cdc.csv",
            &header(&["to", "extra", " id_number ", "from", "category"]),
            &mut w,
        )
        .unwrap();
        assert_eq!(l.idx, [2, 4, 3, 0]);
        assert_eq!(l.width, 5);
        assert_eq!(w, [r#"cdc.csv: unknown column "extra" ignored"#]);
    }

    #[test]
    fn missing_and_duplicate_columns_are_file_level_rejects() {
        let mut w = Vec::new();
        let e = layout(&CDC, "cdc.csv", &header(&["id_number", "from"]), &mut w).unwrap_err();
        assert_eq!(
            e,
            r#"missing columns "category", "to" (the header must name id_number,category,from,to)"#
        );
        let e = layout(
            &CDC,
            "cdc.csv",
            &header(&["id_number", "category", "from", "to", "from"]),
            &mut w,
        )
        .unwrap_err();
        assert_eq!(e, r#"duplicate column "from""#);
    }

    /// The line each record of `input` starts on.
    fn lines(input: &str) -> Vec<u64> {
        let mut rdr = csv_reader(Box::new(io::Cursor::new(input.as_bytes().to_vec())));
        let mut rec = ByteRecord::new();
        let mut out = Vec::new();
        while rdr.read_byte_record(&mut rec).unwrap() {
            out.push(line_of(&rdr, &rec));
        }
        out
    }

    #[test]
    fn records_carry_their_physical_line() {
        assert_eq!(lines("h\na\nb\n"), [1, 2, 3]);
        assert_eq!(lines("h\r\na\r\nb\r\n"), [1, 2, 3], "CRLF");
        assert_eq!(
            lines("h\n\na\n\n\nb"),
            [1, 3, 6],
            "blank lines, no final newline"
        );
        assert_eq!(lines("h\r\n\r\na\r\n"), [1, 3]);
        assert_eq!(
            lines("\u{feff}h\n\"x\ny\nz\"\n\nb\n"),
            [1, 2, 6],
            "quoted newlines"
        );
        assert_eq!(lines("h\r\n\"x\r\ny\"\r\nb\r\n"), [1, 2, 4]);
    }

    #[test]
    fn lines_stay_right_far_into_a_file() {
        // Several times the read window, with a blank line every 7th line and CRLF every 3rd.
        let mut text = String::new();
        let mut want = Vec::new();
        let mut line = 1;
        while text.len() < 3 * RECENT {
            if line % 7 == 0 {
                text.push('\n');
            } else {
                want.push(line);
                text.push_str("13800138000,1101,2022-04-01,2022-04-01");
                text.push_str(if line % 3 == 0 { "\r\n" } else { "\n" });
            }
            line += 1;
        }
        assert_eq!(lines(&text), want);
    }

    #[test]
    fn quotes_are_cut_at_a_readable_length() {
        assert_eq!(quote("110199"), r#""110199""#);
        let long = "x".repeat(100);
        assert_eq!(quote(&long), format!("{:?}…", "x".repeat(MAX_QUOTED)));
    }
}
