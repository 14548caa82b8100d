//! Pool benchmark: query throughput through [`S3SqlitePool`] beside a plain
//! [`SqlitePool`], and what [`S3SqlitePool::sync`] costs.
//!
//! ```text
//! cargo bench -p s3sqlite-sqlx --bench pool
//! ```
//!
//! # Query throughput
//!
//! An [`S3SqlitePool`] on a `memory:///` remote and a plain [`SqlitePool`]
//! on a temp file of its own, both opened with the same settings: the same
//! [`SqliteConnectOptions`], WAL journal mode, `wal_autocheckpoint = 0` and
//! a pool of 4 connections. Both start with a table of 100 000 rows. Each
//! round runs every workload for a fixed number of operations on each pool,
//! in 10 blocks: the pools take turns block by block (ABAB…), and which one
//! goes first alternates from block to block (AB BA AB …), so that neither
//! drift nor going first favours one. The workloads, per pool and round:
//!
//! - `point SELECT`: 20 000 `SELECT … WHERE id = ?` by primary key on
//!   pseudo-random ids (the same ids on both pools), from 4 tasks at once;
//! - `single INSERT`: 5 000 one-row `INSERT`s from one task, each its own
//!   implicit transaction (a commit each);
//! - `batch INSERT`: 20 000 one-row `INSERT`s in transactions of 1 000.
//!
//! Before every timed block both pools checkpoint their WAL (`PRAGMA
//! wal_checkpoint(TRUNCATE)`, as every `sync()` does; the other pool first,
//! then the one about to be timed) outside the clock: the WAL does not grow
//! from round to round, and no pool's writes are still waiting for the disk
//! while the other is timed. The table gives, for each
//! pool, the ops/s of its best block (best of rounds × blocks), and the
//! ratio S3SqlitePool / plain of the best blocks and of the median blocks.
//! Blocks that stall (an fsync, the scheduler) make the median ratio the
//! noisier one; the best-block ratio is the one to hold against the
//! target. `S3SqlitePool` derefs to the very same [`SqlitePool`] type, so
//! both should be 1.0 within noise (target: >= 0.98).
//!
//! # Sync
//!
//! On a fresh remote, an [`S3SqlitePool`] is filled with a table of
//! 64 KiB `randomblob` rows (64 MiB in all) in one transaction, then, best
//! of N runs (each on its own key and local path):
//!
//! - `first sync`: checkpoint of the whole WAL, hash and upload of all of it;
//! - `unchanged sync`: nothing changed (checkpoint and hash, no upload);
//! - `sync after UPDATE`: one small `UPDATE`, then a sync (a full upload).
//!
//! MB/s is 10^6 bytes uploaded per second.
//!
//! # Settings (environment)
//!
//! - `S3SQLITE_BENCH_ROUNDS`: throughput rounds, default 12;
//! - `S3SQLITE_BENCH_SYNC_MIB`: database size for the sync rows, default 64;
//! - `S3SQLITE_BENCH_RUNS`: runs per sync measurement, default 3;
//! - `S3SQLITE_TEST_ENDPOINT`: a LocalStack S3 endpoint; without it the S3
//!   sync rows are left out (`eval "$(.ci/s3-server start)"` starts
//!   LocalStack and exports it). The fixture makes a fresh bucket there.
//!
//! Run without `--bench` (as `cargo test --benches` does), it makes one quick
//! pass: small counts in 2 blocks, two rounds, 1 MiB, one run, unless the
//! variables above say otherwise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use s3sqlite_core::ObjectStoreRemote;
use s3sqlite_core::object_store::ObjectStoreExt;
use s3sqlite_sqlx::{S3SqlitePool, SyncAction, SyncReport};
use s3sqlite_testkit::{S3Server, ServerKind};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tokio::task::JoinSet;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BenchResult<T> = Result<T, BoxError>;

const MIB: u64 = 1 << 20;
/// Connections in each pool, and tasks issuing the point SELECTs.
const POOL_SIZE: u32 = 4;
/// Rows of the table the point SELECTs read.
const TABLE_ROWS: i64 = 100_000;
/// Rows per transaction in the batch INSERT workload.
const BATCH_SIZE: usize = 1_000;
/// Size of one `randomblob` row of the sync database.
const BLOB_BYTES: u64 = 64 << 10;

