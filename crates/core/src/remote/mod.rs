//! The [`RemoteStore`] trait and the types it speaks in.

pub(crate) mod etag;
mod object_store;
pub(crate) mod observed;
mod parts;

use std::fmt::{Debug, Display};
use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::Result;
use crate::hash::ContentHash;
use crate::transfer::TransferOptions;
use crate::version::{Downloaded, RemoteVersion, Stamp, WriteCondition};

pub use self::etag::{ETAG_QUOTING_VAR, EtagQuoting, ParseEtagQuotingError};
pub(crate) use self::object_store::is_forbidden;
pub use self::object_store::{Encryption, ObjectStoreRemote, ObjectStoreRemoteBuilder};
pub use self::parts::{ChangedUpload, UploadStarted};

/// What the engine needs from the place a database lives.
///
/// Implement it for a remote that object_store does not cover; the built-in
/// [`ObjectStoreRemote`] serves every URL scheme this crate knows. `Display`
/// prints the remote's URL, and error messages use it.
///
/// # Contract
///
/// - [`upload`](Self::upload) with [`WriteCondition::IfAbsent`] or
///   [`WriteCondition::IfMatch`] is atomic: of several concurrent writers
///   holding the same condition, at most one succeeds, and the others get
///   [`Error::Conflict`](crate::Error::Conflict).
/// - [`download`](Self::download) returns the bytes of exactly the version it
///   was given, or [`Error::ChangedDuringDownload`](crate::Error::ChangedDuringDownload).
#[async_trait]
pub trait RemoteStore: Display + Debug + Send + Sync + 'static {
    /// The current version of the object, or `None` when it does not exist.
    async fn head(&self) -> Result<Option<RemoteVersion>>;

    /// Writes the object, pinned to `expected`, into the file `dest`
    /// (created or truncated), and says how many bytes it wrote and, where
    /// it hashed them on the way, their hash.
    ///
    /// `transfer` says how large the ranged parts may be and how many may be
    /// in flight; a remote without ranged reads may ignore it. The engine
    /// verifies what was written before it replaces anything: size, header,
    /// and the content hash against `expected`'s [`Stamp`].
    async fn download(
        &self,
        dest: &Path,
        expected: &RemoteVersion,
        transfer: &TransferOptions,
    ) -> Result<Downloaded>;

    /// Writes the object's current version, whatever it is, into the file
    /// `dest` (created or truncated): `None` when the object does not
    /// exist, else that version with the download's result, as
    /// [`download`](Self::download) would give it. The outer error is a
    /// failure to learn the version at all (what a failed `head` gives).
    ///
    /// `admit` is called with the version before anything is written; its
    /// error becomes the download's (the engine checks the free space
    /// there). The engine calls this on an open that has nothing local,
    /// verifies what was written as it does after `download`, and starts
    /// an interrupted download over as it does after `download`.
    ///
    /// The default asks [`head`](Self::head) and then downloads that
    /// version. A store that learns the version from its first response
    /// overrides it to save that request: the built-in
    /// [`ObjectStoreRemote`] reads the version from the response to a GET
    /// of the first part, and pins the other parts to it.
    async fn download_current(
        &self,
        dest: &Path,
        transfer: &TransferOptions,
        admit: &Admit<'_>,
    ) -> Result<Option<(RemoteVersion, Result<Downloaded>)>> {
        head_then_download(self, dest, transfer, admit).await
    }

    /// Uploads the file `src` if `condition` holds, storing `stamp` with the
    /// object where the backend keeps metadata, and returns the new version
    /// (with the stamp).
    async fn upload(
        &self,
        src: &Path,
        condition: &WriteCondition,
        stamp: &Stamp,
    ) -> Result<RemoteVersion>;

    /// Writes the byte ranges `ranges` of the object, pinned to `expected`,
    /// into the file `dest` at the same offsets, leaving its other bytes as
    /// they are, and sets its length to `expected`'s size; returns how many
    /// bytes it fetched, or `None` when this remote cannot read ranges (the
    /// engine then downloads the whole object).
    ///
    /// The engine calls this on a copy of the local file to bring it to a
    /// newer version whose [manifest](Self::get_manifest) says which
    /// ranges changed, and verifies the whole file's hash before it uses
    /// it. The ranges are in order, do not overlap, and lie within the
    /// object. A remote that overrides this must pin every range to
    /// `expected` as [`download`](Self::download) does.
    async fn download_ranges(
        &self,
        dest: &Path,
        expected: &RemoteVersion,
        ranges: &[Range<u64>],
        transfer: &TransferOptions,
    ) -> Result<Option<u64>> {
        let _ = (dest, expected, ranges, transfer);
        Ok(None)
    }

    /// Stores `manifest`, the manifest of the content `hash` (what says
    /// which ranges of a newer version changed), beside the object; returns
    /// `false` when this remote keeps no manifests, as the default does.
    ///
    /// The engine writes a version's manifest before the version itself,
    /// under a name of its content, so that the bytes under one name never
    /// change; it checks every manifest it reads against the hash.
    async fn put_manifest(&self, hash: &ContentHash, manifest: &[u8]) -> Result<bool> {
        let _ = (hash, manifest);
        Ok(false)
    }

    /// The manifest stored for the content `hash`, or `None` when there is
    /// none (or this remote keeps none).
    async fn get_manifest(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        let _ = hash;
        Ok(None)
    }

    /// Removes the manifest stored for the content `hash`, if there is one.
    async fn delete_manifest(&self, hash: &ContentHash) -> Result<()> {
        let _ = hash;
        Ok(())
    }

    /// Whether this store is known to commit a conditional multipart
    /// completion atomically, as Amazon S3 does: what
    /// [`IncrementalUpload::Auto`](crate::IncrementalUpload::Auto) asks
    /// before it sends only the changed parts. The default says no.
    fn commits_conditional_multipart(&self) -> bool {
        false
    }

    /// Uploads the file `src` as [`upload`](Self::upload) does on
    /// condition that `base` is current, sending only the bytes in the
    /// ranges `changed` and copying the rest from `base` on the store; or
    /// `None`, having changed nothing, when this remote cannot or finds it
    /// not worth it (the engine then uploads the whole file). The default
    /// answers `None`.
    ///
    /// `changed` holds every byte range of `src` whose bytes may differ
    /// from `base`'s at the same offsets, in order; `src` may be longer or
    /// shorter than `base`. `started` is called with the id of the
    /// multipart upload before its first part is sent, so that the engine
    /// can abort it if this process dies
    /// ([`abort_uploads`](Self::abort_uploads)); an error from it ends the
    /// upload with that error. The object must change only when the
    /// upload completes, and only if `base` is still current:
    /// [`Error::Conflict`](crate::Error::Conflict) otherwise, as for
    /// [`upload`](Self::upload).
    async fn upload_changed(
        &self,
        src: &Path,
        base: &RemoteVersion,
        changed: &[Range<u64>],
        stamp: &Stamp,
        transfer: &TransferOptions,
        started: &UploadStarted<'_>,
    ) -> Result<Option<ChangedUpload>> {
        let _ = (src, base, changed, stamp, transfer, started);
        Ok(None)
    }

    /// Aborts the multipart uploads to this object that an
    /// [`upload_changed`](Self::upload_changed) left behind when its
    /// process died: the one `upload_id` names, or, when it died before it
    /// learned the id, those started since `since`; and, either way, those
    /// started more than an hour ago. Returns how many it aborted; the
    /// default, none.
    async fn abort_uploads(&self, upload_id: Option<&str>, since: SystemTime) -> Result<u32> {
        let _ = (upload_id, since);
        Ok(0)
    }

    /// The versions the store keeps of the object, newest first, each with
    /// its version id and the stamp s3sqlite stored with it when it wrote
    /// it (`None` for a version another tool wrote); the points where the
    /// object was deleted are left out. Each can be given to
    /// [`download`](Self::download), which pins the download to it.
    ///
    /// The default, for a store that keeps no versions:
    /// [`Error::NoVersions`](crate::Error::NoVersions).
    async fn versions(&self) -> Result<Vec<RemoteVersion>> {
        Err(crate::Error::NoVersions {
            url: self.to_string(),
            reason: "this remote keeps no earlier versions".to_owned(),
        })
    }

    /// The version `id` of the object, with its stamp, as
    /// [`versions`](Self::versions) lists it, or `None` when the store has
    /// no such version. Give it to [`download`](Self::download) to fetch it.
    ///
    /// The default looks for it in [`versions`](Self::versions); the S3
    /// remote asks for that one version with one HEAD.
    async fn version(&self, id: &str) -> Result<Option<RemoteVersion>> {
        let versions = self.versions().await?;
        Ok(versions
            .into_iter()
            .find(|version| version.version.as_deref() == Some(id)))
    }
}

