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
    /// The `If-Match` header as sent.
    pub if_match: Option<String>,
    /// The `If-None-Match` header as sent.
    pub if_none_match: Option<String>,
    /// The status the caller saw (after any rewrite by the log), or `None`
    /// when the request failed without an answer.
    pub status: Option<u16>,
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
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("exchanges", &self.exchanges)
            .field("precondition_as_500", &self.precondition_as_500)
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
        let mut exchange = Exchange {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            if_match: header(http::header::IF_MATCH),
            if_none_match: header(http::header::IF_NONE_MATCH),
            status: None,
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
        let result = self.inner.execute(request).await;
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
            other => other,
        };
        exchange.status = result.as_ref().ok().map(|r| r.status().as_u16());
        state.exchanges.push(exchange);
        result
    }
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
