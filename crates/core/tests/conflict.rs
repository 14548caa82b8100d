//! Two replicas of one remote both write: the conflict rules on every backend.

mod common;

use std::sync::{Arc, Mutex};

use common::{is_injected, remote_values, seed, values, write};
use s3sqlite_core::{
    Conflict, Error, KeepRemote, Overwrite, Replica, ReplicaOptions, Resolution, Result, Status,
    SyncAction, SyncPolicy, async_trait,
};
use s3sqlite_testkit::{FaultyRemote, Fixture, Op};

s3sqlite_testkit::backend_tests!(
    first_push_wins_and_second_gets_conflict_with_local_writes_intact,
    overwrite_policy_makes_the_second_push_win,
    keep_remote_policy_drops_local_changes,
    custom_policy_sees_both_versions_and_merges,
    diverged_copy_at_open_goes_to_the_policy,
    identical_bytes_from_another_writer_are_still_a_conflict,
    a_merge_whose_upload_fails_stays_in_the_local_copy,
);

async fn first_push_wins_and_second_gets_conflict_with_local_writes_intact(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    let mut b = fx.open("db", "b.db", ReplicaOptions::new()).await.unwrap();
    write(a.local_path(), &["from a"]);
    write(b.local_path(), &["from b"]);

    assert_eq!(a.push().await.unwrap().action, SyncAction::Uploaded);
    let base_before = b.base().cloned();
    let err = b.push().await.unwrap_err();
    match &err {
        Error::Conflict { base, current, .. } => {
            assert_eq!(base.as_deref(), base_before.as_ref());
            assert!(current.is_some(), "{err}");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(err.to_string().starts_with("conflict on "), "{err}");
    assert_eq!(values(b.local_path()), ["seed", "from b"]);
    assert_eq!(b.status().await.unwrap(), Status::Diverged);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "from a"]);

    // the conflict persists across a reopen: nothing was lost or overwritten
    drop(b);
    let err = fx
        .open("db", "b.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(values(&fx.local("b.db")), ["seed", "from b"]);
}

async fn overwrite_policy_makes_the_second_push_win(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    let options = ReplicaOptions::new().with_policy(Overwrite);
    let mut b = fx.open("db", "b.db", options).await.unwrap();
    write(a.local_path(), &["from a"]);
    write(b.local_path(), &["from b"]);
    a.push().await.unwrap();

    let report = b.push().await.unwrap();
    assert_eq!(report.action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "from b"]);
    assert_eq!(b.status().await.unwrap(), Status::Clean);
    assert_eq!(a.status().await.unwrap(), Status::Behind);
}

async fn keep_remote_policy_drops_local_changes(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    let options = ReplicaOptions::new().with_policy(KeepRemote);
    let mut b = fx.open("db", "b.db", options).await.unwrap();
    write(a.local_path(), &["from a"]);
    write(b.local_path(), &["from b"]);
    a.push().await.unwrap();

    // the replica's own policy dropped local writes: an error, never a quiet Ok
    let err = b.push().await.unwrap_err();
    let Error::LocalDiscarded { report, .. } = &err else {
        panic!("expected LocalDiscarded, got {err:?}");
    };
    assert_eq!(report.action, SyncAction::KeptRemote);
    assert!(report.bytes_down > 0);
    assert!(
        err.to_string().starts_with("the local changes to ")
            && err.to_string().contains("discarded"),
        "{err}"
    );
    assert_eq!(values(b.local_path()), ["seed", "from a"]);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "from a"]);
    assert_eq!(b.status().await.unwrap(), Status::Clean);

    // asked for on the call, it is a success
    write(a.local_path(), &["again from a"]);
    write(b.local_path(), &["again from b"]);
    a.push().await.unwrap();
    let report = b.push_with(KeepRemote).await.unwrap();
    assert_eq!(report.action, SyncAction::KeptRemote);
    assert_eq!(values(b.local_path()), ["seed", "from a", "again from a"]);
}

