//! Turning a remote URL into an object store and a key.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use object_store::ObjectStore;
#[cfg(feature = "aws")]
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
#[cfg(feature = "azure")]
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
#[cfg(feature = "gcp")]
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use url::Url;

use crate::{Error, Result};

/// Which kind of store a URL named: it decides how conditional writes and
/// missing buckets are handled.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    /// Amazon S3 or an S3-compatible server.
    #[cfg(feature = "aws")]
    S3 {
        /// The multipart requests object_store lacks, for incremental
        /// uploads; `None` where the settings rule them out (customer
        /// encryption keys, S3 Express One Zone).
        multipart: Option<Arc<super::s3::S3Client>>,
        /// Whether the endpoint is Amazon S3's own: none set, or a host
        /// under `amazonaws.com`.
        amazon: bool,
        /// The AWS SDK's credential chain, when it signs the requests.
        #[cfg(feature = "aws-config")]
        chain: Option<Arc<super::aws_chain::AwsChain>>,
    },
    /// Google Cloud Storage or Azure Blob Storage.
    #[cfg_attr(not(any(feature = "gcp", feature = "azure")), allow(dead_code))]
    Cloud,
    /// The process-wide in-memory store.
    Memory,
    /// A file on the local file system; writes go through [`super::file`].
    File {
        /// The object's path.
        path: PathBuf,
    },
    /// A store handed in by the caller.
    Custom,
}

/// How long a connection may take to open, by default.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take from connecting to its last byte, by default.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a failed request is retried, by default.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
const DEFAULT_RETRIES: usize = 3;
/// After this long since a request was first sent no retry starts, by default.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(10);

/// Timeouts and retries for the cloud stores.
#[derive(Clone, Debug, Default)]
pub(crate) struct Network {
    /// Set on the builder; else the environment's, else the default.
    pub(crate) connect_timeout: Option<Duration>,
    /// Set on the builder; else the environment's, else the default.
    pub(crate) request_timeout: Option<Duration>,
    /// Set on the builder; else the default.
    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
    pub(crate) retry: Option<object_store::RetryConfig>,
    /// Set on the builder; else object_store's reqwest client.
    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
    pub(crate) connector: Option<SharedConnector>,
    /// The AWS profile named on the builder; else `AWS_PROFILE`'s.
    #[cfg(feature = "aws-config")]
    pub(crate) profile: Option<String>,
}

/// An [`HttpConnector`](object_store::client::HttpConnector) the builder
/// was given, shareable between the stores it builds.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
#[derive(Clone, Debug)]
pub(crate) struct SharedConnector(pub(crate) Arc<dyn object_store::client::HttpConnector>);

#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
impl object_store::client::HttpConnector for SharedConnector {
    fn connect(
        &self,
        options: &object_store::ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        self.0.connect(options)
    }
}

#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
impl Network {
    /// The client timeouts, each with whether the builder set it (and so
    /// overrides the environment).
    fn client_settings(&self) -> [(object_store::ClientConfigKey, String, bool); 2] {
        use object_store::ClientConfigKey;
        let setting = |key, set: Option<Duration>, default: Duration| {
            let value = set.unwrap_or(default);
            (key, format!("{}ms", value.as_millis()), set.is_some())
        };
        [
            setting(
                ClientConfigKey::ConnectTimeout,
                self.connect_timeout,
                DEFAULT_CONNECT_TIMEOUT,
            ),
            setting(
                ClientConfigKey::Timeout,
                self.request_timeout,
                DEFAULT_REQUEST_TIMEOUT,
            ),
        ]
    }

    fn retry(&self) -> object_store::RetryConfig {
        self.retry
            .clone()
            .unwrap_or_else(|| object_store::RetryConfig {
                max_retries: DEFAULT_RETRIES,
                retry_timeout: DEFAULT_RETRY_WINDOW,
                ..object_store::RetryConfig::default()
            })
    }
}

