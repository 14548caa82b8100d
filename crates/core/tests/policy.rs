//! The minimal IAM policy of docs/credentials.md is enough for a replica,
//! and refuses what it does not grant, on Ceph RGW.
//!
//! A second RGW user, with no permission of its own, gets that policy as an
//! identity policy: the JSON is read from the docs, with `my-bucket` and
//! `app.db` replaced by the fixture's bucket and key, and the bucket's owner
//! sends it with PutUserPolicy through RGW's IAM API. RGW 16 applies an
//! identity policy to a bucket that another user owns.
//!
//! As that user, a replica opens a database nobody has pushed and pushes it
//! whole. It reopens, then pushes only what changed
//! (`IncrementalUpload::On`): the store copies the unchanged parts of a
//! multipart upload, the uploads of the key are listed, and a failed
//! completion is aborted. Its manifests are stored, read by a replica that
//! is behind, and removed. None of these requests is refused, and the owner
//! sees what landed. Reading a key that the policy does not name fails with
//! the error that names the permission. On a bucket with versioning,
//! downloads pinned to a version id need `s3:GetObjectVersion`, which the
//! policy grants.
//!
//! RGW 16 lets a user read an object it wrote whatever its policy says (the
//! writer owns the object, as with S3 ACLs), so the reads that prove the
//! policy are reads of versions the bucket's owner wrote.
//!
//! Needs `eval "$(.ci/s3-server start ceph)"`: it creates the second user
//! and exports its keys.

mod common;

use std::path::Path;

use common::{remote_bytes, seed, values};
use http::{Method, Request};
use object_store::ObjectStore;
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::{ClientOptions, HttpConnector, HttpRequestBody, ReqwestConnector};
use rusqlite::Connection;
use s3sqlite_core::{
    ContentHash, Error, IncrementalUpload, ObjectStoreRemote, RemoteStore, RemoteVersion, Replica,
    ReplicaOptions, Stamp, SyncAction, WriteCondition,
};
use s3sqlite_testkit::{Backend, Exchange, Fixture, HttpLog, enable_versioning, pad_database};
use tokio::sync::{Mutex, MutexGuard};

/// The page that documents the policy.
const CREDENTIALS_MD: &str = include_str!("../../../docs/credentials.md");
/// The text just before the policy's fenced JSON block.
const POLICY_HEADING: &str = "A minimal policy for one database";
/// The variables a run needs: the server, its owner and the second user.
const VARS: [&str; 5] = [
    "S3SQLITE_TEST_CEPH_ENDPOINT",
    "S3SQLITE_CEPH_ACCESS_KEY_ID",
    "S3SQLITE_CEPH_SECRET_ACCESS_KEY",
    "S3SQLITE_CEPH_POLICY_ACCESS_KEY_ID",
    "S3SQLITE_CEPH_POLICY_SECRET_ACCESS_KEY",
];
/// The padding of the database: with the header, four 8 MiB parts, so that a
/// change to the first part leaves three to copy.
const PAD_MIB: u64 = 24;

/// One test at a time changes the second user's policies: RGW rewrites
/// the user's record for each, and two at once could lose one.
static POLICIES: Mutex<()> = Mutex::const_new(());

/// The policy of docs/credentials.md for `s3://BUCKET/KEY`, as compact JSON.
fn documented_policy(bucket: &str, key: &str) -> String {
    let after = CREDENTIALS_MD
        .split_once(POLICY_HEADING)
        .unwrap_or_else(|| panic!("docs/credentials.md has no {POLICY_HEADING:?}"))
        .1;
    let block = after
        .split_once("```json\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .unwrap_or_else(|| {
            panic!("docs/credentials.md has no ```json block after {POLICY_HEADING:?}")
        })
        .0;
    let json = block
        .replace(
            "arn:aws:s3:::my-bucket/app.db",
            &format!("arn:aws:s3:::{bucket}/{key}"),
        )
        .replace(
            "arn:aws:s3:::my-bucket\"",
            &format!("arn:aws:s3:::{bucket}\""),
        );
    assert!(
        !json.contains("my-bucket"),
        "a resource of the documented policy names my-bucket in a way this test does not \
         replace:\n{json}"
    );
    let policy: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the policy in docs/credentials.md is not JSON: {e}\n{json}"));
    policy.to_string()
}

