//! Crash tests on LocalStack: a child process (this test binary, run again)
//! is killed with SIGKILL at random moments while it pushes, or while its
//! cold open downloads, a database of over 32 MiB; then a fresh replica on
//! the same local path checks what the crash left:
//!
//! - the reopen finishes within 60 s;
//! - every row the child reported committed is in the local copy, and on
//!   the remote once the verifier has pushed;
//! - after the reopen, the remote holds the old or the new version and
//!   passes `PRAGMA integrity_check` (LocalStack keeps the partial body of
//!   a PUT whose client died, stamped with our upload id: the test counts
//!   those, and the reopen must find and replace them);
//! - no torn remote is adopted: after the verifier's push the replica is
//!   clean and the remote holds exactly the local file's bytes;
//! - no temp file of the engine (`.NAME.s3sqlite-*`) is left beside the
//!   local copy.
//!
//! A third phase kills an open that patches a local copy one row
//! behind in place: the reopen must end with exactly the remote's bytes.
//! A fourth kills pushes of a 64 MiB database that send only their changed
//! parts (`S3SQLITE_INCREMENTAL_UPLOAD=on`), each kill at a random moment
//! after the push recorded its multipart upload: besides the push phase's
//! checks, the reopen must leave no multipart upload of the key listed.
//!
//! Each test prints its counts, then fails on any bad one. A round that
//! ends with a torn remote is counted, then the remote is reset from the
//! local copy, so that it is not counted again in the next rounds. The kill
//! delays come from a seeded xorshift generator; `S3SQLITE_CRASH_SEED`
//! replays a seed (the server's timing still varies).
#![cfg(unix)]

use std::collections::BTreeSet;
use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use s3sqlite_core::{
    ContentHash, INCREMENTAL_UPLOAD_VAR, ObjectStoreRemote, RemoteStore, Replica, ReplicaOptions,
    Stamp, Status, TransferOptions, WriteCondition,
};
use s3sqlite_testkit::{S3Server, ServerKind, pad_database, seed_remote};

/// Carries a child's role and parameters, one per line; unset in the parent.
const CHILD_VAR: &str = "S3SQLITE_CRASH_CHILD";
/// The test that runs a child's role.
const CHILD_TEST: &str = "child_runs_the_role_its_parent_names";
/// Killed rounds per phase.
const ROUNDS: usize = 40;
/// Killed rounds of the incremental push phase.
const INCREMENTAL_ROUNDS: usize = 24;
/// Kills mid-push the incremental phase must land, at least.
const INCREMENTAL_KILLS: usize = 20;
/// Killed rounds of the patch phase, whose kills land mid-operation in
/// nearly every round.
const PATCH_ROUNDS: usize = 30;
/// How long an open, a push, or a child's next line may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// One phase at a time: both time the server, so they must not share it.
static SERIAL: Mutex<()> = Mutex::new(());

fn runtime() -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all().build().unwrap()
}

/// The remote the parent and its children build alike: LocalStack at
/// `endpoint` with the credentials the testkit's `S3Server` uses.
fn remote(endpoint: &str, url: &str) -> ObjectStoreRemote {
    ObjectStoreRemote::builder(url)
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_option("aws_access_key_id", "test")
        .with_option("aws_secret_access_key", "test")
        .build()
        .unwrap_or_else(|e| panic!("remote {url}: {e}"))
}

async fn open(endpoint: &str, url: &str, local: &Path) -> s3sqlite_core::Result<Replica> {
    let options = ReplicaOptions::new().with_local_path(local);
    Replica::open(remote(endpoint, url), options).await
}

/// A child prints `committed ID` then `pushed`, or `opening` then `opened`.
#[test]
fn child_runs_the_role_its_parent_names() {
    let Ok(job) = std::env::var(CHILD_VAR) else {
        return;
    };
    let parts: Vec<&str> = job.split('\n').collect();
    let [role, endpoint, url, local, id] = parts[..] else {
        panic!("{CHILD_VAR} is not role, endpoint, url, local path and id: {job:?}");
    };
    let say = |line: &str| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").and_then(|()| out.flush()).unwrap();
    };
    runtime().block_on(async {
        if role == "push" {
            let mut replica = open(endpoint, url, Path::new(local)).await.unwrap();
            let conn = Connection::open(local).unwrap();
            let id: i64 = id.parse().unwrap();
            conn.execute("INSERT INTO rows (id) VALUES (?1)", [id])
                .unwrap();
            conn.close().unwrap();
            say(&format!("committed {id}"));
            let report = replica.push().await.unwrap();
            say(&format!("report {report}"));
            say("pushed");
        } else {
            say("opening");
            open(endpoint, url, Path::new(local)).await.unwrap();
            say("opened");
        }
    });
}

