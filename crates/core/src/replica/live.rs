//! Live sources: what a sync reads while connections keep the database open,
//! and how content is written into the live database.

use std::path::{Path, PathBuf};

use super::{Replica, base};
use crate::hash::ContentHash;
use crate::verify::check_local_header;
use crate::{Error, Result};

/// What a push while connections are open uploads; see [`Replica::push_live`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum LiveSource<'a> {
    /// The local main file, complete right after a full checkpoint
    /// (`PRAGMA wal_checkpoint(TRUNCATE)` with no busy reader), and kept from
    /// further checkpoints until the push returns.
    Checkpointed,
    /// A consistent copy of the database, e.g. made with SQLite's online
    /// backup API. Prefer a copy that keeps every page at its number
    /// (`VACUUM INTO` renumbers them): a later sync of only what changed
    /// compares byte ranges.
    Snapshot(&'a Path),
    /// Nothing wrote the database since the engine last wrote it: a
    /// read-only replica's, whose connections run with `PRAGMA query_only`
    /// (what both adapters' followers pass). The engine takes the content
    /// to be the base version's and reads nothing of the live file, so a
    /// sync needs no checkpoint and no snapshot: a push has nothing to
    /// upload, and a pull of a remote that did not move is one HEAD. A pull
    /// of one that moved builds on the base copy when the replica keeps one
    /// ([`ReplicaOptions::with_base_copy`](crate::ReplicaOptions::with_base_copy)),
    /// else on the local file, and checks what it made against the
    /// version's stamp, so a base that does not hold what was recorded
    /// costs a whole download, never a wrong copy.
    ///
    /// A write made around `query_only` is not uploaded, and the next pull
    /// that brings a newer version overwrites it: a read-only replica's
    /// local copy is a cache of the remote.
    ///
    /// Only for a read-only replica
    /// ([`ReplicaOptions::with_read_only`](crate::ReplicaOptions::with_read_only))
    /// with a recorded base version: otherwise the sync is
    /// [`Error::NotUnwritten`](crate::Error::NotUnwritten).
    Unwritten,
}

/// Writes another database's content into the live local database, for
/// resolutions that replace local changes while connections are open; the
/// adapters implement it with SQLite's online backup API.
#[async_trait::async_trait]
pub trait LiveReplace: Send + Sync {
    /// Makes the live database hold the content of the database file `db`.
    ///
    /// # Errors
    ///
    /// Any error aborts the sync; the engine records nothing.
    async fn replace(&self, db: &Path) -> Result<()>;
}

/// The file an upload sends.
pub(super) struct Source<'a> {
    pub(super) path: PathBuf,
    /// The local main file holds exactly the uploaded bytes.
    pub(super) same_as_local: bool,
    /// Connections are open: replace content through this, never rename.
    pub(super) live: Option<&'a dyn LiveReplace>,
}

impl<'a> Source<'a> {
    pub(super) fn closed(path: &Path) -> Self {
        Source {
            path: path.to_owned(),
            same_as_local: true,
            live: None,
        }
    }

    pub(super) fn live(path: PathBuf, same_as_local: bool, replace: &'a dyn LiveReplace) -> Self {
        Source {
            path,
            same_as_local,
            live: Some(replace),
        }
    }
}

/// The content a live source names.
pub(super) struct Content {
    /// The file that holds it, or (for [`LiveSource::Unwritten`]) the
    /// file a download may build on.
    pub(super) path: PathBuf,
    /// `path` is the local main file.
    pub(super) same_as_local: bool,
    /// Its content hash.
    pub(super) hash: ContentHash,
    /// It is the base version's content.
    pub(super) clean: bool,
}

impl Replica {
    /// The content a live source names: its file, its hash, and whether
    /// that is the base version's content.
    pub(super) fn live_content(&mut self, source: LiveSource<'_>) -> Result<Content> {
        let (path, same_as_local) = match source {
            LiveSource::Unwritten => return self.unwritten(),
            LiveSource::Checkpointed => (self.path.clone(), true),
            LiveSource::Snapshot(path) => {
                check_local_header(path)?;
                (path.to_owned(), false)
            }
        };
        let hash = self.hash_file(&path)?;
        let clean = self.live_clean(hash, same_as_local)?;
        Ok(Content {
            path,
            same_as_local,
            hash,
            clean,
        })
    }

    /// [`LiveSource::Unwritten`]: the base version's content, with no read
    /// of the local file; a download builds on the base copy when there is
    /// one.
    fn unwritten(&self) -> Result<Content> {
        let base_hash = self.state.as_ref().and_then(|s| s.base_hash);
        let Some(hash) = base_hash.filter(|_| self.options.is_read_only()) else {
            return Err(Error::NotUnwritten {
                url: self.url.clone(),
                path: self.path.clone(),
            });
        };
        let copy = base::path_for(&self.path, hash);
        let same_as_local = !copy.is_file();
        let path = if same_as_local {
            self.path.clone()
        } else {
            copy
        };
        Ok(Content {
            path,
            same_as_local,
            hash,
            clean: true,
        })
    }

    /// Whether live content hashing to `hash` is the base version's: the
    /// same bytes, or, for the local file itself, the same data under a
    /// header its journal mode rewrote.
    fn live_clean(&mut self, hash: ContentHash, same_as_local: bool) -> Result<bool> {
        if self.state.as_ref().and_then(|s| s.base_hash) == Some(hash) {
            return Ok(true);
        }
        Ok(same_as_local && self.absorb_header_rewrite()?)
    }
}
