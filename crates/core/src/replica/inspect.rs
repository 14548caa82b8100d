//! Inspection: where the local copy stands against the remote, with or
//! without an open replica.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::local::LocalFiles;
use super::record::Local;
use super::state::{State, state_path};
use super::{Replica, ReplicaOptions};
use crate::remote::RemoteStore;
use crate::report::{Inspection, Status};
use crate::version::RemoteVersion;
use crate::{Error, Result};

impl Replica {
    /// Says whether the local copy is clean, ahead, behind or diverged, with
    /// one HEAD request and no transfer.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] when the HEAD fails; [`Error::Io`] when the local
    /// file cannot be read.
    pub async fn status(&mut self) -> Result<Status> {
        let current = self.target().await?;
        self.status_at(current.as_ref())
    }

    /// Where the local copy stands when the remote is at `current`.
    fn status_at(&mut self, current: Option<&RemoteVersion>) -> Result<Status> {
        let local = self.local()?;
        let ours = current.and_then(|current| Some((self.our_stamp(current)?, current)));
        if let (Some((ours, current)), Local::Dirty(hash)) = (ours, &local) {
            if !ours.landed_as(current) {
                // a torn upload of ours (a store that keeps partial bodies):
                // no one else's change, the next push replaces it
                return Ok(Status::Ahead);
            }
            if *hash == ours.content_hash {
                // our own upload that landed without its record is the base
                return Ok(Status::Clean);
            }
        }
        let moved = !self.at_base(current);
        let dirty = matches!(local, Local::Dirty(_));
        Ok(match (dirty, moved) {
            (false, false) => Status::Clean,
            (true, false) => Status::Ahead,
            (false, true) => Status::Behind,
            (true, true) => Status::Diverged,
        })
    }

    /// Compares the local copy at the path `options` gives with `remote`,
    /// as [`status`](Self::status) does, without opening a replica: one HEAD
    /// request, no transfer, nothing changed on either side. Takes the local
    /// path's lock for the time it reads.
    ///
    /// A push whose upload landed but whose record did not (a crash between
    /// the two) counts as clean: the next open records it. A torn upload of
    /// ours (a push cut off on a store that keeps partial bodies) counts as
    /// ahead: the next push replaces it.
    ///
    /// # Errors
    ///
    /// [`Error::LocalInUse`] or [`Error::LocalHeldByThisProcess`] while a
    /// replica holds the path;
    /// [`Error::TrackedElsewhere`] when the local copy belongs to another
    /// URL; [`Error::Remote`] when the HEAD fails; [`Error::Io`] when the
    /// local files cannot be read.
    ///
    /// # Example
    ///
    /// ```
    /// use s3sqlite_core::{ObjectStoreRemote, Replica, ReplicaOptions, Status};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("app.db");
    /// let url = "memory:///inspect-docs/app.db";
    /// let options = ReplicaOptions::new().with_local_path(&path);
    /// let remote = || ObjectStoreRemote::from_url(url);
    /// let seen = Replica::inspect(remote()?, options.clone()).await?;
    /// assert_eq!(seen.status, None); // nothing here yet
    ///
    /// let mut replica = Replica::open(remote()?, options.clone()).await?;
    /// std::fs::write(&path, b"SQLite format 3\0").unwrap();
    /// replica.push().await?;
    /// drop(replica);
    /// let seen = Replica::inspect(remote()?, options).await?;
    /// assert_eq!(seen.status, Some(Status::Clean));
    /// # Ok::<(), s3sqlite_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn inspect(remote: impl RemoteStore, options: ReplicaOptions) -> Result<Inspection> {
        let remote: Arc<dyn RemoteStore> = Arc::new(remote);
        let url = remote.to_string();
        let path = options.resolve_local_path(&url);
        let files = LocalFiles::lock(&path)?;
        let inspected = async {
            let lock = files.lock_file()?;
            Self::with_state(remote, url, path, options, lock)?
                .inspection()
                .await
        }
        .await;
        // a path that held no replica keeps no lock file or folder of ours
        files.undo();
        inspected
    }

    /// The rest of [`inspect`](Self::inspect), on a replica that has read
    /// its state and not reconciled it.
    async fn inspection(&mut self) -> Result<Inspection> {
        let current = self.remote.head().await?;
        let file = match fs::metadata(&self.path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read metadata of", &self.path, e)),
        };
        let status = match self.state.is_some() && file.is_some() {
            true => Some(self.status_at(current.as_ref())?),
            false => None,
        };
        Ok(Inspection {
            url: self.url.clone(),
            local_path: self.path.clone(),
            status,
            base: self.base().cloned(),
            remote: current,
            local_size: file.as_ref().map(fs::Metadata::len),
            local_modified: file.and_then(|meta| meta.modified().ok()),
        })
    }

    /// The URL the local copy at `path` is a replica of, from its state
    /// file; `None` when s3sqlite does not track the path.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::CorruptState`] when the state file cannot be read.
    pub fn tracked_url(path: impl AsRef<Path>) -> Result<Option<String>> {
        Ok(State::load(&state_path(path.as_ref()))?.map(|state| state.url))
    }
}
