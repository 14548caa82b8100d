//! What the engine refuses to adopt, download or serve: torn uploads of its
//! own, damaged objects, objects whose header disagrees with their size.
//! Each refusal names the URL and what was wrong, and leaves the local file
//! and the remote object as they were.

mod common;

use std::sync::Arc;

use common::{is_injected, put_raw, remote_bytes, remote_values, seed, values, write};
use object_store::ObjectStoreExt;
use s3sqlite_core::{
    Corruption, Error, ObjectStoreRemote, Replica, ReplicaOptions, Status, SyncAction,
};
use s3sqlite_testkit::{FaultyRemote, Fixture, Op};

s3sqlite_testkit::backend_tests!(
    torn_upload_of_ours_is_uploaded_again_and_never_adopted,
    torn_object_is_refused_by_every_other_replica,
    damaged_bytes_of_a_stamped_object_are_refused,
    foreign_object_cut_short_is_refused,
    foreign_object_with_a_valid_header_and_garbage_is_refused,
    foreign_object_whose_size_matches_its_header_is_accepted,
);

fn faulty(fx: &Fixture) -> Arc<FaultyRemote<ObjectStoreRemote>> {
    Arc::new(FaultyRemote::new(fx.remote("db")))
}

async fn open_at(
    remote: &Arc<FaultyRemote<ObjectStoreRemote>>,
    path: std::path::PathBuf,
) -> s3sqlite_core::Result<Replica> {
    Replica::open(
        Arc::clone(remote),
        ReplicaOptions::new().with_local_path(path),
    )
    .await
}

/// A database of several pages: table `t` with `values`, and padding.
fn database(values: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    write(&path, values);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE pad (b BLOB); INSERT INTO pad VALUES (zeroblob(20000));")
        .unwrap();
    conn.close().unwrap();
    std::fs::read(&path).unwrap()
}

fn assert_no_local_copy(fx: &Fixture, name: &str) {
    let path = fx.local(name);
    assert!(!path.exists(), "{} was created", path.display());
    let dir = path.parent().unwrap();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let names: Vec<_> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(name))
            .collect();
        assert!(
            names.is_empty(),
            "left beside {}: {names:?}",
            path.display()
        );
    }
}

async fn torn_upload_of_ours_is_uploaded_again_and_never_adopted(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = faulty(&fx);
    let mut a = open_at(&remote, fx.local("a.db")).await.unwrap();
    write(a.local_path(), &["mine"]);
    let full = std::fs::metadata(a.local_path()).unwrap().len();
    remote.tear_upload(4096);
    assert!(is_injected(&a.push().await.unwrap_err()));
    let torn = fx.remote("db").store().head(fx.remote("db").key()).await;
    assert_eq!(torn.unwrap().size, 4096, "the store kept the partial body");
    // no one else's change: the next push replaces it, no conflict
    assert_eq!(a.status().await.unwrap(), Status::Ahead);
    drop(a);
    let options = ReplicaOptions::new().with_local_path(fx.local("a.db"));
    let seen = Replica::inspect(Arc::clone(&remote), options)
        .await
        .unwrap();
    assert_eq!(seen.status, Some(Status::Ahead));

    // the next open finds our upload id on a 4096-byte object: not ours to
    // adopt, so it uploads again on condition of that torn version
    let uploads = remote.calls(Op::Upload);
    let a = open_at(&remote, fx.local("a.db")).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Uploaded);
    assert_eq!(a.opened().bytes_up, full);
    assert_eq!(remote.calls(Op::Upload), uploads + 1);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "mine"]);
    assert_eq!(
        remote_bytes(&fx, "db").await,
        std::fs::read(a.local_path()).unwrap()
    );
}

