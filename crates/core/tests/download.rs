//! The requests of a download: an open with nothing local asks no HEAD (its
//! first GET says which version is current, and the other parts are pinned
//! to that version), and falls back to a HEAD where that first GET cannot
//! serve; a download whose version moves restarts on the newer one, and ends
//! as one GET when it keeps losing; cold opens racing a busy writer each get
//! one whole version.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{put_raw, remote_values, seed, show, values, write};
use object_store::ObjectStoreExt;
use s3sqlite_core::{RemoteStore, Replica, ReplicaOptions, SyncAction};
use s3sqlite_testkit::{Backend, Exchange, Fixture, HttpLog, pad_database, seed_remote};

/// Parts small enough that a 1 MiB database takes several.
const PART: u64 = 256 * 1024;

fn is_cloud(fx: &Fixture) -> bool {
    !matches!(fx.backend(), Backend::Memory | Backend::File)
}

/// A cold open of the remote `name` at `local`, in parts of [`PART`], with
/// its requests in `log`.
async fn open_logged(fx: &Fixture, name: &str, local: &str, log: &HttpLog) -> Replica {
    let remote = fx
        .builder(name)
        .with_http_connector(log.connector())
        .build()
        .unwrap();
    let options = ReplicaOptions::new()
        .with_local_path(fx.local(local))
        .with_part_size(PART)
        .with_parallelism(2);
    Replica::open(remote, options).await.unwrap()
}

s3sqlite_testkit::backend_tests!(
    a_cold_open_asks_no_head,
    a_cold_open_of_one_part_is_one_request,
    a_cold_open_of_an_empty_object_asks_the_version_first,
    a_cold_open_of_a_missing_object_creates_the_database,
    cold_opens_racing_a_busy_writer_get_one_whole_version,
    a_remote_moved_mid_download_restarts_on_the_newer_version,
    a_download_that_keeps_losing_its_version_ends_as_one_get,
);

async fn a_cold_open_asks_no_head(fx: Fixture) {
    let url = fx.url("big.db");
    seed_remote(&fx.remote("big.db"), |conn| {
        pad_database(conn, 1)?;
        conn.execute_batch("CREATE TABLE t (v TEXT NOT NULL); INSERT INTO t VALUES ('big')")
    })
    .await
    .unwrap();
    let current = fx.remote("big.db").head().await.unwrap().unwrap();
    let parts = current.size.div_ceil(PART) as usize;
    assert!(
        parts > 2,
        "{url}: {} bytes is too small a test",
        current.size
    );

    let log = HttpLog::new();
    let replica = open_logged(&fx, "big.db", "a.db", &log).await;
    assert_eq!(replica.opened().action, SyncAction::Downloaded);
    assert_eq!(replica.opened().bytes_down, current.size);
    assert_eq!(replica.base(), Some(&current));
    let exchanges = log.exchanges();
    println!(
        "{}: cold open of {parts} parts:\n{}",
        fx.backend(),
        show(&exchanges)
    );
    if is_cloud(&fx) {
        assert!(
            exchanges.iter().all(|e| e.method == "GET"),
            "{}",
            show(&exchanges)
        );
        assert_eq!(exchanges.len(), parts, "{}", show(&exchanges));
        // the first GET is whatever is current; the rest are pinned to it
        assert_eq!(exchanges[0].if_match, None);
        let tag = current.e_tag.as_deref().unwrap();
        for pinned in &exchanges[1..] {
            let sent = pinned.if_match.as_deref().unwrap();
            assert_eq!(sent.trim_matches('"'), tag.trim_matches('"'));
        }
        assert!(exchanges.iter().all(|e| e.status == Some(206)));
    } else {
        assert!(exchanges.is_empty(), "no HTTP on {}", fx.backend());
    }
    drop(replica);
    let conn = rusqlite::Connection::open(fx.local("a.db")).unwrap();
    let v: String = conn.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(v, "big");
}

