//! [`Context`]: what every command shares.

use std::path::Path;
use std::sync::Arc;

use s3sqlite_core::{KeepRemote, Overwrite, ReplicaOptions};
use s3sqlite_rusqlite::{ChangesetMerge, recover_local};

use crate::args::Policy;
use crate::output::Output;
use crate::progress::Bars;
use crate::remote::StoreFlags;

/// What every command shares: the flags and where results go.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    /// `--endpoint`, `--profile` and `--region`.
    pub(crate) store: StoreFlags<'a>,
    /// Where results go.
    pub(crate) output: &'a Output,
    /// Whether transfers draw progress bars.
    pub(crate) bars: bool,
}

impl Context<'_> {
    /// Options for a replica at `path` that settles conflicts by `policy`,
    /// recovers a `-wal` or hot journal a crashed application left, as the
    /// adapters do, and draws progress bars when asked.
    pub(crate) fn replica_options(&self, path: &Path, policy: Policy) -> ReplicaOptions {
        let options = ReplicaOptions::new()
            .with_local_path(path)
            .with_local_recovery(recover_local);
        let options = match policy {
            Policy::Fail => options,
            Policy::KeepRemote => options.with_policy(KeepRemote),
            Policy::Overwrite => options.with_policy(Overwrite),
            Policy::Merge => options.with_policy(ChangesetMerge::new()),
        };
        match self.bars {
            true => options.with_transfer_observer(Arc::new(Bars::default())),
            false => options,
        }
    }
}
