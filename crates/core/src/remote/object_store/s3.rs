//! [`S3Client`]: the S3 requests object_store 0.14 does not make — a
//! multipart upload whose parts may copy ranges of an existing object,
//! completed on a condition, and the listing and aborting of uploads —
//! signed as object_store signs its own, with the store's credentials.

mod request;
#[cfg(test)]
mod tests;
mod versions;

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::Method;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey as Key};
use object_store::client::{HttpConnector, ReqwestConnector};
use object_store::{ClientConfigKey, ClientOptions};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use self::request::{Headers, Sender};
use crate::{Error, Result};

/// What SigV4 leaves unescaped in a query: letters, digits and `-._~`.
const STRICT: AsciiSet = NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// [`STRICT`] keeping `/`, for paths.
const PATH: AsciiSet = STRICT.remove(b'/');
/// The HTTP client settings a builder holds (names of [`ClientConfigKey`]).
const CLIENT_SETTINGS: &str = "allow_http allow_invalid_certificates disable_system_certificates \
    connect_timeout default_content_type http1_only http2_only http2_keep_alive_interval \
    http2_keep_alive_timeout http2_keep_alive_while_idle http2_max_frame_size pool_idle_timeout \
    pool_max_idle_per_host proxy_url proxy_ca_certificate proxy_excludes randomize_addresses \
    read_timeout timeout user_agent";
/// The builder's server-side encryption settings, each with its header.
const ENCRYPTION: [(&str, &str); 3] = [
    ("aws_server_side_encryption", "x-amz-server-side-encryption"),
    (
        "aws_sse_kms_key_id",
        "x-amz-server-side-encryption-aws-kms-key-id",
    ),
    (
        "aws_sse_bucket_key_enabled",
        "x-amz-server-side-encryption-bucket-key-enabled",
    ),
];

/// The multipart requests of one bucket, signed with SigV4 by object_store's
/// [`AwsAuthorizer`](object_store::aws::AwsAuthorizer) with the store's
/// credentials, each body's SHA-256 in the signature unless the builder
/// asks for unsigned payloads. Keys are object_store path strings, sent
/// percent-encoded as object_store sends them. Each request has the
/// builder's connect and request timeouts (object_store's defaults: 5 s and
/// 30 s) and is not retried.
pub(super) struct S3Client {
    /// Signs and sends the requests.
    sender: Sender,
    /// The bucket's URL, without a trailing `/`.
    bucket_url: String,
    /// The server-side encryption headers of a new upload.
    encryption: Headers,
}

/// Shows the bucket's URL only: the sender holds the credentials.
impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("bucket_url", &self.bucket_url)
            .finish_non_exhaustive()
    }
}

/// The condition on which [`S3Client::complete`] may replace the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Complete {
    /// Only if the object's entity tag is this one (`If-Match`).
    IfMatch(String),
    /// Only if there is no object (`If-None-Match: *`). Pushes create
    /// with a whole PUT; the client's tests use it.
    #[cfg_attr(not(test), allow(dead_code))]
    IfNoneMatch,
    /// Whatever is there. The client's tests use it.
    #[cfg_attr(not(test), allow(dead_code))]
    Unconditional,
}

/// What a completed upload became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Completed {
    /// The object's entity tag as sent; `None` when empty (Ceph RGW 16).
    pub(super) e_tag: Option<String>,
    /// The object's version id (`x-amz-version-id`) as sent: in a versioned
    /// bucket, and `null` from moto in any bucket.
    pub(super) version: Option<String>,
}

/// A multipart upload started and neither completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Upload {
    /// Its id.
    pub(super) upload_id: String,
    /// When it was started, if the server said.
    pub(super) initiated: Option<SystemTime>,
}

/// `<InitiateMultipartUploadResult>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateXml {
    /// The new upload's id.
    upload_id: String,
}

/// `<CopyPartResult>` and `<CompleteMultipartUploadResult>`.
#[derive(Debug, Deserialize)]
struct ETagXml {
    /// The entity tag of the part or object; empty or missing on some
    /// servers.
    #[serde(rename = "ETag")]
    e_tag: Option<String>,
}

