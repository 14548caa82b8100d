//! The AWS SDK's credential chain and profile settings for `s3://` URLs
//! (feature `aws-config`): what the AWS CLI would sign with, as an
//! object_store [`CredentialProvider`].
//!
//! The order is the AWS CLI's: a profile named on the builder (or the
//! command line) wins outright; otherwise `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY`, then the profile `AWS_PROFILE` names (or
//! `default`) in `~/.aws/config` and `~/.aws/credentials`, with
//! `role_arn`/`source_profile`, `sso_session`, `credential_process` and
//! `web_identity_token_file`, then web identity from the environment, the
//! container endpoint, and the instance metadata service. The region and
//! endpoint of the profile fill in what neither the builder nor the
//! environment set.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::environment::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature as Feature;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::CredentialProvider;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as Key, AwsCredential};

use crate::error::ErrorChain;
use crate::{Error, Result};

/// Credentials this close to expiring are fetched again.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The environment variable that selects a profile, as the AWS CLI reads it.
const PROFILE_VAR: &str = "AWS_PROFILE";

/// The store options that give credentials outright: with one of them the
/// chain is not consulted.
const EXPLICIT_CREDENTIALS: [&str; 4] = [
    "aws_access_key_id",
    "access_key_id",
    "aws_skip_signature",
    "skip_signature",
];

/// What the AWS SDK's chain gives for one remote.
#[derive(Debug)]
pub(crate) struct AwsChain {
    /// The chain, or the named profile's provider.
    provider: SharedCredentialsProvider,
    /// The profile the chain reads: the one named on the builder, else
    /// `AWS_PROFILE`, else `default`.
    profile: String,
    /// The credentials last handed out, and until when they hold.
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
    /// Where the credentials last handed out came from, for errors.
    source: Mutex<Option<String>>,
    /// Why the chain failed since it last gave credentials: its providers
    /// say why only once, and answer later calls with "already taken".
    failure: Mutex<Option<String>>,
}

impl AwsChain {
    /// Where the credentials came from, in words for an error message:
    /// `AWS profile "dev"`, or `AWS_ACCESS_KEY_ID in the environment`;
    /// before any were fetched, the profile the chain would read.
    pub(crate) fn source(&self) -> String {
        let source = self
            .source
            .lock()
            .expect("the source lock is never poisoned");
        source.clone().unwrap_or_else(|| self.unnamed())
    }

    /// The chain in words, where no provider in it can be named.
    fn unnamed(&self) -> String {
        format!("the AWS credential chain (profile {:?})", self.profile)
    }

    /// Words for where `credentials` came from.
    fn describe(&self, credentials: &Credentials) -> String {
        let features = credentials.get_property::<Vec<Feature>>();
        let features = features.map(Vec::as_slice).unwrap_or_default();
        let profile = || format!("AWS profile {:?}", self.profile);
        let from_profile = features.iter().any(|feature| {
            matches!(
                feature,
                Feature::CredentialsProfile
                    | Feature::CredentialsProfileSourceProfile
                    | Feature::CredentialsProfileNamedProvider
                    | Feature::CredentialsProfileStsWebIdToken
                    | Feature::CredentialsProfileSso
                    | Feature::CredentialsProfileProcess
                    | Feature::CredentialsProfileLogin
            )
        });
        if from_profile {
            return profile();
        }
        let words = features.iter().find_map(|feature| match feature {
            Feature::CredentialsEnvVars => {
                Some("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
            }
            Feature::CredentialsEnvVarsStsWebIdToken | Feature::CredentialsStsAssumeRoleWebId => {
                Some("the web identity token of AWS_WEB_IDENTITY_TOKEN_FILE")
            }
            Feature::CredentialsHttp => Some("the container credentials endpoint"),
            Feature::CredentialsImds => Some("the instance metadata service"),
            Feature::CredentialsSso => Some("AWS SSO"),
            _ => None,
        });
        words.map_or_else(|| self.unnamed(), str::to_owned)
    }
}

#[async_trait]
impl CredentialProvider for AwsChain {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some((credential, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|at| at > SystemTime::now() + REFRESH_MARGIN);
            if fresh {
                return Ok(Arc::clone(credential));
            }
        }
        let credentials = match self.provider.provide_credentials().await {
            Ok(credentials) => credentials,
            Err(err) => {
                let mut failure = self
                    .failure
                    .lock()
                    .expect("the failure lock is never poisoned");
                let chain = failure
                    .get_or_insert_with(|| ErrorChain::new(&err).to_string())
                    .clone();
                return Err(object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(LoadFailed {
                        profile: self.profile.clone(),
                        chain,
                    }),
                });
            }
        };
        *self
            .failure
            .lock()
            .expect("the failure lock is never poisoned") = None;
        *self
            .source
            .lock()
            .expect("the source lock is never poisoned") = Some(self.describe(&credentials));
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_owned(),
            secret_key: credentials.secret_access_key().to_owned(),
            token: credentials.session_token().map(str::to_owned),
        });
        *cached = Some((Arc::clone(&credential), credentials.expiry()));
        Ok(credential)
    }
}

