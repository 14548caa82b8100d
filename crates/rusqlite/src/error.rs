//! The crate's one error type.

use std::path::PathBuf;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

s3sqlite_core::__adapter_error! {
    /// What can go wrong with a [`SyncedConnection`](crate::SyncedConnection).
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum Error for "connection", "rusqlite": rusqlite::Error, transparent {
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

        /// A [`ChangesetMerge`](crate::ChangesetMerge) met local changes that
        /// collide with the remote's and that their tables' handlers abort on.
        #[error("{} local change(s) collide with the remote's: {}", rows.len(), list_rows(rows))]
        Unmerged {
            /// The rows concerned.
            rows: Vec<crate::UnmergedRow>,
        },

        /// The schema changed since the base version: a merge replays rows,
        /// not schema changes.
        #[error(
            "the schema changed {side} ({detail}): a merge replays rows, not schema changes; \
             migrate every side the same way, and settle this sync with Overwrite or KeepRemote"
        )]
        SchemaChanged {
            /// Where it changed.
            side: crate::Side,
            /// The first difference, e.g. `table "users" was altered`.
            detail: String,
        },

        /// A table without a primary key changed locally: its rows cannot be
        /// told apart to merge them.
        #[error(
            "table {table:?} changed locally and has no PRIMARY KEY, so its rows cannot be merged; give it one"
        )]
        NoPrimaryKey {
            /// The table.
            table: String,
        },

        /// [`OnConflict::Renumber`](crate::OnConflict::Renumber) was asked for a
        /// table whose keys it cannot renumber safely.
        #[error("cannot renumber the keys of table {table:?}: {reason}")]
        CannotRenumber {
            /// The table.
            table: String,
            /// Why.
            reason: &'static str,
        },

        /// The merge would leave rows whose foreign keys point to nothing.
        #[error("the merge would break foreign keys: {}", rows.join("; "))]
        ForeignKeyBroken {
            /// The rows concerned: table, rowid and the table it points to.
            rows: Vec<String>,
        },

        /// There is no base copy to find the local changes with.
        #[error(
            "no base copy beside {path}, so the local changes cannot be told from the remote's; \
             open the replica with ChangesetMerge as its policy (or with a base copy) to keep one"
        )]
        NoBaseCopy {
            /// The local database file.
            path: PathBuf,
        },

        /// The remote object is gone: there is nothing to merge onto.
        #[error("the remote object is gone: there is nothing to merge onto")]
        RemoteMissing,
    }
}

impl Error {
    /// Why a [`ChangesetMerge`](crate::ChangesetMerge) refused to merge, when
    /// this conflict is one it refused: [`Error::Unmerged`] with the rows,
    /// [`Error::SchemaChanged`]… Works on a core error wrapped in either
    /// adapter's error too, through [`refusal_of`](Self::refusal_of).
    pub fn refusal(&self) -> Option<&Error> {
        match self {
            Error::Sync(err) => Self::refusal_of(err),
            _ => None,
        }
    }

    /// [`refusal`](Self::refusal) of a core error.
    pub fn refusal_of(err: &s3sqlite_core::Error) -> Option<&Error> {
        match err {
            s3sqlite_core::Error::Conflict {
                refused: Some(reason),
                ..
            } => reason.downcast_ref::<Error>(),
            _ => None,
        }
    }

    /// Whether a merge refused (rather than failed).
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Unmerged { .. }
                | Error::SchemaChanged { .. }
                | Error::NoPrimaryKey { .. }
                | Error::CannotRenumber { .. }
                | Error::ForeignKeyBroken { .. }
                | Error::NoBaseCopy { .. }
                | Error::RemoteMissing
        )
    }
}

/// The rows of an [`Error::Unmerged`], in a few words each.
fn list_rows(rows: &[crate::UnmergedRow]) -> String {
    const SHOWN: usize = 5;
    let mut text = rows
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if rows.len() > SHOWN {
        text.push_str(&format!("; and {} more", rows.len() - SHOWN));
    }
    text
}
