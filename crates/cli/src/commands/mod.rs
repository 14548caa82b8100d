//! One module per command; [`run`] picks the one asked for.

mod check;
mod pull;
mod push;
mod query;
mod status;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use s3sqlite_core::{KeepRemote, Overwrite, ReplicaOptions};
use s3sqlite_rusqlite::{ChangesetMerge, recover_local};

use crate::args::{Cli, Command, Policy};
use crate::error::Error;
use crate::output::Output;
use crate::progress::Bars;

/// What every command shares: the flags and where results go.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    /// `--endpoint`.
    pub(crate) endpoint: Option<&'a str>,
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

/// Runs the command `cli` names; the exit code when it ran to the end.
pub(crate) async fn run(cli: &Cli, output: &Output, bars: bool) -> Result<ExitCode, Error> {
    let context = Context {
        endpoint: cli.endpoint.as_deref(),
        output,
        bars,
    };
    match &cli.command {
        Command::Pull {
            url,
            path,
            create,
            policy,
        } => pull::run(&context, url, path.as_deref(), *create, policy.policy).await,
        Command::Push { path, policy } => push::run(&context, path, policy.policy).await,
        Command::Status { target } => status::run(&context, target).await,
        Command::Check {
            prefix,
            writers,
            rounds,
            body_size,
        } => check::run(&context, prefix, *writers, *rounds, *body_size).await,
        Command::Query { url, sql } => query::run(&context, url, sql).await,
    }
}
