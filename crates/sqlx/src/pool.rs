//! [`S3SqlitePool`] and its builder.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use s3sqlite_core::{
    ErrorChain, LiveSource, ObjectStoreRemote, Overwrite, RemoteStore, Replica, ReplicaOptions,
    Status, SyncPolicy, SyncReport,
};
use sqlx::{Either, SqlStr};
use sqlx_sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteQueryResult, SqliteRow, SqliteStatement, SqliteTypeInfo,
};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::{Error, Result};
use s3sqlite_rusqlite::{BackupRestore, rusqlite, snapshot_into};

/// How long a sync's checkpoint waits for readers before it uploads a
/// snapshot instead.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(250);

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
/// set [`with_sync_every`](S3SqlitePoolBuilder::with_sync_every)) in a
/// long-running service, which also keeps the WAL short.
///
/// # Drop
///
/// Dropping the last clone without [`close`](Self::close) keeps unsynced
/// changes in the local file and logs a warning; the next open from the same
/// local path resumes and uploads them at its next sync.
#[derive(Debug, Clone)]
pub struct S3SqlitePool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: SqlitePool,
    /// Taken by a close that uploaded, which releases the local path.
    replica: Mutex<Option<Replica>>,
    /// What that close reported.
    closed_report: StdMutex<Option<SyncReport>>,
    path: PathBuf,
    url: String,
    opened: SyncReport,
    background: StdMutex<Option<JoinHandle<()>>>,
    background_error: StdMutex<Option<Error>>,
    closed: AtomicBool,
}

/// Builds an [`S3SqlitePool`]; made by [`S3SqlitePool::builder`].
#[derive(Debug)]
pub struct S3SqlitePoolBuilder {
    target: Target,
    replica: ReplicaOptions,
    connect_options: Option<SqliteConnectOptions>,
    pool_options: Option<SqlitePoolOptions>,
    sync_every: Option<Duration>,
}

#[derive(Debug)]
enum Target {
    Url(String),
    Remote(Arc<dyn RemoteStore>),
}

impl S3SqlitePool {
    /// Opens the database at `url` with the defaults (see
    /// [`S3SqlitePoolBuilder`]).
    ///
    /// # Errors
    ///
    /// [`Error::Sync`] when the URL is bad or the replica cannot be opened
    /// (see [`Replica::open`]); [`Error::Database`] when the pool cannot
    /// open the local file.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url).connect().await
    }

    /// A builder for the database at `url`.
    pub fn builder(url: impl Into<String>) -> S3SqlitePoolBuilder {
        S3SqlitePoolBuilder::new(Target::Url(url.into()))
    }

    /// A builder for the database on `remote`: a remote of your own, or a
    /// test fixture's.
    pub fn builder_for(remote: impl RemoteStore) -> S3SqlitePoolBuilder {
        S3SqlitePoolBuilder::new(Target::Remote(Arc::new(remote)))
    }

    /// Opens the database at `url`, runs `body` with it, and always closes
    /// it (uploading), returning the body's value: the counterpart of the
    /// Python package's `async with`.
    ///
    /// ```
    /// use s3sqlite_sqlx::S3SqlitePool;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let url = format!("file://{}/app.db", dir.path().display());
    /// let count: i64 = S3SqlitePool::scope(&url, async |db| {
    ///     sqlx::query("CREATE TABLE IF NOT EXISTS hits (at TEXT)").execute(db).await?;
    ///     sqlx::query("INSERT INTO hits VALUES (datetime())").execute(db).await?;
    ///     Ok(sqlx::query_scalar("SELECT count(*) FROM hits").fetch_one(db).await?)
    /// })
    /// .await?;
    /// assert_eq!(count, 1);
    /// # Ok::<(), s3sqlite_sqlx::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// The body's error, or the close's; when both fail, [`Error::Scope`]
    /// carries both.
    pub async fn scope<T>(
        url: &str,
        body: impl AsyncFnOnce(&S3SqlitePool) -> Result<T>,
    ) -> Result<T> {
        Self::builder(url).scope(body).await
    }

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
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync).
    pub async fn pull(&self) -> Result<SyncReport> {
        self.inner.sync(Op::Pull, None).await
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
    /// [`with_sync_every`](S3SqlitePoolBuilder::with_sync_every)), taken.
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

impl<'p> sqlx::Executor<'p> for &S3SqlitePool {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        E: 'q + sqlx::Execute<'q, Sqlite>,
    {
        self.inner.pool.fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        E: 'q + sqlx::Execute<'q, Sqlite>,
    {
        self.inner.pool.fetch_optional(query)
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<SqliteStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        self.inner.pool.prepare_with(sql, parameters)
    }

    #[doc(hidden)]
    fn describe<'e>(
        self,
        sql: SqlStr,
    ) -> BoxFuture<'e, Result<sqlx::Describe<Sqlite>, sqlx::Error>> {
        self.inner.pool.describe(sql)
    }
}

