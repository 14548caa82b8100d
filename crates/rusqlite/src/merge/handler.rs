//! What a merge does with a local change that collides with the remote's:
//! [`OnConflict`], and what a handler is shown.

use std::fmt;
use std::sync::Arc;

use rusqlite::types::Value;

/// What a [`ChangesetMerge`](crate::ChangesetMerge) does with a local change
/// to a row that the remote changed too, for one table (or by default).
///
/// Changes that agree are never conflicts: a row both sides inserted with
/// the same values, deleted on both sides, or updated to the same values, is
/// merged silently. So are updates of different columns of one row.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum OnConflict {
    /// The merge is refused: the sync ends in a conflict error that lists
    /// the rows concerned, and both sides stay as they were.
    #[default]
    Abort,
    /// The local change wins: a row updated on both sides gets the local
    /// values of the columns changed locally; a row deleted locally is
    /// deleted; an inserted row replaces the remote's row of the same key; a
    /// row updated locally and deleted on the remote comes back with its
    /// local values. A change that breaks a UNIQUE, NOT NULL or CHECK
    /// constraint on the remote's data cannot win: it aborts.
    LocalWins,
    /// The remote's row wins: the local change to it is dropped.
    RemoteWins,
    /// For tables whose key is an `INTEGER PRIMARY KEY` that no foreign key
    /// points to: a locally inserted row whose key the remote used for a
    /// row of its own is inserted with the next free key instead, so both
    /// rows are kept. Other collisions abort.
    ///
    /// Prefer text or UUID keys on tables that several writers append to:
    /// they never collide, and nothing else in the database can still hold
    /// the old number.
    Renumber,
    /// A function of the user's that decides each conflicting row.
    Decide(Arc<dyn Fn(&RowConflict<'_>) -> Decision + Send + Sync>),
}

impl OnConflict {
    /// A handler that calls `decide` for each conflicting row.
    ///
    /// ```
    /// use s3sqlite_rusqlite::{ChangesetMerge, Decision, OnConflict};
    /// use s3sqlite_rusqlite::rusqlite::types::Value;
    ///
    /// // the higher score wins
    /// let merge = ChangesetMerge::new().table(
    ///     "scores",
    ///     OnConflict::decide(|row| match (row.local_value("score"), row.remote_value("score")) {
    ///         (Some(Value::Integer(ours)), Some(Value::Integer(theirs))) if ours > theirs => {
    ///             Decision::LocalWins
    ///         }
    ///         _ => Decision::RemoteWins,
    ///     }),
    /// );
    /// # let _ = merge;
    /// ```
    pub fn decide(decide: impl Fn(&RowConflict<'_>) -> Decision + Send + Sync + 'static) -> Self {
        OnConflict::Decide(Arc::new(decide))
    }
}

impl fmt::Debug for OnConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnConflict::Abort => f.write_str("Abort"),
            OnConflict::LocalWins => f.write_str("LocalWins"),
            OnConflict::RemoteWins => f.write_str("RemoteWins"),
            OnConflict::Renumber => f.write_str("Renumber"),
            OnConflict::Decide(_) => f.write_str("Decide(..)"),
        }
    }
}

/// What an [`OnConflict::Decide`] function decided for one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Refuse the merge (see [`OnConflict::Abort`]).
    Abort,
    /// The local change wins (see [`OnConflict::LocalWins`]).
    LocalWins,
    /// The remote's row wins (see [`OnConflict::RemoteWins`]).
    RemoteWins,
}

/// How a local change collides with the remote's data; the names are those
/// of SQLite's session extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConflictKind {
    /// The row the local change updated or deleted was changed on the
    /// remote too (a column the local change touched holds a third value).
    Data,
    /// The row the local change updated is gone from the remote.
    NotFound,
    /// The key of a locally inserted row is taken on the remote by a row
    /// with other values.
    Conflict,
    /// The local change breaks a UNIQUE, NOT NULL or CHECK constraint on
    /// the remote's data.
    Constraint,
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConflictKind::Data => "changed on both sides",
            ConflictKind::NotFound => "deleted on the remote",
            ConflictKind::Conflict => "its key is taken on the remote",
            ConflictKind::Constraint => "breaks a constraint on the remote",
        })
    }
}

