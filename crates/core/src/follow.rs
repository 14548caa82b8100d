//! Followers: read-only replicas that refresh themselves. [`Freshness`]
//! says how stale one is; [`RefreshSchedule`] says when its next refresh
//! is due, backing off after failures. Both adapters drive their refreshes
//! with it.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use crate::error::ErrorChain;
use crate::report::SyncReport;
use crate::version::RemoteVersion;

/// The longest wait between two refreshes after failures, whatever the
/// period.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How fresh a follower is: the version it holds, when a refresh last
/// succeeded, and the failures since.
///
/// ```
/// use std::time::Duration;
/// use s3sqlite_core::RefreshSchedule;
///
/// let schedule = RefreshSchedule::new(Duration::from_millis(500), None);
/// let freshness = schedule.freshness();
/// assert_eq!(freshness.failures, 0);
/// assert!(freshness.age().is_none(), "not refreshed yet");
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Freshness {
    /// The remote version the local copy holds (`None`: the remote was
    /// absent).
    pub version: Option<RemoteVersion>,
    /// When the last refresh that succeeded ended (`None`: none yet since
    /// the open).
    pub refreshed_at: Option<SystemTime>,
    /// Refreshes that failed since the last that succeeded.
    pub failures: u32,
    /// The last failure's message, until a refresh succeeds.
    pub last_error: Option<String>,
    /// Refreshes that succeeded since the open.
    pub refreshes: u64,
    /// Bytes the refreshes downloaded since the open.
    pub bytes_down: u64,
}

impl Freshness {
    /// The time since the last refresh that succeeded: how stale the data
    /// may be, at most, plus the time a push takes to land.
    pub fn age(&self) -> Option<Duration> {
        self.refreshed_at
            .map(|at| SystemTime::now().duration_since(at).unwrap_or_default())
    }
}

impl fmt::Display for Freshness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(version) => write!(f, "holds {version}")?,
            None => f.write_str("holds no version")?,
        }
        match self.age() {
            Some(age) => write!(
                f,
                ", refreshed {:.1} s ago ({} refreshes, {} bytes downloaded)",
                age.as_secs_f64(),
                self.refreshes,
                self.bytes_down
            )?,
            None => f.write_str(", not refreshed since the open")?,
        }
        if let Some(error) = &self.last_error {
            write!(f, "; {} failed refreshes, the last: {error}", self.failures)?;
        }
        Ok(())
    }
}

/// When a follower refreshes: every `period` while refreshes succeed;
/// after `n` failures in a row, after `period × 2ⁿ` (at most five
/// minutes, never less than `period`), so a store that is down is not
/// asked twice a second. A failure keeps the data the follower holds.
///
/// ```
/// use std::time::Duration;
/// use s3sqlite_core::{Error, RefreshSchedule};
///
/// let mut schedule = RefreshSchedule::new(Duration::from_secs(1), None);
/// let down = Error::RemoteNotFound { url: "s3://bucket/app.db".into() };
/// schedule.failed(&down);
/// schedule.failed(&down);
/// assert_eq!(schedule.delay(), Duration::from_secs(4));
/// assert_eq!(schedule.freshness().failures, 2);
/// ```
#[derive(Debug, Clone)]
pub struct RefreshSchedule {
    period: Duration,
    next: Instant,
    /// When the refresh under way started.
    started: Option<Instant>,
    freshness: Freshness,
}

impl RefreshSchedule {
    /// A schedule refreshing every `period` (at least 1 ms), first due one
    /// period from now, for a replica that holds `version`.
    pub fn new(period: Duration, version: Option<RemoteVersion>) -> Self {
        let period = period.max(Duration::from_millis(1));
        RefreshSchedule {
            period,
            next: Instant::now() + period,
            started: None,
            freshness: Freshness {
                version,
                ..Freshness::default()
            },
        }
    }

    /// The period between refreshes that succeed.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The wait before the next refresh, counted from the last one's end.
    pub fn delay(&self) -> Duration {
        let failures = self.freshness.failures.min(16);
        self.period
            .saturating_mul(1 << failures)
            .min(MAX_BACKOFF.max(self.period))
    }

    /// Whether the next refresh is due.
    pub fn is_due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// The time until the next refresh is due (zero when it is).
    pub fn until_due(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Records that a refresh starts now: the next one is due a period
    /// after this one started, not after it ended, so a slow refresh does
    /// not stretch the period.
    pub fn starting(&mut self) {
        self.started = Some(Instant::now());
    }

    /// Records a refresh that succeeded with `report`.
    pub fn succeeded(&mut self, report: &SyncReport) {
        let freshness = &mut self.freshness;
        freshness.version = report.version.clone();
        freshness.refreshed_at = Some(SystemTime::now());
        freshness.failures = 0;
        freshness.last_error = None;
        freshness.refreshes += 1;
        freshness.bytes_down += report.bytes_down;
        let started = self.started.take().unwrap_or_else(Instant::now);
        self.next = started + self.period;
    }

    /// Records a refresh that failed with `err`, and logs it: the data
    /// held stays as it was, and the next refresh waits longer.
    pub fn failed(&mut self, err: &(dyn std::error::Error + 'static)) {
        let freshness = &mut self.freshness;
        freshness.failures = freshness.failures.saturating_add(1);
        let message = ErrorChain::new(err).to_string();
        tracing::warn!(
            failures = freshness.failures,
            error = %message,
            "a follower's refresh failed; it keeps the data it holds and tries again later"
        );
        freshness.last_error = Some(message);
        self.started = None;
        self.next = Instant::now() + self.delay();
    }

    /// Records how a refresh ended: [`succeeded`](Self::succeeded) or
    /// [`failed`](Self::failed).
    pub fn finished<E: std::error::Error + 'static>(
        &mut self,
        result: &std::result::Result<SyncReport, E>,
    ) {
        match result {
            Ok(report) => self.succeeded(report),
            Err(err) => self.failed(err),
        }
    }

    /// How fresh the follower is.
    pub fn freshness(&self) -> Freshness {
        self.freshness.clone()
    }
}
