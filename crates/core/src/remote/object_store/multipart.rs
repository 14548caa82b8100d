//! Incremental uploads: a multipart upload whose unchanged parts are
//! copies of the current object made on the store, completed on condition
//! of that object, so that only the changed parts cross the network; and
//! the abort of uploads a killed push left.

use std::ops::Range;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::client::{Client, stamp_metadata};
use super::s3::{Complete, S3Client, is_server_error};
use crate::remote::{ChangedUpload, UploadStarted, etag};
use crate::transfer::TransferOptions;
use crate::version::{RemoteVersion, Stamp, WriteCondition};
use crate::{Error, ErrorChain, Result};

/// The size of every part but the last: above S3's 5 MiB minimum, and
/// equal, as Cloudflare R2 requires.
pub(super) const PART: u64 = 8 << 20;
/// S3's largest part number.
const MAX_PARTS: u64 = 10_000;
/// An upload of this key started longer ago than this is a leftover: no
/// push runs that long between its parts.
const STALE: Duration = Duration::from_secs(3600);
/// How far the store's clock may be from this machine's.
const SKEW: Duration = Duration::from_secs(300);
/// How often one part is tried when the connection fails under it.
const PART_ATTEMPTS: u32 = 3;
/// How often a completion is tried when it fails without a clear answer.
const COMPLETE_ATTEMPTS: u32 = 3;

/// One part of the new version.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    /// Bytes the version replaced holds at the same offsets.
    Copy(Range<u64>),
    /// Bytes sent from the file.
    Send(Range<u64>),
}

/// The parts of a file of `len` bytes replacing a version of `base_len`
/// bytes, when the bytes in `changed` are all that may differ.
fn plan(len: u64, base_len: u64, changed: &[Range<u64>]) -> Vec<Part> {
    (0..len.div_ceil(PART))
        .map(|i| {
            let range = i * PART..((i + 1) * PART).min(len);
            let touched = changed
                .iter()
                .any(|c| c.start < range.end && range.start < c.end);
            match touched || range.end > base_len {
                true => Part::Send(range),
                false => Part::Copy(range),
            }
        })
        .collect()
}

/// Whether `err` says the upload is gone (aborted by another process's
/// clean-up) or the object to copy from is.
fn is_not_found(err: &Error) -> bool {
    matches!(
        err,
        Error::Remote {
            source: object_store::Error::NotFound { .. },
            ..
        }
    )
}

/// [`RemoteStore::upload_changed`](crate::RemoteStore::upload_changed) on
/// S3: `None` when fewer than one part in two could be copied.
#[allow(clippy::too_many_arguments)]
pub(super) async fn upload(
    client: &Client,
    s3: &S3Client,
    src: &Path,
    base: &RemoteVersion,
    changed: &[Range<u64>],
    stamp: &Stamp,
    transfer: &TransferOptions,
    started: &UploadStarted<'_>,
) -> Result<Option<ChangedUpload>> {
    let Some(tag) = base.e_tag.as_deref() else {
        return Ok(None);
    };
    let tag = match client.sends_unquoted_etags() {
        true => etag::unquoted(tag).unwrap_or(tag),
        false => tag,
    };
    let parts = plan(stamp.size, base.size, changed);
    let sent = parts.iter().filter(|p| matches!(p, Part::Send(_))).count();
    let copied = parts.len() - sent;
    if copied == 0 || sent > copied || parts.len() as u64 > MAX_PARTS {
        return Ok(None);
    }
    sweep(client, s3, None).await;
    let key = client.key().as_ref();
    let metadata = stamp_metadata(stamp);
    let metadata: Vec<(&str, &str)> = metadata.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let id = s3.create_multipart(key, &metadata).await?;
    let result = match started(&id) {
        Ok(()) => send_parts(s3, key, &id, src, &parts, tag, transfer).await,
        Err(err) => Err(err),
    };
    let etags = match result {
        Ok(etags) => etags,
        Err(err) => return give_up(client, s3, &id, base, err).await,
    };
    let bytes_sent = parts
        .iter()
        .map(|p| match p {
            Part::Send(range) => range.end - range.start,
            Part::Copy(_) => 0,
        })
        .sum();
    let done = |version| ChangedUpload::new(version, sent as u32, copied as u32, bytes_sent);
    let numbered: Vec<(u32, String)> = (1..).zip(etags).collect();
    let completed = complete(client, s3, &id, &numbered, base, tag, stamp).await?;
    Ok(completed.map(done))
}

