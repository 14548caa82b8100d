//! Pulls while the pool is open and written: a write committed while a
//! pull downloads is never overwritten by the version it brings.

use std::sync::Arc;
use std::time::Duration;

use s3sqlite_sqlx::{Error, S3SqlitePool, SyncAction};
use s3sqlite_testkit::{Backend, FaultyRemote, Fixture, Op};

async fn count(db: &sqlx::SqlitePool, v: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM t WHERE v = ?")
        .bind(v)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Another writer moved the remote; while this pool's pull downloads the
/// new version (slowly), a row is written through the pool. The pull does
/// not write the downloaded version over that row: it ends as a push of
/// a changed copy would, with the pool's policy (here the default, a
/// conflict), and the row is still there, to go up with the next sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_write_during_a_pull_is_never_overwritten() {
    let fx = Fixture::new(Backend::Memory).await.unwrap();
    let theirs = S3SqlitePool::builder_for(fx.remote("db"))
        .with_local_path(fx.local("theirs.db"))
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (v TEXT NOT NULL)")
        .execute(&theirs)
        .await
        .unwrap();
    theirs.sync().await.unwrap();
    let faulty = Arc::new(FaultyRemote::new(fx.remote("db")));
    let ours = S3SqlitePool::builder_for(Arc::clone(&faulty))
        .with_local_path(fx.local("ours.db"))
        .connect()
        .await
        .unwrap();
    sqlx::query("INSERT INTO t (v) VALUES ('theirs')")
        .execute(&theirs)
        .await
        .unwrap();
    theirs.sync().await.unwrap();

    faulty.delay(Op::Download, Duration::from_millis(600));
    let pull = {
        let ours = ours.clone();
        tokio::spawn(async move { ours.pull().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query("INSERT INTO t (v) VALUES ('mine')")
        .execute(&ours)
        .await
        .unwrap();
    let pulled = pull.await.unwrap();
    println!("the pull: {pulled:?}");
    assert_eq!(count(&ours, "mine").await, 1, "the write was overwritten");
    match pulled {
        Err(Error::Sync(s3sqlite_sqlx::core::Error::Conflict { .. })) => {}
        Ok(report) => assert_ne!(report.action, SyncAction::Downloaded, "{report}"),
        Err(err) => panic!("{err}"),
    }
    faulty.heal();
    let closed = ours.close().await;
    assert!(
        matches!(
            closed,
            Err(Error::Sync(s3sqlite_sqlx::core::Error::Conflict { .. }))
        ),
        "{closed:?}"
    );
    theirs.close().await.unwrap();
}
