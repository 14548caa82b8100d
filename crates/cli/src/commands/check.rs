//! `s3sqlite check URL-PREFIX`.

use std::process::ExitCode;

use s3sqlite_core::probe::{IncrementalVerdict, ProbeOptions, Verdict, probe};
use serde_json::json;

use super::context::Context;
use crate::error::{Error, NOT_SAFE};
use crate::remote;

/// Runs the capability probe and race check under `prefix`, prints the
/// table and both verdicts; exit code 4 when the store is not safe for
/// concurrent writers (the incremental-upload verdict is only reported).
pub(crate) async fn run(
    context: &Context<'_>,
    prefix: &str,
    writers: usize,
    rounds: usize,
    body_size: usize,
) -> Result<ExitCode, Error> {
    let remote = remote::open(prefix, &context.store)?;
    let options = ProbeOptions::new()
        .with_writers(writers)
        .with_rounds(rounds)
        .with_body_size(body_size);
    let report = probe(&remote, &options).await?;
    let (verdict, reasons) = match &report.verdict {
        Verdict::Safe => ("safe", Vec::new()),
        Verdict::SafeUnquoted => ("safe_unquoted", Vec::new()),
        Verdict::NotSafe(reasons) => ("not_safe", reasons.clone()),
    };
    let (incremental, incremental_reasons) = match &report.incremental {
        IncrementalVerdict::Safe => ("safe", Vec::new()),
        IncrementalVerdict::NotSafe(reasons) => ("not_safe", reasons.clone()),
        IncrementalVerdict::NotApplicable(why) => ("not_applicable", vec![why.clone()]),
    };
    let checks: Vec<_> = report
        .checks
        .iter()
        .map(|check| {
            json!({
                "check": check.kind.name(),
                "required": check.kind.required(),
                "incremental": check.kind.incremental(),
                "outcome": check.outcome.to_string(),
                "detail": check.detail,
            })
        })
        .collect();
    let value = json!({
        "command": "check",
        "url": report.url,
        "checks": checks,
        "verdict": verdict,
        "reasons": reasons,
        "incremental_verdict": incremental,
        "incremental_reasons": incremental_reasons,
    });
    context.output.result(&report.to_string(), &value)?;
    Ok(match report.verdict.is_safe() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(NOT_SAFE),
    })
}
