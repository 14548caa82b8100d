//! [`ObjectStoreRemote`]: the built-in remote over any object_store backend.

#[cfg(feature = "aws-config")]
mod aws_chain;
mod builder;
mod client;
mod download;
mod encryption;
mod file;
#[cfg(feature = "aws")]
mod history;
mod location;
mod manifest;
#[cfg(feature = "aws")]
mod multipart;
#[cfg(feature = "aws")]
mod multipart_probe;
#[cfg(feature = "aws")]
mod s3;

use std::fmt::{self, Debug, Display};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};

use self::client::{Client, version_of};
use self::location::Backend;
use crate::hash::ContentHash;
use crate::remote::etag::EtagQuoting;
use crate::remote::{Admit, ChangedUpload, RemoteStore, UploadStarted, head_then_download};
use crate::transfer::TransferOptions;
use crate::version::{Downloaded, RemoteVersion, Stamp, WriteCondition};
use crate::{Error, Result};

pub use self::builder::ObjectStoreRemoteBuilder;
pub(crate) use self::client::is_forbidden;
pub use self::encryption::Encryption;

/// A [`RemoteStore`] over an [`ObjectStore`] and one key in it.
///
/// Made from a URL with [`from_url`](Self::from_url) or
/// [`builder`](Self::builder), or from a store of your own with
/// [`new`](Self::new).
///
/// | URL | store | conditional writes |
/// |---|---|---|
/// | `s3://bucket/key`, `s3sqlite://bucket/key` | Amazon S3 or a compatible server (feature `aws`, on by default) | `If-Match` / `If-None-Match` |
/// | `gs://bucket/key` | Google Cloud Storage (feature `gcp`) | generation match |
/// | `az://container/key` | Azure Blob Storage (feature `azure`) | `If-Match` / `If-None-Match` |
/// | `file:///abs/path/db.sqlite` | a file on this machine | a lock file held across compare and rename |
/// | `memory:///key` | one in-memory store shared by the whole process | native |
///
/// S3 settings come from the environment the way object_store reads them
/// (`AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, `AWS_ACCESS_KEY_ID`,
/// web identity, ECS and Lambda container credentials, instance metadata) and
/// can be overridden with [`ObjectStoreRemoteBuilder::with_option`].
///
/// # Example
///
/// ```
/// use s3sqlite_core::{ObjectStoreRemote, RemoteStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let remote = ObjectStoreRemote::from_url("memory:///docs/example.db")?;
/// assert_eq!(remote.to_string(), "memory:///docs/example.db");
/// assert!(remote.head().await?.is_none());
/// # Ok::<(), s3sqlite_core::Error>(())
/// # }).unwrap();
/// ```
pub struct ObjectStoreRemote {
    client: Client,
}

impl ObjectStoreRemote {
    /// A remote on a store you built yourself; `key` is the object's path in it.
    ///
    /// The store must support [`PutMode::Create`](object_store::PutMode::Create)
    /// and [`PutMode::Update`](object_store::PutMode::Update) atomically, as
    /// S3, GCS, Azure and object_store's `InMemory` do. Entity tags are sent
    /// as [`EtagQuoting::Auto`] says; change that with
    /// [`with_etag_quoting`](Self::with_etag_quoting).
    pub fn new(store: Arc<dyn ObjectStore>, key: impl Into<ObjectPath>) -> Self {
        let key = key.into();
        let url = format!("{store}/{key}");
        ObjectStoreRemote {
            client: Client::new(store, key, url, Backend::Custom, EtagQuoting::Auto),
        }
    }

    /// The remote with conditional updates sending the entity tag as
    /// `quoting` says.
    pub fn with_etag_quoting(mut self, quoting: EtagQuoting) -> Self {
        self.client = self.client.with_quoting(quoting);
        self
    }

    /// Whether conditional updates now send the entity tag without quotes:
    /// always in [`EtagQuoting::Unquoted`], never in
    /// [`EtagQuoting::Quoted`], and in [`EtagQuoting::Auto`] once the store
    /// has refused its own current tag quoted and taken it unquoted.
    pub fn sends_unquoted_etags(&self) -> bool {
        self.client.sends_unquoted_etags()
    }

