//! The versions a bucket with versioning keeps of a database: listed newest
//! first with the stamp each push stored, each downloadable pinned to its
//! version id, each restorable as a new version unless a push came first;
//! a store that keeps no versions says so.

use s3sqlite_core::{
    ContentHash, Error, RemoteStore, RemoteVersion, Replica, ReplicaOptions, SyncAction,
    TransferOptions, history,
};
use s3sqlite_testkit::{Backend, Fixture, HttpLog, enable_versioning};

mod common;

async fn fixture(backend: Backend) -> Fixture {
    Fixture::new(backend)
        .await
        .unwrap_or_else(|e| panic!("{backend} fixture: {e}"))
}

/// A first push and five more on a bucket with versioning: the six are
/// listed newest first, each with its version id, size and the content
/// hash its push stored; the second, downloaded pinned to its id, holds
/// the rows it held then and hashes to its stamp.
async fn every_push_is_listed_newest_first_with_its_hash(backend: Backend) {
    let fx = fixture(backend).await;
    enable_versioning(&fx)
        .await
        .unwrap_or_else(|e| panic!("{backend}: versioning: {e}"));
    let mut replica = fx
        .open("app.db", "writer.db", ReplicaOptions::new())
        .await
        .unwrap();
    let mut pushed: Vec<RemoteVersion> = Vec::new();
    for round in 0..6 {
        common::write(replica.local_path(), &[&format!("row {round}")]);
        replica
            .push()
            .await
            .unwrap_or_else(|e| panic!("{backend}: push {round}: {e}"));
        pushed.push(fx.remote("app.db").head().await.unwrap().unwrap());
    }

    let listed = fx.remote("app.db").versions().await.unwrap();
    let ids = |versions: &[RemoteVersion]| -> Vec<Option<String>> {
        versions.iter().map(|v| v.version.clone()).collect()
    };
    let newest_first: Vec<RemoteVersion> = pushed.iter().rev().cloned().collect();
    assert_eq!(ids(&listed), ids(&newest_first), "{backend}: {listed:#?}");
    for (seen, want) in listed.iter().zip(&newest_first) {
        assert_eq!(seen.size, want.size, "{backend}");
        let stamp = seen
            .stamp
            .as_ref()
            .expect("a version s3sqlite wrote has its stamp");
        let want_stamp = want.stamp.as_ref().unwrap();
        assert_eq!(stamp.content_hash, want_stamp.content_hash, "{backend}");
        assert!(seen.last_modified.is_some(), "{backend}: {seen:?}");
    }
    println!("{backend}: {} versions listed, newest first", listed.len());

    let second = &listed[listed.len() - 2];
    let dest = fx.local("second.db");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fx.remote("app.db")
        .download(&dest, second, &TransferOptions::default())
        .await
        .unwrap();
    let bytes = std::fs::read(&dest).unwrap();
    let stamp = second.stamp.as_ref().unwrap();
    assert_eq!(
        ContentHash::of_bytes(&bytes),
        stamp.content_hash,
        "{backend}"
    );
    assert_eq!(common::values(&dest), ["row 0", "row 1"], "{backend}");
}

/// Three pushes on a bucket with versioning; what each left, newest last.
async fn three_versions(fx: &Fixture) -> Vec<RemoteVersion> {
    enable_versioning(fx)
        .await
        .unwrap_or_else(|e| panic!("{}: versioning: {e}", fx.backend()));
    let mut replica = fx
        .open("app.db", "writer.db", ReplicaOptions::new())
        .await
        .unwrap();
    for round in 0..3 {
        common::write(replica.local_path(), &[&format!("row {round}")]);
        replica.push().await.unwrap();
    }
    let mut versions = fx.remote("app.db").versions().await.unwrap();
    versions.reverse();
    versions
}

