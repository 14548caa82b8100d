//! Transfer benchmark: what opening and pushing a replica costs, next to a
//! plain object_store GET and PUT of the same object.
//!
//! ```text
//! cargo bench -p s3sqlite-core --bench transfer
//! ```
//!
//! For every backend and database size it times N runs of:
//!
//! - `cold open`: [`Replica::open`] at a fresh local path while the remote
//!   holds the database (a download, in parts in parallel as set by
//!   default);
//! - `cold open, 1 GET`: the same with one part and one stream
//!   (`with_part_size(u64::MAX)`, `with_parallelism(1)`): one request, as
//!   the raw GET makes; the gap between the two rows is what the server
//!   makes of parallel ranged GETs;
//! - `warm open`: a reopen at the same path right after the cold open (one
//!   HEAD, no read of the file: this row should stay flat as the size grows);
//! - `warm open (again)`: the same, after pushes and reopens in between;
//! - `push unchanged`: a push with nothing changed (no request);
//! - `push changed`: one small `UPDATE`, then a push (hash and upload);
//! - `raw GET, ranges`: the object into memory in ranged GETs, as many and
//!   as large as a cold open asks for by default; its ratio is what the
//!   server makes of parallel ranges, with no disk and no hash;
//! - `raw GET` / `raw PUT`: one single-stream object_store `get` of the same
//!   object into memory and one `put` of those bytes, as the reference that
//!   the cold opens and `push changed` are compared with. Each raw GET is
//!   made beside the cold opens of its run (each first in turn), and each
//!   raw PUT right after the push of its run, so that they see the server in
//!   the same state.
//!
//! The table gives each operation's best and median time and the MB/s of
//! its best run, and two ratios of speed over the raw reference: `ratio`,
//! best against best, and `run ratio`, the median over runs of the ratio
//! within each run. A server on the same machine drifts by a third from one
//! run to the next and now and then answers one GET twice as fast as usual;
//! a best-of ratio follows such a lucky run, the run ratio does not.
//!
//! Every run uses its own key and local path. MB/s is 10^6 bytes per second.
//! On `memory`, the raw GET and PUT hand over a shared buffer without copying,
//! so their MB/s (and the memory ratios) are no transfer rate.
//!
//! # Settings (environment)
//!
//! - `S3SQLITE_BENCH_SIZES_MIB`: database sizes, default `1,64,256`;
//! - `S3SQLITE_BENCH_RUNS`: runs per measurement, default 5;
//! - `S3SQLITE_TEST_ENDPOINT`: an S3-compatible endpoint; without it the S3
//!   rows are left out (`eval "$(.ci/s3-server start)"` starts LocalStack and
//!   exports it). `S3SQLITE_TEST_BUCKET` (default `s3sqlite-test`),
//!   `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (default `test`) and
//!   `AWS_REGION` (default `us-east-1`) complete the S3 settings.
//!
//! Run without `--bench` (as `cargo test --benches` does), it makes one quick
//! pass: 1 MiB, one run, unless the variables above say otherwise.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use rusqlite::Connection;
use s3sqlite_core::object_store::path::Path as ObjectPath;
use s3sqlite_core::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use s3sqlite_core::{
    ObjectStoreRemote, Replica, ReplicaOptions, SyncAction, SyncReport, TransferOptions,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BenchResult<T> = Result<T, BoxError>;

const MIB: u64 = 1 << 20;

/// Where the remote databases live.
enum Target {
    Memory,
    S3(S3Settings),
}

struct S3Settings {
    endpoint: String,
    bucket: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Memory => "memory",
            Target::S3(_) => "s3",
        }
    }

    fn url(&self, key: &str) -> String {
        match self {
            Target::Memory => format!("memory:///{key}"),
            Target::S3(s3) => format!("s3://{}/{key}", s3.bucket),
        }
    }

    fn remote(&self, url: &str) -> s3sqlite_core::Result<ObjectStoreRemote> {
        match self {
            Target::Memory => ObjectStoreRemote::from_url(url),
            Target::S3(s3) => ObjectStoreRemote::builder(url)
                .with_endpoint(&s3.endpoint)
                .with_allow_http(true)
                .with_region(&s3.region)
                .with_option("aws_access_key_id", &s3.access_key_id)
                .with_option("aws_secret_access_key", &s3.secret_access_key)
                .build(),
        }
    }
}

