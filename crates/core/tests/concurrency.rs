//! Many writers on one remote, on a real S3 server: every successful push
//! lands exactly one increment.
//!
//! The database is padded past 6 MiB so that a server whose conditional PUT
//! is not atomic (it checks `If-Match`, then writes without a lock) lets two
//! writers win one round and fails this test, instead of passing by luck as
//! small bodies often do.

use std::time::{Duration, Instant};

use rusqlite::Connection;
use s3sqlite_core::{KeepRemote, Replica, ReplicaOptions, SyncAction};
use s3sqlite_testkit::Fixture;

const TASKS: usize = 8;
const INCREMENTS: usize = 5;
const PADDING: i64 = 6 * 1024 * 1024 + 512 * 1024;
const DEADLINE: Duration = Duration::from_secs(600);

fn counter(path: &std::path::Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.query_row("SELECT n FROM counter", [], |row| row.get(0))
        .unwrap()
}

s3sqlite_testkit::backend_tests!(atomic: eight_writers_land_every_increment_exactly_once);

async fn eight_writers_land_every_increment_exactly_once(fx: Fixture) {
    let url = fx.url("counter.db");
    println!("concurrency test on {} ({url})", fx.backend());

    let mut seed = fx
        .open("counter.db", "seed.db", ReplicaOptions::new())
        .await
        .unwrap();
    {
        let conn = Connection::open(seed.local_path()).unwrap();
        conn.execute_batch(
            "CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0);
             CREATE TABLE pad (b BLOB NOT NULL);",
        )
        .unwrap();
        conn.execute("INSERT INTO pad VALUES (randomblob(?1))", [PADDING])
            .unwrap();
    }
    let seeded = seed.push().await.unwrap();
    assert!(seeded.bytes_up > 6 * 1024 * 1024, "{seeded}");
    drop(seed);

    let started = Instant::now();
    let mut writers = Vec::new();
    for i in 0..TASKS {
        let options = ReplicaOptions::new().with_local_path(fx.local(&format!("writer-{i}.db")));
        let replica = Replica::open(fx.remote("counter.db"), options)
            .await
            .unwrap();
        writers.push((replica, 0usize));
    }
    // rounds: every writer that still has increments to land pushes at the
    // same moment from the same base, so that on a server whose conditional
    // PUT is not atomic several of them win a round
    let (mut landed, mut conflicts, mut rounds) = (0, 0, 0);
    let racing = tokio::time::timeout(DEADLINE, async {
        while writers.iter().any(|(_, done)| *done < INCREMENTS) {
            rounds += 1;
            let pushes = writers.into_iter().map(|(mut replica, done)| {
                tokio::spawn(async move {
                    if done == INCREMENTS {
                        return (replica, done, None);
                    }
                    let conn = Connection::open(replica.local_path()).unwrap();
                    conn.execute("UPDATE counter SET n = n + 1", []).unwrap();
                    conn.close().unwrap();
                    // a lost race: take the winner's copy, and try again
                    let report = replica.push_with(KeepRemote).await.unwrap();
                    (replica, done, Some(report))
                })
            });
            writers = Vec::new();
            for pushed in futures_util::future::join_all(pushes).await {
                let (replica, mut done, report) = pushed.expect("writer task panicked");
                match report.map(|r| r.action) {
                    None => {}
                    Some(SyncAction::Uploaded) => {
                        done += 1;
                        landed += 1;
                    }
                    Some(SyncAction::KeptRemote) => conflicts += 1,
                    Some(other) => panic!("unexpected push outcome {other:?}"),
                }
                writers.push((replica, done));
            }
        }
    });
    racing
        .await
        .unwrap_or_else(|_| panic!("writers did not finish within {DEADLINE:?}"));
    println!(
        "{TASKS} writers landed {landed} pushes and retried {conflicts} conflicts in {rounds} rounds, {:.1?}",
        started.elapsed()
    );

    let reader = fx
        .open("counter.db", "reader.db", ReplicaOptions::new())
        .await
        .unwrap();
    let final_count = counter(reader.local_path());
    assert_eq!(landed, TASKS * INCREMENTS);
    assert_eq!(
        final_count as usize, landed,
        "the counter must equal the successful pushes: a lower count means two writers won one round"
    );
}
