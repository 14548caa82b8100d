//! Incremental uploads: with `IncrementalUpload::On`, a push of a one-row
//! change to a 64 MiB database sends at most two 8 MiB parts and has the
//! store copy the rest, and the object then holds exactly the local bytes;
//! a stale base is refused as a conflict with both sides unchanged; with
//! `Auto` on an endpoint that is not Amazon S3's, a push is one whole PUT.
//!
//! The refusal of a stale base runs on LocalStack, the one local server
//! that refuses a stale `If-Match` on completion; the single-writer pushes
//! also on moto and Ceph RGW. None of them commits a completion atomically
//! against racing writers, which these tests do not need.

mod common;

use common::{build, remote_bytes, update};
use rusqlite::Connection;
use s3sqlite_core::{
    ContentHash, Error, IncrementalUpload, RemoteStore, Replica, ReplicaOptions, SyncAction,
};
use s3sqlite_testkit::{Backend, Fixture, HttpLog};

/// The padding of the database: 8 parts of 8 MiB.
const PAD_MIB: u64 = 64;
/// One part.
const PART: u64 = 8 << 20;

fn on() -> ReplicaOptions {
    ReplicaOptions::new().with_incremental_upload(IncrementalUpload::On)
}

async fn localstack() -> Fixture {
    Fixture::new(Backend::LocalStack)
        .await
        .unwrap_or_else(|e| panic!("the incremental upload tests need LocalStack: {e}"))
}

/// A replica that created `name` (64 MiB) and pushed it whole.
async fn created(fx: &Fixture, name: &str, local: &str) -> Replica {
    let mut a = fx.open(name, local, on()).await.unwrap();
    build(a.local_path(), PAD_MIB, 100);
    let first = a.push().await.unwrap();
    assert_eq!(
        first.parts_sent + first.parts_copied,
        0,
        "a create is whole: {first}"
    );
    a
}

