//! [`AwsHome`]: a throw-away home folder whose `~/.aws` profiles reach a
//! fixture's server, for a process under test that signs as a user on a
//! laptop does.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Fixture, Result};

/// A temp folder to give a child process as `HOME`, holding
/// `.aws/config` and `.aws/credentials` with three profiles for the
/// fixture's server, each with its region and `endpoint_url`:
///
/// - [`KEYS`](Self::KEYS): the server's keys in `~/.aws/credentials`;
/// - [`PROCESS`](Self::PROCESS): the same keys printed by a
///   `credential_process` script;
/// - [`WRONG_SECRET`](Self::WRONG_SECRET): the right access key id with a
///   wrong secret.
///
/// [`command`](Self::command) makes a command that sees this home and no
/// `AWS_*` variable of the test's own environment.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use s3sqlite_testkit::{AwsHome, Backend, Fixture};
///
/// let fx = Fixture::new(Backend::Ceph).await?;
/// let home = AwsHome::new(&fx)?;
/// let status = home
///     .command("s3sqlite")
///     .args(["--profile", AwsHome::KEYS, "status", &fx.url("app.db")])
///     .status()?;
/// assert!(status.success());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AwsHome {
    dir: tempfile::TempDir,
}

impl AwsHome {
    /// The profile with the server's keys in `~/.aws/credentials`.
    pub const KEYS: &'static str = "s3sqlite-keys";
    /// The profile whose `credential_process` prints the server's keys.
    pub const PROCESS: &'static str = "s3sqlite-process";
    /// The profile with the right access key id and a wrong secret.
    pub const WRONG_SECRET: &'static str = "s3sqlite-wrong-secret";

    /// The home folder for `fx`'s server.
    ///
    /// # Errors
    ///
    /// [`Error::ServerUnavailable`] when `fx` is not on an S3 server; [`Error::Io`]
    /// when the folder or its files cannot be written.
    pub fn new(fx: &Fixture) -> Result<Self> {
        let var = |name: &str| fx.server_var(name, "AwsHome");
        let (endpoint, region) = (var("AWS_ENDPOINT_URL")?, var("AWS_REGION")?);
        let (key, secret) = (var("AWS_ACCESS_KEY_ID")?, var("AWS_SECRET_ACCESS_KEY")?);
        let dir = tempfile::Builder::new().prefix("s3sqlite-home").tempdir();
        let dir = dir.map_err(|e| Error::io("create", std::env::temp_dir(), e))?;
        let aws = dir.path().join(".aws");
        std::fs::create_dir(&aws).map_err(|e| Error::io("create", &aws, e))?;
        let write = |name: &str, text: String| {
            let path = aws.join(name);
            std::fs::write(&path, text).map_err(|e| Error::io("write", path, e))
        };
        let script = aws.join("credentials.sh");
        write(
            "credentials.sh",
            format!(
                "#!/bin/sh\nprintf '%s\\n' '{{\"Version\": 1, \"AccessKeyId\": \"{key}\", \
                 \"SecretAccessKey\": \"{secret}\"}}'\n"
            ),
        )?;
        make_executable(&script).map_err(|e| Error::io("make executable", &script, e))?;
        let settings = format!("region = {region}\nendpoint_url = {endpoint}\n");
        let config = format!(
            "[profile {keys}]\n{settings}\n[profile {process}]\ncredential_process = {script}\n\
             {settings}\n[profile {wrong}]\n{settings}",
            keys = Self::KEYS,
            process = Self::PROCESS,
            wrong = Self::WRONG_SECRET,
            script = script.display(),
        );
        write("config", config)?;
        let credentials = format!(
            "[{keys}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n\n\
             [{wrong}]\naws_access_key_id = {key}\naws_secret_access_key = not-{secret}\n",
            keys = Self::KEYS,
            wrong = Self::WRONG_SECRET,
        );
        write("credentials", credentials)?;
        Ok(AwsHome { dir })
    }

    /// The home folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `credential_process` script.
    pub fn credential_process(&self) -> PathBuf {
        self.path().join(".aws").join("credentials.sh")
    }

    /// A command running `program` with this folder as `HOME` and every
    /// `AWS_*` variable of this process's environment removed.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                command.env_remove(name);
            }
        }
        command.env("HOME", self.path());
        command
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> std::io::Result<()> {
    Ok(())
}