struct Config {
    rounds: usize,
    /// Blocks per workload and round; the counts below divide by it.
    blocks: usize,
    selects: usize,
    inserts: usize,
    batches: usize,
    sync_mib: u64,
    sync_runs: usize,
    endpoint: Option<String>,
    quick: bool,
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let config = Config::from_env()?;
    print_header(&config);

    let throughput = measure_throughput(&config).await?;

    let mut sync_rows = Vec::new();
    sync_rows.extend(measure_sync("memory", None, &config).await?);
    if let Some(endpoint) = &config.endpoint {
        let server = S3Server::connect(ServerKind::LocalStack, endpoint).await?;
        sync_rows.extend(measure_sync("s3", Some(&server), &config).await?);
    }

    print_throughput(&config, &throughput);
    println!();
    print_sync(&config, &sync_rows);
    Ok(())
}

impl Config {
    fn from_env() -> BenchResult<Self> {
        // `cargo bench` passes `--bench`; `cargo test --benches` does not
        let quick = !std::env::args().any(|arg| arg == "--bench");
        let endpoint = std::env::var("S3SQLITE_TEST_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty());
        Ok(Config {
            rounds: env_count("S3SQLITE_BENCH_ROUNDS", if quick { 2 } else { 12 })?,
            blocks: if quick { 2 } else { 10 },
            selects: if quick { 2_000 } else { 20_000 },
            inserts: if quick { 500 } else { 5_000 },
            batches: if quick { 2 } else { 20 },
            sync_mib: env_count("S3SQLITE_BENCH_SYNC_MIB", if quick { 1 } else { 64 })?,
            sync_runs: env_count("S3SQLITE_BENCH_RUNS", if quick { 1 } else { 3 })?,
            endpoint,
            quick,
        })
    }
}

/// A count >= 1 from the environment variable `var`, else `default`.
fn env_count<T: std::str::FromStr + PartialOrd + From<u8>>(
    var: &str,
    default: T,
) -> BenchResult<T> {
    match std::env::var(var) {
        Ok(value) => match value.trim().parse::<T>() {
            Ok(n) if n >= T::from(1) => Ok(n),
            _ => Err(format!("{var}={value:?}: expected a count >= 1").into()),
        },
        Err(_) => Ok(default),
    }
}

fn print_header(config: &Config) {
    let mut command: Vec<String> = [
        "S3SQLITE_TEST_ENDPOINT",
        "S3SQLITE_BENCH_ROUNDS",
        "S3SQLITE_BENCH_SYNC_MIB",
        "S3SQLITE_BENCH_RUNS",
    ]
    .into_iter()
    .filter_map(|var| {
        std::env::var(var)
            .ok()
            .map(|value| format!("{var}={value}"))
    })
    .collect();
    command.push(if config.quick {
        "cargo test -p s3sqlite-sqlx --bench pool".to_owned()
    } else {
        "cargo bench -p s3sqlite-sqlx --bench pool".to_owned()
    });
    println!("command: {}", command.join(" "));
    if config.quick {
        println!("quick pass (run without --bench): use `cargo bench` for the full set");
    }
    println!(
        "throughput: pools of {POOL_SIZE} connections, WAL, wal_autocheckpoint=0, table of {TABLE_ROWS} rows; \
         {} round(s) of {} blocks per pool, taking turns (AB BA AB ...)",
        config.rounds, config.blocks
    );
    println!(
        "  per pool and round: {} point SELECTs, {} single INSERTs, {} INSERTs in transactions of {BATCH_SIZE}",
        Workload::PointSelect.ops_per_block(config) * config.blocks,
        Workload::SingleInsert.ops_per_block(config) * config.blocks,
        Workload::BatchInsert.ops_per_block(config) * config.blocks,
    );
    println!(
        "sync: {} MiB database, best of {} run(s); MB/s = 10^6 bytes uploaded/s",
        config.sync_mib, config.sync_runs
    );
    if let Some(endpoint) = &config.endpoint {
        println!("s3: LocalStack at {endpoint}, fresh bucket");
    }
    println!();
}

// ---------------------------------------------------------------------------
// Query throughput

/// A pool under test: the workloads reach its [`SqlitePool`] through it.
trait Subject: Send + Sync + 'static {
    fn pool(&self) -> &SqlitePool;
}

