//! What a merge needs to know of the schema: the tables, their columns and
//! keys, and whether the three databases agree on it.

use rusqlite::Connection;

/// One table a merge carries changes for.
#[derive(Debug, Clone)]
pub(super) struct Table {
    pub(super) name: String,
    /// The stored columns (generated and hidden ones left out).
    pub(super) columns: Vec<String>,
    /// The primary key, as positions in `columns`, in key order; empty for a
    /// table without one.
    pub(super) key: Vec<usize>,
    /// The key is an `INTEGER PRIMARY KEY`: the rowid.
    pub(super) rowid_key: bool,
}

impl Table {
    /// The key's column names and values in `row`.
    pub(super) fn key_of(
        &self,
        row: &[rusqlite::types::Value],
    ) -> Vec<(String, rusqlite::types::Value)> {
        self.key
            .iter()
            .map(|&i| (self.columns[i].clone(), row[i].clone()))
            .collect()
    }
}

/// `name` as an SQL identifier.
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The schema of database `db` as text, comparable across databases:
/// every table, index, view and trigger but SQLite's own.
pub(super) fn schema_of(
    conn: &Connection,
    db: &str,
) -> rusqlite::Result<Vec<(String, String, String)>> {
    let sql = format!(
        "SELECT type, name, coalesce(sql, '') FROM {}.sqlite_schema \
         WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name",
        quote(db)
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    rows.collect()
}

/// The first difference between two schemas, in words.
pub(super) fn first_difference(
    was: &[(String, String, String)],
    now: &[(String, String, String)],
) -> Option<String> {
    for (kind, name, sql) in now {
        match was.iter().find(|(k, n, _)| k == kind && n == name) {
            None => return Some(format!("{kind} {name:?} was added")),
            Some((_, _, old)) if old != sql => return Some(format!("{kind} {name:?} was altered")),
            Some(_) => {}
        }
    }
    for (kind, name, _) in was {
        if !now.iter().any(|(k, n, _)| k == kind && n == name) {
            return Some(format!("{kind} {name:?} was dropped"));
        }
    }
    None
}

/// The ordinary tables of database `db` (not virtual ones, whose data lives
/// in their shadow tables, nor SQLite's own), with their columns and keys.
pub(super) fn tables_of(conn: &Connection, db: &str) -> rusqlite::Result<Vec<Table>> {
    let sql = format!(
        "SELECT name, sql FROM {}.sqlite_schema WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        quote(db)
    );
    let names: Vec<(String, String)> = {
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut tables = Vec::new();
    for (name, create) in names {
        if create
            .trim_start()
            .to_ascii_uppercase()
            .starts_with("CREATE VIRTUAL")
        {
            continue;
        }
        tables.push(table_info(conn, db, &name)?);
    }
    Ok(tables)
}

fn table_info(conn: &Connection, db: &str, name: &str) -> rusqlite::Result<Table> {
    let sql = format!("PRAGMA {}.table_xinfo({})", quote(db), quote(name));
    let mut stmt = conn.prepare(&sql)?;
    // (name, declared type, position in the key, hidden)
    let infos: Vec<(String, String, i64, i64)> = stmt
        .query_map([], |row| {
            Ok((row.get(1)?, row.get(2)?, row.get(5)?, row.get(6)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let stored: Vec<&(String, String, i64, i64)> = infos.iter().filter(|c| c.3 == 0).collect();
    let columns: Vec<String> = stored.iter().map(|c| c.0.clone()).collect();
    let mut keyed: Vec<(i64, usize)> = stored
        .iter()
        .enumerate()
        .filter(|(_, c)| c.2 > 0)
        .map(|(i, c)| (c.2, i))
        .collect();
    keyed.sort();
    let key: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    let rowid_key = key.len() == 1
        && stored[key[0]].1.eq_ignore_ascii_case("INTEGER")
        && !without_rowid(conn, db, name)?;
    Ok(Table {
        name: name.to_owned(),
        columns,
        key,
        rowid_key,
    })
}

/// Whether table `name` of `db` is a `WITHOUT ROWID` table.
fn without_rowid(conn: &Connection, db: &str, name: &str) -> rusqlite::Result<bool> {
    // a rowid table answers `SELECT rowid`; a WITHOUT ROWID table has none
    let sql = format!("SELECT rowid FROM {}.{} LIMIT 0", quote(db), quote(name));
    match conn.prepare(&sql) {
        Ok(_) => Ok(false),
        Err(rusqlite::Error::SqliteFailure(_, Some(message))) if message.contains("rowid") => {
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// The tables of `db` that a foreign key points to.
pub(super) fn referenced_tables(
    conn: &Connection,
    db: &str,
    tables: &[Table],
) -> rusqlite::Result<Vec<String>> {
    let mut referenced = Vec::new();
    for table in tables {
        let sql = format!(
            "PRAGMA {}.foreign_key_list({})",
            quote(db),
            quote(&table.name)
        );
        let mut stmt = conn.prepare(&sql)?;
        let parents: Vec<String> = stmt
            .query_map([], |row| row.get(2))?
            .collect::<rusqlite::Result<_>>()?;
        for parent in parents {
            if !referenced
                .iter()
                .any(|r: &String| r.eq_ignore_ascii_case(&parent))
            {
                referenced.push(parent);
            }
        }
    }
    Ok(referenced)
}

/// The foreign key violations in `db`: (table, rowid, parent table).
pub(super) fn foreign_key_violations(
    conn: &Connection,
    db: &str,
) -> rusqlite::Result<Vec<(String, Option<i64>, String)>> {
    let sql = format!("PRAGMA {}.foreign_key_check", quote(db));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    rows.collect()
}
