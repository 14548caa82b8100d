//! One signed request to an S3 bucket and what became of it: an
//! [`Answer`], or a [`Failure`] that becomes the crate's error.

use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use object_store::aws::{AwsAuthorizer, AwsCredentialProvider};
use object_store::client::{HttpClient, HttpRequest};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Request headers: names and values.
pub(super) type Headers = Vec<(String, String)>;

/// What made a request fail before an answer was read.
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Sends signed requests to one bucket.
#[derive(Debug)]
pub(super) struct Sender {
    /// Sends the requests, with the store's client options.
    pub(super) http: HttpClient,
    /// Asked at each request, as credentials rotate.
    pub(super) credentials: AwsCredentialProvider,
    /// The region requests are signed for.
    pub(super) region: String,
    /// The bucket, for messages.
    pub(super) bucket: String,
    /// Requests go unsigned (`aws_skip_signature`).
    pub(super) skip_signature: bool,
    /// Bodies are hashed into the signature (not `aws_unsigned_payload`).
    pub(super) sign_payload: bool,
    /// Requests say the requester pays (`aws_request_payer`).
    pub(super) request_payer: bool,
}

impl Sender {
    /// The request `name` (in the S3 API) on `key`.
    pub(super) fn call<'a>(&'a self, name: &'static str, key: &'a str) -> Call<'a> {
        Call {
            sender: self,
            name,
            key,
        }
    }

    /// The header `name` of the answer to a signed `HEAD` of `url`, whatever
    /// its status (S3 sends `x-amz-bucket-region` with a redirect or a
    /// refusal too); `None` when the request fails or the header is absent.
    pub(super) async fn head_header(&self, url: &str, name: &str) -> Option<String> {
        let request = Request::builder().method(Method::HEAD).uri(url);
        let mut request = request.body(Bytes::new().into()).ok()?;
        self.sign(&mut request).await.ok()?;
        let response = self.http.execute(request).await.ok()?;
        let value = response.headers().get(name)?.to_str().ok()?;
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// Adds the SigV4 headers to `request`, with credentials asked for now;
    /// the body's SHA-256 is part of the signature unless payloads go
    /// unsigned.
    async fn sign(&self, request: &mut HttpRequest) -> object_store::Result<()> {
        if self.skip_signature {
            return Ok(());
        }
        let credential = self.credentials.get_credential().await?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .with_sign_payload(self.sign_payload)
            .with_request_payer(self.request_payer)
            .try_authorize(request, None)
    }
}

/// One request of a [`Sender`]: its name in the S3 API and the key it
/// concerns, for messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Call<'a> {
    sender: &'a Sender,
    name: &'static str,
    key: &'a str,
}

impl Call<'_> {
    /// The crate's error for `failure`, naming `s3://bucket/key`.
    pub(super) fn fail(&self, failure: Failure) -> Error {
        let url = format!("s3://{}/{}", self.sender.bucket, self.key);
        failure.into_error(url, self.key)
    }

    /// The crate's error for the request, which `what` (e.g. "was not
    /// sent: …").
    pub(super) fn error(&self, what: String) -> Error {
        let request = self.name;
        self.fail(Failure::Other { request, what })
    }

    /// The body of `answer` as `T`, whose root element must be `root`.
    pub(super) fn parse<T: DeserializeOwned>(&self, answer: &Answer, root: &str) -> Result<T> {
        let what = match root_element(&answer.body) {
            Some(found) if found == root => match quick_xml::de::from_reader(&answer.body[..]) {
                Ok(parsed) => return Ok(parsed),
                Err(e) => format!("an unreadable <{root}>: {e}"),
            },
            Some(found) => format!("<{found}> where <{root}> belongs"),
            None => format!("no <{root}> in its body"),
        };
        Err(self.error(answer.lacking(&what)))
    }

    /// [`send`](Self::send), failing with the crate's error.
    pub(super) async fn run(
        &self,
        method: Method,
        url: &str,
        headers: Headers,
        body: Bytes,
    ) -> Result<Answer> {
        let answer = self.send(method, url, headers, body).await;
        answer.map_err(|failure| self.fail(failure))
    }

    /// Signs and sends the request; an error status, or a success whose
    /// body is an S3 `<Error>`, is a failure.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: Headers,
        body: Bytes,
    ) -> Result<Answer, Failure> {
        let request = self.name;
        let before = |what, cause: Cause| Failure::Before {
            request,
            what,
            cause,
        };
        let mut builder = Request::builder().method(method.clone()).uri(url);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        if matches!(method, Method::POST | Method::PUT) {
            builder = builder.header("content-length", body.len());
        }
        let mut http_request = builder
            .body(body.into())
            .map_err(|e| before("was not sent", e.into()))?;
        let signed = self.sender.sign(&mut http_request).await;
        signed.map_err(|e| before("could not be signed", e.into()))?;
        let response = self.sender.http.execute(http_request).await;
        let response = response.map_err(|e| before("got no answer", e.into()))?;
        let (parts, body) = response.into_parts();
        let body = body.bytes().await;
        let body = body.map_err(|e| before("got no complete answer", e.into()))?;
        match Failure::of_answer(request, parts.status, &body) {
            Some(failure) => Err(failure),
            None => Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            }),
        }
    }
}

