//! In-memory and local-folder remotes.

use std::path::Path;

use s3sqlite_core::ObjectStoreRemote;
use tempfile::TempDir;

use crate::Result;
use crate::unique::unique_name;

/// A remote in the process-wide in-memory store, under a prefix no other
/// call gets, so tests running in parallel never see each other's objects.
///
/// Its URL (`remote.to_string()`, `memory:///…/KEY`) can be handed to any
/// s3sqlite API that takes a URL.
///
/// ```
/// let remote = s3sqlite_testkit::memory_remote("app.db");
/// assert!(remote.to_string().starts_with("memory:///"));
/// assert!(remote.to_string().ends_with("/app.db"));
/// ```
pub fn memory_remote(key: &str) -> ObjectStoreRemote {
    let url = format!("memory:///{}/{key}", unique_name("testkit"));
    ObjectStoreRemote::from_url(&url).expect("memory URLs with a key are valid")
}

/// A temp folder holding `file://` remotes, removed on drop.
///
/// ```
/// let dir = s3sqlite_testkit::dir_remote()?;
/// let remote = dir.remote("app.db")?;
/// assert_eq!(remote.to_string(), dir.url("app.db"));
/// # Ok::<(), s3sqlite_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct DirRemote {
    dir: TempDir,
}

/// A fresh [`DirRemote`].
///
/// # Errors
///
/// [`Error::Io`](crate::Error::Io) when the temp folder cannot be made.
pub fn dir_remote() -> Result<DirRemote> {
    let dir = tempfile::Builder::new()
        .prefix("s3sqlite-remote-")
        .tempdir()
        .map_err(|e| crate::Error::io("create temp folder in", std::env::temp_dir(), e))?;
    Ok(DirRemote { dir })
}

impl DirRemote {
    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `file://` URL of the database `name` in the folder.
    pub fn url(&self, name: &str) -> String {
        format!("file://{}/{name}", self.dir.path().display())
    }

    /// The remote for the database `name` in the folder.
    ///
    /// # Errors
    ///
    /// As [`ObjectStoreRemote::from_url`].
    pub fn remote(&self, name: &str) -> Result<ObjectStoreRemote> {
        Ok(ObjectStoreRemote::from_url(&self.url(name))?)
    }
}
