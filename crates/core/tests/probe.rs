//! The capability probe on every backend, printed, with the verdicts each
//! store must get (for concurrent writers, and for incremental uploads:
//! not safe on every local server); and on stores that must come out "not
//! safe".

use futures_util::TryStreamExt;
use s3sqlite_core::probe::{CheckKind, IncrementalVerdict, Outcome, ProbeOptions, Verdict, probe};
use s3sqlite_testkit::{Backend, Fixture, careless_remote};

s3sqlite_testkit::backend_tests!(probe_reports_the_store);

async fn probe_reports_the_store(fx: Fixture) {
    let prefix = fx.remote("probe");
    // moto fails the race in 1 of 7 to 1 of 17 rounds: enough rounds that
    // missing it is vanishingly unlikely; the probe stops at the first
    let rounds = if fx.backend() == Backend::Moto {
        200
    } else {
        3
    };
    let options = ProbeOptions::new().with_rounds(rounds);
    let report = probe(&prefix, &options).await.unwrap();
    println!("{} ({}):\n{report}", fx.backend(), options.body_size);

    match fx.backend() {
        Backend::Moto => {
            let Verdict::NotSafe(reasons) = &report.verdict else {
                panic!("moto came out safe:\n{report}");
            };
            assert!(reasons.iter().any(|r| r.starts_with("race")), "{reasons:?}");
        }
        Backend::Ceph => {
            assert_eq!(report.verdict, Verdict::SafeUnquoted, "\n{report}");
            let check = report.check(CheckKind::UpdateAsReturned).unwrap();
            assert_eq!(check.outcome, Outcome::Fail);
        }
        _ => assert_eq!(report.verdict, Verdict::Safe, "\n{report}"),
    }
    // no server here commits a conditional Complete atomically
    match fx.backend() {
        Backend::Memory | Backend::File => assert!(
            matches!(report.incremental, IncrementalVerdict::NotApplicable(_)),
            "\n{report}"
        ),
        _ => {
            let IncrementalVerdict::NotSafe(reasons) = &report.incremental else {
                panic!("incremental upload came out safe:\n{report}");
            };
            if fx.backend() == Backend::LocalStack {
                let race = CheckKind::CompleteRace.name();
                assert!(reasons.iter().any(|r| r.starts_with(race)), "{reasons:?}");
            }
        }
    }
    for kind in [
        CheckKind::ConditionalCreate,
        CheckKind::MetadataRoundTrip,
        CheckKind::Update,
        CheckKind::StaleUpdateRefused,
        CheckKind::PinnedRangedRead,
    ] {
        assert_eq!(
            report.check(kind).unwrap().outcome,
            Outcome::Pass,
            "\n{report}"
        );
    }

    // nothing left behind under the prefix
    let left: Vec<_> = prefix
        .store()
        .list(Some(prefix.key()))
        .try_collect()
        .await
        .unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn a_store_that_ignores_conditions_is_not_safe() {
    let report = probe(
        &careless_remote("scratch"),
        &ProbeOptions::new().with_rounds(2),
    )
    .await
    .unwrap();
    println!("careless store:\n{report}");
    let Verdict::NotSafe(reasons) = &report.verdict else {
        panic!("came out safe:\n{report}");
    };
    for kind in [
        CheckKind::ConditionalCreate,
        CheckKind::StaleUpdateRefused,
        CheckKind::Race,
    ] {
        assert_eq!(
            report.check(kind).unwrap().outcome,
            Outcome::Fail,
            "\n{report}"
        );
        assert!(
            reasons.iter().any(|r| r.starts_with(kind.name())),
            "{reasons:?}"
        );
    }
    assert!(
        report.to_string().contains("ignores If-Match"),
        "\n{report}"
    );
}
