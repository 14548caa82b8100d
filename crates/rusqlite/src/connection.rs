//! [`SyncedConnection`] and its builder.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};
use s3sqlite_core::{
    LiveSource, ObjectStoreRemote, RefreshSchedule, RemoteStore, Replica, ReplicaOptions, Status,
    SyncPolicy, SyncReport,
};
use tokio::runtime::{Handle, Runtime};

use crate::live::{BackupRestore, snapshot_into};
use crate::{Error, Result};

type Init = Box<dyn FnOnce(&Connection) -> rusqlite::Result<()> + Send>;

/// The snapshot's file name in the folder `prepare_sync` returns.
const SNAPSHOT: &str = "snapshot.db";

/// What a sync does once the database's content is in one file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Push,
    /// A push bounded by a deadline.
    PushBy(std::time::Instant),
    Pull,
}

/// How a sync reads the database's content, as `prepare_sync` left it.
enum Prepared {
    /// A read-only connection wrote nothing: nothing to read.
    Unwritten,
    /// The main file, checkpointed.
    Checkpointed,
    /// A snapshot, as [`SNAPSHOT`] in this folder (removed on drop).
    Snapshot(tempfile::TempDir),
}

/// Pushes or pulls the prepared content under `policy` (the replica's when
/// `None`).
async fn run_prepared(
    replica: &mut Replica,
    prepared: &Prepared,
    op: Op,
    policy: Option<Arc<dyn SyncPolicy>>,
) -> Result<SyncReport> {
    let snapshot;
    let (source, durable) = match prepared {
        Prepared::Unwritten => (LiveSource::Unwritten, false),
        Prepared::Checkpointed => (LiveSource::Checkpointed, true),
        Prepared::Snapshot(dir) => {
            snapshot = dir.path().join(SNAPSHOT);
            (LiveSource::Snapshot(&snapshot), true)
        }
    };
    let restore = BackupRestore::new(replica.local_path()).durable(durable);
    Ok(match op {
        Op::Push => replica.push_live_with(source, &restore, policy).await?,
        Op::PushBy(deadline) => replica.push_live_by(source, &restore, deadline).await?,
        Op::Pull => replica.pull_live(source, &restore, policy).await?,
    })
}

/// A [`rusqlite::Connection`] on a local copy of a SQLite database kept in
/// object storage, with a blocking API.
///
/// [`open`](Self::open) brings the database down (or reuses a current local
/// copy); the value derefs to [`Connection`]. [`sync`](Self::sync) uploads
/// while the connection stays open; [`close`](Self::close) closes it and
/// uploads. Uploads are conditional: a remote that someone else changed
/// meanwhile goes to the sync policy (by default a conflict error), never
/// silently overwritten.
///
/// It works from a plain `fn main`, where it drives transfers on a runtime
/// of its own, and from async code through `tokio::task::spawn_blocking`;
/// [`open_async`](SyncedConnectionBuilder::open_async) opens it on the
/// caller's runtime instead.
///
/// ```
/// use s3sqlite_rusqlite::SyncedConnection;
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let url = format!("file://{}/notes.db", dir.path().display());
/// let mut db = SyncedConnection::open(&url)?;
/// db.execute_batch("CREATE TABLE IF NOT EXISTS notes (body TEXT NOT NULL)").unwrap();
/// db.execute("INSERT INTO notes (body) VALUES (?1)", ["hello"]).unwrap();
/// db.sync()?; // uploaded; the connection stays open
/// db.close()?;
/// # Ok::<(), s3sqlite_rusqlite::Error>(())
/// ```
///
/// # Drop
///
/// Dropping it without [`close`](Self::close) keeps unsynced changes in the
/// local file and logs a warning; the next open from the same local path
/// resumes and uploads them at its next sync.
pub struct SyncedConnection {
    conn: Option<Connection>,
    replica: Replica,
    exec: Exec,
    closed: bool,
    /// A follower's refreshes (see `with_refresh_every`).
    pub(crate) schedule: Option<RefreshSchedule>,
}

/// Where transfers run.
enum Exec {
    /// A current-thread runtime of the connection's own.
    Own(Option<Runtime>),
    /// The runtime the connection was opened on.
    Shared(Handle),
}

impl Exec {
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match self {
            Exec::Own(runtime) => runtime
                .as_ref()
                .expect("the runtime lives as long as the connection")
                .block_on(future),
            Exec::Shared(handle) => handle.block_on(future),
        }
    }
}

/// Builds a [`SyncedConnection`]; made by [`SyncedConnection::builder`].
pub struct SyncedConnectionBuilder {
    target: Target,
    replica: ReplicaOptions,
    flags: OpenFlags,
    init: Option<Init>,
    refresh_every: Option<std::time::Duration>,
}

