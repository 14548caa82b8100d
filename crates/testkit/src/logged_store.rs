//! [`HttpLog::store`]: an object store whose calls an [`HttpLog`] records
//! as the requests a cloud store would send for them.

use std::fmt;
use std::sync::Arc;

use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use s3sqlite_core::async_trait;

use crate::http_log::{Exchange, HttpLog};

impl HttpLog {
    /// `store` with its calls logged here as the requests a cloud store
    /// would get for them (`GET`, `HEAD`, `PUT`, with their conditions and
    /// the status the answer stands for): counts requests on `memory://`,
    /// where no HTTP is made. Give the result to
    /// [`ObjectStoreRemote::new`](s3sqlite_core::ObjectStoreRemote::new).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use s3sqlite_core::{ObjectStoreRemote, RemoteStore};
    /// use s3sqlite_testkit::HttpLog;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let log = HttpLog::new();
    /// let plain = ObjectStoreRemote::from_url("memory:///http-log-docs/app.db")?;
    /// let store = log.store(Arc::clone(plain.store()));
    /// let remote = ObjectStoreRemote::new(store, plain.key().clone());
    /// assert!(remote.head().await?.is_none());
    /// assert_eq!(log.exchanges()[0].method, "HEAD");
    /// assert_eq!(log.exchanges()[0].status, Some(404));
    /// # Ok::<(), s3sqlite_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn store(&self, store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(LoggedStore {
            inner: store,
            log: self.clone(),
        })
    }
}

/// Forwards every call to `inner`, and logs each GET, HEAD and PUT.
#[derive(Debug)]
struct LoggedStore {
    inner: Arc<dyn ObjectStore>,
    log: HttpLog,
}

impl fmt::Display for LoggedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// The status a cloud store would have answered with.
fn status<T>(result: &object_store::Result<T>, success: u16) -> Option<u16> {
    match result {
        Ok(_) => Some(success),
        Err(object_store::Error::NotFound { .. }) => Some(404),
        Err(object_store::Error::NotModified { .. }) => Some(304),
        Err(
            object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. },
        ) => Some(412),
        Err(_) => None,
    }
}

#[async_trait]
impl ObjectStore for LoggedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        options: PutOptions,
    ) -> object_store::Result<PutResult> {
        let (if_match, if_none_match) = match &options.mode {
            PutMode::Overwrite => (None, None),
            PutMode::Create => (None, Some("*".to_owned())),
            PutMode::Update(version) => (version.e_tag.clone(), None),
        };
        let result = self.inner.put_opts(location, payload, options).await;
        self.log.push(Exchange {
            method: "PUT".to_owned(),
            path: location.to_string(),
            query: String::new(),
            if_match,
            if_none_match,
            status: status(&result, 200),
            amz_request: Vec::new(),
            amz_response: Vec::new(),
        });
        result
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
        let method = if options.head { "HEAD" } else { "GET" };
        let success = if options.range.is_some() && !options.head {
            206
        } else {
            200
        };
        let if_match = options.if_match.clone();
        let if_none_match = options.if_none_match.clone();
        let result = self.inner.get_opts(location, options).await;
        self.log.push(Exchange {
            method: method.to_owned(),
            path: location.to_string(),
            query: String::new(),
            if_match,
            if_none_match,
            status: status(&result, success),
            amz_request: Vec::new(),
            amz_response: Vec::new(),
        });
        result
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
