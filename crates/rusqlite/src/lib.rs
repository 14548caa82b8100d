//! A [`rusqlite::Connection`] on a SQLite database kept in S3.
//!
//! [`SyncedConnection::open`] brings the database down from its URL (or
//! reuses a current local copy); the value derefs to
//! [`rusqlite::Connection`]. [`SyncedConnection::sync`] uploads while the
//! connection stays open and [`SyncedConnection::close`] closes and uploads.
//! Uploads are conditional on the version the local copy came from, so a
//! database someone else changed meanwhile is never silently overwritten.
//!
//! With [`ChangesetMerge`] as the policy, a sync that finds another writer
//! landed first replays the local row changes onto that version instead of
//! failing.
//!
//! The API is blocking: it works from a plain `fn main` and, through
//! `tokio::task::spawn_blocking`, from async code; or open it with
//! [`SyncedConnectionBuilder::open_async`] and use the `*_async` methods.
//!
//! ```
//! use s3sqlite_rusqlite::SyncedConnection;
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let url = format!("file://{}/app.db", dir.path().display());
//! // "s3://my-bucket/app.db" in production
//! let mut db = SyncedConnection::builder(&url)
//!     .with_init(|conn| conn.execute_batch("CREATE TABLE IF NOT EXISTS users (name TEXT NOT NULL)"))
//!     .open()?;
//! db.execute("INSERT INTO users (name) VALUES (?1)", ["ada"]).unwrap();
//! db.sync()?; // durable now
//! db.close()?;
//! # Ok::<(), s3sqlite_rusqlite::Error>(())
//! ```

/// This crate's README, as crates.io shows it, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadme;

mod connection;
mod error;
mod follow;
mod live;
mod merge;

pub use crate::connection::{SyncedConnection, SyncedConnectionBuilder};
pub use crate::error::{Error, Result};
pub use crate::live::{BackupRestore, WalMark, recover_local, snapshot_into};
pub use crate::merge::{
    Change, ChangesetMerge, ConflictKind, Decision, OnConflict, RowConflict, Side, UnmergedRow,
};

pub use rusqlite;
/// The engine under this adapter, for what the names above leave out:
/// every variant of [`core::Error`], [`core::Replica`], the
/// [`core::TransferOptions`]… with no second dependency to add.
pub use s3sqlite_core as core;
pub use s3sqlite_core::{
    Conflict, Direction, FailOnConflict, Freshness, IncrementalUpload, KeepRemote,
    ObjectStoreRemote, Overwrite, RemoteStore, RemoteVersion, ReplicaOptions, Resolution, Status,
    SyncAction, SyncPolicy, SyncReport, Transfer, TransferObserver, async_trait,
};
