//! The versions of a remote object and the conditions writes are made on:
//! [`RemoteVersion`], [`Stamp`], [`WriteCondition`], [`Downloaded`].

use std::fmt::{self, Display};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::hash::ContentHash;

/// One version of the remote object, as reported by [`RemoteStore::head`](crate::RemoteStore::head) or
/// [`RemoteStore::upload`](crate::RemoteStore::upload).
///
/// Two versions are the same object when their version ids match (where the
/// store has them) or else their entity tags and sizes match; see
/// [`RemoteVersion::same_object`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RemoteVersion {
    /// The entity tag (`ETag`), quotes included as the store sent it.
    pub e_tag: Option<String>,
    /// The store's version id, where the bucket keeps versions.
    pub version: Option<String>,
    /// The object's size in bytes.
    pub size: u64,
    /// When the object was last written, where the store says.
    pub last_modified: Option<SystemTime>,
    /// What s3sqlite stored with the object when it uploaded it, where the
    /// store keeps metadata.
    pub stamp: Option<Stamp>,
}

impl RemoteVersion {
    /// A version of `size` bytes with nothing else known; add the rest with the
    /// `with_*` methods.
    pub fn new(size: u64) -> Self {
        RemoteVersion {
            e_tag: None,
            version: None,
            size,
            last_modified: None,
            stamp: None,
        }
    }

    /// Sets the entity tag.
    pub fn with_e_tag(mut self, e_tag: impl Into<String>) -> Self {
        self.e_tag = Some(e_tag.into());
        self
    }

    /// Sets the version id.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Sets the last-modified time.
    pub fn with_last_modified(mut self, at: SystemTime) -> Self {
        self.last_modified = Some(at);
        self
    }

    /// Sets the stamp stored with the object.
    pub fn with_stamp(mut self, stamp: Stamp) -> Self {
        self.stamp = Some(stamp);
        self
    }

    /// Whether `self` and `other` name the same object version.
    ///
    /// Version ids decide where both have one; else entity tags and sizes;
    /// with neither, the answer is `false`, so an unknown version is treated
    /// as moved.
    pub fn same_object(&self, other: &RemoteVersion) -> bool {
        if let (Some(a), Some(b)) = (&self.version, &other.version) {
            return a == b;
        }
        match (&self.e_tag, &other.e_tag) {
            (Some(a), Some(b)) => a == b && self.size == other.size,
            _ => false,
        }
    }
}

impl Display for RemoteVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.e_tag, &self.version) {
            (Some(tag), Some(version)) => write!(f, "{tag} ({version}, {} bytes)", self.size),
            (Some(tag), None) => write!(f, "{tag} ({} bytes)", self.size),
            (None, Some(version)) => write!(f, "{version} ({} bytes)", self.size),
            (None, None) => write!(f, "unversioned ({} bytes)", self.size),
        }
    }
}

/// What s3sqlite stores with every object it uploads: the content hash and
/// size of the bytes sent, and an id unique to the upload.
///
/// The engine writes the stamp into its state file before the upload, so
/// that after a crash between the upload and the record it can tell its own
/// upload (same id) from another writer's, even one with identical bytes.
/// It adopts such an upload only when the object's size is the stamp's: a
/// store that keeps the partial body of an interrupted PUT shows our id on
/// a torn object, which is uploaded again. Every download of a stamped
/// object is checked against the stamp's hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stamp {
    /// The hash of the uploaded bytes.
    pub content_hash: ContentHash,
    /// How many bytes were uploaded. A stamp recorded without it (0) never
    /// matches a landed object, so that upload is made again.
    #[serde(default)]
    pub size: u64,
    /// An id unique to one upload.
    pub upload_id: String,
}

impl Stamp {
    /// A stamp for uploading `size` bytes that hash to `content_hash`, with a
    /// fresh id of 128 random bits.
    ///
    /// # Panics
    ///
    /// When the operating system's random source fails.
    pub fn new(content_hash: ContentHash, size: u64) -> Self {
        Stamp {
            content_hash,
            size,
            upload_id: fresh_id(),
        }
    }

    /// A stamp with a given id, as read back from a store.
    pub fn with_id(content_hash: ContentHash, size: u64, upload_id: impl Into<String>) -> Self {
        Stamp {
            content_hash,
            size,
            upload_id: upload_id.into(),
        }
    }

    /// Whether `version` is this upload, landed whole: it carries this
    /// stamp and has the stamp's size.
    pub fn landed_as(&self, version: &RemoteVersion) -> bool {
        version.stamp.as_ref() == Some(self) && version.size == self.size
    }
}

/// What a [`RemoteStore::download`](crate::RemoteStore::download) wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// The number of bytes written.
    pub size: u64,
    /// The hash of the bytes written, where the remote hashed them as they
    /// arrived; `None` makes the engine read the file to hash it.
    pub hash: Option<ContentHash>,
    /// The manifest of the bytes written, where the remote hashed them leaf
    /// by leaf.
    pub(crate) manifest: Option<crate::manifest::Manifest>,
}

impl Downloaded {
    /// `size` bytes written, not hashed.
    pub fn new(size: u64) -> Self {
        Downloaded {
            size,
            hash: None,
            manifest: None,
        }
    }

    /// Sets the hash of the bytes written.
    pub fn with_hash(mut self, hash: ContentHash) -> Self {
        self.hash = Some(hash);
        self
    }
}

/// 32 hex digits drawn from the operating system's random source: 128
/// random bits, which no other upload, in this or another process or
/// machine, is expected to share.
///
/// # Panics
///
/// When the operating system's random source fails, which leaves no way to
/// tell this upload from another writer's.
pub(crate) fn fresh_id() -> String {
    let mut bytes = [0u8; 16];
    if let Err(err) = getrandom::fill(&mut bytes) {
        panic!("the operating system's random source failed: {err}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// When an [`upload`](crate::RemoteStore::upload) may replace the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteCondition {
    /// Always: whatever is there is replaced.
    Overwrite,
    /// Only when no object exists.
    IfAbsent,
    /// Only when the object is still this version.
    IfMatch(RemoteVersion),
}

impl WriteCondition {
    /// Whether the condition holds when the remote is at `current`
    /// (`None`: absent).
    pub fn holds(&self, current: Option<&RemoteVersion>) -> bool {
        match (self, current) {
            (WriteCondition::Overwrite, _) => true,
            (WriteCondition::IfAbsent, current) => current.is_none(),
            (WriteCondition::IfMatch(expected), Some(current)) => expected.same_object(current),
            (WriteCondition::IfMatch(_), None) => false,
        }
    }

    /// The version the condition expects, for `IfMatch`.
    pub fn expected(&self) -> Option<&RemoteVersion> {
        match self {
            WriteCondition::IfMatch(expected) => Some(expected),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn fresh_ids_are_32_hex_digits_and_differ() {
        let ids: HashSet<String> = (0..10_000).map(|_| fresh_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }
}
