//! The versions a versioned S3 bucket keeps of the object.

use futures_util::{StreamExt, TryStreamExt, stream};

use super::client::Client;
use super::s3::S3Client;
use crate::version::RemoteVersion;
use crate::{Error, Result};

/// How many versions are asked for their metadata at once.
const HEADS_IN_FLIGHT: usize = 8;

/// The versions of the object, newest first, delete markers left out,
/// each with its stamp: a listing, then a HEAD of each version.
///
/// # Errors
///
/// [`Error::NoVersions`] when the bucket does not keep versions (every
/// listed version is `null`); the listing's or a HEAD's error otherwise.
pub(super) async fn versions(client: &Client, s3: &S3Client) -> Result<Vec<RemoteVersion>> {
    let listed = s3.list_versions(client.key().as_ref()).await?;
    let kept: Vec<_> = listed.into_iter().filter(|entry| !entry.deleted).collect();
    if !kept.is_empty() && kept.iter().all(|entry| entry.version_id == "null") {
        return Err(Error::NoVersions {
            url: client.url().to_owned(),
            reason: "versioning is not on for the bucket, so only the current object exists; \
                     turn it on (`aws s3api put-bucket-versioning --bucket BUCKET \
                     --versioning-configuration Status=Enabled`) and every push from then on \
                     keeps the version it replaces"
                .to_owned(),
        });
    }
    let heads = stream::iter(kept).map(|entry| async move {
        let head = client.head_version(&entry.version_id).await?;
        Ok::<_, Error>(head.map(|mut version| {
            version.last_modified = version.last_modified.or(entry.last_modified);
            version
        }))
    });
    let heads: Vec<Option<RemoteVersion>> = heads.buffered(HEADS_IN_FLIGHT).try_collect().await?;
    // a version removed between the listing and its HEAD is left out
    Ok(heads.into_iter().flatten().collect())
}
