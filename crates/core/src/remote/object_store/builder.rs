//! [`ObjectStoreRemoteBuilder`]: an [`ObjectStoreRemote`] made from a URL and
//! the environment.

use std::fmt::{self, Debug};
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
use std::sync::Arc;
use std::time::Duration;

use super::ObjectStoreRemote;
use super::client::Client;
use super::encryption::Encryption;
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
use super::location::SharedConnector;
use super::location::{Location, Network};
use crate::remote::etag::{ETAG_QUOTING_VAR, EtagQuoting};
use crate::{Error, Result};

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

    /// Signs with the credentials of the AWS profile `name` (from
    /// `~/.aws/config` and `~/.aws/credentials`: static keys, `role_arn`
    /// with `source_profile`, SSO or `credential_process`), and takes the
    /// profile's region and endpoint where neither the builder nor the
    /// environment set them; as `aws --profile NAME` does, the profile wins
    /// over keys in the environment.
    ///
    /// By default, the AWS CLI's chain: `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`, then the profile `AWS_PROFILE` names (or
    /// `default`), then web identity, container and instance credentials.
    /// Credentials set with [`with_option`](Self::with_option) win over
    /// both.
    ///
    /// ```no_run
    /// # fn main() -> s3sqlite_core::Result<()> {
    /// use s3sqlite_core::ObjectStoreRemote;
    ///
    /// let remote = ObjectStoreRemote::builder("s3://my-bucket/app.db")
    ///     .with_profile("dev")
    ///     .build()?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "aws-config")]
    pub fn with_profile(mut self, name: impl Into<String>) -> Self {
        self.network.profile = Some(name.into());
        self
    }

    /// Sets server-side encryption for what the remote writes (S3 only; see
    /// [`Encryption`]).
    ///
    /// By default, what `AWS_SERVER_SIDE_ENCRYPTION`, `AWS_SSE_KMS_KEY_ID`
    /// and `AWS_SSE_BUCKET_KEY_ENABLED` say, else the bucket's default.
    pub fn with_encryption(self, encryption: Encryption) -> Self {
        encryption
            .into_options()
            .into_iter()
            .fold(self, |builder, (key, value)| {
                builder.with_option(key, value)
            })
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
            client: Client::new(store, location.key, location.url, backend, quoting),
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
