//! Atomic conditional writes for the `file://` backend.
//!
//! object_store's local file system has no `PutMode::Update` and keeps no
//! metadata, so every s3sqlite writer of a file remote takes an exclusive
//! lock on a sidecar lock file, compares the current version with its
//! condition, writes a temp file, fsyncs it and renames it over the object,
//! then records the upload's stamp in a sidecar stamp file, all while holding
//! the lock. A HEAD takes the lock shared, so it sees the object and its
//! stamp from one write. Downloads need no lock: a rename swaps the whole
//! file, and they are pinned to the version they started from.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::client::Client;
use crate::files::{
    open_lock_file, remove_leftovers, sync_dir, temp_file_beside, write_atomically,
};
use crate::version::{RemoteVersion, Stamp, WriteCondition};
use crate::{Error, Result};

/// `.NAME.SUFFIX` beside the object at `path`.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{suffix}"))
}

/// The stamp file's content: the stamp and the entity tag of the object
/// version it belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct StampRecord {
    e_tag: Option<String>,
    stamp: Stamp,
}

/// Holds the object's lock file, shared or exclusive, until dropped.
struct Held(File);

impl Drop for Held {
    fn drop(&mut self) {
        // closing the descriptor releases the lock anyway; an unlock error
        // leaves nothing to undo
        let _ = self.0.unlock();
    }
}

async fn lock(object: &Path, exclusive: bool) -> Result<Held> {
    let path = sidecar(object, "s3sqlite-lock");
    let file = open_lock_file(&path)?;
    tokio::task::spawn_blocking(move || {
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map(|()| Held(file))
    })
    .await
    .expect("file lock task panicked")
    .map_err(|e| Error::io("lock", path, e))
}

/// The version of the object, with its stamp when the stamp file belongs to it.
pub(crate) async fn head(client: &Client, object: &Path) -> Result<Option<RemoteVersion>> {
    if !object.parent().is_some_and(Path::is_dir) {
        return Err(Error::BucketNotFound {
            url: client.url().to_owned(),
        });
    }
    let _held = lock(object, false).await?;
    head_locked(client, object).await
}

async fn head_locked(client: &Client, object: &Path) -> Result<Option<RemoteVersion>> {
    let Some(mut version) = client.head().await? else {
        return Ok(None);
    };
    let stamp_path = sidecar(object, "s3sqlite-stamp");
    match std::fs::read(&stamp_path) {
        Ok(bytes) => {
            // a stamp file from a write that crashed before updating it
            // names another version and is ignored
            if let Ok(record) = serde_json::from_slice::<StampRecord>(&bytes)
                && record.e_tag.is_some()
                && record.e_tag == version.e_tag
            {
                version.stamp = Some(record.stamp);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read", stamp_path, e)),
    }
    Ok(Some(version))
}

pub(crate) async fn upload(
    client: &Client,
    object: &Path,
    src: &Path,
    condition: &WriteCondition,
    stamp: &Stamp,
) -> Result<RemoteVersion> {
    let _held = lock(object, true).await?;
    // a writer killed mid-copy leaves its temp file: nobody else writes now
    remove_leftovers(object, "s3sqlite-upload-")?;
    remove_leftovers(&sidecar(object, "s3sqlite-stamp"), "s3sqlite-tmp-")?;
    let current = head_locked(client, object).await?;
    if !condition.holds(current.as_ref()) {
        return Err(Error::conflict(client.url(), condition.expected(), current));
    }
    let previous_mtime = current.as_ref().and_then(|c| c.last_modified);
    let (object_path, src_path) = (object.to_path_buf(), src.to_path_buf());
    tokio::task::spawn_blocking(move || replace(&object_path, &src_path, previous_mtime))
        .await
        .expect("file upload task panicked")?;
    let mut version = client.head().await?.ok_or_else(|| {
        Error::io(
            "find the file just written at",
            object,
            std::io::ErrorKind::NotFound.into(),
        )
    })?;
    let record = StampRecord {
        e_tag: version.e_tag.clone(),
        stamp: stamp.clone(),
    };
    write_atomically(
        &sidecar(object, "s3sqlite-stamp"),
        &serde_json::to_vec(&record).expect("stamp serializes"),
    )?;
    version.stamp = Some(stamp.clone());
    Ok(version)
}

/// Copies `src` to a temp file beside `object`, fsyncs it, gives it an mtime
/// later than the version it replaces, renames it over `object` and fsyncs
/// the folder.
fn replace(object: &Path, src: &Path, previous_mtime: Option<SystemTime>) -> Result<()> {
    let dir = object.parent().expect("file remotes have a parent folder");
    let mut temp = temp_file_beside(object, "s3sqlite-upload-")?;
    let mut input = File::open(src).map_err(|e| Error::io("open", src, e))?;
    std::io::copy(&mut input, temp.as_file_mut()).map_err(|e| Error::io("copy", src, e))?;
    temp.as_file()
        .sync_all()
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