    /// The underlying object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        self.client.store()
    }

    /// The object's key in the store.
    pub fn key(&self) -> &ObjectPath {
        self.client.key()
    }

    /// [`Error::NoVersions`] for a store whose versions are not listed.
    fn no_versions(&self) -> Error {
        let reason = match self.client.backend() {
            Backend::File { .. } | Backend::Memory => {
                "file:// and memory:// remotes keep only the current object"
            }
            Backend::Cloud => "listing the versions of gs:// and az:// objects is not supported",
            _ => "this remote keeps no earlier versions",
        };
        Error::NoVersions {
            url: self.client.url().to_owned(),
            reason: reason.to_owned(),
        }
    }

    pub(crate) fn url(&self) -> &str {
        self.client.url()
    }

    /// The ids of the multipart uploads to this object that were started
    /// and neither completed nor aborted: what a push killed in the middle
    /// of an incremental upload leaves until the next open or push of that
    /// replica aborts it (see [`IncrementalUpload`](crate::IncrementalUpload)).
    /// Empty for stores other than S3.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] when the store refuses the listing (it needs
    /// `s3:ListBucketMultipartUploads`).
    pub async fn unfinished_uploads(&self) -> Result<Vec<String>> {
        #[cfg(feature = "aws")]
        if let Backend::S3 {
            multipart: Some(s3),
            ..
        } = self.client.backend()
        {
            let uploads = s3.list_uploads(self.client.key().as_ref()).await?;
            return Ok(uploads.into_iter().map(|u| u.upload_id).collect());
        }
        Ok(Vec::new())
    }

    /// The object's version as the store reports it, with the stamp read
    /// from its metadata; for `file://`, without the file backend's lock.
    pub(crate) async fn head_object(&self) -> Result<Option<RemoteVersion>> {
        self.client.head().await
    }

    /// A remote on the same store for the key `self`'s key + `/` + `name`
    /// (for `file://`, the file `name` in the folder named by `self`'s
    /// path), sending entity tags as `self` does now.
    pub(crate) fn scratch(&self, name: &str) -> ObjectStoreRemote {
        ObjectStoreRemote {
            client: self.client.scratch(name),
        }
    }

    /// Another remote for the same object, sending entity tags as `self`
    /// does now.
    pub(crate) fn twin(&self) -> ObjectStoreRemote {
        ObjectStoreRemote {
            client: self.client.twin(),
        }
    }

    /// The local path of a `file://` remote.
    pub(crate) fn file_path(&self) -> Option<&Path> {
        match self.client.backend() {
            Backend::File { path } => Some(path),
            _ => None,
        }
    }

    /// [`RemoteStore::download_current`] in the requests of one download:
    /// an unpinned GET of the first part says which version is current,
    /// and the other parts are pinned to it. A first GET refused for what
    /// it asked (an empty object has no first byte to name; a server may
    /// refuse ranges) is followed by a HEAD and a download as usual.
    async fn download_first_part(
        &self,
        dest: &Path,
        transfer: &TransferOptions,
        admit: &Admit<'_>,
    ) -> Result<Option<(RemoteVersion, Result<Downloaded>)>> {
        let part_size = crate::hash::part_size_for(transfer.part_size);
        let options = GetOptions {
            range: Some(GetRange::Bounded(0..part_size)),
            ..GetOptions::default()
        };
        let first = match self
            .client
            .store()
            .get_opts(self.client.key(), options)
            .await
        {
            Ok(first) => first,
            Err(object_store::Error::NotFound { .. }) => {
                self.client.check_bucket().await?;
                return Ok(None);
            }
            Err(source) => {
                let err = self.client.error(source);
                if err.is_transient() {
                    return Err(err);
                }
                tracing::debug!(error = %err, "first part refused, asking for the version first");
                return head_then_download(self, dest, transfer, admit).await;
            }
        };
        let version = version_of(&first);
        let downloaded = match admit(&version) {
            Ok(()) => download::ranged(&self.client, dest, &version, transfer, Some(first)).await,
            Err(err) => Err(err),
        };
        Ok(Some((version, downloaded)))
    }
}

/// The file's bytes as a payload: backed by a memory map for a store that
/// sends them away, so that an upload does not copy the database into
/// anonymous memory; copied for a store that may keep them in this process
/// (the in-memory store would otherwise alias the local file, and see its
/// later writes).
fn file_payload(path: &Path, backend: &Backend) -> Result<PutPayload> {
    if matches!(backend, Backend::Memory | Backend::Custom) {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        return Ok(PutPayload::from(bytes));
    }
    Ok(match crate::mmap::map_file(path)? {
        Some(map) => PutPayload::from(Bytes::from_owner(map)),
        None => PutPayload::new(),
    })
}

