//! The rejects report: per-file counts of rows read, accepted and rejected, the warnings, the
//! sink every `file:line: reason` line streams into, and the reject-ratio threshold.

use std::fmt::Write as _;
use std::io::Write;

use super::{FeedError, FeedOptions};

/// The counts of one feed file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// The file's name in the feed table (`cdc.csv`).
    pub spec_name: &'static str,
    /// The name actually read (`cdc.csv` or `cdc.csv.gz`); `None` when the file is absent.
    pub file: Option<String>,
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Rows kept.
    pub accepted: u64,
    /// Rows rejected, each reported as a `file:line: reason` line unless the header was bad.
    pub rejected: u64,
    /// Why the whole file was rejected (a missing or duplicated column), if it was.
    pub header_error: Option<String>,
}

impl FileReport {
    /// The name to show: the file read, or the table's name when absent.
    pub fn name(&self) -> &str {
        self.file.as_deref().unwrap_or(self.spec_name)
    }

    /// Rejected share of the rows read; 0 for a file without rows. A file whose header was
    /// refused is wholly rejected (1), rows or none: a file without a header row has its first
    /// row taken for the header, so "no rows" may be a row lost.
    pub fn ratio(&self) -> f64 {
        if self.header_error.is_some() {
            1.0
        } else if self.rows == 0 {
            0.0
        } else {
            self.rejected as f64 / self.rows as f64
        }
    }

    /// True when this file has any reject, the header included.
    pub fn has_rejects(&self) -> bool {
        self.rejected > 0 || self.header_error.is_some()
    }
}

/// A file whose rejects broke the threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectShare {
    /// The file's name as read.
    pub file: String,
    /// Data rows read.
    pub rows: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// `rejected / rows` (1 when the header was refused).
    pub ratio: f64,
    /// Why the whole file was rejected, when its header was refused.
    pub header_error: Option<String>,
}

/// What reading a feed directory found: one [`FileReport`] per feed file (absent ones included,
/// in table order) and the warnings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// One entry per file of the feed table, in reading order.
    pub files: Vec<FileReport>,
    /// Things worth knowing that reject nothing (unknown columns, unknown files, empty files).
    pub warnings: Vec<String>,
}

impl Report {
    /// The entry of a file of the feed table, by its plain name (`cdc.csv`).
    pub fn file(&self, spec_name: &str) -> Option<&FileReport> {
        self.files.iter().find(|f| f.spec_name == spec_name)
    }

    /// Data rows read over all files.
    pub fn total_rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Rows accepted over all files.
    pub fn total_accepted(&self) -> u64 {
        self.files.iter().map(|f| f.accepted).sum()
    }

    /// Rows rejected over all files.
    pub fn total_rejected(&self) -> u64 {
        self.files.iter().map(|f| f.rejected).sum()
    }

    /// The files that break the threshold: any reject under `strict`, else a rejected share
    /// above `max_reject_ratio`.
    pub fn over_threshold(&self, opts: &FeedOptions) -> Vec<RejectShare> {
        self.files
            .iter()
            .filter(|f| {
                if opts.strict {
                    f.has_rejects()
                } else {
                    f.ratio() > opts.max_reject_ratio
                }
            })
            .map(|f| RejectShare {
                file: f.name().to_string(),
                rows: f.rows,
                rejected: f.rejected,
                ratio: f.ratio(),
                header_error: f.header_error.clone(),
            })
            .collect()
    }

    /// Fails with [`FeedError::TooManyRejects`] (carrying this report) when a file breaks the
    /// threshold.
    pub fn enforce(self, opts: &FeedOptions) -> Result<Report, FeedError> {
        let offending = self.over_threshold(opts);
        if offending.is_empty() {
            Ok(self)
        } else {
            Err(FeedError::TooManyRejects {
                offending,
                max_reject_ratio: opts.max_reject_ratio,
                strict: opts.strict,
                report: Box::new(self),
            })
        }
    }

    /// The summary table: one line per file (rows, accepted, rejected, ratio) and a total.
    pub fn summary_table(&self) -> String {
        let width = self
            .files
            .iter()
            .map(|f| f.name().chars().count())
            .max()
            .unwrap_or(0)
            .max("total".len());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:>12}  {:>12}  {:>10}  {:>8}",
            "file", "rows", "accepted", "rejected", "ratio"
        );
        for f in &self.files {
            if f.file.is_none() {
                let _ = writeln!(out, "{:<width$}  {:>12}", f.name(), "absent");
                continue;
            }
            let _ = write!(
                out,
                "{:<width$}  {:>12}  {:>12}  {:>10}  {:>8}",
                f.name(),
                f.rows,
                f.accepted,
                f.rejected,
                percent(f.ratio())
            );
            if let Some(e) = &f.header_error {
                let _ = write!(out, "  whole file rejected: {e}");
            }
            out.push('\n');
        }
        let total = self.total_rows();
        let rejected = self.total_rejected();
        let _ = writeln!(
            out,
            "{:<width$}  {:>12}  {:>12}  {:>10}  {:>8}",
            "total",
            total,
            self.total_accepted(),
            rejected,
            percent(if total == 0 {
                0.0
            } else {
                rejected as f64 / total as f64
            })
        );
        out
    }
}

