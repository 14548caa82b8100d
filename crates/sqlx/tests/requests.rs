//! The requests of a cold open through the pool: one GET for a database of
//! one part, and no HEAD, as through the engine itself.

use s3sqlite_sqlx::{S3SqlitePool, SyncAction};
use s3sqlite_testkit::{Fixture, HttpLog, seed_remote};

s3sqlite_testkit::backend_tests!(requests: a_cold_open_of_one_part_is_one_get);

async fn a_cold_open_of_one_part_is_one_get(fx: Fixture) {
    seed_remote(&fx.remote("app.db"), |conn| {
        conn.execute_batch("CREATE TABLE t (v TEXT NOT NULL); INSERT INTO t VALUES ('one')")
    })
    .await
    .unwrap();
    let log = HttpLog::new();
    let pool = S3SqlitePool::builder_for(fx.logged_remote("app.db", &log))
        .with_local_path(fx.local("a.db"))
        .connect()
        .await
        .unwrap();
    assert_eq!(pool.opened().action, SyncAction::Downloaded);
    let exchanges = log.exchanges();
    println!(
        "{}: cold open through the pool: {exchanges:#?}",
        fx.backend()
    );
    let methods: Vec<&str> = exchanges.iter().map(|e| e.method.as_str()).collect();
    assert_eq!(methods, ["GET"], "{exchanges:#?}");
    let v: String = sqlx::query_scalar("SELECT v FROM t")
        .fetch_one(&*pool)
        .await
        .unwrap();
    assert_eq!(v, "one");
    pool.close().await.unwrap();
}
