//! Opening a replica: the local path locked, the state read, and the open
//! rules that reconcile the local copy with the remote.

use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::deadline::Pace;
use super::live::Source;
use super::local::{HeldLock, LocalFiles, remove_leftovers};
use super::record::Local;
use super::state::{State, state_path};
use super::{Outcome, Replica, ReplicaOptions};
use crate::hash::ContentHash;
use crate::incremental::IncrementalUpload;
use crate::policy::SyncPolicy;
use crate::remote::{ObjectStoreRemote, RemoteStore};
use crate::report::{SyncAction, SyncReport};
use crate::verify::check_local_header;
use crate::{Error, Result};

impl Replica {
    /// Opens the remote at `url` (see [`ObjectStoreRemote`] for the schemes).
    ///
    /// # Errors
    ///
    /// As [`ObjectStoreRemote::from_url`] and [`Replica::open`].
    pub async fn open_url(url: &str, options: ReplicaOptions) -> Result<Self> {
        Self::open(ObjectStoreRemote::from_url(url)?, options).await
    }

    /// Opens a replica of `remote`: locks the local path, then downloads the
    /// remote copy, reuses the local one, or starts empty, by the rules of
    /// the local and remote state (see the crate docs).
    ///
    /// # Errors
    ///
    /// - [`Error::LocalInUse`] when another replica holds the local path;
    ///   [`Error::LocalHeldByThisProcess`] when that replica is one of this
    ///   process that is still open (say, a pool whose close failed);
    /// - [`Error::NotAFile`], [`Error::Io`] for an unusable local path;
    /// - [`Error::UntrackedLocal`] when a file s3sqlite does not track is in
    ///   the way and the remote exists;
    /// - [`Error::RemoteNotFound`], [`Error::RemoteDeleted`],
    ///   [`Error::BucketNotFound`] for a missing remote;
    /// - [`Error::NotSqlite`], [`Error::Truncated`] for a bad download;
    /// - [`Error::Conflict`] when both sides changed and the policy aborts.
    ///
    /// On error, the local file and the remote object are as they were.
    pub async fn open(remote: impl RemoteStore, options: ReplicaOptions) -> Result<Self> {
        let remote: Arc<dyn RemoteStore> = Arc::new(remote);
        let url = remote.to_string();
        let path = options.resolve_local_path(&url);
        let span = tracing::info_span!("s3sqlite.open", url = %url, path = %path.display());
        async move {
            let started = Instant::now();
            let files = LocalFiles::lock(&path)?;
            let lock = files.lock_file()?;
            match Self::open_locked(remote, url, path, options, lock, started).await {
                Ok(replica) => Ok(replica),
                Err(err) => {
                    // the failed open takes back the lock file and folders
                    // it made, while it still holds the lock
                    files.undo();
                    Err(err)
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The rest of [`open`](Self::open), once the local path is locked.
    async fn open_locked(
        remote: Arc<dyn RemoteStore>,
        url: String,
        path: PathBuf,
        options: ReplicaOptions,
        lock: HeldLock,
        started: Instant,
    ) -> Result<Self> {
        remove_leftovers(&path)?;
        if let Some(recover) = &options.recovery
            && path.is_file()
        {
            recover(&path)?;
        }
        let mut replica = Self::with_state(remote, url, path, options, lock)?;
        if !replica.options.is_read_only() {
            replica.abort_left_uploads().await;
        }
        let policy = Arc::clone(&replica.options.policy);
        let outcome = replica.reconcile(policy).await?;
        replica.opened = replica.report(outcome, started);
        tracing::info!(report = %replica.opened, "opened");
        Ok(replica)
    }

    /// A replica at `path` with its state file read, not yet reconciled
    /// with the remote; `lock` is the path's lock, held.
    ///
    /// # Errors
    ///
    /// [`Error::TrackedElsewhere`] when the state names another URL; as
    /// `State::load`.
    pub(super) fn with_state(
        remote: Arc<dyn RemoteStore>,
        url: String,
        path: PathBuf,
        options: ReplicaOptions,
        lock: HeldLock,
    ) -> Result<Self> {
        let state_path = state_path(&path);
        let state = State::load(&state_path)?;
        let mut options = options;
        if options.incremental.is_none() {
            options.incremental = Some(IncrementalUpload::from_env(&url)?);
        }
        if let Some(state) = &state
            && state.url != url
        {
            return Err(Error::TrackedElsewhere {
                path,
                tracked: state.url.clone(),
                url,
            });
        }
        Ok(Replica {
            remote,
            url,
            path,
            state_path,
            state,
            options,
            hashed: Default::default(),
            opened: SyncReport {
                action: SyncAction::Reused,
                bytes_down: 0,
                bytes_up: 0,
                ranges_fetched: 0,
                parts_sent: 0,
                parts_copied: 0,
                duration: Default::default(),
                version: None,
                dirty: false,
            },
            pace: Pace::default(),
            _lock: lock,
        })
    }

    /// The open and pull rules.
    pub(super) async fn reconcile(&mut self, policy: Arc<dyn SyncPolicy>) -> Result<Outcome> {
        self.discard_torn_patch()?;
        let local_exists = match fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.is_dir() => {
                return Err(Error::NotAFile {
                    path: self.path.clone(),
                });
            }
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io("read metadata of", &self.path, e)),
        };
        if !local_exists {
            // nothing local to compare: the download itself says which
            // version is current
            let fetched = match self.options.version {
                Some(_) => match self.target().await? {
                    Some(version) => Some(self.fetch_with(version, None, None, None).await?),
                    None => None,
                },
                None => self.fetch_current().await?,
            };
            return match fetched {
                Some(outcome) => Ok(outcome),
                None if self.options.create_if_missing && !self.options.is_read_only() => {
                    File::create(&self.path).map_err(|e| Error::io("create", &self.path, e))?;
                    self.record(None, Some(ContentHash::of_bytes(&[])))?;
                    Ok(Outcome::new(SyncAction::Created))
                }
                None => Err(Error::RemoteNotFound {
                    url: self.url.clone(),
                }),
            };
        }
        let current = self.target().await?;
        if self.state.is_none() {
            return match current {
                None if self.options.is_read_only() => Err(Error::RemoteNotFound {
                    url: self.url.clone(),
                }),
                None => {
                    check_local_header(&self.path)?;
                    self.record(None, None)?;
                    Ok(Outcome::new(SyncAction::Adopted).dirty())
                }
                Some(current) if self.options.replace_untracked => self.fetch(current).await,
                Some(_) => Err(Error::UntrackedLocal {
                    path: self.path.clone(),
                    url: self.url.clone(),
                }),
            };
        }
        self.finish_interrupted_install()?;
        let local = self.local()?;
        if self.at_base(current.as_ref()) {
            let outcome = Outcome::new(SyncAction::Reused);
            return Ok(match local {
                Local::Clean => outcome,
                Local::Dirty(_) => outcome.dirty(),
            });
        }
        match (local, current) {
            (_, None) => Err(self.remote_deleted()),
            (Local::Clean, Some(current)) => self.fetch(current).await,
            (Local::Dirty(hash), current) => {
                let source = Source::closed(&self.path);
                self.upload_dirty(hash, Some(current), source, policy).await
            }
        }
    }
}