/// A running child and the lines it printed, each with the time it arrived.
struct Child {
    process: std::process::Child,
    lines: mpsc::Receiver<(String, Instant)>,
    stderr: PathBuf,
}

impl Child {
    fn failed(&self, what: &str) -> ! {
        let stderr = fs::read_to_string(&self.stderr).unwrap_or_default();
        panic!("the child {what}; its stderr:\n{stderr}");
    }

    /// When the child printed `line`, which it must within [`TIMEOUT`].
    fn expect(&self, line: &str) -> Instant {
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok((got, at)) if got == line => return at,
                Ok(_) => {}
                Err(e) => self.failed(&format!("did not print {line:?} ({e})")),
            }
        }
    }

    /// The first line the child printed that starts with `prefix`, which
    /// it must print within [`TIMEOUT`].
    fn expect_starting(&self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok((got, _)) if got.starts_with(prefix) => return got,
                Ok(_) => {}
                Err(e) => self.failed(&format!("printed no line starting {prefix:?} ({e})")),
            }
        }
    }

    /// When the child printed `line`; it must then exit successfully.
    fn finish(mut self, line: &str) -> Instant {
        let at = self.expect(line);
        if !self.process.wait().unwrap().success() {
            self.failed(&format!("failed after {line:?}"));
        }
        at
    }

    /// When the file at `path` appeared, polled every millisecond until the
    /// child printed `done` (then `None`: it came and went unseen, or
    /// never came) or [`TIMEOUT`] passed.
    fn file_appears(&self, path: &Path, done: &str) -> Option<Instant> {
        let started = Instant::now();
        while started.elapsed() < TIMEOUT {
            if path.exists() {
                return Some(Instant::now());
            }
            match self.lines.recv_timeout(Duration::from_millis(1)) {
                Ok((line, _)) if line == done => return None,
                _ => {}
            }
        }
        None
    }

    /// Waits until the file at `path` appears, then up to `delay` for
    /// `done`, then SIGKILLs the child unless it got there: whether the
    /// kill came before `done`.
    fn kill_once_there(self, path: &Path, delay: Duration, done: &str) -> bool {
        match self.file_appears(path, done) {
            Some(_) => self.kill_after(delay, done),
            None => self.kill_after_seen(Duration::ZERO, done, true),
        }
    }

    /// Waits up to `delay` for `done`, then SIGKILLs the child unless it got
    /// there: whether the kill came before `done`.
    fn kill_after(self, delay: Duration, done: &str) -> bool {
        self.kill_after_seen(delay, done, false)
    }

    /// [`kill_after`](Self::kill_after), `seen` saying whether the child
    /// printed `done` already.
    fn kill_after_seen(mut self, delay: Duration, done: &str, mut seen: bool) -> bool {
        let deadline = Instant::now() + delay;
        while let (false, Some(left)) = (seen, deadline.checked_duration_since(Instant::now())) {
            match self.lines.recv_timeout(left) {
                Ok((line, _)) => seen = line == done,
                Err(_) => break,
            }
        }
        // an exited but unreaped child takes the signal harmlessly
        self.process.kill().unwrap();
        let status = self.process.wait().unwrap();
        if !status.success() && status.signal() != Some(9) {
            self.failed(&format!("exited with {status} before the kill"));
        }
        // what it printed before it died, `done` included if it got there
        !(seen || self.lines.iter().any(|(line, _)| line == done))
    }
}

