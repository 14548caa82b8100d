//! The row operations of a merge: the local changes of a table read as a
//! diff of base and local, each replayed onto the merged copy, and each
//! collision decided by the table's [`OnConflict`] and applied.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params_from_iter};

use super::handler::{Change, ConflictKind, Decision, OnConflict, RowConflict, UnmergedRow};
use super::schema::{Table, quote};
use crate::Error;

/// What a merge did, for the log.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Local changes replayed as they were.
    pub(super) applied: usize,
    /// Local changes the remote already had.
    pub(super) agreed: usize,
    /// Collisions a handler settled.
    pub(super) settled: usize,
    /// Rows inserted under a new key.
    pub(super) renumbered: usize,
}

/// One local change to a row.
#[derive(Debug)]
pub(super) enum RowChange {
    Insert { new: Vec<Value> },
    Update { old: Vec<Value>, new: Vec<Value> },
    Delete { old: Vec<Value> },
}

impl RowChange {
    fn change(&self) -> Change {
        match self {
            RowChange::Insert { .. } => Change::Insert,
            RowChange::Update { .. } => Change::Update,
            RowChange::Delete { .. } => Change::Delete,
        }
    }

    /// The row as it is keyed: the new values, or the old for a delete.
    fn row(&self) -> &[Value] {
        match self {
            RowChange::Insert { new } | RowChange::Update { new, .. } => new,
            RowChange::Delete { old } => old,
        }
    }
}

/// A merge in progress.
pub(super) struct Merge<'a> {
    pub(super) conn: &'a Connection,
    pub(super) tally: Tally,
    pub(super) unmerged: Vec<UnmergedRow>,
    pub(super) path: &'a Path,
}

