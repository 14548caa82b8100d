//! The one place that memory-maps files.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::{Error, Result};

/// Maps `file` (at `path`, for error messages) read-only.
///
/// The caller must not map an empty file.
#[allow(unsafe_code)]
pub(crate) fn map(file: &File, path: &Path) -> Result<Mmap> {
    // SAFETY: the map is read-only, and the engine maps only files that no
    // connection writes while the map lives: the adapters hand core a closed
    // or snapshotted database, and the local copy is guarded by the replica's
    // lock file.
    unsafe { Mmap::map(file) }.map_err(|e| Error::io("memory-map", path, e))
}
