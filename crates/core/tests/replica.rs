//! Open and push rules: local paths, warm starts, crash resume.

mod common;

use std::sync::Arc;

use common::{is_injected, remote_values, seed, values, write};
use s3sqlite_core::{Error, Replica, ReplicaOptions, Status, SyncAction, default_local_path};
use s3sqlite_testkit::{FaultyRemote, Fixture, Op};

s3sqlite_testkit::backend_tests!(
    round_trip_through_a_second_local_path,
    explicit_local_path_is_honoured_and_its_folder_created,
    default_local_path_is_used_when_none_is_given,
    untracked_local_file_is_not_replaced,
    untracked_local_file_is_adopted_when_the_remote_is_absent,
    stale_wal_is_removed_before_a_download_goes_live,
    warm_start_makes_one_head_and_no_download,
    unchanged_push_sends_no_request,
    dirty_copy_survives_a_drop_and_goes_up_at_the_next_push,
    lost_record_after_upload_is_not_a_conflict,
    landed_upload_retried_in_process_is_recognised,
    changes_after_a_landed_upload_go_up_on_top_of_it,
    failed_upload_keeps_the_local_copy_dirty,
    clean_copy_of_an_old_version_is_refreshed,
    status_reports_every_state,
    same_size_rewrite_right_after_a_push_is_uploaded,
    push_refuses_a_database_with_changes_in_its_wal,
    uncheckpointed_wal_is_never_discarded_by_a_download,
    hot_journal_blocks_a_push_and_a_zeroed_one_does_not,
);

async fn round_trip_through_a_second_local_path(fx: Fixture) {
    let a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Created);
    write(a.local_path(), &["one", "two"]);
    let pushed = a.close().await.map_err(|(_, e)| e).unwrap();
    assert_eq!(pushed.action, SyncAction::Uploaded);
    assert!(pushed.bytes_up > 0);

    let b = fx.open("db", "b.db", ReplicaOptions::new()).await.unwrap();
    assert_eq!(b.opened().action, SyncAction::Downloaded);
    assert_eq!(b.opened().bytes_down, pushed.bytes_up);
    assert_eq!(values(b.local_path()), ["one", "two"]);
}

async fn explicit_local_path_is_honoured_and_its_folder_created(fx: Fixture) {
    let path = fx.dir().join("deep/er/folder/app.db");
    let replica = Replica::open(
        fx.remote("db"),
        ReplicaOptions::new().with_local_path(&path),
    )
    .await
    .unwrap();
    assert_eq!(replica.local_path(), path);
    assert!(path.is_file());
}

async fn default_local_path_is_used_when_none_is_given(fx: Fixture) {
    let url = fx.url("app.db");
    let replica = Replica::open(fx.remote("app.db"), ReplicaOptions::new())
        .await
        .unwrap();
    assert_eq!(replica.local_path(), default_local_path(&url));
    assert_eq!(replica.local_path().file_name().unwrap(), "app.db");
    assert_ne!(
        default_local_path(&url),
        default_local_path(&fx.url("other/app.db"))
    );
    let dir = replica.local_path().parent().unwrap().to_owned();
    drop(replica);
    std::fs::remove_dir_all(dir).unwrap();
}

