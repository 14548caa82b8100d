//! The merge itself: the local changes (base → local, row by row) replayed
//! onto a copy of the remote's current version, each collision settled by
//! the table's [`OnConflict`].

use std::path::Path;

use rusqlite::Connection;

use super::handler::{OnConflict, Side};
use super::replay::{Merge, Tally};
use super::schema::{self, Table, quote};
use crate::Error;

/// The three databases of a merge.
pub(super) struct Inputs<'a> {
    /// The local copy with the local changes (read only).
    pub(super) local: &'a Path,
    /// The database at the base version (read only); `None` when the remote
    /// did not exist then, so every local row is new.
    pub(super) base: Option<&'a Path>,
    /// A copy of the remote's current version: the merge is written into it.
    pub(super) merged: &'a Path,
}

/// Replays the changes base → local onto `merged`, each table's collisions
/// settled by the handler `handler_for` gives for its name, in one
/// transaction committed only when every change found its place.
pub(super) fn rebase(
    inputs: &Inputs<'_>,
    handler_for: &dyn Fn(&str) -> OnConflict,
) -> Result<Tally, Error> {
    let merged = inputs.merged;
    let db = |op: &'static str| {
        move |source| Error::Database {
            op,
            path: merged.to_owned(),
            source,
        }
    };
    let conn = Connection::open(merged).map_err(db("open the merge"))?;
    conn.execute_batch("PRAGMA foreign_keys = OFF; PRAGMA synchronous = OFF")
        .map_err(db("set up the merge"))?;
    attach(&conn, inputs.local, "local").map_err(db("attach the local copy to"))?;
    if let Some(base) = inputs.base {
        attach(&conn, base, "base").map_err(db("attach the base copy to"))?;
    }
    check_schemas(&conn, inputs.base.is_some(), merged)?;
    let tables = schema::tables_of(&conn, "main").map_err(db("read the tables of"))?;
    let referenced = schema::referenced_tables(&conn, "main", &tables)
        .map_err(db("read the foreign keys of"))?;
    let violations_before = if referenced.is_empty() {
        Vec::new()
    } else {
        schema::foreign_key_violations(&conn, "main").map_err(db("check the foreign keys of"))?
    };
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(db("begin the merge in"))?;
    let mut merge = Merge {
        conn: &conn,
        tally: Tally::default(),
        unmerged: Vec::new(),
        path: merged,
    };
    let has_base = inputs.base.is_some();
    for table in &tables {
        let handler = &handler_for(&table.name);
        if table.key.is_empty() {
            merge.check_unkeyed(table, has_base)?;
            continue;
        }
        if matches!(handler, OnConflict::Renumber) {
            check_renumberable(table, &referenced)?;
        }
        let changes = merge.diff(table, has_base)?;
        let mut deferred = Vec::new();
        for change in changes {
            if let Some(change) = merge.apply(table, handler, change)? {
                deferred.push(change);
            }
        }
        // a change that broke a constraint may fit once the others are in
        // (two rows swapping a unique value): once more, then it collides
        for change in deferred {
            if let Some(message) = merge.try_apply_plain(table, &change)? {
                merge.constraint(table, handler, &change, message)?;
            }
        }
    }
    if !merge.unmerged.is_empty() {
        return Err(Error::Unmerged {
            rows: std::mem::take(&mut merge.unmerged),
        });
    }
    if !referenced.is_empty() {
        let after = schema::foreign_key_violations(&conn, "main")
            .map_err(db("check the foreign keys of"))?;
        let broken: Vec<String> = after
            .into_iter()
            .filter(|v| !violations_before.contains(v))
            .map(|(table, rowid, parent)| match rowid {
                Some(rowid) => format!("{table} row {rowid} → {parent}"),
                None => format!("{table} → {parent}"),
            })
            .collect();
        if !broken.is_empty() {
            return Err(Error::ForeignKeyBroken { rows: broken });
        }
    }
    let tally = merge.tally;
    conn.execute_batch("COMMIT; DETACH local")
        .map_err(db("commit the merge in"))?;
    if has_base {
        conn.execute_batch("DETACH base")
            .map_err(db("detach the base copy from"))?;
    }
    conn.close().map_err(|(_, e)| db("close the merge")(e))?;
    Ok(tally)
}

/// Attaches the database file at `path` as `name`, read only and as an
/// immutable file: SQLite reads the main file alone, takes no lock and
/// makes no `-wal` or `-shm` beside it (the engine hands over a consistent
/// main file: closed, checkpointed or a snapshot).
fn attach(conn: &Connection, path: &Path, name: &str) -> rusqlite::Result<()> {
    let uri = format!("file:{}?mode=ro&immutable=1", uri_path(path));
    conn.execute(&format!("ATTACH ?1 AS {}", quote(name)), [uri])?;
    Ok(())
}

/// `path` percent-encoded for an SQLite URI.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(*byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The schemas must agree: the base's with the local copy's and the
/// remote's, or, without a base, the local copy's with the remote's.
fn check_schemas(conn: &Connection, has_base: bool, merged: &Path) -> Result<(), Error> {
    let read = |db: &str| {
        schema::schema_of(conn, db).map_err(|source| Error::Database {
            op: "read the schema for",
            path: merged.to_owned(),
            source,
        })
    };
    let local = read("local")?;
    let remote = read("main")?;
    if has_base {
        let base = read("base")?;
        if let Some(detail) = schema::first_difference(&base, &local) {
            return Err(Error::SchemaChanged {
                side: Side::Local,
                detail,
            });
        }
        if let Some(detail) = schema::first_difference(&base, &remote) {
            return Err(Error::SchemaChanged {
                side: Side::Remote,
                detail,
            });
        }
    } else if let Some(detail) = schema::first_difference(&remote, &local) {
        return Err(Error::SchemaChanged {
            side: Side::Both,
            detail,
        });
    }
    Ok(())
}

fn check_renumberable(table: &Table, referenced: &[String]) -> Result<(), Error> {
    let reason = if !table.rowid_key {
        "its key is not an INTEGER PRIMARY KEY"
    } else if referenced
        .iter()
        .any(|r| r.eq_ignore_ascii_case(&table.name))
    {
        "a foreign key points to it"
    } else {
        return Ok(());
    };
    Err(Error::CannotRenumber {
        table: table.name.clone(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_escape_what_sqlite_would_read_as_syntax() {
        assert_eq!(uri_path(Path::new("/tmp/a b/x?.db")), "/tmp/a%20b/x%3F.db");
        assert_eq!(uri_path(Path::new("/t/%#")), "/t/%25%23");
    }
}
