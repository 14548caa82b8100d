//! [`S3SqlitePool`]: the pool, its syncs and its close.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use s3sqlite_core::{Freshness, Overwrite, Status, SyncPolicy, SyncReport};
use sqlx_sqlite::SqlitePool;

use crate::inner::{Inner, Op};
use crate::{Error, Result};

/// A [`SqlitePool`] on a local copy of a SQLite database kept in object
/// storage.
///
/// [`connect`](Self::connect) brings the database down (or reuses a current
/// local copy) and opens a pool on it. Hold it as you would a
/// [`SqlitePool`]: `&db` is a sqlx [`Executor`](sqlx::Executor), so every
/// query style takes it directly, and it derefs to [`SqlitePool`] for the
/// rest (transactions, migrations). Clones are cheap and share one pool and
/// one replica: hand them to handlers and tasks. [`sync`](Self::sync)
/// uploads the database while the pool stays open; [`close`](Self::close),
/// on any clone, closes the pool for all of them and uploads. Uploads are
/// conditional: a remote that someone else changed meanwhile goes to the
/// sync policy (by default an [`Error::Sync`] conflict), never silently
/// overwritten.
///
/// ```
/// use s3sqlite_sqlx::S3SqlitePool;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// # let url = format!("file://{}/app.db", dir.path().display());
/// let db = S3SqlitePool::connect(&url).await?;
/// sqlx::query("CREATE TABLE IF NOT EXISTS notes (body TEXT NOT NULL)").execute(&db).await?;
/// let writer = db.clone();
/// tokio::spawn(async move {
///     sqlx::query("INSERT INTO notes (body) VALUES (?)").bind("hello").execute(&writer).await
/// })
/// .await
/// .unwrap()?;
/// let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&db).await?;
/// assert_eq!(count, 1);
/// let report = db.close().await?;
/// println!("{report}");
/// # Ok::<(), s3sqlite_sqlx::Error>(())
/// # }).unwrap();
/// ```
///
/// # Journal mode
///
/// The pool runs in WAL mode with automatic checkpoints off: the main file
/// changes only when the pool checkpoints for a sync (and when the last
/// connection closes), so a sync can upload it while writers go on adding
/// to the WAL. What reaches the remote is always a standalone database file
/// that any SQLite opens without a `-wal` file. Call `sync()` regularly (or
/// set [`with_sync_every`](crate::S3SqlitePoolBuilder::with_sync_every)) in a
/// long-running service, which also keeps the WAL short.
///
/// # Drop
///
/// Dropping the last clone without [`close`](Self::close) keeps unsynced
/// changes in the local file and logs a warning; the next open from the same
/// local path resumes and uploads them at its next sync.
#[derive(Debug, Clone)]
pub struct S3SqlitePool {
    pub(crate) inner: Arc<Inner>,
}

impl S3SqlitePool {
    /// The local database file.
    pub fn local_path(&self) -> &Path {
        &self.inner.path
    }

    /// The remote's URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// What the open did: downloaded, reused the local copy, created.
    pub fn opened(&self) -> &SyncReport {
        &self.inner.opened
    }

    /// Uploads the database while the pool stays open.
    ///
    /// It checkpoints the WAL into the main file and uploads that; when
    /// readers keep the checkpoint from completing, it uploads a snapshot
    /// made with SQLite's online backup API instead, which keeps every page
    /// at its number. Nothing is sent when the database is
    /// what the remote already holds.
    ///
    /// # Errors
    ///
    /// [`Error::Sync`]: a conflict the policy did not resolve, a network
    /// error; the local database keeps its changes for the next sync.
    /// [`Error::Database`] when the checkpoint or snapshot fails.
    pub async fn sync(&self) -> Result<SyncReport> {
        self.inner.sync(Op::Push, None).await
    }

    /// [`sync`](Self::sync) under `policy` instead of the pool's own, for
    /// this call only: settles a conflict on the open pool, with no reopen.
    /// [`KeepRemote`](s3sqlite_core::KeepRemote) writes the remote's copy
    /// into the open database (SQLite's backup API) and drops the local
    /// changes; [`Overwrite`] uploads the local copy over the remote's; a
    /// policy of your own may merge. A background sync stuck on the conflict
    /// succeeds again afterwards.
    ///
    /// ```
    /// use s3sqlite_sqlx::{Error, KeepRemote, S3SqlitePool, SyncAction};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let url = format!("file://{}/app.db", dir.path().display());
    /// let a = S3SqlitePool::builder(&url).with_local_path(dir.path().join("a.db")).connect().await?;
    /// let b = S3SqlitePool::builder(&url).with_local_path(dir.path().join("b.db")).connect().await?;
    /// sqlx::query("CREATE TABLE t (v TEXT)").execute(&a).await?;
    /// a.sync().await?;
    /// sqlx::query("CREATE TABLE u (v TEXT)").execute(&b).await?;
    /// assert!(matches!(b.sync().await, Err(Error::Sync(s3sqlite_core::Error::Conflict { .. }))));
    /// let report = b.sync_with(KeepRemote).await?;
    /// assert_eq!(report.action, SyncAction::KeptRemote);
    /// # a.close().await?;
    /// # b.close().await?;
    /// # Ok::<(), s3sqlite_sqlx::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync).
    pub async fn sync_with(&self, policy: impl SyncPolicy) -> Result<SyncReport> {
        self.inner.sync(Op::Push, Some(Arc::new(policy))).await
    }

