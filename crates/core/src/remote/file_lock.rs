//! Atomic conditional writes for the `file://` backend.
//!
//! object_store's local file system has no `PutMode::Update`, so every
//! s3sqlite writer of a file remote takes an exclusive lock on a sidecar lock
//! file, compares the current version with its condition, writes a temp file,
//! fsyncs it and renames it over the object, all while holding the lock.
//! Readers need no lock: a rename swaps the whole file, and downloads are
//! pinned to the version they started from.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::object_store::ObjectStoreRemote;
use super::{RemoteVersion, WriteCondition};
use crate::hash::ContentHash;
use crate::{Error, Result};

/// The lock file of the object at `path`: `.NAME.s3sqlite-lock` beside it.
fn lock_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.s3sqlite-lock"))
}

pub(crate) async fn upload(
    remote: &ObjectStoreRemote,
    object: &Path,
    src: &Path,
    condition: &WriteCondition,
    hash: &ContentHash,
) -> Result<RemoteVersion> {
    let lock = lock_path(object);
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| Error::io("open lock file", &lock, e))?;
    let lock_file = {
        let lock = lock.clone();
        tokio::task::spawn_blocking(move || lock_file.lock().map(|()| lock_file))
            .await
            .expect("file lock task panicked")
            .map_err(|e| Error::io("lock", lock, e))?
    };
    let result = locked_upload(remote, object, src, condition, hash).await;
    lock_file
        .unlock()
        .map_err(|e| Error::io("unlock", &lock, e))?;
    result
}

async fn locked_upload(
    remote: &ObjectStoreRemote,
    object: &Path,
    src: &Path,
    condition: &WriteCondition,
    hash: &ContentHash,
) -> Result<RemoteVersion> {
    let current = remote.head_object().await?;
    let holds = match (condition, &current) {
        (WriteCondition::Overwrite, _) => true,
        (WriteCondition::IfAbsent, current) => current.is_none(),
        (WriteCondition::IfMatch(base), Some(current)) => base.same_object(current),
        (WriteCondition::IfMatch(_), None) => false,
    };
    if !holds {
        return Err(Error::Conflict {
            url: remote.url().to_owned(),
            base: match condition {
                WriteCondition::IfMatch(base) => Some(base.clone()),
                _ => None,
            },
            current,
        });
    }
    let previous_mtime = current.as_ref().and_then(|c| c.last_modified);
    let object = object.to_path_buf();
    let src = src.to_path_buf();
    tokio::task::spawn_blocking(move || replace(&object, &src, previous_mtime))
        .await
        .expect("file upload task panicked")?;
    let mut version = remote
        .head_object()
        .await?
        .ok_or_else(|| Error::io("find the file just written", remote.url(), not_found()))?;
    version.content_hash = Some(*hash);
    Ok(version)
}

fn not_found() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::NotFound)
}

/// Copies `src` to a temp file beside `object`, fsyncs it, gives it an mtime
/// later than the version it replaces, renames it over `object` and fsyncs
/// the folder.
fn replace(object: &Path, src: &Path, previous_mtime: Option<SystemTime>) -> Result<()> {
    let dir = object.parent().expect("file remotes have a parent folder");
    let mut temp = tempfile::Builder::new()
        .prefix(".s3sqlite-upload-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create temp file in", dir, e))?;
    let mut input = File::open(src).map_err(|e| Error::io("open", src, e))?;
    std::io::copy(&mut input, temp.as_file_mut()).map_err(|e| Error::io("copy", src, e))?;
    temp.as_file_mut()
        .flush()
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| Error::io("fsync", temp.path(), e))?;
    // the entity tag is inode, mtime and size: an mtime strictly after the
    // previous version's keeps it unique even if the inode is reused
    let now = SystemTime::now();
    let mtime = match previous_mtime {
        Some(prev) if prev >= now => prev + Duration::from_micros(1),
        _ => now,
    };
    temp.as_file()
        .set_modified(mtime)
        .map_err(|e| Error::io("set mtime of", temp.path(), e))?;
    temp.persist(object)
        .map_err(|e| Error::io("rename into", object, e.error))?;
    sync_dir(dir)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync folder", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
