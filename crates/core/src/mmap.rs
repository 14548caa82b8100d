//! The one place that memory-maps files, and the hash of a file read
//! through a map.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::hash::ContentHash;
use crate::manifest::{Manifest, hash_bytes};
use crate::{Error, Result};

/// Maps the file at `path` read-only; `None` for an empty file, which
/// cannot be mapped.
#[allow(unsafe_code)]
pub(crate) fn map_file(path: &Path) -> Result<Option<Mmap>> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("read metadata of", path, e))?
        .len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the map is read-only, and the engine maps only files that no
    // connection writes while the map lives: the adapters hand core a closed
    // or snapshotted database, and the local copy is guarded by the replica's
    // lock file.
    unsafe { Mmap::map(&file) }
        .map(Some)
        .map_err(|e| Error::io("memory-map", path, e))
}

impl ContentHash {
    /// The hash of the file at `path`, read through a memory map.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the file cannot be opened or read.
    pub fn of_file(path: &Path) -> Result<Self> {
        Ok(Manifest::hash_file(path)?.0)
    }
}

impl Manifest {
    /// The hash of the file at `path`, read through a memory map, and its
    /// manifest when it is large enough to have one.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the file cannot be opened or read.
    pub(crate) fn hash_file(path: &Path) -> Result<(ContentHash, Option<Manifest>)> {
        let map = map_file(path)?;
        Ok(hash_bytes(map.as_deref().unwrap_or_default()))
    }
}
