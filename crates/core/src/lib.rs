//! Keep a SQLite database in object storage.
//!
//! `s3sqlite-core` brings a database file down from S3 (or GCS, Azure, a
//! local folder, memory) to a local path, lets any SQLite library use it
//! there, and sends it back up on condition that nobody else changed the
//! remote copy meanwhile. It links no SQLite: the adapter crates
//! `s3sqlite-sqlx` and `s3sqlite-rusqlite` put a connection pool or a
//! connection on top.
//!
//! # Brief overview
//!
//! - [`Replica`]: the engine. [`Replica::open`] downloads the remote copy or
//!   reuses a current local one (one HEAD, no GET); [`Replica::push`] uploads
//!   a changed copy with `If-Match` on the version it was based on (no
//!   request at all when nothing changed); [`Replica::status`] compares
//!   without transferring. Every step reports a [`SyncReport`].
//! - [`RemoteStore`]: what the engine needs from a remote: `head`, a pinned
//!   `download`, a conditional `upload`. [`ObjectStoreRemote`] implements it
//!   for every URL scheme over [`object_store`].
//! - [`SyncPolicy`]: what happens when both sides changed. [`FailOnConflict`]
//!   (default), [`Overwrite`], [`KeepRemote`], or your own, which may return
//!   a [`Resolution::Merged`] file.
//! - [`probe::probe`]: checks on your own bucket what the engine needs from
//!   a store (conditional create and update, a stale `If-Match` refused,
//!   metadata, pinned ranged reads, a race of writers) and says whether
//!   concurrent writers are safe there.
//! - [`EtagQuoting`]: how `If-Match` sends the entity tag; the default finds
//!   by itself the stores (Ceph RGW, DigitalOcean Spaces) that want it
//!   unquoted.
//! - [`TransferObserver`]: told of each download and upload as it runs, for
//!   a progress bar or a metric; nothing is counted without one.
//! - [`Error`]: one error type; each variant names the URL or path.
//!
//! # Example
//!
//! ```
//! use s3sqlite_core::{Replica, ReplicaOptions, Status};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let options = ReplicaOptions::new().with_local_path(dir.path().join("app.db"));
//! let mut replica = Replica::open_url("memory:///crate-docs/app.db", options).await?;
//!
//! // any SQLite library writes the file; here, a minimal valid database header
//! std::fs::write(replica.local_path(), b"SQLite format 3\0").unwrap();
//! assert_eq!(replica.status().await?, Status::Ahead);
//!
//! let report = replica.push().await?;
//! println!("{report}");
//! assert_eq!(replica.status().await?, Status::Clean);
//! # Ok::<(), s3sqlite_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Rules
//!
//! Open: a clean local copy whose base is the remote's current version is
//! reused; a clean copy of an older version is replaced by a download; a
//! copy with unsynced changes is kept when the remote has not moved (they go
//! up at the next push) and goes to the policy when it has. With no local
//! copy the remote is downloaded, or an empty database is started when the
//! remote is absent. A local file s3sqlite does not track is never silently
//! replaced. A non-empty `-wal` or a hot `-journal` beside the local copy
//! makes it dirty, and a push refuses it ([`Error::JournalPending`]) until
//! SQLite has put those changes into the main file.
//!
//! Downloads go to a temp file beside the local path in parallel ranged GETs
//! pinned to one version and hashed as they arrive; before anything is
//! replaced, the size, the SQLite header and either the uploader's stamp
//! (size and content hash) or, for a file another tool wrote, the header's
//! page count are checked ([`Error::Corrupt`]); stale `-wal`, `-shm` and
//! `-journal` files are removed, and the file fsynced and renamed into
//! place. An upload of ours found torn on the remote (a store that keeps
//! partial bodies) is never adopted: it is uploaded again. The state file
//! (`PATH.s3sqlite-state`) records the base version and the content hash,
//! and changes only after a transfer succeeded. Temp files a killed process
//! left are removed at the next open, and every request has a bounded time
//! (see [`ObjectStoreRemoteBuilder::with_request_timeout`]).
//!
//! A push of a database of 4 MiB or more first stores the version's
//! manifest beside the object (`KEY.s3sqlite/m/HASH`: one BLAKE3 chaining
//! value per 64 KiB leaf, which merge into the stamp's content hash). A
//! replica that is behind with a clean copy reads it and fetches only the
//! leaves that changed into a copy of its own file, then checks the whole
//! result against the stamp; without a manifest that verifies it downloads
//! the whole version. The remote object stays one plain SQLite file.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `aws` | yes | `s3://` and `s3sqlite://` URLs |
//! | `gcp` | no | `gs://` URLs |
//! | `azure` | no | `az://` URLs |

/// This crate's README, as crates.io shows it, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadme;

mod adapter;
mod delta;
mod error;
mod files;
mod follow;
mod hash;
pub mod history;
mod incremental;
mod manifest;
mod mmap;
mod policy;
pub mod probe;
mod remote;
mod replica;
mod report;
mod retry;
mod transfer;
mod verify;
mod version;

pub use crate::error::{Corruption, Error, ErrorChain, Result};
pub use crate::follow::{Freshness, RefreshSchedule};
pub use crate::hash::{ContentHash, ParseHashError};
pub use crate::incremental::{
    INCREMENTAL_UPLOAD_VAR, IncrementalUpload, ParseIncrementalUploadError,
};
pub use crate::policy::{Conflict, FailOnConflict, KeepRemote, Overwrite, Resolution, SyncPolicy};
pub use crate::remote::{
    Admit, ChangedUpload, ETAG_QUOTING_VAR, Encryption, EtagQuoting, ObjectStoreRemote,
    ObjectStoreRemoteBuilder, ParseEtagQuotingError, RemoteStore, UploadStarted,
};
pub use crate::replica::{LiveReplace, LiveSource, Replica, ReplicaOptions};
pub use crate::report::{Inspection, Status, SyncAction, SyncReport};
pub use crate::transfer::{Direction, Transfer, TransferObserver, TransferOptions};
pub use crate::version::{Downloaded, RemoteVersion, Stamp, WriteCondition};

pub use async_trait::async_trait;
pub use object_store;

/// The local path a replica of `url` uses when none is given: under the
/// system temp folder, derived from the whole URL, the key's file name kept.
///
/// ```
/// let path = s3sqlite_core::default_local_path("s3://bucket/app.db");
/// assert!(path.starts_with(std::env::temp_dir()));
/// assert_eq!(path.file_name().unwrap(), "app.db");
/// ```
pub fn default_local_path(url: &str) -> std::path::PathBuf {
    replica::default_local_path(url)
}
