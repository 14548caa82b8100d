//! `gs://` remotes on fake-gcs-server (`eval "$(.ci/gcs-server start)"`,
//! which exports `S3SQLITE_TEST_GCS_ENDPOINT`): everything a replica does
//! that reads, on object_store's Google Cloud Storage client as it ships.
//!
//! The emulator refuses the XML API's PUT object that object_store sends
//! (`400 invalid uploadType`, fsouza/fake-gcs-server#331), so no push can
//! land: objects are written here through its JSON API instead, as another
//! tool would write them, and a push is checked to fail cleanly. Conditional
//! writes on GCS (`x-goog-if-generation-match`) rest on object_store's own
//! tests against Google Cloud Storage.
#![cfg(feature = "gcp")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use s3sqlite_core::object_store::ClientOptions;
use s3sqlite_core::object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpRequestBody, ReqwestConnector,
};
use s3sqlite_core::probe::{CheckKind, Outcome, ProbeOptions, Verdict, probe};
use s3sqlite_core::{
    ErrorChain, ObjectStoreRemote, ObjectStoreRemoteBuilder, Replica, ReplicaOptions, Status,
    SyncAction,
};
use s3sqlite_testkit::{Exchange, HttpLog};
use tempfile::TempDir;

/// The variable naming the emulator's endpoint.
const ENDPOINT_VAR: &str = "S3SQLITE_TEST_GCS_ENDPOINT";
/// The variable naming a bucket the tests may write in.
const BUCKET_VAR: &str = "S3SQLITE_TEST_GCS_BUCKET";
/// What to do when the emulator is missing.
const START_HINT: &str = "start fake-gcs-server with `eval \"$(.ci/gcs-server start)\"`, \
     which installs it and exports it (`.ci/test` does this)";

/// One test's corner of the emulator: keys under a prefix of its own, and a
/// temp folder for local copies.
struct Gcs {
    endpoint: String,
    bucket: String,
    prefix: String,
    dir: TempDir,
    http: HttpClient,
}

/// An object as the JSON API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Object {
    generation: String,
    md5: String,
    size: u64,
}

impl Gcs {
    /// The emulator named by `S3SQLITE_TEST_GCS_ENDPOINT`, its bucket made
    /// (an existing one is fine); panics, saying what to start, when the
    /// variable is unset or the emulator does not answer.
    async fn connect() -> Gcs {
        let endpoint = std::env::var(ENDPOINT_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| {
                panic!("no fake-gcs-server: {ENDPOINT_VAR} is not set; {START_HINT}")
            })
            .trim_end_matches('/')
            .to_owned();
        let bucket = std::env::var(BUCKET_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "s3sqlite-test".to_owned());
        let options = ClientOptions::new().with_allow_http(true);
        let http = ReqwestConnector::default()
            .connect(&options)
            .expect("an HTTP client");
        let gcs = Gcs {
            endpoint,
            bucket,
            prefix: unique_prefix(),
            dir: tempfile::Builder::new()
                .prefix("s3sqlite-gcs-")
                .tempdir()
                .expect("a temp folder"),
            http,
        };
        gcs.create_bucket().await;
        gcs
    }

    /// Creates the bucket through the JSON API; `409` (it exists) is fine.
    async fn create_bucket(&self) {
        let url = format!("{}/storage/v1/b?project=s3sqlite", self.endpoint);
        let body = serde_json::json!({ "name": self.bucket }).to_string();
        let sent = self
            .send("POST", &url, Some("application/json"), body.into_bytes())
            .await;
        let (status, body) = sent.unwrap_or_else(|err| {
            panic!(
                "fake-gcs-server at {} ({ENDPOINT_VAR}) is unreachable: {err}; {START_HINT}",
                self.endpoint
            )
        });
        assert!(
            status == 200 || status == 409,
            "creating bucket {} on fake-gcs-server at {} answered {status}: {}; {START_HINT}",
            self.bucket,
            self.endpoint,
            String::from_utf8_lossy(&body)
        );
    }