impl<'a> sqlx::Acquire<'a> for &S3SqlitePool {
    type Database = Sqlite;
    type Connection = sqlx::pool::PoolConnection<Sqlite>;

    fn acquire(self) -> BoxFuture<'static, Result<Self::Connection, sqlx::Error>> {
        sqlx::Acquire::acquire(&self.inner.pool)
    }

    fn begin(self) -> BoxFuture<'static, Result<sqlx::Transaction<'a, Sqlite>, sqlx::Error>> {
        let pool = self.inner.pool.clone();
        Box::pin(async move { sqlx::Transaction::begin(pool.acquire().await?, None).await })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.background.get_mut().expect("task slot").take() {
            task.abort();
        }
        if !*self.closed.get_mut() {
            tracing::warn!(
                url = %self.url,
                path = %self.path.display(),
                "S3SqlitePool dropped without close(): unsynced changes stay in the local file; \
                 the next open from this path resumes"
            );
        }
    }
}

/// What [`Inner::sync`] does once the database's content is in one file.
#[derive(Debug, Clone, Copy)]
enum Op {
    Push,
    /// A push bounded by a deadline.
    PushBy(std::time::Instant),
    Pull,
}

impl Inner {
    /// The replica, while no close has taken it.
    fn open<'a>(&self, slot: &'a mut Option<Replica>) -> Result<&'a mut Replica> {
        slot.as_mut().ok_or_else(|| Error::Closed {
            url: self.url.clone(),
        })
    }

    /// Checkpoints (or snapshots) the database, then pushes or pulls it
    /// under `policy` (the replica's when `None`). A success clears the
    /// error a background sync left.
    async fn sync(&self, op: Op, policy: Option<Arc<dyn SyncPolicy>>) -> Result<SyncReport> {
        let report = self.sync_once(op, policy).await?;
        self.background_error
            .lock()
            .expect("background error slot")
            .take();
        Ok(report)
    }

    async fn sync_once(&self, op: Op, policy: Option<Arc<dyn SyncPolicy>>) -> Result<SyncReport> {
        let db_error = |op: &'static str| {
            let path = self.path.clone();
            move |source| Error::Database { op, path, source }
        };
        let mut slot = self.replica.lock().await;
        let replica = self.open(&mut slot)?;
        // held until the push returns: while a connection is open, no
        // last-connection checkpoint can change the main file
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db_error("get a connection to"))?;
        // a checkpoint waits for readers through the busy handler: wait a
        // little, not the connection's whole busy timeout, then snapshot
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error("read the busy timeout of"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {}",
            CHECKPOINT_WAIT.as_millis()
        )))
        .execute(&mut *conn)
        .await
        .map_err(db_error("set the busy timeout of"))?;
        let checkpoint: std::result::Result<(i64, i64, i64), _> =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut *conn)
                .await;
        // an integer read from SQLite itself
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {timeout}"
        )))
        .execute(&mut *conn)
        .await
        .map_err(db_error("reset the busy timeout of"))?;
        // busy readers or a lock held elsewhere: the snapshot path needs neither
        let busy = match checkpoint {
            Ok((busy, _, _)) => busy != 0,
            Err(err) if is_busy(&err) => true,
            Err(err) => return Err(db_error("checkpoint")(err)),
        };
        let restore = BackupRestore::new(&self.path);
        let snapshot_dir;
        let snapshot;
        let source = if !busy {
            LiveSource::Checkpointed
        } else {
            tracing::debug!("readers kept the checkpoint from completing: using a snapshot");
            snapshot_dir = replica.snapshot_dir()?;
            snapshot = snapshot_dir.path().join("snapshot.db");
            let (path, dest) = (self.path.clone(), snapshot.clone());
            tokio::task::spawn_blocking(move || snapshot_of(&path, &dest))
                .await
                .expect("snapshot task panicked")?;
            LiveSource::Snapshot(&snapshot)
        };
        let report = match op {
            Op::Push => replica.push_live_with(source, &restore, policy).await?,
            Op::PushBy(deadline) => replica.push_live_by(source, &restore, deadline).await?,
            Op::Pull => replica.pull_live(source, &restore, policy).await?,
        };
        drop(conn);
        Ok(report)
    }

    async fn stop_background(&self) {
        let task = self.background.lock().expect("task slot").take();
        if let Some(task) = task {
            task.abort();
            // a sync in flight finishes or is cancelled before close goes on
            let _ = task.await;
        }
    }
}

