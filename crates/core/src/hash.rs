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

    /// The hash of a file hashed in parts, each by a hasher of its own that
    /// [`part_hasher`](Self::part_hasher) made: `parts` in file order, every
    /// part `part_size` bytes (a power of two, at least
    /// [`blake3::CHUNK_LEN`]) but the last, `len` bytes in all. The parts
    /// are the leaves of BLAKE3's own tree, so the result is the hash of
    /// the whole file.
    pub(crate) fn from_parts(parts: &[blake3::Hasher], part_size: u64, len: u64) -> Self {
        use blake3::hazmat::HasherExt;
        debug_assert!(is_part_size(part_size));
        debug_assert_eq!(parts.len() as u64, len.div_ceil(part_size).max(1));
        if let [whole] = parts {
            return Self::from_hasher(whole);
        }
        let values: Vec<_> = parts.iter().map(HasherExt::finalize_non_root).collect();
        crate::manifest::root_of(&values, part_size, len)
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

    /// `bytes` hashed in parts of `part_size`, each part fed in pieces of
    /// `piece` bytes, as a ranged download does.
    fn in_parts(bytes: &[u8], part_size: u64, piece: usize) -> ContentHash {
        let parts: Vec<blake3::Hasher> = if bytes.is_empty() {
            vec![ContentHash::part_hasher(0)]
        } else {
            bytes
                .chunks(part_size as usize)
                .enumerate()
                .map(|(i, part)| {
                    let mut hasher = ContentHash::part_hasher(i as u64 * part_size);
                    for piece in part.chunks(piece) {
                        hasher.update(piece);
                    }
                    hasher
                })
                .collect()
        };
        ContentHash::from_parts(&parts, part_size, bytes.len() as u64)
    }

    #[test]
    fn a_file_hashed_in_parts_has_the_hash_of_the_whole() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 31 + i / 1000) as u8).collect();
        for part_size in [1024, 2048, 4096, 16384, 65536, 262_144, 1 << 20] {
            for len in [
                0, 1, 1023, 1024, 1025, 2048, 3000, 4096, 5000, 16384, 16385, 65536, 99_999,
                131_072, 200_000, 262_144, 300_000,
            ] {
                let slice = &bytes[..len];
                assert_eq!(
                    in_parts(slice, part_size, 777),
                    ContentHash::of_bytes(slice),
                    "{len} bytes in parts of {part_size}"
                );
            }
        }
    }

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
