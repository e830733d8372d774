//! Helpers of the integration tests that run the binary: feed directories in temp dirs, valid document numbers, and
//! runs of the real `healthcode` binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use healthcode::domain::IdNumber;

/// A feed directory that disappears with the test.
pub struct FeedDir {
    dir: tempfile::TempDir,
}

impl FeedDir {
    /// An empty feed directory.
    pub fn new() -> FeedDir {
        FeedDir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `name` with these lines (each ends with a newline).
    pub fn write(&self, name: &str, lines: &[&str]) -> &FeedDir {
        std::fs::write(self.join(name), joined(lines)).expect("write feed file");
        self
    }

    /// Writes `name` (which should end in `.gz`) gzip-compressed.
    pub fn write_gz(&self, name: &str, lines: &[&str]) -> &FeedDir {
        let f = std::fs::File::create(self.join(name)).expect("create gz file");
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        gz.write_all(joined(lines).as_bytes()).expect("write gz");
        gz.finish().expect("finish gz");
        self
    }

    /// Writes raw bytes.
    pub fn write_bytes(&self, name: &str, bytes: &[u8]) -> &FeedDir {
        std::fs::write(self.join(name), bytes).expect("write feed file");
        self
    }

    /// The names of the files in the directory, sorted.
    pub fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn joined(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// A valid resident ID: 17 digits derived from `n`, with the right check character.
pub fn id(n: u64) -> String {
    IdNumber::from_body(11010519900101000 + n).to_string()
}

/// What a run of the binary showed.
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The standard output's lines.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().expect("exited normally"),
            stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
        }
    }
}

/// Runs `healthcode` with these arguments.
pub fn healthcode(args: &[&str]) -> Run {
    Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .args(args)
        .output()
        .expect("run healthcode")
        .into()
}

/// The `healthcode` command with `HEALTHCODE_HOME` set to `home`, so that it never reads or
/// creates a key in the real home directory.
pub fn healthcode_cmd(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_healthcode"));
    cmd.env("HEALTHCODE_HOME", home);
    cmd
}

/// Runs `healthcode` with these arguments and `HEALTHCODE_HOME` set to `home`.
pub fn healthcode_at(home: &Path, args: &[&str]) -> Run {
    healthcode_cmd(home)
        .args(args)
        .output()
        .expect("run healthcode")
        .into()
}

/// Runs `healthcode check --feeds DIR` with extra arguments.
pub fn check(dir: &FeedDir, extra: &[&str]) -> Run {
    let mut args = vec!["check", "--feeds", dir.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    healthcode(&args)
}
