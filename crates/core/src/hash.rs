//! Content hashes of database files.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

    /// What a BLAKE3 hasher fed with the file's bytes finished with.
    pub(crate) fn from_hasher(hasher: &blake3::Hasher) -> Self {
        ContentHash(*hasher.finalize().as_bytes())
    }

    /// The hash whose bytes are `bytes`, as BLAKE3 finished a root with.
    pub(crate) fn from_root(bytes: [u8; 32]) -> Self {
        ContentHash(bytes)
    }

    /// A hasher for the part of a file that starts at `offset`, a multiple
    /// of the part size (see [`from_parts`](Self::from_parts)).
    pub(crate) fn part_hasher(offset: u64) -> blake3::Hasher {
        use blake3::hazmat::HasherExt;
        let mut hasher = blake3::Hasher::new();
        hasher.set_input_offset(offset);
        hasher
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

/// Whether files may be hashed in parts of `size` bytes: a power of two of
/// at least one BLAKE3 chunk, so that every part is a subtree of BLAKE3's
/// tree.
pub(crate) fn is_part_size(size: u64) -> bool {
    size.is_power_of_two() && size >= blake3::CHUNK_LEN as u64
}

/// The part size for a requested one: the largest power of two not above
/// it, and at least one BLAKE3 chunk.
pub(crate) fn part_size_for(requested: u64) -> u64 {
    let floor = requested.max(blake3::CHUNK_LEN as u64);
    1 << (63 - floor.leading_zeros())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_are_powers_of_two_of_a_chunk_or_more() {
        assert_eq!(part_size_for(8 << 20), 8 << 20);
        assert_eq!(part_size_for((8 << 20) + 1), 8 << 20);
        assert_eq!(part_size_for(3000), 2048);
        assert_eq!(part_size_for(1), 1024);
        assert_eq!(part_size_for(u64::MAX), 1 << 63);
        assert!(is_part_size(part_size_for(12_345_678)));
    }
}
