//! `s3sqlite log URL`.

use std::fmt::Write;
use std::process::ExitCode;

use s3sqlite_core::{RemoteStore, RemoteVersion};
use serde_json::{Value, json};

use super::context::Context;
use crate::error::Error;
use crate::output::{bytes, time};
use crate::remote;

/// Lists the versions the store keeps of the database at `url`, newest
/// first.
pub(crate) async fn run(context: &Context<'_>, url: &str) -> Result<ExitCode, Error> {
    let remote = remote::open(url, &context.store)?;
    let versions = remote.versions().await?;
    let value = Value::Array(versions.iter().map(entry).collect());
    context.output.result(&text(url, &versions), &value)?;
    Ok(ExitCode::SUCCESS)
}

/// One version as JSON.
fn entry(version: &RemoteVersion) -> Value {
    let modified =
        serde_json::to_value(version).expect("a version serializes")["last_modified"].clone();
    json!({
        "version_id": version.version,
        "last_modified": modified,
        "size": version.size,
        "e_tag": version.e_tag,
        "written_by_s3sqlite": version.stamp.is_some(),
        "content_hash": version.stamp.as_ref().map(|stamp| stamp.content_hash.to_hex()),
    })
}

/// The versions for people, one a line, newest first.
fn text(url: &str, versions: &[RemoteVersion]) -> String {
    let mut text = format!("{url}: {} versions, newest first\n", versions.len());
    for version in versions {
        let modified = version.last_modified.map(time).unwrap_or_default();
        let id = version.version.as_deref().unwrap_or("-");
        let hash = match &version.stamp {
            Some(stamp) => format!("blake3 {}", stamp.content_hash.to_hex()),
            None => "not written by s3sqlite".to_owned(),
        };
        let _ = writeln!(text, "{id}  {modified}  {}  {hash}", bytes(version.size));
    }
    text
}
