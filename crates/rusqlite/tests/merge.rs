//! `ChangesetMerge` with a deterministic interleaving: two replicas of one
//! remote change it in turn, and the second sync merges. One test per
//! conflict kind and handler, each asserting the rows that landed, or the
//! error and that neither side changed.

use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::types::Value;
use s3sqlite_rusqlite::{
    Change, ChangesetMerge, ConflictKind, Decision, Error, OnConflict, ReplicaOptions, Side,
    Status, SyncAction, SyncedConnection, UnmergedRow,
};
use s3sqlite_testkit::{FaultyRemote, Fixture, Op, read_remote, seed_remote};

s3sqlite_testkit::backend_tests!(
    rows_inserted_on_both_sides_both_land,
    changes_both_sides_agree_on_are_no_conflict,
    updates_of_different_columns_of_one_row_both_land,
    a_row_updated_on_both_sides_aborts_and_names_the_row,
    a_row_updated_on_both_sides_goes_to_the_local_or_the_remote_as_asked,
    a_function_decides_a_row_updated_on_both_sides,
    a_row_deleted_remotely_and_updated_locally,
    a_key_taken_on_both_sides_aborts_or_is_renumbered,
    renumbering_a_table_a_foreign_key_points_to_is_refused,
    a_unique_violation_aborts_or_drops_the_local_row,
    a_schema_change_on_either_side_is_refused,
    a_table_without_a_key_merges_only_when_unchanged_locally,
    a_merge_that_breaks_a_foreign_key_is_refused,
    merging_for_one_call_needs_a_base_copy,
    a_merge_whose_upload_fails_is_finished_by_the_next_sync,
    two_writers_that_create_the_database_at_once_both_land,
    a_merge_on_a_large_database_downloads_only_what_changed,
);

const SCHEMA: &str = "
    CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL);
    CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
    INSERT INTO items VALUES ('x', 'widget', 1), ('y', 'gadget', 1);
    INSERT INTO notes (body) VALUES ('one'), ('two');
    INSERT INTO users VALUES (1, 'ada@example.com');
";

/// One remote of the fixture, and the local files of its replicas: a test
/// that tries several handlers gives each its own.
#[derive(Clone, Copy)]
struct Case<'a> {
    fx: &'a Fixture,
    name: &'a str,
}

impl Case<'_> {
    fn remote(&self) -> s3sqlite_rusqlite::ObjectStoreRemote {
        self.fx.remote(&format!("{}.db", self.name))
    }

    fn local(&self, replica: &str) -> std::path::PathBuf {
        self.fx.local(&format!("{}-{replica}.db", self.name))
    }
}

fn case<'a>(fx: &'a Fixture, name: &'a str) -> Case<'a> {
    Case { fx, name }
}

async fn seed(case: Case<'_>, schema: &str) {
    let schema = schema.to_owned();
    seed_remote(&case.remote(), move |conn| conn.execute_batch(&schema))
        .await
        .unwrap();
}

async fn open(case: Case<'_>, replica: &str, merge: ChangesetMerge) -> SyncedConnection {
    SyncedConnection::builder_for(case.remote())
        .with_local_path(case.local(replica))
        .with_policy(merge)
        .open_async()
        .await
        .unwrap()
}

/// Two replicas of the seeded remote, both under `merge`.
async fn two(
    case: Case<'_>,
    schema: &str,
    merge: ChangesetMerge,
) -> (SyncedConnection, SyncedConnection) {
    seed(case, schema).await;
    let a = open(case, "a", merge.clone()).await;
    let b = open(case, "b", merge).await;
    (a, b)
}

fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |row| (0..n).map(|i| row.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

async fn remote_rows(case: Case<'_>, sql: &str) -> Vec<Vec<Value>> {
    let sql = sql.to_owned();
    read_remote(&case.remote(), move |conn| Ok(rows(conn, &sql)))
        .await
        .unwrap()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn int(i: i64) -> Value {
    Value::Integer(i)
}

const ITEMS: &str = "SELECT id, name, qty FROM items ORDER BY id";
const NOTES: &str = "SELECT id, body FROM notes ORDER BY id";
const USERS: &str = "SELECT id, email FROM users ORDER BY id";

/// Both sides as they are, to compare before and after a refused sync.
async fn snapshot(
    case: Case<'_>,
    local: Vec<Vec<Value>>,
    sql: &str,
) -> (Vec<Vec<Value>>, Vec<Vec<Value>>) {
    (local, remote_rows(case, sql).await)
}

/// The refusal inside a sync error.
fn refusal(err: &Error) -> &Error {
    assert!(err.is_conflict(), "not a conflict: {err}");
    err.refusal()
        .unwrap_or_else(|| panic!("no refusal in: {err}"))
}

fn unmerged(err: &Error) -> &[UnmergedRow] {
    match refusal(err) {
        Error::Unmerged { rows } => rows,
        other => panic!("not an Unmerged refusal: {other}"),
    }
}

async fn rows_inserted_on_both_sides_both_land(fx: Fixture) {
    let c = case(&fx, "t");
    let (mut a, mut b) = two(c, SCHEMA, ChangesetMerge::new()).await;
    a.execute("INSERT INTO items VALUES ('a', 'from a', 1)", [])
        .unwrap();
    b.execute("INSERT INTO items VALUES ('b', 'from b', 2)", [])
        .unwrap();
    assert_eq!(a.sync_async().await.unwrap().action, SyncAction::Uploaded);
    let report = b.sync_async().await.unwrap();
    assert_eq!(report.action, SyncAction::Merged, "{report}");

    let expected = vec![
        vec![text("a"), text("from a"), int(1)],
        vec![text("b"), text("from b"), int(2)],
        vec![text("x"), text("widget"), int(1)],
        vec![text("y"), text("gadget"), int(1)],
    ];
    assert_eq!(remote_rows(c, ITEMS).await, expected);
    assert_eq!(rows(&b, ITEMS), expected);
    assert_eq!(b.status_async().await.unwrap(), Status::Clean);
    // a pulls the merge
    a.pull_async().await.unwrap();
    assert_eq!(rows(&a, ITEMS), expected);
}

async fn changes_both_sides_agree_on_are_no_conflict(fx: Fixture) {
    let c = case(&fx, "t");
    let (mut a, mut b) = two(c, SCHEMA, ChangesetMerge::new()).await;
    for db in [&a, &b] {
        db.execute_batch(
            "INSERT INTO items VALUES ('same', 'both', 5);
             UPDATE items SET qty = 9 WHERE id = 'x';
             DELETE FROM items WHERE id = 'y';",
        )
        .unwrap();
    }
    b.execute("INSERT INTO notes (body) VALUES ('only b')", [])
        .unwrap();
    a.sync_async().await.unwrap();
    assert_eq!(b.sync_async().await.unwrap().action, SyncAction::Merged);
    assert_eq!(
        remote_rows(c, ITEMS).await,
        [
            vec![text("same"), text("both"), int(5)],
            vec![text("x"), text("widget"), int(9)],
        ]
    );
    assert_eq!(
        remote_rows(c, NOTES).await,
        [
            vec![int(1), text("one")],
            vec![int(2), text("two")],
            vec![int(3), text("only b")],
        ]
    );
}

async fn updates_of_different_columns_of_one_row_both_land(fx: Fixture) {
    let c = case(&fx, "t");
    let (mut a, mut b) = two(c, SCHEMA, ChangesetMerge::new()).await;
    a.execute("UPDATE items SET name = 'renamed by a' WHERE id = 'x'", [])
        .unwrap();
    b.execute("UPDATE items SET qty = 7 WHERE id = 'x'", [])
        .unwrap();
    a.sync_async().await.unwrap();
    assert_eq!(b.sync_async().await.unwrap().action, SyncAction::Merged);
    assert_eq!(
        remote_rows(c, "SELECT id, name, qty FROM items WHERE id = 'x'").await,
        [vec![text("x"), text("renamed by a"), int(7)]]
    );
}

async fn a_row_updated_on_both_sides_aborts_and_names_the_row(fx: Fixture) {
    let c = case(&fx, "t");
    let (mut a, mut b) = two(c, SCHEMA, ChangesetMerge::new()).await;
    a.execute("UPDATE items SET qty = 2 WHERE id = 'x'", [])
        .unwrap();
    b.execute("UPDATE items SET qty = 3 WHERE id = 'x'", [])
        .unwrap();
    a.sync_async().await.unwrap();
    let before = snapshot(c, rows(&b, ITEMS), ITEMS).await;

    let err = b.sync_async().await.unwrap_err();
    let listed = unmerged(&err);
    assert_eq!(listed.len(), 1, "{err}");
    assert_eq!(listed[0].table, "items");
    assert_eq!(listed[0].key, [("id".to_owned(), text("x"))]);
    assert_eq!(listed[0].change, Change::Update);
    assert_eq!(listed[0].kind, ConflictKind::Data);
    assert!(
        err.to_string()
            .contains("items(id='x') updated here, changed on both sides"),
        "{err}"
    );
    assert_eq!(snapshot(c, rows(&b, ITEMS), ITEMS).await, before);
    assert_eq!(b.status_async().await.unwrap(), Status::Diverged);
}

async fn a_row_updated_on_both_sides_goes_to_the_local_or_the_remote_as_asked(fx: Fixture) {
    for (handler, qty) in [(OnConflict::LocalWins, 3), (OnConflict::RemoteWins, 2)] {
        let name = format!("{handler:?}");
        let c = case(&fx, &name);
        let merge = ChangesetMerge::new().table("items", handler.clone());
        let (mut a, mut b) = two(c, SCHEMA, merge).await;
        a.execute("UPDATE items SET qty = 2 WHERE id = 'x'", [])
            .unwrap();
        b.execute("UPDATE items SET qty = 3 WHERE id = 'x'", [])
            .unwrap();
        b.execute("INSERT INTO items VALUES ('b', 'from b', 1)", [])
            .unwrap();
        a.sync_async().await.unwrap();
        assert_eq!(b.sync_async().await.unwrap().action, SyncAction::Merged);
        let expected = vec![
            vec![text("b"), text("from b"), int(1)],
            vec![text("x"), text("widget"), int(qty)],
            vec![text("y"), text("gadget"), int(1)],
        ];
        assert_eq!(remote_rows(c, ITEMS).await, expected, "{handler:?}");
        assert_eq!(rows(&b, ITEMS), expected, "{handler:?}");
    }
}

async fn a_function_decides_a_row_updated_on_both_sides(fx: Fixture) {
    let c = case(&fx, "t");
    // the larger quantity wins, whichever side holds it
    let larger = OnConflict::decide(|row| {
        assert_eq!(row.kind(), ConflictKind::Data);
        assert_eq!(row.change(), Change::Update);
        assert_eq!(row.base_value("qty"), Some(&Value::Integer(1)));
        match (row.local_value("qty"), row.remote_value("qty")) {
            (Some(Value::Integer(ours)), Some(Value::Integer(theirs))) if ours > theirs => {
                Decision::LocalWins
            }
            _ => Decision::RemoteWins,
        }
    });
    let (mut a, mut b) = two(c, SCHEMA, ChangesetMerge::new().otherwise(larger)).await;
    a.execute_batch(
        "UPDATE items SET qty = 5 WHERE id = 'x'; UPDATE items SET qty = 2 WHERE id = 'y'",
    )
    .unwrap();
    b.execute_batch(
        "UPDATE items SET qty = 3 WHERE id = 'x'; UPDATE items SET qty = 8 WHERE id = 'y'",
    )
    .unwrap();
    a.sync_async().await.unwrap();
    b.sync_async().await.unwrap();
    assert_eq!(
        remote_rows(c, ITEMS).await,
        [
            vec![text("x"), text("widget"), int(5)],
            vec![text("y"), text("gadget"), int(8)],
        ]
    );
}

async fn a_row_deleted_remotely_and_updated_locally(fx: Fixture) {
    let c = case(&fx, "t");
    // by default: refused, both sides as they were
    {
        let (mut a, mut b) = two(c, SCHEMA, ChangesetMerge::new()).await;
        a.execute("DELETE FROM items WHERE id = 'x'", []).unwrap();
        b.execute("UPDATE items SET qty = 4 WHERE id = 'x'", [])
            .unwrap();
        a.sync_async().await.unwrap();
        let before = snapshot(c, rows(&b, ITEMS), ITEMS).await;
        let err = b.sync_async().await.unwrap_err();
        let listed = unmerged(&err);
        assert_eq!(listed.len(), 1, "{err}");
        assert_eq!(listed[0].kind, ConflictKind::NotFound);
        assert_eq!(listed[0].change, Change::Update);
        assert_eq!(snapshot(c, rows(&b, ITEMS), ITEMS).await, before);
    }
    for (handler, expected) in [
        (
            OnConflict::LocalWins,
            vec![
                vec![text("x"), text("widget"), int(4)],
                vec![text("y"), text("gadget"), int(1)],
            ],
        ),
        (
            OnConflict::RemoteWins,
            vec![vec![text("y"), text("gadget"), int(1)]],
        ),
    ] {
        let name = format!("{handler:?}");
        let c = case(&fx, &name);
        let (mut a, mut b) = two(
            c,
            SCHEMA,
            ChangesetMerge::new().table("items", handler.clone()),
        )
        .await;
        a.execute("DELETE FROM items WHERE id = 'x'", []).unwrap();
        b.execute("UPDATE items SET qty = 4 WHERE id = 'x'", [])
            .unwrap();
        a.sync_async().await.unwrap();
        assert_eq!(b.sync_async().await.unwrap().action, SyncAction::Merged);
        assert_eq!(remote_rows(c, ITEMS).await, expected, "{handler:?}");
    }
}

async fn a_key_taken_on_both_sides_aborts_or_is_renumbered(fx: Fixture) {
    let c = case(&fx, "t");
    {
        let (mut a, mut b) = two(c, SCHEMA, ChangesetMerge::new()).await;
        a.execute("INSERT INTO notes (body) VALUES ('from a')", [])
            .unwrap();
        b.execute("INSERT INTO notes (body) VALUES ('from b')", [])
            .unwrap();
        a.sync_async().await.unwrap();
        let before = snapshot(c, rows(&b, NOTES), NOTES).await;
        let err = b.sync_async().await.unwrap_err();
        let listed = unmerged(&err);
        assert_eq!(listed.len(), 1, "{err}");
        assert_eq!(listed[0].kind, ConflictKind::Conflict);
        assert_eq!(listed[0].change, Change::Insert);
        assert_eq!(listed[0].key, [("id".to_owned(), int(3))]);
        assert_eq!(snapshot(c, rows(&b, NOTES), NOTES).await, before);
    }
    let c = case(&fx, "renumber");

    let merge = ChangesetMerge::new().table("notes", OnConflict::Renumber);
    let (mut a, mut b) = two(c, SCHEMA, merge).await;
    a.execute("INSERT INTO notes (body) VALUES ('from a')", [])
        .unwrap();
    b.execute_batch(
        "INSERT INTO notes (body) VALUES ('from b'); INSERT INTO notes (body) VALUES ('b again')",
    )
    .unwrap();
    a.sync_async().await.unwrap();
    assert_eq!(b.sync_async().await.unwrap().action, SyncAction::Merged);
    let expected = vec![
        vec![int(1), text("one")],
        vec![int(2), text("two")],
        vec![int(3), text("from a")],
        vec![int(4), text("from b")],
        vec![int(5), text("b again")],
    ];
    assert_eq!(remote_rows(c, NOTES).await, expected);
    assert_eq!(rows(&b, NOTES), expected);
}

async fn renumbering_a_table_a_foreign_key_points_to_is_refused(fx: Fixture) {
    let c = case(&fx, "t");
    let schema = "
        CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
        CREATE TABLE tags (id INTEGER PRIMARY KEY, note INTEGER REFERENCES notes(id), tag TEXT);
        INSERT INTO notes (body) VALUES ('one');
    ";
    let merge = ChangesetMerge::new().table("notes", OnConflict::Renumber);
    let (mut a, mut b) = two(c, schema, merge).await;
    a.execute("INSERT INTO notes (body) VALUES ('from a')", [])
        .unwrap();
    b.execute("INSERT INTO notes (body) VALUES ('from b')", [])
        .unwrap();
    a.sync_async().await.unwrap();
    let before = snapshot(c, rows(&b, NOTES), NOTES).await;
    let err = b.sync_async().await.unwrap_err();
    assert!(
        matches!(refusal(&err), Error::CannotRenumber { table, .. } if table == "notes"),
        "{err}"
    );
    assert!(
        err.to_string().contains("a foreign key points to it"),
        "{err}"
    );
    assert_eq!(snapshot(c, rows(&b, NOTES), NOTES).await, before);
}

async fn a_unique_violation_aborts_or_drops_the_local_row(fx: Fixture) {
    let c = case(&fx, "t");
    for handler in [OnConflict::Abort, OnConflict::LocalWins] {
        let name = format!("{handler:?}");
        let c = case(&fx, &name);
        let (mut a, mut b) = two(
            c,
            SCHEMA,
            ChangesetMerge::new().table("users", handler.clone()),
        )
        .await;
        a.execute("INSERT INTO users VALUES (10, 'grace@example.com')", [])
            .unwrap();
        b.execute("INSERT INTO users VALUES (20, 'grace@example.com')", [])
            .unwrap();
        a.sync_async().await.unwrap();
        let before = snapshot(c, rows(&b, USERS), USERS).await;
        let err = b.sync_async().await.unwrap_err();
        let listed = unmerged(&err);
        assert_eq!(listed.len(), 1, "{handler:?}: {err}");
        assert_eq!(listed[0].kind, ConflictKind::Constraint);
        assert_eq!(listed[0].key, [("id".to_owned(), int(20))]);
        assert!(
            listed[0]
                .detail
                .as_deref()
                .unwrap_or_default()
                .contains("UNIQUE constraint failed: users.email"),
            "{err}"
        );
        assert_eq!(snapshot(c, rows(&b, USERS), USERS).await, before);
    }
    let merge = ChangesetMerge::new().table("users", OnConflict::RemoteWins);
    let (mut a, mut b) = two(c, SCHEMA, merge).await;
    a.execute("INSERT INTO users VALUES (10, 'grace@example.com')", [])
        .unwrap();
    b.execute_batch(
        "INSERT INTO users VALUES (20, 'grace@example.com'); INSERT INTO users VALUES (21, 'alan@example.com')",
    )
    .unwrap();
    a.sync_async().await.unwrap();
    assert_eq!(b.sync_async().await.unwrap().action, SyncAction::Merged);
    assert_eq!(
        remote_rows(c, USERS).await,
        [
            vec![int(1), text("ada@example.com")],
            vec![int(10), text("grace@example.com")],
            vec![int(21), text("alan@example.com")],
        ]
    );
}

async fn a_schema_change_on_either_side_is_refused(fx: Fixture) {
    for (side, remote_first) in [(Side::Remote, true), (Side::Local, false)] {
        let name = format!("{side:?}");
        let c = case(&fx, &name);
        let (mut a, mut b) = two(c, SCHEMA, ChangesetMerge::new()).await;
        let (migrating, other) = if remote_first {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        migrating
            .execute_batch(
                "ALTER TABLE items ADD COLUMN price INTEGER; INSERT INTO notes (body) VALUES ('m')",
            )
            .unwrap();
        other
            .execute("INSERT INTO items VALUES ('o', 'other', 1)", [])
            .unwrap();
        // `a` lands first either way; `b` merges
        a.sync_async().await.unwrap();
        let before = snapshot(c, rows(&b, NOTES), NOTES).await;
        let err = b.sync_async().await.unwrap_err();
        match refusal(&err) {
            Error::SchemaChanged { side: got, detail } => {
                assert_eq!(*got, side, "{err}");
                assert_eq!(detail, "table \"items\" was altered");
            }
            other => panic!("not a schema refusal: {other}"),
        }
        assert_eq!(snapshot(c, rows(&b, NOTES), NOTES).await, before);
    }
}

async fn a_table_without_a_key_merges_only_when_unchanged_locally(fx: Fixture) {
    let c = case(&fx, "t");
    let schema = "
        CREATE TABLE log (line TEXT);
        CREATE TABLE items (id TEXT PRIMARY KEY, qty INTEGER);
        INSERT INTO log VALUES ('first');
    ";
    let (mut a, mut b) = two(c, schema, ChangesetMerge::new()).await;
    // the remote changed it; the local copy did not: merged
    a.execute("INSERT INTO log VALUES ('from a')", []).unwrap();
    b.execute("INSERT INTO items VALUES ('b', 1)", []).unwrap();
    a.sync_async().await.unwrap();
    assert_eq!(b.sync_async().await.unwrap().action, SyncAction::Merged);
    assert_eq!(
        remote_rows(c, "SELECT line FROM log ORDER BY rowid").await,
        [vec![text("first")], vec![text("from a")]]
    );

    // the local copy changed it: refused
    a.pull_async().await.unwrap();
    a.execute("INSERT INTO items VALUES ('a', 1)", []).unwrap();
    b.execute("INSERT INTO log VALUES ('from b')", []).unwrap();
    a.sync_async().await.unwrap();
    let before = snapshot(
        c,
        rows(&b, "SELECT line FROM log ORDER BY rowid"),
        "SELECT line FROM log ORDER BY rowid",
    )
    .await;
    let err = b.sync_async().await.unwrap_err();
    assert!(
        matches!(refusal(&err), Error::NoPrimaryKey { table } if table == "log"),
        "{err}"
    );
    assert_eq!(
        snapshot(
            c,
            rows(&b, "SELECT line FROM log ORDER BY rowid"),
            "SELECT line FROM log ORDER BY rowid"
        )
        .await,
        before
    );
}

async fn a_merge_that_breaks_a_foreign_key_is_refused(fx: Fixture) {
    let c = case(&fx, "t");
    let schema = "
        CREATE TABLE lists (id TEXT PRIMARY KEY, name TEXT);
        CREATE TABLE entries (id TEXT PRIMARY KEY, list TEXT REFERENCES lists(id), body TEXT);
        INSERT INTO lists VALUES ('groceries', 'Groceries');
    ";
    let (mut a, mut b) = two(c, schema, ChangesetMerge::new()).await;
    a.execute("DELETE FROM lists WHERE id = 'groceries'", [])
        .unwrap();
    b.execute(
        "INSERT INTO entries VALUES ('milk', 'groceries', 'milk')",
        [],
    )
    .unwrap();
    a.sync_async().await.unwrap();
    let before = snapshot(
        c,
        rows(&b, "SELECT id, list FROM entries"),
        "SELECT id, list FROM entries",
    )
    .await;
    let err = b.sync_async().await.unwrap_err();
    match refusal(&err) {
        Error::ForeignKeyBroken { rows } => assert_eq!(rows, &["entries row 1 → lists"], "{err}"),
        other => panic!("not a foreign key refusal: {other}"),
    }
    assert_eq!(
        snapshot(
            c,
            rows(&b, "SELECT id, list FROM entries"),
            "SELECT id, list FROM entries"
        )
        .await,
        before
    );
}

async fn merging_for_one_call_needs_a_base_copy(fx: Fixture) {
    let c = case(&fx, "t");
    seed(c, SCHEMA).await;
    let mut a = open(c, "a", ChangesetMerge::new()).await;
    let mut plain = SyncedConnection::builder_for(c.remote())
        .with_local_path(c.local("plain"))
        .open_async()
        .await
        .unwrap();
    let mut kept = SyncedConnection::builder_for(c.remote())
        .with_replica_options(
            ReplicaOptions::new()
                .with_local_path(c.local("kept"))
                .with_base_copy(true),
        )
        .open_async()
        .await
        .unwrap();
    a.execute("INSERT INTO items VALUES ('a', 'from a', 1)", [])
        .unwrap();
    plain
        .execute("INSERT INTO items VALUES ('p', 'plain', 1)", [])
        .unwrap();
    kept.execute("INSERT INTO items VALUES ('k', 'kept', 1)", [])
        .unwrap();
    a.sync_async().await.unwrap();

    let err = plain
        .sync_with_async(ChangesetMerge::new())
        .await
        .unwrap_err();
    assert!(matches!(refusal(&err), Error::NoBaseCopy { .. }), "{err}");
    assert!(plain.sync_async().await.unwrap_err().is_conflict());

    let report = kept.sync_with_async(ChangesetMerge::new()).await.unwrap();
    assert_eq!(report.action, SyncAction::Merged);
    assert_eq!(
        remote_rows(c, "SELECT id FROM items ORDER BY id").await,
        [
            vec![text("a")],
            vec![text("k")],
            vec![text("x")],
            vec![text("y")]
        ]
    );
}

async fn a_merge_whose_upload_fails_is_finished_by_the_next_sync(fx: Fixture) {
    let c = case(&fx, "t");
    let schema = "
        CREATE TABLE events (id TEXT PRIMARY KEY);
        CREATE TABLE counters (writer TEXT PRIMARY KEY, n INTEGER NOT NULL);
        INSERT INTO counters VALUES ('a', 0), ('b', 0), ('c', 0);
    ";
    seed(c, schema).await;
    let remote = Arc::new(FaultyRemote::new(c.remote()));
    let mut a = open(c, "a", ChangesetMerge::new()).await;
    let mut third = open(c, "c", ChangesetMerge::new()).await;
    let mut b = SyncedConnection::builder_for(Arc::clone(&remote))
        .with_local_path(c.local("b"))
        .with_policy(ChangesetMerge::new())
        .open_async()
        .await
        .unwrap();
    let bump = |db: &SyncedConnection, writer: &str, event: &str| {
        db.execute("INSERT INTO events VALUES (?1)", [event])
            .unwrap();
        db.execute("UPDATE counters SET n = n + 1 WHERE writer = ?1", [writer])
            .unwrap();
    };
    bump(&a, "a", "a-1");
    bump(&b, "b", "b-1");
    a.sync_async().await.unwrap();

    // the first upload meets the conflict; the second, carrying the merge,
    // fails
    remote.fail_nth(Op::Upload, remote.calls(Op::Upload) + 2);
    let err = b.sync_async().await.unwrap_err();
    assert!(!err.is_conflict(), "{err}");
    assert_eq!(
        remote_rows(c, "SELECT id FROM events ORDER BY id").await,
        [vec![text("a-1")]]
    );
    // the merge is the local copy now: both sides' rows are in it
    assert_eq!(
        rows(&b, "SELECT id FROM events ORDER BY id"),
        [vec![text("a-1")], vec![text("b-1")]]
    );

    // meanwhile a third writer lands a change of its own, and `a` again
    third.pull_async().await.unwrap();
    bump(&third, "c", "c-1");
    third.sync_async().await.unwrap();
    a.pull_async().await.unwrap();
    bump(&a, "a", "a-2");
    a.sync_async().await.unwrap();

    // the next sync merges again: only b's own changes are replayed
    bump(&b, "b", "b-2");
    assert_eq!(b.sync_async().await.unwrap().action, SyncAction::Merged);
    assert_eq!(
        remote_rows(c, "SELECT id FROM events ORDER BY id").await,
        [
            vec![text("a-1")],
            vec![text("a-2")],
            vec![text("b-1")],
            vec![text("b-2")],
            vec![text("c-1")],
        ]
    );
    assert_eq!(
        remote_rows(c, "SELECT writer, n FROM counters ORDER BY writer").await,
        [
            vec![text("a"), int(2)],
            vec![text("b"), int(2)],
            vec![text("c"), int(1)],
        ]
    );
    assert_eq!(b.status_async().await.unwrap(), Status::Clean);
}

async fn two_writers_that_create_the_database_at_once_both_land(fx: Fixture) {
    let c = case(&fx, "t");
    // no remote yet: both create it, with the same schema
    let schema = "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, body TEXT)";
    let mut a = open(c, "a", ChangesetMerge::new()).await;
    let mut b = open(c, "b", ChangesetMerge::new()).await;
    assert_eq!(a.opened_action(), SyncAction::Created);
    for (db, id) in [(&a, "a-1"), (&b, "b-1")] {
        db.execute_batch(schema).unwrap();
        db.execute("INSERT INTO events VALUES (?1, 'x')", [id])
            .unwrap();
    }
    a.sync_async().await.unwrap();
    assert_eq!(b.sync_async().await.unwrap().action, SyncAction::Merged);
    assert_eq!(
        remote_rows(c, "SELECT id FROM events ORDER BY id").await,
        [vec![text("a-1")], vec![text("b-1")]]
    );

    // a different schema from the start is refused
    let c = case(&fx, "apart");
    let mut a = open(c, "a", ChangesetMerge::new()).await;
    let mut b = open(c, "b", ChangesetMerge::new()).await;
    a.execute_batch("CREATE TABLE events (id TEXT PRIMARY KEY)")
        .unwrap();
    b.execute_batch("CREATE TABLE events (id TEXT PRIMARY KEY, body TEXT)")
        .unwrap();
    a.sync_async().await.unwrap();
    let err = b.sync_async().await.unwrap_err();
    assert!(
        matches!(
            refusal(&err),
            Error::SchemaChanged {
                side: Side::Both,
                ..
            }
        ),
        "{err}"
    );
}

async fn a_merge_on_a_large_database_downloads_only_what_changed(fx: Fixture) {
    let c = case(&fx, "t");
    let padded = format!(
        "{SCHEMA}
         CREATE TABLE pad (b BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8)
         INSERT INTO pad SELECT randomblob(1048576) FROM n;"
    );
    let (mut a, mut b) = two(c, &padded, ChangesetMerge::new()).await;
    a.execute("INSERT INTO items VALUES ('a', 'from a', 1)", [])
        .unwrap();
    b.execute("INSERT INTO items VALUES ('b', 'from b', 2)", [])
        .unwrap();
    assert_eq!(a.sync_async().await.unwrap().action, SyncAction::Uploaded);
    let merged = b.sync_async().await.unwrap();
    assert_eq!(merged.action, SyncAction::Merged, "{merged}");
    assert!(merged.bytes_down <= 1 << 20, "the merge fetched {merged}");
    let pulled = a.pull_async().await.unwrap();
    assert_eq!(pulled.action, SyncAction::Downloaded, "{pulled}");
    assert!(pulled.ranges_fetched >= 1, "{pulled}");
    assert!(pulled.bytes_down <= 1 << 20, "{pulled}");
    assert_eq!(rows(&a, ITEMS), rows(&b, ITEMS));
    assert_eq!(rows(&a, ITEMS).len(), 4);
}
