//! The testkit's one error type.

use std::path::PathBuf;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while setting up a fixture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A server could be neither reached nor started.
    #[error("no {kind} server: {hint}")]
    ServerUnavailable {
        /// The server kind, e.g. "LocalStack".
        kind: &'static str,
        /// What to set or install.
        hint: String,
    },

    /// A server given by its endpoint does not answer.
    #[error("{kind} server at {endpoint} (from {var}) is unreachable")]
    ServerUnreachable {
        /// The server kind.
        kind: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The environment variable that named it.
        var: &'static str,
        /// The connection error.
        source: std::io::Error,
    },

    /// A started server did not become ready in time.
    #[error(
        "{kind} server started by {program} did not become ready within {seconds} s; last log lines:\n{log_tail}"
    )]
    ServerNotReady {
        /// The server kind.
        kind: &'static str,
        /// The program that was run.
        program: String,
        /// How long it was given.
        seconds: u64,
        /// The end of its log.
        log_tail: String,
    },

    /// An HTTP request to a server failed or was refused.
    #[error("{method} {url} failed{}", status.map(|s| format!(" with status {s}")).unwrap_or_default())]
    Request {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status, when one came back.
        status: Option<u16>,
        /// The transport error, when there was one.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// A local file operation failed.
    #[error("could not {op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// A SQLite call in a helper failed.
    #[error("SQLite failed on {path}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// An object store request failed.
    #[error("object store request for {url} failed")]
    Store {
        /// The remote URL.
        url: String,
        /// The store's error.
        source: object_store::Error,
    },

    /// A container could not be started.
    #[error("could not start container {image}: {hint}")]
    Container {
        /// The image, `name:tag`.
        image: String,
        /// What to do about it.
        hint: String,
        /// What testcontainers reported.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// An s3sqlite operation failed.
    #[error(transparent)]
    Core(#[from] s3sqlite_core::Error),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
