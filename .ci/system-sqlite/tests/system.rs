//! The sqlx adapter without `bundled` links the system's libsqlite3 and
//! works: open, write, sync, a second pool pulls, close.

use s3sqlite_sqlx::{S3SqlitePool, SyncAction};

/// The version `pkg-config` reports for the system's SQLite.
fn system_version() -> String {
    let out = std::process::Command::new("pkg-config")
        .args(["--modversion", "sqlite3"])
        .output()
        .expect("pkg-config runs");
    assert!(out.status.success(), "pkg-config knows no sqlite3");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_runs_on_the_system_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/app.db", dir.path().display());
    let a = S3SqlitePool::builder(&url)
        .with_local_path(dir.path().join("a.db"))
        .connect()
        .await
        .unwrap();
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&a)
        .await
        .unwrap();
    println!("linked SQLite {version}, system SQLite {}", system_version());
    assert_eq!(version, system_version(), "not the system's SQLite");

    sqlx::query("CREATE TABLE notes (body TEXT NOT NULL)")
        .execute(&a)
        .await
        .unwrap();
    assert_eq!(a.sync().await.unwrap().action, SyncAction::Uploaded);
    let b = S3SqlitePool::builder(&url)
        .with_local_path(dir.path().join("b.db"))
        .connect()
        .await
        .unwrap();
    assert_eq!(b.opened().action, SyncAction::Downloaded);
    sqlx::query("INSERT INTO notes VALUES ('from a')")
        .execute(&a)
        .await
        .unwrap();
    assert_eq!(a.sync().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(b.pull().await.unwrap().action, SyncAction::Downloaded);
    let seen: Vec<String> = sqlx::query_scalar("SELECT body FROM notes")
        .fetch_all(&b)
        .await
        .unwrap();
    assert_eq!(seen, ["from a"]);
    a.close().await.unwrap();
    b.close().await.unwrap();
}
