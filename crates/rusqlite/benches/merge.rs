//! Merge benchmark: eight writers in step under [`ChangesetMerge`] beside
//! the retry loop users write without it, on the same server, and what
//! keeping the base copy costs a sync.
//!
//! ```text
//! eval "$(.ci/s3-server start localstack)"
//! cargo bench -p s3sqlite-rusqlite --bench merge
//! ```
//!
//! # Writers
//!
//! A remote database padded to 6.5 MiB holds `events` (text keys) and
//! `counters` (one row per writer). Eight writers, each a
//! [`SyncedConnection`] with a local copy of its own, run 20 rounds in step:
//! insert an event, bump its own counter, then all sync at the same moment.
//!
//! - `retry loop`: the default policy; on a conflict the writer takes the
//!   remote's copy (`sync_with(KeepRemote)`), does its round's work again
//!   and syncs again, until the sync lands.
//! - `ChangesetMerge`: the sync merges; no loop.
//!
//! Each row gives the wall time of all 160 rounds, the bytes up and down the
//! sync reports count, and the requests the writers made to the store
//! (HEAD, GET and PUT calls of the remote: a download of this size is one
//! GET). Both runs check that every event landed once and every counter is
//! exact.
//!
//! # Base copy
//!
//! A database of `S3SQLITE_BENCH_BASE_MIB` (64) MiB: the time of a sync
//! after a one-row update, and of an open that downloads the database, with
//! and without a base copy (median of `S3SQLITE_BENCH_RUNS`, default 5).
//!
//! # Settings (environment)
//!
//! - `S3SQLITE_BENCH_BACKEND`: `localstack` (default), `ceph`, `moto`,
//!   `memory` or `file`; a server backend connects to the server the
//!   testkit finds (`S3SQLITE_TEST_ENDPOINT` and the like) or starts one;
//! - `S3SQLITE_BENCH_ROUNDS`: rounds per writer, default 20.
//!
//! Run without `--bench` (as `cargo test --benches` does), it makes one
//! quick pass on memory: 2 rounds, a 4 MiB base-copy database, one run.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use s3sqlite_rusqlite::{
    ChangesetMerge, KeepRemote, ObjectStoreRemote, ReplicaOptions, SyncAction, SyncedConnection,
};
use s3sqlite_testkit::{
    Backend, FaultyRemote, Fixture, Op, pad_database, read_remote, seed_remote,
};

const WRITERS: i64 = 8;
const PADDING: i64 = 6 * 1024 * 1024 + 512 * 1024;

/// What one run of the writers moved.
#[derive(Debug, Default)]
struct Tally {
    syncs: usize,
    conflicts: usize,
    merged: usize,
    up: u64,
    down: u64,
    requests: usize,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.syncs += other.syncs;
        self.conflicts += other.conflicts;
        self.merged += other.merged;
        self.up += other.up;
        self.down += other.down;
        self.requests += other.requests;
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn backend() -> Backend {
    match std::env::var("S3SQLITE_BENCH_BACKEND").as_deref() {
        Ok("memory") => Backend::Memory,
        Ok("file") => Backend::File,
        Ok("moto") => Backend::Moto,
        Ok("ceph") => Backend::Ceph,
        Ok("localstack") | Err(_) => Backend::LocalStack,
        Ok(other) => panic!(
            "S3SQLITE_BENCH_BACKEND={other:?}: expected localstack, ceph, moto, memory or file"
        ),
    }
}

async fn seed(fx: &Fixture, key: &str) {
    seed_remote(&fx.remote(key), |conn| {
        conn.execute_batch(
            "CREATE TABLE events (id TEXT PRIMARY KEY, writer INTEGER NOT NULL);
             CREATE TABLE counters (writer INTEGER PRIMARY KEY, n INTEGER NOT NULL);
             CREATE TABLE pad (b BLOB NOT NULL);",
        )?;
        for writer in 0..WRITERS {
            conn.execute("INSERT INTO counters VALUES (?1, 0)", [writer])?;
        }
        conn.execute("INSERT INTO pad VALUES (zeroblob(?1))", [PADDING])?;
        Ok(())
    })
    .await
    .unwrap();
}

/// One round's work of `writer`.
fn work(db: &SyncedConnection, writer: i64, round: u64) {
    db.execute(
        "INSERT INTO events VALUES (?1, ?2)",
        rusqlite::params![format!("w{writer}-r{round}"), writer],
    )
    .unwrap();
    db.execute("UPDATE counters SET n = n + 1 WHERE writer = ?1", [writer])
        .unwrap();
}

/// Eight writers in step for `rounds` rounds on `key`, merging or retrying.
async fn writers(fx: &Fixture, key: &str, rounds: u64, merge: bool) -> (Duration, Tally) {
    seed(fx, key).await;
    let in_step = Arc::new(Barrier::new(WRITERS as usize));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let remote = Arc::new(FaultyRemote::new(fx.remote(key)));
        let local = fx.local(&format!("{key}-{writer}.db"));
        let in_step = Arc::clone(&in_step);
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut builder =
                SyncedConnection::builder_for(Arc::clone(&remote)).with_local_path(local);
            if merge {
                builder = builder.with_policy(ChangesetMerge::new());
            }
            let mut db = builder.open().unwrap();
            let mut tally = Tally::default();
            for round in 0..rounds {
                work(&db, writer, round);
                in_step.wait();
                loop {
                    tally.syncs += 1;
                    match db.sync() {
                        Ok(report) => {
                            tally.up += report.bytes_up;
                            tally.down += report.bytes_down;
                            if report.action == SyncAction::Merged {
                                tally.merged += 1;
                            }
                            break;
                        }
                        Err(err) if err.is_conflict() && !merge => {
                            tally.conflicts += 1;
                            let report = db.sync_with(KeepRemote).unwrap();
                            tally.down += report.bytes_down;
                            work(&db, writer, round);
                        }
                        Err(err) => panic!("writer {writer}, round {round}: {err}"),
                    }
                }
            }
            db.close().unwrap();
            tally.requests = [Op::Head, Op::Download, Op::Upload]
                .iter()
                .map(|&op| remote.calls(op))
                .sum();
            tally
        }));
    }
    let mut finished = Vec::new();
    for task in tasks {
        finished.push(task.await);
    }
    let mut total = Tally::default();
    for tally in finished {
        total.add(&tally.unwrap());
    }
    let elapsed = started.elapsed();
    check(&fx.remote(key), rounds).await;
    (elapsed, total)
}

