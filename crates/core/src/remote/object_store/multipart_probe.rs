//! The probe's checks of a multipart upload completed on a condition: what
//! incremental uploads need from an S3 store.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use super::ObjectStoreRemote;
use super::location::Backend;
use super::s3::{Complete, Completed, S3Client};
use crate::probe::{Check, CheckKind, Outcome, incremental_skipped};
use crate::{Error, Result};

/// A mebibyte.
const MIB: u64 = 1 << 20;
/// The smallest part S3 takes but for the last: the size of each copied
/// part.
const MIN_PART: u64 = 5 * MIB;
/// The size of the objects parts are copied from.
const SOURCE_SIZE: usize = 6 * MIB as usize;
/// The size of an uploaded part.
const PART: usize = 256 * 1024;
/// Racers in each round of the race of Completes.
const RACERS: usize = 4;
/// Rounds of that race at most: it stops at the first round without
/// exactly one winner.
const ROUNDS: usize = 10;

/// How a check came out, and what was seen.
type Seen = (Outcome, String);

impl ObjectStoreRemote {
    /// The checks of incremental upload, run on scratch keys under `self`:
    /// [`CheckKind::PartCopySameKey`], [`CheckKind::StaleCopySourceRefused`],
    /// [`CheckKind::StaleCompleteRefused`] and [`CheckKind::CompleteRace`];
    /// each skipped on a store that is not S3, or whose settings rule out
    /// the requests. Every upload they start and do not complete is
    /// aborted; the objects they write are under `self`'s key.
    ///
    /// # Errors
    ///
    /// When an upload that was started cannot be aborted; what the store
    /// does wrong is in the checks.
    pub(crate) async fn probe_multipart(&self) -> Result<Vec<Check>> {
        let client = match self.client.backend() {
            Backend::S3 {
                multipart: Some(client),
                ..
            } => Arc::clone(client),
            Backend::S3 {
                multipart: None, ..
            } => {
                return Ok(incremental_skipped(
                    "this S3 store's settings (customer encryption keys or S3 Express One \
                     Zone) rule out incremental uploads",
                ));
            }
            _ => return Ok(incremental_skipped("incremental uploads are S3 only")),
        };
        let probe = MultipartProbe {
            scratch: self,
            client,
        };
        let copy = probe.part_copy_same_key().await?;
        let (stale_copy, stale_complete) = probe.stale_conditions().await?;
        let race = probe.complete_race().await?;
        let checks = [
            (CheckKind::PartCopySameKey, copy),
            (CheckKind::StaleCopySourceRefused, stale_copy),
            (CheckKind::StaleCompleteRefused, stale_complete),
            (CheckKind::CompleteRace, race),
        ];
        let check = |(kind, (outcome, detail))| Check::new(kind, outcome, detail);
        Ok(checks.into_iter().map(check).collect())
    }
}

/// The scratch prefix the checks write under, and the client that makes
/// the multipart requests.
struct MultipartProbe<'a> {
    scratch: &'a ObjectStoreRemote,
    client: Arc<S3Client>,
}

