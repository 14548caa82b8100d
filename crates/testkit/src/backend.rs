//! One test body, every backend: [`Backend`], [`Fixture`] and
//! [`backend_tests!`](crate::backend_tests).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use s3sqlite_core::{ObjectStoreRemote, ObjectStoreRemoteBuilder, Replica, ReplicaOptions};
use tempfile::TempDir;

use crate::http_log::HttpLog;
use crate::memory::{DirRemote, dir_remote};
use crate::server::{S3Server, ServerKind};
use crate::unique::unique_name;
use crate::{Error, Result};

/// A place a test can keep its remote databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// The process-wide in-memory store.
    Memory,
    /// `file://` remotes in a temp folder.
    File,
    /// LocalStack's S3 ([`S3Server`]).
    LocalStack,
    /// moto's server ([`S3Server`]); its conditional PUT is not atomic.
    Moto,
    /// Ceph's RADOS Gateway ([`S3Server`], started by `.ci/s3-server start
    /// ceph`); it wants `If-Match` unquoted.
    Ceph,
    /// LocalStack in Docker ([`LocalStackContainer`](crate::LocalStackContainer)),
    /// through [`Fixture::on_container`].
    #[cfg(feature = "docker")]
    LocalStackContainer,
}

impl Backend {
    /// Whether concurrent conditional writes are safe on this backend.
    pub fn atomic_conditional_writes(self) -> bool {
        !matches!(self, Backend::Moto)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Backend::Memory => "memory",
            Backend::File => "file",
            Backend::LocalStack => "LocalStack",
            Backend::Moto => "moto",
            Backend::Ceph => "Ceph RGW",
            #[cfg(feature = "docker")]
            Backend::LocalStackContainer => "LocalStack container",
        };
        f.write_str(name)
    }
}

#[derive(Debug)]
enum Place {
    Memory,
    Dir(DirRemote),
    Server(S3Server),
}

/// One test's corner of a backend: remote URLs under a prefix of its own, and
/// a temp folder for local copies; everything is removed on drop.
///
/// ```
/// use s3sqlite_core::ReplicaOptions;
/// use s3sqlite_testkit::{Backend, Fixture};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let fx = Fixture::new(Backend::Memory).await?;
/// let replica = fx.open("app.db", "a.db", ReplicaOptions::new()).await?;
/// assert_eq!(replica.local_path(), fx.local("a.db"));
/// # Ok::<(), s3sqlite_testkit::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Fixture {
    backend: Backend,
    place: Place,
    prefix: String,
    dir: TempDir,
}

impl Fixture {
    /// A fixture on `backend`: for the servers, [`S3Server::start`] (the
    /// running server named by the environment, or one spawned for it).
    ///
    /// # Errors
    ///
    /// What the backend's setup reports, e.g. [`Error::ServerUnavailable`].
    /// With the `docker` feature, `Backend::LocalStackContainer` gives an
    /// error: its fixtures come from `Fixture::on_container`, which shares
    /// one started container.
    pub async fn new(backend: Backend) -> Result<Self> {
        let place = match backend {
            Backend::Memory => Place::Memory,
            Backend::File => Place::Dir(dir_remote()?),
            Backend::LocalStack => Place::Server(S3Server::start(ServerKind::LocalStack).await?),
            Backend::Moto => Place::Server(S3Server::start(ServerKind::Moto).await?),
            Backend::Ceph => Place::Server(S3Server::start(ServerKind::Ceph).await?),
            #[cfg(feature = "docker")]
            Backend::LocalStackContainer => {
                return Err(Error::Container {
                    image: crate::LocalStackContainer::default().image(),
                    hint: "use Fixture::on_container with a started LocalStackContainer".to_owned(),
                    source: None,
                });
            }
        };
        Self::with_place(backend, place)
    }