    /// Sends one request; returns the status and body.
    async fn send(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&'static str>,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut request = HttpRequest::new(HttpRequestBody::from(body));
        *request.method_mut() = method.parse().expect("a valid method");
        *request.uri_mut() = url.parse().expect("a valid URL");
        if let Some(content_type) = content_type {
            let value = content_type.parse().expect("a valid header value");
            request.headers_mut().insert("content-type", value);
        }
        let failed = |e: HttpError| format!("{method} {url} failed: {}", ErrorChain::new(&e));
        let response = self.http.execute(request).await.map_err(failed)?;
        let status = response.status().as_u16();
        let body = response.into_body().bytes().await.map_err(failed)?;
        Ok((status, body.to_vec()))
    }

    /// Sends one request that must answer 200; returns the body.
    async fn expect_ok(&self, method: &str, url: &str, body: Vec<u8>) -> Vec<u8> {
        let (status, body) = self
            .send(method, url, None, body)
            .await
            .unwrap_or_else(|e| panic!("{e}; {START_HINT}"));
        assert_eq!(
            status,
            200,
            "{method} {url}: {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    /// The object key of the remote database `name`.
    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    /// The `gs://` URL of the remote database `name`.
    fn url(&self, name: &str) -> String {
        format!("gs://{}/{}", self.bucket, self.key(name))
    }

    /// The JSON API's URL of the object `name`.
    fn object_url(&self, name: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.endpoint,
            self.bucket,
            encode(&self.key(name))
        )
    }

    /// A builder for the remote database `name`, pointed at the emulator the
    /// way object_store's GCS builder is pointed at one: a service-account
    /// key carrying `gcs_base_url` and `disable_oauth`.
    fn builder(&self, name: &str) -> ObjectStoreRemoteBuilder {
        let key = serde_json::json!({
            "gcs_base_url": self.endpoint,
            "disable_oauth": true,
            "private_key": "",
            "private_key_id": "",
            "client_email": "",
        });
        ObjectStoreRemote::builder(self.url(name))
            .with_option("google_service_account_key", key.to_string())
            .with_option("allow_http", "true")
    }

    /// The remote database `name`, every request recorded in `log`.
    fn logged(&self, name: &str, log: &HttpLog) -> ObjectStoreRemote {
        self.builder(name)
            .with_http_connector(log.connector())
            .build()
            .unwrap_or_else(|e| panic!("remote for {}: {e}", self.url(name)))
    }

    /// A path in the temp folder for a local copy.
    fn local(&self, name: &str) -> PathBuf {
        self.dir.path().join("local").join(name)
    }

    /// Opens a replica of the remote `name` at the local path `local`,
    /// recording its requests in `log`.
    async fn open(&self, name: &str, local: &str, log: &HttpLog) -> Replica {
        let options = ReplicaOptions::new().with_local_path(self.local(local));
        Replica::open(self.logged(name, log), options)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url(name)))
    }

    /// The bytes of a new database whose table `t` holds `values`.
    fn database(&self, values: &[&str]) -> Vec<u8> {
        let path = self.dir.path().join(format!("{}.db", unique_prefix()));
        common::write(&path, values);
        std::fs::read(&path).expect("read the new database")
    }

    /// Writes `bytes` as the object `name` through the JSON API (a media
    /// upload), as a tool other than object_store would: a new generation.
    async fn upload(&self, name: &str, bytes: &[u8]) -> Object {
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.endpoint,
            self.bucket,
            encode(&self.key(name))
        );
        parse_object(&self.expect_ok("POST", &url, bytes.to_vec()).await)
    }

    /// The object `name` as the JSON API describes it now.
    async fn object(&self, name: &str) -> Object {
        parse_object(
            &self
                .expect_ok("GET", &self.object_url(name), Vec::new())
                .await,
        )
    }

    /// The bytes of the object `name`, read through the JSON API.
    async fn bytes(&self, name: &str) -> Vec<u8> {
        let url = format!("{}?alt=media", self.object_url(name));
        self.expect_ok("GET", &url, Vec::new()).await
    }
}

