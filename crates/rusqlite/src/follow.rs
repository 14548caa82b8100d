//! A [`SyncedConnection`] as a follower: refreshed between statements when
//! its period has passed.

use s3sqlite_core::{Freshness, SyncReport};

use crate::Result;
use crate::connection::{Op, SyncedConnection};

impl SyncedConnection {
    /// Refreshes a follower (see
    /// [`with_refresh_every`](crate::SyncedConnectionBuilder::with_refresh_every))
    /// when its period has passed since the last refresh, or, after
    /// failures, the longer wait its schedule says: a [`pull`](Self::pull)
    /// that brings the writers' pushes in. Call it between statements;
    /// outside a transaction.
    ///
    /// Returns the refresh's report, or `None` when none was due (and on a
    /// connection that is not a follower).
    ///
    /// ```
    /// use std::time::Duration;
    /// use s3sqlite_rusqlite::SyncedConnection;
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let url = format!("file://{}/app.db", dir.path().display());
    /// let mut writer = SyncedConnection::builder(&url).with_local_path(dir.path().join("w.db")).open()?;
    /// writer.execute_batch("CREATE TABLE t (v TEXT)").unwrap();
    /// writer.sync()?;
    /// let mut follower = SyncedConnection::builder(&url)
    ///     .with_local_path(dir.path().join("f.db"))
    ///     .with_refresh_every(Duration::from_millis(10))
    ///     .open()?;
    /// writer.execute("INSERT INTO t VALUES ('new')", []).unwrap();
    /// writer.sync()?;
    /// std::thread::sleep(Duration::from_millis(20));
    /// follower.refresh_if_due()?;
    /// let count: i64 = follower.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    /// assert_eq!(count, 1);
    /// assert!(follower.execute("INSERT INTO t VALUES ('no')", []).is_err(), "read-only");
    /// # follower.close()?;
    /// # writer.close()?;
    /// # Ok::<(), s3sqlite_rusqlite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`pull`](Self::pull); the connection keeps the data it held.
    pub fn refresh_if_due(&mut self) -> Result<Option<SyncReport>> {
        if !self.schedule.as_ref().is_some_and(|s| s.is_due()) {
            return Ok(None);
        }
        self.run(Op::Pull, None).map(Some)
    }

    /// [`refresh_if_due`](Self::refresh_if_due) for a connection opened
    /// with [`open_async`](crate::SyncedConnectionBuilder::open_async).
    ///
    /// # Errors
    ///
    /// As [`refresh_if_due`](Self::refresh_if_due).
    pub async fn refresh_if_due_async(&mut self) -> Result<Option<SyncReport>> {
        if !self.schedule.as_ref().is_some_and(|s| s.is_due()) {
            return Ok(None);
        }
        self.run_async(Op::Pull, None).await.map(Some)
    }

    /// How fresh a follower is: the version it holds, the time since its
    /// last refresh that succeeded, the failures since; `None` for a
    /// connection that is not a follower.
    pub fn freshness(&self) -> Option<Freshness> {
        self.schedule.as_ref().map(|schedule| schedule.freshness())
    }
}
