//! The rusqlite adapter on every backend: round trip, conflicts, syncing
//! while open, what reaches the remote, and use from async code.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;
use s3sqlite_rusqlite::{
    Conflict, KeepRemote, Overwrite, Resolution, Status, SyncAction, SyncPolicy, SyncedConnection,
    SyncedConnectionBuilder, async_trait,
};
use s3sqlite_testkit::{Fixture, read_remote, seed_remote, write_concurrently};

s3sqlite_testkit::backend_tests!(
    rows_written_and_closed_are_seen_from_another_local_path,
    a_conflict_on_close_keeps_local_writes_and_the_remote,
    ignore_conflicts_overwrites_the_remote,
    sync_with_a_reader_open_uploads_a_sound_database,
    open_async_syncs_and_closes_on_the_callers_runtime,
    a_database_written_through_sqlx_opens_here_and_the_reverse,
    the_remote_object_is_a_standalone_database,
    a_conflict_is_settled_on_the_open_connection,
    pull_brings_another_writers_push_into_the_open_connection,
    a_pull_one_row_behind_fetches_only_what_changed,
);

fn builder(fx: &Fixture, local: &str) -> SyncedConnectionBuilder {
    SyncedConnection::builder_for(fx.remote("db")).with_local_path(fx.local(local))
}

fn insert(conn: &Connection, name: &str) {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS users (name TEXT NOT NULL)")
        .unwrap();
    conn.execute("INSERT INTO users (name) VALUES (?1)", [name])
        .unwrap();
}

fn names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT name FROM users ORDER BY rowid")?
        .query_map([], |row| row.get(0))?
        .collect()
}

async fn seed(fx: &Fixture, values: &[&str]) {
    seed_remote(&fx.remote("db"), |conn| {
        conn.execute_batch("CREATE TABLE users (name TEXT NOT NULL)")?;
        for v in values {
            conn.execute("INSERT INTO users (name) VALUES (?1)", [v])?;
        }
        Ok(())
    })
    .await
    .unwrap();
}

/// Runs blocking code the way async callers must: on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

async fn rows_written_and_closed_are_seen_from_another_local_path(fx: Fixture) {
    let (a, b) = (builder(&fx, "a.db"), builder(&fx, "b.db"));
    let seen = blocking(move || {
        let db = a.open().unwrap();
        insert(&db, "ada");
        insert(&db, "grace");
        assert_eq!(db.close().unwrap().action, SyncAction::Uploaded);
        let db = b.open().unwrap();
        assert_eq!(db.opened_action(), SyncAction::Downloaded);
        let seen = names(&db).unwrap();
        db.close().unwrap();
        seen
    })
    .await;
    assert_eq!(seen, ["ada", "grace"]);
}

async fn a_conflict_on_close_keeps_local_writes_and_the_remote(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let (a, b) = (builder(&fx, "a.db"), builder(&fx, "b.db"));
    let b_path = fx.local("b.db");
    blocking(move || {
        let a = a.open().unwrap();
        let b = b.open().unwrap();
        insert(&a, "from a");
        insert(&b, "from b");
        a.close().unwrap();
        let err = b.close().unwrap_err();
        assert!(err.is_conflict(), "{err}");
        let local = Connection::open(&b_path).unwrap();
        assert_eq!(names(&local).unwrap(), ["seed", "from b"]);
    })
    .await;
    assert_eq!(
        read_remote(&fx.remote("db"), names).await.unwrap(),
        ["seed", "from a"]
    );
}

async fn ignore_conflicts_overwrites_the_remote(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let a = builder(&fx, "a.db");
    let b = builder(&fx, "b.db").with_ignore_conflicts(true);
    blocking(move || {
        let a = a.open().unwrap();
        let b = b.open().unwrap();
        insert(&a, "from a");
        insert(&b, "from b");
        a.close().unwrap();
        assert_eq!(b.close().unwrap().action, SyncAction::Uploaded);
    })
    .await;
    assert_eq!(
        read_remote(&fx.remote("db"), names).await.unwrap(),
        ["seed", "from b"]
    );
}

