//! Parallel ranged downloads pinned to one object version.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt, stream};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, GetResult, ObjectStore};

use super::client::Client;
use blake3::hazmat::ChainingValue;

use crate::files::write_at;
use crate::hash::ContentHash;
use crate::manifest::{LeafHasher, MIN_LEN, Manifest, leaf_size_for, total_len};
use crate::transfer::TransferOptions;
use crate::transfer::{Counter, Direction, Transfer};
use crate::version::{Downloaded, RemoteVersion};
use crate::{Error, Result};

/// Downloads `expected` into `dest` in parts of `transfer.part_size`
/// (rounded down to a power of two), at most `transfer.parallelism` in
/// flight, each written at its offset and hashed by a writer of its own
/// while its body is still being read, so the file is never read back, the
/// network never waits for the disk, and no part waits for another; a part
/// that ends frees its slot at once. The file goes to disk in the
/// background as it is written, and is flushed whole before this returns.
/// The parts are subtrees of BLAKE3's tree: their hashes combine into the
/// whole file's. Every part asked for here is pinned to the version
/// (`If-Match` on the entity tag, and the version id where there is one),
/// so an overwrite mid-download fails the download instead of tearing the
/// file.
///
/// `first`, when given, is the response to a GET of the first part (the
/// range `0..part size`) that `expected` was read from: its body is the
/// first part, and no request is made for it again.
pub(crate) async fn ranged(
    client: &Client,
    dest: &Path,
    expected: &RemoteVersion,
    transfer: &TransferOptions,
    mut first: Option<GetResult>,
) -> Result<Downloaded> {
    let file = File::create(dest).map_err(|e| Error::io("create", dest, e))?;
    file.set_len(expected.size)
        .map_err(|e| Error::io("size", dest, e))?;
    let part_size = crate::hash::part_size_for(transfer.part_size);
    let leaf = leaf_size_for(expected.size);
    let by_leaf = (expected.size >= MIN_LEN && part_size >= leaf).then_some(leaf);
    let pinned = Pinned::new(
        client,
        file,
        dest,
        expected,
        transfer,
        expected.size,
        by_leaf,
    );
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
    let count = parts.len();
    // each part is fetched, written and hashed by a task of its own; a part
    // that finishes frees its slot for the next at once, whatever the
    // order, and its hasher goes to its place in file order
    let mut arriving = stream::iter(parts.into_iter().enumerate())
        .map(|(index, (start, end))| {
            let pinned = Arc::clone(&pinned);
            let received = first.take();
            Task(tokio::spawn(async move {
                let range = (!whole).then_some(start..end);
                let hasher = pinned.fetch_and_write(received, range, start, end).await?;
                Ok((index, hasher))
            }))
        })
        .buffer_unordered(transfer.parallelism.max(1));
    let mut hashed: Vec<Option<PartHash>> = (0..count).map(|_| None).collect();
    while let Some(part) = arriving.next().await {
        match part {
            Ok((index, hash)) => hashed[index] = Some(hash),
            Err(err @ Error::Remote { .. }) => return Err(changed_or(client, expected, err).await),
            Err(err) => return Err(err),
        }
    }
    pinned.finish_writeback().await?;
    let mut hashers = Vec::with_capacity(count);
    let mut values = Vec::new();
    for hash in hashed.into_iter().flatten() {
        match hash {
            PartHash::Whole(hasher) => hashers.push(*hasher),
            PartHash::Leaves(leaves) => values.extend(leaves),
        }
    }
    if let Some(manifest) = Manifest::from_values(expected.size, values) {
        let mut downloaded = Downloaded::new(expected.size).with_hash(manifest.root());
        downloaded.manifest = Some(manifest);
        return Ok(downloaded);
    }
    let hash = ContentHash::from_parts(&hashers, part_size, expected.size);
    Ok(Downloaded::new(expected.size).with_hash(hash))
}

/// A part's hash: its hasher, or the chaining values of its leaves.
enum PartHash {
    Whole(Box<blake3::Hasher>),
    Leaves(Vec<ChainingValue>),
}

/// What hashes a part as it is written.
enum PartHasher {
    Whole(blake3::Hasher),
    Leaves(LeafHasher),
}

impl PartHasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            PartHasher::Whole(hasher) => {
                hasher.update(bytes);
            }
            PartHasher::Leaves(hasher) => hasher.update(bytes),
        }
    }

    fn finish(self) -> PartHash {
        match self {
            PartHasher::Whole(hasher) => PartHash::Whole(Box::new(hasher)),
            PartHasher::Leaves(hasher) => PartHash::Leaves(hasher.finish()),
        }
    }
}

