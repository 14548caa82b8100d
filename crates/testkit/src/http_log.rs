//! [`HttpLog`]: an HTTP connector that records what a cloud remote sends.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::BoxFuture;

use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use s3sqlite_core::async_trait;

/// One request a remote sent and the status it got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exchange {
    /// `GET`, `HEAD`, `PUT`, …
    pub method: String,
    /// The URL's path (bucket and key on a path-style endpoint).
    pub path: String,
    /// The URL's query, empty when it has none.
    pub query: String,
    /// The `If-Match` header as sent.
    pub if_match: Option<String>,
    /// The `If-None-Match` header as sent.
    pub if_none_match: Option<String>,
    /// The status the caller saw (after any rewrite by the log), or `None`
    /// when the request failed without an answer.
    pub status: Option<u16>,
    /// The `x-amz-*` headers of the request, names in lower case.
    pub amz_request: Vec<(String, String)>,
    /// The `x-amz-*` headers of the answer the caller saw, names in lower
    /// case.
    pub amz_response: Vec<(String, String)>,
}

/// The `x-amz-*` headers of `headers`, names in lower case.
fn amz_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-amz-"))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect()
}

impl Exchange {
    /// The value of the `x-amz-*` header `name` (lower case) of the request.
    pub fn request_header(&self, name: &str) -> Option<&str> {
        let found = self.amz_request.iter().find(|(n, _)| n == name);
        found.map(|(_, value)| value.as_str())
    }

    /// The value of the `x-amz-*` header `name` (lower case) of the answer.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        let found = self.amz_response.iter().find(|(n, _)| n == name);
        found.map(|(_, value)| value.as_str())
    }
}

impl Exchange {
    /// Whether this is a conditional update: a `PUT` with `If-Match`.
    pub fn is_conditional_update(&self) -> bool {
        self.method == "PUT" && self.if_match.is_some()
    }
}

/// What [`HttpLog::before_pinned_gets`] runs.
type Action = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

#[derive(Default)]
struct State {
    exchanges: Vec<Exchange>,
    /// Run before each of the next so many `GET`s that carry `If-Match`.
    before_pinned_gets: Option<(usize, Action)>,
    /// Answers `412` to a conditional PUT this many more times with
    /// `500 UnknownError`, as Ceph's RADOS Gateway does to some losers of a
    /// race.
    precondition_as_500: usize,
    /// Answers each of the next completions of a multipart upload with
    /// this status and an S3 `<Error>` body: after the store acted on it
    /// when `true`, instead of sending it when `false`.
    completes_lost: Vec<(u16, bool)>,
    /// Refuses listings with 403, and answers 403 where the store answers
    /// 404: as S3 does to a caller without `s3:ListBucket`.
    deny_listing: bool,
    /// Refuses every read of an object (GET or HEAD that is not a
    /// listing) with 403.
    deny_reads: bool,
    /// Answers every request as S3 answers one sent to another region than
    /// the bucket's, which is this one.
    bucket_region: Option<String>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("exchanges", &self.exchanges)
            .field("precondition_as_500", &self.precondition_as_500)
            .field("completes_lost", &self.completes_lost)
            .field("deny_listing", &self.deny_listing)
            .field("deny_reads", &self.deny_reads)
            .field("bucket_region", &self.bucket_region)
            .field(
                "before_pinned_gets",
                &self.before_pinned_gets.as_ref().map(|(times, _)| times),
            )
            .finish()
    }
}

/// Records every request of a cloud remote built with it, and can answer
/// some of them the way a flaky store does.
///
/// Give [`connector`](Self::connector) to
/// [`ObjectStoreRemoteBuilder::with_http_connector`](s3sqlite_core::ObjectStoreRemoteBuilder::with_http_connector);
/// requests go out through object_store's usual reqwest client. Clones share
/// one log.
///
/// ```no_run
/// use s3sqlite_testkit::{HttpLog, S3Server, ServerKind};
///
/// # async fn run() -> s3sqlite_testkit::Result<()> {
/// let server = S3Server::start(ServerKind::LocalStack).await?;
/// let log = HttpLog::new();
/// let remote = server
///     .remote_builder(&server.url("app.db"))
///     .with_http_connector(log.connector())
///     .build()?;
/// # let _ = remote;
/// let puts = log.exchanges().iter().filter(|e| e.method == "PUT").count();
/// assert_eq!(puts, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct HttpLog {
    state: Arc<Mutex<State>>,
}

