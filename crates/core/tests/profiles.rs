//! Credentials as a developer has them: AWS profiles in `~/.aws`, read
//! through the AWS SDK's chain (feature `aws-config`), on Ceph RGW, which
//! checks every signature.
//!
//! Each case runs a child process (this test binary, role
//! [`CHILD_TEST`]) with a throw-away `HOME` holding `~/.aws/config` and
//! `~/.aws/credentials` and no `AWS_*` variable but those the case sets:
//! the child opens a replica of a new key, writes a row and pushes it. The
//! parent checks what landed with the server owner's own keys.

use std::io::Write;
use std::path::Path;
use std::process::Output;

use s3sqlite_core::{ObjectStoreRemote, RemoteStore, Replica, ReplicaOptions};
use s3sqlite_testkit::{AwsHome, Backend, Fixture};

mod common;

/// Set in the child: the URL, the local path, the row to write and the
/// profile to name on the builder (empty for none), a line each.
const CHILD_VAR: &str = "S3SQLITE_PROFILE_CHILD";
/// The test that plays the child.
const CHILD_TEST: &str = "child_opens_writes_and_pushes";

/// Opens the replica its parent names, writes a row and pushes; prints
/// `pushed` or the error, whole, after `error: `.
#[test]
fn child_opens_writes_and_pushes() {
    let Ok(job) = std::env::var(CHILD_VAR) else {
        return;
    };
    let parts: Vec<&str> = job.split('\n').collect();
    let [url, local, row, profile] = parts[..] else {
        panic!("{CHILD_VAR} is not URL, local path, row and profile: {job:?}");
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pushed = runtime.block_on(async {
        let mut builder = ObjectStoreRemote::builder(url);
        if !profile.is_empty() {
            builder = builder.with_profile(profile);
        }
        let options = ReplicaOptions::new().with_local_path(local);
        let mut replica = Replica::open(builder.build()?, options).await?;
        common::write(Path::new(local), &[row]);
        replica.push().await
    });
    let mut out = std::io::stdout().lock();
    match pushed {
        Ok(report) => writeln!(out, "pushed {report}").unwrap(),
        Err(err) => writeln!(out, "error: {}", s3sqlite_core::ErrorChain::new(&err)).unwrap(),
    }
}

async fn ceph() -> Fixture {
    Fixture::new(Backend::Ceph)
        .await
        .unwrap_or_else(|e| panic!("Ceph RGW fixture: {e}"))
}

/// Runs the child in `home` on `name` of `fx`, writing `row`, with the
/// builder naming `profile` and the environment `env`.
fn child(
    fx: &Fixture,
    home: &AwsHome,
    name: &str,
    row: &str,
    profile: Option<&str>,
    env: &[(&str, &str)],
) -> String {
    let job = [
        fx.url(name),
        fx.local(name).display().to_string(),
        row.to_owned(),
        profile.unwrap_or_default().to_owned(),
    ]
    .join("\n");
    let mut command = home.command(std::env::current_exe().unwrap());
    command
        .args(["--exact", CHILD_TEST, "--nocapture", "--quiet"])
        .env(CHILD_VAR, job)
        .envs(env.iter().copied());
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    assert!(
        status.success(),
        "the child failed ({status}); stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("pushed") || l.starts_with("error: "));
    line.unwrap_or_else(|| panic!("the child said neither pushed nor error:\n{stdout}"))
        .to_owned()
}

/// `AWS_PROFILE` names a profile whose keys are in `~/.aws/credentials`
/// and whose region and endpoint are in `~/.aws/config`: the open, the
/// write and the push land, signed with those keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_aws_profile_from_the_config_files_signs_the_requests() {
    let fx = ceph().await;
    let home = AwsHome::new(&fx).unwrap();
    let said = child(
        &fx,
        &home,
        "keys.db",
        "a",
        None,
        &[("AWS_PROFILE", AwsHome::KEYS)],
    );
    assert!(said.starts_with("pushed"), "{said}");
    assert_eq!(common::remote_values(&fx, "keys.db").await, ["a"]);
}

/// A profile whose `credential_process` prints the keys: the push lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_credential_process_profile_signs_the_requests() {
    let fx = ceph().await;
    let home = AwsHome::new(&fx).unwrap();
    let env = [("AWS_PROFILE", AwsHome::PROCESS)];
    let said = child(&fx, &home, "process.db", "b", None, &env);
    assert!(said.starts_with("pushed"), "{said}");
    assert_eq!(common::remote_values(&fx, "process.db").await, ["b"]);
}

