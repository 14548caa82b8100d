//! Downloads of what changed: a replica that is behind fetches the
//! version's manifest and only the ranges that differ from its own copy,
//! and ends with exactly the version's bytes; a version with no manifest
//! that verifies (another tool wrote it, or the manifest is damaged) is
//! downloaded whole; the manifests beside the object are kept to the
//! current version's and the one before.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{build, put_raw, remote_bytes, update};
use rusqlite::Connection;
use s3sqlite_core::{ContentHash, RemoteStore, Replica, ReplicaOptions, SyncAction};
use s3sqlite_testkit::{FaultyRemote, Fixture, Op};

/// The size of the database of the main test: 64 MiB of padding and a
/// small table.
const PAD_MIB: u64 = 64;

/// The padding of the other tests' databases: large enough for a manifest
/// (4 MiB), small enough to keep the suite quick.
const SMALL_MIB: u64 = 8;

/// What one pull or reopen of a one-row change may download: the manifest
/// (32 KiB at 64 MiB) and a few 64 KiB ranges.
const AT_MOST: u64 = 1 << 20;

s3sqlite_testkit::backend_tests!(
    a_replica_behind_by_one_row_fetches_only_what_changed,
    a_version_another_tool_wrote_is_downloaded_whole,
    a_damaged_manifest_costs_a_whole_download_and_nothing_else,
    two_manifests_stay_beside_the_object,
    a_range_that_arrives_damaged_costs_a_whole_download,
    a_failed_range_download_leaves_the_local_copy_as_it_was,
    a_version_that_mostly_changed_is_downloaded_whole,
);

fn value(path: &Path, id: i64) -> String {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT v FROM t WHERE id = ?1", [id], |row| row.get(0))
        .unwrap()
}

/// A writer that created the database `name` with `mib` MiB of padding
/// and pushed it.
async fn writer(fx: &Fixture, name: &str, mib: u64) -> Replica {
    let mut b = fx.open(name, "b.db", ReplicaOptions::new()).await.unwrap();
    build(b.local_path(), mib, 100);
    let pushed = b.push().await.unwrap();
    assert_eq!(pushed.action, SyncAction::Uploaded);
    b
}

/// The local copy of `replica` holds exactly the remote's current bytes,
/// the ones its stamp names.
async fn holds_the_remote(fx: &Fixture, name: &str, replica: &Replica) {
    let current = fx.remote(name).head().await.unwrap().unwrap();
    let stamp = current.stamp.expect("pushed by s3sqlite");
    let local = ContentHash::of_file(replica.local_path()).unwrap();
    assert_eq!(
        local, stamp.content_hash,
        "the local copy is not the remote version"
    );
    let bytes = remote_bytes(fx, name).await;
    assert_eq!(
        ContentHash::of_bytes(&bytes),
        stamp.content_hash,
        "the object's bytes"
    );
}

async fn a_replica_behind_by_one_row_fetches_only_what_changed(fx: Fixture) {
    let mut b = writer(&fx, "app.db", PAD_MIB).await;
    let mut a = fx
        .open("app.db", "a.db", ReplicaOptions::new())
        .await
        .unwrap();
    assert_eq!(a.opened().action, SyncAction::Downloaded);
    assert_eq!(
        a.opened().ranges_fetched,
        0,
        "a cold open is a whole download"
    );

    update(b.local_path(), 42, "changed once");
    b.push().await.unwrap();
    let inode = file_id(a.local_path());
    let pulled = a.pull().await.unwrap();
    println!("pull: {pulled}");
    assert_eq!(file_id(a.local_path()), inode, "patched in place");
    assert_eq!(pulled.action, SyncAction::Downloaded);
    assert!(pulled.ranges_fetched >= 1, "{pulled}");
    assert!(pulled.bytes_down <= AT_MOST, "{pulled}");
    holds_the_remote(&fx, "app.db", &a).await;
    assert_eq!(value(a.local_path(), 42), "changed once");

    // a reopen that finds the remote moved does the same
    a.close().await.map_err(|(_, e)| e).unwrap();
    update(b.local_path(), 7, "changed twice");
    b.push().await.unwrap();
    let a = fx
        .open("app.db", "a.db", ReplicaOptions::new())
        .await
        .unwrap();
    println!("reopen: {}", a.opened());
    assert_eq!(a.opened().action, SyncAction::Downloaded);
    assert!(a.opened().ranges_fetched >= 1, "{}", a.opened());
    assert!(a.opened().bytes_down <= AT_MOST, "{}", a.opened());
    holds_the_remote(&fx, "app.db", &a).await;
    assert_eq!(value(a.local_path(), 7), "changed twice");
    assert_eq!(value(a.local_path(), 42), "changed once");
}

async fn a_version_another_tool_wrote_is_downloaded_whole(fx: Fixture) {
    let b = writer(&fx, "app.db", SMALL_MIB).await;
    let mut a = fx
        .open("app.db", "a.db", ReplicaOptions::new())
        .await
        .unwrap();
    update(b.local_path(), 42, "written by another tool");
    let bytes = std::fs::read(b.local_path()).unwrap();
    put_raw(&fx, "app.db", bytes.clone()).await;
    let pulled = a.pull().await.unwrap();
    assert_eq!(pulled.action, SyncAction::Downloaded);
    assert_eq!(pulled.ranges_fetched, 0, "{pulled}");
    assert_eq!(pulled.bytes_down, bytes.len() as u64, "{pulled}");
    assert_eq!(std::fs::read(a.local_path()).unwrap(), bytes);
    drop(b);
}