impl HttpLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The connector to build a remote with.
    pub fn connector(&self) -> Arc<dyn HttpConnector> {
        Arc::new(LogConnector { log: self.clone() })
    }

    /// Records `exchange` as answered now.
    pub(crate) fn push(&self, exchange: Exchange) {
        self.lock().exchanges.push(exchange);
    }

    /// Every request so far, in the order they were answered.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.lock().exchanges.clone()
    }

    /// The conditional updates (`PUT` with `If-Match`) so far.
    pub fn conditional_updates(&self) -> Vec<Exchange> {
        self.lock()
            .exchanges
            .iter()
            .filter(|e| e.is_conditional_update())
            .cloned()
            .collect()
    }

    /// Forgets the requests so far.
    pub fn clear(&self) {
        self.lock().exchanges.clear();
    }

    /// Answers the next `times` conditional PUTs that the store refuses
    /// with `412` with `500 UnknownError` instead, as Ceph's RADOS Gateway
    /// answers some losers of an `If-Match` race.
    pub fn answer_precondition_failed_with_500(&self, times: usize) {
        self.lock().precondition_as_500 = times;
    }

    /// Lets each of the next completions of a multipart upload (a `POST`
    /// with `uploadId`) reach the store, then answers it with the next of
    /// `statuses` and an S3 `<Error>` body (`InternalError`) instead of
    /// the store's answer: the answer lost after the store completed, or
    /// refused, the upload. A `200` carries the error in its body, as
    /// Amazon S3 may answer a completion that failed.
    pub fn lose_complete_answers(&self, statuses: &[u16]) {
        self.lock().completes_lost = statuses.iter().map(|s| (*s, true)).collect();
    }

    /// Answers each of the next completions of a multipart upload with the
    /// next of `statuses` and an S3 `InternalError` body without sending
    /// it: a completion that failed, the upload left open.
    pub fn fail_completes(&self, statuses: &[u16]) {
        self.lock().completes_lost = statuses.iter().map(|s| (*s, false)).collect();
    }

    /// From now on, refuses every listing with `403 AccessDenied` and
    /// answers `403` where the store answers `404`: what S3 does for
    /// credentials without `s3:ListBucket`.
    pub fn deny_listing(&self) {
        self.lock().deny_listing = true;
    }

    /// From now on, refuses every GET and HEAD of an object (not a
    /// listing) with `403 AccessDenied`, without sending it: what S3 does
    /// for credentials without `s3:GetObject`.
    pub fn deny_reads(&self) {
        self.lock().deny_reads = true;
    }

    /// From now on, answers every request, without sending it, as S3
    /// answers one signed for another region than the bucket's:
    /// `301 PermanentRedirect` with no `Location`, and the bucket's region
    /// `region` in `x-amz-bucket-region`.
    pub fn redirect_to_region(&self, region: &str) {
        self.lock().bucket_region = Some(region.to_owned());
    }

    /// Runs `action` to its end just before each of the next `times` GETs
    /// that carry `If-Match` goes out: the parts of a download pinned to a
    /// version, so that `action` can move the remote in between, at an
    /// exact point of the download.
    ///
    /// ```no_run
    /// # use s3sqlite_testkit::HttpLog;
    /// let log = HttpLog::new();
    /// log.before_pinned_gets(1, || Box::pin(async { /* overwrite the object */ }));
    /// ```
    pub fn before_pinned_gets(
        &self,
        times: usize,
        action: impl Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) {
        self.lock().before_pinned_gets = Some((times, Arc::new(action)));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug)]
struct LogConnector {
    log: HttpLog,
}

impl HttpConnector for LogConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(LogService {
            inner,
            log: self.log.clone(),
        }))
    }
}

#[derive(Debug)]
struct LogService {
    inner: HttpClient,
    log: HttpLog,
}

