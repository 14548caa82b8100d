//! [`probe`]: can s3sqlite keep its promises on this store?

mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use tokio::sync::Barrier;

pub(crate) use self::report::incremental_skipped;
pub use self::report::{Check, CheckKind, IncrementalVerdict, Outcome, ProbeReport, Verdict};
use crate::remote::etag;
use crate::{
    ContentHash, Error, ObjectStoreRemote, RemoteStore, RemoteVersion, Result, Stamp,
    TransferOptions, WriteCondition,
};

/// How hard [`probe`]'s race check pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeOptions {
    /// Concurrent writers per round. By default 8.
    pub writers: usize,
    /// Rounds at most: the race stops at the first round without exactly
    /// one winner. By default 5.
    pub rounds: usize,
    /// Body size of each racing write. By default 6 MiB + 64 KiB: a store
    /// that checks `If-Match` and then writes without a lock lets several
    /// writers win far more often with bodies past 5 MiB than with small
    /// ones.
    pub body_size: usize,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            writers: 8,
            rounds: 5,
            body_size: 6 * 1024 * 1024 + 64 * 1024,
        }
    }
}

impl ProbeOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the writers per round.
    pub fn with_writers(mut self, writers: usize) -> Self {
        self.writers = writers.max(2);
        self
    }

    /// Sets the rounds.
    pub fn with_rounds(mut self, rounds: usize) -> Self {
        self.rounds = rounds.max(1);
        self
    }

    /// Sets the body size of each racing write.
    pub fn with_body_size(mut self, body_size: usize) -> Self {
        self.body_size = body_size;
        self
    }
}

/// The size of the object the single-writer checks write.
const SMALL: usize = 64 * 1024;

/// Checks, on scratch objects under `prefix`, what s3sqlite needs from a
/// store, and says whether concurrent writers are safe on it, and whether
/// incremental uploads are.
///
/// `prefix` names a place where the probe may write: for `s3://b/p` the
/// scratch objects are `p/s3sqlite-probe-<id>/…`; for `file:///dir/p` they
/// are files in the folder `/dir/p/s3sqlite-probe-<id>/`. Everything the
/// probe wrote is removed before it returns, whatever the checks found. It
/// writes about `writers × rounds × body_size` bytes (8 × 5 × 6 MiB by
/// default) for the race check, and on S3 up to 25 MiB more for the checks
/// of incremental upload, whose parts copied on the server add 5 MiB each
/// (4 for each round of their race).
///
/// The checks, each a row of the [`ProbeReport`] ([`CheckKind`]):
/// conditional create, conditional update with the entity tag quoted and
/// unquoted, an update through s3sqlite's own remote, a stale `If-Match`
/// refused, the stamp metadata round trip, a ranged read pinned to a
/// version, and a race of concurrent `If-Match` writers. A store that
/// accepts a stale `If-Match`, or lets two racing writers win a round,
/// comes out [`Verdict::NotSafe`].
///
/// Then, on S3 only, the checks of incremental upload (a multipart upload
/// whose unchanged parts are copies of ranges of the object it replaces,
/// completed with `If-Match` of that object's entity tag): a part copied
/// from the key the upload writes, a stale `x-amz-copy-source-if-match`
/// refused, a stale `If-Match` on `CompleteMultipartUpload` refused, and a
/// race of 4 conditional Completes, up to 10 rounds. They give the
/// [`IncrementalVerdict`] ([`ProbeReport::incremental`]), and leave
/// [`ProbeReport::verdict`] as it is; elsewhere they are skipped and the
/// verdict is [`IncrementalVerdict::NotApplicable`]. Every multipart upload
/// they start and do not complete is aborted.
///
/// # Errors
///
/// An error only when the probe cannot run at all (no access to the prefix,
/// say) or cannot remove what it wrote; what the store does wrong is in the
/// report, not an error.
///
/// # Example
///
/// ```
/// use s3sqlite_core::ObjectStoreRemote;
/// use s3sqlite_core::probe::{ProbeOptions, probe};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let prefix = ObjectStoreRemote::from_url("memory:///scratch")?;
/// let options = ProbeOptions::new().with_rounds(2).with_body_size(64 * 1024);
/// let report = probe(&prefix, &options).await?;
/// println!("{report}");
/// assert!(report.verdict.is_safe());
/// # Ok::<(), s3sqlite_core::Error>(())
/// # }).unwrap();
/// ```
pub async fn probe(prefix: &ObjectStoreRemote, options: &ProbeOptions) -> Result<ProbeReport> {
    let scratch = prefix.scratch(&format!("s3sqlite-probe-{}", crate::version::fresh_id()));
    let files = tempfile::Builder::new()
        .prefix("s3sqlite-probe-")
        .tempdir()
        .map_err(|e| Error::io("create a temp folder in", std::env::temp_dir(), e))?;
    if let Some(dir) = scratch.file_path() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
    }
    let mut probe = Probe {
        scratch: &scratch,
        files: files.path(),
        checks: Vec::new(),
    };
    let ran = probe.run(options).await;
    let removed = remove_scratch(&scratch).await;
    ran?;
    removed?;
    Ok(ProbeReport::new(prefix.url().to_owned(), probe.checks))
}