impl Drop for Child {
    /// A failed test leaves no child running.
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Counts per phase: rounds, kills before the child finished, and for each
/// bad outcome (in the order first counted) the rounds it happened in and
/// what went wrong the first time.
#[derive(Default)]
struct Tally {
    rounds: usize,
    killed: usize,
    /// Facts about the server, printed and not judged.
    seen: Vec<(&'static str, usize)>,
    bad: Vec<(&'static str, usize, String)>,
}

impl Tally {
    /// Counts `label` when `what` says what went wrong.
    fn count(&mut self, label: &'static str, what: Option<String>) {
        if !self.bad.iter().any(|(l, ..)| *l == label) {
            self.bad.push((label, 0, String::new()));
        }
        let (_, n, first) = self.bad.iter_mut().find(|(l, ..)| *l == label).unwrap();
        if let Some(what) = what {
            *n += 1;
            if first.is_empty() {
                *first = format!("  (round {}: {what})", self.rounds);
            }
        }
    }

    /// Counts `label`, a fact about the server, when `happened`.
    fn note(&mut self, label: &'static str, happened: bool) {
        match self.seen.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += usize::from(happened),
            None => self.seen.push((label, usize::from(happened))),
        }
    }

    fn print_and_check(&self, phase: &str, seed: u64) {
        println!("{phase} phase, seed {seed}:");
        println!("  {:<40} {:>4}", "rounds", self.rounds);
        println!("  {:<40} {:>4}", "kills mid-operation", self.killed);
        for (label, n) in &self.seen {
            println!("  {label:<40} {n:>4}");
        }
        for (label, n, first) in &self.bad {
            println!("  {label:<40} {n:>4}{first}");
        }
        let bad: Vec<_> = self.bad.iter().filter(|(_, n, _)| *n > 0).collect();
        assert!(bad.is_empty(), "{phase} phase, seed {seed}: {bad:?}");
        let none = format!("no kill landed mid-operation in {} rounds", self.rounds);
        assert!(self.killed > 0, "{phase} phase, seed {seed}: {none}");
    }
}

/// Whether the database at `path` passes `PRAGMA integrity_check`, and its row ids.
fn inspect(path: &Path) -> (bool, BTreeSet<i64>) {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let check = conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0));
    let rows = conn
        .prepare("SELECT id FROM rows")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    (check.is_ok_and(|c| c == "ok"), rows.unwrap_or_default())
}

/// The remote's object at one moment.
struct Snapshot {
    e_tag: Option<String>,
    bytes: Vec<u8>,
    intact: bool,
    rows: BTreeSet<i64>,
}

/// Removes and names the engine's temp files beside `local`.
fn take_leftovers(local: &Path) -> Option<String> {
    let prefix = format!(".{}.s3sqlite-", local.file_name().unwrap().display());
    let mut found = None;
    for entry in fs::read_dir(local.parent().unwrap()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) {
            fs::remove_file(entry.path()).unwrap();
            found.get_or_insert(name);
        }
    }
    found
}

/// One test's world: a fresh bucket on LocalStack with a remote of just over
/// 32 MiB or 64 MiB (1 MiB padding rows and an empty `rows(id)`), a local
/// path, and the xorshift64 generator of kill delays.
struct Phase {
    rt: tokio::runtime::Runtime,
    server: S3Server,
    url: String,
    remote: ObjectStoreRemote,
    dir: tempfile::TempDir,
    local: PathBuf,
    rng: u64,
    seed: u64,
    /// The children's `S3SQLITE_INCREMENTAL_UPLOAD`.
    incremental: &'static str,
}

impl Phase {
    fn start(key: &str) -> Self {
        Self::start_with(key, 32, "auto")
    }

    /// A phase whose remote has `mib` MiB of padding and whose children
    /// push with `S3SQLITE_INCREMENTAL_UPLOAD` at `incremental`.
    fn start_with(key: &str, mib: u64, incremental: &'static str) -> Self {
        let rt = runtime();
        let server = rt
            .block_on(S3Server::start(ServerKind::LocalStack))
            .unwrap_or_else(|e| panic!("the crash tests need LocalStack: {e}"));
        let url = server.url(key);
        let remote = remote(server.endpoint(), &url);
        let seeded = seed_remote(&remote, |conn| {
            conn.execute_batch("CREATE TABLE rows (id INTEGER PRIMARY KEY)")?;
            pad_database(conn, mib)
        });
        let size = rt.block_on(seeded).unwrap().size;
        assert!(size >= mib << 20, "seeded only {size} bytes");
        let seed = match std::env::var("S3SQLITE_CRASH_SEED") {
            Ok(seed) => seed.parse().expect("S3SQLITE_CRASH_SEED is a u64"),
            Err(_) => RandomState::new().hash_one(std::process::id()),
        };
        println!("{url}: {size} bytes, seed {seed}");
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("local").join("a.db");
        let rng = seed.max(1);
        Phase {
            rt,
            server,
            url,
            remote,
            dir,
            local,
            rng,
            seed,
            incremental,
        }
    }

