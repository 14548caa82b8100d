//! Replacing the content of the open database: SQLite's online backup API,
//! through a connection of its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use s3sqlite_core::{LiveReplace, async_trait};

/// How long the checkpoint after a restore waits for readers to let go.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(250);

/// The length of a `-wal` file's header (SQLite's file format, 4.1): its
/// salts change when the log restarts.
const WAL_HEADER_LEN: usize = 32;

/// A [`LiveReplace`] that writes another database file into the database at
/// a path through SQLite's online backup API, on a connection of its own,
/// while other connections keep it open: they see the new content at their
/// next transaction. Both adapters use it for sync resolutions that replace
/// local content.
///
/// The two databases must have the same page size (a WAL database cannot
/// change its page size).
#[derive(Debug, Clone)]
pub struct BackupRestore {
    path: PathBuf,
    durable: bool,
    unwritten_since: Option<WalMark>,
}

impl BackupRestore {
    /// Restores into the database file at `path`, durably.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        BackupRestore {
            path: path.into(),
            durable: true,
            unwritten_since: None,
        }
    }

    /// Restores only if no write was committed to the database (in WAL
    /// mode) since its `-wal` file stood at `mark`: checked once the
    /// restore holds the database's write lock, so no write can slip in
    /// between. Otherwise the restore writes nothing and fails with
    /// [`s3sqlite_core::Error::WrittenDuringSync`]. A pull that checked
    /// the database clean, then downloads while the pool stays open for
    /// writing, passes the mark of that check, so that a write made during
    /// the download is never overwritten.
    pub fn unless_written_since(mut self, mark: WalMark) -> Self {
        self.unwritten_since = Some(mark);
        self
    }

    /// Sets whether the restore waits for the disk (`PRAGMA synchronous`
    /// `FULL`, as SQLite's default) or not (`OFF`), which halves the time
    /// a large restore takes. A process killed mid-way loses nothing
    /// either way; without the wait, a power loss or an operating system
    /// crash may leave the file damaged. Both adapters restore without it
    /// only into a read-only replica (a follower), whose local copy is a
    /// cache of the remote that can be fetched again.
    ///
    /// By default, durable.
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// Writes the database file `db` into the database, as
    /// [`LiveReplace::replace`] says.
    fn restore(&self, db: &Path) -> s3sqlite_core::Result<()> {
        let path = &self.path;
        let failed = |e: rusqlite::Error| s3sqlite_core::Error::Io {
            op: "restore a database into",
            path: path.to_owned(),
            source: std::io::Error::other(e),
        };
        let mut conn = rusqlite::Connection::open(path).map_err(failed)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(failed)?;
        if !self.durable {
            conn.pragma_update(None, "synchronous", "OFF")
                .map_err(failed)?;
        }
        {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let source = rusqlite::Connection::open_with_flags(db, flags).map_err(failed)?;
            let backup = rusqlite::backup::Backup::new(&source, &mut conn).map_err(failed)?;
            // no page yet: this takes the write lock, held to the end
            backup.step(0).map_err(failed)?;
            if let Some(mark) = &self.unwritten_since
                && WalMark::of(path)? != *mark
            {
                return Err(s3sqlite_core::Error::WrittenDuringSync {
                    path: path.to_owned(),
                });
            }
            finish(&backup).map_err(failed)?;
        }
        // in WAL mode the restored pages sit in the WAL: move them into the
        // main file, so that the file holds what was restored and reads as
        // clean; readers may keep the checkpoint from completing, which only
        // leaves that to the next sync: so wait for them briefly, not a busy
        // timeout
        conn.busy_timeout(CHECKPOINT_WAIT).map_err(failed)?;
        let _busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .map_err(failed)?;
        conn.close().map_err(|(_, e)| failed(e))
    }
}

#[async_trait]
impl LiveReplace for BackupRestore {
    async fn replace(&self, db: &Path) -> s3sqlite_core::Result<()> {
        let restore_into = self.clone();
        let db = db.to_owned();
        tokio::task::spawn_blocking(move || restore_into.restore(&db))
            .await
            .expect("restore task panicked")
    }
}

/// Where the `-wal` file beside a database stood: its length and its
/// header. A commit in WAL mode appends frames (the length grows) or
/// restarts the log under new salts (the header changes), so a mark that
/// is still the same means no write was committed since it was taken.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WalMark {
    len: u64,
    header: Vec<u8>,
}

impl WalMark {
    /// The mark of an empty (or absent) `-wal` file: what a
    /// `PRAGMA wal_checkpoint(TRUNCATE)` that completed leaves.
    pub fn empty() -> Self {
        WalMark::default()
    }

