//! [`ObjectStoreRemote`]: the built-in remote over any object_store backend.

mod builder;
mod download;
mod file;
mod location;

use std::fmt::{self, Debug, Display};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, GetResult, ObjectStore, PutMode, PutOptions,
    PutPayload, UpdateVersion,
};

use self::location::Backend;
use crate::remote::etag::{self, EtagQuoting};
use crate::remote::{Admit, RemoteStore, head_then_download};
use crate::transfer::TransferOptions;
use crate::version::{Downloaded, RemoteVersion, Stamp, WriteCondition};
use crate::{Error, Result};

pub use self::builder::ObjectStoreRemoteBuilder;

/// The metadata key under which the content hash is stored with the object.
const HASH_METADATA_KEY: &str = "s3sqlite-blake3";
/// The metadata key under which the uploaded size is stored with the object.
const SIZE_METADATA_KEY: &str = "s3sqlite-size";
/// The metadata key under which the upload id is stored with the object.
const UPLOAD_ID_METADATA_KEY: &str = "s3sqlite-upload-id";

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
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    url: String,
    backend: Backend,
    quoting: EtagQuoting,
    /// In [`EtagQuoting::Auto`]: the store refused its own current tag
    /// quoted and took it unquoted, so updates go unquoted from now on.
    learned_unquoted: AtomicBool,
}

impl ObjectStoreRemote {
    /// A remote on a store you built yourself; `key` is the object's path in it.
    ///
    /// The store must support [`PutMode::Create`] and [`PutMode::Update`]
    /// atomically, as S3, GCS, Azure and object_store's `InMemory` do.
    /// Entity tags are sent as [`EtagQuoting::Auto`] says; change that with
    /// [`with_etag_quoting`](Self::with_etag_quoting).
    pub fn new(store: Arc<dyn ObjectStore>, key: impl Into<ObjectPath>) -> Self {
        let key = key.into();
        ObjectStoreRemote {
            url: format!("{store}/{key}"),
            store,
            key,
            backend: Backend::Custom,
            quoting: EtagQuoting::Auto,
            learned_unquoted: AtomicBool::new(false),
        }
    }

    /// The remote with conditional updates sending the entity tag as
    /// `quoting` says.
    pub fn with_etag_quoting(mut self, quoting: EtagQuoting) -> Self {
        self.quoting = quoting;
        self.learned_unquoted = AtomicBool::new(false);
        self
    }

    /// Whether conditional updates now send the entity tag without quotes:
    /// always in [`EtagQuoting::Unquoted`], never in
    /// [`EtagQuoting::Quoted`], and in [`EtagQuoting::Auto`] once the store
    /// has refused its own current tag quoted and taken it unquoted.
    pub fn sends_unquoted_etags(&self) -> bool {
        match self.quoting {
            EtagQuoting::Auto => self.learned_unquoted.load(Ordering::Relaxed),
            EtagQuoting::Quoted => false,
            EtagQuoting::Unquoted => true,
        }
    }

    /// The underlying object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object's key in the store.
    pub fn key(&self) -> &ObjectPath {
        &self.key
    }

    fn remote_error(&self, source: object_store::Error) -> Error {
        Error::Remote {
            url: self.url.clone(),
            source,
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A remote on the same store for the key `self`'s key + `/` + `name`
    /// (for `file://`, the file `name` in the folder named by `self`'s
    /// path), sending entity tags as `self` does now.
    pub(crate) fn scratch(&self, name: &str) -> ObjectStoreRemote {
        let mut remote = self.twin();
        remote.key = ObjectPath::from_iter(self.key.parts().chain(ObjectPath::from(name).parts()));
        remote.url = format!("{}/{name}", self.url.trim_end_matches('/'));
        if let Backend::File { path } = &mut remote.backend {
            *path = path.join(name);
        }
        remote
    }

    /// Another remote for the same object, sending entity tags as `self`
    /// does now.
    pub(crate) fn twin(&self) -> ObjectStoreRemote {
        ObjectStoreRemote {
            store: Arc::clone(&self.store),
            key: self.key.clone(),
            url: self.url.clone(),
            backend: self.backend.clone(),
            quoting: self.quoting,
            learned_unquoted: AtomicBool::new(self.learned_unquoted.load(Ordering::Relaxed)),
        }
    }

    /// The local path of a `file://` remote.
    pub(crate) fn file_path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::File { path } => Some(path),
            _ => None,
        }
    }

