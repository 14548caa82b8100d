//! Disk benchmark: the most local disk a replica takes, beside its
//! database's size, in each step a serverless function meets: a cold open
//! (the download), a sync of a one-row change, a pull one row behind, and a
//! sync that merges under [`ChangesetMerge`] (which keeps a base copy and
//! downloads the current version to merge onto).
//!
//! ```text
//! cargo bench -p s3sqlite-rusqlite --bench disk
//! ```
//!
//! The remote is a `file://` folder apart from the local one: what is
//! measured is the local folder alone (every file in it and in its temp
//! folders, by the blocks the file system allocated, sampled every
//! millisecond while the step runs), as an AWS Lambda function's `/tmp`
//! would hold it. The store does not change what the replica writes
//! locally. Each database is `S3SQLITE_BENCH_SIZES_MIB` (default
//! `64,1024`) MiB of padding and a small table.
//!
//! Run without `--bench` (as `cargo test --benches` does), it makes one
//! quick pass at 8 MiB.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use s3sqlite_rusqlite::{ChangesetMerge, SyncedConnection};
use s3sqlite_testkit::{Backend, Fixture, pad_database, seed_remote};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const MIB: u64 = 1 << 20;

/// The bytes the files under `dir` take on disk.
fn allocated(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => allocated(&entry.path()),
            Ok(meta) => meta.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Runs `step` while a thread samples the disk use of `dir`; returns the
/// step's result and the most seen.
fn peak<T>(dir: &Path, step: impl FnOnce() -> T) -> (T, u64) {
    let done = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicU64::new(allocated(dir)));
    let sampler = {
        let (done, most, dir) = (Arc::clone(&done), Arc::clone(&most), dir.to_owned());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                most.fetch_max(allocated(&dir), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let result = step();
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("the sampler does not panic");
    most.fetch_max(allocated(dir), Ordering::Relaxed);
    (result, most.load(Ordering::Relaxed))
}

/// Inserts one row into `events` through `conn`.
fn insert(conn: &rusqlite::Connection, what: &str) -> rusqlite::Result<()> {
    conn.execute("INSERT INTO events (what) VALUES (?1)", [what])
        .map(drop)
}

/// The steps measured on one database, each with its peak on disk, in
/// order.
type Peaks = Vec<(&'static str, u64)>;

/// Every step on a database of `mib` MiB: its size and the peaks.
fn measure(mib: u64) -> Result<(u64, Peaks), BoxError> {
    let rt = tokio::runtime::Runtime::new()?;
    let fx = rt.block_on(Fixture::new(Backend::File))?;
    let size = rt
        .block_on(seed_remote(&fx.remote("db"), |conn| {
            pad_database(conn, mib)?;
            conn.execute_batch("CREATE TABLE events (what TEXT PRIMARY KEY)")
        }))?
        .size;
    let local = |name: &str| fx.local(name);
    let open = |name: &str, merge: bool| {
        let mut builder =
            SyncedConnection::builder_for(fx.remote("db")).with_local_path(local(name));
        if merge {
            builder = builder.with_policy(ChangesetMerge::new());
        }
        builder.open()
    };
    let dir = |name: &str| local(name).parent().expect("a folder").to_owned();
    let mut steps = Vec::new();

    // each replica in a folder of its own, so that each is measured alone
    let plain = "plain/a.db";
    let (conn, cold) = peak(&dir(plain), || open(plain, false));
    let mut conn = conn?;
    steps.push(("cold open (download)", cold));
    insert(&conn, "one row")?;
    let (synced, sync) = peak(&dir(plain), || conn.sync());
    synced?;
    steps.push(("sync of a one-row change", sync));

    let other = "other/b.db";
    let mut writer = open(other, false)?;
    insert(&writer, "from the other writer")?;
    writer.sync()?;
    let (pulled, pull) = peak(&dir(plain), || conn.pull());
    pulled?;
    steps.push(("pull, one row behind", pull));
    conn.close()?;

    let merging = "merging/c.db";
    let (merger, cold_merge) = peak(&dir(merging), || open(merging, true));
    let mut merger = merger?;
    steps.push(("cold open, ChangesetMerge", cold_merge));
    insert(&writer, "moves the remote")?;
    writer.sync()?;
    insert(&merger, "merged in")?;
    let (merged, merge) = peak(&dir(merging), || merger.sync());
    merged?;
    steps.push(("sync that merges, ChangesetMerge", merge));
    merger.close()?;
    writer.close()?;
    Ok((size, steps))
}

fn main() -> Result<(), BoxError> {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let sizes: Vec<u64> = match std::env::var("S3SQLITE_BENCH_SIZES_MIB") {
        Ok(list) => list
            .split(',')
            .map(|mib| mib.trim().parse())
            .collect::<Result<_, _>>()?,
        Err(_) if quick => vec![8],
        Err(_) => vec![64, 1024],
    };
    println!(
        "{:<34} {:>10} {:>14} {:>8}",
        "step", "database", "peak on disk", "× size"
    );
    println!("{}", "-".repeat(70));
    for mib in sizes {
        let (size, steps) = measure(mib)?;
        for (step, bytes) in steps {
            println!(
                "{step:<34} {:>7} MiB {:>10.1} MiB {:>8.2}",
                size / MIB,
                bytes as f64 / MIB as f64,
                bytes as f64 / size as f64
            );
        }
    }
    Ok(())
}
