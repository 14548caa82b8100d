//! `s3sqlite status PATH|URL`.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use s3sqlite_core::{Inspection, Replica, ReplicaOptions, Status};
use serde_json::json;

use super::context::Context;
use crate::error::Error;
use crate::output::{bytes, time};
use crate::remote;

/// Compares a local copy with its remote, transferring nothing. `target` is
/// a URL (the copy is the key's file name here) or a local copy's path.
pub(crate) async fn run(context: &Context<'_>, target: &str) -> Result<ExitCode, Error> {
    let (url, path) = match target.contains("://") {
        true => (target.to_owned(), remote::local_path_for(target)?),
        false => {
            let path = PathBuf::from(target);
            let url = Replica::tracked_url(&path)?
                .ok_or_else(|| Error::NotAReplica { path: path.clone() })?;
            (url, path)
        }
    };
    let remote = remote::open(&url, &context.store)?;
    let seen = Replica::inspect(remote, ReplicaOptions::new().with_local_path(&path)).await?;
    let inspected = serde_json::to_value(&seen).expect("an inspection serializes");
    let value = json!({
        "command": "status",
        "url": seen.url,
        "path": seen.local_path,
        "status": inspected["status"],
        "tracked": seen.status.is_some(),
        "local": seen.local_size.map(|size| json!({
            "size": size,
            "modified": inspected["local_modified"],
        })),
        "base": inspected["base"],
        "remote": inspected["remote"],
    });
    context.output.result(&text(&seen), &value)?;
    Ok(ExitCode::SUCCESS)
}

/// The inspection for people, one fact a line.
fn text(seen: &Inspection) -> String {
    let status = match seen.status {
        Some(Status::Clean) => "clean: the local copy is the remote's current version",
        Some(Status::Ahead) => "ahead: local changes not uploaded yet (`s3sqlite push`)",
        Some(Status::Behind) => "behind: the remote moved, no local changes (`s3sqlite pull`)",
        Some(Status::Diverged) => {
            "diverged: the remote moved and the local copy has changes of its own"
        }
        Some(_) => "unknown",
        None if seen.local_size.is_some() => "untracked: a local file s3sqlite did not pull",
        None => "no local copy (`s3sqlite pull`)",
    };
    let mut text = format!("status: {status}\n");
    let local = match seen.local_size {
        Some(size) => {
            let modified = seen.local_modified.map(time).unwrap_or_default();
            format!(
                "{}, {}, modified {modified}",
                seen.local_path.display(),
                bytes(size)
            )
        }
        None => format!("{} (absent)", seen.local_path.display()),
    };
    let _ = writeln!(text, "local:  {local}");
    if let Some(base) = &seen.base {
        let _ = writeln!(text, "base:   {base}");
    }
    let remote = match &seen.remote {
        Some(remote) => {
            let modified = remote.last_modified.map(time).unwrap_or_default();
            format!("{} at {remote}, modified {modified}", seen.url)
        }
        None => format!("{} (absent)", seen.url),
    };
    let _ = write!(text, "remote: {remote}");
    text
}
