//! [`enable_versioning`]: turning versioning on for a fixture's bucket.

use http::{Method, Request};
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::{ClientOptions, HttpConnector, HttpRequestBody, ReqwestConnector};

use crate::{Error, Fixture, Result};

/// Turns versioning on for the bucket of `fx` (a fixture on an S3 server):
/// from then on every write keeps the version it replaces, and
/// [`RemoteStore::versions`](s3sqlite_core::RemoteStore::versions) lists
/// them. The request is signed with the server's keys.
///
/// ```no_run
/// # async fn run() -> s3sqlite_testkit::Result<()> {
/// use s3sqlite_testkit::{Backend, Fixture, enable_versioning};
///
/// let fx = Fixture::new(Backend::LocalStack).await?;
/// enable_versioning(&fx).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Error::ServerUnavailable`] when `fx` is not on an S3 server;
/// [`Error::Request`] when the server refuses or does not answer.
pub async fn enable_versioning(fx: &Fixture) -> Result<()> {
    let var = |name: &str| fx.server_var(name, "versioning");
    let (endpoint, region) = (var("AWS_ENDPOINT_URL")?, var("AWS_REGION")?);
    let credential = AwsCredential {
        key_id: var("AWS_ACCESS_KEY_ID")?,
        secret_key: var("AWS_SECRET_ACCESS_KEY")?,
        token: None,
    };
    let url = fx.url("x");
    let bucket = url
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap_or_default();
    let url = format!("{}/{bucket}?versioning", endpoint.trim_end_matches('/'));
    let xml = "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
               <Status>Enabled</Status></VersioningConfiguration>";
    let failed = |status: Option<u16>, source: Option<Box<dyn std::error::Error + Send + Sync>>| {
        Error::Request {
            method: "PUT",
            url: url.clone(),
            status,
            source,
        }
    };
    let mut request = Request::builder()
        .method(Method::PUT)
        .uri(&url)
        .body(HttpRequestBody::from(xml.to_owned()))
        .map_err(|e| failed(None, Some(e.into())))?;
    AwsAuthorizer::new(&credential, "s3", &region)
        .try_authorize(&mut request, None)
        .map_err(|e| failed(None, Some(e.into())))?;
    let options = ClientOptions::new().with_allow_http(true);
    let client = ReqwestConnector::default()
        .connect(&options)
        .map_err(|e| failed(None, Some(e.into())))?;
    let response = client
        .execute(request)
        .await
        .map_err(|e| failed(None, Some(e.into())))?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => Err(failed(Some(status.as_u16()), None)),
    }
}
