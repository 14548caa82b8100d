//! The `s3sqlite` binary, run as a user runs it, on `file://` remotes and on
//! LocalStack: every command, its exit code, its text and its JSON.

mod common;

use std::process::Command;

use s3sqlite_testkit::{Backend, Fixture, seed_remote, write_concurrently};
use serde_json::Value;

use self::common::{cwd, names_in, remote_names, s3sqlite, sql};

async fn seed(fx: &Fixture, name: &str) {
    seed_remote(&fx.remote(name), |c| {
        c.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO users (name) VALUES ('alice'), ('bob');",
        )
    })
    .await
    .unwrap();
}

async fn pull_downloads_then_reuses(fx: Fixture) {
    seed(&fx, "app.db").await;
    let url = fx.url("app.db");
    let here = cwd(&fx, "a");
    let ran = s3sqlite(&fx, &here, &["pull", &url]).ok();
    assert!(ran.stdout.starts_with("app.db: downloaded, "), "{ran:#?}");
    assert_eq!(names_in(&here.join("app.db")), ["alice", "bob"]);

    let again = s3sqlite(&fx, &here, &["pull", &url, "--json"]).ok().json();
    assert_eq!(again["command"], "pull");
    assert_eq!(again["report"]["action"], "reused");
    assert_eq!(again["report"]["bytes_down"], 0);
    assert_eq!(again["report"]["dirty"], false);

    sql(
        &here.join("app.db"),
        "INSERT INTO users (name) VALUES ('carol')",
    );
    let kept = s3sqlite(&fx, &here, &["pull", &url]).ok();
    assert_eq!(
        kept.stdout.trim(),
        "app.db: local changes kept (not uploaded yet)"
    );

    let elsewhere = cwd(&fx, "b");
    let named = s3sqlite(&fx, &elsewhere, &["pull", &url, "copy.db", "--json"])
        .ok()
        .json();
    assert_eq!(named["report"]["action"], "downloaded");
    assert_eq!(names_in(&elsewhere.join("copy.db")), ["alice", "bob"]);
}

async fn push_after_another_writer_exits_3_and_overwrite_lands(fx: Fixture) {
    seed(&fx, "app.db").await;
    let url = fx.url("app.db");
    let here = cwd(&fx, "a");
    s3sqlite(&fx, &here, &["pull", &url]).ok();
    let local = here.join("app.db");
    sql(&local, "INSERT INTO users (name) VALUES ('mine')");
    write_concurrently(
        fx.remote("app.db"),
        "INSERT INTO users (name) VALUES ('theirs')",
    )
    .await
    .unwrap();

    let refused = s3sqlite(&fx, &here, &["push", "app.db"]);
    assert_eq!(refused.code, 3, "{refused:#?}");
    let lines: Vec<&str> = refused.stderr.lines().collect();
    assert!(lines[0].starts_with("error: conflict on "), "{refused:#?}");
    assert!(lines.last().unwrap().starts_with("hint: "), "{refused:#?}");
    assert_eq!(
        remote_names(&fx, "app.db").await,
        ["alice", "bob", "theirs"]
    );
    assert_eq!(names_in(&local), ["alice", "bob", "mine"]);

    let json = s3sqlite(&fx, &here, &["push", "app.db", "--json"]);
    assert_eq!(json.code, 3, "{json:#?}");
    assert_eq!(json.json()["conflict"], true);

    let forced = s3sqlite(
        &fx,
        &here,
        &["push", "app.db", "--policy", "overwrite", "--json"],
    )
    .ok()
    .json();
    assert_eq!(forced["report"]["action"], "uploaded");
    assert_eq!(remote_names(&fx, "app.db").await, ["alice", "bob", "mine"]);

    let clean = s3sqlite(&fx, &here, &["push", "app.db", "--json"])
        .ok()
        .json();
    assert_eq!(clean["report"]["action"], "unchanged");
}

async fn pull_keep_remote_drops_local_changes(fx: Fixture) {
    seed(&fx, "app.db").await;
    let url = fx.url("app.db");
    let here = cwd(&fx, "a");
    s3sqlite(&fx, &here, &["pull", &url]).ok();
    sql(
        &here.join("app.db"),
        "INSERT INTO users (name) VALUES ('mine')",
    );
    write_concurrently(
        fx.remote("app.db"),
        "INSERT INTO users (name) VALUES ('theirs')",
    )
    .await
    .unwrap();
    let refused = s3sqlite(&fx, &here, &["pull", &url]);
    assert_eq!(refused.code, 3, "{refused:#?}");
    assert_eq!(names_in(&here.join("app.db")), ["alice", "bob", "mine"]);

    let kept = s3sqlite(
        &fx,
        &here,
        &["pull", &url, "--policy", "keep-remote", "--json"],
    )
    .ok()
    .json();
    assert_eq!(kept["report"]["action"], "kept_remote");
    assert_eq!(names_in(&here.join("app.db")), ["alice", "bob", "theirs"]);
}

