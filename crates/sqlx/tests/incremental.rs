//! A pool's `sync()` with incremental upload `On` sends only the parts its
//! change touched while the pool stays open, and another pool reads the
//! row. On LocalStack, which refuses a stale base on completion (no local
//! server commits it atomically against racing writers: `On` is for stores
//! you vouch for).

use s3sqlite_sqlx::{IncrementalUpload, S3SqlitePool, SyncAction};
use s3sqlite_testkit::{Backend, Fixture, pad_database, seed_remote};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_sends_only_the_changed_parts() {
    let fx = Fixture::new(Backend::LocalStack)
        .await
        .unwrap_or_else(|e| panic!("this test needs LocalStack: {e}"));
    seed_remote(&fx.remote("db"), |conn| {
        pad_database(conn, 32)?;
        conn.execute_batch("CREATE TABLE users (name TEXT NOT NULL)")
    })
    .await
    .unwrap();
    let pool = |local: &str| {
        S3SqlitePool::builder_for(fx.remote("db"))
            .with_local_path(fx.local(local))
            .with_incremental_upload(IncrementalUpload::On)
    };
    let a = pool("a.db").connect().await.unwrap();
    sqlx::query("INSERT INTO users (name) VALUES ('ada')")
        .execute(&*a)
        .await
        .unwrap();
    let synced = a.sync().await.unwrap();
    println!("sync: {synced}");
    assert_eq!(synced.action, SyncAction::Uploaded);
    assert!((1..=2).contains(&synced.parts_sent), "{synced}");
    assert!(synced.parts_copied >= 2, "{synced}");
    assert!(synced.bytes_up < 17 << 20, "{synced}");

    let b = pool("b.db").connect().await.unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM users")
        .fetch_all(&*b)
        .await
        .unwrap();
    assert_eq!(names, ["ada"]);
    b.close().await.unwrap();
    a.close().await.unwrap();
}
