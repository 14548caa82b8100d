//! [`TransferObserver`]: watching the bytes of each transfer move.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use crate::Result;
use crate::remote::{
    Admit, Downloaded, RemoteStore, RemoteVersion, Stamp, TransferOptions, WriteCondition,
};

/// Which way a [`Transfer`] moves bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// From the remote into a local file.
    Download,
    /// From a local file to the remote.
    Upload,
}

/// One download or upload, as a [`TransferObserver`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transfer {
    /// Which way the bytes go.
    pub direction: Direction,
    /// The remote's URL.
    pub url: String,
    /// The bytes the transfer moves when it completes.
    pub total: u64,
}

impl Transfer {
    /// A transfer of `total` bytes to or from `url`.
    pub fn new(direction: Direction, url: impl Into<String>, total: u64) -> Self {
        Transfer {
            direction,
            url: url.into(),
            total,
        }
    }
}

/// Watches transfers as they run: a progress bar, a metric, a log line.
///
/// Set it with [`ReplicaOptions::with_transfer_observer`](crate::ReplicaOptions::with_transfer_observer).
/// The engine calls [`started`](Self::started) and
/// [`finished`](Self::finished) around every download and upload it makes
/// (a retried transfer starts again from zero). Downloads report
/// [`advanced`](Self::advanced) as the bytes are written, about once per
/// MiB, from whichever task wrote them; the count never goes down within a
/// transfer. An upload is one request whose body
/// the HTTP client sends on its own: it reports only its start and its end.
///
/// Every method has an empty default; the calls are made from async tasks,
/// so keep them short. With no observer set, nothing is called and nothing
/// is counted.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use s3sqlite_core::{Replica, ReplicaOptions, Transfer, TransferObserver};
///
/// #[derive(Debug, Default)]
/// struct Count(AtomicU64);
///
/// impl TransferObserver for Count {
///     fn finished(&self, transfer: &Transfer, succeeded: bool) {
///         if succeeded {
///             self.0.fetch_add(transfer.total, Ordering::Relaxed);
///         }
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let count = Arc::new(Count::default());
/// let options = ReplicaOptions::new()
///     .with_local_path(dir.path().join("app.db"))
///     .with_transfer_observer(count.clone());
/// let mut replica = Replica::open_url("memory:///observer-docs/app.db", options).await?;
/// std::fs::write(replica.local_path(), b"SQLite format 3\0").unwrap();
/// replica.push().await?;
/// assert_eq!(count.0.load(Ordering::Relaxed), 16);
/// # Ok::<(), s3sqlite_core::Error>(())
/// # }).unwrap();
/// ```
pub trait TransferObserver: fmt::Debug + Send + Sync {
    /// `transfer` begins.
    fn started(&self, transfer: &Transfer) {
        let _ = transfer;
    }

    /// `done` bytes of `transfer` have moved so far.
    fn advanced(&self, transfer: &Transfer, done: u64) {
        let _ = (transfer, done);
    }

    /// `transfer` ended: all its bytes moved when `succeeded`, or it failed
    /// (the error reaches the caller as usual).
    fn finished(&self, transfer: &Transfer, succeeded: bool) {
        let _ = (transfer, succeeded);
    }
}

/// A running transfer's bytes, counted for its observer by the tasks that
/// move them; the lock keeps the reports in order.
pub(crate) struct Counter {
    observer: Arc<dyn TransferObserver>,
    transfer: Transfer,
    done: Mutex<u64>,
}

impl Counter {
    /// A counter for `transfer` when `options` has an observer.
    pub(crate) fn new(
        options: &TransferOptions,
        transfer: impl FnOnce() -> Transfer,
    ) -> Option<Self> {
        options.observer.as_ref().map(|observer| Counter {
            observer: Arc::clone(observer),
            transfer: transfer(),
            done: Mutex::new(0),
        })
    }

    /// `bytes` more have moved.
    pub(crate) fn add(&self, bytes: u64) {
        let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        *done += bytes;
        self.observer.advanced(&self.transfer, *done);
    }
}

/// Runs `work`, the transfer `transfer()` describes, between `started` and
/// `finished` calls to the observer of `options`, if it has one.
async fn observed<T>(
    options: &TransferOptions,
    transfer: impl FnOnce() -> Transfer,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let Some(observer) = &options.observer else {
        return work.await;
    };
    let transfer = transfer();
    observer.started(&transfer);
    let result = work.await;
    observer.finished(&transfer, result.is_ok());
    result
}

/// [`RemoteStore::download`], watched by the observer of `transfer`.
pub(crate) async fn download(
    remote: &dyn RemoteStore,
    dest: &Path,
    expected: &RemoteVersion,
    transfer: &TransferOptions,
) -> Result<Downloaded> {
    let describe = || Transfer::new(Direction::Download, remote.to_string(), expected.size);
    observed(
        transfer,
        describe,
        remote.download(dest, expected, transfer),
    )
    .await
}

/// [`RemoteStore::download_current`], reported to the options' observer
/// from the moment the version (and so the size) is known.
pub(crate) async fn download_current(
    remote: &dyn RemoteStore,
    dest: &Path,
    transfer: &TransferOptions,
    check: &Admit<'_>,
) -> Result<Option<(RemoteVersion, Result<Downloaded>)>> {
    let Some(observer) = &transfer.observer else {
        return remote.download_current(dest, transfer, check).await;
    };
    let started = Mutex::new(None);
    let admit = |version: &RemoteVersion| {
        check(version)?;
        let described = Transfer::new(Direction::Download, remote.to_string(), version.size);
        observer.started(&described);
        *started.lock().unwrap_or_else(PoisonError::into_inner) = Some(described);
        Ok(())
    };
    let result = remote.download_current(dest, transfer, &admit).await;
    let described = started
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(described) = described {
        observer.finished(&described, matches!(result, Ok(Some((_, Ok(_))))));
    }
    result
}

/// [`RemoteStore::upload`] of `size` bytes, watched by the observer of
/// `transfer`.
pub(crate) async fn upload(
    remote: &dyn RemoteStore,
    src: &Path,
    size: u64,
    condition: &WriteCondition,
    stamp: &Stamp,
    transfer: &TransferOptions,
) -> Result<RemoteVersion> {
    let describe = || Transfer::new(Direction::Upload, remote.to_string(), size);
    observed(transfer, describe, remote.upload(src, condition, stamp)).await
}