async fn merge_policy_rebases_local_rows_onto_the_remote(fx: Fixture) {
    seed_remote(&fx.remote("log.db"), |c| {
        c.execute_batch("CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
    })
    .await
    .unwrap();
    let url = fx.url("log.db");
    let here = cwd(&fx, "a");
    s3sqlite(&fx, &here, &["pull", &url, "--policy", "merge"]).ok();
    let local = here.join("log.db");
    sql(&local, "INSERT INTO users VALUES ('a-1', 'mine')");
    write_concurrently(
        fx.remote("log.db"),
        "INSERT INTO users VALUES ('b-1', 'theirs')",
    )
    .await
    .unwrap();
    let merged = s3sqlite(
        &fx,
        &here,
        &["push", "log.db", "--policy", "merge", "--json"],
    )
    .ok()
    .json();
    assert_eq!(merged["report"]["action"], "merged");
    assert_eq!(remote_names(&fx, "log.db").await, ["mine", "theirs"]);
}

async fn status_names_each_state(fx: Fixture) {
    seed(&fx, "app.db").await;
    let url = fx.url("app.db");
    let here = cwd(&fx, "a");
    let status = |target: &str| {
        let ran = s3sqlite(&fx, &here, &["status", target, "--json"]).ok();
        ran.json()["status"].clone()
    };
    assert_eq!(status(&url), Value::Null);
    let text = s3sqlite(&fx, &here, &["status", &url]).ok();
    assert!(
        text.stdout.starts_with("status: no local copy"),
        "{text:#?}"
    );
    assert!(
        !here.join("app.db.s3sqlite-lock").exists(),
        "status left a lock file"
    );

    s3sqlite(&fx, &here, &["pull", &url]).ok();
    assert_eq!(status("app.db"), "clean");
    assert_eq!(status(&url), "clean");
    let text = s3sqlite(&fx, &here, &["status", "app.db"]).ok();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(lines[0].starts_with("status: clean"), "{text:#?}");
    assert!(lines[1].starts_with("local:  "), "{text:#?}");
    assert!(lines[2].starts_with("base:   "), "{text:#?}");
    assert!(
        lines[3].starts_with(&format!("remote: {url} at ")),
        "{text:#?}"
    );

    sql(
        &here.join("app.db"),
        "INSERT INTO users (name) VALUES ('mine')",
    );
    assert_eq!(status("app.db"), "ahead");
    s3sqlite(&fx, &here, &["push", "app.db"]).ok();
    assert_eq!(status("app.db"), "clean");

    write_concurrently(
        fx.remote("app.db"),
        "INSERT INTO users (name) VALUES ('theirs')",
    )
    .await
    .unwrap();
    let behind = s3sqlite(&fx, &here, &["status", "app.db", "--json"])
        .ok()
        .json();
    assert_eq!(behind["status"], "behind");
    assert_ne!(behind["base"], behind["remote"]);
    sql(
        &here.join("app.db"),
        "INSERT INTO users (name) VALUES ('again')",
    );
    assert_eq!(status("app.db"), "diverged");
    // status transfers nothing and changes nothing
    assert_eq!(
        names_in(&here.join("app.db")),
        ["alice", "bob", "mine", "again"]
    );
}

async fn query_prints_a_table_and_json(fx: Fixture) {
    seed(&fx, "app.db").await;
    let url = fx.url("app.db");
    let here = cwd(&fx, "q");
    let table = s3sqlite(
        &fx,
        &here,
        &["query", &url, "SELECT id, name FROM users ORDER BY id"],
    )
    .ok();
    assert_eq!(
        table.stdout, "id | name\n---+------\n1  | alice\n2  | bob\n(2 rows)\n",
        "{table:#?}"
    );
    let json = s3sqlite(
        &fx,
        &here,
        &[
            "query",
            &url,
            "SELECT name, NULL AS n, x'00ff' AS b FROM users",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(json["columns"], serde_json::json!(["name", "n", "b"]));
    assert_eq!(
        json["rows"],
        serde_json::json!([["alice", null, "00ff"], ["bob", null, "00ff"]])
    );
    let write = s3sqlite(&fx, &here, &["query", &url, "DELETE FROM users"]);
    assert_eq!(write.code, 1, "{write:#?}");
    assert!(write.stderr.contains("readonly"), "{write:#?}");
    assert_eq!(remote_names(&fx, "app.db").await, ["alice", "bob"]);
    // the fresh copy went to a temp folder, not here
    assert_eq!(std::fs::read_dir(&here).unwrap().count(), 0);
}

async fn bad_input_is_one_line_and_exit_1(fx: Fixture) {
    let here = cwd(&fx, "a");
    let bad = s3sqlite(&fx, &here, &["pull", "nosuch://bucket/app.db"]);
    assert_eq!(bad.code, 1, "{bad:#?}");
    assert_eq!(bad.stderr.lines().count(), 1, "{bad:#?}");
    assert!(
        bad.stderr.starts_with("error: unsupported URL scheme"),
        "{bad:#?}"
    );
    assert_eq!(bad.stdout, "");

    let missing = s3sqlite(&fx, &here, &["pull", &fx.url("absent.db")]);
    assert_eq!(missing.code, 1, "{missing:#?}");
    assert!(missing.stderr.contains("does not exist"), "{missing:#?}");
    assert!(!here.join("absent.db").exists());

    std::fs::write(here.join("loose.db"), b"not tracked").unwrap();
    let untracked = s3sqlite(&fx, &here, &["push", "loose.db", "--json"]);
    assert_eq!(untracked.code, 1, "{untracked:#?}");
    assert!(
        untracked.json()["hint"]
            .as_str()
            .unwrap()
            .contains("s3sqlite pull")
    );
    assert_eq!(
        std::fs::read(here.join("loose.db")).unwrap(),
        b"not tracked"
    );

    let usage = s3sqlite(&fx, &here, &["push"]);
    assert_eq!(usage.code, 2, "{usage:#?}");
}

async fn check_finds_the_store_safe(fx: Fixture) {
    let prefix = fx.url("check");
    let here = cwd(&fx, "c");
    let args = [
        "check",
        &prefix,
        "--writers",
        "4",
        "--rounds",
        "2",
        "--body-size",
        "65536",
    ];
    let text = s3sqlite(&fx, &here, &args).ok();
    assert!(
        text.stdout.starts_with(&format!("probe of {prefix}")),
        "{text:#?}"
    );
    let mut last = text.stdout.trim_end().lines().rev();
    let (incremental, verdict) = (last.next().unwrap_or(""), last.next().unwrap_or(""));
    assert_eq!(verdict, "verdict: safe for concurrent writers", "{text:#?}");
    assert!(incremental.starts_with("incremental upload: "), "{text:#?}");
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json = s3sqlite(&fx, &here, &json_args).ok().json();
    assert_eq!(json["verdict"], "safe");
    assert!(json["checks"].as_array().unwrap().len() >= 5, "{json:#}");
    // LocalStack's racing Completes may or may not let two win in 10 rounds
    if fx.backend() == Backend::File {
        assert_eq!(json["incremental_verdict"], "not_applicable", "{json:#}");
        assert_eq!(
            json["incremental_reasons"][0], "incremental uploads are S3 only",
            "{json:#}"
        );
    }
}

macro_rules! cli_tests {
    ($($name:ident),* $(,)?) => {
        mod file {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let fx = Fixture::new(Backend::File).await.unwrap_or_else(|e| panic!("{e}"));
                    super::$name(fx).await;
                }
            )*
        }
        mod localstack {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let fx = Fixture::new(Backend::LocalStack).await.unwrap_or_else(|e| panic!("{e}"));
                    super::$name(fx).await;
                }
            )*
        }
    };
}

