//! SQL helpers shared by the integration tests: a table `t(v)` of text values.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use object_store::ObjectStoreExt;
use rusqlite::Connection;
use s3sqlite_testkit::{
    Exchange, Fixture, InjectedFault, object_bytes, pad_database, read_remote, seed_remote,
};

/// Whether `err` comes from a fault the testkit injected.
pub fn is_injected(err: &s3sqlite_core::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<InjectedFault>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Inserts `values` into table `t(v)` of the database at `path`, creating it.
pub fn write(path: &Path, values: &[&str]) {
    let conn = Connection::open(path).unwrap();
    insert(&conn, values).unwrap();
    conn.close().unwrap();
}

fn insert(conn: &Connection, values: &[&str]) -> rusqlite::Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (v TEXT NOT NULL)")?;
    for v in values {
        conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
    }
    Ok(())
}

fn select(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT v FROM t ORDER BY rowid")?
        .query_map([], |row| row.get(0))?
        .collect()
}

/// The values of table `t` in the database at `path`, in insertion order.
pub fn values(path: &Path) -> Vec<String> {
    select(&Connection::open(path).unwrap()).unwrap()
}

/// Puts a database whose table `t` holds `values` on the remote `name`.
pub async fn seed(fx: &Fixture, name: &str, values: &[&str]) {
    seed_remote(&fx.remote(name), |conn| insert(conn, values))
        .await
        .unwrap();
}

/// The values of table `t` in the remote database `name`.
pub async fn remote_values(fx: &Fixture, name: &str) -> Vec<String> {
    read_remote(&fx.remote(name), select).await.unwrap()
}

/// Puts raw bytes at the remote `name` as another tool would: no stamp.
pub async fn put_raw(fx: &Fixture, name: &str, bytes: impl Into<object_store::PutPayload>) {
    let remote = fx.remote(name);
    remote
        .store()
        .put(remote.key(), bytes.into())
        .await
        .unwrap();
}

/// The bytes of the remote object `name`, read past the engine.
pub async fn remote_bytes(fx: &Fixture, name: &str) -> Vec<u8> {
    object_bytes(&fx.remote(name)).await.unwrap()
}

/// The requests in `exchanges`, a line each: method, `If-Match`, status.
pub fn show(exchanges: &[Exchange]) -> String {
    exchanges
        .iter()
        .map(|e| format!("{} If-Match: {:?} -> {:?}", e.method, e.if_match, e.status))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Creates a database of `mib` MiB of padding and `rows` rows in table
/// `t(id, v)` at `path`.
pub fn build(path: &Path, mib: u64, rows: i64) {
    let conn = Connection::open(path).unwrap();
    pad_database(&conn, mib).unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .unwrap();
    for id in 0..rows {
        conn.execute("INSERT INTO t VALUES (?1, 'row')", [id])
            .unwrap();
    }
    conn.close().unwrap();
}

/// Sets the value of row `id` of table `t(id, v)` in the database at `path`.
pub fn update(path: &Path, id: i64, value: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute("UPDATE t SET v = ?2 WHERE id = ?1", (id, value))
        .unwrap();
    conn.close().unwrap();
}
