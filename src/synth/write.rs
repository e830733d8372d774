//! The files `healthcode gen` writes: their names and headers, allocation-free row formatting
//! into per-chunk byte buffers, and the output directory (checked before anything is written,
//! every file written as a temporary next to its final name and renamed once complete).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::domain::{Day, Phone, RegionCode};

use super::GenError;

/// One file of the generated data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feed {
    /// `truth.csv`: where each person really was, at street precision.
    Truth,
    /// `bindings.csv`.
    Bindings,
    /// `phone_stays.csv`: telecom itinerary data.
    PhoneStays,
    /// `person_stays.csv`: flow surveys and self reports.
    PersonStays,
    /// `cdc.csv`.
    Cdc,
    /// `community.csv`.
    Community,
    /// `arrivals.csv`.
    Arrivals,
    /// `registrations.csv`.
    Registrations,
    /// `risk_areas.csv`.
    RiskAreas,
    /// `verifications.csv`.
    Verifications,
    /// `phone_status.csv`.
    PhoneStatus,
    /// `dataset.csv`: the home region, the generated city.
    Dataset,
}

impl Feed {
    /// Every file, in the order the summary lists them.
    pub const ALL: [Feed; 12] = [
        Feed::Truth,
        Feed::Bindings,
        Feed::PhoneStays,
        Feed::PersonStays,
        Feed::Cdc,
        Feed::Community,
        Feed::Arrivals,
        Feed::Registrations,
        Feed::RiskAreas,
        Feed::Verifications,
        Feed::PhoneStatus,
        Feed::Dataset,
    ];

    /// The file name in the output directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Feed::Truth => "truth.csv",
            Feed::Bindings => "bindings.csv",
            Feed::PhoneStays => "phone_stays.csv",
            Feed::PersonStays => "person_stays.csv",
            Feed::Cdc => "cdc.csv",
            Feed::Community => "community.csv",
            Feed::Arrivals => "arrivals.csv",
            Feed::Registrations => "registrations.csv",
            Feed::RiskAreas => "risk_areas.csv",
            Feed::Verifications => "verifications.csv",
            Feed::PhoneStatus => "phone_status.csv",
            Feed::Dataset => "dataset.csv",
        }
    }

    /// The header row (DOMAIN.md §3), without the line end.
    pub fn header(self) -> &'static str {
        match self {
            Feed::Truth => "id_number,region,first_day,last_day",
            Feed::Bindings => "id_number,phone,channel,bound_on,unbound_on",
            Feed::PhoneStays => "phone,region,first_day,last_day",
            Feed::PersonStays => "id_number,region,first_day,last_day,source",
            Feed::Cdc => "id_number,category,from,to",
            Feed::Community => "id_number,status,from,to,community",
            Feed::Arrivals => "id_number,travel_day,origin,mode,booked_on",
            Feed::Registrations => "id_number,registered_on,community",
            Feed::RiskAreas => "area,level,from,to",
            Feed::Verifications => "id_number,verified_on,scope,operator,ticket",
            Feed::PhoneStatus => "phone,state,as_of",
            Feed::Dataset => "key,value",
        }
    }

    /// The position of this feed in [`Feed::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name of the temporary file this feed is written to before the rename.
    fn temp_name(self) -> String {
        format!(".{}.tmp", self.file_name())
    }
}

/// Formats days as `YYYY-MM-DD` from a precomputed table (with a fallback for days outside it).
#[derive(Debug)]
pub struct DayText {
    first: Day,
    table: Vec<[u8; 10]>,
}

impl DayText {
    /// A table covering `first ..= last`.
    pub fn new(first: Day, last: Day) -> DayText {
        let table = (first.0..=last.0)
            .map(|d| {
                let s = Day(d).to_string();
                s.as_bytes().try_into().expect("a day has 10 characters")
            })
            .collect();
        DayText { first, table }
    }

    /// Appends the day.
    pub fn push(&self, out: &mut Vec<u8>, d: Day) {
        match usize::try_from(d.0 - self.first.0)
            .ok()
            .and_then(|i| self.table.get(i))
        {
            Some(text) => out.extend_from_slice(text),
            None => write!(out, "{d}").expect("writing to a Vec cannot fail"),
        }
    }
}

/// Appends `v` in decimal, zero-padded to at least `width` digits.
pub fn push_padded(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while v > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = i.min(buf.len() - width.min(buf.len()));
    out.extend_from_slice(&buf[start..]);
}

/// Appends a region code in its normalised form (as its `Display` writes it).
pub fn push_region(out: &mut Vec<u8>, code: RegionCode) {
    let digits = code.precision().digits();
    push_padded(out, code.padded() / 10u64.pow(12 - digits as u32), digits);
}

/// Appends an 11-digit phone number.
pub fn push_phone(out: &mut Vec<u8>, phone: Phone) {
    push_padded(out, phone.number(), 11);
}

/// Appends a text field, quoted when it holds a comma, a quote or a line break.
pub fn push_text(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// The rows one chunk of persons produced, one byte buffer per feed, plus row counts.
#[derive(Debug, Default)]
pub struct ChunkOut {
    /// Row bytes per feed, indexed by [`Feed::index`].
    pub bufs: [Vec<u8>; Feed::ALL.len()],
    /// Rows per feed.
    pub rows: [u64; Feed::ALL.len()],
}

impl ChunkOut {
    /// The buffer of one feed, counting the row about to be appended.
    pub fn row(&mut self, feed: Feed) -> &mut Vec<u8> {
        self.rows[feed.index()] += 1;
        &mut self.bufs[feed.index()]
    }

    /// Empties every buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.bufs.iter_mut().for_each(Vec::clear);
        self.rows = [0; Feed::ALL.len()];
    }
}

