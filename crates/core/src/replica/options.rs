//! [`ReplicaOptions`]: how a replica opens and syncs.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::hash::ContentHash;
use crate::incremental::IncrementalUpload;
use crate::policy::{FailOnConflict, SyncPolicy};
use crate::transfer::TransferObserver;
use crate::transfer::TransferOptions;

/// How a [`Replica`](crate::Replica) opens and syncs.
///
/// ```
/// use s3sqlite_core::{KeepRemote, ReplicaOptions};
///
/// let options = ReplicaOptions::new()
///     .with_local_path("/tmp/app.db")
///     .with_policy(KeepRemote)
///     .with_create_if_missing(false);
/// assert_eq!(options.local_path(), Some(std::path::Path::new("/tmp/app.db")));
/// ```
#[derive(Clone)]
pub struct ReplicaOptions {
    pub(crate) local_path: Option<PathBuf>,
    pub(crate) create_if_missing: bool,
    pub(crate) replace_untracked: bool,
    pub(crate) policy: Arc<dyn SyncPolicy>,
    pub(crate) base_copy: bool,
    pub(crate) recovery: Option<Recovery>,
    pub(crate) transfer: TransferOptions,
    pub(crate) incremental: Option<IncrementalUpload>,
    pub(crate) read_only: bool,
    pub(crate) version: Option<String>,
}

/// See [`ReplicaOptions::with_local_recovery`].
pub(crate) type Recovery = Arc<dyn Fn(&Path) -> crate::Result<()> + Send + Sync>;

impl Default for ReplicaOptions {
    fn default() -> Self {
        ReplicaOptions {
            local_path: None,
            create_if_missing: true,
            replace_untracked: false,
            policy: Arc::new(FailOnConflict),
            base_copy: false,
            recovery: None,
            transfer: TransferOptions::default(),
            incremental: None,
            read_only: false,
            version: None,
        }
    }
}

