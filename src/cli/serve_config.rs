//! The configuration file of `healthcode serve` (`--config FILE`, TOML; docs/config.md) and
//! `--print-config`.
//!
//! Keys are the flags' names without the leading `--` (`max-in-flight = 512` is
//! `--max-in-flight 512`); `rate-limit-for` is a table of token names. Precedence: a flag given
//! on the command line, else the file, else the default. The environment sets no value: only
//! `HEALTHCODE_HOME` moves the home the defaults of `key-file`, `state-dir` and the demo live in,
//! and `RUST_LOG` sets the log level, and `--print-config` says so. Relative paths in the file
//! are relative to the file's directory. An unknown key or a bad value is an error naming the
//! file, the line and the key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::ArgMatches;
use clap::parser::ValueSource;
use healthcode::domain::{Day, Policy};
use healthcode::key::Key;
use toml::de::{DeTable, DeValue};

use super::logging::{self, LogFormat};
use super::serve::{ServeArgs, parse_duration};

/// The file's keys, in the order `--print-config` shows them, with their flags' argument ids.
const KEYS: [(&str, &str); 24] = [
    ("index", "index"),
    ("listen", "listen"),
    ("today", "today"),
    ("policy", "policy"),
    ("state-dir", "state_dir"),
    ("follow", "follow"),
    ("follow-interval", "follow_interval"),
    ("key-file", "key_file"),
    ("tokens", "tokens"),
    ("insecure-no-auth", "insecure_no_auth"),
    ("demo", "demo"),
    ("demo-persons", "demo_persons"),
    ("max-in-flight", "max_in_flight"),
    ("max-streams", "max_streams"),
    ("queue-target", "queue_target"),
    ("queue-interval", "queue_interval"),
    ("rate-limit", "rate_limit"),
    ("rate-limit-for", "rate_limit_for"),
    ("tls-cert", "tls_cert"),
    ("tls-key", "tls_key"),
    ("client-ca", "client_ca"),
    ("drain-timeout", "drain_timeout"),
    ("metrics", "metrics"),
    ("log-format", "log_format"),
];

/// Where an effective value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// A flag on the command line.
    Flag(&'static str),
    /// The configuration file, at a line.
    File(PathBuf, usize),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Flag(key) => write!(f, "flag --{key}"),
            Source::File(path, line) => write!(f, "file {}:{line}", path.display()),
        }
    }
}

/// What the file and the flags made of the arguments: where each value came from.
#[derive(Debug)]
pub struct Resolved {
    /// The configuration file, if any.
    pub file: Option<PathBuf>,
    /// Every key's source.
    pub sources: BTreeMap<&'static str, Source>,
    /// Every `rate-limit-for` entry's source, by token name.
    pub rate_for: BTreeMap<String, Source>,
}

impl Resolved {
    /// `FILE:LINE: KEY` when the first of `keys` set in the file was, to put before an error
    /// found later about its value (a file that cannot be read, a name the tokens do not know).
    pub fn origin(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| match self.sources.get(k) {
            Some(Source::File(p, line)) => Some(format!("{}:{line}: {k}", p.display())),
            _ => None,
        })
    }

    /// What turns an error about the value of the first of `keys` into one that starts with
    /// its place in the file (when it came from there).
    pub fn at<E: Into<anyhow::Error>>(
        &self,
        keys: &[&str],
    ) -> impl FnOnce(E) -> anyhow::Error + use<E> {
        let origin = self.origin(keys);
        move |e| placed(e, origin)
    }

    /// `FILE:LINE: rate-limit-for` when the entry for `name` came from the file.
    pub fn rate_for_origin(&self, name: &str) -> Option<String> {
        match self.rate_for.get(name) {
            Some(Source::File(p, line)) => Some(format!("{}:{line}: rate-limit-for", p.display())),
            _ => None,
        }
    }
}

