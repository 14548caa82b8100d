//! [`SilentServer`]: an endpoint that accepts connections and never answers.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use s3sqlite_core::ObjectStoreRemoteBuilder;

use crate::{Error, Result};

/// A TCP endpoint on a loopback port that accepts every connection, reads
/// what it is sent, and never answers: what a hung server, a black-holing
/// proxy or a stalled load balancer looks like to a client. Stops on drop.
///
/// Use it to check that your code fails within a bounded time instead of
/// hanging:
///
/// ```
/// use std::time::Duration;
/// use s3sqlite_core::RemoteStore;
/// use s3sqlite_testkit::SilentServer;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let silent = SilentServer::start()?;
/// let remote = silent
///     .remote_builder("s3://bucket/app.db")
///     .with_request_timeout(Duration::from_millis(300))
///     .build()?;
/// let err = remote.head().await.unwrap_err();
/// assert!(err.to_string().contains("timed out"), "{err}");
/// # Ok::<(), s3sqlite_testkit::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct SilentServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SilentServer {
    /// Listens on a free loopback port.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when no port can be bound.
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::io("bind a loopback port for", "the silent server", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("read the address of", "the silent server", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut held: Vec<JoinHandle<()>> = Vec::new();
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    // read and discard, so a client's body never blocks on a
                    // full buffer; the connection stays open until the
                    // client gives up
                    held.push(std::thread::spawn(move || drain(stream)));
                }
            }
            drop(held);
        });
        Ok(SilentServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A builder for the S3 remote at `url` pointed at this endpoint, with
    /// plain HTTP allowed and dummy credentials.
    pub fn remote_builder(&self, url: &str) -> ObjectStoreRemoteBuilder {
        s3sqlite_core::ObjectStoreRemote::builder(url)
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_option("aws_access_key_id", "silent")
            .with_option("aws_secret_access_key", "silent")
    }
}

fn drain(mut stream: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the accept loop so it sees the flag
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
