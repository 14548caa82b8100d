//! The base copy: the database as it was at the version the local copy is
//! based on, kept beside it for policies that merge
//! ([`SyncPolicy::keeps_base`](crate::SyncPolicy::keeps_base)).
//!
//! One file per content, `DB.s3sqlite-base-HASH` (the first 16 hex digits
//! of its content hash), so that the copy the state file names is never the
//! one being replaced: a new copy is written under its own name before the
//! state points to it, and the old one goes after. The copies are not
//! fsynced: a copy is trusted only when it still hashes to what the state
//! recorded ([`verified`]).

use std::fs;
use std::path::{Path, PathBuf};

use super::local::temp_file_for;
use super::state::sibling;
use crate::hash::ContentHash;
use crate::{Error, Result};

/// What every base copy's name of the local copy at `db` starts with.
fn prefix(db: &Path) -> String {
    let name = db.file_name().unwrap_or_default().to_string_lossy();
    format!("{name}.s3sqlite-base-")
}

/// Where the base copy of content `hash` of the local copy at `db` lives.
pub(super) fn path_for(db: &Path, hash: ContentHash) -> PathBuf {
    sibling(db, &format!(".s3sqlite-base-{}", &hash.to_hex()[..16]))
}

/// Copies `src` (content `hash`) to the base copy for it: through a temp
/// file and a rename, a reflink where the file system makes one.
pub(super) fn write(db: &Path, src: &Path, hash: ContentHash) -> Result<()> {
    let dest = path_for(db, hash);
    let temp = temp_file_for(db, "base")?.into_temp_path();
    fs::copy(src, &temp).map_err(|e| Error::io("copy", src, e))?;
    fs::rename(&temp, &dest).map_err(|e| Error::io("rename into", &dest, e))?;
    // renamed away: nothing left for the temp path to remove
    temp.keep().map_err(|e| Error::io("keep", &dest, e.error))?;
    Ok(())
}

/// Makes `src`, a file on the same file system with content `hash`, the
/// base copy for it, by renaming it.
pub(super) fn adopt(db: &Path, src: &Path, hash: ContentHash) -> Result<()> {
    let dest = path_for(db, hash);
    fs::rename(src, &dest).map_err(|e| Error::io("rename into", &dest, e))
}

/// The base copy of content `hash`, if it is there and still holds that
/// content.
pub(super) fn verified(db: &Path, hash: ContentHash) -> Result<Option<PathBuf>> {
    let path = path_for(db, hash);
    match fs::metadata(&path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read metadata of", &path, e)),
    }
    if ContentHash::of_file(&path)? == hash {
        Ok(Some(path))
    } else {
        tracing::warn!(path = %path.display(), "the base copy does not hold what was recorded: not used");
        Ok(None)
    }
}

/// Whether a base copy of content `hash` is there (not checked).
pub(super) fn exists(db: &Path, hash: ContentHash) -> bool {
    path_for(db, hash).exists()
}

/// Removes every base copy of the local copy at `db` but the one of
/// content `keep`.
pub(super) fn remove_others(db: &Path, keep: Option<ContentHash>) -> Result<()> {
    let kept = keep.map(|hash| path_for(db, hash));
    crate::files::remove_siblings(
        db,
        &prefix(db),
        |path| Some(path) == kept.as_deref(),
        |_| {},
    )
}