/// What the local change to a row was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Change {
    /// The row is new locally.
    Insert,
    /// The row was changed locally.
    Update,
    /// The row was deleted locally.
    Delete,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::Insert => "inserted",
            Change::Update => "updated",
            Change::Delete => "deleted",
        })
    }
}

/// One conflicting row, as an [`OnConflict::Decide`] function sees it.
#[derive(Debug)]
pub struct RowConflict<'a> {
    pub(crate) table: &'a str,
    pub(crate) kind: ConflictKind,
    pub(crate) change: Change,
    pub(crate) columns: &'a [String],
    pub(crate) base: Option<&'a [Value]>,
    pub(crate) local: Option<&'a [Value]>,
    pub(crate) remote: Option<&'a [Value]>,
}

impl RowConflict<'_> {
    /// The table.
    pub fn table(&self) -> &str {
        self.table
    }

    /// How the change collides.
    pub fn kind(&self) -> ConflictKind {
        self.kind
    }

    /// What the local change was.
    pub fn change(&self) -> Change {
        self.change
    }

    /// The table's columns, in the order of the values (generated columns
    /// left out).
    pub fn columns(&self) -> &[String] {
        self.columns
    }

    /// The row as it was at the base version (`None` for an insert).
    pub fn base(&self) -> Option<&[Value]> {
        self.base
    }

    /// The row in the local copy (`None` for a delete).
    pub fn local(&self) -> Option<&[Value]> {
        self.local
    }

    /// The row on the remote now (`None` when it is not there).
    pub fn remote(&self) -> Option<&[Value]> {
        self.remote
    }

    /// The local value of `column`, if the row and the column exist.
    pub fn local_value(&self, column: &str) -> Option<&Value> {
        self.value(self.local, column)
    }

    /// The remote's value of `column`, if the row and the column exist.
    pub fn remote_value(&self, column: &str) -> Option<&Value> {
        self.value(self.remote, column)
    }

    /// The base value of `column`, if the row and the column existed.
    pub fn base_value(&self, column: &str) -> Option<&Value> {
        self.value(self.base, column)
    }

    fn value<'v>(&self, row: Option<&'v [Value]>, column: &str) -> Option<&'v Value> {
        let at = self.columns.iter().position(|c| c == column)?;
        row?.get(at)
    }
}

/// A row a merge could not settle, as listed in
/// [`Error::Unmerged`](crate::Error::Unmerged).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UnmergedRow {
    /// The table.
    pub table: String,
    /// The row's key: its primary key columns and values.
    pub key: Vec<(String, Value)>,
    /// What the local change was.
    pub change: Change,
    /// How it collides with the remote's data.
    pub kind: ConflictKind,
    /// More about it, such as the constraint that failed.
    pub detail: Option<String>,
}

impl fmt::Display for UnmergedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.table)?;
        for (i, (column, value)) in self.key.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{column}={}", show_value(value))?;
        }
        write!(f, ") {} here, {}", self.change, self.kind)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// A value as SQL would write it, long ones cut.
pub(crate) fn show_value(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Text(t) if t.chars().count() > 40 => {
            format!("'{}…'", t.chars().take(40).collect::<String>())
        }
        Value::Text(t) => format!("'{t}'"),
        Value::Blob(b) => format!("<{} bytes>", b.len()),
    }
}

/// Where a schema changed, in [`Error::SchemaChanged`](crate::Error::SchemaChanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Side {
    /// In the local copy, since the base version.
    Local,
    /// On the remote, since the base version.
    Remote,
    /// The two sides started apart (there was no base) and differ.
    Both,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Local => "in the local copy",
            Side::Remote => "on the remote",
            Side::Both => "between the local copy and the remote, which started apart",
        })
    }
}