async fn a_cold_open_of_one_part_is_one_request(fx: Fixture) {
    seed(&fx, "app.db", &["one"]).await;
    let log = HttpLog::new();
    let replica = open_logged(&fx, "app.db", "a.db", &log).await;
    assert_eq!(replica.opened().action, SyncAction::Downloaded);
    let exchanges = log.exchanges();
    if is_cloud(&fx) {
        assert_eq!(exchanges.len(), 1, "{}", show(&exchanges));
        assert_eq!(exchanges[0].method, "GET");
    }
    // the version learnt from that GET is the one a HEAD reports: the
    // next open finds the copy current without a download
    drop(replica);
    let log = HttpLog::new();
    let replica = open_logged(&fx, "app.db", "a.db", &log).await;
    assert_eq!(replica.opened().action, SyncAction::Reused);
    if is_cloud(&fx) {
        let exchanges = log.exchanges();
        assert_eq!(exchanges.len(), 1, "{}", show(&exchanges));
        assert_eq!(exchanges[0].method, "HEAD");
    }
    drop(replica);
    assert_eq!(remote_values(&fx, "app.db").await, ["one"]);
}

async fn a_cold_open_of_an_empty_object_asks_the_version_first(fx: Fixture) {
    // an empty file is an empty database; no range names its first byte
    put_raw(&fx, "empty.db", Vec::new()).await;
    let log = HttpLog::new();
    let replica = open_logged(&fx, "empty.db", "a.db", &log).await;
    assert_eq!(replica.opened().action, SyncAction::Downloaded);
    assert_eq!(replica.opened().bytes_down, 0);
    let exchanges = log.exchanges();
    println!(
        "{}: cold open of an empty object:\n{}",
        fx.backend(),
        show(&exchanges)
    );
    if is_cloud(&fx) {
        let methods: Vec<&str> = exchanges.iter().map(|e| e.method.as_str()).collect();
        assert_eq!(methods, ["GET", "HEAD", "GET"], "{}", show(&exchanges));
    }
    assert_eq!(std::fs::metadata(fx.local("a.db")).unwrap().len(), 0);
}

async fn a_cold_open_of_a_missing_object_creates_the_database(fx: Fixture) {
    let log = HttpLog::new();
    let replica = open_logged(&fx, "new.db", "a.db", &log).await;
    assert_eq!(replica.opened().action, SyncAction::Created);
    assert_eq!(replica.base(), None);
    if is_cloud(&fx) {
        let exchanges = log.exchanges();
        assert_eq!(exchanges[0].method, "GET", "{}", show(&exchanges));
        assert_eq!(exchanges[0].status, Some(404));
    }
}

async fn cold_opens_racing_a_busy_writer_get_one_whole_version(fx: Fixture) {
    seed_remote(&fx.remote("raced.db"), |conn| {
        pad_database(conn, 1)?;
        conn.execute_batch("CREATE TABLE t (v TEXT NOT NULL); INSERT INTO t VALUES ('seed')")
    })
    .await
    .unwrap();
    let mut writer = fx
        .open("raced.db", "writer.db", ReplicaOptions::new())
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writing = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut pushed = 0;
            while !stop.load(Ordering::Relaxed) {
                pushed += 1;
                write(writer.local_path(), &[&format!("w{pushed}")]);
                writer.push().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            pushed
        })
    };
    let (mut opened, mut restarted) = (0, 0);
    for round in 1..=40 {
        if restarted >= 3 && opened >= 10 {
            break;
        }
        let log = HttpLog::new();
        let local = format!("reader{round}/a.db");
        let remote = fx
            .builder("raced.db")
            .with_http_connector(log.connector())
            .build()
            .unwrap();
        let options = ReplicaOptions::new()
            .with_local_path(fx.local(&local))
            .with_part_size(PART)
            .with_parallelism(2);
        let result = Replica::open(remote, options).await;
        // a pinned part refused: the remote moved after the version was read
        if log.exchanges().iter().any(|e| e.status == Some(412)) {
            restarted += 1;
        }
        let replica =
            result.unwrap_or_else(|err| panic!("round {round}: {err}\n{}", show(&log.exchanges())));
        assert_eq!(replica.opened().action, SyncAction::Downloaded);
        opened += 1;
        drop(replica);
        let got = values(&fx.local(&local));
        let expected: Vec<String> = std::iter::once("seed".to_owned())
            .chain((1..got.len()).map(|i| format!("w{i}")))
            .collect();
        assert_eq!(got, expected, "round {round} got a version no one pushed");
        let conn = rusqlite::Connection::open(fx.local(&local)).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
    }
    stop.store(true, Ordering::Relaxed);
    let pushed = writing.await.unwrap();
    println!(
        "{}: {opened} cold opens beside {pushed} pushes; \
         {restarted} opens restarted on a newer version",
        fx.backend()
    );
    // how often the writer lands between two parts depends on the server's
    // locking (LocalStack makes a PUT wait for the GETs it is serving);
    // the restart itself is proved at an exact point below
}

