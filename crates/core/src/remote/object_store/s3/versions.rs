//! Listing the versions of one key (`ListObjectVersions`), which object_store
//! does not do.

use std::time::SystemTime;

use bytes::Bytes;
use http::Method;
use serde::Deserialize;

use super::{S3Client, query};
use crate::Result;

/// One entry of a key's history as S3 lists it: a version or a delete
/// marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    /// The version id; `null` for what was written before versioning was
    /// turned on.
    pub(crate) version_id: String,
    /// The entity tag; `None` for a delete marker.
    pub(crate) e_tag: Option<String>,
    /// The size in bytes; 0 for a delete marker.
    pub(crate) size: u64,
    /// When it was written.
    pub(crate) last_modified: Option<SystemTime>,
    /// Whether it is the key's current entry.
    pub(crate) is_latest: bool,
    /// Whether it is a delete marker: the key was deleted there.
    pub(crate) deleted: bool,
}

/// `<ListVersionsResult>`: one page of versions and delete markers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PageXml {
    /// The versions on the page.
    #[serde(default, rename = "Version")]
    versions: Vec<EntryXml>,
    /// The delete markers on the page.
    #[serde(default, rename = "DeleteMarker")]
    markers: Vec<EntryXml>,
    /// Whether more pages follow.
    #[serde(default)]
    is_truncated: bool,
    /// The key the next page starts at.
    next_key_marker: Option<String>,
    /// The version id, under that key, the next page starts after.
    next_version_id_marker: Option<String>,
}

/// `<Version>` or `<DeleteMarker>` of a [`PageXml`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EntryXml {
    key: String,
    version_id: String,
    #[serde(default)]
    is_latest: bool,
    last_modified: Option<String>,
    #[serde(rename = "ETag")]
    e_tag: Option<String>,
    #[serde(default)]
    size: u64,
}

impl EntryXml {
    fn into_listed(self, deleted: bool) -> Listed {
        let at = self.last_modified.as_deref().map(str::trim);
        let at = at.and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
        Listed {
            version_id: self.version_id,
            e_tag: self.e_tag.filter(|tag| !tag.is_empty()),
            size: self.size,
            last_modified: at.map(SystemTime::from),
            is_latest: self.is_latest,
            deleted,
        }
    }
}

impl S3Client {
    /// The versions and delete markers of `key`, newest first.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`](crate::Error::Remote) naming the object's URL when
    /// a page is refused or unreadable, or says more follow but not where.
    pub(crate) async fn list_versions(&self, key: &str) -> Result<Vec<Listed>> {
        let call = self.sender.call("ListObjectVersions", key);
        let (mut listed, mut marker) = (Vec::new(), None::<(String, String)>);
        loop {
            let mut pairs = vec![("versions", ""), ("prefix", key)];
            if let Some((key_marker, id_marker)) = &marker {
                pairs.push(("key-marker", key_marker));
                pairs.push(("version-id-marker", id_marker));
            }
            let url = format!("{}/?{}", self.bucket_url, query(&pairs));
            let answer = call
                .run(Method::GET, &url, Vec::new(), Bytes::new())
                .await?;
            let page: PageXml = call.parse(&answer, "ListVersionsResult")?;
            let next = page
                .next_key_marker
                .clone()
                .filter(|k| !k.is_empty())
                .map(|k| (k, page.next_version_id_marker.clone().unwrap_or_default()));
            let versions = page.versions.into_iter().map(|v| (v, false));
            let markers = page.markers.into_iter().map(|m| (m, true));
            let mine = versions
                .chain(markers)
                .filter(|(entry, _)| entry.key == key);
            listed.extend(mine.map(|(entry, deleted)| entry.into_listed(deleted)));
            if !page.is_truncated {
                break;
            }
            if next.is_none() || next == marker {
                let lacking = answer.lacking("a truncated page but no new NextKeyMarker");
                return Err(call.error(lacking));
            }
            marker = next;
        }
        // newest first; the current entry first among equal times
        listed.sort_by_key(|entry| std::cmp::Reverse((entry.last_modified, entry.is_latest)));
        Ok(listed)
    }
}
