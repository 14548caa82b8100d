//! The manifest of a database file: one BLAKE3 chaining value per leaf,
//! what lets a replica that is behind fetch only the leaves that changed.
//!
//! A leaf is 64 KiB, or the smallest power of two that keeps a file at
//! [`MAX_LEAVES`] leaves or fewer (1 GiB and more). Leaves are subtrees of
//! BLAKE3's own tree, so the chaining values merge along it into exactly the
//! whole-file hash that an upload's [`Stamp`](crate::Stamp) carries: a
//! manifest is checked against the stamp before anything is trusted to it,
//! and a stale or corrupt one costs a full download, nothing else.
//!
//! Files under [`MIN_LEN`] get no manifest: fetching one and then the
//! changed ranges takes two requests more than one GET of the whole file,
//! and below that size (64 leaves) the one GET is as quick (on Amazon S3 a
//! request's latency is worth a few MiB of transfer).

use std::ops::Range;

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, left_subtree_len, merge_subtrees_non_root, merge_subtrees_root,
};

use crate::hash::ContentHash;

/// The smallest leaf.
pub(crate) const MIN_LEAF: u64 = 64 << 10;

/// The most leaves a manifest has (a 512 KiB manifest).
pub(crate) const MAX_LEAVES: u64 = 16_384;

/// The smallest file that gets a manifest.
pub(crate) const MIN_LEN: u64 = 4 << 20;

/// Files at least this large are hashed on more than one thread.
const PARALLEL_FROM: u64 = 16 << 20;

/// What an encoded manifest starts with.
const MAGIC: &[u8; 20] = b"s3sqlite manifest 1\n";

/// Unchanged leaves between two changed ones that are fetched with them
/// rather than in a request of their own.
const GAP_LEAVES: usize = 2;

/// The chaining values of one file's leaves.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    len: u64,
    leaf: u64,
    values: Vec<ChainingValue>,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("len", &self.len)
            .field("leaf", &self.leaf)
            .field("leaves", &self.values.len())
            .finish()
    }
}

/// The leaf size of a file of `len` bytes.
pub(crate) fn leaf_size_for(len: u64) -> u64 {
    let smallest = len.div_ceil(MAX_LEAVES).max(1).next_power_of_two();
    smallest.max(MIN_LEAF)
}

/// The hash of `bytes`, and their manifest when they are large enough to
/// have one; large inputs are hashed on several threads, a leaf range each.
pub(crate) fn hash_bytes(bytes: &[u8]) -> (ContentHash, Option<Manifest>) {
    let len = bytes.len() as u64;
    if len < MIN_LEN {
        return (ContentHash::of_bytes(bytes), None);
    }
    let leaf = leaf_size_for(len);
    let leaves: Vec<&[u8]> = bytes.chunks(leaf as usize).collect();
    let threads = if len < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    };
    let per_thread = leaves.len().div_ceil(threads);
    let mut values = Vec::with_capacity(leaves.len());
    std::thread::scope(|scope| {
        let running: Vec<_> = leaves
            .chunks(per_thread)
            .enumerate()
            .map(|(group, chunk)| {
                let first = (group * per_thread) as u64;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, bytes)| leaf_value(bytes, (first + i as u64) * leaf))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for thread in running {
            values.extend(thread.join().expect("hashing thread panicked"));
        }
    });
    let manifest = Manifest { len, leaf, values };
    (manifest.root(), Some(manifest))
}

/// The bytes `ranges` cover.
pub(crate) fn total_len(ranges: &[Range<u64>]) -> u64 {
    ranges.iter().map(|r| r.end - r.start).sum()
}

/// The chaining value of the leaf `bytes` at `offset`.
fn leaf_value(bytes: &[u8], offset: u64) -> ChainingValue {
    let mut hasher = ContentHash::part_hasher(offset);
    hasher.update(bytes);
    hasher.finalize_non_root()
}

