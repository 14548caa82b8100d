//! The sqlx adapter on every backend: round trip, conflicts, syncing while
//! the pool is open, and what reaches the remote.

use std::path::PathBuf;
use std::time::Duration;

use s3sqlite_sqlx::{
    ChangesetMerge, Conflict, ConflictKind, Error, KeepRemote, MergeRefusal, Overwrite, Resolution,
    S3SqlitePool, Status, SyncAction, SyncPolicy, async_trait,
};
use s3sqlite_testkit::{Fixture, read_remote, seed_remote, write_concurrently};
use sqlx::sqlite::SqlitePoolOptions;

s3sqlite_testkit::backend_tests!(
    rows_written_and_closed_are_seen_from_another_local_path,
    a_conflict_on_close_keeps_local_writes_and_the_remote,
    ignore_conflicts_overwrites_the_remote,
    sync_with_a_reader_open_uploads_a_sound_database,
    the_remote_object_is_a_standalone_database,
    keep_remote_on_sync_replaces_the_open_database,
    a_pool_dropped_without_close_resumes_at_the_next_open,
    scope_closes_and_keeps_both_errors,
    sync_right_after_writes_with_warm_connections,
    read_only_sessions_on_a_rollback_journal_database_upload_nothing,
    clones_share_one_pool_and_one_close_closes_all,
    a_conflict_is_settled_on_the_open_pool,
    pull_brings_another_writers_push_into_the_open_pool,
    a_background_sync_stuck_on_a_conflict_recovers_after_sync_with,
    two_pools_append_and_both_land_under_changeset_merge,
    a_pull_one_row_behind_fetches_only_what_changed,
);

fn pool(fx: &Fixture, local: &str) -> s3sqlite_sqlx::S3SqlitePoolBuilder {
    S3SqlitePool::builder_for(fx.remote("db")).with_local_path(fx.local(local))
}

async fn names(db: &sqlx::SqlitePool) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM users ORDER BY rowid")
        .fetch_all(db)
        .await
        .unwrap()
}

async fn insert(db: &sqlx::SqlitePool, name: &str) {
    sqlx::query("CREATE TABLE IF NOT EXISTS users (name TEXT NOT NULL)")
        .execute(db)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (name) VALUES (?)")
        .bind(name)
        .execute(db)
        .await
        .unwrap();
}

fn remote_names(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT name FROM users ORDER BY rowid")?
        .query_map([], |row| row.get(0))?
        .collect()
}

async fn seed(fx: &Fixture, names: &[&str]) {
    seed_remote(&fx.remote("db"), |conn| {
        conn.execute_batch("CREATE TABLE users (name TEXT NOT NULL)")?;
        for name in names {
            conn.execute("INSERT INTO users (name) VALUES (?1)", [name])?;
        }
        Ok(())
    })
    .await
    .unwrap();
}

async fn rows_written_and_closed_are_seen_from_another_local_path(fx: Fixture) {
    let a = pool(&fx, "a.db").connect().await.unwrap();
    insert(&a, "ada").await;
    insert(&a, "grace").await;
    let report = a.close().await.unwrap();
    assert_eq!(report.action, SyncAction::Uploaded);

    let b = pool(&fx, "b.db").connect().await.unwrap();
    assert_eq!(names(&b).await, ["ada", "grace"]);
    b.close().await.unwrap();
}

async fn a_conflict_on_close_keeps_local_writes_and_the_remote(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let a = pool(&fx, "a.db").connect().await.unwrap();
    let b = pool(&fx, "b.db").connect().await.unwrap();
    insert(&a, "from a").await;
    insert(&b, "from b").await;
    a.close().await.unwrap();

    let err = b.close().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().starts_with("conflict on "), "{err}");
    let local = rusqlite::Connection::open(fx.local("b.db")).unwrap();
    assert_eq!(remote_names(&local).unwrap(), ["seed", "from b"]);
    assert_eq!(
        read_remote(&fx.remote("db"), remote_names).await.unwrap(),
        ["seed", "from a"]
    );
}