impl Subject for S3SqlitePool {
    fn pool(&self) -> &SqlitePool {
        self
    }
}

impl Subject for SqlitePool {
    fn pool(&self) -> &SqlitePool {
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    PointSelect,
    SingleInsert,
    BatchInsert,
}

impl Workload {
    const ALL: [Workload; 3] = [
        Workload::PointSelect,
        Workload::SingleInsert,
        Workload::BatchInsert,
    ];

    fn label(self) -> &'static str {
        match self {
            Workload::PointSelect => "point SELECT (4 tasks)",
            Workload::SingleInsert => "single INSERT (autocommit)",
            Workload::BatchInsert => "batch INSERT (1000/tx)",
        }
    }

    /// Operations per block.
    fn ops_per_block(self, config: &Config) -> usize {
        match self {
            Workload::PointSelect => config.selects / config.blocks,
            Workload::SingleInsert => config.inserts / config.blocks,
            Workload::BatchInsert => config.batches / config.blocks * BATCH_SIZE,
        }
    }
}

/// The time of every block of one workload, for each pool.
struct Throughput {
    workload: Workload,
    s3: Vec<Duration>,
    plain: Vec<Duration>,
}

impl Throughput {
    /// The ops/s of the fastest block in `blocks`.
    fn best(&self, blocks: &[Duration], config: &Config) -> f64 {
        let fastest = blocks.iter().min().copied().unwrap_or_default();
        self.workload.ops_per_block(config) as f64 / fastest.as_secs_f64()
    }

    /// The ops/s of the median block in `blocks`.
    fn median(&self, blocks: &[Duration], config: &Config) -> f64 {
        let mut sorted = blocks.to_vec();
        sorted.sort();
        let n = sorted.len();
        let median = match n {
            0 => Duration::ZERO,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
        };
        self.workload.ops_per_block(config) as f64 / median.as_secs_f64()
    }
}

/// The connection options both pools get; `S3SqlitePool` sets the file
/// name, WAL and `wal_autocheckpoint = 0` on top of them itself.
fn base_options() -> SqliteConnectOptions {
    SqliteConnectOptions::new()
}

/// The pool options both pools get. (No `min_connections`: connections
/// opened in the background while the tables are written can hold up the
/// first checkpoint for the whole busy timeout; the warm-up opens them.)
fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().max_connections(POOL_SIZE)
}

async fn measure_throughput(config: &Config) -> BenchResult<Vec<Throughput>> {
    let dir = tempfile::tempdir()?;
    let s3 = Arc::new(
        S3SqlitePool::builder_for(s3sqlite_testkit::memory_remote("bench.db"))
            .with_local_path(dir.path().join("s3sqlite.db"))
            .with_connect_options(base_options())
            .with_pool_options(pool_options())
            .connect()
            .await?,
    );
    let plain = Arc::new(
        pool_options()
            .connect_with(
                base_options()
                    .filename(dir.path().join("plain.db"))
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .pragma("wal_autocheckpoint", "0"),
            )
            .await?,
    );
    for (name, pool) in [("S3SqlitePool", s3.pool()), ("plain", &*plain)] {
        let started = Instant::now();
        prepare_tables(pool).await?;
        eprintln!(
            "prepared {name}: {TABLE_ROWS} rows in {:.1?}",
            started.elapsed()
        );
    }
    check_same_settings(s3.pool(), &plain).await?;

    // one block of every workload on each pool, not recorded
    eprintln!("warm-up");
    for workload in Workload::ALL {
        run_block(&s3, &plain, workload, config, 0).await?;
        run_block(&plain, s3.pool(), workload, config, 0).await?;
    }

    let mut results: Vec<Throughput> = Workload::ALL
        .iter()
        .map(|&workload| Throughput {
            workload,
            s3: Vec::new(),
            plain: Vec::new(),
        })
        .collect();
    for round in 1..=config.rounds {
        for result in &mut results {
            let workload = result.workload;
            let (mut s3_time, mut plain_time) = (Duration::ZERO, Duration::ZERO);
            for block in 0..config.blocks {
                // AB, then BA, then AB…
                let s3_first = block % 2 == 0;
                for s3_turn in [s3_first, !s3_first] {
                    if s3_turn {
                        let time = run_block(&s3, &plain, workload, config, round).await?;
                        result.s3.push(time);
                        s3_time += time;
                    } else {
                        let time = run_block(&plain, s3.pool(), workload, config, round).await?;
                        result.plain.push(time);
                        plain_time += time;
                    }
                }
            }
            let ops = (workload.ops_per_block(config) * config.blocks) as f64;
            eprintln!(
                "round {round}/{}: {:<27} {ops:>6} ops: S3SqlitePool {:>9.0} ops/s, plain {:>9.0} ops/s",
                config.rounds,
                workload.label(),
                ops / s3_time.as_secs_f64(),
                ops / plain_time.as_secs_f64(),
            );
        }
    }

    plain.close().await;
    s3.close().await?;
    Ok(results)
}