enum Target {
    Url(String),
    Remote(Arc<dyn RemoteStore>),
}

impl SyncedConnection {
    /// Opens the database at `url` with the defaults (see
    /// [`SyncedConnectionBuilder`]).
    ///
    /// # Errors
    ///
    /// [`Error::Sync`] when the URL is bad or the replica cannot be opened;
    /// [`Error::Database`] when SQLite cannot open the local file.
    pub fn open(url: &str) -> Result<Self> {
        Self::builder(url).open()
    }

    /// A builder for the database at `url`.
    pub fn builder(url: impl Into<String>) -> SyncedConnectionBuilder {
        SyncedConnectionBuilder::new(Target::Url(url.into()))
    }

    /// A builder for the database on `remote`: a remote of your own, or a
    /// test fixture's.
    pub fn builder_for(remote: impl RemoteStore) -> SyncedConnectionBuilder {
        SyncedConnectionBuilder::new(Target::Remote(Arc::new(remote)))
    }

    /// The local database file.
    pub fn local_path(&self) -> &Path {
        self.replica.local_path()
    }

    /// The remote's URL.
    pub fn url(&self) -> &str {
        self.replica.url()
    }

    /// What the open did: downloaded, reused the local copy, created…
    pub fn opened_action(&self) -> s3sqlite_core::SyncAction {
        self.replica.opened().action
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("open until close")
    }

    fn db_error(&self, op: &'static str) -> impl FnOnce(rusqlite::Error) -> Error + use<> {
        let path = self.local_path().to_owned();
        move |source| Error::Database { op, path, source }
    }

    /// Uploads the database while the connection stays open: a checkpoint
    /// puts any WAL content into the main file, which goes up unless the
    /// remote already holds it.
    ///
    /// # Errors
    ///
    /// [`Error::InTransaction`] inside an open transaction; [`Error::Sync`]
    /// for a conflict the policy did not resolve or a network error (the
    /// local database keeps its changes for the next sync);
    /// [`Error::Database`] when the checkpoint fails.
    pub fn sync(&mut self) -> Result<SyncReport> {
        self.run(Op::Push, None)
    }

