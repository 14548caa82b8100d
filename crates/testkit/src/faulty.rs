//! [`FaultyRemote`]: a wrapping remote that counts requests and injects faults.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use s3sqlite_core::{
    ChangedUpload, ContentHash, Downloaded, Error, RemoteStore, RemoteVersion, Result, Stamp,
    TransferOptions, UploadStarted, WriteCondition, async_trait,
};

/// A kind of request to a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`RemoteStore::head`].
    Head,
    /// [`RemoteStore::download`] and [`RemoteStore::download_ranges`].
    Download,
    /// [`RemoteStore::upload`].
    Upload,
}

impl Op {
    fn index(self) -> usize {
        match self {
            Op::Head => 0,
            Op::Download => 1,
            Op::Upload => 2,
        }
    }
}

/// The error an injected fault returns, found as the source of
/// [`Error::Remote`]: tests can tell it from a real failure by downcasting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("injected fault: {0}")]
pub struct InjectedFault(pub String);

#[derive(Debug, Clone)]
enum Fault {
    /// The `nth` call of `op` fails before it reaches the remote.
    FailNth(Op, usize),
    /// The next upload lands, then reports an error.
    FailAfterLanding,
    /// The `nth` call of `op` fails as a reset connection would.
    ResetNth(Op, usize),
    /// The next upload lands, then reports a reset connection.
    ResetAfterLanding,
    /// The next upload reads this many bytes of the file, then fails
    /// without landing.
    FailUploadAfter(u64),
    /// The next upload lands only this many bytes of the file, with the
    /// whole file's stamp, then fails.
    TearUpload(u64),
    /// The next download writes this many bytes, then fails.
    FailDownloadAfter(u64),
    /// The next download keeps this many bytes and reports success.
    TruncateDownload(u64),
    /// The next download flips the byte at this offset and reports success.
    CorruptDownload(u64),
    /// The next download finds the remote overwritten with this file.
    OverwriteDuringDownload(PathBuf),
    /// Every call of `op` waits this long first.
    Delay(Op, Duration),
    /// Every call of `op` fails before it reaches the remote.
    FailEvery(Op),
}

/// Wraps any [`RemoteStore`]: counts requests by [`Op`] and injects faults.
///
/// Faults are armed with `&self` methods and each fires once (except
/// [`delay`](Self::delay)); with none armed it passes everything through.
///
/// ```
/// use std::sync::Arc;
/// use s3sqlite_core::{Replica, ReplicaOptions};
/// use s3sqlite_testkit::{FaultyRemote, Op, memory_remote};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let faulty = Arc::new(FaultyRemote::new(memory_remote("app.db")));
/// let dir = tempfile::tempdir().unwrap();
/// let options = ReplicaOptions::new().with_local_path(dir.path().join("app.db"));
/// let replica = Replica::open(Arc::clone(&faulty), options).await?;
/// assert_eq!(faulty.calls(Op::Head), 1);
/// assert_eq!(faulty.calls(Op::Download), 0);
/// # Ok::<(), s3sqlite_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct FaultyRemote<R> {
    inner: R,
    calls: [AtomicUsize; 3],
    faults: Mutex<Vec<Fault>>,
}

impl<R: RemoteStore> FaultyRemote<R> {
    /// Wraps `inner` with no fault armed.
    pub fn new(inner: R) -> Self {
        FaultyRemote {
            inner,
            calls: Default::default(),
            faults: Mutex::new(Vec::new()),
        }
    }

    /// The wrapped remote.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// How many calls of `op` were made (failed ones included).
    pub fn calls(&self, op: Op) -> usize {
        self.calls[op.index()].load(Ordering::SeqCst)
    }

    fn arm(&self, fault: Fault) -> &Self {
        self.faults.lock().expect("fault list").push(fault);
        self
    }