/// The table the SELECTs read (`kv`, [`TABLE_ROWS`] rows) and the one the
/// INSERTs write (`log`).
async fn prepare_tables(pool: &SqlitePool) -> sqlx::Result<()> {
    sqlx::query("CREATE TABLE kv (id INTEGER PRIMARY KEY, val TEXT NOT NULL)")
        .execute(pool)
        .await?;
    sqlx::query(
        "CREATE TABLE log (id INTEGER PRIMARY KEY, round INTEGER NOT NULL, body TEXT NOT NULL)",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?) \
         INSERT INTO kv (id, val) SELECT x, printf('value-%08d', x) FROM n",
    )
    .bind(TABLE_ROWS)
    .execute(pool)
    .await?;
    checkpoint(pool).await
}

/// Checks that both pools run with the same journal mode, autocheckpoint and
/// synchronous settings.
async fn check_same_settings(s3: &SqlitePool, plain: &SqlitePool) -> BenchResult<()> {
    let journal_mode = "PRAGMA journal_mode";
    let (a, b): (String, String) = (
        sqlx::query_scalar(journal_mode).fetch_one(s3).await?,
        sqlx::query_scalar(journal_mode).fetch_one(plain).await?,
    );
    if a != b || a != "wal" {
        return Err(format!("journal_mode: S3SqlitePool has {a}, plain has {b}").into());
    }
    for pragma in ["PRAGMA wal_autocheckpoint", "PRAGMA synchronous"] {
        let (a, b): (i64, i64) = (
            sqlx::query_scalar(pragma).fetch_one(s3).await?,
            sqlx::query_scalar(pragma).fetch_one(plain).await?,
        );
        if a != b {
            return Err(format!("{pragma}: S3SqlitePool has {a}, plain has {b}").into());
        }
    }
    Ok(())
}

async fn checkpoint(pool: &SqlitePool) -> sqlx::Result<()> {
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(pool)
        .await?;
    if busy != 0 {
        eprintln!("warning: a checkpoint did not complete");
    }
    Ok(())
}

/// Runs one block of a workload (its operations for a round over
/// [`Config::blocks`]) on `subject` after checkpointing both it and the
/// `other` pool, and returns the time it took (the checkpoints left out).
async fn run_block<P: Subject>(
    subject: &Arc<P>,
    other: &SqlitePool,
    workload: Workload,
    config: &Config,
    round: usize,
) -> BenchResult<Duration> {
    // the same order for both pools: the other one, then this one
    checkpoint(other).await?;
    checkpoint(subject.pool()).await?;
    let started = Instant::now();
    match workload {
        Workload::PointSelect => point_selects(subject, config.selects / config.blocks).await?,
        Workload::SingleInsert => {
            single_inserts(subject.pool(), config.inserts / config.blocks, round).await?;
        }
        Workload::BatchInsert => {
            batch_inserts(subject.pool(), config.batches / config.blocks, round).await?;
        }
    }
    Ok(started.elapsed())
}

