//! When a transfer is tried again, and after what pause: the rules the
//! engine's downloads and the policies' downloads share, and the spread
//! between writers racing for one object.

use std::time::Duration;

use crate::Error;

/// How often a download is tried when the connection fails under it or the
/// remote keeps changing under it.
pub(crate) const DOWNLOAD_ATTEMPTS: u32 = 10;

/// Why a download is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Again {
    /// The connection failed: the same version once more.
    Interrupted,
    /// The remote moved under the download: the newer version.
    Moved,
}

/// Whether download `attempt` (1, 2, …), which failed with `err`, is tried
/// again, why, and after what pause: a failed connection waits 50 ms more
/// each time; a remote that moved, 10 ms more each time and up to 15 ms at
/// random, so that busy writers get a moment and racing readers drift apart.
/// `None`: the error is final, or the attempts are used up.
pub(crate) fn download_again(err: &Error, attempt: u32) -> Option<(Again, Duration)> {
    if attempt >= DOWNLOAD_ATTEMPTS {
        return None;
    }
    let attempt = u64::from(attempt);
    match err {
        Error::ChangedDuringDownload { .. } => Some((
            Again::Moved,
            Duration::from_millis(10 * attempt + random_below(16)),
        )),
        err if err.is_transient() => {
            Some((Again::Interrupted, Duration::from_millis(50 * attempt)))
        }
        _ => None,
    }
}

/// How long to wait before the policy's `round`th retry (1, 2, …) against a
/// remote that keeps moving: a random time up to 20 ms doubled each round,
/// at most 320 ms, so racing writers drift apart without one of them
/// waiting out the others.
pub(crate) fn backoff(round: usize) -> Duration {
    let cap_ms = 20u64 << round.saturating_sub(1).min(4);
    Duration::from_millis(random_below(cap_ms + 1))
}

/// A number below `bound` that differs across processes, threads and
/// calls; not for secrets.
fn random_below(bound: u64) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) % bound.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_are_tried_again_only_for_what_another_attempt_can_mend() {
        let moved = Error::ChangedDuringDownload {
            url: "memory:///r".to_owned(),
            expected: Box::new(crate::RemoteVersion::new(1)),
        };
        let (why, pause) = download_again(&moved, 2).unwrap();
        assert_eq!(why, Again::Moved);
        assert!((20..36).contains(&pause.as_millis()), "{pause:?}");
        assert!(download_again(&moved, DOWNLOAD_ATTEMPTS).is_none());
        let missing = Error::RemoteNotFound {
            url: "memory:///r".to_owned(),
        };
        assert!(download_again(&missing, 1).is_none());
    }

    #[test]
    fn backoff_grows_to_320_ms() {
        for round in 1..10 {
            let cap = 20u128 << (round - 1).min(4);
            assert!(backoff(round).as_millis() <= cap);
        }
    }
}