/// What is measured, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    ColdOpen,
    ColdOpenOneGet,
    WarmOpen,
    WarmOpenAgain,
    PushUnchanged,
    PushChanged,
    RawGet,
    RawRanges,
    RawPut,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::ColdOpen => "cold open",
            Op::ColdOpenOneGet => "cold open, 1 GET",
            Op::WarmOpen => "warm open",
            Op::WarmOpenAgain => "warm open (again)",
            Op::PushUnchanged => "push unchanged",
            Op::PushChanged => "push changed",
            Op::RawGet => "raw GET",
            Op::RawRanges => "raw GET, ranges",
            Op::RawPut => "raw PUT",
        }
    }

    /// Whether the operation moves the database, so that MB/s means something.
    fn transfers(self) -> bool {
        matches!(
            self,
            Op::ColdOpen
                | Op::ColdOpenOneGet
                | Op::PushChanged
                | Op::RawGet
                | Op::RawRanges
                | Op::RawPut
        )
    }

    /// The raw operation this one is compared with.
    fn reference(self) -> Option<Op> {
        match self {
            Op::ColdOpen | Op::ColdOpenOneGet | Op::RawRanges => Some(Op::RawGet),
            Op::PushChanged => Some(Op::RawPut),
            _ => None,
        }
    }
}

/// Every run of each operation, in run order, with the bytes it moved.
#[derive(Default)]
struct Samples(BTreeMap<Op, Vec<(Duration, u64)>>);

impl Samples {
    fn record(&mut self, op: Op, time: Duration, bytes: u64) {
        self.0.entry(op).or_default().push((time, bytes));
    }

    /// The fastest run of `op`, with the bytes it moved.
    fn best(&self, op: Op) -> Option<(Duration, u64)> {
        self.0
            .get(&op)?
            .iter()
            .copied()
            .min_by_key(|(time, _)| *time)
    }

    /// The median time of `op`.
    fn median(&self, op: Op) -> Option<Duration> {
        let times = self.0.get(&op)?.iter().map(|(time, _)| *time).collect();
        lower_median(times, Duration::cmp)
    }

    /// MB/s of the fastest run of `op`.
    fn mb_per_s(&self, op: Op) -> Option<f64> {
        let (time, bytes) = self.best(op)?;
        op.transfers()
            .then(|| bytes as f64 / 1e6 / time.as_secs_f64().max(1e-9))
    }

    /// The median over runs of `op`'s speed over its reference's in the
    /// same run: each run's operation is set against the raw request made
    /// beside it, so that the server's drift from run to run cancels out.
    fn run_ratio(&self, op: Op) -> Option<f64> {
        let ours = self.0.get(&op)?;
        let raw = self.0.get(&op.reference()?)?;
        let ratios: Vec<f64> = ours
            .iter()
            .zip(raw)
            .map(|((ours, _), (raw, _))| raw.as_secs_f64() / ours.as_secs_f64().max(1e-9))
            .collect();
        lower_median(ratios, f64::total_cmp)
    }
}

/// The middle of `values` in the order `cmp` gives, the lower of the two
/// middles for an even count; `None` for no values.
fn lower_median<T: Copy>(mut values: Vec<T>, cmp: impl FnMut(&T, &T) -> Ordering) -> Option<T> {
    values.sort_by(cmp);
    values.get(values.len().saturating_sub(1) / 2).copied()
}

/// One line of the table.
struct Row {
    backend: &'static str,
    size_mib: u64,
    op: Op,
    best: Duration,
    median: Duration,
    mb_per_s: Option<f64>,
    ratio: Option<f64>,
    run_ratio: Option<f64>,
}