    /// A delay in `0..max`.
    fn delay(&mut self, max: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        Duration::from_nanos(self.rng % (max.as_nanos() as u64).max(1))
    }

    /// Runs a child in `role` on the local path; `id` is the row it inserts.
    fn spawn(&self, role: &str, id: i64) -> Child {
        let (endpoint, url, local) = (self.server.endpoint(), &self.url, self.local.display());
        let job = format!("{role}\n{endpoint}\n{url}\n{local}\n{id}");
        let stderr = self.dir.path().join("child.stderr");
        // --quiet: the harness prints nothing on the lines the child prints
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CHILD_TEST, "--nocapture", "--quiet"])
            .env(CHILD_VAR, job)
            .env(INCREMENTAL_UPLOAD_VAR, self.incremental)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(process.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        let mut lines_read = stdout.lines().map_while(Result::ok);
        std::thread::spawn(move || lines_read.try_for_each(|l| tx.send((l, Instant::now()))));
        Child {
            process,
            lines,
            stderr,
        }
    }

    /// The remote's current object, read unless it is still `known`. A
    /// killed child's upload may land while this reads: then it reads again.
    fn snapshot(&self, known: Option<Snapshot>) -> Snapshot {
        let path = self.dir.path().join("remote.db");
        let (mut attempts, transfer) = (0, TransferOptions::default());
        let version = loop {
            let version = self.block(self.remote.head()).unwrap().expect("a remote");
            if known
                .as_ref()
                .is_some_and(|k| k.e_tag.is_some() && k.e_tag == version.e_tag)
            {
                return known.unwrap();
            }
            attempts += 1;
            let download = self.remote.download(&path, &version, &transfer);
            match self.block(download) {
                Err(s3sqlite_core::Error::ChangedDuringDownload { .. }) if attempts < 5 => {}
                done => break done.map(|_| version).unwrap(),
            }
        };
        let (intact, rows) = inspect(&path);
        let bytes = fs::read(&path).unwrap();
        Snapshot {
            e_tag: version.e_tag,
            bytes,
            intact,
            rows,
        }
    }

    /// Removes the local file and its state: the next open downloads.
    fn forget_local(&self) {
        let state = self.local.with_file_name("a.db.s3sqlite-state");
        for path in [&self.local, &state] {
            match fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{e}"),
                _ => {}
            }
        }
    }

    /// A fresh replica at the local path.
    fn open(&self) -> impl Future<Output = s3sqlite_core::Result<Replica>> + '_ {
        open(self.server.endpoint(), &self.url, &self.local)
    }

    fn block<T>(&self, f: impl Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    /// Runs `f`; `None` when it takes over [`TIMEOUT`].
    fn within<T>(&self, f: impl Future<Output = T>) -> Option<T> {
        self.block(async { tokio::time::timeout(TIMEOUT, f).await.ok() })
    }
}

#[test]
fn push_killed_at_random_moments_loses_nothing_and_adopts_no_torn_remote() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let tally = push_phase(Phase::start("crash/push.db"), ROUNDS);
    assert!(tally.killed > 0);
}

/// Pushes of only the changed parts, killed between parts: the remote
/// stays at the old version (or the new one, complete), and the reopen
/// aborts the upload the kill left.
#[test]
fn incremental_push_killed_between_parts_leaves_the_old_version_and_no_upload() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let p = Phase::start_with("crash/incremental.db", 64, "on");
    let tally = push_phase(p, INCREMENTAL_ROUNDS);
    assert!(
        tally.killed >= INCREMENTAL_KILLS,
        "only {} of {} rounds killed a push mid-way",
        tally.killed,
        tally.rounds
    );
}