/// A database of 1 MiB and a few rows, `values`, as bytes.
fn database(fx: &Fixture, values: &[&str]) -> Vec<u8> {
    let path = fx.dir().join(format!("db-{}.db", values.len()));
    let conn = rusqlite::Connection::open(&path).unwrap();
    pad_database(&conn, 1).unwrap();
    conn.execute_batch("CREATE TABLE t (v TEXT NOT NULL)")
        .unwrap();
    for v in values {
        conn.execute("INSERT INTO t VALUES (?1)", [v]).unwrap();
    }
    conn.close().unwrap();
    std::fs::read(&path).unwrap()
}

/// A cold open in parts of [`PART`], one at a time, whose remote another
/// tool overwrites just before each of the first `moves` pinned GETs, with
/// the versions `v2`, `v3`, …; prints its requests and asserts that it
/// downloaded. Returns the replica, its requests, the values of the last
/// version put and the values of the local copy.
async fn open_moved(
    fx: &Fixture,
    moves: usize,
) -> (Replica, Vec<Exchange>, Vec<String>, Vec<String>) {
    let all: Vec<String> = (1..=moves + 1).map(|i| format!("v{i}")).collect();
    let versions: Vec<Vec<u8>> = (1..=moves + 1)
        .map(|n| database(fx, &all[..n].iter().map(String::as_str).collect::<Vec<_>>()))
        .collect();
    put_raw(fx, "moved.db", versions[0].clone()).await;
    let log = HttpLog::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let (remote, versions) = (Arc::new(fx.remote("moved.db")), Arc::new(versions));
    log.before_pinned_gets(moves, move || {
        let (remote, versions, next) = (remote.clone(), versions.clone(), next.clone());
        Box::pin(async move {
            let n = next.fetch_add(1, Ordering::SeqCst);
            let bytes = versions[n].clone();
            remote
                .store()
                .put(remote.key(), bytes.into())
                .await
                .unwrap();
        })
    });
    let remote = fx
        .builder("moved.db")
        .with_http_connector(log.connector())
        .build()
        .unwrap();
    let options = ReplicaOptions::new()
        .with_local_path(fx.local("a.db"))
        .with_part_size(PART)
        .with_parallelism(1);
    let replica = Replica::open(remote, options).await.unwrap();
    let exchanges = log.exchanges();
    println!(
        "{}: moved {moves} time(s) mid-download:\n{}",
        fx.backend(),
        show(&exchanges)
    );
    assert_eq!(replica.opened().action, SyncAction::Downloaded);
    let got = values(replica.local_path());
    (replica, exchanges, all, got)
}

async fn a_remote_moved_mid_download_restarts_on_the_newer_version(fx: Fixture) {
    let (replica, exchanges, all, got) = open_moved(&fx, 1).await;
    if is_cloud(&fx) {
        // the first part came unpinned, the second was refused on the old tag
        assert_eq!(exchanges[0].if_match, None);
        assert_eq!(exchanges[1].status, Some(412), "{}", show(&exchanges));
        assert_eq!(got, all);
        let current = fx.remote("moved.db").head().await.unwrap().unwrap();
        assert_eq!(replica.base(), Some(&current));
    } else {
        assert_eq!(got, ["v1"], "no HTTP on {}, so no move", fx.backend());
    }
}

async fn a_download_that_keeps_losing_its_version_ends_as_one_get(fx: Fixture) {
    let (_replica, exchanges, all, got) = open_moved(&fx, 2).await;
    if is_cloud(&fx) {
        let refused = exchanges.iter().filter(|e| e.status == Some(412)).count();
        assert_eq!(refused, 2, "{}", show(&exchanges));
        // the third attempt: one GET of whatever is current, nothing pinned
        let last = exchanges.last().unwrap();
        assert_eq!(
            (last.method.as_str(), last.if_match.as_deref()),
            ("GET", None)
        );
        let after_second_refusal = exchanges
            .iter()
            .rposition(|e| e.status == Some(412))
            .unwrap();
        let gets = exchanges[after_second_refusal + 1..]
            .iter()
            .filter(|e| e.method == "GET")
            .count();
        assert_eq!(gets, 1, "{}", show(&exchanges));
        assert_eq!(got, all);
    } else {
        assert_eq!(got, ["v1"], "no HTTP on {}, so no move", fx.backend());
    }
}
