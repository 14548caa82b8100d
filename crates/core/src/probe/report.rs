//! What a probe found: [`ProbeReport`], its [`Check`]s, its [`Verdict`]
//! and its [`IncrementalVerdict`].

use std::fmt::{self, Display};

/// One thing [`probe`](super::probe) checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckKind {
    /// The bucket can be listed. Informative: without it (`s3:ListBucket`),
    /// S3 answers 403 instead of 404 for a key that does not exist, so a
    /// first open of a new database fails with a permission error.
    Listing,
    /// A create on condition that the object is absent (`If-None-Match: *`)
    /// lands, and a second one on the same key is refused.
    ConditionalCreate,
    /// A raw `If-Match` PUT with the current entity tag exactly as the store
    /// returned it (quoted) lands.
    UpdateAsReturned,
    /// A raw `If-Match` PUT with the current entity tag stripped of its
    /// quotes lands.
    UpdateUnquoted,
    /// An update through s3sqlite's remote, on condition of the current
    /// version, lands (in the remote's [`EtagQuoting`](crate::EtagQuoting)
    /// mode, which may learn the unquoted form).
    Update,
    /// An update on condition of a version that is no longer current is
    /// refused, and the object is left as it was.
    StaleUpdateRefused,
    /// The stamp s3sqlite stores as object metadata (hash, size, upload id)
    /// reads back unchanged.
    MetadataRoundTrip,
    /// A download in several ranged GETs pinned to a version returns its
    /// bytes, and one pinned to a version that was replaced is refused.
    PinnedRangedRead,
    /// Concurrent writers race `If-Match` updates holding the same version:
    /// exactly one wins each round.
    Race,
    /// A multipart upload whose first part is an `UploadPartCopy` of a range
    /// of the key it writes, completed with `If-Match`: the object then
    /// holds the copied bytes and the uploaded ones. For incremental upload.
    PartCopySameKey,
    /// An `UploadPartCopy` on condition (`x-amz-copy-source-if-match`) of
    /// the source's current entity tag is taken, and one on condition of a
    /// replaced tag is refused. For incremental upload.
    StaleCopySourceRefused,
    /// A `CompleteMultipartUpload` with `If-Match` of a replaced entity tag
    /// is refused, and the object is left as it was. For incremental upload.
    StaleCompleteRefused,
    /// Concurrent multipart uploads to one key race their
    /// `CompleteMultipartUpload` with `If-Match` of the same current entity
    /// tag: exactly one wins each round. For incremental upload.
    CompleteRace,
}

impl CheckKind {
    /// The check's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Listing => "listing the bucket",
            CheckKind::ConditionalCreate => "conditional create (If-None-Match: *)",
            CheckKind::UpdateAsReturned => "If-Match with the ETag as returned",
            CheckKind::UpdateUnquoted => "If-Match with the ETag unquoted",
            CheckKind::Update => "update through s3sqlite",
            CheckKind::StaleUpdateRefused => "stale If-Match refused",
            CheckKind::MetadataRoundTrip => "metadata round trip",
            CheckKind::PinnedRangedRead => "ranged read pinned to a version",
            CheckKind::Race => "race of concurrent writers",
            CheckKind::PartCopySameKey => "part copy from the same key",
            CheckKind::StaleCopySourceRefused => "stale copy-source If-Match refused",
            CheckKind::StaleCompleteRefused => "stale If-Match on Complete refused",
            CheckKind::CompleteRace => "race of conditional Completes",
        }
    }

    /// Whether the verdict the check counts toward depends on it passing.
    /// The two raw `If-Match` checks are informative: s3sqlite needs one of
    /// them to pass, which [`Update`](Self::Update) shows. So is
    /// [`Listing`](Self::Listing): it tells how a missing key answers.
    pub fn required(self) -> bool {
        !matches!(
            self,
            CheckKind::Listing | CheckKind::UpdateAsReturned | CheckKind::UpdateUnquoted
        )
    }

    /// Whether the check is one of incremental upload's: it counts toward
    /// [`ProbeReport::incremental`], and not toward [`ProbeReport::verdict`].
    pub fn incremental(self) -> bool {
        INCREMENTAL.contains(&self)
    }
}

/// The checks of incremental upload, in the order they run.
const INCREMENTAL: [CheckKind; 4] = [
    CheckKind::PartCopySameKey,
    CheckKind::StaleCopySourceRefused,
    CheckKind::StaleCompleteRefused,
    CheckKind::CompleteRace,
];

/// The checks of incremental upload, each skipped for the reason `detail`.
pub(crate) fn incremental_skipped(detail: &str) -> Vec<Check> {
    let skipped = |kind| Check::new(kind, Outcome::Skipped, detail);
    INCREMENTAL.into_iter().map(skipped).collect()
}

