//! Download attempts: a version fetched into a temp file, verified, and
//! installed as the local copy; restarted when the remote moves under it.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, Instant};

use super::base;
use super::live::LiveReplace;
use super::local;
use super::state::sibling;
use super::{Outcome, Replica};
use crate::delta::Delta;
use crate::files::sync_dir;
use crate::remote::observed;
use crate::report::SyncAction;
use crate::retry::{Again, download_again};
use crate::transfer::TransferOptions;
use crate::verify::verify_download;
use crate::version::{Downloaded, RemoteVersion};
use crate::{Error, Result};

/// From this attempt on, a download that lost its version to a writer
/// mid-way is made as one GET of whatever is current, which no writer can
/// tear, instead of parts pinned to a version that may move again.
const ONE_GET_FROM_ATTEMPT: u32 = 3;

/// One download of a version into a temp file, made.
pub(super) struct Attempt {
    pub(super) temp: tempfile::NamedTempFile,
    pub(super) result: Result<Downloaded>,
    pub(super) took: Duration,
    /// Made from a local file and the ranges that changed, when it was.
    pub(super) delta: Option<Delta>,
}

impl Replica {
    /// Downloads `version` into a temp file beside the local path, checks it,
    /// and makes it the local copy; restarts when the remote changes during
    /// the download.
    pub(super) async fn fetch(&mut self, version: RemoteVersion) -> Result<Outcome> {
        let from = self.path.clone();
        self.fetch_with(version, None, Some(&from), None).await
    }

