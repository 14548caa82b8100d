//! The command line's errors, their exit codes and hints.

use std::path::PathBuf;
use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The engine's error, as the library reports it.
    #[error(transparent)]
    Core(#[from] s3sqlite_core::Error),

    /// The path holds no replica: nothing says which remote it belongs to.
    #[error("{} is not a local copy made by s3sqlite: there is no state file beside it", path.display())]
    NotAReplica { path: PathBuf },

    /// The URL names no file to keep locally.
    #[error("{url} ends in no file name to give the local copy: name the local path")]
    NoFileName { url: String },

    /// SQLite refused the query.
    #[error("query on a fresh copy of {url} failed: {source}")]
    Query {
        url: String,
        #[source]
        source: s3sqlite_rusqlite::rusqlite::Error,
    },

    /// SQLite refused the query on a version named with `query --version`.
    #[error("query on version {id} of {url} failed: {source}")]
    QueryVersion {
        url: String,
        id: String,
        #[source]
        source: s3sqlite_rusqlite::rusqlite::Error,
    },

    /// `pull --version` named a path that holds a local copy of another
    /// version: a writer's copy of the current one, say, which it leaves
    /// as it is.
    #[error(
        "{} is a local copy of {url} at {}, not at version {id}: `pull --version` writes \
         only to a new path or to a copy of that same version",
        path.display(),
        match base { Some(base) => format!("version {base}"), None => "no version".to_owned() }
    )]
    OtherVersionHere {
        path: PathBuf,
        url: String,
        id: String,
        /// The version id the copy at `path` was synced to.
        base: Option<String>,
    },

    /// The temp folder for a query's copy could not be made.
    #[error("could not create a temp folder in {}", path.display())]
    TempDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The output could not be written.
    #[error("could not write the output")]
    Output(#[source] std::io::Error),

    /// `--profile` was given to a build without the `aws-config` feature.
    #[cfg_attr(feature = "aws-config", allow(dead_code))]
    #[error(
        "--profile {profile}: this build of s3sqlite reads no AWS profiles (it lacks the \
         `aws-config` feature); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead"
    )]
    NoProfiles { profile: String },

    /// The async runtime could not start.
    #[error("could not start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// Exit code 1: an error.
const FAILED: u8 = 1;
/// Exit code 3: both sides changed, and the policy did not settle it.
pub(crate) const CONFLICT: u8 = 3;
/// Exit code 4: `check` found the store not safe for concurrent writers.
pub(crate) const NOT_SAFE: u8 = 4;

impl Error {
    /// The engine's error behind this one, if any.
    fn core(&self) -> Option<&s3sqlite_core::Error> {
        match self {
            Error::Core(err) => Some(err),
            _ => None,
        }
    }

    /// Whether this is a conflict: the remote moved while the local copy
    /// had changes of its own.
    pub(crate) fn is_conflict(&self) -> bool {
        matches!(self.core(), Some(s3sqlite_core::Error::Conflict { .. }))
    }

    /// The process's exit code for this error.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self.is_conflict() {
            true => CONFLICT,
            false => FAILED,
        })
    }

    /// What to do about it, where a hint helps.
    pub(crate) fn hint(&self) -> Option<String> {
        use s3sqlite_core::Error as E;
        Some(match self {
            Error::NotAReplica { path } => format!(
                "run `s3sqlite pull URL {}` to make one, or name a path that `pull` made",
                path.display()
            ),
            Error::NoFileName { .. } => "run `s3sqlite pull URL PATH`".to_owned(),
            Error::OtherVersionHere { path, .. } => format!(
                "name another PATH for that version; {} is left as it was",
                path.display()
            ),
            Error::Query { source, .. } if is_read_only(source) => {
                "`query` only reads: `s3sqlite pull` the database, change the copy, then \
                 `s3sqlite push` it"
                    .to_owned()
            }
            Error::QueryVersion { url, id, source } if is_read_only(source) => format!(
                "`--version` reads a version and never writes it; `s3sqlite restore {url} \
                 {id}` makes it current again"
            ),
            _ => match self.core()? {
                E::Conflict { refused: None, .. } => {
                    "run `s3sqlite status` to see both sides, `pull --policy keep-remote` to drop \
                     the local changes, or `push --policy overwrite` to replace the remote"
                        .to_owned()
                }
                E::Conflict {
                    refused: Some(_), ..
                } => "nothing changed on either side; `push --policy overwrite` replaces the \
                      remote, `pull --policy keep-remote` drops the local changes"
                    .to_owned(),
                E::RemoteNotFound { .. } => {
                    "check the URL; `pull --create` starts a new database there".to_owned()
                }
                E::LocalInUse { .. } => {
                    "another process has this local copy open: close it, or use another path"
                        .to_owned()
                }
                E::UntrackedLocal { .. } => {
                    "move the file away, or pull to another path".to_owned()
                }
                E::BucketNotFound { .. } | E::Remote { .. } => {
                    "check the URL, the AWS_* variables, --endpoint and --profile".to_owned()
                }
                E::CredentialsRefused { .. } => {
                    "fix the credentials, or pick others with --profile or AWS_PROFILE".to_owned()
                }
                E::WrongRegion {
                    bucket_region: Some(region),
                    ..
                } => format!("add --region {region}"),
                E::JournalPending { .. } => {
                    "open the database once with SQLite (or close the application using it) \
                     so that it puts its -wal or -journal into the file"
                        .to_owned()
                }
                _ => return None,
            },
        })
    }
}

/// Whether SQLite refused a write: `query` opens its copy read-only.
fn is_read_only(err: &s3sqlite_rusqlite::rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(s3sqlite_rusqlite::rusqlite::ErrorCode::ReadOnly)
}