/// A snapshot of the committed content of the database at `path` in the
/// new file `dest`, through SQLite's online backup API on a read-only
/// connection of its own, which keeps every page at its number.
fn snapshot_of(path: &Path, dest: &Path) -> Result<()> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(|e| {
        s3sqlite_core::Error::Io {
            op: "open for a snapshot",
            path: path.to_owned(),
            source: std::io::Error::other(e),
        }
    })?;
    Ok(snapshot_into(&conn, dest)?)
}

/// SQLITE_BUSY or SQLITE_LOCKED, with or without extended codes.
fn is_busy(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        _ => false,
    }
}

impl S3SqlitePoolBuilder {
    fn new(target: Target) -> Self {
        S3SqlitePoolBuilder {
            target,
            replica: ReplicaOptions::new(),
            connect_options: None,
            pool_options: None,
            sync_every: None,
        }
    }

    s3sqlite_core::__replica_setters!(replica);

    /// Sets the connection options. The file name, `create_if_missing`, the
    /// WAL journal mode and `wal_autocheckpoint = 0` are set on top of them.
    ///
    /// By default, [`SqliteConnectOptions::new`].
    pub fn with_connect_options(mut self, options: SqliteConnectOptions) -> Self {
        self.connect_options = Some(options);
        self
    }

    /// Sets the pool options.
    ///
    /// By default, [`SqlitePoolOptions::new`].
    pub fn with_pool_options(mut self, options: SqlitePoolOptions) -> Self {
        self.pool_options = Some(options);
        self
    }

    /// Syncs in the background every `period`, for long-running services.
    /// A failed background sync keeps the changes local for the next one;
    /// its error is logged and kept for
    /// [`take_background_error`](S3SqlitePool::take_background_error).
    ///
    /// By default, off: call [`sync`](S3SqlitePool::sync) yourself.
    pub fn with_sync_every(mut self, period: Duration) -> Self {
        self.sync_every = Some(period);
        self
    }

    /// Opens the replica and the pool on it.
    ///
    /// # Errors
    ///
    /// As [`S3SqlitePool::connect`].
    pub async fn connect(self) -> Result<S3SqlitePool> {
        let remote: Arc<dyn RemoteStore> = match self.target {
            Target::Url(url) => Arc::new(ObjectStoreRemote::from_url(&url)?),
            Target::Remote(remote) => remote,
        };
        let options = self
            .replica
            .with_local_recovery(s3sqlite_rusqlite::recover_local);
        let mut replica = Replica::open(remote, options).await?;
        let path = replica.local_path().to_owned();
        let url = replica.url().to_owned();
        let options = self
            .connect_options
            .unwrap_or_default()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        let pool = self
            .pool_options
            .unwrap_or_default()
            .connect_with(options)
            .await
            .map_err(|source| Error::Database {
                op: "open a pool on",
                path: path.clone(),
                source,
            })?;
        // switching a rollback-journal database to WAL rewrote its header,
        // not its data: a session that only reads must upload nothing
        replica.absorb_header_rewrite()?;
        let opened = replica.opened().clone();
        let inner = Arc::new(Inner {
            pool,
            replica: Mutex::new(Some(replica)),
            closed_report: StdMutex::new(None),
            path,
            url,
            opened,
            background: StdMutex::new(None),
            background_error: StdMutex::new(None),
            closed: AtomicBool::new(false),
        });
        if let Some(period) = self.sync_every {
            let weak = Arc::downgrade(&inner);
            let task = tokio::spawn(async move {
                let mut ticks = tokio::time::interval(period);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    let Some(inner) = weak.upgrade() else { return };
                    if let Err(err) = inner.sync(Op::Push, None).await {
                        tracing::warn!(url = %inner.url, error = %ErrorChain::new(&err), "background sync failed; changes stay local for the next sync");
                        *inner
                            .background_error
                            .lock()
                            .expect("background error slot") = Some(err);
                    }
                }
            });
            *inner.background.lock().expect("task slot") = Some(task);
        }
        Ok(S3SqlitePool { inner })
    }

    /// Opens the pool, runs `body` with it, and always closes it; see
    /// [`S3SqlitePool::scope`].
    ///
    /// # Errors
    ///
    /// As [`S3SqlitePool::scope`].
    pub async fn scope<T>(self, body: impl AsyncFnOnce(&S3SqlitePool) -> Result<T>) -> Result<T> {
        let db = self.connect().await?;
        let url = db.url().to_owned();
        let result = body(&db).await;
        let closed = db.close().await;
        match (result, closed) {
            (Ok(value), Ok(_)) => Ok(value),
            (Err(err), Ok(_)) | (Ok(_), Err(err)) => Err(err),
            (Err(body), Err(close)) => Err(Error::Scope {
                url,
                body: Box::new(body),
                close: Box::new(close),
            }),
        }
    }
}
