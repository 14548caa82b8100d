//! The transfer observer: told of every download and upload, with the
//! bytes of a download as they arrive, and of a transfer that failed.

mod common;

use std::sync::{Arc, Mutex};

use common::{is_injected, seed, write};
use s3sqlite_core::{Direction, Replica, ReplicaOptions, Transfer, TransferObserver};
use s3sqlite_testkit::{FaultyRemote, Fixture, Op, pad_database, seed_remote};

s3sqlite_testkit::backend_tests!(
    a_download_reports_its_bytes_as_they_arrive,
    an_upload_reports_its_start_and_end,
    a_failed_transfer_is_reported_failed,
    a_download_of_what_changed_reports_the_ranges,
);

/// Everything the observer was told, in order.
#[derive(Debug, Default)]
struct Seen(Mutex<Vec<Event>>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Started(Direction, u64),
    Advanced(u64),
    Finished(Direction, bool),
}

impl TransferObserver for Seen {
    fn started(&self, transfer: &Transfer) {
        self.push(Event::Started(transfer.direction, transfer.total));
    }

    fn advanced(&self, _transfer: &Transfer, done: u64) {
        self.push(Event::Advanced(done));
    }

    fn finished(&self, transfer: &Transfer, succeeded: bool) {
        self.push(Event::Finished(transfer.direction, succeeded));
    }
}

impl Seen {
    fn push(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }

    fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

fn options(fx: &Fixture, seen: &Arc<Seen>) -> ReplicaOptions {
    ReplicaOptions::new()
        .with_local_path(fx.local("a.db"))
        .with_part_size(1 << 20)
        .with_transfer_observer(seen.clone())
}

async fn a_download_reports_its_bytes_as_they_arrive(fx: Fixture) {
    let version = seed_remote(&fx.remote("db"), |c| pad_database(c, 5))
        .await
        .unwrap();
    let seen = Arc::new(Seen::default());
    let replica = fx.open("db", "a.db", options(&fx, &seen)).await.unwrap();
    let size = replica.opened().bytes_down;
    assert_eq!(size, version.size);
    let events = seen.events();
    assert_eq!(
        events.first(),
        Some(&Event::Started(Direction::Download, size))
    );
    assert_eq!(
        events.last(),
        Some(&Event::Finished(Direction::Download, true))
    );
    let done: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Advanced(done) => Some(*done),
            _ => None,
        })
        .collect();
    assert!(done.len() >= 5, "about one report per MiB: {done:?}");
    assert!(done.windows(2).all(|w| w[0] < w[1]), "{done:?}");
    assert_eq!(done.last(), Some(&size));
    // a warm open transfers nothing and reports nothing
    drop(replica);
    let seen_again = Arc::new(Seen::default());
    fx.open("db", "a.db", options(&fx, &seen_again))
        .await
        .unwrap();
    assert_eq!(seen_again.events(), []);
}

async fn an_upload_reports_its_start_and_end(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let seen = Arc::new(Seen::default());
    let mut replica = fx.open("db", "a.db", options(&fx, &seen)).await.unwrap();
    write(replica.local_path(), &["mine"]);
    let size = std::fs::metadata(replica.local_path()).unwrap().len();
    let before = seen.events().len();
    let report = replica.push().await.unwrap();
    assert_eq!(report.bytes_up, size);
    assert_eq!(
        seen.events()[before..],
        [
            Event::Started(Direction::Upload, size),
            Event::Finished(Direction::Upload, true)
        ]
    );
}

async fn a_failed_transfer_is_reported_failed(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let remote = Arc::new(FaultyRemote::new(fx.remote("db")));
    let seen = Arc::new(Seen::default());
    let mut replica = Replica::open(Arc::clone(&remote), options(&fx, &seen))
        .await
        .unwrap();
    write(replica.local_path(), &["mine"]);
    remote.fail_nth(Op::Upload, 1);
    assert!(is_injected(&replica.push().await.unwrap_err()));
    assert_eq!(
        seen.events().last(),
        Some(&Event::Finished(Direction::Upload, false))
    );
}

async fn a_download_of_what_changed_reports_the_ranges(fx: Fixture) {
    seed_remote(&fx.remote("db"), |c| {
        pad_database(c, 5)?;
        c.execute_batch("CREATE TABLE t (v TEXT NOT NULL)")
    })
    .await
    .unwrap();
    let seen = Arc::new(Seen::default());
    let mut a = fx.open("db", "a.db", options(&fx, &seen)).await.unwrap();
    // a push by s3sqlite, so that the new version has a manifest
    let mut b = fx.open("db", "b.db", ReplicaOptions::new()).await.unwrap();
    write(b.local_path(), &["one"]);
    b.push().await.unwrap();
    seen.0.lock().unwrap().clear();

    let pulled = a.pull().await.unwrap();
    assert!(pulled.ranges_fetched >= 1, "{pulled}");
    let events = seen.events();
    let Some(Event::Started(Direction::Download, total)) = events.first().cloned() else {
        panic!("no download started: {events:?}");
    };
    assert!(
        total > 0 && total < pulled.bytes_down,
        "{total} of {pulled}"
    );
    assert_eq!(
        events.iter().rev().find_map(|e| match e {
            Event::Advanced(done) => Some(*done),
            _ => None,
        }),
        Some(total),
        "{events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&Event::Finished(Direction::Download, true))
    );
}