/// The chain found no credentials, or a provider in it failed.
#[derive(Debug)]
pub(crate) struct LoadFailed {
    profile: String,
    chain: String,
}

impl fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no AWS credentials (profile {:?}, from ~/.aws/config and ~/.aws/credentials or the \
             environment): {}; after `aws sso login` or `aws configure`, or with \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set, try again",
            self.profile, self.chain
        )
    }
}

impl std::error::Error for LoadFailed {}

/// `builder` with the AWS SDK's credential chain and, where neither the
/// builder nor the environment set them, the profile's region and
/// endpoint. `profile` is a profile named on the builder; `options` the
/// store options the builder was given: credentials among them win over
/// any profile.
///
/// Returns the chain too, for error messages; `None` when `options` gave
/// credentials outright.
///
/// # Errors
///
/// [`Error::Config`] naming `url` when the profile files cannot be read.
pub(crate) fn apply(
    builder: AmazonS3Builder,
    url: &str,
    profile: Option<&str>,
    options: &[(String, String)],
) -> Result<(AmazonS3Builder, Option<Arc<AwsChain>>)> {
    let explicit = options
        .iter()
        .any(|(key, _)| EXPLICIT_CREDENTIALS.contains(&key.to_ascii_lowercase().as_str()));
    if explicit {
        return Ok((builder, None));
    }
    let set_region = builder.get_config_value(&Key::Region);
    let loaded = load(profile, set_region.clone()).map_err(|reason| Error::Config {
        url: url.to_owned(),
        source: object_store::Error::Generic {
            store: "S3",
            source: reason.into(),
        },
    })?;
    let mut builder = builder;
    if set_region.is_none()
        && let Some(region) = &loaded.region
    {
        builder = builder.with_region(region);
    }
    let set_endpoint = [Key::Endpoint, Key::S3Endpoint]
        .iter()
        .any(|key| builder.get_config_value(key).is_some());
    if !set_endpoint && let Some(endpoint) = &loaded.endpoint {
        // the user's own config file names a plain-HTTP endpoint: that is
        // the opt-in `AWS_ALLOW_HTTP` asks for elsewhere
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
        builder = builder.with_endpoint(endpoint);
    }
    let chain = Arc::new(AwsChain {
        provider: loaded.credentials,
        profile: loaded.profile,
        cached: tokio::sync::Mutex::new(None),
        source: Mutex::new(None),
        failure: Mutex::new(None),
    });
    let provider: Arc<dyn CredentialProvider<Credential = AwsCredential>> = chain.clone();
    Ok((builder.with_credentials(provider), Some(chain)))
}

/// What [`load`] read.
struct Loaded {
    credentials: SharedCredentialsProvider,
    profile: String,
    region: Option<String>,
    endpoint: Option<String>,
}

/// Reads the profile files and builds the chain, on a thread of its own
/// with a runtime of its own: the builder is not async, and may be called
/// inside a runtime. The chain fetches credentials later, on the caller's
/// runtime.
fn load(profile: Option<&str>, region: Option<String>) -> std::result::Result<Loaded, String> {
    let selected = match profile {
        Some(name) => name.to_owned(),
        None => std::env::var(PROFILE_VAR)
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "default".to_owned()),
    };
    let named = profile.map(str::to_owned);
    std::thread::scope(|scope| {
        let loading = scope.spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| format!("no runtime to read the AWS profile files: {err}"))?;
            runtime.block_on(load_async(named, region))
        });
        loading
            .join()
            .map_err(|_| "reading the AWS profile files panicked".to_owned())?
    })
    .map(|(credentials, region, endpoint)| Loaded {
        credentials,
        profile: selected,
        region,
        endpoint,
    })
}

/// The chain, the region and the endpoint, as [`load`] describes.
async fn load_async(
    profile: Option<String>,
    region: Option<String>,
) -> std::result::Result<(SharedCredentialsProvider, Option<String>, Option<String>), String> {
    let region_from_profile = match &profile {
        Some(name) => ProfileFileRegionProvider::builder()
            .profile_name(name)
            .build(),
        None => ProfileFileRegionProvider::new(),
    };
    // no instance metadata for the region: on a laptop it only times out,
    // and on AWS compute the environment names the region
    let regions = RegionProviderChain::first_try(region.map(aws_config::Region::new))
        .or_else(EnvironmentVariableRegionProvider::new())
        .or_else(region_from_profile);
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(regions);
    if let Some(name) = &profile {
        // a profile named outright wins over keys in the environment, as
        // `aws --profile` does
        let named = ProfileFileCredentialsProvider::builder()
            .profile_name(name)
            .build();
        loader = loader.profile_name(name).credentials_provider(named);
    }
    let config = loader.load().await;
    let credentials = config
        .credentials_provider()
        .ok_or_else(|| "the AWS SDK's configuration has no credential provider".to_owned())?;
    let region = config.region().map(|region| region.as_ref().to_owned());
    let endpoint = config.endpoint_url().map(str::to_owned);
    Ok((credentials, region, endpoint))
}