async fn ignore_conflicts_overwrites_the_remote(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let a = pool(&fx, "a.db").connect().await.unwrap();
    let b = pool(&fx, "b.db")
        .with_ignore_conflicts(true)
        .connect()
        .await
        .unwrap();
    insert(&a, "from a").await;
    insert(&b, "from b").await;
    a.close().await.unwrap();

    assert_eq!(b.close().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(
        read_remote(&fx.remote("db"), remote_names).await.unwrap(),
        ["seed", "from b"]
    );
}

async fn sync_with_a_reader_open_uploads_a_sound_database(fx: Fixture) {
    let db = pool(&fx, "a.db")
        .with_pool_options(SqlitePoolOptions::new().max_connections(4))
        .connect()
        .await
        .unwrap();
    insert(&db, "before").await;
    // a reader holds an old snapshot, so the checkpoint cannot complete
    let mut reader = db.begin().await.unwrap();
    let seen: Vec<String> = sqlx::query_scalar("SELECT name FROM users")
        .fetch_all(&mut *reader)
        .await
        .unwrap();
    assert_eq!(seen, ["before"]);
    insert(&db, "during").await;

    let report = db.sync().await.unwrap();
    assert_eq!(report.action, SyncAction::Uploaded);
    let (integrity, rows) = read_remote(&fx.remote("db"), |conn| {
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok((integrity, remote_names(conn)?))
    })
    .await
    .unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(rows, ["before", "during"]);

    reader.rollback().await.unwrap();
    insert(&db, "after").await;
    db.sync().await.unwrap();
    assert_eq!(
        read_remote(&fx.remote("db"), remote_names).await.unwrap(),
        ["before", "during", "after"]
    );
    assert_eq!(db.status().await.unwrap(), Status::Clean);
    db.close().await.unwrap();
}

/// Downloads the remote object alone into an empty folder and reads it with
/// plain rusqlite.
async fn object_alone(fx: &Fixture) -> Vec<String> {
    use s3sqlite_sqlx::RemoteStore;
    let remote = fx.remote("db");
    let version = remote.head().await.unwrap().expect("the object exists");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("object.db");
    remote
        .download(&path, &version, &Default::default())
        .await
        .unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "only the object itself, no -wal");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    remote_names(&conn).unwrap()
}

async fn the_remote_object_is_a_standalone_database(fx: Fixture) {
    let db = pool(&fx, "a.db").connect().await.unwrap();
    insert(&db, "synced while open").await;
    db.sync().await.unwrap();
    assert_eq!(object_alone(&fx).await, ["synced while open"]);
    insert(&db, "closed").await;
    db.close().await.unwrap();
    assert_eq!(object_alone(&fx).await, ["synced while open", "closed"]);
}

async fn keep_remote_on_sync_replaces_the_open_database(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let b = pool(&fx, "b.db")
        .with_policy(KeepRemote)
        .connect()
        .await
        .unwrap();
    write_concurrently(
        fx.remote("db"),
        "INSERT INTO users (name) VALUES ('from another writer')",
    )
    .await
    .unwrap();
    insert(&b, "from b").await;

    // the pool's own policy dropped a local write: an error, never a quiet Ok
    let err = b.sync().await.unwrap_err();
    assert!(err.is_local_discarded(), "{err}");
    assert_eq!(names(&b).await, ["seed", "from another writer"]);
    insert(&b, "after").await;
    b.close().await.unwrap();
    assert_eq!(
        read_remote(&fx.remote("db"), remote_names).await.unwrap(),
        ["seed", "from another writer", "after"]
    );
}

