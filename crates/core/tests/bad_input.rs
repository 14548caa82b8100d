//! Bad input gets a clear error and leaves the local file and the remote
//! object as they were.

mod common;

use std::sync::Arc;

use common::{put_raw, remote_bytes, remote_values, seed, values, write};
use object_store::ObjectStoreExt;
use s3sqlite_core::{Error, ObjectStoreRemote, RemoteStore, Replica, ReplicaOptions};
use s3sqlite_testkit::{Backend, FaultyRemote, Fixture};

s3sqlite_testkit::backend_tests!(
    remote_object_that_is_not_sqlite_is_refused,
    truncated_download_is_refused,
    local_path_that_is_a_folder_is_refused,
    unwritable_local_folder_is_reported,
    second_open_of_one_local_path_is_refused,
    remote_deleted_after_a_sync_is_reported,
    local_copy_of_another_remote_is_refused,
);

async fn remote_object_that_is_not_sqlite_is_refused(fx: Fixture) {
    put_raw(&fx, "db", &b"this is not a database, just some text"[..]).await;
    let err = fx
        .open("db", "a.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotSqlite { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a SQLite database: its first 16 bytes are not \"SQLite format 3\\0\"",
            fx.url("db")
        )
    );
    assert!(!fx.local("a.db").exists());
    assert_eq!(
        remote_bytes(&fx, "db").await,
        b"this is not a database, just some text"
    );
    assert_no_temp_files(&fx);
}

async fn truncated_download_is_refused(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let before = remote_bytes(&fx, "db").await;
    let remote = Arc::new(FaultyRemote::new(fx.remote("db")));
    remote.truncate_download(100);
    let options = ReplicaOptions::new().with_local_path(fx.local("a.db"));
    let err = Replica::open(Arc::clone(&remote), options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Truncated { actual: 100, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "download of {} is truncated: expected {} bytes, got 100",
            fx.url("db"),
            before.len()
        )
    );
    assert!(!fx.local("a.db").exists());
    assert_eq!(remote_bytes(&fx, "db").await, before);
    assert_no_temp_files(&fx);
}

async fn local_path_that_is_a_folder_is_refused(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let before = remote_bytes(&fx, "db").await;
    let folder = fx.local("folder.db");
    std::fs::create_dir_all(folder.join("inside")).unwrap();
    let err = fx
        .open("db", "folder.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotAFile { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "local path {} is a folder or special file, expected a database file path",
            folder.display()
        )
    );
    assert!(folder.join("inside").is_dir());
    assert_eq!(remote_bytes(&fx, "db").await, before);
}

async fn unwritable_local_folder_is_reported(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let before = remote_bytes(&fx, "db").await;
    // /proc refuses new folders even to root, unlike a chmod-ed one
    let path = std::path::PathBuf::from("/proc/s3sqlite-test/app.db");
    let err = Replica::open(
        fx.remote("db"),
        ReplicaOptions::new().with_local_path(&path),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "could not create folder /proc/s3sqlite-test: No such file or directory (os error 2)"
    );
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(remote_bytes(&fx, "db").await, before);
}

async fn second_open_of_one_local_path_is_refused(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    write(a.local_path(), &["unsynced"]);
    let err = fx
        .open("db", "a.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    // the replica holding it is this process's own: the message says so,
    // and what settles it
    assert!(matches!(err, Error::LocalHeldByThisProcess { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "local copy {} is held by a replica of this process that is still open \
             (a pool or connection whose close failed keeps its path): retry its close, \
             or drop it (its changes stay in the local file for the next open)",
            fx.local("a.db").display()
        )
    );
    assert_eq!(values(a.local_path()), ["seed", "unsynced"]);
    assert_eq!(remote_values(&fx, "db").await, ["seed"]);
    drop(a);
    // released on drop
    fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
}

async fn remote_deleted_after_a_sync_is_reported(fx: Fixture) {
    seed(&fx, "db", &["seed"]).await;
    let a = fx.open("db", "a.db", ReplicaOptions::new()).await.unwrap();
    write(a.local_path(), &["local"]);
    drop(a);
    let remote = fx.remote("db");
    remote.store().delete(remote.key()).await.unwrap();

    let err = fx
        .open("db", "a.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RemoteDeleted { .. }), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "{} was deleted after the local copy was synced to version",
            fx.url("db")
        )),
        "{err}"
    );
    assert_eq!(values(&fx.local("a.db")), ["seed", "local"]);
    assert!(remote.head().await.unwrap().is_none());
}

async fn local_copy_of_another_remote_is_refused(fx: Fixture) {
    seed(&fx, "one", &["one"]).await;
    seed(&fx, "two", &["two"]).await;
    fx.open("one", "a.db", ReplicaOptions::new()).await.unwrap();
    let err = fx
        .open("two", "a.db", ReplicaOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TrackedElsewhere { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "local copy {} is tracked for {}, not {}: use another local path",
            fx.local("a.db").display(),
            fx.url("one"),
            fx.url("two")
        )
    );
    assert_eq!(values(&fx.local("a.db")), ["one"]);
}