/// The root hash of a file of `len` bytes from the chaining values of its
/// parts of `part` bytes each (a power of two, at least one BLAKE3 chunk),
/// in file order; there must be two parts or more.
pub(crate) fn root_of(values: &[ChainingValue], part: u64, len: u64) -> ContentHash {
    debug_assert!(values.len() >= 2);
    debug_assert_eq!(values.len() as u64, len.div_ceil(part));
    let (left, right) = children(values, part, len);
    ContentHash::from_root(*merge_subtrees_root(&left, &right, Mode::Hash).as_bytes())
}

/// The chaining values of the two subtrees under the node that covers
/// `values` (`len` bytes): BLAKE3 puts the largest power of two of chunks
/// on the left, always a whole number of parts.
fn children(values: &[ChainingValue], part: u64, len: u64) -> (ChainingValue, ChainingValue) {
    let left = left_subtree_len(len);
    let split = (left / part) as usize;
    (
        subtree(&values[..split], part, left),
        subtree(&values[split..], part, len - left),
    )
}

fn subtree(values: &[ChainingValue], part: u64, len: u64) -> ChainingValue {
    if let [value] = values {
        return *value;
    }
    let (left, right) = children(values, part, len);
    merge_subtrees_non_root(&left, &right, Mode::Hash)
}

/// Hashes a part of a file, fed in pieces as it arrives, leaf by leaf:
/// the part starts at a leaf boundary.
pub(crate) struct LeafHasher {
    leaf: u64,
    /// The offset in the file of the next byte.
    offset: u64,
    current: blake3::Hasher,
    values: Vec<ChainingValue>,
}

impl LeafHasher {
    /// A hasher for the part at `start`, a multiple of `leaf`.
    pub(crate) fn new(start: u64, leaf: u64) -> Self {
        debug_assert_eq!(start % leaf, 0);
        LeafHasher {
            leaf,
            offset: start,
            current: ContentHash::part_hasher(start),
            values: Vec::new(),
        }
    }

    /// Hashes the next `bytes` of the part.
    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = self.leaf - self.offset % self.leaf;
            let take = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            self.current.update(&bytes[..take]);
            self.offset += take as u64;
            bytes = &bytes[take..];
            if self.offset.is_multiple_of(self.leaf) {
                self.values.push(self.current.finalize_non_root());
                self.current = ContentHash::part_hasher(self.offset);
            }
        }
    }

    /// The chaining values of the part's leaves, in order.
    pub(crate) fn finish(mut self) -> Vec<ChainingValue> {
        if !self.offset.is_multiple_of(self.leaf) {
            self.values.push(self.current.finalize_non_root());
        }
        self.values
    }
}

impl ContentHash {
    /// The hash of a file hashed in parts, each by a hasher of its own that
    /// [`part_hasher`](Self::part_hasher) made: `parts` in file order, every
    /// part `part_size` bytes (a power of two, at least
    /// [`blake3::CHUNK_LEN`]) but the last, `len` bytes in all. The parts
    /// are the leaves of BLAKE3's own tree, so the result is the hash of
    /// the whole file.
    pub(crate) fn from_parts(parts: &[blake3::Hasher], part_size: u64, len: u64) -> Self {
        debug_assert!(crate::hash::is_part_size(part_size));
        debug_assert_eq!(parts.len() as u64, len.div_ceil(part_size).max(1));
        if let [whole] = parts {
            return Self::from_hasher(whole);
        }
        let values: Vec<_> = parts.iter().map(HasherExt::finalize_non_root).collect();
        root_of(&values, part_size, len)
    }
}

impl Manifest {
    /// The manifest of a file of `len` bytes whose leaves' chaining values
    /// are `values`, in file order; `None` unless there is one per leaf.
    pub(crate) fn from_values(len: u64, values: Vec<ChainingValue>) -> Option<Self> {
        let leaf = leaf_size_for(len);
        (len >= MIN_LEN && values.len() as u64 == len.div_ceil(leaf)).then_some(Manifest {
            len,
            leaf,
            values,
        })
    }

    /// The leaf size.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The leaf size.
    pub(crate) fn leaf(&self) -> u64 {
        self.leaf
    }