/// A success that carries no S3 error.
#[derive(Debug)]
pub(super) struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    /// The header `name`, when it is there and not empty.
    pub(super) fn header(&self, name: &str) -> Option<String> {
        let value = self.headers.get(name)?.to_str().ok()?;
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// What a request got when this answer lacks `what`.
    pub(super) fn lacking(&self, what: &str) -> String {
        format!("got HTTP {} with {what}", self.status.as_u16())
    }
}

/// How a request failed, in the words of the request and the server.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    /// The request could not be made, signed or sent, or its answer read.
    #[error("{request} {what}: {cause}")]
    Before {
        /// The request's name in the S3 API.
        request: &'static str,
        /// What went wrong.
        what: &'static str,
        /// Why.
        #[source]
        cause: Cause,
    },
    /// An error status, or a success whose body is an S3 `<Error>`.
    #[error("{request} got HTTP {}{error}", status.as_u16())]
    Refused {
        /// The request's name in the S3 API.
        request: &'static str,
        /// The answer's status.
        status: StatusCode,
        /// The S3 error in its body.
        error: ErrorXml,
    },
    /// Input no request can carry, or a success lacking what it should hold.
    #[error("{request} {what}")]
    Other {
        /// The request's name in the S3 API.
        request: &'static str,
        /// What went wrong.
        what: String,
    },
}

impl Failure {
    /// Whether the server answered with a 5xx status, or a success whose
    /// body is an `InternalError` or `SlowDown` error.
    pub(super) fn is_server_error(&self) -> bool {
        match self {
            Failure::Refused { status, .. } if status.is_server_error() => true,
            Failure::Refused { .. } => ["InternalError", "SlowDown"].contains(&self.code()),
            _ => false,
        }
    }

    /// The failure the answer `status` with `body` to `request` is: `None`
    /// for a success whose body is not an S3 `<Error>` (a 200 may carry
    /// one, as a CompleteMultipartUpload or UploadPartCopy on Amazon S3).
    pub(super) fn of_answer(
        request: &'static str,
        status: StatusCode,
        body: &[u8],
    ) -> Option<Self> {
        let is_error = root_element(body).as_deref() == Some("Error");
        if status.is_success() && !is_error {
            return None;
        }
        let error = match is_error {
            true => quick_xml::de::from_reader(body).unwrap_or_default(),
            false => ErrorXml::default(),
        };
        Some(Failure::Refused {
            request,
            status,
            error,
        })
    }

    /// The S3 error code of a refusal; empty for other failures.
    pub(super) fn code(&self) -> &str {
        match self {
            Failure::Refused { error, .. } => &error.code,
            _ => "",
        }
    }

    /// The crate's error for this failure of a request on `key`, at `url`:
    /// a refused precondition (412, or 409 `ConditionalRequestConflict`
    /// when a concurrent write won) is a conflict; a missing bucket, object
    /// or permission keeps its kind.
    pub(super) fn into_error(self, url: String, key: &str) -> Error {
        let status = match &self {
            Failure::Refused { status, .. } => Some(*status),
            _ => None,
        };
        let conflict = ["PreconditionFailed", "ConditionalRequestConflict"].contains(&self.code());
        if conflict || status == Some(StatusCode::PRECONDITION_FAILED) {
            return Error::conflict(&url, None, None);
        }
        if self.code() == "NoSuchBucket" {
            return Error::BucketNotFound { url };
        }
        let (path, source) = (key.to_owned(), Box::new(self));
        let source = match status {
            Some(StatusCode::NOT_FOUND) => object_store::Error::NotFound { path, source },
            Some(StatusCode::FORBIDDEN) => object_store::Error::PermissionDenied { path, source },
            Some(StatusCode::UNAUTHORIZED) => object_store::Error::Unauthenticated { path, source },
            _ => object_store::Error::Generic {
                store: "S3",
                source,
            },
        };
        Error::Remote { url, source }
    }
}

/// `<Error>`: what S3 says went wrong; its `Display` ends a
/// [`Failure::Refused`] message.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ErrorXml {
    /// The error code, e.g. `PreconditionFailed`.
    code: String,
    /// The message for people.
    message: String,
}

impl fmt::Display for ErrorXml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code.as_str(), self.message.as_str()) {
            ("", _) => write!(f, " and no S3 error code"),
            (code, "") => write!(f, ": {code}"),
            (code, message) => write!(f, ": {code}: {message}"),
        }
    }
}

/// The local name of the first element of `body`; `None` when it has none.
fn root_element(body: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                return Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}