    /// [`sync`](Self::sync) under `policy` instead of the connection's own,
    /// for this call only: settles a conflict on the open connection, with
    /// no reopen. [`KeepRemote`](s3sqlite_core::KeepRemote) writes the
    /// remote's copy into the open database (SQLite's backup API) and drops
    /// the local changes; [`Overwrite`](s3sqlite_core::Overwrite) uploads
    /// the local copy over the remote's; a policy of your own may merge.
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync).
    pub fn sync_with(&mut self, policy: impl SyncPolicy) -> Result<SyncReport> {
        self.run(Op::Push, Some(Arc::new(policy)))
    }

    /// [`sync`](Self::sync), bounded by `deadline`: an upload that cannot
    /// finish in time at the fastest pace seen so far is not started, one
    /// the deadline overtakes is stopped, and either way the changes stay
    /// local for the next sync. See
    /// [`Replica::push_by`](s3sqlite_core::Replica::push_by).
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync), and [`Error::Sync`] holding
    /// [`core::Error::DeadlineTooShort`](crate::core::Error::DeadlineTooShort)
    /// or [`core::Error::DeadlineExceeded`](crate::core::Error::DeadlineExceeded).
    pub fn sync_by(&mut self, deadline: std::time::Instant) -> Result<SyncReport> {
        self.run(Op::PushBy(deadline), None)
    }

    /// Brings another writer's changes into the open database: when the
    /// remote moved and the local copy has no changes of its own, the
    /// remote's copy is downloaded, verified and written into the live
    /// database through SQLite's backup API. A local copy with changes goes
    /// to the connection's policy, as in [`sync`](Self::sync); a remote that
    /// did not move costs one HEAD.
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync).
    pub fn pull(&mut self) -> Result<SyncReport> {
        self.run(Op::Pull, None)
    }

    pub(crate) fn run(
        &mut self,
        op: Op,
        policy: Option<Arc<dyn SyncPolicy>>,
    ) -> Result<SyncReport> {
        self.starting(op);
        let result = self.prepare_sync().and_then(|prepared| {
            self.exec
                .block_on(run_prepared(&mut self.replica, &prepared, op, policy))
        });
        self.recorded(op, result)
    }

    /// Tells a follower's schedule that a refresh starts, when `op` pulls.
    fn starting(&mut self, op: Op) {
        if let (Op::Pull, Some(schedule)) = (op, self.schedule.as_mut()) {
            schedule.starting();
        }
    }

    /// `result`, recorded in a follower's schedule when `op` pulled.
    fn recorded(&mut self, op: Op, result: Result<SyncReport>) -> Result<SyncReport> {
        if let (Op::Pull, Some(schedule)) = (op, self.schedule.as_mut()) {
            schedule.finished(&result);
        }
        result
    }

    /// [`sync`](Self::sync) for a connection opened with
    /// [`open_async`](SyncedConnectionBuilder::open_async), awaited on the
    /// caller's runtime.
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync).
    pub async fn sync_async(&mut self) -> Result<SyncReport> {
        self.run_async(Op::Push, None).await
    }

    /// [`sync_with`](Self::sync_with) for a connection opened with
    /// [`open_async`](SyncedConnectionBuilder::open_async).
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync).
    pub async fn sync_with_async(&mut self, policy: impl SyncPolicy) -> Result<SyncReport> {
        self.run_async(Op::Push, Some(Arc::new(policy))).await
    }

    /// [`pull`](Self::pull) for a connection opened with
    /// [`open_async`](SyncedConnectionBuilder::open_async).
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync).
    pub async fn pull_async(&mut self) -> Result<SyncReport> {
        self.run_async(Op::Pull, None).await
    }

    pub(crate) async fn run_async(
        &mut self,
        op: Op,
        policy: Option<Arc<dyn SyncPolicy>>,
    ) -> Result<SyncReport> {
        self.starting(op);
        let result = match self.prepare_sync() {
            Ok(prepared) => run_prepared(&mut self.replica, &prepared, op, policy).await,
            Err(err) => Err(err),
        };
        self.recorded(op, result)
    }

    /// Checks there is no open transaction; then, on a writable
    /// connection, checkpoints, or, when another connection's reader keeps
    /// the checkpoint from completing, makes a snapshot with SQLite's
    /// online backup API ([`snapshot_into`], which keeps every page at its
    /// number). A read-only connection wrote nothing, so it needs neither.
    fn prepare_sync(&self) -> Result<Prepared> {
        if !self.conn().is_autocommit() {
            return Err(Error::InTransaction {
                path: self.local_path().to_owned(),
            });
        }
        if self.replica.options().is_read_only() {
            return Ok(Prepared::Unwritten);
        }
        let busy: i64 = self
            .conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .map_err(self.db_error("checkpoint"))?;
        if busy == 0 {
            return Ok(Prepared::Checkpointed);
        }
        let dir = self.replica.snapshot_dir()?;
        snapshot_into(self.conn(), &dir.path().join(SNAPSHOT))?;
        Ok(Prepared::Snapshot(dir))
    }

    /// Where the local copy stands against the remote, with one HEAD request.
    ///
    /// # Errors
    ///
    /// [`Error::Sync`] when the HEAD fails.
    pub fn status(&mut self) -> Result<Status> {
        Ok(self.exec.block_on(self.replica.status())?)
    }

    /// [`status`](Self::status) for a connection opened with
    /// [`open_async`](SyncedConnectionBuilder::open_async).
    ///
    /// # Errors
    ///
    /// As [`status`](Self::status).
    pub async fn status_async(&mut self) -> Result<Status> {
        Ok(self.replica.status().await?)
    }

    /// Closes the connection, then uploads the database.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when SQLite cannot close the connection (it stays
    /// open then, and nothing is uploaded); [`Error::Sync`] when the upload
    /// fails: the local copy keeps its changes, and the next open from the
    /// same local path resumes.
    pub fn close(mut self) -> Result<SyncReport> {
        self.close_connection()?;
        Ok(self.exec.block_on(self.replica.push())?)
    }

    /// [`close`](Self::close) for a connection opened with
    /// [`open_async`](SyncedConnectionBuilder::open_async).
    ///
    /// # Errors
    ///
    /// As [`close`](Self::close).
    pub async fn close_async(mut self) -> Result<SyncReport> {
        self.close_connection()?;
        Ok(self.replica.push().await?)
    }

    fn close_connection(&mut self) -> Result<()> {
        let conn = self.conn.take().expect("open until close");
        match conn.close() {
            Ok(()) => {
                self.closed = true;
                Ok(())
            }
            Err((conn, source)) => {
                self.conn = Some(conn);
                Err(Error::Database {
                    op: "close",
                    path: self.local_path().to_owned(),
                    source,
                })
            }
        }
    }
}

impl Deref for SyncedConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn()
    }
}

impl DerefMut for SyncedConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("open until close")
    }
}

impl fmt::Debug for SyncedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncedConnection")
            .field("url", &self.url())
            .field("local_path", &self.local_path())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Drop for SyncedConnection {
    fn drop(&mut self) {
        if !self.closed {
            tracing::warn!(
                url = %self.replica.url(),
                path = %self.replica.local_path().display(),
                "SyncedConnection dropped without close(): unsynced changes stay in the local file; \
                 the next open from this path resumes"
            );
        }
        if let Exec::Own(runtime) = &mut self.exec
            && let Some(runtime) = runtime.take()
        {
            // dropping a runtime blocks, which async code must not do
            runtime.shutdown_background();
        }
    }
}

