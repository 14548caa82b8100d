//! The [`Replica`] engine: a local copy of one remote database.

mod base;
mod local;
mod options;
mod state;

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use self::local::{LocalFiles, remove_leftovers};
use self::state::{Fingerprint, Installing, State, sibling, state_path};
use crate::files::sync_dir;
use crate::hash::ContentHash;
use crate::policy::{Conflict, Resolution, SyncPolicy};
use crate::progress;
use crate::remote::{
    Downloaded, ObjectStoreRemote, RemoteStore, RemoteVersion, Stamp, TransferOptions,
    WriteCondition,
};
use crate::report::{Inspection, Status, SyncAction, SyncReport};
use crate::verify::{check_local_header, verify_download};
use crate::{Error, Result};

pub use self::options::ReplicaOptions;
pub(crate) use self::options::default_local_path;

/// How often a download is tried when the remote keeps changing under it.
const DOWNLOAD_ATTEMPTS: u32 = 10;

/// From this attempt on, a download that lost its version to a writer
/// mid-way is made as one GET of whatever is current, which no writer can
/// tear, instead of parts pinned to a version that may move again.
const ONE_GET_FROM_ATTEMPT: u32 = 3;

/// How many unrecorded uploads the state file remembers.
const MAX_PENDING: usize = 8;

/// How often an upload is tried when the connection fails under it.
const TRANSFER_ATTEMPTS: u32 = 3;

/// How often one push consults the policy before giving up on a remote that
/// keeps moving.
const POLICY_ROUNDS: usize = 64;

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
    /// The fastest transfer seen so far, in bytes per second: what a push
    /// with a deadline judges its chances by.
    fastest: Option<f64>,
    _lock: File,
}

/// What a push while connections are open uploads; see [`Replica::push_live`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum LiveSource<'a> {
    /// The local main file, complete right after a full checkpoint
    /// (`PRAGMA wal_checkpoint(TRUNCATE)` with no busy reader), and kept from
    /// further checkpoints until the push returns.
    Checkpointed,
    /// A consistent copy of the database, e.g. made with `VACUUM INTO`.
    Snapshot(&'a Path),
}

/// Writes another database's content into the live local database, for
/// resolutions that replace local changes while connections are open; the
/// adapters implement it with SQLite's online backup API.
#[async_trait::async_trait]
pub trait LiveReplace: Send + Sync {
    /// Makes the live database hold the content of the database file `db`.
    ///
    /// # Errors
    ///
    /// Any error aborts the sync; the engine records nothing.
    async fn replace(&self, db: &Path) -> Result<()>;
}

/// The file an upload sends.
struct Source<'a> {
    path: PathBuf,
    /// The local main file holds exactly the uploaded bytes.
    same_as_local: bool,
    /// Connections are open: replace content through this, never rename.
    live: Option<&'a dyn LiveReplace>,
}

impl<'a> Source<'a> {
    fn closed(path: &Path) -> Self {
        Source {
            path: path.to_owned(),
            same_as_local: true,
            live: None,
        }
    }

