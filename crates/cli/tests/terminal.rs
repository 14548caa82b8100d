//! Progress bars: drawn on a terminal, absent from a pipe. The terminal is
//! a pseudo-terminal that util-linux's `script` gives the binary.

use std::path::Path;
use std::process::Command;

use s3sqlite_testkit::{Backend, Fixture, pad_database, seed_remote};

const MIB: u64 = 1024 * 1024;

/// A remote database of 32 MiB and more.
async fn seed_32_mib(fx: &Fixture) -> String {
    seed_remote(&fx.remote("big.db"), |c| pad_database(c, 32))
        .await
        .unwrap();
    fx.url("big.db")
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[tokio::test]
async fn a_terminal_gets_a_progress_bar_on_a_32_mib_pull() {
    let fx = Fixture::new(Backend::File).await.unwrap();
    let url = seed_32_mib(&fx).await;
    let here = fx.dir().join("tty");
    std::fs::create_dir_all(&here).unwrap();
    let command = format!("{} pull {url} big.db", env!("CARGO_BIN_EXE_s3sqlite"));
    let out = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .current_dir(&here)
        .env("TERM", "xterm-256color")
        .output()
        .expect("util-linux `script` runs (apt-get install bsdutils)");
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{seen}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(size_of(&here.join("big.db")) >= 32 * MIB);
    assert!(seen.contains("downloading ["), "no bar drawn: {seen:?}");
    assert!(seen.contains("[===="), "no bar drawn: {seen:?}");
    let total = format!(
        "/{:.2} MiB",
        size_of(&here.join("big.db")) as f64 / MIB as f64
    );
    assert!(seen.contains(&total), "no byte count {total}: {seen:?}");
    assert!(
        seen.contains('\x1b'),
        "a bar redraws with escape codes: {seen:?}"
    );
    assert!(seen.contains("big.db: downloaded"), "{seen:?}");
}

#[tokio::test]
async fn a_pipe_gets_plain_text_and_no_escape_codes() {
    let fx = Fixture::new(Backend::File).await.unwrap();
    let url = seed_32_mib(&fx).await;
    let here = fx.dir().join("pipe");
    std::fs::create_dir_all(&here).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_s3sqlite"))
        .args(["pull", &url, "big.db"])
        .current_dir(&here)
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(stdout.starts_with("big.db: downloaded, "), "{stdout:?}");
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    assert_eq!(stderr, "", "nothing but the result: {stderr:?}");
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
}
