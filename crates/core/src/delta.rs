//! Downloads of what changed: a copy of a local file brought to a newer
//! version by fetching only the ranges the version's manifest says differ,
//! then checked whole against the version's stamp.

use std::fs;
use std::path::Path;

use crate::hash::ContentHash;
use crate::manifest::{MIN_LEN, Manifest, total_len};
use crate::remote::RemoteStore;
use crate::remote::observed;
use crate::transfer::TransferOptions;
use crate::version::{Downloaded, RemoteVersion};
use crate::{Error, ErrorChain, Result};

/// What a download of only what changed fetched.
pub(crate) struct Delta {
    /// Bytes over the network: the manifest and the ranges.
    pub(crate) bytes: u64,
    /// Ranges fetched.
    pub(crate) ranges: u64,
    /// The manifest of the version downloaded.
    pub(crate) manifest: Manifest,
}

/// The manifest stored for `version`, checked against its stamp, the
/// content hash it is for, and its stored size in bytes; `None` when the version has none that verifies:
/// it is too small to have one, another tool wrote it (no stamp), its
/// manifest is missing, cannot be read or does not match (the last two
/// with a warning).
pub(crate) async fn stored_manifest(
    remote: &dyn RemoteStore,
    version: &RemoteVersion,
) -> Option<(Manifest, ContentHash, u64)> {
    let stamp = version.stamp.as_ref()?;
    if version.size < MIN_LEN || stamp.size != version.size {
        return None;
    }
    let hash = stamp.content_hash;
    let encoded = match remote.get_manifest(&hash).await {
        Ok(encoded) => encoded?,
        Err(err) => {
            tracing::warn!(url = %remote, error = %ErrorChain::new(&err), "could not read the manifest: downloading the whole version");
            return None;
        }
    };
    let Some(manifest) = Manifest::decode(&encoded, hash) else {
        tracing::warn!(url = %remote, %hash, "the manifest does not match the version's stamp: downloading the whole version");
        return None;
    };
    Some((manifest, hash, encoded.len() as u64))
}

/// Writes `version` into `dest` as a copy of the file at `from` with the
/// ranges that differ fetched over it, and checks the result against the
/// version's stamp; `have` gives the manifest of `from`. `None` when that
/// cannot be made or would not pay, and the version is to be downloaded
/// whole: no manifest that verifies (a version another tool wrote, or a
/// remote that keeps none), a remote that cannot read ranges, more than
/// half the file changed, or a result that does not hash to the stamp
/// (say, `from` was written to while it was copied). `dest` may then hold
/// anything. The inner result is the ranges' download: an error there
/// (the version moved, the connection failed) is the download's, as a
/// whole download's would be.
pub(crate) async fn download_changed(
    remote: &dyn RemoteStore,
    version: &RemoteVersion,
    from: &Path,
    have: impl FnOnce() -> Result<Option<Manifest>>,
    dest: &Path,
    transfer: &TransferOptions,
) -> Result<Option<(Result<Downloaded>, Delta)>> {
    if !from.is_file() {
        return Ok(None);
    }
    let Some((wanted, hash, stored)) = stored_manifest(remote, version).await else {
        return Ok(None);
    };
    let Some(ranges) = have()?.and_then(|have| wanted.changed_since(&have)) else {
        return Ok(None);
    };
    let fetched = total_len(&ranges);
    if fetched > version.size / 2 {
        return Ok(None);
    }
    copy_into(from, dest)?;
    let written =
        observed::download_ranges(remote, dest, version, &ranges, fetched, transfer).await;
    let result = match written {
        Ok(None) => return Ok(None),
        Ok(Some(_)) => {
            // the copy may have been written to while it was made: the
            // whole result is checked, not only the ranges fetched
            if ContentHash::of_file(dest)? != hash {
                tracing::warn!(url = %remote, version = %version, "the file made from the changed ranges does not hash to the version's stamp: downloading the whole version");
                return Ok(None);
            }
            Ok(Downloaded::new(version.size).with_hash(hash))
        }
        Err(err) => Err(err),
    };
    let delta = Delta {
        bytes: stored + fetched,
        ranges: ranges.len() as u64,
        manifest: wanted,
    };
    Ok(Some((result, delta)))
}

/// Copies the file at `from` into `dest`, created if need be and opened
/// without truncating it (ext4 flushes a file truncated and written again
/// when it is closed; the ranges' download sets the length after):
/// `copy_file_range`, a reflink where the file system makes one.
fn copy_into(from: &Path, dest: &Path) -> Result<()> {
    let mut input = fs::File::open(from).map_err(|e| Error::io("open", from, e))?;
    let mut output = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(dest)
        .map_err(|e| Error::io("open", dest, e))?;
    std::io::copy(&mut input, &mut output).map_err(|e| Error::io("copy", from, e))?;
    Ok(())
}
