//! [`S3Client`] against LocalStack, moto and Ceph RGW, whose endpoints come
//! from the environment (a test whose server is not set fails, naming the
//! variable), and its parsing and error mapping without a server.

use std::fmt::Display;
use std::time::{Duration, UNIX_EPOCH};

use http::StatusCode;
use object_store::path::Path;
use object_store::{Attribute, ObjectStoreExt, PutPayload};

use super::request::Failure;
use super::*;

const MIB: usize = 1 << 20;

/// A server the tests run against.
#[derive(Debug, Clone, Copy)]
enum Server {
    LocalStack,
    Moto,
    Ceph,
}

impl Server {
    /// The variable holding its endpoint, and how to have it set.
    fn endpoint_var(self) -> (&'static str, &'static str) {
        match self {
            Server::LocalStack => (
                "S3SQLITE_TEST_ENDPOINT",
                "start LocalStack with `eval \"$(.ci/s3-server start)\"`",
            ),
            Server::Moto => (
                "S3SQLITE_TEST_MOTO_ENDPOINT",
                "start moto with `eval \"$(.ci/s3-server start moto)\"`",
            ),
            Server::Ceph => (
                "S3SQLITE_TEST_CEPH_ENDPOINT",
                "start Ceph RGW with `eval \"$(.ci/s3-server start ceph)\"`",
            ),
        }
    }

    /// Its access key id and secret.
    fn credentials(self) -> (String, String) {
        let hint = "`.ci/s3-server start ceph` exports it";
        match self {
            Server::Ceph => (
                env("S3SQLITE_CEPH_ACCESS_KEY_ID", hint),
                env("S3SQLITE_CEPH_SECRET_ACCESS_KEY", hint),
            ),
            Server::LocalStack | Server::Moto => ("test".to_owned(), "test".to_owned()),
        }
    }
}

/// The value of `var`; without one the test fails, saying `hint`.
fn env(var: &str, hint: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("{var} is unset: {hint}"),
    }
}

/// The value in `result`, or a failure saying `what` failed and why.
fn ok<T>(result: Result<T, impl Display>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The store and the client on `server`'s test bucket
/// (`S3SQLITE_TEST_BUCKET`, by default `s3sqlite-test`).
fn connect(server: Server) -> (AmazonS3, S3Client) {
    let (var, hint) = server.endpoint_var();
    let (key_id, secret) = server.credentials();
    let bucket = std::env::var("S3SQLITE_TEST_BUCKET");
    let builder = AmazonS3Builder::new()
        .with_endpoint(env(var, hint))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(bucket.unwrap_or_else(|_| "s3sqlite-test".to_owned()))
        .with_access_key_id(key_id)
        .with_secret_access_key(secret);
    let store = ok(builder.clone().build(), "build the store");
    let client = ok(S3Client::new(&builder, &store, None), "make the client");
    (store, client)
}

/// A key of its own for each test run.
fn unique_key(name: &str) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    let nanos = now.unwrap_or_default().as_nanos();
    format!(
        "s3sqlite-s3-client-tests/{}-{nanos}/{name}",
        std::process::id()
    )
}

/// `len` bytes that differ at every offset and with `seed`.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let byte = |i: u64| ((i ^ (seed << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8;
    (0..len as u64).map(byte).collect()
}

/// Part 1 uploaded (5 MiB), part 2 a copy of a range of the object itself,
/// completed into the same key on its entity tag: the object is the new
/// bytes then the copied ones, with the upload's metadata.
async fn copy_into_the_object_it_reads(server: Server) {
    let (store, client) = connect(server);
    let key = unique_key("copied");
    let path = Path::from(key.as_str());
    let original = pattern(3 * MIB, 1);
    let put = ok(
        store.put(&path, PutPayload::from(original.clone())).await,
        "put",
    );
    let e_tag = put.e_tag.expect("the put answered an entity tag");
    let fresh = pattern(5 * MIB, 2);
    let metadata = [("s3sqlite-test", "copied")];
    let upload = ok(client.create_multipart(&key, &metadata).await, "create");
    let body = Bytes::from(fresh.clone());
    let first = ok(
        client.upload_part(&key, &upload, 1, body).await,
        "upload part",
    );
    let range = MIB as u64 + 7..2 * MIB as u64 + 11;
    let copied = client.upload_part_copy(&key, &upload, 2, &key, range.clone(), Some(&e_tag));
    let second = ok(copied.await, "copy part");
    let parts = [(1, first), (2, second)];
    let completed = client.complete(&key, &upload, &parts, Complete::IfMatch(e_tag));
    ok(completed.await, "complete");
    let got = ok(store.get(&path).await, "get");
    let meta = got
        .attributes
        .get(&Attribute::Metadata("s3sqlite-test".into()));
    assert_eq!(meta.map(|value| value.as_ref()), Some("copied"));
    let bytes = ok(got.bytes().await, "read");
    let expected = [
        &fresh[..],
        &original[range.start as usize..range.end as usize],
    ]
    .concat();
    assert_eq!(bytes.len(), expected.len());
    assert!(
        bytes == expected,
        "not the uploaded part then the copied range"
    );
    ok(store.delete(&path).await, "delete");
}