impl MultipartProbe<'_> {
    /// Part 1 copied from 5 MiB of the key itself, part 2 uploaded,
    /// completed with `If-Match`: then a GET, for what landed.
    async fn part_copy_same_key(&self) -> Result<Seen> {
        let remote = self.scratch.scratch("mp-copy");
        let key = remote.key().as_ref();
        let original = pattern(key, SOURCE_SIZE);
        let tag = match put(&remote, original.clone()).await {
            Ok(tag) => tag,
            Err(detail) => {
                return Ok(failed(
                    "the object to copy from could not be written",
                    detail,
                ));
            }
        };
        let id = match self.client.create_multipart(key, &[]).await {
            Ok(id) => id,
            Err(err) => return Ok(failed("the upload could not be started", err)),
        };
        let copied = MIB / 2..MIB / 2 + MIN_PART;
        let fresh = pattern(&format!("{key} part 2"), PART);
        let steps = async {
            let client = &self.client;
            let first = client.upload_part_copy(key, &id, 1, key, copied.clone(), Some(&tag));
            let first = first
                .await
                .map_err(|e| format!("the part copy failed: {e}"))?;
            let second = client.upload_part(key, &id, 2, fresh.clone()).await;
            let second = second.map_err(|e| format!("the part upload failed: {e}"))?;
            let parts = [(1, first), (2, second)];
            let condition = Complete::IfMatch(tag.clone());
            let completed = client.complete(key, &id, &parts, condition).await;
            completed
                .map_err(|e| format!("the Complete with If-Match of the current ETag failed: {e}"))
        };
        if let Err(detail) = steps.await {
            self.client.abort(key, &id).await?;
            return Ok((Outcome::Fail, detail));
        }
        let expected = [&original[range(&copied)], &fresh[..]].concat();
        let got = match remote.store().get(remote.key()).await {
            Ok(got) => got.bytes().await,
            Err(err) => Err(err),
        };
        Ok(match got {
            Ok(got) if got == expected => (
                Outcome::Pass,
                "part 1 copied from 5 MiB of the key itself, part 2 uploaded, completed with \
                 If-Match: a GET returns those bytes"
                    .to_owned(),
            ),
            Ok(got) => (
                Outcome::Fail,
                format!(
                    "completed, but a GET returns {} bytes that differ from the {} expected",
                    got.len(),
                    expected.len()
                ),
            ),
            Err(err) => (Outcome::Fail, format!("completed, but a GET failed: {err}")),
        })
    }

    /// On an object replaced once, so that its first entity tag is stale: a
    /// part copy on condition of each tag, and a Complete with `If-Match`
    /// of the stale one.
    async fn stale_conditions(&self) -> Result<(Seen, Seen)> {
        let remote = self.scratch.scratch("mp-stale");
        let key = remote.key().as_ref();
        let replaced = put(&remote, pattern(&format!("{key} 1"), PART)).await;
        let current = pattern(&format!("{key} 2"), PART);
        let tags = match replaced {
            Ok(stale) => put(&remote, current.clone()).await.map(|tag| (stale, tag)),
            Err(detail) => Err(detail),
        };
        let (stale, tag) = match tags {
            Ok(tags) => tags,
            Err(detail) => {
                let seen = failed("the object to read could not be written", detail);
                return Ok((seen.clone(), seen));
            }
        };
        let copy = self.stale_copy_source(key, &stale, &tag).await?;
        let complete = self.stale_complete(&remote, &stale, &tag, current).await?;
        Ok((copy, complete))
    }

    /// A part copy on condition of the current tag `tag`, then one on
    /// condition of the replaced tag `stale`; the upload aborted.
    async fn stale_copy_source(&self, key: &str, stale: &str, tag: &str) -> Result<Seen> {
        let id = match self.client.create_multipart(key, &[]).await {
            Ok(id) => id,
            Err(err) => return Ok(failed("the upload could not be started", err)),
        };
        let client = &self.client;
        let whole = 0..PART as u64;
        let fresh = client.upload_part_copy(key, &id, 1, key, whole.clone(), Some(tag));
        let seen = match fresh.await {
            Err(err) => (
                Outcome::Fail,
                format!("a part copy on condition of the current ETag {tag} failed: {err}"),
            ),
            Ok(_) => match client
                .upload_part_copy(key, &id, 2, key, whole, Some(stale))
                .await
            {
                Err(Error::Conflict { .. }) => (
                    Outcome::Pass,
                    "refused (precondition failed); the current ETag was taken".to_owned(),
                ),
                Ok(_) => (
                    Outcome::Fail,
                    format!(
                        "a part copy whose x-amz-copy-source-if-match names a replaced ETag \
                         ({stale}) was accepted: the store ignores the condition"
                    ),
                ),
                Err(err) => (
                    Outcome::Fail,
                    format!("failed with another error than a conflict: {err}"),
                ),
            },
        };
        client.abort(key, &id).await?;
        Ok(seen)
    }

    /// A Complete with `If-Match` of the replaced tag `stale`; the object,
    /// `tag` and `current`, must be left as it was.
    async fn stale_complete(
        &self,
        remote: &ObjectStoreRemote,
        stale: &str,
        tag: &str,
        current: Bytes,
    ) -> Result<Seen> {
        let (client, key) = (&self.client, remote.key().as_ref());
        let id = match client.create_multipart(key, &[]).await {
            Ok(id) => id,
            Err(err) => return Ok(failed("the upload could not be started", err)),
        };
        let body = pattern(&format!("{key} 3"), PART);
        let completed = match client.upload_part(key, &id, 1, body).await {
            Ok(part) => {
                let condition = Complete::IfMatch(stale.to_owned());
                client.complete(key, &id, &[(1, part)], condition).await
            }
            Err(err) => {
                client.abort(key, &id).await?;
                return Ok((Outcome::Fail, format!("the part upload failed: {err}")));
            }
        };
        if completed.is_err() {
            client.abort(key, &id).await?;
        }
        let now = match remote.store().get(remote.key()).await {
            Ok(got) => {
                let e_tag = got.meta.e_tag.clone();
                got.bytes().await.map(|bytes| (e_tag, bytes))
            }
            Err(err) => Err(err),
        };
        let kept = |e_tag: &Option<String>, bytes: &Bytes| {
            e_tag.as_deref() == Some(tag) && *bytes == current
        };
        let kept = matches!(&now, Ok((e_tag, bytes)) if kept(e_tag, bytes));
        Ok(match (completed, kept) {
            (Err(Error::Conflict { .. }), true) => (
                Outcome::Pass,
                "refused (precondition failed); the object was left as it was".to_owned(),
            ),
            (Ok(_), _) => (
                Outcome::Fail,
                format!(
                    "a Complete whose If-Match names a replaced ETag ({stale}) replaced the \
                     object: the store ignores the condition"
                ),
            ),
            (Err(Error::Conflict { .. }), false) => match now {
                Ok(_) => (
                    Outcome::Fail,
                    "refused, but the object changed anyway".to_owned(),
                ),
                Err(err) => (Outcome::Fail, format!("refused, but a GET failed: {err}")),
            },
            (Err(err), _) => (
                Outcome::Fail,
                format!("failed with another error than a conflict: {err}"),
            ),
        })
    }

    /// [`RACERS`] multipart uploads to one key, each copying its first
    /// part from the object, complete with `If-Match` of the same current
    /// tag at once, round after round until one without exactly one winner.
    async fn complete_race(&self) -> Result<Seen> {
        let what = format!("{RACERS} racers");
        let remote = self.scratch.scratch("mp-race");
        let key = remote.key().as_ref().to_owned();
        if let Err(detail) = put(&remote, pattern(&key, SOURCE_SIZE)).await {
            return Ok(failed("the object to race on could not be written", detail));
        }
        let mut other_errors = Vec::new();
        for round in 1..=ROUNDS {
            let tag = match remote.store().head(remote.key()).await {
                Ok(meta) => meta.e_tag,
                Err(err) => return Ok((Outcome::Fail, format!("{what}: a HEAD failed: {err}"))),
            };
            let Some(tag) = tag else {
                return Ok((Outcome::Fail, format!("{what}: HEAD returned no ETag")));
            };
            let barrier = Arc::new(Barrier::new(RACERS));
            let mut racers = JoinSet::new();
            for racer in 0..RACERS {
                // a part new in every round and racer: no racer's object
                // has the entity tag another holds as current
                let body = pattern(&format!("{key} {round} {racer}"), PART);
                let (client, barrier) = (Arc::clone(&self.client), Arc::clone(&barrier));
                racers.spawn(race_one(client, key.clone(), tag.clone(), barrier, body));
            }
            let (mut won, mut open) = (0, Vec::new());
            while let Some(joined) = racers.join_next().await {
                let (left_open, completed) = joined.expect("a racer panicked");
                open.extend(left_open);
                match completed {
                    Ok(_) => won += 1,
                    Err(Error::Conflict { .. }) => {}
                    Err(err) => other_errors.push(format!("round {round}: {err}")),
                }
            }
            self.abort_all(&key, open).await?;
            if won != 1 {
                let mut detail = format!("{won} of {RACERS} racers won in round {round}");
                if let Some(first) = other_errors.first() {
                    detail.push_str(&format!(
                        "; {} failed with another error than a conflict, first: {first}",
                        other_errors.len()
                    ));
                }
                return Ok((Outcome::Fail, detail));
            }
        }
        let mut detail =
            format!("{what}, 5 MiB copied each: one winner in each of {ROUNDS} rounds");
        if let Some(first) = other_errors.first() {
            detail.push_str(&format!(
                "; {} racers failed with another error than a conflict, first: {first}",
                other_errors.len()
            ));
        }
        Ok((Outcome::Pass, detail))
    }

    /// Aborts the uploads `ids` to `key`, every one tried.
    ///
    /// # Errors
    ///
    /// The first abort's that failed.
    async fn abort_all(&self, key: &str, ids: Vec<String>) -> Result<()> {
        let mut first = Ok(());
        for id in ids {
            let aborted = self.client.abort(key, &id).await;
            first = first.and(aborted);
        }
        first
    }
}

