//! Fixtures for testing code that keeps its SQLite database in object
//! storage with s3sqlite, and for s3sqlite's own tests.
//!
//! Add it as a dev-dependency and test against the remotes your code will
//! meet, without a cloud account:
//!
//! - [`memory_remote`]: an in-memory remote, isolated per call;
//! - [`dir_remote`]: `file://` remotes in a temp folder, removed on drop;
//! - [`S3Server`]: a real S3-compatible server on a loopback port
//!   (LocalStack, moto or Ceph's RADOS Gateway), connected to or spawned
//!   and stopped on drop;
//! - [`FaultyRemote`]: wraps any remote, counts requests, injects failures;
//! - [`careless_remote`]: a store that accepts every write, conditions or
//!   not, to check that code notices;
//! - [`SilentServer`]: an endpoint that accepts and never answers;
//! - [`HttpLog`]: records the HTTP requests of a cloud remote, can answer
//!   some the way a flaky store does, and can run an action just before a
//!   download's pinned GETs;
//! - [`seed_remote`], [`read_remote`], [`write_concurrently`]: put a
//!   database on a remote, inspect one, change one as another writer would;
//! - [`check_conditional_writes`]: does a store's conditional PUT hold up
//!   under concurrent writers?
//! - [`backend_tests!`]: one test body, run on every backend.
//!
//! # Example: testing an app function
//!
//! ```
//! use s3sqlite_core::{Replica, ReplicaOptions, RemoteStore};
//! use s3sqlite_testkit::{memory_remote, read_remote};
//!
//! /// The code under test: records an event in the database at `remote`.
//! async fn record_event(remote: impl RemoteStore, local: &std::path::Path, name: &str) -> s3sqlite_core::Result<()> {
//!     let mut replica = Replica::open(remote, ReplicaOptions::new().with_local_path(local)).await?;
//!     let conn = rusqlite::Connection::open(replica.local_path()).expect("open");
//!     conn.execute_batch("CREATE TABLE IF NOT EXISTS events (name TEXT NOT NULL)").expect("schema");
//!     conn.execute("INSERT INTO events (name) VALUES (?1)", [name]).expect("insert");
//!     drop(conn);
//!     replica.push().await?;
//!     Ok(())
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let remote = std::sync::Arc::new(memory_remote("events.db"));
//! let dir = tempfile::tempdir().unwrap();
//! record_event(remote.clone(), &dir.path().join("events.db"), "signup").await?;
//!
//! let names: Vec<String> = read_remote(&*remote, |conn| {
//!     conn.prepare("SELECT name FROM events")?.query_map([], |r| r.get(0))?.collect()
//! }).await?;
//! assert_eq!(names, ["signup"]);
//! # Ok::<(), s3sqlite_testkit::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Servers
//!
//! | fixture | how it runs | conditional PUT |
//! |---|---|---|
//! | [`S3Server`] `LocalStack` | `S3SQLITE_TEST_ENDPOINT`, or spawns `python3 -m localstack.runtime.main` (`S3SQLITE_LOCALSTACK_PYTHON`) | atomic |
//! | [`S3Server`] `Moto` | `S3SQLITE_TEST_MOTO_ENDPOINT`, or spawns `moto_server` (`S3SQLITE_MOTO_SERVER`) | not atomic above 5 MiB |
//! | [`S3Server`] `Ceph` | `S3SQLITE_TEST_CEPH_ENDPOINT` (`.ci/s3-server start ceph`), never spawned | atomic, `If-Match` unquoted |
#![cfg_attr(
    feature = "docker",
    doc = "| [`LocalStackContainer`] | Docker, `localstack/localstack:4.14.0` (`S3SQLITE_LOCALSTACK_IMAGE` overrides) | atomic |"
)]
#![cfg_attr(
    feature = "docker",
    doc = "| [`MinioContainer`] | Docker, `quay.io/minio/minio:RELEASE.2025-02-28T09-55-16Z` | not measured here |"
)]
#![cfg_attr(
    feature = "docker",
    doc = "| [`RustFsContainer`] | Docker, `rustfs/rustfs:1.0.0-alpha.90` | not measured here |"
)]
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `docker` | no | testcontainers fixtures: LocalStack, MinIO, RustFS |

/// This crate's README, as crates.io shows it, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadme;

mod aws_home;
mod backend;
mod careless;
mod db;
#[cfg(feature = "docker")]
mod docker;
mod error;
mod faulty;
mod http;
mod http_log;
mod logged_store;
mod memory;
mod race;
mod server;
mod silent;
mod unique;
mod versioning;

pub use crate::aws_home::AwsHome;
pub use crate::backend::{Backend, Fixture};
pub use crate::careless::{CarelessStore, careless_remote};
pub use crate::db::{
    changed_ranges, object_bytes, pad_database, read_remote, seed_remote, write_concurrently,
};
#[cfg(feature = "docker")]
pub use crate::docker::{LocalStackContainer, MinioContainer, RunningContainer, RustFsContainer};
pub use crate::error::{Error, Result};
pub use crate::faulty::{FaultyRemote, InjectedFault, Op};
pub use crate::http_log::{Exchange, HttpLog};
pub use crate::memory::{DirRemote, dir_remote, memory_remote};
pub use crate::race::{RaceOptions, RaceReport, check_conditional_writes};
pub use crate::server::{S3Server, ServerKind};
pub use crate::silent::SilentServer;
pub use crate::versioning::enable_versioning;

pub use rusqlite;
pub use s3sqlite_core;
#[cfg(feature = "docker")]
pub use testcontainers;
