//! The crate's one error type.

use std::path::PathBuf;

use crate::version::RemoteVersion;

mod chain;
mod corruption;
pub(crate) mod refusal;
mod transient;

pub use self::chain::ErrorChain;
pub use self::corruption::Corruption;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while opening, pulling or pushing a replica.
///
/// Each variant names the URL or local path it concerns. Where there is an
/// underlying cause, the message ends with its root in a few words
/// ("…: connection refused"), so a log line of `{err}` says why; the whole
/// chain stays available through [`std::error::Error::source`]. No message
/// holds a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be parsed or lacks a part the scheme needs.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The URL's scheme is not one this crate knows.
    #[error(
        "unsupported URL scheme {scheme:?} in {url:?}: expected s3, s3sqlite, gs, az, file or memory"
    )]
    UnsupportedScheme {
        /// The URL as given.
        url: String,
        /// Its scheme.
        scheme: String,
    },

    /// The URL's scheme needs a cargo feature that is not enabled.
    #[error("URL {url:?} needs the `{feature}` feature of s3sqlite-core")]
    FeatureDisabled {
        /// The URL as given.
        url: String,
        /// The feature to enable.
        feature: &'static str,
    },

    /// The object store for the URL could not be configured.
    #[error(
        "could not configure the object store for {url}: {}",
        root_cause(source)
    )]
    Config {
        /// The remote URL.
        url: String,
        /// What the store builder reported.
        source: object_store::Error,
    },

    /// A setting read from the environment for the remote has a value this
    /// crate does not accept.
    #[error("{var}={value:?} is not accepted for {url}: {reason}")]
    InvalidSetting {
        /// The remote URL.
        url: String,
        /// The environment variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        reason: String,
    },

    /// The bucket, container or folder that should hold the object does not exist.
    #[error("the bucket or folder of {url} does not exist: create it first or fix the URL")]
    BucketNotFound {
        /// The remote URL.
        url: String,
    },

    /// S3 refused to read the object (403 Forbidden) though it lets the
    /// bucket be listed: the credentials lack `s3:GetObject` on the key.
    #[error(
        "reading {url} was refused (403 Forbidden): the credentials lack s3:GetObject \
         on it (listing the bucket works, so the refusal is not a missing key)"
    )]
    AccessDenied {
        /// The remote URL.
        url: String,
        /// The store's refusal.
        #[source]
        source: object_store::Error,
    },

    /// S3 refused to write the object (403 Forbidden): the credentials lack
    /// `s3:PutObject` on the key.
    #[error(
        "writing {url} was refused (403 Forbidden): the credentials lack s3:PutObject on it; \
         nothing was written"
    )]
    WriteDenied {
        /// The remote URL.
        url: String,
        /// The store's refusal.
        #[source]
        source: Box<object_store::Error>,
    },

    /// S3 answered 403 Forbidden for the object and refused to list its
    /// bucket too. Without `s3:ListBucket`, S3 answers 403 instead of 404
    /// for a key that does not exist, so the key may be missing (a database
    /// nobody has pushed yet) or the credentials may lack `s3:GetObject`.
    #[error(
        "reading {url} was refused (403 Forbidden) and so was listing its bucket: the key may \
         not exist (without s3:ListBucket, S3 answers 403 instead of 404 for a missing key) or \
         the credentials lack s3:GetObject on it; grant s3:ListBucket on the bucket to tell \
         which, and to let a first open start a new database"
    )]
    MissingOrForbidden {
        /// The remote URL.
        url: String,
        /// The store's refusal of the object.
        #[source]
        source: object_store::Error,
    },

    /// The store refused the credentials themselves: an access key it does
    /// not know, a secret that does not match the key, or an expired
    /// session token.
    #[error(
        "{url}: the store refused the credentials from {credentials} ({code}): {}",
        refusal::hint(code)
    )]
    CredentialsRefused {
        /// The remote URL.
        url: String,
        /// Where the credentials came from, e.g. `AWS profile "dev"`.
        credentials: String,
        /// S3's error code, e.g. `SignatureDoesNotMatch`.
        code: String,
        /// The store's refusal.
        #[source]
        source: Box<object_store::Error>,
    },

    /// No credentials could be found to sign the requests with: the
    /// message says where they were looked for and why none came.
    #[error("{url}: {reason}")]
    NoCredentials {
        /// The remote URL.
        url: String,
        /// Where the credentials were looked for, and what failed.
        reason: String,
    },

    /// The bucket is in another region than the one requests are signed
    /// for: S3 answered with a redirect.
    #[error("{url}: {}", refusal::region_hint(region, bucket_region.as_deref()))]
    WrongRegion {
        /// The remote URL.
        url: String,
        /// The region requests were signed for.
        region: String,
        /// The bucket's region, when S3 said (`x-amz-bucket-region`).
        bucket_region: Option<String>,
        /// The store's answer.
        #[source]
        source: Box<object_store::Error>,
    },

    /// The store refused to replace the object on condition that it is the
    /// version the local copy is based on, though it is: a store that
    /// cannot honour `If-Match` here, or an entity tag forced into a form
    /// it does not take. Nothing was written.
    #[error(
        "{url}: the store refused to replace version {version} on condition that it is \
         current, and it is: nothing was written; the store does not take this If-Match \
         (with a forced EtagQuoting, try the other form; Ceph RGW 16 refuses every one on a \
         bucket with versioning: use a bucket without)"
    )]
    ConditionRefused {
        /// The remote URL.
        url: String,
        /// The version the condition named, current on the remote.
        version: Box<RemoteVersion>,
    },

    /// The store keeps no earlier versions of the object.
    #[error("{url} keeps no versions: {reason}")]
    NoVersions {
        /// The remote URL.
        url: String,
        /// Why, and what would change it.
        reason: String,
    },

    /// The store has no version of the object with this id: a version id
    /// from another object, or one that a lifecycle rule or a person
    /// removed.
    #[error("{url} has no version {id}; `s3sqlite log {url}` lists the versions the bucket keeps")]
    NoSuchVersion {
        /// The remote URL.
        url: String,
        /// The version id asked for.
        id: String,
    },

    /// A read-only replica (a follower, or an earlier version) was asked to
    /// upload, or found local changes it may not upload.
    #[error(
        "{url} is open read-only, so nothing is uploaded, yet the local copy {} differs from \
         the version it was synced to: a writable session changed it, or a power loss damaged \
         a follower's copy; open it writable to push changes that are yours, or remove the \
         file to fetch the remote again",
        path.display()
    )]
    ReadOnly {
        /// The remote URL.
        url: String,
        /// The local copy.
        path: PathBuf,
    },

    /// A sync was asked to take the local copy as unwritten
    /// ([`LiveSource::Unwritten`](crate::LiveSource::Unwritten)) while the
    /// replica is writable, or has no record of the version the copy holds.
    /// Nothing was read or sent.
    #[error(
        "the local copy {} of {url} cannot be taken as unwritten: only a read-only replica's \
         copy with a recorded version can; sync it from a checkpoint or a snapshot instead",
        path.display()
    )]
    NotUnwritten {
        /// The remote URL.
        url: String,
        /// The local copy.
        path: PathBuf,
    },

    /// A write was committed to the open database while a sync was about
    /// to replace its content with another version (a pull, or a policy
    /// that takes the remote's side): nothing was replaced, and the write
    /// stays, a local change for the next sync.
    #[error(
        "{} was written while a sync was replacing its content, so nothing was replaced: \
         sync again, and the write goes to the sync policy as a local change",
        path.display()
    )]
    WrittenDuringSync {
        /// The local copy.
        path: PathBuf,
    },

    /// The remote object does not exist and the replica may not create it.
    #[error("{url} does not exist and create_if_missing is off")]
    RemoteNotFound {
        /// The remote URL.
        url: String,
    },

    /// The remote object was deleted after the local copy was last synced to it.
    #[error(
        "{url} was deleted after the local copy was synced to version {base}: the local copy is kept; \
         remove its state file to push it again as a new object"
    )]
    RemoteDeleted {
        /// The remote URL.
        url: String,
        /// The version the local copy was last synced to.
        base: Box<RemoteVersion>,
    },

    /// The remote moved past the version a write was conditional on: the
    /// version the local copy was based on, which the sync policy did not
    /// resolve, or the version a restore read. Nothing changed on either
    /// side.
    #[error("conflict on {url}: the remote is at {}, not at {} as this write expected, so nothing was written{}", show(.current.as_deref()), show(.base.as_deref()), refusal(.refused.as_deref()))]
    Conflict {
        /// The remote URL.
        url: String,
        /// The version the local copy was based on (`None`: the object did not exist).
        base: Option<Box<RemoteVersion>>,
        /// The version on the remote now (`None`: the object does not exist).
        current: Option<Box<RemoteVersion>>,
        /// Why the policy did not resolve it, when it said (see
        /// [`Conflict::refuse`](crate::Conflict::refuse)), e.g. the rows a
        /// merge could not settle.
        #[source]
        refused: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The replica's own policy resolved a conflict by keeping the remote's
    /// copy: the local changes were dropped, and the local copy now holds
    /// the remote's version (the report says which). Returned as an error so
    /// that a caller cannot lose writes without knowing; ask for the remote's
    /// copy explicitly ([`Replica::push_with`](crate::Replica::push_with)
    /// with [`KeepRemote`](crate::KeepRemote), or an adapter's `sync_with`)
    /// to get it as a success.
    #[error(
        "the local changes to {url} were discarded: the sync policy kept the remote's version {}, which the local copy now holds",
        show(.report.version.as_ref())
    )]
    LocalDiscarded {
        /// The remote URL.
        url: String,
        /// What the sync did.
        report: Box<crate::SyncReport>,
    },

    /// A push with a deadline would not finish in time, judged from the
    /// fastest transfer seen so far: nothing was sent, and the local changes
    /// stay for the next push.
    #[error(
        "no time to push {url}: {size} bytes need about {needed:?} at the fastest pace seen so far, \
         {left:?} left before the deadline; nothing was sent, the changes stay local"
    )]
    DeadlineTooShort {
        /// The remote URL.
        url: String,
        /// The bytes to upload.
        size: u64,
        /// How long they would take at the fastest pace seen.
        needed: std::time::Duration,
        /// How long was left.
        left: std::time::Duration,
    },

    /// The deadline of a push came before it finished: it was stopped there.
    /// Nothing was recorded as synced; the local changes stay for the next
    /// push, which also recognises an upload that landed anyway.
    #[error(
        "the push of {url} was stopped at its deadline after {elapsed:?}: nothing was recorded \
         as synced, the changes stay local for the next push"
    )]
    DeadlineExceeded {
        /// The remote URL.
        url: String,
        /// How long the push ran.
        elapsed: std::time::Duration,
    },

    /// The remote object changed or vanished while it was being downloaded.
    #[error("{url} changed during the download of version {expected}")]
    ChangedDuringDownload {
        /// The remote URL.
        url: String,
        /// The version the download was pinned to.
        expected: Box<RemoteVersion>,
    },

    /// The remote object is not a SQLite database.
    #[error("{url} is not a SQLite database: its first 16 bytes are not \"SQLite format 3\\0\"")]
    NotSqlite {
        /// The remote URL.
        url: String,
    },

    /// A local file to be adopted or uploaded is not a SQLite database.
    #[error(
        "local file {path} is not a SQLite database: its first 16 bytes are not \"SQLite format 3\\0\""
    )]
    LocalNotSqlite {
        /// The file.
        path: PathBuf,
    },

    /// The remote object is not the database it should be: not what its
    /// uploader's stamp announced (a torn upload the store kept), or not what
    /// its own header says. Nothing local was replaced.
    #[error("{url} is damaged: {problem}; the local copy was left as it was")]
    Corrupt {
        /// The remote URL.
        url: String,
        /// What is wrong with it.
        problem: Corruption,
    },

    /// The local file system has too little free space for a download.
    /// Nothing was written.
    #[error(
        "not enough free space in {path} to download {url}: {needed} bytes needed, {available} available"
    )]
    NoSpace {
        /// The folder of the local copy.
        path: PathBuf,
        /// The remote URL.
        url: String,
        /// The bytes the download needs.
        needed: u64,
        /// The bytes free for this process.
        available: u64,
    },

    /// A download ended with fewer or more bytes than the object has.
    #[error("download of {url} is truncated: expected {expected} bytes, got {actual}")]
    Truncated {
        /// The remote URL.
        url: String,
        /// The object's size.
        expected: u64,
        /// The bytes received.
        actual: u64,
    },

    /// Another replica holds the local copy: one of another process, or
    /// one of this process that is still opening.
    #[error("local copy {path} is in use by another replica")]
    LocalInUse {
        /// The local database path.
        path: PathBuf,
    },

    /// A replica of this process that is still open holds the local copy:
    /// for example a pool or connection whose `close()` failed, which keeps
    /// its path until it is closed or dropped.
    #[error(
        "local copy {path} is held by a replica of this process that is still open \
         (a pool or connection whose close failed keeps its path): retry its close, \
         or drop it (its changes stay in the local file for the next open)"
    )]
    LocalHeldByThisProcess {
        /// The local database path.
        path: PathBuf,
    },

    /// A local file that s3sqlite does not track is in the way of a download.
    #[error(
        "local file {path} is not tracked by s3sqlite and {url} exists: refusing to replace it; \
         move it away, or allow it with `replace_untracked`"
    )]
    UntrackedLocal {
        /// The local database path.
        path: PathBuf,
        /// The remote URL.
        url: String,
    },

    /// The local copy is tracked for another remote.
    #[error("local copy {path} is tracked for {tracked}, not {url}: use another local path")]
    TrackedElsewhere {
        /// The local database path.
        path: PathBuf,
        /// The URL its state file names.
        tracked: String,
        /// The URL it was opened with.
        url: String,
    },

    /// The local path exists and is not a regular file.
    #[error("local path {path} is a folder or special file, expected a database file path")]
    NotAFile {
        /// The local database path.
        path: PathBuf,
    },

    /// SQLite holds changes to the local copy outside the main file (a
    /// non-empty `-wal` or a hot `-journal`), so the file cannot be pushed as
    /// it is. Nothing was sent.
    #[error(
        "local copy {path} has changes in its -wal or -journal file: close every connection \
         (or run `PRAGMA wal_checkpoint(TRUNCATE)`) before pushing"
    )]
    JournalPending {
        /// The local database path.
        path: PathBuf,
    },

    /// A local file operation failed.
    #[error("could not {op} {path}: {source}")]
    Io {
        /// What was being done, e.g. "read" or "create folder".
        op: &'static str,
        /// The file or folder concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The state file next to the local copy could not be parsed.
    #[error(
        "state file {path} is corrupt ({source}): delete it to treat the local copy as untracked"
    )]
    CorruptState {
        /// The state file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },

    /// A request to the remote failed.
    #[error("request to {url} failed: {}", root_cause(source))]
    Remote {
        /// The remote URL.
        url: String,
        /// The object store's error.
        source: object_store::Error,
    },

    /// A sync policy returned an error of its own.
    #[error("sync policy failed for {url}: {}", root_cause(source.as_ref()))]
    Policy {
        /// The remote URL.
        url: String,
        /// The policy's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The innermost error of `err`'s source chain, in its own words: what a
/// person needs to know first ("Connection refused (os error 111)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut root = err;
    while let Some(source) = root.source() {
        root = source;
    }
    root.to_string()
}

fn refusal(reason: Option<&(dyn std::error::Error + Send + Sync)>) -> String {
    match reason {
        Some(reason) => format!("; not resolved: {reason}"),
        None => String::new(),
    }
}

fn show(version: Option<&RemoteVersion>) -> String {
    match version {
        Some(v) => v.to_string(),
        None => "absent".to_owned(),
    }
}

impl Error {
    pub(crate) fn conflict(
        url: &str,
        base: Option<&RemoteVersion>,
        current: Option<RemoteVersion>,
    ) -> Self {
        Error::Conflict {
            url: url.to_owned(),
            base: base.cloned().map(Box::new),
            current: current.map(Box::new),
            refused: None,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