impl Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The store behaved as s3sqlite needs.
    Pass,
    /// It did not; the check's detail says what happened.
    Fail,
    /// The check does not apply to this store (the detail says why).
    Skipped,
}

impl Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Skipped => "n/a",
        })
    }
}

/// One row of a [`ProbeReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Check {
    /// What was checked.
    pub kind: CheckKind,
    /// How it came out.
    pub outcome: Outcome,
    /// What was seen, in a few words.
    pub detail: String,
}

impl Check {
    pub(crate) fn new(kind: CheckKind, outcome: Outcome, detail: impl Into<String>) -> Self {
        Check {
            kind,
            outcome,
            detail: detail.into(),
        }
    }
}

/// Whether s3sqlite can keep its promises on the probed store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every required check passed, entity tags sent as the store
    /// returns them: safe for concurrent writers.
    Safe,
    /// Every required check passed, with entity tags sent unquoted (the
    /// store refuses its own quoted tags in `If-Match`): safe for concurrent
    /// writers in [`EtagQuoting::Auto`](crate::EtagQuoting::Auto), the
    /// default, which learns this by itself, or
    /// [`EtagQuoting::Unquoted`](crate::EtagQuoting::Unquoted).
    SafeUnquoted,
    /// A required check failed: concurrent writers can lose each other's
    /// changes on this store. Holds one line per failed check.
    NotSafe(Vec<String>),
}

impl Verdict {
    /// Whether concurrent writers are safe (with either quoting).
    pub fn is_safe(&self) -> bool {
        !matches!(self, Verdict::NotSafe(_))
    }
}

impl Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Safe => f.write_str("safe for concurrent writers"),
            Verdict::SafeUnquoted => f.write_str(
                "safe for concurrent writers with the unquoted-ETag mode \
                 (EtagQuoting::Auto, the default, finds it by itself)",
            ),
            Verdict::NotSafe(reasons) => write!(f, "NOT SAFE: {}", reasons.join("; ")),
        }
    }
}

/// Whether incremental uploads keep their promise on the probed store: an
/// upload that copies the unchanged parts of the object it replaces lands
/// only while that object is the one it read, and from its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncrementalVerdict {
    /// Every incremental check passed.
    Safe,
    /// An incremental check failed: an incremental upload could replace a
    /// version it did not read, or land other bytes than it meant. Holds one
    /// line per failed check.
    NotSafe(Vec<String>),
    /// The checks did not run on this store; holds why.
    NotApplicable(String),
}

impl IncrementalVerdict {
    /// Whether incremental uploads are safe.
    pub fn is_safe(&self) -> bool {
        matches!(self, IncrementalVerdict::Safe)
    }

    /// The verdict the incremental ones among `checks` give.
    fn of(checks: &[Check]) -> Self {
        let mine: Vec<&Check> = checks.iter().filter(|c| c.kind.incremental()).collect();
        let failed: Vec<String> = mine
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .map(|c| format!("{}: {}", c.kind, c.detail))
            .collect();
        if !failed.is_empty() {
            return IncrementalVerdict::NotSafe(failed);
        }
        match mine.iter().find(|c| c.outcome != Outcome::Pass) {
            Some(skipped) => IncrementalVerdict::NotApplicable(skipped.detail.clone()),
            None if mine.is_empty() => IncrementalVerdict::NotApplicable("not checked".to_owned()),
            None => IncrementalVerdict::Safe,
        }
    }
}

impl Display for IncrementalVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IncrementalVerdict::Safe => f.write_str("incremental upload: safe"),
            IncrementalVerdict::NotSafe(reasons) => {
                write!(f, "incremental upload: NOT SAFE: {}", reasons.join("; "))
            }
            IncrementalVerdict::NotApplicable(why) => {
                write!(f, "incremental upload: not applicable: {why}")
            }
        }
    }
}

/// What [`probe`](super::probe) found on one store: every check and the
/// two verdicts. `Display` renders it as a table.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeReport {
    /// The URL probed (the prefix the scratch objects went under).
    pub url: String,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
    /// The verdict for concurrent writers, drawn from the checks that are
    /// not [incremental](CheckKind::incremental).
    pub verdict: Verdict,
    /// The verdict for incremental uploads, drawn from the incremental
    /// checks.
    pub incremental: IncrementalVerdict,
}