    /// The `n`th call of `op` from now (1 = the next) fails before it
    /// reaches the remote.
    pub fn fail_nth(&self, op: Op, n: usize) -> &Self {
        let made = self.calls(op);
        self.arm(Fault::FailNth(op, made + n.max(1)))
    }

    /// The `n`th call of `op` from now (1 = the next) fails before it
    /// reaches the remote, as a reset connection would: a transient error
    /// ([`s3sqlite_core::Error::is_transient`]) that the engine tries again.
    pub fn reset_nth(&self, op: Op, n: usize) -> &Self {
        let made = self.calls(op);
        self.arm(Fault::ResetNth(op, made + n.max(1)))
    }

    /// The next upload lands on the remote, then reports a reset
    /// connection: the response lost on the way back.
    pub fn reset_after_landing(&self) -> &Self {
        self.arm(Fault::ResetAfterLanding)
    }

    /// The next upload lands on the remote, then reports an error: a crash
    /// between the upload and the record.
    pub fn fail_after_landing(&self) -> &Self {
        self.arm(Fault::FailAfterLanding)
    }

    /// The next upload reads `bytes` of the file, then fails without landing:
    /// a connection lost during the upload.
    pub fn fail_upload_after(&self, bytes: u64) -> &Self {
        self.arm(Fault::FailUploadAfter(bytes))
    }

    /// The next upload lands only the first `bytes` of the file, stamped as
    /// the whole file, then reports an error: what a store that keeps the
    /// partial body of an interrupted PUT holds after the uploader died.
    pub fn tear_upload(&self, bytes: u64) -> &Self {
        self.arm(Fault::TearUpload(bytes))
    }

    /// The next download writes `bytes`, then fails: a connection lost
    /// during the download.
    pub fn fail_download_after(&self, bytes: u64) -> &Self {
        self.arm(Fault::FailDownloadAfter(bytes))
    }

    /// The next download keeps only `bytes` but reports success: a remote
    /// that lies about what it sent.
    pub fn truncate_download(&self, bytes: u64) -> &Self {
        self.arm(Fault::TruncateDownload(bytes))
    }

    /// The next download flips the byte at `offset` but reports success: a
    /// proxy, disk or store that damages bytes on the way.
    pub fn corrupt_download(&self, offset: u64) -> &Self {
        self.arm(Fault::CorruptDownload(offset))
    }

    /// The next download finds the remote overwritten with the database at
    /// `path` after the caller's HEAD: another writer landing while the
    /// caller downloads the version it saw.
    pub fn overwrite_during_download(&self, path: impl Into<PathBuf>) -> &Self {
        self.arm(Fault::OverwriteDuringDownload(path.into()))
    }

    /// Every call of `op` waits `delay` before it proceeds.
    pub fn delay(&self, op: Op, delay: Duration) -> &Self {
        self.arm(Fault::Delay(op, delay))
    }

    /// Every call of `op` from now on fails before it reaches the remote,
    /// as a store that is down would, until [`heal`](Self::heal).
    pub fn fail_every(&self, op: Op) -> &Self {
        self.arm(Fault::FailEvery(op))
    }

    /// Disarms every fault: from now on, calls pass through.
    pub fn heal(&self) -> &Self {
        self.faults.lock().expect("fault list").clear();
        self
    }

    fn take(&self, pick: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut faults = self.faults.lock().expect("fault list");
        let i = faults.iter().position(pick)?;
        Some(faults.remove(i))
    }

    /// Counts the call and applies delays and `FailNth`.
    async fn enter(&self, op: Op) -> Result<()> {
        let n = self.calls[op.index()].fetch_add(1, Ordering::SeqCst) + 1;
        let delay = self
            .faults
            .lock()
            .expect("fault list")
            .iter()
            .find_map(|f| match f {
                Fault::Delay(o, d) if *o == op => Some(*d),
                _ => None,
            });
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let down = self
            .faults
            .lock()
            .expect("fault list")
            .iter()
            .any(|f| matches!(f, Fault::FailEvery(o) if *o == op));
        if down
            || self
                .take(|f| matches!(f, Fault::FailNth(o, nth) if *o == op && *nth == n))
                .is_some()
        {
            return Err(self.injected(format!("{op:?} call {n} failed")));
        }
        if self
            .take(|f| matches!(f, Fault::ResetNth(o, nth) if *o == op && *nth == n))
            .is_some()
        {
            return Err(self.reset(format!("{op:?} call {n}: connection reset")));
        }
        Ok(())
    }