/// A parsed remote URL.
#[derive(Debug)]
pub(crate) struct Location {
    /// The URL as the remote prints it (the `s3sqlite` scheme printed as given).
    pub(crate) url: String,
    pub(crate) scheme: String,
    /// Bucket, container or empty.
    #[cfg_attr(
        not(any(feature = "aws", feature = "gcp", feature = "azure")),
        allow(dead_code)
    )]
    pub(crate) bucket: String,
    pub(crate) key: ObjectPath,
    pub(crate) file_path: Option<PathBuf>,
}

/// The store behind every `memory://` URL of this process.
pub(crate) fn memory_store() -> Arc<InMemory> {
    static STORE: OnceLock<Arc<InMemory>> = OnceLock::new();
    STORE.get_or_init(|| Arc::new(InMemory::new())).clone()
}

/// The longest key S3, GCS and Azure accept, in bytes.
const MAX_KEY_BYTES: usize = 1024;

fn invalid(url: &str, reason: impl Into<String>) -> Error {
    Error::InvalidUrl {
        url: url.to_owned(),
        reason: reason.into(),
    }
}

/// `input` with anything that may be a secret masked: user-info (up to the
/// last `@`) and a query string or fragment. For URLs that are refused, so
/// that the error never repeats a credential.
fn redact(input: &str) -> String {
    let cut = input.find(['?', '#']).unwrap_or(input.len());
    let (head, tail) = input.split_at(cut);
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
            None => head.to_owned(),
        },
        None => head.to_owned(),
    };
    if !tail.is_empty() {
        out.push_str(&tail[..1]);
        out.push_str("***");
    }
    out
}

/// What `Url::parse` says of `input`, in terms of this crate's URLs.
fn unparsable(input: &str, err: url::ParseError) -> Error {
    if err == url::ParseError::RelativeUrlWithoutBase {
        let hint = if input.starts_with('/') {
            format!("; for a file on this machine use file://{input}")
        } else {
            String::new()
        };
        return invalid(
            &redact(input),
            format!(
                "not a URL: expected s3://bucket/key, s3sqlite://bucket/key, gs://bucket/key, \
                 az://container/key, file:///abs/path or memory:///key{hint}"
            ),
        );
    }
    invalid(&redact(input), err.to_string())
}

