//! What the commands print: text for people, one JSON document for
//! scripts, errors with their causes and a hint.

use std::io::Write;
use std::time::SystemTime;

use s3sqlite_core::{ErrorChain, SyncReport};
use serde_json::{Value, json};

use crate::error::Error;

/// Where and how results are printed.
#[derive(Debug)]
pub(crate) struct Output {
    json: bool,
    quiet: bool,
}

impl Output {
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        Output { json, quiet }
    }

    /// Prints a command's result: `text` for people, or `value` as JSON.
    pub(crate) fn result(&self, text: &str, value: &Value) -> Result<(), Error> {
        let mut stdout = std::io::stdout().lock();
        let written = match (self.json, self.quiet) {
            (true, _) => writeln!(stdout, "{value:#}"),
            (false, true) => Ok(()),
            (false, false) => writeln!(stdout, "{text}"),
        };
        written.and_then(|()| stdout.flush()).map_err(Error::Output)
    }

    /// Prints `err` on stderr, one line per cause and a hint where one
    /// helps; with `--json`, also as a JSON document on stdout.
    pub(crate) fn error(&self, err: &Error) {
        let causes = causes(err);
        let hint = err.hint();
        let mut text = format!("error: {err}");
        for cause in &causes {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
        if let Some(hint) = &hint {
            text.push_str(&format!("\nhint: {hint}"));
        }
        // nothing left to report a failed write of the error to
        let _ = writeln!(std::io::stderr().lock(), "{text}");
        if self.json {
            let value = json!({
                "error": err.to_string(),
                "causes": causes,
                "hint": hint,
                "conflict": err.is_conflict(),
            });
            let _ = writeln!(std::io::stdout().lock(), "{value:#}");
        }
    }
}

/// The messages of `err`'s sources, outermost first, each one said once
/// (a message that repeats its source's is left out).
fn causes(err: &Error) -> Vec<String> {
    ErrorChain::new(err).causes().collect()
}

/// A sync report as JSON: its own serialization.
pub(crate) fn report_json(report: &SyncReport) -> Value {
    serde_json::to_value(report).expect("a report serializes")
}

/// A moment as RFC 3339, to the second, in UTC.
pub(crate) fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A byte count for people: `12.0 MiB (12582912 bytes)`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let (mut value, mut unit) = (n as f64 / 1024.0, 0);
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({n} bytes)", UNITS[unit])
}
