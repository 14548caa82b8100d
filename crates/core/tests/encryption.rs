//! Server-side encryption set on the builder reaches the server: each PUT
//! of the database and of its manifest, and each start of an incremental
//! upload, carries the headers; the object's HEAD shows the encryption and
//! the key id; and the database reads back. On LocalStack.

use rusqlite::Connection;
use s3sqlite_core::{Encryption, IncrementalUpload, Replica, ReplicaOptions};
use s3sqlite_testkit::{Backend, Fixture, HttpLog, pad_database};

/// A key id as KMS names one.
const KEY_ID: &str = "arn:aws:kms:us-east-1:000000000000:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_kms_reaches_the_server_and_the_object_reads_back() {
    let fx = Fixture::new(Backend::LocalStack)
        .await
        .unwrap_or_else(|e| panic!("the encryption test needs LocalStack: {e}"));
    let log = HttpLog::new();
    let encryption = Encryption::Kms {
        key_id: Some(KEY_ID.to_owned()),
        bucket_key: true,
    };
    let remote = fx
        .builder("app.db")
        .with_encryption(encryption)
        .with_http_connector(log.connector())
        .build()
        .unwrap();
    let options = ReplicaOptions::new()
        .with_local_path(fx.local("a.db"))
        .with_incremental_upload(IncrementalUpload::On);
    let mut a = Replica::open(remote, options).await.unwrap();
    let conn = Connection::open(a.local_path()).unwrap();
    pad_database(&conn, 24).unwrap();
    conn.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('secret')")
        .unwrap();
    conn.close().unwrap();
    a.push().await.unwrap();
    let conn = Connection::open(a.local_path()).unwrap();
    conn.execute("UPDATE t SET v = 'still secret'", []).unwrap();
    conn.close().unwrap();
    let pushed = a.push().await.unwrap();
    assert!(
        pushed.parts_sent >= 1,
        "the second push is incremental: {pushed}"
    );

    let exchanges = log.exchanges();
    // every whole PUT (the database, its manifests) and the start of the
    // incremental upload; parts and the completion inherit the upload's
    let must: Vec<_> = exchanges
        .iter()
        .filter(|e| {
            (e.method == "PUT" && e.query.is_empty())
                || e.query == "uploads"
                || e.query == "uploads="
        })
        .collect();
    let puts = must.iter().filter(|e| e.method == "PUT").count();
    let starts = must.iter().filter(|e| e.method == "POST").count();
    assert!(
        puts >= 3,
        "the database once, its manifest twice: {exchanges:#?}"
    );
    assert_eq!(starts, 1, "one incremental upload: {exchanges:#?}");
    for exchange in must {
        let sent = |name| exchange.request_header(name);
        assert_eq!(
            sent("x-amz-server-side-encryption"),
            Some("aws:kms"),
            "{exchange:?}"
        );
        let key = sent("x-amz-server-side-encryption-aws-kms-key-id");
        assert_eq!(key, Some(KEY_ID), "{exchange:?}");
        let bucket_key = sent("x-amz-server-side-encryption-bucket-key-enabled");
        assert_eq!(bucket_key, Some("true"), "{exchange:?}");
    }

    log.clear();
    let head = fx
        .builder("app.db")
        .with_http_connector(log.connector())
        .build()
        .unwrap();
    s3sqlite_core::RemoteStore::head(&head)
        .await
        .unwrap()
        .unwrap();
    let exchanges = log.exchanges();
    let answer = exchanges.iter().find(|e| e.method == "HEAD").unwrap();
    println!("HEAD answered: {:?}", answer.amz_response);
    assert_eq!(
        answer.response_header("x-amz-server-side-encryption"),
        Some("aws:kms")
    );
    assert_eq!(
        answer.response_header("x-amz-server-side-encryption-aws-kms-key-id"),
        Some(KEY_ID)
    );

    let b = fx
        .open("app.db", "b.db", ReplicaOptions::new())
        .await
        .unwrap();
    let v: String = Connection::open(b.local_path())
        .unwrap()
        .query_row("SELECT v FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, "still secret");
}
