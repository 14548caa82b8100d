//! Deadlines: the pace transfers have shown, and pushes bounded in time.

use std::time::{Duration, Instant};

use crate::report::SyncReport;
use crate::{Error, Result};

/// The fastest transfer seen so far: what a push with a deadline judges its
/// chances by.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Pace {
    /// In bytes per second; `None` until a transfer was seen.
    fastest: Option<f64>,
}

impl Pace {
    /// Takes in a transfer of `bytes` that took `took`.
    pub(super) fn observe(&mut self, bytes: u64, took: Duration) {
        if bytes == 0 || took.is_zero() {
            return;
        }
        let rate = bytes as f64 / took.as_secs_f64();
        self.fastest = Some(self.fastest.map_or(rate, |fastest| fastest.max(rate)));
    }

    /// Fails with [`Error::DeadlineTooShort`] when `size` bytes cannot go up
    /// to `url` before `deadline` even at the fastest pace seen so far.
    /// With no transfer seen yet it lets the push start, unless no time is
    /// left at all.
    pub(super) fn check(&self, url: &str, size: u64, deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        let needed = match self.fastest {
            Some(rate) => Duration::from_secs_f64(size as f64 / rate),
            None if left.is_zero() => Duration::from_nanos(1),
            None => return Ok(()),
        };
        if needed > left {
            return Err(Error::DeadlineTooShort {
                url: url.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_refuses_only_what_even_its_fastest_transfer_cannot_make() {
        let soon = Instant::now() + Duration::from_secs(10);
        let mut pace = Pace::default();
        pace.check("memory:///p", u64::MAX, soon).unwrap();
        pace.observe(1_000, Duration::from_secs(1));
        pace.observe(100, Duration::from_secs(1));
        pace.check("memory:///p", 5_000, soon).unwrap();
        let err = pace.check("memory:///p", 50_000, soon).unwrap_err();
        assert!(
            matches!(err, Error::DeadlineTooShort { size: 50_000, .. }),
            "{err}"
        );
        let passed = Instant::now() - Duration::from_millis(1);
        assert!(Pace::default().check("memory:///p", 1, passed).is_err());
    }
}