/// `e` with `origin` before it, when there is one.
pub fn placed(e: impl Into<anyhow::Error>, origin: Option<String>) -> anyhow::Error {
    let e = e.into();
    match origin {
        Some(o) => e.context(o),
        None => e,
    }
}

/// One key of the file: where it is and what it holds.
struct Entry<'a> {
    file: &'a Path,
    line: usize,
    key: &'static str,
    value: &'a DeValue<'a>,
}

impl Entry<'_> {
    fn err(&self, what: impl fmt::Display) -> anyhow::Error {
        anyhow::anyhow!(
            "{}:{}: {}: {what}",
            self.file.display(),
            self.line,
            self.key
        )
    }

    fn kind(&self) -> &'static str {
        kind(self.value)
    }

    fn string(&self) -> anyhow::Result<&str> {
        self.value
            .as_str()
            .ok_or_else(|| self.err(format!("expected a string, not {}", self.kind())))
    }

    fn bool(&self) -> anyhow::Result<bool> {
        self.value
            .as_bool()
            .ok_or_else(|| self.err(format!("expected true or false, not {}", self.kind())))
    }

    /// A whole number in `min..=max`.
    fn integer(&self, min: u64, max: u64) -> anyhow::Result<u64> {
        let i = self
            .value
            .as_integer()
            .ok_or_else(|| self.err(format!("expected a whole number, not {}", self.kind())))?;
        let n = i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                self.err(format!(
                    "{}: expected a whole number from {min} to {max}",
                    i.as_str()
                ))
            })?;
        Ok(n)
    }

    /// A path, relative to the file's directory.
    /// A duration: whole seconds, or a string as the flags take it (`"500ms"`, `"10s"`).
    fn duration(&self) -> anyhow::Result<Duration> {
        if self.value.is_integer() {
            Ok(Duration::from_secs(self.integer(0, u64::from(u32::MAX))?))
        } else {
            parse_duration(self.string()?).map_err(|err| self.err(err))
        }
    }

    fn path(&self) -> anyhow::Result<PathBuf> {
        let s = self.string()?;
        if s.is_empty() {
            return Err(self.err("an empty path"));
        }
        Ok(self.file.parent().unwrap_or(Path::new("")).join(s))
    }

    fn addr(&self) -> anyhow::Result<SocketAddr> {
        let s = self.string()?;
        s.parse().map_err(|e| {
            self.err(format!(
                "{s:?}: {e} (an IP address and port, e.g. 127.0.0.1:9100)"
            ))
        })
    }
}

/// The name of a TOML value's type, for errors.
fn kind(v: &DeValue) -> &'static str {
    if v.is_str() {
        "a string"
    } else if v.is_integer() {
        "a whole number"
    } else if v.is_float() {
        "a decimal number"
    } else if v.is_bool() {
        "a boolean"
    } else if v.is_datetime() {
        "a date"
    } else if v.is_array() {
        "an array"
    } else {
        "a table"
    }
}

