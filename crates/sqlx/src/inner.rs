//! [`Inner`]: what the clones of a pool share, and how it syncs: a
//! checkpoint, or a snapshot when readers keep it from completing, then a
//! push or pull.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use s3sqlite_core::{ErrorChain, LiveSource, RefreshSchedule, Replica, SyncPolicy, SyncReport};
use sqlx::pool::PoolConnection;
use sqlx_sqlite::{Sqlite, SqlitePool};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::{Error, Result};
use s3sqlite_rusqlite::{BackupRestore, WalMark, rusqlite, snapshot_into};

/// How many times a sync goes again when the database was written while
/// it downloaded.
const SYNC_AGAIN: u32 = 3;

/// How long a sync's checkpoint waits for readers before it uploads a
/// snapshot instead.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(250);

/// What the clones of one pool share: the pool, the replica under it, and
/// the background sync.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) pool: SqlitePool,
    /// Taken by a close that uploaded, which releases the local path.
    pub(crate) replica: Mutex<Option<Replica>>,
    /// What that close reported.
    pub(crate) closed_report: StdMutex<Option<SyncReport>>,
    pub(crate) path: PathBuf,
    pub(crate) url: String,
    pub(crate) opened: SyncReport,
    pub(crate) background: StdMutex<Option<JoinHandle<()>>>,
    pub(crate) background_error: StdMutex<Option<Error>>,
    pub(crate) closed: AtomicBool,
    /// When a follower refreshes, and how fresh it is.
    pub(crate) schedule: StdMutex<Option<RefreshSchedule>>,
}

/// What [`Inner::sync`] does once the database's content is in one file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Push,
    /// A push bounded by a deadline.
    PushBy(std::time::Instant),
    Pull,
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