/// `count` point SELECTs from [`POOL_SIZE`] tasks at once, on ids from a
/// fixed pseudo-random sequence per task.
async fn point_selects<P: Subject>(subject: &Arc<P>, count: usize) -> BenchResult<()> {
    let tasks = POOL_SIZE as usize;
    let mut set = JoinSet::new();
    for task in 0..tasks {
        let subject = Arc::clone(subject);
        let share = count / tasks + usize::from(task < count % tasks);
        set.spawn(async move {
            let mut ids = Lcg(0x9e37_79b9_7f4a_7c15 ^ task as u64);
            let mut bytes = 0;
            for _ in 0..share {
                let val: String = sqlx::query_scalar("SELECT val FROM kv WHERE id = ?")
                    .bind(ids.id())
                    .fetch_one(subject.pool())
                    .await?;
                bytes += val.len();
            }
            Ok::<usize, sqlx::Error>(bytes)
        });
    }
    let mut bytes = 0;
    while let Some(done) = set.join_next().await {
        bytes += done??;
    }
    if bytes == 0 && count > 0 {
        return Err("the SELECTs read nothing".into());
    }
    Ok(())
}

async fn single_inserts(pool: &SqlitePool, count: usize, round: usize) -> sqlx::Result<()> {
    for i in 0..count {
        sqlx::query("INSERT INTO log (round, body) VALUES (?, ?)")
            .bind(round as i64)
            .bind(format!("single insert {i}"))
            .execute(pool)
            .await?;
    }
    Ok(())
}

