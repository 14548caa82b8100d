//! Pushing only what changed: the parts of the local copy that differ from
//! the version it replaces, where [`IncrementalUpload`] and the store allow;
//! and the clean-up of multipart uploads a killed push left.
//!
//! A multipart upload in flight is recorded beside the local copy
//! (`PATH.s3sqlite-upload`: when it started and, once the store named it,
//! its id) before its first part is sent, and the record is removed once
//! the upload completed or was aborted. A record found at the next open or
//! push means the process died mid-upload: that upload is aborted, so its
//! parts do not stay billed in the bucket.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Replica;
use super::state::sibling;
use crate::hash::ContentHash;
use crate::incremental::IncrementalUpload;
use crate::manifest::Manifest;
use crate::remote::{ChangedUpload, RemoteStore, observed};
use crate::verify::HEADER_LEN;
use crate::version::{RemoteVersion, Stamp, WriteCondition};
use crate::{Error, ErrorChain, Result, files};

/// An upload of the local copy: what went up and the version it made.
pub(super) struct Sent {
    pub(super) version: RemoteVersion,
    /// The bytes that crossed the network.
    pub(super) bytes: u64,
    pub(super) parts_sent: u64,
    pub(super) parts_copied: u64,
}

/// The record of a multipart upload in flight.
#[derive(Debug, Serialize, Deserialize)]
struct InFlight {
    /// When the push started it, in seconds since the Unix epoch.
    since: u64,
    /// The upload's id, once the store gave it.
    id: Option<String>,
}

/// Where the record of the multipart upload in flight for `db` lives.
fn record_path(db: &Path) -> PathBuf {
    sibling(db, ".s3sqlite-upload")
}

/// Writes `record` to `path`, durably.
fn write_record(path: &Path, record: &InFlight) -> Result<()> {
    let json = serde_json::to_vec(record).expect("the record serializes");
    files::write_atomically(path, &json)
}

impl Replica {
    /// Uploads the file at `path` (content `hash`, `size` bytes) on
    /// `condition` with `stamp`: only its changed parts when the settings,
    /// the store and the manifests allow, else the whole file.
    pub(super) async fn send(
        &self,
        path: &Path,
        hash: ContentHash,
        size: u64,
        condition: &WriteCondition,
        stamp: &Stamp,
    ) -> Result<Sent> {
        self.abort_left_uploads().await;
        if let Some(up) = self.send_changed(path, hash, condition, stamp).await? {
            return Ok(Sent {
                version: up.version,
                bytes: up.bytes_sent,
                parts_sent: u64::from(up.parts_sent),
                parts_copied: u64::from(up.parts_copied),
            });
        }
        let transfer = &self.options.transfer;
        let remote = &*self.remote;
        let version = observed::upload(remote, path, size, condition, stamp, transfer).await?;
        Ok(Sent {
            bytes: version.size,
            version,
            parts_sent: 0,
            parts_copied: 0,
        })
    }

    /// Whether pushes may send only the changed parts to this store.
    fn incremental_cleared(&self) -> bool {
        match self.options.incremental.unwrap_or_default() {
            IncrementalUpload::Off => false,
            IncrementalUpload::On => true,
            IncrementalUpload::Auto => self.remote.commits_conditional_multipart(),
        }
    }

    /// The upload of only the changed parts, or `None` when it cannot be
    /// made: not cleared, a create, a base with no stamp or no local
    /// manifest of its content (written by another tool, or before
    /// manifests), a file too small for one, or a store that declines.
    async fn send_changed(
        &self,
        path: &Path,
        hash: ContentHash,
        condition: &WriteCondition,
        stamp: &Stamp,
    ) -> Result<Option<ChangedUpload>> {
        let WriteCondition::IfMatch(base) = condition else {
            return Ok(None);
        };
        if !self.incremental_cleared() {
            return Ok(None);
        }
        let Some(base_hash) = base.stamp.as_ref().map(|s| s.content_hash) else {
            return Ok(None);
        };
        let Some((before, header_rewritten)) = self.manifest_of_remote(base, base_hash)? else {
            return Ok(None);
        };
        let Some(after) = self.manifest_of(hash, path)? else {
            return Ok(None);
        };
        let Some(mut changed) = after.changed_since(&before) else {
            return Ok(None);
        };
        if header_rewritten {
            changed.push(0..HEADER_LEN as u64);
        }
        let record = record_path(&self.path);
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        write_record(&record, &InFlight { since, id: None })?;
        let started = |id: &str| {
            let id = Some(id.to_owned());
            write_record(&record, &InFlight { since, id })
        };
        let transfer = &self.options.transfer;
        let sent = self
            .remote
            .upload_changed(path, base, &changed, stamp, transfer, &started)
            .await;
        if sent.is_ok() {
            // completed, or declined before it started
            files::remove_file_if_exists(&record)?;
        }
        sent
    }

    /// A manifest of the remote version `base`, whose content hash is
    /// `base_hash`, from the one kept beside the local copy; with whether
    /// it is the local copy's own, whose header alone differs from the
    /// remote's.
    ///
    /// The kept manifest is the remote's when the stamp names its content.
    /// Otherwise, for the replica's own base only, it may be the manifest of
    /// the local copy at that base after a journal mode rewrote the
    /// header's bookkeeping bytes and the replica recorded the copy as
    /// still clean (`absorb_header_rewrite`, which checked that the rest of
    /// the file is the remote's): every leaf but the first then holds the
    /// remote's bytes.
    fn manifest_of_remote(
        &self,
        base: &RemoteVersion,
        base_hash: ContentHash,
    ) -> Result<Option<(Manifest, bool)>> {
        if let Some(manifest) = self.local_manifest(base_hash)? {
            return Ok(Some((manifest, false)));
        }
        let ours = self.base().is_some_and(|b| b.same_object(base));
        let local = self.state.as_ref().and_then(|s| s.base_hash);
        let Some(local) = local.filter(|h| ours && *h != base_hash) else {
            return Ok(None);
        };
        let manifest = self.local_manifest(local)?;
        Ok(manifest.filter(|m| m.len() == base.size).map(|m| (m, true)))
    }

    /// Aborts the multipart upload a push that died left, if the record
    /// beside the local copy says there is one. A failure is a warning: the
    /// parts cost storage until the bucket's lifecycle rule drops them, and
    /// nothing else; the record stays for the next try when the failure
    /// may pass.
    pub(super) async fn abort_left_uploads(&self) {
        let record = record_path(&self.path);
        let Ok(text) = std::fs::read(&record) else {
            return;
        };
        let left: Option<InFlight> = serde_json::from_slice(&text).ok();
        let aborted = match &left {
            Some(left) => {
                let since = UNIX_EPOCH + Duration::from_secs(left.since);
                self.remote.abort_uploads(left.id.as_deref(), since).await
            }
            None => Ok(0),
        };
        let keep = match &aborted {
            Ok(count) => {
                tracing::info!(url = %self.url, aborted = count, "aborted the upload a killed push left");
                false
            }
            Err(err) => {
                tracing::warn!(
                    url = %self.url,
                    error = %ErrorChain::new(err),
                    "could not abort the multipart upload a killed push left: its parts stay \
                     in the bucket until a lifecycle rule drops them"
                );
                err.is_transient()
            }
        };
        if !keep && let Err(err) = files::remove_file_if_exists(&record) {
            let err: Error = err;
            tracing::warn!(error = %ErrorChain::new(&err), "could not remove the upload record");
        }
    }
}