/// Merges by appending the remote's rows that the local copy lacks, and
/// remembers what it was shown.
#[derive(Debug, Default)]
struct UnionMerge {
    seen: Mutex<Vec<(Vec<String>, Vec<String>)>>,
    dir: Mutex<Option<tempfile::TempDir>>,
}

#[async_trait]
impl SyncPolicy for UnionMerge {
    async fn resolve(&self, conflict: &Conflict<'_>) -> Result<Resolution> {
        assert!(conflict.base().is_some());
        assert_ne!(conflict.base(), conflict.current());
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs.db");
        assert!(conflict.fetch_current(&theirs).await?);
        let ours = values(conflict.local_path());
        let remote = values(&theirs);
        let merged = dir.path().join("merged.db");
        std::fs::copy(conflict.local_path(), &merged).unwrap();
        let missing: Vec<&str> = remote
            .iter()
            .filter(|v| !ours.contains(v))
            .map(String::as_str)
            .collect();
        write(&merged, &missing);
        self.seen.lock().unwrap().push((ours, remote));
        *self.dir.lock().unwrap() = Some(dir);
        Ok(Resolution::Merged(merged))
    }
}

async fn custom_policy_sees_both_versions_and_merges(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    let policy = Arc::new(UnionMerge::default());
    let options = ReplicaOptions::new().with_policy_arc(policy.clone());
    let mut b = fx.open("db", "b.db", options).await.unwrap();
    write(a.local_path(), &["from a"]);
    write(b.local_path(), &["from b"]);
    a.push().await.unwrap();

    let report = b.push().await.unwrap();
    assert_eq!(report.action, SyncAction::Merged);
    let seen = policy.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            vec!["seed".to_owned(), "from b".to_owned()],
            vec!["seed".to_owned(), "from a".to_owned()]
        )]
    );
    let expected = ["seed", "from b", "from a"];
    assert_eq!(values(b.local_path()), expected);
    assert_eq!(remote_values(&fx, "db").await, expected);
    assert_eq!(b.status().await.unwrap(), Status::Clean);
}

async fn diverged_copy_at_open_goes_to_the_policy(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let b = fx.open("db", "b.db", ReplicaOptions::new()).await.unwrap();
    write(b.local_path(), &["from b"]);
    drop(b);
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    write(a.local_path(), &["from a"]);
    a.push().await.unwrap();

    let options = ReplicaOptions::new().with_policy(Overwrite);
    let b = fx.open("db", "b.db", options).await.unwrap();
    assert_eq!(b.opened().action, SyncAction::Uploaded);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "from b"]);
}

async fn identical_bytes_from_another_writer_are_still_a_conflict(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    let mut b = fx.open("db", "b.db", ReplicaOptions::new()).await.unwrap();
    // the same change from the same base gives byte-identical files
    write(a.local_path(), &["same"]);
    write(b.local_path(), &["same"]);
    assert_eq!(
        std::fs::read(a.local_path()).unwrap(),
        std::fs::read(b.local_path()).unwrap()
    );
    a.push().await.unwrap();
    let err = b.push().await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
}

async fn a_merge_whose_upload_fails_stays_in_the_local_copy(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    let remote = Arc::new(FaultyRemote::new(fx.remote("db")));
    let options = || {
        ReplicaOptions::new()
            .with_local_path(fx.local("b.db"))
            .with_policy(UnionMerge::default())
    };
    let mut b = Replica::open(Arc::clone(&remote), options()).await.unwrap();
    write(a.local_path(), &["from a"]);
    write(b.local_path(), &["from b"]);
    a.push().await.unwrap();

    // the first upload meets the conflict, the second carries the merge
    remote.fail_nth(Op::Upload, 2);
    assert!(is_injected(&b.push().await.unwrap_err()));
    assert_eq!(values(b.local_path()), ["seed", "from b", "from a"]);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "from a"]);
    drop(b);

    let b = Replica::open(Arc::clone(&remote), options()).await.unwrap();
    assert_eq!(b.opened().action, SyncAction::Merged);
    assert_eq!(values(b.local_path()), ["seed", "from b", "from a"]);
    assert_eq!(remote_values(&fx, "db").await, ["seed", "from b", "from a"]);
}
