//! [`S3Server`]: a real S3-compatible server on a loopback port.

use std::fmt;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use s3sqlite_core::{ObjectStoreRemote, ObjectStoreRemoteBuilder};
use tempfile::TempDir;

use crate::unique::unique_name;
use crate::{Error, Result};

/// How long a spawned server may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a spawned server may take to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Which S3-compatible server an [`S3Server`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerKind {
    /// LocalStack's S3 (`localstack-core`, run as a Python process). Its
    /// conditional PUT is atomic: the one to run concurrency tests on.
    LocalStack,
    /// moto's threaded server (`pip install 'moto[server]'`). Quick to start
    /// and fast to read, but its conditional PUT is not atomic: it checks
    /// `If-Match`, then writes without a lock, so with bodies over 5 MiB two
    /// or three of eight concurrent writers win one round. Fine for every
    /// test but concurrency tests.
    Moto,
    /// Ceph's RADOS Gateway, single node, started by `.ci/s3-server start
    /// ceph` (never spawned by the fixture: it needs a monitor, an OSD and
    /// root to install). Its conditional PUT is atomic, and it compares
    /// `If-Match` with the entity tag unquoted.
    Ceph,
    /// MinIO, run only as a container.
    Minio,
    /// RustFS, run only as a container.
    RustFs,
}

impl ServerKind {
    /// The server's name for messages.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::LocalStack => "LocalStack",
            ServerKind::Moto => "moto",
            ServerKind::Ceph => "Ceph RGW",
            ServerKind::Minio => "MinIO",
            ServerKind::RustFs => "RustFS",
        }
    }

    /// The variable naming a running server's endpoint:
    /// `S3SQLITE_TEST_ENDPOINT` for LocalStack, `S3SQLITE_TEST_MOTO_ENDPOINT`
    /// for moto, `S3SQLITE_TEST_CEPH_ENDPOINT` for Ceph.
    pub fn endpoint_var(self) -> &'static str {
        match self {
            ServerKind::LocalStack => "S3SQLITE_TEST_ENDPOINT",
            ServerKind::Moto => "S3SQLITE_TEST_MOTO_ENDPOINT",
            ServerKind::Ceph => "S3SQLITE_TEST_CEPH_ENDPOINT",
            ServerKind::Minio => "S3SQLITE_TEST_MINIO_ENDPOINT",
            ServerKind::RustFs => "S3SQLITE_TEST_RUSTFS_ENDPOINT",
        }
    }

    /// The variable naming the program that starts the server:
    /// `S3SQLITE_LOCALSTACK_PYTHON` (a Python with `localstack-core`
    /// installed; default `python3`) or `S3SQLITE_MOTO_SERVER` (default
    /// `moto_server`).
    pub fn program_var(self) -> &'static str {
        match self {
            ServerKind::LocalStack => "S3SQLITE_LOCALSTACK_PYTHON",
            ServerKind::Moto => "S3SQLITE_MOTO_SERVER",
            ServerKind::Ceph | ServerKind::Minio | ServerKind::RustFs => "",
        }
    }

    /// The variables naming the access key id and secret of a running
    /// server, where the test credentials (`test`/`test`) do not apply:
    /// `S3SQLITE_CEPH_ACCESS_KEY_ID` and `S3SQLITE_CEPH_SECRET_ACCESS_KEY`
    /// for Ceph, as `.ci/s3-server start ceph` exports them.
    pub fn credential_vars(self) -> Option<(&'static str, &'static str)> {
        match self {
            ServerKind::Ceph => Some((
                "S3SQLITE_CEPH_ACCESS_KEY_ID",
                "S3SQLITE_CEPH_SECRET_ACCESS_KEY",
            )),
            _ => None,
        }
    }

    /// Whether the server's conditional PUT is atomic as measured here: yes
    /// for LocalStack and Ceph, no for moto; MinIO and RustFS were not
    /// measured here (no registry to pull them from), so `false` until they
    /// are.
    pub fn atomic_conditional_writes(self) -> bool {
        matches!(self, ServerKind::LocalStack | ServerKind::Ceph)
    }

    fn install_hint(self) -> &'static str {
        match self {
            ServerKind::Minio | ServerKind::RustFs => {
                "it runs only as a container: use the testkit's `docker` feature"
            }
            ServerKind::Ceph => {
                "start it with `eval \"$(.ci/s3-server start ceph)\"` (installs Debian's \
                 ceph-mon, ceph-osd, radosgw and ceph-common as root, then exports \
                 S3SQLITE_TEST_CEPH_ENDPOINT and the S3 user's keys); \
                 in the s3sqlite repository `.ci/test` sets up every server and runs the tests"
            }
            ServerKind::LocalStack => {
                "install it (Python 3.12+: `pip install -r .ci/localstack-requirements.txt`, \
                 or `eval \"$(.ci/s3-server start)\"` which also starts it and exports \
                 S3SQLITE_TEST_ENDPOINT); \
                 in the s3sqlite repository `.ci/test` sets up every server and runs the tests"
            }
            ServerKind::Moto => {
                "install it (`pip install 'moto[server]'`, or `eval \"$(.ci/s3-server start moto)\"` \
                 which also starts it and exports S3SQLITE_TEST_MOTO_ENDPOINT); \
                 in the s3sqlite repository `.ci/test` sets up every server and runs the tests"
            }
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A real S3-compatible server on a loopback port, with a fresh bucket.
///
/// [`S3Server::start`] connects to the server named by the kind's endpoint
/// variable (what `.ci/s3-server start` exports) or, when that is unset,
/// spawns the server itself, waits until it answers, and stops it on drop
/// (SIGTERM to its process group, up to 5 s, then SIGKILL), leaving no
/// process behind. Either way the fixture gets a bucket of its own.
///
/// ```no_run
/// use s3sqlite_testkit::{S3Server, ServerKind};
///
/// # async fn run() -> s3sqlite_testkit::Result<()> {
/// let server = S3Server::start(ServerKind::LocalStack).await?;
/// let remote = server.remote("app.db")?;
/// assert!(remote.to_string().starts_with("s3://"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct S3Server {
    kind: ServerKind,
    endpoint: String,
    bucket: String,
    credentials: (String, String),
    process: Option<Spawned>,
}

