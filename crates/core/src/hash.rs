//! Content hashes of database files.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Result;

/// A BLAKE3 hash of a database file's bytes.
///
/// It is stored next to the local copy and, where the backend keeps metadata,
/// with the remote object, so that a push whose record was lost can be
/// recognised as our own.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// The hash of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }

    /// The hash of the file at `path`, read through a memory map.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the file cannot be opened or read.
    pub fn of_file(path: &Path) -> Result<Self> {
        let map = crate::mmap::map_file(path)?;
        Ok(Self::of_bytes(map.as_deref().unwrap_or_default()))
    }

    /// What a BLAKE3 hasher fed with the file's bytes finished with.
    pub(crate) fn from_hasher(hasher: &blake3::Hasher) -> Self {
        ContentHash(*hasher.finalize().as_bytes())
    }

    /// The hash as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

/// The error of parsing a [`ContentHash`] from text.
#[derive(Debug, thiserror::Error)]
#[error("invalid content hash {0:?}: expected 64 hex digits")]
pub struct ParseHashError(String);

impl FromStr for ContentHash {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        blake3::Hash::from_hex(s)
            .map(|h| ContentHash(*h.as_bytes()))
            .map_err(|_| ParseHashError(s.to_owned()))
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