async fn torn_object_is_refused_by_every_other_replica(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = faulty(&fx);
    let mut a = open_at(&remote, fx.local("a.db")).await.unwrap();
    write(a.local_path(), &["mine"]);
    let full = std::fs::metadata(a.local_path()).unwrap().len();
    remote.tear_upload(4096);
    assert!(is_injected(&a.push().await.unwrap_err()));
    let before = remote_bytes(&fx, "db").await;

    let err = open_at(&remote, fx.local("b.db")).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Corrupt { problem: Corruption::SizeMismatch { expected, actual: 4096 }, .. }
                if *expected == full
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} is damaged: it holds 4096 bytes where its upload sent {full} (a torn upload); \
             the local copy was left as it was",
            fx.url("db")
        )
    );
    assert_no_local_copy(&fx, "b.db");
    assert_eq!(remote_bytes(&fx, "db").await, before);
}

async fn damaged_bytes_of_a_stamped_object_are_refused(fx: Fixture) {
    seed(&fx, "db", &["v1"]).await;
    let remote = faulty(&fx);
    let mut a = open_at(&remote, fx.local("a.db")).await.unwrap();
    let clean = std::fs::read(a.local_path()).unwrap();
    // another writer lands v2; the download of it is damaged on the way
    s3sqlite_testkit::seed_remote(&fx.remote("db"), |conn| {
        conn.execute_batch("CREATE TABLE t (v TEXT NOT NULL); INSERT INTO t VALUES ('v1'), ('v2');")
    })
    .await
    .unwrap();
    let before = remote_bytes(&fx, "db").await;
    remote.corrupt_download(3000);
    let err = a.pull().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                problem: Corruption::HashMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{} is damaged: its bytes hash to ", fx.url("db"))),
        "{shown}"
    );
    assert!(shown.contains("where its upload recorded"), "{shown}");
    assert_eq!(std::fs::read(a.local_path()).unwrap(), clean);
    assert_eq!(remote_bytes(&fx, "db").await, before);

    // the next pull, undamaged, gets v2
    assert_eq!(a.pull().await.unwrap().action, SyncAction::Downloaded);
    assert_eq!(values(a.local_path()), ["v1", "v2"]);
}

async fn foreign_object_cut_short_is_refused(fx: Fixture) {
    let whole = database(&["a", "b"]);
    let half = whole[..whole.len() / 2].to_vec();
    let (size, page_size) = (half.len(), u16::from_be_bytes([whole[16], whole[17]]));
    put_raw(&fx, "db", half.clone()).await;
    let err = fx
        .open("db", "a.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    let pages = whole.len() / usize::from(page_size);
    assert_eq!(
        err.to_string(),
        format!(
            "{} is damaged: its header says {pages} pages of {page_size} bytes ({} bytes) and it \
             holds {size}; the local copy was left as it was",
            fx.url("db"),
            whole.len()
        )
    );
    assert!(
        matches!(
            err,
            Error::Corrupt {
                problem: Corruption::HeaderSize { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_no_local_copy(&fx, "a.db");
    assert_eq!(remote_bytes(&fx, "db").await, half);
}

async fn foreign_object_with_a_valid_header_and_garbage_is_refused(fx: Fixture) {
    let whole = database(&["a"]);
    let mut garbage = whole[..100].to_vec();
    garbage.extend(std::iter::repeat_n(0x5a, 1000));
    put_raw(&fx, "db", garbage.clone()).await;
    let err = fx
        .open("db", "a.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                problem: Corruption::HeaderSize { actual: 1100, .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("and it holds 1100"), "{err}");
    assert_no_local_copy(&fx, "a.db");
    assert_eq!(remote_bytes(&fx, "db").await, garbage);

    // and an object too short for a header at all
    let stub = b"SQLite format 3\0 and nothing more".to_vec();
    put_raw(&fx, "db", stub.clone()).await;
    let err = fx
        .open("db", "a.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is damaged: it holds {} bytes, fewer than a database header's 100; the local \
             copy was left as it was",
            fx.url("db"),
            stub.len()
        )
    );
    assert_no_local_copy(&fx, "a.db");
    assert_eq!(remote_bytes(&fx, "db").await, stub);
}

async fn foreign_object_whose_size_matches_its_header_is_accepted(fx: Fixture) {
    put_raw(&fx, "db", database(&["a", "b"])).await;
    let a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Downloaded);
    assert_eq!(values(a.local_path()), ["a", "b"]);
}
