//! One module per command; [`run`] picks the one asked for.

mod check;
mod context;
mod log;
mod pull;
mod push;
mod query;
mod restore;
mod status;

use std::process::ExitCode;

use self::context::Context;
use crate::args::{Cli, Command};
use crate::error::Error;
use crate::output::Output;
use crate::remote::StoreFlags;

/// Runs the command `cli` names; the exit code when it ran to the end.
pub(crate) async fn run(cli: &Cli, output: &Output, bars: bool) -> Result<ExitCode, Error> {
    let context = Context {
        store: StoreFlags {
            endpoint: cli.endpoint.as_deref(),
            profile: cli.profile.as_deref(),
            region: cli.region.as_deref(),
        },
        output,
        bars,
    };
    match &cli.command {
        Command::Pull {
            url,
            path,
            version: Some(id),
            ..
        } => {
            let path = path.as_deref().expect("clap requires PATH with --version");
            pull::run_version(&context, url, id, path).await
        }
        Command::Pull {
            url,
            path,
            create,
            version: None,
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
        Command::Query { url, sql, version } => {
            query::run(&context, url, sql, version.as_deref()).await
        }
        Command::Log { url } => log::run(&context, url).await,
        Command::Restore { url, version } => restore::run(&context, url, version).await,
    }
}