async fn sync_with_a_reader_open_uploads_a_sound_database(fx: Fixture) {
    let a = builder(&fx, "a.db").with_init(|conn| {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)
    });
    let path = fx.local("a.db");
    let report = blocking(move || {
        let mut db = a.open().unwrap();
        insert(&db, "before");
        // another connection holds a read transaction on an old snapshot
        let mut reader = Connection::open(&path).unwrap();
        let tx = reader.transaction().unwrap();
        assert_eq!(names(&tx).unwrap(), ["before"]);
        insert(&db, "during");
        let report = db.sync().unwrap();
        tx.rollback().unwrap();
        // the last connection to close checkpoints the WAL away
        drop(reader);
        db.close().unwrap();
        report
    })
    .await;
    assert_eq!(report.action, SyncAction::Uploaded);
    let (integrity, rows) = read_remote(&fx.remote("db"), |conn| {
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok((integrity, names(conn)?))
    })
    .await
    .unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(rows, ["before", "during"]);
}

async fn open_async_syncs_and_closes_on_the_callers_runtime(fx: Fixture) {
    let mut db = builder(&fx, "a.db").open_async().await.unwrap();
    insert(&db, "async");
    assert_eq!(db.sync_async().await.unwrap().action, SyncAction::Uploaded);
    insert(&db, "closed");
    db.close_async().await.unwrap();
    assert_eq!(
        read_remote(&fx.remote("db"), names).await.unwrap(),
        ["async", "closed"]
    );
}

