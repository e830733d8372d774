//! `healthcode serve --config FILE` and `--print-config` as an operator uses them: a flag beats
//! the file, the file beats the default, and `--print-config` says which for every value (as
//! TOML that reads back to the same settings); an unknown key or a bad value is refused naming
//! the file, the line and the key; paths are relative to the file; the environment only moves
//! the home; and the server really runs with the file's settings.

mod util;

use std::path::Path;
use std::process::Output;

use util::process::{DataSet, ServerProcess, s};

/// Writes `text` to `dir/name` and returns its path.
fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `healthcode serve ARGS` in `dir` with `HEALTHCODE_HOME` at `dir/home`.
fn serve(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .current_dir(dir)
        .env("HEALTHCODE_HOME", dir.join("home"))
        .env_remove("RUST_LOG")
        .arg("serve")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `--print-config` line of `key` (set or not), without its newline.
fn line_of<'a>(printed: &'a str, key: &str) -> &'a str {
    printed
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key}: ")))
        .unwrap_or_else(|| panic!("no line for {key} in:\n{printed}"))
}

/// `--print-config` with `args`: exit 0, valid TOML, nothing served.
fn print_config(dir: &Path, args: &[&str]) -> (String, toml::Table) {
    let mut all = args.to_vec();
    all.push("--print-config");
    let out = serve(dir, &all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let table: toml::Table = toml::from_str(&text)
        .unwrap_or_else(|e| panic!("--print-config is not TOML ({e}):\n{text}"));
    (text, table)
}

#[test]
fn a_flag_beats_the_file_which_beats_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "serve.toml",
        "# the operators' settings\nindex = \"a.hci\"\nmax-in-flight = 64\ndrain-timeout = \"2s\"\nlog-format = \"json\"\n\n[rate-limit-for]\napp = 500\nweb = 20\n",
    );
    let f = s(&file);

    // Defaults only.
    let (text, t) = print_config(dir.path(), &[]);
    assert_eq!(
        t["max-in-flight"].as_integer().unwrap() as usize,
        healthcode::serve::limits::default_max_in_flight()
    );
    assert!(
        line_of(&text, "max-in-flight").contains("# default: 128 a core"),
        "{text}"
    );
    assert_eq!(t["log-format"].as_str(), Some("text"));
    assert_eq!(t["drain-timeout"].as_str(), Some("10s"));
    assert!(
        line_of(&text, "index").starts_with("# index: not set  # default"),
        "{text}"
    );

    // The file over the defaults, each value naming its line.
    let (text, t) = print_config(dir.path(), &["--config", f]);
    assert_eq!(t["max-in-flight"].as_integer(), Some(64));
    assert!(
        line_of(&text, "max-in-flight").ends_with(&format!("# file {f}:3")),
        "{text}"
    );
    assert_eq!(t["log-format"].as_str(), Some("json"));
    assert!(
        line_of(&text, "log-format").ends_with(&format!("# file {f}:5")),
        "{text}"
    );
    assert_eq!(t["index"].as_str(), Some(s(&dir.path().join("a.hci"))));
    assert!(line_of(&text, "listen").ends_with("# default"), "{text}");
    assert_eq!(t["rate-limit-for"]["app"].as_integer(), Some(500));
    assert!(text.contains(&format!("app = 500  # file {f}:8")), "{text}");

    // Flags over the file: a whole value, and one name of the table.
    let (text, t) = print_config(
        dir.path(),
        &[
            "--config",
            f,
            "--max-in-flight",
            "32",
            "--rate-limit-for",
            "web=5",
            "--listen",
            "127.0.0.1:6000",
        ],
    );
    assert_eq!(t["max-in-flight"].as_integer(), Some(32));
    assert!(
        line_of(&text, "max-in-flight").ends_with("# flag --max-in-flight"),
        "{text}"
    );
    assert_eq!(t["listen"].as_str(), Some("127.0.0.1:6000"));
    assert!(
        line_of(&text, "listen").ends_with("# flag --listen"),
        "{text}"
    );
    assert_eq!(
        t["drain-timeout"].as_str(),
        Some("2s"),
        "the file still sets the rest"
    );
    assert_eq!(t["rate-limit-for"]["web"].as_integer(), Some(5));
    assert!(text.contains("web = 5  # flag --rate-limit-for"), "{text}");
    assert_eq!(t["rate-limit-for"]["app"].as_integer(), Some(500));

    // A flag equal to the default still counts as given.
    let (text, _) = print_config(dir.path(), &["--config", f, "--log-format", "text"]);
    assert!(
        line_of(&text, "log-format").starts_with("log-format = \"text\"  # flag --log-format"),
        "{text}"
    );
}