/// Writes the ranges `ranges` of `expected` into the existing file `dest`
/// at their offsets, after setting its length to `expected`'s size; the
/// rest of the file is left as it is. Ranges longer than a part are
/// fetched in parts; every request is pinned to the version as in
/// [`ranged`], at most `transfer.parallelism` in flight. Returns the bytes
/// fetched.
pub(crate) async fn ranges(
    client: &Client,
    dest: &Path,
    expected: &RemoteVersion,
    ranges: &[std::ops::Range<u64>],
    transfer: &TransferOptions,
) -> Result<u64> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dest)
        .map_err(|e| Error::io("open", dest, e))?;
    file.set_len(expected.size)
        .map_err(|e| Error::io("size", dest, e))?;
    let part_size = crate::hash::part_size_for(transfer.part_size);
    let pieces: Vec<(u64, u64)> = ranges
        .iter()
        .flat_map(|range| {
            (range.start..range.end)
                .step_by(usize::try_from(part_size).unwrap_or(usize::MAX))
                .map(move |start| (start, (start + part_size).min(range.end)))
        })
        .collect();
    let total = total_len(ranges);
    let pinned = Pinned::new(client, file, dest, expected, transfer, total, None);
    let mut arriving = stream::iter(pieces)
        .map(|(start, end)| {
            let pinned = Arc::clone(&pinned);
            Task(tokio::spawn(async move {
                let hasher = pinned
                    .fetch_and_write(None, Some(start..end), start, end)
                    .await?;
                Ok((0, hasher))
            }))
        })
        .buffer_unordered(transfer.parallelism.max(1));
    while let Some(piece) = arriving.next().await {
        match piece {
            Ok(_) => {}
            Err(err @ Error::Remote { .. }) => return Err(changed_or(client, expected, err).await),
            Err(err) => return Err(err),
        }
    }
    pinned.finish_writeback().await?;
    Ok(total)
}

/// A part that failed mid-way, e.g. a body cut off and asked again by the
/// client, which the store then refused because the object had changed:
/// [`Error::ChangedDuringDownload`] when the remote no longer holds
/// `expected`, `err` otherwise.
async fn changed_or(client: &Client, expected: &RemoteVersion, err: Error) -> Error {
    match client.head().await {
        Ok(current) if !current.as_ref().is_some_and(|c| c.same_object(expected)) => {
            Error::ChangedDuringDownload {
                url: client.url().to_owned(),
                expected: Box::new(expected.clone()),
            }
        }
        _ => err,
    }
}

/// How much of a part is gathered before it goes to the part's writer.
const WRITE_SIZE: usize = 256 << 10;

/// How many gathered batches of a part may wait for its writer: a part
/// holds at most this many plus two (one gathering, one being written)
/// times [`WRITE_SIZE`] in memory.
const QUEUED_BATCHES: usize = 4;

/// A spawned part, aborted when dropped: a download that fails stops the
/// others.
struct Task(tokio::task::JoinHandle<Result<(usize, PartHash)>>);

impl Future for Task {
    type Output = Result<(usize, PartHash)>;

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
    /// The flush to disk running beside the parts.
    writeback: Mutex<Writeback>,
    /// Parts are hashed leaf by leaf, leaves of this size, for the
    /// download's manifest; whole when `None`.
    leaf: Option<u64>,
}

/// How many written bytes start a flush to disk beside the download.
const WRITEBACK_AFTER: u64 = 8 << 20;

