//! A database's earlier versions, as a bucket with versioning keeps them
//! ([`RemoteStore::versions`]): [`download_version`] and [`restore`].

use std::path::Path;

use crate::hash::ContentHash;
use crate::manifest::Manifest;
use crate::remote::{RemoteStore, store_manifest};
use crate::transfer::TransferOptions;
use crate::verify::verify_download;
use crate::version::{RemoteVersion, Stamp, WriteCondition};
use crate::{Error, Result};

/// Writes `version` of the remote database into the file `dest` (created
/// or truncated), pinned to its version id, and verifies it as every
/// download is verified: its size, the SQLite header, and the content
/// hash of its stamp (or, for a version another tool wrote, the header's
/// page count). Returns its content hash.
///
/// # Errors
///
/// The download's error; [`Error::Corrupt`], [`Error::Truncated`] or
/// [`Error::NotSqlite`] when the bytes are not the version's; `dest` may
/// then hold them, to be removed by the caller.
pub async fn download_version<R: RemoteStore + ?Sized>(
    remote: &R,
    version: &RemoteVersion,
    dest: &Path,
    transfer: &TransferOptions,
) -> Result<ContentHash> {
    let downloaded = remote.download(dest, version, transfer).await?;
    verify_download(&remote.to_string(), dest, version, &downloaded)
}

/// Makes the content of `version` the remote database's current version
/// again, as a new version (so a restore can itself be undone): reads the
/// current version, downloads `version` into a temp file in `scratch` and
/// verifies it, then uploads it on condition that the current version is
/// still the one read first. Returns the new version.
///
/// Nothing is overwritten that was not seen: a push that lands between
/// the first read and the upload ends the restore with
/// [`Error::Conflict`], and neither side changes.
///
/// ```no_run
/// # async fn run() -> s3sqlite_core::Result<()> {
/// use s3sqlite_core::{ObjectStoreRemote, RemoteStore, TransferOptions, history};
///
/// let remote = ObjectStoreRemote::from_url("s3://my-bucket/app.db")?;
/// let versions = remote.versions().await?;
/// let before_the_migration = &versions[1];
/// let restored = history::restore(
///     &remote,
///     before_the_migration,
///     &std::env::temp_dir(),
///     &TransferOptions::default(),
/// )
/// .await?;
/// println!("current again as {restored}");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// As [`download_version`]; [`Error::Conflict`] when the remote moved;
/// [`Error::Io`] when the temp file cannot be made in `scratch`.
pub async fn restore<R: RemoteStore + ?Sized>(
    remote: &R,
    version: &RemoteVersion,
    scratch: &Path,
    transfer: &TransferOptions,
) -> Result<RemoteVersion> {
    let condition = match remote.head().await? {
        Some(current) => WriteCondition::IfMatch(current),
        None => WriteCondition::IfAbsent,
    };
    let temp = tempfile::Builder::new()
        .prefix(".s3sqlite-restore")
        .tempfile_in(scratch)
        .map_err(|e| Error::io("create a temp file in", scratch, e))?;
    let downloaded = remote.download(temp.path(), version, transfer).await?;
    let hash = verify_download(&remote.to_string(), temp.path(), version, &downloaded)?;
    send_manifest(remote, temp.path(), hash, downloaded.manifest).await?;
    let stamp = Stamp::new(hash, version.size);
    remote.upload(temp.path(), &condition, &stamp).await
}

/// Stores the manifest of the file at `path` (content `hash`) beside the
/// object, as a push does, so that replicas behind fetch only what the
/// restore changed; `made` is one the download computed.
async fn send_manifest<R: RemoteStore + ?Sized>(
    remote: &R,
    path: &Path,
    hash: ContentHash,
    made: Option<Manifest>,
) -> Result<()> {
    let manifest = match made {
        Some(manifest) => Some(manifest),
        None => Manifest::hash_file(path)?.1,
    };
    if let Some(manifest) = manifest.filter(|m| m.root() == hash) {
        store_manifest(remote, &manifest).await;
    }
    Ok(())
}
