//! Eight writers on one remote under `ChangesetMerge`, with no retry loop:
//! each round inserts an event row with a text key, bumps the writer's own
//! counter row and syncs. Every sync must succeed, every event must land
//! once, and every counter must be exact.
//!
//! The writers sync in step: each round, all eight start their sync from
//! the same base at the same moment, so that one uploads and seven merge
//! (and merge again, while others land first). The database is padded past
//! 6 MiB, so that each merge moves a real body and the writers overlap for
//! real on a server.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::types::Value;
use s3sqlite_rusqlite::{ChangesetMerge, RemoteStore, SyncAction, SyncedConnection};
use s3sqlite_testkit::{Fixture, read_remote, seed_remote};

const WRITERS: i64 = 8;
const ROUNDS: i64 = 8;
const PADDING: i64 = 6 * 1024 * 1024 + 512 * 1024;

s3sqlite_testkit::backend_tests!(atomic: eight_writers_merge_every_round_without_a_conflict);

/// How long a writer waits for the others at a step.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

/// A barrier the writers pass together, round by round, that a failed
/// writer breaks, so that the others fail too instead of waiting forever.
#[derive(Default)]
struct InStep {
    state: Mutex<(usize, u64, bool)>,
    turned: Condvar,
}

impl InStep {
    /// Waits until every writer arrives; panics when one failed.
    fn wait(&self) {
        let mut state = self.state.lock().unwrap();
        let generation = state.1;
        state.0 += 1;
        if state.0 == WRITERS as usize {
            state.0 = 0;
            state.1 += 1;
            self.turned.notify_all();
            return;
        }
        let (state, timeout) = self
            .turned
            .wait_timeout_while(state, STEP_TIMEOUT, |s| s.1 == generation && !s.2)
            .unwrap();
        assert!(!state.2, "another writer failed");
        assert!(
            !timeout.timed_out(),
            "the other writers did not arrive in {STEP_TIMEOUT:?}"
        );
    }

    /// Lets every waiting writer go, failing.
    fn break_off(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).2 = true;
        self.turned.notify_all();
    }
}

/// Breaks the step off when the writer holding it panics.
struct BreakOnPanic(Arc<InStep>);

impl Drop for BreakOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.break_off();
        }
    }
}

/// What one writer saw.
#[derive(Debug, Default)]
struct Tally {
    uploaded: usize,
    merged: usize,
    bytes_up: u64,
    bytes_down: u64,
}

async fn eight_writers_merge_every_round_without_a_conflict(fx: Fixture) {
    let remote = fx.remote("events.db");
    println!("merge concurrency test on {} ({remote})", fx.backend());
    seed_remote(&remote, |conn| {
        conn.execute_batch(
            "CREATE TABLE events (id TEXT PRIMARY KEY, writer INTEGER NOT NULL, round INTEGER NOT NULL);
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

    let started = Instant::now();
    let mut writers = Vec::new();
    let in_step = Arc::new(InStep::default());
    for writer in 0..WRITERS {
        let in_step = Arc::clone(&in_step);
        let remote = fx.remote("events.db");
        let local = fx.local(&format!("writer-{writer}.db"));
        writers.push(tokio::task::spawn_blocking(move || {
            let _guard = BreakOnPanic(Arc::clone(&in_step));
            let mut db = SyncedConnection::builder_for(remote)
                .with_local_path(local)
                .with_policy(ChangesetMerge::new())
                .open()
                .unwrap();
            let mut tally = Tally::default();
            for round in 0..ROUNDS {
                let id = format!("w{writer}-r{round}");
                db.execute(
                    "INSERT INTO events VALUES (?1, ?2, ?3)",
                    rusqlite::params![id, writer, round],
                )
                .unwrap();
                db.execute("UPDATE counters SET n = n + 1 WHERE writer = ?1", [writer])
                    .unwrap();
                in_step.wait();
                let report = db
                    .sync()
                    .unwrap_or_else(|e| panic!("writer {writer}, round {round}: {e}"));
                match report.action {
                    SyncAction::Uploaded => tally.uploaded += 1,
                    SyncAction::Merged => tally.merged += 1,
                    other => panic!("writer {writer}, round {round}: {other:?}"),
                }
                tally.bytes_up += report.bytes_up;
                tally.bytes_down += report.bytes_down;
            }
            db.close().unwrap();
            tally
        }));
    }
    let mut total = Tally::default();
    // every writer finishes before any failure is reported: the fixture's
    // folders must outlive them
    let mut finished = Vec::new();
    for writer in writers {
        finished.push(writer.await);
    }
    for tally in finished {
        let tally = tally.unwrap();
        total.uploaded += tally.uploaded;
        total.merged += tally.merged;
        total.bytes_up += tally.bytes_up;
        total.bytes_down += tally.bytes_down;
    }
    let elapsed = started.elapsed();

    let (events, counters) = read_remote(&remote, |conn| {
        let events: Vec<(String, i64)> = conn
            .prepare("SELECT id, count(*) FROM events GROUP BY id ORDER BY id")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let counters: Vec<(i64, Value)> = conn
            .prepare("SELECT writer, n FROM counters ORDER BY writer")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok((events, counters))
    })
    .await
    .unwrap();
    let size = remote.head().await.unwrap().unwrap().size;
    println!(
        "merge concurrency test on {}: {WRITERS} writers x {ROUNDS} rounds in {elapsed:.1?}: \
         {} syncs uploaded directly, {} merged, 0 conflicts; {} MiB up, {} MiB down; \
         database {size} bytes",
        fx.backend(),
        total.uploaded,
        total.merged,
        total.bytes_up / (1024 * 1024),
        total.bytes_down / (1024 * 1024),
    );
    assert!(size > 6 * 1024 * 1024, "{size}");
    assert_eq!(events.len() as i64, WRITERS * ROUNDS);
    for writer in 0..WRITERS {
        for round in 0..ROUNDS {
            let id = format!("w{writer}-r{round}");
            assert!(
                events.contains(&(id.clone(), 1)),
                "event {id} missing or doubled"
            );
        }
    }
    let expected: Vec<(i64, Value)> = (0..WRITERS).map(|w| (w, Value::Integer(ROUNDS))).collect();
    assert_eq!(counters, expected);
    assert_eq!(total.uploaded + total.merged, (WRITERS * ROUNDS) as usize);
}
