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
//! `S3SQLITE_ADDR` (default `127.0.0.1:3000`).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use s3sqlite_sqlx::S3SqlitePool;
use serde::{Deserialize, Serialize};

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
    let mut builder = S3SqlitePool::builder(&url).with_sync_every(Duration::from_secs(60));
    if let Ok(path) = std::env::var("S3SQLITE_LOCAL_PATH") {
        builder = builder.with_local_path(path);
    }
    let db = builder.connect().await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&db)
        .await?;

    let app = Router::new()
        .route("/notes", get(list_notes).post(add_note))
        .route("/sync", post(sync))
        .with_state(db.clone());
    let addr = std::env::var("S3SQLITE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {} with {url}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    // every handler has finished; closing one clone closes the pool for all
    let report = db.close().await?;
    println!("closed and synced: {report}");
    Ok(())
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

/// Uploads now, for clients that need their write durable before they go on.
async fn sync(State(db): State<S3SqlitePool>) -> Result<String, AppError> {
    Ok(db.sync().await?.to_string())
}

struct AppError(Box<dyn std::error::Error + Send + Sync>);

impl<E: std::error::Error + Send + Sync + 'static> From<E> for AppError {
    fn from(err: E) -> Self {
        AppError(Box::new(err))
    }
}

impl axum::response::IntoResponse for AppError {
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