    /// On S3 a HEAD of a missing bucket looks like a missing key: a one-page
    /// listing tells them apart. Only run when the object is absent.
    async fn check_bucket(&self) -> Result<()> {
        match &self.backend {
            Backend::S3 | Backend::Cloud => {
                let mut listing = self.store.list(Some(&self.key));
                match listing.next().await {
                    Some(Err(err)) if mentions_missing_bucket(&err) => Err(Error::BucketNotFound {
                        url: self.url.clone(),
                    }),
                    Some(Err(err)) => Err(self.remote_error(err)),
                    _ => Ok(()),
                }
            }
            Backend::File { path } => match path.parent() {
                Some(dir) if dir.is_dir() => Ok(()),
                _ => Err(Error::BucketNotFound {
                    url: self.url.clone(),
                }),
            },
            Backend::Memory | Backend::Custom => Ok(()),
        }
    }

    /// The object's version as the store reports it, with the stamp read
    /// from its metadata.
    pub(crate) async fn head_object(&self) -> Result<Option<RemoteVersion>> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.key, options).await {
            Ok(result) => Ok(Some(version_of(&result))),
            Err(object_store::Error::NotFound { .. }) => {
                self.check_bucket().await?;
                Ok(None)
            }
            Err(err) => Err(self.remote_error(err)),
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
        let first = match self.store.get_opts(&self.key, options).await {
            Ok(first) => first,
            Err(object_store::Error::NotFound { .. }) => {
                self.check_bucket().await?;
                return Ok(None);
            }
            Err(source) => {
                let err = self.remote_error(source);
                if err.is_transient() {
                    return Err(err);
                }
                tracing::debug!(error = %err, "first part refused, asking for the version first");
                return head_then_download(self, dest, transfer, admit).await;
            }
        };
        let version = version_of(&first);
        let downloaded = match admit(&version) {
            Ok(()) => download::ranged(self, dest, &version, transfer, Some(first)).await,
            Err(err) => Err(err),
        };
        Ok(Some((version, downloaded)))
    }

    /// Uploads `payload` if `condition` holds, mapping a failed
    /// precondition to [`Error::Conflict`].
    ///
    /// In [`EtagQuoting::Auto`], an update refused with its tag quoted is
    /// followed by a HEAD: if the object is still the expected version, the
    /// store refused its own current tag, so the PUT is sent once more
    /// unquoted, and if that lands every later update goes unquoted.
    async fn put(
        &self,
        payload: PutPayload,
        condition: &WriteCondition,
        stamp: &Stamp,
    ) -> Result<RemoteVersion> {
        let size = payload.content_length() as u64;
        let send_unquoted = self.sends_unquoted_etags();
        let mut sent = self
            .put_once(payload.clone(), condition, stamp, send_unquoted)
            .await;
        if matches!(sent, Err(object_store::Error::Precondition { .. }))
            && !send_unquoted
            && self.quoting == EtagQuoting::Auto
            && quoted_update(condition)
        {
            let current = self.head_object().await?;
            if !condition.holds(current.as_ref()) {
                return Err(Error::conflict(&self.url, condition.expected(), current));
            }
            sent = self.put_once(payload, condition, stamp, true).await;
            if sent.is_ok() {
                self.learned_unquoted.store(true, Ordering::Relaxed);
                tracing::info!(
                    url = %self.url,
                    "the store refused its own current ETag quoted and took it unquoted: \
                     conditional updates of this remote send it unquoted from now on"
                );
            }
        }
        match sent {
            Ok(put) => {
                let mut version = RemoteVersion::new(size).with_stamp(stamp.clone());
                version.e_tag = put.e_tag;
                version.version = put.version;
                Ok(version)
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(self.conflict(condition).await),
            Err(object_store::Error::NotFound { .. }) => Err(Error::BucketNotFound {
                url: self.url.clone(),
            }),
            Err(err) if *condition != WriteCondition::Overwrite => {
                self.settle(condition, stamp, err).await
            }
            Err(err) => Err(self.remote_error(err)),
        }
    }

    /// One PUT of `payload` with `stamp` as metadata, on `condition`, the
    /// entity tag sent without quotes when `unquoted`.
    async fn put_once(
        &self,
        payload: PutPayload,
        condition: &WriteCondition,
        stamp: &Stamp,
        unquoted: bool,
    ) -> object_store::Result<object_store::PutResult> {
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::Metadata(HASH_METADATA_KEY.into()),
            stamp.content_hash.to_hex().into(),
        );
        attributes.insert(
            Attribute::Metadata(SIZE_METADATA_KEY.into()),
            stamp.size.to_string().into(),
        );
        attributes.insert(
            Attribute::Metadata(UPLOAD_ID_METADATA_KEY.into()),
            stamp.upload_id.clone().into(),
        );
        let options = PutOptions {
            mode: put_mode(condition, unquoted),
            attributes,
            ..PutOptions::default()
        };
        self.store.put_opts(&self.key, payload, options).await
    }

    /// A conditional PUT failed without an answer (a server may refuse the
    /// condition and close the connection before reading the body): a HEAD
    /// tells whether it landed whole (our stamp and its size are there), lost
    /// (the condition no longer holds), or just failed. Our stamp on an
    /// object of another size is a partial body the store kept: failed.
    async fn settle(
        &self,
        condition: &WriteCondition,
        stamp: &Stamp,
        err: object_store::Error,
    ) -> Result<RemoteVersion> {
        let current = self.head_object().await?;
        match current {
            Some(current) if stamp.landed_as(&current) => Ok(current),
            Some(current) if current.stamp.as_ref() == Some(stamp) => Err(self.remote_error(err)),
            current if !condition.holds(current.as_ref()) => {
                Err(Error::conflict(&self.url, condition.expected(), current))
            }
            _ => Err(self.remote_error(err)),
        }
    }

    /// The conflict error for a failed `condition`, with the version on the
    /// remote now.
    async fn conflict(&self, condition: &WriteCondition) -> Error {
        let current = match self.head_object().await {
            Ok(current) => current,
            Err(err) => return err,
        };
        Error::conflict(&self.url, condition.expected(), current)
    }
}