/// Keys of an RGW user.
struct User {
    key: String,
    secret: String,
}

/// The second user; the test fails, naming what to start, when it or the
/// server is not set.
fn policy_user() -> User {
    let missing: Vec<&str> = VARS
        .into_iter()
        .filter(|var| std::env::var(var).map_or(true, |v| v.is_empty()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} unset: the policy test needs Ceph RGW and its second user; start them with \
         `eval \"$(.ci/s3-server start ceph)\"`, which exports these (and adds the user to a \
         cluster an older script started)",
        missing.join(", ")
    );
    User {
        key: std::env::var(VARS[3]).unwrap(),
        secret: std::env::var(VARS[4]).unwrap(),
    }
}

/// The body of a request of [`Owner::send`].
enum Body {
    /// Form fields, URL-encoded.
    Form(String),
    /// An XML or JSON document.
    Document(String),
}

/// The bucket's owner, as the fixture reaches the server.
struct Owner {
    endpoint: String,
    credential: AwsCredential,
}

impl Owner {
    fn of(fx: &Fixture) -> Owner {
        let env = fx.env();
        let get = |name: &str| {
            let found = env.iter().find(|(n, _)| *n == name);
            found.map(|(_, v)| v.clone()).expect("the fixture names it")
        };
        Owner {
            endpoint: get("AWS_ENDPOINT_URL"),
            credential: AwsCredential {
                key_id: get("AWS_ACCESS_KEY_ID"),
                secret_key: get("AWS_SECRET_ACCESS_KEY"),
                token: None,
            },
        }
    }

