//! Patching the local copy in place: a clean copy with no connection open
//! brought to a newer version by writing only the ranges that changed into
//! it, so that catching up costs local work in proportion to the change,
//! not to the file.
//!
//! The changed ranges are fetched into a sparse temp file and every leaf
//! of them is checked against the version's manifest before the local
//! copy is touched; the unchanged leaves are the base's, which the copy's
//! record vouches for (its fingerprint, as for a warm open). The state
//! file announces the patch first: a crash mid-way leaves a file that the
//! next open either recognises as the new version or discards, since it
//! held nothing of its own.

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use super::local::{self, journal_pending};
use super::{Outcome, Replica};
use crate::delta::stored_manifest;
use crate::files::{read_at, write_at};
use crate::manifest::{Manifest, total_len};
use crate::remote::observed;
use crate::report::SyncAction;
use crate::version::RemoteVersion;
use crate::{Error, ErrorChain, Result};

/// A patch in place fetches at most this share of the file (1/8); more
/// goes through a copy of the file.
const IN_PLACE_SHARE: u64 = 8;

/// How much of a range is copied from the patch into the local copy at a
/// time: the memory a patch holds, whatever the range's size.
const COPY_SIZE: u64 = 1 << 20;

impl Replica {
    /// Brings the local copy to `version` by writing the ranges that changed
    /// into it; `None`, with the local copy untouched, when that cannot be
    /// done here: a copy its record does not vouch for without a read, no
    /// manifest of the base kept or of the version stored, a change too
    /// large, a fetch that failed or a fetched leaf that does not match.
    pub(super) async fn patch_in_place(
        &mut self,
        version: &RemoteVersion,
    ) -> Result<Option<Outcome>> {
        let Some(state) = &self.state else {
            return Ok(None);
        };
        let (Some(base_hash), Some(fingerprint)) = (state.base_hash, &state.fingerprint) else {
            return Ok(None);
        };
        if !fingerprint.trusted_for(&self.path)? || journal_pending(&self.path)? {
            return Ok(None);
        }
        let Some(have) = self.local_manifest(base_hash)? else {
            return Ok(None);
        };
        let started = Instant::now();
        let Some((wanted, hash, stored)) = stored_manifest(&*self.remote, version).await else {
            return Ok(None);
        };
        let Some(ranges) = wanted.changed_since(&have) else {
            return Ok(None);
        };
        let fetched = total_len(&ranges);
        if fetched > version.size / IN_PLACE_SHARE {
            return Ok(None);
        }
        local::check_free_space(&self.path, &self.url, fetched)?;
        let temp = self.temp_file("patch")?;
        let transfer = &self.options.transfer;
        let written = observed::download_ranges(
            &*self.remote,
            temp.path(),
            version,
            &ranges,
            fetched,
            transfer,
        )
        .await;
        match written {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(None),
            Err(err) => {
                tracing::debug!(error = %ErrorChain::new(&err), "the changed ranges could not be fetched: downloading otherwise");
                return Ok(None);
            }
        }
        if !holds_leaves(temp.path(), &ranges, &wanted)? {
            tracing::warn!(url = %self.url, version = %version, "fetched ranges do not match the version's manifest: downloading otherwise");
            return Ok(None);
        }
        self.announce_patch(version.clone(), hash)?;
        if let Err(err) = self.write_patch(temp.path(), &ranges, version.size) {
            // half written: the copy had nothing of its own, so it goes
            self.discard_torn_patch()?;
            return Err(err);
        }
        self.write_base_copy(&self.path.clone(), hash)?;
        self.record(Some(version.clone()), Some(hash))?;
        self.keep_local_manifest(Some(&wanted))?;
        self.pace.observe(fetched, started.elapsed());
        Ok(Some(Outcome {
            down: stored + fetched,
            ranges: ranges.len() as u64,
            ..Outcome::new(SyncAction::Downloaded)
        }))
    }

    /// Writes `ranges` of the file at `patch` into the local copy at the
    /// same offsets, sized to `len`, and flushes it.
    fn write_patch(&self, patch: &Path, ranges: &[Range<u64>], len: u64) -> Result<()> {
        self.remove_side_files()?;
        let source = File::open(patch).map_err(|e| Error::io("open", patch, e))?;
        let local = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| Error::io("open", &self.path, e))?;
        local
            .set_len(len)
            .map_err(|e| Error::io("size", &self.path, e))?;
        let mut buffer = Vec::new();
        for range in ranges {
            let mut at = range.start;
            while at < range.end {
                let end = (at + COPY_SIZE).min(range.end);
                buffer.resize((end - at) as usize, 0);
                read_at(&source, &mut buffer, at).map_err(|e| Error::io("read", patch, e))?;
                write_at(&local, &buffer, at).map_err(|e| Error::io("write", &self.path, e))?;
                at = end;
            }
        }
        local
            .sync_all()
            .map_err(|e| Error::io("fsync", &self.path, e))
    }
}

/// Whether every leaf that `ranges` of the file at `path` cover holds what
/// `manifest` says.
fn holds_leaves(path: &Path, ranges: &[Range<u64>], manifest: &Manifest) -> Result<bool> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let leaf = manifest.leaf();
    let mut buffer = Vec::new();
    for range in ranges {
        let mut at = range.start;
        while at < range.end {
            let end = (at + leaf).min(range.end);
            buffer.resize((end - at) as usize, 0);
            read_at(&file, &mut buffer, at).map_err(|e| Error::io("read", path, e))?;
            if !manifest.leaf_holds(at / leaf, &buffer) {
                return Ok(false);
            }
            at = end;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetched_leaves_are_checked_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..(5u32 << 20)).map(|i| (i * 7 + i / 999) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let (_, manifest) = crate::manifest::hash_bytes(&bytes);
        let manifest = manifest.unwrap();
        let leaf = manifest.leaf();
        let ranges = [0..2 * leaf, 10 * leaf..11 * leaf, (5 << 20) - leaf..5 << 20];
        assert!(holds_leaves(&path, &ranges, &manifest).unwrap());
        let mut damaged = bytes.clone();
        damaged[(10 * leaf + 5) as usize] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        assert!(!holds_leaves(&path, &ranges, &manifest).unwrap());
        assert!(holds_leaves(&path, &ranges[..1], &manifest).unwrap());
    }
}
