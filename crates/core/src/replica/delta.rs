//! A replica's downloads of what changed: from its local copy, or the live
//! database's committed content, into a temp file beside it.

use std::path::Path;
use std::time::Instant;

use super::download::Attempt;
use super::local;
use super::{Replica, base};
use crate::Result;
use crate::delta::download_changed;
use crate::manifest::Manifest;
use crate::version::RemoteVersion;

impl Replica {
    /// A download of `version` made from a copy of the file at `from` (the
    /// local copy, or the live database's committed content) and the
    /// ranges that changed since, as [`download_changed`] makes it; `None`
    /// when the version is to be downloaded whole.
    pub(super) async fn attempt_delta(
        &self,
        version: &RemoteVersion,
        from: &Path,
    ) -> Result<Option<Attempt>> {
        let asked = Instant::now();
        local::check_free_space(&self.path, &self.url, version.size)?;
        let temp = self.temp_file("download")?;
        let have = || self.manifest_of_source(from);
        let made = download_changed(
            &*self.remote,
            version,
            from,
            have,
            temp.path(),
            &self.options.transfer,
        )
        .await?;
        Ok(made.map(|(result, delta)| Attempt {
            temp,
            result,
            took: asked.elapsed(),
            delta: Some(delta),
        }))
    }

    /// The manifest of the file at `from`: the one kept for the base when
    /// `from` is the local copy and its record says it is clean, or the
    /// base copy; else computed by hashing it. A file that does not hold
    /// what its manifest says only makes a download whose check fails, and
    /// that is then made whole.
    fn manifest_of_source(&self, from: &Path) -> Result<Option<Manifest>> {
        if let Some(state) = &self.state
            && let Some(hash) = state.base_hash
        {
            let vouched = if from == self.path {
                match &state.fingerprint {
                    Some(fingerprint) => fingerprint.trusted_for(from)?,
                    None => false,
                }
            } else {
                from == base::path_for(&self.path, hash)
            };
            if vouched && let Some(kept) = self.local_manifest(hash)? {
                return Ok(Some(kept));
            }
        }
        let (_, manifest) = Manifest::hash_file(from)?;
        Ok(manifest)
    }
}