/// Uploads started and not completed are listed, on one page or many,
/// apart from one to a longer key with the same prefix; aborted, they are
/// gone, and aborting one again is no error.
async fn list_until_aborted(server: Server) {
    let (_, client) = connect(server);
    let key = unique_key("listed");
    let longer = format!("{key}-longer");
    let mut ours = Vec::new();
    for _ in 0..2 {
        ours.push(ok(client.create_multipart(&key, &[]).await, "create"));
    }
    let theirs = ok(client.create_multipart(&longer, &[]).await, "create");
    ours.sort();
    let ids = |uploads: Vec<Upload>| {
        assert!(uploads.iter().all(|u| u.initiated.is_some()), "{uploads:?}");
        let mut ids: Vec<_> = uploads.into_iter().map(|u| u.upload_id).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(ok(client.list_uploads(&key).await, "list")), ours);
    let paged = client.list_uploads_paged(&key, Some(1)).await;
    assert_eq!(ids(ok(paged, "list one a page")), ours);
    for upload in &ours {
        ok(client.abort(&key, upload).await, "abort");
    }
    assert_eq!(ok(client.list_uploads(&key).await, "list"), []);
    ok(client.abort(&key, &ours[0]).await, "abort again");
    ok(client.abort(&longer, &theirs).await, "abort");
}

/// An upload of `body` as the one part of `key`, completed on `condition`.
async fn upload_one(
    client: &S3Client,
    key: &str,
    body: &'static [u8],
    condition: Complete,
) -> Completed {
    let upload = ok(client.create_multipart(key, &[]).await, "create");
    let part = client.upload_part(key, &upload, 1, Bytes::from_static(body));
    let parts = [(1, ok(part.await, "upload part"))];
    ok(
        client.complete(key, &upload, &parts, condition).await,
        "complete",
    )
}

/// A Complete with `If-None-Match: *` on a key with no object creates it,
/// with the entity tag the Complete answered (when not empty); one on no
/// condition replaces it.
async fn create_a_new_key(server: Server) {
    let (store, client) = connect(server);
    let key = unique_key("created");
    let path = Path::from(key.as_str());
    let completed = upload_one(&client, &key, b"a new object", Complete::IfNoneMatch).await;
    let got = ok(ok(store.get(&path).await, "get").bytes().await, "read");
    assert_eq!(&got[..], b"a new object");
    if let Some(e_tag) = completed.e_tag {
        assert_eq!(ok(store.head(&path).await, "head").e_tag, Some(e_tag));
    }
    upload_one(&client, &key, b"replaced", Complete::Unconditional).await;
    let got = ok(ok(store.get(&path).await, "get").bytes().await, "read");
    assert_eq!(&got[..], b"replaced");
    ok(store.delete(&path).await, "delete");
}

/// The scenarios above as tests on one server.
macro_rules! on_server {
    ($module:ident, $server:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn completes_a_copied_range_into_the_object_it_reads() {
                copy_into_the_object_it_reads($server).await;
            }

            #[tokio::test]
            async fn lists_an_open_upload_until_it_is_aborted() {
                list_until_aborted($server).await;
            }

            #[tokio::test]
            async fn creates_a_new_key_if_none_match_and_replaces_it_unconditionally() {
                create_a_new_key($server).await;
            }
        }
    };
}

on_server!(localstack, Server::LocalStack);
on_server!(moto, Server::Moto);
on_server!(ceph, Server::Ceph);