/// The 1-based line of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Whether `id`'s value was given on the command line.
fn from_flag(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// Reads `--config` (if given) into `args` wherever the command line did not set the value, and
/// says where every value came from.
pub fn apply(args: &mut ServeArgs, matches: &ArgMatches) -> anyhow::Result<Resolved> {
    let text = match &args.config {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("--config {}: cannot read it", p.display()))?,
        ),
        None => None,
    };
    let file = args.config.clone();
    let mut entries: BTreeMap<&'static str, (usize, DeValue<'_>)> = BTreeMap::new();
    if let (Some(path), Some(text)) = (&file, &text) {
        let doc = DeTable::parse(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            anyhow::anyhow!("{}:{line}: {}", path.display(), e.message().trim_end())
        })?;
        for (k, v) in doc.into_inner() {
            let line = line_of(text, k.span().start);
            let name = k.get_ref().as_ref();
            let Some(&(key, _)) = KEYS.iter().find(|(key, _)| *key == name) else {
                bail!(unknown_key(path, line, name));
            };
            entries.insert(key, (line, v.into_inner()));
        }
    }
    let path = file.as_deref().unwrap_or(Path::new(""));
    let mut sources = BTreeMap::new();
    let mut rate_for = BTreeMap::new();
    for (key, id) in KEYS {
        if key == "rate-limit-for" {
            continue;
        }
        if from_flag(matches, id) {
            sources.insert(key, Source::Flag(key));
            continue;
        }
        let Some((line, value)) = entries.get(key) else {
            sources.insert(key, Source::Default);
            continue;
        };
        let e = Entry {
            file: path,
            line: *line,
            key,
            value,
        };
        set(args, &e)?;
        sources.insert(key, Source::File(path.to_path_buf(), *line));
    }
    // rate-limit-for: the file's table, each name overridden by a flag naming it.
    let flagged: Vec<(String, u32)> = if from_flag(matches, "rate_limit_for") {
        std::mem::take(&mut args.rate_limit_for)
    } else {
        Vec::new()
    };
    if let Some((line, value)) = entries.get("rate-limit-for") {
        let e = Entry {
            file: path,
            line: *line,
            key: "rate-limit-for",
            value,
        };
        let table = value.as_table().ok_or_else(|| {
            e.err(format!(
                "expected a table of token names, e.g. rate-limit-for = {{ app = 500 }}, not {}",
                e.kind()
            ))
        })?;
        let text = text.as_deref().unwrap_or_default();
        for (name, v) in table {
            let name_line = line_of(text, name.span().start);
            let e = Entry {
                file: path,
                line: name_line,
                key: "rate-limit-for",
                value: v.get_ref(),
            };
            let n = e.integer(0, u64::from(u32::MAX)).map_err(|err| {
                anyhow::anyhow!(
                    "{err} (persons per second for {:?}; 0: no limit)",
                    name.get_ref()
                )
            })?;
            let name = name.get_ref().trim().to_string();
            if name.is_empty() {
                return Err(e.err("an empty token name"));
            }
            rate_for.insert(name.clone(), Source::File(path.to_path_buf(), name_line));
            args.rate_limit_for.retain(|(n, _)| *n != name);
            args.rate_limit_for.push((name, n as u32));
        }
    }
    for (name, n) in flagged {
        rate_for.insert(name.clone(), Source::Flag("rate-limit-for"));
        args.rate_limit_for.retain(|(m, _)| *m != name);
        args.rate_limit_for.push((name, n));
    }
    sources.insert(
        "rate-limit-for",
        match (entries.get("rate-limit-for"), rate_for.is_empty()) {
            (Some((line, _)), _) => Source::File(path.to_path_buf(), *line),
            (None, false) => Source::Flag("rate-limit-for"),
            (None, true) => Source::Default,
        },
    );
    // Checks across keys, wherever each value came from.
    match sources.get("demo-persons") {
        Some(Source::File(p, line)) if !args.demo => bail!(
            "{}:{line}: demo-persons: applies only with demo = true (or --demo)",
            p.display()
        ),
        Some(Source::Flag(_)) if !args.demo => {
            bail!("--demo-persons applies only with --demo (or demo = true in the file)")
        }
        _ => {}
    }
    for (key, partner) in [("tls-cert", "tls-key"), ("tls-key", "tls-cert")] {
        if let Some(Source::File(p, line)) = sources.get(key)
            && matches!(sources.get(partner), Some(Source::Default))
        {
            bail!(
                "{}:{line}: {key}: needs {partner} as well (in the file or as --{partner})",
                p.display()
            );
        }
    }
    if args.follow.is_some() {
        for other in ["state-dir", "demo"] {
            let place = match sources.get(other) {
                Some(Source::File(p, line)) => format!("{}:{line}: {other}", p.display()),
                Some(Source::Flag(_)) => format!("--{other}"),
                _ => continue,
            };
            if other == "state-dir" || args.demo {
                bail!(
                    "{place}: cannot go with follow (a follower serves the state directory it follows)"
                );
            }
        }
    }
    Ok(Resolved {
        file,
        sources,
        rate_for,
    })
}

