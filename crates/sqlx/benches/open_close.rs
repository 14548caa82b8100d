//! Warm open and unchanged close through [`S3SqlitePool`], by database
//! size: both must stay flat as the database grows, as they do in the
//! engine, since neither moves or reads the database.
//!
//! ```text
//! cargo bench -p s3sqlite-sqlx --bench open_close
//! ```
//!
//! For each size (`S3SQLITE_BENCH_SIZES_MIB`, default `16,256`), a database
//! of that many 1 MiB `randomblob` rows is put on a `memory:///` remote in
//! the rollback-journal mode a tool other than s3sqlite writes, and a pool
//! opens it once (the cold open, which downloads it and switches it to WAL).
//! Then, `S3SQLITE_BENCH_RUNS` times (default 7):
//!
//! - `warm open`: [`S3SqlitePoolBuilder::connect`] on the same local path,
//!   which finds the local copy current (`Reused`);
//! - one `SELECT count(*)`, so that the session reads;
//! - `unchanged close`: [`S3SqlitePool::close`], which finds nothing to
//!   upload (`Unchanged`).
//!
//! The remote lives in memory, so no network time hides what the adapter
//! and the engine themselves spend. The table gives the best and the
//! median time of each, and the ratio of each size's median to the
//! smallest size's (target: at most 1.5 from 16 MiB to 256 MiB).
//!
//! Run without `--bench` (as `cargo test --benches` does), it makes one
//! quick pass: 1 and 4 MiB, 2 runs.

use std::path::Path;
use std::time::{Duration, Instant};

use s3sqlite_sqlx::{ObjectStoreRemote, S3SqlitePool, SyncAction};
use s3sqlite_testkit::{pad_database, seed_remote};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BenchResult<T> = Result<T, BoxError>;

/// What one size measured.
struct Row {
    size_mib: u64,
    warm_open: Vec<Duration>,
    unchanged_close: Vec<Duration>,
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let sizes = match std::env::var("S3SQLITE_BENCH_SIZES_MIB") {
        Ok(list) => list
            .split(',')
            .map(|s| s.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()?,
        Err(_) if quick => vec![1, 4],
        Err(_) => vec![16, 256],
    };
    let runs = match std::env::var("S3SQLITE_BENCH_RUNS") {
        Ok(n) => n.parse::<usize>()?.max(1),
        Err(_) if quick => 2,
        Err(_) => 7,
    };
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    for &size_mib in &sizes {
        rows.push(measure(dir.path(), size_mib, runs).await?);
    }
    print(&rows, runs);
    Ok(())
}

async fn measure(dir: &Path, size_mib: u64, runs: usize) -> BenchResult<Row> {
    let url = format!(
        "memory:///bench-open-close-{}/{size_mib}.db",
        std::process::id()
    );
    seed_remote(&ObjectStoreRemote::from_url(&url)?, |conn| {
        pad_database(conn, size_mib)
    })
    .await?;
    let local = dir.join(format!("{size_mib}.db"));
    let open = || {
        S3SqlitePool::builder(&url)
            .with_local_path(&local)
            .connect()
    };
    let cold = open().await?;
    if cold.opened().action != SyncAction::Downloaded {
        return Err(format!("cold open: {}", cold.opened()).into());
    }
    cold.close().await?;
    let mut row = Row {
        size_mib,
        warm_open: Vec::new(),
        unchanged_close: Vec::new(),
    };
    for run in 1..=runs {
        eprintln!("[{size_mib} MiB] run {run}/{runs}");
        let started = Instant::now();
        let pool = open().await?;
        row.warm_open.push(started.elapsed());
        if pool.opened().action != SyncAction::Reused {
            return Err(format!("warm open: {}", pool.opened()).into());
        }
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM pad")
            .fetch_one(&*pool)
            .await?;
        if rows != i64::try_from(size_mib)? {
            return Err(format!("{rows} rows in a database of {size_mib} MiB").into());
        }
        let started = Instant::now();
        let report = pool.close().await?;
        row.unchanged_close.push(started.elapsed());
        if report.action != SyncAction::Unchanged {
            return Err(format!("unchanged close: {report}").into());
        }
    }
    Ok(row)
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[(sorted.len() - 1) / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn print(rows: &[Row], runs: usize) {
    println!(
        "\nwarm open and unchanged close through S3SqlitePool, memory:/// remote, {runs} runs"
    );
    println!(
        "| size | warm open best | warm open median | ratio | unchanged close best | unchanged close median | ratio |"
    );
    println!("|---|---|---|---|---|---|---|");
    let first = &rows[0];
    for row in rows {
        let ratio = |mine: &[Duration], base: &[Duration]| {
            median(mine).as_secs_f64() / median(base).as_secs_f64()
        };
        println!(
            "| {} MiB | {} | {} | {:.2} | {} | {} | {:.2} |",
            row.size_mib,
            ms(*row.warm_open.iter().min().expect("a run")),
            ms(median(&row.warm_open)),
            ratio(&row.warm_open, &first.warm_open),
            ms(*row.unchanged_close.iter().min().expect("a run")),
            ms(median(&row.unchanged_close)),
            ratio(&row.unchanged_close, &first.unchanged_close),
        );
    }
}
