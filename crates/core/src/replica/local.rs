//! The files a replica keeps beside its local copy: the lock taken at open
//! (and given back by an open that fails), temp files, free space.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use tempfile::NamedTempFile;

use super::state::{lock_path, sibling, state_path};
use crate::files::{self, temp_file_beside};
use crate::{Error, Result};

/// The temp files of a replica, `.NAME.s3sqlite-PURPOSE-…`, share this
/// purpose prefix, and so do the state file's (`.NAME.s3sqlite-state.…`).
const TEMP_PURPOSE: &str = "s3sqlite-";

/// A temp file beside the local copy at `path` for `purpose` (`download`,
/// `merged`), removed at the next open if a crash leaves it behind.
pub(super) fn temp_file_for(path: &Path, purpose: &str) -> Result<NamedTempFile> {
    temp_file_beside(path, &format!("{TEMP_PURPOSE}{purpose}-"))
}

/// A temp folder beside the local copy at `path` for `purpose`, removed at
/// the next open if a crash leaves it behind.
pub(super) fn temp_dir_for(path: &Path, purpose: &str) -> Result<tempfile::TempDir> {
    files::temp_dir_beside(path, &format!("{TEMP_PURPOSE}{purpose}-"))
}

/// Removes what killed processes left beside the local copy at `path`:
/// partial downloads, merges, snapshots, state files. Only under the
/// replica's lock.
pub(super) fn remove_leftovers(path: &Path) -> Result<()> {
    files::remove_leftovers(path, TEMP_PURPOSE)
}

/// Fails with [`Error::NoSpace`] when the folder of `path` has fewer than
/// `needed` bytes free for this process.
pub(super) fn check_free_space(path: &Path, url: &str, needed: u64) -> Result<()> {
    let dir = path.parent().expect("local paths have a parent");
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(dir)
            .map_err(|e| Error::io("read the free space of", dir, e.into()))?;
        let available = stat.f_bavail.saturating_mul(stat.f_frsize);
        if needed > available {
            return Err(Error::NoSpace {
                path: dir.to_owned(),
                url: url.to_owned(),
                needed,
                available,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, url, needed);
    Ok(())
}

/// The lock on a local path, and what taking it created: an open that
/// fails removes those again (see [`LocalFiles::undo`]).
#[derive(Debug)]
pub(super) struct LocalFiles {
    path: PathBuf,
    lock: File,
    created_lock: bool,
    /// Folders created for the local path, the deepest last.
    created_dirs: Vec<PathBuf>,
}

impl LocalFiles {
    /// Takes the lock file of the local copy at `path`, creating its folder.
    pub(super) fn lock(path: &Path) -> Result<Self> {
        let created_dirs = create_parents(path)?;
        if path.is_dir() {
            return Err(Error::NotAFile {
                path: path.to_owned(),
            });
        }
        let lock_path = lock_path(path);
        loop {
            let (lock, created_lock) = open_or_create(&lock_path)?;
            match lock.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let path = path.to_owned();
                    return Err(match file_id(&lock).is_some_and(held_here) {
                        true => Error::LocalHeldByThisProcess { path },
                        false => Error::LocalInUse { path },
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", lock_path, e)),
            }
            // a failed open removes the lock file it created while holding
            // it: a lock taken on the removed file guards nothing, so take
            // the one now at the path
            if is_at(&lock, &lock_path)? {
                return Ok(LocalFiles {
                    path: path.to_owned(),
                    lock,
                    created_lock,
                    created_dirs,
                });
            }
        }
    }

    /// Another handle on the held lock, for the replica to keep; the lock
    /// counts as held by this process while it lives.
    pub(super) fn lock_file(&self) -> Result<HeldLock> {
        let file = self
            .lock
            .try_clone()
            .map_err(|e| Error::io("open lock file", lock_path(&self.path), e))?;
        let id = file_id(&file);
        if let Some(id) = id {
            let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
            match held.iter_mut().find(|(held, _)| *held == id) {
                Some((_, handles)) => *handles += 1,
                None => held.push((id, 1)),
            }
        }
        Ok(HeldLock { _file: file, id })
    }

    /// Removes the lock file and folders this open created, unless it left
    /// a state file that the next open needs. Runs while the lock is held. A
    /// failure here is reported in the log only: the open's own error is
    /// what the caller needs, and nothing here holds data.
    pub(super) fn undo(self) {
        if !self.created_lock || state_path(&self.path).exists() {
            return;
        }
        let lock = lock_path(&self.path);
        if let Err(e) = fs::remove_file(&lock) {
            tracing::warn!(path = %lock.display(), error = %e, "could not remove the lock file of a failed open");
            return;
        }
        for dir in self.created_dirs.iter().rev() {
            if let Err(e) = fs::remove_dir(dir) {
                tracing::debug!(path = %dir.display(), error = %e, "left a folder made by a failed open");
                return;
            }
        }
    }
}

/// A lock file told apart from others: its device and inode.
type FileId = (u64, u64);

/// The lock files that replicas of this process hold, each with how many
/// handles hold it: a path that another open finds locked is then known to
/// be held here, not by another process.
static HELD: Mutex<Vec<(FileId, usize)>> = Mutex::new(Vec::new());

/// The lock on a local path that a replica keeps for its life.
#[derive(Debug)]
pub(super) struct HeldLock {
    _file: File,
    id: Option<FileId>,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let Some(id) = self.id else {
            return;
        };
        let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = held.iter().position(|(held, _)| *held == id) {
            held[at].1 -= 1;
            if held[at].1 == 0 {
                held.swap_remove(at);
            }
        }
    }
}

/// Whether a replica of this process holds the lock file `id`.
fn held_here(id: FileId) -> bool {
    HELD.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .any(|(held, _)| *held == id)
}

/// The identity of the open `file`, where the platform gives one.
fn file_id(file: &File) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().ok()?;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        None
    }
}