/// A profile named on the builder wins over keys in the environment, as
/// `aws --profile` does; keys in the environment win over `AWS_PROFILE`,
/// as in the AWS CLI's chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_a_named_profile_wins_over_keys_in_the_environment_and_they_over_aws_profile() {
    let fx = ceph().await;
    let home = AwsHome::new(&fx).unwrap();
    let server = fx.env();
    let var = |name| &server.iter().find(|(k, _)| *k == name).unwrap().1;
    let wrong_keys = [
        ("AWS_ACCESS_KEY_ID", var("AWS_ACCESS_KEY_ID").as_str()),
        ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
    ];
    let said = child(
        &fx,
        &home,
        "named.db",
        "c",
        Some(AwsHome::KEYS),
        &wrong_keys,
    );
    assert!(said.starts_with("pushed"), "{said}");
    assert_eq!(common::remote_values(&fx, "named.db").await, ["c"]);

    let right_keys = [
        ("AWS_ACCESS_KEY_ID", var("AWS_ACCESS_KEY_ID").as_str()),
        (
            "AWS_SECRET_ACCESS_KEY",
            var("AWS_SECRET_ACCESS_KEY").as_str(),
        ),
        ("AWS_PROFILE", AwsHome::WRONG_SECRET),
    ];
    let said = child(&fx, &home, "env.db", "d", None, &right_keys);
    assert!(said.starts_with("pushed"), "{said}");
    assert_eq!(common::remote_values(&fx, "env.db").await, ["d"]);
}

/// A profile with a wrong secret: the open fails with an error naming the
/// profile and the refusal (`SignatureDoesNotMatch`, access denied); the
/// remote database another writer pushed is as it was, and nothing is left
/// at the local path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_a_profile_with_a_wrong_secret_is_named_and_nothing_changes() {
    let fx = ceph().await;
    common::seed(&fx, "wrong.db", &["seeded"]).await;
    let before = fx.remote("wrong.db").head().await.unwrap().unwrap();
    let home = AwsHome::new(&fx).unwrap();
    let env = [("AWS_PROFILE", AwsHome::WRONG_SECRET)];
    let said = child(&fx, &home, "wrong.db", "e", None, &env);
    println!("{said}");
    assert!(said.starts_with("error: "), "{said}");
    assert!(said.contains(&fx.url("wrong.db")), "{said}");
    let profile = format!("AWS profile \"{}\"", AwsHome::WRONG_SECRET);
    assert!(said.contains(&profile), "{said}");
    assert!(said.contains("SignatureDoesNotMatch"), "{said}");
    assert!(said.contains("access denied"), "{said}");
    let after = fx.remote("wrong.db").head().await.unwrap().unwrap();
    assert!(after.same_object(&before), "the remote moved");
    assert_eq!(common::remote_values(&fx, "wrong.db").await, ["seeded"]);
    assert!(
        !fx.local("wrong.db").exists(),
        "the failed open left a local copy"
    );
}

/// A profile that names no credentials anywhere: the error names the
/// profile and says how to sign in, before any request is signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_a_missing_profile_is_named() {
    let fx = ceph().await;
    let home = AwsHome::new(&fx).unwrap();
    let server = fx.env();
    let endpoint = &server
        .iter()
        .find(|(k, _)| *k == "AWS_ENDPOINT_URL")
        .unwrap()
        .1;
    let env = [
        ("AWS_PROFILE", "no-such-profile"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let said = child(&fx, &home, "missing.db", "f", None, &env);
    println!("{said}");
    assert!(said.starts_with("error: "), "{said}");
    assert!(said.contains("\"no-such-profile\""), "{said}");
    assert!(said.contains("aws sso login"), "{said}");
    assert!(fx.remote("missing.db").head().await.unwrap().is_none());
}