async fn a_database_written_through_sqlx_opens_here_and_the_reverse(fx: Fixture) {
    let pool = s3sqlite_sqlx::S3SqlitePool::builder_for(fx.remote("db"))
        .with_local_path(fx.local("sqlx.db"))
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE users (name TEXT NOT NULL)")
        .execute(&*pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (name) VALUES ('via sqlx')")
        .execute(&*pool)
        .await
        .unwrap();
    pool.close().await.unwrap();

    let here = builder(&fx, "rusqlite.db");
    blocking(move || {
        let db = here.open().unwrap();
        assert_eq!(names(&db).unwrap(), ["via sqlx"]);
        insert(&db, "via rusqlite");
        db.close().unwrap();
    })
    .await;

    let pool = s3sqlite_sqlx::S3SqlitePool::builder_for(fx.remote("db"))
        .with_local_path(fx.local("sqlx.db"))
        .connect()
        .await
        .unwrap();
    let all: Vec<String> = sqlx::query_scalar("SELECT name FROM users ORDER BY rowid")
        .fetch_all(&*pool)
        .await
        .unwrap();
    assert_eq!(all, ["via sqlx", "via rusqlite"]);
    pool.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_writes_and_closes_inside_tokio_main_through_spawn_blocking() {
    let remote = s3sqlite_testkit::memory_remote("main.db");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("main.db");
    let report = tokio::task::spawn_blocking(move || {
        let db = SyncedConnection::builder_for(remote)
            .with_local_path(local)
            .open()
            .unwrap();
        insert(&db, "from spawn_blocking");
        db.close().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(report.action, SyncAction::Uploaded);
}

/// Downloads the remote object alone into an empty folder and reads it with
/// a plain connection.
async fn object_alone(fx: &Fixture) -> Vec<String> {
    use s3sqlite_rusqlite::RemoteStore;
    let remote = fx.remote("db");
    let version = remote.head().await.unwrap().expect("the object exists");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("object.db");
    remote
        .download(&path, &version, &Default::default())
        .await
        .unwrap();
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 1, "only the object itself, no -wal");
    let conn = Connection::open(&path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    names(&conn).unwrap()
}

async fn the_remote_object_is_a_standalone_database(fx: Fixture) {
    // WAL mode, so that an upload without the -wal file would miss rows
    let a = builder(&fx, "a.db").with_init(|conn| {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)
    });
    let db = blocking(move || {
        let mut db = a.open().unwrap();
        insert(&db, "synced while open");
        db.sync().unwrap();
        db
    })
    .await;
    assert_eq!(object_alone(&fx).await, ["synced while open"]);
    blocking(move || {
        insert(&db, "closed");
        db.close().unwrap();
    })
    .await;
    assert_eq!(object_alone(&fx).await, ["synced while open", "closed"]);
}

/// A policy of the user's own: the local copy wins, and it counts the
/// conflicts it saw.
#[derive(Debug, Default, Clone)]
struct CountingOverwrite {
    seen: Arc<AtomicUsize>,
}

#[async_trait]
impl SyncPolicy for CountingOverwrite {
    async fn resolve(&self, conflict: &Conflict<'_>) -> s3sqlite_core::Result<Resolution> {
        assert!(conflict.current().is_some());
        self.seen.fetch_add(1, Ordering::SeqCst);
        Ok(Resolution::Overwrite)
    }
}

async fn a_conflict_is_settled_on_the_open_connection(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let mut db = builder(&fx, "b.db").open_async().await.unwrap();
    let counting = CountingOverwrite::default();
    for round in ["keep remote", "overwrite", "custom"] {
        let other = format!("other, before {round}");
        let local = format!("local, before {round}");
        write_concurrently(
            fx.remote("db"),
            &format!("INSERT INTO users (name) VALUES ('{other}')"),
        )
        .await
        .unwrap();
        insert(&db, &local);
        let err = db.sync_async().await.unwrap_err();
        assert!(
            err.to_string().starts_with("conflict on "),
            "{round}: {err}"
        );

        let report = match round {
            "keep remote" => db.sync_with_async(KeepRemote).await.unwrap(),
            "overwrite" => db.sync_with_async(Overwrite).await.unwrap(),
            _ => db.sync_with_async(counting.clone()).await.unwrap(),
        };
        println!("{} {round}: {report}", fx.backend());
        let remote = read_remote(&fx.remote("db"), names).await.unwrap();
        let open = names(&db).unwrap();
        if round == "keep remote" {
            assert_eq!(report.action, SyncAction::KeptRemote);
            assert!(
                remote.contains(&other) && !remote.contains(&local),
                "{remote:?}"
            );
        } else {
            assert_eq!(report.action, SyncAction::Uploaded);
            assert!(
                !remote.contains(&other) && remote.contains(&local),
                "{remote:?}"
            );
        }
        assert_eq!(open, remote, "{round}");
        // settled: nothing left to send
        let again = db.sync_async().await.unwrap();
        assert_eq!(again.action, SyncAction::Unchanged, "{round}");
    }
    assert_eq!(counting.seen.load(Ordering::SeqCst), 1);
    db.close_async().await.unwrap();
}

async fn pull_brings_another_writers_push_into_the_open_connection(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let b = builder(&fx, "b.db");
    let remote = fx.remote("db");
    let (seen, later) = blocking(move || {
        let mut db = b.open().unwrap();
        assert_eq!(db.pull().unwrap().action, SyncAction::Reused);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(write_concurrently(
                remote,
                "INSERT INTO users (name) VALUES ('other')",
            ))
            .unwrap();
        let report = db.pull().unwrap();
        assert_eq!(report.action, SyncAction::Downloaded, "{report}");
        let seen = names(&db).unwrap();
        assert_eq!(db.status().unwrap(), Status::Clean);
        insert(&db, "mine");
        let report = db.pull().unwrap();
        assert_eq!(report.action, SyncAction::Reused);
        assert!(report.dirty);
        let later = names(&db).unwrap();
        assert_eq!(db.close().unwrap().action, SyncAction::Uploaded);
        (seen, later)
    })
    .await;
    assert_eq!(seen, ["seed", "other"]);
    assert_eq!(later, ["seed", "other", "mine"]);
    assert_eq!(
        read_remote(&fx.remote("db"), names).await.unwrap(),
        ["seed", "other", "mine"]
    );
}

/// The bytes of the object at the memory URL `url`.
fn object_bytes(url: &str) -> Vec<u8> {
    let remote = s3sqlite_rusqlite::ObjectStoreRemote::from_url(url).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(s3sqlite_testkit::object_bytes(&remote))
        .unwrap()
}

/// A one-row update pushed while another connection's reader keeps the
/// checkpoint from completing goes up as a snapshot that keeps every page
/// at its number: of the 8 MiB ranges of a 64 MiB database, at most the
/// one with the header and the one with the row differ from the version
/// before (`VACUUM INTO` renumbered every page, and so changed them all).
#[test]
fn a_snapshot_pushed_past_a_reader_changes_only_the_ranges_the_update_changed() {
    const RANGE: usize = 8 << 20;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("memory:///rusqlite-snapshot-{}/app.db", std::process::id());
    let local = dir.path().join("a.db");
    let db = SyncedConnection::builder(&url)
        .with_local_path(&local)
        .with_init(|conn| conn.busy_timeout(std::time::Duration::from_millis(100)))
        .open()
        .unwrap();
    let mode: String = db
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    s3sqlite_testkit::pad_database(&db, 64).unwrap();
    db.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'before')",
    )
    .unwrap();
    let mut db = db;
    assert_eq!(db.sync().unwrap().action, SyncAction::Uploaded);
    let before = object_bytes(&url);

    let reader = Connection::open(&local).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: String = reader
        .query_row("SELECT v FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, "before");
    db.execute("UPDATE t SET v = 'after' WHERE id = 1", [])
        .unwrap();
    assert_eq!(db.sync().unwrap().action, SyncAction::Uploaded);
    let wal = std::fs::metadata(dir.path().join("a.db-wal"))
        .unwrap()
        .len();
    assert!(
        wal > 0,
        "the reader should have kept the checkpoint from completing"
    );
    drop(reader);

    let after = object_bytes(&url);
    let changed = s3sqlite_testkit::changed_ranges(&before, &after, RANGE);
    println!(
        "{} of {} ranges of 8 MiB changed ({} bytes before, {} after)",
        changed,
        after.len().div_ceil(RANGE),
        before.len(),
        after.len()
    );
    assert!(changed <= 2, "{changed} ranges changed");
    let landed = dir.path().join("landed.db");
    std::fs::write(&landed, &after).unwrap();
    let v: String = Connection::open(&landed)
        .unwrap()
        .query_row("SELECT v FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, "after");
    db.close().unwrap();
}

async fn a_pull_one_row_behind_fetches_only_what_changed(fx: Fixture) {
    seed_remote(&fx.remote("db"), |conn| {
        s3sqlite_testkit::pad_database(conn, 8)?;
        conn.execute_batch(
            "CREATE TABLE users (name TEXT NOT NULL); INSERT INTO users VALUES ('seed')",
        )
    })
    .await
    .unwrap();
    // pushed by s3sqlite, so that this version and the next have manifests
    write_concurrently(fx.remote("db"), "INSERT INTO users (name) VALUES ('first')")
        .await
        .unwrap();
    let mut db = builder(&fx, "b.db").open_async().await.unwrap();
    write_concurrently(fx.remote("db"), "INSERT INTO users (name) VALUES ('other')")
        .await
        .unwrap();
    let report = db.pull_async().await.unwrap();
    assert_eq!(report.action, SyncAction::Downloaded, "{report}");
    assert!(report.ranges_fetched >= 1, "{report}");
    assert!(report.bytes_down <= 1 << 20, "{report}");
    assert_eq!(names(&db).unwrap(), ["seed", "first", "other"]);
    assert_eq!(db.status_async().await.unwrap(), Status::Clean);
    db.close_async().await.unwrap();
}