/// The credentials LocalStack and moto accept.
const TEST_CREDENTIALS: (&str, &str) = ("test", "test");

#[derive(Debug)]
struct Spawned {
    child: Child,
    _dir: TempDir,
}

impl S3Server {
    /// LocalStack's S3: [`start`](Self::start) with [`ServerKind::LocalStack`].
    ///
    /// # Errors
    ///
    /// As [`S3Server::start`].
    pub async fn localstack() -> Result<Self> {
        Self::start(ServerKind::LocalStack).await
    }

    /// moto's server: [`start`](Self::start) with [`ServerKind::Moto`].
    ///
    /// # Errors
    ///
    /// As [`S3Server::start`].
    pub async fn moto() -> Result<Self> {
        Self::start(ServerKind::Moto).await
    }

    /// Connects to the server at the kind's endpoint variable, or spawns one.
    ///
    /// # Errors
    ///
    /// [`Error::ServerUnreachable`] when the variable names a server that
    /// does not answer; [`Error::ServerUnavailable`] when none can be
    /// started (the message says what to install);
    /// [`Error::ServerNotReady`] when a started one does not answer in time.
    pub async fn start(kind: ServerKind) -> Result<Self> {
        match std::env::var(kind.endpoint_var()) {
            Ok(endpoint) if !endpoint.is_empty() => Self::connect(kind, &endpoint).await,
            _ => Self::spawn(kind).await,
        }
    }