impl ReplicaOptions {
    /// The defaults, as each setter describes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets where the local copy lives. Its parent folder is created if
    /// missing; the state and lock files sit beside it (`PATH.s3sqlite-state`,
    /// `PATH.s3sqlite-lock`). A relative path is taken from the current
    /// folder when the replica opens.
    ///
    /// By default, a path under the system temp folder derived from the whole
    /// remote URL, so two remotes never share a file:
    /// `TEMP/s3sqlite/HASH/NAME`, where `NAME` is the key's file name
    /// (over 120 bytes, cut and told apart by a hash).
    ///
    /// Every file s3sqlite creates there gets mode 0666 less the umask, as
    /// SQLite gives a new database; a local copy it replaces keeps its mode.
    pub fn with_local_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.local_path = Some(path.into());
        self
    }

    /// Sets whether opening a remote that does not exist starts an empty
    /// database (uploaded at the first push).
    ///
    /// By default, on. Off: the open fails with
    /// [`Error::RemoteNotFound`](crate::Error::RemoteNotFound).
    pub fn with_create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Sets whether a local file that s3sqlite does not track may be replaced
    /// by the remote copy.
    ///
    /// By default, off: the open fails with
    /// [`Error::UntrackedLocal`](crate::Error::UntrackedLocal) and the file is
    /// left alone. (An untracked file is adopted when the remote is absent.)
    pub fn with_replace_untracked(mut self, replace: bool) -> Self {
        self.replace_untracked = replace;
        self
    }

    /// Sets the policy for diverged copies.
    ///
    /// By default, [`FailOnConflict`].
    pub fn with_policy(mut self, policy: impl SyncPolicy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Sets the policy from a shared handle.
    pub fn with_policy_arc(mut self, policy: Arc<dyn SyncPolicy>) -> Self {
        self.policy = policy;
        self
    }

    /// Sets whether the replica keeps a base copy: the database as it was at
    /// the version the local copy is based on, beside it as
    /// `PATH.s3sqlite-base-HASH`, written at each download and after each
    /// upload. A merging policy diffs it against the local copy to find the
    /// local changes (see [`Conflict::base_copy`](crate::Conflict::base_copy)).
    ///
    /// By default, off, unless the policy asks for it
    /// ([`SyncPolicy::keeps_base`]): turn it on to merge with a policy named
    /// for one call only (`push_with`, an adapter's `sync_with`). It costs
    /// one local copy of the file per download and upload (a reflink where
    /// the file system allows it) and the disk space of one more database.
    pub fn with_base_copy(mut self, keep: bool) -> Self {
        self.base_copy = keep;
        self
    }

    /// Sets what runs on the local file at open, under the replica's lock,
    /// before the open looks at it: the adapters let SQLite finish what a
    /// killed process left there (roll back a hot journal, checkpoint
    /// committed WAL frames into the main file), so that the open sees the
    /// database SQLite would.
    ///
    /// By default, nothing; an error fails the open.
    pub fn with_local_recovery(
        mut self,
        recover: impl Fn(&Path) -> crate::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.recovery = Some(Arc::new(recover));
        self
    }

    /// Sets whether a push of a large database may send only the 8 MiB
    /// parts its changes touch, the store copying the others from the
    /// version replaced (see [`IncrementalUpload`]).
    ///
    /// By default, what the environment variable
    /// `S3SQLITE_INCREMENTAL_UPLOAD` says, else
    /// [`Auto`](IncrementalUpload::Auto): on Amazon S3 only.
    pub fn with_incremental_upload(mut self, incremental: IncrementalUpload) -> Self {
        self.incremental = Some(incremental);
        self
    }

    /// Whether a base copy is kept: asked for with
    /// [`with_base_copy`](Self::with_base_copy) or by the policy.
    pub(crate) fn keeps_base(&self) -> bool {
        self.base_copy || self.policy.keeps_base()
    }

    /// Sets the size of one ranged GET of a download, rounded down to a
    /// power of two of at least 1 KiB (each part is then a subtree of the
    /// content hash's tree, hashed as it arrives).
    ///
    /// By default, 8 MiB; a smaller object is fetched with one GET.
    pub fn with_part_size(mut self, bytes: u64) -> Self {
        self.transfer.part_size = bytes.max(1);
        self
    }

    /// Sets how many download parts may be in flight.
    ///
    /// By default, 8. Each part in flight holds at most about 1.5 MiB in memory: it
    /// is written and hashed as it arrives.
    pub fn with_parallelism(mut self, parts: usize) -> Self {
        self.transfer.parallelism = parts.max(1);
        self
    }

    /// Sets an observer told of every download and upload as it runs: a
    /// progress bar, a metric. See [`TransferObserver`].
    ///
    /// By default, none, and transfers count nothing for it.
    pub fn with_transfer_observer(mut self, observer: Arc<dyn TransferObserver>) -> Self {
        self.transfer.observer = Some(observer);
        self
    }

    /// Sets whether the replica only reads: it never uploads, so the
    /// credentials need no write permission. An open or pull brings the
    /// local copy to the remote's current version as usual (a pull of a
    /// database whose manifest is stored fetches only what changed); a
    /// remote that does not exist is
    /// [`Error::RemoteNotFound`](crate::Error::RemoteNotFound), never
    /// created; a local copy with changes of its own is
    /// [`Error::ReadOnly`](crate::Error::ReadOnly), never uploaded, and so is
    /// a push of one. A push of a copy without changes does nothing, as on
    /// any replica.
    ///
    /// By default, off. The adapters open their connections with
    /// `PRAGMA query_only` on a read-only replica, and refresh it in the
    /// background as a follower of the writers.
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Opens the version `id` of the remote database instead of the
    /// current one (see [`RemoteStore::versions`](crate::RemoteStore::versions)
    /// and `s3sqlite log`), read-only: downloaded pinned to that version
    /// and verified against its stamp like any download, then held there;
    /// a pull keeps it and costs one HEAD of that version.
    ///
    /// The default local path is kept apart from the current version's, so
    /// opening an old version never touches a writer's local copy.
    ///
    /// ```
    /// use s3sqlite_core::ReplicaOptions;
    ///
    /// let options = ReplicaOptions::new().with_version("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH");
    /// assert!(options.is_read_only());
    /// assert_eq!(options.version(), Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"));
    /// ```
    ///
    /// By default, none: the current version.
    pub fn with_version(mut self, id: impl Into<String>) -> Self {
        self.version = Some(id.into());
        self
    }

    /// Whether the replica only reads: set with
    /// [`with_read_only`](Self::with_read_only), or pinned to a version.
    pub fn is_read_only(&self) -> bool {
        self.read_only || self.version.is_some()
    }

    /// The version id the replica is pinned to, if any.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The explicit local path, if one was set.
    pub fn local_path(&self) -> Option<&Path> {
        self.local_path.as_deref()
    }

    /// The local path for `url`: the explicit one, or the default.
    /// A relative path is taken from the current folder at this call.
    pub(crate) fn resolve_local_path(&self, url: &str) -> PathBuf {
        match &self.local_path {
            Some(path) => std::path::absolute(path).unwrap_or_else(|_| path.clone()),
            None => match &self.version {
                Some(id) => default_local_path(&format!("{url}?versionId={id}")),
                None => default_local_path(url),
            },
        }
    }
}

