//! Open a database kept in a `file://` remote, write to it, push it, and
//! open it again from a second local path, printing what each step did.
//!
//! Run with `cargo run -p s3sqlite-core --example quickstart`. No cloud
//! account is needed; set `S3SQLITE_URL` to any supported URL (for example
//! `s3://bucket/app.db`) to use another remote.

use rusqlite::Connection;
use s3sqlite_core::{Replica, ReplicaOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let remote_dir = dir.path().join("remote");
    std::fs::create_dir_all(&remote_dir)?;
    let url = std::env::var("S3SQLITE_URL")
        .unwrap_or_else(|_| format!("file://{}/app.db", remote_dir.display()));
    println!("remote: {url}");

    // first machine: open (the remote is absent, so it starts empty), write, push
    let options = ReplicaOptions::new().with_local_path(dir.path().join("first/app.db"));
    let mut first = Replica::open_url(&url, options).await?;
    println!("open   #1: {}", first.opened());
    {
        let conn = Connection::open(first.local_path())?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        )?;
        conn.execute("INSERT INTO notes (body) VALUES (?1)", ["hello from #1"])?;
    }
    println!("push   #1: {}", first.push().await?);
    println!(
        "push   #1: {} (again, nothing changed)",
        first.push().await?
    );
    first.close().await.map_err(|(_, e)| e)?;

    // second machine: another local path downloads what the first pushed
    let options = ReplicaOptions::new().with_local_path(dir.path().join("second/app.db"));
    let second = Replica::open_url(&url, options.clone()).await?;
    println!("open   #2: {}", second.opened());
    let conn = Connection::open(second.local_path())?;
    let notes: Vec<String> = conn
        .prepare("SELECT body FROM notes ORDER BY id")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    println!("notes  #2: {notes:?}");
    drop(conn);
    drop(second);

    // reopening an unchanged copy is a warm start: one HEAD, no download
    let again = Replica::open_url(&url, options).await?;
    println!("reopen #2: {}", again.opened());
    Ok(())
}