/// What [`RemoteStore::download_current`] calls with the version before it
/// writes anything: an error from it ends the download with that error.
pub type Admit<'a> = dyn for<'v> Fn(&'v RemoteVersion) -> Result<()> + Send + Sync + 'a;

/// [`RemoteStore::download_current`] as two requests: `head`, then
/// `download` of that version.
pub(crate) async fn head_then_download<R: RemoteStore + ?Sized>(
    remote: &R,
    dest: &Path,
    transfer: &TransferOptions,
    admit: &Admit<'_>,
) -> Result<Option<(RemoteVersion, Result<Downloaded>)>> {
    let Some(version) = remote.head().await? else {
        return Ok(None);
    };
    let downloaded = match admit(&version) {
        Ok(()) => remote.download(dest, &version, transfer).await,
        Err(err) => Err(err),
    };
    Ok(Some((version, downloaded)))
}

/// Stores `manifest` beside the object of `remote`, under the content
/// hash it verifies to; returns the bytes sent (0 when it was there
/// already). A manifest that cannot be stored costs the replicas that are
/// behind a whole download of that version, not the write it goes with:
/// the failure is a warning.
pub(crate) async fn store_manifest<R: RemoteStore + ?Sized>(
    remote: &R,
    manifest: &crate::manifest::Manifest,
) -> u64 {
    let bytes = manifest.encode();
    match remote.put_manifest(&manifest.root(), &bytes).await {
        Ok(true) => bytes.len() as u64,
        Ok(false) => 0,
        Err(err) => {
            tracing::warn!(
                url = %remote,
                error = %crate::ErrorChain::new(&err),
                "could not store the manifest beside the object: replicas that are \
                 behind will download this version whole"
            );
            0
        }
    }
}

/// Forwards every method, provided ones included: a remote shared behind an
/// `Arc` (as the adapters hold theirs) keeps its own overrides.
#[async_trait]
impl<R: RemoteStore + ?Sized> RemoteStore for std::sync::Arc<R> {
    async fn head(&self) -> Result<Option<RemoteVersion>> {
        (**self).head().await
    }

    async fn download(
        &self,
        dest: &Path,
        expected: &RemoteVersion,
        transfer: &TransferOptions,
    ) -> Result<Downloaded> {
        (**self).download(dest, expected, transfer).await
    }

    async fn download_current(
        &self,
        dest: &Path,
        transfer: &TransferOptions,
        admit: &Admit<'_>,
    ) -> Result<Option<(RemoteVersion, Result<Downloaded>)>> {
        (**self).download_current(dest, transfer, admit).await
    }

    async fn upload(
        &self,
        src: &Path,
        condition: &WriteCondition,
        stamp: &Stamp,
    ) -> Result<RemoteVersion> {
        (**self).upload(src, condition, stamp).await
    }

    async fn download_ranges(
        &self,
        dest: &Path,
        expected: &RemoteVersion,
        ranges: &[Range<u64>],
        transfer: &TransferOptions,
    ) -> Result<Option<u64>> {
        (**self)
            .download_ranges(dest, expected, ranges, transfer)
            .await
    }

    async fn put_manifest(&self, hash: &ContentHash, manifest: &[u8]) -> Result<bool> {
        (**self).put_manifest(hash, manifest).await
    }

    async fn get_manifest(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        (**self).get_manifest(hash).await
    }

    async fn delete_manifest(&self, hash: &ContentHash) -> Result<()> {
        (**self).delete_manifest(hash).await
    }

    fn commits_conditional_multipart(&self) -> bool {
        (**self).commits_conditional_multipart()
    }

    async fn upload_changed(
        &self,
        src: &Path,
        base: &RemoteVersion,
        changed: &[Range<u64>],
        stamp: &Stamp,
        transfer: &TransferOptions,
        started: &UploadStarted<'_>,
    ) -> Result<Option<ChangedUpload>> {
        (**self)
            .upload_changed(src, base, changed, stamp, transfer, started)
            .await
    }

    async fn abort_uploads(&self, upload_id: Option<&str>, since: SystemTime) -> Result<u32> {
        (**self).abort_uploads(upload_id, since).await
    }

    async fn versions(&self) -> Result<Vec<RemoteVersion>> {
        (**self).versions().await
    }

    async fn version(&self, id: &str) -> Result<Option<RemoteVersion>> {
        (**self).version(id).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::Error;

    /// A remote that answers only through its own `download_current`.
    #[derive(Debug, Default)]
    struct OneRequest {
        current: AtomicUsize,
    }

    impl Display for OneRequest {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("memory:///one-request")
        }
    }

    #[async_trait]
    impl RemoteStore for OneRequest {
        async fn head(&self) -> Result<Option<RemoteVersion>> {
            panic!("a HEAD was asked of a remote that overrides download_current")
        }

        async fn download(
            &self,
            _: &Path,
            _: &RemoteVersion,
            _: &TransferOptions,
        ) -> Result<Downloaded> {
            panic!("a pinned download was asked of a remote that overrides download_current")
        }

        async fn download_current(
            &self,
            _: &Path,
            _: &TransferOptions,
            _: &Admit<'_>,
        ) -> Result<Option<(RemoteVersion, Result<Downloaded>)>> {
            self.current.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        }

        async fn upload(&self, _: &Path, _: &WriteCondition, _: &Stamp) -> Result<RemoteVersion> {
            Err(Error::RemoteNotFound {
                url: self.to_string(),
            })
        }
    }

    #[tokio::test]
    async fn an_arc_forwards_the_provided_download_current() {
        let inner = Arc::new(OneRequest::default());
        let shared: Arc<dyn RemoteStore> = Arc::clone(&inner) as Arc<dyn RemoteStore>;
        let twice: Arc<Arc<dyn RemoteStore>> = Arc::new(Arc::clone(&shared));
        let dest = Path::new("unused");
        let admit = |_: &RemoteVersion| Ok(());
        let transfer = TransferOptions::default();
        assert!(
            shared
                .download_current(dest, &transfer, &admit)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            twice
                .download_current(dest, &transfer, &admit)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(inner.current.load(Ordering::SeqCst), 2);
    }
}
