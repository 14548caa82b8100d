//! A [`SqlitePool`](sqlx_sqlite::SqlitePool) on a SQLite database kept in S3.
//!
//! [`S3SqlitePool::connect`] brings the database down from its URL (or
//! reuses a current local copy), and the pool derefs to [`SqlitePool`](sqlx_sqlite::SqlitePool):
//! queries, `QueryBuilder`, transactions and migrations work unchanged.
//! [`S3SqlitePool::sync`] uploads while the pool stays open;
//! [`S3SqlitePool::close`] closes and uploads; [`S3SqlitePool::scope`] runs a
//! body and always closes. Uploads are conditional on the version the local
//! copy came from, so a database someone else changed meanwhile is never
//! silently overwritten.
//!
//! ```
//! use s3sqlite_sqlx::S3SqlitePool;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! # let url = format!("file://{}/app.db", dir.path().display());
//! // "s3://my-bucket/app.db" in production
//! let db = S3SqlitePool::builder(&url).with_ignore_conflicts(false).connect().await?;
//! sqlx::query("CREATE TABLE IF NOT EXISTS users (name TEXT NOT NULL)").execute(&db).await?;
//! sqlx::query("INSERT INTO users (name) VALUES (?)").bind("ada").execute(&db).await?;
//! db.sync().await?; // durable now: on AWS Lambda, sync before the handler returns
//! db.close().await?;
//! # Ok::<(), s3sqlite_sqlx::Error>(())
//! # }).unwrap();
//! ```
//!
//! On AWS Lambda the process gets no shutdown signal you can rely on: data is
//! durable only once `sync()` has returned inside the invocation.

/// The README's examples, run as doctests (this crate has every crate they
/// use; so it runs those of `docs/` too).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// `docs/how-it-works.md`, its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/how-it-works.md")]
pub struct DocsHowItWorks;

/// `docs/conflicts.md`, its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/conflicts.md")]
pub struct DocsConflicts;

/// `docs/stores.md`, its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/stores.md")]
pub struct DocsStores;

/// `docs/history-and-followers.md`, its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/history-and-followers.md")]
pub struct DocsHistoryAndFollowers;

/// `docs/crash-safety.md`, its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/crash-safety.md")]
pub struct DocsCrashSafety;

/// `docs/performance.md`, its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/performance.md")]
pub struct DocsPerformance;

/// `docs/credentials.md`, its examples run as doctests (one names an AWS
/// profile, which needs the feature `aws-config`).
#[cfg(all(doctest, feature = "aws-config"))]
#[doc = include_str!("../../../docs/credentials.md")]
pub struct DocsCredentials;

/// `docs/troubleshooting.md`, its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/troubleshooting.md")]
pub struct DocsTroubleshooting;

/// `docs/environment.md`, its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/environment.md")]
pub struct DocsEnvironment;

/// This crate's README, as crates.io shows it, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadme;

mod builder;
mod error;
mod executor;
mod inner;
mod pool;

pub use crate::builder::S3SqlitePoolBuilder;
pub use crate::error::{Error, Result};
pub use crate::pool::S3SqlitePool;

/// The engine under this adapter, for what the names above leave out:
/// every variant of [`core::Error`], [`core::Replica`], the
/// [`core::TransferOptions`]… with no second dependency to add.
pub use s3sqlite_core as core;
pub use s3sqlite_core::{
    Conflict, Direction, FailOnConflict, Freshness, IncrementalUpload, KeepRemote,
    ObjectStoreRemote, Overwrite, RemoteStore, RemoteVersion, ReplicaOptions, Resolution, Status,
    SyncAction, SyncPolicy, SyncReport, Transfer, TransferObserver, async_trait,
};
/// Why a [`ChangesetMerge`] refused to merge (see [`Error::refusal`]).
pub use s3sqlite_rusqlite::Error as MergeRefusal;
pub use s3sqlite_rusqlite::{
    Change, ChangesetMerge, ConflictKind, Decision, OnConflict, RowConflict, Side, UnmergedRow,
};
pub use sqlx;
