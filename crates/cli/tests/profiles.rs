//! `s3sqlite --profile` and `AWS_PROFILE` as a developer uses them, with a
//! throw-away `HOME` holding `~/.aws/config` and `~/.aws/credentials` and
//! no `AWS_*` variable in the environment, on Ceph RGW, which checks every
//! signature.

use std::path::Path;
use std::process::Output;

use rusqlite::Connection;
use s3sqlite_testkit::s3sqlite_core::RemoteStore;
use s3sqlite_testkit::{AwsHome, Backend, Fixture, read_remote};

async fn ceph() -> Fixture {
    Fixture::new(Backend::Ceph)
        .await
        .unwrap_or_else(|e| panic!("Ceph RGW fixture: {e}"))
}

/// Runs `s3sqlite ARGS` in `cwd` with `home` as `HOME`, plus `env`.
fn s3sqlite(home: &AwsHome, cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    std::fs::create_dir_all(cwd).unwrap();
    let mut command = home.command(env!("CARGO_BIN_EXE_s3sqlite"));
    command.args(args).current_dir(cwd).env_remove("RUST_LOG");
    command
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

#[track_caller]
fn succeeded(out: &Output) {
    assert!(out.status.success(), "{out:?}");
}

fn insert(path: &Path, value: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (v TEXT NOT NULL)")
        .unwrap();
    conn.execute("INSERT INTO t (v) VALUES (?1)", [value])
        .unwrap();
    conn.close().unwrap();
}

async fn remote_values(fx: &Fixture, name: &str) -> Vec<String> {
    read_remote(&fx.remote(name), |conn| {
        let mut statement = conn.prepare("SELECT v FROM t ORDER BY rowid")?;
        let values = statement.query_map([], |row| row.get(0))?;
        values.collect()
    })
    .await
    .unwrap()
}

/// `--profile` names a profile with keys, then one with a
/// `credential_process`: `pull --create`, a write and `push` land on Ceph,
/// and `status` says the copy is clean.
#[tokio::test]
async fn ceph_profile_flag_pulls_and_pushes() {
    let fx = ceph().await;
    let home = AwsHome::new(&fx).unwrap();
    let here = fx.dir().join("cli");
    let url = fx.url("app.db");
    for (profile, value) in [
        (AwsHome::KEYS, "from keys"),
        (AwsHome::PROCESS, "from process"),
    ] {
        let flags = ["--profile", profile];
        succeeded(&s3sqlite(
            &home,
            &here,
            &[],
            &[&flags[..], &["pull", "--create", &url, "app.db"]].concat(),
        ));
        insert(&here.join("app.db"), value);
        succeeded(&s3sqlite(
            &home,
            &here,
            &[],
            &[&flags[..], &["push", "app.db"]].concat(),
        ));
        let status = s3sqlite(
            &home,
            &here,
            &[],
            &[&flags[..], &["--json", "status", "app.db"]].concat(),
        );
        succeeded(&status);
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(status["status"], "clean", "{status}");
    }
    assert_eq!(
        remote_values(&fx, "app.db").await,
        ["from keys", "from process"]
    );
}

/// `AWS_PROFILE` alone, with no flag: the same as `--profile`.
#[tokio::test]
async fn ceph_aws_profile_variable_pulls_and_pushes() {
    let fx = ceph().await;
    let home = AwsHome::new(&fx).unwrap();
    let here = fx.dir().join("cli");
    let url = fx.url("env.db");
    let env = [("AWS_PROFILE", AwsHome::KEYS)];
    succeeded(&s3sqlite(
        &home,
        &here,
        &env,
        &["pull", "--create", &url, "env.db"],
    ));
    insert(&here.join("env.db"), "x");
    succeeded(&s3sqlite(&home, &here, &env, &["push", "env.db"]));
    assert_eq!(remote_values(&fx, "env.db").await, ["x"]);
}

/// `--profile` naming a profile with a wrong secret: exit 1, one message
/// naming the profile and the refusal; the remote is as it was and no
/// local copy is made.
#[tokio::test]
async fn ceph_profile_with_a_wrong_secret_exits_1_naming_it() {
    let fx = ceph().await;
    let home = AwsHome::new(&fx).unwrap();
    let here = fx.dir().join("cli");
    let url = fx.url("app.db");
    succeeded(&s3sqlite(
        &home,
        &here,
        &[],
        &[
            "--profile",
            AwsHome::KEYS,
            "pull",
            "--create",
            &url,
            "first.db",
        ],
    ));
    insert(&here.join("first.db"), "kept");
    succeeded(&s3sqlite(
        &home,
        &here,
        &[],
        &["--profile", AwsHome::KEYS, "push", "first.db"],
    ));
    let before = fx.remote("app.db").head().await.unwrap().unwrap();

    let out = s3sqlite(
        &home,
        &here,
        &[],
        &[
            "--profile",
            AwsHome::WRONG_SECRET,
            "pull",
            &url,
            "second.db",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr.contains(&format!("AWS profile \"{}\"", AwsHome::WRONG_SECRET)),
        "{stderr}"
    );
    assert!(stderr.contains("SignatureDoesNotMatch"), "{stderr}");
    assert!(stderr.contains("access denied"), "{stderr}");
    assert!(!here.join("second.db").exists());
    let after = fx.remote("app.db").head().await.unwrap().unwrap();
    assert!(after.same_object(&before), "the remote moved");
    assert_eq!(remote_values(&fx, "app.db").await, ["kept"]);
}

/// `--region` wins over the profile's region, and `--profile` still
/// supplies the keys and the endpoint (Ceph accepts any region name in a
/// signature, so the log of the settings shows which one was used).
#[tokio::test]
async fn ceph_region_flag_is_the_signing_region() {
    let fx = ceph().await;
    let home = AwsHome::new(&fx).unwrap();
    let here = fx.dir().join("cli");
    let url = fx.url("region.db");
    let args = [
        "--profile",
        AwsHome::KEYS,
        "--region",
        "eu-west-3",
        "-vv",
        "pull",
        "--create",
        &url,
        "region.db",
    ];
    let out = s3sqlite(&home, &here, &[], &args);
    succeeded(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let settings = stderr.lines().find(|line| line.contains("S3 settings"));
    let settings = settings.unwrap_or_else(|| panic!("no S3 settings in the log:\n{stderr}"));
    assert!(settings.contains("region=\"eu-west-3\""), "{settings}");
    assert!(
        settings.contains(&format!("endpoint=\"{}\"", fx.env()[0].1)),
        "{settings}"
    );
}
