//! `s3sqlite pull URL [PATH]`.

use std::path::Path;
use std::process::ExitCode;

use s3sqlite_core::{Replica, SyncAction};
use serde_json::json;

use super::context::Context;
use crate::args::Policy;
use crate::error::Error;
use crate::output::report_json;
use crate::remote;

/// Opens a replica of `url` at `path` (default: the key's file name here):
/// downloads the remote, reuses a current local copy, or keeps local
/// changes when the remote did not move; both sides changed go to `policy`.
/// With the remote absent, a file at `path` is adopted; with none there,
/// an empty database is started when `create`, and it is an error if not.
pub(crate) async fn run(
    context: &Context<'_>,
    url: &str,
    path: Option<&Path>,
    create: bool,
    policy: Policy,
) -> Result<ExitCode, Error> {
    let path = match path {
        Some(path) => path.to_owned(),
        None => remote::local_path_for(url)?,
    };
    let remote = remote::open(url, &context.store)?;
    let options = context
        .replica_options(&path, policy)
        .with_create_if_missing(create);
    let replica = Replica::open(remote, options).await?;
    let report = replica.opened().clone();
    let what = match (report.action, report.dirty) {
        (SyncAction::Reused, true) => "local changes kept (not uploaded yet)".to_owned(),
        (SyncAction::Reused, false) => "local copy is current".to_owned(),
        (SyncAction::Adopted, _) => {
            "local file adopted as the database (`s3sqlite push` uploads it)".to_owned()
        }
        (SyncAction::Created, _) => "new empty database (`s3sqlite push` uploads it)".to_owned(),
        _ => report.to_string(),
    };
    let text = format!("{}: {what}", path.display());
    let value = json!({
        "command": "pull",
        "url": replica.url(),
        "path": path,
        "report": report_json(&report),
    });
    context.output.result(&text, &value)?;
    Ok(ExitCode::SUCCESS)
}
