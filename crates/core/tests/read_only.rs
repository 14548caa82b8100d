//! Read-only replicas: they follow the remote, never create, adopt or
//! upload, and need no write permission; a version that does not exist,
//! or a store that keeps none, says so.

mod common;

use common::{remote_values, seed, values, write};
use s3sqlite_core::{Error, RemoteStore, Replica, ReplicaOptions, SyncAction};
use s3sqlite_testkit::{Backend, Fixture, HttpLog};

s3sqlite_testkit::backend_tests!(
    a_read_only_replica_follows_the_remote,
    a_read_only_replica_never_creates_or_adopts,
    local_changes_are_never_uploaded_by_a_read_only_replica,
);

fn read_only() -> ReplicaOptions {
    ReplicaOptions::new().with_read_only(true)
}

/// Opened and pulled, a read-only replica brings each new version down,
/// as any replica does; its push of an unchanged copy sends nothing.
async fn a_read_only_replica_follows_the_remote(fx: Fixture) {
    seed(&fx, "db", &["one"]).await;
    let mut follower = fx.open("db", "follower.db", read_only()).await.unwrap();
    assert_eq!(follower.opened().action, SyncAction::Downloaded);
    assert_eq!(values(follower.local_path()), ["one"]);

    seed(&fx, "db", &["one", "two"]).await;
    let pulled = follower.pull().await.unwrap();
    assert_eq!(pulled.action, SyncAction::Downloaded, "{pulled}");
    assert_eq!(values(follower.local_path()), ["one", "two"]);
    let pushed = follower.push().await.unwrap();
    assert_eq!(pushed.action, SyncAction::Unchanged, "{pushed}");
}

/// A missing remote is `RemoteNotFound`, whatever `create_if_missing`
/// says, and a local file s3sqlite does not track is not adopted: in
/// both cases nothing is left behind or uploaded.
async fn a_read_only_replica_never_creates_or_adopts(fx: Fixture) {
    let err = fx
        .open("db", "a.db", read_only().with_create_if_missing(true))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RemoteNotFound { .. }), "{err:?}");
    assert!(!fx.local("a.db").exists());

    std::fs::create_dir_all(fx.local("")).unwrap();
    write(&fx.local("mine.db"), &["mine"]);
    let err = fx.open("db", "mine.db", read_only()).await.unwrap_err();
    assert!(matches!(err, Error::RemoteNotFound { .. }), "{err:?}");
    assert_eq!(values(&fx.local("mine.db")), ["mine"]);
    assert!(fx.remote("db").head().await.unwrap().is_none());
}

/// A local copy changed behind a read-only replica's back: its push is
/// `Error::ReadOnly` naming the URL and the path, as is a pull once the
/// remote moved, and the remote keeps its content.
async fn local_changes_are_never_uploaded_by_a_read_only_replica(fx: Fixture) {
    seed(&fx, "db", &["one"]).await;
    let mut follower = fx.open("db", "follower.db", read_only()).await.unwrap();
    write(follower.local_path(), &["changed here"]);
    let err = follower.push().await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
    assert!(message.contains(&fx.url("db")), "{message}");
    assert!(
        message.contains(&follower.local_path().display().to_string()),
        "{message}"
    );

    seed(&fx, "db", &["one", "two"]).await;
    let err = follower.pull().await.unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
    assert_eq!(remote_values(&fx, "db").await, ["one", "two"]);
    assert_eq!(values(follower.local_path()), ["one", "changed here"]);
}

/// A read-only replica sends only GETs and HEADs: its open, a pull of a
/// new version and a push of its unchanged copy, request by request, on
/// a real S3 server. (A writable open may also abort an upload a killed
/// push left, which needs a permission a reader does not have.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_read_only_replica_sends_only_reads() {
    let fx = Fixture::new(Backend::LocalStack).await.unwrap();
    seed(&fx, "db", &["one"]).await;
    let log = HttpLog::new();
    let options = read_only().with_local_path(fx.local("follower.db"));
    let mut follower = Replica::open(fx.logged_remote("db", &log), options)
        .await
        .unwrap();
    seed(&fx, "db", &["one", "two"]).await;
    follower.pull().await.unwrap();
    follower.push().await.unwrap();
    let exchanges = log.exchanges();
    assert!(
        exchanges.iter().any(|e| e.method == "GET"),
        "{}",
        common::show(&exchanges)
    );
    let writes: Vec<_> = exchanges
        .iter()
        .filter(|e| e.method != "GET" && e.method != "HEAD")
        .cloned()
        .collect();
    assert!(writes.is_empty(), "{}", common::show(&writes));
}

/// `file://` keeps no versions: opening one is `Error::NoVersions`, and
/// nothing is written locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_opening_a_version_says_the_store_keeps_none() {
    let fx = Fixture::new(Backend::File).await.unwrap();
    seed(&fx, "db", &["one"]).await;
    let err = fx
        .open("db", "v.db", ReplicaOptions::new().with_version("2"))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::NoVersions { .. }), "{err:?}");
    assert!(message.contains(&fx.url("db")), "{message}");
    assert!(!fx.local("v.db").exists());
}
