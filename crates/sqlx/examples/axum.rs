//! An HTTP service whose SQLite database lives in object storage: the
//! database opens at startup, handlers run ordinary sqlx queries, and a
//! graceful shutdown (Ctrl-C or SIGTERM) closes the pool and uploads.
//!
//! Run with `cargo run -p s3sqlite-sqlx --example axum`, then
//! `curl -d '{"body":"hello"}' -H 'content-type: application/json' localhost:3000/notes`
//! and `curl localhost:3000/notes`.
//!
//! Settings (environment): `S3SQLITE_URL` (default: a `file://` remote in
//! the temp folder; e.g. `s3://my-bucket/notes.db`, with the usual `AWS_*`
//! variables), `S3SQLITE_LOCAL_PATH` (default: under the temp folder),
//! `S3SQLITE_ADDR` (default `127.0.0.1:3000`), `S3SQLITE_SYNC_EVERY_MS`
//! (how often the writer uploads in the background; default 60000), and
//! `S3SQLITE_FOLLOW_EVERY_MS` (when set, the service is a read-only
//! follower that refreshes every that many milliseconds; see below).
//!
//! # One writer, N followers
//!
//! A database in object storage has one writer; any number of followers
//! can serve its reads. Start the writer, which uploads its schema at
//! startup, then the followers on the same URL:
//!
//! ```text
//! S3SQLITE_URL=s3://my-bucket/notes.db cargo run -p s3sqlite-sqlx --example axum
//! S3SQLITE_URL=s3://my-bucket/notes.db S3SQLITE_FOLLOW_EVERY_MS=500 \
//!   S3SQLITE_ADDR=127.0.0.1:3001 S3SQLITE_LOCAL_PATH=/tmp/follower.db \
//!   cargo run -p s3sqlite-sqlx --example axum
//! ```
//!
//! (On one machine, give each its own `S3SQLITE_LOCAL_PATH`.) A follower
//! serves `GET /notes` from its own local copy, answers `POST /notes` with
//! 405 (writes go to the writer), and refreshes in the background,
//! downloading only what changed. It opens only a database that exists:
//! started before the writer, it exits with a message saying so.
//!
//! Staleness: a write reaches the followers once the writer has uploaded
//! it (at its next background sync, or at once with `POST /sync`) and each
//! follower has refreshed. While refreshes succeed, a follower is behind
//! the writer by at most the sync period plus the refresh period plus the
//! transfer times: about 60.5 s with the default sync period and the
//! 500 ms above. A refresh that fails keeps the data the follower holds,
//! and the next waits longer: `GET /health` says how fresh an instance is
//! (its role and, on a follower, the version it holds, the seconds since
//! its last refresh, and the refreshes that failed since), for a load
//! balancer or an operator to act on. A client that must read its own
//! write at once reads from the writer.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use s3sqlite_sqlx::{Error, S3SqlitePool, core};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Deserialize)]
struct NewNote {
    body: String,
}

#[derive(Serialize, sqlx::FromRow)]
struct Note {
    id: i64,
    body: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let url = match std::env::var("S3SQLITE_URL") {
        Ok(url) => url,
        Err(_) => {
            let dir = std::env::temp_dir().join("s3sqlite-axum-example");
            std::fs::create_dir_all(&dir)?;
            format!("file://{}/notes.db", dir.display())
        }
    };
    let follow_every = millis("S3SQLITE_FOLLOW_EVERY_MS")?;
    let mut builder = S3SqlitePool::builder(&url);
    builder = match follow_every {
        Some(period) => builder.with_refresh_every(period),
        None => builder
            .with_sync_every(millis("S3SQLITE_SYNC_EVERY_MS")?.unwrap_or(Duration::from_secs(60))),
    };
    if let Ok(path) = std::env::var("S3SQLITE_LOCAL_PATH") {
        builder = builder.with_local_path(path);
    }
    let db = match builder.connect().await {
        Err(Error::Sync(core::Error::RemoteNotFound { .. })) if follow_every.is_some() => {
            return Err(format!(
                "{url} does not exist yet: a follower cannot create it; \
                 start the writer first, which uploads it at startup"
            )
            .into());
        }
        db => db?,
    };

    let app = if follow_every.is_some() {
        Router::new().route("/notes", get(list_notes).post(refuse_write))
    } else {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        )
        .execute(&db)
        .await?;
        // followers can open as soon as the writer is up
        db.sync().await?;
        Router::new()
            .route("/notes", get(list_notes).post(add_note))
            .route("/sync", post(sync))
    };
    let app = app.route("/health", get(health)).with_state(db.clone());
    let addr = std::env::var("S3SQLITE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {} with {url}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    // every handler has finished; closing one clone closes the pool for all
    // (a follower uploads nothing)
    let report = db.close().await?;
    println!("closed: {report}");
    Ok(())
}

/// The period in milliseconds that the variable `name` holds, if set.
fn millis(name: &str) -> Result<Option<Duration>, String> {
    let Ok(value) = std::env::var(name) else {
        return Ok(None);
    };
    match value.parse() {
        Ok(ms) => Ok(Some(Duration::from_millis(ms))),
        Err(_) => Err(format!(
            "{name}={value:?} is not a number of milliseconds: write e.g. {name}=500"
        )),
    }
}

async fn list_notes(State(db): State<S3SqlitePool>) -> Result<Json<Vec<Note>>, AppError> {
    let notes = sqlx::query_as::<_, Note>("SELECT id, body FROM notes ORDER BY id")
        .fetch_all(&db)
        .await?;
    Ok(Json(notes))
}

async fn add_note(
    State(db): State<S3SqlitePool>,
    Json(note): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), AppError> {
    let id = sqlx::query("INSERT INTO notes (body) VALUES (?)")
        .bind(&note.body)
        .execute(&db)
        .await?
        .last_insert_rowid();
    Ok((
        StatusCode::CREATED,
        Json(Note {
            id,
            body: note.body,
        }),
    ))
}

/// `POST /notes` on a follower: its pool is read-only.
async fn refuse_write() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET")],
        "this instance is a read-only follower: send writes to the writer\n",
    )
}

/// Uploads now, for clients that need their write durable (and on its way
/// to the followers) before they go on.
async fn sync(State(db): State<S3SqlitePool>) -> Result<String, AppError> {
    Ok(db.sync().await?.to_string())
}

/// The instance's role and, on a follower, how fresh it is.
async fn health(State(db): State<S3SqlitePool>) -> Json<serde_json::Value> {
    let Some(freshness) = db.freshness() else {
        return Json(json!({ "role": "writer" }));
    };
    Json(json!({
        "role": "follower",
        "seconds_since_refresh": freshness.age().map(|age| age.as_secs_f64()),
        "version": freshness.version.map(|v| json!({ "e_tag": v.e_tag, "size": v.size })),
        "refreshes": freshness.refreshes,
        "failures": freshness.failures,
        "last_error": freshness.last_error,
    }))
}

struct AppError(Box<dyn std::error::Error + Send + Sync>);

impl<E: std::error::Error + Send + Sync + 'static> From<E> for AppError {
    fn from(err: E) -> Self {
        AppError(Box::new(err))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        tracing::error!(error = %self.0, "request failed");
        (StatusCode::INTERNAL_SERVER_ERROR, self.0.to_string()).into_response()
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.expect("Ctrl-C handler");
    };
    let terminate = async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler")
            .recv()
            .await;
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    println!("shutting down");
}