async fn a_pool_dropped_without_close_resumes_at_the_next_open(fx: Fixture) {
    let a = pool(&fx, "a.db").connect().await.unwrap();
    insert(&a, "unsynced").await;
    drop(a);
    // the pool's connections close in the background after a drop
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let a = pool(&fx, "a.db").connect().await.unwrap();
    assert_eq!(names(&a).await, ["unsynced"]);
    assert_eq!(a.close().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(
        read_remote(&fx.remote("db"), remote_names).await.unwrap(),
        ["unsynced"]
    );
}

async fn scope_closes_and_keeps_both_errors(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let value = pool(&fx, "a.db")
        .scope(async |db| {
            insert(db, "in scope").await;
            Ok(7)
        })
        .await
        .unwrap();
    assert_eq!(value, 7);
    assert_eq!(
        read_remote(&fx.remote("db"), remote_names).await.unwrap(),
        ["seed", "in scope"]
    );

    let err = pool(&fx, "a.db")
        .scope(async |db| -> s3sqlite_sqlx::Result<()> {
            insert(db, "mine").await;
            write_concurrently(
                fx.remote("db"),
                "INSERT INTO users (name) VALUES ('theirs')",
            )
            .await
            .unwrap();
            sqlx::query("SELECT * FROM no_such_table")
                .execute(db)
                .await?;
            Ok(())
        })
        .await
        .unwrap_err();
    match err {
        Error::Scope { body, close, .. } => {
            assert!(matches!(*body, Error::Sqlx(_)), "{body}");
            assert!(close.is_conflict(), "{close}");
        }
        other => panic!("expected both errors, got {other}"),
    }
}

async fn sync_right_after_writes_with_warm_connections(fx: Fixture) {
    let db = pool(&fx, "a.db")
        .with_pool_options(
            SqlitePoolOptions::new()
                .min_connections(4)
                .max_connections(4),
        )
        .connect()
        .await
        .unwrap();
    for i in 0..200 {
        insert(&db, &format!("row {i}")).await;
    }
    let report = db.sync().await.unwrap();
    assert_eq!(report.action, SyncAction::Uploaded);
    let rows = read_remote(&fx.remote("db"), remote_names).await.unwrap();
    assert_eq!(rows.len(), 200);
    db.close().await.unwrap();
}

/// A database written by Python's `sqlite3` module, in its default rollback
/// journal mode, put on the remote as another tool would (no stamp).
async fn seed_with_python(fx: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("python.db");
    let script = "import sqlite3, sys\n\
        c = sqlite3.connect(sys.argv[1])\n\
        c.execute('CREATE TABLE users (name TEXT NOT NULL)')\n\
        c.executemany('INSERT INTO users VALUES (?)', [('ada',), ('grace',)])\n\
        c.commit()\n\
        assert c.execute('PRAGMA journal_mode').fetchone()[0] == 'delete'\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("this test writes its database with python3's sqlite3 module: install python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[18..20], [1, 1], "a rollback-journal database");
    let remote = fx.remote("db");
    use s3sqlite_testkit::s3sqlite_core::object_store::ObjectStoreExt;
    remote
        .store()
        .put(remote.key(), bytes.into())
        .await
        .unwrap();
}

async fn read_only_sessions_on_a_rollback_journal_database_upload_nothing(fx: Fixture) {
    use s3sqlite_testkit::{FaultyRemote, Op};
    use std::sync::Arc;
    seed_with_python(&fx).await;
    let remote = Arc::new(FaultyRemote::new(fx.remote("db")));
    for local in ["a.db", "b.db"] {
        let db = S3SqlitePool::builder_for(Arc::clone(&remote))
            .with_local_path(fx.local(local))
            .connect()
            .await
            .unwrap();
        assert_eq!(db.opened().action, SyncAction::Downloaded);
        assert_eq!(names(&db).await, ["ada", "grace"]);
        assert_eq!(db.status().await.unwrap(), Status::Clean);
        let report = db.close().await.unwrap();
        assert_eq!(report.action, SyncAction::Unchanged, "{local}");
    }
    // and a second session on the first local path
    let db = S3SqlitePool::builder_for(Arc::clone(&remote))
        .with_local_path(fx.local("a.db"))
        .connect()
        .await
        .unwrap();
    assert_eq!(db.opened().action, SyncAction::Reused);
    assert_eq!(db.close().await.unwrap().action, SyncAction::Unchanged);
    assert_eq!(remote.calls(Op::Upload), 0, "a read-only session uploaded");
}

async fn clones_share_one_pool_and_one_close_closes_all(fx: Fixture) {
    let db = pool(&fx, "a.db").connect().await.unwrap();
    sqlx::query("CREATE TABLE users (name TEXT NOT NULL)")
        .execute(&db)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            sqlx::query("INSERT INTO users (name) VALUES (?)")
                .bind(format!("writer {i}"))
                .execute(&db)
                .await
                .map(|_| ())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // a transaction through `Acquire`, as sqlx's own helpers take it
    let mut tx = sqlx::Acquire::begin(&db).await.unwrap();
    sqlx::query("INSERT INTO users (name) VALUES ('in a transaction')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 5);

    let other = db.clone();
    let report = other.close().await.unwrap();
    assert_eq!(report.action, SyncAction::Uploaded);
    let err = sqlx::query("SELECT 1").execute(&db).await.unwrap_err();
    assert!(matches!(err, sqlx::Error::PoolClosed), "{err:?}");
    // closing again, from any clone, returns the first close's report
    let second = db.close().await.unwrap();
    assert_eq!(
        (second.action, second.version),
        (report.action, report.version)
    );
    // and the local path is free again
    let again = pool(&fx, "a.db").connect().await.unwrap();
    assert_eq!(again.opened().action, SyncAction::Reused);
    again.close().await.unwrap();
    let remote = read_remote(&fx.remote("db"), remote_names).await.unwrap();
    assert_eq!(remote.len(), 5);
}

/// A policy of the user's own: the remote's rows plus the local rows it
/// lacks.
#[derive(Debug)]
struct UnionMerge {
    dir: PathBuf,
}

#[async_trait]
impl SyncPolicy for UnionMerge {
    async fn resolve(&self, conflict: &Conflict<'_>) -> s3sqlite_core::Result<Resolution> {
        let merged = tempfile::Builder::new()
            .suffix(".db")
            .tempfile_in(&self.dir)
            .unwrap()
            .into_temp_path()
            .keep()
            .unwrap();
        conflict.fetch_current(&merged).await?;
        let conn = rusqlite::Connection::open(&merged).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        conn.execute(
            "ATTACH ?1 AS local",
            [conflict.local_path().to_str().unwrap()],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO users (name) SELECT name FROM local.users
             WHERE name NOT IN (SELECT name FROM main.users ORDER BY rowid);
             DETACH local;",
        )
        .unwrap();
        conn.close().unwrap();
        Ok(Resolution::Merged(merged))
    }
}

async fn a_conflict_is_settled_on_the_open_pool(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let db = pool(&fx, "b.db").connect().await.unwrap();
    for round in ["keep remote", "overwrite", "merge"] {
        let other = format!("other, before {round}");
        let local = format!("local, before {round}");
        write_concurrently(
            fx.remote("db"),
            &format!("INSERT INTO users (name) VALUES ('{other}')"),
        )
        .await
        .unwrap();
        insert(&db, &local).await;
        let err = db.sync().await.unwrap_err();
        assert!(err.is_conflict(), "{round}: {err}");
        let remote_before = read_remote(&fx.remote("db"), remote_names).await.unwrap();

        let report = match round {
            "keep remote" => db.sync_with(KeepRemote).await.unwrap(),
            "overwrite" => db.sync_with(Overwrite).await.unwrap(),
            _ => db
                .sync_with(UnionMerge {
                    dir: fx.dir().to_owned(),
                })
                .await
                .unwrap(),
        };
        println!("{} {round}: {report}", fx.backend());
        let remote = read_remote(&fx.remote("db"), remote_names).await.unwrap();
        let open = names(&db).await;
        match round {
            "keep remote" => {
                assert_eq!(report.action, SyncAction::KeptRemote);
                assert_eq!(remote, remote_before);
                assert!(!open.contains(&local), "{open:?}");
            }
            "overwrite" => {
                assert_eq!(report.action, SyncAction::Uploaded);
                assert!(!remote.contains(&other), "{remote:?}");
                assert!(remote.contains(&local), "{remote:?}");
            }
            _ => {
                assert_eq!(report.action, SyncAction::Merged);
                assert!(
                    remote.contains(&other) && remote.contains(&local),
                    "{remote:?}"
                );
            }
        }
        // the open pool holds what the remote holds, and is clean against it
        assert_eq!(open, remote, "{round}");
        assert_eq!(db.status().await.unwrap(), Status::Clean, "{round}");
    }
    assert_eq!(db.close().await.unwrap().action, SyncAction::Unchanged);
}

async fn pull_brings_another_writers_push_into_the_open_pool(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let db = pool(&fx, "b.db").connect().await.unwrap();
    assert_eq!(names(&db).await, ["seed"]);
    assert_eq!(db.pull().await.unwrap().action, SyncAction::Reused);

    write_concurrently(fx.remote("db"), "INSERT INTO users (name) VALUES ('other')")
        .await
        .unwrap();
    assert_eq!(db.status().await.unwrap(), Status::Behind);
    let report = db.pull().await.unwrap();
    assert_eq!(report.action, SyncAction::Downloaded, "{report}");
    assert_eq!(names(&db).await, ["seed", "other"]);
    assert_eq!(db.status().await.unwrap(), Status::Clean);

    // a local write, the remote unmoved: pull transfers nothing, the write stays
    insert(&db, "mine").await;
    let report = db.pull().await.unwrap();
    assert_eq!(report.action, SyncAction::Reused);
    assert!(report.dirty);
    assert_eq!(names(&db).await, ["seed", "other", "mine"]);
    assert_eq!(db.close().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(
        read_remote(&fx.remote("db"), remote_names).await.unwrap(),
        ["seed", "other", "mine"]
    );
}

async fn a_background_sync_stuck_on_a_conflict_recovers_after_sync_with(fx: Fixture) {
    seed(&fx, &["seed"]).await;
    let db = pool(&fx, "b.db")
        .with_sync_every(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    write_concurrently(fx.remote("db"), "INSERT INTO users (name) VALUES ('other')")
        .await
        .unwrap();
    insert(&db, "mine").await;
    // the background sync fails on the conflict, again and again
    let mut stuck = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(err) = db.take_background_error() {
            stuck = Some(err);
            break;
        }
    }
    let stuck = stuck.expect("the background sync never reported the conflict");
    assert!(stuck.is_conflict(), "{stuck}");

    let report = db.sync_with(Overwrite).await.unwrap();
    assert_eq!(report.action, SyncAction::Uploaded);
    assert!(db.take_background_error().is_none());
    // later background syncs succeed: no error comes back
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(db.take_background_error().is_none());
    insert(&db, "later").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(db.take_background_error().is_none());
    assert_eq!(
        read_remote(&fx.remote("db"), remote_names).await.unwrap(),
        ["seed", "mine", "later"]
    );
    db.close().await.unwrap();
}

async fn two_pools_append_and_both_land_under_changeset_merge(fx: Fixture) {
    seed_remote(&fx.remote("db"), |conn| {
        conn.execute_batch(
            "CREATE TABLE events (id TEXT PRIMARY KEY, body TEXT NOT NULL);
             CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO settings VALUES ('theme', 'light');",
        )
    })
    .await
    .unwrap();
    let open = |local: &str| pool(&fx, local).with_policy(ChangesetMerge::new());
    let a = open("a.db").connect().await.unwrap();
    let b = open("b.db").connect().await.unwrap();
    let events = |db: &S3SqlitePool| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT id FROM events ORDER BY id")
                .fetch_all(&db)
                .await
                .unwrap()
        }
    };
    for (db, id) in [(&a, "a-1"), (&b, "b-1")] {
        sqlx::query("INSERT INTO events VALUES (?, 'x')")
            .bind(id)
            .execute(db)
            .await
            .unwrap();
    }
    // a reader holds a transaction open on b: its sync snapshots the
    // database, and the merge is written into the open database
    let mut reader = b.begin().await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut *reader)
        .await
        .unwrap();
    a.sync().await.unwrap();
    let report = b.sync().await.unwrap();
    assert_eq!(report.action, SyncAction::Merged, "{report}");
    reader.commit().await.unwrap();
    assert_eq!(events(&b).await, ["a-1", "b-1"]);
    let remote: Vec<String> = read_remote(&fx.remote("db"), |conn| {
        conn.prepare("SELECT id FROM events ORDER BY id")?
            .query_map([], |row| row.get(0))?
            .collect()
    })
    .await
    .unwrap();
    assert_eq!(remote, ["a-1", "b-1"]);

    // both change one setting: refused, and the error lists the row
    a.pull().await.unwrap();
    for (db, theme) in [(&a, "dark"), (&b, "blue")] {
        sqlx::query("UPDATE settings SET value = ? WHERE name = 'theme'")
            .bind(theme)
            .execute(db)
            .await
            .unwrap();
    }
    a.sync().await.unwrap();
    let err = b.sync().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    match err.refusal() {
        Some(MergeRefusal::Unmerged { rows }) => {
            assert_eq!(rows.len(), 1, "{err}");
            assert_eq!(rows[0].table, "settings");
            assert_eq!(rows[0].kind, ConflictKind::Data);
        }
        other => panic!("not an Unmerged refusal: {other:?} ({err})"),
    }
    let theme: String = sqlx::query_scalar("SELECT value FROM settings")
        .fetch_one(&b)
        .await
        .unwrap();
    assert_eq!(theme, "blue");
    a.close().await.unwrap();
    b.close_with(Overwrite).await.unwrap();
}