#[async_trait]
impl RemoteStore for ObjectStoreRemote {
    async fn head(&self) -> Result<Option<RemoteVersion>> {
        if let Backend::File { path } = self.client.backend() {
            return file::head(&self.client, path).await;
        }
        self.client.head().await
    }

    async fn download(
        &self,
        dest: &Path,
        expected: &RemoteVersion,
        transfer: &TransferOptions,
    ) -> Result<Downloaded> {
        download::ranged(&self.client, dest, expected, transfer, None).await
    }

    async fn download_current(
        &self,
        dest: &Path,
        transfer: &TransferOptions,
        admit: &Admit<'_>,
    ) -> Result<Option<(RemoteVersion, Result<Downloaded>)>> {
        if let Backend::File { .. } = self.client.backend() {
            // the file backend's version is read under its lock
            return head_then_download(self, dest, transfer, admit).await;
        }
        self.download_first_part(dest, transfer, admit).await
    }

    async fn upload(
        &self,
        src: &Path,
        condition: &WriteCondition,
        stamp: &Stamp,
    ) -> Result<RemoteVersion> {
        if let Backend::File { path } = self.client.backend() {
            return file::upload(&self.client, path, src, condition, stamp).await;
        }
        let payload = file_payload(src, self.client.backend())?;
        self.client.put(payload, condition, stamp).await
    }

    async fn download_ranges(
        &self,
        dest: &Path,
        expected: &RemoteVersion,
        ranges: &[Range<u64>],
        transfer: &TransferOptions,
    ) -> Result<Option<u64>> {
        download::ranges(&self.client, dest, expected, ranges, transfer)
            .await
            .map(Some)
    }

    async fn put_manifest(&self, hash: &ContentHash, bytes: &[u8]) -> Result<bool> {
        manifest::put(&self.client, hash, bytes).await?;
        Ok(true)
    }

    async fn get_manifest(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        manifest::get(&self.client, hash).await
    }

    async fn delete_manifest(&self, hash: &ContentHash) -> Result<()> {
        manifest::delete(&self.client, hash).await
    }

    fn commits_conditional_multipart(&self) -> bool {
        #[cfg(feature = "aws")]
        if let Backend::S3 {
            multipart: Some(_),
            amazon: true,
            ..
        } = self.client.backend()
        {
            return true;
        }
        false
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
        #[cfg(feature = "aws")]
        if let Backend::S3 {
            multipart: Some(s3),
            ..
        } = self.client.backend()
        {
            let client = &self.client;
            return multipart::upload(client, s3, src, base, changed, stamp, transfer, started)
                .await;
        }
        let _ = (src, base, changed, stamp, transfer, started);
        Ok(None)
    }

    async fn abort_uploads(&self, upload_id: Option<&str>, since: SystemTime) -> Result<u32> {
        #[cfg(feature = "aws")]
        if let Backend::S3 {
            multipart: Some(s3),
            ..
        } = self.client.backend()
        {
            return multipart::abort_left(&self.client, s3, upload_id, since).await;
        }
        let _ = (upload_id, since);
        Ok(0)
    }

    async fn versions(&self) -> Result<Vec<RemoteVersion>> {
        #[cfg(feature = "aws")]
        if let Backend::S3 {
            multipart: Some(s3),
            ..
        } = self.client.backend()
        {
            return history::versions(&self.client, s3).await;
        }
        Err(self.no_versions())
    }

    async fn version(&self, id: &str) -> Result<Option<RemoteVersion>> {
        #[cfg(feature = "aws")]
        if let Backend::S3 { .. } = self.client.backend() {
            return self.client.head_version(id).await;
        }
        let _ = id;
        Err(self.no_versions())
    }
}

impl Display for ObjectStoreRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.client.url())
    }
}

impl Debug for ObjectStoreRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the store's own Debug may show configuration; the URL is enough
        f.debug_struct("ObjectStoreRemote")
            .field("url", &self.client.url())
            .field("backend", self.client.backend())
            .finish_non_exhaustive()
    }
}
