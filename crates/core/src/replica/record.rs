//! The record of the local copy: every change to the state file, and the
//! checks of the local copy against it.

use std::path::Path;

use super::local::journal_pending;
use super::state::{Fingerprint, Installing, State};
use super::{Replica, base};
use crate::Result;
use crate::hash::ContentHash;
use crate::version::{RemoteVersion, Stamp};

/// How many unrecorded uploads the state file remembers.
const MAX_PENDING: usize = 8;

/// The local copy against its recorded base.
pub(super) enum Local {
    /// Same bytes as the base version.
    Clean,
    /// Changed since the base; the hash of what is there now.
    Dirty(ContentHash),
}

impl Replica {
    /// Compares the local copy with its record: the fingerprint when it can
    /// be trusted, else the content hash (refreshing the fingerprint when the
    /// hash says clean).
    pub(super) fn local(&mut self) -> Result<Local> {
        if journal_pending(&self.path)? {
            // changes SQLite has not put into the main file yet: never clean
            return Ok(Local::Dirty(self.hash_file(&self.path)?));
        }
        let Some(state) = &self.state else {
            return Ok(Local::Dirty(self.hash_file(&self.path)?));
        };
        let Some(base_hash) = state.base_hash else {
            return Ok(Local::Dirty(self.hash_file(&self.path)?));
        };
        if let Some(fp) = &state.fingerprint
            && fp.trusted_for(&self.path)?
        {
            return Ok(Local::Clean);
        }
        let hash = self.hash_file(&self.path)?;
        if hash != base_hash {
            // a follower's restores leave the header's bookkeeping rewritten
            // (see `record_live`): the same data, so clean
            if self.options.is_read_only() && self.absorb_header_rewrite()? {
                return Ok(Local::Clean);
            }
            return Ok(Local::Dirty(hash));
        }
        let mut state = state.clone();
        state.fingerprint = Some(Fingerprint::of(&self.path)?);
        self.save(state)?;
        Ok(Local::Clean)
    }