/// Creates the missing folders above `path`, returning them outermost first.
fn create_parents(path: &Path) -> Result<Vec<PathBuf>> {
    let Some(dir) = path.parent() else {
        return Ok(Vec::new());
    };
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
    Ok(missing)
}

/// Opens the lock file at `path`, saying whether this call created it.
fn open_or_create(path: &Path) -> Result<(File, bool)> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => Ok((file, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok((files::open_lock_file(path)?, false))
        }
        Err(e) => Err(Error::io("open lock file", path, e)),
    }
}

/// Whether the open `file` is the one now at `path`.
fn is_at(file: &File, path: &Path) -> Result<bool> {
    let held = file
        .metadata()
        .map_err(|e| Error::io("read metadata of", path, e))?;
    let now = match fs::metadata(path) {
        Ok(now) => now,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("read metadata of", path, e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(held.dev() == now.dev() && held.ino() == now.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (held, now);
        Ok(true)
    }
}

/// The first 8 bytes of a rollback journal that SQLite will play back.
const HOT_JOURNAL_MAGIC: [u8; 8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];

/// Whether SQLite keeps changes to the database at `db` outside the main
/// file: a non-empty `-wal` (frames not yet checkpointed and truncated) or a
/// hot `-journal` (a transaction to roll back). Uploading the main file alone
/// would lose or tear them, and a download over it would discard them.
pub(super) fn journal_pending(db: &Path) -> Result<bool> {
    let wal = sibling(db, "-wal");
    match fs::metadata(&wal) {
        Ok(meta) if meta.len() > 0 => return Ok(true),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read metadata of", wal, e)),
    }
    let journal = sibling(db, "-journal");
    let mut header = [0u8; 8];
    match File::open(&journal) {
        Ok(mut file) => match file.read_exact(&mut header) {
            Ok(()) => Ok(header == HOT_JOURNAL_MAGIC),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(Error::io("read", journal, e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("open", journal, e)),
    }
}
