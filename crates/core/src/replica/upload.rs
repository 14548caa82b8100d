//! The upload-and-conflict loop: an upload on condition of the base version,
//! our own landed or torn uploads recognised, and the policy consulted when
//! the remote moved.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::live::Source;
use super::local::{self, journal_pending};
use super::{Outcome, Replica, base};
use crate::hash::ContentHash;
use crate::policy::{Conflict, Resolution, SyncPolicy};
use crate::remote::RemoteStore;
use crate::report::SyncAction;
use crate::retry::backoff;
use crate::verify::check_local_header;
use crate::version::{RemoteVersion, WriteCondition};
use crate::{Error, Result};

/// How often an upload is tried when the connection fails under it.
const TRANSFER_ATTEMPTS: u32 = 3;

/// How often one push consults the policy before giving up on a remote that
/// keeps moving.
const POLICY_ROUNDS: usize = 64;

/// The content hash stamped on the version an upload on `condition`
/// replaces, where it has one.
fn condition_hash(condition: &WriteCondition) -> Option<ContentHash> {
    match condition {
        WriteCondition::IfMatch(version) => version.stamp.as_ref().map(|s| s.content_hash),
        _ => None,
    }
}

/// The current version a merge was built on: a rebase.
struct Onto {
    version: RemoteVersion,
    /// Its verified copy, in the policy's scratch folder.
    copy: PathBuf,
    hash: ContentHash,
    header: Vec<u8>,
}