/// The error of an unknown key, with the likely intended one.
fn unknown_key(path: &Path, line: usize, name: &str) -> String {
    let guess = name.trim_start_matches('-').replace('_', "-");
    let hint = if guess != name && KEYS.iter().any(|(k, _)| *k == guess) {
        format!(": did you mean `{guess}`?")
    } else {
        String::new()
    };
    format!(
        "{}:{line}: unknown key `{name}`{hint} (keys are the flags of `healthcode serve` without \
         the leading --: {})",
        path.display(),
        KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
    )
}

/// Sets the field of `e`'s key from the file.
fn set(args: &mut ServeArgs, e: &Entry) -> anyhow::Result<()> {
    match e.key {
        "index" => args.index = Some(e.path()?),
        "listen" => args.listen = e.addr()?,
        "today" => {
            let s = e.string()?;
            Day::parse(s).map_err(|err| e.err(format!("{s:?}: {err}")))?;
            args.today = Some(s.to_string());
        }
        "policy" => {
            args.policy = e.string()?.parse::<Policy>().map_err(|err| e.err(err))?;
        }
        "state-dir" => args.state_dir = Some(e.path()?),
        "key-file" => args.key_file = Some(e.path()?),
        "tokens" => args.tokens = Some(e.path()?),
        "insecure-no-auth" => args.insecure_no_auth = e.bool()?,
        "demo" => args.demo = e.bool()?,
        "demo-persons" => args.demo_persons = e.integer(1, u64::MAX >> 1)?,
        "max-in-flight" => {
            let max = tokio::sync::Semaphore::MAX_PERMITS as u64;
            if e.value.as_integer().is_some_and(|i| i.as_str() == "0") {
                return Err(e.err("0 would refuse every query: give at least 1"));
            }
            args.max_in_flight = e.integer(1, max)? as usize;
        }
        "max-streams" => args.max_streams = e.integer(1, u64::from(u32::MAX))? as u32,
        "rate-limit" => {
            let n = e.integer(1, u64::from(u32::MAX)).map_err(|err| {
                anyhow::anyhow!("{err} (persons per second; leave the key out for no limit)")
            })?;
            args.rate_limit = NonZeroU32::new(n as u32);
        }
        "tls-cert" => args.tls_cert = Some(e.path()?),
        "tls-key" => args.tls_key = Some(e.path()?),
        "client-ca" => args.client_ca = Some(e.path()?),
        "drain-timeout" => args.drain_timeout = e.duration()?,
        "queue-target" => args.queue_target = e.duration()?,
        "queue-interval" => args.queue_interval = e.duration()?,
        "follow" => args.follow = Some(e.path()?),
        "follow-interval" => args.follow_interval = e.duration()?,
        "metrics" => args.metrics = Some(e.addr()?),
        "log-format" => {
            args.log_format = match e.string()? {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                s => return Err(e.err(format!("{s:?}: expected text or json"))),
            };
        }
        other => unreachable!("key {other} is in KEYS but has no setter"),
    }
    Ok(())
}

/// A TOML string.
fn quoted(s: impl fmt::Display) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn path_value(p: &Path) -> String {
    quoted(p.display())
}

/// A duration as `--drain-timeout` takes it.
fn duration_value(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        quoted(format!("{}s", d.as_secs()))
    } else {
        quoted(format!("{}ms", d.as_millis()))
    }
}

