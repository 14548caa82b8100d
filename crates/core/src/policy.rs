//! What to do when the local copy and the remote diverged.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::delta::download_changed;
use crate::hash::ContentHash;
use crate::remote::RemoteStore;
use crate::remote::observed;
use crate::retry::{Again, download_again};
use crate::transfer::TransferOptions;
use crate::version::{Downloaded, RemoteVersion};
use crate::{Error, Result};

/// Decides what happens when the remote moved past the local copy's base
/// version while the local copy has changes of its own.
///
/// The engine calls [`resolve`](Self::resolve) on open, pull or push when it
/// finds the two sides diverged, and acts on the [`Resolution`]. Built-ins:
/// [`FailOnConflict`] (the default), [`Overwrite`] and [`KeepRemote`].
///
/// # Example: a custom policy
///
/// A policy that keeps the remote copy but first saves the local one beside
/// it, so nothing is lost:
///
/// ```
/// use s3sqlite_core::{Conflict, Resolution, Result, SyncPolicy};
///
/// #[derive(Debug)]
/// struct BackUpThenKeepRemote;
///
/// #[async_trait::async_trait]
/// impl SyncPolicy for BackUpThenKeepRemote {
///     async fn resolve(&self, conflict: &Conflict<'_>) -> Result<Resolution> {
///         let backup = conflict.local_path().with_extension("local-backup");
///         std::fs::copy(conflict.local_path(), &backup).map_err(|e| {
///             s3sqlite_core::Error::Policy {
///                 url: conflict.remote().to_string(),
///                 source: Box::new(e),
///             }
///         })?;
///         Ok(Resolution::KeepRemote)
///     }
/// }
/// ```
#[async_trait]
pub trait SyncPolicy: Debug + Send + Sync + 'static {
    /// Looks at the conflict and says how to resolve it.
    ///
    /// # Errors
    ///
    /// An error aborts the sync with nothing changed on either side.
    async fn resolve(&self, conflict: &Conflict<'_>) -> Result<Resolution>;

    /// Whether the policy needs [`Conflict::base_copy`]: the replica then
    /// keeps a copy of the database as it was at its base version (see
    /// [`ReplicaOptions::with_base_copy`](crate::ReplicaOptions::with_base_copy)).
    ///
    /// By default, `false`.
    fn keeps_base(&self) -> bool {
        false
    }
}

/// What a [`SyncPolicy`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// Fail with [`Error::Conflict`](crate::Error::Conflict); nothing changes
    /// on either side.
    Abort,
    /// The local copy wins: it replaces the remote version the policy saw.
    Overwrite,
    /// The remote wins: the local changes are dropped and the remote copy is
    /// fetched.
    KeepRemote,
    /// A file the policy built from both sides: it becomes the local copy and
    /// is uploaded on condition that the remote is still the version the
    /// policy saw; if the remote moved again, the policy is asked again.
    ///
    /// When the policy built it on [`Conflict::current_copy`], the merge is
    /// a rebase: the local copy is then based on the current version (whose
    /// copy becomes the base copy), so a later round, or the next sync after
    /// a failed upload, sees only the local changes again.
    Merged(PathBuf),
}

/// What [`Conflict::current_copy`] downloaded.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub(crate) path: PathBuf,
    pub(crate) hash: ContentHash,
    /// The version it holds: the current one, or a newer one when the remote
    /// moved before the download began.
    pub(crate) version: RemoteVersion,
}

/// The two sides of a divergence, handed to [`SyncPolicy::resolve`].
#[derive(Debug)]
pub struct Conflict<'a> {
    pub(crate) local_path: &'a Path,
    pub(crate) base: Option<&'a RemoteVersion>,
    pub(crate) current: Option<&'a RemoteVersion>,
    pub(crate) remote: &'a dyn RemoteStore,
    pub(crate) transfer: &'a TransferOptions,
    pub(crate) base_copy: Option<&'a Path>,
    pub(crate) scratch: &'a Path,
    /// What [`Conflict::current_copy`] downloaded, and its hash.
    pub(crate) fetched: Mutex<Option<Fetched>>,
    /// The bytes the policy downloaded, for the sync's report.
    pub(crate) downloaded: AtomicU64,
}

