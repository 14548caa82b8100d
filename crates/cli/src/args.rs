//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keep a SQLite database in S3: pull it, push it back on condition that
/// nobody else changed it, see where a copy stands, check a store, query it.
///
/// S3 settings come from the flags, the usual AWS_* variables (AWS_REGION,
/// AWS_ENDPOINT_URL, AWS_ALLOW_HTTP, credentials) and the AWS profile
/// files, as the AWS CLI reads them. Exit codes: 0 done,
/// 1 error, 2 bad arguments, 3 conflict, 4 store not safe (`check`).
#[derive(Debug, Parser)]
#[command(name = "s3sqlite", version, max_term_width = 100)]
pub(crate) struct Cli {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Print nothing but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    /// Log more on stderr (-v: each step, -vv: requests).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    /// The S3 endpoint, e.g. http://localhost:4566 (else AWS_ENDPOINT_URL,
    /// else the profile's endpoint_url).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint: Option<String>,

    /// The AWS profile whose credentials, region and endpoint to use, from
    /// ~/.aws/config and ~/.aws/credentials (else AWS_PROFILE, else
    /// `default`; keys in AWS_ACCESS_KEY_ID win over those two, not over
    /// this flag).
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,

    /// The S3 region (else AWS_REGION, else the profile's region, else
    /// us-east-1).
    #[arg(long, global = true, value_name = "REGION")]
    pub(crate) region: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Bring a database down to a local path, or reuse the local copy there
    /// when it is current.
    Pull {
        /// The remote database: s3://bucket/key, file:///path, ...
        url: String,
        /// The local copy [default: a file named for the key, in the current
        /// folder; required with --version].
        path: Option<PathBuf>,
        /// When the remote is absent and no file is at PATH, start an empty
        /// database (a file already at PATH becomes the database without
        /// it); `push` uploads it.
        #[arg(long)]
        create: bool,
        /// Bring down this version (an id from `log`) instead of the current
        /// one, verified against its content hash, as a read-only copy:
        /// PATH must be new, or a copy of that same version, never a copy
        /// that follows the current version.
        #[arg(
            long,
            value_name = "ID",
            requires = "path",
            conflicts_with_all = ["create", "policy"]
        )]
        version: Option<String>,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Upload a local copy's changes to the remote it was pulled from, on
    /// condition that the remote did not move.
    Push {
        /// The local copy (its state file names the remote).
        path: PathBuf,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Compare a local copy with its remote: clean, ahead, behind or
    /// diverged. Transfers nothing.
    Status {
        /// A local copy, or a URL (then the copy named for its key in the
        /// current folder).
        target: String,
    },
    /// Check what a store does with conditional writes, on scratch objects
    /// under a prefix of your bucket, and say whether concurrent writers are
    /// safe there. Removes what it wrote.
    Check {
        /// Where the scratch objects may go: s3://bucket/some/prefix.
        prefix: String,
        /// Concurrent writers per round of the race check.
        #[arg(long, default_value_t = 8)]
        writers: usize,
        /// Rounds of the race check, at most.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Size of each racing write, in bytes (stores that check If-Match
        /// without a lock show it past 5 MiB).
        #[arg(long, default_value_t = 6 * 1024 * 1024 + 64 * 1024, value_name = "BYTES")]
        body_size: usize,
    },
    /// Run a read-only SQL query on a fresh copy of a remote database, or
    /// of one of its versions, and print the rows as a table.
    Query {
        /// The remote database.
        url: String,
        /// The SQL, e.g. "SELECT * FROM users LIMIT 10".
        sql: String,
        /// Query this version (an id from `log`) instead of the current one.
        #[arg(long, value_name = "ID")]
        version: Option<String>,
    },
    /// List the versions a bucket with versioning keeps of a database,
    /// newest first: id, time, size, and the content hash of those s3sqlite
    /// wrote.
    Log {
        /// The remote database.
        url: String,
    },
    /// Make an earlier version (from `log`) current again, as a new
    /// version, on condition that nobody pushed since it read the current
    /// one (exit 3 otherwise, nothing changed).
    Restore {
        /// The remote database.
        url: String,
        /// The version id, as `log` prints it.
        version: String,
    },
}

/// What to do when both sides changed.
#[derive(Debug, Args)]
pub(crate) struct PolicyArg {
    /// When the remote moved while the local copy has changes of its own:
    /// fail (exit 3), keep-remote (drop the local changes), overwrite
    /// (replace the remote), merge (rebase the local changes onto the
    /// remote, row by row; needs a copy kept with base copies).
    #[arg(long, value_enum, default_value_t = Policy::Fail)]
    pub(crate) policy: Policy,
}

/// The `--policy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Policy {
    /// Stop with a conflict (exit code 3); nothing changes on either side.
    Fail,
    /// Keep the remote's version; the local changes are dropped.
    KeepRemote,
    /// Replace the remote with the local copy.
    Overwrite,
    /// Rebase the local changes onto the remote's version (ChangesetMerge).
    Merge,
}