impl SyncedConnectionBuilder {
    fn new(target: Target) -> Self {
        SyncedConnectionBuilder {
            target,
            replica: ReplicaOptions::new(),
            flags: OpenFlags::default(),
            init: None,
            refresh_every: None,
        }
    }

    s3sqlite_core::__replica_setters!(replica);

    /// Sets the flags the connection opens with.
    ///
    /// By default, [`OpenFlags::default`] (read-write, create).
    pub fn with_open_flags(mut self, flags: OpenFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Runs `init` on the connection right after it opens: pragmas,
    /// migrations.
    ///
    /// By default, nothing.
    pub fn with_init(
        mut self,
        init: impl FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> Self {
        self.init = Some(Box::new(init));
        self
    }

    /// Makes the connection a follower: read-only (see
    /// [`with_read_only`](Self::with_read_only)), it brings the writers'
    /// pushes in when [`refresh_if_due`](SyncedConnection::refresh_if_due)
    /// finds `period` passed since the last refresh: call it between
    /// statements, say at the start of each request. A refresh writes
    /// through SQLite's backup API, downloads only the ranges that changed
    /// when the database's manifest is stored (laid over a base copy kept
    /// beside the database, the disk space of one more database), and
    /// costs a HEAD when the remote did not move; one that fails keeps the data, and the next
    /// waits longer (see [`RefreshSchedule`](s3sqlite_core::RefreshSchedule)).
    ///
    /// By default, off.
    pub fn with_refresh_every(mut self, period: std::time::Duration) -> Self {
        self.refresh_every = Some(period);
        self.replica = self.replica.with_read_only(true).with_base_copy(true);
        self
    }

    /// Opens the replica and the connection, driving transfers on a runtime
    /// of the connection's own: for blocking code (a plain `fn main`, a
    /// thread, `spawn_blocking`).
    ///
    /// # Errors
    ///
    /// As [`SyncedConnection::open`]; [`Error::Runtime`] when the runtime
    /// cannot start.
    pub fn open(self) -> Result<SyncedConnection> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let replica = runtime.block_on(Replica::open(self.remote()?, self.replica_options()))?;
        self.finish(replica, Exec::Own(Some(runtime)))
    }

    /// Opens the replica on the caller's runtime, for async code; use the
    /// `*_async` methods of the result there.
    ///
    /// # Errors
    ///
    /// As [`SyncedConnection::open`].
    pub async fn open_async(self) -> Result<SyncedConnection> {
        let replica = Replica::open(self.remote()?, self.replica_options()).await?;
        self.finish(replica, Exec::Shared(Handle::current()))
    }

    /// The replica options, with the recovery of what a killed process
    /// left beside the local file.
    fn replica_options(&self) -> ReplicaOptions {
        self.replica
            .clone()
            .with_local_recovery(crate::recover_local)
    }

    fn remote(&self) -> Result<Arc<dyn RemoteStore>> {
        Ok(match &self.target {
            Target::Url(url) => Arc::new(ObjectStoreRemote::from_url(url)?),
            Target::Remote(remote) => Arc::clone(remote),
        })
    }

    fn finish(self, mut replica: Replica, exec: Exec) -> Result<SyncedConnection> {
        let path = replica.local_path().to_owned();
        let failed = |op| {
            let path = path.clone();
            move |source| Error::Database { op, path, source }
        };
        let conn = Connection::open_with_flags(&path, self.flags).map_err(failed("open"))?;
        if let Some(init) = self.init {
            init(&conn).map_err(failed("initialise"))?;
        }
        if self.replica.is_read_only() {
            conn.pragma_update(None, "query_only", true)
                .map_err(failed("make read-only"))?;
        }
        // an init that switched the journal mode rewrote the header, not the
        // data: a session that only reads must upload nothing
        replica.absorb_header_rewrite()?;
        let schedule = self
            .refresh_every
            .map(|period| RefreshSchedule::new(period, replica.opened().version.clone()));
        Ok(SyncedConnection {
            conn: Some(conn),
            replica,
            exec,
            closed: false,
            schedule,
        })
    }
}

impl fmt::Debug for SyncedConnectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            Target::Url(url) => url.clone(),
            Target::Remote(remote) => remote.to_string(),
        };
        f.debug_struct("SyncedConnectionBuilder")
            .field("target", &target)
            .field("replica", &self.replica)
            .field("flags", &self.flags)
            .field("init", &self.init.is_some())
            .finish()
    }
}