    /// Uses the running server at `endpoint`, making a fresh bucket on it.
    ///
    /// # Errors
    ///
    /// [`Error::ServerUnreachable`], or [`Error::Request`] when the bucket
    /// cannot be made.
    pub async fn connect(kind: ServerKind, endpoint: &str) -> Result<Self> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let authority = endpoint
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|source| Error::ServerUnreachable {
                kind: kind.name(),
                endpoint: endpoint.clone(),
                var: kind.endpoint_var(),
                source,
            })?;
        let (key, secret) = match kind.credential_vars() {
            Some((key_var, secret_var)) => {
                (env_or_fail(kind, key_var)?, env_or_fail(kind, secret_var)?)
            }
            None => (TEST_CREDENTIALS.0.to_owned(), TEST_CREDENTIALS.1.to_owned()),
        };
        Self::connect_as(kind, &endpoint, &key, &secret).await
    }

    /// Uses the running server at `endpoint` with the access key `key` and
    /// secret `secret`, making a fresh bucket on it.
    ///
    /// # Errors
    ///
    /// [`Error::Request`] when the bucket cannot be made.
    pub async fn connect_as(
        kind: ServerKind,
        endpoint: &str,
        key: &str,
        secret: &str,
    ) -> Result<Self> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let bucket = unique_name("s3sqlite");
        crate::http::create_bucket(&endpoint, &bucket, key, secret).await?;
        Ok(S3Server {
            kind,
            endpoint,
            bucket,
            credentials: (key.to_owned(), secret.to_owned()),
            process: None,
        })
    }

    /// Starts a server of `kind` on a free loopback port, whatever the
    /// environment says, and waits until it answers.
    ///
    /// # Errors
    ///
    /// [`Error::ServerUnavailable`] or [`Error::ServerNotReady`]; Ceph is
    /// never spawned, and MinIO and RustFS run only as containers: they
    /// always give [`Error::ServerUnavailable`], saying how to start them.
    pub async fn spawn(kind: ServerKind) -> Result<Self> {
        let default_program = match kind {
            ServerKind::LocalStack => "python3",
            ServerKind::Moto => "moto_server",
            ServerKind::Ceph | ServerKind::Minio | ServerKind::RustFs => {
                return Err(Error::ServerUnavailable {
                    kind: kind.name(),
                    hint: format!("{} is unset; {}", kind.endpoint_var(), kind.install_hint()),
                });
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("s3sqlite-server-")
            .tempdir()
            .map_err(|e| Error::io("create temp folder in", std::env::temp_dir(), e))?;
        let port = free_port()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let log_path = dir.path().join("server.log");
        let log = File::create(&log_path).map_err(|e| Error::io("create", &log_path, e))?;
        let err_log = log
            .try_clone()
            .map_err(|e| Error::io("open", &log_path, e))?;
        let program =
            std::env::var(kind.program_var()).unwrap_or_else(|_| default_program.to_owned());
        let mut command = Command::new(&program);
        match kind {
            ServerKind::LocalStack => {
                let listen = format!("127.0.0.1:{port}");
                command
                    .args(["-m", "localstack.runtime.main"])
                    .env("GATEWAY_LISTEN", &listen)
                    .env("LOCALSTACK_HOST", &listen)
                    .env("GATEWAY_SERVER", "hypercorn")
                    .env("SERVICES", "s3")
                    .env("EAGER_SERVICE_LOADING", "1")
                    .env("DNS_ADDRESS", "0")
                    .env("DISABLE_EVENTS", "1")
                    .env("SKIP_SSL_CERT_DOWNLOAD", "1")
                    .env("LOCALSTACK_VOLUME_DIR", dir.path().join("volume"));
            }
            _ => {
                command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            }
        }
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| Error::ServerUnavailable {
                kind: kind.name(),
                hint: format!(
                    "{} is unset and `{program}` could not be run ({e}); {}",
                    kind.endpoint_var(),
                    kind.install_hint()
                ),
            })?;
        let mut server = S3Server {
            kind,
            endpoint,
            bucket: String::new(),
            credentials: (TEST_CREDENTIALS.0.to_owned(), TEST_CREDENTIALS.1.to_owned()),
            process: Some(Spawned { child, _dir: dir }),
        };
        server.wait_ready(&program, &log_path).await?;
        tracing::info!(kind = %kind, endpoint = %server.endpoint, pid = ?server.pid(), "server started");
        let bucket = unique_name("s3sqlite");
        let (key, secret) = &server.credentials;
        crate::http::create_bucket(&server.endpoint, &bucket, key, secret).await?;
        server.bucket = bucket;
        Ok(server)
    }

    async fn wait_ready(&mut self, program: &str, log: &std::path::Path) -> Result<()> {
        let started = Instant::now();
        let probe = match self.kind {
            ServerKind::LocalStack => format!("{}/_localstack/health", self.endpoint),
            _ => format!("{}/", self.endpoint),
        };
        loop {
            if let Ok((status, body)) = crate::http::send("GET", &probe, None).await {
                let ready = match self.kind {
                    ServerKind::LocalStack => {
                        status == 200
                            && (body.contains("\"s3\": \"running\"")
                                || body.contains("\"s3\": \"available\"")
                                || body.contains("\"s3\":\"running\"")
                                || body.contains("\"s3\":\"available\""))
                    }
                    _ => status < 500,
                };
                if ready {
                    return Ok(());
                }
            }
            let exited = match &mut self.process {
                Some(spawned) => spawned
                    .child
                    .try_wait()
                    .map_err(|e| Error::io("wait for", program, e))?
                    .is_some(),
                None => false,
            };
            if exited || started.elapsed() > START_TIMEOUT {
                let log_tail = tail(log);
                if exited && log_tail.contains("No module named") {
                    return Err(Error::ServerUnavailable {
                        kind: self.kind.name(),
                        hint: format!(
                            "{} is unset and `{program}` cannot run it: {}",
                            self.kind.endpoint_var(),
                            self.kind.install_hint()
                        ),
                    });
                }
                return Err(Error::ServerNotReady {
                    kind: self.kind.name(),
                    program: program.to_owned(),
                    seconds: started.elapsed().as_secs(),
                    log_tail,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The server kind.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The fixture's own bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    #[cfg_attr(not(feature = "docker"), allow(dead_code))]
    pub(crate) fn credentials(&self) -> (&str, &str) {
        (&self.credentials.0, &self.credentials.1)
    }

    /// The variables another process needs to reach this server as the
    /// fixture does: `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, `AWS_REGION` and
    /// the credentials. For a program under test, e.g. a command line.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", self.credentials.0.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.credentials.1.clone()),
        ]
    }

    /// The process id of a server this fixture spawned.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.child.id())
    }

    /// The `s3://` URL of `key` in the fixture's bucket.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The remote for `key` in the fixture's bucket.
    ///
    /// # Errors
    ///
    /// As [`ObjectStoreRemote::from_url`].
    pub fn remote(&self, key: &str) -> Result<ObjectStoreRemote> {
        self.remote_at(&self.url(key))
    }

    /// The remote for any `s3://` URL on this server (another bucket, say),
    /// with the endpoint and test credentials set.
    ///
    /// # Errors
    ///
    /// As [`ObjectStoreRemote::from_url`].
    pub fn remote_at(&self, url: &str) -> Result<ObjectStoreRemote> {
        Ok(self.remote_builder(url).build()?)
    }

    /// A remote builder for any `s3://` URL on this server, with the endpoint
    /// and test credentials set, for further settings (retries, say).
    pub fn remote_builder(&self, url: &str) -> ObjectStoreRemoteBuilder {
        ObjectStoreRemote::builder(url)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_option("aws_access_key_id", &self.credentials.0)
            .with_option("aws_secret_access_key", &self.credentials.1)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(spawned) = &mut self.process {
            stop(&mut spawned.child);
        }
    }
}

/// SIGTERM to the child's process group, a bounded wait, then SIGKILL.
fn stop(child: &mut Child) {
    let group = format!("-{}", child.id());
    let signal = |name: &str| {
        // `kill` the command: the group may have exited already, which is fine
        let _ = Command::new("kill")
            .args([name, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            signal("-KILL");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    signal("-KILL");
    let _ = child.wait();
}

/// The value of `var`, which a running server of `kind` needs.
fn env_or_fail(kind: ServerKind, var: &'static str) -> Result<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(Error::ServerUnavailable {
            kind: kind.name(),
            hint: format!(
                "{} is set but {var} is not; {}",
                kind.endpoint_var(),
                kind.install_hint()
            ),
        }),
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("bind a port on", PathBuf::from("127.0.0.1"), e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("read the port of", PathBuf::from("127.0.0.1"), e))?
        .port();
    Ok(port)
}

fn tail(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