/// `a.k IS b.k AND …` over the key of `table`.
fn key_match(table: &Table, a: &str, b: &str) -> String {
    table
        .key
        .iter()
        .map(|&i| {
            let c = quote(&table.columns[i]);
            format!("{a}.{c} IS {b}.{c}")
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `l.c IS b.c AND …` over the columns of `table`, byte for byte: the
/// same type, and text compared without the column's collation.
fn same_columns(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| {
            let c = quote(c);
            format!("(l.{c} IS b.{c} COLLATE BINARY AND typeof(l.{c}) = typeof(b.{c}))")
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `a.c, …` over the columns of `table`.
fn column_list(table: &Table, alias: &str) -> String {
    table
        .columns
        .iter()
        .map(|c| format!("{alias}.{}", quote(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `k = ?N AND …` over the key, numbered from `first`.
fn key_params(table: &Table, first: usize) -> String {
    table
        .key
        .iter()
        .enumerate()
        .map(|(n, &i)| format!("{} IS ?{}", quote(&table.columns[i]), first + n))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn read_row(row: &rusqlite::Row<'_>, from: usize, count: usize) -> rusqlite::Result<Vec<Value>> {
    (from..from + count)
        .map(|i| row.get::<_, Value>(i))
        .collect()
}

impl Merge<'_> {
    pub(super) fn db_error(
        &self,
        op: &'static str,
    ) -> impl FnOnce(rusqlite::Error) -> Error + use<> {
        let path = self.path.to_owned();
        move |source| Error::Database { op, path, source }
    }

    /// A table without a primary key cannot be merged row by row: fine
    /// while the local copy did not change it, refused otherwise. Rows are
    /// matched by rowid, which stays put unless a VACUUM renumbers them
    /// (then the table reads as changed: refused, never merged wrongly).
    pub(super) fn check_unkeyed(&self, table: &Table, has_base: bool) -> Result<(), Error> {
        let t = quote(&table.name);
        let same = same_columns(table);
        let sql = if has_base {
            format!(
                "SELECT EXISTS (SELECT 1 FROM local.{t} AS l LEFT JOIN base.{t} AS b ON b.rowid = l.rowid \
                 WHERE b.rowid IS NULL OR NOT ({same})) \
                 OR EXISTS (SELECT 1 FROM base.{t} AS b WHERE NOT EXISTS \
                 (SELECT 1 FROM local.{t} AS l WHERE l.rowid = b.rowid))"
            )
        } else {
            format!("SELECT EXISTS (SELECT 1 FROM local.{t})")
        };
        let changed: bool = self
            .conn
            .query_row(&sql, [], |row| row.get(0))
            .map_err(self.db_error("compare a table without a key in"))?;
        if changed {
            return Err(Error::NoPrimaryKey {
                table: table.name.clone(),
            });
        }
        Ok(())
    }

    /// The local changes to `table`: deletes, then updates, then inserts.
    pub(super) fn diff(&self, table: &Table, has_base: bool) -> Result<Vec<RowChange>, Error> {
        let t = quote(&table.name);
        let n = table.columns.len();
        let local_cols = column_list(table, "l");
        let mut changes = Vec::new();
        let failed = || self.db_error("diff the local copy against the base for");
        if !has_base {
            let sql = format!("SELECT {local_cols} FROM local.{t} AS l");
            let rows = self.read_rows(&sql, n)?;
            changes.extend(rows.into_iter().map(|new| RowChange::Insert { new }));
            return Ok(changes);
        }
        let base_cols = column_list(table, "b");
        let matched = key_match(table, "b", "l");
        let deleted = format!(
            "SELECT {base_cols} FROM base.{t} AS b WHERE NOT EXISTS (SELECT 1 FROM local.{t} AS l WHERE {matched})"
        );
        let same = same_columns(table);
        let updated = format!(
            "SELECT {base_cols}, {local_cols} FROM local.{t} AS l JOIN base.{t} AS b ON {matched} WHERE NOT ({same})"
        );
        let inserted = format!(
            "SELECT {local_cols} FROM local.{t} AS l WHERE NOT EXISTS (SELECT 1 FROM base.{t} AS b WHERE {matched})"
        );
        let rows = self.read_rows(&deleted, n)?;
        changes.extend(rows.into_iter().map(|old| RowChange::Delete { old }));
        {
            let mut stmt = self.conn.prepare(&updated).map_err(failed())?;
            let rows = stmt
                .query_map([], |row| Ok((read_row(row, 0, n)?, read_row(row, n, n)?)))
                .map_err(failed())?;
            for pair in rows {
                let (old, new) = pair.map_err(failed())?;
                changes.push(RowChange::Update { old, new });
            }
        }
        let rows = self.read_rows(&inserted, n)?;
        changes.extend(rows.into_iter().map(|new| RowChange::Insert { new }));
        Ok(changes)
    }

    /// The rows `sql` selects, `n` columns each.
    fn read_rows(&self, sql: &str, n: usize) -> Result<Vec<Vec<Value>>, Error> {
        let failed = || self.db_error("diff the local copy against the base for");
        let mut stmt = self.conn.prepare(sql).map_err(failed())?;
        let rows = stmt
            .query_map([], |row| read_row(row, 0, n))
            .map_err(failed())?;
        rows.collect::<rusqlite::Result<_>>().map_err(failed())
    }

    /// The remote's row with the key `row` has, if any.
    fn current(&self, table: &Table, row: &[Value]) -> Result<Option<Vec<Value>>, Error> {
        let sql = format!(
            "SELECT {} FROM main.{} AS m WHERE {}",
            column_list(table, "m"),
            quote(&table.name),
            key_params(table, 1)
        );
        let key: Vec<&Value> = table.key.iter().map(|&i| &row[i]).collect();
        let n = table.columns.len();
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(self.db_error("read the remote's row in"))?;
        stmt.query_row(params_from_iter(key), |r| read_row(r, 0, n))
            .optional()
            .map_err(self.db_error("read the remote's row in"))
    }

    /// Runs `sql` with `params`; `Ok(Err(message))` when it broke a
    /// constraint (the statement is undone, the merge goes on).
    fn run(&self, sql: &str, params: Vec<&Value>) -> Result<Result<(), String>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(self.db_error("replay a local change in"))?;
        match stmt.execute(params_from_iter(params)) {
            Ok(_) => Ok(Ok(())),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                Ok(Err(e.to_string()))
            }
            Err(e) => Err(self.db_error("replay a local change in")(e)),
        }
    }

    fn insert(&self, table: &Table, row: &[Value]) -> Result<Result<(), String>, Error> {
        let cols: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
        let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO main.{} ({}) VALUES ({})",
            quote(&table.name),
            cols.join(", "),
            marks.join(", ")
        );
        self.run(&sql, row.iter().collect())
    }

    /// Inserts `row` under the next free key (the rowid SQLite picks).
    fn insert_renumbered(&self, table: &Table, row: &[Value]) -> Result<Result<(), String>, Error> {
        let keep: Vec<usize> = (0..table.columns.len())
            .filter(|i| !table.key.contains(i))
            .collect();
        let cols: Vec<String> = keep.iter().map(|&i| quote(&table.columns[i])).collect();
        let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let sql = if cols.is_empty() {
            format!("INSERT INTO main.{} DEFAULT VALUES", quote(&table.name))
        } else {
            format!(
                "INSERT INTO main.{} ({}) VALUES ({})",
                quote(&table.name),
                cols.join(", "),
                marks.join(", ")
            )
        };
        self.run(&sql, keep.iter().map(|&i| &row[i]).collect())
    }

    /// Sets the columns `which` of the row keyed as `row` to its values.
    fn update(
        &self,
        table: &Table,
        row: &[Value],
        which: &[usize],
    ) -> Result<Result<(), String>, Error> {
        if which.is_empty() {
            return Ok(Ok(()));
        }
        let sets: Vec<String> = which
            .iter()
            .enumerate()
            .map(|(n, &i)| format!("{} = ?{}", quote(&table.columns[i]), n + 1))
            .collect();
        let sql = format!(
            "UPDATE main.{} SET {} WHERE {}",
            quote(&table.name),
            sets.join(", "),
            key_params(table, which.len() + 1)
        );
        let mut params: Vec<&Value> = which.iter().map(|&i| &row[i]).collect();
        params.extend(table.key.iter().map(|&i| &row[i]));
        self.run(&sql, params)
    }

    fn delete(&self, table: &Table, row: &[Value]) -> Result<Result<(), String>, Error> {
        let sql = format!(
            "DELETE FROM main.{} WHERE {}",
            quote(&table.name),
            key_params(table, 1)
        );
        self.run(&sql, table.key.iter().map(|&i| &row[i]).collect())
    }

    /// Replays one change; a change that broke a constraint comes back to
    /// be tried again after the others.
    pub(super) fn apply(
        &mut self,
        table: &Table,
        handler: &OnConflict,
        change: RowChange,
    ) -> Result<Option<RowChange>, Error> {
        let current = self.current(table, change.row())?;
        let non_key: Vec<usize> = (0..table.columns.len())
            .filter(|i| !table.key.contains(i))
            .collect();
        let (outcome, kind) = match (&change, &current) {
            (RowChange::Delete { .. }, None) => {
                self.tally.agreed += 1;
                return Ok(None);
            }
            (RowChange::Delete { old }, Some(cur)) if cur == old => {
                (self.delete(table, old)?, None)
            }
            (RowChange::Delete { .. }, Some(_)) => (Ok(()), Some(ConflictKind::Data)),
            (RowChange::Insert { new }, Some(cur)) if cur == new => {
                self.tally.agreed += 1;
                return Ok(None);
            }
            (RowChange::Insert { .. }, Some(_)) => (Ok(()), Some(ConflictKind::Conflict)),
            (RowChange::Insert { new }, None) => (self.insert(table, new)?, None),
            (RowChange::Update { .. }, None) => (Ok(()), Some(ConflictKind::NotFound)),
            (RowChange::Update { old, new }, Some(cur)) => {
                let changed: Vec<usize> = (0..new.len()).filter(|&i| old[i] != new[i]).collect();
                if changed.iter().all(|&i| cur[i] == new[i]) {
                    self.tally.agreed += 1;
                    return Ok(None);
                }
                if changed
                    .iter()
                    .all(|&i| cur[i] == old[i] || cur[i] == new[i])
                {
                    (self.update(table, new, &changed)?, None)
                } else {
                    (Ok(()), Some(ConflictKind::Data))
                }
            }
        };
        match (outcome, kind) {
            (Ok(()), None) => {
                self.tally.applied += 1;
                Ok(None)
            }
            (Err(_), _) => Ok(Some(change)),
            (Ok(()), Some(kind)) => {
                let action = self.decide(table, handler, kind, &change, current.as_deref());
                self.settle(table, kind, action, &change, current.as_deref(), &non_key)?;
                Ok(None)
            }
        }
    }

    /// Tries a change again as it would have applied without a collision;
    /// gives it back with SQLite's message when it still breaks a
    /// constraint.
    pub(super) fn try_apply_plain(
        &mut self,
        table: &Table,
        change: &RowChange,
    ) -> Result<Option<String>, Error> {
        let outcome = match change {
            RowChange::Insert { new } => self.insert(table, new)?,
            RowChange::Update { old, new } => {
                let changed: Vec<usize> = (0..new.len()).filter(|&i| old[i] != new[i]).collect();
                self.update(table, new, &changed)?
            }
            RowChange::Delete { old } => self.delete(table, old)?,
        };
        Ok(match outcome {
            Ok(()) => {
                self.tally.applied += 1;
                None
            }
            Err(message) => Some(message),
        })
    }

    /// A change that breaks a constraint on the remote's data.
    pub(super) fn constraint(
        &mut self,
        table: &Table,
        handler: &OnConflict,
        change: &RowChange,
        message: String,
    ) -> Result<(), Error> {
        let current = self.current(table, change.row())?;
        let action = self.decide(
            table,
            handler,
            ConflictKind::Constraint,
            change,
            current.as_deref(),
        );
        match action {
            Action::Remote => {
                self.tally.settled += 1;
            }
            Action::Local | Action::Abort | Action::Renumber => {
                self.refuse(table, change, ConflictKind::Constraint, Some(message));
            }
        }
        Ok(())
    }

    fn decide(
        &self,
        table: &Table,
        handler: &OnConflict,
        kind: ConflictKind,
        change: &RowChange,
        current: Option<&[Value]>,
    ) -> Action {
        match handler {
            OnConflict::Abort => Action::Abort,
            OnConflict::LocalWins => Action::Local,
            OnConflict::RemoteWins => Action::Remote,
            OnConflict::Renumber if kind == ConflictKind::Conflict => Action::Renumber,
            OnConflict::Renumber => Action::Abort,
            OnConflict::Decide(decide) => {
                let (base, local) = match change {
                    RowChange::Insert { new } => (None, Some(new.as_slice())),
                    RowChange::Update { old, new } => (Some(old.as_slice()), Some(new.as_slice())),
                    RowChange::Delete { old } => (Some(old.as_slice()), None),
                };
                let row = RowConflict {
                    table: &table.name,
                    kind,
                    change: change.change(),
                    columns: &table.columns,
                    base,
                    local,
                    remote: current,
                };
                match decide(&row) {
                    Decision::Abort => Action::Abort,
                    Decision::LocalWins => Action::Local,
                    Decision::RemoteWins => Action::Remote,
                }
            }
        }
    }

    /// Acts on a handler's decision for a collision of `kind`.
    fn settle(
        &mut self,
        table: &Table,
        kind: ConflictKind,
        action: Action,
        change: &RowChange,
        current: Option<&[Value]>,
        non_key: &[usize],
    ) -> Result<(), Error> {
        let outcome = match (action, change) {
            (Action::Abort, _) => {
                self.refuse(table, change, kind, None);
                return Ok(());
            }
            (Action::Remote, _) => {
                self.tally.settled += 1;
                return Ok(());
            }
            (Action::Renumber, RowChange::Insert { new }) => {
                let outcome = self.insert_renumbered(table, new)?;
                if outcome.is_ok() {
                    self.tally.renumbered += 1;
                    return Ok(());
                }
                outcome
            }
            (Action::Renumber, _) => {
                self.refuse(table, change, kind, None);
                return Ok(());
            }
            (Action::Local, RowChange::Delete { old }) => self.delete(table, old)?,
            (Action::Local, RowChange::Insert { new }) => self.update(table, new, non_key)?,
            (Action::Local, RowChange::Update { old, new }) => match current {
                Some(_) => {
                    let changed: Vec<usize> =
                        (0..new.len()).filter(|&i| old[i] != new[i]).collect();
                    self.update(table, new, &changed)?
                }
                None => self.insert(table, new)?,
            },
        };
        match outcome {
            Ok(()) => self.tally.settled += 1,
            Err(message) => self.refuse(table, change, ConflictKind::Constraint, Some(message)),
        }
        Ok(())
    }

    fn refuse(
        &mut self,
        table: &Table,
        change: &RowChange,
        kind: ConflictKind,
        detail: Option<String>,
    ) {
        self.unmerged.push(UnmergedRow {
            table: table.name.clone(),
            key: table.key_of(change.row()),
            change: change.change(),
            kind,
            detail,
        });
    }
}

/// What a handler's decision comes to.
#[derive(Debug, Clone, Copy)]
enum Action {
    Abort,
    Local,
    Remote,
    Renumber,
}
