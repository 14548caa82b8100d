//! Live sources: what a sync reads while connections keep the database open,
//! and how content is written into the live database.

use std::path::{Path, PathBuf};

use super::Replica;
use crate::Result;
use crate::hash::ContentHash;
use crate::verify::check_local_header;

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

impl Replica {
    /// The file a live source names, whether it is the local file itself,
    /// its hash, and whether that is the base version's content.
    pub(super) fn live_content(
        &mut self,
        source: LiveSource<'_>,
    ) -> Result<(PathBuf, bool, ContentHash, bool)> {
        let (path, same_as_local) = self.live_source(source)?;
        let hash = self.hash_file(&path)?;
        let clean = self.live_clean(hash, same_as_local)?;
        Ok((path, same_as_local, hash, clean))
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

    /// The file a live source names, and whether it is the local file itself.
    fn live_source(&self, source: LiveSource<'_>) -> Result<(PathBuf, bool)> {
        Ok(match source {
            LiveSource::Checkpointed => (self.path.clone(), true),
            LiveSource::Snapshot(path) => {
                check_local_header(path)?;
                (path.to_owned(), false)
            }
        })
    }
}
