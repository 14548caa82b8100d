//! What a sync did, and where a replica stands.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::version::RemoteVersion;

/// What one open, pull or push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncAction {
    /// The remote copy was downloaded into the local path.
    Downloaded,
    /// The local copy was current and used as it was: no download.
    Reused,
    /// Neither side had a database: the local copy starts empty.
    Created,
    /// A local file was taken as the database, the remote being absent.
    Adopted,
    /// The local copy was uploaded.
    Uploaded,
    /// The local copy had not changed since the last sync: no request.
    Unchanged,
    /// A merged file from the sync policy became the local copy and was uploaded.
    Merged,
    /// The sync policy kept the remote copy: local changes were dropped.
    KeptRemote,
}

/// What happened in one open, pull or push.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncReport {
    /// What was done.
    pub action: SyncAction,
    /// Bytes downloaded.
    pub bytes_down: u64,
    /// Bytes uploaded.
    pub bytes_up: u64,
    /// Wall-clock time the operation took.
    pub duration: Duration,
    /// The remote version the local copy is based on afterwards (`None`: the
    /// object does not exist yet).
    pub version: Option<RemoteVersion>,
    /// Whether the local copy has changes not yet uploaded afterwards.
    pub dirty: bool,
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            SyncAction::Downloaded => "downloaded",
            SyncAction::Reused => "reused local copy",
            SyncAction::Created => "created empty database",
            SyncAction::Adopted => "adopted local file",
            SyncAction::Uploaded => "uploaded",
            SyncAction::Unchanged => "unchanged",
            SyncAction::Merged => "merged and uploaded",
            SyncAction::KeptRemote => "kept remote copy",
        };
        write!(f, "{action}")?;
        if self.bytes_down > 0 {
            write!(f, ", {} bytes down", self.bytes_down)?;
        }
        if self.bytes_up > 0 {
            write!(f, ", {} bytes up", self.bytes_up)?;
        }
        write!(f, " in {:.1?}", self.duration)?;
        match &self.version {
            Some(v) => write!(f, ", at version {v}")?,
            None => write!(f, ", remote absent")?,
        }
        if self.dirty {
            write!(f, ", local changes pending")?;
        }
        Ok(())
    }
}

/// Where a replica stands against its remote, from [`Replica::status`](crate::Replica::status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Local and remote hold the same version.
    Clean,
    /// The local copy has changes the remote lacks; a push uploads them.
    Ahead,
    /// The remote moved and the local copy has no changes; a pull fetches it.
    Behind,
    /// Both sides changed: the sync policy decides at the next pull or push.
    Diverged,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Clean => "clean",
            Status::Ahead => "ahead",
            Status::Behind => "behind",
            Status::Diverged => "diverged",
        })
    }
}

/// A local copy and its remote, side by side, from
/// [`Replica::inspect`](crate::Replica::inspect): no transfer, nothing
/// changed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inspection {
    /// The remote's URL.
    pub url: String,
    /// The local copy's path.
    pub local_path: PathBuf,
    /// Where the local copy stands; `None` when there is no replica at the
    /// path (no state file): see [`local_size`](Self::local_size) for a file
    /// s3sqlite does not track.
    pub status: Option<Status>,
    /// The version the local copy was last synced to (`None`: none, or the
    /// remote was absent then).
    pub base: Option<RemoteVersion>,
    /// The remote's version now; `None` when the object is absent.
    pub remote: Option<RemoteVersion>,
    /// The local file's size, when there is one.
    pub local_size: Option<u64>,
    /// When the local file was last written, when there is one.
    pub local_modified: Option<SystemTime>,
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{status}")?,
            None if self.local_size.is_some() => f.write_str("untracked local file")?,
            None => f.write_str("no local copy")?,
        }
        write!(f, ": {} ", self.local_path.display())?;
        match self.local_size {
            Some(size) => write!(f, "({size} bytes)")?,
            None => f.write_str("(absent)")?,
        }
        write!(f, " against {} ", self.url)?;
        match &self.remote {
            Some(remote) => write!(f, "(at {remote})"),
            None => f.write_str("(absent)"),
        }
    }
}
