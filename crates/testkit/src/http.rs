//! The few raw S3 requests object_store does not make: bucket creation and
//! health probes.

use http::{Method, Request};
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpRequestBody, ReqwestConnector,
};

use crate::{Error, Result};

fn client() -> Result<HttpClient> {
    let options = ClientOptions::new().with_allow_http(true);
    ReqwestConnector::default()
        .connect(&options)
        .map_err(|source| Error::Request {
            method: "connect",
            url: "http client".to_owned(),
            status: None,
            source: Some(Box::new(source)),
        })
}

/// Sends `method url`, signed for S3 with `credential` when given; returns
/// the status and body.
pub(crate) async fn send(
    method: &'static str,
    url: &str,
    credential: Option<&AwsCredential>,
) -> Result<(u16, String)> {
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Request {
        method,
        url: url.to_owned(),
        status: None,
        source: Some(source),
    };
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("valid method"))
        .uri(url)
        .body(HttpRequestBody::empty())
        .map_err(|e| failed(Box::new(e)))?;
    if let Some(credential) = credential {
        AwsAuthorizer::new(credential, "s3", "us-east-1")
            .try_authorize(&mut request, None)
            .map_err(|e| failed(Box::new(e)))?;
    }
    let response = client()?
        .execute(request)
        .await
        .map_err(|e| failed(Box::new(e)))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .bytes()
        .await
        .map_err(|e| failed(Box::new(e)))?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Creates `bucket` on the S3 server at `endpoint` (an existing bucket of
/// ours is fine), signing with `key` and `secret`.
pub(crate) async fn create_bucket(
    endpoint: &str,
    bucket: &str,
    key: &str,
    secret: &str,
) -> Result<()> {
    let url = format!("{}/{bucket}", endpoint.trim_end_matches('/'));
    let credential = AwsCredential {
        key_id: key.to_owned(),
        secret_key: secret.to_owned(),
        token: None,
    };
    let (status, body) = send("PUT", &url, Some(&credential)).await?;
    if (200..300).contains(&status) || body.contains("BucketAlreadyOwnedByYou") {
        Ok(())
    } else {
        Err(Error::Request {
            method: "PUT",
            url,
            status: Some(status),
            source: Some(body.into()),
        })
    }
}