/// The bytes of the object at the memory URL `url`.
async fn object_bytes(url: &str) -> Vec<u8> {
    let remote = s3sqlite_sqlx::ObjectStoreRemote::from_url(url).unwrap();
    s3sqlite_testkit::object_bytes(&remote).await.unwrap()
}

/// A one-row update synced while a reader keeps the checkpoint from
/// completing goes up as a snapshot that keeps every page at its number:
/// of the 8 MiB ranges of a 64 MiB database, at most the one with the
/// header and the one with the row differ from the version before
/// (`VACUUM INTO` renumbered every page, and so changed them all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_synced_past_a_reader_changes_only_the_ranges_the_update_changed() {
    const RANGE: usize = 8 << 20;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("memory:///sqlx-snapshot-{}/app.db", std::process::id());
    let local = dir.path().join("a.db");
    let pool = S3SqlitePool::builder(&url)
        .with_local_path(&local)
        .connect()
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE pad (b BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64)
         INSERT INTO pad SELECT randomblob(1048576) FROM n;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t VALUES (1, 'before');",
    )
    .execute(&*pool)
    .await
    .unwrap();
    assert_eq!(pool.sync().await.unwrap().action, SyncAction::Uploaded);
    let before = object_bytes(&url).await;

    let reader = rusqlite::Connection::open(&local).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: String = reader
        .query_row("SELECT v FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, "before");
    sqlx::query("UPDATE t SET v = 'after' WHERE id = 1")
        .execute(&*pool)
        .await
        .unwrap();
    assert_eq!(pool.sync().await.unwrap().action, SyncAction::Uploaded);
    let wal = std::fs::metadata(dir.path().join("a.db-wal"))
        .unwrap()
        .len();
    assert!(
        wal > 0,
        "the reader should have kept the checkpoint from completing"
    );
    drop(reader);

    let after = object_bytes(&url).await;
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
    let v: String = rusqlite::Connection::open(&landed)
        .unwrap()
        .query_row("SELECT v FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, "after");
    pool.close().await.unwrap();
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
    let db = pool(&fx, "b.db").connect().await.unwrap();
    write_concurrently(fx.remote("db"), "INSERT INTO users (name) VALUES ('other')")
        .await
        .unwrap();
    let report = db.pull().await.unwrap();
    assert_eq!(report.action, SyncAction::Downloaded, "{report}");
    assert!(report.ranges_fetched >= 1, "{report}");
    assert!(report.bytes_down <= 1 << 20, "{report}");
    assert_eq!(names(&db).await, ["seed", "first", "other"]);
    assert_eq!(db.status().await.unwrap(), Status::Clean);
    db.close().await.unwrap();
}
