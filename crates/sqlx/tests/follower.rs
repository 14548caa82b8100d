//! Followers: read-only pools that bring a writer's pushes in by
//! themselves, while their queries go on, downloading only what changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use s3sqlite_sqlx::{Error, IncrementalUpload, RemoteStore, S3SqlitePool, SyncAction};
use s3sqlite_testkit::{Backend, FaultyRemote, Fixture, Op, seed_remote};

async fn fixture(backend: Backend) -> Fixture {
    Fixture::new(backend)
        .await
        .unwrap_or_else(|e| panic!("{backend} fixture: {e}"))
}

/// Puts a database of about `mib` MiB with an empty table `t(id)` on the
/// remote `db`.
async fn seed(fx: &Fixture, mib: u64) {
    seed_remote(&fx.remote("db"), |conn| {
        s3sqlite_testkit::pad_database(conn, mib)?;
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT NOT NULL)")
    })
    .await
    .unwrap();
}

async fn count(db: &sqlx::SqlitePool) -> std::result::Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(db)
        .await
}

/// The follower scenario on LocalStack: a writer pushes a one-row
/// change every second for 30 seconds to a 64 MiB database; a follower
/// refreshing every 500 ms shows each push within 1.5 s of the push's
/// return; a reader querying the follower throughout never fails and
/// never sees the row count go down; the follower's refreshes download a
/// few MiB in all, not 30 copies of the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_follower_holds_each_push_within_a_second_and_a_half() {
    const PUSHES: i64 = 30;
    let fx = fixture(Backend::LocalStack).await;
    seed(&fx, 64).await;
    let writer = S3SqlitePool::builder_for(fx.remote("db"))
        .with_local_path(fx.local("writer.db"))
        .with_incremental_upload(IncrementalUpload::On)
        .connect()
        .await
        .unwrap();
    let follower = S3SqlitePool::builder_for(fx.remote("db"))
        .with_local_path(fx.local("follower.db"))
        .with_refresh_every(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let opened = follower.opened().bytes_down;

    // the reader: the first time it saw each count, and how many queries
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (db, stop) = (follower.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut seen: Vec<(i64, Instant)> = Vec::new();
            let mut queries = 0u64;
            let mut last = 0;
            while !stop.load(Ordering::SeqCst) {
                let now = count(&db).await.expect("a follower's query failed");
                queries += 1;
                assert!(now >= last, "the row count went from {last} down to {now}");
                if now > last {
                    seen.push((now, Instant::now()));
                    last = now;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (seen, queries)
        })
    };

    let mut pushed: Vec<(i64, Instant, Duration)> = Vec::new();
    let mut pushes = tokio::time::interval(Duration::from_secs(1));
    for id in 1..=PUSHES {
        pushes.tick().await;
        sqlx::query("INSERT INTO t (id, at) VALUES (?, datetime())")
            .bind(id)
            .execute(&writer)
            .await
            .unwrap();
        let started = Instant::now();
        let report = writer.sync().await.unwrap();
        assert_eq!(report.action, SyncAction::Uploaded, "{report}");
        pushed.push((id, Instant::now(), started.elapsed()));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    let (seen, queries) = reader.await.unwrap();

    let lags: Vec<Duration> = pushed
        .iter()
        .map(|(rows, at, _)| {
            let shown = seen.iter().find(|(count, _)| count >= rows);
            shown.map_or(Duration::MAX, |(_, when)| {
                when.saturating_duration_since(*at)
            })
        })
        .collect();
    let worst = lags.iter().max().copied().unwrap_or_default();
    println!("lags after each push: {lags:.2?}");
    println!(
        "push times: {:.2?}",
        pushed.iter().map(|(_, _, took)| *took).collect::<Vec<_>>()
    );
    assert!(
        worst <= Duration::from_millis(1500),
        "a push was shown {worst:?} after it returned"
    );
    let freshness = follower.freshness().expect("a follower");
    let slowest_push = pushed.iter().map(|(_, _, took)| *took).max().unwrap();
    println!(
        "follower: {PUSHES} pushes to a 64 MiB database; worst lag {worst:.2?} (slowest push \
         {slowest_push:.2?}); {queries} reader queries, none failed; {} refreshes downloaded \
         {:.2} MiB in all ({opened} bytes at the open); {freshness}",
        freshness.refreshes,
        freshness.bytes_down as f64 / f64::from(1 << 20),
    );
    assert!(
        freshness.bytes_down <= 8 << 20,
        "the refreshes downloaded {} bytes",
        freshness.bytes_down
    );
    assert_eq!(count(&follower).await.unwrap(), PUSHES);
    follower.close().await.unwrap();
    writer.close().await.unwrap();
}

/// A follower's writing statement fails, and nothing is uploaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_follower_refuses_writes() {
    let fx = fixture(Backend::Memory).await;
    seed(&fx, 0).await;
    let before = fx.remote("db").head().await.unwrap();
    let follower = S3SqlitePool::builder_for(fx.remote("db"))
        .with_local_path(fx.local("follower.db"))
        .with_refresh_every(Duration::from_millis(50))
        .connect()
        .await
        .unwrap();
    let err = sqlx::query("INSERT INTO t (id, at) VALUES (1, 'now')")
        .execute(&*follower)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
    let report = follower.close().await.unwrap();
    assert_eq!(report.action, SyncAction::Unchanged, "{report}");
    let after = fx.remote("db").head().await.unwrap();
    assert!(
        after.unwrap().same_object(&before.unwrap()),
        "the remote moved"
    );
}

/// Refreshes that fail (the store refuses every GET and HEAD) keep the
/// follower's data and its queries working, are counted in its freshness
/// with the error, and back off; once the store answers again, the next
/// refresh brings the writer's push in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_failed_refreshes_keep_the_data_and_back_off() {
    let fx = fixture(Backend::Memory).await;
    seed(&fx, 0).await;
    let faulty = Arc::new(FaultyRemote::new(fx.remote("db")));
    let follower = S3SqlitePool::builder_for(Arc::clone(&faulty))
        .with_local_path(fx.local("follower.db"))
        .with_refresh_every(Duration::from_millis(50))
        .connect()
        .await
        .unwrap();
    let writer = S3SqlitePool::builder_for(fx.remote("db"))
        .with_local_path(fx.local("writer.db"))
        .connect()
        .await
        .unwrap();
    sqlx::query("INSERT INTO t (id, at) VALUES (1, 'now')")
        .execute(&writer)
        .await
        .unwrap();

    faulty.fail_every(Op::Head);
    writer.sync().await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let freshness = follower.freshness().unwrap();
    println!("while the store fails: {freshness}");
    assert!(freshness.failures >= 2, "{freshness}");
    // backing off: 50, 100, 200, 400 ms… so at most 4 attempts in 700 ms
    assert!(freshness.failures <= 4, "{freshness}");
    assert!(freshness.last_error.is_some(), "{freshness}");
    assert_eq!(count(&follower).await.unwrap(), 0, "the data held stays");
    assert!(matches!(
        follower.take_background_error(),
        Some(Error::Sync(_))
    ));

    faulty.heal();
    let report = follower.pull().await.unwrap();
    assert_eq!(report.action, SyncAction::Downloaded, "{report}");
    assert_eq!(count(&follower).await.unwrap(), 1);
    let freshness = follower.freshness().unwrap();
    assert_eq!(freshness.failures, 0, "{freshness}");
    assert!(freshness.last_error.is_none(), "{freshness}");
    assert!(freshness.age().unwrap() < Duration::from_secs(1));
    follower.close().await.unwrap();
    writer.close().await.unwrap();
}
