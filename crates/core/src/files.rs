//! Local file handling shared by the engine and the `file://` backend: temp
//! files beside a target and their removal after a crash, atomic writes,
//! folder fsyncs, lock files, reads and writes at an offset, and the rule
//! for file modes.
//!
//! # File modes
//!
//! A file s3sqlite creates gets what `open(2)` gives a new file, mode 0666
//! less the process umask (0644 under the usual umask 022), as SQLite gives
//! a database it creates. A file s3sqlite replaces (a download or merge
//! over the local copy, a state file, an upload over a `file://` object)
//! keeps the mode it had, so a mode the user set survives every sync.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use tempfile::NamedTempFile;

use crate::{Error, Result};

/// The name of the temp files for `target` of one `purpose`:
/// `.NAME.PURPOSE`, followed by random characters.
fn temp_prefix(target: &Path, purpose: &str) -> String {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    format!(".{name}.{purpose}")
}

/// A temp file beside `target`, named `.NAME.PURPOSE…` so that
/// [`remove_leftovers`] finds it after a crash, with the mode `target` has,
/// or that of a new file when there is no `target` yet.
pub(crate) fn temp_file_beside(target: &Path, purpose: &str) -> Result<NamedTempFile> {
    let dir = target.parent().expect("targets have a parent folder");
    let prefix = temp_prefix(target, purpose);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile's own default is 0600; this is what open(2) gives (the
        // umask applies)
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let temp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::io("create temp file in", dir, e))?;
    match fs::metadata(target) {
        Ok(meta) => temp
            .as_file()
            .set_permissions(meta.permissions())
            .map_err(|e| Error::io("set the mode of", temp.path(), e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read metadata of", target, e)),
    }
    Ok(temp)
}

/// A temp folder beside `target`, named `.NAME.PURPOSE…` so that
/// [`remove_leftovers`] finds it after a crash.
pub(crate) fn temp_dir_beside(target: &Path, purpose: &str) -> Result<tempfile::TempDir> {
    let dir = target.parent().expect("targets have a parent folder");
    tempfile::Builder::new()
        .prefix(&temp_prefix(target, purpose))
        .tempdir_in(dir)
        .map_err(|e| Error::io("create temp folder in", dir, e))
}

/// Removes the temp files and folders of `purpose` that a killed process
/// left beside `target` (see [`temp_file_beside`], [`temp_dir_beside`]).
/// Call it only while holding the lock that keeps every other writer of
/// `target` away.
pub(crate) fn remove_leftovers(target: &Path, purpose: &str) -> Result<()> {
    let prefix = temp_prefix(target, purpose);
    remove_siblings(
        target,
        &prefix,
        |_| false,
        |path| {
            tracing::info!(path = %path.display(), "removed a temp file left by a killed process");
        },
    )
}

/// Removes the files and folders beside `target` whose names start with
/// `prefix`, except those `keep` says to keep, calling `removed` for each
/// one removed. A folder that does not exist holds nothing to remove.
pub(crate) fn remove_siblings(
    target: &Path,
    prefix: &str,
    keep: impl Fn(&Path) -> bool,
    removed: impl Fn(&Path),
) -> Result<()> {
    let dir = target.parent().expect("targets have a parent folder");
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        if keep(&path) {
            continue;
        }
        let is_dir = entry
            .file_type()
            .map_err(|e| Error::io("read the type of", &path, e))?
            .is_dir();
        let result = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match result {
            Ok(()) => removed(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", path, e)),
        }
    }
    Ok(())
}

/// Removes the file at `path`; one that is not there is not an error.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Writes `bytes` to `path` through a temp file, fsync and rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("written files have a parent folder");
    let mut temp = temp_file_beside(path, "s3sqlite-tmp-")?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| Error::io("write", temp.path(), e))?;
    temp.persist(path)
        .map_err(|e| Error::io("rename into", path, e.error))?;
    sync_dir(dir)
}

/// Makes the entries of `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync folder", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Opens (creating) the lock file at `path`, without taking the lock.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open lock file", path, e))
}

/// Reads exactly `buffer.len()` bytes of `file` from `offset` on.
#[cfg(unix)]
pub(crate) fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buffer, offset)
}

/// Writes all of `bytes` into `file` from `offset` on.
#[cfg(unix)]
pub(crate) fn write_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, offset)
}

/// Reads exactly `buffer.len()` bytes of `file` from `offset` on.
#[cfg(windows)]
pub(crate) fn read_at(file: &File, mut buffer: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buffer.is_empty() {
        match file.seek_read(buffer, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buffer = &mut buffer[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Writes all of `bytes` into `file` from `offset` on.
#[cfg(windows)]
pub(crate) fn write_at(file: &File, mut bytes: &[u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !bytes.is_empty() {
        let n = file.seek_write(bytes, offset)?;
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}
