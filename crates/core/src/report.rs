//! What a sync did, and where a replica stands.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use crate::version::RemoteVersion;

/// What one open, pull or push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncAction {
    /// The remote copy was downloaded into the local path.
    Downloaded,
    /// The local copy was current and used as it was: no download.
    Reused,
    /// Neither side had a database: the local copy starts empty.
    Created,
    /// A local file was taken as the database, the remote being absent.
    Adopted,
    /// The local copy was uploaded.
    Uploaded,
    /// The local copy had not changed since the last sync: no request.
    Unchanged,
    /// A merged file from the sync policy became the local copy and was uploaded.
    Merged,
    /// The sync policy kept the remote copy: local changes were dropped.
    KeptRemote,
}

/// What happened in one open, pull or push.
///
/// It serializes (with serde) to the JSON the command line prints:
/// `{"action": "uploaded", "bytes_down": 0, "bytes_up": 4096,
/// "ranges_fetched": 0, "parts_sent": 0, "parts_copied": 0, "seconds":
/// 0.21, "version": {"e_tag": "\"…\"", "version": null, "size": 4096,
/// "last_modified": "2026-12-07T01:37:24Z"}, "dirty": false}`, the action
/// in snake case and times in RFC 3339, UTC.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// What was done.
    pub action: SyncAction,
    /// Bytes downloaded.
    pub bytes_down: u64,
    /// Bytes uploaded.
    pub bytes_up: u64,
    /// Byte ranges fetched by a download of only what changed (0 for a
    /// whole download or none).
    pub ranges_fetched: u64,
    /// Parts of an incremental upload sent from the local file (0 for a
    /// whole upload or none); [`bytes_up`](Self::bytes_up) counts their
    /// bytes.
    pub parts_sent: u64,
    /// Parts of an incremental upload copied on the store from the version
    /// replaced: bytes that did not cross the network.
    pub parts_copied: u64,
    /// Wall-clock time the operation took.
    #[serde(rename = "seconds", serialize_with = "seconds")]
    pub duration: Duration,
    /// The remote version the local copy is based on afterwards (`None`: the
    /// object does not exist yet).
    #[serde(serialize_with = "version_summary")]
    pub version: Option<RemoteVersion>,
    /// Whether the local copy has changes not yet uploaded afterwards.
    pub dirty: bool,
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            SyncAction::Downloaded => "downloaded",
            SyncAction::Reused => "reused local copy",
            SyncAction::Created => "created empty database",
            SyncAction::Adopted => "adopted local file",
            SyncAction::Uploaded => "uploaded",
            SyncAction::Unchanged => "unchanged",
            SyncAction::Merged => "merged and uploaded",
            SyncAction::KeptRemote => "kept remote copy",
        };
        write!(f, "{action}")?;
        if self.bytes_down > 0 {
            write!(f, ", {} bytes down", self.bytes_down)?;
        }
        if self.ranges_fetched > 0 {
            write!(f, " in {} changed ranges", self.ranges_fetched)?;
        }
        if self.bytes_up > 0 {
            write!(f, ", {} bytes up", self.bytes_up)?;
        }
        if self.parts_sent + self.parts_copied > 0 {
            write!(
                f,
                " in {} changed parts ({} copied on the store)",
                self.parts_sent, self.parts_copied
            )?;
        }
        write!(f, " in {:.1?}", self.duration)?;
        match &self.version {
            Some(v) => write!(f, ", at version {v}")?,
            None => write!(f, ", remote absent")?,
        }
        if self.dirty {
            write!(f, ", local changes pending")?;
        }
        Ok(())
    }
}

/// Where a replica stands against its remote, from [`Replica::status`](crate::Replica::status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Local and remote hold the same version.
    Clean,
    /// The local copy has changes the remote lacks; a push uploads them.
    Ahead,
    /// The remote moved and the local copy has no changes; a pull fetches it.
    Behind,
    /// Both sides changed: the sync policy decides at the next pull or push.
    Diverged,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Clean => "clean",
            Status::Ahead => "ahead",
            Status::Behind => "behind",
            Status::Diverged => "diverged",
        })
    }
}

