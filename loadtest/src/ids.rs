//! The document numbers a load test sends: known ids from a `gen` data set, unknown ids (valid
//! numbers the data set does not hold) and invalid ones (a wrong check character), in a mix.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, bail};
use healthcode::domain::id::check_char;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shares of known, unknown and invalid ids, in percent.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Mix {
    /// Known to the data set.
    pub known: f64,
    /// Valid numbers the data set does not hold.
    pub unknown: f64,
    /// Numbers with a wrong check character.
    pub invalid: f64,
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// `KNOWN,UNKNOWN,INVALID` in percent, e.g. `90,9,1`.
    fn from_str(s: &str) -> Result<Mix, String> {
        let parts: Vec<f64> = s
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--mix {s:?}: {e} (expected KNOWN,UNKNOWN,INVALID in percent)"))?;
        let [known, unknown, invalid] = parts[..] else {
            return Err(format!(
                "--mix {s:?}: expected three shares KNOWN,UNKNOWN,INVALID, e.g. 90,9,1"
            ));
        };
        if [known, unknown, invalid].iter().any(|v| *v < 0.0) || known + unknown + invalid <= 0.0 {
            return Err(format!(
                "--mix {s:?}: shares must be non-negative, not all zero"
            ));
        }
        Ok(Mix {
            known,
            unknown,
            invalid,
        })
    }
}

/// Reads the distinct document numbers of a data set: `DIR/bindings.csv` when given a feed
/// directory, else a file of one id per line or a CSV whose first column is the id.
pub fn read_known(path: &Path, limit: usize) -> anyhow::Result<Vec<String>> {
    let file = if path.is_dir() {
        path.join("bindings.csv")
    } else {
        path.to_path_buf()
    };
    let f = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", file.display(), n + 1))?;
        let id = line.split(',').next().unwrap_or("").trim();
        if id.is_empty() || id == "id_number" {
            continue;
        }
        if id.len() != 18 {
            bail!(
                "{}:{}: id_number {id:?} is not an 18-character document number",
                file.display(),
                n + 1
            );
        }
        if seen.insert(id.to_string()) {
            out.push(id.to_string());
            if out.len() >= limit {
                break;
            }
        }
    }
    if out.is_empty() {
        bail!("{}: no document numbers", file.display());
    }
    Ok(out)
}

/// `id` with its 3-digit sequence number replaced by `seq` and a correct check character.
fn with_sequence(id: &str, seq: u32) -> String {
    let mut digits = [0u8; 17];
    digits[..14].copy_from_slice(&id.as_bytes()[..14]);
    digits[14..].copy_from_slice(format!("{:03}", seq % 1000).as_bytes());
    let mut s = String::from_utf8(digits.to_vec()).expect("ASCII digits");
    s.push(check_char(&digits));
    s
}

/// `id` with a wrong check character.
fn with_wrong_check(id: &str) -> String {
    let bytes = id.as_bytes();
    let right = bytes[17].to_ascii_uppercase();
    let wrong = if right == b'0' { b'1' } else { b'0' };
    let mut s = id[..17].to_string();
    s.push(wrong as char);
    s
}

/// What an id in the pool is meant to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Known to the data set.
    Known,
    /// Valid, not in the data set.
    Unknown,
    /// Wrong check character.
    Invalid,
}

/// A shuffled pool of ids in the proportions of `mix`; workers walk it from different offsets.
pub struct Pool {
    /// The ids, one after another in walking order: the workers walk the pool in order, so they
    /// read memory in order (one string allocation per id, shuffled, was a cache miss an id).
    text: String,
    /// Where each id ends in `text`.
    ends: Vec<usize>,
    /// What each id was made as.
    pub kinds: Vec<Kind>,
    /// How many of each kind.
    pub counts: [usize; 3],
}

impl Pool {
    /// Builds a pool of `size` ids from `known` (seeded, so two runs send the same ids).
    pub fn new(known: &[String], mix: Mix, size: usize, seed: u64) -> Pool {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let set: HashSet<&str> = known.iter().map(String::as_str).collect();
        let total = mix.known + mix.unknown + mix.invalid;
        let n_unknown = (size as f64 * mix.unknown / total).round() as usize;
        let n_invalid = (size as f64 * mix.invalid / total).round() as usize;
        let n_known = size.saturating_sub(n_unknown + n_invalid);
        let mut ids = Vec::with_capacity(size);
        for _ in 0..n_known {
            ids.push((known[rng.random_range(0..known.len())].clone(), Kind::Known));
        }
        let mut made = 0;
        while made < n_unknown {
            let base = &known[rng.random_range(0..known.len())];
            let id = with_sequence(base, rng.random_range(0..1000));
            if !set.contains(id.as_str()) {
                ids.push((id, Kind::Unknown));
                made += 1;
            }
        }
        for _ in 0..n_invalid {
            ids.push((
                with_wrong_check(&known[rng.random_range(0..known.len())]),
                Kind::Invalid,
            ));
        }
        ids.shuffle(&mut rng);
        let mut text = String::with_capacity(ids.iter().map(|(id, _)| id.len()).sum());
        let mut ends = Vec::with_capacity(ids.len());
        let mut kinds = Vec::with_capacity(ids.len());
        for (id, kind) in ids {
            text.push_str(&id);
            ends.push(text.len());
            kinds.push(kind);
        }
        Pool {
            text,
            ends,
            kinds,
            counts: [n_known, n_unknown, n_invalid],
        }
    }

    /// How many ids the pool holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The ids in walking order, with what each was made as.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Kind)> {
        (0..self.len()).map(|i| (self.id(i), self.kinds[i]))
    }

    /// Id `i` (of `0..len()`).
    pub fn id(&self, i: usize) -> &str {
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p]);
        &self.text[start..self.ends[i]]
    }

    /// Says what the pool holds.
    pub fn describe(&self) {
        let [k, u, i] = self.counts;
        eprintln!(
            "loadtest: a pool of {} ids: {k} known, {u} unknown, {i} invalid",
            self.len()
        );
    }

    /// What `id` was made as (for tests).
    #[cfg(test)]
    fn kind(id: &str, known: &HashSet<&str>) -> Kind {
        if known.contains(id) {
            Kind::Known
        } else if healthcode::domain::IdNumber::parse(id).is_ok() {
            Kind::Unknown
        } else {
            Kind::Invalid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        // Valid ids: body digits with their check character.
        (0..200u64)
            .map(|i| {
                let body = format!("11010519900307{:03}", i % 1000);
                let digits: [u8; 17] = body.as_bytes().try_into().unwrap();
                format!("{body}{}", check_char(&digits))
            })
            .collect()
    }

    #[test]
    fn pool_holds_the_mix_and_each_kind_is_what_it_claims() {
        let known = known();
        let set: HashSet<&str> = known.iter().map(String::as_str).collect();
        let mix: Mix = "80,15,5".parse().unwrap();
        let pool = Pool::new(&known, mix, 10_000, 7);
        assert_eq!(pool.len(), 10_000);
        assert_eq!(pool.counts, [8_000, 1_500, 500]);
        let mut seen = [0usize; 3];
        for (id, kind) in pool.iter() {
            assert_eq!(Pool::kind(id, &set), kind, "{id}");
            seen[kind as usize] += 1;
        }
        assert_eq!(seen, pool.counts);
    }

    #[test]
    fn mix_rejects_bad_text() {
        assert!("90,10".parse::<Mix>().is_err());
        assert!("90,x,1".parse::<Mix>().is_err());
        assert!("0,0,0".parse::<Mix>().is_err());
        assert!("-1,50,51".parse::<Mix>().is_err());
    }
}
