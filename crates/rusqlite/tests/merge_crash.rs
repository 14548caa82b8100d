//! A merge killed at any moment loses neither side: a child process (this
//! test binary, run again) commits a row and syncs under `ChangesetMerge`
//! onto a remote that the parent has just moved, and is killed with SIGKILL
//! at a random moment of that sync (while it fetches, merges, installs the
//! merge or uploads it). The next child resumes from the same local path.
//! At the end a verifier syncs that local path once more, and the remote
//! must hold every row the parent landed and every row a child reported
//! committed, once each, in a database that passes `integrity_check`, with
//! no temp file of the engine left beside the local copy.
//!
//! The remote is a `file://` folder, so that the parent and its children
//! share it without a server; the kill delays come from a seeded xorshift
//! generator (`S3SQLITE_CRASH_SEED` replays a seed).
#![cfg(unix)]

use std::collections::BTreeSet;
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use s3sqlite_rusqlite::{ChangesetMerge, SyncAction, SyncedConnection};

const CHILD_VAR: &str = "S3SQLITE_MERGE_CRASH_CHILD";
const CHILD_TEST: &str = "child_commits_a_row_and_merges";
const ROUNDS: u64 = 30;
const PADDING: i64 = 4 * 1024 * 1024;

fn open(url: &str, local: &Path) -> SyncedConnection {
    SyncedConnection::builder(url)
        .with_local_path(local)
        .with_policy(ChangesetMerge::new())
        .with_init(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY);
                 CREATE TABLE IF NOT EXISTS pad (id INTEGER PRIMARY KEY, b BLOB);",
            )
        })
        .open()
        .unwrap_or_else(|e| panic!("open {}: {e}", local.display()))
}

/// A child prints `committed ID`, waits for a line on its stdin (the parent
/// moves the remote meanwhile, so that the sync merges), syncs and prints
/// `synced`.
#[test]
fn child_commits_a_row_and_merges() {
    let Ok(job) = std::env::var(CHILD_VAR) else {
        return;
    };
    let parts: Vec<&str> = job.split('\n').collect();
    let [url, local, id] = parts[..] else {
        panic!("{CHILD_VAR} is not url, local path and id: {job:?}");
    };
    let say = |line: &str| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").and_then(|()| out.flush()).unwrap();
    };
    let mut db = open(url, Path::new(local));
    db.execute("INSERT INTO events VALUES (?1)", [id]).unwrap();
    say(&format!("committed {id}"));
    std::io::stdin().read_line(&mut String::new()).unwrap();
    let report = db.sync().unwrap();
    assert_eq!(report.action, SyncAction::Merged, "{report}");
    say("synced");
    db.close().unwrap();
}

/// xorshift64: reproducible kill delays.
struct Delays(u64);

impl Delays {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// Runs a child that commits `id` at `local`; once it has, runs `meanwhile`
/// and lets the child sync, and kills it `delay` after that. Returns whether the commit was reported,
/// and how long after it the child reported the sync (`None`: killed first).
fn run_child(
    url: &str,
    local: &Path,
    id: &str,
    meanwhile: impl FnOnce(),
    delay: Duration,
) -> (bool, Option<Duration>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--quiet"])
        .env(CHILD_VAR, format!("{url}\n{}\n{id}", local.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let said = format!("committed {id}");
    let committed = lines
        .by_ref()
        .any(|line| matches!(line, Ok(line) if line == said));
    assert!(committed, "child {id} did not report its commit");
    meanwhile();
    let mut go = child.stdin.take().unwrap();
    writeln!(go, "go").unwrap();
    let started = Instant::now();
    let reader = std::thread::spawn(move || {
        // read to the end: a child that writes to a closed pipe fails
        let mut synced = None;
        for line in lines.map_while(Result::ok) {
            if line == "synced" {
                synced = Some(started.elapsed());
            }
        }
        synced
    });
    while started.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    let synced = reader.join().unwrap();
    if synced.is_none() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "child {id} failed: {status}");
    }
    (committed, synced)
}

fn events(conn: &rusqlite::Connection) -> Vec<String> {
    conn.prepare("SELECT id FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn a_merge_killed_at_any_moment_loses_neither_side() {
    if std::env::var(CHILD_VAR).is_ok() {
        return;
    }
    let seed = std::env::var("S3SQLITE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| RandomState::new().hash_one(Instant::now()) | 1);
    let mut delays = Delays(seed);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("remote")).unwrap();
    let url = format!("file://{}/remote/events.db", dir.path().display());
    let parent_path = dir.path().join("parent/events.db");
    let child_path = dir.path().join("child/events.db");

    let mut parent = open(&url, &parent_path);
    parent
        .execute("INSERT INTO pad (b) VALUES (zeroblob(?1))", [PADDING])
        .unwrap();
    parent.sync().unwrap();

    // a parent's push while a child waits to sync: the child's sync merges
    let push = |parent: &mut SyncedConnection, id: &str| {
        parent.pull().unwrap();
        parent
            .execute("INSERT INTO events VALUES (?1)", [id])
            .unwrap();
        parent.sync().unwrap();
    };
    // how long an undisturbed merging sync takes: the kills land within it
    let (_, synced) = run_child(
        &url,
        &child_path,
        "c-warmup",
        || push(&mut parent, "p-warmup"),
        Duration::from_secs(60),
    );
    let span = synced.expect("the warm-up child syncs").as_millis() as u64 + 1;

    let mut expected: BTreeSet<String> = ["p-warmup", "c-warmup"].map(String::from).into();
    let mut kills = 0;
    for round in 0..ROUNDS {
        let (theirs, ours) = (format!("p-{round}"), format!("c-{round}"));
        let delay = Duration::from_millis(delays.next_ms(span));
        let (committed, synced) = run_child(
            &url,
            &child_path,
            &ours,
            || push(&mut parent, &theirs),
            delay,
        );
        expected.insert(theirs);
        if committed {
            expected.insert(ours);
        }
        kills += usize::from(synced.is_none());
    }

    // the verifier resumes the child's local copy and finishes the job
    let mut verifier = open(&url, &child_path);
    let report = verifier.sync().unwrap();
    verifier.close().unwrap();
    parent.pull().unwrap();
    let landed: BTreeSet<String> = events(&parent).into_iter().collect();
    let check: String = parent
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    parent.close().unwrap();
    let leftovers: Vec<String> = std::fs::read_dir(child_path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".events.db.s3sqlite-"))
        .collect();
    println!(
        "merge crash test (seed {seed}): {ROUNDS} rounds, {kills} children killed mid-sync \
         (delays below {span} ms); the verifier's sync: {report}; {} rows landed",
        landed.len()
    );
    assert_eq!(landed, expected, "seed {seed}");
    assert_eq!(check, "ok", "seed {seed}");
    assert!(leftovers.is_empty(), "seed {seed}: {leftovers:?}");
}
