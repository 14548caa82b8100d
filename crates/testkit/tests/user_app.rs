//! How a user tests their own code with the testkit: an app function that
//! records an event in an s3sqlite database, checked against `memory_remote`
//! through public APIs only.

use std::path::Path;
use std::sync::Arc;

use s3sqlite_core::{RemoteStore, Replica, ReplicaOptions, Result};
use s3sqlite_testkit::{FaultyRemote, Op, memory_remote, read_remote, write_concurrently};

/// The app's code: records `name` in the `events` table of the database at
/// `remote`, keeping the local copy at `local`.
async fn record_event(remote: impl RemoteStore, local: &Path, name: &str) -> Result<()> {
    let mut replica = Replica::open(remote, ReplicaOptions::new().with_local_path(local)).await?;
    let conn = rusqlite::Connection::open(replica.local_path()).expect("open the local copy");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS events (name TEXT NOT NULL)")
        .expect("schema");
    conn.execute("INSERT INTO events (name) VALUES (?1)", [name])
        .expect("insert");
    drop(conn);
    replica.push().await?;
    Ok(())
}

fn event_names(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT name FROM events ORDER BY rowid")?
        .query_map([], |row| row.get(0))?
        .collect()
}

#[tokio::test]
async fn recorded_events_reach_the_remote() {
    let remote = Arc::new(memory_remote("events.db"));
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("events.db");

    record_event(Arc::clone(&remote), &local, "signup")
        .await
        .unwrap();
    record_event(Arc::clone(&remote), &local, "login")
        .await
        .unwrap();

    let names = read_remote(&*remote, event_names).await.unwrap();
    assert_eq!(names, ["signup", "login"]);
}

#[tokio::test]
async fn an_event_recorded_elsewhere_meanwhile_is_kept() {
    let remote = Arc::new(memory_remote("events.db"));
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("events.db");
    record_event(Arc::clone(&remote), &local, "signup")
        .await
        .unwrap();

    write_concurrently(
        Arc::clone(&remote),
        "INSERT INTO events (name) VALUES ('elsewhere')",
    )
    .await
    .unwrap();
    record_event(Arc::clone(&remote), &local, "login")
        .await
        .unwrap();

    let names = read_remote(&*remote, event_names).await.unwrap();
    assert_eq!(names, ["signup", "elsewhere", "login"]);
}

#[tokio::test]
async fn a_failed_upload_is_reported_and_the_event_goes_up_next_time() {
    let remote = Arc::new(FaultyRemote::new(memory_remote("events.db")));
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("events.db");
    remote.fail_nth(Op::Upload, 1);

    let err = record_event(Arc::clone(&remote), &local, "signup")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("request to memory:///"), "{err}");
    record_event(Arc::clone(&remote), &local, "login")
        .await
        .unwrap();

    let names = read_remote(&*remote, event_names).await.unwrap();
    assert_eq!(names, ["signup", "login"]);
    assert_eq!(remote.calls(Op::Upload), 2);
}