    /// Whether `bytes` are what leaf `index` of the file holds.
    pub(crate) fn leaf_holds(&self, index: u64, bytes: &[u8]) -> bool {
        let Ok(at) = usize::try_from(index) else {
            return false;
        };
        let len = (self.len - index.saturating_mul(self.leaf).min(self.len)).min(self.leaf);
        bytes.len() as u64 == len
            && self.values.get(at) == Some(&leaf_value(bytes, index * self.leaf))
    }

    /// The whole file's hash, merged from the leaves.
    pub(crate) fn root(&self) -> ContentHash {
        root_of(&self.values, self.leaf, self.len)
    }

    /// The manifest as stored: a magic line, the file's size and the leaf
    /// size (little-endian), then the chaining values.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + 16 + 32 * self.values.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.leaf.to_le_bytes());
        for value in &self.values {
            out.extend_from_slice(value);
        }
        out
    }

    /// The manifest in `bytes`, if they hold one for the content `hash`:
    /// well formed, and its leaves merging into `hash`.
    pub(crate) fn decode(bytes: &[u8], hash: ContentHash) -> Option<Self> {
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        if rest.len() < 16 || (rest.len() - 16) % 32 != 0 {
            return None;
        }
        let len = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let leaf = u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes"));
        if leaf != leaf_size_for(len) {
            return None;
        }
        let values = rest[16..]
            .chunks_exact(32)
            .map(|value| value.try_into().expect("32 bytes"))
            .collect();
        let manifest = Self::from_values(len, values)?;
        (manifest.root() == hash).then_some(manifest)
    }

    /// The manifest with leaves of `leaf` bytes, a power of two at least
    /// this one's, merged from these; `None` for a smaller leaf size.
    fn coarsened(&self, leaf: u64) -> Option<Self> {
        if leaf < self.leaf || !leaf.is_power_of_two() {
            return None;
        }
        let per = (leaf / self.leaf) as usize;
        let values = self
            .values
            .chunks(per)
            .enumerate()
            .map(|(i, values)| {
                let start = i as u64 * leaf;
                let len = (self.len - start).min(leaf);
                subtree(values, self.leaf, len)
            })
            .collect();
        Some(Manifest {
            len: self.len,
            leaf,
            values,
        })
    }

    /// The byte ranges of the file this manifest describes that differ from
    /// the file `base` describes: the changed leaves and any leaf past
    /// `base`'s end, coalesced across short gaps, in file order. `None`
    /// when `base` has a finer leaf than this manifest can be compared with.
    pub(crate) fn changed_since(&self, base: &Manifest) -> Option<Vec<Range<u64>>> {
        let base = if base.leaf == self.leaf {
            std::borrow::Cow::Borrowed(base)
        } else {
            std::borrow::Cow::Owned(base.coarsened(self.leaf)?)
        };
        let changed = self
            .values
            .iter()
            .enumerate()
            .filter(|&(i, value)| base.values.get(i) != Some(value))
            .map(|(i, _)| i);
        let mut ranges: Vec<Range<usize>> = Vec::new();
        for i in changed {
            match ranges.last_mut() {
                Some(last) if i - last.end <= GAP_LEAVES => last.end = i + 1,
                _ => ranges.push(i..i + 1),
            }
        }
        Some(
            ranges
                .into_iter()
                .map(|leaves| {
                    leaves.start as u64 * self.leaf..(leaves.end as u64 * self.leaf).min(self.len)
                })
                .collect(),
        )
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

    fn file(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13 ^ seed) as u8)
            .collect()
    }

    #[test]
    fn leaves_are_64_kib_up_to_a_gib_then_grow() {
        assert_eq!(leaf_size_for(0), MIN_LEAF);
        assert_eq!(leaf_size_for(256 << 20), MIN_LEAF);
        assert_eq!(leaf_size_for(1 << 30), MIN_LEAF);
        assert_eq!(leaf_size_for((1 << 30) + 1), 128 << 10);
        assert_eq!(leaf_size_for(10 << 30), 1 << 20);
        for len in [(1u64 << 30) + 1, 3 << 30, 100 << 30] {
            assert!(len.div_ceil(leaf_size_for(len)) <= MAX_LEAVES);
        }
    }

    #[test]
    fn a_manifest_merges_into_the_hash_of_the_whole_file() {
        for len in [MIN_LEN as usize, 5 << 20, (5 << 20) + 4321, 17 << 20] {
            let bytes = file(len, 7);
            let (hash, manifest) = hash_bytes(&bytes);
            assert_eq!(hash, ContentHash::of_bytes(&bytes), "{len} bytes");
            let manifest = manifest.expect("large enough for a manifest");
            assert_eq!(manifest.root(), hash);
            let decoded = Manifest::decode(&manifest.encode(), hash).expect("decodes");
            assert_eq!(decoded, manifest);
        }
        assert!(hash_bytes(&file(MIN_LEN as usize - 1, 7)).1.is_none());
    }

    #[test]
    fn a_manifest_for_other_content_or_damaged_does_not_decode() {
        let (hash, manifest) = hash_bytes(&file(5 << 20, 1));
        let encoded = manifest.unwrap().encode();
        let other = ContentHash::of_bytes(b"other");
        assert!(Manifest::decode(&encoded, other).is_none());
        let mut flipped = encoded.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(Manifest::decode(&flipped, hash).is_none());
        assert!(Manifest::decode(&encoded[..encoded.len() - 32], hash).is_none());
        assert!(Manifest::decode(&encoded[..encoded.len() - 1], hash).is_none());
        assert!(Manifest::decode(b"", hash).is_none());
    }

    #[test]
    fn leaves_hashed_in_pieces_as_they_arrive_make_the_same_manifest() {
        let bytes = file((9 << 20) + 12_345, 11);
        let (hash, whole) = hash_bytes(&bytes);
        let leaf = leaf_size_for(bytes.len() as u64);
        for part in [leaf, 4 * leaf, 2 << 20] {
            let mut values = Vec::new();
            for (i, chunk) in bytes.chunks(part as usize).enumerate() {
                let mut hasher = LeafHasher::new(i as u64 * part, leaf);
                for piece in chunk.chunks(10_000) {
                    hasher.update(piece);
                }
                values.extend(hasher.finish());
            }
            let manifest = Manifest::from_values(bytes.len() as u64, values).unwrap();
            assert_eq!(manifest.root(), hash, "parts of {part}");
            assert_eq!(Some(&manifest), whole.as_ref());
        }
    }

    #[test]
    fn changed_ranges_cover_exactly_the_leaves_that_differ() {
        let base = file(8 << 20, 3);
        let mut next = base.clone();
        next[100] ^= 1; // leaf 0
        next[(3 << 16) + 5] ^= 1; // leaf 3: within the gap of leaf 0
        next[(40 << 16) + 9] ^= 1; // leaf 40
        next.extend_from_slice(&[9; 70_000]); // past the base's end
        let (_, old) = hash_bytes(&base);
        let (_, new) = hash_bytes(&next);
        let ranges = new.unwrap().changed_since(&old.unwrap()).unwrap();
        let leaf = MIN_LEAF;
        assert_eq!(
            ranges,
            vec![
                0..4 * leaf,
                40 * leaf..41 * leaf,
                (8 << 20)..next.len() as u64
            ]
        );
    }

    #[test]
    fn a_finer_base_is_coarsened_to_compare() {
        let bytes = file(6 << 20, 5);
        let (_, manifest) = hash_bytes(&bytes);
        let manifest = manifest.unwrap();
        let coarse = manifest.coarsened(MIN_LEAF * 4).unwrap();
        assert_eq!(coarse.root(), manifest.root());
        let mut changed = Manifest {
            leaf: MIN_LEAF * 4,
            ..coarse.clone()
        };
        changed.values[2][0] ^= 1;
        assert_eq!(
            changed.changed_since(&manifest).unwrap(),
            vec![2 * 4 * MIN_LEAF..3 * 4 * MIN_LEAF]
        );
        assert!(manifest.changed_since(&coarse).is_none());
    }
}
