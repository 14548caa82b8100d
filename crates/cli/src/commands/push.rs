//! `s3sqlite push PATH`.

use std::path::Path;
use std::process::ExitCode;

use s3sqlite_core::{Replica, SyncAction};
use serde_json::json;

use super::context::Context;
use crate::args::Policy;
use crate::error::Error;
use crate::output::report_json;
use crate::remote;

/// Pushes the local copy at `path` to the remote its state file names, on
/// condition that the remote did not move; both sides changed go to
/// `policy`.
pub(crate) async fn run(
    context: &Context<'_>,
    path: &Path,
    policy: Policy,
) -> Result<ExitCode, Error> {
    let url = Replica::tracked_url(path)?.ok_or_else(|| Error::NotAReplica {
        path: path.to_owned(),
    })?;
    let remote = remote::open(&url, &context.store)?;
    // a diverged copy meets the policy at open already
    let mut replica = Replica::open(remote, context.replica_options(path, policy)).await?;
    let opened = replica.opened().clone();
    let pushed = replica.push().await?;
    let report = match (opened.action, pushed.action) {
        (
            SyncAction::Uploaded | SyncAction::Merged | SyncAction::KeptRemote,
            SyncAction::Unchanged,
        ) => opened,
        _ => pushed,
    };
    let text = format!("{}: {report}", path.display());
    let value = json!({
        "command": "push",
        "url": url,
        "path": path,
        "report": report_json(&report),
    });
    context.output.result(&text, &value)?;
    Ok(ExitCode::SUCCESS)
}
