//! [`careless_remote`]: a store that accepts every write, conditions or not.

use std::fmt;
use std::sync::Arc;

use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use s3sqlite_core::ObjectStoreRemote;
use s3sqlite_core::async_trait;

/// An in-memory [`ObjectStore`] that ignores `If-Match` and
/// `If-None-Match`: every PUT overwrites and succeeds, as some S3-compatible
/// servers do (s3s-fs answers 200 to every racer). Reads are exact.
///
/// No s3sqlite promise about concurrent writers holds on it: use it to check
/// that code (or [`probe`](s3sqlite_core::probe::probe)) notices.
#[derive(Debug, Default)]
pub struct CarelessStore {
    inner: InMemory,
}

impl fmt::Display for CarelessStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CarelessStore")
    }
}

#[async_trait]
impl ObjectStore for CarelessStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        options: PutOptions,
    ) -> object_store::Result<PutResult> {
        let options = PutOptions {
            mode: PutMode::Overwrite,
            ..options
        };
        self.inner.put_opts(location, payload, options).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        options: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, options).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// A remote for `key` on a fresh [`CarelessStore`]: every write lands,
/// whatever its condition.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use s3sqlite_core::probe::{ProbeOptions, probe};
///
/// let remote = s3sqlite_testkit::careless_remote("scratch");
/// let report = probe(&remote, &ProbeOptions::new().with_body_size(1024)).await?;
/// assert!(!report.verdict.is_safe());
/// # Ok::<(), s3sqlite_core::Error>(())
/// # }).unwrap();
/// ```
pub fn careless_remote(key: &str) -> ObjectStoreRemote {
    ObjectStoreRemote::new(Arc::new(CarelessStore::default()), key)
}
