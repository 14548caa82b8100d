//! Faults injected with the testkit's `FaultyRemote` at each step of a
//! transfer: no data is lost, and the next open is in a sane state.

mod common;

use std::sync::Arc;

use common::{is_injected, remote_values, seed, values, write};
use s3sqlite_core::{Replica, ReplicaOptions, Status, SyncAction};
use s3sqlite_testkit::{FaultyRemote, Fixture, Op};

s3sqlite_testkit::backend_tests!(
    failure_before_upload_loses_nothing,
    failure_during_upload_loses_nothing,
    failure_after_upload_before_record_loses_nothing,
    failure_during_download_leaves_no_local_file,
    overwrite_during_download_gets_the_newer_version,
    a_reset_connection_is_tried_again,
);

fn faulty(fx: &Fixture) -> Arc<FaultyRemote<s3sqlite_core::ObjectStoreRemote>> {
    Arc::new(FaultyRemote::new(fx.remote("db")))
}

async fn open(
    fx: &Fixture,
    remote: &Arc<FaultyRemote<s3sqlite_core::ObjectStoreRemote>>,
) -> s3sqlite_core::Result<Replica> {
    let options = ReplicaOptions::new().with_local_path(fx.local("a.db"));
    Replica::open(Arc::clone(remote), options).await
}

async fn failure_before_upload_loses_nothing(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = faulty(&fx);
    let mut a = open(&fx, &remote).await.unwrap();
    write(a.local_path(), &["mine"]);
    remote.fail_nth(Op::Upload, 1);
    assert!(is_injected(&a.push().await.unwrap_err()));
    assert_eq!(remote_values(&fx, "db").await, ["seed"]);
    drop(a);

    let mut a = open(&fx, &remote).await.unwrap();
    assert_eq!(a.status().await.unwrap(), Status::Ahead);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "mine"]);
}

async fn failure_during_upload_loses_nothing(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = faulty(&fx);
    let mut a = open(&fx, &remote).await.unwrap();
    write(a.local_path(), &["mine"]);
    remote.fail_upload_after(4096);
    assert!(is_injected(&a.push().await.unwrap_err()));
    assert_eq!(remote_values(&fx, "db").await, ["seed"]);
    assert_eq!(values(a.local_path()), ["seed", "mine"]);
    drop(a);

    let mut a = open(&fx, &remote).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Reused);
    assert!(a.opened().dirty);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "mine"]);
}

async fn failure_after_upload_before_record_loses_nothing(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = faulty(&fx);
    let mut a = open(&fx, &remote).await.unwrap();
    write(a.local_path(), &["mine"]);
    remote.fail_after_landing();
    assert!(is_injected(&a.push().await.unwrap_err()));
    assert_eq!(remote_values(&fx, "db").await, ["seed", "mine"]);
    drop(a);

    let mut a = open(&fx, &remote).await.unwrap();
    assert_eq!(a.status().await.unwrap(), Status::Clean);
    assert_eq!(values(a.local_path()), ["seed", "mine"]);
    let uploads = remote.calls(Op::Upload);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Unchanged);
    assert_eq!(remote.calls(Op::Upload), uploads);
}

async fn failure_during_download_leaves_no_local_file(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = faulty(&fx);
    remote.fail_download_after(100);
    let err = open(&fx, &remote).await.unwrap_err();
    assert!(is_injected(&err), "{err}");
    // the failed open removed what it created: the folder, the lock file,
    // the partial download
    assert!(!fx.local("a.db").parent().unwrap().exists());

    let a = open(&fx, &remote).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Downloaded);
    assert_eq!(values(a.local_path()), ["seed"]);
    assert_eq!(remote_values(&fx, "db").await, ["seed"]);
}

async fn overwrite_during_download_gets_the_newer_version(fx: Fixture) {
    seed(&fx, "db", &["v1"]).await;
    let newer = fx.dir().join("newer.db");
    write(&newer, &["v1", "v2"]);
    let remote = faulty(&fx);
    remote.overwrite_during_download(&newer);

    let a = open(&fx, &remote).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Downloaded);
    assert_eq!(values(a.local_path()), ["v1", "v2"]);
    assert!(
        remote.calls(Op::Download) >= 2,
        "the download was not restarted"
    );
    assert_eq!(remote_values(&fx, "db").await, ["v1", "v2"]);
}

async fn a_reset_connection_is_tried_again(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = faulty(&fx);
    // a download whose connection resets is fetched again
    remote.reset_nth(Op::Download, 1);
    let mut a = open(&fx, &remote).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Downloaded);
    assert_eq!(remote.calls(Op::Download), 2);

    // an upload whose connection resets before it lands is sent again
    write(a.local_path(), &["one"]);
    remote.reset_nth(Op::Upload, 1);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(remote.calls(Op::Upload), 2);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "one"]);

    // one that landed before the reset is sent again, refused on its
    // condition, and recognised as ours by its stamp: no conflict
    write(a.local_path(), &["two"]);
    remote.reset_after_landing();
    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "one", "two"]);
    assert_eq!(a.status().await.unwrap(), Status::Clean);

    // a connection that keeps resetting reaches the caller, changes kept
    write(a.local_path(), &["three"]);
    let before = remote.calls(Op::Upload);
    for n in 1..=3 {
        remote.reset_nth(Op::Upload, n);
    }
    let err = a.push().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(remote.calls(Op::Upload) - before, 3);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "one", "two"]);
    assert_eq!(a.status().await.unwrap(), Status::Ahead);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(
        remote_values(&fx, "db").await,
        ["seed", "one", "two", "three"]
    );
}
