//! Delta benchmark: what a replica that is behind by one row pays to catch
//! up, next to a cold open of the same database.
//!
//! ```text
//! cargo bench -p s3sqlite-core --bench delta
//! ```
//!
//! A writer replica creates a database of `S3SQLITE_BENCH_MIB` MiB of
//! padding (default 256) and a table `t` of 100 small rows, and pushes it;
//! a second replica opens it once and stays open. Each of
//! `S3SQLITE_BENCH_ROUNDS` rounds (default 5) then times:
//!
//! - `cold open`: [`Replica::open`] at a fresh local path (a whole
//!   download);
//! - `pull, one row behind`: the writer changes one row and pushes, then the
//!   open replica pulls (the version's manifest and the changed ranges);
//! - `reopen, one row behind`: the replica is closed, the writer changes
//!   another row and pushes, and the replica is opened again at the same
//!   path (the same download of what changed);
//! - `push one row (whole PUT)`: each of the writer's two pushes of the
//!   round, a whole upload of the file and its manifest;
//! - `push one row (incremental)`, on S3 with at least 24 MiB: a third
//!   replica, opened with [`IncrementalUpload::On`], catches up untimed
//!   and pushes a one-row change: the manifest and the changed 8 MiB parts
//!   go up, the store copies the rest. (Every push first brings its writer
//!   to the current version, untimed.)
//!
//! Every download is checked: the cold open must be a whole download, the
//! pull and the reopen must have fetched ranges, and after each the local
//! file must hash to the content hash in the remote version's stamp. Each
//! round changes rows of its own. The disk is flushed (`sync(1)`) before
//! each timed operation, so that none pays for the files written before it.
//!
//! The table gives each operation's best and median time, its median bytes
//! down and up and ranges fetched, and for the pull and the reopen their
//! median bytes down and median time over those of the cold open.
//!
//! It runs on memory and, when `S3SQLITE_TEST_ENDPOINT` is set, on that S3
//! endpoint (`S3SQLITE_TEST_BUCKET`, default `s3sqlite-test`; credentials
//! `test`/`test` unless `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` say
//! otherwise; `AWS_REGION`, default `us-east-1`).
//!
//! Run without `--bench` (as `cargo test --benches` does), it makes one
//! quick pass: 8 MiB, one round, unless the variables above say otherwise.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use rusqlite::Connection;
use s3sqlite_core::object_store::path::Path as ObjectPath;
use s3sqlite_core::object_store::{ObjectStore, ObjectStoreExt};
use s3sqlite_core::{
    ContentHash, IncrementalUpload, ObjectStoreRemote, RemoteStore, Replica, ReplicaOptions,
    SyncAction, SyncReport,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const MIB: u64 = 1 << 20;

/// The rows of table `t`; each round changes two of them.
const ROWS: i64 = 100;

/// The smallest database that has a manifest is 4 MiB: below it every
/// download is whole, and there is no delta to measure.
const MIN_MIB: u64 = 4;

/// What is measured, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    ColdOpen,
    Pull,
    Reopen,
    PushWhole,
    PushIncremental,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::ColdOpen => "cold open",
            Op::Pull => "pull, one row behind",
            Op::Reopen => "reopen, one row behind",
            Op::PushWhole => "push one row (whole PUT)",
            Op::PushIncremental => "push one row (incremental)",
        }
    }

    /// Whether the operation downloads what changed, and is set against
    /// the cold open.
    fn is_delta(self) -> bool {
        matches!(self, Op::Pull | Op::Reopen)
    }
}

/// One run of an operation.
#[derive(Debug, Clone, Copy)]
struct Sample {
    time: Duration,
    down: u64,
    up: u64,
    ranges: u64,
}

impl Sample {
    fn new(report: &SyncReport, time: Duration) -> Self {
        Sample {
            time,
            down: report.bytes_down,
            up: report.bytes_up,
            ranges: report.ranges_fetched,
        }
    }
}

/// Every run of each operation.
#[derive(Default)]
struct Samples(BTreeMap<Op, Vec<Sample>>);

impl Samples {
    fn record(&mut self, op: Op, report: &SyncReport, time: Duration) {
        self.0
            .entry(op)
            .or_default()
            .push(Sample::new(report, time));
    }

    /// The median of `field` over the runs of `op`.
    fn median<T: Ord + Copy>(&self, op: Op, field: impl Fn(&Sample) -> T) -> Option<T> {
        let mut values: Vec<T> = self.0.get(&op)?.iter().map(field).collect();
        values.sort();
        values.get(values.len().saturating_sub(1) / 2).copied()
    }

    /// The fastest run's time of `op`.
    fn best(&self, op: Op) -> Option<Duration> {
        self.0.get(&op)?.iter().map(|sample| sample.time).min()
    }
}

