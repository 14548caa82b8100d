//! The files beside a local copy: what a killed process leaves is removed,
//! a failed open takes back what it made, a full disk is reported before a
//! download starts, modes follow one rule, and the in-memory remote holds
//! bytes of its own.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{seed, values, write};
use s3sqlite_core::{Error, RemoteStore, Replica, ReplicaOptions, SyncAction};
use s3sqlite_testkit::{Backend, Fixture, memory_remote};

s3sqlite_testkit::backend_tests!(
    temp_files_left_by_a_killed_process_are_removed_at_the_next_open,
    a_failed_open_removes_the_lock_file_and_folders_it_made,
    a_download_keeps_the_mode_the_user_set,
);

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The mode a new file gets in this process: 0666 less the umask.
fn new_file_mode() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("/proc/self/status names the umask");
    0o666 & !u32::from_str_radix(umask.trim(), 8).unwrap()
}

async fn temp_files_left_by_a_killed_process_are_removed_at_the_next_open(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    drop(a);
    let dir = fx.local("a.db").parent().unwrap().to_owned();
    let clean = names_in(&dir);
    for leftover in [
        ".a.db.s3sqlite-download-Xq1",
        ".a.db.s3sqlite-merged-Xq2",
        ".a.db.s3sqlite-state.s3sqlite-tmp-Xq3",
    ] {
        std::fs::write(dir.join(leftover), vec![0u8; 4096]).unwrap();
    }
    let snapshot = dir.join(".a.db.s3sqlite-snapshot-Xq5");
    std::fs::create_dir(&snapshot).unwrap();
    std::fs::write(snapshot.join("snapshot.db"), vec![0u8; 4096]).unwrap();
    // not ours: another database's temp file, a user's file
    std::fs::write(dir.join(".b.db.s3sqlite-download-Xq4"), b"x").unwrap();
    std::fs::write(dir.join("a.db.bak"), b"x").unwrap();

    let a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    assert_eq!(a.opened().action, SyncAction::Reused);
    let mut expected = clean;
    expected.extend([
        ".b.db.s3sqlite-download-Xq4".to_owned(),
        "a.db.bak".to_owned(),
    ]);
    expected.sort();
    assert_eq!(names_in(&dir), expected);
    assert_eq!(values(a.local_path()), ["seed"]);
}

async fn a_failed_open_removes_the_lock_file_and_folders_it_made(fx: Fixture) {
    let local: PathBuf = fx.dir().join("deep/er/a.db");
    let err = Replica::open(
        fx.remote("db"),
        ReplicaOptions::new()
            .with_local_path(&local)
            .with_create_if_missing(false),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::RemoteNotFound { .. }), "{err}");
    assert!(
        !fx.dir().join("deep").exists(),
        "the folders it made are left"
    );

    // a folder that was there stays, and so does a file the user had
    let own = fx.dir().join("own");
    std::fs::create_dir(&own).unwrap();
    write(&own.join("a.db"), &["mine"]);
    seed(&fx, "db", &["seed"]).await;
    let err = Replica::open(
        fx.remote("db"),
        ReplicaOptions::new().with_local_path(own.join("a.db")),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::UntrackedLocal { .. }), "{err}");
    assert_eq!(names_in(&own), ["a.db"]);
    assert_eq!(values(&own.join("a.db")), ["mine"]);
}

async fn a_download_keeps_the_mode_the_user_set(fx: Fixture) {
    seed(&fx, "db", &["v1"]).await;
    let mut a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    let new = new_file_mode();
    assert_eq!(mode(a.local_path()), new, "a downloaded database");
    let state = PathBuf::from(format!("{}.s3sqlite-state", a.local_path().display()));
    assert_eq!(mode(&state), new, "the state file");
    std::fs::set_permissions(a.local_path(), std::fs::Permissions::from_mode(0o640)).unwrap();

    seed(&fx, "db", &["v1", "v2"]).await;
    assert_eq!(a.pull().await.unwrap().action, SyncAction::Downloaded);
    assert_eq!(values(a.local_path()), ["v1", "v2"]);
    assert_eq!(mode(a.local_path()), 0o640, "the mode the user set");

    let created = fx.open("new", "c.db", ReplicaOptions::new()).await.unwrap();
    assert_eq!(created.opened().action, SyncAction::Created);
    assert_eq!(mode(created.local_path()), new, "a created database");
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a {size} tmpfs to fill a disk, which needs root (or CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn a_full_disk_is_reported_before_the_download_and_leaves_nothing() {
    let fx = Fixture::new(Backend::Memory).await.unwrap();
    s3sqlite_testkit::seed_remote(&fx.remote("db"), |conn| {
        conn.execute_batch("CREATE TABLE pad (b BLOB); INSERT INTO pad VALUES (zeroblob(2000000));")
    })
    .await
    .unwrap();
    let before = fx.remote("db").head().await.unwrap().unwrap();
    let size = before.size;
    let disk = Tmpfs::mount("1m");
    let local = disk.0.path().join("a.db");
    let err = Replica::open(
        fx.remote("db"),
        ReplicaOptions::new().with_local_path(&local),
    )
    .await
    .unwrap_err();
    let Error::NoSpace {
        needed, available, ..
    } = err
    else {
        panic!("expected NoSpace, got {err}");
    };
    assert_eq!(needed, size);
    assert!(available <= 1024 * 1024, "{available}");
    assert_eq!(
        err.to_string(),
        format!(
            "not enough free space in {} to download {}: {size} bytes needed, {available} available",
            disk.0.path().display(),
            fx.url("db")
        )
    );
    assert!(
        names_in(disk.0.path()).is_empty(),
        "{:?}",
        names_in(disk.0.path())
    );
    let after = fx.remote("db").head().await.unwrap().unwrap();
    assert!(after.same_object(&before), "the remote changed");
}

#[tokio::test]
async fn the_memory_remote_never_sees_unpushed_local_changes() {
    let remote = std::sync::Arc::new(memory_remote("app.db"));
    let url = remote.to_string();
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| ReplicaOptions::new().with_local_path(dir.path().join(name));

    let mut a = Replica::open(std::sync::Arc::clone(&remote), at("a.db"))
        .await
        .unwrap();
    write(a.local_path(), &["pushed"]);
    let conn = rusqlite::Connection::open(a.local_path()).unwrap();
    conn.execute_batch("CREATE TABLE pad (b BLOB); INSERT INTO pad VALUES (zeroblob(200000));")
        .unwrap();
    drop(conn);
    a.push().await.unwrap();
    let conn = rusqlite::Connection::open(a.local_path()).unwrap();
    conn.execute("UPDATE t SET v = 'not pushed'", []).unwrap();
    drop(conn);

    let b = Replica::open_url(&url, at("b.db")).await.unwrap();
    assert_eq!(values(b.local_path()), ["pushed"]);
    drop(b);

    // shrink the local file under the remote's feet
    let conn = rusqlite::Connection::open(a.local_path()).unwrap();
    conn.execute_batch("DROP TABLE pad; VACUUM;").unwrap();
    drop(conn);
    let c = Replica::open_url(&url, at("c.db")).await.unwrap();
    assert_eq!(c.opened().action, SyncAction::Downloaded);
    assert_eq!(values(c.local_path()), ["pushed"]);
    let fx_values = s3sqlite_testkit::read_remote(&*remote, |conn| {
        conn.prepare("SELECT v FROM t")?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .await
    .unwrap();
    assert_eq!(fx_values, ["pushed"]);
}