/// One `fdatasync` at a time, started in the background as the parts write,
/// so that the flush before the rename has little left to wait for while no
/// part ever waits for the disk.
#[derive(Default)]
struct Writeback {
    /// Bytes written since the last flush started.
    unflushed: u64,
    /// The flush started last, until its result is taken.
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Pinned {
    /// The shared state of a download of `expected` into `file` (at
    /// `dest`) that writes `total` bytes.
    fn new(
        client: &Client,
        file: File,
        dest: &Path,
        expected: &RemoteVersion,
        transfer: &TransferOptions,
        total: u64,
        leaf: Option<u64>,
    ) -> Arc<Self> {
        Arc::new(Pinned {
            leaf,
            store: Arc::clone(client.store()),
            key: client.key().clone(),
            url: client.url().to_owned(),
            expected: expected.clone(),
            file,
            dest: dest.to_owned(),
            counter: Counter::new(transfer, || {
                Transfer::new(Direction::Download, client.url(), total)
            }),
            writeback: Mutex::new(Writeback::default()),
        })
    }

    /// Fetches `range` (`start..end`), unless `received` is its response
    /// already, and hands its bytes, in batches of at least [`WRITE_SIZE`],
    /// to a writer that writes them at `start` on and hashes them, so that
    /// the body is read on while the disk works; returns the part's hash.
    async fn fetch_and_write(
        self: Arc<Self>,
        received: Option<GetResult>,
        range: Option<std::ops::Range<u64>>,
        start: u64,
        end: u64,
    ) -> Result<PartHash> {
        let response = match received {
            Some(response) => response,
            None => self.get(range).await?,
        };
        let mut body = response.into_stream();
        let (batches, writer) = Arc::clone(&self).writer(start);
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
            if let Some(chunk) = next.clone() {
                pending_len += chunk.len();
                pending.push(chunk);
            }
            if pending_len >= WRITE_SIZE || (next.is_none() && pending_len > 0) {
                at += pending_len as u64;
                pending_len = 0;
                if batches.send(std::mem::take(&mut pending)).await.is_err() {
                    // the writer failed: its error is the part's
                    break;
                }
            }
            if next.is_none() {
                break;
            }
        }
        drop(batches);
        let hasher = writer.await.expect("part writer panicked")?;
        if at != end {
            return Err(Error::Truncated {
                url: self.url.clone(),
                expected: self.expected.size,
                actual: at,
            });
        }
        Ok(hasher)
    }

    /// A blocking task that writes the batches it is sent one after
    /// another from `start` on and hashes them, and the sender that feeds
    /// it (at most [`QUEUED_BATCHES`] wait); it ends when the sender is
    /// dropped, with the hasher, or at the first failed write.
    fn writer(
        self: Arc<Self>,
        start: u64,
    ) -> (
        tokio::sync::mpsc::Sender<Vec<Bytes>>,
        tokio::task::JoinHandle<Result<PartHash>>,
    ) {
        let (batches, mut arriving) = tokio::sync::mpsc::channel::<Vec<Bytes>>(QUEUED_BATCHES);
        let writer = tokio::task::spawn_blocking(move || {
            let mut hasher = match self.leaf {
                Some(leaf) => PartHasher::Leaves(LeafHasher::new(start, leaf)),
                None => PartHasher::Whole(ContentHash::part_hasher(start)),
            };
            let mut offset = start;
            while let Some(batch) = arriving.blocking_recv() {
                let mut len = 0;
                for chunk in &batch {
                    write_at(&self.file, chunk, offset + len)
                        .map_err(|e| Error::io("write", &self.dest, e))?;
                    hasher.update(chunk);
                    len += chunk.len() as u64;
                }
                offset += len;
                self.wrote(len)?;
                if let Some(counter) = &self.counter {
                    counter.add(len);
                }
            }
            Ok(hasher.finish())
        });
        (batches, writer)
    }

    /// Counts `bytes` just written, and starts a flush in the background
    /// once enough are unflushed and no flush is running; reports the
    /// failure of the last one that ran.
    fn wrote(self: &Arc<Self>, bytes: u64) -> Result<()> {
        let mut writeback = self.writeback.lock().expect("writeback lock poisoned");
        writeback.unflushed += bytes;
        if writeback.unflushed < WRITEBACK_AFTER
            || writeback.running.as_ref().is_some_and(|r| !r.is_finished())
        {
            return Ok(());
        }
        if let Some(done) = writeback.running.take() {
            done.now_or_never()
                .expect("a finished flush has its result")
                .expect("fsync panicked")
                .map_err(|e| Error::io("fsync", &self.dest, e))?;
        }
        writeback.unflushed = 0;
        let this = Arc::clone(self);
        writeback.running = Some(tokio::task::spawn_blocking(move || this.file.sync_data()));
        Ok(())
    }

    /// Waits for the background flush and flushes what it left: the file
    /// is on disk when this returns. A failure of either flush fails the
    /// download (an error reported to one `fsync` is not reported again).
    async fn finish_writeback(self: &Arc<Self>) -> Result<()> {
        let running = self
            .writeback
            .lock()
            .expect("writeback lock poisoned")
            .running
            .take();
        if let Some(running) = running {
            running
                .await
                .expect("fsync panicked")
                .map_err(|e| Error::io("fsync", &self.dest, e))?;
        }
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            this.file
                .sync_data()
                .map_err(|e| Error::io("fsync", &this.dest, e))
        })
        .await
        .expect("fsync panicked")
    }

    /// One GET of the pinned version, whole or one range.
    async fn get(&self, range: Option<std::ops::Range<u64>>) -> Result<GetResult> {
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