async fn untracked_local_file_is_not_replaced(fx: Fixture) {
    seed(&fx, "db", &["remote"]).await;
    let path = fx.local("mine.db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write(&path, &["mine"]);
    let err = fx
        .open("db", "mine.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UntrackedLocal { .. }), "{err}");
    assert!(err.to_string().contains("mine.db"), "{err}");
    assert!(err.to_string().contains(&fx.url("db")), "{err}");
    assert_eq!(values(&path), ["mine"]);
    assert_eq!(remote_values(&fx, "db").await, ["remote"]);

    let replica = fx
        .open(
            "db",
            "mine.db",
            ReplicaOptions::new().with_replace_untracked(true),
        )
        .await
        .unwrap();
    assert_eq!(replica.opened().action, SyncAction::Downloaded);
    assert_eq!(values(&path), ["remote"]);
}

async fn untracked_local_file_is_adopted_when_the_remote_is_absent(fx: Fixture) {
    let path = fx.local("mine.db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write(&path, &["mine"]);
    let mut replica = fx
        .open("db", "mine.db", ReplicaOptions::new())
        .await
        .unwrap();
    assert_eq!(replica.opened().action, SyncAction::Adopted);
    assert!(replica.opened().dirty);
    replica.push().await.unwrap();
    assert_eq!(remote_values(&fx, "db").await, ["mine"]);
}

async fn stale_wal_is_removed_before_a_download_goes_live(fx: Fixture) {
    seed(&fx, "db", &["remote"]).await;
    let path = fx.local("a.db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let wal = path.with_file_name("a.db-wal");
    let shm = path.with_file_name("a.db-shm");
    std::fs::write(&wal, b"stale wal frames").unwrap();
    std::fs::write(&shm, b"stale shm").unwrap();
    let replica = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    assert_eq!(replica.opened().action, SyncAction::Downloaded);
    assert!(!wal.exists(), "stale -wal survived the download");
    assert!(!shm.exists(), "stale -shm survived the download");
    assert_eq!(values(&path), ["remote"]);
}

async fn warm_start_makes_one_head_and_no_download(fx: Fixture) {
    seed(&fx, "db", &["x"]).await;
    let first = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    assert_eq!(first.opened().action, SyncAction::Downloaded);
    drop(first);

    let remote = Arc::new(FaultyRemote::new(fx.remote("db")));
    let replica = Replica::open(
        Arc::clone(&remote),
        ReplicaOptions::new().with_local_path(fx.local("a.db")),
    )
    .await
    .unwrap();
    assert_eq!(replica.opened().action, SyncAction::Reused);
    assert_eq!(replica.opened().bytes_down, 0);
    assert_eq!(remote.calls(Op::Head), 1);
    assert_eq!(remote.calls(Op::Download), 0);
    assert_eq!(remote.calls(Op::Upload), 0);
}

async fn unchanged_push_sends_no_request(fx: Fixture) {
    seed(&fx, "db", &["x"]).await;
    let remote = Arc::new(FaultyRemote::new(fx.remote("db")));
    let mut replica = Replica::open(
        Arc::clone(&remote),
        ReplicaOptions::new().with_local_path(fx.local("a.db")),
    )
    .await
    .unwrap();
    let before = (
        remote.calls(Op::Head),
        remote.calls(Op::Download),
        remote.calls(Op::Upload),
    );
    let report = replica.push().await.unwrap();
    assert_eq!(report.action, SyncAction::Unchanged);
    assert_eq!(
        (
            remote.calls(Op::Head),
            remote.calls(Op::Download),
            remote.calls(Op::Upload)
        ),
        before
    );
}

async fn dirty_copy_survives_a_drop_and_goes_up_at_the_next_push(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    write(a.local_path(), &["unsynced"]);
    drop(a);

    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Reused);
    assert!(a.opened().dirty);
    assert_eq!(values(a.local_path()), ["seed", "unsynced"]);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "unsynced"]);
}

async fn lost_record_after_upload_is_not_a_conflict(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = Arc::new(FaultyRemote::new(fx.remote("db")));
    let options = || ReplicaOptions::new().with_local_path(fx.local("a.db"));
    let mut a = Replica::open(Arc::clone(&remote), options()).await.unwrap();
    write(a.local_path(), &["landed"]);
    remote.fail_after_landing();
    let err = a.push().await.unwrap_err();
    assert!(is_injected(&err), "{err}");
    drop(a);
    // the upload landed; the record did not
    assert_eq!(remote_values(&fx, "db").await, ["seed", "landed"]);

    let mut a = Replica::open(Arc::clone(&remote), options()).await.unwrap();
    assert_eq!(values(a.local_path()), ["seed", "landed"]);
    assert_eq!(a.status().await.unwrap(), Status::Clean);
    let uploads = remote.calls(Op::Upload);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Unchanged);
    assert_eq!(remote.calls(Op::Upload), uploads);
}

async fn failed_upload_keeps_the_local_copy_dirty(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = Arc::new(FaultyRemote::new(fx.remote("db")));
    let options = || ReplicaOptions::new().with_local_path(fx.local("a.db"));
    let mut a = Replica::open(Arc::clone(&remote), options()).await.unwrap();
    write(a.local_path(), &["pending"]);
    remote.fail_nth(Op::Upload, 1);
    assert!(is_injected(&a.push().await.unwrap_err()));
    assert_eq!(a.status().await.unwrap(), Status::Ahead);
    assert_eq!(remote_values(&fx, "db").await, ["seed"]);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "pending"]);
}

async fn clean_copy_of_an_old_version_is_refreshed(fx: Fixture) {
    seed(&fx, "db", &["v1"]).await;
    let a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    drop(a);
    let mut b = fx.open("db", "b.db", ReplicaOptions::new()).await.unwrap();
    write(b.local_path(), &["v2"]);
    b.push().await.unwrap();

    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Downloaded);
    assert_eq!(values(a.local_path()), ["v1", "v2"]);
    assert_eq!(a.pull().await.unwrap().action, SyncAction::Reused);
}

async fn status_reports_every_state(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    let mut b = fx.open("db", "b.db", ReplicaOptions::new()).await.unwrap();
    assert_eq!(a.status().await.unwrap(), Status::Clean);
    write(a.local_path(), &["a"]);
    assert_eq!(a.status().await.unwrap(), Status::Ahead);
    a.push().await.unwrap();
    assert_eq!(b.status().await.unwrap(), Status::Behind);
    write(b.local_path(), &["b"]);
    assert_eq!(b.status().await.unwrap(), Status::Diverged);
}

async fn landed_upload_retried_in_process_is_recognised(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = Arc::new(FaultyRemote::new(fx.remote("db")));
    let options = ReplicaOptions::new().with_local_path(fx.local("a.db"));
    let mut a = Replica::open(Arc::clone(&remote), options).await.unwrap();
    write(a.local_path(), &["landed"]);
    remote.fail_after_landing();
    assert!(is_injected(&a.push().await.unwrap_err()));
    let report = a.push().await.unwrap();
    assert_eq!(report.action, SyncAction::Uploaded);
    assert_eq!(a.status().await.unwrap(), Status::Clean);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "landed"]);
}

