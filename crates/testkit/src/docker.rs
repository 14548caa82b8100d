//! testcontainers fixtures (feature `docker`): LocalStack, MinIO and RustFS.

use std::time::{Duration, Instant};

use s3sqlite_core::ObjectStoreRemote;
use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::server::{S3Server, ServerKind};
use crate::{Error, Result};

/// How long a started container may take to answer S3 requests.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// What differs between the S3 containers.
#[derive(Debug, Clone)]
struct Spec {
    kind: ServerKind,
    name: String,
    tag: String,
    port: u16,
    env: Vec<(String, String)>,
    cmd: Vec<String>,
    credentials: (&'static str, &'static str),
    /// A path that answers 2xx once the server serves S3.
    health: &'static str,
    build_hint: &'static str,
}

impl Spec {
    fn image(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }

    async fn start(self) -> Result<RunningContainer> {
        let image = self.image();
        let failed = |hint: String, source: Option<Box<dyn std::error::Error + Send + Sync>>| {
            Error::Container {
                image: image.clone(),
                hint,
                source,
            }
        };
        let mut request = GenericImage::new(self.name.clone(), self.tag.clone())
            .with_exposed_port(ContainerPort::Tcp(self.port))
            .with_wait_for(WaitFor::Nothing)
            .with_label("s3sqlite-testkit", self.kind.name());
        for (key, value) in &self.env {
            request = request.with_env_var(key, value);
        }
        if !self.cmd.is_empty() {
            request = request.with_cmd(self.cmd.clone());
        }
        let container = request.start().await.map_err(|e| {
            let text = e.to_string();
            let hint = if text.contains("pull") || text.contains("No such image") {
                format!(
                    "the image is not on this machine and could not be pulled; {}",
                    self.build_hint
                )
            } else {
                "is a Docker engine running and reachable (`docker info`)?".to_owned()
            };
            failed(hint, Some(Box::new(e)))
        })?;
        let port = container
            .get_host_port_ipv4(ContainerPort::Tcp(self.port))
            .await
            .map_err(|e| {
                failed(
                    "the container exposes no port".to_owned(),
                    Some(Box::new(e)),
                )
            })?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let probe = format!("{endpoint}{}", self.health);
        let started = Instant::now();
        loop {
            if let Ok((status, _)) = crate::http::send("GET", &probe, None).await
                && (200..300).contains(&status)
            {
                break;
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(failed(
                    format!("{probe} did not answer within {READY_TIMEOUT:?}"),
                    None,
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let server =
            S3Server::connect_as(self.kind, &endpoint, self.credentials.0, self.credentials.1)
                .await?;
        tracing::info!(image = %image, endpoint = %endpoint, id = container.id(), "container started");
        Ok(RunningContainer {
            server,
            image,
            container,
        })
    }
}

/// A started S3 container with a bucket of its own; the container is
/// removed on drop.
///
/// It has the same interface as [`S3Server`]: [`endpoint`](Self::endpoint),
/// [`bucket`](Self::bucket), [`url`](Self::url), [`remote`](Self::remote).
#[derive(Debug)]
pub struct RunningContainer {
    server: S3Server,
    image: String,
    container: ContainerAsync<GenericImage>,
}

impl RunningContainer {
    /// The endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }

    /// The fixture's own bucket.
    pub fn bucket(&self) -> &str {
        self.server.bucket()
    }

    /// The `s3://` URL of `key` in the fixture's bucket.
    pub fn url(&self, key: &str) -> String {
        self.server.url(key)
    }

    /// The remote for `key` in the fixture's bucket.
    ///
    /// # Errors
    ///
    /// As [`ObjectStoreRemote::from_url`].
    pub fn remote(&self, key: &str) -> Result<ObjectStoreRemote> {
        self.server.remote(key)
    }

    /// The remote for any `s3://` URL on this server.
    ///
    /// # Errors
    ///
    /// As [`ObjectStoreRemote::from_url`].
    pub fn remote_at(&self, url: &str) -> Result<ObjectStoreRemote> {
        self.server.remote_at(url)
    }

    /// The server kind.
    pub fn kind(&self) -> ServerKind {
        self.server.kind()
    }

    /// The image, `name:tag`.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The container id.
    pub fn id(&self) -> &str {
        self.container.id()
    }

    pub(crate) fn credentials(&self) -> (&str, &str) {
        self.server.credentials()
    }
}

fn image_override(var: &str) -> Option<(String, String)> {
    let value = std::env::var(var).ok()?;
    let (name, tag) = value.rsplit_once(':')?;
    Some((name.to_owned(), tag.to_owned()))
}

/// The image constants, [`with_image`](LocalStackContainer::with_image),
/// `image()` and a `Default` that honours the override variable, for each
/// container fixture.
macro_rules! image_defaults {
    ($ty:ident, $name:literal, $tag:literal, $var:literal) => {
        impl $ty {
            /// The default image name.
            pub const NAME: &'static str = $name;
            /// The default tag.
            pub const TAG: &'static str = $tag;

            /// Uses the image `name:tag`.
            pub fn with_image(mut self, name: impl Into<String>, tag: impl Into<String>) -> Self {
                self.name = name.into();
                self.tag = tag.into();
                self
            }

            /// The image, `name:tag`.
            pub fn image(&self) -> String {
                format!("{}:{}", self.name, self.tag)
            }
        }

        impl Default for $ty {
            /// The image named by the override variable (`name:tag`), else
            /// [`NAME`](Self::NAME):[`TAG`](Self::TAG).
            fn default() -> Self {
                let (name, tag) = image_override($var)
                    .unwrap_or_else(|| (Self::NAME.to_owned(), Self::TAG.to_owned()));
                $ty { name, tag }
            }
        }
    };
}

image_defaults!(
    LocalStackContainer,
    "localstack/localstack",
    "4.14.0",
    "S3SQLITE_LOCALSTACK_IMAGE"
);
image_defaults!(
    MinioContainer,
    "quay.io/minio/minio",
    "RELEASE.2025-02-28T09-55-16Z",
    "S3SQLITE_MINIO_IMAGE"
);
image_defaults!(
    RustFsContainer,
    "rustfs/rustfs",
    "1.0.0-alpha.90",
    "S3SQLITE_RUSTFS_IMAGE"
);

/// LocalStack's S3 in Docker.
///
/// By default the pinned `localstack/localstack:4.14.0`: tags after 4.14.0
/// (and `latest`) refuse to start without `LOCALSTACK_AUTH_TOKEN`, which is
/// passed through when the environment has one. `S3SQLITE_LOCALSTACK_IMAGE`
/// (`name:tag`) or [`with_image`](Self::with_image) override the image; this
/// workspace's CI, which reaches no registry, builds
/// `s3sqlite/localstack-s3:2026.3.0` with `.ci/localstack-image` and uses it.
///
/// ```no_run
/// use s3sqlite_testkit::LocalStackContainer;
///
/// # async fn run() -> s3sqlite_testkit::Result<()> {
/// let localstack = LocalStackContainer::default().start().await?;
/// let remote = localstack.remote("app.db")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LocalStackContainer {
    name: String,
    tag: String,
}

impl LocalStackContainer {
    /// Starts the container and waits until its S3 answers.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] naming the image and what to do.
    pub async fn start(self) -> Result<RunningContainer> {
        let mut env = vec![("SERVICES".to_owned(), "s3".to_owned())];
        if let Ok(token) = std::env::var("LOCALSTACK_AUTH_TOKEN") {
            env.push(("LOCALSTACK_AUTH_TOKEN".to_owned(), token));
        }
        Spec {
            kind: ServerKind::LocalStack,
            name: self.name,
            tag: self.tag,
            port: 4566,
            env,
            cmd: Vec::new(),
            credentials: ("test", "test"),
            health: "/_localstack/health",
            build_hint: "without a registry, build a local image with `.ci/localstack-image` \
                         and set S3SQLITE_LOCALSTACK_IMAGE=s3sqlite/localstack-s3:2026.3.0",
        }
        .start()
        .await
    }
}

/// MinIO in Docker, credentials `minioadmin` / `minioadmin`.
///
/// By default `quay.io/minio/minio:RELEASE.2025-02-28T09-55-16Z`: MinIO's
/// Docker Hub repository is gone, and this is the tag the testcontainers
/// modules pin. `S3SQLITE_MINIO_IMAGE` or [`with_image`](Self::with_image)
/// override it.
#[derive(Debug, Clone)]
pub struct MinioContainer {
    name: String,
    tag: String,
}

impl MinioContainer {
    /// Starts the container and waits until it is ready.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] naming the image and what to do.
    pub async fn start(self) -> Result<RunningContainer> {
        Spec {
            kind: ServerKind::Minio,
            name: self.name,
            tag: self.tag,
            port: 9000,
            env: vec![
                ("MINIO_ROOT_USER".to_owned(), "minioadmin".to_owned()),
                ("MINIO_ROOT_PASSWORD".to_owned(), "minioadmin".to_owned()),
            ],
            cmd: vec!["server".to_owned(), "/data".to_owned()],
            credentials: ("minioadmin", "minioadmin"),
            health: "/minio/health/ready",
            build_hint: "pull it where a registry is reachable (`docker pull quay.io/minio/minio:RELEASE.2025-02-28T09-55-16Z`)",
        }
        .start()
        .await
    }
}

/// RustFS (Apache-2.0, the maintained S3 server many projects moved to from
/// MinIO) in Docker, credentials `rustfsadmin` / `rustfsadmin`.
///
/// By default `rustfs/rustfs:1.0.0-alpha.90`. `S3SQLITE_RUSTFS_IMAGE` or
/// [`with_image`](Self::with_image) override it.
#[derive(Debug, Clone)]
pub struct RustFsContainer {
    name: String,
    tag: String,
}

impl RustFsContainer {
    /// Starts the container and waits until it answers.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] naming the image and what to do.
    pub async fn start(self) -> Result<RunningContainer> {
        Spec {
            kind: ServerKind::RustFs,
            name: self.name,
            tag: self.tag,
            port: 9000,
            env: vec![
                ("RUSTFS_ACCESS_KEY".to_owned(), "rustfsadmin".to_owned()),
                ("RUSTFS_SECRET_KEY".to_owned(), "rustfsadmin".to_owned()),
                ("RUSTFS_VOLUMES".to_owned(), "/data".to_owned()),
            ],
            cmd: Vec::new(),
            credentials: ("rustfsadmin", "rustfsadmin"),
            health: "/health",
            build_hint: "pull it where a registry is reachable (`docker pull rustfs/rustfs:1.0.0-alpha.90`)",
        }
        .start()
        .await
    }
}