impl Location {
    pub(crate) fn parse(input: &str) -> Result<Self> {
        let url = Url::parse(input).map_err(|e| unparsable(input, e))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                &redact(input),
                "credentials in the URL are not accepted (they would show in logs): set them in \
                 the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or with \
                 ObjectStoreRemoteBuilder::with_option",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                &redact(input),
                "a query string or fragment is not accepted: store options go in the \
                 environment or ObjectStoreRemoteBuilder::with_option",
            ));
        }
        let scheme = url.scheme().to_owned();
        let key_of = |path: &str| -> Result<ObjectPath> {
            let trimmed = path.trim_start_matches('/');
            if trimmed.is_empty() || trimmed.ends_with('/') {
                return Err(invalid(input, "missing object key after the bucket"));
            }
            let key =
                ObjectPath::from_url_path(trimmed).map_err(|e| invalid(input, e.to_string()))?;
            if key.as_ref().len() > MAX_KEY_BYTES {
                return Err(invalid(
                    input,
                    format!(
                        "the key is {} bytes long: S3, GCS and Azure accept at most {MAX_KEY_BYTES}",
                        key.as_ref().len()
                    ),
                ));
            }
            Ok(key)
        };
        match scheme.as_str() {
            "s3" | "s3sqlite" | "gs" | "az" => {
                let bucket = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| invalid(input, "missing bucket name"))?
                    .to_owned();
                Ok(Location {
                    url: input.to_owned(),
                    key: key_of(url.path())?,
                    scheme,
                    bucket,
                    file_path: None,
                })
            }
            "memory" => {
                let host = url.host_str().unwrap_or_default();
                let path = format!("{host}{}", url.path());
                Ok(Location {
                    url: input.to_owned(),
                    key: key_of(&path)?,
                    scheme,
                    bucket: String::new(),
                    file_path: None,
                })
            }
            "file" => {
                if url.host_str().is_some_and(|h| !h.is_empty()) {
                    return Err(invalid(
                        input,
                        "a file URL needs an absolute path: file:///abs/path/db.sqlite",
                    ));
                }
                let path = url
                    .to_file_path()
                    .map_err(|()| invalid(input, "not an absolute file path"))?;
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| invalid(input, "missing file name"))?;
                if url.path().ends_with('/') {
                    return Err(invalid(input, "missing file name"));
                }
                let key = ObjectPath::parse(name).map_err(|e| invalid(input, e.to_string()))?;
                Ok(Location {
                    url: input.to_owned(),
                    key,
                    scheme,
                    bucket: String::new(),
                    file_path: Some(path),
                })
            }
            _ => Err(Error::UnsupportedScheme {
                url: input.to_owned(),
                scheme,
            }),
        }
    }

    /// Builds the store, applying `options` (object_store config keys) on top
    /// of what the environment says.
    pub(crate) fn build(
        &self,
        options: &[(String, String)],
        network: &Network,
    ) -> Result<(Arc<dyn ObjectStore>, Backend)> {
        #[cfg(not(any(feature = "aws", feature = "gcp", feature = "azure")))]
        let _ = network;
        match self.scheme.as_str() {
            // no `x-amz-checksum-*` by default: every PUT already carries the
            // body's SHA-256 in its signature (`x-amz-content-sha256`), which
            // a server that verifies signatures checks; and LocalStack, given
            // a checksum on an interrupted overwrite, destroys the previous
            // version's bytes while HEAD still reports it, where without one
            // it keeps the partial body as a new version that the engine
            // detects
            #[cfg(feature = "aws")]
            "s3" | "s3sqlite" => {
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(&self.bucket);
                // a manifest is removed alone: a plain DELETE needs
                // s3:DeleteObject on its key only, where Ceph RGW 16 also
                // checks it on the bucket for DeleteObjects (`POST ?delete`);
                // AWS_DISABLE_BULK_DELETE or an option still decide
                if std::env::var_os("AWS_DISABLE_BULK_DELETE").is_none() {
                    builder = builder.with_config(AmazonS3ConfigKey::DisableBulkDelete, "true");
                }
                let builder = self.configure(builder, options, network)?;
                #[cfg(feature = "aws-config")]
                let (builder, chain) = super::aws_chain::apply(
                    builder,
                    &self.url,
                    network.profile.as_deref(),
                    options,
                )?;
                let setting = |key| builder.get_config_value(&key);
                tracing::debug!(
                    url = %self.url,
                    region = setting(AmazonS3ConfigKey::Region).as_deref().unwrap_or("us-east-1"),
                    endpoint = setting(AmazonS3ConfigKey::Endpoint).as_deref().unwrap_or("Amazon S3"),
                    "S3 settings"
                );
                let store = builder.clone().build().map_err(|e| self.config_error(e))?;
                let connector = network.connector.clone().map(|c| c.0);
                let multipart = match super::s3::S3Client::new(&builder, &store, connector) {
                    Ok(client) => Some(Arc::new(client)),
                    Err(err) => {
                        tracing::debug!(url = %self.url, error = %err, "no incremental uploads");
                        None
                    }
                };
                let amazon = is_amazon(&builder);
                let backend = Backend::S3 {
                    multipart,
                    amazon,
                    #[cfg(feature = "aws-config")]
                    chain,
                };
                Ok((Arc::new(store), backend))
            }
            #[cfg(feature = "gcp")]
            "gs" => {
                let builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(&self.bucket);
                self.build_cloud(builder, options, network, Backend::Cloud)
            }
            #[cfg(feature = "azure")]
            "az" => {
                let builder = MicrosoftAzureBuilder::from_env().with_container_name(&self.bucket);
                self.build_cloud(builder, options, network, Backend::Cloud)
            }
            "memory" => {
                self.no_options(options)?;
                Ok((memory_store(), Backend::Memory))
            }
            "file" => {
                self.no_options(options)?;
                let path = self.file_path.clone().expect("file URLs carry a path");
                let parent = path.parent().expect("an absolute file path has a parent");
                if !parent.is_dir() {
                    return Err(Error::BucketNotFound {
                        url: self.url.clone(),
                    });
                }
                let store =
                    LocalFileSystem::new_with_prefix(parent).map_err(|source| Error::Config {
                        url: self.url.clone(),
                        source,
                    })?;
                Ok((Arc::new(store), Backend::File { path }))
            }
            other => Err(Error::FeatureDisabled {
                url: self.url.clone(),
                feature: match other {
                    "s3" | "s3sqlite" => "aws",
                    "gs" => "gcp",
                    "az" => "azure",
                    _ => unreachable!("parse accepts only the schemes above"),
                },
            }),
        }
    }

    fn no_options(&self, options: &[(String, String)]) -> Result<()> {
        match options.first() {
            None => Ok(()),
            Some((key, _)) => Err(invalid(
                &self.url,
                format!(
                    "store option {key:?} does not apply to {} URLs",
                    self.scheme
                ),
            )),
        }
    }

    #[cfg_attr(
        not(any(feature = "aws", feature = "gcp", feature = "azure")),
        allow(dead_code)
    )]
    fn config_error(&self, source: object_store::Error) -> Error {
        Error::Config {
            url: self.url.clone(),
            source,
        }
    }

    /// The store `builder` makes once it has the client settings of
    /// `network` and the object_store `options`, as `backend`.
    #[cfg(any(feature = "gcp", feature = "azure"))]
    fn build_cloud<B: CloudBuilder>(
        &self,
        builder: B,
        options: &[(String, String)],
        network: &Network,
        backend: Backend,
    ) -> Result<(Arc<dyn ObjectStore>, Backend)> {
        let builder = self.configure(builder, options, network)?;
        let store = builder.finish().map_err(|e| self.config_error(e))?;
        Ok((store, backend))
    }

    /// `builder` with the client settings of `network` and the
    /// object_store `options`.
    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
    fn configure<B: CloudBuilder>(
        &self,
        mut builder: B,
        options: &[(String, String)],
        network: &Network,
    ) -> Result<B> {
        for (key, value, explicit) in network.client_settings() {
            let key = B::client_key(key);
            if explicit || builder.get(&key).is_none() {
                builder = builder.set(key, value);
            }
        }
        for (key, value) in options {
            let key: B::Key = key.parse().map_err(|e| self.config_error(e))?;
            builder = builder.set(key, value.clone());
        }
        builder = builder.retried(network.retry());
        if let Some(connector) = &network.connector {
            builder = builder.connected(connector.clone());
        }
        Ok(builder)
    }
}