    /// A download that was renamed into place but not recorded (a crash in
    /// between): if the local file holds exactly the downloaded bytes, record
    /// them; otherwise forget the announcement.
    pub(super) fn finish_interrupted_install(&mut self) -> Result<()> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        let Some(installing) = state.installing.clone() else {
            return Ok(());
        };
        if self.hash_file(&self.path)? == installing.hash {
            if let Some(base_hash) = installing.rebased_on {
                tracing::info!(version = %installing.version, "finishing an interrupted merge");
                let header = state.base_header.clone().unwrap_or_default();
                let header = match base::verified(&self.path, base_hash)? {
                    Some(copy) => crate::verify::read_header(&copy)?,
                    None => header,
                };
                return self.record_rebase(installing.version, base_hash, header);
            }
            tracing::info!(version = %installing.version, "finishing an interrupted download");
            let mut state = State::new(&self.url, Some(installing.version), Some(installing.hash));
            state.fingerprint = Some(Fingerprint::of(&self.path)?);
            state.pending = self.pending().to_vec();
            state.base_copy = self.base_copy_for(state.base.as_ref(), Some(installing.hash));
            self.save(state)
        } else {
            let mut state = state.clone();
            state.installing = None;
            self.save(state)
        }
    }

    pub(super) fn save(&mut self, mut state: State) -> Result<()> {
        if let Some(old) = &self.state {
            let moved = match (&old.base, &state.base) {
                (Some(was), Some(now)) => !was.same_object(now),
                (was, now) => was.is_some() != now.is_some(),
            };
            state.retired = if moved {
                old.base
                    .as_ref()
                    .and_then(|b| b.stamp.as_ref())
                    .map(|s| s.content_hash)
            } else {
                state.retired.or(old.retired)
            };
        }
        state.store(&self.state_path)?;
        let copy_changed = self.state.as_ref().and_then(|s| s.base_copy) != state.base_copy;
        let keep = state.base_copy;
        self.state = Some(state);
        if copy_changed {
            // the state no longer names them: older base copies go
            base::remove_others(&self.path, keep)?;
        }
        Ok(())
    }

    /// Whether this replica keeps a base copy.
    pub(super) fn keeps_base(&self) -> bool {
        self.options.keeps_base()
    }

    /// The base copy to record for content `hash` at a base version: `hash`
    /// when a copy is kept and one was written for it.
    fn base_copy_for(
        &self,
        base: Option<&RemoteVersion>,
        hash: Option<ContentHash>,
    ) -> Option<ContentHash> {
        let hash = hash.filter(|_| base.is_some() && self.keeps_base())?;
        base::exists(&self.path, hash).then_some(hash)
    }

    /// Writes the base copy of `src` (content `hash`), when one is kept.
    pub(super) fn write_base_copy(&self, src: &Path, hash: ContentHash) -> Result<()> {
        if self.keeps_base() {
            base::write(&self.path, src, hash)?;
        }
        Ok(())
    }

    /// Records that the local file now holds `base` with hash `hash`. Called
    /// only right after the engine wrote or uploaded the file, while nothing
    /// else writes it, so its fingerprint can be settled at once and the next
    /// open needs no read of the file.
    pub(super) fn record(
        &mut self,
        base: Option<RemoteVersion>,
        hash: Option<ContentHash>,
    ) -> Result<()> {
        let mut state = State::new(&self.url, base, hash);
        state.fingerprint = Some(Fingerprint::settle(&self.path)?);
        state.base_header = Some(crate::verify::read_header(&self.path)?);
        state.base_copy = self.base_copy_for(state.base.as_ref(), hash);
        self.save(state)
    }

    /// Announces, before the local file is replaced, that it is about to
    /// hold `version` with content `hash` (`rebased_on`: a merge rebased
    /// onto that version, whose content the base copy holds, with this
    /// hash): a crash between the rename and the record leaves a copy the
    /// next open recognises (see `finish_interrupted_install`).
    pub(super) fn announce_install(
        &mut self,
        version: RemoteVersion,
        hash: ContentHash,
        rebased_on: Option<ContentHash>,
    ) -> Result<()> {
        self.announce_installing(Installing {
            version,
            hash,
            rebased_on,
            in_place: false,
        })
    }

    /// Announces, before a clean local copy is patched in place, that it is
    /// about to hold `version` with content `hash`: a crash mid-way leaves
    /// a file the next open either recognises or discards
    /// (see `discard_torn_patch`).
    pub(super) fn announce_patch(
        &mut self,
        version: RemoteVersion,
        hash: ContentHash,
    ) -> Result<()> {
        self.announce_installing(Installing {
            version,
            hash,
            rebased_on: None,
            in_place: true,
        })
    }

    /// Records `installing` in the state, the rest of it as it was.
    fn announce_installing(&mut self, installing: Installing) -> Result<()> {
        let mut state = self
            .state
            .clone()
            .unwrap_or_else(|| State::new(&self.url, None, None));
        state.installing = Some(installing);
        self.save(state)
    }

    /// A patch in place that a crash or a failure interrupted: when the
    /// local file does not hold the announced content, it holds half of
    /// two versions and nothing of its own (it was clean when the patch
    /// began), so it goes, with its side files and its state, and the open
    /// starts from nothing. Returns whether it went.
    pub(super) fn discard_torn_patch(&mut self) -> Result<bool> {
        let Some(installing) = self.state.as_ref().and_then(|s| s.installing.clone()) else {
            return Ok(false);
        };
        if !installing.in_place
            || !self.path.is_file()
            || ContentHash::of_file(&self.path)? == installing.hash
        {
            return Ok(false);
        }
        tracing::warn!(path = %self.path.display(), version = %installing.version, "the local copy was left half patched: discarding it (it had no changes of its own)");
        self.remove_side_files()?;
        crate::files::remove_file_if_exists(&self.path)?;
        crate::files::remove_file_if_exists(&self.state_path)?;
        self.state = None;
        Ok(true)
    }

    /// Records that an earlier upload of ours, of content `landed`, is the
    /// remote's `version`, while the local copy changed again since: the
    /// base moves to that version and the local changes stay to be
    /// uploaded on its condition.
    pub(super) fn record_landed(
        &mut self,
        version: RemoteVersion,
        landed: ContentHash,
    ) -> Result<()> {
        let mut state = State::new(&self.url, Some(version), Some(landed));
        state.pending = self.pending().to_vec();
        self.save(state)
    }

    /// Records that the local copy is a merge rebased onto `version`, whose
    /// content (hash `hash`, header `header`) the base copy holds: a local
    /// change on top of that version, to be uploaded.
    pub(super) fn record_rebase(
        &mut self,
        version: RemoteVersion,
        hash: ContentHash,
        header: Vec<u8>,
    ) -> Result<()> {
        let mut state = State::new(&self.url, Some(version), Some(hash));
        state.base_header = Some(header);
        state.pending = self.pending().to_vec();
        state.base_copy = self.base_copy_for(state.base.as_ref(), Some(hash));
        self.save(state)
    }

    /// For adapters: when SQLite rewrote only bookkeeping fields of the
    /// local copy's header since the last sync (switching to WAL mode sets
    /// the file format bytes at offsets 18–19 and bumps the change counter;
    /// see SQLite's file format, section 1.3), records the copy as clean,
    /// since it holds the same data as its base, and returns `true`. Then a
    /// session that only reads uploads nothing, whatever journal mode the
    /// remote file was in. Anything else, a data change included, returns
    /// `false` and changes nothing.
    ///
    /// Reads only the header when it is unchanged; hashes the file when it
    /// is not. Call it while nothing writes the main file (no checkpoint
    /// either): the record it makes is trusted from then on without another
    /// read, so that the warm opens and unchanged syncs after it stay free of
    /// reads of the file, however soon they come.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the local file cannot be read or the state written.
    pub fn absorb_header_rewrite(&mut self) -> Result<bool> {
        use crate::verify::{HEADER_LEN, is_bookkeeping};
        let Some(state) = &self.state else {
            return Ok(false);
        };
        let (Some(base), Some(base_hash), Some(was)) =
            (&state.base, state.base_hash, &state.base_header)
        else {
            return Ok(false);
        };
        let now = crate::verify::read_header(&self.path)?;
        if now == *was || now.len() != HEADER_LEN || was.len() != HEADER_LEN {
            return Ok(false);
        }
        if (0..HEADER_LEN).any(|i| now[i] != was[i] && !is_bookkeeping(i)) {
            return Ok(false);
        }
        if journal_pending(&self.path)? {
            return Ok(false);
        }
        let Some(map) = crate::mmap::map_file(&self.path)? else {
            return Ok(false);
        };
        if map.len() as u64 != base.size || map[..HEADER_LEN] != now[..] {
            return Ok(false);
        }
        let mut at_base = blake3::Hasher::new();
        at_base.update(was);
        at_base.update(&map[HEADER_LEN..]);
        if ContentHash::from_hasher(&at_base) != base_hash {
            return Ok(false);
        }
        let (hash, manifest) = crate::manifest::hash_bytes(&map);
        drop(map);
        self.keep_local_manifest(manifest.as_ref())?;
        self.remember(manifest);
        tracing::debug!(path = %self.path.display(), "only the database header was rewritten: still clean");
        let mut state = state.clone();
        state.base_hash = Some(hash);
        state.base_header = Some(now);
        state.fingerprint = Some(Fingerprint::settle(&self.path)?);
        self.save(state)?;
        Ok(true)
    }

    /// Records that the live database holds the content of `version` (hash
    /// `hash`, the bytes of the file `content`) while its main file may not
    /// hold those bytes yet: no fingerprint, so the next check hashes the
    /// file. A main file that holds the same data under a header its journal
    /// mode rewrote (a WAL database restored from a rollback-journal file)
    /// is recorded as clean at once; a read-only replica's, whose syncs
    /// never read it, only when it is next checked (see `local`).
    pub(super) fn record_live(
        &mut self,
        version: RemoteVersion,
        hash: ContentHash,
        content: &Path,
    ) -> Result<()> {
        let mut state = State::new(&self.url, Some(version), Some(hash));
        state.base_header = Some(crate::verify::read_header(content)?);
        state.base_copy = self.base_copy_for(state.base.as_ref(), Some(hash));
        self.save(state)?;
        if !self.options.is_read_only() {
            self.absorb_header_rewrite()?;
        }
        Ok(())
    }

    pub(super) fn pending(&self) -> &[Stamp] {
        self.state.as_ref().map_or(&[], |s| s.pending.as_slice())
    }

    /// The stamp we announced for the upload whose id `version` carries, if
    /// it is one of ours whose record was lost: landed whole when
    /// [`Stamp::landed_as`] says so, torn otherwise.
    pub(super) fn our_stamp(&self, version: &RemoteVersion) -> Option<Stamp> {
        let theirs = version.stamp.as_ref()?;
        self.pending()
            .iter()
            .find(|p| p.upload_id == theirs.upload_id)
            .cloned()
    }

    /// The stamp for uploading `size` bytes of content `hash`, written to the
    /// state file before the upload starts, so that the upload is recognised
    /// as ours if it lands and the record after it does not. A retry of the
    /// same content reuses its stamp.
    pub(super) fn announce(&mut self, hash: ContentHash, size: u64) -> Result<Stamp> {
        if let Some(stamp) = self
            .pending()
            .iter()
            .find(|p| p.content_hash == hash && p.size == size)
        {
            return Ok(stamp.clone());
        }
        let stamp = Stamp::new(hash, size);
        let mut state = self
            .state
            .clone()
            .unwrap_or_else(|| State::new(&self.url, None, None));
        state.pending.push(stamp.clone());
        let excess = state.pending.len().saturating_sub(MAX_PENDING);
        state.pending.drain(..excess);
        self.save(state)?;
        Ok(stamp)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::ReplicaOptions;
    use crate::remote::{ObjectStoreRemote, RemoteStore};
    use crate::replica::state::Installing;
    use crate::report::{Status, SyncAction};
    use crate::transfer::TransferOptions;
    use crate::verify::verify_download;
    use crate::version::WriteCondition;

    async fn put(remote: &ObjectStoreRemote, bytes: &[u8], dir: &Path) -> RemoteVersion {
        let src = dir.join("src.db");
        fs::write(&src, bytes).unwrap();
        let stamp = Stamp::new(ContentHash::of_bytes(bytes), bytes.len() as u64);
        remote
            .upload(&src, &WriteCondition::Overwrite, &stamp)
            .await
            .unwrap()
    }

    fn db(marker: u8) -> Vec<u8> {
        let mut bytes = crate::verify::SQLITE_MAGIC.to_vec();
        bytes.resize(4096, marker);
        bytes
    }

    #[tokio::test]
    async fn download_renamed_but_not_recorded_is_recognised_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("memory:///unit/{}/db", std::process::id());
        let remote = ObjectStoreRemote::from_url(&url).unwrap();
        put(&remote, &db(1), dir.path()).await;
        let options = ReplicaOptions::new().with_local_path(dir.path().join("a.db"));
        let replica = Replica::open_url(&url, options.clone()).await.unwrap();
        assert_eq!(replica.opened().action, SyncAction::Downloaded);
        let mut replica = replica;

        // another writer lands v2; this replica downloads it and "crashes"
        // after the rename, before the record
        let v2 = put(&remote, &db(2), dir.path()).await;
        let temp = replica.temp_file("download").unwrap();
        let downloaded = remote
            .download(temp.path(), &v2, &TransferOptions::default())
            .await
            .unwrap();
        let hash = verify_download(&replica.url, temp.path(), &v2, &downloaded).unwrap();
        let mut state = replica.state.clone().unwrap();
        state.installing = Some(Installing {
            version: v2.clone(),
            hash,
            rebased_on: None,
            in_place: false,
        });
        replica.save(state).unwrap();
        let temp_path = temp.into_temp_path();
        replica.install(&temp_path).unwrap();
        temp_path.keep().unwrap();
        drop(replica);

        let mut replica = Replica::open_url(&url, options).await.unwrap();
        assert_eq!(replica.opened().action, SyncAction::Reused);
        assert!(!replica.opened().dirty);
        assert!(replica.base().unwrap().same_object(&v2));
        assert_eq!(replica.status().await.unwrap(), Status::Clean);
    }

    #[tokio::test]
    async fn a_patch_in_place_cut_off_mid_way_is_discarded_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("memory:///unit/{}/patched", std::process::id());
        let remote = ObjectStoreRemote::from_url(&url).unwrap();
        put(&remote, &db(1), dir.path()).await;
        let options = ReplicaOptions::new().with_local_path(dir.path().join("a.db"));
        let mut replica = Replica::open_url(&url, options.clone()).await.unwrap();

        // another writer lands v2; this replica announces a patch in place,
        // writes half of it and "crashes"
        let v2 = put(&remote, &db(2), dir.path()).await;
        replica
            .announce_patch(v2.clone(), ContentHash::of_bytes(&db(2)))
            .unwrap();
        let mut half = db(1);
        half[2048..].fill(2);
        fs::write(replica.local_path(), &half).unwrap();
        drop(replica);

        let mut replica = Replica::open_url(&url, options).await.unwrap();
        assert_eq!(replica.opened().action, SyncAction::Downloaded);
        assert!(!replica.opened().dirty, "a torn patch is no local change");
        assert_eq!(fs::read(replica.local_path()).unwrap(), db(2));
        assert_eq!(replica.status().await.unwrap(), Status::Clean);
    }
}
