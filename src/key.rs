//! The secret pseudonymisation key: document numbers are stored in the index only as keyed
//! hashes under it, and the index records the key's fingerprint so a server with another key
//! refuses it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use siphasher::sip::SipHasher24;
use std::hash::Hasher;

use crate::domain::IdNumber;

/// A 128-bit SipHash-2-4 key.
#[derive(Clone)]
pub struct Key {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(fingerprint {:016x})", self.fingerprint())
    }
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading, creating or writing the file failed.
    #[error("key file {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The file does not hold 32 hexadecimal digits.
    #[error("key file {0}: expected 32 hexadecimal digits on one line")]
    Malformed(PathBuf),
    /// The file can be read by others.
    #[error("key file {0} is readable by group or others: chmod 600 it")]
    Permissions(PathBuf),
    /// No home directory to put the default key in.
    #[error("no home directory: set HEALTHCODE_HOME or pass --key-file")]
    NoHome,
    /// The operating system gave no randomness.
    #[error("no randomness for a new key: {0}")]
    Random(String),
}

impl Key {
    /// A key from two words (tests and fixed demos).
    pub fn from_words(k0: u64, k1: u64) -> Key {
        Key { k0, k1 }
    }

    /// A fresh random key.
    pub fn random() -> Result<Key, KeyError> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Key {
            k0: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            k1: u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
        })
    }

    /// The keyed hash of a document number: what the index stores instead of the number.
    /// SipHash-2-4 of `id` and the body's eight little-endian bytes, hashed in one piece (the
    /// same value as writing them one after the other, without the streaming buffer's work).
    #[inline]
    pub fn hash_id(&self, id: IdNumber) -> u64 {
        let mut m = [0u8; 10];
        m[..2].copy_from_slice(b"id");
        m[2..].copy_from_slice(&id.body().to_le_bytes());
        SipHasher24::new_with_keys(self.k0, self.k1).hash(&m)
    }

    /// A public fingerprint of the key (a keyed hash of a fixed text): tells two keys apart
    /// without revealing either.
    pub fn fingerprint(&self) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write(b"healthcode key fingerprint");
        h.finish()
    }

    /// The healthcode home directory: `$HEALTHCODE_HOME`, else `~/.local/share/healthcode`.
    pub fn home_dir() -> Result<PathBuf, KeyError> {
        if let Some(h) = std::env::var_os("HEALTHCODE_HOME").filter(|h| !h.is_empty()) {
            return Ok(PathBuf::from(h));
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or(KeyError::NoHome)?;
        Ok(PathBuf::from(home).join(".local/share/healthcode"))
    }

    /// The key from `path`, or from the default key file in the home directory, which is
    /// created (mode 0600) on first use.
    pub fn load_or_default(path: Option<&Path>) -> Result<Key, KeyError> {
        match path {
            Some(p) => Key::load(p),
            None => {
                let p = Key::home_dir()?.join("key");
                if p.exists() {
                    Key::load(&p)
                } else {
                    Key::create(&p)
                }
            }
        }
    }

    /// Reads a key file: 32 hexadecimal digits.
    pub fn load(path: &Path) -> Result<Key, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            cause: source,
        };
        let meta = fs::metadata(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(KeyError::Permissions(path.to_path_buf()));
            }
        }
        let _ = meta;
        let text = fs::read_to_string(path).map_err(io)?;
        let hex = text.trim();
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::Malformed(path.to_path_buf()));
        }
        let k0 = u64::from_str_radix(&hex[..16], 16)
            .map_err(|_| KeyError::Malformed(path.to_path_buf()))?;
        let k1 = u64::from_str_radix(&hex[16..], 16)
            .map_err(|_| KeyError::Malformed(path.to_path_buf()))?;
        Ok(Key { k0, k1 })
    }

    /// Creates a new random key file at `path` with mode 0600 (never overwriting one).
    pub fn create(path: &Path) -> Result<Key, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            cause: source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let key = Key::random()?;
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(io)?;
        writeln!(f, "{:016x}{:016x}", key.k0, key.k1).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: u64 = 8_892_880_466_813_646_784;

    #[test]
    fn keys_hash_differently_and_round_trip_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/key");
        let k = Key::create(&p).unwrap();
        let again = Key::load(&p).unwrap();
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(k.hash_id(id), again.hash_id(id));
        assert_eq!(k.fingerprint(), again.fingerprint());
        let other = Key::from_words(1, 2);
        assert_ne!(k.hash_id(id), other.hash_id(id));
        assert_ne!(k.fingerprint(), other.fingerprint());
        assert!(
            Key::create(&p).is_err(),
            "an existing key is never overwritten"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    /// The keyed hash is part of the index format (docs/format.md): SipHash-2-4 of `id` and the
    /// body's eight little-endian bytes. Pinned, so that no change of how it is computed changes
    /// what existing index files hold.
    #[test]
    fn the_keyed_hash_of_a_document_number_is_pinned() {
        let k = Key::from_words(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
        let id = IdNumber::parse("11010519491231002X").unwrap();
        let mut h = SipHasher24::new_with_keys(k.k0, k.k1);
        h.write(b"id");
        h.write(&id.body().to_le_bytes());
        assert_eq!(k.hash_id(id), h.finish());
        assert_eq!(k.hash_id(id), PINNED);
    }

    #[test]
    fn malformed_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        fs::write(&p, "not a key").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(matches!(Key::load(&p), Err(KeyError::Malformed(_))));
    }
}
