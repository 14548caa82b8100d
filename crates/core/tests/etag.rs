//! Entity tags in `If-Match`: sent as the store wants them, found without a
//! setting; and a losing conditional update always ends as a conflict.

mod common;

use std::sync::Arc;

use common::{remote_values, seed, show, values, write};
use s3sqlite_core::{Error, EtagQuoting, ObjectStoreRemote, Replica, ReplicaOptions};
use s3sqlite_testkit::{Backend, Fixture, HttpLog};

fn quoted(tag: &str) -> bool {
    tag.starts_with('"') && tag.ends_with('"')
}

/// Opens a replica at `local` of the remote `name`, sending its requests
/// through `log`.
async fn open_logged(
    fx: &Fixture,
    name: &str,
    local: &str,
    log: &HttpLog,
) -> (Arc<ObjectStoreRemote>, Replica) {
    let remote = Arc::new(
        fx.builder(name)
            .with_http_connector(log.connector())
            .build()
            .unwrap(),
    );
    let replica = Replica::open(
        Arc::clone(&remote),
        ReplicaOptions::new().with_local_path(fx.local(local)),
    )
    .await
    .unwrap();
    (remote, replica)
}

s3sqlite_testkit::backend_tests!(
    updates_send_the_etag_as_the_store_wants_it,
    a_losing_update_answered_500_ends_as_a_conflict,
    a_forced_quoting_is_kept,
);

async fn updates_send_the_etag_as_the_store_wants_it(fx: Fixture) {
    seed(&fx, "app.db", &["seed"]).await;
    let log = HttpLog::new();
    let (remote, mut replica) = open_logged(&fx, "app.db", "a.db", &log).await;

    write(replica.local_path(), &["one"]);
    log.clear();
    replica.push().await.unwrap();
    let first = log.conditional_updates();

    write(replica.local_path(), &["two"]);
    log.clear();
    replica.push().await.unwrap();
    let second = log.conditional_updates();
    println!(
        "{}: first update:\n{}\nsecond update:\n{}",
        fx.backend(),
        show(&first),
        show(&second)
    );

    match fx.backend() {
        Backend::Ceph => {
            // the quoted tag is refused although current, then taken unquoted
            assert_eq!(first.len(), 2, "{}", show(&first));
            assert!(quoted(first[0].if_match.as_deref().unwrap()));
            assert_eq!(first[0].status, Some(412));
            assert!(!quoted(first[1].if_match.as_deref().unwrap()));
            assert_eq!(first[1].status, Some(200));
            // and remembered: the next update goes unquoted at once
            assert_eq!(second.len(), 1, "{}", show(&second));
            assert!(!quoted(second[0].if_match.as_deref().unwrap()));
            assert_eq!(second[0].status, Some(200));
            assert!(remote.sends_unquoted_etags());
        }
        Backend::Memory | Backend::File => {
            assert!(
                first.is_empty() && second.is_empty(),
                "no HTTP on {}",
                fx.backend()
            );
            assert!(!remote.sends_unquoted_etags());
        }
        _ => {
            for updates in [&first, &second] {
                assert_eq!(updates.len(), 1, "{}", show(updates));
                assert!(quoted(updates[0].if_match.as_deref().unwrap()));
                assert_eq!(updates[0].status, Some(200));
            }
            assert!(!remote.sends_unquoted_etags());
        }
    }
    drop(replica);
    assert_eq!(remote_values(&fx, "app.db").await, ["seed", "one", "two"]);
}

async fn a_losing_update_answered_500_ends_as_a_conflict(fx: Fixture) {
    seed(&fx, "app.db", &["seed"]).await;
    // answered 500 once (then 412 on object_store's retry), and every time
    for times in [1, usize::MAX] {
        let log = HttpLog::new();
        let (_, mut loser) = open_logged(&fx, "app.db", &format!("loser-{times}.db"), &log).await;
        let mut winner = fx
            .open(
                "app.db",
                &format!("winner-{times}.db"),
                ReplicaOptions::new(),
            )
            .await
            .unwrap();
        write(winner.local_path(), &["winner"]);
        winner.push().await.unwrap();
        let remote_before = remote_values(&fx, "app.db").await;

        write(loser.local_path(), &["loser"]);
        log.answer_precondition_failed_with_500(times);
        let err = loser.push().await.unwrap_err();
        println!(
            "{} ({times}x 500): {err}\n{}",
            fx.backend(),
            show(&log.exchanges())
        );
        assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
        assert_eq!(remote_values(&fx, "app.db").await, remote_before);
        let local = values(loser.local_path());
        assert_eq!(local.last().map(String::as_str), Some("loser"));
        if !matches!(fx.backend(), Backend::Memory | Backend::File) {
            assert!(
                log.exchanges().iter().any(|e| e.status == Some(500)),
                "the log answered no 500:\n{}",
                show(&log.exchanges())
            );
        }
    }
}

async fn a_forced_quoting_is_kept(fx: Fixture) {
    seed(&fx, "app.db", &["seed"]).await;
    for quoting in [EtagQuoting::Quoted, EtagQuoting::Unquoted] {
        let log = HttpLog::new();
        let remote = Arc::new(
            fx.builder("app.db")
                .with_etag_quoting(quoting)
                .with_http_connector(log.connector())
                .build()
                .unwrap(),
        );
        let mut replica = Replica::open(
            Arc::clone(&remote),
            ReplicaOptions::new().with_local_path(fx.local(&format!("{quoting}.db"))),
        )
        .await
        .unwrap();
        write(replica.local_path(), &[quoting.name()]);
        log.clear();
        let pushed = replica.push().await;
        let updates = log.conditional_updates();
        println!("{} {quoting}: {pushed:?}\n{}", fx.backend(), show(&updates));
        assert_eq!(
            remote.sends_unquoted_etags(),
            quoting == EtagQuoting::Unquoted
        );
        // the form a store refuses although the tag is current
        let refused = match fx.backend() {
            Backend::Ceph => Some(EtagQuoting::Quoted),
            Backend::Memory => Some(EtagQuoting::Unquoted),
            _ => None,
        };
        if refused == Some(quoting) {
            // the user's setting is kept, never retried in the other form:
            // every attempt is refused though the tag is current, and the
            // error says so
            assert!(
                matches!(pushed, Err(Error::ConditionRefused { .. })),
                "{pushed:?}"
            );
        } else {
            pushed.unwrap();
        }
        if matches!(fx.backend(), Backend::Memory | Backend::File) {
            continue;
        }
        assert!(!updates.is_empty());
        for update in &updates {
            let sent = update.if_match.as_deref().unwrap();
            assert_eq!(
                quoted(sent),
                quoting == EtagQuoting::Quoted,
                "{}",
                show(&updates)
            );
        }
    }
}