fn assert_no_temp_files(fx: &Fixture) {
    let Ok(entries) = std::fs::read_dir(fx.local("x").parent().unwrap()) else {
        return;
    };
    for entry in entries {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains("s3sqlite-download"),
            "temp file left: {name}"
        );
    }
}

#[test]
fn unsupported_scheme_names_the_url_and_the_accepted_schemes() {
    let err = ObjectStoreRemote::from_url("ftp://bucket/app.db").unwrap_err();
    assert!(matches!(err, Error::UnsupportedScheme { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "unsupported URL scheme \"ftp\" in \"ftp://bucket/app.db\": expected s3, s3sqlite, gs, az, file or memory"
    );
}

#[test]
fn url_without_a_key_is_refused() {
    let err = ObjectStoreRemote::from_url("s3://bucket").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid URL \"s3://bucket\": missing object key after the bucket"
    );
}

#[tokio::test]
async fn missing_bucket_is_reported_on_localstack() {
    missing_bucket_is_reported(Backend::LocalStack).await;
}

#[tokio::test]
async fn missing_bucket_is_reported_on_moto() {
    missing_bucket_is_reported(Backend::Moto).await;
}

async fn missing_bucket_is_reported(backend: Backend) {
    let fx = Fixture::new(backend).await.unwrap();
    let url = "s3://s3sqlite-no-such-bucket/app.db";
    let remote = fx.remote_at(url).unwrap();
    let err = Replica::open(
        remote,
        ReplicaOptions::new().with_local_path(fx.local("a.db")),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::BucketNotFound { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("the bucket or folder of {url} does not exist: create it first or fix the URL")
    );
    assert!(!fx.local("a.db").exists());
}

#[tokio::test]
async fn missing_folder_is_reported_on_file() {
    let fx = Fixture::new(Backend::File).await.unwrap();
    let url = format!("file://{}/no/such/folder/app.db", fx.dir().display());
    let err = ObjectStoreRemote::from_url(&url).unwrap_err();
    assert!(matches!(err, Error::BucketNotFound { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(!fx.dir().join("no").exists());
}

#[tokio::test]
async fn remote_absent_without_create_if_missing_is_reported() {
    let fx = Fixture::new(Backend::Memory).await.unwrap();
    let err = fx
        .open(
            "db",
            "a.db",
            ReplicaOptions::new().with_create_if_missing(false),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} does not exist and create_if_missing is off",
            fx.url("db")
        )
    );
    assert!(!fx.local("a.db").exists());
}

#[test]
fn debug_output_shows_no_credentials() {
    let secret = "wJalrXUtnFEMI-not-a-real-secret";
    let builder = ObjectStoreRemote::builder("s3://bucket/app.db")
        .with_region("eu-west-1")
        .with_option("aws_access_key_id", "AKIDEXAMPLE")
        .with_option("aws_secret_access_key", secret)
        .with_option("aws_session_token", secret);
    let shown = format!("{builder:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("aws_secret_access_key"), "{shown}");
    let remote = builder.build().unwrap();
    let shown = format!("{remote:?} {remote}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(!shown.contains("AKIDEXAMPLE"), "{shown}");
}

/// A secret that must never show in a message, a `Debug` output or a log.
const MARKER: &str = "SECRETMARKER-9f3b";

/// Everything `run` logs at trace level, from every crate, on this thread.
fn trace_logs<T>(run: impl FnOnce() -> T) -> (T, String) {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, run);
    let logs = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    (out, logs)
}

#[test]
fn credentials_and_query_strings_in_a_url_are_refused_without_echoing_them() {
    for (url, shown) in [
        (
            format!("s3://AKIDEXAMPLE:{MARKER}@bucket/app.db"),
            "s3://***@bucket/app.db",
        ),
        (
            format!("s3://{MARKER}@bucket/app.db"),
            "s3://***@bucket/app.db",
        ),
        (
            format!("s3://bucket/app.db?aws_secret_access_key={MARKER}"),
            "s3://bucket/app.db?***",
        ),
        (
            format!("s3://AKID:{MARKER}/with/slash@bucket/app.db"),
            "s3://***@bucket/app.db",
        ),
        (
            format!("s3://bucket/app.db#{MARKER}"),
            "s3://bucket/app.db#***",
        ),
    ] {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (err, logs) = trace_logs(|| {
            runtime
                .block_on(Replica::open_url(&url, ReplicaOptions::new()))
                .unwrap_err()
        });
        assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("invalid URL {shown:?}: ")),
            "{message}"
        );
        for text in [message, format!("{err:?}"), logs] {
            assert!(!text.contains(MARKER), "the secret shows: {text}");
            assert!(!text.contains("AKID"), "the key id shows: {text}");
        }
    }
}

#[test]
fn a_secret_given_the_right_way_never_shows_in_trace_logs() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_, logs) = trace_logs(|| {
        runtime.block_on(async {
            let server =
                s3sqlite_testkit::S3Server::start(s3sqlite_testkit::ServerKind::LocalStack)
                    .await
                    .unwrap();
            let url = server.url("secret/db");
            s3sqlite_testkit::seed_remote(&server.remote_at(&url).unwrap(), |conn| {
                conn.execute_batch("CREATE TABLE t (v TEXT NOT NULL)")
            })
            .await
            .unwrap();
            // LocalStack takes any secret: this one reaches the signer
            let remote = server
                .remote_builder(&url)
                .with_option("aws_secret_access_key", MARKER)
                .build()
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let shown = format!("{remote} {remote:?}");
            assert!(!shown.contains(MARKER), "{shown}");
            let mut a = Replica::open(
                remote,
                ReplicaOptions::new().with_local_path(dir.path().join("a.db")),
            )
            .await
            .unwrap();
            write(a.local_path(), &["mine"]);
            a.push().await.unwrap();
        });
    });
    assert!(logs.contains("s3sqlite.push"), "no trace logs captured");
    assert!(!logs.contains(MARKER), "the secret shows in the logs");
}

