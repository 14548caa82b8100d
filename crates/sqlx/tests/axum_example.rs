//! The axum example against a real S3 server: it starts, takes a POST, stops
//! on SIGTERM, and the row is on the remote afterwards.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use s3sqlite_testkit::{S3Server, ServerKind, read_remote};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

/// The example binary `cargo test` built beside this test.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().unwrap().parent().unwrap();
    let path = target.join("examples").join("axum");
    assert!(
        path.exists(),
        "{} is missing: `cargo test -p s3sqlite-sqlx` builds it",
        path.display()
    );
    path
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_example_uploads_on_sigterm() {
    let server = S3Server::start(ServerKind::LocalStack).await.unwrap();
    let url = server.url("notes.db");
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(example_binary())
        .env("S3SQLITE_URL", &url)
        .env("S3SQLITE_LOCAL_PATH", dir.path().join("notes.db"))
        .env("S3SQLITE_ADDR", "127.0.0.1:0")
        .env("AWS_ENDPOINT_URL", server.endpoint())
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the example did not start within 60 s")
        .unwrap()
        .expect("the example exited before listening");
    println!("example: {first}");
    let addr = first
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();

    let (status, body) =
        request(&addr, "POST", "/notes", r#"{"body":"hello from the test"}"#).await;
    assert_eq!(status, "HTTP/1.1 201 Created", "{body}");
    let (status, body) = request(&addr, "GET", "/notes", "").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("hello from the test"), "{body}");

    let pid = child.id().unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the example did not stop within 60 s of SIGTERM")
        .unwrap();
    let mut rest = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push(line);
    }
    println!("example: {}", rest.join("\nexample: "));
    assert!(status.success(), "the example exited with {status}");

    let notes: Vec<String> = read_remote(&server.remote("notes.db").unwrap(), |conn| {
        conn.prepare("SELECT body FROM notes ORDER BY id")?
            .query_map([], |row| row.get(0))?
            .collect()
    })
    .await
    .unwrap();
    assert_eq!(notes, ["hello from the test"]);
}