/// The effective settings as TOML, each with its source in a comment; values that are not set
/// are commented out with what happens without them.
pub fn print(args: &ServeArgs, r: &Resolved) -> String {
    let home = Key::home_dir().ok();
    let home_says = match std::env::var_os("HEALTHCODE_HOME").filter(|h| !h.is_empty()) {
        Some(h) => format!(
            "HEALTHCODE_HOME={} (from the environment)",
            PathBuf::from(h).display()
        ),
        None => match &home {
            Some(h) => format!("{} (HEALTHCODE_HOME is not set)", h.display()),
            None => "none (neither HEALTHCODE_HOME nor HOME is set)".to_string(),
        },
    };
    let demo_dir = home.as_ref().map(|h| h.join("demo"));
    let in_home = |name: &str| home.as_ref().map(|h| h.join(name));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = String::new();
    out.push_str("# healthcode serve: the effective settings. Each says where it came from:\n");
    out.push_str("# default, file FILE:LINE or flag --NAME. The environment sets none of them.\n");
    match &r.file {
        Some(f) => out.push_str(&format!("# Configuration file: {}\n", f.display())),
        None => out.push_str("# Configuration file: none (--config FILE)\n"),
    }
    out.push_str(&format!("# Healthcode home: {home_says}\n"));
    out.push_str(&match logging::filter() {
        Ok((_, level)) if std::env::var_os(logging::LEVEL_VAR).is_some() => format!(
            "# Log level: {level} (from the environment: {}={level})\n",
            logging::LEVEL_VAR
        ),
        _ => format!(
            "# Log level: info (default; {} is not set)\n",
            logging::LEVEL_VAR
        ),
    });
    out.push('\n');
    let source = |key: &str| r.sources.get(key).cloned().unwrap_or(Source::Default);
    let line = |key: &str, value: Option<String>, why: Option<String>| {
        let src = source(key);
        let note = match (&src, why) {
            (Source::Default, Some(why)) => format!("default: {why}"),
            (s, _) => s.to_string(),
        };
        match value {
            Some(v) => format!("{key} = {v}  # {note}\n"),
            None => format!("# {key}: not set  # {note}\n"),
        }
    };
    let derived = |set: &Option<PathBuf>, demo: Option<PathBuf>, home: Option<PathBuf>| {
        set.clone().or(if args.demo { demo } else { home })
    };
    out += &line(
        "index",
        derived(
            &args.index,
            demo_dir.as_ref().map(|d| d.join("index.hcx")),
            None,
        )
        .as_deref()
        .map(path_value),
        Some(if args.demo {
            "the demo's index in the healthcode home".into()
        } else {
            "required unless demo = true".into()
        }),
    );
    out += &line("listen", Some(quoted(args.listen)), None);
    out += &line(
        "today",
        args.today.as_ref().map(quoted),
        Some(if args.demo {
            "the demo data's own day".into()
        } else {
            "today in Beijing".into()
        }),
    );
    out += &line("policy", Some(quoted(args.policy)), None);
    out += &line(
        "state-dir",
        derived(
            &args.state_dir,
            demo_dir.as_ref().map(|d| d.join("state")),
            in_home("state"),
        )
        .as_deref()
        .map(path_value),
        Some(if args.demo {
            "the demo's state directory in the healthcode home".into()
        } else {
            "state in the healthcode home".into()
        }),
    );
    out += &line(
        "follow",
        args.follow.as_deref().map(path_value),
        Some("not a follower: this server writes its own state directory".into()),
    );
    out += &line(
        "follow-interval",
        Some(duration_value(args.follow_interval)),
        None,
    );
    out += &line(
        "key-file",
        args.key_file
            .clone()
            .or(in_home("key"))
            .as_deref()
            .map(path_value),
        Some("key in the healthcode home (created on first use)".into()),
    );
    out += &line(
        "tokens",
        derived(
            &args.tokens,
            demo_dir.as_ref().map(|d| d.join("tokens")),
            None,
        )
        .as_deref()
        .map(path_value),
        Some(if args.demo {
            "the demo's tokens in the healthcode home".into()
        } else {
            "none: required unless insecure-no-auth = true".into()
        }),
    );
    out += &line(
        "insecure-no-auth",
        Some(args.insecure_no_auth.to_string()),
        None,
    );
    out += &line("demo", Some(args.demo.to_string()), None);
    if args.demo {
        out += &line("demo-persons", Some(args.demo_persons.to_string()), None);
    } else {
        // Not a setting without the demo: the file would refuse it.
        out.push_str(&format!(
            "# demo-persons: {} (used only with demo = true)  # {}\n",
            args.demo_persons,
            source("demo-persons")
        ));
    }
    out += &line(
        "max-in-flight",
        Some(args.max_in_flight.to_string()),
        Some(format!("128 a core, {cores} cores, at most 4096")),
    );
    out += &line("max-streams", Some(args.max_streams.to_string()), None);
    out += &line(
        "queue-target",
        Some(duration_value(args.queue_target)),
        None,
    );
    out += &line(
        "queue-interval",
        Some(duration_value(args.queue_interval)),
        None,
    );
    out += &line(
        "rate-limit",
        args.rate_limit.map(|r| r.to_string()),
        Some("no limit".into()),
    );
    out += &line(
        "tls-cert",
        args.tls_cert.as_deref().map(path_value),
        Some("plaintext".into()),
    );
    out += &line("tls-key", args.tls_key.as_deref().map(path_value), None);
    out += &line(
        "client-ca",
        args.client_ca.as_deref().map(path_value),
        Some("no client certificate asked for".into()),
    );
    out += &line(
        "drain-timeout",
        Some(duration_value(args.drain_timeout)),
        None,
    );
    out += &line(
        "metrics",
        args.metrics.map(quoted),
        Some("no metrics kept".into()),
    );
    out += &line("log-format", Some(quoted(args.log_format.as_str())), None);
    if args.rate_limit_for.is_empty() {
        out.push_str("# rate-limit-for: none  # default\n");
    } else {
        out.push_str("\n[rate-limit-for]\n");
        let mut entries = args.rate_limit_for.clone();
        entries.sort();
        for (name, n) in entries {
            let src = r.rate_for.get(&name).cloned().unwrap_or(Source::Default);
            out.push_str(&format!("{} = {n}  # {src}\n", quoted_key(&name)));
        }
    }
    out
}