#[test]
fn a_plain_path_is_refused_with_the_accepted_urls() {
    let err = ObjectStoreRemote::from_url("/var/data/app.db").unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "invalid URL \"/var/data/app.db\": not a URL: expected s3://bucket/key, \
         s3sqlite://bucket/key, gs://bucket/key, az://container/key, file:///abs/path or \
         memory:///key; for a file on this machine use file:///var/data/app.db"
    );
    let err = ObjectStoreRemote::from_url("app.db").unwrap_err();
    assert!(
        err.to_string()
            .contains("not a URL: expected s3://bucket/key"),
        "{err}"
    );
}

#[test]
fn a_key_over_1024_bytes_is_refused_at_open() {
    let url = format!("s3://bucket/{}", "k".repeat(1025));
    let err = ObjectStoreRemote::from_url(&url).unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with(": the key is 1025 bytes long: S3, GCS and Azure accept at most 1024"),
        "{err}"
    );
    assert!(ObjectStoreRemote::from_url(&format!("s3://bucket/{}", "k".repeat(1024))).is_ok());
}

#[tokio::test]
async fn a_long_key_gets_a_default_local_path_that_works() {
    let fx = Fixture::new(Backend::Memory).await.unwrap();
    let name = format!("{}.db", "n".repeat(400));
    let remote = fx.remote(&name);
    assert!(remote.to_string().len() > 400);
    let path = s3sqlite_core::default_local_path(&remote.to_string());
    let mut a = Replica::open(remote, ReplicaOptions::new()).await.unwrap();
    assert_eq!(a.local_path(), path);
    write(a.local_path(), &["long"]);
    a.push().await.unwrap();
    drop(a);
    assert_eq!(remote_values(&fx, &name).await, ["long"]);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// Opens `remote` at `local`, expecting a failure; the error and how long
/// the open took.
async fn failed_open(
    remote: ObjectStoreRemote,
    local: &std::path::Path,
) -> (Error, std::time::Duration) {
    let started = std::time::Instant::now();
    let err = Replica::open(remote, ReplicaOptions::new().with_local_path(local))
        .await
        .unwrap_err();
    (err, started.elapsed())
}

#[tokio::test]
async fn a_silent_endpoint_fails_within_the_request_timeout() {
    use std::time::Duration;
    let silent = s3sqlite_testkit::SilentServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("a.db");
    // a set timeout
    let remote = silent
        .remote_builder("s3://bucket/app.db")
        .with_request_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let (err, took) = failed_open(remote, &local).await;
    assert!(matches!(err, Error::Remote { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("request to s3://bucket/app.db failed: "),
        "{err}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    // the documented bound: the retry window (10 s) plus one request timeout
    assert!(took < Duration::from_secs(10 + 1 + 1), "took {took:?}");
    println!("silent endpoint, 1 s request timeout: failed after {took:?}: {err}");
    assert!(!local.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // the documented default: 30 s per request, no retry started after 10 s
    let remote = silent.remote_builder("s3://bucket/app.db").build().unwrap();
    let (err, took) = failed_open(remote, &local).await;
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(took < Duration::from_secs(10 + 30 + 1), "took {took:?}");
    println!("silent endpoint, default timeouts: failed after {took:?}: {err}");
}

#[tokio::test]
async fn a_refused_connection_names_the_cause() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let remote = ObjectStoreRemote::builder("s3://bucket/app.db")
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_allow_http(true)
        .with_option("aws_access_key_id", "k")
        .with_option("aws_secret_access_key", "s")
        .build()
        .unwrap();
    let err = remote.head().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "request to s3://bucket/app.db failed: Connection refused (os error 111)"
    );
}