impl ProbeReport {
    pub(crate) fn new(url: String, checks: Vec<Check>) -> Self {
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| c.kind.required() && !c.kind.incremental())
            .filter(|c| c.outcome == Outcome::Fail)
            .map(|c| format!("{}: {}", c.kind, c.detail))
            .collect();
        let outcome = |kind| checks.iter().find(|c| c.kind == kind).map(|c| c.outcome);
        let verdict = if !failed.is_empty() {
            Verdict::NotSafe(failed)
        } else if outcome(CheckKind::UpdateAsReturned) == Some(Outcome::Fail)
            && outcome(CheckKind::UpdateUnquoted) == Some(Outcome::Pass)
        {
            Verdict::SafeUnquoted
        } else {
            Verdict::Safe
        };
        let incremental = IncrementalVerdict::of(&checks);
        ProbeReport {
            url,
            checks,
            verdict,
            incremental,
        }
    }

    /// The check of `kind`, where it ran.
    pub fn check(&self, kind: CheckKind) -> Option<&Check> {
        self.checks.iter().find(|c| c.kind == kind)
    }
}

impl Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "probe of {}", self.url)?;
        let width = self
            .checks
            .iter()
            .map(|c| c.kind.name().len())
            .max()
            .unwrap_or(0);
        for check in &self.checks {
            // a refused informative check is no failure of the store
            let outcome = match (check.outcome, check.kind.required()) {
                (Outcome::Fail, false) => "no".to_owned(),
                (outcome, _) => outcome.to_string(),
            };
            writeln!(
                f,
                "  {:<width$}  {outcome:<4}  {}",
                check.kind.name(),
                check.detail
            )?;
        }
        writeln!(f, "verdict: {}", self.verdict)?;
        write!(f, "{}", self.incremental)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rows: &[(CheckKind, Outcome)]) -> ProbeReport {
        let checks = rows
            .iter()
            .map(|(kind, outcome)| Check::new(*kind, *outcome, "seen"))
            .collect();
        ProbeReport::new("memory:///p".to_owned(), checks)
    }

    #[test]
    fn a_failed_required_check_is_not_safe_and_says_which() {
        let r = report(&[
            (CheckKind::ConditionalCreate, Outcome::Pass),
            (CheckKind::StaleUpdateRefused, Outcome::Fail),
        ]);
        assert_eq!(
            r.verdict,
            Verdict::NotSafe(vec!["stale If-Match refused: seen".to_owned()])
        );
        let table = r.to_string();
        assert!(table.contains("FAIL"), "{table}");
        assert!(
            table.ends_with(
                "verdict: NOT SAFE: stale If-Match refused: seen\n\
                 incremental upload: not applicable: not checked"
            ),
            "{table}"
        );
    }

    #[test]
    fn refused_quoted_but_accepted_unquoted_is_safe_unquoted() {
        let r = report(&[
            (CheckKind::UpdateAsReturned, Outcome::Fail),
            (CheckKind::UpdateUnquoted, Outcome::Pass),
            (CheckKind::Update, Outcome::Pass),
        ]);
        assert_eq!(r.verdict, Verdict::SafeUnquoted);
        assert!(r.verdict.is_safe());
    }

    #[test]
    fn all_passing_is_safe() {
        let r = report(&[
            (CheckKind::UpdateAsReturned, Outcome::Pass),
            (CheckKind::UpdateUnquoted, Outcome::Skipped),
            (CheckKind::Race, Outcome::Pass),
        ]);
        assert_eq!(r.verdict, Verdict::Safe);
    }

    #[test]
    fn a_failed_incremental_check_makes_only_incremental_upload_not_safe() {
        let r = report(&[
            (CheckKind::Race, Outcome::Pass),
            (CheckKind::PartCopySameKey, Outcome::Pass),
            (CheckKind::StaleCopySourceRefused, Outcome::Pass),
            (CheckKind::StaleCompleteRefused, Outcome::Fail),
            (CheckKind::CompleteRace, Outcome::Fail),
        ]);
        assert_eq!(r.verdict, Verdict::Safe);
        assert_eq!(
            r.incremental,
            IncrementalVerdict::NotSafe(vec![
                "stale If-Match on Complete refused: seen".to_owned(),
                "race of conditional Completes: seen".to_owned(),
            ])
        );
        let table = r.to_string();
        assert!(
            table.ends_with(
                "verdict: safe for concurrent writers\n\
                 incremental upload: NOT SAFE: stale If-Match on Complete refused: seen; \
                 race of conditional Completes: seen"
            ),
            "{table}"
        );
    }

    #[test]
    fn incremental_checks_all_passing_are_safe_and_skipped_are_not_applicable() {
        let passing: Vec<_> = INCREMENTAL.iter().map(|k| (*k, Outcome::Pass)).collect();
        assert_eq!(report(&passing).incremental, IncrementalVerdict::Safe);
        let checks = incremental_skipped("incremental uploads are S3 only");
        let r = ProbeReport::new("file:///p".to_owned(), checks);
        assert_eq!(
            r.incremental,
            IncrementalVerdict::NotApplicable("incremental uploads are S3 only".to_owned())
        );
        assert!(!r.incremental.is_safe());
        assert_eq!(r.verdict, Verdict::Safe);
    }
}
