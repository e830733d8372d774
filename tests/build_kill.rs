//! `healthcode build` killed (SIGKILL) at seeded moments of its run: nothing is ever left at the
//! output path, what is left beside it is a recognisable temporary, and the next build removes
//! the stale temporaries, succeeds and verifies.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use healthcode::domain::{Day, RegionCode};
use healthcode::key::Key;
use healthcode::synth::{self, GenConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn build(feeds: &Path, out: &Path, key: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .args(["build", "--feeds"])
        .arg(feeds)
        .arg("--out")
        .arg(out)
        .arg("--key-file")
        .arg(key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting healthcode build")
}

fn verify(file: &Path, key: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .arg("verify")
        .arg(file)
        .arg("--key-file")
        .arg(key)
        .output()
        .expect("running healthcode verify")
}

/// The write temporaries of `out` in its directory (`.NAME.*.tmp`).
fn temporaries(out: &Path) -> Vec<PathBuf> {
    let prefix = format!(".{}.", out.file_name().unwrap().to_string_lossy());
    let mut v: Vec<PathBuf> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && n.ends_with(".tmp")
        })
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

#[test]
fn a_build_killed_at_any_moment_leaves_nothing_at_its_output_and_a_rerun_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let feeds = tmp.path().join("feeds");
    let today = Day::parse(synth::DEFAULT_TODAY).unwrap();
    let cfg = GenConfig {
        persons: 15_000,
        seed: 5,
        today,
        city: RegionCode::parse(synth::DEFAULT_CITY).unwrap(),
    };
    synth::generate(&cfg, &feeds, false, &mut |_| {}).expect("the world generates");
    let key = tmp.path().join("key");
    Key::create(&key).unwrap();

    // One uninterrupted build tells how long a build runs here, so that the kills spread over
    // all of it (the write and rename come last).
    let reference = tmp.path().join("reference/index.hci");
    let started = Instant::now();
    let status = build(&feeds, &reference, &key).wait().unwrap();
    let full = started.elapsed();
    assert!(status.success(), "the reference build succeeds");

    let out = tmp.path().join("out/index.hci");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0x6b11);
    let mut killed = 0;
    let mut kill_at = |child: &mut std::process::Child, what: &str| {
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.signal() == Some(libc::SIGKILL) {
            killed += 1;
            assert!(
                !out.exists(),
                "killed {what}: a file was left at the output path"
            );
        } else {
            // It finished first: what it wrote must be whole; start the next run without it.
            assert!(status.success(), "{what}: {status:?}");
            assert!(verify(&out, &key).status.success());
            std::fs::remove_file(&out).unwrap();
        }
        eprintln!(
            "{what}: {status:?}, {} temporaries",
            temporaries(&out).len()
        );
    };
    for _ in 0..4 {
        let d = full.mul_f64(rng.random_range(0.05..1.0));
        let mut child = build(&feeds, &out, &key);
        std::thread::sleep(d);
        kill_at(&mut child, &format!("after {d:?}"));
    }
    // The last moments: killed as soon as its temporary appears (written, syncing or about to
    // be renamed).
    for _ in 0..2 {
        let mut child = build(&feeds, &out, &key);
        let before = temporaries(&out);
        while child.try_wait().unwrap().is_none() && temporaries(&out) == before {}
        kill_at(&mut child, "once its temporary appeared");
    }
    eprintln!("{killed} of 6 builds killed while running (a whole build takes {full:?})");

    // What a killed writer leaves: an unlocked temporary. A live writer's stays locked.
    let stale = out.with_file_name(".index.hci.dead01.tmp");
    std::fs::write(&stale, b"half an index").unwrap();
    let live = out.with_file_name(".index.hci.live01.tmp");
    let held = std::fs::File::create(&live).unwrap();
    held.lock().unwrap();
    let unrelated = out.with_file_name(".other.hci.dead02.tmp");
    std::fs::write(&unrelated, b"not ours").unwrap();

    let status = build(&feeds, &out, &key).wait().unwrap();
    assert!(status.success(), "the rerun succeeds: {status:?}");
    let v = verify(&out, &key);
    assert!(v.status.success(), "{v:?}");
    assert_eq!(
        temporaries(&out),
        vec![live.clone()],
        "stale temporaries are removed, a locked one is left to its writer"
    );
    assert!(
        unrelated.exists(),
        "another file's temporaries are not touched"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&reference).unwrap(),
        "the rerun writes the same index as an uninterrupted build"
    );
    drop(held);
}
