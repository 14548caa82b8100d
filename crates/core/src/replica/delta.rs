//! Downloads of what changed: a copy of a local file brought to a newer
//! version by fetching only the ranges its manifest says differ, then
//! verified whole against the version's stamp.

use std::fs;
use std::path::Path;
use std::time::Instant;

use super::Replica;
use super::download::{Attempt, Delta};
use super::local;
use crate::hash::ContentHash;
use crate::manifest::{MIN_LEN, Manifest};
use crate::version::{Downloaded, RemoteVersion};
use crate::{Error, ErrorChain, Result};

impl Replica {
    /// A download of `version` made from a copy of the file at `from`
    /// (the local copy, or the live database's committed content) and the
    /// ranges that changed since; `None` when it cannot be made or would
    /// not pay, and the version is to be downloaded whole: no manifest
    /// that verifies (a version another tool wrote, or a remote that keeps
    /// none), a remote that cannot read ranges, more than half the file
    /// changed, or a result that does not hash to the version's stamp.
    pub(super) async fn attempt_delta(
        &self,
        version: &RemoteVersion,
        from: &Path,
    ) -> Result<Option<Attempt>> {
        let Some(stamp) = &version.stamp else {
            return Ok(None);
        };
        if version.size < MIN_LEN || stamp.size != version.size || !from.is_file() {
            return Ok(None);
        }
        let asked = Instant::now();
        let hash = stamp.content_hash;
        let encoded = match self.remote.get_manifest(&hash).await {
            Ok(Some(encoded)) => encoded,
            Ok(None) => return Ok(None),
            Err(err) => {
                tracing::warn!(url = %self.url, error = %ErrorChain::new(&err), "could not read the manifest: downloading the whole version");
                return Ok(None);
            }
        };
        let Some(wanted) = Manifest::decode(&encoded, hash) else {
            tracing::warn!(url = %self.url, %hash, "the manifest does not match the version's stamp: downloading the whole version");
            return Ok(None);
        };
        let Some(have) = self.manifest_of_source(from)? else {
            return Ok(None);
        };
        let Some(ranges) = wanted.changed_since(&have) else {
            return Ok(None);
        };
        let fetched: u64 = ranges.iter().map(|r| r.end - r.start).sum();
        if fetched > version.size / 2 {
            return Ok(None);
        }
        local::check_free_space(&self.path, &self.url, version.size)?;
        let temp = self.temp_file("download")?;
        // a reflink where the file system makes one (copy_file_range)
        fs::copy(from, temp.path()).map_err(|e| Error::io("copy", from, e))?;
        let transfer = &self.options.transfer;
        let written = crate::remote::observed::download_ranges(
            &*self.remote,
            temp.path(),
            version,
            &ranges,
            fetched,
            transfer,
        )
        .await;
        let result = match written {
            Ok(None) => return Ok(None),
            Ok(Some(_)) => {
                // the copy may have been written to while it was made: the
                // whole result is checked, not only the ranges fetched
                if ContentHash::of_file(temp.path())? != hash {
                    tracing::warn!(url = %self.url, version = %version, "the file made from the changed ranges does not hash to the version's stamp: downloading the whole version");
                    return Ok(None);
                }
                Ok(Downloaded::new(version.size).with_hash(hash))
            }
            Err(err) => Err(err),
        };
        Ok(Some(Attempt {
            temp,
            result,
            took: asked.elapsed(),
            delta: Some(Delta {
                bytes: encoded.len() as u64 + fetched,
                ranges: ranges.len() as u64,
                manifest: wanted,
            }),
        }))
    }

    /// The manifest of the file at `from`: the one kept for the base when
    /// `from` is the local copy and its record says it is clean, else
    /// computed by hashing it.
    fn manifest_of_source(&self, from: &Path) -> Result<Option<Manifest>> {
        if from == self.path
            && let Some(state) = &self.state
            && let Some(hash) = state.base_hash
            && let Some(fingerprint) = &state.fingerprint
            && fingerprint.trusted_for(from)?
            && let Some(kept) = self.local_manifest(hash)?
        {
            return Ok(Some(kept));
        }
        let (_, manifest) = Manifest::hash_file(from)?;
        Ok(manifest)
    }
}