    fn reset(&self, what: String) -> Error {
        Error::Remote {
            url: self.inner.to_string(),
            source: object_store::Error::Generic {
                store: "FaultyRemote",
                source: Box::new(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    InjectedFault(what),
                )),
            },
        }
    }

    fn injected(&self, what: String) -> Error {
        Error::Remote {
            url: self.inner.to_string(),
            source: object_store::Error::Generic {
                store: "FaultyRemote",
                source: Box::new(InjectedFault(what)),
            },
        }
    }
}

impl<R: RemoteStore> fmt::Display for FaultyRemote<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

#[async_trait]
impl<R: RemoteStore> RemoteStore for FaultyRemote<R> {
    async fn head(&self) -> Result<Option<RemoteVersion>> {
        self.enter(Op::Head).await?;
        self.inner.head().await
    }

    async fn download(
        &self,
        dest: &Path,
        expected: &RemoteVersion,
        transfer: &TransferOptions,
    ) -> Result<Downloaded> {
        self.enter(Op::Download).await?;
        if let Some(Fault::OverwriteDuringDownload(path)) =
            self.take(|f| matches!(f, Fault::OverwriteDuringDownload(_)))
        {
            let size = std::fs::metadata(&path)
                .map_err(|e| Error::Io {
                    op: "read metadata of",
                    path: path.clone(),
                    source: e,
                })?
                .len();
            let stamp = Stamp::new(ContentHash::of_file(&path)?, size);
            self.inner
                .upload(&path, &WriteCondition::Overwrite, &stamp)
                .await?;
        }
        let downloaded = self.inner.download(dest, expected, transfer).await?;
        let n = downloaded.size;
        let cut = |len: u64| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(dest)
                .and_then(|f| f.set_len(len))
                .map_err(|e| Error::Io {
                    op: "truncate",
                    path: dest.to_owned(),
                    source: e,
                })
        };
        let picked = self.take(|f| {
            matches!(
                f,
                Fault::TruncateDownload(_)
                    | Fault::FailDownloadAfter(_)
                    | Fault::CorruptDownload(_)
            )
        });
        match picked {
            Some(Fault::CorruptDownload(offset)) => {
                flip_byte(dest, offset).map_err(|e| Error::Io {
                    op: "corrupt",
                    path: dest.to_owned(),
                    source: e,
                })?;
                Ok(Downloaded::new(n))
            }
            Some(Fault::TruncateDownload(keep)) => {
                let keep = keep.min(n);
                cut(keep)?;
                Ok(Downloaded::new(keep))
            }
            Some(Fault::FailDownloadAfter(keep)) => {
                cut(keep.min(n))?;
                Err(self.injected(format!("download failed after {keep} bytes")))
            }
            _ => Ok(downloaded),
        }
    }

    async fn upload(
        &self,
        src: &Path,
        condition: &WriteCondition,
        stamp: &Stamp,
    ) -> Result<RemoteVersion> {
        self.enter(Op::Upload).await?;
        if let Some(Fault::FailUploadAfter(bytes)) =
            self.take(|f| matches!(f, Fault::FailUploadAfter(_)))
        {
            let mut file = std::fs::File::open(src).map_err(|e| Error::Io {
                op: "open",
                path: src.to_owned(),
                source: e,
            })?;
            let mut sink = std::io::sink();
            std::io::copy(&mut std::io::Read::take(&mut file, bytes), &mut sink).map_err(|e| {
                Error::Io {
                    op: "read",
                    path: src.to_owned(),
                    source: e,
                }
            })?;
            return Err(self.injected(format!("upload failed after {bytes} bytes")));
        }
        if let Some(Fault::TearUpload(bytes)) = self.take(|f| matches!(f, Fault::TearUpload(_))) {
            let io = |op, e| Error::Io {
                op,
                path: src.to_owned(),
                source: e,
            };
            let torn =
                tempfile::NamedTempFile::new().map_err(|e| io("create a temp file for", e))?;
            let mut file = std::fs::File::open(src).map_err(|e| io("open", e))?;
            std::io::copy(
                &mut std::io::Read::take(&mut file, bytes),
                &mut torn.as_file(),
            )
            .map_err(|e| io("read", e))?;
            self.inner.upload(torn.path(), condition, stamp).await?;
            return Err(self.injected(format!(
                "upload landed {bytes} bytes, then the uploader died"
            )));
        }
        let version = self.inner.upload(src, condition, stamp).await?;
        if self
            .take(|f| matches!(f, Fault::FailAfterLanding))
            .is_some()
        {
            return Err(self.injected("upload landed, then the connection was lost".to_owned()));
        }
        if self
            .take(|f| matches!(f, Fault::ResetAfterLanding))
            .is_some()
        {
            return Err(self.reset("upload landed, then the connection was reset".to_owned()));
        }
        Ok(version)
    }

    /// Counted as a download; a corruption armed for the next download
    /// flips its byte in the file after the ranges are written.
    async fn download_ranges(
        &self,
        dest: &Path,
        expected: &RemoteVersion,
        ranges: &[Range<u64>],
        transfer: &TransferOptions,
    ) -> Result<Option<u64>> {
        self.enter(Op::Download).await?;
        let fetched = self
            .inner
            .download_ranges(dest, expected, ranges, transfer)
            .await?;
        if let Some(Fault::CorruptDownload(offset)) =
            self.take(|f| matches!(f, Fault::CorruptDownload(_)))
        {
            flip_byte(dest, offset).map_err(|e| Error::Io {
                op: "corrupt",
                path: dest.to_owned(),
                source: e,
            })?;
        }
        Ok(fetched)
    }

    async fn put_manifest(&self, hash: &ContentHash, manifest: &[u8]) -> Result<bool> {
        self.inner.put_manifest(hash, manifest).await
    }

    async fn get_manifest(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        self.inner.get_manifest(hash).await
    }

    async fn delete_manifest(&self, hash: &ContentHash) -> Result<()> {
        self.inner.delete_manifest(hash).await
    }

    fn commits_conditional_multipart(&self) -> bool {
        self.inner.commits_conditional_multipart()
    }

    /// Forwarded as it is: no fault applies to it.
    async fn upload_changed(
        &self,
        src: &Path,
        base: &RemoteVersion,
        changed: &[Range<u64>],
        stamp: &Stamp,
        transfer: &TransferOptions,
        started: &UploadStarted<'_>,
    ) -> Result<Option<ChangedUpload>> {
        self.inner
            .upload_changed(src, base, changed, stamp, transfer, started)
            .await
    }

    async fn abort_uploads(&self, upload_id: Option<&str>, since: SystemTime) -> Result<u32> {
        self.inner.abort_uploads(upload_id, since).await
    }

    /// Forwarded as it is: no fault applies to it.
    async fn versions(&self) -> Result<Vec<RemoteVersion>> {
        self.inner.versions().await
    }

    /// Forwarded as it is: no fault applies to it.
    async fn version(&self, id: &str) -> Result<Option<RemoteVersion>> {
        self.inner.version(id).await
    }
}

/// XORs the byte at `offset` of the file at `path` with 0xff.
fn flip_byte(path: &Path, offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut byte)?;
    byte[0] ^= 0xff;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(&byte)
}
