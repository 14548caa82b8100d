//! `s3sqlite restore URL VERSION`.

use std::process::ExitCode;

use s3sqlite_core::{RemoteStore, TransferOptions, history};
use serde_json::json;

use super::context::Context;
use crate::error::Error;
use crate::remote;

/// Makes the version `id` of the database at `url` current again, as a
/// new version, on condition that nobody pushed meanwhile. The version is
/// looked up with one request, not by listing them all.
pub(crate) async fn run(context: &Context<'_>, url: &str, id: &str) -> Result<ExitCode, Error> {
    let remote = remote::open(url, &context.store)?;
    let version = remote
        .version(id)
        .await?
        .ok_or_else(|| s3sqlite_core::Error::NoSuchVersion {
            url: url.to_owned(),
            id: id.to_owned(),
        })?;
    let scratch = std::env::temp_dir();
    let restored =
        history::restore(&remote, &version, &scratch, &TransferOptions::default()).await?;
    let new_id = restored.version.clone().unwrap_or_default();
    let text = format!("{url}: version {id} is current again, as version {new_id}\n");
    let value = json!({
        "command": "restore",
        "url": url,
        "restored": id,
        "version_id": new_id,
        "size": restored.size,
    });
    context.output.result(&text, &value)?;
    Ok(ExitCode::SUCCESS)
}