impl Conflict<'_> {
    /// The local database file, with the local changes: a consistent
    /// database (while connections are open, a snapshot or the checkpointed
    /// main file). Read it; do not write it (return [`Resolution::Merged`]
    /// instead).
    pub fn local_path(&self) -> &Path {
        self.local_path
    }

    /// The version the local copy was last synced to (`None`: the object did
    /// not exist then).
    pub fn base(&self) -> Option<&RemoteVersion> {
        self.base
    }

    /// The version on the remote now (`None`: it was deleted).
    pub fn current(&self) -> Option<&RemoteVersion> {
        self.current
    }

    /// The remote, for policies that need more than [`fetch_current`](Self::fetch_current).
    pub fn remote(&self) -> &dyn RemoteStore {
        self.remote
    }

    /// The database as it was at the [`base`](Self::base) version, when the
    /// replica keeps a base copy ([`SyncPolicy::keeps_base`]) and the copy
    /// beside the local file still hashes to what was recorded; `None`
    /// otherwise, and when there was no base (the object did not exist).
    /// Read it; do not write it.
    pub fn base_copy(&self) -> Option<&Path> {
        self.base_copy
    }

    /// A folder beside the local copy, on the same file system, for the
    /// policy's own files; it is removed after the sync (and at the next
    /// open if the process dies first).
    pub fn scratch_dir(&self) -> &Path {
        self.scratch
    }

    /// Downloads the remote's current version into the
    /// [`scratch_dir`](Self::scratch_dir), verified as the engine verifies
    /// its own downloads, and returns its path (`None` when the remote
    /// object is absent). Read it, or copy it to build a merge on; do not
    /// write it: a [`Resolution::Merged`] built on it is a rebase, and the
    /// engine keeps this file as the new base copy.
    ///
    /// # Errors
    ///
    /// As [`fetch_current`](Self::fetch_current).
    pub async fn current_copy(&self) -> Result<Option<PathBuf>> {
        if let Some(fetched) = &*self.fetched.lock().expect("not poisoned") {
            return Ok(Some(fetched.path.clone()));
        }
        let Some(current) = self.current else {
            return Ok(None);
        };
        let dest = self.scratch.join("current.db");
        let url = self.remote.to_string();
        let mut version = current.clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (result, moved) = self.download_to(&dest, &version).await?;
            match result {
                Ok(downloaded) => {
                    self.downloaded.fetch_add(moved, Ordering::Relaxed);
                    let hash = crate::verify::verify_download(&url, &dest, &version, &downloaded)?;
                    *self.fetched.lock().expect("not poisoned") = Some(Fetched {
                        path: dest.clone(),
                        hash,
                        version,
                    });
                    return Ok(Some(dest));
                }
                Err(err) => {
                    let Some((again, pause)) = download_again(&err, attempt) else {
                        return Err(err);
                    };
                    tracing::info!(error = %err, attempt, "download failed, starting it again");
                    tokio::time::sleep(pause).await;
                    if again == Again::Moved {
                        // writers are busy: merge onto the newest version
                        match self.remote.head().await? {
                            Some(latest) => version = latest,
                            None => return Ok(None),
                        }
                    }
                }
            }
        }
    }

    /// One download of `version` into `dest`: of only what changed since
    /// the base copy where one is kept and that pays, else whole; with the
    /// bytes it moved.
    async fn download_to(
        &self,
        dest: &Path,
        version: &RemoteVersion,
    ) -> Result<(Result<Downloaded>, u64)> {
        if let Some(from) = self.base_copy {
            let have = || Ok(crate::manifest::Manifest::hash_file(from)?.1);
            let made =
                download_changed(self.remote, version, from, have, dest, self.transfer).await?;
            if let Some((result, delta)) = made {
                return Ok((result, delta.bytes));
            }
        }
        let result = observed::download(self.remote, dest, version, self.transfer).await;
        Ok((result, version.size))
    }

    /// The error that ends the sync in [`Error::Conflict`], with nothing
    /// changed on either side, saying why the policy could not resolve it
    /// (the rows a merge could not settle, a schema that changed…).
    pub fn refuse(&self, reason: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Conflict {
            url: self.remote.to_string(),
            base: self.base.cloned().map(Box::new),
            current: self.current.cloned().map(Box::new),
            refused: Some(reason.into()),
        }
    }

    /// Downloads the remote's current version into `dest`, verified as the
    /// engine verifies its own downloads, so the policy can open both sides.
    /// Returns `false` when the remote object is absent.
    ///
    /// # Errors
    ///
    /// As [`RemoteStore::download`]; [`Error::Truncated`](crate::Error::Truncated),
    /// [`Error::NotSqlite`](crate::Error::NotSqlite) or
    /// [`Error::Corrupt`](crate::Error::Corrupt) when the bytes are not the
    /// database the version announced.
    pub async fn fetch_current(&self, dest: &Path) -> Result<bool> {
        match self.current {
            Some(current) => {
                let downloaded =
                    observed::download(self.remote, dest, current, self.transfer).await?;
                self.downloaded
                    .fetch_add(downloaded.size, Ordering::Relaxed);
                let url = self.remote.to_string();
                crate::verify::verify_download(&url, dest, current, &downloaded)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// What [`current_copy`](Self::current_copy) downloaded, and its hash.
    pub(crate) fn take_fetched(&self) -> Option<Fetched> {
        self.fetched.lock().expect("not poisoned").take()
    }

    /// The bytes the policy downloaded.
    pub(crate) fn downloaded(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }
}

/// The default policy: a divergence is an [`Error::Conflict`](crate::Error::Conflict),
/// and both sides stay as they were.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailOnConflict;

/// The local copy wins a divergence and replaces the remote version.
///
/// The original Python package's `ignore_conflicts=True`. The replaced
/// remote version is lost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overwrite;

/// The remote wins a divergence: local changes are dropped and the remote
/// copy is fetched.
///
/// Dropping writes is never silent. Named for one call
/// ([`Replica::push_with`](crate::Replica::push_with), an adapter's
/// `sync_with`), the discard is what the caller asked for and a success
/// with [`SyncAction::KeptRemote`](crate::SyncAction::KeptRemote). As the
/// replica's own policy
/// ([`ReplicaOptions::with_policy`](crate::ReplicaOptions::with_policy)),
/// a push or pull that discards returns
/// [`Error::LocalDiscarded`](crate::Error::LocalDiscarded) (the sync is
/// done; the error carries its report), so that a caller who does not look
/// at the report still learns; at open it is reported in
/// [`Replica::opened`](crate::Replica::opened). Either way a warning is
/// logged.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepRemote;

#[async_trait]
impl SyncPolicy for FailOnConflict {
    async fn resolve(&self, _: &Conflict<'_>) -> Result<Resolution> {
        Ok(Resolution::Abort)
    }
}

#[async_trait]
impl SyncPolicy for Overwrite {
    async fn resolve(&self, _: &Conflict<'_>) -> Result<Resolution> {
        Ok(Resolution::Overwrite)
    }
}

#[async_trait]
impl SyncPolicy for KeepRemote {
    async fn resolve(&self, _: &Conflict<'_>) -> Result<Resolution> {
        Ok(Resolution::KeepRemote)
    }
}
