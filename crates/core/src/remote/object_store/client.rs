//! [`Client`]: one key in one object store: its version, conditional
//! puts, and what a put that got no answer did.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, GetOptions, GetResult, ObjectStore, PutMode, PutOptions, PutPayload,
    UpdateVersion,
};

use super::location::Backend;
use crate::remote::etag::{self, EtagQuoting};
use crate::version::{RemoteVersion, Stamp, WriteCondition};
use crate::{Error, Result};

/// The metadata key under which the content hash is stored with the object.
const HASH_METADATA_KEY: &str = "s3sqlite-blake3";
/// The metadata key under which the uploaded size is stored with the object.
const SIZE_METADATA_KEY: &str = "s3sqlite-size";
/// The metadata key under which the upload id is stored with the object.
const UPLOAD_ID_METADATA_KEY: &str = "s3sqlite-upload-id";

/// One key in one object store, and how its conditional updates send
/// entity tags.
pub(super) struct Client {
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    url: String,
    backend: Backend,
    quoting: EtagQuoting,
    /// In [`EtagQuoting::Auto`]: the store refused its own current tag
    /// quoted and took it unquoted, so updates go unquoted from now on.
    learned_unquoted: AtomicBool,
}

impl Client {
    /// The key `key` of `store`, known by `url`.
    pub(super) fn new(
        store: Arc<dyn ObjectStore>,
        key: ObjectPath,
        url: String,
        backend: Backend,
        quoting: EtagQuoting,
    ) -> Self {
        Client {
            store,
            key,
            url,
            backend,
            quoting,
            learned_unquoted: AtomicBool::new(false),
        }
    }

    /// The client with conditional updates sending the entity tag as
    /// `quoting` says, nothing learnt yet.
    pub(super) fn with_quoting(mut self, quoting: EtagQuoting) -> Self {
        self.quoting = quoting;
        self.learned_unquoted = AtomicBool::new(false);
        self
    }

    /// Whether conditional updates now send the entity tag without quotes.
    pub(super) fn sends_unquoted_etags(&self) -> bool {
        match self.quoting {
            EtagQuoting::Auto => self.learned_unquoted.load(Ordering::Relaxed),
            EtagQuoting::Quoted => false,
            EtagQuoting::Unquoted => true,
        }
    }

    pub(super) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub(super) fn key(&self) -> &ObjectPath {
        &self.key
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }

    pub(super) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The client for the key `self`'s key + `/` + `name` on the same store
    /// (for `file://`, the file `name` in the folder named by `self`'s
    /// path), sending entity tags as `self` does now.
    pub(super) fn scratch(&self, name: &str) -> Client {
        let mut client = self.twin();
        client.key = ObjectPath::from_iter(self.key.parts().chain(ObjectPath::from(name).parts()));
        client.url = format!("{}/{name}", self.url.trim_end_matches('/'));
        if let Backend::File { path } = &mut client.backend {
            *path = path.join(name);
        }
        client
    }

    /// Another client for the same key, sending entity tags as `self` does
    /// now.
    pub(super) fn twin(&self) -> Client {
        Client {
            store: Arc::clone(&self.store),
            key: self.key.clone(),
            url: self.url.clone(),
            backend: self.backend.clone(),
            quoting: self.quoting,
            learned_unquoted: AtomicBool::new(self.learned_unquoted.load(Ordering::Relaxed)),
        }
    }

    pub(super) fn error(&self, source: object_store::Error) -> Error {
        #[cfg(feature = "aws-config")]
        if let Some(failed) = find::<super::aws_chain::LoadFailed>(&source) {
            return Error::NoCredentials {
                url: self.url.clone(),
                reason: failed.to_string(),
            };
        }
        if let Some(code) = credential_code(&source) {
            return self.refused(code, source);
        }
        #[cfg(feature = "aws")]
        if is_wrong_region(&source)
            && let Backend::S3 {
                multipart: Some(s3),
                ..
            } = &self.backend
        {
            return Error::WrongRegion {
                url: self.url.clone(),
                region: s3.region().to_owned(),
                bucket_region: None,
                source: Box::new(source),
            };
        }
        Error::Remote {
            url: self.url.clone(),
            source,
        }
    }

