//! The real `healthcode` binary as a server process: a small generated data set built into an
//! index, `serve` started on a free port, its address read from its log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};

use super::{ADMIN_TOKEN, QUERY_TOKEN};

/// A generated data set in a temporary directory: the healthcode home (its key), the built
/// index, a state directory and a tokens file with [`QUERY_TOKEN`] and [`ADMIN_TOKEN`].
pub struct DataSet {
    /// Holds the files.
    pub dir: tempfile::TempDir,
    /// `HEALTHCODE_HOME` for every run.
    pub home: PathBuf,
    /// The index file.
    pub index: PathBuf,
    /// The state directory.
    pub state: PathBuf,
    /// The tokens file.
    pub tokens: PathBuf,
}

impl DataSet {
    /// Generates `persons` people and builds their index with the binary.
    pub fn generate(persons: u32) -> DataSet {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let feeds = dir.path().join("feeds");
        let index = dir.path().join("a.hci");
        let tokens = dir.path().join("tokens");
        std::fs::write(
            &tokens,
            format!("query app {QUERY_TOKEN}\nadmin ops {ADMIN_TOKEN}\n"),
        )
        .unwrap();
        let persons = persons.to_string();
        for (args, target) in [
            (
                vec!["gen", "--persons", &persons, "--seed", "5", "--out"],
                &feeds,
            ),
            (
                vec!["build", "--feeds", feeds.to_str().unwrap(), "--out"],
                &index,
            ),
        ] {
            let out = bin()
                .env("HEALTHCODE_HOME", &home)
                .args(&args)
                .arg(target)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        DataSet {
            state: dir.path().join("state"),
            dir,
            home,
            index,
            tokens,
        }
    }

    /// `healthcode` with this data set's home.
    pub fn command(&self) -> Command {
        let mut c = bin();
        c.env("HEALTHCODE_HOME", &self.home);
        c
    }

    /// Starts `healthcode serve` on a free port with `extra` flags.
    pub fn serve(&self, extra: &[&str]) -> ServerProcess {
        let mut cmd = self.command();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--today", "2022-05-10"])
            .arg("--index")
            .arg(&self.index)
            .arg("--state-dir")
            .arg(&self.state)
            .arg("--tokens")
            .arg(&self.tokens)
            .args(extra);
        ServerProcess::start(cmd)
    }
}

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_healthcode"))
}

/// A running server process and what it has logged so far.
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// `127.0.0.1:PORT` (empty until it listens).
    pub addr: String,
    log: Arc<Log>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// The lines a process logged, and whether its standard error has ended.
#[derive(Default)]
struct Log {
    lines: Mutex<(Vec<String>, bool)>,
    grew: Condvar,
}

impl ServerProcess {
    /// Starts `cmd` (a `serve` command) and waits for it to announce its address.
    pub fn start(cmd: Command) -> ServerProcess {
        ServerProcess::spawn(cmd).listening()
    }

    /// Starts `cmd` without waiting for anything.
    pub fn spawn(mut cmd: Command) -> ServerProcess {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Log::default());
        // Keep reading so that the server never blocks on a full pipe.
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lines.lock().unwrap().0.push(line);
                sink.grew.notify_all();
            }
            sink.lines.lock().unwrap().1 = true;
            sink.grew.notify_all();
        });
        ServerProcess {
            child,
            addr: String::new(),
            log,
            reader: Some(reader),
        }
    }

    /// Waits for the server to announce its address (in either log format).
    pub fn listening(mut self) -> ServerProcess {
        self.addr = self.wait_until("listening on", listening_addr);
        self
    }

    /// Waits for a logged line starting with `prefix` (one logged already counts) and returns
    /// it; panics with the log if the process ends its log first.
    pub fn wait_for(&self, prefix: &str) -> String {
        self.wait_until(prefix, |l| l.starts_with(prefix).then(|| l.to_string()))
    }

    /// Waits for the first logged line `pick` finds something in, and returns that; panics
    /// with the log, saying `what` it waited for, if the process ends its log first.
    pub fn wait_until<T>(&self, what: &str, pick: impl Fn(&str) -> Option<T>) -> T {
        let mut g = self.log.lines.lock().unwrap();
        loop {
            if let Some(found) = g.0.iter().find_map(|l| pick(l)) {
                return found;
            }
            assert!(
                !g.1,
                "the server ended its log before saying {what:?}:\n{}",
                g.0.join("\n")
            );
            g = self.log.grew.wait(g).unwrap();
        }
    }

    /// The lines logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lines.lock().unwrap().0.clone()
    }

    /// Sends `signal` (`libc::SIGTERM`, `libc::SIGINT`…).
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid this test spawned and has not yet reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits for the process to exit; returns its status and its whole log.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        (status, self.log())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of a server's "listening on" line, in either log format.
pub fn listening_addr(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix("healthcode: listening on ") {
        return Some(rest.split(',').next().unwrap().to_string());
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if !v["message"].as_str()?.starts_with("listening on ") {
        return None;
    }
    v["addr"].as_str().map(str::to_string)
}

/// The path as a `&str`, for argument lists.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
