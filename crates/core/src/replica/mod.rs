//! The [`Replica`] engine: a local copy of one remote database.

mod base;
mod deadline;
mod delta;
mod download;
mod incremental;
mod inspect;
mod live;
mod local;
mod manifest;
mod open;
mod options;
mod patch;
mod pull;
mod push;
mod record;
mod state;
mod upload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use self::deadline::Pace;
use self::local::HeldLock;
use self::state::State;
use crate::policy::SyncPolicy;
use crate::remote::RemoteStore;
use crate::report::{SyncAction, SyncReport};
use crate::version::RemoteVersion;
use crate::{Error, Result};

pub use self::live::{LiveReplace, LiveSource};
pub use self::options::ReplicaOptions;
pub(crate) use self::options::default_local_path;

/// A local copy of one remote SQLite database.
///
/// [`open`](Self::open) brings the database down (or reuses the local copy
/// when it is current) and holds a lock on the local path for the replica's
/// life. Use any SQLite library on [`local_path`](Self::local_path), then
/// [`push`](Self::push) a consistent file (all connections closed, or the WAL
/// checkpointed) to upload it on condition that the remote has not moved.
/// The adapter crates (`s3sqlite-sqlx`, `s3sqlite-rusqlite`) do that part.
///
/// # Example
///
/// ```
/// use s3sqlite_core::{Replica, ReplicaOptions, SyncAction};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let url = "memory:///docs/replica.db";
///
/// let mut replica = Replica::open_url(url, ReplicaOptions::new().with_local_path(dir.path().join("a.db"))).await?;
/// assert_eq!(replica.opened().action, SyncAction::Created);
/// // ... write the database at replica.local_path() with SQLite ...
/// # std::fs::write(replica.local_path(), b"SQLite format 3\0").unwrap();
/// let report = replica.close().await.map_err(|(_, e)| e)?;
/// assert_eq!(report.action, SyncAction::Uploaded);
///
/// let other = Replica::open_url(url, ReplicaOptions::new().with_local_path(dir.path().join("b.db"))).await?;
/// assert_eq!(other.opened().action, SyncAction::Downloaded);
/// # Ok::<(), s3sqlite_core::Error>(())
/// # }).unwrap();
/// ```
///
/// # Drop
///
/// Dropping a replica releases the lock and keeps unsynced changes in the
/// local file; the next open from the same local path resumes and uploads
/// them at its next push.
#[derive(Debug)]
pub struct Replica {
    remote: Arc<dyn RemoteStore>,
    url: String,
    path: PathBuf,
    state_path: PathBuf,
    state: Option<State>,
    options: ReplicaOptions,
    opened: SyncReport,
    /// The fastest transfer seen so far: what a push with a deadline judges
    /// its chances by.
    pace: Pace,
    /// The manifest the last hash pass computed, for the push or record
    /// that follows it.
    hashed: std::sync::Mutex<Option<crate::manifest::Manifest>>,
    _lock: HeldLock,
}

/// What a sync moved and did, before it becomes a report.
#[derive(Clone, Copy)]
struct Outcome {
    action: SyncAction,
    down: u64,
    up: u64,
    /// Ranges fetched by a download of what changed.
    ranges: u64,
    /// Parts an incremental upload sent and copied.
    parts_sent: u64,
    parts_copied: u64,
    dirty: bool,
}

impl Outcome {
    fn new(action: SyncAction) -> Self {
        Outcome {
            action,
            down: 0,
            up: 0,
            ranges: 0,
            parts_sent: 0,
            parts_copied: 0,
            dirty: false,
        }
    }

    fn dirty(mut self) -> Self {
        self.dirty = true;
        self
    }
}

impl Replica {
    /// The local database file. Open it with any SQLite library.
    pub fn local_path(&self) -> &Path {
        &self.path
    }

    /// The remote's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new empty folder beside the local copy for a snapshot of the
    /// database (`.NAME.s3sqlite-snapshot-…`), for adapters that push a
    /// copy made with SQLite's online backup API ([`LiveSource::Snapshot`]). It is removed when
    /// dropped, and by the next open of this path if a crash prevents that,
    /// so a killed sync never leaves a database-sized file in the temp
    /// folder.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the folder cannot be created.
    pub fn snapshot_dir(&self) -> Result<tempfile::TempDir> {
        local::temp_dir_for(&self.path, "snapshot")
    }