struct Probe<'a> {
    scratch: &'a ObjectStoreRemote,
    files: &'a Path,
    checks: Vec<Check>,
}

impl Probe<'_> {
    async fn run(&mut self, options: &ProbeOptions) -> Result<()> {
        self.listing().await;
        self.raw_updates().await?;
        self.through_remote().await?;
        self.race(options).await?;
        self.incremental().await
    }

    /// Whether the store lists the scratch prefix: what tells a missing key
    /// from a forbidden one on S3.
    async fn listing(&mut self) {
        use futures_util::StreamExt;
        let store = self.scratch.store();
        let mut listing = store.list(Some(self.scratch.key()));
        let (outcome, detail) = match listing.next().await {
            None | Some(Ok(_)) => (
                Outcome::Pass,
                "allowed: a key that does not exist answers 404".to_owned(),
            ),
            Some(Err(err)) if crate::remote::is_forbidden(&err) => (
                Outcome::Fail,
                "refused (403): a key that does not exist answers 403 too, so a first open \
                 of a new database fails; grant s3:ListBucket on the bucket"
                    .to_owned(),
            ),
            Some(Err(err)) => (Outcome::Fail, format!("failed: {err}")),
        };
        self.record(CheckKind::Listing, outcome, detail);
    }

    /// The checks of incremental upload (S3 only), after the others.
    async fn incremental(&mut self) -> Result<()> {
        #[cfg(feature = "aws")]
        let checks = self.scratch.probe_multipart().await?;
        #[cfg(not(feature = "aws"))]
        let checks = incremental_skipped("incremental uploads are S3 only (feature `aws`)");
        self.checks.extend(checks);
        Ok(())
    }

    fn record(&mut self, kind: CheckKind, outcome: Outcome, detail: impl Into<String>) {
        self.checks.push(Check::new(kind, outcome, detail));
    }

    /// A file of `size` bytes no other probe file shares.
    fn body(&self, name: &str, size: usize) -> Result<(PathBuf, Stamp)> {
        let mut bytes = vec![0; size];
        let mut hasher = blake3::Hasher::new();
        hasher.update(name.as_bytes());
        hasher.update(self.files.as_os_str().as_encoded_bytes());
        hasher.finalize_xof().fill(&mut bytes);
        let path = self.files.join(name);
        std::fs::write(&path, &bytes).map_err(|e| Error::io("write", &path, e))?;
        let stamp = Stamp::new(ContentHash::of_bytes(&bytes), size as u64);
        Ok((path, stamp))
    }

    /// `If-Match` PUTs straight to the store, the tag quoted as returned and
    /// unquoted: what the store accepts, whatever s3sqlite does about it.
    async fn raw_updates(&mut self) -> Result<()> {
        if self.scratch.file_path().is_some() {
            for kind in [CheckKind::UpdateAsReturned, CheckKind::UpdateUnquoted] {
                self.record(
                    kind,
                    Outcome::Skipped,
                    "file:// updates hold a lock file instead of sending If-Match",
                );
            }
            return Ok(());
        }
        let remote = self.scratch.scratch("raw");
        let store = remote.store();
        let key = remote.key();
        let created = store
            .put_opts(key, body_bytes(1), PutMode::Create.into())
            .await;
        if let Err(err) = created {
            let detail = format!("the object to update could not be created: {err}");
            self.record(CheckKind::UpdateAsReturned, Outcome::Fail, detail.clone());
            self.record(CheckKind::UpdateUnquoted, Outcome::Fail, detail);
            return Ok(());
        }
        let current = remote.head_object().await?;
        let tag = current.as_ref().and_then(|v| v.e_tag.clone());
        let Some(tag) = tag else {
            let detail = "HEAD returned no ETag";
            self.record(CheckKind::UpdateAsReturned, Outcome::Fail, detail);
            self.record(CheckKind::UpdateUnquoted, Outcome::Fail, detail);
            return Ok(());
        };
        let version = current.and_then(|v| v.version);
        let outcome = raw_update(&remote, &tag, version.clone(), 2).await;
        self.record(CheckKind::UpdateAsReturned, outcome.0, outcome.1);
        let current = remote.head_object().await?;
        let tag = current
            .as_ref()
            .and_then(|v| v.e_tag.clone())
            .unwrap_or(tag);
        let version = current.and_then(|v| v.version);
        match etag::unquoted(&tag) {
            Some(bare) => {
                let bare = bare.to_owned();
                let outcome = raw_update(&remote, &bare, version, 3).await;
                self.record(CheckKind::UpdateUnquoted, outcome.0, outcome.1);
            }
            None => self.record(
                CheckKind::UpdateUnquoted,
                Outcome::Skipped,
                format!("the store's ETags carry no quotes ({tag})"),
            ),
        }
        Ok(())
    }

    /// Create, update, stale update, metadata and pinned reads through
    /// s3sqlite's own remote, as the engine makes them.
    async fn through_remote(&mut self) -> Result<()> {
        let remote = self.scratch.scratch("db");
        let (first, first_stamp) = self.body("first", SMALL)?;
        let (second, second_stamp) = self.body("second", SMALL)?;
        let (third, third_stamp) = self.body("third", SMALL)?;

        let created = remote
            .upload(&first, &WriteCondition::IfAbsent, &first_stamp)
            .await;
        let again = remote
            .upload(&second, &WriteCondition::IfAbsent, &second_stamp)
            .await;
        let (outcome, detail) = match (&created, &again) {
            (Ok(_), Err(Error::Conflict { .. })) => (
                Outcome::Pass,
                "created; a second create was refused".to_owned(),
            ),
            (Ok(_), Ok(_)) => (
                Outcome::Fail,
                "a create on an existing key was accepted".to_owned(),
            ),
            (Ok(_), Err(err)) => (
                Outcome::Fail,
                format!("a second create failed with another error than a conflict: {err}"),
            ),
            (Err(err), _) => (Outcome::Fail, format!("the create failed: {err}")),
        };
        self.record(CheckKind::ConditionalCreate, outcome, detail);
        if created.is_err() {
            return Ok(());
        }

        let Some(base) = remote.head().await? else {
            self.record(
                CheckKind::MetadataRoundTrip,
                Outcome::Fail,
                "the created object is gone",
            );
            return Ok(());
        };
        let (outcome, detail) = match &base.stamp {
            Some(stamp) if first_stamp.landed_as(&base) && *stamp == first_stamp => (
                Outcome::Pass,
                "content hash, size and upload id read back".to_owned(),
            ),
            Some(_) => (
                Outcome::Fail,
                "the metadata read back differs from what was written".to_owned(),
            ),
            None => (
                Outcome::Fail,
                "the metadata written with the object did not come back on HEAD".to_owned(),
            ),
        };
        self.record(CheckKind::MetadataRoundTrip, outcome, detail);

        let unquoted_before = remote.sends_unquoted_etags();
        let updated = remote
            .upload(
                &second,
                &WriteCondition::IfMatch(base.clone()),
                &second_stamp,
            )
            .await;
        let (outcome, detail) = match &updated {
            Ok(_) if remote.sends_unquoted_etags() && !unquoted_before => (
                Outcome::Pass,
                "landed after the quoted ETag was refused, retried unquoted".to_owned(),
            ),
            Ok(_) if remote.sends_unquoted_etags() => {
                (Outcome::Pass, "landed, ETag sent unquoted".to_owned())
            }
            Ok(_) => (Outcome::Pass, "landed".to_owned()),
            Err(err) => (Outcome::Fail, format!("refused: {err}")),
        };
        self.record(CheckKind::Update, outcome, detail);
        if updated.is_err() {
            return Ok(());
        }

        let stale = remote
            .upload(&third, &WriteCondition::IfMatch(base.clone()), &third_stamp)
            .await;
        let now = remote.head().await?;
        let kept = now.as_ref().is_some_and(|v| second_stamp.landed_as(v));
        let (outcome, detail) = match (&stale, kept) {
            (Err(Error::Conflict { .. }), true) => (
                Outcome::Pass,
                "refused with a conflict; the object was left as it was".to_owned(),
            ),
            (Ok(_), _) => (
                Outcome::Fail,
                "a PUT whose If-Match names a replaced version was accepted: the store \
                 ignores If-Match"
                    .to_owned(),
            ),
            (Err(Error::Conflict { .. }), false) => (
                Outcome::Fail,
                "refused, but the object changed anyway".to_owned(),
            ),
            (Err(err), _) => (
                Outcome::Fail,
                format!("failed with another error than a conflict: {err}"),
            ),
        };
        self.record(CheckKind::StaleUpdateRefused, outcome, detail);

        let (outcome, detail) = match now {
            Some(now) => self.pinned_reads(&remote, &now, &base, &second).await?,
            None => (Outcome::Fail, "the updated object is gone".to_owned()),
        };
        self.record(CheckKind::PinnedRangedRead, outcome, detail);
        Ok(())
    }

    async fn pinned_reads(
        &self,
        remote: &ObjectStoreRemote,
        current: &RemoteVersion,
        replaced: &RemoteVersion,
        expected_bytes: &Path,
    ) -> Result<(Outcome, String)> {
        let parts = 4;
        let transfer = TransferOptions::new()
            .with_part_size((SMALL / parts) as u64)
            .with_parallelism(parts);
        let dest = self.files.join("read");
        if let Err(err) = remote.download(&dest, current, &transfer).await {
            return Ok((
                Outcome::Fail,
                format!("a pinned read of the current version failed: {err}"),
            ));
        }
        let read = std::fs::read(&dest).map_err(|e| Error::io("read", &dest, e))?;
        let written =
            std::fs::read(expected_bytes).map_err(|e| Error::io("read", expected_bytes, e))?;
        if read != written {
            return Ok((
                Outcome::Fail,
                format!(
                    "{parts} ranged GETs returned {} bytes that differ from the {} written",
                    read.len(),
                    written.len()
                ),
            ));
        }
        let stale = self.files.join("stale");
        Ok(match remote.download(&stale, replaced, &transfer).await {
            Err(Error::ChangedDuringDownload { .. }) => (
                Outcome::Pass,
                format!(
                    "{parts} ranged GETs matched; a read pinned to a replaced version was refused"
                ),
            ),
            Ok(_) => (
                Outcome::Fail,
                "a read pinned to a replaced version returned bytes".to_owned(),
            ),
            Err(err) => (
                Outcome::Fail,
                format!("a read pinned to a replaced version failed with another error: {err}"),
            ),
        })
    }

    /// `writers` remotes race `If-Match` uploads holding the same version,
    /// `rounds` times.
    async fn race(&mut self, options: &ProbeOptions) -> Result<()> {
        let kind = CheckKind::Race;
        let size_mib = options.body_size as f64 / (1024.0 * 1024.0);
        let what = format!("{} writers, {size_mib:.2} MiB each", options.writers);
        let first = self.scratch.scratch("race");
        let (seed, seed_stamp) = self.body("race-seed", SMALL)?;
        if let Err(err) = first
            .upload(&seed, &WriteCondition::IfAbsent, &seed_stamp)
            .await
        {
            self.record(
                kind,
                Outcome::Fail,
                format!("{what}: the object to race on could not be created: {err}"),
            );
            return Ok(());
        }
        let mut winners = Vec::with_capacity(options.rounds);
        let mut other_errors = Vec::new();
        for round in 0..options.rounds {
            let Some(base) = first.head().await? else {
                self.record(
                    kind,
                    Outcome::Fail,
                    format!("{what}: the raced object is gone"),
                );
                return Ok(());
            };
            let barrier = Arc::new(Barrier::new(options.writers));
            let mut tasks = tokio::task::JoinSet::new();
            for writer in 0..options.writers {
                // bodies new in every round: an ETag (the body's MD5 on S3)
                // that came back would let a writer re-sending the current
                // bytes pass If-Match rightly, and look like a second winner
                let (body, stamp) =
                    self.body(&format!("race-{round}-{writer}"), options.body_size)?;
                let remote = first.twin();
                let base = base.clone();
                let barrier = Arc::clone(&barrier);
                tasks.spawn(async move {
                    barrier.wait().await;
                    remote
                        .upload(&body, &WriteCondition::IfMatch(base), &stamp)
                        .await
                });
            }
            let mut won = 0;
            while let Some(joined) = tasks.join_next().await {
                match joined.expect("a racing writer panicked") {
                    Ok(_) => won += 1,
                    Err(Error::Conflict { .. }) => {}
                    Err(err) => other_errors.push(format!("round {}: {err}", round + 1)),
                }
            }
            winners.push(won);
            for writer in 0..options.writers {
                let path = self.files.join(format!("race-{round}-{writer}"));
                std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            }
            if won != 1 {
                // the verdict is known: not safe
                break;
            }
        }
        let bad = winners.iter().filter(|w| **w != 1).count();
        let (outcome, mut detail) = if bad == 0 {
            (
                Outcome::Pass,
                format!("{what}: one winner in each of {} rounds", winners.len()),
            )
        } else {
            (
                Outcome::Fail,
                format!(
                    "{what}: round {} of {} had {} winners",
                    winners.len(),
                    options.rounds,
                    winners.last().copied().unwrap_or_default()
                ),
            )
        };
        if let Some(first_error) = other_errors.first() {
            detail.push_str(&format!(
                "; {} writers failed with another error than a conflict, first: {first_error}",
                other_errors.len()
            ));
        }
        self.record(kind, outcome, detail);
        Ok(())
    }
}

