//! The record kept next to the local copy: what it was last synced to.

use std::fs::{self, File, Metadata};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::hash::ContentHash;
use crate::version::{RemoteVersion, Stamp};
use crate::{Error, Result};

/// A file whose mtime is this close to the moment it was recorded may be
/// written again within the file system's timestamp granularity without its
/// fingerprint changing; such a fingerprint is checked by hash instead.
const RACY_WINDOW: Duration = Duration::from_secs(2);

const FORMAT: u32 = 1;

/// The state file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) format: u32,
    /// The remote URL the local copy belongs to.
    pub(crate) url: String,
    /// The remote version the local copy was last synced to; `None` when the
    /// object did not exist then.
    pub(crate) base: Option<RemoteVersion>,
    /// The hash of the local copy's content at `base`; `None` when unknown,
    /// which makes the copy dirty.
    pub(crate) base_hash: Option<ContentHash>,
    /// The local file's fingerprint when it was last seen to hash to `base_hash`.
    pub(crate) fingerprint: Option<Fingerprint>,
    /// The first 100 bytes (the database header) of the local copy at
    /// `base`, where known: what tells a header rewrite from a data change.
    #[serde(default)]
    pub(crate) base_header: Option<Vec<u8>>,
    /// The stamps of uploads that were started and not recorded: if the
    /// remote carries one, that upload landed.
    #[serde(default)]
    pub(crate) pending: Vec<Stamp>,
    /// A download about to be renamed into place, written just before the
    /// rename: if the record after it is lost, the next open recognises the
    /// downloaded bytes.
    #[serde(default)]
    pub(crate) installing: Option<Installing>,
    /// The content hash of the base copy beside the local file (see
    /// `base.rs`), when one is kept: the database at `base`.
    #[serde(default)]
    pub(crate) base_copy: Option<ContentHash>,
    /// The content hash stamped on the version the local copy was based on
    /// before `base`: the manifest the next push removes from the remote
    /// (the current version's and the one before stay).
    #[serde(default)]
    pub(crate) retired: Option<ContentHash>,
}

/// A file about to be renamed into place as the local copy, and the hash of
/// its bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Installing {
    /// A download: the version it holds. A merge: the version it is based on.
    pub(crate) version: RemoteVersion,
    pub(crate) hash: ContentHash,
    /// A merge rebased onto `version`: the hash of that version's content
    /// (the merge itself is a local change on top of it).
    #[serde(default)]
    pub(crate) rebased_on: Option<ContentHash>,
    /// A clean local copy being patched in place into `version`: one that
    /// does not hash to `hash` holds nothing of its own and is discarded.
    #[serde(default)]
    pub(crate) in_place: bool,
}

impl State {
    pub(crate) fn new(
        url: &str,
        base: Option<RemoteVersion>,
        base_hash: Option<ContentHash>,
    ) -> Self {
        State {
            format: FORMAT,
            url: url.to_owned(),
            base,
            base_hash,
            fingerprint: None,
            base_header: None,
            pending: Vec::new(),
            installing: None,
            base_copy: None,
            retired: None,
        }
    }

    /// Reads the state file, `None` when there is none.
    pub(crate) fn load(path: &Path) -> Result<Option<State>> {
        let text = match fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| Error::CorruptState {
                path: path.to_owned(),
                source,
            })
    }

    /// Writes the state file atomically: temp file, fsync, rename, fsync folder.
    pub(crate) fn store(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("state serializes");
        crate::files::write_atomically(path, &json)
    }
}

/// What the file system says about a file, cheap to compare: a changed file
/// has a changed fingerprint unless it was rewritten within the timestamp
/// granularity of its last write, which [`Fingerprint::trusted_for`] rules
/// out by trusting only fingerprints taken well after the file's mtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    len: u64,
    mtime_ns: u128,
    ctime_ns: u128,
    inode: u64,
    /// When the fingerprint was taken.
    recorded_ns: u128,
}

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
}

impl Fingerprint {
    pub(crate) fn of(path: &Path) -> Result<Self> {
        let meta = fs::metadata(path).map_err(|e| Error::io("read metadata of", path, e))?;
        Ok(Self::from_metadata(&meta))
    }

    fn from_metadata(meta: &Metadata) -> Self {
        #[cfg(unix)]
        let (inode, ctime_ns) = {
            use std::os::unix::fs::MetadataExt;
            (
                meta.ino(),
                meta.ctime() as u128 * 1_000_000_000 + meta.ctime_nsec() as u128,
            )
        };
        #[cfg(not(unix))]
        let (inode, ctime_ns) = (0, 0);
        Fingerprint {
            len: meta.len(),
            mtime_ns: meta.modified().map(nanos).unwrap_or_default(),
            ctime_ns,
            inode,
            recorded_ns: nanos(SystemTime::now()),
        }
    }

    /// Whether the file still has this fingerprint, and the fingerprint was
    /// taken long enough after the file's last write to be trusted.
    pub(crate) fn trusted_for(&self, path: &Path) -> Result<bool> {
        let now = Self::of(path)?;
        let same = now.len == self.len
            && now.mtime_ns == self.mtime_ns
            && now.ctime_ns == self.ctime_ns
            && now.inode == self.inode;
        let settled = self.mtime_ns + RACY_WINDOW.as_nanos() < self.recorded_ns;
        Ok(same && settled)
    }

    /// The fingerprint of a file nobody else writes right now (one the
    /// engine just downloaded or uploaded), made trustworthy at once: a
    /// recent mtime is set back past the racy window first. Any later write
    /// sets the mtime to its own time, which cannot equal the backdated one,
    /// so the change still shows.
    pub(crate) fn settle(path: &Path) -> Result<Self> {
        let meta = fs::metadata(path).map_err(|e| Error::io("read metadata of", path, e))?;
        let now = SystemTime::now();
        let mtime = meta.modified().unwrap_or(now);
        let margin = RACY_WINDOW + Duration::from_secs(1);
        if mtime + margin > now {
            File::options()
                .write(true)
                .open(path)
                .and_then(|f| f.set_modified(now - margin))
                .map_err(|e| Error::io("set mtime of", path, e))?;
        }
        Self::of(path)
    }
}

/// The state file of the local copy at `db`: `DB.s3sqlite-state`.
pub(crate) fn state_path(db: &Path) -> PathBuf {
    sibling(db, ".s3sqlite-state")
}

/// The lock file of the local copy at `db`: `DB.s3sqlite-lock`.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    sibling(db, ".s3sqlite-lock")
}

/// `db` with `suffix` appended to its file name.
pub(crate) fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    db.with_file_name(name)
}
