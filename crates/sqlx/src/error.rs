//! The crate's one error type.

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

s3sqlite_core::__adapter_error! {
    /// What can go wrong with an [`S3SqlitePool`](crate::S3SqlitePool).
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum Error for "pool", "sqlx": sqlx::Error, transparent {
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
}

impl Error {
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
}
