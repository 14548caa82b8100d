//! The crate's one error type.

use std::path::PathBuf;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with a [`SyncedConnection`](crate::SyncedConnection).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening, pulling or pushing the replica failed: a conflict, a network
    /// error, a bad URL… (see [`s3sqlite_core::Error`]).
    #[error(transparent)]
    Sync(#[from] s3sqlite_core::Error),

    /// A database operation of the connection's own failed.
    #[error("could not {op} {path}")]
    Database {
        /// What was being done, e.g. "checkpoint".
        op: &'static str,
        /// The local database file.
        path: PathBuf,
        /// rusqlite's error.
        source: rusqlite::Error,
    },

    /// `sync()` was called inside an open transaction: commit or roll back
    /// first, so that what goes up is a committed state.
    #[error("cannot sync {path} inside an open transaction: commit or roll back first")]
    InTransaction {
        /// The local database file.
        path: PathBuf,
    },

    /// The runtime that drives transfers could not be started.
    #[error("could not start the runtime for transfers")]
    Runtime(#[source] std::io::Error),
}

impl Error {
    /// Whether this is a sync conflict: the remote moved while the local
    /// copy had changes of its own.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Sync(s3sqlite_core::Error::Conflict { .. }))
    }

    /// Whether the connection's own policy dropped the local changes for
    /// the remote's copy ([`s3sqlite_core::Error::LocalDiscarded`]): the sync
    /// completed, and the open database now holds the remote's version.
    pub fn is_local_discarded(&self) -> bool {
        matches!(
            self,
            Error::Sync(s3sqlite_core::Error::LocalDiscarded { .. })
        )
    }
}