    /// The options the replica was opened with.
    pub fn options(&self) -> &ReplicaOptions {
        &self.options
    }

    /// The remote.
    pub fn remote(&self) -> &Arc<dyn RemoteStore> {
        &self.remote
    }

    /// What the open did.
    pub fn opened(&self) -> &SyncReport {
        &self.opened
    }

    /// The remote version the local copy is based on (`None`: the object did
    /// not exist at the last sync).
    pub fn base(&self) -> Option<&RemoteVersion> {
        self.state.as_ref().and_then(|s| s.base.as_ref())
    }

    /// The policy for one call (`None`: the replica's own), and whether the
    /// caller named it.
    fn policy_for(&self, policy: Option<Arc<dyn SyncPolicy>>) -> (Arc<dyn SyncPolicy>, bool) {
        match policy {
            Some(policy) => (policy, true),
            None => (Arc::clone(&self.options.policy), false),
        }
    }

    /// `report`, or [`Error::LocalDiscarded`] when it says the replica's own
    /// policy dropped the local changes (`explicit`: the caller named the
    /// policy for this call, and asked for that).
    fn unless_discarded(&self, report: SyncReport, explicit: bool) -> Result<SyncReport> {
        if report.action == SyncAction::KeptRemote && !explicit {
            return Err(Error::LocalDiscarded {
                url: self.url.clone(),
                report: Box::new(report),
            });
        }
        Ok(report)
    }

    fn report(&self, outcome: Outcome, started: Instant) -> SyncReport {
        SyncReport {
            action: outcome.action,
            bytes_down: outcome.down,
            bytes_up: outcome.up,
            ranges_fetched: outcome.ranges,
            parts_sent: outcome.parts_sent,
            parts_copied: outcome.parts_copied,
            duration: started.elapsed(),
            version: self.base().cloned(),
            dirty: outcome.dirty,
        }
    }

    /// Whether `current` is the version the local copy is based on.
    fn at_base(&self, current: Option<&RemoteVersion>) -> bool {
        match (self.base(), current) {
            (None, None) => true,
            (Some(base), Some(current)) => base.same_object(current),
            _ => false,
        }
    }

    /// The remote is gone while the local copy was based on a version of it
    /// (`at_base` already said it moved, so there is a base).
    fn remote_deleted(&self) -> Error {
        Error::RemoteDeleted {
            url: self.url.clone(),
            base: Box::new(self.base().cloned().expect("at_base covers a missing base")),
        }
    }

    /// The version the local copy should hold: the remote's current one,
    /// or the version the replica is pinned to
    /// ([`ReplicaOptions::with_version`]); `None` when the remote does not
    /// exist.
    ///
    /// # Errors
    ///
    /// The HEAD's error; [`Error::NoSuchVersion`] when the pinned version
    /// is gone.
    async fn target(&self) -> Result<Option<RemoteVersion>> {
        let Some(id) = &self.options.version else {
            return self.remote.head().await;
        };
        match self.remote.version(id).await? {
            Some(version) => Ok(Some(version)),
            None => Err(Error::NoSuchVersion {
                url: self.url.clone(),
                id: id.clone(),
            }),
        }
    }

    /// [`Error::ReadOnly`] on a read-only replica, before anything is
    /// uploaded.
    fn check_writable(&self) -> Result<()> {
        if self.options.is_read_only() {
            return Err(Error::ReadOnly {
                url: self.url.clone(),
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    fn conflict_error(&self, current: Option<RemoteVersion>) -> Error {
        Error::conflict(&self.url, self.base(), current)
    }

    /// A temp file beside the local copy, named so that the next open of
    /// this path removes it if a crash leaves it behind, with the mode the
    /// local copy has (or a new file's).
    fn temp_file(&self, purpose: &str) -> Result<tempfile::NamedTempFile> {
        local::temp_file_for(&self.path, purpose)
    }
}
