//! Observer benchmark: what a [`TransferObserver`] costs a cold open.
//!
//! ```text
//! cargo bench -p s3sqlite-core --bench observer
//! ```
//!
//! A database of `S3SQLITE_BENCH_MIB` MiB (default 256) is opened cold, at
//! a fresh local path each time, `S3SQLITE_BENCH_PAIRS` times (default 15)
//! with an observer and as many times without, in alternating order (the
//! observed open goes first in every other pair). The observer does what a
//! progress bar does with each report: it stores the position. Each run
//! checks that the observer saw every byte. It prints the fastest and the
//! median time of each, on memory and, when `S3SQLITE_TEST_ENDPOINT` is
//! set, on that S3 endpoint (`S3SQLITE_TEST_BUCKET`, default
//! `s3sqlite-test`; credentials `test`/`test` unless `AWS_ACCESS_KEY_ID`
//! and `AWS_SECRET_ACCESS_KEY` say otherwise).
//!
//! Run without `--bench` (as `cargo test --benches` does), it makes one
//! quick pass: 1 MiB, one pair.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use s3sqlite_core::object_store::ObjectStoreExt;
use s3sqlite_core::{ObjectStoreRemote, Replica, ReplicaOptions, Transfer, TransferObserver};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a progress bar keeps of each report.
#[derive(Debug, Default)]
struct Position(AtomicU64);

impl TransferObserver for Position {
    fn advanced(&self, _transfer: &Transfer, done: u64) {
        self.0.store(done, Ordering::Relaxed);
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

/// Writes a SQLite database of `mib` MiB at `path`.
fn build_database(path: &Path, mib: u64) -> rusqlite::Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    s3sqlite_testkit::pad_database(&conn, mib)?;
    conn.close().map_err(|(_, e)| e)
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// One cold open of `url` at `local`, observed or not; milliseconds.
async fn cold_open(url: &str, local: &Path, observe: bool, size: u64) -> Result<f64, BoxError> {
    let position = Arc::new(Position::default());
    let mut options = ReplicaOptions::new().with_local_path(local);
    if observe {
        options = options.with_transfer_observer(position.clone());
    }
    let started = Instant::now();
    let replica = Replica::open(remote(url)?, options).await?;
    let took = started.elapsed().as_secs_f64() * 1e3;
    if replica.opened().bytes_down != size {
        return Err(format!("expected a download of {size} bytes: {}", replica.opened()).into());
    }
    if observe && position.0.load(Ordering::Relaxed) != size {
        return Err("the observer did not see every byte".into());
    }
    Ok(took)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let number = |var: &str, full: u64| -> Result<u64, BoxError> {
        match std::env::var(var) {
            Ok(value) => Ok(value.trim().parse()?),
            Err(_) if quick => Ok(1),
            Err(_) => Ok(full),
        }
    };
    let mib = number("S3SQLITE_BENCH_MIB", 256)?;
    let pairs = number("S3SQLITE_BENCH_PAIRS", 15)?.max(1);
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    build_database(&db, mib)?;
    let size = std::fs::metadata(&db)?.len();
    let tag = format!("s3sqlite-bench/observer-{}", std::process::id());
    let mut urls = vec![format!("memory:///{tag}/db")];
    if std::env::var("S3SQLITE_TEST_ENDPOINT").is_ok() {
        let bucket =
            std::env::var("S3SQLITE_TEST_BUCKET").unwrap_or_else(|_| "s3sqlite-test".to_owned());
        urls.push(format!("s3://{bucket}/{tag}/db"));
    }
    println!("cold open of a {size} byte database, {pairs} pair(s) in alternating order");
    println!("| remote | plain: fastest | plain: median | observed: fastest | observed: median |");
    println!("|---|---|---|---|---|");
    for url in &urls {
        let mut seed = Replica::open(
            remote(url)?,
            ReplicaOptions::new().with_local_path(dir.path().join("seed").join("db")),
        )
        .await?;
        std::fs::copy(&db, seed.local_path())?;
        seed.push().await?;
        drop(seed);
        std::fs::remove_dir_all(dir.path().join("seed"))?;
        let (mut plain, mut observed) = (Vec::new(), Vec::new());
        for pair in 0..pairs {
            for observe in [pair % 2 == 1, pair % 2 == 0] {
                // earlier runs' files are flushed first: each open pays for its own
                std::process::Command::new("sync").status()?;
                let local = dir.path().join(format!("run-{pair}-{observe}"));
                let took = cold_open(url, &local.join("db"), observe, size).await?;
                std::fs::remove_dir_all(&local)?;
                match observe {
                    true => observed.push(took),
                    false => plain.push(took),
                }
            }
        }
        let seeded = remote(url)?;
        seeded.store().delete(seeded.key()).await?;
        let scheme = url.split(':').next().unwrap_or_default();
        println!(
            "| {scheme} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |",
            plain.iter().copied().fold(f64::INFINITY, f64::min),
            median(&mut plain),
            observed.iter().copied().fold(f64::INFINITY, f64::min),
            median(&mut observed),
        );
    }
    Ok(())
}