/// Completes the upload `id` with `parts` on condition that the object's
/// entity tag is still `tag` (that of `base`): the version it made, or
/// `None` when the upload is gone (the caller uploads the whole file). A
/// completion that fails without a clear answer is settled by a HEAD (our
/// stamp on the object: it landed) and tried again when the failure may
/// pass; the upload is aborted when it fails for good.
async fn complete(
    client: &Client,
    s3: &S3Client,
    id: &str,
    parts: &[(u32, String)],
    base: &RemoteVersion,
    tag: &str,
    stamp: &Stamp,
) -> Result<Option<RemoteVersion>> {
    let key = client.key().as_ref();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let condition = Complete::IfMatch(tag.to_owned());
        let completed = s3
            .complete_sized(key, id, parts, condition, Some(stamp.size))
            .await;
        let err = match completed {
            Ok(completed) if completed.e_tag.is_some() => {
                let mut version = RemoteVersion::new(stamp.size).with_stamp(stamp.clone());
                version.e_tag = completed.e_tag;
                version.version = completed.version;
                return Ok(Some(version));
            }
            Ok(_) => {
                // Ceph RGW names no entity tag: the object says what landed
                return match client.head().await? {
                    Some(current) if stamp.landed_as(&current) => Ok(Some(current)),
                    current => Err(Error::conflict(client.url(), Some(base), current)),
                };
            }
            Err(err) => err,
        };
        // refused, or no clear answer: a try that landed shows as our
        // stamp on the object
        let current = client.head().await?;
        if let Some(current) = current.filter(|c| stamp.landed_as(c)) {
            return Ok(Some(current));
        }
        if (err.is_transient() || is_server_error(&err)) && attempt < COMPLETE_ATTEMPTS {
            tracing::info!(error = %err, attempt, "completion failed, sending it again");
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            continue;
        }
        return give_up(client, s3, id, base, err).await;
    }
}

/// Aborts the upload `id` that failed with `err`, and says what the push
/// does next: a refused copy or completion is a conflict with the version
/// on the remote now, a vanished upload or object a whole upload (`None`).
async fn give_up<T>(
    client: &Client,
    s3: &S3Client,
    id: &str,
    base: &RemoteVersion,
    err: Error,
) -> Result<Option<T>> {
    abort(client, s3, id).await;
    match err {
        Error::Conflict { .. } => Err(client
            .conflict(&WriteCondition::IfMatch(base.clone()))
            .await),
        err if is_not_found(&err) => Ok(None),
        err => Err(err),
    }
}

/// Sends or copies `parts` as the parts of the upload `id` to `key`, each
/// copy on condition that the object's entity tag is still `tag`; returns
/// the parts' entity tags in order. The file is memory-mapped: a sent part
/// is a slice of the map, not a copy in memory.
async fn send_parts(
    s3: &S3Client,
    key: &str,
    id: &str,
    src: &Path,
    parts: &[Part],
    tag: &str,
    transfer: &TransferOptions,
) -> Result<Vec<String>> {
    let Some(map) = crate::mmap::map_file(src)? else {
        return Err(Error::io(
            "read",
            src,
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file is empty"),
        ));
    };
    let bytes = &Bytes::from_owner(map);
    stream::iter(parts.iter().cloned().enumerate())
        .map(|(i, part)| async move {
            let number = i as u32 + 1;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let result = match &part {
                    Part::Copy(range) => {
                        let range = range.clone();
                        s3.upload_part_copy(key, id, number, key, range, Some(tag))
                            .await
                    }
                    Part::Send(range) if range.end <= bytes.len() as u64 => {
                        let body = bytes.slice(range.start as usize..range.end as usize);
                        s3.upload_part(key, id, number, body).await
                    }
                    Part::Send(_) => Err(Error::io(
                        "read",
                        src,
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the file is shorter than the upload announced",
                        ),
                    )),
                };
                match result {
                    Err(err)
                        if (err.is_transient() || is_server_error(&err)) && attempt < PART_ATTEMPTS =>
                    {
                        tracing::info!(error = %err, part = number, "part interrupted, sending it again");
                    }
                    result => return result,
                }
            }
        })
        .buffered(transfer.parallelism.max(1))
        .try_collect()
        .await
}