/// The error for a refusal with `status` and S3 error `code`.
fn refusal(status: u16, code: &str) -> Error {
    let body = format!("<Error><Code>{code}</Code><Message>m</Message></Error>");
    let status = StatusCode::from_u16(status).expect("a status");
    let failure = Failure::of_answer("CompleteMultipartUpload", status, body.as_bytes());
    let failure = failure.expect("a refusal");
    failure.into_error("s3://b/k".to_owned(), "k")
}

#[test]
fn a_200_carrying_an_error_is_a_failure_naming_status_code_and_message() {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n   \n<Error><Code>InternalError</Code>\
                <Message>We encountered an internal error. Please try again.</Message></Error>";
    let failure = Failure::of_answer("CompleteMultipartUpload", StatusCode::OK, body.as_bytes());
    let err = failure
        .expect("a failure")
        .into_error("s3://b/k".to_owned(), "k");
    assert_eq!(
        err.to_string(),
        "request to s3://b/k failed: CompleteMultipartUpload got HTTP 200: InternalError: \
         We encountered an internal error. Please try again."
    );
    let result = "<CompleteMultipartUploadResult><ETag></ETag></CompleteMultipartUploadResult>";
    assert!(
        Failure::of_answer("CompleteMultipartUpload", StatusCode::OK, result.as_bytes()).is_none()
    );
    let bare = Failure::of_answer("UploadPart", StatusCode::BAD_GATEWAY, b"<html></html>");
    assert_eq!(
        bare.expect("a failure").to_string(),
        "UploadPart got HTTP 502 and no S3 error code"
    );
}

#[test]
fn refused_preconditions_are_conflicts_and_missing_things_keep_their_kind() {
    assert!(matches!(
        refusal(412, "PreconditionFailed"),
        Error::Conflict { .. }
    ));
    assert!(matches!(
        refusal(409, "ConditionalRequestConflict"),
        Error::Conflict { .. }
    ));
    let busy = refusal(409, "OperationAborted");
    assert!(
        matches!(
            busy,
            Error::Remote {
                source: object_store::Error::Generic { .. },
                ..
            }
        ),
        "{busy}"
    );
    assert!(matches!(
        refusal(404, "NoSuchBucket"),
        Error::BucketNotFound { .. }
    ));
    let missing = refusal(404, "NoSuchKey");
    assert!(
        matches!(
            missing,
            Error::Remote {
                source: object_store::Error::NotFound { .. },
                ..
            }
        ),
        "{missing}"
    );
}

#[test]
fn urls_are_built_and_escaped_as_object_store_and_sigv4_want() {
    assert_eq!(
        bucket_url(Some("http://127.0.0.1:9000/"), "b", "r", false),
        "http://127.0.0.1:9000/b"
    );
    assert_eq!(
        bucket_url(Some("https://b.example.com"), "b", "r", true),
        "https://b.example.com"
    );
    assert_eq!(
        bucket_url(None, "b", "eu-west-1", false),
        "https://s3.eu-west-1.amazonaws.com/b"
    );
    assert_eq!(
        bucket_url(None, "b", "eu-west-1", true),
        "https://b.s3.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        query(&[("uploadId", "a+b/c="), ("prefix", "d/a b")]),
        "uploadId=a%2Bb%2Fc%3D&prefix=d%2Fa%20b"
    );
    assert_eq!(
        utf8_percent_encode("d/a b+c~.db", &PATH).to_string(),
        "d/a%20b%2Bc~.db"
    );
}

#[test]
fn a_list_page_says_where_the_next_starts() {
    let page = "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>\
                <NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker/><Upload><Key>k</Key>\
                <UploadId>u</UploadId><Initiated>2024-05-01T12:00:00.000Z</Initiated></Upload>\
                </ListMultipartUploadsResult>";
    let page: ListXml = quick_xml::de::from_str(page).expect("a page");
    assert_eq!(page.next(), Some(("k".to_owned(), String::new())));
    let upload = Upload::from(page.uploads.into_iter().next().expect("an upload"));
    assert_eq!(
        upload.initiated,
        Some(UNIX_EPOCH + Duration::from_secs(1_714_564_800))
    );
}

#[test]
fn the_complete_body_lists_the_parts_in_order() {
    let parts = [(1, "\"a&b\"".to_owned()), (2, "c".to_owned())];
    let xml = quick_xml::se::to_string(&complete_xml(&parts)).expect("xml");
    assert_eq!(
        xml,
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a&amp;b\"</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>c</ETag></Part></CompleteMultipartUpload>"
    );
}
