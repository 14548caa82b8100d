//! What an upload of only the changed parts speaks in: [`ChangedUpload`]
//! and [`UploadStarted`].

use crate::Result;
use crate::version::RemoteVersion;

/// What [`RemoteStore::upload_changed`](super::RemoteStore::upload_changed)
/// calls with the multipart upload's id before it sends the first part; an
/// error from it ends the upload with that error.
pub type UploadStarted<'a> = dyn Fn(&str) -> Result<()> + Send + Sync + 'a;

/// An upload that sent only the changed parts of a file and copied the
/// others from the version it replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangedUpload {
    /// The version the upload made, with the stamp it carries.
    pub version: RemoteVersion,
    /// The parts uploaded from the file.
    pub parts_sent: u32,
    /// The parts copied on the store from the version replaced.
    pub parts_copied: u32,
    /// The bytes the sent parts held: what went over the network.
    pub bytes_sent: u64,
}

impl ChangedUpload {
    /// The upload that made `version`, sending `parts_sent` parts of
    /// `bytes_sent` bytes in all and copying `parts_copied`.
    pub fn new(
        version: RemoteVersion,
        parts_sent: u32,
        parts_copied: u32,
        bytes_sent: u64,
    ) -> Self {
        ChangedUpload {
            version,
            parts_sent,
            parts_copied,
            bytes_sent,
        }
    }
}