impl Replica {
    /// Uploads the dirty local copy (hash `hash`), consulting the policy on
    /// conflict. `known` is the remote's current version when the caller
    /// already knows the two sides diverged.
    pub(super) async fn upload_dirty(
        &mut self,
        hash: ContentHash,
        mut known: Option<Option<RemoteVersion>>,
        mut source: Source<'_>,
        policy: Arc<dyn SyncPolicy>,
    ) -> Result<Outcome> {
        self.check_writable()?;
        let mut condition = match self.base() {
            Some(base) => WriteCondition::IfMatch(base.clone()),
            None => WriteCondition::IfAbsent,
        };
        let mut hash = hash;
        let mut action = SyncAction::Uploaded;
        let mut rounds = 0;
        let mut spurious = 0;
        let mut broken = 0;
        // the policies' scratch folders, kept until the upload is done: a
        // merge made while connections are open is uploaded from there
        let mut scratch = Vec::new();
        // what the policies downloaded
        let mut down = 0;
        // the content whose manifest is beside the object, and its bytes
        let mut manifest_sent: Option<ContentHash> = None;
        let mut manifest_bytes = 0;
        // the manifest the push removes once it landed
        let retired = self.state.as_ref().and_then(|s| s.retired);
        loop {
            if let Some(current) = known.take() {
                if let Some(ours) = current.as_ref().and_then(|c| self.our_stamp(c)) {
                    let theirs = current.expect("a stamp comes from a version");
                    if !ours.landed_as(&theirs) {
                        // our id on an object of another size: the store kept
                        // the partial body of an interrupted upload of ours
                        rounds += 1;
                        if rounds > POLICY_ROUNDS {
                            return Err(self.conflict_error(Some(theirs)));
                        }
                        tracing::warn!(version = %theirs, expected = ours.size, "remote holds a torn upload of ours, uploading again");
                        condition = WriteCondition::IfMatch(theirs);
                        continue;
                    }
                    let landed = ours;
                    tracing::info!(version = %theirs, "remote holds our earlier upload, adopting it");
                    if landed.content_hash == hash {
                        let mut outcome = self.finish(theirs, hash, action, 0, &source)?;
                        outcome.down = down;
                        return Ok(outcome);
                    }
                    // it landed, and the local copy changed again since
                    self.record_landed(theirs.clone(), landed.content_hash)?;
                    condition = WriteCondition::IfMatch(theirs);
                    continue;
                }
                rounds += 1;
                if rounds > POLICY_ROUNDS {
                    return Err(self.conflict_error(current));
                }
                if rounds > 1 {
                    // the remote moved again under the last resolution:
                    // writers are racing, so spread them out
                    tokio::time::sleep(backoff(rounds - 1)).await;
                }
                let base_copy = self.verified_base_copy()?;
                let dir = local::temp_dir_for(&self.path, "merge")?;
                let dir_path = dir.path().to_owned();
                scratch.push(dir);
                let (resolution, fetched) = {
                    let conflict = Conflict {
                        local_path: &source.path,
                        base: self.base(),
                        current: current.as_ref(),
                        remote: self.remote.as_ref(),
                        transfer: &self.options.transfer,
                        base_copy: base_copy.as_deref(),
                        scratch: &dir_path,
                        fetched: Default::default(),
                        downloaded: Default::default(),
                    };
                    let resolution = policy.resolve(&conflict).await;
                    down += conflict.downloaded();
                    (resolution, conflict.take_fetched())
                };
                let resolution = match resolution {
                    Err(Error::ChangedDuringDownload { .. }) => {
                        // the remote moved while the policy fetched it:
                        // another round, on the newer version
                        tracing::info!("remote changed while the policy fetched it");
                        known = Some(self.remote.head().await?);
                        continue;
                    }
                    resolution => resolution?,
                };
                tracing::info!(?resolution, current = ?current, "remote diverged");
                condition = match &current {
                    Some(current) => WriteCondition::IfMatch(current.clone()),
                    None => WriteCondition::IfAbsent,
                };
                match resolution {
                    Resolution::Abort => return Err(self.conflict_error(current)),
                    Resolution::Overwrite => {}
                    Resolution::KeepRemote => match current {
                        Some(current) => {
                            tracing::warn!(
                                url = %self.url,
                                path = %self.path.display(),
                                version = %current,
                                "discarding the local changes: the policy keeps the remote's copy"
                            );
                            let from = source.path.clone();
                            let mut outcome = self
                                .fetch_with(current, source.live, Some(&from), None)
                                .await?;
                            outcome.action = SyncAction::KeptRemote;
                            return Ok(outcome);
                        }
                        None => return Err(self.conflict_error(None)),
                    },
                    Resolution::Merged(merged) => {
                        if source.live.is_none() && journal_pending(&self.path)? {
                            // the policy read a main file that SQLite has not
                            // finished with: its merge lacks those changes
                            return Err(Error::JournalPending {
                                path: self.path.clone(),
                            });
                        }
                        // the merge becomes the local copy before it goes up:
                        // whatever fails after this, both sides' changes are
                        // in the local file
                        check_local_header(&merged)?;
                        hash = self.hash_file(&merged)?;
                        let onto = match fetched {
                            Some(f) if ContentHash::of_file(&f.path)? == f.hash => Some(Onto {
                                header: crate::verify::read_header(&f.path)?,
                                version: f.version,
                                copy: f.path,
                                hash: f.hash,
                            }),
                            _ => None,
                        };
                        if let Some(onto) = &onto {
                            // the merge is built on the version fetched,
                            // which may be newer than the one the conflict
                            // named
                            condition = WriteCondition::IfMatch(onto.version.clone());
                        }
                        self.take_merge(&merged, hash, onto, &mut source, &dir_path)
                            .await?;
                        action = SyncAction::Merged;
                    }
                }
            }
            if source.live.is_none() && journal_pending(&self.path)? {
                return Err(Error::JournalPending {
                    path: self.path.clone(),
                });
            }
            let size = fs::metadata(&source.path)
                .map_err(|e| Error::io("read metadata of", &source.path, e))?
                .len();
            if manifest_sent != Some(hash) {
                manifest_bytes += self.send_manifest(hash, &source.path).await?;
                manifest_sent = Some(hash);
            }
            let stamp = self.announce(hash, size)?;
            let sent = Instant::now();
            match self
                .send(&source.path, hash, size, &condition, &stamp)
                .await
            {
                Ok(up) => {
                    self.pace.observe(up.bytes, sent.elapsed());
                    let replaced = condition_hash(&condition);
                    let mut outcome =
                        self.finish(up.version, hash, action, up.bytes + manifest_bytes, &source)?;
                    outcome.down = down;
                    outcome.parts_sent = up.parts_sent;
                    outcome.parts_copied = up.parts_copied;
                    let keep: Vec<ContentHash> =
                        [Some(hash), replaced].into_iter().flatten().collect();
                    self.retire_manifest(retired, &keep).await;
                    return Ok(outcome);
                }
                Err(Error::Conflict { current, .. }) => {
                    // S3 answers 409 to a conditional write racing another
                    // one that then failed: nobody moved the object
                    let unmoved = match (&condition, &current) {
                        (WriteCondition::IfMatch(expected), Some(current)) => {
                            expected.same_object(current)
                        }
                        (WriteCondition::IfAbsent, None) => true,
                        _ => false,
                    };
                    if unmoved && spurious < 3 {
                        spurious += 1;
                        continue;
                    }
                    known = Some(current.map(|c| *c));
                }
                Err(err) if err.is_transient() && broken + 1 < TRANSFER_ATTEMPTS => {
                    // the connection failed under the upload: send it again
                    // on the same condition; if it landed after all, the
                    // stamp it carries tells so
                    broken += 1;
                    tracing::info!(error = %err, attempt = broken, "upload interrupted, sending it again");
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(broken))).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Makes the merge at `merged` (content `hash`) the local copy. With
    /// `onto`, the merge was built on a copy of the current version: the
    /// local copy is then recorded as based on that version (a rebase), with
    /// the copy as its base copy, so that the next round sees only the local
    /// changes. Without, the base stays and only the upload's condition
    /// moves to the current version.
    async fn take_merge(
        &mut self,
        merged: &Path,
        hash: ContentHash,
        onto: Option<Onto>,
        source: &mut Source<'_>,
        scratch: &Path,
    ) -> Result<()> {
        if let Some(onto) = &onto
            && self.keeps_base()
        {
            base::adopt(&self.path, &onto.copy, onto.hash)?;
        }
        match source.live {
            None => {
                if let Some(onto) = &onto {
                    // announced first: a crash after the rename leaves a
                    // merge the next open recognises
                    self.announce_install(onto.version.clone(), hash, Some(onto.hash))?;
                }
                if merged.parent() == Some(scratch) {
                    File::open(merged)
                        .and_then(|f| f.sync_all())
                        .map_err(|e| Error::io("fsync", merged, e))?;
                    self.install(merged)?;
                } else {
                    self.install_copy(merged)?;
                }
            }
            Some(replace) => {
                replace.replace(merged).await?;
                source.path = merged.to_owned();
                source.same_as_local = false;
            }
        }
        if let Some(onto) = onto {
            self.record_rebase(onto.version, onto.hash, onto.header)?;
        }
        Ok(())
    }

    /// The base copy, when one is kept and holds what the state recorded.
    fn verified_base_copy(&self) -> Result<Option<PathBuf>> {
        if !self.keeps_base() {
            return Ok(None);
        }
        match self.state.as_ref().and_then(|s| s.base_copy) {
            Some(hash) => base::verified(&self.path, hash),
            None => Ok(None),
        }
    }

    /// Records that the local copy, with hash `hash`, is at `version`;
    /// `same_as_local`: the local main file holds exactly those bytes.
    pub(super) fn finish(
        &mut self,
        version: RemoteVersion,
        hash: ContentHash,
        action: SyncAction,
        up: u64,
        source: &Source<'_>,
    ) -> Result<Outcome> {
        self.write_base_copy(&source.path, hash)?;
        // kept first: a live record may find a rewritten header and keep
        // the local file's own manifest instead
        let manifest = self.manifest_of(hash, &source.path)?;
        self.keep_local_manifest(manifest.as_ref())?;
        if source.same_as_local {
            self.record(Some(version), Some(hash))?;
        } else {
            self.record_live(version, hash, &source.path)?;
        }
        Ok(Outcome {
            up,
            ..Outcome::new(action)
        })
    }
}
