//! `s3sqlite query URL SQL` and `s3sqlite query URL --version ID SQL`.

use std::process::ExitCode;

use s3sqlite_core::Replica;
use s3sqlite_rusqlite::rusqlite::types::{Value as Cell, ValueRef};
use s3sqlite_rusqlite::rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use super::context::Context;
use crate::args::Policy;
use crate::error::Error;
use crate::remote;

/// Rows and their column names.
struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

/// Downloads a fresh copy of `url` (of its version `version`, when given:
/// a read-only replica pinned to it) into a temp folder, runs `sql` on it
/// read-only and prints the rows; the copy is removed afterwards and
/// nothing is ever uploaded.
pub(crate) async fn run(
    context: &Context<'_>,
    url: &str,
    sql: &str,
    version: Option<&str>,
) -> Result<ExitCode, Error> {
    let dir = tempfile::Builder::new()
        .prefix("s3sqlite-query-")
        .tempdir()
        .map_err(|source| Error::TempDir {
            path: std::env::temp_dir(),
            source,
        })?;
    let path = dir.path().join("query.db");
    let remote = remote::open(url, &context.store)?;
    let options = context
        .replica_options(&path, Policy::Fail)
        .with_create_if_missing(false);
    let options = match version {
        Some(id) => options.with_version(id),
        None => options,
    };
    let replica = Replica::open(remote, options).await?;
    let url = replica.url().to_owned();
    let failed = |source| match version {
        Some(id) => Error::QueryVersion {
            url: url.clone(),
            id: id.to_owned(),
            source,
        },
        None => Error::Query {
            url: url.clone(),
            source,
        },
    };
    let path = replica.local_path().to_owned();
    let rows = tokio::task::spawn_blocking({
        let sql = sql.to_owned();
        move || read(&path, &sql)
    })
    .await
    .expect("the query panicked")
    .map_err(failed)?;
    drop(replica);
    let value = json!({
        "command": "query",
        "url": url,
        "version_id": version,
        "columns": rows.columns,
        "rows": rows.rows.iter().map(|row| row.iter().map(json_of).collect::<Vec<_>>()).collect::<Vec<_>>(),
    });
    context.output.result(&table(&rows), &value)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `sql` on the database at `path`, opened read-only.
fn read(path: &std::path::Path, sql: &str) -> s3sqlite_rusqlite::rusqlite::Result<Rows> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    let mut statement = connection.prepare(sql)?;
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let width = columns.len();
    let mut rows = Vec::new();
    let mut cursor = statement.query([])?;
    while let Some(row) = cursor.next()? {
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(n) => Cell::Integer(n),
                ValueRef::Real(x) => Cell::Real(x),
                // text that is not UTF-8 is shown, not refused
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
            });
        }
        rows.push(cells);
    }
    Ok(Rows { columns, rows })
}

/// A value for people: `NULL`, numbers as SQLite prints them, blobs as
/// `x'…'`.
fn text_of(cell: &Cell) -> String {
    match cell {
        Cell::Null => "NULL".to_owned(),
        Cell::Integer(n) => n.to_string(),
        Cell::Real(x) => x.to_string(),
        Cell::Text(t) => t.clone(),
        Cell::Blob(b) => format!("x'{}'", hex(b)),
    }
}

/// A value as JSON: blobs as hex strings.
fn json_of(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Integer(n) => json!(n),
        Cell::Real(x) => json!(x),
        Cell::Text(t) => json!(t),
        Cell::Blob(b) => json!(hex(b)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The rows as an aligned table with a header line, and a count.
fn table(rows: &Rows) -> String {
    let cells: Vec<Vec<String>> = rows
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| text_of(cell).replace('\n', "\\n"))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = rows.columns.iter().map(|c| c.chars().count()).collect();
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |values: &[String]| -> String {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(value, width)| format!("{value:<width$}"))
            .collect();
        padded.join(" | ").trim_end().to_owned()
    };
    let mut out = vec![
        line(&rows.columns),
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-"),
    ];
    out.extend(cells.iter().map(|row| line(row)));
    let count = rows.rows.len();
    out.push(format!(
        "({count} row{})",
        if count == 1 { "" } else { "s" }
    ));
    out.join("\n")
}
