//! A replica's downloads of what changed: from its local copy, or the live
//! database's committed content, into a temp file beside it.

use std::path::Path;
use std::time::Instant;

use super::Replica;
use super::download::Attempt;
use super::local;
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
