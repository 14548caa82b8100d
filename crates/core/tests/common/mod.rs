//! Backends and helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod faulty;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;
use s3sqlite_core::{ObjectStoreRemote, Replica, ReplicaOptions, Result};
use tempfile::TempDir;

/// The backends every behaviour is checked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    File,
    S3,
}

/// One test's corner of a backend: a unique key prefix and a temp folder for
/// local copies (and, for `File`, for the remote too).
#[derive(Debug)]
pub struct Fixture {
    pub kind: Kind,
    dir: TempDir,
    prefix: String,
}

fn unique() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("t{}-{nanos:x}-{n}", std::process::id())
}

/// The S3 endpoint the tests use; a missing one fails the test and says what to start.
pub fn s3_endpoint() -> String {
    let endpoint = std::env::var("S3SQLITE_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "no S3 server: set S3SQLITE_TEST_ENDPOINT to an S3-compatible endpoint \
             (`eval \"$(.ci/s3-server start)\"` installs and starts LocalStack and exports it)"
        )
    });
    let authority = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    if let Err(e) = std::net::TcpStream::connect(&authority) {
        panic!("S3 server at {endpoint} (S3SQLITE_TEST_ENDPOINT) is unreachable: {e}");
    }
    endpoint
}

pub fn s3_bucket() -> String {
    std::env::var("S3SQLITE_TEST_BUCKET").unwrap_or_else(|_| "s3sqlite-test".to_owned())
}

/// A builder for S3 URLs on the test server, credentials included.
pub fn s3_remote(url: &str) -> Result<ObjectStoreRemote> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    ObjectStoreRemote::builder(url)
        .with_endpoint(s3_endpoint())
        .with_allow_http(true)
        .with_region(env("AWS_REGION", "us-east-1"))
        .with_option("aws_access_key_id", env("AWS_ACCESS_KEY_ID", "test"))
        .with_option(
            "aws_secret_access_key",
            env("AWS_SECRET_ACCESS_KEY", "test"),
        )
        .build()
}

impl Fixture {
    pub fn new(kind: Kind) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("remote")).unwrap();
        if kind == Kind::S3 {
            s3_endpoint();
        }
        Fixture {
            kind,
            dir,
            prefix: unique(),
        }
    }

    /// The URL of the remote database `name`.
    pub fn url(&self, name: &str) -> String {
        match self.kind {
            Kind::Memory => format!("memory:///{}/{name}", self.prefix),
            Kind::File => format!("file://{}/remote/{name}", self.dir.path().display()),
            Kind::S3 => format!("s3://{}/{}/{name}", s3_bucket(), self.prefix),
        }
    }

    /// The remote `name`.
    pub fn remote(&self, name: &str) -> ObjectStoreRemote {
        self.remote_at(&self.url(name)).expect("remote from URL")
    }

    /// The remote for any URL on this backend.
    pub fn remote_at(&self, url: &str) -> Result<ObjectStoreRemote> {
        match self.kind {
            Kind::S3 => s3_remote(url),
            _ => ObjectStoreRemote::from_url(url),
        }
    }

    /// A local path in this test's temp folder.
    pub fn local(&self, name: &str) -> PathBuf {
        self.dir.path().join("local").join(name)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Opens a replica of `name` at local path `local` with `options`.
    pub async fn open(&self, name: &str, local: &str, options: ReplicaOptions) -> Result<Replica> {
        Replica::open(
            self.remote(name),
            options.with_local_path(self.local(local)),
        )
        .await
    }

    /// Puts a database with table `t(v)` holding `values` on the remote `name`.
    pub async fn seed(&self, name: &str, values: &[&str]) {
        let mut replica = self
            .open(name, &format!("seed-{}", unique()), ReplicaOptions::new())
            .await
            .expect("open for seeding");
        write(replica.local_path(), values);
        replica.push().await.expect("seed push");
    }

    /// The values in table `t` of the remote `name`, read through a fresh replica.
    pub async fn remote_values(&self, name: &str) -> Vec<String> {
        let replica = self
            .open(name, &format!("read-{}", unique()), ReplicaOptions::new())
            .await
            .expect("open for reading");
        values(replica.local_path())
    }
}

/// Inserts `values` into table `t(v)` of the database at `path`, creating it.
pub fn write(path: &Path, values: &[&str]) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (v TEXT NOT NULL)")
        .unwrap();
    for v in values {
        conn.execute("INSERT INTO t (v) VALUES (?1)", [v]).unwrap();
    }
    conn.close().unwrap();
}

/// The values of table `t` in the database at `path`, in insertion order.
pub fn values(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT v FROM t ORDER BY rowid").unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<String>>>()
        .unwrap()
}

/// Runs an async test body once per backend, as `memory`, `file` and `s3` tests.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::common::Fixture::new($crate::common::Kind::Memory)).await;
            })*
        }
        mod file {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::common::Fixture::new($crate::common::Kind::File)).await;
            })*
        }
        mod s3 {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::common::Fixture::new($crate::common::Kind::S3)).await;
            })*
        }
    };
}