struct Config {
    sizes_mib: Vec<u64>,
    runs: usize,
    targets: Vec<Target>,
    quick: bool,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let config = Config::from_env()?;
    print_header(&config);

    let prepared = tempfile::tempdir()?;
    let mut dbs = Vec::new();
    for &size_mib in &config.sizes_mib {
        let path = prepared.path().join(format!("{size_mib}mib.db"));
        let started = Instant::now();
        build_database(&path, size_mib)?;
        eprintln!(
            "prepared {size_mib} MiB database: {} bytes in {:.1?}",
            std::fs::metadata(&path)?.len(),
            started.elapsed()
        );
        dbs.push((size_mib, path));
    }

    let tag = unique_tag();
    let mut rows = Vec::new();
    for target in &config.targets {
        for (size_mib, db) in &dbs {
            let samples = measure(target, *size_mib, db, config.runs, &tag).await?;
            rows.extend(to_rows(target.name(), *size_mib, &samples));
        }
    }
    print_table(&rows);
    Ok(())
}

impl Config {
    fn from_env() -> BenchResult<Self> {
        // `cargo bench` passes `--bench`; `cargo test --benches` does not
        let quick = !std::env::args().any(|arg| arg == "--bench");
        let sizes_mib = match std::env::var("S3SQLITE_BENCH_SIZES_MIB") {
            Ok(list) => parse_sizes(&list)?,
            Err(_) if quick => vec![1],
            Err(_) => vec![1, 64, 256],
        };
        let runs = match std::env::var("S3SQLITE_BENCH_RUNS") {
            Ok(runs) => match runs.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(
                        format!("S3SQLITE_BENCH_RUNS={runs:?}: expected a count >= 1").into(),
                    );
                }
            },
            Err(_) if quick => 1,
            Err(_) => 5,
        };
        let mut targets = vec![Target::Memory];
        if let Ok(endpoint) = std::env::var("S3SQLITE_TEST_ENDPOINT") {
            let env = |key: &str, default: &str| {
                std::env::var(key).unwrap_or_else(|_| default.to_owned())
            };
            targets.push(Target::S3(S3Settings {
                endpoint,
                bucket: env("S3SQLITE_TEST_BUCKET", "s3sqlite-test"),
                region: env("AWS_REGION", "us-east-1"),
                access_key_id: env("AWS_ACCESS_KEY_ID", "test"),
                secret_access_key: env("AWS_SECRET_ACCESS_KEY", "test"),
            }));
        }
        Ok(Config {
            sizes_mib,
            runs,
            targets,
            quick,
        })
    }
}

fn parse_sizes(list: &str) -> BenchResult<Vec<u64>> {
    let sizes = list
        .split(',')
        .map(|s| s.trim().parse::<u64>().ok().filter(|&n| n > 0))
        .collect::<Option<Vec<u64>>>();
    match sizes {
        Some(sizes) if !sizes.is_empty() => Ok(sizes),
        _ => Err(format!(
            "S3SQLITE_BENCH_SIZES_MIB={list:?}: expected sizes in MiB, e.g. 1,64,256"
        )
        .into()),
    }
}

fn print_header(config: &Config) {
    let mut command: Vec<String> = [
        "S3SQLITE_TEST_ENDPOINT",
        "S3SQLITE_TEST_BUCKET",
        "AWS_REGION",
        "S3SQLITE_BENCH_SIZES_MIB",
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
        "cargo test -p s3sqlite-core --bench transfer".to_owned()
    } else {
        "cargo bench -p s3sqlite-core --bench transfer".to_owned()
    });
    println!("command: {}", command.join(" "));
    if config.quick {
        println!("quick pass (run without --bench): use `cargo bench` for the full set");
    }
    let sizes: Vec<String> = config.sizes_mib.iter().map(u64::to_string).collect();
    println!(
        "sizes: {} MiB; {} run(s) each; MB/s = 10^6 bytes/s, of the best run",
        sizes.join(", "),
        config.runs
    );
    println!(
        "ratio = best MB/s over the best raw GET's (cold opens) or raw PUT's (push changed); \
         run ratio = the median over runs of that ratio within each run"
    );
    if let Some(Target::S3(s3)) = config.targets.iter().find(|t| matches!(t, Target::S3(_))) {
        println!("s3: {} bucket {}", s3.endpoint, s3.bucket);
    } else {
        println!(
            "s3: not measured; set S3SQLITE_TEST_ENDPOINT to an S3-compatible endpoint to add the S3 rows \
             (`eval \"$(.ci/s3-server start)\"` starts LocalStack and exports it)"
        );
    }
    println!();
}