/// The object a JSON API answer describes.
fn parse_object(body: &[u8]) -> Object {
    let json: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not an object resource ({e}): {body:?}"));
    let text = |field: &str| {
        json[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {json}"))
            .to_owned()
    };
    Object {
        generation: text("generation"),
        md5: text("md5Hash"),
        size: text("size").parse().expect("a numeric size"),
    }
}

/// `key` percent-encoded as one path segment or query value.
fn encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A prefix no other test of any run shares.
fn unique_prefix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("t-{}-{nanos}-{n}", std::process::id())
}

/// The page size times the page count the SQLite header of `bytes` gives.
fn header_size(bytes: &[u8]) -> u64 {
    let page_size = match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65536,
        n => u64::from(n),
    };
    let page_count = u32::from_be_bytes(bytes[28..32].try_into().expect("4 bytes"));
    page_size * u64::from(page_count)
}

/// The methods of `exchanges`, in order.
fn methods(exchanges: &[Exchange]) -> Vec<&str> {
    exchanges.iter().map(|e| e.method.as_str()).collect()
}

/// The requests in `exchanges`, a line each: method, query, `If-Match`,
/// status.
fn show(exchanges: &[Exchange]) -> String {
    exchanges
        .iter()
        .map(|e| {
            let if_match = e.if_match.as_deref().unwrap_or("-");
            format!(
                "{} ?{} If-Match: {if_match} -> {:?}",
                e.method, e.query, e.status
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `exchange` is a GET pinned to `generation`.
fn pinned_get(exchange: &Exchange, generation: &str) -> bool {
    exchange.method == "GET"
        && exchange
            .query
            .split('&')
            .any(|pair| pair == format!("generation={generation}"))
}

fn local_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_a_cold_open_downloads_a_database_the_json_api_wrote() {
    let gcs = Gcs::connect().await;
    let bytes = gcs.database(&["one", "two"]);
    let uploaded = gcs.upload("app.db", &bytes).await;
    assert_eq!(header_size(&bytes), bytes.len() as u64);

    let log = HttpLog::new();
    let replica = gcs.open("app.db", "a.db", &log).await;
    let exchanges = log.exchanges();
    println!("cold open of {}: {}", gcs.url("app.db"), replica.opened());
    println!("{}", show(&exchanges));
    assert_eq!(replica.opened().action, SyncAction::Downloaded);
    assert_eq!(replica.opened().bytes_down, bytes.len() as u64);
    // one GET, no HEAD: the first GET says which generation it read
    assert_eq!(methods(&exchanges), ["GET"], "{exchanges:#?}");
    let base = replica.base().expect("a base version").clone();
    assert_eq!(base.version.as_deref(), Some(uploaded.generation.as_str()));
    assert_eq!(base.e_tag, Some(format!("\"{}\"", uploaded.md5)));
    assert_eq!(base.size, uploaded.size);
    // written by another tool: no stamp, so the header's page count was
    // what the download was checked against
    assert!(base.stamp.is_none(), "{base:?}");
    drop(replica);

    let local = local_bytes(&gcs.local("a.db"));
    assert_eq!(local, bytes);
    assert_eq!(header_size(&local), local.len() as u64);
    assert_eq!(common::values(&gcs.local("a.db")), ["one", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_a_cold_open_refuses_a_database_shorter_than_its_header_says() {
    let gcs = Gcs::connect().await;
    let mut bytes = gcs.database(&["one"]);
    // a header that counts one page more than the object holds
    let count = u32::from_be_bytes(bytes[28..32].try_into().expect("4 bytes")) + 1;
    bytes[28..32].copy_from_slice(&count.to_be_bytes());
    assert!(header_size(&bytes) > bytes.len() as u64);
    gcs.upload("torn.db", &bytes).await;

    let options = ReplicaOptions::new().with_local_path(gcs.local("a.db"));
    let err = Replica::open(gcs.logged("torn.db", &HttpLog::new()), options)
        .await
        .expect_err("a database shorter than its header opened");
    println!("open of a short database: {err}");
    assert!(
        matches!(err, s3sqlite_core::Error::Corrupt { .. }),
        "{err:?}"
    );
    assert!(!gcs.local("a.db").exists(), "a damaged download was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_a_warm_open_sends_one_head_and_no_get() {
    let gcs = Gcs::connect().await;
    gcs.upload("app.db", &gcs.database(&["one"])).await;
    drop(gcs.open("app.db", "a.db", &HttpLog::new()).await);

    let log = HttpLog::new();
    let replica = gcs.open("app.db", "a.db", &log).await;
    let exchanges = log.exchanges();
    println!("warm open: {}\n{}", replica.opened(), show(&exchanges));
    assert_eq!(replica.opened().action, SyncAction::Reused);
    assert_eq!(replica.opened().bytes_down, 0);
    assert_eq!(methods(&exchanges), ["HEAD"], "{exchanges:#?}");
    assert_eq!(exchanges[0].status, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_status_tells_clean_behind_ahead_and_diverged_by_generation() {
    let gcs = Gcs::connect().await;
    let bytes = gcs.database(&["one"]);
    let first = gcs.upload("app.db", &bytes).await;
    let log = HttpLog::new();
    let mut a = gcs.open("app.db", "a.db", &log).await;
    log.clear();
    assert_eq!(a.status().await.unwrap(), Status::Clean);
    assert_eq!(methods(&log.exchanges()), ["HEAD"]);

    // the same bytes again: the same MD5 entity tag, a new generation, and
    // the generation is what decides
    let again = gcs.upload("app.db", &bytes).await;
    assert_eq!(again.md5, first.md5);
    assert_ne!(again.generation, first.generation);
    assert_eq!(a.status().await.unwrap(), Status::Behind);

    let mut b = gcs.open("app.db", "b.db", &HttpLog::new()).await;
    assert_eq!(b.status().await.unwrap(), Status::Clean);
    common::write(b.local_path(), &["local"]);
    assert_eq!(b.status().await.unwrap(), Status::Ahead);

    gcs.upload("app.db", &gcs.database(&["one", "two"])).await;
    assert_eq!(b.status().await.unwrap(), Status::Diverged);
    assert_eq!(a.status().await.unwrap(), Status::Behind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_a_new_generation_is_fetched_on_pull_and_on_open() {
    let gcs = Gcs::connect().await;
    gcs.upload("app.db", &gcs.database(&["one"])).await;
    let log = HttpLog::new();
    let mut a = gcs.open("app.db", "a.db", &log).await;
    drop(gcs.open("app.db", "b.db", &HttpLog::new()).await);

    let newer = gcs.database(&["one", "two"]);
    let second = gcs.upload("app.db", &newer).await;

    log.clear();
    let report = a.pull().await.unwrap();
    println!("pull: {report}");
    assert_eq!(report.action, SyncAction::Downloaded);
    let version = report.version.expect("a version");
    assert_eq!(version.version.as_deref(), Some(second.generation.as_str()));
    assert_eq!(local_bytes(a.local_path()), newer);
    assert_eq!(common::values(a.local_path()), ["one", "two"]);
    let exchanges = log.exchanges();
    println!("{}", show(&exchanges));
    assert_eq!(methods(&exchanges), ["HEAD", "GET"], "{exchanges:#?}");
    assert!(
        pinned_get(&exchanges[1], &second.generation),
        "{exchanges:#?}"
    );

    // a clean copy of the older generation is replaced on open, by a
    // download pinned to the new generation
    let log = HttpLog::new();
    let replica = gcs.open("app.db", "b.db", &log).await;
    let exchanges = log.exchanges();
    println!("open behind: {}\n{exchanges:#?}", replica.opened());
    assert_eq!(replica.opened().action, SyncAction::Downloaded);
    assert_eq!(methods(&exchanges), ["HEAD", "GET"], "{exchanges:#?}");
    assert!(
        pinned_get(&exchanges[1], &second.generation),
        "{exchanges:#?}"
    );
    drop(replica);
    assert_eq!(local_bytes(&gcs.local("b.db")), newer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_a_generation_replaced_mid_download_restarts_it_on_the_new_one() {
    let gcs = Arc::new(Gcs::connect().await);
    let first = gcs.database(&["one"]);
    let newer = gcs.database(&["one", "two"]);
    assert_eq!(first.len(), newer.len(), "two parts each");
    let old = gcs.upload("app.db", &first).await;
    let log = HttpLog::new();
    let uploaded = Arc::new(Mutex::new(None));
    log.before_pinned_gets(1, {
        let (gcs, newer, uploaded) = (gcs.clone(), newer.clone(), uploaded.clone());
        move || {
            let (gcs, newer, uploaded) = (gcs.clone(), newer.clone(), uploaded.clone());
            Box::pin(async move {
                let object = gcs.upload("app.db", &newer).await;
                *uploaded.lock().unwrap() = Some(object);
            })
        }
    });
    let options = ReplicaOptions::new()
        .with_local_path(gcs.local("a.db"))
        .with_part_size(first.len() as u64 / 2)
        .with_parallelism(1);
    let replica = Replica::open(gcs.logged("app.db", &log), options)
        .await
        .unwrap();
    let exchanges = log.exchanges();
    println!(
        "moved mid-download: {}\n{}",
        replica.opened(),
        show(&exchanges)
    );
    let second = uploaded.lock().unwrap().clone().expect("the move ran");

    // the first part came unpinned; the second, pinned to the generation
    // the first reported, found it replaced (404: GCS keeps no old
    // generation in a bucket without versioning)
    assert_eq!(exchanges[0].method, "GET");
    assert!(
        !exchanges[0].query.contains("generation="),
        "{exchanges:#?}"
    );
    assert!(pinned_get(&exchanges[1], &old.generation), "{exchanges:#?}");
    assert_eq!(exchanges[1].status, Some(404), "{exchanges:#?}");
    assert_eq!(replica.opened().action, SyncAction::Downloaded);
    let base = replica.base().expect("a base version");
    assert_eq!(base.version.as_deref(), Some(second.generation.as_str()));
    assert_eq!(local_bytes(replica.local_path()), newer);
    assert_eq!(common::values(replica.local_path()), ["one", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_a_push_is_refused_by_the_emulator_and_changes_nothing() {
    let gcs = Gcs::connect().await;
    let bytes = gcs.database(&["one"]);
    let uploaded = gcs.upload("app.db", &bytes).await;
    let log = HttpLog::new();
    let mut replica = gcs.open("app.db", "a.db", &log).await;
    common::write(replica.local_path(), &["local"]);
    let before = local_bytes(replica.local_path());
    log.clear();

    let err = replica
        .push()
        .await
        .expect_err("fake-gcs-server took object_store's XML PUT");
    let exchanges = log.exchanges();
    println!("push: {err}\n{}", show(&exchanges));
    let message = err.to_string();
    assert!(
        matches!(err, s3sqlite_core::Error::Remote { .. }),
        "{err:?}"
    );
    assert!(message.contains(&gcs.url("app.db")), "{message}");
    // the store's refusal, in the message itself
    assert!(message.contains("400 Bad Request"), "{message}");
    assert!(message.contains("invalid uploadType"), "{message}");
    let puts: Vec<_> = exchanges.iter().filter(|e| e.method == "PUT").collect();
    assert_eq!(puts.len(), 1, "{exchanges:#?}");
    assert_eq!(puts[0].status, Some(400));

    assert_eq!(local_bytes(replica.local_path()), before);
    assert_eq!(gcs.object("app.db").await, uploaded);
    assert_eq!(gcs.bytes("app.db").await, bytes);
    assert_eq!(replica.status().await.unwrap(), Status::Ahead);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_the_probe_reports_what_the_emulator_does() {
    let gcs = Gcs::connect().await;
    let prefix = gcs.builder("probe").build().unwrap();
    let options = ProbeOptions::new()
        .with_writers(2)
        .with_rounds(1)
        .with_body_size(64 * 1024);
    let report = probe(&prefix, &options).await.unwrap();
    println!("fake-gcs-server ({}):\n{report}", options.body_size);

    let Verdict::NotSafe(reasons) = &report.verdict else {
        panic!("fake-gcs-server, which refuses every write, came out safe:\n{report}");
    };
    assert!(!reasons.is_empty(), "\n{report}");
    assert_eq!(
        report.check(CheckKind::Listing).unwrap().outcome,
        Outcome::Pass,
        "\n{report}"
    );
    let create = report.check(CheckKind::ConditionalCreate).unwrap();
    assert_eq!(create.outcome, Outcome::Fail, "\n{report}");
}
