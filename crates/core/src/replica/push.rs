//! Pushing: uploading the local copy when it changed, with connections closed
//! or open, with or without a deadline; and closing.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::deadline::by_deadline;
use super::live::{LiveReplace, LiveSource, Source};
use super::record::Local;
use super::{Outcome, Replica};
use crate::policy::SyncPolicy;
use crate::report::{SyncAction, SyncReport};
use crate::{Error, Result};

impl Replica {
    /// Uploads the local copy if it changed since the last sync, on condition
    /// that the remote is still the base version; a remote that moved goes to
    /// the policy. An unchanged copy sends no request.
    ///
    /// The local file must be consistent and not written while this runs:
    /// all connections closed, or the WAL checkpointed and writers held off.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when the remote moved and the policy aborts;
    /// [`Error::Remote`], [`Error::Io`] for failed requests or file access.
    /// A failed push leaves the local file and its dirty state as they were.
    pub async fn push(&mut self) -> Result<SyncReport> {
        let policy = Arc::clone(&self.options.policy);
        self.push_inner(policy, false, None).await
    }

    /// [`push`](Self::push) under `policy` instead of the replica's own, for
    /// this call only: settles a conflict the replica's policy refused
    /// without reopening.
    ///
    /// ```
    /// use s3sqlite_core::{Error, KeepRemote, Replica, ReplicaOptions, SyncAction};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let url = "memory:///docs/push-with.db";
    /// let open = |name: &str| {
    ///     Replica::open_url(url, ReplicaOptions::new().with_local_path(dir.path().join(name)))
    /// };
    /// let mut a = open("a.db").await?;
    /// let mut b = open("b.db").await?;
    /// std::fs::write(a.local_path(), b"SQLite format 3\0a").unwrap();
    /// a.push().await?;
    /// std::fs::write(b.local_path(), b"SQLite format 3\0b").unwrap();
    /// assert!(matches!(b.push().await, Err(Error::Conflict { .. })));
    /// let report = b.push_with(KeepRemote).await?;
    /// assert_eq!(report.action, SyncAction::KeptRemote);
    /// # Ok::<(), s3sqlite_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Replica::push`].
    pub async fn push_with(&mut self, policy: impl SyncPolicy) -> Result<SyncReport> {
        self.push_inner(Arc::new(policy), true, None).await
    }

    /// `explicit`: the policy was given for this call, so a discard of the
    /// local changes it asked for is a success.
    /// `deadline`: an upload that cannot make it is not started.
    async fn push_inner(
        &mut self,
        policy: Arc<dyn SyncPolicy>,
        explicit: bool,
        deadline: Option<Instant>,
    ) -> Result<SyncReport> {
        let span = tracing::info_span!("s3sqlite.push", url = %self.url);
        async {
            let started = Instant::now();
            let outcome = match self.local()? {
                Local::Clean => Outcome::new(SyncAction::Unchanged),
                Local::Dirty(hash) => {
                    self.check_deadline(&self.path, deadline)?;
                    let source = Source::closed(&self.path);
                    self.upload_dirty(hash, None, source, policy).await?
                }
            };
            let report = self.report(outcome, started);
            tracing::info!(report = %report, "pushed");
            self.unless_discarded(report, explicit)
        }
        .instrument(span)
        .await
    }

    /// [`push`](Self::push), bounded by `deadline`: for an AWS Lambda
    /// invocation, its remaining time.
    ///
    /// Before anything is sent, the upload's size is weighed against the
    /// fastest transfer this replica has seen (its open's download, earlier
    /// pushes): when even that pace cannot finish in time, the push fails at
    /// once with [`Error::DeadlineTooShort`]. With no transfer seen yet, it
    /// starts. If the deadline comes mid-transfer, the push stops there
    /// ([`Error::DeadlineExceeded`]): nothing is recorded as synced, the
    /// local changes stay for the next push, and an upload that landed
    /// anyway is recognised then by its stamp, as after a crash.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use s3sqlite_core::{Replica, ReplicaOptions};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let options = ReplicaOptions::new().with_local_path(dir.path().join("app.db"));
    /// let mut replica = Replica::open_url("memory:///docs/push-by.db", options).await?;
    /// std::fs::write(replica.local_path(), b"SQLite format 3\0").unwrap();
    /// // e.g. the Lambda context's deadline, less a margin to answer in
    /// let report = replica.push_by(Instant::now() + Duration::from_secs(5)).await?;
    /// println!("{report}");
    /// # Ok::<(), s3sqlite_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Replica::push`], and [`Error::DeadlineTooShort`] or
    /// [`Error::DeadlineExceeded`].
    pub async fn push_by(&mut self, deadline: Instant) -> Result<SyncReport> {
        let url = self.url.clone();
        let policy = Arc::clone(&self.options.policy);
        by_deadline(
            url,
            deadline,
            self.push_inner(policy, false, Some(deadline)),
        )
        .await
    }