impl Inner {
    /// The replica, while no close has taken it.
    pub(crate) fn open<'a>(&self, slot: &'a mut Option<Replica>) -> Result<&'a mut Replica> {
        slot.as_mut().ok_or_else(|| Error::Closed {
            url: self.url.clone(),
        })
    }

    /// Checkpoints (or snapshots) the database, then pushes or pulls it
    /// under `policy` (the replica's when `None`). A success clears the
    /// error a background sync left; a follower's schedule records how a
    /// pull went.
    pub(crate) async fn sync(
        &self,
        op: Op,
        policy: Option<Arc<dyn SyncPolicy>>,
    ) -> Result<SyncReport> {
        if let Op::Pull = op
            && let Some(schedule) = self.schedule.lock().expect("schedule slot").as_mut()
        {
            schedule.starting();
        }
        let mut result = self.sync_once(op, policy.clone()).await;
        // a write committed while the sync downloaded: it goes again, and
        // finds the write as a local change
        let mut again = 0;
        while let Err(Error::Sync(s3sqlite_core::Error::WrittenDuringSync { .. })) = &result
            && again < SYNC_AGAIN
        {
            again += 1;
            tracing::info!(url = %self.url, "the database was written during the sync: syncing again");
            result = self.sync_once(op, policy.clone()).await;
        }
        if let Op::Pull = op
            && let Some(schedule) = self.schedule.lock().expect("schedule slot").as_mut()
        {
            schedule.finished(&result);
        }
        let report = result?;
        self.background_error
            .lock()
            .expect("background error slot")
            .take();
        Ok(report)
    }

    /// Syncs every `period` in the background until the pool goes.
    pub(crate) fn start_syncs(self: &Arc<Self>, period: Duration) {
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(err) = inner.sync(Op::Push, None).await {
                    tracing::warn!(url = %inner.url, error = %ErrorChain::new(&err), "background sync failed; changes stay local for the next sync");
                    inner.keep_background_error(err);
                }
            }
        });
        *self.background.lock().expect("task slot") = Some(task);
    }

    /// Refreshes the follower when its schedule says, in the background,
    /// until the pool goes; a failure is logged by the schedule and kept.
    pub(crate) fn start_refreshes(self: &Arc<Self>, period: Duration) {
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut wait = period;
            loop {
                tokio::time::sleep(wait).await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(err) = inner.sync(Op::Pull, None).await {
                    inner.keep_background_error(err);
                }
                wait = match inner.schedule.lock().expect("schedule slot").as_ref() {
                    Some(schedule) => schedule.until_due(),
                    None => period,
                };
            }
        });
        *self.background.lock().expect("task slot") = Some(task);
    }

    fn keep_background_error(&self, err: Error) {
        *self.background_error.lock().expect("background error slot") = Some(err);
    }

    async fn sync_once(&self, op: Op, policy: Option<Arc<dyn SyncPolicy>>) -> Result<SyncReport> {
        let mut slot = self.replica.lock().await;
        let replica = self.open(&mut slot)?;
        let mut held = None;
        let snapshot_dir;
        let snapshot;
        let (source, restore) = if replica.options().is_read_only() {
            // query_only connections wrote nothing: no checkpoint, no read
            let restore = BackupRestore::new(&self.path).durable(false);
            (LiveSource::Unwritten, restore)
        } else {
            // held until the sync returns: while a connection is open, no
            // last-connection checkpoint can change the main file
            let conn = held.insert(
                self.pool
                    .acquire()
                    .await
                    .map_err(self.db_error("get a connection to"))?,
            );
            // what the WAL held when the content the sync checks was taken:
            // a replace of that content by another version is refused once
            // a write was committed since (other connections of the pool
            // write on while the sync downloads)
            let (source, mark) = if !self.checkpoint(conn).await? {
                (LiveSource::Checkpointed, WalMark::empty())
            } else {
                tracing::debug!("readers kept the checkpoint from completing: using a snapshot");
                snapshot_dir = replica.snapshot_dir()?;
                snapshot = snapshot_dir.path().join("snapshot.db");
                let mark = WalMark::of(&self.path)?;
                let (path, dest) = (self.path.clone(), snapshot.clone());
                tokio::task::spawn_blocking(move || snapshot_of(&path, &dest))
                    .await
                    .expect("snapshot task panicked")?;
                (LiveSource::Snapshot(&snapshot), mark)
            };
            let restore = BackupRestore::new(&self.path).unless_written_since(mark);
            (source, restore)
        };
        let report = match op {
            Op::Push => replica.push_live_with(source, &restore, policy).await?,
            Op::PushBy(deadline) => replica.push_live_by(source, &restore, deadline).await?,
            Op::Pull => replica.pull_live(source, &restore, policy).await?,
        };
        drop(held);
        Ok(report)
    }

    /// Checkpoints the database through `conn` (`TRUNCATE`), waiting a
    /// little for readers, not the connection's whole busy timeout;
    /// returns whether readers or a lock held elsewhere kept it from
    /// completing.
    async fn checkpoint(&self, conn: &mut PoolConnection<Sqlite>) -> Result<bool> {
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut **conn)
            .await
            .map_err(self.db_error("read the busy timeout of"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {}",
            CHECKPOINT_WAIT.as_millis()
        )))
        .execute(&mut **conn)
        .await
        .map_err(self.db_error("set the busy timeout of"))?;
        let checkpoint: std::result::Result<(i64, i64, i64), _> =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut **conn)
                .await;
        // an integer read from SQLite itself
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {timeout}"
        )))
        .execute(&mut **conn)
        .await
        .map_err(self.db_error("reset the busy timeout of"))?;
        match checkpoint {
            Ok((busy, _, _)) => Ok(busy != 0),
            Err(err) if is_busy(&err) => Ok(true),
            Err(err) => Err(self.db_error("checkpoint")(err)),
        }
    }

    /// Makes an [`Error::Database`] of what SQLite answered to `op`.
    fn db_error(&self, op: &'static str) -> impl FnOnce(sqlx::Error) -> Error + use<> {
        let path = self.path.clone();
        move |source| Error::Database { op, path, source }
    }

    pub(crate) async fn stop_background(&self) {
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
