//! A store that refuses with 403: without `s3:ListBucket`, S3 answers 403
//! instead of 404 for a key that does not exist, and the error must say so
//! and name the permission; without `s3:GetObject`, the error names that.
//! Either way, both sides stay as they were. A bucket in another region
//! than the one requests are signed for is named with its region.
//!
//! The refusals come from an HTTP connector that answers as S3 does for
//! such credentials (`HttpLog::deny_listing`, `HttpLog::deny_reads`), on
//! LocalStack and Ceph RGW.

use s3sqlite_core::{Error, RemoteStore, RemoteVersion, Replica, ReplicaOptions};
use s3sqlite_testkit::{Backend, Fixture, HttpLog};

async fn fixture(backend: Backend) -> Fixture {
    Fixture::new(backend)
        .await
        .unwrap_or_else(|e| panic!("{backend} fixture: {e}"))
}

/// Pushes a database to `app.db` as another writer would; its version.
async fn push_app_db(fx: &Fixture) -> RemoteVersion {
    let mut writer = fx
        .open("app.db", "writer.db", ReplicaOptions::new())
        .await
        .unwrap();
    std::fs::write(writer.local_path(), b"SQLite format 3\0 written").unwrap();
    writer.push().await.unwrap();
    fx.remote("app.db").head().await.unwrap().unwrap()
}

/// A first open of a key nobody pushed, with listing refused: the error
/// says the key may be missing and names `s3:ListBucket`; nothing is left
/// at the local path and nothing is written to the remote.
async fn a_missing_key_without_listing_names_the_permission(backend: Backend) {
    let fx = fixture(backend).await;
    let log = HttpLog::new();
    log.deny_listing();
    let local = fx.local("new.db");
    let options = ReplicaOptions::new().with_local_path(&local);
    let opened = Replica::open(fx.logged_remote("new.db", &log), options).await;
    let Err(err) = opened else {
        panic!("an open with listing refused succeeded");
    };
    assert!(matches!(err, Error::MissingOrForbidden { .. }), "{err:?}");
    let message = err.to_string();
    println!("{backend}: {message}");
    assert!(message.contains(&fx.url("new.db")), "{message}");
    assert!(message.contains("s3:ListBucket"), "{message}");
    assert!(!local.exists(), "the failed open left {}", local.display());
    assert!(fx.remote("new.db").head().await.unwrap().is_none());
}

/// An existing database whose reads are refused: a cold open names
/// `s3:GetObject`, a pull of an open replica fails the same way, and the
/// local copy and the remote stay as they were.
async fn a_refused_read_names_the_permission(backend: Backend) {
    let fx = fixture(backend).await;
    let before = push_app_db(&fx).await;

    let log = HttpLog::new();
    let options = ReplicaOptions::new().with_local_path(fx.local("reader.db"));
    let mut reader = Replica::open(fx.logged_remote("app.db", &log), options)
        .await
        .unwrap();
    let local_before = std::fs::read(reader.local_path()).unwrap();
    log.deny_reads();

    let pulled = reader.pull().await;
    let Err(err) = pulled else {
        panic!("a pull with reads refused succeeded");
    };
    assert!(matches!(err, Error::AccessDenied { .. }), "{err:?}");
    let message = err.to_string();
    println!("{backend}: {message}");
    assert!(message.contains(&fx.url("app.db")), "{message}");
    assert!(message.contains("s3:GetObject"), "{message}");
    assert!(std::fs::read(reader.local_path()).unwrap() == local_before);

    let cold = fx.local("cold.db");
    let options = ReplicaOptions::new().with_local_path(&cold);
    let opened = Replica::open(fx.logged_remote("app.db", &log), options).await;
    assert!(
        matches!(opened, Err(Error::AccessDenied { .. })),
        "{opened:?}"
    );
    assert!(!cold.exists(), "the failed open left {}", cold.display());
    let after = fx.remote("app.db").head().await.unwrap().unwrap();
    assert!(after.same_object(&before), "the remote moved");
}

/// S3 redirects a request signed for another region than the bucket's,
/// naming the bucket's region in `x-amz-bucket-region`: the open fails
/// with an error that names both regions and how to set one; nothing is
/// left at the local path and the remote is as it was.
async fn a_bucket_in_another_region_is_named(backend: Backend) {
    let fx = fixture(backend).await;
    let before = push_app_db(&fx).await;

    let log = HttpLog::new();
    log.redirect_to_region("eu-central-1");
    let local = fx.local("elsewhere.db");
    let options = ReplicaOptions::new().with_local_path(&local);
    let opened = Replica::open(fx.logged_remote("app.db", &log), options).await;
    let Err(err) = opened else {
        panic!("an open redirected to another region succeeded");
    };
    let message = err.to_string();
    println!("{backend}: {message}");
    let Error::WrongRegion {
        region,
        bucket_region,
        ..
    } = &err
    else {
        panic!("not a wrong-region error: {err:?}");
    };
    assert_eq!(region, "us-east-1");
    assert_eq!(bucket_region.as_deref(), Some("eu-central-1"));
    assert!(message.contains(&fx.url("app.db")), "{message}");
    assert!(
        message.contains("region eu-central-1, not us-east-1"),
        "{message}"
    );
    assert!(message.contains("AWS_REGION"), "{message}");
    let asked = log.exchanges();
    assert!(
        asked.iter().any(|e| e.method == "HEAD"
            && e.response_header("x-amz-bucket-region") == Some("eu-central-1")),
        "{asked:?}"
    );
    assert!(!local.exists(), "the failed open left {}", local.display());
    let after = fx.remote("app.db").head().await.unwrap().unwrap();
    assert!(after.same_object(&before), "the remote moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_bucket_in_another_region_is_named() {
    a_bucket_in_another_region_is_named(Backend::LocalStack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_missing_key_without_listing_names_the_permission() {
    a_missing_key_without_listing_names_the_permission(Backend::LocalStack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_a_missing_key_without_listing_names_the_permission() {
    a_missing_key_without_listing_names_the_permission(Backend::Ceph).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_refused_read_names_the_permission() {
    a_refused_read_names_the_permission(Backend::LocalStack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_a_refused_read_names_the_permission() {
    a_refused_read_names_the_permission(Backend::Ceph).await;
}
