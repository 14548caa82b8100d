//! How transfers run and who watches them: [`TransferOptions`] and the
//! [`TransferObserver`] told of each transfer's progress.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

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

/// How a download is split into ranged requests, and who watches it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransferOptions {
    /// Size of one ranged GET, in bytes. By default 8 MiB. The built-in
    /// remote rounds it down to a power of two of at least 1 KiB.
    pub part_size: u64,
    /// How many parts may be in flight at once. By default 8.
    ///
    /// The built-in remote writes and hashes each part as it arrives: a
    /// download holds at most about 1.5 MiB per part in flight in memory.
    pub parallelism: usize,
    /// Told of each transfer's progress. By default none.
    pub observer: Option<Arc<dyn TransferObserver>>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            part_size: 8 * 1024 * 1024,
            parallelism: 8,
            observer: None,
        }
    }
}

impl TransferOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the size of one ranged GET (at least one byte; the built-in
    /// remote rounds it down to a power of two of at least 1 KiB).
    pub fn with_part_size(mut self, bytes: u64) -> Self {
        self.part_size = bytes.max(1);
        self
    }

    /// Sets how many parts may be in flight at once (at least one).
    pub fn with_parallelism(mut self, parts: usize) -> Self {
        self.parallelism = parts.max(1);
        self
    }

    /// Sets the observer told of each transfer's progress.
    pub fn with_observer(mut self, observer: Arc<dyn TransferObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
}
