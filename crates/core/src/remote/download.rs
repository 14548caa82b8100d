//! Parallel ranged downloads pinned to one object version.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore};

use super::object_store::ObjectStoreRemote;
use super::{Downloaded, RemoteVersion, TransferOptions};
use crate::hash::ContentHash;
use crate::progress::{Counter, Direction, Transfer};
use crate::{Error, Result};

/// Downloads `expected` into `dest` in parts of `transfer.part_size`
/// (rounded down to a power of two), at most `transfer.parallelism` in
/// flight, each written at its offset and hashed as it arrives, so the file
/// is never read back and no part waits for another. The parts are
/// subtrees of BLAKE3's tree: their hashes combine into the whole file's.
/// Every part is pinned to the version (`If-Match` on the entity tag, and
/// the version id where there is one), so an overwrite mid-download fails
/// the download instead of tearing the file.
pub(crate) async fn ranged(
    remote: &ObjectStoreRemote,
    dest: &Path,
    expected: &RemoteVersion,
    transfer: &TransferOptions,
) -> Result<Downloaded> {
    let file = File::create(dest).map_err(|e| Error::io("create", dest, e))?;
    file.set_len(expected.size)
        .map_err(|e| Error::io("size", dest, e))?;
    let pinned = Arc::new(Pinned {
        store: Arc::clone(remote.store()),
        key: remote.key().clone(),
        url: remote.url().to_owned(),
        expected: expected.clone(),
        file,
        dest: dest.to_owned(),
        counter: Counter::new(transfer, || {
            Transfer::new(Direction::Download, remote.url(), expected.size)
        }),
    });
    let part_size = crate::hash::part_size_for(transfer.part_size);
    let parts: Vec<(u64, u64)> = (0..expected.size)
        .step_by(usize::try_from(part_size).unwrap_or(usize::MAX))
        .map(|start| (start, (start + part_size).min(expected.size)))
        .collect();
    if parts.is_empty() {
        // an empty object: one request still pins the version and proves it exists
        pinned.get(None).await?;
        return Ok(Downloaded::new(0).with_hash(ContentHash::of_bytes(&[])));
    }
    let whole = parts.len() == 1;
    // each part is fetched, written and hashed by a task of its own;
    // `buffered` keeps at most `parallelism` of them in flight and hands
    // their hashers over in file order
    let mut arriving = stream::iter(parts)
        .map(|(start, end)| {
            let pinned = Arc::clone(&pinned);
            Task(tokio::spawn(async move {
                let range = (!whole).then_some(start..end);
                pinned.fetch_and_write(range, start, end).await
            }))
        })
        .buffered(transfer.parallelism.max(1));
    let mut hashers = Vec::new();
    while let Some(part) = arriving.next().await {
        match part {
            Ok(hasher) => hashers.push(hasher),
            Err(err @ Error::Remote { .. }) => return Err(changed_or(remote, expected, err).await),
            Err(err) => return Err(err),
        }
    }
    let hash = ContentHash::from_parts(&hashers, part_size, expected.size);
    Ok(Downloaded::new(expected.size).with_hash(hash))
}

/// A part that failed mid-way, e.g. a body cut off and asked again by the
/// client, which the store then refused because the object had changed:
/// [`Error::ChangedDuringDownload`] when the remote no longer holds
/// `expected`, `err` otherwise.
async fn changed_or(remote: &ObjectStoreRemote, expected: &RemoteVersion, err: Error) -> Error {
    match remote.head_object().await {
        Ok(current) if !current.as_ref().is_some_and(|c| c.same_object(expected)) => {
            Error::ChangedDuringDownload {
                url: remote.url().to_owned(),
                expected: Box::new(expected.clone()),
            }
        }
        _ => err,
    }
}

/// How much of a part is gathered before it is written.
const WRITE_SIZE: usize = 1 << 20;

/// A spawned part, aborted when dropped: a download that fails stops the
/// others.
struct Task(tokio::task::JoinHandle<Result<blake3::Hasher>>);

impl Future for Task {
    type Output = Result<blake3::Hasher>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|joined| joined.expect("download part panicked"))
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What every part of one download shares: the store, the version it is
/// pinned to, and the file it goes into.
struct Pinned {
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    url: String,
    expected: RemoteVersion,
    file: File,
    dest: PathBuf,
    /// Bytes written so far, for the transfer's observer.
    counter: Option<Counter>,
}

impl Pinned {
    /// Fetches `range` (`start..end`), writes it at `start` and hashes it
    /// as it arrives (in batches of at least [`WRITE_SIZE`]), and flushes it
    /// to disk; returns the part's hasher.
    async fn fetch_and_write(
        self: Arc<Self>,
        range: Option<std::ops::Range<u64>>,
        start: u64,
        end: u64,
    ) -> Result<blake3::Hasher> {
        let mut body = self.get(range).await?.into_stream();
        let mut hasher = ContentHash::part_hasher(start);
        let mut pending: Vec<Bytes> = Vec::new();
        let (mut at, mut pending_len) = (start, 0usize);
        loop {
            let next = body
                .next()
                .await
                .transpose()
                .map_err(|source| Error::Remote {
                    url: self.url.clone(),
                    source,
                })?;
            if let Some(chunk) = &next {
                pending_len += chunk.len();
                pending.push(chunk.clone());
            }
            if pending_len >= WRITE_SIZE || (next.is_none() && pending_len > 0) {
                let batch = std::mem::take(&mut pending);
                let (offset, batch_len) = (at, pending_len as u64);
                at += batch_len;
                pending_len = 0;
                let this = Arc::clone(&self);
                hasher = tokio::task::spawn_blocking(move || {
                    let mut offset = offset;
                    for chunk in &batch {
                        write_at(&this.file, chunk, offset)
                            .map_err(|e| Error::io("write", &this.dest, e))?;
                        hasher.update(chunk);
                        offset += chunk.len() as u64;
                    }
                    Ok::<_, Error>(hasher)
                })
                .await
                .expect("positioned write panicked")?;
                if let Some(counter) = &self.counter {
                    counter.add(batch_len);
                }
            }
            if next.is_none() {
                break;
            }
        }
        if at != end {
            return Err(Error::Truncated {
                url: self.url.clone(),
                expected: self.expected.size,
                actual: at,
            });
        }
        // start this part's writeback now, while other parts still arrive:
        // the fsync before the rename then has little left to wait for
        let this = Arc::clone(&self);
        tokio::task::spawn_blocking(move || {
            this.file
                .sync_data()
                .map_err(|e| Error::io("fsync", &this.dest, e))
        })
        .await
        .expect("fsync panicked")?;
        Ok(hasher)
    }

    /// One GET of the pinned version, whole or one range.
    async fn get(&self, range: Option<std::ops::Range<u64>>) -> Result<object_store::GetResult> {
        let changed = || Error::ChangedDuringDownload {
            url: self.url.clone(),
            expected: Box::new(self.expected.clone()),
        };
        let options = GetOptions {
            if_match: self.expected.e_tag.clone(),
            version: self.expected.version.clone(),
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(&self.key, options).await {
            Ok(result) => result,
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => {
                return Err(changed());
            }
            Err(source) => {
                return Err(Error::Remote {
                    url: self.url.clone(),
                    source,
                });
            }
        };
        // a store that ignores If-Match still reports what it served
        if self.expected.e_tag.is_some()
            && result.meta.e_tag.is_some()
            && result.meta.e_tag != self.expected.e_tag
        {
            return Err(changed());
        }
        if result.meta.size != self.expected.size {
            return Err(changed());
        }
        Ok(result)
    }
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
