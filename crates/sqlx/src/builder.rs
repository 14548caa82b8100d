//! [`S3SqlitePoolBuilder`], and the constructors of [`S3SqlitePool`] that
//! start one.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use s3sqlite_core::{ErrorChain, ObjectStoreRemote, RemoteStore, Replica, ReplicaOptions};
use sqlx_sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use tokio::sync::Mutex;

use crate::{Error, Result};

use crate::inner::{Inner, Op};
use crate::pool::S3SqlitePool;

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
