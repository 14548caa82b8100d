//! Manifests beside the object: `KEY.s3sqlite/m/HASH`, one per content.

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use super::client::Client;
use crate::hash::ContentHash;
use crate::{Error, Result};

/// Where the manifest of content `hash` of `client`'s key lives, and its
/// URL for messages.
fn location(client: &Client, hash: &ContentHash) -> (ObjectPath, String) {
    let suffix = format!(".s3sqlite/m/{}", hash.to_hex());
    (
        ObjectPath::from(format!("{}{suffix}", client.key())),
        format!("{}{suffix}", client.url()),
    )
}

fn remote_error(url: String, source: object_store::Error) -> Error {
    Error::Remote { url, source }
}

/// Stores `bytes` as the manifest of content `hash`.
pub(super) async fn put(client: &Client, hash: &ContentHash, bytes: &[u8]) -> Result<()> {
    let (key, url) = location(client, hash);
    let payload = PutPayload::from(bytes.to_vec());
    client
        .store()
        .put(&key, payload)
        .await
        .map_err(|source| remote_error(url, source))?;
    Ok(())
}

/// The manifest of content `hash`, `None` when there is none.
pub(super) async fn get(client: &Client, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
    let (key, url) = location(client, hash);
    let response = match client.store().get(&key).await {
        Ok(response) => response,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(remote_error(url, source)),
    };
    let bytes = response
        .bytes()
        .await
        .map_err(|source| remote_error(url, source))?;
    Ok(Some(bytes.to_vec()))
}

/// Removes the manifest of content `hash`; one that is not there is not
/// an error.
pub(super) async fn delete(client: &Client, hash: &ContentHash) -> Result<()> {
    let (key, url) = location(client, hash);
    match client.store().delete(&key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(remote_error(url, source)),
    }
}