/// Kills `rounds` pushes of children at random moments, checks what each
/// kill left, prints the counts and fails on any bad one.
fn push_phase(mut p: Phase, rounds: usize) -> Tally {
    let local = p.local.clone();
    let incremental = p.incremental == "on";

    // one push nobody kills, to time it
    // (an incremental push is timed from when its multipart upload is
    // recorded, and each kill waits for that record: the kills land
    // between the upload's first request and its completion)
    let record = local.with_file_name("a.db.s3sqlite-upload");
    let child = p.spawn("push", 1);
    let mut started_at = child.expect("committed 1");
    if incremental {
        started_at = child
            .file_appears(&record, "pushed")
            .expect("the push records its multipart upload");
    }
    let report = child.expect_starting("report ");
    let push_time = child.finish("pushed") - started_at;
    println!("an unkilled push takes {push_time:?}: {report}");
    if incremental {
        assert!(
            report.contains("changed parts"),
            "not incremental: {report}"
        );
    }

    let mut committed = BTreeSet::from([1]);
    let mut remote_rows = committed.clone();
    let mut resets = 0;
    let mut tally = Tally::default();
    for id in 2..(rounds as i64 + 2) {
        let child = p.spawn("push", id);
        child.expect(&format!("committed {id}"));
        committed.insert(id);
        tally.rounds += 1;
        let killed = match incremental {
            // within the first three quarters of the upload: between its parts
            true => child.kill_once_there(&record, p.delay(push_time * 3 / 4), "pushed"),
            false => child.kill_after(p.delay(push_time), "pushed"),
        };
        tally.killed += usize::from(killed);

        let before = p.snapshot(None);
        let mut new = remote_rows.clone();
        new.insert(id);
        let old_or_new = |s: &Snapshot| s.intact && (s.rows == remote_rows || s.rows == new);
        tally.note("partial bodies the server kept", !old_or_new(&before));

        if incremental {
            let left = p.block(p.remote.unfinished_uploads()).unwrap();
            tally.note("multipart uploads the kill left", !left.is_empty());
        }
        let replica = p.within(p.open());
        let stuck = "stuck opens or pushes";
        tally.count(stuck, replica.is_none().then(|| "open".into()));
        let Some(mut replica) = replica.map(|r| r.expect("reopen after a kill")) else {
            break;
        };
        let reopened = p.snapshot(Some(before));
        let what = format!(
            "{} bytes, intact: {}",
            reopened.bytes.len(),
            reopened.intact
        );
        let label = "remote not old-or-new after the reopen";
        tally.count(label, (!old_or_new(&reopened)).then_some(what));
        tally.count("leftover temp files", take_leftovers(&local));
        if incremental {
            let left = p.block(p.remote.unfinished_uploads()).unwrap();
            let what = format!("{left:?}");
            let label = "multipart uploads listed after the reopen";
            tally.count(label, (!left.is_empty()).then_some(what));
        }
        let local_rows = inspect(&local).1;
        let pushed = p.within(replica.push());
        tally.count(stuck, pushed.is_none().then(|| "push".into()));
        let Some(pushed) = pushed else {
            break;
        };
        pushed.expect("the verifier's push");
        let status = p.block(replica.status()).unwrap();
        let after = p.snapshot(Some(reopened));
        let local_len = fs::metadata(&local).unwrap().len();
        let torn = status != Status::Clean || after.bytes != fs::read(&local).unwrap();
        let (remote_len, intact) = (after.bytes.len(), after.intact);
        let what = format!("{status:?}, remote {remote_len} bytes, local {local_len}");
        tally.count("torn remotes adopted", (torn || !intact).then_some(what));
        let missing = |rows: &BTreeSet<i64>| committed.difference(rows).count();
        let (here, there) = (missing(&local_rows), missing(&after.rows));
        let what = format!("{here} missing locally, {there} on the remote");
        tally.count("lost rows", (here + there > 0).then_some(what));
        remote_rows = after.rows;
        if torn || !intact {
            // the next round starts from a sound remote: a bad round counts once
            drop(replica);
            let size = fs::metadata(&local).unwrap().len();
            let stamp = Stamp::new(ContentHash::of_file(&local).unwrap(), size);
            let reset = p.remote.upload(&local, &WriteCondition::Overwrite, &stamp);
            p.block(reset).unwrap();
            p.forget_local();
            remote_rows = local_rows;
            resets += 1;
        }
    }
    println!("(the remote was reset from the local copy after {resets} torn rounds)");
    let phase = if incremental {
        "incremental push"
    } else {
        "push"
    };
    tally.print_and_check(phase, p.seed);
    tally
}