/// Whether `builder` talks to Amazon S3 itself: no endpoint set, or one
/// whose host is under `amazonaws.com` (or `amazonaws.com.cn`).
#[cfg(feature = "aws")]
fn is_amazon(builder: &AmazonS3Builder) -> bool {
    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    let Some(endpoint) = endpoint.filter(|e| !e.is_empty()) else {
        return true;
    };
    let host = Url::parse(&endpoint)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase));
    host.is_some_and(|host| host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
}

/// What object_store's cloud builders share by name but not by trait, so
/// that [`Location::build_cloud`] configures each of them.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
trait CloudBuilder: Sized {
    /// The builder's configuration keys.
    type Key: std::str::FromStr<Err = object_store::Error>;
    /// The key for an HTTP client setting.
    fn client_key(key: object_store::ClientConfigKey) -> Self::Key;
    /// The value `key` has, from the environment or a call before.
    fn get(&self, key: &Self::Key) -> Option<String>;
    /// Sets `key`.
    fn set(self, key: Self::Key, value: String) -> Self;
    /// Sets how requests are retried.
    fn retried(self, retry: object_store::RetryConfig) -> Self;
    /// Sends requests through `connector`.
    fn connected(self, connector: SharedConnector) -> Self;
    /// The store.
    #[cfg_attr(not(any(feature = "gcp", feature = "azure")), allow(dead_code))]
    fn finish(self) -> object_store::Result<Arc<dyn ObjectStore>>;
}