    /// A fixture with a bucket of its own on a running LocalStack container.
    ///
    /// # Errors
    ///
    /// [`Error::Request`] when the bucket cannot be made.
    #[cfg(feature = "docker")]
    pub async fn on_container(container: &crate::RunningContainer) -> Result<Self> {
        let (key, secret) = container.credentials();
        let server =
            S3Server::connect_as(container.kind(), container.endpoint(), key, secret).await?;
        Self::with_place(Backend::LocalStackContainer, Place::Server(server))
    }

    fn with_place(backend: Backend, place: Place) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("s3sqlite-local-")
            .tempdir()
            .map_err(|e| Error::io("create temp folder in", std::env::temp_dir(), e))?;
        let prefix = unique_name("t");
        if let Place::Dir(remote_dir) = &place {
            let folder = remote_dir.path().join(&prefix);
            std::fs::create_dir(&folder).map_err(|e| Error::io("create folder", folder, e))?;
        }
        Ok(Fixture {
            backend,
            place,
            prefix,
            dir,
        })
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL of the remote database `name`.
    pub fn url(&self, name: &str) -> String {
        match &self.place {
            Place::Memory => format!("memory:///{}/{name}", self.prefix),
            Place::Dir(dir) => dir.url(&format!("{}/{name}", self.prefix)),
            Place::Server(server) => server.url(&format!("{}/{name}", self.prefix)),
        }
    }

    /// The remote database `name`.
    ///
    /// # Panics
    ///
    /// If the remote cannot be made from [`url`](Self::url), which a working
    /// fixture rules out.
    pub fn remote(&self, name: &str) -> ObjectStoreRemote {
        self.remote_at(&self.url(name))
            .unwrap_or_else(|e| panic!("remote for {}: {e}", self.url(name)))
    }

    /// A builder for the remote database `name`, with the server's endpoint
    /// and credentials set on S3 backends, for further settings.
    pub fn builder(&self, name: &str) -> ObjectStoreRemoteBuilder {
        let url = self.url(name);
        match &self.place {
            Place::Server(server) => server.remote_builder(&url),
            _ => ObjectStoreRemote::builder(url),
        }
    }

    /// The remote database `name`, with every request it makes recorded in
    /// `log`: through [`HttpLog::connector`] on a server, through
    /// [`HttpLog::store`] on memory.
    ///
    /// # Panics
    ///
    /// On the `file://` backend, which makes no requests to count.
    pub fn logged_remote(&self, name: &str, log: &HttpLog) -> ObjectStoreRemote {
        match &self.place {
            Place::Server(_) => self
                .builder(name)
                .with_http_connector(log.connector())
                .build()
                .unwrap_or_else(|e| panic!("remote for {}: {e}", self.url(name))),
            Place::Memory => {
                let plain = self.remote(name);
                ObjectStoreRemote::new(log.store(Arc::clone(plain.store())), plain.key().clone())
            }
            Place::Dir(_) => panic!(
                "{}: a file:// remote makes no requests to log",
                self.url(name)
            ),
        }
    }

    /// The remote for any URL on this backend (for S3, with the server's
    /// endpoint and credentials).
    ///
    /// # Errors
    ///
    /// As [`ObjectStoreRemote::from_url`].
    pub fn remote_at(&self, url: &str) -> Result<ObjectStoreRemote> {
        match &self.place {
            Place::Server(server) => server.remote_at(url),
            _ => Ok(ObjectStoreRemote::from_url(url)?),
        }
    }

