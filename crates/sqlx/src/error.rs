//! The crate's one error type.

use std::path::PathBuf;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with an [`S3SqlitePool`](crate::S3SqlitePool).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening, pulling or pushing the replica failed: a conflict, a network
    /// error, a bad URL… (see [`s3sqlite_core::Error`]).
    #[error(transparent)]
    Sync(#[from] s3sqlite_core::Error),

    /// A database operation of the pool's own failed.
    #[error("could not {op} {path}")]
    Database {
        /// What was being done, e.g. "checkpoint".
        op: &'static str,
        /// The local database file.
        path: PathBuf,
        /// sqlx's error.
        source: sqlx::Error,
    },

    /// The pool was closed (by [`close`](crate::S3SqlitePool::close) on
    /// this or another clone), and the local path released: open the
    /// database again to go on.
    #[error("the pool on {url} is closed")]
    Closed {
        /// The remote URL.
        url: String,
    },

    /// A query in your code failed (converted with `?` in a
    /// [`scope`](crate::S3SqlitePool::scope) body).
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),

    /// A [`scope`](crate::S3SqlitePool::scope) body failed, and closing the
    /// pool afterwards failed too: both errors are here, the body's as the
    /// source.
    #[error("the scope's body failed, and closing {url} afterwards failed too (see `close`)")]
    Scope {
        /// The remote URL.
        url: String,
        /// The body's error.
        #[source]
        body: Box<Error>,
        /// The close's error.
        close: Box<Error>,
    },
}

impl Error {
    /// Whether this is a sync conflict: the remote moved while the local
    /// copy had changes of its own.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Sync(s3sqlite_core::Error::Conflict { .. }))
    }

    /// Why a [`ChangesetMerge`](crate::ChangesetMerge) refused to merge,
    /// when this conflict is one it refused: the rows that collide
    /// ([`MergeRefusal::Unmerged`](crate::MergeRefusal::Unmerged)), a schema
    /// that changed…
    pub fn refusal(&self) -> Option<&crate::MergeRefusal> {
        match self {
            Error::Sync(err) => crate::MergeRefusal::refusal_of(err),
            _ => None,
        }
    }

    /// Whether the pool's own policy dropped the local changes for the
    /// remote's copy ([`s3sqlite_core::Error::LocalDiscarded`]): the sync
    /// completed, and the open database now holds the remote's version.
    pub fn is_local_discarded(&self) -> bool {
        matches!(
            self,
            Error::Sync(s3sqlite_core::Error::LocalDiscarded { .. })
        )
    }
}
