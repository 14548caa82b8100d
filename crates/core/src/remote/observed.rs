//! Transfers watched: the remote's calls between the observer's `started`
//! and `finished`.

use std::ops::Range;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crate::Result;
use crate::remote::{Admit, RemoteStore};
use crate::transfer::{Direction, Transfer, TransferOptions};
use crate::version::{Downloaded, RemoteVersion, Stamp, WriteCondition};

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

/// [`RemoteStore::download_ranges`] of `ranges`, `total` bytes in all,
/// watched by the observer of `transfer`.
pub(crate) async fn download_ranges(
    remote: &dyn RemoteStore,
    dest: &Path,
    expected: &RemoteVersion,
    ranges: &[Range<u64>],
    total: u64,
    transfer: &TransferOptions,
) -> Result<Option<u64>> {
    let describe = || Transfer::new(Direction::Download, remote.to_string(), total);
    observed(
        transfer,
        describe,
        remote.download_ranges(dest, expected, ranges, transfer),
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