    /// [`fetch`](Self::fetch) of whatever version is current, learnt from
    /// the download itself ([`RemoteStore::download_current`]); `None` when
    /// the remote does not exist.
    pub(super) async fn fetch_current(&mut self) -> Result<Option<Outcome>> {
        match self.attempt_current(&self.options.transfer).await? {
            Some((version, first)) => self
                .fetch_with(version, None, None, Some(first))
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// One download of `version` into a temp file: of only what changed
    /// since the file at `from` where that can be made, else whole, once
    /// the free space is checked.
    async fn attempt(&self, version: &RemoteVersion, from: Option<&Path>) -> Result<Attempt> {
        if let Some(from) = from
            && let Some(made) = self.attempt_delta(version, from).await?
        {
            return Ok(made);
        }
        local::check_free_space(&self.path, &self.url, version.size)?;
        let temp = self.temp_file("download")?;
        let asked = Instant::now();
        let transfer = &self.options.transfer;
        let result = observed::download(&*self.remote, temp.path(), version, transfer).await;
        Ok(Attempt {
            temp,
            result,
            took: asked.elapsed(),
            delta: None,
        })
    }

    /// One download of whatever version is current into a temp file, in
    /// the parts `transfer` says; `None` when the remote does not exist.
    async fn attempt_current(
        &self,
        transfer: &TransferOptions,
    ) -> Result<Option<(RemoteVersion, Attempt)>> {
        let temp = self.temp_file("download")?;
        let asked = Instant::now();
        let (path, url) = (&self.path, &self.url);
        let admit = |version: &RemoteVersion| local::check_free_space(path, url, version.size);
        let current =
            observed::download_current(&*self.remote, temp.path(), transfer, &admit).await?;
        Ok(current.map(|(version, result)| {
            let attempt = Attempt {
                temp,
                result,
                took: asked.elapsed(),
                delta: None,
            };
            (version, attempt)
        }))
    }

    /// [`fetch`](Self::fetch), or, with `live`, writing the download into the
    /// open database through `live` instead of renaming it into place.
    /// `from` is a file whose unchanged ranges the download may copy (the
    /// local copy, or the live database's content); `first` is a first
    /// attempt already made at `version`.
    pub(super) async fn fetch_with(
        &mut self,
        mut version: RemoteVersion,
        live: Option<&dyn LiveReplace>,
        from: Option<&Path>,
        mut first: Option<Attempt>,
    ) -> Result<Outcome> {
        if live.is_none()
            && first.is_none()
            && from == Some(self.path.as_path())
            && let Some(outcome) = self.patch_in_place(&version).await?
        {
            return Ok(outcome);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Attempt {
                temp,
                result,
                took,
                delta,
            } = match first.take() {
                Some(made) => made,
                None => self.attempt(&version, from).await?,
            };
            match result {
                Ok(downloaded) => {
                    let moved = delta.as_ref().map_or(downloaded.size, |d| d.bytes);
                    self.pace.observe(moved, took);
                    return self
                        .take_download(temp, version, &downloaded, delta, live)
                        .await;
                }
                Err(err) => {
                    let Some((again, pause)) = download_again(&err, attempt) else {
                        return Err(err);
                    };
                    tracing::info!(error = %err, attempt, "download failed, starting it again");
                    tokio::time::sleep(pause).await;
                    if again == Again::Interrupted {
                        continue;
                    }
                    // a pinned version never moves: only a current one
                    // may be fetched as one GET of whatever is current
                    if attempt < ONE_GET_FROM_ATTEMPT - 1 || self.options.version.is_some() {
                        match self.target().await? {
                            Some(latest) => version = latest,
                            None => return Err(err),
                        }
                    } else {
                        // a writer that keeps moving the remote between the
                        // parts cannot tear one GET: it is one version
                        let one_get = self
                            .options
                            .transfer
                            .clone()
                            .with_part_size(u64::MAX)
                            .with_parallelism(1);
                        match self.attempt_current(&one_get).await? {
                            Some((latest, made)) => {
                                version = latest;
                                first = Some(made);
                            }
                            None => return Err(err),
                        }
                    }
                }
            }
        }
    }

    /// Checks the download of `version` in `temp` and makes it the local
    /// copy (or, with `live`, writes it into the open database).
    async fn take_download(
        &mut self,
        temp: tempfile::NamedTempFile,
        version: RemoteVersion,
        downloaded: &Downloaded,
        delta: Option<Delta>,
        live: Option<&dyn LiveReplace>,
    ) -> Result<Outcome> {
        let hash = verify_download(&self.url, temp.path(), &version, downloaded)?;
        let outcome = Outcome {
            down: delta.as_ref().map_or(downloaded.size, |d| d.bytes),
            ranges: delta.as_ref().map_or(0, |d| d.ranges),
            ..Outcome::new(SyncAction::Downloaded)
        };
        let manifest = delta
            .map(|d| d.manifest)
            .or_else(|| downloaded.manifest.clone());
        if let Some(replace) = live {
            replace.replace(temp.path()).await?;
            // the download itself becomes the base copy: renamed, not copied
            let temp_path = temp.into_temp_path();
            let content = if self.keeps_base() {
                base::adopt(&self.path, &temp_path, hash)?;
                base::path_for(&self.path, hash)
            } else {
                temp_path.to_path_buf()
            };
            // kept first: the live record may find a rewritten header and
            // keep the local file's own manifest instead
            self.keep_local_manifest(manifest.as_ref())?;
            self.record_live(version, hash, &content)?;
            return Ok(outcome);
        }
        // announced first: a crash between the rename and the record leaves
        // a copy the next open recognises
        self.announce_install(version.clone(), hash, None)?;
        self.write_base_copy(temp.path(), hash)?;
        let temp_path = temp.into_temp_path();
        self.install(&temp_path)?;
        temp_path
            .keep()
            .map_err(|e| Error::io("keep", &self.path, e.error))?;
        self.record(Some(version), Some(hash))?;
        self.keep_local_manifest(manifest.as_ref())?;
        Ok(outcome)
    }

    /// Makes a copy of the file at `src`, which may be on another file
    /// system, the local copy: copied to a temp file beside it, fsynced, and
    /// installed.
    pub(super) fn install_copy(&self, src: &Path) -> Result<()> {
        let temp = self.temp_file("merged")?;
        let mut input = File::open(src).map_err(|e| Error::io("open", src, e))?;
        let mut output = temp.as_file();
        std::io::copy(&mut input, &mut output).map_err(|e| Error::io("copy", src, e))?;
        output
            .sync_all()
            .map_err(|e| Error::io("fsync", temp.path(), e))?;
        let temp_path = temp.into_temp_path();
        self.install(&temp_path)?;
        temp_path
            .keep()
            .map_err(|e| Error::io("keep", &self.path, e.error))?;
        Ok(())
    }

    /// Makes the file at `src` the local copy: stale `-wal`, `-shm` and
    /// `-journal` files go first (SQLite would apply them to the new file),
    /// then a rename and a folder fsync.
    pub(super) fn install(&self, src: &Path) -> Result<()> {
        self.remove_side_files()?;
        fs::rename(src, &self.path).map_err(|e| Error::io("rename into", &self.path, e))?;
        sync_dir(self.path.parent().expect("local paths have a parent"))
    }

    /// Removes the local copy's `-wal`, `-shm` and `-journal` files before
    /// its content is replaced: SQLite would apply them to the new file.
    pub(super) fn remove_side_files(&self) -> Result<()> {
        for suffix in ["-wal", "-shm", "-journal"] {
            let stale = sibling(&self.path, suffix);
            match fs::remove_file(&stale) {
                Ok(()) => tracing::debug!(path = %stale.display(), "removed stale file"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", stale, e)),
            }
        }
        Ok(())
    }
}