    /// The mark of the `-wal` file beside the database at `db` now.
    ///
    /// # Errors
    ///
    /// [`s3sqlite_core::Error::Io`] when the file is there but cannot be
    /// read.
    pub fn of(db: &Path) -> s3sqlite_core::Result<Self> {
        use std::io::Read;
        let wal = sibling(db, "-wal");
        let file = match std::fs::File::open(&wal) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(WalMark::empty()),
            Err(source) => {
                return Err(s3sqlite_core::Error::Io {
                    op: "open",
                    path: wal,
                    source,
                });
            }
        };
        let read_failed = |source| s3sqlite_core::Error::Io {
            op: "read",
            path: wal.clone(),
            source,
        };
        let len = file.metadata().map_err(read_failed)?.len();
        let mut header = Vec::with_capacity(WAL_HEADER_LEN);
        file.take(WAL_HEADER_LEN as u64)
            .read_to_end(&mut header)
            .map_err(read_failed)?;
        Ok(WalMark { len, header })
    }
}

/// Copies the committed content of the database that `conn` is open on
/// into a new database file at `dest`, through SQLite's online backup API
/// in one step, under one read transaction: page for page, so every page
/// keeps its number, and a push of the copy changes only the byte ranges
/// that writes changed (`VACUUM INTO` renumbers every page, so that every
/// range would differ). Both adapters push such a snapshot when readers
/// keep a checkpoint from completing.
///
/// `conn` must not be inside a transaction of its own that wrote.
///
/// # Errors
///
/// [`s3sqlite_core::Error::Io`] when SQLite cannot create `dest` or copy
/// into it.
///
/// ```
/// use rusqlite::Connection;
///
/// let dir = tempfile::tempdir().unwrap();
/// let db = Connection::open(dir.path().join("app.db")).unwrap();
/// db.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('one')").unwrap();
/// let copy = dir.path().join("snapshot.db");
/// s3sqlite_rusqlite::snapshot_into(&db, &copy)?;
/// let v: String = Connection::open(&copy).unwrap().query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
/// assert_eq!(v, "one");
/// # Ok::<(), s3sqlite_core::Error>(())
/// ```
pub fn snapshot_into(conn: &rusqlite::Connection, dest: &Path) -> s3sqlite_core::Result<()> {
    let failed = |e: rusqlite::Error| s3sqlite_core::Error::Io {
        op: "snapshot a database into",
        path: dest.to_owned(),
        source: std::io::Error::other(e),
    };
    let mut copy = rusqlite::Connection::open(dest).map_err(failed)?;
    {
        let backup = rusqlite::backup::Backup::new(conn, &mut copy).map_err(failed)?;
        finish(&backup).map_err(failed)?;
    }
    copy.close().map_err(|(_, e)| failed(e))
}

/// Runs `backup` to its end in one step: every page under one read
/// transaction of the source; a step that stops before the end is
/// `SQLITE_BUSY`.
fn finish(backup: &rusqlite::backup::Backup<'_, '_>) -> rusqlite::Result<()> {
    match backup.step(-1)? {
        rusqlite::backup::StepResult::Done => Ok(()),
        step => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some(format!("the backup stopped before its end: {step:?}")),
        )),
    }
}

/// Lets SQLite finish what a killed process left beside the database at
/// `path`: a hot rollback journal is rolled back, and transactions committed
/// to the `-wal` file are checkpointed into the main file. Nothing committed
/// is lost; the main file then holds the database SQLite would show. Both
/// adapters run it at open (see
/// [`ReplicaOptions::with_local_recovery`](s3sqlite_core::ReplicaOptions::with_local_recovery)).
///
/// # Errors
///
/// [`s3sqlite_core::Error::Io`] when SQLite cannot open or checkpoint the
/// file.
pub fn recover_local(path: &Path) -> s3sqlite_core::Result<()> {
    let wal = sibling(path, "-wal");
    let journal = sibling(path, "-journal");
    let leftover = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    if !leftover(&wal) && !leftover(&journal) {
        return Ok(());
    }
    let failed = |e: rusqlite::Error| s3sqlite_core::Error::Io {
        op: "recover what a killed process left in",
        path: path.to_owned(),
        source: std::io::Error::other(e),
    };
    let conn = rusqlite::Connection::open(path).map_err(failed)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(failed)?;
    // reading rolls a hot journal back, and recovers the WAL's index
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .map_err(failed)?;
    if mode.eq_ignore_ascii_case("wal") {
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .map_err(failed)?;
        if busy != 0 {
            tracing::warn!(path = %path.display(), "another connection keeps the WAL from being checkpointed");
        }
    }
    conn.close().map_err(|(_, e)| failed(e))?;
    tracing::info!(path = %path.display(), "recovered what a killed process left beside the database");
    Ok(())
}

/// `PATH` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}