    /// On S3 a HEAD of a missing bucket looks like a missing key: a one-page
    /// listing tells them apart. Only run when the object is absent.
    pub(super) async fn check_bucket(&self) -> Result<()> {
        match &self.backend {
            #[cfg(feature = "aws")]
            Backend::S3 { .. } => self.list_for_bucket().await,
            Backend::Cloud => self.list_for_bucket().await,
            Backend::File { path } => match path.parent() {
                Some(dir) if dir.is_dir() => Ok(()),
                _ => Err(Error::BucketNotFound {
                    url: self.url.clone(),
                }),
            },
            Backend::Memory | Backend::Custom => Ok(()),
        }
    }

    /// The listing of [`check_bucket`](Self::check_bucket) for a cloud store.
    async fn list_for_bucket(&self) -> Result<()> {
        let mut listing = self.store.list(Some(&self.key));
        match listing.next().await {
            Some(Err(err)) if mentions_missing_bucket(&err) => Err(Error::BucketNotFound {
                url: self.url.clone(),
            }),
            // a store that answers 404 without a listing permission: the
            // bucket cannot be checked, and the key is missing
            Some(Err(err)) if is_forbidden(&err) => Ok(()),
            Some(Err(err)) => Err(self.error(err)),
            _ => Ok(()),
        }
    }

    /// The object's version as the store reports it, with the stamp read
    /// from its metadata.
    pub(super) async fn head(&self) -> Result<Option<RemoteVersion>> {
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
            Err(err @ object_store::Error::PermissionDenied { .. }) if self.is_cloud() => {
                Err(self.forbidden(err).await)
            }
            #[cfg(feature = "aws")]
            Err(err) if is_wrong_region(&err) => Err(self.wrong_region(err).await),
            Err(err) => Err(self.error(err)),
        }
    }

    /// The error for a request S3 redirected to another region (`err`),
    /// naming the bucket's region when a `HEAD` of the bucket tells it.
    #[cfg(feature = "aws")]
    async fn wrong_region(&self, err: object_store::Error) -> Error {
        let Backend::S3 {
            multipart: Some(s3),
            ..
        } = &self.backend
        else {
            return self.error(err);
        };
        Error::WrongRegion {
            url: self.url.clone(),
            region: s3.region().to_owned(),
            bucket_region: s3.bucket_region().await,
            source: Box::new(err),
        }
    }

    /// [`Error::CredentialsRefused`] for `source`, refused with `code`.
    fn refused(&self, code: &str, source: object_store::Error) -> Error {
        Error::CredentialsRefused {
            url: self.url.clone(),
            credentials: self.credential_source(),
            code: code.to_owned(),
            source: Box::new(source),
        }
    }

    /// Where the store's credentials come from, in words.
    fn credential_source(&self) -> String {
        #[cfg(feature = "aws-config")]
        if let Backend::S3 {
            chain: Some(chain), ..
        } = &self.backend
        {
            return chain.source();
        }
        match &self.backend {
            #[cfg(feature = "aws")]
            Backend::S3 { .. } if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() => {
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment".to_owned()
            }
            _ => "the store's configuration".to_owned(),
        }
    }

    /// The version `id` of the object, with the stamp read from its
    /// metadata (and `id` as its version id when the store's answer names
    /// none); `None` when that version is gone.
    #[cfg(feature = "aws")]
    pub(super) async fn head_version(&self, id: &str) -> Result<Option<RemoteVersion>> {
        let options = GetOptions {
            head: true,
            version: Some(id.to_owned()),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.key, options).await {
            Ok(result) => {
                let mut version = version_of(&result);
                version.version.get_or_insert_with(|| id.to_owned());
                Ok(Some(version))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(self.error(err)),
        }
    }

    /// Whether the store is S3, GCS or Azure: one that may answer 403 for a
    /// key that does not exist.
    fn is_cloud(&self) -> bool {
        match &self.backend {
            #[cfg(feature = "aws")]
            Backend::S3 { .. } => true,
            Backend::Cloud => true,
            _ => false,
        }
    }

    /// The error for a read of the object refused with 403 (`err`): a
    /// listing of the bucket tells a missing key (S3 answers 403 for one
    /// when the caller may not list) from a refused read.
    async fn forbidden(&self, err: object_store::Error) -> Error {
        let url = self.url.clone();
        let mut listing = self.store.list(Some(&self.key));
        match listing.next().await {
            // a HEAD's refusal has no body: the listing's names the cause
            Some(Err(listed)) => match credential_code(&listed) {
                Some(code) => self.refused(code, listed),
                None if is_forbidden(&listed) => Error::MissingOrForbidden { url, source: err },
                None => self.error(err),
            },
            _ => Error::AccessDenied { url, source: err },
        }
    }

    /// Uploads `payload` if `condition` holds, mapping a failed
    /// precondition to [`Error::Conflict`].
    ///
    /// In [`EtagQuoting::Auto`], an update refused with its tag quoted is
    /// followed by a HEAD: if the object is still the expected version, the
    /// store refused its own current tag, so the PUT is sent once more
    /// unquoted, and if that lands every later update goes unquoted.
    pub(super) async fn put(
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
            let current = self.head().await?;
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
            Err(err) if is_forbidden(&err) && credential_code(&err).is_none() => {
                Err(Error::WriteDenied {
                    url: self.url.clone(),
                    source: Box::new(err),
                })
            }
            Err(err) if *condition != WriteCondition::Overwrite => {
                self.settle(condition, stamp, err).await
            }
            Err(err) => Err(self.error(err)),
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
        for (name, value) in stamp_metadata(stamp) {
            attributes.insert(Attribute::Metadata(name.into()), value.into());
        }
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
        let current = self.head().await?;
        match current {
            Some(current) if stamp.landed_as(&current) => Ok(current),
            Some(current) if current.stamp.as_ref() == Some(stamp) => Err(self.error(err)),
            current if !condition.holds(current.as_ref()) => {
                Err(Error::conflict(&self.url, condition.expected(), current))
            }
            _ => Err(self.error(err)),
        }
    }

    /// The conflict error for a failed `condition`, with the version on the
    /// remote now.
    ///
    /// A condition refused though the object is still the version it
    /// names is no conflict: [`Error::ConditionRefused`].
    pub(super) async fn conflict(&self, condition: &WriteCondition) -> Error {
        let current = match self.head().await {
            Ok(current) => current,
            Err(err) => return err,
        };
        if let (Some(expected), Some(now)) = (condition.expected(), current.as_ref())
            && expected.same_object(now)
        {
            return Error::ConditionRefused {
                url: self.url.clone(),
                version: Box::new(now.clone()),
            };
        }
        Error::conflict(&self.url, condition.expected(), current)
    }
}

