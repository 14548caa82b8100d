//! Pulling: bringing the local copy up to the remote, with connections closed
//! or open.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::live::{LiveReplace, LiveSource, Source};
use super::{Outcome, Replica};
use crate::Result;
use crate::policy::SyncPolicy;
use crate::report::{SyncAction, SyncReport};

impl Replica {
    /// Brings the local copy up to the remote: downloads the remote copy if it
    /// moved and the local copy is clean; a diverged copy goes to the policy.
    ///
    /// The local file must not be open for writing while this runs.
    ///
    /// # Errors
    ///
    /// As [`Replica::open`].
    pub async fn pull(&mut self) -> Result<SyncReport> {
        let policy = Arc::clone(&self.options.policy);
        self.pull_inner(policy, false).await
    }

    /// [`pull`](Self::pull) under `policy` instead of the replica's own, for
    /// this call only.
    ///
    /// # Errors
    ///
    /// As [`Replica::pull`].
    pub async fn pull_with(&mut self, policy: impl SyncPolicy) -> Result<SyncReport> {
        self.pull_inner(Arc::new(policy), true).await
    }

    async fn pull_inner(
        &mut self,
        policy: Arc<dyn SyncPolicy>,
        explicit: bool,
    ) -> Result<SyncReport> {
        let span = tracing::info_span!("s3sqlite.pull", url = %self.url);
        async {
            let started = Instant::now();
            let outcome = self.reconcile(policy).await?;
            let report = self.report(outcome, started);
            tracing::info!(report = %report, "pulled");
            self.unless_discarded(report, explicit)
        }
        .instrument(span)
        .await
    }

    /// Pulls while connections keep the database open: what an adapter's
    /// `pull()` calls.
    ///
    /// `source` holds the database's committed content, as for
    /// [`push_live`](Self::push_live): the local copy is clean when its hash
    /// is the base version's. A clean copy of a remote that moved gets the
    /// remote's content written into the live database by `replace`
    /// (SQLite's online backup API) instead of a file renamed over it; a
    /// copy with changes of its own, when the remote moved, goes to `policy`
    /// (the replica's when `None`), exactly as a push would; when the remote
    /// did not move, nothing is transferred. A read-only replica's source
    /// may be [`LiveSource::Unwritten`]: then the pull reads nothing of the
    /// live file, and one that finds the remote where it was is one HEAD.
    ///
    /// # Errors
    ///
    /// As [`Replica::pull`].
    pub async fn pull_live(
        &mut self,
        source: LiveSource<'_>,
        replace: &dyn LiveReplace,
        policy: Option<Arc<dyn SyncPolicy>>,
    ) -> Result<SyncReport> {
        let (policy, explicit) = self.policy_for(policy);
        let span = tracing::info_span!("s3sqlite.pull", url = %self.url, live = true);
        async {
            let started = Instant::now();
            let content = self.live_content(source)?;
            let current = self.target().await?;
            let outcome = if self.at_base(current.as_ref()) {
                let outcome = Outcome::new(SyncAction::Reused);
                if content.clean {
                    outcome
                } else {
                    outcome.dirty()
                }
            } else {
                match (content.clean, current) {
                    (_, None) => {
                        return Err(self.remote_deleted());
                    }
                    (true, Some(current)) => {
                        self.fetch_with(current, Some(replace), Some(&content.path), None)
                            .await?
                    }
                    (false, current) => {
                        let source = Source::live(content.path, content.same_as_local, replace);
                        self.upload_dirty(content.hash, Some(current), source, policy)
                            .await?
                    }
                }
            };
            let report = self.report(outcome, started);
            tracing::info!(report = %report, "pulled");
            self.unless_discarded(report, explicit)
        }
        .instrument(span)
        .await
    }
}