/// Writes a SQLite database of about `size_mib` MiB at `path`: one small row
/// (id 1) that the changed push updates, and `size_mib` random 1 MiB blobs.
fn build_database(path: &Path, size_mib: u64) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT NOT NULL, data BLOB)")?;
    let tx = conn.transaction()?;
    tx.execute("INSERT INTO t (id, note) VALUES (1, 'seed')", [])?;
    {
        let mut insert =
            tx.prepare("INSERT INTO t (note, data) VALUES ('blob', randomblob(?1))")?;
        for _ in 0..size_mib {
            insert.execute([MIB as i64])?;
        }
    }
    tx.commit()?;
    conn.close().map_err(|(_, e)| e)
}

/// Changes the small row of the database at `path` and closes the connection.
fn change_database(path: &Path, run: usize) -> rusqlite::Result<()> {
    let conn = Connection::open(path)?;
    conn.execute(
        "UPDATE t SET note = ?1 WHERE id = 1",
        [format!("changed in run {run}")],
    )?;
    conn.close().map_err(|(_, e)| e)
}

/// A key prefix no earlier run used.
fn unique_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("s3sqlite-bench/{}-{nanos:x}", std::process::id())
}

/// Puts the database `db` on the remote `url` the way an application would:
/// a replica at a scratch path, the file copied in, a push.
async fn seed(target: &Target, url: &str, db: &Path, scratch: &Path) -> BenchResult<()> {
    let local = scratch.join("seed.db");
    let mut replica = Replica::open(
        target.remote(url)?,
        ReplicaOptions::new().with_local_path(&local),
    )
    .await?;
    std::fs::copy(db, replica.local_path())?;
    let report = replica.push().await?;
    check(&report, SyncAction::Uploaded, "seed push")?;
    drop(replica);
    std::fs::remove_dir_all(scratch)?;
    Ok(())
}

/// Writes every dirty page of this machine to disk (`sync(1)`).
fn settle_disk() -> BenchResult<()> {
    let status = std::process::Command::new("sync").status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("sync failed: {status}").into())
    }
}

async fn timed_open(target: &Target, url: &str, local: &Path) -> BenchResult<(Replica, Duration)> {
    timed_open_with(target, url, ReplicaOptions::new().with_local_path(local)).await
}

async fn timed_open_with(
    target: &Target,
    url: &str,
    options: ReplicaOptions,
) -> BenchResult<(Replica, Duration)> {
    let remote = target.remote(url)?;
    let started = Instant::now();
    let replica = Replica::open(remote, options).await?;
    Ok((replica, started.elapsed()))
}

async fn timed_push(replica: &mut Replica) -> BenchResult<(SyncReport, Duration)> {
    let started = Instant::now();
    let report = replica.push().await?;
    Ok((report, started.elapsed()))
}

fn check(report: &SyncReport, expected: SyncAction, what: &str) -> BenchResult<()> {
    if report.action == expected {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, got: {report}").into())
    }
}

