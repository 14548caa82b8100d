//! A `SyncedConnection` as a follower: read-only, refreshed between
//! statements when its period has passed, on every backend.

use std::time::{Duration, Instant};

use rusqlite::Connection;
use s3sqlite_rusqlite::{RemoteStore, SyncAction, SyncedConnection, SyncedConnectionBuilder};
use s3sqlite_testkit::{Fixture, seed_remote};

s3sqlite_testkit::backend_tests!(
    a_follower_brings_each_push_in_between_statements,
    a_follower_refuses_writes_and_uploads_nothing,
);

fn builder(fx: &Fixture, local: &str) -> SyncedConnectionBuilder {
    SyncedConnection::builder_for(fx.remote("db")).with_local_path(fx.local(local))
}

fn count(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .unwrap()
}

async fn seed(fx: &Fixture, mib: u64) {
    seed_remote(&fx.remote("db"), |conn| {
        s3sqlite_testkit::pad_database(conn, mib)?;
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    })
    .await
    .unwrap();
}

/// A writer pushes five rows, one at a time, to an 8 MiB database; after
/// each, the follower, asked between statements, refreshes once its
/// period has passed and shows the row, downloading only what changed.
/// Asked again at once, it finds nothing new. Closed and reopened after
/// another push, it opens at that push.
async fn a_follower_brings_each_push_in_between_statements(fx: Fixture) {
    seed(&fx, 8).await;
    let (w, f) = (builder(&fx, "writer.db"), builder(&fx, "follower.db"));
    let reopen = builder(&fx, "follower.db");
    let (freshness, opened) = tokio::task::spawn_blocking(move || {
        let mut writer = w.open().unwrap();
        let period = Duration::from_millis(100);
        let mut follower = f.with_refresh_every(period).open().unwrap();
        let opened = follower.freshness().unwrap();
        for id in 1..=5 {
            writer
                .execute("INSERT INTO t (id) VALUES (?1)", [id])
                .unwrap();
            writer.sync().unwrap();
            let asked = Instant::now();
            let report = loop {
                if let Some(report) = follower.refresh_if_due().unwrap() {
                    break report;
                }
                assert!(
                    asked.elapsed() < Duration::from_secs(5),
                    "no refresh came due"
                );
                std::thread::sleep(Duration::from_millis(10));
            };
            assert_eq!(report.action, SyncAction::Downloaded, "{report}");
            assert_eq!(count(&follower), id);
            // due again one period after this refresh started: nothing new
            if let Some(again) = follower.refresh_if_due().unwrap() {
                assert_eq!(again.action, SyncAction::Reused, "{again}");
                assert_eq!(again.bytes_down, 0, "{again}");
            }
        }
        let freshness = follower.freshness().unwrap();
        assert_eq!(follower.close().unwrap().action, SyncAction::Unchanged);
        // reopened once the writer moved on: the copy the refreshes left
        // is recognised as the version it holds, and brought up to date
        writer.execute("INSERT INTO t (id) VALUES (6)", []).unwrap();
        writer.sync().unwrap();
        let follower = reopen.with_refresh_every(period).open().unwrap();
        assert_eq!(follower.opened_action(), SyncAction::Downloaded);
        assert_eq!(count(&follower), 6);
        follower.close().unwrap();
        writer.close().unwrap();
        (freshness, opened)
    })
    .await
    .unwrap();
    println!("follower: {freshness}");
    assert!(opened.age().is_none(), "{opened}");
    assert!(freshness.refreshes >= 5, "{freshness}");
    assert_eq!(freshness.failures, 0, "{freshness}");
    assert!(freshness.age().unwrap() < Duration::from_secs(5));
    // each push stored a manifest: 5 refreshes of 8 MiB fetch a few leaves
    assert!(
        freshness.bytes_down < 2 << 20,
        "downloaded {} bytes for 5 one-row changes",
        freshness.bytes_down
    );
}

/// A follower's connection is read-only: a write fails with SQLite's own
/// error, and its close uploads nothing.
async fn a_follower_refuses_writes_and_uploads_nothing(fx: Fixture) {
    seed(&fx, 0).await;
    let f = builder(&fx, "follower.db").with_refresh_every(Duration::from_millis(10));
    let before = fx.remote("db");
    let before = before.head().await.unwrap().unwrap();
    tokio::task::spawn_blocking(move || {
        let follower = f.open().unwrap();
        let err = follower
            .execute("INSERT INTO t (id) VALUES (1)", [])
            .unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
        let closed = follower.close();
        assert!(
            matches!(&closed, Ok(report) if report.action == SyncAction::Unchanged),
            "{closed:?}"
        );
    })
    .await
    .unwrap();
    let after = fx.remote("db").head().await.unwrap().unwrap();
    assert!(after.same_object(&before), "the remote moved");
}
