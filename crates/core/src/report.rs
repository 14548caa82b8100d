//! What a sync did, and where a replica stands.

use std::fmt;
use std::time::Duration;

use crate::remote::RemoteVersion;

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