/// `<CompleteMultipartUpload>`: the parts that make the object, in order.
#[derive(Debug, Serialize)]
#[serde(rename = "CompleteMultipartUpload")]
struct CompleteXml<'a> {
    /// The parts.
    #[serde(rename = "Part")]
    parts: Vec<PartXml<'a>>,
}

/// `<Part>` of a [`CompleteXml`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PartXml<'a> {
    /// Its number.
    part_number: u32,
    /// Its entity tag, as the part's upload answered it.
    #[serde(rename = "ETag")]
    e_tag: &'a str,
}

/// `<ListMultipartUploadsResult>`: one page of uploads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListXml {
    /// The uploads on the page.
    #[serde(default, rename = "Upload")]
    uploads: Vec<UploadXml>,
    /// Whether more pages follow.
    #[serde(default)]
    is_truncated: bool,
    /// The key the next page starts at.
    next_key_marker: Option<String>,
    /// The upload id, under that key, the next page starts after.
    next_upload_id_marker: Option<String>,
}

/// `<Upload>` of a [`ListXml`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadXml {
    /// The key it writes.
    key: String,
    /// Its id.
    upload_id: String,
    /// When it started (RFC 3339).
    initiated: Option<String>,
}

impl ListXml {
    /// Where the next page starts: key and upload id (which may be empty).
    fn next(&self) -> Option<(String, String)> {
        let key = self.next_key_marker.clone().filter(|k| !k.is_empty())?;
        Some((key, self.next_upload_id_marker.clone().unwrap_or_default()))
    }
}

impl From<UploadXml> for Upload {
    fn from(upload: UploadXml) -> Self {
        let at = upload.initiated.as_deref().map(str::trim);
        let at = at.and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
        Upload {
            upload_id: upload.upload_id,
            initiated: at.map(SystemTime::from),
        }
    }
}

/// `pairs` as a query string, escaped as SigV4 signs it.
fn query(pairs: &[(&str, &str)]) -> String {
    let escape = |s| utf8_percent_encode(s, &STRICT);
    let pairs: Vec<_> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect();
    pairs.join("&")
}