#[test]
fn print_config_reads_back_as_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "serve.toml",
        "index = \"a.hci\"\ntokens = \"tokens\"\ntoday = \"2022-05-10\"\npolicy = \"city-level\"\nrate-limit = 900\nmetrics = \"127.0.0.1:9100\"\ndrain-timeout = \"1500ms\"\n[rate-limit-for]\n\"web app\" = 0\n",
    );
    let (first, t1) = print_config(dir.path(), &["--config", s(&file), "--max-in-flight", "40"]);
    let again = write(dir.path(), "again.toml", &first);
    let (second, t2) = print_config(dir.path(), &["--config", s(&again)]);
    assert_eq!(t1, t2, "{first}\n---\n{second}");
    assert_eq!(t2["drain-timeout"].as_str(), Some("1500ms"));
    assert_eq!(t2["rate-limit-for"]["web app"].as_integer(), Some(0));
    // Every value that is set now comes from the second file.
    for (key, _) in &t2 {
        if key != "rate-limit-for" {
            assert!(
                line_of(&second, key).contains(&format!("# file {}:", s(&again))),
                "{key}: {second}"
            );
        }
    }
}

#[test]
fn an_unknown_key_is_refused_naming_the_file_the_line_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line, key, hint) in [
        (
            "listen = \"127.0.0.1:1\"\nmax_in_flight = 3\n",
            2,
            "max_in_flight",
            Some("max-in-flight"),
        ),
        (
            "\n\n--drain-timeout = 3\n",
            3,
            "--drain-timeout",
            Some("drain-timeout"),
        ),
        ("colour = \"red\"\n", 1, "colour", None),
        ("[serve]\nlisten = \"127.0.0.1:1\"\n", 1, "serve", None),
    ] {
        let file = write(dir.path(), "bad.toml", text);
        let out = serve(dir.path(), &["--config", s(&file)]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{}:{line}: unknown key `{key}`", s(&file))),
            "{text}: {err}"
        );
        match hint {
            Some(h) => assert!(err.contains(&format!("did you mean `{h}`?")), "{err}"),
            None => assert!(err.contains("keys are the flags"), "{err}"),
        }
        assert!(stdout(&out).is_empty(), "nothing printed, nothing served");
    }
}

#[test]
fn a_bad_value_is_refused_naming_the_file_the_line_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line, key, why) in [
        ("\nlisten = \"nowhere\"\n", 2, "listen", "\"nowhere\""),
        (
            "max-in-flight = 0\n",
            1,
            "max-in-flight",
            "0 would refuse every query",
        ),
        (
            "max-in-flight = \"many\"\n",
            1,
            "max-in-flight",
            "expected a whole number, not a string",
        ),
        (
            "log-format = \"yaml\"\n",
            1,
            "log-format",
            "\"yaml\": expected text or json",
        ),
        (
            "policy = \"strict\"\n",
            1,
            "policy",
            "unknown policy \"strict\"",
        ),
        ("today = \"2022-13-01\"\n", 1, "today", "\"2022-13-01\""),
        ("drain-timeout = \"soon\"\n", 1, "drain-timeout", "\"soon\""),
        (
            "demo = \"yes\"\n",
            1,
            "demo",
            "expected true or false, not a string",
        ),
        (
            "rate-limit = 0\n",
            1,
            "rate-limit",
            "expected a whole number from 1",
        ),
        (
            "metrics = 9100\n",
            1,
            "metrics",
            "expected a string, not a whole number",
        ),
        (
            "[rate-limit-for]\napp = 10\nweb = -3\n",
            3,
            "rate-limit-for",
            "persons per second for \"web\"",
        ),
        (
            "rate-limit-for = 5\n",
            1,
            "rate-limit-for",
            "expected a table of token names",
        ),
        (
            "demo-persons = 10\n",
            1,
            "demo-persons",
            "applies only with demo = true",
        ),
        (
            "tls-cert = \"cert.pem\"\n",
            1,
            "tls-cert",
            "needs tls-key as well",
        ),
    ] {
        let file = write(dir.path(), "bad.toml", text);
        let out = serve(dir.path(), &["--config", s(&file), "--print-config"]);
        assert_eq!(out.status.code(), Some(2), "{text}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{}:{line}: {key}: ", s(&file))) && err.contains(why),
            "{text}: {err}"
        );
    }
    // Not TOML at all: the parser's complaint, with the place.
    let file = write(
        dir.path(),
        "bad.toml",
        "listen = \"127.0.0.1:1\"\nindex = \n",
    );
    let err = stderr(&serve(dir.path(), &["--config", s(&file)]));
    assert!(err.contains(&format!("{}:2: ", s(&file))), "{err}");
    // A file that is not there.
    let err = stderr(&serve(dir.path(), &["--config", "missing.toml"]));
    assert!(
        err.contains("--config missing.toml: cannot read it"),
        "{err}"
    );
}

