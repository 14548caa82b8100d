//! Read-only replicas: they follow the remote, never create, adopt or
//! upload, and need no write permission; a version that does not exist,
//! or a store that keeps none, says so.

mod common;

use std::path::{Path, PathBuf};

use common::{remote_values, seed, values, write};
use s3sqlite_core::{
    Error, LiveReplace, LiveSource, RemoteStore, Replica, ReplicaOptions, SyncAction, async_trait,
};
use s3sqlite_testkit::{Backend, Fixture, HttpLog};

s3sqlite_testkit::backend_tests!(
    a_read_only_replica_follows_the_remote,
    a_read_only_replica_never_creates_or_adopts,
    local_changes_are_never_uploaded_by_a_read_only_replica,
    an_unwritten_pull_builds_on_the_base_copy,
);

fn read_only() -> ReplicaOptions {
    ReplicaOptions::new().with_read_only(true)
}

/// Writes a database into the local copy by copying it over, as a live
/// replace would with no connection open.
struct CopyOver(PathBuf);

#[async_trait]
impl LiveReplace for CopyOver {
    async fn replace(&self, db: &Path) -> s3sqlite_core::Result<()> {
        std::fs::copy(db, &self.0).unwrap();
        Ok(())
    }
}

/// A follower's pull that takes its copy as unwritten builds the new
/// version on its base copy from the ranges that changed; a base copy
/// damaged on disk costs a whole download, never a wrong copy.
async fn an_unwritten_pull_builds_on_the_base_copy(fx: Fixture) {
    let mut writer = fx
        .open("db", "writer.db", ReplicaOptions::new())
        .await
        .unwrap();
    common::build(writer.local_path(), 5, 3);
    writer.push().await.unwrap();
    let size = std::fs::metadata(writer.local_path()).unwrap().len();
    let options = read_only().with_base_copy(true);
    let mut follower = fx.open("db", "follower.db", options).await.unwrap();
    let restore = CopyOver(follower.local_path().to_owned());
    let unmoved = refresh(&mut follower, &restore).await;
    assert_eq!(unmoved.action, SyncAction::Reused, "{unmoved}");

    common::update(writer.local_path(), 1, "first change");
    writer.push().await.unwrap();
    let pulled = refresh(&mut follower, &restore).await;
    assert_eq!(pulled.action, SyncAction::Downloaded, "{pulled}");
    assert!(pulled.bytes_down < size / 8, "{pulled}");
    assert_eq!(row(follower.local_path(), 1), "first change");

    let copies: Vec<_> = std::fs::read_dir(fx.local(""))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.to_string_lossy()
                .contains("follower.db.s3sqlite-base-")
        })
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let mut damaged = std::fs::read(&copies[0]).unwrap();
    damaged[2 << 20] ^= 0xff;
    std::fs::write(&copies[0], damaged).unwrap();
    common::update(writer.local_path(), 2, "second change");
    writer.push().await.unwrap();
    let pulled = refresh(&mut follower, &restore).await;
    assert_eq!(pulled.action, SyncAction::Downloaded, "{pulled}");
    assert!(pulled.bytes_down >= size, "a whole download: {pulled}");
    assert_eq!(row(follower.local_path(), 1), "first change");
    assert_eq!(row(follower.local_path(), 2), "second change");
    assert_eq!(
        std::fs::read(follower.local_path()).unwrap(),
        std::fs::read(writer.local_path()).unwrap()
    );
}

/// A follower's pull, its copy taken as unwritten.
async fn refresh(follower: &mut Replica, restore: &CopyOver) -> s3sqlite_core::SyncReport {
    follower
        .pull_live(LiveSource::Unwritten, restore, None)
        .await
        .unwrap()
}

/// The value of row `id` of table `t(id, v)` in the database at `path`.
fn row(path: &Path, id: i64) -> String {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT v FROM t WHERE id = ?1", [id], |r| r.get(0))
        .unwrap()
}

/// A writable replica's copy is never taken as unwritten: its pull and
/// push with that source are `Error::NotUnwritten`, naming the URL and
/// the path, and the local changes stay, to go up with the next push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_writable_copy_is_never_taken_as_unwritten() {
    let fx = Fixture::new(Backend::Memory).await.unwrap();
    seed(&fx, "db", &["one"]).await;
    let mut writer = fx
        .open("db", "writer.db", ReplicaOptions::new())
        .await
        .unwrap();
    write(writer.local_path(), &["mine"]);
    let restore = CopyOver(writer.local_path().to_owned());
    let err = writer
        .pull_live(LiveSource::Unwritten, &restore, None)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::NotUnwritten { .. }), "{err:?}");
    assert!(message.contains(&fx.url("db")), "{message}");
    assert!(
        message.contains(&writer.local_path().display().to_string()),
        "{message}"
    );
    let err = writer
        .push_live(LiveSource::Unwritten, &restore)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotUnwritten { .. }), "{err:?}");
    assert_eq!(values(writer.local_path()), ["one", "mine"]);
    let pushed = writer.push().await.unwrap();
    assert_eq!(pushed.action, SyncAction::Uploaded, "{pushed}");
    assert_eq!(remote_values(&fx, "db").await, ["one", "mine"]);
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

/// A read-only replica on LocalStack, opened on a remote holding one row,
/// whose requests `log` records.
async fn logged_follower() -> (Fixture, HttpLog, Replica) {
    let fx = Fixture::new(Backend::LocalStack).await.unwrap();
    seed(&fx, "db", &["one"]).await;
    let log = HttpLog::new();
    let options = read_only().with_local_path(fx.local("follower.db"));
    let follower = Replica::open(fx.logged_remote("db", &log), options)
        .await
        .unwrap();
    (fx, log, follower)
}

/// A read-only replica sends only GETs and HEADs: its open, a pull of a
/// new version and a push of its unchanged copy, request by request, on
/// a real S3 server. (A writable open may also abort an upload a killed
/// push left, which needs a permission a reader does not have.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_read_only_replica_sends_only_reads() {
    let (fx, log, mut follower) = logged_follower().await;
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

/// A pull taking a follower's copy as unwritten, of a remote that did not
/// move, is one HEAD, on a real S3 server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_an_unwritten_pull_of_an_unmoved_remote_is_one_head() {
    let (_fx, log, mut follower) = logged_follower().await;
    let restore = CopyOver(follower.local_path().to_owned());
    log.clear();
    let report = refresh(&mut follower, &restore).await;
    assert_eq!(report.action, SyncAction::Reused, "{report}");
    let exchanges = log.exchanges();
    let methods: Vec<_> = exchanges.iter().map(|e| e.method.as_str()).collect();
    assert_eq!(methods, ["HEAD"], "{}", common::show(&exchanges));
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