    /// Sends `method` to `path` (and query) on the endpoint, signed for
    /// `service`; fails the test, saying `hint`, unless it answers 2xx.
    async fn send(&self, method: Method, path: &str, service: &str, body: Body, hint: &str) {
        let url = format!("{}{path}", self.endpoint);
        let mut request = Request::builder().method(method.clone()).uri(&url);
        if let Body::Form(_) = body {
            request = request.header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            );
        }
        let (Body::Form(text) | Body::Document(text)) = body;
        let mut request = request.body(HttpRequestBody::from(text)).unwrap();
        AwsAuthorizer::new(&self.credential, service, "us-east-1")
            .try_authorize(&mut request, None)
            .unwrap();
        let options = ClientOptions::new().with_allow_http(true);
        let client = ReqwestConnector::default().connect(&options).unwrap();
        let response = client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status();
        let answer = response.into_body().bytes().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{method} {url} answered {status}: {}\n{hint}",
            String::from_utf8_lossy(&answer)
        );
    }

    /// Sends the IAM action `params` (`Action` first) to RGW.
    async fn iam(&self, params: &[(&str, &str)]) {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let hint = format!(
            "{} refused: a 403 means the owner lacks the caps `user-policy=*`, a 404 that the \
             second user does not exist; `.ci/s3-server start ceph` adds both, also to a \
             running cluster",
            params[0].1
        );
        self.send(Method::POST, "/", "iam", Body::Form(form), &hint)
            .await;
    }

    /// Lets the owner read every object of `bucket`: an object belongs to
    /// the user who wrote it, and RGW, as S3 with ACLs, does not let the
    /// bucket's owner read it otherwise.
    async fn read_everything(&self, bucket: &str) {
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "OwnerReadsWhatOthersWrote",
                "Effect": "Allow",
                "Principal": {"AWS": [format!("arn:aws:iam:::user/{}", self.credential.key_id)]},
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": format!("arn:aws:s3:::{bucket}/*"),
            }],
        });
        let path = format!("/{bucket}?policy");
        let body = Body::Document(policy.to_string());
        let hint = "the owner's PutBucketPolicy on its own bucket";
        self.send(Method::PUT, &path, "s3", body, hint).await;
    }
}

/// A fixture on Ceph RGW whose bucket's owner can read everything in it,
/// and the second user, whose policies no other test changes meanwhile.
struct Setup {
    fx: Fixture,
    owner: Owner,
    user: User,
    /// The fixture's bucket: the name of the user's policy for it too.
    bucket: String,
    _policies: MutexGuard<'static, ()>,
}

impl Setup {
    async fn new() -> Setup {
        let user = policy_user();
        let policies = POLICIES.lock().await;
        let fx = Fixture::new(Backend::Ceph)
            .await
            .unwrap_or_else(|e| panic!("{} fixture: {e}", Backend::Ceph));
        let owner = Owner::of(&fx);
        let url = fx.url("app.db");
        let bucket = url.trim_start_matches("s3://").split('/').next().unwrap();
        owner.read_everything(bucket).await;
        Setup {
            bucket: bucket.to_owned(),
            fx,
            owner,
            user,
            _policies: policies,
        }
    }

    /// The documented policy for `app.db` of the fixture.
    fn documented_policy(&self) -> String {
        documented_policy(&self.bucket, self.fx.remote("app.db").key().as_ref())
    }

    /// Gives the user `policy`, in place of the one it had for this bucket.
    async fn put_policy(&self, policy: &str) {
        self.owner
            .iam(&[
                ("Action", "PutUserPolicy"),
                ("UserName", &self.user.key),
                ("PolicyName", &self.bucket),
                ("PolicyDocument", policy),
            ])
            .await;
    }

    /// Takes the user's policy for this bucket away.
    async fn delete_policy(&self) {
        self.owner
            .iam(&[
                ("Action", "DeleteUserPolicy"),
                ("UserName", &self.user.key),
                ("PolicyName", &self.bucket),
            ])
            .await;
    }

    /// The remote `name` reached with the user's keys, its requests
    /// recorded in `log`; an old manifest is removed with a plain DELETE,
    /// the default, which the policy allows (RGW 16 would refuse the
    /// DeleteObjects of object_store's own default).
    fn as_user(&self, name: &str, log: &HttpLog) -> ObjectStoreRemote {
        self.fx
            .builder(name)
            .with_option("aws_access_key_id", &self.user.key)
            .with_option("aws_secret_access_key", &self.user.secret)
            .with_http_connector(log.connector())
            .build()
            .unwrap_or_else(|e| panic!("remote for {}: {e}", self.fx.url(name)))
    }

    /// Opens `name` as the user at the local path `local`.
    async fn open(
        &self,
        name: &str,
        local: &str,
        options: ReplicaOptions,
        log: &HttpLog,
    ) -> s3sqlite_core::Result<Replica> {
        let options = options.with_local_path(self.fx.local(local));
        Replica::open(self.as_user(name, log), options).await
    }

    /// The owner writes the value `value` over `app.db`, whole, from a
    /// replica of its own at `local`: whole, since RGW 16 refuses an
    /// UploadPartCopy from an object another user wrote, whatever the
    /// policies grant.
    async fn owner_writes(&self, local: &str, value: &str) {
        let whole = ReplicaOptions::new().with_incremental_upload(IncrementalUpload::Off);
        let mut owner = self.fx.open("app.db", local, whole).await.unwrap();
        update(owner.local_path(), value);
        owner.push().await.unwrap();
    }
}

/// Options that push only the changed parts, off Amazon S3 too.
fn incremental() -> ReplicaOptions {
    ReplicaOptions::new().with_incremental_upload(IncrementalUpload::On)
}

/// Fills the new database at `path`: table `t` in its first pages, then
/// `pad_mib` of padding.
fn build(path: &Path, pad_mib: u64) {
    common::write(path, &["first"]);
    let conn = Connection::open(path).unwrap();
    pad_database(&conn, pad_mib).unwrap();
    conn.close().unwrap();
}

/// Sets every value of table `t` in the database at `path` to `value`.
fn update(path: &Path, value: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute("UPDATE t SET v = ?1", [value]).unwrap();
    conn.close().unwrap();
}

/// Whether `exchange` was answered with a 2xx status.
fn succeeded(exchange: &Exchange) -> bool {
    exchange.status.is_some_and(|s| (200..300).contains(&s))
}

/// The names in `exchange`'s query.
fn query_names(exchange: &Exchange) -> Vec<&str> {
    let pairs = exchange.query.split('&').filter(|p| !p.is_empty());
    pairs.map(|p| p.split('=').next().unwrap_or(p)).collect()
}

/// The S3 request `exchange` is, in the terms of the permissions table of
/// docs/credentials.md.
fn request_kind(exchange: &Exchange) -> String {
    let names = query_names(exchange);
    let has = |name| names.contains(&name);
    let manifest = exchange.path.contains(".s3sqlite/m/");
    let copy = exchange.request_header("x-amz-copy-source").is_some();
    let what = match exchange.method.as_str() {
        "GET" if has("list-type") => "ListObjectsV2",
        "GET" if has("uploads") => "ListMultipartUploads",
        "POST" if has("delete") => "DeleteObjects",
        "POST" if has("uploads") => "CreateMultipartUpload",
        "POST" if has("uploadId") => "CompleteMultipartUpload",
        "PUT" if has("partNumber") && copy => "UploadPartCopy",
        "PUT" if has("partNumber") => "UploadPart",
        "DELETE" if has("uploadId") => "AbortMultipartUpload",
        method if manifest => return format!("{method} of a manifest"),
        "GET" if has("versionId") => "GET of the database with versionId",
        method => return format!("{method} of the database"),
    };
    what.to_owned()
}

/// The requests in `exchanges`, a line each: kind, path, status.
fn show(exchanges: &[Exchange]) -> String {
    let lines = exchanges.iter().map(|e| {
        let kind = request_kind(e);
        format!("{kind} {}?{} -> {:?}", e.path, e.query, e.status)
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// Every request in `logs`, in the order of the logs.
fn all(logs: &[&HttpLog]) -> Vec<Exchange> {
    logs.iter().flat_map(|log| log.exchanges()).collect()
}

/// Fails unless none of `exchanges` was refused and each of `kinds` was
/// made and succeeded at least once.
fn none_refused_and_each_made(exchanges: &[Exchange], kinds: &[&str]) {
    let refused: Vec<String> = exchanges
        .iter()
        .filter(|e| matches!(e.status, Some(401 | 403)))
        .map(request_kind)
        .collect();
    assert!(
        refused.is_empty(),
        "refused under the documented policy: {refused:?}\n{}",
        show(exchanges)
    );
    for kind in kinds {
        let made = exchanges
            .iter()
            .any(|e| request_kind(e) == *kind && succeeded(e));
        assert!(made, "no {kind} succeeded:\n{}", show(exchanges));
    }
}

/// Whether the store's refusal (403) is in `err`'s chain of causes.
fn is_refusal(err: &Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(object_store::Error::PermissionDenied { .. }) = e.downcast_ref() {
            return true;
        }
        source = e.source();
    }
    false
}

/// The names of the manifests beside the remote `name`, listed by the owner.
async fn manifests(fx: &Fixture, name: &str) -> Vec<String> {
    let remote = fx.remote(name);
    let prefix = object_store::path::Path::from(format!("{}.s3sqlite/m", remote.key()));
    let listed = remote
        .store()
        .list_with_delimiter(Some(&prefix))
        .await
        .unwrap();
    let mut names: Vec<String> = listed
        .objects
        .into_iter()
        .filter_map(|o| o.location.filename().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// The content hash of the version a push recorded, in hex.
fn content_hash(version: Option<&RemoteVersion>) -> String {
    let stamp = version.and_then(|v| v.stamp.as_ref());
    let hash: ContentHash = stamp.expect("a version with a stamp").content_hash;
    hash.to_hex()
}

/// The database the owner sees at `name` holds exactly `replica`'s bytes.
async fn landed(fx: &Fixture, name: &str, replica: &Replica) {
    let local = std::fs::read(replica.local_path()).unwrap();
    let remote = remote_bytes(fx, name).await;
    assert_eq!(remote.len(), local.len(), "the size of what landed");
    assert!(remote == local, "what landed differs from the local copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_policy_is_enough_for_a_replica_and_no_more() {
    let setup = Setup::new().await;
    let fx = &setup.fx;

    // without the policy the user may do nothing here
    let refused = HttpLog::new();
    let opened = setup
        .open("app.db", "refused.db", incremental(), &refused)
        .await;
    assert!(
        matches!(opened, Err(Error::MissingOrForbidden { .. })),
        "an open before the policy: {opened:?}"
    );

    let policy = setup.documented_policy();
    println!("policy for {}: {policy}", setup.user.key);
    setup.put_policy(&policy).await;

    // a cold open of a database nobody pushed, and a whole push
    let log = HttpLog::new();
    let mut a = setup
        .open("app.db", "a.db", incremental(), &log)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "a cold open of a new database: {e}\n{}",
                show(&all(&[&log]))
            )
        });
    assert_eq!(a.opened().action, SyncAction::Created);
    build(a.local_path(), PAD_MIB);
    let first = a.push().await.unwrap();
    assert_eq!(first.action, SyncAction::Uploaded);
    landed(fx, "app.db", &a).await;
    let v1 = content_hash(first.version.as_ref());
    assert_eq!(manifests(fx, "app.db").await, [v1]);

    // reopened from its local copy
    a.close().await.map_err(|(_, e)| e).unwrap();
    let mut a = setup
        .open("app.db", "a.db", incremental(), &log)
        .await
        .unwrap();
    assert_eq!(a.opened().action, SyncAction::Reused);

    // a completion that fails three times: the upload is aborted, nothing
    // changes
    update(a.local_path(), "second");
    let before = fx.remote("app.db").head().await.unwrap().unwrap();
    log.fail_completes(&[500, 500, 500]);
    let failed = a.push().await;
    assert!(
        failed.is_err(),
        "a push whose completion failed: {failed:?}"
    );
    let after = fx.remote("app.db").head().await.unwrap().unwrap();
    assert!(
        after.same_object(&before),
        "the failed push moved the object"
    );
    let left = fx.remote("app.db").unfinished_uploads().await.unwrap();
    assert!(left.is_empty(), "uploads left: {left:?}");

    // the same change, sent as parts and copies
    let second = a.push().await.unwrap();
    println!("incremental push: {second}");
    assert!(
        second.parts_sent >= 1 && second.parts_copied >= 2,
        "{second}"
    );
    landed(fx, "app.db", &a).await;

    // a third version retires the manifest of the first
    update(a.local_path(), "third");
    let third = a.push().await.unwrap();
    assert!(third.parts_copied >= 2, "{third}");
    landed(fx, "app.db", &a).await;
    let mut kept = [&second, &third].map(|r| content_hash(r.version.as_ref()));
    kept.sort();
    assert_eq!(
        manifests(fx, "app.db").await,
        kept,
        "the manifests beside the object\n{}",
        show(&log.exchanges())
    );

    // reads of what the owner wrote: a cold open, and a replica that is
    // behind fetching the change through the manifest
    setup.owner_writes("owner.db", "owner's").await;
    let b_log = HttpLog::new();
    let b = setup
        .open("app.db", "b.db", ReplicaOptions::new(), &b_log)
        .await
        .unwrap();
    assert_eq!(b.opened().action, SyncAction::Downloaded);
    assert_eq!(values(b.local_path()), ["owner's"]);
    let pushes = log.exchanges().len();
    let pulled = a.pull().await.unwrap();
    println!("pull of the owner's version: {pulled}");
    assert_eq!(pulled.action, SyncAction::Downloaded);
    assert!(pulled.ranges_fetched >= 1, "{pulled}");
    assert_eq!(values(a.local_path()), ["owner's"]);
    let pull = &log.exchanges()[pushes..];
    none_refused_and_each_made(pull, &["GET of a manifest", "GET of the database"]);

    none_refused_and_each_made(
        &all(&[&log, &b_log]),
        &[
            "HEAD of the database",
            "GET of the database",
            "PUT of the database",
            "ListObjectsV2",
            "PUT of a manifest",
            "GET of a manifest",
            "DELETE of a manifest",
            "CreateMultipartUpload",
            "UploadPart",
            "UploadPartCopy",
            "CompleteMultipartUpload",
            "ListMultipartUploads",
            "AbortMultipartUpload",
        ],
    );

    // a key the policy does not name: reading it is refused by name
    seed(fx, "other.db", &["owner's"]).await;
    let other = setup
        .open(
            "other.db",
            "other.db",
            ReplicaOptions::new(),
            &HttpLog::new(),
        )
        .await;
    let Err(err) = other else {
        panic!("an open of a key outside the policy succeeded");
    };
    assert!(matches!(err, Error::AccessDenied { .. }), "{err:?}");
    let message = err.to_string();
    println!("a read outside the policy: {message}");
    assert!(message.contains(&fx.url("other.db")), "{message}");
    assert!(message.contains("s3:GetObject"), "{message}");
    assert!(
        !fx.local("other.db").exists(),
        "the failed open left a file"
    );

    // writing one is refused too, and nothing lands
    let mut c = setup
        .open(
            "elsewhere.db",
            "c.db",
            ReplicaOptions::new(),
            &HttpLog::new(),
        )
        .await
        .unwrap();
    common::write(c.local_path(), &["refused"]);
    let pushed = c.push().await;
    let Err(err) = pushed else {
        panic!("a push to a key outside the policy succeeded");
    };
    println!("a write outside the policy: {err}");
    assert!(matches!(err, Error::WriteDenied { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&fx.url("elsewhere.db")), "{message}");
    assert!(message.contains("s3:PutObject"), "{message}");
    assert!(fx.remote("elsewhere.db").head().await.unwrap().is_none());

    setup.delete_policy().await;
}

/// With versioning on, a download pins each GET to the version id, which
/// needs `s3:GetObjectVersion`: the documented policy grants it, and
/// without it a cold open of what the owner wrote is refused.
///
/// RGW 16 refuses every `If-Match` PUT on a bucket with versioning
/// (412 even when the tag matches), so the owner's version is written
/// unconditionally here, and the user's replica pushes only its first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_versioned_bucket_the_documented_policy_is_enough() {
    let setup = Setup::new().await;
    let fx = &setup.fx;
    enable_versioning(&setup.fx).await.unwrap();
    let policy = setup.documented_policy();
    setup.put_policy(&policy).await;

    let log = HttpLog::new();
    let mut a = setup
        .open("app.db", "a.db", incremental(), &log)
        .await
        .unwrap();
    build(a.local_path(), 8);
    a.push().await.unwrap();
    landed(fx, "app.db", &a).await;

    let owners = fx.dir().join("owner.db");
    std::fs::copy(a.local_path(), &owners).unwrap();
    update(&owners, "owner's");
    let size = std::fs::metadata(&owners).unwrap().len();
    let stamp = Stamp::new(ContentHash::of_file(&owners).unwrap(), size);
    let written = fx.remote("app.db");
    let written = written.upload(&owners, &WriteCondition::Overwrite, &stamp);
    assert!(written.await.unwrap().version.is_some(), "no version id");

    let b_log = HttpLog::new();
    let b = setup
        .open("app.db", "b.db", ReplicaOptions::new(), &b_log)
        .await
        .unwrap();
    assert_eq!(values(b.local_path()), ["owner's"]);
    let pulled = a.pull().await.unwrap();
    assert_eq!(pulled.action, SyncAction::Downloaded);
    assert_eq!(values(a.local_path()), ["owner's"]);
    none_refused_and_each_made(
        &all(&[&log, &b_log]),
        &["GET of the database with versionId"],
    );

    let without = policy.replace("\"s3:GetObjectVersion\",", "");
    assert_ne!(
        without, policy,
        "the documented policy grants s3:GetObjectVersion"
    );
    setup.put_policy(&without).await;
    let opened = setup
        .open("app.db", "c.db", ReplicaOptions::new(), &HttpLog::new())
        .await;
    let Err(err) = opened else {
        panic!("a cold open without s3:GetObjectVersion succeeded on a versioned bucket");
    };
    println!("a pinned read without s3:GetObjectVersion: {err}");
    assert!(is_refusal(&err), "{err:?}");

    setup.delete_policy().await;
}