fn remote(url: &str) -> Result<ObjectStoreRemote, BoxError> {
    if url.starts_with("memory:") {
        return Ok(ObjectStoreRemote::from_url(url)?);
    }
    let env = |key: &str| std::env::var(key).unwrap_or_else(|_| "test".to_owned());
    Ok(ObjectStoreRemote::builder(url)
        .with_endpoint(std::env::var("S3SQLITE_TEST_ENDPOINT")?)
        .with_allow_http(true)
        .with_region(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()))
        .with_option("aws_access_key_id", env("AWS_ACCESS_KEY_ID"))
        .with_option("aws_secret_access_key", env("AWS_SECRET_ACCESS_KEY"))
        .build()?)
}

/// Adds `mib` MiB of padding and the table `t` of [`ROWS`] rows to the
/// database at `path`.
fn build_database(path: &Path, mib: u64) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    s3sqlite_testkit::pad_database(&conn, mib)?;
    let tx = conn.transaction()?;
    tx.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")?;
    for id in 0..ROWS {
        tx.execute("INSERT INTO t VALUES (?1, 'row')", [id])?;
    }
    tx.commit()?;
    conn.close().map_err(|(_, e)| e)
}

/// Sets the value of row `id` of the database at `path`.
fn update(path: &Path, id: i64, value: &str) -> rusqlite::Result<()> {
    let conn = Connection::open(path)?;
    conn.execute("UPDATE t SET v = ?2 WHERE id = ?1", (id, value))?;
    conn.close().map_err(|(_, e)| e)
}

/// Writes every dirty page of this machine to disk (`sync(1)`).
fn settle_disk() -> Result<(), BoxError> {
    let status = std::process::Command::new("sync").status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("sync failed: {status}").into())
    }
}

/// Checks that `report`, the one of `replica`'s latest download, is a
/// download of what changed (`delta`) or a whole one, and that the local
/// copy holds exactly the remote's current version.
async fn check(
    replica: &Replica,
    report: &SyncReport,
    delta: bool,
    what: &str,
) -> Result<(), BoxError> {
    if report.action != SyncAction::Downloaded || delta != (report.ranges_fetched >= 1) {
        let expected = if delta { "ranges" } else { "a whole download" };
        return Err(format!("{what}: expected {expected}, got: {report}").into());
    }
    let head = replica.remote().head().await?;
    let stamp = head
        .and_then(|version| version.stamp)
        .ok_or_else(|| format!("{what}: the remote has no stamped version"))?;
    if ContentHash::of_file(replica.local_path())? != stamp.content_hash {
        return Err(format!("{what}: the local copy is not the remote's version").into());
    }
    Ok(())
}

/// Opens `url` at `local`, timed.
async fn timed_open(url: &str, local: &Path) -> Result<(Replica, Duration), BoxError> {
    let remote = remote(url)?;
    settle_disk()?;
    let started = Instant::now();
    let replica = Replica::open(remote, ReplicaOptions::new().with_local_path(local)).await?;
    Ok((replica, started.elapsed()))
}

/// Brings the writer to the current version, changes row `id` of its
/// database and pushes it, timed as `op`.
async fn push_one_row(
    writer: &mut Replica,
    id: u64,
    samples: &mut Samples,
    op: Op,
) -> Result<(), BoxError> {
    writer.pull().await?;
    let row = i64::try_from(id)? % ROWS;
    update(writer.local_path(), row, &format!("changed in push {id}"))?;
    settle_disk()?;
    let started = Instant::now();
    let report = writer.push().await?;
    let time = started.elapsed();
    if report.action != SyncAction::Uploaded {
        return Err(format!("push one row: expected an upload, got: {report}").into());
    }
    if (report.parts_sent > 0) != (op == Op::PushIncremental) {
        return Err(format!("{}: got: {report}", op.label()).into());
    }
    samples.record(op, &report, time);
    Ok(())
}

/// Every round on the remote `url`; returns the database's size and the
/// samples.
async fn measure(url: &str, mib: u64, rounds: u64) -> Result<(u64, Samples), BoxError> {
    let dir = tempfile::tempdir()?;
    let options =
        |name: &str| ReplicaOptions::new().with_local_path(dir.path().join(name).join("db"));
    let mut writer = Replica::open(remote(url)?, options("writer")).await?;
    build_database(writer.local_path(), mib)?;
    let size = std::fs::metadata(writer.local_path())?.len();
    writer.push().await?;
    // below three parts, the header's part and the row's are all there is
    let mut incremental = None;
    if url.starts_with("s3://") && mib >= 24 {
        let on = options("incremental").with_incremental_upload(IncrementalUpload::On);
        incremental = Some(Replica::open(remote(url)?, on).await?);
    }
    let behind = dir.path().join("behind").join("db");
    let mut replica = Replica::open(remote(url)?, options("behind")).await?;
    check(&replica, replica.opened(), false, "first open").await?;

    let mut samples = Samples::default();
    for round in 0..rounds {
        eprintln!("[{url}] round {}/{rounds}", round + 1);
        let cold = dir.path().join(format!("cold-{round}"));
        let (opened, time) = timed_open(url, &cold.join("db")).await?;
        check(&opened, opened.opened(), false, "cold open").await?;
        samples.record(Op::ColdOpen, opened.opened(), time);
        drop(opened);
        std::fs::remove_dir_all(&cold)?;

        if let Some(incremental) = &mut incremental {
            let id = 3 * round + 2;
            push_one_row(incremental, id, &mut samples, Op::PushIncremental).await?;
        }
        push_one_row(&mut writer, 3 * round, &mut samples, Op::PushWhole).await?;
        settle_disk()?;
        let started = Instant::now();
        let pulled = replica.pull().await?;
        let time = started.elapsed();
        check(&replica, &pulled, true, "pull").await?;
        samples.record(Op::Pull, &pulled, time);

        replica.close().await.map_err(|(_, e)| e)?;
        push_one_row(&mut writer, 3 * round + 1, &mut samples, Op::PushWhole).await?;
        let (reopened, time) = timed_open(url, &behind).await?;
        check(&reopened, reopened.opened(), true, "reopen").await?;
        samples.record(Op::Reopen, reopened.opened(), time);
        replica = reopened;
    }
    drop((replica, writer, incremental));
    delete_remote(url).await?;
    Ok((size, samples))
}