    fn live(path: PathBuf, same_as_local: bool, replace: &'a dyn LiveReplace) -> Self {
        Source {
            path,
            same_as_local,
            live: Some(replace),
        }
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

/// The local copy against its recorded base.
enum Local {
    /// Same bytes as the base version.
    Clean,
    /// Changed since the base; the hash of what is there now.
    Dirty(ContentHash),
}

/// What a sync moved and did, before it becomes a report.
#[derive(Clone, Copy)]
struct Outcome {
    action: SyncAction,
    down: u64,
    up: u64,
    dirty: bool,
}

impl Outcome {
    fn new(action: SyncAction) -> Self {
        Outcome {
            action,
            down: 0,
            up: 0,
            dirty: false,
        }
    }

    fn dirty(mut self) -> Self {
        self.dirty = true;
        self
    }
}

/// One download of a version into a temp file, made.
struct Attempt {
    temp: tempfile::NamedTempFile,
    result: Result<Downloaded>,
    took: Duration,
}

impl Replica {
    /// Opens the remote at `url` (see [`ObjectStoreRemote`] for the schemes).
    ///
    /// # Errors
    ///
    /// As [`ObjectStoreRemote::from_url`] and [`Replica::open`].
    pub async fn open_url(url: &str, options: ReplicaOptions) -> Result<Self> {
        Self::open(ObjectStoreRemote::from_url(url)?, options).await
    }

    /// Opens a replica of `remote`: locks the local path, then downloads the
    /// remote copy, reuses the local one, or starts empty, by the rules of
    /// the local and remote state (see the crate docs).
    ///
    /// # Errors
    ///
    /// - [`Error::LocalInUse`] when another replica holds the local path;
    /// - [`Error::NotAFile`], [`Error::Io`] for an unusable local path;
    /// - [`Error::UntrackedLocal`] when a file s3sqlite does not track is in
    ///   the way and the remote exists;
    /// - [`Error::RemoteNotFound`], [`Error::RemoteDeleted`],
    ///   [`Error::BucketNotFound`] for a missing remote;
    /// - [`Error::NotSqlite`], [`Error::Truncated`] for a bad download;
    /// - [`Error::Conflict`] when both sides changed and the policy aborts.
    ///
    /// On error, the local file and the remote object are as they were.
    pub async fn open(remote: impl RemoteStore, options: ReplicaOptions) -> Result<Self> {
        let remote: Arc<dyn RemoteStore> = Arc::new(remote);
        let url = remote.to_string();
        let path = options.resolve_local_path(&url);
        let span = tracing::info_span!("s3sqlite.open", url = %url, path = %path.display());
        async move {
            let started = Instant::now();
            let files = LocalFiles::lock(&path)?;
            let lock = files.lock_file()?;
            match Self::open_locked(remote, url, path, options, lock, started).await {
                Ok(replica) => Ok(replica),
                Err(err) => {
                    // the failed open takes back the lock file and folders
                    // it made, while it still holds the lock
                    files.undo();
                    Err(err)
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The rest of [`open`](Self::open), once the local path is locked.
    async fn open_locked(
        remote: Arc<dyn RemoteStore>,
        url: String,
        path: PathBuf,
        options: ReplicaOptions,
        lock: File,
        started: Instant,
    ) -> Result<Self> {
        remove_leftovers(&path)?;
        if let Some(recover) = &options.recovery
            && path.is_file()
        {
            recover(&path)?;
        }
        let mut replica = Self::with_state(remote, url, path, options, lock)?;
        let policy = Arc::clone(&replica.options.policy);
        let outcome = replica.reconcile(policy).await?;
        replica.opened = replica.report(outcome, started);
        tracing::info!(report = %replica.opened, "opened");
        Ok(replica)
    }

    /// A replica at `path` with its state file read, not yet reconciled
    /// with the remote; `lock` is the path's lock, held.
    ///
    /// # Errors
    ///
    /// [`Error::TrackedElsewhere`] when the state names another URL; as
    /// `State::load`.
    fn with_state(
        remote: Arc<dyn RemoteStore>,
        url: String,
        path: PathBuf,
        options: ReplicaOptions,
        lock: File,
    ) -> Result<Self> {
        let state_path = state_path(&path);
        let state = State::load(&state_path)?;
        if let Some(state) = &state
            && state.url != url
        {
            return Err(Error::TrackedElsewhere {
                path,
                tracked: state.url.clone(),
                url,
            });
        }
        Ok(Replica {
            remote,
            url,
            path,
            state_path,
            state,
            options,
            opened: SyncReport {
                action: SyncAction::Reused,
                bytes_down: 0,
                bytes_up: 0,
                duration: Default::default(),
                version: None,
                dirty: false,
            },
            fastest: None,
            _lock: lock,
        })
    }

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
    /// `VACUUM INTO` copy ([`LiveSource::Snapshot`]). It is removed when
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

    /// Brings the local copy up to the remote: downloads the remote copy if it
    /// moved and the local copy is clean; a diverged copy goes to the policy.
    ///
    /// The local file must not be open for writing while this runs.
    ///
    /// # Errors
    ///
    /// As [`Replica::open`].
    pub async fn pull(&mut self) -> Result<SyncReport> {
        let policy = Arc::clone(&self.options.policy);
        self.pull_inner(policy, false).await
    }

    /// [`pull`](Self::pull) under `policy` instead of the replica's own, for
    /// this call only.
    ///
    /// # Errors
    ///
    /// As [`Replica::pull`].
    pub async fn pull_with(&mut self, policy: impl SyncPolicy) -> Result<SyncReport> {
        self.pull_inner(Arc::new(policy), true).await
    }

    /// Pulls while connections keep the database open: what an adapter's
    /// `pull()` calls.
    ///
    /// `source` holds the database's committed content, as for
    /// [`push_live`](Self::push_live): the local copy is clean when its hash
    /// is the base version's. A clean copy of a remote that moved gets the
    /// remote's content written into the live database by `replace`
    /// (SQLite's online backup API) instead of a file renamed over it; a
    /// copy with changes of its own, when the remote moved, goes to `policy`
    /// (the replica's when `None`), exactly as a push would; when the remote
    /// did not move, nothing is transferred.
    ///
    /// # Errors
    ///
    /// As [`Replica::pull`].
    pub async fn pull_live(
        &mut self,
        source: LiveSource<'_>,
        replace: &dyn LiveReplace,
        policy: Option<Arc<dyn SyncPolicy>>,
    ) -> Result<SyncReport> {
        let (policy, explicit) = self.policy_for(policy);
        let span = tracing::info_span!("s3sqlite.pull", url = %self.url, live = true);
        async {
            let started = Instant::now();
            let (path, same_as_local, hash, clean) = self.live_content(source)?;
            let current = self.remote.head().await?;
            let outcome = if self.at_base(current.as_ref()) {
                let outcome = Outcome::new(SyncAction::Reused);
                if clean { outcome } else { outcome.dirty() }
            } else {
                match (clean, current) {
                    (_, None) => {
                        return Err(self.remote_deleted());
                    }
                    (true, Some(current)) => self.fetch_with(current, Some(replace), None).await?,
                    (false, current) => {
                        let source = Source::live(path, same_as_local, replace);
                        self.upload_dirty(hash, Some(current), source, policy)
                            .await?
                    }
                }
            };
            let report = self.report(outcome, started);
            tracing::info!(report = %report, "pulled");
            self.unless_discarded(report, explicit)
        }
        .instrument(span)
        .await
    }

    /// The policy for one call (`None`: the replica's own), and whether the
    /// caller named it.
    fn policy_for(&self, policy: Option<Arc<dyn SyncPolicy>>) -> (Arc<dyn SyncPolicy>, bool) {
        match policy {
            Some(policy) => (policy, true),
            None => (Arc::clone(&self.options.policy), false),
        }
    }

    /// The file a live source names, whether it is the local file itself,
    /// its hash, and whether that is the base version's content.
    fn live_content(
        &mut self,
        source: LiveSource<'_>,
    ) -> Result<(PathBuf, bool, ContentHash, bool)> {
        let (path, same_as_local) = self.live_source(source)?;
        let hash = ContentHash::of_file(&path)?;
        let clean = self.live_clean(hash, same_as_local)?;
        Ok((path, same_as_local, hash, clean))
    }

    /// Whether live content hashing to `hash` is the base version's: the
    /// same bytes, or, for the local file itself, the same data under a
    /// header its journal mode rewrote.
    fn live_clean(&mut self, hash: ContentHash, same_as_local: bool) -> Result<bool> {
        if self.state.as_ref().and_then(|s| s.base_hash) == Some(hash) {
            return Ok(true);
        }
        Ok(same_as_local && self.absorb_header_rewrite()?)
    }

    /// The file a live source names, and whether it is the local file itself.
    fn live_source(&self, source: LiveSource<'_>) -> Result<(PathBuf, bool)> {
        Ok(match source {
            LiveSource::Checkpointed => (self.path.clone(), true),
            LiveSource::Snapshot(path) => {
                check_local_header(path)?;
                (path.to_owned(), false)
            }
        })
    }

    async fn pull_inner(
        &mut self,
        policy: Arc<dyn SyncPolicy>,
        explicit: bool,
    ) -> Result<SyncReport> {
        let span = tracing::info_span!("s3sqlite.pull", url = %self.url);
        async {
            let started = Instant::now();
            let outcome = self.reconcile(policy).await?;
            let report = self.report(outcome, started);
            tracing::info!(report = %report, "pulled");
            self.unless_discarded(report, explicit)
        }
        .instrument(span)
        .await
    }

    /// Uploads the local copy if it changed since the last sync, on condition
    /// that the remote is still the base version; a remote that moved goes to
    /// the policy. An unchanged copy sends no request.
    ///
    /// The local file must be consistent and not written while this runs:
    /// all connections closed, or the WAL checkpointed and writers held off.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when the remote moved and the policy aborts;
    /// [`Error::Remote`], [`Error::Io`] for failed requests or file access.
    /// A failed push leaves the local file and its dirty state as they were.
    pub async fn push(&mut self) -> Result<SyncReport> {
        let policy = Arc::clone(&self.options.policy);
        self.push_inner(policy, false, None).await
    }

    /// [`push`](Self::push) under `policy` instead of the replica's own, for
    /// this call only: settles a conflict the replica's policy refused
    /// without reopening.
    ///
    /// ```
    /// use s3sqlite_core::{Error, KeepRemote, Replica, ReplicaOptions, SyncAction};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let url = "memory:///docs/push-with.db";
    /// let open = |name: &str| {
    ///     Replica::open_url(url, ReplicaOptions::new().with_local_path(dir.path().join(name)))
    /// };
    /// let mut a = open("a.db").await?;
    /// let mut b = open("b.db").await?;
    /// std::fs::write(a.local_path(), b"SQLite format 3\0a").unwrap();
    /// a.push().await?;
    /// std::fs::write(b.local_path(), b"SQLite format 3\0b").unwrap();
    /// assert!(matches!(b.push().await, Err(Error::Conflict { .. })));
    /// let report = b.push_with(KeepRemote).await?;
    /// assert_eq!(report.action, SyncAction::KeptRemote);
    /// # Ok::<(), s3sqlite_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Replica::push`].
    pub async fn push_with(&mut self, policy: impl SyncPolicy) -> Result<SyncReport> {
        self.push_inner(Arc::new(policy), true, None).await
    }

    /// `explicit`: the policy was given for this call, so a discard of the
    /// local changes it asked for is a success.
    /// `deadline`: an upload that cannot make it is not started.
    async fn push_inner(
        &mut self,
        policy: Arc<dyn SyncPolicy>,
        explicit: bool,
        deadline: Option<Instant>,
    ) -> Result<SyncReport> {
        let span = tracing::info_span!("s3sqlite.push", url = %self.url);
        async {
            let started = Instant::now();
            let outcome = match self.local()? {
                Local::Clean => Outcome::new(SyncAction::Unchanged),
                Local::Dirty(hash) => {
                    self.check_deadline(&self.path, deadline)?;
                    let source = Source::closed(&self.path);
                    self.upload_dirty(hash, None, source, policy).await?
                }
            };
            let report = self.report(outcome, started);
            tracing::info!(report = %report, "pushed");
            self.unless_discarded(report, explicit)
        }
        .instrument(span)
        .await
    }

    /// [`push`](Self::push), bounded by `deadline`: for an AWS Lambda
    /// invocation, its remaining time.
    ///
    /// Before anything is sent, the upload's size is weighed against the
    /// fastest transfer this replica has seen (its open's download, earlier
    /// pushes): when even that pace cannot finish in time, the push fails at
    /// once with [`Error::DeadlineTooShort`]. With no transfer seen yet, it
    /// starts. If the deadline comes mid-transfer, the push stops there
    /// ([`Error::DeadlineExceeded`]): nothing is recorded as synced, the
    /// local changes stay for the next push, and an upload that landed
    /// anyway is recognised then by its stamp, as after a crash.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use s3sqlite_core::{Replica, ReplicaOptions};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let options = ReplicaOptions::new().with_local_path(dir.path().join("app.db"));
    /// let mut replica = Replica::open_url("memory:///docs/push-by.db", options).await?;
    /// std::fs::write(replica.local_path(), b"SQLite format 3\0").unwrap();
    /// // e.g. the Lambda context's deadline, less a margin to answer in
    /// let report = replica.push_by(Instant::now() + Duration::from_secs(5)).await?;
    /// println!("{report}");
    /// # Ok::<(), s3sqlite_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Replica::push`], and [`Error::DeadlineTooShort`] or
    /// [`Error::DeadlineExceeded`].
    pub async fn push_by(&mut self, deadline: Instant) -> Result<SyncReport> {
        let url = self.url.clone();
        let policy = Arc::clone(&self.options.policy);
        by_deadline(
            url,
            deadline,
            self.push_inner(policy, false, Some(deadline)),
        )
        .await
    }

    /// [`push_live`](Self::push_live), bounded by `deadline` as
    /// [`push_by`](Self::push_by) is: what an adapter's `sync_by()` calls.
    ///
    /// # Errors
    ///
    /// As [`push_by`](Self::push_by).
    pub async fn push_live_by(
        &mut self,
        source: LiveSource<'_>,
        replace: &dyn LiveReplace,
        deadline: Instant,
    ) -> Result<SyncReport> {
        let url = self.url.clone();
        let push = self.push_live_inner(source, replace, None, Some(deadline));
        by_deadline(url, deadline, push).await
    }

    /// Records a transfer of `bytes` that took `took`.
    fn observe(&mut self, bytes: u64, took: Duration) {
        if bytes == 0 || took.is_zero() {
            return;
        }
        let rate = bytes as f64 / took.as_secs_f64();
        self.fastest = Some(self.fastest.map_or(rate, |fastest| fastest.max(rate)));
    }

    /// Fails when the file at `path` cannot go up before `deadline` (when
    /// there is one) even at the fastest pace seen so far.
    fn check_deadline(&self, path: &Path, deadline: Option<Instant>) -> Result<()> {
        let Some(deadline) = deadline else {
            return Ok(());
        };
        let size = fs::metadata(path)
            .map_err(|e| Error::io("read metadata of", path, e))?
            .len();
        let left = deadline.saturating_duration_since(Instant::now());
        let needed = match self.fastest {
            Some(rate) => Duration::from_secs_f64(size as f64 / rate),
            None if left.is_zero() => Duration::from_nanos(1),
            None => return Ok(()),
        };
        if needed > left {
            return Err(Error::DeadlineTooShort {
                url: self.url.clone(),
                size,
                needed,
                left,
            });
        }
        Ok(())
    }

    /// Pushes while connections keep the database open: what an adapter's
    /// `sync()` calls.
    ///
    /// `source` says what to upload: the main file right after a complete
    /// checkpoint ([`LiveSource::Checkpointed`]; the caller keeps anything
    /// from checkpointing into it until this returns, while writers may
    /// still add WAL frames, which go up at the next push), or a consistent
    /// copy of the database ([`LiveSource::Snapshot`], e.g. from
    /// `VACUUM INTO`). Nothing is sent when those bytes are what the remote
    /// already holds.
    ///
    /// A resolution that replaces the local content ([`Resolution::KeepRemote`],
    /// [`Resolution::Merged`]) cannot rename a file under open connections:
    /// `replace` writes the new content into the live database instead
    /// (SQLite's online backup API), and the engine never touches the
    /// `-wal` and `-shm` files.
    ///
    /// # Errors
    ///
    /// As [`Replica::push`].
    pub async fn push_live(
        &mut self,
        source: LiveSource<'_>,
        replace: &dyn LiveReplace,
    ) -> Result<SyncReport> {
        self.push_live_inner(source, replace, None, None).await
    }

    /// [`push_live`](Self::push_live) under `policy` instead of the
    /// replica's own (`None`: the replica's), for this call only: what an
    /// adapter's `sync_with()` calls.
    ///
    /// # Errors
    ///
    /// As [`Replica::push`].
    pub async fn push_live_with(
        &mut self,
        source: LiveSource<'_>,
        replace: &dyn LiveReplace,
        policy: Option<Arc<dyn SyncPolicy>>,
    ) -> Result<SyncReport> {
        self.push_live_inner(source, replace, policy, None).await
    }

    /// `deadline`: an upload that cannot make it is not started.
    async fn push_live_inner(
        &mut self,
        source: LiveSource<'_>,
        replace: &dyn LiveReplace,
        policy: Option<Arc<dyn SyncPolicy>>,
        deadline: Option<Instant>,
    ) -> Result<SyncReport> {
        let (policy, explicit) = self.policy_for(policy);
        let span = tracing::info_span!("s3sqlite.push", url = %self.url, live = true);
        async {
            let started = Instant::now();
            let (path, same_as_local, hash, clean) = self.live_content(source)?;
            let outcome = if clean {
                Outcome::new(SyncAction::Unchanged)
            } else {
                self.check_deadline(&path, deadline)?;
                let source = Source::live(path, same_as_local, replace);
                self.upload_dirty(hash, None, source, policy).await?
            };
            let report = self.report(outcome, started);
            tracing::info!(report = %report, "pushed");
            self.unless_discarded(report, explicit)
        }
        .instrument(span)
        .await
    }

    /// Says whether the local copy is clean, ahead, behind or diverged, with
    /// one HEAD request and no transfer.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] when the HEAD fails; [`Error::Io`] when the local
    /// file cannot be read.
    pub async fn status(&mut self) -> Result<Status> {
        let current = self.remote.head().await?;
        self.status_at(current.as_ref())
    }

    /// Where the local copy stands when the remote is at `current`.
    fn status_at(&mut self, current: Option<&RemoteVersion>) -> Result<Status> {
        let local = self.local()?;
        let ours = current.and_then(|current| Some((self.our_stamp(current)?, current)));
        if let (Some((ours, current)), Local::Dirty(hash)) = (ours, &local) {
            if !ours.landed_as(current) {
                // a torn upload of ours (a store that keeps partial bodies):
                // no one else's change, the next push replaces it
                return Ok(Status::Ahead);
            }
            if *hash == ours.content_hash {
                // our own upload that landed without its record is the base
                return Ok(Status::Clean);
            }
        }
        let moved = !self.at_base(current);
        let dirty = matches!(local, Local::Dirty(_));
        Ok(match (dirty, moved) {
            (false, false) => Status::Clean,
            (true, false) => Status::Ahead,
            (false, true) => Status::Behind,
            (true, true) => Status::Diverged,
        })
    }

    /// Compares the local copy at the path `options` gives with `remote`,
    /// as [`status`](Self::status) does, without opening a replica: one HEAD
    /// request, no transfer, nothing changed on either side. Takes the local
    /// path's lock for the time it reads.
    ///
    /// A push whose upload landed but whose record did not (a crash between
    /// the two) counts as clean: the next open records it. A torn upload of
    /// ours (a push cut off on a store that keeps partial bodies) counts as
    /// ahead: the next push replaces it.
    ///
    /// # Errors
    ///
    /// [`Error::LocalInUse`] while a replica holds the path;
    /// [`Error::TrackedElsewhere`] when the local copy belongs to another
    /// URL; [`Error::Remote`] when the HEAD fails; [`Error::Io`] when the
    /// local files cannot be read.
    ///
    /// # Example
    ///
    /// ```
    /// use s3sqlite_core::{ObjectStoreRemote, Replica, ReplicaOptions, Status};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("app.db");
    /// let url = "memory:///inspect-docs/app.db";
    /// let options = ReplicaOptions::new().with_local_path(&path);
    /// let remote = || ObjectStoreRemote::from_url(url);
    /// let seen = Replica::inspect(remote()?, options.clone()).await?;
    /// assert_eq!(seen.status, None); // nothing here yet
    ///
    /// let mut replica = Replica::open(remote()?, options.clone()).await?;
    /// std::fs::write(&path, b"SQLite format 3\0").unwrap();
    /// replica.push().await?;
    /// drop(replica);
    /// let seen = Replica::inspect(remote()?, options).await?;
    /// assert_eq!(seen.status, Some(Status::Clean));
    /// # Ok::<(), s3sqlite_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn inspect(remote: impl RemoteStore, options: ReplicaOptions) -> Result<Inspection> {
        let remote: Arc<dyn RemoteStore> = Arc::new(remote);
        let url = remote.to_string();
        let path = options.resolve_local_path(&url);
        let files = LocalFiles::lock(&path)?;
        let inspected = async {
            let lock = files.lock_file()?;
            Self::with_state(remote, url, path, options, lock)?
                .inspection()
                .await
        }
        .await;
        // a path that held no replica keeps no lock file or folder of ours
        files.undo();
        inspected
    }

    /// The rest of [`inspect`](Self::inspect), on a replica that has read
    /// its state and not reconciled it.
    async fn inspection(&mut self) -> Result<Inspection> {
        let current = self.remote.head().await?;
        let file = match fs::metadata(&self.path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read metadata of", &self.path, e)),
        };
        let status = match self.state.is_some() && file.is_some() {
            true => Some(self.status_at(current.as_ref())?),
            false => None,
        };
        Ok(Inspection {
            url: self.url.clone(),
            local_path: self.path.clone(),
            status,
            base: self.base().cloned(),
            remote: current,
            local_size: file.as_ref().map(fs::Metadata::len),
            local_modified: file.and_then(|meta| meta.modified().ok()),
        })
    }

    /// The URL the local copy at `path` is a replica of, from its state
    /// file; `None` when s3sqlite does not track the path.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::CorruptState`] when the state file cannot be read.
    pub fn tracked_url(path: impl AsRef<Path>) -> Result<Option<String>> {
        Ok(State::load(&state_path(path.as_ref()))?.map(|state| state.url))
    }

    /// Pushes and releases the local path.
    ///
    /// # Errors
    ///
    /// As [`Replica::push`]; the replica comes back with the error, so the
    /// caller can retry or keep using it.
    pub async fn close(mut self) -> Result<SyncReport, (Self, Error)> {
        match self.push().await {
            Ok(report) => Ok(report),
            Err(err) => Err((self, err)),
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

    /// Compares the local copy with its record: the fingerprint when it can
    /// be trusted, else the content hash (refreshing the fingerprint when the
    /// hash says clean).
    fn local(&mut self) -> Result<Local> {
        if journal_pending(&self.path)? {
            // changes SQLite has not put into the main file yet: never clean
            return Ok(Local::Dirty(ContentHash::of_file(&self.path)?));
        }
        let Some(state) = &self.state else {
            return Ok(Local::Dirty(ContentHash::of_file(&self.path)?));
        };
        let Some(base_hash) = state.base_hash else {
            return Ok(Local::Dirty(ContentHash::of_file(&self.path)?));
        };
        if let Some(fp) = &state.fingerprint
            && fp.trusted_for(&self.path)?
        {
            return Ok(Local::Clean);
        }
        let hash = ContentHash::of_file(&self.path)?;
        if hash != base_hash {
            return Ok(Local::Dirty(hash));
        }
        let mut state = state.clone();
        state.fingerprint = Some(Fingerprint::of(&self.path)?);
        self.save(state)?;
        Ok(Local::Clean)
    }

    /// A download that was renamed into place but not recorded (a crash in
    /// between): if the local file holds exactly the downloaded bytes, record
    /// them; otherwise forget the announcement.
    fn finish_interrupted_install(&mut self) -> Result<()> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        let Some(installing) = state.installing.clone() else {
            return Ok(());
        };
        if ContentHash::of_file(&self.path)? == installing.hash {
            if let Some(base_hash) = installing.rebased_on {
                tracing::info!(version = %installing.version, "finishing an interrupted merge");
                let header = state.base_header.clone().unwrap_or_default();
                let header = match base::verified(&self.path, base_hash)? {
                    Some(copy) => crate::verify::read_header(&copy)?,
                    None => header,
                };
                return self.record_rebase(installing.version, base_hash, header);
            }
            tracing::info!(version = %installing.version, "finishing an interrupted download");
            let mut state = State::new(&self.url, Some(installing.version), Some(installing.hash));
            state.fingerprint = Some(Fingerprint::of(&self.path)?);
            state.pending = self.pending().to_vec();
            state.base_copy = self.base_copy_for(state.base.as_ref(), Some(installing.hash));
            self.save(state)
        } else {
            let mut state = state.clone();
            state.installing = None;
            self.save(state)
        }
    }

    fn save(&mut self, state: State) -> Result<()> {
        state.store(&self.state_path)?;
        let copy_changed = self.state.as_ref().and_then(|s| s.base_copy) != state.base_copy;
        let keep = state.base_copy;
        self.state = Some(state);
        if copy_changed {
            // the state no longer names them: older base copies go
            base::remove_others(&self.path, keep)?;
        }
        Ok(())
    }

    /// Whether this replica keeps a base copy.
    fn keeps_base(&self) -> bool {
        self.options.keeps_base()
    }

    /// The base copy to record for content `hash` at a base version: `hash`
    /// when a copy is kept and one was written for it.
    fn base_copy_for(
        &self,
        base: Option<&RemoteVersion>,
        hash: Option<ContentHash>,
    ) -> Option<ContentHash> {
        let hash = hash.filter(|_| base.is_some() && self.keeps_base())?;
        base::exists(&self.path, hash).then_some(hash)
    }

    /// Writes the base copy of `src` (content `hash`), when one is kept.
    fn write_base_copy(&self, src: &Path, hash: ContentHash) -> Result<()> {
        if self.keeps_base() {
            base::write(&self.path, src, hash)?;
        }
        Ok(())
    }

    /// Records that the local file now holds `base` with hash `hash`. Called
    /// only right after the engine wrote or uploaded the file, while nothing
    /// else writes it, so its fingerprint can be settled at once and the next
    /// open needs no read of the file.
    fn record(&mut self, base: Option<RemoteVersion>, hash: Option<ContentHash>) -> Result<()> {
        let mut state = State::new(&self.url, base, hash);
        state.fingerprint = Some(Fingerprint::settle(&self.path)?);
        state.base_header = Some(crate::verify::read_header(&self.path)?);
        state.base_copy = self.base_copy_for(state.base.as_ref(), hash);
        self.save(state)
    }

    /// Records that the local copy is a merge rebased onto `version`, whose
    /// content (hash `hash`, header `header`) the base copy holds: a local
    /// change on top of that version, to be uploaded.
    fn record_rebase(
        &mut self,
        version: RemoteVersion,
        hash: ContentHash,
        header: Vec<u8>,
    ) -> Result<()> {
        let mut state = State::new(&self.url, Some(version), Some(hash));
        state.base_header = Some(header);
        state.pending = self.pending().to_vec();
        state.base_copy = self.base_copy_for(state.base.as_ref(), Some(hash));
        self.save(state)
    }

    /// For adapters: when SQLite rewrote only bookkeeping fields of the
    /// local copy's header since the last sync (switching to WAL mode sets
    /// the file format bytes at offsets 18–19 and bumps the change counter;
    /// see SQLite's file format, section 1.3), records the copy as clean,
    /// since it holds the same data as its base, and returns `true`. Then a
    /// session that only reads uploads nothing, whatever journal mode the
    /// remote file was in. Anything else, a data change included, returns
    /// `false` and changes nothing.
    ///
    /// Reads only the header when it is unchanged; hashes the file when it
    /// is not.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the local file cannot be read or the state written.
    pub fn absorb_header_rewrite(&mut self) -> Result<bool> {
        use crate::verify::{HEADER_LEN, is_bookkeeping};
        let Some(state) = &self.state else {
            return Ok(false);
        };
        let (Some(base), Some(base_hash), Some(was)) =
            (&state.base, state.base_hash, &state.base_header)
        else {
            return Ok(false);
        };
        let now = crate::verify::read_header(&self.path)?;
        if now == *was || now.len() != HEADER_LEN || was.len() != HEADER_LEN {
            return Ok(false);
        }
        if (0..HEADER_LEN).any(|i| now[i] != was[i] && !is_bookkeeping(i)) {
            return Ok(false);
        }
        if journal_pending(&self.path)? {
            return Ok(false);
        }
        let Some(map) = crate::mmap::map_file(&self.path)? else {
            return Ok(false);
        };
        if map.len() as u64 != base.size || map[..HEADER_LEN] != now[..] {
            return Ok(false);
        }
        let mut at_base = blake3::Hasher::new();
        at_base.update(was);
        at_base.update(&map[HEADER_LEN..]);
        if ContentHash::from_hasher(&at_base) != base_hash {
            return Ok(false);
        }
        let hash = ContentHash::of_bytes(&map);
        drop(map);
        tracing::debug!(path = %self.path.display(), "only the database header was rewritten: still clean");
        let mut state = state.clone();
        state.base_hash = Some(hash);
        state.base_header = Some(now);
        state.fingerprint = Some(Fingerprint::of(&self.path)?);
        self.save(state)?;
        Ok(true)
    }

    /// Records that the live database holds the content of `version` (hash
    /// `hash`, the bytes of the file `content`) while its main file may not
    /// hold those bytes yet: no fingerprint, so the next check hashes the
    /// file. A main file that holds the same data under a header its journal
    /// mode rewrote (a WAL database restored from a rollback-journal file)
    /// is recorded as clean at once.
    fn record_live(
        &mut self,
        version: RemoteVersion,
        hash: ContentHash,
        content: &Path,
    ) -> Result<()> {
        let mut state = State::new(&self.url, Some(version), Some(hash));
        state.base_header = Some(crate::verify::read_header(content)?);
        state.base_copy = self.base_copy_for(state.base.as_ref(), Some(hash));
        self.save(state)?;
        self.absorb_header_rewrite()?;
        Ok(())
    }

    /// The open and pull rules.
    async fn reconcile(&mut self, policy: Arc<dyn SyncPolicy>) -> Result<Outcome> {
        let local_exists = match fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.is_dir() => {
                return Err(Error::NotAFile {
                    path: self.path.clone(),
                });
            }
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io("read metadata of", &self.path, e)),
        };
        if !local_exists {
            // nothing local to compare: the download itself says which
            // version is current
            return match self.fetch_current().await? {
                Some(outcome) => Ok(outcome),
                None if self.options.create_if_missing => {
                    File::create(&self.path).map_err(|e| Error::io("create", &self.path, e))?;
                    self.record(None, Some(ContentHash::of_bytes(&[])))?;
                    Ok(Outcome::new(SyncAction::Created))
                }
                None => Err(Error::RemoteNotFound {
                    url: self.url.clone(),
                }),
            };
        }
        let current = self.remote.head().await?;
        if self.state.is_none() {
            return match current {
                None => {
                    check_local_header(&self.path)?;
                    self.record(None, None)?;
                    Ok(Outcome::new(SyncAction::Adopted).dirty())
                }
                Some(current) if self.options.replace_untracked => self.fetch(current).await,
                Some(_) => Err(Error::UntrackedLocal {
                    path: self.path.clone(),
                    url: self.url.clone(),
                }),
            };
        }
        self.finish_interrupted_install()?;
        let local = self.local()?;
        if self.at_base(current.as_ref()) {
            let outcome = Outcome::new(SyncAction::Reused);
            return Ok(match local {
                Local::Clean => outcome,
                Local::Dirty(_) => outcome.dirty(),
            });
        }
        match (local, current) {
            (_, None) => Err(self.remote_deleted()),
            (Local::Clean, Some(current)) => self.fetch(current).await,
            (Local::Dirty(hash), current) => {
                let source = Source::closed(&self.path);
                self.upload_dirty(hash, Some(current), source, policy).await
            }
        }
    }

    /// Uploads the dirty local copy (hash `hash`), consulting the policy on
    /// conflict. `known` is the remote's current version when the caller
    /// already knows the two sides diverged.
    async fn upload_dirty(
        &mut self,
        hash: ContentHash,
        mut known: Option<Option<RemoteVersion>>,
        mut source: Source<'_>,
        policy: Arc<dyn SyncPolicy>,
    ) -> Result<Outcome> {
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
                    let mut state =
                        State::new(&self.url, Some(theirs.clone()), Some(landed.content_hash));
                    state.pending = self.pending().to_vec();
                    self.save(state)?;
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
                            let mut outcome = self.fetch_with(current, source.live, None).await?;
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
                        hash = ContentHash::of_file(&merged)?;
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
            let stamp = self.announce(hash, size)?;
            let sent = Instant::now();
            let transfer = &self.options.transfer;
            let sent_file = progress::upload(
                &*self.remote,
                &source.path,
                size,
                &condition,
                &stamp,
                transfer,
            );
            match sent_file.await {
                Ok(version) => {
                    let up = version.size;
                    self.observe(up, sent.elapsed());
                    let mut outcome = self.finish(version, hash, action, up, &source)?;
                    outcome.down = down;
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
                    let mut state = self
                        .state
                        .clone()
                        .unwrap_or_else(|| State::new(&self.url, None, None));
                    state.installing = Some(Installing {
                        version: onto.version.clone(),
                        hash,
                        rebased_on: Some(onto.hash),
                    });
                    self.save(state)?;
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
    fn finish(
        &mut self,
        version: RemoteVersion,
        hash: ContentHash,
        action: SyncAction,
        up: u64,
        source: &Source<'_>,
    ) -> Result<Outcome> {
        self.write_base_copy(&source.path, hash)?;
        if source.same_as_local {
            self.record(Some(version), Some(hash))?;
        } else {
            self.record_live(version, hash, &source.path)?;
        }
        Ok(Outcome {
            action,
            down: 0,
            up,
            dirty: false,
        })
    }

    fn pending(&self) -> &[Stamp] {
        self.state.as_ref().map_or(&[], |s| s.pending.as_slice())
    }

    /// The stamp we announced for the upload whose id `version` carries, if
    /// it is one of ours whose record was lost: landed whole when
    /// [`Stamp::landed_as`] says so, torn otherwise.
    fn our_stamp(&self, version: &RemoteVersion) -> Option<Stamp> {
        let theirs = version.stamp.as_ref()?;
        self.pending()
            .iter()
            .find(|p| p.upload_id == theirs.upload_id)
            .cloned()
    }

    /// The stamp for uploading `size` bytes of content `hash`, written to the
    /// state file before the upload starts, so that the upload is recognised
    /// as ours if it lands and the record after it does not. A retry of the
    /// same content reuses its stamp.
    fn announce(&mut self, hash: ContentHash, size: u64) -> Result<Stamp> {
        if let Some(stamp) = self
            .pending()
            .iter()
            .find(|p| p.content_hash == hash && p.size == size)
        {
            return Ok(stamp.clone());
        }
        let stamp = Stamp::new(hash, size);
        let mut state = self
            .state
            .clone()
            .unwrap_or_else(|| State::new(&self.url, None, None));
        state.pending.push(stamp.clone());
        let excess = state.pending.len().saturating_sub(MAX_PENDING);
        state.pending.drain(..excess);
        self.save(state)?;
        Ok(stamp)
    }

    /// The remote is gone while the local copy was based on a version of it
    /// (`at_base` already said it moved, so there is a base).
    fn remote_deleted(&self) -> Error {
        Error::RemoteDeleted {
            url: self.url.clone(),
            base: Box::new(self.base().cloned().expect("at_base covers a missing base")),
        }
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

    /// Downloads `version` into a temp file beside the local path, checks it,
    /// and makes it the local copy; restarts when the remote changes during
    /// the download.
    async fn fetch(&mut self, version: RemoteVersion) -> Result<Outcome> {
        self.fetch_with(version, None, None).await
    }

    /// [`fetch`](Self::fetch) of whatever version is current, learnt from
    /// the download itself ([`RemoteStore::download_current`]); `None` when
    /// the remote does not exist.
    async fn fetch_current(&mut self) -> Result<Option<Outcome>> {
        match self.attempt_current(&self.options.transfer).await? {
            Some((version, first)) => self.fetch_with(version, None, Some(first)).await.map(Some),
            None => Ok(None),
        }
    }

    /// One download of `version` into a temp file, once the free space is
    /// checked.
    async fn attempt(&self, version: &RemoteVersion) -> Result<Attempt> {
        local::check_free_space(&self.path, &self.url, version.size)?;
        let temp = self.temp_file("download")?;
        let asked = Instant::now();
        let transfer = &self.options.transfer;
        let result = progress::download(&*self.remote, temp.path(), version, transfer).await;
        Ok(Attempt {
            temp,
            result,
            took: asked.elapsed(),
        })
    }

    /// One download of whatever version is current into a temp file, in
    /// the parts `transfer` says; `None` when the remote does not exist.
    async fn attempt_current(
        &self,
        transfer: &TransferOptions,
    ) -> Result<Option<(RemoteVersion, Attempt)>> {
        let temp = self.temp_file("download")?;
        let asked = Instant::now();
        let (path, url) = (&self.path, &self.url);
        let admit = |version: &RemoteVersion| local::check_free_space(path, url, version.size);
        let current =
            progress::download_current(&*self.remote, temp.path(), transfer, &admit).await?;
        Ok(current.map(|(version, result)| {
            let attempt = Attempt {
                temp,
                result,
                took: asked.elapsed(),
            };
            (version, attempt)
        }))
    }

    /// [`fetch`](Self::fetch), or, with `live`, writing the download into the
    /// open database through `live` instead of renaming it into place.
    /// `first` is a first attempt already made at `version`.
    async fn fetch_with(
        &mut self,
        mut version: RemoteVersion,
        live: Option<&dyn LiveReplace>,
        mut first: Option<Attempt>,
    ) -> Result<Outcome> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Attempt { temp, result, took } = match first.take() {
                Some(made) => made,
                None => self.attempt(&version).await?,
            };
            match result {
                Ok(downloaded) => {
                    self.observe(downloaded.size, took);
                    return self.take_download(temp, version, &downloaded, live).await;
                }
                Err(err) if err.is_transient() && attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::info!(error = %err, attempt, "download interrupted, restarting");
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
                Err(err @ Error::ChangedDuringDownload { .. }) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::info!(attempt, "remote changed during download, restarting");
                    // writers are busy: give them a moment, longer each time
                    let pause = 10 * u64::from(attempt) + u64::from(jitter_ms());
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                    if attempt < ONE_GET_FROM_ATTEMPT - 1 {
                        match self.remote.head().await? {
                            Some(latest) => version = latest,
                            None => return Err(err),
                        }
                    } else {
                        // a writer that keeps moving the remote between the
                        // parts cannot tear one GET: it is one version
                        let one_get = self
                            .options
                            .transfer
                            .clone()
                            .with_part_size(u64::MAX)
                            .with_parallelism(1);
                        match self.attempt_current(&one_get).await? {
                            Some((latest, made)) => {
                                version = latest;
                                first = Some(made);
                            }
                            None => return Err(err),
                        }
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Checks the download of `version` in `temp` and makes it the local
    /// copy (or, with `live`, writes it into the open database).
    async fn take_download(
        &mut self,
        temp: tempfile::NamedTempFile,
        version: RemoteVersion,
        downloaded: &Downloaded,
        live: Option<&dyn LiveReplace>,
    ) -> Result<Outcome> {
        let hash = verify_download(&self.url, temp.path(), &version, downloaded)?;
        let outcome = Outcome {
            action: SyncAction::Downloaded,
            down: downloaded.size,
            up: 0,
            dirty: false,
        };
        if let Some(replace) = live {
            replace.replace(temp.path()).await?;
            self.write_base_copy(temp.path(), hash)?;
            self.record_live(version, hash, temp.path())?;
            return Ok(outcome);
        }
        // announced first: a crash between the rename and the record leaves
        // a copy the next open recognises
        let mut state = self
            .state
            .clone()
            .unwrap_or_else(|| State::new(&self.url, None, None));
        state.installing = Some(Installing {
            version: version.clone(),
            hash,
            rebased_on: None,
        });
        self.save(state)?;
        self.write_base_copy(temp.path(), hash)?;
        let temp_path = temp.into_temp_path();
        self.install(&temp_path)?;
        temp_path
            .keep()
            .map_err(|e| Error::io("keep", &self.path, e.error))?;
        self.record(Some(version), Some(hash))?;
        Ok(outcome)
    }

    /// Makes a copy of the file at `src`, which may be on another file
    /// system, the local copy: copied to a temp file beside it, fsynced, and
    /// installed.
    fn install_copy(&self, src: &Path) -> Result<()> {
        let temp = self.temp_file("merged")?;
        let mut input = File::open(src).map_err(|e| Error::io("open", src, e))?;
        let mut output = temp.as_file();
        std::io::copy(&mut input, &mut output).map_err(|e| Error::io("copy", src, e))?;
        output
            .sync_all()
            .map_err(|e| Error::io("fsync", temp.path(), e))?;
        let temp_path = temp.into_temp_path();
        self.install(&temp_path)?;
        temp_path
            .keep()
            .map_err(|e| Error::io("keep", &self.path, e.error))?;
        Ok(())
    }

    /// Makes the file at `src` the local copy: stale `-wal`, `-shm` and
    /// `-journal` files go first (SQLite would apply them to the new file),
    /// then a rename and a folder fsync.
    fn install(&self, src: &Path) -> Result<()> {
        for suffix in ["-wal", "-shm", "-journal"] {
            let stale = sibling(&self.path, suffix);
            match fs::remove_file(&stale) {
                Ok(()) => tracing::debug!(path = %stale.display(), "removed stale file"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", stale, e)),
            }
        }
        fs::rename(src, &self.path).map_err(|e| Error::io("rename into", &self.path, e))?;
        sync_dir(self.path.parent().expect("local paths have a parent"))
    }
}

/// How long to wait before the policy's `round`th retry (1, 2, …) against a
/// remote that keeps moving: a random time up to 20 ms doubled each round,
/// at most 320 ms, so racing writers drift apart without one of them
/// waiting out the others.
fn backoff(round: usize) -> Duration {
    let cap_ms = 20u64 << round.saturating_sub(1).min(4);
    Duration::from_millis(random_u64() % (cap_ms + 1))
}

/// A number that differs across processes, threads and calls.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// 0 to 15 ms, different across processes and calls, to spread out retries.
fn jitter_ms() -> u8 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    ((nanos ^ std::process::id()) % 16) as u8
}

/// The first 8 bytes of a rollback journal that SQLite will play back.
const HOT_JOURNAL_MAGIC: [u8; 8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];

/// Whether SQLite keeps changes to the database at `db` outside the main
/// file: a non-empty `-wal` (frames not yet checkpointed and truncated) or a
/// hot `-journal` (a transaction to roll back). Uploading the main file alone
/// would lose or tear them, and a download over it would discard them.
fn journal_pending(db: &Path) -> Result<bool> {
    let wal = sibling(db, "-wal");
    match fs::metadata(&wal) {
        Ok(meta) if meta.len() > 0 => return Ok(true),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read metadata of", wal, e)),
    }
    let journal = sibling(db, "-journal");
    let mut header = [0u8; 8];
    match File::open(&journal) {
        Ok(mut file) => match file.read_exact(&mut header) {
            Ok(()) => Ok(header == HOT_JOURNAL_MAGIC),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(Error::io("read", journal, e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("open", journal, e)),
    }
}

/// Runs `push` until `deadline`, stopping it there with
/// [`Error::DeadlineExceeded`].
async fn by_deadline(
    url: String,
    deadline: Instant,
    push: impl std::future::Future<Output = Result<SyncReport>>,
) -> Result<SyncReport> {
    let started = Instant::now();
    tokio::time::timeout_at(deadline.into(), push)
        .await
        .map_err(|_| Error::DeadlineExceeded {
            url,
            elapsed: started.elapsed(),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::TransferOptions;

    async fn put(remote: &ObjectStoreRemote, bytes: &[u8], dir: &Path) -> RemoteVersion {
        let src = dir.join("src.db");
        fs::write(&src, bytes).unwrap();
        let stamp = Stamp::new(ContentHash::of_bytes(bytes), bytes.len() as u64);
        remote
            .upload(&src, &WriteCondition::Overwrite, &stamp)
            .await
            .unwrap()
    }

    fn db(marker: u8) -> Vec<u8> {
        let mut bytes = crate::verify::SQLITE_MAGIC.to_vec();
        bytes.resize(4096, marker);
        bytes
    }

    #[tokio::test]
    async fn download_renamed_but_not_recorded_is_recognised_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("memory:///unit/{}/db", std::process::id());
        let remote = ObjectStoreRemote::from_url(&url).unwrap();
        put(&remote, &db(1), dir.path()).await;
        let options = ReplicaOptions::new().with_local_path(dir.path().join("a.db"));
        let replica = Replica::open_url(&url, options.clone()).await.unwrap();
        assert_eq!(replica.opened().action, SyncAction::Downloaded);
        let mut replica = replica;

        // another writer lands v2; this replica downloads it and "crashes"
        // after the rename, before the record
        let v2 = put(&remote, &db(2), dir.path()).await;
        let temp = replica.temp_file("download").unwrap();
        let downloaded = remote
            .download(temp.path(), &v2, &TransferOptions::default())
            .await
            .unwrap();
        let hash = verify_download(&replica.url, temp.path(), &v2, &downloaded).unwrap();
        let mut state = replica.state.clone().unwrap();
        state.installing = Some(Installing {
            version: v2.clone(),
            hash,
            rebased_on: None,
        });
        replica.save(state).unwrap();
        let temp_path = temp.into_temp_path();
        replica.install(&temp_path).unwrap();
        temp_path.keep().unwrap();
        drop(replica);

        let mut replica = Replica::open_url(&url, options).await.unwrap();
        assert_eq!(replica.opened().action, SyncAction::Reused);
        assert!(!replica.opened().dirty);
        assert!(replica.base().unwrap().same_object(&v2));
        assert_eq!(replica.status().await.unwrap(), Status::Clean);
    }
}
