//! The requests of a cold open through a remote held behind an `Arc`, as the
//! adapters hold theirs: one GET for a database of one part, and no HEAD,
//! exactly as with the remote itself.

use std::sync::Arc;

use s3sqlite_core::{RemoteStore, Replica, ReplicaOptions, SyncAction};
use s3sqlite_testkit::{Fixture, HttpLog, seed_remote};

s3sqlite_testkit::backend_tests!(requests: a_cold_open_through_an_arc_is_one_get);

async fn a_cold_open_through_an_arc_is_one_get(fx: Fixture) {
    seed_remote(&fx.remote("app.db"), |conn| {
        conn.execute_batch("CREATE TABLE t (v TEXT NOT NULL); INSERT INTO t VALUES ('one')")
    })
    .await
    .unwrap();
    let log = HttpLog::new();
    let remote: Arc<dyn RemoteStore> = Arc::new(fx.logged_remote("app.db", &log));
    let options = ReplicaOptions::new().with_local_path(fx.local("a.db"));
    let replica = Replica::open(remote, options).await.unwrap();
    assert_eq!(replica.opened().action, SyncAction::Downloaded);
    let exchanges = log.exchanges();
    println!("{}: cold open through an Arc: {exchanges:#?}", fx.backend());
    let methods: Vec<&str> = exchanges.iter().map(|e| e.method.as_str()).collect();
    assert_eq!(methods, ["GET"], "{exchanges:#?}");
    drop(replica);
    let conn = rusqlite::Connection::open(fx.local("a.db")).unwrap();
    let v: String = conn.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(v, "one");
}