/// Restoring the first version makes its content current again as a new
/// version: the current object's bytes hash to the first version's stamp,
/// its rows are the first version's, and the history grew by one.
async fn a_restore_makes_an_earlier_version_current_again(backend: Backend) {
    let fx = fixture(backend).await;
    let versions = three_versions(&fx).await;
    let remote = fx.remote("app.db");
    let scratch = tempfile::tempdir().unwrap();
    let transfer = TransferOptions::default();
    let restored = history::restore(&remote, &versions[0], scratch.path(), &transfer)
        .await
        .unwrap_or_else(|e| panic!("{backend}: restore: {e}"));
    let current = remote.head().await.unwrap().unwrap();
    assert!(
        current.same_object(&restored),
        "{backend}: {current:?} {restored:?}"
    );
    let first_hash = versions[0].stamp.as_ref().unwrap().content_hash;
    assert_eq!(current.stamp.as_ref().unwrap().content_hash, first_hash);
    assert_eq!(
        ContentHash::of_bytes(&common::remote_bytes(&fx, "app.db").await),
        first_hash
    );
    assert_eq!(common::remote_values(&fx, "app.db").await, ["row 0"]);
    assert_eq!(remote.versions().await.unwrap().len(), 4, "{backend}");
    assert_eq!(
        std::fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "a temp file was left"
    );
}

/// A restore stores the manifest of what it made current, as a push
/// does: a replica one version behind pulls the restored version as the
/// ranges that differ, not the whole 8 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_replica_behind_a_restore_fetches_only_what_changed() {
    let fx = fixture(Backend::LocalStack).await;
    enable_versioning(&fx).await.unwrap();
    let mut writer = fx
        .open("app.db", "writer.db", ReplicaOptions::new())
        .await
        .unwrap();
    common::build(writer.local_path(), 8, 10);
    writer.push().await.unwrap();
    common::update(writer.local_path(), 1, "changed");
    writer.push().await.unwrap();
    let mut reader = fx
        .open("app.db", "reader.db", ReplicaOptions::new())
        .await
        .unwrap();
    let remote = fx.remote("app.db");
    let versions = remote.versions().await.unwrap();
    let first = &versions[1];
    let scratch = tempfile::tempdir().unwrap();
    history::restore(&remote, first, scratch.path(), &TransferOptions::default())
        .await
        .unwrap();
    let hash = first.stamp.as_ref().unwrap().content_hash;
    assert!(remote.get_manifest(&hash).await.unwrap().is_some());

    let report = reader.pull().await.unwrap();
    println!("LocalStack: pull after a restore: {report}");
    assert_eq!(report.action, SyncAction::Downloaded, "{report}");
    assert!(report.ranges_fetched >= 1, "{report}");
    assert!(report.bytes_down < 1 << 20, "{report}");
    let bytes = std::fs::read(reader.local_path()).unwrap();
    assert_eq!(ContentHash::of_bytes(&bytes), hash);
}

/// A push that lands while the restore downloads the old version: the
/// restore ends with a conflict, and the remote keeps that push.
async fn a_push_during_a_restore_is_a_conflict(backend: Backend) {
    let fx = fixture(backend).await;
    let versions = three_versions(&fx).await;
    let log = HttpLog::new();
    let remote = fx.logged_remote("app.db", &log);
    let other = fx
        .open("app.db", "other.db", ReplicaOptions::new())
        .await
        .unwrap();
    common::write(other.local_path(), &["pushed meanwhile"]);
    let other = std::sync::Arc::new(tokio::sync::Mutex::new(other));
    log.before_pinned_gets(1, move || {
        let other = std::sync::Arc::clone(&other);
        Box::pin(async move {
            other.lock().await.push().await.unwrap();
        })
    });
    let scratch = tempfile::tempdir().unwrap();
    let restored = history::restore(
        &remote,
        &versions[0],
        scratch.path(),
        &TransferOptions::default(),
    )
    .await;
    let Err(err) = restored else {
        panic!("{backend}: a restore over a push it did not see succeeded");
    };
    println!("{backend}: {err}");
    assert!(matches!(err, Error::Conflict { .. }), "{backend}: {err:?}");
    assert_eq!(
        common::remote_values(&fx, "app.db").await,
        ["row 0", "row 1", "row 2", "pushed meanwhile"]
    );
    assert_eq!(
        fx.remote("app.db").versions().await.unwrap().len(),
        4,
        "{backend}"
    );
}

