//! [`S3SqlitePoolBuilder`], and the constructors of [`S3SqlitePool`] that
//! start one.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use s3sqlite_core::{ObjectStoreRemote, RefreshSchedule, RemoteStore, Replica, ReplicaOptions};
use sqlx_sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use tokio::sync::Mutex;

use crate::{Error, Result};

use crate::inner::Inner;
use crate::pool::S3SqlitePool;

/// Builds an [`S3SqlitePool`]; made by [`S3SqlitePool::builder`].
#[derive(Debug)]
pub struct S3SqlitePoolBuilder {
    target: Target,
    replica: ReplicaOptions,
    connect_options: Option<SqliteConnectOptions>,
    pool_options: Option<SqlitePoolOptions>,
    background: Option<Background>,
}

/// What the pool does in the background.
#[derive(Debug, Clone, Copy)]
enum Background {
    /// Syncs every period.
    Sync(Duration),
    /// Refreshes, as a follower, every period.
    Refresh(Duration),
}

#[derive(Debug)]
enum Target {
    Url(String),
    Remote(Arc<dyn RemoteStore>),
}

impl S3SqlitePoolBuilder {
    fn new(target: Target) -> Self {
        S3SqlitePoolBuilder {
            target,
            replica: ReplicaOptions::new(),
            connect_options: None,
            pool_options: None,
            background: None,
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
    /// Replaces [`with_refresh_every`](Self::with_refresh_every).
    pub fn with_sync_every(mut self, period: Duration) -> Self {
        self.background = Some(Background::Sync(period));
        self
    }

    /// Makes the pool a follower: read-only (see
    /// [`with_read_only`](Self::with_read_only)), it brings the writers'
    /// pushes in by itself, every `period`, through SQLite's backup API
    /// while the pool keeps serving queries: a query sees the database as
    /// it was before a refresh or after it, never half of one. A refresh
    /// of a database whose manifest is stored downloads only the ranges
    /// that changed and lays them over a base copy kept beside the
    /// database (the disk space of one more database); one that finds the
    /// remote unchanged costs a HEAD. A refresh neither checkpoints nor
    /// reads the open database: its connections wrote nothing
    /// ([`LiveSource::Unwritten`](s3sqlite_core::LiveSource::Unwritten)).
    ///
    /// A refresh that fails keeps the data the pool holds, is logged and
    /// kept for [`take_background_error`](S3SqlitePool::take_background_error),
    /// and the next waits longer (see [`RefreshSchedule`]).
    /// [`freshness`](S3SqlitePool::freshness) says how stale the pool is;
    /// [`pull`](S3SqlitePool::pull) refreshes at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use s3sqlite_sqlx::S3SqlitePool;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let url = format!("file://{}/app.db", dir.path().display());
    /// let writer = S3SqlitePool::builder(&url).with_local_path(dir.path().join("w.db")).connect().await?;
    /// sqlx::query("CREATE TABLE t (v TEXT)").execute(&writer).await?;
    /// writer.sync().await?;
    ///
    /// let follower = S3SqlitePool::builder(&url)
    ///     .with_local_path(dir.path().join("f.db"))
    ///     .with_refresh_every(Duration::from_millis(100))
    ///     .connect()
    ///     .await?;
    /// sqlx::query("INSERT INTO t VALUES ('new')").execute(&writer).await?;
    /// writer.sync().await?;
    /// tokio::time::sleep(Duration::from_millis(500)).await;
    /// let count: i64 = sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(&follower).await?;
    /// assert_eq!(count, 1);
    /// println!("{}", follower.freshness().unwrap());
    /// # follower.close().await?;
    /// # writer.close().await?;
    /// # Ok::<(), s3sqlite_sqlx::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// By default, off. Replaces [`with_sync_every`](Self::with_sync_every).
    ///
    /// [`RefreshSchedule`]: s3sqlite_core::RefreshSchedule
    pub fn with_refresh_every(mut self, period: Duration) -> Self {
        self.background = Some(Background::Refresh(period));
        self.replica = self.replica.with_read_only(true).with_base_copy(true);
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
        let read_only = self.replica.is_read_only();
        let options = self
            .replica
            .with_local_recovery(s3sqlite_rusqlite::recover_local);
        let mut replica = Replica::open(remote, options).await?;
        let path = replica.local_path().to_owned();
        let url = replica.url().to_owned();
        let mut options = self
            .connect_options
            .unwrap_or_default()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        if read_only {
            options = options.pragma("query_only", "ON");
        }
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
        let schedule = match self.background {
            Some(Background::Refresh(period)) => {
                Some(RefreshSchedule::new(period, opened.version.clone()))
            }
            _ => None,
        };
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
            schedule: StdMutex::new(schedule),
        });
        match self.background {
            Some(Background::Sync(period)) => inner.start_syncs(period),
            Some(Background::Refresh(period)) => inner.start_refreshes(period),
            None => {}
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
}