cli_tests!(
    pull_downloads_then_reuses,
    push_after_another_writer_exits_3_and_overwrite_lands,
    pull_keep_remote_drops_local_changes,
    merge_policy_rebases_local_rows_onto_the_remote,
    status_names_each_state,
    query_prints_a_table_and_json,
    bad_input_is_one_line_and_exit_1,
    check_finds_the_store_safe,
);

/// `--endpoint` stands in for `AWS_ENDPOINT_URL`.
#[tokio::test]
async fn the_endpoint_flag_reaches_the_server() {
    let fx = Fixture::new(Backend::LocalStack)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    seed(&fx, "app.db").await;
    let env = fx.env();
    let endpoint = env
        .iter()
        .find(|(var, _)| *var == "AWS_ENDPOINT_URL")
        .map(|(_, value)| value.clone())
        .unwrap();
    let here = cwd(&fx, "a");
    std::fs::create_dir_all(&here).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_s3sqlite"));
    command.current_dir(&here);
    for (var, value) in env.iter().filter(|(var, _)| *var != "AWS_ENDPOINT_URL") {
        command.env(var, value);
    }
    command
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ALLOW_HTTP")
        .args(["pull", &fx.url("app.db"), "--endpoint", &endpoint]);
    let out = command.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(names_in(&here.join("app.db")), ["alice", "bob"]);
}