/// A small body marked with `n`.
fn body_bytes(n: u8) -> PutPayload {
    PutPayload::from(vec![n; 1024])
}

/// One raw `If-Match` PUT with `tag`, and what came of it.
async fn raw_update(
    remote: &ObjectStoreRemote,
    tag: &str,
    version: Option<String>,
    n: u8,
) -> (Outcome, String) {
    let options = PutOptions::from(PutMode::Update(UpdateVersion {
        e_tag: Some(tag.to_owned()),
        version,
    }));
    match remote
        .store()
        .put_opts(remote.key(), body_bytes(n), options)
        .await
    {
        Ok(_) => (Outcome::Pass, format!("landed with If-Match: {tag}")),
        Err(object_store::Error::Precondition { .. }) => (
            Outcome::Fail,
            format!("refused (412) with If-Match: {tag}, the current ETag"),
        ),
        Err(err) => (Outcome::Fail, format!("failed with If-Match: {tag}: {err}")),
    }
}

/// Removes every object under the probe's scratch prefix (for `file://`,
/// its folder).
async fn remove_scratch(scratch: &ObjectStoreRemote) -> Result<()> {
    if let Some(dir) = scratch.file_path() {
        return match std::fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", dir, e)),
        };
    }
    use futures_util::TryStreamExt;
    let store = scratch.store();
    let prefix: &ObjectPath = scratch.key();
    let listed: Vec<_> = store
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(|source| Error::Remote {
            url: scratch.url().to_owned(),
            source,
        })?;
    for meta in listed {
        store
            .delete(&meta.location)
            .await
            .map_err(|source| Error::Remote {
                url: scratch.url().to_owned(),
                source,
            })?;
    }
    Ok(())
}
