//! `s3sqlite`: pull, push, status, check and query SQLite databases kept in
//! object storage, from a shell.
//!
//! Every command is a thin layer on `s3sqlite-core` (and, for `query`, on
//! SQLite through `s3sqlite-rusqlite`): the same rules, the same errors.
//! Run `s3sqlite --help`, or see the README's "Command line" section.
//!
//! Exit codes: 0 done, 1 error, 2 bad arguments, 3 conflict (the remote
//! moved while the local copy had changes of its own), 4 `check` found the
//! store not safe for concurrent writers.

mod args;
mod commands;
mod error;
mod output;
mod progress;
mod remote;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    let output = Output::new(cli.json, cli.quiet);
    let bars = !cli.json && !cli.quiet && std::io::stderr().is_terminal();
    let ran = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(error::Error::Runtime)
        .and_then(|runtime| runtime.block_on(commands::run(&cli, &output, bars)));
    match ran {
        Ok(code) => code,
        Err(err) => {
            output.error(&err);
            err.exit_code()
        }
    }
}

/// Logs go to stderr: warnings by default, errors only with `--quiet`,
/// more with each `--verbose`; `RUST_LOG` overrides.
fn init_tracing(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