/// Aborts the upload `id`; a failure is a warning, the upload left to the
/// next push's clean-up or the bucket's lifecycle rule.
async fn abort(client: &Client, s3: &S3Client, id: &str) {
    if let Err(err) = s3.abort(client.key().as_ref(), id).await {
        tracing::warn!(url = %client.url(), error = %ErrorChain::new(&err), "could not abort a multipart upload");
    }
}

/// [`RemoteStore::abort_uploads`](crate::RemoteStore::abort_uploads) on S3.
pub(super) async fn abort_left(
    client: &Client,
    s3: &S3Client,
    upload_id: Option<&str>,
    since: SystemTime,
) -> Result<u32> {
    let key = client.key().as_ref();
    let Some(id) = upload_id else {
        // the push died before it learned its upload's id: any started
        // since is taken for its own
        return abort_listed(client, s3, None, Some(since)).await;
    };
    s3.abort(key, id).await?;
    Ok(1 + sweep(client, s3, Some(id)).await)
}

/// Aborts this key's uploads that are leftovers (started over an hour
/// ago), other than `skip`; returns how many. A failure is a warning.
async fn sweep(client: &Client, s3: &S3Client, skip: Option<&str>) -> u32 {
    match abort_listed(client, s3, skip, None).await {
        Ok(count) => count,
        Err(err) => {
            tracing::warn!(
                url = %client.url(),
                error = %ErrorChain::new(&err),
                "could not list the multipart uploads of this key to abort leftovers \
                 (s3:ListBucketMultipartUploads): a lifecycle rule must drop them"
            );
            0
        }
    }
}

/// Lists this key's uploads and aborts those started over an hour ago, and
/// those started since `since` when given, other than `skip`.
async fn abort_listed(
    client: &Client,
    s3: &S3Client,
    skip: Option<&str>,
    since: Option<SystemTime>,
) -> Result<u32> {
    let key = client.key().as_ref();
    let now = SystemTime::now();
    let mut count = 0;
    for upload in s3.list_uploads(key).await? {
        if Some(upload.upload_id.as_str()) == skip {
            continue;
        }
        let Some(initiated) = upload.initiated else {
            continue;
        };
        let stale = initiated + STALE < now;
        let recent = since.is_some_and(|since| initiated + SKEW >= since);
        if stale || recent {
            s3.abort(key, &upload.upload_id).await?;
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// The one changed range `range`.
    fn one(range: Range<u64>) -> Vec<Range<u64>> {
        vec![range]
    }

    #[test]
    fn a_change_in_one_part_sends_that_part_and_copies_the_rest() {
        let parts = plan(64 * MIB, 64 * MIB, &one(9 * MIB..9 * MIB + 4096));
        assert_eq!(parts.len(), 8);
        assert_eq!(parts[1], Part::Send(8 * MIB..16 * MIB));
        let copies = parts.iter().filter(|p| matches!(p, Part::Copy(_))).count();
        assert_eq!(copies, 7);
    }

    #[test]
    fn a_range_across_a_boundary_sends_both_parts() {
        let parts = plan(32 * MIB, 32 * MIB, &one(8 * MIB - 1..8 * MIB + 1));
        assert_eq!(parts[0], Part::Send(0..8 * MIB));
        assert_eq!(parts[1], Part::Send(8 * MIB..16 * MIB));
        assert_eq!(parts[2], Part::Copy(16 * MIB..24 * MIB));
    }

    #[test]
    fn bytes_past_the_old_end_are_sent_and_the_last_part_may_be_short() {
        let parts = plan(20 * MIB, 17 * MIB, &one(17 * MIB..20 * MIB));
        assert_eq!(
            parts,
            vec![
                Part::Copy(0..8 * MIB),
                Part::Copy(8 * MIB..16 * MIB),
                Part::Send(16 * MIB..20 * MIB),
            ]
        );
    }

    #[test]
    fn a_shrunk_file_copies_what_it_kept() {
        let parts = plan(16 * MIB + 5, 40 * MIB, &one(16 * MIB..16 * MIB + 5));
        assert_eq!(parts[0], Part::Copy(0..8 * MIB));
        assert_eq!(parts[2], Part::Send(16 * MIB..16 * MIB + 5));
    }
}