#[async_trait]
impl HttpService for LogService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let header = |name: http::header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let completes = request.method() == http::Method::POST
            && request
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("uploadId=")));
        let mut exchange = Exchange {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().unwrap_or_default().to_owned(),
            if_match: header(http::header::IF_MATCH),
            if_none_match: header(http::header::IF_NONE_MATCH),
            status: None,
            amz_request: amz_headers(request.headers()),
            amz_response: Vec::new(),
        };
        let action = {
            let mut state = self.log.lock();
            match &mut state.before_pinned_gets {
                Some((times, action))
                    if *times > 0 && exchange.method == "GET" && exchange.if_match.is_some() =>
                {
                    *times -= 1;
                    Some(Arc::clone(action))
                }
                _ => None,
            }
        };
        if let Some(action) = action {
            action().await;
        }
        let lists = request.method() == http::Method::GET
            && request
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("list-type=")));
        let reads = matches!(*request.method(), http::Method::GET | http::Method::HEAD) && !lists;
        let (lost, deny_listing, deny_reads, bucket_region) = {
            let state = self.log.lock();
            let lost = state.completes_lost.first().copied().filter(|_| completes);
            let region = state.bucket_region.clone();
            (lost, state.deny_listing, state.deny_reads, region)
        };
        let head = request.method() == http::Method::HEAD;
        let result = match (lost, bucket_region) {
            (_, Some(region)) => Ok(permanent_redirect(&region, head)),
            (Some((status, false)), None) => {
                self.log.lock().completes_lost.remove(0);
                Ok(internal_error(status))
            }
            _ if (deny_listing && lists) || (deny_reads && reads) => Ok(access_denied()),
            _ => self.inner.execute(request).await,
        };
        let result = match result {
            Ok(response) if deny_listing && response.status() == http::StatusCode::NOT_FOUND => {
                Ok(access_denied())
            }
            other => other,
        };
        let mut state = self.log.lock();
        let result = match result {
            Ok(response)
                if response.status() == http::StatusCode::PRECONDITION_FAILED
                    && exchange.method == "PUT"
                    && state.precondition_as_500 > 0 =>
            {
                state.precondition_as_500 -= 1;
                Ok(unknown_error())
            }
            Ok(_) if lost.is_some_and(|(_, sent)| sent) => {
                let (status, _) = state.completes_lost.remove(0);
                Ok(internal_error(status))
            }
            other => other,
        };
        exchange.status = result.as_ref().ok().map(|r| r.status().as_u16());
        if let Ok(response) = &result {
            exchange.amz_response = amz_headers(response.headers());
        }
        state.exchanges.push(exchange);
        result
    }
}

/// S3's `403 AccessDenied`.
fn access_denied() -> HttpResponse {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                <Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
    http::Response::builder()
        .status(http::StatusCode::FORBIDDEN)
        .header(http::header::CONTENT_TYPE, "application/xml")
        .body(body.to_owned().into())
        .expect("a valid response")
}

/// S3's `301 PermanentRedirect` to the bucket's `region`: a body only when
/// the request is not a `HEAD`.
fn permanent_redirect(region: &str, head: bool) -> HttpResponse {
    let body = match head {
        true => String::new(),
        false => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to \
             access must be addressed using the specified endpoint. Please send all future \
             requests to this endpoint.</Message>\
             <Endpoint>s3.{region}.amazonaws.com</Endpoint></Error>"
        ),
    };
    http::Response::builder()
        .status(http::StatusCode::MOVED_PERMANENTLY)
        .header(http::header::CONTENT_TYPE, "application/xml")
        .header("x-amz-bucket-region", region)
        .body(body.into())
        .expect("a valid response")
}

/// An answer of `status` whose body is S3's `InternalError`.
fn internal_error(status: u16) -> HttpResponse {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                <Error><Code>InternalError</Code>\
                <Message>We encountered an internal error. Please try again.</Message></Error>";
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/xml")
        .body(body.to_owned().into())
        .expect("a valid response")
}

/// The `500` Ceph's RADOS Gateway gives some losers of an `If-Match` race.
fn unknown_error() -> HttpResponse {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                <Error><Code>UnknownError</Code><Message></Message></Error>";
    http::Response::builder()
        .status(http::StatusCode::INTERNAL_SERVER_ERROR)
        .header(http::header::CONTENT_TYPE, "application/xml")
        .body(body.to_owned().into())
        .expect("a valid response")
}