#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
macro_rules! cloud_builder {
    ($builder:ty, $key:ident) => {
        impl CloudBuilder for $builder {
            type Key = $key;

            fn client_key(key: object_store::ClientConfigKey) -> $key {
                $key::Client(key)
            }

            fn get(&self, key: &$key) -> Option<String> {
                self.get_config_value(key)
            }

            fn set(self, key: $key, value: String) -> Self {
                self.with_config(key, value)
            }

            fn retried(self, retry: object_store::RetryConfig) -> Self {
                self.with_retry(retry)
            }

            fn connected(self, connector: SharedConnector) -> Self {
                self.with_http_connector(connector)
            }

            fn finish(self) -> object_store::Result<Arc<dyn ObjectStore>> {
                Ok(Arc::new(self.build()?))
            }
        }
    };
}

#[cfg(feature = "aws")]
cloud_builder!(AmazonS3Builder, AmazonS3ConfigKey);
#[cfg(feature = "gcp")]
cloud_builder!(GoogleCloudStorageBuilder, GoogleConfigKey);
#[cfg(feature = "azure")]
cloud_builder!(MicrosoftAzureBuilder, AzureConfigKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_and_alias_parse_bucket_and_key() {
        for url in ["s3://bucket/dir/app.db", "s3sqlite://bucket/dir/app.db"] {
            let loc = Location::parse(url).unwrap();
            assert_eq!(loc.bucket, "bucket");
            assert_eq!(loc.key.as_ref(), "dir/app.db");
        }
    }

    #[test]
    fn unsupported_scheme_is_quoted_with_the_accepted_list() {
        let err = Location::parse("ftp://b/k").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported URL scheme \"ftp\" in \"ftp://b/k\": expected s3, s3sqlite, gs, az, file or memory"
        );
    }

    #[cfg(feature = "aws")]
    #[test]
    fn amazon_is_no_endpoint_or_one_under_amazonaws_com() {
        let with = |endpoint: &str| {
            let builder = AmazonS3Builder::new().with_bucket_name("b");
            is_amazon(&builder.with_endpoint(endpoint))
        };
        assert!(is_amazon(&AmazonS3Builder::new().with_bucket_name("b")));
        assert!(with("https://s3.eu-west-1.amazonaws.com"));
        assert!(with(
            "https://bucket.vpce-1a2b.s3.us-east-1.vpce.amazonaws.com"
        ));
        assert!(with("https://s3.cn-north-1.amazonaws.com.cn"));
        assert!(!with("http://127.0.0.1:4566"));
        assert!(!with("https://account.r2.cloudflarestorage.com"));
        assert!(!with("https://amazonaws.com.example.org"));
        assert!(!with("https://notamazonaws.com"));
    }

    #[test]
    fn missing_key_is_an_error() {
        for url in ["s3://bucket", "s3://bucket/", "memory:///", "file:///tmp/"] {
            let err = Location::parse(url).unwrap_err();
            assert!(matches!(err, Error::InvalidUrl { .. }), "{url}: {err}");
        }
    }

    #[test]
    fn file_url_keeps_the_path() {
        let loc = Location::parse("file:///tmp/x/app.db").unwrap();
        assert_eq!(loc.file_path.unwrap(), PathBuf::from("/tmp/x/app.db"));
        assert_eq!(loc.key.as_ref(), "app.db");
    }
}