async fn changes_after_a_landed_upload_go_up_on_top_of_it(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = Arc::new(FaultyRemote::new(fx.remote("db")));
    let options = || ReplicaOptions::new().with_local_path(fx.local("a.db"));
    let mut a = Replica::open(Arc::clone(&remote), options()).await.unwrap();
    write(a.local_path(), &["landed"]);
    remote.fail_after_landing();
    assert!(is_injected(&a.push().await.unwrap_err()));
    write(a.local_path(), &["later"]);
    drop(a);

    let mut a = Replica::open(Arc::clone(&remote), options()).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Uploaded);
    assert_eq!(a.status().await.unwrap(), Status::Clean);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "landed", "later"]);
}

async fn same_size_rewrite_right_after_a_push_is_uploaded(fx: Fixture) {
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    let conn = rusqlite::Connection::open(a.local_path()).unwrap();
    conn.execute_batch("CREATE TABLE t (v TEXT NOT NULL); INSERT INTO t VALUES ('aaaa');")
        .unwrap();
    a.push().await.unwrap();
    let len = std::fs::metadata(a.local_path()).unwrap().len();
    // same length, same page, within the same timestamp tick as the push
    conn.execute("UPDATE t SET v = 'bbbb'", []).unwrap();
    assert_eq!(std::fs::metadata(a.local_path()).unwrap().len(), len);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    drop(conn);
    assert_eq!(remote_values(&fx, "db").await, ["bbbb"]);
}

/// A connection in WAL mode that inserts `value` and keeps it in the WAL.
fn wal_write(path: &std::path::Path, value: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    conn.execute("INSERT INTO t (v) VALUES (?1)", [value])
        .unwrap();
    conn
}

async fn push_refuses_a_database_with_changes_in_its_wal(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    let conn = wal_write(a.local_path(), "in the wal");
    let err = a.push().await.unwrap_err();
    assert!(matches!(err, Error::JournalPending { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "local copy {} has changes in its -wal or -journal file: close every connection \
             (or run `PRAGMA wal_checkpoint(TRUNCATE)`) before pushing",
            a.local_path().display()
        )
    );
    assert_eq!(remote_values(&fx, "db").await, ["seed"]);
    drop(conn);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "in the wal"]);
}

async fn uncheckpointed_wal_is_never_discarded_by_a_download(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    // a crash with the write still in the WAL: the connection never closes
    std::mem::forget(wal_write(a.local_path(), "only in the wal"));
    drop(a);
    let mut b = fx.open("db", "b.db", ReplicaOptions::new()).await.unwrap();
    write(b.local_path(), &["from b"]);
    b.push().await.unwrap();

    let err = fx
        .open("db", "a.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert!(fx.local("a.db-wal").metadata().unwrap().len() > 0);
    assert_eq!(values(&fx.local("a.db")), ["seed", "only in the wal"]);
}

async fn hot_journal_blocks_a_push_and_a_zeroed_one_does_not(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    write(a.local_path(), &["local"]);
    let journal = fx.local("a.db-journal");
    let mut hot = vec![0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];
    hot.resize(512, 0);
    std::fs::write(&journal, &hot).unwrap();
    let err = a.push().await.unwrap_err();
    assert!(matches!(err, Error::JournalPending { .. }), "{err}");
    assert_eq!(remote_values(&fx, "db").await, ["seed"]);
    // what journal_mode=PERSIST leaves after a commit: a zeroed header
    std::fs::write(&journal, vec![0u8; 512]).unwrap();
    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "local"]);
}

#[tokio::test]
async fn a_header_rewrite_is_absorbed_and_a_data_change_is_not() {
    let fx = Fixture::new(s3sqlite_testkit::Backend::Memory)
        .await
        .unwrap();
    seed(&fx, "db", &["seed"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    assert!(!a.absorb_header_rewrite().unwrap(), "nothing was rewritten");
    let conn = rusqlite::Connection::open(a.local_path()).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(conn);
    assert_eq!(a.status().await.unwrap(), Status::Ahead);
    assert!(a.absorb_header_rewrite().unwrap());
    assert_eq!(a.status().await.unwrap(), Status::Clean);
    assert_eq!(a.push().await.unwrap().action, SyncAction::Unchanged);

    // a header rewrite together with a data change is a change
    drop(a);
    seed(&fx, "db", &["seed"]).await;
    let mut b = fx.open("db", "b.db", ReplicaOptions::new()).await.unwrap();
    let conn = rusqlite::Connection::open(b.local_path()).unwrap();
    conn.execute("UPDATE t SET v = 'changed'", []).unwrap();
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .unwrap();
    drop(conn);
    assert!(!b.absorb_header_rewrite().unwrap());
    assert_eq!(b.push().await.unwrap().action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["changed"]);
}