impl fmt::Debug for ReplicaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaOptions")
            .field("local_path", &self.local_path)
            .field("create_if_missing", &self.create_if_missing)
            .field("replace_untracked", &self.replace_untracked)
            .field("policy", &self.policy)
            .field("base_copy", &self.base_copy)
            .field("recovery", &self.recovery.is_some())
            .field("transfer", &self.transfer)
            .field("incremental", &self.incremental)
            .field("read_only", &self.read_only)
            .field("version", &self.version)
            .finish()
    }
}

/// The longest local file name [`default_local_path`] makes: the state,
/// lock and temp files add up to 40 bytes to it, and file systems allow 255.
const MAX_NAME_BYTES: usize = 120;

/// `name` (ASCII, longer than [`MAX_NAME_BYTES`]) cut to fit, kept apart
/// from other long names by a hash of the whole, its extension kept.
fn shorten(name: &str) -> String {
    let digest = ContentHash::of_bytes(name.as_bytes()).to_hex();
    let ext = match name.rfind('.') {
        Some(dot) if name.len() - dot <= 16 => &name[dot..],
        _ => "",
    };
    let keep = MAX_NAME_BYTES - ext.len() - 17;
    format!("{}-{}{ext}", &name[..keep], &digest[..16])
}

/// `TEMP/s3sqlite/HASH/NAME`: `HASH` from the whole URL, `NAME` the key's
/// last segment reduced to safe characters, so no key can leave the folder,
/// and shortened with a hash when long, so any legal key gets a usable path.
pub(crate) fn default_local_path(url: &str) -> PathBuf {
    let digest = ContentHash::of_bytes(url.as_bytes()).to_hex();
    let last = url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let mut name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.trim_matches('.').is_empty() {
        name = "db.sqlite".to_owned();
    }
    if name.len() > MAX_NAME_BYTES {
        name = shorten(&name);
    }
    let path = std::env::temp_dir()
        .join("s3sqlite")
        .join(&digest[..16])
        .join(name);
    debug_assert!(
        path.components()
            .all(|c| !matches!(c, Component::ParentDir))
    );
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths_differ_by_url_and_keep_the_file_name() {
        let a = default_local_path("s3://bucket-a/app.db");
        let b = default_local_path("s3://bucket-b/app.db");
        assert_ne!(a, b);
        assert_eq!(a.file_name().unwrap(), "app.db");
        assert_eq!(b.file_name().unwrap(), "app.db");
    }

    #[test]
    fn a_pinned_version_has_a_default_path_of_its_own() {
        let url = "s3://bucket/app.db";
        let current = ReplicaOptions::new().resolve_local_path(url);
        let pinned = ReplicaOptions::new()
            .with_version("v2")
            .resolve_local_path(url);
        assert_ne!(current, pinned);
        assert_eq!(pinned.file_name().unwrap(), "app.db");
    }

    #[test]
    fn long_names_are_shortened_and_stay_apart() {
        let long = |c: char| format!("s3://b/{}.db", c.to_string().repeat(300));
        let a = default_local_path(&long('a'));
        let b = default_local_path(&long('b'));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), MAX_NAME_BYTES);
        assert!(name.ends_with(".db"), "{name}");
        assert_ne!(a.file_name(), b.file_name());
        assert_eq!(
            default_local_path("s3://b/app.db").file_name().unwrap(),
            "app.db"
        );
    }

    #[test]
    fn keys_cannot_escape_the_folder() {
        let root = std::env::temp_dir().join("s3sqlite");
        for url in [
            "s3://b/..",
            "s3://b/../../etc/passwd",
            "memory:///a/.",
            "s3://b/%2e%2e",
        ] {
            let path = default_local_path(url);
            assert_eq!(path.parent().unwrap().parent().unwrap(), root, "{url}");
            assert_ne!(path.file_name().unwrap(), "..", "{url}");
        }
    }
}