/// A ratio as a percentage with enough digits to see 0.001.
pub(crate) fn percent(r: f64) -> String {
    format!("{:.3}%", r * 100.0)
}

/// The message of [`FeedError::TooManyRejects`].
pub(crate) fn too_many_message(offending: &[RejectShare], max: f64, strict: bool) -> String {
    let files: Vec<String> = offending
        .iter()
        .map(|o| match &o.header_error {
            Some(why) => format!(
                "{}: the whole file rejected ({} rows after its first), as its first row is not a \
                 usable header: {why}",
                o.file, o.rows
            ),
            None => format!(
                "{}: {} of {} rows rejected ({})",
                o.file,
                o.rejected,
                o.rows,
                percent(o.ratio)
            ),
        })
        .collect();
    if strict {
        format!(
            "rejected rows under --strict: {}; fix the rejected rows (see the rejects report) or \
             drop --strict",
            files.join("; ")
        )
    } else {
        format!(
            "too many rejected rows (limit {} per file): {}; fix the rejected rows (see the \
             rejects report) or raise --max-reject-ratio",
            percent(max),
            files.join("; ")
        )
    }
}

/// Where reject lines go, as they happen: `file:line: reason`.
pub(crate) struct RejectSink<'w> {
    out: &'w mut dyn Write,
}

impl<'w> RejectSink<'w> {
    /// A sink writing into `out`.
    pub fn new(out: &'w mut dyn Write) -> RejectSink<'w> {
        RejectSink { out }
    }

    /// Writes one reject line.
    pub fn write(&mut self, file: &str, line: u64, reason: &str) -> Result<(), FeedError> {
        writeln!(self.out, "{file}:{line}: {reason}").map_err(FeedError::Rejects)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), FeedError> {
        self.out.flush().map_err(FeedError::Rejects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &'static str, rows: u64, rejected: u64) -> FileReport {
        FileReport {
            spec_name: name,
            file: Some(name.to_string()),
            rows,
            accepted: rows - rejected,
            rejected,
            header_error: None,
        }
    }

    #[test]
    fn threshold_is_per_file_and_strict_fails_on_any() {
        let r = Report {
            files: vec![
                file("cdc.csv", 1000, 1),
                file("bindings.csv", 1000, 2),
                file("arrivals.csv", 0, 0),
            ],
            warnings: vec![],
        };
        let lax = FeedOptions::default();
        let over = r.over_threshold(&lax);
        assert_eq!(over.len(), 1, "exactly 0.1% passes, 0.2% does not");
        assert_eq!(over[0].file, "bindings.csv");
        assert_eq!((over[0].rows, over[0].rejected), (1000, 2));
        let strict = FeedOptions {
            strict: true,
            ..FeedOptions::default()
        };
        assert_eq!(r.over_threshold(&strict).len(), 2);
        let e = r.clone().enforce(&lax).unwrap_err().to_string();
        assert!(
            e.contains("bindings.csv: 2 of 1000 rows rejected (0.200%)"),
            "{e}"
        );
        assert!(e.contains("raise --max-reject-ratio"), "{e}");
        assert!(!e.contains("cdc.csv"), "{e}");
    }

    #[test]
    fn a_bad_header_fails_even_without_rows() {
        let mut f = file("cdc.csv", 0, 0);
        f.header_error = Some("missing column \"to\"".into());
        let r = Report {
            files: vec![f],
            warnings: vec![],
        };
        assert_eq!(r.over_threshold(&FeedOptions::default()).len(), 1);
        let all = FeedOptions {
            max_reject_ratio: 1.0,
            ..FeedOptions::default()
        };
        assert!(r.over_threshold(&all).is_empty());
        let strict = FeedOptions {
            strict: true,
            ..FeedOptions::default()
        };
        assert_eq!(r.over_threshold(&strict).len(), 1);
    }

    #[test]
    fn summary_shows_counts_ratios_and_absent_files() {
        let r = Report {
            files: vec![
                file("cdc.csv", 4, 1),
                FileReport {
                    spec_name: "arrivals.csv",
                    ..FileReport::default()
                },
            ],
            warnings: vec![],
        };
        let t = r.summary_table();
        let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines[0], ["file", "rows", "accepted", "rejected", "ratio"]);
        assert_eq!(lines[1], ["cdc.csv", "4", "3", "1", "25.000%"]);
        assert_eq!(lines[2], ["arrivals.csv", "absent"]);
        assert_eq!(lines[3], ["total", "4", "3", "1", "25.000%"]);
    }
}
