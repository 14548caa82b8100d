//! Parallel ranged downloads pinned to one object version.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use object_store::{GetOptions, GetRange};

use super::object_store::ObjectStoreRemote;
use super::{Downloaded, RemoteVersion, TransferOptions};
use crate::hash::ContentHash;
use crate::{Error, Result};

/// Downloads `expected` into `dest` in parts of `transfer.part_size`, at most
/// `transfer.parallelism` in flight, each written at its offset and hashed in
/// order as it arrives, so the file is never read back. Every part is pinned
/// to the version (`If-Match` on the entity tag, and the version id where
/// there is one), so an overwrite mid-download fails the download instead of
/// tearing the file.
pub(crate) async fn ranged(
    remote: &ObjectStoreRemote,
    dest: &Path,
    expected: &RemoteVersion,
    transfer: &TransferOptions,
) -> Result<Downloaded> {
    let file = File::create(dest).map_err(|e| Error::io("create", dest, e))?;
    file.set_len(expected.size)
        .map_err(|e| Error::io("size", dest, e))?;
    let file = Arc::new(file);
    let part_size = transfer.part_size.max(1);
    let parts: Vec<(u64, u64)> = (0..expected.size)
        .step_by(usize::try_from(part_size).unwrap_or(usize::MAX))
        .map(|start| (start, (start + part_size).min(expected.size)))
        .collect();
    if parts.is_empty() {
        // an empty object: one request still pins the version and proves it exists
        fetch(remote, expected, None).await?;
        return Ok(Downloaded::new(0).with_hash(ContentHash::of_bytes(&[])));
    }
    let whole = parts.len() == 1;
    // `buffered` yields the parts in order while up to `parallelism` are
    // fetched at once, so one hasher sees the bytes in file order
    let mut arriving = stream::iter(parts)
        .map(|(start, end)| async move {
            let range = (!whole).then_some(start..end);
            let bytes = fetch(remote, expected, range).await?;
            if bytes.len() as u64 != end - start {
                return Err(Error::Truncated {
                    url: remote.url().to_owned(),
                    expected: expected.size,
                    actual: start + bytes.len() as u64,
                });
            }
            Ok((start, bytes))
        })
        .buffered(transfer.parallelism.max(1));
    let mut hasher = blake3::Hasher::new();
    while let Some(part) = arriving.next().await {
        let (start, bytes) = part?;
        let file = Arc::clone(&file);
        let path = dest.to_path_buf();
        hasher = tokio::task::spawn_blocking(move || {
            write_at(&file, &bytes, start).map_err(|e| Error::io("write", path, e))?;
            hasher.update(&bytes);
            Ok::<_, Error>(hasher)
        })
        .await
        .expect("positioned write panicked")?;
    }
    Ok(Downloaded::new(expected.size).with_hash(ContentHash::from_hasher(&hasher)))
}

/// One GET of the pinned version, whole or one range.
async fn fetch(
    remote: &ObjectStoreRemote,
    expected: &RemoteVersion,
    range: Option<std::ops::Range<u64>>,
) -> Result<Bytes> {
    let changed = || Error::ChangedDuringDownload {
        url: remote.url().to_owned(),
        expected: Box::new(expected.clone()),
    };
    let options = GetOptions {
        if_match: expected.e_tag.clone(),
        version: expected.version.clone(),
        range: range.map(GetRange::Bounded),
        ..GetOptions::default()
    };
    let result = match remote.store().get_opts(remote.key(), options).await {
        Ok(result) => result,
        Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {
            return Err(changed());
        }
        Err(source) => {
            return Err(Error::Remote {
                url: remote.url().to_owned(),
                source,
            });
        }
    };
    // a store that ignores If-Match still reports what it served
    if expected.e_tag.is_some()
        && result.meta.e_tag.is_some()
        && result.meta.e_tag != expected.e_tag
    {
        return Err(changed());
    }
    if result.meta.size != expected.size {
        return Err(changed());
    }
    result.bytes().await.map_err(|source| Error::Remote {
        url: remote.url().to_owned(),
        source,
    })
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut bytes: &[u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !bytes.is_empty() {
        let n = file.seek_write(bytes, offset)?;
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}