/// All measurements of one backend and size.
async fn measure(
    target: &Target,
    size_mib: u64,
    db: &Path,
    runs: usize,
    tag: &str,
) -> BenchResult<Samples> {
    let name = target.name();
    let dir = tempfile::tempdir()?;
    let urls: Vec<String> = (0..runs)
        .map(|run| target.url(&format!("{tag}/{size_mib}mib-run{run}.db")))
        .collect();
    let locals: Vec<PathBuf> = (0..runs)
        .map(|run| dir.path().join(format!("run{run}")).join("local.db"))
        .collect();
    let mut samples = Samples::default();

    // downloads next to raw GETs of the same object (each first in turn, so
    // that none gains from its place), and the reopens right after them
    for (run, (url, local)) in urls.iter().zip(&locals).enumerate() {
        eprintln!(
            "[{name} {size_mib} MiB] run {}/{runs}: seed, cold opens, raw GET",
            run + 1
        );
        seed(target, url, db, &dir.path().join(format!("seed{run}"))).await?;
        let one_get = local.with_file_name("one-get.db");
        for turn in 0..4 {
            // the database files this harness wrote are flushed first, so
            // that the open's fsync pays for its own file only
            settle_disk()?;
            match (run + turn) % 4 {
                0 => {
                    let (replica, time) = timed_open(target, url, local).await?;
                    check(replica.opened(), SyncAction::Downloaded, "cold open")?;
                    samples.record(Op::ColdOpen, time, replica.opened().bytes_down);
                }
                1 => {
                    let options = ReplicaOptions::new()
                        .with_local_path(&one_get)
                        .with_part_size(u64::MAX)
                        .with_parallelism(1);
                    let (replica, time) = timed_open_with(target, url, options).await?;
                    check(replica.opened(), SyncAction::Downloaded, "cold open, 1 GET")?;
                    samples.record(Op::ColdOpenOneGet, time, replica.opened().bytes_down);
                }
                2 => raw_get(target, url, &mut samples).await?,
                _ => raw_ranges(target, url, &mut samples).await?,
            }
        }
        let (replica, time) = timed_open(target, url, local).await?;
        check(replica.opened(), SyncAction::Reused, "warm open")?;
        samples.record(Op::WarmOpen, time, 0);
    }

    for (run, (url, local)) in urls.iter().zip(&locals).enumerate() {
        eprintln!(
            "[{name} {size_mib} MiB] run {}/{runs}: warm opens, pushes, raw PUT",
            run + 1
        );
        let (replica, time) = timed_open(target, url, local).await?;
        check(replica.opened(), SyncAction::Reused, "warm open (again)")?;
        samples.record(Op::WarmOpenAgain, time, 0);
        drop(replica);

        let (mut replica, time) = timed_open(target, url, local).await?;
        check(replica.opened(), SyncAction::Reused, "warm open (again)")?;
        samples.record(Op::WarmOpenAgain, time, 0);

        let (report, time) = timed_push(&mut replica).await?;
        check(&report, SyncAction::Unchanged, "push unchanged")?;
        samples.record(Op::PushUnchanged, time, 0);

        change_database(local, run)?;
        let (report, time) = timed_push(&mut replica).await?;
        check(&report, SyncAction::Uploaded, "push changed")?;
        samples.record(Op::PushChanged, time, report.bytes_up);
        drop(replica);

        raw_put(target, url, &mut samples).await?;
    }
    eprintln!(
        "[{name} {size_mib} MiB] cold open {:.1} MB/s, push changed {:.1} MB/s",
        samples.mb_per_s(Op::ColdOpen).unwrap_or_default(),
        samples.mb_per_s(Op::PushChanged).unwrap_or_default()
    );
    Ok(samples)
}

/// One single-stream GET of the object at `url` into memory (the caller
/// settles the disk first, as for the cold opens beside it).
async fn raw_get(target: &Target, url: &str, samples: &mut Samples) -> BenchResult<()> {
    let remote = target.remote(url)?;
    let store: &dyn ObjectStore = remote.store().as_ref();
    let started = Instant::now();
    let bytes = store.get(remote.key()).await?.bytes().await?;
    samples.record(Op::RawGet, started.elapsed(), bytes.len() as u64);
    Ok(())
}