    /// [`sync`](Self::sync), bounded by `deadline`: on AWS Lambda, the
    /// invocation's deadline less a margin to answer in. An upload that
    /// cannot finish in time at the fastest pace seen so far is not started
    /// ([`DeadlineTooShort`](crate::core::Error::DeadlineTooShort)); one
    /// the deadline overtakes is stopped
    /// ([`DeadlineExceeded`](crate::core::Error::DeadlineExceeded)).
    /// Either way nothing is recorded as synced and the changes stay in the
    /// local database for the next sync. See
    /// [`Replica::push_by`](s3sqlite_core::Replica::push_by).
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync), and the two above.
    pub async fn sync_by(&self, deadline: std::time::Instant) -> Result<SyncReport> {
        self.inner.sync(Op::PushBy(deadline), None).await
    }

    /// Brings another writer's changes into the open database: when the
    /// remote moved and the local copy has no changes of its own, the
    /// remote's copy is downloaded, verified and written into the live
    /// database through SQLite's backup API, while the pool stays open. A
    /// local copy with changes goes to the pool's policy, as in
    /// [`sync`](Self::sync); a remote that did not move costs one HEAD.
    /// A write committed through the pool while the pull downloads is
    /// never overwritten: the pull finds it before it replaces anything,
    /// and goes again with it as a local change.
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync).
    pub async fn pull(&self) -> Result<SyncReport> {
        self.inner.sync(Op::Pull, None).await
    }

    /// How fresh a follower is (see
    /// [`with_refresh_every`](crate::S3SqlitePoolBuilder::with_refresh_every)):
    /// the version it holds, the time since its last refresh that
    /// succeeded, the failures since; `None` for a pool that is not a
    /// follower.
    pub fn freshness(&self) -> Option<Freshness> {
        self.inner
            .schedule
            .lock()
            .expect("schedule slot")
            .as_ref()
            .map(|schedule| schedule.freshness())
    }

    /// Where the local copy stands against the remote, with one HEAD
    /// request. Writes in the WAL count as local changes.
    ///
    /// # Errors
    ///
    /// [`Error::Sync`] when the HEAD fails.
    pub async fn status(&self) -> Result<Status> {
        let mut replica = self.inner.replica.lock().await;
        Ok(self.inner.open(&mut replica)?.status().await?)
    }

    /// Closes the pool for every clone (waiting for connections in use to
    /// come back), uploads the database, and releases the local path, so
    /// that it can be opened again. Closing again returns the first close's
    /// report.
    ///
    /// # Errors
    ///
    /// [`Error::Sync`] when the upload fails: the pool stays closed, the
    /// local copy keeps its changes and its path stays held; call `close`
    /// again to retry, [`close_with`](Self::close_with) to settle a
    /// conflict, or drop every clone and reopen later, which resumes.
    pub async fn close(&self) -> Result<SyncReport> {
        self.close_inner(None::<Overwrite>).await
    }

    /// [`close`](Self::close), uploading under `policy` instead of the
    /// pool's own: settles a conflict found at close.
    ///
    /// # Errors
    ///
    /// As [`close`](Self::close).
    pub async fn close_with(&self, policy: impl SyncPolicy) -> Result<SyncReport> {
        self.close_inner(Some(policy)).await
    }

    async fn close_inner(&self, policy: Option<impl SyncPolicy>) -> Result<SyncReport> {
        self.inner.stop_background().await;
        self.inner.pool.close().await;
        let mut slot = self.inner.replica.lock().await;
        let Some(replica) = slot.as_mut() else {
            let report = self
                .inner
                .closed_report
                .lock()
                .expect("report slot")
                .clone();
            return report.ok_or_else(|| Error::Closed {
                url: self.inner.url.clone(),
            });
        };
        let report = match policy {
            Some(policy) => replica.push_with(policy).await?,
            None => replica.push().await?,
        };
        // dropping the replica releases the local path
        *slot = None;
        self.inner.closed.store(true, Ordering::SeqCst);
        *self.inner.closed_report.lock().expect("report slot") = Some(report.clone());
        Ok(report)
    }

    /// The error of the last failed background sync (see
    /// [`with_sync_every`](crate::S3SqlitePoolBuilder::with_sync_every)), taken.
    pub fn take_background_error(&self) -> Option<Error> {
        self.inner
            .background_error
            .lock()
            .expect("background error slot")
            .take()
    }
}

impl Deref for S3SqlitePool {
    type Target = SqlitePool;

    fn deref(&self) -> &SqlitePool {
        &self.inner.pool
    }
}