/// Deletes the object at `url` and the manifests beside it.
async fn delete_remote(url: &str) -> Result<(), BoxError> {
    let remote = remote(url)?;
    let store: &dyn ObjectStore = remote.store().as_ref();
    let beside = ObjectPath::from(format!("{}.s3sqlite", remote.key()));
    let listed: Vec<_> = store.list(Some(&beside)).try_collect().await?;
    for meta in listed {
        store.delete(&meta.location).await?;
    }
    store.delete(remote.key()).await?;
    Ok(())
}

/// `bytes` in MiB or KiB, whichever reads better.
fn amount(bytes: u64) -> String {
    match bytes {
        0 => "0".to_owned(),
        b if b >= MIB => format!("{:.1} MiB", b as f64 / MIB as f64),
        b => format!("{:.0} KiB", b as f64 / 1024.0),
    }
}

fn print_table(backend: &str, size: u64, rounds: u64, samples: &Samples) {
    println!(
        "backend: {backend}; database: {} ({size} bytes); {rounds} round(s)",
        amount(size)
    );
    println!(
        "{:<26} {:>9} {:>10} {:>10} {:>10} {:>7} {:>10} {:>10}",
        "op", "best ms", "median ms", "down", "up", "ranges", "down/cold", "time/cold"
    );
    println!("{}", "-".repeat(99));
    let ms = |time: Duration| time.as_secs_f64() * 1e3;
    let cold_down = samples.median(Op::ColdOpen, |s| s.down);
    let cold_time = samples.median(Op::ColdOpen, |s| s.time);
    for &op in samples.0.keys() {
        let (Some(best), Some(median)) = (samples.best(op), samples.median(op, |s| s.time)) else {
            continue;
        };
        let down = samples.median(op, |s| s.down).unwrap_or_default();
        let ratio = |ours: f64, cold: Option<f64>| match cold {
            Some(cold) if op.is_delta() && cold > 0.0 => format!("{:.2} %", 100.0 * ours / cold),
            _ => "-".to_owned(),
        };
        println!(
            "{:<26} {:>9.1} {:>10.1} {:>10} {:>10} {:>7} {:>10} {:>10}",
            op.label(),
            ms(best),
            ms(median),
            amount(down),
            amount(samples.median(op, |s| s.up).unwrap_or_default()),
            samples.median(op, |s| s.ranges).unwrap_or_default(),
            ratio(down as f64, cold_down.map(|b| b as f64)),
            ratio(ms(median), cold_time.map(ms)),
        );
    }
    println!();
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let number = |var: &str, full: u64, quick_value: u64| -> Result<u64, BoxError> {
        match std::env::var(var) {
            Ok(value) => Ok(value.trim().parse()?),
            Err(_) if quick => Ok(quick_value),
            Err(_) => Ok(full),
        }
    };
    let mib = number("S3SQLITE_BENCH_MIB", 256, 8)?;
    let rounds = number("S3SQLITE_BENCH_ROUNDS", 5, 1)?.max(1);
    if mib < MIN_MIB {
        return Err(format!("S3SQLITE_BENCH_MIB={mib}: expected at least {MIN_MIB}").into());
    }
    let tag = format!("s3sqlite-bench/delta-{}", std::process::id());
    let mut urls = vec![format!("memory:///{tag}/db")];
    if std::env::var("S3SQLITE_TEST_ENDPOINT").is_ok() {
        let bucket =
            std::env::var("S3SQLITE_TEST_BUCKET").unwrap_or_else(|_| "s3sqlite-test".to_owned());
        urls.push(format!("s3://{bucket}/{tag}/db"));
    }
    if quick {
        println!("quick pass (run without --bench): use `cargo bench` for the full set");
    }
    println!("down/cold, time/cold: the median bytes down and time over the cold open's");
    println!();
    for url in &urls {
        let (size, samples) = measure(url, mib, rounds).await?;
        let backend = url.split(':').next().unwrap_or_default();
        print_table(backend, size, rounds, &samples);
    }
    Ok(())
}