async fn batch_inserts(pool: &SqlitePool, batches: usize, round: usize) -> sqlx::Result<()> {
    for batch in 0..batches {
        let mut tx = pool.begin().await?;
        for i in 0..BATCH_SIZE {
            sqlx::query("INSERT INTO log (round, body) VALUES (?, ?)")
                .bind(round as i64)
                .bind(format!("batch {batch} insert {i}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// A small deterministic generator of ids in `1..=TABLE_ROWS`.
struct Lcg(u64);

impl Lcg {
    fn id(&mut self) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % TABLE_ROWS as u64) as i64 + 1
    }
}

fn print_throughput(config: &Config, results: &[Throughput]) {
    let blocks = config.rounds * config.blocks;
    println!(
        "query throughput: ops/s of the best of {blocks} blocks per pool; \
         ratio = S3SqlitePool / plain (target >= 0.98)"
    );
    println!(
        "{:<27} {:>9} {:>13} {:>10} {:>7} {:>13}",
        "workload", "ops/block", "S3SqlitePool", "plain", "ratio", "ratio median"
    );
    println!("{}", "-".repeat(84));
    for result in results {
        let (s3, plain) = (
            result.best(&result.s3, config),
            result.best(&result.plain, config),
        );
        let median_ratio = result.median(&result.s3, config) / result.median(&result.plain, config);
        println!(
            "{:<27} {:>9} {:>13.0} {:>10.0} {:>7.3} {:>13.3}",
            result.workload.label(),
            result.workload.ops_per_block(config),
            s3,
            plain,
            s3 / plain,
            median_ratio,
        );
    }
    println!(
        "(ratio: of the best blocks; ratio median: of the median blocks, noisier: stalled blocks count)"
    );
}

// ---------------------------------------------------------------------------
// Sync

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncOp {
    First,
    Unchanged,
    AfterUpdate,
}

impl SyncOp {
    const ALL: [SyncOp; 3] = [SyncOp::First, SyncOp::Unchanged, SyncOp::AfterUpdate];

    fn label(self) -> &'static str {
        match self {
            SyncOp::First => "first sync",
            SyncOp::Unchanged => "unchanged sync",
            SyncOp::AfterUpdate => "sync after UPDATE",
        }
    }

    fn expected(self) -> SyncAction {
        match self {
            SyncOp::First | SyncOp::AfterUpdate => SyncAction::Uploaded,
            SyncOp::Unchanged => SyncAction::Unchanged,
        }
    }
}

/// The fastest run of one sync operation on one backend.
struct SyncRow {
    backend: &'static str,
    op: SyncOp,
    best: Duration,
    bytes_up: u64,
}

/// All sync measurements on one backend: memory when `server` is `None`.
async fn measure_sync(
    backend: &'static str,
    server: Option<&S3Server>,
    config: &Config,
) -> BenchResult<Vec<SyncRow>> {
    let mut best: Vec<Option<(Duration, u64)>> = vec![None; SyncOp::ALL.len()];
    for run in 0..config.sync_runs {
        let dir = tempfile::tempdir()?;
        let remote = match server {
            Some(server) => server.remote(&format!("bench-run{run}.db"))?,
            None => s3sqlite_testkit::memory_remote("bench.db"),
        };
        // a second handle on the object, to delete it afterwards
        let object = ObjectStoreRemote::new(Arc::clone(remote.store()), remote.key().clone());
        let db = S3SqlitePool::builder_for(remote)
            .with_local_path(dir.path().join("local.db"))
            .connect()
            .await?;

        let started = Instant::now();
        fill(&db, config.sync_mib).await?;
        eprintln!(
            "[{backend}] run {}/{}: filled {} MiB in {:.1?}; syncing",
            run + 1,
            config.sync_runs,
            config.sync_mib,
            started.elapsed()
        );

        for (slot, op) in best.iter_mut().zip(SyncOp::ALL) {
            if op == SyncOp::AfterUpdate {
                sqlx::query("UPDATE blobs SET note = ? WHERE id = 1")
                    .bind(format!("changed in run {run}"))
                    .execute(&db)
                    .await?;
            }
            let started = Instant::now();
            let report = db.sync().await?;
            let time = started.elapsed();
            check(&report, op.expected(), op.label())?;
            eprintln!(
                "[{backend}] run {}/{}: {:<17} {:>9.1} ms, {report}",
                run + 1,
                config.sync_runs,
                op.label(),
                time.as_secs_f64() * 1e3
            );
            if slot.is_none_or(|(t, _)| time < t) {
                *slot = Some((time, report.bytes_up));
            }
        }

        db.close().await?;
        object.store().delete(object.key()).await?;
    }
    Ok(SyncOp::ALL
        .into_iter()
        .zip(best)
        .filter_map(|(op, best)| {
            best.map(|(best, bytes_up)| SyncRow {
                backend,
                op,
                best,
                bytes_up,
            })
        })
        .collect())
}

/// One table, `blobs`: a small row (id 1) for the UPDATE, and `size_mib` MiB
/// of [`BLOB_BYTES`] random blobs, in one transaction.
async fn fill(db: &SqlitePool, size_mib: u64) -> sqlx::Result<()> {
    sqlx::query("CREATE TABLE blobs (id INTEGER PRIMARY KEY, note TEXT NOT NULL, data BLOB)")
        .execute(db)
        .await?;
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO blobs (id, note) VALUES (1, 'seed')")
        .execute(&mut *tx)
        .await?;
    for _ in 0..size_mib * MIB / BLOB_BYTES {
        sqlx::query("INSERT INTO blobs (note, data) VALUES ('blob', randomblob(?))")
            .bind(BLOB_BYTES as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

fn check(report: &SyncReport, expected: SyncAction, what: &str) -> BenchResult<()> {
    if report.action == expected {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, got: {report}").into())
    }
}

fn print_sync(config: &Config, rows: &[SyncRow]) {
    println!(
        "sync of a {} MiB database: best of {} run(s); MB/s = 10^6 bytes uploaded/s",
        config.sync_mib, config.sync_runs
    );
    println!(
        "{:<8} {:<18} {:>11} {:>12} {:>10}",
        "backend", "op", "best ms", "bytes up", "MB/s"
    );
    println!("{}", "-".repeat(63));
    let mut previous = None;
    for row in rows {
        if previous.is_some_and(|p| p != row.backend) {
            println!();
        }
        previous = Some(row.backend);
        let rate = if row.bytes_up > 0 {
            format!(
                "{:.1}",
                row.bytes_up as f64 / 1e6 / row.best.as_secs_f64().max(1e-9)
            )
        } else {
            "-".to_owned()
        };
        println!(
            "{:<8} {:<18} {:>11.3} {:>12} {:>10}",
            row.backend,
            row.op.label(),
            row.best.as_secs_f64() * 1e3,
            row.bytes_up,
            rate,
        );
    }
    if config.endpoint.is_none() {
        println!();
        println!(
            "s3: not measured; set S3SQLITE_TEST_ENDPOINT to a LocalStack S3 endpoint to add the s3 rows \
             (`eval \"$(.ci/s3-server start)\"` starts LocalStack and exports it)"
        );
    }
}