/// The object at `url` into memory the way a cold open asks for it, with
/// no disk and no hash: ranged GETs of the default part size, as many in
/// flight as the default parallelism (its size is read first, untimed; the
/// caller settles the disk first).
async fn raw_ranges(target: &Target, url: &str, samples: &mut Samples) -> BenchResult<()> {
    let remote = target.remote(url)?;
    let store: &dyn ObjectStore = remote.store().as_ref();
    let size = store.head(remote.key()).await?.size;
    let defaults = TransferOptions::default();
    let ranges: Vec<std::ops::Range<u64>> = (0..size)
        .step_by(usize::try_from(defaults.part_size)?)
        .map(|start| start..(start + defaults.part_size).min(size))
        .collect();
    let started = Instant::now();
    let parts: Vec<Bytes> = stream::iter(ranges)
        .map(|range| store.get_range(remote.key(), range))
        .buffer_unordered(defaults.parallelism)
        .try_collect()
        .await?;
    let bytes: u64 = parts.iter().map(|part| part.len() as u64).sum();
    samples.record(Op::RawRanges, started.elapsed(), bytes);
    Ok(())
}

/// One PUT of the bytes of the object at `url` beside it; both objects are
/// deleted afterwards.
async fn raw_put(target: &Target, url: &str, samples: &mut Samples) -> BenchResult<()> {
    let remote = target.remote(url)?;
    let store: &dyn ObjectStore = remote.store().as_ref();
    let key = remote.key();
    let bytes = store.get(key).await?.bytes().await?;
    let raw_key = ObjectPath::from(format!("{key}.raw"));
    let len = bytes.len() as u64;
    let started = Instant::now();
    store.put(&raw_key, PutPayload::from(bytes)).await?;
    samples.record(Op::RawPut, started.elapsed(), len);

    store.delete(&raw_key).await?;
    store.delete(key).await?;
    Ok(())
}

fn to_rows(backend: &'static str, size_mib: u64, samples: &Samples) -> Vec<Row> {
    samples
        .0
        .keys()
        .filter_map(|&op| {
            let mb_per_s = samples.mb_per_s(op);
            let ratio = op
                .reference()
                .and_then(|reference| Some(mb_per_s? / samples.mb_per_s(reference)?));
            Some(Row {
                backend,
                size_mib,
                op,
                best: samples.best(op)?.0,
                median: samples.median(op)?,
                mb_per_s,
                ratio,
                run_ratio: samples.run_ratio(op),
            })
        })
        .collect()
}

fn print_table(rows: &[Row]) {
    let rate = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    // memory ratios are tiny (see the note below): keep their digits
    let ratio = |value: Option<f64>| match value {
        Some(v) if v >= 0.01 => format!("{v:.2}"),
        Some(v) => format!("{v:.1e}"),
        None => "-".to_owned(),
    };
    println!(
        "{:<8} {:>8} {:<18} {:>11} {:>11} {:>12} {:>7} {:>9}",
        "backend", "size MiB", "op", "best ms", "median ms", "MB/s", "ratio", "run ratio"
    );
    println!("{}", "-".repeat(91));
    let mut previous = None;
    for row in rows {
        if previous.is_some_and(|p| p != (row.backend, row.size_mib)) {
            println!();
        }
        previous = Some((row.backend, row.size_mib));
        println!(
            "{:<8} {:>8} {:<18} {:>11.3} {:>11.3} {:>12} {:>7} {:>9}",
            row.backend,
            row.size_mib,
            row.op.label(),
            row.best.as_secs_f64() * 1e3,
            row.median.as_secs_f64() * 1e3,
            rate(row.mb_per_s),
            ratio(row.ratio),
            ratio(row.run_ratio),
        );
    }
    if rows.iter().any(|row| row.backend == "memory") {
        println!();
        println!(
            "note: on memory, raw GET and raw PUT hand over a shared buffer without copying, \
             so their MB/s and the memory ratios are not transfer rates"
        );
    }
}
