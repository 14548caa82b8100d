//! The axum example against a real S3 server: it starts, takes a POST, stops
//! on SIGTERM, and the row is on the remote afterwards; as one writer and
//! one follower, two processes on one URL, the follower serves the writer's
//! notes within a bound and refuses writes.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use s3sqlite_sqlx::RemoteStore;
use s3sqlite_testkit::{S3Server, ServerKind, read_remote};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};

/// The example binary `cargo test` built beside this test.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().unwrap().parent().unwrap();
    let path = target.join("examples").join("axum");
    assert!(
        path.exists(),
        "{} is missing: `cargo test -p s3sqlite-sqlx` builds it, one with `--test` does not: \
         run `cargo build -p s3sqlite-sqlx --example axum` first",
        path.display()
    );
    path
}

/// A running example process, and the address it listens on.
struct Example {
    name: &'static str,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    addr: String,
}

impl Example {
    /// Starts the example on `server`'s `url` with its local copy at
    /// `local` and the extra variables `env`, and waits until it listens.
    async fn start(
        name: &'static str,
        server: &S3Server,
        url: &str,
        local: &Path,
        env: &[(&str, &str)],
    ) -> Example {
        let mut child = Command::new(example_binary())
            .env("S3SQLITE_URL", url)
            .env("S3SQLITE_LOCAL_PATH", local)
            .env("S3SQLITE_ADDR", "127.0.0.1:0")
            .envs(server.env())
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the {name} did not start within 60 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("the {name} exited before listening"));
        println!("{name}: {first}");
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("unexpected first line of the {name}: {first:?}"))
            .to_owned();
        Example {
            name,
            child,
            lines,
            addr,
        }
    }

    async fn request(&self, method: &str, path: &str, body: &str) -> (String, String) {
        request(&self.addr, method, path, body).await
    }

    /// Sends SIGTERM and waits for the exit, printing what it wrote.
    async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().unwrap();
        let killed = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the {} did not stop within 60 s of SIGTERM", self.name))
            .unwrap();
        while let Ok(Some(line)) = self.lines.next_line().await {
            println!("{}: {line}", self.name);
        }
        status
    }
}

/// A minimal HTTP/1.1 request; returns the status line and the body.
async fn request(addr: &str, method: &str, path: &str, body: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

async fn remote_notes(server: &S3Server, key: &str) -> Vec<String> {
    read_remote(&server.remote(key).unwrap(), |conn| {
        conn.prepare("SELECT body FROM notes ORDER BY id")?
            .query_map([], |row| row.get(0))?
            .collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_example_uploads_on_sigterm() {
    let server = S3Server::start(ServerKind::LocalStack).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let example = Example::start(
        "example",
        &server,
        &server.url("notes.db"),
        &dir.path().join("notes.db"),
        &[],
    )
    .await;

    let (status, body) = example
        .request("POST", "/notes", r#"{"body":"hello from the test"}"#)
        .await;
    assert_eq!(status, "HTTP/1.1 201 Created", "{body}");
    let (status, body) = example.request("GET", "/notes", "").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("hello from the test"), "{body}");

    let status = example.terminate().await;
    assert!(status.success(), "the example exited with {status}");
    assert_eq!(
        remote_notes(&server, "notes.db").await,
        ["hello from the test"]
    );
}

/// The example's follower mode, two processes on one URL: a follower
/// started before the writer exits saying so; one refreshing every 200 ms
/// shows a note the writer synced within 5 s, refuses a POST with 405 and
/// leaves the remote as it was, reports its refreshes on `/health`, and
/// uploads nothing at close; both stop with status 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_example_serves_the_writers_notes_from_a_follower() {
    const BOUND: Duration = Duration::from_secs(5);
    let server = S3Server::start(ServerKind::LocalStack).await.unwrap();
    let url = server.url("notes.db");
    let dir = tempfile::tempdir().unwrap();
    let early = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(example_binary())
            .env("S3SQLITE_URL", &url)
            .env("S3SQLITE_LOCAL_PATH", dir.path().join("early.db"))
            .env("S3SQLITE_ADDR", "127.0.0.1:0")
            .env("S3SQLITE_FOLLOW_EVERY_MS", "200")
            .envs(server.env())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("a follower with no database to follow did not exit within 60 s")
    .unwrap();
    let stderr = String::from_utf8_lossy(&early.stderr);
    println!("follower before the writer: {}", stderr.trim_end());
    assert!(!early.status.success(), "{stderr}");
    assert!(
        stderr.contains("does not exist yet") && stderr.contains("start the writer first"),
        "{stderr}"
    );

    let writer = Example::start("writer", &server, &url, &dir.path().join("writer.db"), &[]).await;
    let (status, body) = writer
        .request("POST", "/notes", r#"{"body":"first"}"#)
        .await;
    assert_eq!(status, "HTTP/1.1 201 Created", "{body}");
    let (status, body) = writer.request("POST", "/sync", "").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");

    let follower = Example::start(
        "follower",
        &server,
        &url,
        &dir.path().join("follower.db"),
        &[("S3SQLITE_FOLLOW_EVERY_MS", "200")],
    )
    .await;
    let (status, body) = follower.request("GET", "/notes", "").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("first"), "{body}");

    let (status, body) = writer
        .request("POST", "/notes", r#"{"body":"second"}"#)
        .await;
    assert_eq!(status, "HTTP/1.1 201 Created", "{body}");
    let (status, body) = writer.request("POST", "/sync", "").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let synced = Instant::now();
    loop {
        let (status, body) = follower.request("GET", "/notes", "").await;
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
        if body.contains("second") {
            break;
        }
        assert!(
            synced.elapsed() < BOUND,
            "the follower still serves {body} {:?} after the writer synced",
            synced.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "the follower served the second note at most {:?} after the sync returned",
        synced.elapsed()
    );

    let remote = server.remote("notes.db").unwrap();
    let before = remote.head().await.unwrap().expect("the writer uploaded");
    let (status, body) = follower
        .request("POST", "/notes", r#"{"body":"refused"}"#)
        .await;
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed", "{body}");
    assert!(body.contains("read-only follower"), "{body}");
    let after = remote
        .head()
        .await
        .unwrap()
        .expect("the remote is still there");
    assert!(
        after.same_object(&before),
        "the remote changed: {before} became {after}"
    );

    let (status, body) = follower.request("GET", "/health", "").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["role"], "follower", "{health}");
    assert!(health["refreshes"].as_u64().unwrap() >= 1, "{health}");
    assert_eq!(health["failures"], 0, "{health}");
    assert!(health["last_error"].is_null(), "{health}");
    assert_eq!(health["version"]["e_tag"], json!(after.e_tag), "{health}");
    assert_eq!(health["version"]["size"], after.size, "{health}");
    assert!(
        health["seconds_since_refresh"].as_f64().unwrap() < BOUND.as_secs_f64(),
        "{health}"
    );
    let (status, body) = writer.request("GET", "/health", "").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert_eq!(body, r#"{"role":"writer"}"#);

    let status = follower.terminate().await;
    assert!(status.success(), "the follower exited with {status}");
    let closed = remote
        .head()
        .await
        .unwrap()
        .expect("the remote is still there");
    assert!(
        closed.same_object(&after),
        "the follower's close uploaded: {after} became {closed}"
    );
    let status = writer.terminate().await;
    assert!(status.success(), "the writer exited with {status}");
    assert_eq!(remote_notes(&server, "notes.db").await, ["first", "second"]);
}