#[test]
fn a_value_found_bad_when_used_still_names_its_place_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tokens", "query app q0123456789abcdef0123\n");
    for (text, place, why) in [
        (
            "tls-cert = \"cert.pem\"\ntls-key = \"key.pem\"\n",
            "serve.toml:1: tls-cert",
            "--tls-cert",
        ),
        (
            "index = \"a.hci\"\ntokens = \"no-such-tokens\"\n",
            "serve.toml:2: tokens",
            "no-such-tokens",
        ),
        (
            "index = \"a.hci\"\ntokens = \"tokens\"\n[rate-limit-for]\nweb = 5\n",
            "serve.toml:4: rate-limit-for",
            "no caller is named \"web\"",
        ),
        (
            "index = \"no-such.hci\"\ntokens = \"tokens\"\n",
            "serve.toml:1: index",
            "no-such.hci",
        ),
    ] {
        let file = write(dir.path(), "serve.toml", text);
        let out = serve(dir.path(), &["--config", s(&file)]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr(&out);
        assert!(err.contains(place) && err.contains(why), "{text}: {err}");
    }
}

#[test]
fn the_environment_only_moves_the_home_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (text, t) = print_config(dir.path(), &[]);
    let home = dir.path().join("home");
    assert!(
        text.contains(&format!(
            "# Healthcode home: HEALTHCODE_HOME={} (from the environment)",
            s(&home)
        )),
        "{text}"
    );
    assert_eq!(t["state-dir"].as_str(), Some(s(&home.join("state"))));
    assert!(
        line_of(&text, "state-dir").ends_with("# default: state in the healthcode home"),
        "{text}"
    );
    assert_eq!(t["key-file"].as_str(), Some(s(&home.join("key"))));
    // With --demo the defaults are the demo's, still in the home.
    let (_, t) = print_config(dir.path(), &["--demo"]);
    assert_eq!(t["index"].as_str(), Some(s(&home.join("demo/index.hcx"))));
    assert_eq!(t["state-dir"].as_str(), Some(s(&home.join("demo/state"))));
    // --print-config touches nothing: no key was created, no demo generated.
    assert!(!home.join("key").exists() && !home.join("demo").exists());
    // RUST_LOG sets the level, and is named as the source.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .env("HEALTHCODE_HOME", &home)
        .env("RUST_LOG", "debug")
        .args(["serve", "--print-config"])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("# Log level: debug (from the environment: RUST_LOG=debug)"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_with_the_files_settings_and_the_flags_over_them() {
    let data = DataSet::generate(100);
    let conf = data.dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::copy(&data.tokens, conf.join("tokens")).unwrap();
    let file = write(
        &conf,
        "serve.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\nindex = {:?}\ntokens = \"tokens\"\nstate-dir = {:?}\ntoday = \"2022-05-10\"\nmax-in-flight = 7\nmetrics = \"127.0.0.1:0\"\nlog-format = \"json\"\n",
            s(&data.index),
            s(&data.state)
        ),
    );
    let start = |extra: &[&str]| {
        let mut cmd = data.command();
        cmd.args(["serve", "--config", s(&file)]).args(extra);
        ServerProcess::start(cmd)
    };
    for (extra, max) in [(&[][..], 7), (&["--max-in-flight", "9"][..], 9)] {
        let server = start(extra);
        server.signal(libc::SIGTERM);
        let (status, log) = server.wait();
        assert!(status.success(), "{log:#?}");
        let events: Vec<serde_json::Value> = log
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let limits = events
            .iter()
            .find(|e| e["max_in_flight"].is_number())
            .unwrap_or_else(|| panic!("{log:#?}"));
        assert_eq!(limits["max_in_flight"], max, "{log:#?}");
        assert!(
            events.iter().any(|e| e["config"] == s(&file)),
            "the server names its configuration file: {log:#?}"
        );
        // The tokens file was found relative to the configuration file.
        assert!(
            events
                .iter()
                .any(|e| e["tokens"] == s(&conf.join("tokens"))),
            "{log:#?}"
        );
        assert!(
            events.iter().any(|e| e["metrics_addr"].is_string()),
            "the file's metrics address is served: {log:#?}"
        );
    }
}