/// The object holds exactly the bytes of `replica`'s local copy.
async fn holds(fx: &Fixture, name: &str, replica: &Replica) {
    let bytes = remote_bytes(fx, name).await;
    let local = std::fs::read(replica.local_path()).unwrap();
    assert_eq!(bytes.len(), local.len(), "the object's size");
    assert!(
        bytes == local,
        "the object's bytes differ from the local copy"
    );
    let stamp = fx
        .remote(name)
        .head()
        .await
        .unwrap()
        .unwrap()
        .stamp
        .unwrap();
    assert_eq!(stamp.content_hash, ContentHash::of_bytes(&local));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_row_change_sends_at_most_two_parts() {
    sends_at_most_two_parts_on(Backend::LocalStack).await;
}

/// Ceph RGW answers a completion without an ETag: the push learns the
/// version from a HEAD, which must show its stamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_row_change_sends_at_most_two_parts_on_ceph() {
    sends_at_most_two_parts_on(Backend::Ceph).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_row_change_sends_at_most_two_parts_on_moto() {
    sends_at_most_two_parts_on(Backend::Moto).await;
}

/// Three one-row pushes with `On` on `backend`, one writer: each sends at
/// most two parts and lands exactly the local bytes.
async fn sends_at_most_two_parts_on(backend: Backend) {
    let fx = Fixture::new(backend)
        .await
        .unwrap_or_else(|e| panic!("{backend} fixture: {e}"));
    let mut a = created(&fx, "app.db", "a.db").await;
    let size = std::fs::metadata(a.local_path()).unwrap().len();
    for round in 0..3 {
        update(a.local_path(), 7 + round, &format!("changed {round}"));
        let pushed = a.push().await.unwrap();
        println!("push {round}: {pushed}");
        assert_eq!(pushed.action, SyncAction::Uploaded);
        assert!((1..=2).contains(&pushed.parts_sent), "parts sent: {pushed}");
        assert_eq!(
            pushed.parts_sent + pushed.parts_copied,
            size.div_ceil(PART),
            "every part sent or copied: {pushed}"
        );
        // two parts and the manifest (32 KiB at 64 MiB)
        assert!(pushed.bytes_up <= 2 * PART + (64 << 10), "{pushed}");
        holds(&fx, "app.db", &a).await;
    }
    let left = fx.remote("app.db").unfinished_uploads().await.unwrap();
    assert!(left.is_empty(), "uploads left: {left:?}");

    // another replica opens what landed and reads the change
    let b = fx.open("app.db", "b.db", on()).await.unwrap();
    let conn = Connection::open(b.local_path()).unwrap();
    let v: String = conn
        .query_row("SELECT v FROM t WHERE id = 9", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, "changed 2");
    assert_eq!(
        conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "ok"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_base_is_refused_and_both_sides_stay() {
    let fx = localstack().await;
    let mut a = created(&fx, "app.db", "a.db").await;
    let mut b = fx.open("app.db", "b.db", on()).await.unwrap();
    update(b.local_path(), 1, "from b");
    let b_pushed = b.push().await.unwrap();
    assert!(b_pushed.parts_sent >= 1, "{b_pushed}");
    let remote_before = fx.remote("app.db").head().await.unwrap().unwrap();

    update(a.local_path(), 2, "from a");
    let local_before = std::fs::read(a.local_path()).unwrap();
    let refused = a.push().await;
    assert!(
        matches!(refused, Err(Error::Conflict { .. })),
        "a push on a stale base: {refused:?}"
    );
    let remote_after = fx.remote("app.db").head().await.unwrap().unwrap();
    assert!(remote_after.same_object(&remote_before), "the remote moved");
    holds(&fx, "app.db", &b).await;
    assert!(
        std::fs::read(a.local_path()).unwrap() == local_before,
        "the local copy changed"
    );
    let left = fx.remote("app.db").unfinished_uploads().await.unwrap();
    assert!(left.is_empty(), "uploads left: {left:?}");
}

/// `Auto` on `backend`, whose endpoint is not Amazon S3's: the push of a
/// one-row change lands as one PUT of the whole object, with no multipart
/// request.
async fn auto_is_one_whole_put_on(backend: Backend) {
    let fx = Fixture::new(backend)
        .await
        .unwrap_or_else(|e| panic!("{backend} fixture: {e}"));
    let log = HttpLog::new();
    let options = || ReplicaOptions::new().with_incremental_upload(IncrementalUpload::Auto);
    let local = fx.local("a.db");
    let mut a = Replica::open(
        fx.logged_remote("app.db", &log),
        options().with_local_path(&local),
    )
    .await
    .unwrap();
    build(a.local_path(), PAD_MIB, 100);
    a.push().await.unwrap();
    update(a.local_path(), 3, "changed");
    log.clear();
    let pushed = a.push().await.unwrap();
    let size = std::fs::metadata(a.local_path()).unwrap().len();
    assert_eq!(pushed.parts_sent + pushed.parts_copied, 0, "{pushed}");
    assert!(pushed.bytes_up >= size, "{pushed}");
    let exchanges = log.exchanges();
    let object: Vec<_> = exchanges
        .iter()
        .filter(|e| e.path.ends_with("/app.db"))
        .collect();
    // Ceph RGW refuses the quoted ETag once: the PUT that lands is one
    let puts = object
        .iter()
        .filter(|e| e.method == "PUT" && e.status == Some(200))
        .count();
    let posts = object.iter().filter(|e| e.method == "POST").count();
    assert_eq!((puts, posts), (1, 0), "{exchanges:#?}");
    holds(&fx, "app.db", &a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_on_localstack_is_one_whole_put() {
    auto_is_one_whole_put_on(Backend::LocalStack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_on_moto_is_one_whole_put() {
    auto_is_one_whole_put_on(Backend::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_on_ceph_is_one_whole_put() {
    auto_is_one_whole_put_on(Backend::Ceph).await;
}

/// A replica of `name` on LocalStack with `On`, its requests through `log`,
/// that created the database and pushed it whole.
async fn logged(fx: &Fixture, name: &str, log: &HttpLog) -> Replica {
    let options = on().with_local_path(fx.local("logged.db"));
    let mut a = Replica::open(fx.logged_remote(name, log), options)
        .await
        .unwrap();
    build(a.local_path(), PAD_MIB, 100);
    a.push().await.unwrap();
    a
}

/// The store completed the upload but its answer was lost (a 500, or a 200
/// carrying an error): the push recognises its stamp on the object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_whose_answer_is_lost_is_recognised_by_its_stamp() {
    let fx = localstack().await;
    let log = HttpLog::new();
    let mut a = logged(&fx, "app.db", &log).await;
    for (round, status) in [500, 200].into_iter().enumerate() {
        update(a.local_path(), round as i64, "lost answer");
        log.lose_complete_answers(&[status]);
        let pushed = a.push().await.unwrap();
        println!("answer {status} lost: {pushed}");
        assert!(pushed.parts_sent >= 1, "{pushed}");
        holds(&fx, "app.db", &a).await;
        assert_eq!(a.status().await.unwrap(), s3sqlite_core::Status::Clean);
    }
    let left = fx.remote("app.db").unfinished_uploads().await.unwrap();
    assert!(left.is_empty(), "uploads left: {left:?}");
}

/// A completion the store failed with a 500 is sent again; one that keeps
/// failing fails the push with both sides as they were, the upload
/// aborted, and the next push lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_completion_is_sent_again_and_then_gives_up_cleanly() {
    let fx = localstack().await;
    let log = HttpLog::new();
    let mut a = logged(&fx, "app.db", &log).await;

    update(a.local_path(), 1, "after one failure");
    log.fail_completes(&[500]);
    let pushed = a.push().await.unwrap();
    assert!(pushed.parts_sent >= 1, "{pushed}");
    holds(&fx, "app.db", &a).await;

    update(a.local_path(), 2, "after three failures");
    let remote_before = fx.remote("app.db").head().await.unwrap().unwrap();
    let local_before = std::fs::read(a.local_path()).unwrap();
    log.fail_completes(&[500, 503, 500]);
    let failed = a.push().await;
    assert!(failed.is_err(), "three failed completions: {failed:?}");
    let remote_after = fx.remote("app.db").head().await.unwrap().unwrap();
    assert!(remote_after.same_object(&remote_before), "the remote moved");
    assert!(
        std::fs::read(a.local_path()).unwrap() == local_before,
        "the local copy changed"
    );
    assert_eq!(a.status().await.unwrap(), s3sqlite_core::Status::Ahead);
    let left = fx.remote("app.db").unfinished_uploads().await.unwrap();
    assert!(left.is_empty(), "uploads left: {left:?}");

    let pushed = a.push().await.unwrap();
    assert!(pushed.parts_sent >= 1, "{pushed}");
    holds(&fx, "app.db", &a).await;
}
