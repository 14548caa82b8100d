//! `s3sqlite pull URL [PATH]` and `s3sqlite pull URL --version ID PATH`.

use std::path::Path;
use std::process::ExitCode;

use s3sqlite_core::{Replica, ReplicaOptions, SyncAction};
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
        "version_id": null,
        "report": report_json(&report),
    });
    context.output.result(&text, &value)?;
    Ok(ExitCode::SUCCESS)
}

/// Opens a read-only replica of the version `id` of `url` at `path`:
/// downloads that version, verified against its content hash, or reuses a
/// clean copy of it already there. A local copy of another version at
/// `path` (a writer's copy of the current one, say) is refused before
/// anything is written, and so is a copy of `id` that was changed.
pub(crate) async fn run_version(
    context: &Context<'_>,
    url: &str,
    id: &str,
    path: &Path,
) -> Result<ExitCode, Error> {
    if Replica::tracked_url(path)?.is_some() {
        let here = ReplicaOptions::new().with_local_path(path);
        let seen = Replica::inspect(remote::open(url, &context.store)?, here).await?;
        let base = seen.base.as_ref().and_then(|base| base.version.as_deref());
        if base != Some(id) {
            return Err(Error::OtherVersionHere {
                path: path.to_owned(),
                url: seen.url,
                id: id.to_owned(),
                base: base.map(str::to_owned),
            });
        }
    }
    let remote = remote::open(url, &context.store)?;
    let options = context.replica_options(path, Policy::Fail).with_version(id);
    let replica = Replica::open(remote, options).await?;
    let report = replica.opened().clone();
    if report.dirty {
        // a copy of `id` changed since: it no longer holds that version
        return Err(s3sqlite_core::Error::ReadOnly {
            url: replica.url().to_owned(),
            path: path.to_owned(),
        }
        .into());
    }
    let hash = report
        .version
        .as_ref()
        .and_then(|version| version.stamp.as_ref())
        .map(|stamp| stamp.content_hash.to_hex());
    let reused = report.action == SyncAction::Reused;
    let what = match reused {
        true => "the local copy already holds it".to_owned(),
        false => report.to_string(),
    };
    let hashed = match (&hash, reused) {
        (Some(hash), false) => format!("verified: blake3 {hash}"),
        (Some(hash), true) => format!("blake3 {hash}"),
        (None, _) => "not written by s3sqlite: no content hash to verify".to_owned(),
    };
    let text = format!(
        "{}: version {id} of {}, read-only: {what}; {hashed}",
        path.display(),
        replica.url()
    );
    let value = json!({
        "command": "pull",
        "url": replica.url(),
        "path": path,
        "version_id": id,
        "read_only": true,
        "content_hash": hash,
        "report": report_json(&report),
    });
    context.output.result(&text, &value)?;
    Ok(ExitCode::SUCCESS)
}
