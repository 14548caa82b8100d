//! The versions a bucket with versioning keeps, through the binary on
//! LocalStack: `log`, `restore`, and `pull --version` and `query --version`,
//! which read an earlier version and never write to the remote.

mod common;

use std::path::PathBuf;

use s3sqlite_testkit::s3sqlite_core::ContentHash;
use s3sqlite_testkit::{Backend, Fixture, enable_versioning};
use serde_json::Value;

use self::common::{cwd, names_in, remote_names, s3sqlite, sql};

/// A fixture on LocalStack whose bucket keeps versions.
async fn versioned() -> Fixture {
    let fx = Fixture::new(Backend::LocalStack)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    enable_versioning(&fx).await.unwrap();
    fx
}

/// `app.db` pulled with `--create` into the folder `a`, then pushed three
/// times, with the users alice, then bob, then carol added: the folder and
/// the version ids of the three pushes, oldest first.
fn three_pushes(fx: &Fixture) -> (PathBuf, Vec<String>) {
    let here = cwd(fx, "a");
    let url = fx.url("app.db");
    s3sqlite(fx, &here, &["pull", "--create", &url]).ok();
    let mut ids = Vec::new();
    for name in ["alice", "bob", "carol"] {
        sql(
            &here.join("app.db"),
            &format!(
                "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
                 INSERT INTO users (name) VALUES ('{name}');"
            ),
        );
        let pushed = s3sqlite(fx, &here, &["--json", "push", "app.db"]).ok();
        ids.push(
            pushed.json()["report"]["version"]["version"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    (here, ids)
}

/// `log --json` of `url`: the versions, newest first.
fn log(fx: &Fixture, url: &str) -> Vec<Value> {
    let ran = s3sqlite(fx, &cwd(fx, "log"), &["--json", "log", url]).ok();
    ran.json().as_array().unwrap().clone()
}

/// `log` lists the versions of a database on a bucket with versioning,
/// newest first, as text and as a JSON array with `version_id`s; `restore`
/// makes the first current again as a new version; on a `file://` remote
/// `log` exits 1 saying the store keeps no versions.
#[tokio::test]
async fn log_lists_the_versions_newest_first_and_restore_brings_one_back() {
    let fx = versioned().await;
    let (here, ids) = three_pushes(&fx);
    let url = fx.url("app.db");
    let log_json = log(&fx, &url);
    let listed: Vec<&str> = log_json
        .iter()
        .map(|v| v["version_id"].as_str().unwrap())
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first, "{log_json:#?}");
    assert!(
        log_json
            .iter()
            .all(|v| v["written_by_s3sqlite"] == true && v["content_hash"].is_string()),
        "{log_json:#?}"
    );
    let text = s3sqlite(&fx, &here, &["log", &url]).ok();
    assert!(
        text.stdout.contains("3 versions, newest first"),
        "{text:#?}"
    );

    // the first version current again, as a fourth
    let restored = s3sqlite(&fx, &here, &["--json", "restore", &url, &ids[0]])
        .ok()
        .json();
    assert_eq!(restored["restored"], ids[0].as_str(), "{restored:#}");
    assert_eq!(remote_names(&fx, "app.db").await, ["alice"]);
    let log_json = log(&fx, &url);
    assert_eq!(log_json.len(), 4, "{log_json:#?}");
    assert_eq!(
        log_json[0]["content_hash"], log_json[3]["content_hash"],
        "{log_json:#?}"
    );
    let missing = s3sqlite(&fx, &here, &["restore", &url, "no-such-version"]);
    assert_eq!(missing.code, 1, "{missing:#?}");
    assert!(
        missing
            .stderr
            .contains(&format!("{url} has no version no-such-version")),
        "{missing:#?}"
    );

    let file = Fixture::new(Backend::File)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ran = s3sqlite(&file, &cwd(&file, "b"), &["log", &file.url("app.db")]);
    assert_eq!(ran.code, 1, "{ran:#?}");
    assert!(ran.stderr.contains("keeps no versions"), "{ran:#?}");
}

/// Of three pushes, `pull --version <second> PATH` gives the second's rows,
/// in bytes that hash to the content hash `log` lists, and a second pull
/// reuses them; `query --version` prints the second's rows; a writing
/// query on it exits 1 and the remote stays at the third; a writer's copy
/// named as PATH is refused and left as it was; an unknown id exits 1
/// naming the URL and the id; a pull onto a copy of the second that was
/// changed since exits 1 and leaves it as it is.
#[tokio::test]
async fn pull_and_query_of_a_version_read_it_and_write_nothing() {
    let fx = versioned().await;
    let (here, ids) = three_pushes(&fx);
    let url = fx.url("app.db");
    let second = ids[1].as_str();
    let listed = log(&fx, &url);
    let hash = listed
        .iter()
        .find(|v| v["version_id"] == second)
        .unwrap_or_else(|| panic!("log lists {second}: {listed:#?}"))["content_hash"]
        .as_str()
        .unwrap()
        .to_owned();

    let there = cwd(&fx, "b");
    let pull = ["pull", &url, "--version", second, "second.db"];
    let pulled = s3sqlite(&fx, &there, &[&["--json"], &pull[..]].concat())
        .ok()
        .json();
    assert_eq!(pulled["version_id"], second, "{pulled:#}");
    assert_eq!(pulled["read_only"], true, "{pulled:#}");
    assert_eq!(pulled["report"]["action"], "downloaded", "{pulled:#}");
    assert_eq!(pulled["report"]["version"]["version"], second, "{pulled:#}");
    assert_eq!(pulled["content_hash"], hash.as_str(), "{pulled:#}");
    let copy = there.join("second.db");
    assert_eq!(names_in(&copy), ["alice", "bob"]);
    let bytes = std::fs::read(&copy).unwrap();
    assert_eq!(ContentHash::of_bytes(&bytes).to_hex(), hash);
    let again = s3sqlite(&fx, &there, &pull).ok();
    assert_eq!(
        again.stdout.trim_end(),
        format!(
            "second.db: version {second} of {url}, read-only: \
             the local copy already holds it; blake3 {hash}"
        ),
        "{again:#?}"
    );

    // the writer's copy, at the third version, is no place for the second
    let writer = here.join("app.db");
    let state = here.join("app.db.s3sqlite-state");
    let before = (
        std::fs::read(&writer).unwrap(),
        std::fs::read(&state).unwrap(),
    );
    let refused = s3sqlite(&fx, &here, &["pull", &url, "--version", second, "app.db"]);
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(
        refused.stderr.starts_with(&format!(
            "error: app.db is a local copy of {url} at version {}, not at version {second}",
            ids[2]
        )),
        "{refused:#?}"
    );
    let after = (
        std::fs::read(&writer).unwrap(),
        std::fs::read(&state).unwrap(),
    );
    assert!(before == after, "pull --version touched the writer's copy");

    let query = |sql: &str| s3sqlite(&fx, &there, &["query", &url, "--version", second, sql]);
    let table = query("SELECT name FROM users ORDER BY id").ok();
    assert_eq!(
        table.stdout, "name\n-----\nalice\nbob\n(2 rows)\n",
        "{table:#?}"
    );
    let json = s3sqlite(
        &fx,
        &there,
        &[
            "--json",
            "query",
            &url,
            "--version",
            second,
            "SELECT count(*) FROM users",
        ],
    )
    .ok()
    .json();
    assert_eq!(json["version_id"], second, "{json:#}");
    assert_eq!(json["rows"], serde_json::json!([[2]]), "{json:#}");

    let write = query("DELETE FROM users");
    assert_eq!(write.code, 1, "{write:#?}");
    assert!(
        write.stderr.starts_with(&format!(
            "error: query on version {second} of {url} failed: attempt to write a readonly database"
        )),
        "{write:#?}"
    );
    assert!(
        write
            .stderr
            .contains(&format!("s3sqlite restore {url} {second}")),
        "{write:#?}"
    );
    let now = log(&fx, &url);
    assert_eq!(now.len(), 3, "{now:#?}");
    assert_eq!(now[0]["version_id"], ids[2].as_str(), "{now:#?}");
    assert_eq!(remote_names(&fx, "app.db").await, ["alice", "bob", "carol"]);
    assert_eq!(names_in(&copy), ["alice", "bob"]);

    for args in [
        ["pull", &url, "--version", "no-such-version", "gone.db"],
        ["query", &url, "--version", "no-such-version", "SELECT 1"],
    ] {
        let unknown = s3sqlite(&fx, &there, &args);
        assert_eq!(unknown.code, 1, "{unknown:#?}");
        assert!(
            unknown
                .stderr
                .starts_with(&format!("error: {url} has no version no-such-version")),
            "{unknown:#?}"
        );
    }
    assert!(!there.join("gone.db").exists());

    // a copy of the second changed since holds it no more, and stays as is
    sql(&copy, "INSERT INTO users (name) VALUES ('dave')");
    let changed = s3sqlite(&fx, &there, &pull);
    assert_eq!(changed.code, 1, "{changed:#?}");
    assert!(
        changed
            .stderr
            .starts_with(&format!("error: {url} is open read-only")),
        "{changed:#?}"
    );
    assert_eq!(names_in(&copy), ["alice", "bob", "dave"]);
    assert_eq!(log(&fx, &url).len(), 3);
}