/// True when `name` is a file a previous `gen` run writes (or its temporary).
fn is_gen_file(name: &str) -> bool {
    Feed::ALL
        .iter()
        .any(|f| name == f.file_name() || name == f.temp_name())
}

/// The output directory while the files are being written: every file goes to a temporary
/// name first and is renamed to its final name by [`Output::commit`]; dropped without a commit,
/// the temporaries are removed.
#[derive(Debug)]
pub struct Output {
    dir: PathBuf,
    files: Vec<BufWriter<File>>,
    bytes: [u64; Feed::ALL.len()],
    committed: bool,
}

impl Output {
    /// Checks `dir` and opens the temporary files.
    ///
    /// The directory is created when missing. An existing directory must be empty or hold only
    /// files a previous `gen` run wrote, unless `force` is set; even then only those names are
    /// replaced and nothing else in it is touched.
    pub fn create(dir: &Path, force: bool) -> Result<Output, GenError> {
        Output::check(dir, force)?;
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(|source| GenError::Io {
                path: dir.to_path_buf(),
                cause: source,
            })?;
        }
        let mut out = Output {
            dir: dir.to_path_buf(),
            files: Vec::with_capacity(Feed::ALL.len()),
            bytes: [0; Feed::ALL.len()],
            committed: false,
        };
        for feed in Feed::ALL {
            let path = out.temp_path(feed);
            let file = File::create(&path).map_err(|source| GenError::Io {
                path,
                cause: source,
            })?;
            out.files.push(BufWriter::with_capacity(1 << 18, file));
            let header = format!("{}\n", feed.header());
            out.write(feed, header.as_bytes())?;
        }
        Ok(out)
    }

    /// Checks, without changing anything, that [`Output::create`] may write into `dir`.
    pub fn check(dir: &Path, force: bool) -> Result<(), GenError> {
        let io = |source| GenError::Io {
            path: dir.to_path_buf(),
            cause: source,
        };
        if dir.exists() {
            if !dir.is_dir() {
                return Err(GenError::NotADirectory(dir.to_path_buf()));
            }
            let mut foreign = Vec::new();
            for entry in fs::read_dir(dir).map_err(io)? {
                let entry = entry.map_err(io)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_file = entry.file_type().map_err(io)?.is_file();
                if !(is_file && is_gen_file(&name)) {
                    foreign.push(name);
                }
            }
            foreign.sort();
            if foreign.len() > 5 {
                let more = foreign.len() - 5;
                foreign.truncate(5);
                foreign.push(format!("and {more} more"));
            }
            if !foreign.is_empty() && !force {
                return Err(GenError::NotGenOutput {
                    dir: dir.to_path_buf(),
                    entries: foreign,
                });
            }
        }
        Ok(())
    }

    fn temp_path(&self, feed: Feed) -> PathBuf {
        self.dir.join(feed.temp_name())
    }

    fn write(&mut self, feed: Feed, bytes: &[u8]) -> Result<(), GenError> {
        let i = feed.index();
        self.files[i]
            .write_all(bytes)
            .map_err(|source| GenError::Io {
                path: self.dir.join(feed.temp_name()),
                cause: source,
            })?;
        self.bytes[i] += bytes.len() as u64;
        Ok(())
    }

    /// Appends a chunk's rows, file by file.
    pub fn write_chunk(&mut self, chunk: &ChunkOut) -> Result<(), GenError> {
        for feed in Feed::ALL {
            self.write(feed, &chunk.bufs[feed.index()])?;
        }
        Ok(())
    }

    /// Bytes written per feed so far, header included.
    pub fn bytes(&self) -> [u64; Feed::ALL.len()] {
        self.bytes
    }

    /// Flushes and syncs every temporary, then renames each to its final name and syncs the
    /// directory.
    pub fn commit(mut self) -> Result<(), GenError> {
        for (feed, file) in Feed::ALL.into_iter().zip(std::mem::take(&mut self.files)) {
            let path = self.temp_path(feed);
            let io = |source| GenError::Io {
                path: path.clone(),
                cause: source,
            };
            let file = file.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
        }
        for feed in Feed::ALL {
            let from = self.temp_path(feed);
            let to = self.dir.join(feed.file_name());
            fs::rename(&from, &to).map_err(|source| GenError::Io {
                path: to,
                cause: source,
            })?;
        }
        self.committed = true;
        // Make the renames durable; not every platform can open a directory for this.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.committed {
            self.files.clear();
            for feed in Feed::ALL {
                let _ = fs::remove_file(self.temp_path(feed));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_codes_and_days_as_display_does() {
        let mut out = Vec::new();
        push_padded(&mut out, 7, 3);
        push_padded(&mut out, 12345, 3);
        push_padded(&mut out, 0, 2);
        assert_eq!(out, b"0071234500");
        for s in [
            "11",
            "1101",
            "110105",
            "110105001",
            "110105001001",
            "441900003",
        ] {
            let mut out = Vec::new();
            push_region(&mut out, RegionCode::parse(s).unwrap());
            assert_eq!(out, s.as_bytes());
        }
        let d = Day::parse("2022-05-10").unwrap();
        let text = DayText::new(d.plus(-3), d.plus(3));
        for n in [-10, -3, 0, 3, 40] {
            let mut out = Vec::new();
            text.push(&mut out, d.plus(n));
            assert_eq!(out, d.plus(n).to_string().as_bytes());
        }
        let mut out = Vec::new();
        push_text(&mut out, "a,\"b\"");
        assert_eq!(out, b"\"a,\"\"b\"\"\"");
    }
}
