//! Deadlines: the pace transfers have shown, and pushes bounded in time.

use std::fs::{self};
use std::path::Path;
use std::time::{Duration, Instant};

use super::Replica;
use crate::report::SyncReport;
use crate::{Error, Result};

impl Replica {
    /// Records a transfer of `bytes` that took `took`.
    pub(super) fn observe(&mut self, bytes: u64, took: Duration) {
        if bytes == 0 || took.is_zero() {
            return;
        }
        let rate = bytes as f64 / took.as_secs_f64();
        self.fastest = Some(self.fastest.map_or(rate, |fastest| fastest.max(rate)));
    }

    /// Fails when the file at `path` cannot go up before `deadline` (when
    /// there is one) even at the fastest pace seen so far.
    pub(super) fn check_deadline(&self, path: &Path, deadline: Option<Instant>) -> Result<()> {
        let Some(deadline) = deadline else {
            return Ok(());
        };
        let size = fs::metadata(path)
            .map_err(|e| Error::io("read metadata of", path, e))?
            .len();
        let left = deadline.saturating_duration_since(Instant::now());
        let needed = match self.fastest {
            Some(rate) => Duration::from_secs_f64(size as f64 / rate),
            None if left.is_zero() => Duration::from_nanos(1),
            None => return Ok(()),
        };
        if needed > left {
            return Err(Error::DeadlineTooShort {
                url: self.url.clone(),
                size,
                needed,
                left,
            });
        }
        Ok(())
    }
}

/// Runs `push` until `deadline`, stopping it there with
/// [`Error::DeadlineExceeded`].
pub(super) async fn by_deadline(
    url: String,
    deadline: Instant,
    push: impl std::future::Future<Output = Result<SyncReport>>,
) -> Result<SyncReport> {
    let started = Instant::now();
    tokio::time::timeout_at(deadline.into(), push)
        .await
        .map_err(|_| Error::DeadlineExceeded {
            url,
            elapsed: started.elapsed(),
        })?
}