async fn a_damaged_manifest_costs_a_whole_download_and_nothing_else(fx: Fixture) {
    let mut b = writer(&fx, "app.db", SMALL_MIB).await;
    let mut a = fx
        .open("app.db", "a.db", ReplicaOptions::new())
        .await
        .unwrap();
    update(b.local_path(), 42, "changed");
    b.push().await.unwrap();
    let current = fx.remote("app.db").head().await.unwrap().unwrap();
    let hash = current.stamp.unwrap().content_hash;
    let remote = fx.remote("app.db");
    let mut manifest = remote
        .get_manifest(&hash)
        .await
        .unwrap()
        .expect("a manifest");
    let last = manifest.len() - 1;
    manifest[last] ^= 1;
    remote.put_manifest(&hash, &manifest).await.unwrap();

    let pulled = a.pull().await.unwrap();
    assert_eq!(pulled.action, SyncAction::Downloaded);
    assert_eq!(pulled.ranges_fetched, 0, "{pulled}");
    assert_eq!(pulled.bytes_down, current.size, "{pulled}");
    holds_the_remote(&fx, "app.db", &a).await;
    assert_eq!(value(a.local_path(), 42), "changed");
}

async fn two_manifests_stay_beside_the_object(fx: Fixture) {
    let mut b = writer(&fx, "app.db", SMALL_MIB).await;
    let mut hashes = vec![];
    for round in 0..4 {
        update(b.local_path(), round, "changed");
        b.push().await.unwrap();
        let current = fx.remote("app.db").head().await.unwrap().unwrap();
        hashes.push(current.stamp.unwrap().content_hash);
    }
    let remote = fx.remote("app.db");
    let prefix = object_store::path::Path::from(format!("{}.s3sqlite/m", remote.key()));
    let listed: Vec<_> =
        futures_util::TryStreamExt::try_collect::<Vec<_>>(remote.store().list(Some(&prefix)))
            .await
            .unwrap();
    let mut names: Vec<String> = listed
        .iter()
        .map(|meta| meta.location.filename().unwrap().to_owned())
        .collect();
    names.sort();
    let mut kept: Vec<String> = hashes[2..].iter().map(ContentHash::to_hex).collect();
    kept.sort();
    assert_eq!(
        names, kept,
        "the current version's manifest and the one before"
    );
    for hash in &hashes[2..] {
        assert!(remote.get_manifest(hash).await.unwrap().is_some());
    }
}

/// A replica of `name` at the local path `a.db` through a [`FaultyRemote`].
async fn faulty_replica(
    fx: &Fixture,
    name: &str,
) -> (Arc<FaultyRemote<s3sqlite_core::ObjectStoreRemote>>, Replica) {
    let faulty = Arc::new(FaultyRemote::new(fx.remote(name)));
    let options = ReplicaOptions::new().with_local_path(fx.local("a.db"));
    let replica = Replica::open(Arc::clone(&faulty), options).await.unwrap();
    (faulty, replica)
}

async fn a_range_that_arrives_damaged_costs_a_whole_download(fx: Fixture) {
    let mut b = writer(&fx, "app.db", SMALL_MIB).await;
    let (faulty, mut a) = faulty_replica(&fx, "app.db").await;
    update(b.local_path(), 42, "changed");
    b.push().await.unwrap();
    let before = faulty.calls(Op::Download);
    // in the first leaf, which every change rewrites (the change counter):
    // once for the patch in place, once for the copy
    faulty.corrupt_download(17).corrupt_download(17);
    let pulled = a.pull().await.unwrap();
    assert_eq!(pulled.action, SyncAction::Downloaded);
    assert_eq!(pulled.ranges_fetched, 0, "{pulled}");
    assert_eq!(
        faulty.calls(Op::Download) - before,
        3,
        "the ranges for a patch in place, for a copy, then the whole version"
    );
    holds_the_remote(&fx, "app.db", &a).await;
    assert_eq!(value(a.local_path(), 42), "changed");
}

async fn a_failed_range_download_leaves_the_local_copy_as_it_was(fx: Fixture) {
    let mut b = writer(&fx, "app.db", SMALL_MIB).await;
    let (faulty, mut a) = faulty_replica(&fx, "app.db").await;
    let before = ContentHash::of_file(a.local_path()).unwrap();
    update(b.local_path(), 42, "changed");
    b.push().await.unwrap();
    // the ranges for a patch in place, then for a copy
    faulty.fail_nth(Op::Download, 1).fail_nth(Op::Download, 2);
    let err = a.pull().await.unwrap_err();
    assert!(common::is_injected(&err), "{err}");
    assert_eq!(ContentHash::of_file(a.local_path()).unwrap(), before);
    assert_eq!(value(a.local_path(), 42), "row");
    let pulled = a.pull().await.unwrap();
    assert!(pulled.ranges_fetched >= 1, "{pulled}");
    holds_the_remote(&fx, "app.db", &a).await;
}

async fn a_version_that_mostly_changed_is_downloaded_whole(fx: Fixture) {
    let mut b = writer(&fx, "app.db", SMALL_MIB).await;
    let mut a = fx
        .open("app.db", "a.db", ReplicaOptions::new())
        .await
        .unwrap();
    let conn = Connection::open(b.local_path()).unwrap();
    conn.execute_batch("UPDATE pad SET b = randomblob(1048576)")
        .unwrap();
    conn.close().unwrap();
    let pushed = b.push().await.unwrap();
    let pulled = a.pull().await.unwrap();
    assert_eq!(pulled.action, SyncAction::Downloaded);
    assert_eq!(pulled.ranges_fetched, 0, "{pulled}");
    let size = pushed.version.unwrap().size;
    assert_eq!(pulled.bytes_down, size, "{pulled}");
    holds_the_remote(&fx, "app.db", &a).await;
}

/// What tells a file patched in place from one replaced by a rename.
#[cfg(unix)]
fn file_id(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[cfg(not(unix))]
fn file_id(_: &Path) -> u64 {
    0
}
