//! Manifests on both sides: the one kept beside the local copy for its
//! base (`DB.s3sqlite-manifest`), the one sent beside the object before
//! each push, and the removal of those no replica needs any more.
//!
//! Every manifest is checked against the content hash it is for before it
//! is used, so a missing, stale or damaged one costs a hash pass or a full
//! download and nothing else.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::PoisonError;

use super::Replica;
use super::local::temp_file_for;
use super::state::sibling;
use crate::hash::ContentHash;
use crate::manifest::{MIN_LEN, Manifest};
use crate::{Error, Result};

/// Where the manifest of the local copy at `db`'s base lives.
fn local_path(db: &Path) -> std::path::PathBuf {
    sibling(db, ".s3sqlite-manifest")
}

impl Replica {
    /// The hash of the file at `path`, as [`ContentHash::of_file`] gives it;
    /// its manifest, when it has one, is kept for the push or record that
    /// follows, so the file is read once.
    pub(super) fn hash_file(&self, path: &Path) -> Result<ContentHash> {
        let (hash, manifest) = Manifest::hash_file(path)?;
        self.remember(manifest);
        Ok(hash)
    }

    /// Keeps `manifest`, the last one computed, for [`manifest_of`](Self::manifest_of).
    pub(super) fn remember(&self, manifest: Option<Manifest>) {
        *self.hashed.lock().unwrap_or_else(PoisonError::into_inner) = manifest;
    }

    /// The manifest of the file at `path`, whose content hash is `hash`:
    /// the one last computed when it is for that hash, else computed now;
    /// `None` for a file too small to have one, or one that no longer
    /// holds `hash`.
    pub(super) fn manifest_of(&self, hash: ContentHash, path: &Path) -> Result<Option<Manifest>> {
        let kept = self
            .hashed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(kept) = kept.filter(|m| m.root() == hash) {
            return Ok(Some(kept));
        }
        let size = fs::metadata(path)
            .map_err(|e| Error::io("read metadata of", path, e))?
            .len();
        if size < MIN_LEN {
            return Ok(None);
        }
        let (now, manifest) = Manifest::hash_file(path)?;
        Ok(manifest.filter(|_| now == hash))
    }

    /// The manifest of the local copy's base content `hash`, as kept beside
    /// it, when it is there and holds that content.
    pub(super) fn local_manifest(&self, hash: ContentHash) -> Result<Option<Manifest>> {
        let path = local_path(&self.path);
        match fs::read(&path) {
            Ok(bytes) => Ok(Manifest::decode(&bytes, hash)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Keeps `manifest` beside the local copy as its base's, or removes the
    /// one there when there is none. Not fsynced: it is checked against
    /// the base's hash whenever it is read.
    pub(super) fn keep_local_manifest(&self, manifest: Option<&Manifest>) -> Result<()> {
        let path = local_path(&self.path);
        let Some(manifest) = manifest else {
            return crate::files::remove_file_if_exists(&path);
        };
        let mut temp = temp_file_for(&self.path, "manifest")?;
        temp.write_all(&manifest.encode())
            .map_err(|e| Error::io("write", temp.path(), e))?;
        temp.persist(&path)
            .map_err(|e| Error::io("rename into", &path, e.error))?;
        Ok(())
    }

    /// Sends the manifest of the file at `path` (content `hash`) beside the
    /// object, ahead of the upload of that content; returns the bytes sent.
    /// A manifest that cannot be sent costs the replicas that are behind a
    /// full download, not the push: the failure is a warning.
    pub(super) async fn send_manifest(&self, hash: ContentHash, path: &Path) -> Result<u64> {
        let Some(manifest) = self.manifest_of(hash, path)? else {
            return Ok(0);
        };
        Ok(crate::remote::store_manifest(&*self.remote, &manifest).await)
    }

    /// After a push: removes the manifest of the version before the one
    /// this push replaced, unless it is one of `keep`. A failure is a
    /// warning: a manifest left behind costs storage, nothing else.
    pub(super) async fn retire_manifest(&self, retired: Option<ContentHash>, keep: &[ContentHash]) {
        let Some(retired) = retired.filter(|h| !keep.contains(h)) else {
            return;
        };
        if let Err(err) = self.remote.delete_manifest(&retired).await {
            tracing::warn!(
                url = %self.url,
                error = %crate::ErrorChain::new(&err),
                "could not remove an old manifest beside the object"
            );
        }
    }
}
