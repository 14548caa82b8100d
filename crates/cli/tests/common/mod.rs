//! What the binary's tests share: running it as a user does, and reading
//! the table `users(id, name)` of a local copy or a remote database.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rusqlite::Connection;
use s3sqlite_testkit::{Fixture, read_remote};
use serde_json::Value;

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// The run, asserted to have exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }
}

/// Runs `s3sqlite ARGS` in `cwd`, with the variables that reach the
/// fixture's store.
pub fn s3sqlite(fx: &Fixture, cwd: &Path, args: &[&str]) -> Ran {
    std::fs::create_dir_all(cwd).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_s3sqlite"));
    command.args(args).current_dir(cwd).env_remove("RUST_LOG");
    for (var, value) in fx.env() {
        command.env(var, value);
    }
    let out = command.output().expect("the binary runs");
    Ran {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs `sql` on the database at `path`.
pub fn sql(path: &Path, sql: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(sql).unwrap();
    conn.close().unwrap();
}

/// The names in `users` of the database at `path`, by id.
pub fn names_in(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut statement = conn.prepare("SELECT name FROM users ORDER BY id").unwrap();
    let names = statement.query_map([], |r| r.get(0)).unwrap();
    names.collect::<Result<_, _>>().unwrap()
}

/// The names in `users` of the remote database `name`, by id.
pub async fn remote_names(fx: &Fixture, name: &str) -> Vec<String> {
    read_remote(&fx.remote(name), |c| {
        let mut statement = c.prepare("SELECT name FROM users ORDER BY id")?;
        let names = statement.query_map([], |r| r.get(0))?;
        names.collect()
    })
    .await
    .unwrap()
}

/// A folder of the fixture's, standing for one machine.
pub fn cwd(fx: &Fixture, name: &str) -> PathBuf {
    fx.dir().join(name)
}