/// The metadata (name and value) that carries `stamp` with the object.
pub(super) fn stamp_metadata(stamp: &Stamp) -> [(&'static str, String); 3] {
    [
        (HASH_METADATA_KEY, stamp.content_hash.to_hex()),
        (SIZE_METADATA_KEY, stamp.size.to_string()),
        (UPLOAD_ID_METADATA_KEY, stamp.upload_id.clone()),
    ]
}

/// The error chain of a listing names S3's `NoSuchBucket` code (object_store
/// reports listing failures as generic errors, so the code is the only sign).
fn mentions_missing_bucket(err: &object_store::Error) -> bool {
    mentions(err, &["NoSuchBucket", "ContainerNotFound"])
}

/// A listing was refused: a 403, which object_store reports as a generic
/// error whose text gives the status and S3's code.
pub(crate) fn is_forbidden(err: &object_store::Error) -> bool {
    matches!(err, object_store::Error::PermissionDenied { .. })
        || mentions(err, &["403 Forbidden", "<Code>AccessDenied</Code>"])
}

/// The S3 error code with which the store refused the credentials
/// themselves, if `err` is such a refusal.
fn credential_code(err: &object_store::Error) -> Option<&'static str> {
    let codes = crate::error::refusal::CREDENTIAL_CODES;
    codes.into_iter().find(|code| mentions(err, &[code]))
}

/// Whether S3 redirected the request to the bucket's region: object_store
/// reports a redirect without `Location`, S3 a `PermanentRedirect` or a
/// signature for the wrong region.
#[cfg(feature = "aws")]
fn is_wrong_region(err: &object_store::Error) -> bool {
    mentions(
        err,
        &[
            "incorrectly configured region",
            "<Code>PermanentRedirect</Code>",
            "<Code>AuthorizationHeaderMalformed</Code>",
        ],
    )
}

/// `err` and every error under it, outermost first.
fn chain(err: &object_store::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    })
}

/// The first error of type `T` in the chain of `err`.
#[cfg(feature = "aws-config")]
fn find<T: std::error::Error + 'static>(err: &object_store::Error) -> Option<&T> {
    chain(err).find_map(|e| e.downcast_ref::<T>())
}

/// Whether a message in the error chain of `err` holds one of `needles`.
fn mentions(err: &object_store::Error, needles: &[&str]) -> bool {
    chain(err).any(|e| {
        let text = e.to_string();
        needles.iter().any(|needle| text.contains(needle))
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

/// The version a HEAD or GET response describes, with the stamp read from
/// its metadata.
pub(super) fn version_of(response: &GetResult) -> RemoteVersion {
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
