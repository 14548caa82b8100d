//! A command-line notes app whose database lives in object storage.
//!
//! ```text
//! cargo run -p s3sqlite-rusqlite --example notes -- add "buy milk"
//! cargo run -p s3sqlite-rusqlite --example notes -- list
//! cargo run -p s3sqlite-rusqlite --example notes -- --local /tmp/laptop.db list
//! ```
//!
//! By default the database is a `file://` remote in the temp folder; set
//! `S3SQLITE_URL` (e.g. `s3://my-bucket/notes.db`, with the usual `AWS_*`
//! variables) to keep it anywhere else. `--local PATH` picks the local copy's
//! path (default: derived from the URL under the temp folder), so two
//! "machines" can share one remote from one shell.

use s3sqlite_rusqlite::SyncedConnection;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::var("S3SQLITE_URL") {
        Ok(url) => url,
        Err(_) => {
            let dir = std::env::temp_dir().join("s3sqlite-notes-example");
            std::fs::create_dir_all(&dir)?;
            format!("file://{}/notes.db", dir.display())
        }
    };
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut builder = SyncedConnection::builder(&url);
    if args.first().map(String::as_str) == Some("--local") {
        if args.len() < 2 {
            eprintln!("--local needs a path");
            std::process::exit(2);
        }
        builder = builder.with_local_path(&args[1]);
        args.drain(..2);
    }
    let db = builder
        .with_init(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS notes (
                     id INTEGER PRIMARY KEY,
                     body TEXT NOT NULL,
                     created_at TEXT NOT NULL DEFAULT (datetime('now'))
                 )",
            )
        })
        .open()?;
    match args.first().map(String::as_str) {
        Some("add") if args.len() > 1 => {
            let body = args[1..].join(" ");
            db.execute("INSERT INTO notes (body) VALUES (?1)", [&body])?;
            let report = db.close()?;
            println!("added {body:?} ({report})");
        }
        Some("list") => {
            {
                let mut stmt = db.prepare("SELECT id, created_at, body FROM notes ORDER BY id")?;
                let notes = stmt.query_map([], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })?;
                for note in notes {
                    let (id, at, body) = note?;
                    println!("{id:>4}  {at}  {body}");
                }
            }
            db.close()?;
        }
        _ => {
            db.close()?;
            eprintln!("usage: notes [--local PATH] add TEXT… | list   (database: {url})");
            std::process::exit(2);
        }
    }
    Ok(())
}