/// Every event once, every counter exact.
async fn check(remote: &ObjectStoreRemote, rounds: u64) {
    let (events, counters) = read_remote(remote, |conn| {
        let events: i64 =
            conn.query_row("SELECT count(DISTINCT id) FROM events", [], |r| r.get(0))?;
        let counters: Vec<i64> = conn
            .prepare("SELECT n FROM counters ORDER BY writer")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok((events, counters))
    })
    .await
    .unwrap();
    assert_eq!(events, WRITERS * rounds as i64);
    assert!(counters.iter().all(|&n| n == rounds as i64), "{counters:?}");
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Median sync after a one-row update, and median open that downloads, at
/// `mib` MiB, with or without a base copy.
async fn base_copy_cost(fx: &Fixture, mib: u64, runs: u64, keep: bool) -> (Duration, Duration) {
    let key = format!("base-{keep}.db");
    seed_remote(&fx.remote(&key), |conn| {
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")?;
        conn.execute("INSERT INTO t VALUES (1, 0)", [])?;
        pad_database(conn, mib)
    })
    .await
    .unwrap();
    let options = |name: String| {
        ReplicaOptions::new()
            .with_local_path(fx.local(&name))
            .with_base_copy(keep)
    };
    let mut syncs = Vec::new();
    let mut opens = Vec::new();
    for run in 0..runs {
        let remote = fx.remote(&key);
        let options = options(format!("{key}-{run}.db"));
        let (open, sync) = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let mut db = SyncedConnection::builder_for(remote)
                .with_replica_options(options)
                .open()
                .unwrap();
            assert_eq!(db.opened_action(), SyncAction::Downloaded);
            let open = started.elapsed();
            db.execute("UPDATE t SET v = v + 1", []).unwrap();
            let started = Instant::now();
            db.sync().unwrap();
            let sync = started.elapsed();
            db.close().unwrap();
            (open, sync)
        })
        .await
        .unwrap();
        opens.push(open);
        syncs.push(sync);
    }
    (median(opens), median(syncs))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let backend = if quick { Backend::Memory } else { backend() };
    let rounds = if quick {
        2
    } else {
        env_or("S3SQLITE_BENCH_ROUNDS", 20)
    };
    let base_mib = if quick {
        4
    } else {
        env_or("S3SQLITE_BENCH_BASE_MIB", 64)
    };
    let runs = if quick {
        1
    } else {
        env_or("S3SQLITE_BENCH_RUNS", 5)
    };
    let fx = Fixture::new(backend)
        .await
        .unwrap_or_else(|e| panic!("{backend} fixture: {e}"));

    println!(
        "merge benchmark on {backend}: {WRITERS} writers x {rounds} rounds in step, 6.5 MiB database"
    );
    println!(
        "| writers | wall time | syncs | conflicts met | merged | MiB up | MiB down | requests |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, merge) in [("retry loop", false), ("ChangesetMerge", true)] {
        let key = format!("{}.db", name.replace(' ', "-"));
        let (elapsed, t) = writers(&fx, &key, rounds, merge).await;
        println!(
            "| {name} | {:.1} s | {} | {} | {} | {:.0} | {:.0} | {} |",
            elapsed.as_secs_f64(),
            t.syncs,
            t.conflicts,
            t.merged,
            mib(t.up),
            mib(t.down),
            t.requests
        );
    }

    println!();
    println!("base copy at {base_mib} MiB on {backend} (median of {runs}):");
    println!("| base copy | open (download) | sync after a one-row update |");
    println!("|---|---|---|");
    for keep in [false, true] {
        let (open, sync) = base_copy_cost(&fx, base_mib, runs, keep).await;
        println!(
            "| {} | {:.0} ms | {:.0} ms |",
            if keep { "kept" } else { "none" },
            open.as_secs_f64() * 1000.0,
            sync.as_secs_f64() * 1000.0
        );
    }
}