    /// The variables another process needs to reach this fixture's remotes
    /// (see [`S3Server::env`]); none for memory and `file://`. Memory remotes
    /// live in this process only.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match &self.place {
            Place::Server(server) => server.env(),
            _ => Vec::new(),
        }
    }

    /// The variable `name` of [`env`](Self::env), for `purpose` (words for
    /// the error when the fixture is not on an S3 server).
    pub(crate) fn server_var(&self, name: &str, purpose: &str) -> Result<String> {
        let env = self.env();
        let found = env.into_iter().find(|(key, _)| *key == name);
        found
            .map(|(_, value)| value)
            .ok_or_else(|| crate::Error::ServerUnavailable {
                kind: "S3",
                hint: format!(
                    "{purpose} needs a fixture on an S3 server, and {} has no {name}",
                    self.backend
                ),
            })
    }

    /// A path in the fixture's temp folder for a local copy (the folder is
    /// not created; opening a replica creates it).
    pub fn local(&self, name: &str) -> PathBuf {
        self.dir.path().join("local").join(name)
    }

    /// The fixture's temp folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Opens a replica of the remote `name` at the local path `local`.
    ///
    /// # Errors
    ///
    /// As [`Replica::open`].
    pub async fn open(
        &self,
        name: &str,
        local: &str,
        options: ReplicaOptions,
    ) -> s3sqlite_core::Result<Replica> {
        Replica::open(
            self.remote(name),
            options.with_local_path(self.local(local)),
        )
        .await
    }
}

/// Runs async test bodies `async fn name(fx: Fixture)` once per backend:
/// as `#[tokio::test]`s named `memory::NAME`, `file::NAME`,
/// `localstack::NAME`, `moto::NAME` and `ceph::NAME`, and, with the testkit's `docker`
/// feature, one test `localstack_container::suite` that starts one
/// LocalStack container and runs every body on it in turn (printing each
/// name), so the suite pays for one container start.
///
/// Prefix the list with `atomic:` for bodies that need atomic conditional
/// writes (concurrency tests): they run on memory, file, LocalStack and Ceph, not
/// on moto, whose conditional PUT is not atomic, nor in the container (under
/// eight 6 MiB writers a GET from LocalStack behind Docker's port proxy
/// stalled here once, where the same LocalStack on the host never did).
///
/// Prefix it with `requests:` for bodies that count requests through
/// [`Fixture::logged_remote`]: they run on memory, LocalStack, moto and
/// Ceph, not on `file://`, which makes none.
///
/// ```no_run
/// use s3sqlite_testkit::{Fixture, backend_tests};
///
/// backend_tests!(opens_empty);
///
/// async fn opens_empty(fx: Fixture) {
///     fx.open("app.db", "a.db", Default::default()).await.unwrap();
/// }
/// ```
#[macro_export]
macro_rules! backend_tests {
    (requests: $($name:ident),* $(,)?) => {
        $crate::backend_tests!(@each [memory Memory, localstack LocalStack, moto Moto, ceph Ceph] $($name),*);
    };
    (atomic: $($name:ident),* $(,)?) => {
        $crate::backend_tests!(@each [memory Memory, file File, localstack LocalStack, ceph Ceph] $($name),*);
    };
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(@each [memory Memory, file File, localstack LocalStack, moto Moto, ceph Ceph] $($name),*);
        $crate::__container_suite!($($name),*);
    };
    (@each [] $($name:ident),*) => {};
    (@each [$module:ident $backend:ident $(, $more:ident $more_backend:ident)*] $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = $crate::Fixture::new($crate::Backend::$backend)
                        .await
                        .unwrap_or_else(|e| panic!("{} fixture: {e}", $crate::Backend::$backend));
                    super::$name(fixture).await;
                }
            )*
        }
        $crate::backend_tests!(@each [$($more $more_backend),*] $($name),*);
    };
}

#[cfg(not(feature = "docker"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __container_suite {
    ($($name:ident),*) => {};
}

#[cfg(feature = "docker")]
#[doc(hidden)]
#[macro_export]
macro_rules! __container_suite {
    ($($name:ident),*) => {
        mod localstack_container {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn suite() {
                let container = $crate::LocalStackContainer::default()
                    .start()
                    .await
                    .unwrap_or_else(|e| panic!("LocalStack container: {e}"));
                $(
                    println!("LocalStack container {}: {}", container.endpoint(), stringify!($name));
                    let fixture = $crate::Fixture::on_container(&container)
                        .await
                        .unwrap_or_else(|e| panic!("LocalStack container fixture: {e}"));
                    super::$name(fixture).await;
                )*
            }
        }
    };
}