/// The error chain of a listing names S3's `NoSuchBucket` code (object_store
/// reports listing failures as generic errors, so the code is the only sign).
fn mentions_missing_bucket(err: &object_store::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        let text = e.to_string();
        if text.contains("NoSuchBucket") || text.contains("ContainerNotFound") {
            return true;
        }
        source = e.source();
    }
    false
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

/// The put mode for `condition`, the entity tag stripped of its quotes when
/// `unquoted`.
fn put_mode(condition: &WriteCondition, unquoted: bool) -> PutMode {
    match condition {
        WriteCondition::Overwrite => PutMode::Overwrite,
        WriteCondition::IfAbsent => PutMode::Create,
        WriteCondition::IfMatch(version) => {
            let e_tag = version.e_tag.as_deref().map(|tag| match unquoted {
                true => etag::unquoted(tag).unwrap_or(tag).to_owned(),
                false => tag.to_owned(),
            });
            PutMode::Update(UpdateVersion {
                e_tag,
                version: version.version.clone(),
            })
        }
    }
}

/// Whether `condition` is an update whose entity tag is quoted, and so
/// could be retried unquoted.
fn quoted_update(condition: &WriteCondition) -> bool {
    condition
        .expected()
        .and_then(|expected| expected.e_tag.as_deref())
        .is_some_and(|tag| etag::unquoted(tag).is_some())
}

#[async_trait]
impl RemoteStore for ObjectStoreRemote {
    async fn head(&self) -> Result<Option<RemoteVersion>> {
        if let Backend::File { path } = &self.backend {
            return file::head(self, path).await;
        }
        self.head_object().await
    }

    async fn download(
        &self,
        dest: &Path,
        expected: &RemoteVersion,
        transfer: &TransferOptions,
    ) -> Result<Downloaded> {
        download::ranged(self, dest, expected, transfer, None).await
    }

    async fn download_current(
        &self,
        dest: &Path,
        transfer: &TransferOptions,
        admit: &Admit<'_>,
    ) -> Result<Option<(RemoteVersion, Result<Downloaded>)>> {
        if let Backend::File { .. } = &self.backend {
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
        if let Backend::File { path } = &self.backend {
            return file::upload(self, path, src, condition, stamp).await;
        }
        let payload = file_payload(src, &self.backend)?;
        self.put(payload, condition, stamp).await
    }
}

/// The version a HEAD or GET response describes, with the stamp read from
/// its metadata.
fn version_of(response: &GetResult) -> RemoteVersion {
    let metadata = |key: &'static str| {
        response
            .attributes
            .get(&Attribute::Metadata(key.into()))
            .map(|value| value.as_ref().to_owned())
    };
    let stamp = match (
        metadata(HASH_METADATA_KEY).and_then(|hash| hash.parse().ok()),
        metadata(SIZE_METADATA_KEY).and_then(|size| size.parse().ok()),
        metadata(UPLOAD_ID_METADATA_KEY),
    ) {
        (Some(hash), Some(size), Some(id)) => Some(Stamp::with_id(hash, size, id)),
        _ => None,
    };
    let meta = &response.meta;
    RemoteVersion {
        e_tag: meta.e_tag.clone(),
        version: meta.version.clone(),
        size: meta.size,
        last_modified: Some(meta.last_modified.into()),
        stamp,
    }
}

impl Display for ObjectStoreRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl Debug for ObjectStoreRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the store's own Debug may show configuration; the URL is enough
        f.debug_struct("ObjectStoreRemote")
            .field("url", &self.url)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}