/// A local copy and its remote, side by side, from
/// [`Replica::inspect`](crate::Replica::inspect): no transfer, nothing
/// changed.
///
/// It serializes (with serde) with its versions and times as in
/// [`SyncReport`]'s JSON, and the status in snake case (`null`: untracked).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Inspection {
    /// The remote's URL.
    pub url: String,
    /// The local copy's path.
    pub local_path: PathBuf,
    /// Where the local copy stands; `None` when there is no replica at the
    /// path (no state file): see [`local_size`](Self::local_size) for a file
    /// s3sqlite does not track.
    pub status: Option<Status>,
    /// The version the local copy was last synced to (`None`: none, or the
    /// remote was absent then).
    #[serde(serialize_with = "version_summary")]
    pub base: Option<RemoteVersion>,
    /// The remote's version now; `None` when the object is absent.
    #[serde(serialize_with = "version_summary")]
    pub remote: Option<RemoteVersion>,
    /// The local file's size, when there is one.
    pub local_size: Option<u64>,
    /// When the local file was last written, when there is one.
    #[serde(serialize_with = "optional_time")]
    pub local_modified: Option<SystemTime>,
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{status}")?,
            None if self.local_size.is_some() => f.write_str("untracked local file")?,
            None => f.write_str("no local copy")?,
        }
        write!(f, ": {} ", self.local_path.display())?;
        match self.local_size {
            Some(size) => write!(f, "({size} bytes)")?,
            None => f.write_str("(absent)")?,
        }
        write!(f, " against {} ", self.url)?;
        match &self.remote {
            Some(remote) => write!(f, "(at {remote})"),
            None => f.write_str("(absent)"),
        }
    }
}

/// A duration as seconds.
fn seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

/// A version as a report shows it: tag, version id, size, and when it was
/// written in RFC 3339.
fn version_summary<S: Serializer>(
    version: &Option<RemoteVersion>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Summary<'a> {
        e_tag: &'a Option<String>,
        version: &'a Option<String>,
        size: u64,
        last_modified: Option<String>,
    }
    version
        .as_ref()
        .map(|v| Summary {
            e_tag: &v.e_tag,
            version: &v.version,
            size: v.size,
            last_modified: v.last_modified.map(rfc3339),
        })
        .serialize(serializer)
}

/// A moment in RFC 3339, whole seconds.
fn optional_time<S: Serializer>(at: &Option<SystemTime>, serializer: S) -> Result<S::Ok, S::Error> {
    at.map(rfc3339).serialize(serializer)
}

/// `at` in RFC 3339, UTC, to the second: `2026-12-07T01:37:24Z`.
fn rfc3339(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // civil from days (Howard Hinnant's algorithm), for days since 1970
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_796_607_130)), "2026-12-07T01:32:10Z");
        assert_eq!(rfc3339(at(4_102_444_799)), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn a_report_serializes_to_the_json_the_command_line_prints() {
        let version = RemoteVersion::new(4096)
            .with_e_tag("\"abc\"")
            .with_last_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400));
        let report = SyncReport {
            action: SyncAction::KeptRemote,
            bytes_down: 4096,
            bytes_up: 0,
            ranges_fetched: 0,
            parts_sent: 0,
            parts_copied: 0,
            duration: Duration::from_millis(250),
            version: Some(version),
            dirty: false,
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "action": "kept_remote",
                "bytes_down": 4096,
                "bytes_up": 0,
                "ranges_fetched": 0,
                "parts_sent": 0,
                "parts_copied": 0,
                "seconds": 0.25,
                "version": {
                    "e_tag": "\"abc\"",
                    "version": null,
                    "size": 4096,
                    "last_modified": "2000-02-29T00:00:00Z",
                },
                "dirty": false,
            })
        );
    }
}
