//! [`ChangesetMerge`]: a sync policy that rebases the local changes onto the
//! remote's current version, row by row.

mod handler;
mod rebase;
mod replay;
mod schema;

use s3sqlite_core::{Conflict, Resolution, SyncPolicy, async_trait};

pub use self::handler::{
    Change, ConflictKind, Decision, OnConflict, RowConflict, Side, UnmergedRow,
};
use self::rebase::{Inputs, rebase};
use crate::Error;

/// A sync policy that merges: when another writer changed the remote since
/// the local copy's base version, the local changes are replayed onto the
/// remote's current version and the result is uploaded, so neither side's
/// work is lost and no caller has to retry.
///
/// It finds the local changes by comparing the local copy with a copy of
/// the base version that the replica keeps beside it (this policy asks for
/// it), table by table and row by row, by primary key, as SQLite's session
/// extension does: rows inserted, deleted, and updated (the columns that
/// changed). It replays them onto a copy of the current version in one
/// transaction. A change the remote already has is skipped; a change that
/// collides with the remote's (the same row changed on both sides, a row
/// deleted there, a key taken, a constraint broken) goes to the table's
/// [`OnConflict`], by default [`OnConflict::Abort`]. The engine uploads the
/// merge on condition that the remote has not moved again, and merges again
/// if it has.
///
/// # What it refuses
///
/// It never merges silently what it cannot merge. The sync ends in a
/// conflict error ([`Error::is_conflict`](crate::Error::is_conflict)), both
/// sides stay as they were, and [`Error::refusal`](crate::Error::refusal)
/// says why:
/// - rows an `Abort` handler met, listed ([`Error::Unmerged`]);
/// - a schema changed on either side since the base
///   ([`Error::SchemaChanged`]): run the same migrations everywhere, and
///   settle such a sync with `sync_with(Overwrite)` or `KeepRemote`;
/// - a table without a primary key that changed locally
///   ([`Error::NoPrimaryKey`]);
/// - a merge that would leave a foreign key dangling
///   ([`Error::ForeignKeyBroken`]);
/// - no base copy to compare with ([`Error::NoBaseCopy`]), e.g. a replica
///   opened without this policy that merges with it for one call; open with
///   it, or with [`ReplicaOptions::with_base_copy`](s3sqlite_core::ReplicaOptions::with_base_copy).
///
/// # Example
///
/// Two writers append events and bump counters of their own; both syncs
/// land:
///
/// ```
/// use s3sqlite_rusqlite::{ChangesetMerge, OnConflict, SyncedConnection};
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let url = format!("file://{}/remote/app.db", dir.path().display());
/// # std::fs::create_dir(dir.path().join("remote")).unwrap();
/// let open = |name: &str| {
///     SyncedConnection::builder(&url)
/// #       .with_local_path(dir.path().join(name))
///         .with_policy(ChangesetMerge::new().table("counters", OnConflict::LocalWins))
///         .with_init(|c| c.execute_batch(
///             "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, body TEXT);
///              CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER)",
///         ))
///         .open()
/// };
/// let mut setup = open("setup.db")?;
/// setup.close()?;
///
/// let mut a = open("a.db")?;
/// let mut b = open("b.db")?;
/// a.execute("INSERT INTO events VALUES ('a-1', 'from a')", []).unwrap();
/// b.execute("INSERT INTO events VALUES ('b-1', 'from b')", []).unwrap();
/// a.sync()?;
/// let report = b.sync()?; // the remote moved: b's event is merged onto a's
/// assert_eq!(report.action, s3sqlite_rusqlite::SyncAction::Merged);
/// let n: i64 = b.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap();
/// assert_eq!(n, 2);
/// # a.close()?;
/// # b.close()?;
/// # Ok::<(), s3sqlite_rusqlite::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChangesetMerge {
    tables: Vec<(String, OnConflict)>,
    otherwise: OnConflict,
}

impl ChangesetMerge {
    /// A merge that aborts on every collision (changes that agree are not
    /// collisions).
    pub fn new() -> Self {
        Self::default()
    }

    /// Settles collisions in table `name` with `on_conflict`.
    pub fn table(mut self, name: impl Into<String>, on_conflict: OnConflict) -> Self {
        let name = name.into();
        self.tables.retain(|(t, _)| !t.eq_ignore_ascii_case(&name));
        self.tables.push((name, on_conflict));
        self
    }

    /// Settles collisions in the tables not named with
    /// [`table`](Self::table) with `on_conflict`.
    ///
    /// By default, [`OnConflict::Abort`].
    pub fn otherwise(mut self, on_conflict: OnConflict) -> Self {
        self.otherwise = on_conflict;
        self
    }

    fn handler_for(&self, table: &str) -> &OnConflict {
        self.tables
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(table))
            .map_or(&self.otherwise, |(_, h)| h)
    }
}

#[async_trait]
impl SyncPolicy for ChangesetMerge {
    async fn resolve(&self, conflict: &Conflict<'_>) -> s3sqlite_core::Result<Resolution> {
        let Some(current) = conflict.current_copy().await? else {
            return Err(conflict.refuse(Error::RemoteMissing));
        };
        let base = match (conflict.base(), conflict.base_copy()) {
            (None, _) => None,
            (Some(_), Some(copy)) => Some(copy.to_owned()),
            (Some(_), None) => {
                return Err(conflict.refuse(Error::NoBaseCopy {
                    path: conflict.local_path().to_owned(),
                }));
            }
        };
        let merged = conflict.scratch_dir().join("merged.db");
        std::fs::copy(&current, &merged).map_err(|source| s3sqlite_core::Error::Io {
            op: "copy",
            path: current.clone(),
            source,
        })?;
        let local = conflict.local_path().to_owned();
        let policy = self.clone();
        let target = merged.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let inputs = Inputs {
                local: &local,
                base: base.as_deref(),
                merged: &target,
            };
            rebase(&inputs, &|table| policy.handler_for(table).clone())
        })
        .await
        .expect("the merge task panicked");
        match outcome {
            Ok(tally) => {
                tracing::info!(
                    applied = tally.applied,
                    agreed = tally.agreed,
                    settled = tally.settled,
                    renumbered = tally.renumbered,
                    "rebased the local changes onto the remote's version"
                );
                Ok(Resolution::Merged(merged))
            }
            Err(err) if err.is_refusal() => Err(conflict.refuse(err)),
            Err(err) => Err(s3sqlite_core::Error::Policy {
                url: conflict.remote().to_string(),
                source: Box::new(err),
            }),
        }
    }

    fn keeps_base(&self) -> bool {
        true
    }
}
