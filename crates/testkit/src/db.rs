//! Helpers that put a database on a remote and read one back.

use std::path::Path;

use rusqlite::Connection;
use s3sqlite_core::{
    ContentHash, ObjectStoreRemote, RemoteStore, RemoteVersion, Replica, ReplicaOptions, Stamp,
    TransferOptions, WriteCondition,
};

use crate::{Error, Result};

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Sqlite {
        path: path.to_owned(),
        source,
    }
}

fn temp_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("s3sqlite-testkit-")
        .tempdir()
        .map_err(|e| Error::io("create temp folder in", std::env::temp_dir(), e))
}

/// Adds a table `pad` of `mib` rows, each a random 1 MiB blob, to the
/// database `conn` is open on: a database of a given size for transfer,
/// crash and progress tests. Use it in [`seed_remote`]'s `build`.
///
/// ```
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// s3sqlite_testkit::pad_database(&conn, 2).unwrap();
/// let rows: i64 = conn.query_row("SELECT count(*) FROM pad", [], |r| r.get(0)).unwrap();
/// assert_eq!(rows, 2);
/// ```
///
/// # Errors
///
/// What SQLite reports, e.g. a table `pad` that exists already.
pub fn pad_database(conn: &Connection, mib: u64) -> rusqlite::Result<()> {
    let rows = i64::try_from(mib).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    conn.execute_batch("CREATE TABLE pad (b BLOB)")?;
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 WHERE ?1 > 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO pad SELECT randomblob(1048576) FROM n",
        [rows],
    )?;
    Ok(())
}

/// Builds a database with `build` and puts it on `remote`, replacing
/// whatever is there. Returns the new version.
///
/// ```
/// use s3sqlite_testkit::{memory_remote, read_remote, seed_remote};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let remote = memory_remote("app.db");
/// seed_remote(&remote, |conn| conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (7);")).await?;
/// let x: i64 = read_remote(&remote, |conn| conn.query_row("SELECT x FROM t", [], |r| r.get(0))).await?;
/// assert_eq!(x, 7);
/// # Ok::<(), s3sqlite_testkit::Error>(())
/// # }).unwrap();
/// ```
///
/// # Errors
///
/// [`Error::Sqlite`] when `build` fails; [`Error::Core`] when the upload does.
pub async fn seed_remote<R, F>(remote: &R, build: F) -> Result<RemoteVersion>
where
    R: RemoteStore + ?Sized,
    F: FnOnce(&Connection) -> rusqlite::Result<()>,
{
    let dir = temp_dir()?;
    let path = dir.path().join("seed.db");
    let conn = Connection::open(&path).map_err(sqlite(&path))?;
    build(&conn).map_err(sqlite(&path))?;
    conn.close().map_err(|(_, e)| sqlite(&path)(e))?;
    let size = std::fs::metadata(&path)
        .map_err(|e| crate::Error::io("read metadata of", &path, e))?
        .len();
    let stamp = Stamp::new(ContentHash::of_file(&path)?, size);
    Ok(remote
        .upload(&path, &WriteCondition::Overwrite, &stamp)
        .await?)
}

/// Downloads the remote's current database into a temp file and hands
/// `inspect` a connection to it.
///
/// # Errors
///
/// [`Error::Core`] with [`s3sqlite_core::Error::RemoteNotFound`] when the
/// remote is absent; [`Error::Sqlite`] when `inspect` fails.
pub async fn read_remote<R, T, F>(remote: &R, inspect: F) -> Result<T>
where
    R: RemoteStore + ?Sized,
    F: FnOnce(&Connection) -> rusqlite::Result<T>,
{
    let version = remote
        .head()
        .await?
        .ok_or_else(|| s3sqlite_core::Error::RemoteNotFound {
            url: remote.to_string(),
        })?;
    let dir = temp_dir()?;
    let path = dir.path().join("read.db");
    // a connection cut mid-body (a loaded test server) is tried again, as
    // the engine does
    let mut attempt = 0;
    loop {
        attempt += 1;
        match remote
            .download(&path, &version, &TransferOptions::default())
            .await
        {
            Ok(_) => break,
            Err(err) if err.is_transient() && attempt < 3 => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
    let conn = Connection::open(&path).map_err(sqlite(&path))?;
    inspect(&conn).map_err(sqlite(&path))
}

/// Pushes a change made by `sql` as another writer would: opens a replica
/// of the remote at URL `url` in a temp folder, runs `sql`, pushes. Returns
/// the new version.
///
/// # Errors
///
/// As [`Replica::open_url`] and [`Replica::push`]; [`Error::Sqlite`] when
/// `sql` fails.
pub async fn write_concurrently<R: RemoteStore>(remote: R, sql: &str) -> Result<RemoteVersion> {
    let dir = temp_dir()?;
    let options = ReplicaOptions::new().with_local_path(dir.path().join("writer.db"));
    let mut replica = Replica::open(remote, options).await?;
    let path = replica.local_path().to_owned();
    let conn = Connection::open(&path).map_err(sqlite(&path))?;
    conn.execute_batch(sql).map_err(sqlite(&path))?;
    conn.close().map_err(|(_, e)| sqlite(&path)(e))?;
    replica.push().await?;
    Ok(replica
        .base()
        .cloned()
        .expect("a pushed replica has a base version"))
}

/// The bytes of the object `remote` names, read past the engine (no
/// verification, no version pin): what a tool other than s3sqlite would
/// download.
///
/// ```
/// use s3sqlite_testkit::{memory_remote, object_bytes, seed_remote};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let remote = memory_remote("bytes.db");
/// seed_remote(&remote, |conn| conn.execute_batch("CREATE TABLE t (x)")).await?;
/// assert!(object_bytes(&remote).await?.starts_with(b"SQLite format 3\0"));
/// # Ok::<(), s3sqlite_testkit::Error>(())
/// # }).unwrap();
/// ```
///
/// # Errors
///
/// [`Error::Core`] holding [`s3sqlite_core::Error::Remote`] when the store
/// cannot give the object.
pub async fn object_bytes(remote: &ObjectStoreRemote) -> Result<Vec<u8>> {
    use s3sqlite_core::object_store::ObjectStoreExt;
    let remote_error = |source| s3sqlite_core::Error::Remote {
        url: remote.to_string(),
        source,
    };
    let got = remote
        .store()
        .get(remote.key())
        .await
        .map_err(remote_error)?;
    Ok(got.bytes().await.map_err(remote_error)?.to_vec())
}

/// How many of the `range`-byte ranges of `before` and `after` differ (a
/// range that one of them lacks counts as differing): what a sync of only
/// the changed ranges would move.
///
/// ```
/// assert_eq!(s3sqlite_testkit::changed_ranges(b"aabbcc", b"aaxbcc", 2), 1);
/// assert_eq!(s3sqlite_testkit::changed_ranges(b"aabb", b"aabbcc", 2), 1);
/// ```
///
/// # Panics
///
/// When `range` is 0.
pub fn changed_ranges(before: &[u8], after: &[u8], range: usize) -> usize {
    assert!(range > 0, "a range holds at least one byte");
    fn part(bytes: &[u8], i: usize, range: usize) -> &[u8] {
        let start = (i * range).min(bytes.len());
        let end = ((i + 1) * range).min(bytes.len());
        &bytes[start..end]
    }
    let ranges = before.len().max(after.len()).div_ceil(range);
    (0..ranges)
        .filter(|&i| part(before, i, range) != part(after, i, range))
        .count()
}