/// A table key: bare when TOML allows it, quoted otherwise.
fn quoted_key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        name.to_string()
    } else {
        quoted(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one() {
        let t = "a = 1\nb = 2\n\nc = 3";
        assert_eq!(line_of(t, 0), 1);
        assert_eq!(line_of(t, t.find('b').unwrap()), 2);
        assert_eq!(line_of(t, t.find('c').unwrap()), 4);
    }

    #[test]
    fn an_unknown_key_names_the_likely_one() {
        let e = unknown_key(Path::new("s.toml"), 3, "max_in_flight");
        assert!(
            e.starts_with("s.toml:3: unknown key `max_in_flight`: did you mean `max-in-flight`?"),
            "{e}"
        );
        let e = unknown_key(Path::new("s.toml"), 1, "colour");
        assert!(
            e.starts_with("s.toml:1: unknown key `colour` (keys are"),
            "{e}"
        );
    }

    #[test]
    fn values_print_as_toml() {
        for tricky in ["a\"b", "C:\\x", "it's", "'\"\n"] {
            let t: toml::Table = toml::from_str(&format!("k = {}", quoted(tricky))).unwrap();
            assert_eq!(t["k"].as_str(), Some(tricky));
        }
        assert_eq!(duration_value(Duration::from_secs(10)), "\"10s\"");
        assert_eq!(duration_value(Duration::from_millis(250)), "\"250ms\"");
        assert_eq!(quoted_key("app"), "app");
        assert_eq!(quoted_key("web app"), "\"web app\"");
    }
}
