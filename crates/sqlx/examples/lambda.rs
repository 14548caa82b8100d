//! An AWS Lambda function whose SQLite database lives in S3.
//!
//! The pool opens once per cold start, in `main`, and is reused by every warm
//! invocation; each invocation syncs before it returns, because Lambda
//! freezes or ends the process without a signal the code can rely on: a
//! write is durable only once `sync()` has returned.
//!
//! Concurrent invocations run in separate sandboxes, each with its own local
//! copy: under `ChangesetMerge`, an invocation whose sync finds that another
//! one landed first replays its rows onto that version instead of failing.
//! Rows are keyed by the invocation's request id, so two invocations never
//! insert the same key.
//!
//! Build for Lambda with `cargo lambda build --release --example lambda`;
//! set `S3SQLITE_URL=s3://my-bucket/visits.db` on the function. Run locally
//! with `cargo lambda watch`.

use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use s3sqlite_sqlx::{ChangesetMerge, S3SqlitePool};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("S3SQLITE_URL")?;
    // Lambda's /tmp survives warm starts: the next cold start on this
    // sandbox may even reuse the local copy after one HEAD
    let db = S3SqlitePool::builder(&url)
        .with_policy(ChangesetMerge::new())
        .connect()
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS visits (request TEXT PRIMARY KEY, path TEXT NOT NULL, at TEXT NOT NULL)",
    )
    .execute(&db)
    .await?;
    db.sync().await?;

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let db = db.clone();
        async move { handle(&db, event).await }
    }))
    .await
}

async fn handle(db: &S3SqlitePool, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let path = event.payload["path"].as_str().unwrap_or("/").to_owned();
    sqlx::query("INSERT INTO visits (request, path, at) VALUES (?, ?, datetime('now'))")
        .bind(&event.context.request_id)
        .bind(&path)
        .execute(db)
        .await?;
    let visits: i64 = sqlx::query_scalar("SELECT count(*) FROM visits WHERE path = ?")
        .bind(&path)
        .fetch_one(db)
        .await?;
    // durable before the response: another invocation's rows are merged
    // in; a network error fails the invocation, and the write stays in the
    // local copy for the next sync.
    // Bounded by the invocation's deadline, less a margin to answer in: an
    // upload that cannot make it fails fast instead of being killed mid-way
    let report = db.sync_by(deadline(&event.context)).await?;
    Ok(json!({ "path": path, "visits": visits, "sync": report.to_string() }))
}

/// The invocation's deadline as an `Instant`, one second early.
fn deadline(context: &lambda_runtime::Context) -> Instant {
    let left = context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left.saturating_sub(Duration::from_secs(1))
}