#[test]
fn open_killed_during_download_leaves_nothing_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let mut p = Phase::start("crash/open.db");
    let local = p.local.clone();
    let original = p.snapshot(None);

    // one download nobody kills, to time it
    p.forget_local();
    let child = p.spawn("open", 0);
    let opening = child.expect("opening");
    let download_time = child.finish("opened") - opening;
    println!("an unkilled cold open takes {download_time:?}");

    let mut tally = Tally::default();
    for _ in 0..ROUNDS {
        p.forget_local();
        let child = p.spawn("open", 0);
        child.expect("opening");
        tally.rounds += 1;
        tally.killed += usize::from(child.kill_after(p.delay(download_time), "opened"));

        let replica = p.within(p.open());
        tally.count("stuck opens", replica.is_none().then(|| "open".into()));
        let Some(replica) = replica.map(|r| r.expect("reopen after a kill")) else {
            break;
        };
        tally.count("leftover temp files", take_leftovers(&local));
        let intact = inspect(&local).0;
        let len = fs::metadata(&local).unwrap().len();
        let same = intact && fs::read(&local).unwrap() == original.bytes;
        let what = format!("{len} bytes, intact: {intact}");
        tally.count("local copy not the remote's bytes", (!same).then_some(what));
        let now = p.block(p.remote.head()).unwrap().and_then(|v| v.e_tag);
        let what = format!("ETag {now:?}, was {:?}", original.e_tag);
        tally.count("remote changed", (now != original.e_tag).then_some(what));
        drop(replica);
    }
    tally.print_and_check("download", p.seed);
}

/// A replica one row behind, opened by a child that is killed at a random
/// moment: its open patches the local copy in place with the changed
/// ranges. The reopen must find the old version's bytes or the new one's,
/// never a mix: it ends with exactly the remote's bytes, intact, and the
/// remote as the writer left it.
#[test]
fn open_killed_while_patching_in_place_leaves_the_old_or_the_new_version() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let mut p = Phase::start("crash/patch.db");
    let local = p.local.clone();
    drop(p.within(p.open()).expect("first open").expect("first open"));
    let writer_path = p.dir.path().join("writer").join("b.db");
    let options = ReplicaOptions::new().with_local_path(&writer_path);
    let mut writer = p
        .block(Replica::open(remote(p.server.endpoint(), &p.url), options))
        .expect("the writer opens");
    let mut next_id = 0;
    let mut push_one_row = |p: &Phase| {
        next_id += 1;
        let conn = Connection::open(&writer_path).unwrap();
        conn.execute("INSERT INTO rows (id) VALUES (?1)", [next_id])
            .unwrap();
        conn.close().unwrap();
        p.block(writer.push()).expect("the writer pushes");
    };

    // one patch nobody kills, to time it
    push_one_row(&p);
    let child = p.spawn("open", 0);
    let opening = child.expect("opening");
    let patch_time = child.finish("opened") - opening;
    println!("an unkilled open one row behind takes {patch_time:?}");

    let mut tally = Tally::default();
    for _ in 0..PATCH_ROUNDS {
        push_one_row(&p);
        let pushed = p.snapshot(None);
        let before = inode(&local);
        let child = p.spawn("open", 0);
        child.expect("opening");
        tally.rounds += 1;
        tally.killed += usize::from(child.kill_after(p.delay(patch_time), "opened"));

        let replica = p.within(p.open());
        tally.count("stuck opens", replica.is_none().then(|| "open".into()));
        let Some(replica) = replica.map(|r| r.expect("reopen after a kill")) else {
            break;
        };
        tally.count("leftover temp files", take_leftovers(&local));
        tally.note("replaced, not patched in place", inode(&local) != before);
        let intact = inspect(&local).0;
        let same = intact && fs::read(&local).unwrap() == pushed.bytes;
        let what = format!("intact: {intact}");
        tally.count("local copy not the remote's bytes", (!same).then_some(what));
        let status = p.block(async {
            let mut replica = replica;
            replica.status().await
        });
        let what = format!("{status:?}");
        tally.count(
            "not clean after the reopen",
            (!matches!(status, Ok(Status::Clean))).then_some(what),
        );
        let now = p.block(p.remote.head()).unwrap().and_then(|v| v.e_tag);
        let what = format!("ETag {now:?}, was {:?}", pushed.e_tag);
        tally.count("remote changed", (now != pushed.e_tag).then_some(what));
    }
    tally.print_and_check("patch", p.seed);
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).unwrap().ino()
}