/// One racer: an upload to `key` whose part 1 is copied from `key` on
/// condition of `tag` and part 2 is `body`, completed with `If-Match` of
/// `tag` once every racer is ready. Returns the upload's id when it is
/// left open, and what the Complete (or the step that failed) answered.
async fn race_one(
    client: Arc<S3Client>,
    key: String,
    tag: String,
    barrier: Arc<Barrier>,
    body: Bytes,
) -> (Option<String>, Result<Completed>) {
    let created = client.create_multipart(&key, &[]).await;
    let parts = match &created {
        Ok(id) => {
            let copied = client.upload_part_copy(&key, id, 1, &key, 0..MIN_PART, Some(&tag));
            match copied.await {
                Ok(first) => (client.upload_part(&key, id, 2, body).await)
                    .map(|second| vec![(1, first), (2, second)]),
                Err(err) => Err(err),
            }
        }
        Err(_) => Ok(Vec::new()),
    };
    // every racer waits, ready or not, so that none waits for ever
    barrier.wait().await;
    let id = match created {
        Ok(id) => id,
        Err(err) => return (None, Err(err)),
    };
    let completed = match parts {
        Ok(parts) => {
            client
                .complete(&key, &id, &parts, Complete::IfMatch(tag))
                .await
        }
        Err(err) => Err(err),
    };
    (completed.is_err().then_some(id), completed)
}

/// `len` bytes of no pattern another seed shares.
fn pattern(seed: &str, len: usize) -> Bytes {
    let mut bytes = vec![0; len];
    let mut hasher = blake3::Hasher::new();
    hasher.update(seed.as_bytes());
    hasher.finalize_xof().fill(&mut bytes);
    Bytes::from(bytes)
}

/// Writes `body` to the remote's key unconditionally; returns the entity
/// tag the PUT answered, or what went wrong.
async fn put(remote: &ObjectStoreRemote, body: Bytes) -> std::result::Result<String, String> {
    let put = remote
        .store()
        .put(remote.key(), PutPayload::from(body))
        .await;
    match put {
        Ok(put) => put
            .e_tag
            .ok_or_else(|| "the PUT answered no ETag".to_owned()),
        Err(err) => Err(err.to_string()),
    }
}

/// A failure saying what went wrong, and why.
fn failed(what: &str, why: impl std::fmt::Display) -> Seen {
    (Outcome::Fail, format!("{what}: {why}"))
}

/// `range` as indices into a buffer.
fn range(range: &Range<u64>) -> Range<usize> {
    range.start as usize..range.end as usize
}