/// Without versioning, the listing says the bucket keeps no versions and
/// how to turn them on.
async fn a_bucket_without_versioning_says_so(backend: Backend) {
    let fx = fixture(backend).await;
    let mut replica = fx
        .open("app.db", "writer.db", ReplicaOptions::new())
        .await
        .unwrap();
    common::write(replica.local_path(), &["row"]);
    replica.push().await.unwrap();
    let err = fx.remote("app.db").versions().await.unwrap_err();
    let message = err.to_string();
    println!("{backend}: {message}");
    assert!(matches!(err, Error::NoVersions { .. }), "{err:?}");
    assert!(message.contains(&fx.url("app.db")), "{message}");
    assert!(message.contains("put-bucket-versioning"), "{message}");
}

/// `file://` and `memory://` keep only the current object, and say so.
async fn a_store_without_versions_says_so(backend: Backend) {
    let fx = fixture(backend).await;
    let err = fx.remote("app.db").versions().await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::NoVersions { .. }), "{err:?}");
    assert!(message.contains(&fx.url("app.db")), "{message}");
    assert!(
        message.contains("keep only the current object"),
        "{message}"
    );
}

/// The second of `versions` (oldest first), opened read-only: its rows,
/// its bytes hashing to its stamp; a pull keeps it with no download; a
/// change made to it is refused at push with `Error::ReadOnly` and
/// nothing lands; an unknown id is `Error::NoSuchVersion`.
async fn an_earlier_version_opens_read_only(fx: &Fixture, versions: &[RemoteVersion]) {
    let backend = fx.backend();
    let second = &versions[1];
    let id = second
        .version
        .clone()
        .expect("a versioned bucket names versions");
    let options = ReplicaOptions::new()
        .with_version(&id)
        .with_local_path(fx.local("second.db"));
    let mut old = Replica::open(fx.remote("app.db"), options.clone())
        .await
        .unwrap_or_else(|e| panic!("{backend}: open version {id}: {e}"));
    assert_eq!(old.opened().action, SyncAction::Downloaded, "{backend}");
    assert_eq!(common::values(old.local_path()), ["row 0", "row 1"]);
    let bytes = std::fs::read(old.local_path()).unwrap();
    assert_eq!(
        ContentHash::of_bytes(&bytes),
        second.stamp.as_ref().unwrap().content_hash,
        "{backend}"
    );
    let pulled = old.pull().await.unwrap();
    assert_eq!(pulled.action, SyncAction::Reused, "{backend}");
    assert!(old.base().unwrap().same_object(second), "{backend}");

    let current = fx.remote("app.db").head().await.unwrap().unwrap();
    common::write(old.local_path(), &["a change to an old version"]);
    let err = old.push().await.unwrap_err();
    println!("{backend}: {err}");
    assert!(matches!(err, Error::ReadOnly { .. }), "{backend}: {err:?}");
    assert!(err.to_string().contains(&fx.url("app.db")), "{err}");
    let after = fx.remote("app.db").head().await.unwrap().unwrap();
    assert!(after.same_object(&current), "{backend}: the remote moved");
    drop(old);

    let gone = Replica::open(
        fx.remote("app.db"),
        ReplicaOptions::new()
            .with_version("no-such-version")
            .with_local_path(fx.local("gone.db")),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(gone, Error::NoSuchVersion { .. } | Error::Remote { .. }),
        "{backend}: {gone:?}"
    );
    assert!(!fx.local("gone.db").exists(), "{backend}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_every_push_is_listed_newest_first_with_its_hash() {
    every_push_is_listed_newest_first_with_its_hash(Backend::LocalStack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_every_push_is_listed_newest_first_with_its_hash() {
    every_push_is_listed_newest_first_with_its_hash(Backend::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_an_earlier_version_opens_read_only() {
    let fx = fixture(Backend::LocalStack).await;
    let versions = three_versions(&fx).await;
    an_earlier_version_opens_read_only(&fx, &versions).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_an_earlier_version_opens_read_only() {
    let fx = fixture(Backend::Moto).await;
    let versions = three_versions(&fx).await;
    an_earlier_version_opens_read_only(&fx, &versions).await;
}

/// Ceph RGW 16 keeps versions that a single writer puts unconditionally
/// (it refuses `If-Match` on a versioned bucket): they are listed newest
/// first with their hashes, and the second opens read-only with its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_versions_written_unconditionally_are_listed_and_open() {
    let fx = fixture(Backend::Ceph).await;
    enable_versioning(&fx).await.unwrap();
    let mut rows: Vec<String> = Vec::new();
    let mut pushed = Vec::new();
    for round in 0..6 {
        rows.push(format!("row {round}"));
        let values: Vec<&str> = rows.iter().map(String::as_str).collect();
        common::seed(&fx, "app.db", &values).await;
        pushed.push(fx.remote("app.db").head().await.unwrap().unwrap());
    }
    let mut versions = fx.remote("app.db").versions().await.unwrap();
    assert_eq!(versions.len(), 6, "{versions:#?}");
    versions.reverse();
    for (seen, want) in versions.iter().zip(&pushed) {
        assert_eq!(seen.version, want.version);
        assert_eq!(seen.size, want.size);
        assert_eq!(
            seen.stamp.as_ref().unwrap().content_hash,
            want.stamp.as_ref().unwrap().content_hash
        );
    }
    an_earlier_version_opens_read_only(&fx, &versions).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_restore_makes_an_earlier_version_current_again() {
    a_restore_makes_an_earlier_version_current_again(Backend::LocalStack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_restore_makes_an_earlier_version_current_again() {
    a_restore_makes_an_earlier_version_current_again(Backend::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_push_during_a_restore_is_a_conflict() {
    a_push_during_a_restore_is_a_conflict(Backend::LocalStack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_push_during_a_restore_is_a_conflict() {
    a_push_during_a_restore_is_a_conflict(Backend::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_bucket_without_versioning_says_so() {
    a_bucket_without_versioning_says_so(Backend::LocalStack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_bucket_without_versioning_says_so() {
    a_bucket_without_versioning_says_so(Backend::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_a_bucket_without_versioning_says_so() {
    a_bucket_without_versioning_says_so(Backend::Ceph).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_a_store_without_versions_says_so() {
    a_store_without_versions_says_so(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_store_without_versions_says_so() {
    a_store_without_versions_says_so(Backend::Memory).await;
}

/// Ceph RGW 16 refuses every `If-Match` PUT on a bucket with versioning,
/// though the tag is current: the first push lands, the second fails with
/// `Error::ConditionRefused` naming the version, and both sides stay as
/// they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_a_versioned_bucket_refuses_updates_and_the_error_says_so() {
    let fx = fixture(Backend::Ceph).await;
    enable_versioning(&fx).await.unwrap();
    let mut replica = fx
        .open("app.db", "writer.db", ReplicaOptions::new())
        .await
        .unwrap();
    common::write(replica.local_path(), &["first"]);
    replica.push().await.unwrap();
    let before = fx.remote("app.db").head().await.unwrap().unwrap();
    common::write(replica.local_path(), &["second"]);
    let local = std::fs::read(replica.local_path()).unwrap();
    let err = replica.push().await.unwrap_err();
    let message = err.to_string();
    println!("Ceph RGW: {message}");
    assert!(matches!(err, Error::ConditionRefused { .. }), "{err:?}");
    assert!(message.contains(&fx.url("app.db")), "{message}");
    assert!(message.contains("Ceph RGW 16"), "{message}");
    let after = fx.remote("app.db").head().await.unwrap().unwrap();
    assert!(after.same_object(&before), "the remote moved");
    assert_eq!(std::fs::read(replica.local_path()).unwrap(), local);
    assert_eq!(fx.remote("app.db").versions().await.unwrap().len(), 1);
}
