//! [`ObjectStoreRemote`]: the built-in remote over any object_store backend.

use std::fmt::{self, Debug, Display};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, GetResult, ObjectStore, PutMode, PutOptions,
    PutPayload, UpdateVersion,
};

use super::etag::{self, ETAG_QUOTING_VAR, EtagQuoting};
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
use super::location::SharedConnector;
use super::location::{Backend, Location, Network};
use super::{
    Admit, Downloaded, RemoteStore, RemoteVersion, Stamp, TransferOptions, WriteCondition,
    download, file_lock,
};
use crate::{Error, Result};

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

/// Builds an [`ObjectStoreRemote`] from a URL; made by
/// [`ObjectStoreRemote::builder`].
///
/// Its `Debug` output names the option keys and hides their values, which
/// may be credentials.
#[derive(Clone)]
pub struct ObjectStoreRemoteBuilder {
    url: String,
    options: Vec<(String, String)>,
    network: Network,
    etag_quoting: Option<EtagQuoting>,
}

impl Debug for ObjectStoreRemoteBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<(&str, &str)> = self
            .options
            .iter()
            .map(|(key, _)| (key.as_str(), "******"))
            .collect();
        f.debug_struct("ObjectStoreRemoteBuilder")
            .field("url", &self.url)
            .field("options", &keys)
            .field("etag_quoting", &self.etag_quoting)
            .finish()
    }
}

impl ObjectStoreRemoteBuilder {
    /// Sets an object_store configuration key for the URL's store, on top of
    /// what the environment says: for `s3://` an object_store
    /// `AmazonS3ConfigKey` name (feature `aws`) such as `"aws_endpoint"`,
    /// `"aws_region"` or `"aws_allow_http"`.
    ///
    /// By default, no options: everything comes from the environment.
    pub fn with_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// Sets the S3 endpoint, e.g. `http://127.0.0.1:4566` for a local server.
    ///
    /// By default, `AWS_ENDPOINT_URL` or else Amazon's endpoint for the region.
    pub fn with_endpoint(self, endpoint: impl Into<String>) -> Self {
        self.with_option("aws_endpoint", endpoint)
    }

    /// Sets the S3 region.
    ///
    /// By default, `AWS_REGION` or else `us-east-1`.
    pub fn with_region(self, region: impl Into<String>) -> Self {
        self.with_option("aws_region", region)
    }

    /// Allows plain-HTTP endpoints.
    ///
    /// By default, `AWS_ALLOW_HTTP` or else `false`.
    pub fn with_allow_http(self, allow: bool) -> Self {
        self.with_option("aws_allow_http", allow.to_string())
    }

    /// Sets how failed requests to a cloud store are retried.
    ///
    /// By default, up to 3 retries with exponential backoff from 100 ms,
    /// and none started 10 s or more after the first attempt: a refused
    /// connection fails within about a second, and a server that accepts
    /// and never answers fails after one [request
    /// timeout](Self::with_request_timeout).
    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
    pub fn with_retry(mut self, retry: object_store::RetryConfig) -> Self {
        self.network.retry = Some(retry);
        self
    }

    /// Sets how long opening a connection to a cloud store may take.
    ///
    /// By default, the environment's (`AWS_CONNECT_TIMEOUT` for S3), else
    /// 5 s.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.network.connect_timeout = Some(timeout);
        self
    }

    /// Sets how long one request to a cloud store may take, from connecting
    /// to its last byte: a HEAD, one ranged part of a download (8 MiB by
    /// default), or the whole PUT of an upload. Raise it for databases that
    /// take longer than that to upload on your link.
    ///
    /// By default, the environment's (`AWS_TIMEOUT` for S3), else 30 s.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.network.request_timeout = Some(timeout);
        self
    }

    /// Builds the remote.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`], [`Error::UnsupportedScheme`] or
    /// [`Error::FeatureDisabled`] for a URL this crate cannot use;
    /// [`Error::Config`] when the store rejects an option;
    /// [`Error::BucketNotFound`] for a `file://` URL whose folder is missing.
    pub fn build(self) -> Result<ObjectStoreRemote> {
        let location = Location::parse(&self.url)?;
        let quoting = match self.etag_quoting {
            Some(quoting) => quoting,
            None => etag_quoting_from_env(&location.url)?,
        };
        let (store, backend) = location.build(&self.options, &self.network)?;
        Ok(ObjectStoreRemote {
            store,
            key: location.key,
            url: location.url,
            backend,
            quoting,
            learned_unquoted: AtomicBool::new(false),
        })
    }

    /// Sets how conditional updates send the entity tag; see
    /// [`EtagQuoting`].
    ///
    /// By default the environment variable `S3SQLITE_ETAG_QUOTING`
    /// (`auto`, `quoted` or `unquoted`), else [`EtagQuoting::Auto`], which
    /// needs no setting on any store measured so far.
    pub fn with_etag_quoting(mut self, quoting: EtagQuoting) -> Self {
        self.etag_quoting = Some(quoting);
        self
    }

    /// Sends the cloud store's requests through `connector` instead of
    /// object_store's default reqwest client: for a proxy, custom TLS, or
    /// counting and shaping requests in tests. Applies to `s3://`, `gs://`
    /// and `az://` URLs; `file://` and `memory://` make no requests.
    ///
    /// By default, object_store's reqwest client.
    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
    pub fn with_http_connector(
        mut self,
        connector: Arc<dyn object_store::client::HttpConnector>,
    ) -> Self {
        self.network.connector = Some(SharedConnector(connector));
        self
    }
}

impl ObjectStoreRemote {
    /// The remote for `url`, configured from the environment.
    ///
    /// # Errors
    ///
    /// As [`ObjectStoreRemoteBuilder::build`].
    pub fn from_url(url: &str) -> Result<Self> {
        Self::builder(url).build()
    }

    /// A builder for the remote at `url`.
    pub fn builder(url: impl Into<String>) -> ObjectStoreRemoteBuilder {
        ObjectStoreRemoteBuilder {
            url: url.into(),
            options: Vec::new(),
            network: Network::default(),
            etag_quoting: None,
        }
    }

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
                return super::head_then_download(self, dest, transfer, admit).await;
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

/// [`EtagQuoting`] as the environment sets it for the remote at `url`.
fn etag_quoting_from_env(url: &str) -> Result<EtagQuoting> {
    match std::env::var(ETAG_QUOTING_VAR) {
        Ok(value) if !value.trim().is_empty() => value.parse().map_err(|_| Error::InvalidSetting {
            url: url.to_owned(),
            var: ETAG_QUOTING_VAR,
            value,
            reason: "expected auto, quoted or unquoted".to_owned(),
        }),
        _ => Ok(EtagQuoting::Auto),
    }
}

#[async_trait]
impl RemoteStore for ObjectStoreRemote {
    async fn head(&self) -> Result<Option<RemoteVersion>> {
        if let Backend::File { path } = &self.backend {
            return file_lock::head(self, path).await;
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
            return super::head_then_download(self, dest, transfer, admit).await;
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
            return file_lock::upload(self, path, src, condition, stamp).await;
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