/// The bucket's URL as object_store makes it: the endpoint and the bucket
/// in path style, the endpoint alone in virtual-hosted style; Amazon S3's
/// regional endpoint when none is set.
fn bucket_url(endpoint: Option<&str>, bucket: &str, region: &str, virtual_hosted: bool) -> String {
    match (endpoint.map(|e| e.trim_end_matches('/')), virtual_hosted) {
        (Some(endpoint), true) => endpoint.to_owned(),
        (Some(endpoint), false) => format!("{endpoint}/{bucket}"),
        (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
    }
}

/// Whether a builder setting reads as `true`, as object_store reads it.
fn truthy(value: &str) -> bool {
    let value = value.to_ascii_lowercase();
    ["1", "true", "on", "yes", "y", "requester"].contains(&value.as_str())
}

/// The builder's HTTP client settings.
fn client_options(builder: &AmazonS3Builder) -> ClientOptions {
    let keys = CLIENT_SETTINGS
        .split_whitespace()
        .filter_map(|k| k.parse().ok());
    keys.fold(
        ClientOptions::new(),
        |options, key: ClientConfigKey| match builder.get_config_value(&Key::Client(key)) {
            Some(value) => options.with_config(key, value),
            None => options,
        },
    )
}

/// The headers of the builder's server-side encryption; none when it sets
/// no encryption type.
fn encryption_headers(builder: &AmazonS3Builder) -> Headers {
    let setting = |name: &str| builder.get_config_value(&name.parse().ok()?);
    if setting(ENCRYPTION[0].0).is_none() {
        return Vec::new();
    }
    let header = |(name, header): &(&str, &str)| Some((header.to_string(), setting(name)?));
    ENCRYPTION.iter().filter_map(header).collect()
}

/// [`Error::Config`] for the bucket at `url`, saying `reason`.
fn config_error(url: &str, reason: &str) -> Error {
    Error::Config {
        url: url.to_owned(),
        source: object_store::Error::Generic {
            store: "S3",
            source: reason.into(),
        },
    }
}

impl S3Client {
    /// The client for the bucket `builder` names, configured as `builder`
    /// configures its store (endpoint, region, path or virtual-hosted
    /// style, client options such as `allow_http` and the timeouts,
    /// unsigned payloads, requester pays, SSE-S3 or SSE-KMS), with the
    /// credentials of `store`, built from it; requests go through
    /// `connector`, else object_store's reqwest client.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the builder names no bucket, asks for S3
    /// Express One Zone or customer encryption keys (SSE-C, which every
    /// part copy would need too), or has invalid client settings.
    pub(super) fn new(
        builder: &AmazonS3Builder,
        store: &AmazonS3,
        connector: Option<Arc<dyn HttpConnector>>,
    ) -> Result<Self> {
        let get = |key: Key| builder.get_config_value(&key);
        let flag = |key| get(key).is_some_and(|value| truthy(&value));
        let no_bucket = || config_error("s3://", "no bucket: set one with with_bucket_name");
        let bucket = get(Key::Bucket).ok_or_else(no_bucket)?;
        let url = format!("s3://{bucket}");
        let encryption = encryption_headers(builder);
        if encryption.iter().any(|(_, value)| value == "sse-c") {
            return Err(config_error(
                &url,
                "customer keys (sse-c) are not supported",
            ));
        }
        if flag(Key::S3Express) {
            return Err(config_error(&url, "S3 Express One Zone is not supported"));
        }
        let region = get(Key::Region).unwrap_or_else(|| "us-east-1".to_owned());
        let endpoint = get(Key::S3Endpoint).or_else(|| get(Key::Endpoint));
        let virtual_hosted = flag(Key::VirtualHostedStyleRequest);
        let connector = connector.unwrap_or_else(|| Arc::new(ReqwestConnector::default()));
        let http = connector.connect(&client_options(builder));
        let http = http.map_err(|source| Error::Config { url, source })?;
        Ok(S3Client {
            bucket_url: bucket_url(endpoint.as_deref(), &bucket, &region, virtual_hosted),
            encryption,
            sender: Sender {
                http,
                credentials: Arc::clone(store.credentials()),
                region,
                bucket,
                skip_signature: flag(Key::SkipSignature),
                sign_payload: !flag(Key::UnsignedPayload),
                request_payer: flag(Key::RequestPayer),
            },
        })
    }

    /// The region requests are signed for.
    pub(super) fn region(&self) -> &str {
        &self.sender.region
    }

    /// The bucket's region as S3 gives it in `x-amz-bucket-region` to a
    /// `HEAD` of the bucket, answered in any region; `None` when the store
    /// does not say.
    pub(super) async fn bucket_region(&self) -> Option<String> {
        let region = self
            .sender
            .head_header(&self.bucket_url, "x-amz-bucket-region");
        region.await
    }

    /// Starts a multipart upload to `key` whose object will carry
    /// `metadata` (`x-amz-meta-NAME: value`); returns its upload id.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] naming the object's URL when the server refuses or
    /// does not answer, or a name or value cannot be a header.
    pub(super) async fn create_multipart(
        &self,
        key: &str,
        metadata: &[(&str, &str)],
    ) -> Result<String> {
        let call = self.sender.call("CreateMultipartUpload", key);
        let meta = metadata
            .iter()
            .map(|(n, v)| (format!("x-amz-meta-{n}"), v.to_string()));
        let headers = self.encryption.iter().cloned().chain(meta).collect();
        let url = self.object_url(key, &[("uploads", "")]);
        let answer = call.run(Method::POST, &url, headers, Bytes::new()).await?;
        let result: InitiateXml = call.parse(&answer, "InitiateMultipartUploadResult")?;
        Ok(result.upload_id)
    }

    /// Uploads `body` as part `part_number` (1 to 10 000) of the upload;
    /// returns the part's entity tag as the server sent it.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] naming the object's URL, e.g. on `NoSuchUpload`.
    pub(super) async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Bytes,
    ) -> Result<String> {
        let call = self.sender.call("UploadPart", key);
        let url = self.part_url(key, upload_id, part_number);
        let answer = call.run(Method::PUT, &url, Vec::new(), body).await?;
        let e_tag = answer.header("etag");
        e_tag.ok_or_else(|| call.error(answer.lacking("no ETag header")))
    }

    /// Makes part `part_number` of the upload a copy of the bytes `range`
    /// of `source_key` in the same bucket (`key` itself, say), only while
    /// its entity tag is `source_if_match` when given (not every server
    /// checks); returns the part's entity tag from `<CopyPartResult>`.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when the server refuses `source_if_match`;
    /// [`Error::Remote`] naming the object's URL for an empty range or any
    /// other refusal, a 200 whose body is an error included.
    pub(super) async fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        source_key: &str,
        range: Range<u64>,
        source_if_match: Option<&str>,
    ) -> Result<String> {
        let call = self.sender.call("UploadPartCopy", key);
        if range.is_empty() {
            return Err(call.error(format!("was not sent: the range {range:?} is empty")));
        }
        let source = format!("{}/{source_key}", self.sender.bucket);
        let source = utf8_percent_encode(&source, &PATH).to_string();
        let bytes = format!("bytes={}-{}", range.start, range.end - 1);
        let mut headers = vec![
            ("x-amz-copy-source".to_owned(), source),
            ("x-amz-copy-source-range".to_owned(), bytes),
        ];
        if let Some(tag) = source_if_match {
            headers.push(("x-amz-copy-source-if-match".to_owned(), tag.to_owned()));
        }
        let url = self.part_url(key, upload_id, part_number);
        let answer = call.run(Method::PUT, &url, headers, Bytes::new()).await?;
        let result: ETagXml = call.parse(&answer, "CopyPartResult")?;
        let e_tag = result.e_tag.filter(|tag| !tag.is_empty());
        e_tag.ok_or_else(|| call.error(answer.lacking("no ETag in <CopyPartResult>")))
    }

    /// Completes the upload with `parts` (number and entity tag, in
    /// order) on `condition`: only now does the object change.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when the condition does not hold (412) or a
    /// concurrent conditional write won (409 `ConditionalRequestConflict`);
    /// [`Error::Remote`] naming the object's URL for any other refusal, a
    /// 200 whose body is an error included. Some servers ignore the
    /// condition: Ceph RGW 16 both, moto `If-Match`.
    pub(super) async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        condition: Complete,
    ) -> Result<Completed> {
        self.complete_sized(key, upload_id, parts, condition, None)
            .await
    }

    /// [`complete`](Self::complete), telling the server the object's size
    /// when given (`x-amz-mp-object-size`: Amazon S3 refuses a completion
    /// whose parts add up to another).
    ///
    /// # Errors
    ///
    /// As [`complete`](Self::complete).
    pub(super) async fn complete_sized(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        condition: Complete,
        size: Option<u64>,
    ) -> Result<Completed> {
        let call = self.sender.call("CompleteMultipartUpload", key);
        let mut headers = match condition {
            Complete::IfMatch(tag) => vec![("if-match".to_owned(), tag)],
            Complete::IfNoneMatch => vec![("if-none-match".to_owned(), "*".to_owned())],
            Complete::Unconditional => Vec::new(),
        };
        if let Some(size) = size {
            headers.push(("x-amz-mp-object-size".to_owned(), size.to_string()));
        }
        let body = quick_xml::se::to_string(&complete_xml(parts))
            .map_err(|e| call.error(format!("was not sent: {e}")))?;
        let url = self.object_url(key, &[("uploadId", upload_id)]);
        let answer = call.run(Method::POST, &url, headers, body.into()).await?;
        let result: ETagXml = call.parse(&answer, "CompleteMultipartUploadResult")?;
        Ok(Completed {
            e_tag: result.e_tag.filter(|tag| !tag.is_empty()),
            version: answer.header("x-amz-version-id"),
        })
    }

    /// Aborts the upload, dropping its parts; one already gone (404
    /// `NoSuchUpload`) is not an error.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] naming the object's URL for any other refusal.
    pub(super) async fn abort(&self, key: &str, upload_id: &str) -> Result<()> {
        let call = self.sender.call("AbortMultipartUpload", key);
        let url = self.object_url(key, &[("uploadId", upload_id)]);
        match call
            .send(Method::DELETE, &url, Vec::new(), Bytes::new())
            .await
        {
            Ok(_) => Ok(()),
            Err(failure) if failure.code() == "NoSuchUpload" => Ok(()),
            Err(failure) => Err(call.fail(failure)),
        }
    }

    /// The uploads to exactly `key` that were started and neither
    /// completed nor aborted, from every page of the listing.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] naming the object's URL when a page is refused or
    /// unreadable, or says more follow but not where.
    pub(super) async fn list_uploads(&self, key: &str) -> Result<Vec<Upload>> {
        self.list_uploads_paged(key, None).await
    }

    /// [`list_uploads`](Self::list_uploads) asking for at most `page_size`
    /// uploads a page.
    async fn list_uploads_paged(&self, key: &str, page_size: Option<u16>) -> Result<Vec<Upload>> {
        let call = self.sender.call("ListMultipartUploads", key);
        let page_size = page_size.map(|size| size.to_string());
        let (mut uploads, mut marker) = (Vec::new(), None::<(String, String)>);
        loop {
            let mut pairs = vec![("uploads", ""), ("prefix", key)];
            pairs.extend(page_size.as_deref().map(|size| ("max-uploads", size)));
            if let Some((key_marker, id_marker)) = &marker {
                pairs.push(("key-marker", key_marker));
                pairs.push(("upload-id-marker", id_marker));
            }
            let url = format!("{}/?{}", self.bucket_url, query(&pairs));
            let answer = call
                .run(Method::GET, &url, Vec::new(), Bytes::new())
                .await?;
            let page: ListXml = call.parse(&answer, "ListMultipartUploadsResult")?;
            let next = page.next();
            let mine = page.uploads.into_iter().filter(|u| u.key == key);
            uploads.extend(mine.map(Upload::from));
            if !page.is_truncated {
                return Ok(uploads);
            }
            if next.is_none() || next == marker {
                let lacking = answer.lacking("a truncated page but no new NextKeyMarker");
                return Err(call.error(lacking));
            }
            marker = next;
        }
    }

    /// The URL of `key` with the query `pairs`.
    fn object_url(&self, key: &str, pairs: &[(&str, &str)]) -> String {
        let key = utf8_percent_encode(key, &PATH);
        format!("{}/{key}?{}", self.bucket_url, query(pairs))
    }

    /// The URL of part `part_number` of the upload `upload_id` to `key`.
    fn part_url(&self, key: &str, upload_id: &str, part_number: u32) -> String {
        let part = part_number.to_string();
        self.object_url(key, &[("partNumber", &part), ("uploadId", upload_id)])
    }
}

/// Whether `err` is a request of this client that the server answered
/// with a 5xx status (a 200 whose body is an error included): one that may
/// succeed when sent again.
pub(super) fn is_server_error(err: &Error) -> bool {
    let Error::Remote { source, .. } = err else {
        return false;
    };
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(source);
    while let Some(cause) = at {
        if let Some(failure) = cause.downcast_ref::<request::Failure>() {
            return failure.is_server_error();
        }
        at = cause.source();
    }
    false
}

/// The body of a CompleteMultipartUpload of `parts`.
fn complete_xml(parts: &[(u32, String)]) -> CompleteXml<'_> {
    let parts = parts.iter().map(|(part_number, e_tag)| PartXml {
        part_number: *part_number,
        e_tag,
    });
    CompleteXml {
        parts: parts.collect(),
    }
}
