//! Pushes bounded by a deadline (an AWS Lambda invocation's remaining time):
//! one that cannot make it fails before it sends anything, one the deadline
//! overtakes stops cleanly, and either way the next push uploads.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{remote_values, seed, values, write};
use s3sqlite_core::{Error, ObjectStoreRemote, Replica, ReplicaOptions, Status, SyncAction};
use s3sqlite_testkit::{FaultyRemote, Fixture, Op};

s3sqlite_testkit::backend_tests!(
    a_push_that_cannot_make_it_fails_before_sending,
    a_push_the_deadline_overtakes_stops_and_the_next_one_uploads,
);

type Faulty = Arc<FaultyRemote<ObjectStoreRemote>>;

async fn open(fx: &Fixture, remote: &Faulty, local: &str) -> Replica {
    let options = ReplicaOptions::new().with_local_path(fx.local(local));
    Replica::open(Arc::clone(remote), options).await.unwrap()
}

/// Grows the local database by about `bytes` in one row.
fn grow(path: &std::path::Path, bytes: usize) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS pad (b BLOB NOT NULL)")
        .unwrap();
    conn.execute("INSERT INTO pad VALUES (zeroblob(?1))", [bytes as i64])
        .unwrap();
}

async fn a_push_that_cannot_make_it_fails_before_sending(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote: Faulty = Arc::new(FaultyRemote::new(fx.remote("db")));
    // every upload takes at least 200 ms: the pace the replica learns
    remote.delay(Op::Upload, Duration::from_millis(200));
    let mut replica = open(&fx, &remote, "a.db").await;
    write(replica.local_path(), &["first"]);
    replica.push().await.unwrap();
    let uploads = remote.calls(Op::Upload);

    // 4 MiB more, with 50 ms left: at the pace seen (8 KiB in 200 ms) it
    // would take minutes
    write(replica.local_path(), &["second"]);
    grow(replica.local_path(), 4 << 20);
    let started = Instant::now();
    let deadline = started + Duration::from_millis(50);
    let err = replica.push_by(deadline).await.unwrap_err();
    let took = started.elapsed();
    println!("{}: {err} (after {took:?})", fx.backend());
    let Error::DeadlineTooShort {
        size, needed, left, ..
    } = &err
    else {
        panic!("expected DeadlineTooShort, got {err:?}");
    };
    assert!(*size > 4 << 20 && needed > left, "{err}");
    assert!(
        Instant::now() < deadline,
        "the error came after the deadline: {took:?}"
    );
    assert_eq!(remote.calls(Op::Upload), uploads, "something was sent");
    assert_eq!(remote_values(&fx, "db").await, ["seed", "first"]);
    assert_eq!(values(replica.local_path()), ["seed", "first", "second"]);
    assert_eq!(replica.status().await.unwrap(), Status::Ahead);

    // the next push, with time enough by the pace seen, uploads
    let enough = *needed + Duration::from_secs(60);
    let report = replica.push_by(Instant::now() + enough).await.unwrap();
    assert_eq!(report.action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "first", "second"]);
}

async fn a_push_the_deadline_overtakes_stops_and_the_next_one_uploads(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote: Faulty = Arc::new(FaultyRemote::new(fx.remote("db")));
    let mut replica = open(&fx, &remote, "a.db").await;
    // from now on an upload takes 2 s, which the replica has not seen
    remote.delay(Op::Upload, Duration::from_secs(2));
    write(replica.local_path(), &["mine"]);
    let started = Instant::now();
    let err = replica
        .push_by(started + Duration::from_millis(300))
        .await
        .unwrap_err();
    let took = started.elapsed();
    println!("{}: {err}", fx.backend());
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
    assert!(took < Duration::from_secs(1), "stopped after {took:?}");
    assert_eq!(remote_values(&fx, "db").await, ["seed"]);
    assert_eq!(values(replica.local_path()), ["seed", "mine"]);
    assert_eq!(replica.status().await.unwrap(), Status::Ahead);
    drop(replica);

    // the next invocation: a new process opens the same path and pushes
    let mut replica = open(&fx, &remote, "a.db").await;
    assert_eq!(replica.opened().action, SyncAction::Reused);
    assert_eq!(replica.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "mine"]);
}