    /// Pushes while connections keep the database open: what an adapter's
    /// `sync()` calls.
    ///
    /// `source` says what to upload: the main file right after a complete
    /// checkpoint ([`LiveSource::Checkpointed`]; the caller keeps anything
    /// from checkpointing into it until this returns, while writers may
    /// still add WAL frames, which go up at the next push), or a consistent
    /// copy of the database ([`LiveSource::Snapshot`], e.g. from SQLite's
    /// online backup API, which keeps every page at its number). Nothing is sent when those bytes are what the remote
    /// already holds.
    ///
    /// A resolution that replaces the local content ([`Resolution::KeepRemote`](crate::Resolution::KeepRemote),
    /// [`Resolution::Merged`](crate::Resolution::Merged)) cannot rename a file under open connections:
    /// `replace` writes the new content into the live database instead
    /// (SQLite's online backup API), and the engine never touches the
    /// `-wal` and `-shm` files.
    ///
    /// # Errors
    ///
    /// As [`Replica::push`].
    pub async fn push_live(
        &mut self,
        source: LiveSource<'_>,
        replace: &dyn LiveReplace,
    ) -> Result<SyncReport> {
        self.push_live_inner(source, replace, None, None).await
    }

    /// [`push_live`](Self::push_live) under `policy` instead of the
    /// replica's own (`None`: the replica's), for this call only: what an
    /// adapter's `sync_with()` calls.
    ///
    /// # Errors
    ///
    /// As [`Replica::push`].
    pub async fn push_live_with(
        &mut self,
        source: LiveSource<'_>,
        replace: &dyn LiveReplace,
        policy: Option<Arc<dyn SyncPolicy>>,
    ) -> Result<SyncReport> {
        self.push_live_inner(source, replace, policy, None).await
    }

    /// [`push_live`](Self::push_live), bounded by `deadline` as
    /// [`push_by`](Self::push_by) is: what an adapter's `sync_by()` calls.
    ///
    /// # Errors
    ///
    /// As [`push_by`](Self::push_by).
    pub async fn push_live_by(
        &mut self,
        source: LiveSource<'_>,
        replace: &dyn LiveReplace,
        deadline: Instant,
    ) -> Result<SyncReport> {
        let url = self.url.clone();
        let push = self.push_live_inner(source, replace, None, Some(deadline));
        by_deadline(url, deadline, push).await
    }

    /// `deadline`: an upload that cannot make it is not started.
    async fn push_live_inner(
        &mut self,
        source: LiveSource<'_>,
        replace: &dyn LiveReplace,
        policy: Option<Arc<dyn SyncPolicy>>,
        deadline: Option<Instant>,
    ) -> Result<SyncReport> {
        let (policy, explicit) = self.policy_for(policy);
        let span = tracing::info_span!("s3sqlite.push", url = %self.url, live = true);
        async {
            let started = Instant::now();
            let content = self.live_content(source)?;
            let outcome = if content.clean {
                Outcome::new(SyncAction::Unchanged)
            } else {
                self.check_deadline(&content.path, deadline)?;
                let source = Source::live(content.path, content.same_as_local, replace);
                self.upload_dirty(content.hash, None, source, policy)
                    .await?
            };
            let report = self.report(outcome, started);
            tracing::info!(report = %report, "pushed");
            self.unless_discarded(report, explicit)
        }
        .instrument(span)
        .await
    }

    /// Pushes and releases the local path.
    ///
    /// # Errors
    ///
    /// As [`Replica::push`]; the replica comes back with the error, so the
    /// caller can retry or keep using it.
    pub async fn close(mut self) -> Result<SyncReport, (Self, Error)> {
        match self.push().await {
            Ok(report) => Ok(report),
            Err(err) => Err((self, err)),
        }
    }

    /// Fails when the file at `path` cannot go up before `deadline` (when
    /// there is one) even at the fastest pace seen so far.
    fn check_deadline(&self, path: &Path, deadline: Option<Instant>) -> Result<()> {
        let Some(deadline) = deadline else {
            return Ok(());
        };
        let size = fs::metadata(path)
            .map_err(|e| Error::io("read metadata of", path, e))?
            .len();
        self.pace.check(&self.url, size, deadline)
    }
}
