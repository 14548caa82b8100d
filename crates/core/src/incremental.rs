//! [`IncrementalUpload`]: whether a push may send only the changed parts.

use std::fmt::{self, Display};
use std::str::FromStr;

use crate::{Error, Result};

/// The variable that sets [`IncrementalUpload`] for replicas whose options
/// do not: `auto`, `on` or `off`.
pub const INCREMENTAL_UPLOAD_VAR: &str = "S3SQLITE_INCREMENTAL_UPLOAD";

/// Whether a push of a large database whose changes touch few 8 MiB parts
/// sends only those parts and has the store copy the others from the
/// version it replaces (an S3 multipart upload completed with `If-Match`),
/// instead of the whole file.
///
/// The remote stays one plain SQLite object either way. But the upload is
/// only as safe as the store's conditional completion: a store that checks
/// `If-Match` on `CompleteMultipartUpload` and then writes without a lock,
/// or ignores it, lets two writers both win, and a conflict a whole PUT
/// would have caught becomes a lost update. Amazon S3 commits it
/// atomically; LocalStack, moto and Ceph RGW do not (`s3sqlite check`
/// says so for any store).
///
/// Set it with [`ReplicaOptions::with_incremental_upload`](crate::ReplicaOptions::with_incremental_upload)
/// or the environment variable `S3SQLITE_INCREMENTAL_UPLOAD`
/// ([`INCREMENTAL_UPLOAD_VAR`]).
///
/// ```
/// use s3sqlite_core::IncrementalUpload;
///
/// assert_eq!("on".parse::<IncrementalUpload>(), Ok(IncrementalUpload::On));
/// assert_eq!(IncrementalUpload::default(), IncrementalUpload::Auto);
/// assert!("maybe".parse::<IncrementalUpload>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IncrementalUpload {
    /// On stores known to commit a conditional completion atomically:
    /// Amazon S3 (an `s3://` remote with no endpoint set, or one under
    /// `amazonaws.com`). The default.
    #[default]
    Auto,
    /// On every S3 store: you vouch that yours commits a conditional
    /// completion atomically. Other stores upload whole files.
    On,
    /// Never: every push uploads the whole file.
    Off,
}

impl IncrementalUpload {
    /// The name `FromStr` accepts: `auto`, `on` or `off`.
    pub fn name(self) -> &'static str {
        match self {
            IncrementalUpload::Auto => "auto",
            IncrementalUpload::On => "on",
            IncrementalUpload::Off => "off",
        }
    }

    /// The setting the environment gives, `Auto` when it gives none; the
    /// error names `url`, the replica's remote.
    pub(crate) fn from_env(url: &str) -> Result<Self> {
        match std::env::var(INCREMENTAL_UPLOAD_VAR) {
            Ok(value) if !value.trim().is_empty() => {
                value.parse().map_err(|_| Error::InvalidSetting {
                    url: url.to_owned(),
                    var: INCREMENTAL_UPLOAD_VAR,
                    value,
                    reason: "expected auto, on or off".to_owned(),
                })
            }
            _ => Ok(IncrementalUpload::Auto),
        }
    }
}

impl Display for IncrementalUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value other than `auto`, `on` or `off` given for
/// [`IncrementalUpload`]; holds the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseIncrementalUploadError(pub String);

impl Display for ParseIncrementalUploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown incremental upload setting {:?}: expected auto, on or off",
            self.0
        )
    }
}

impl std::error::Error for ParseIncrementalUploadError {}

impl FromStr for IncrementalUpload {
    type Err = ParseIncrementalUploadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(IncrementalUpload::Auto),
            "on" => Ok(IncrementalUpload::On),
            "off" => Ok(IncrementalUpload::Off),
            _ => Err(ParseIncrementalUploadError(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_case_insensitively() {
        for mode in [
            IncrementalUpload::Auto,
            IncrementalUpload::On,
            IncrementalUpload::Off,
        ] {
            assert_eq!(mode.name().parse::<IncrementalUpload>(), Ok(mode));
            assert_eq!(mode.name().to_uppercase().parse(), Ok(mode));
        }
        let err = "yes".parse::<IncrementalUpload>().unwrap_err();
        assert!(err.to_string().contains("\"yes\""), "{err}");
    }
}
