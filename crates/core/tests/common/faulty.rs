//! A remote wrapper that counts requests and injects faults.

use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use s3sqlite_core::{
    Error, RemoteStore, RemoteVersion, Result, Stamp, TransferOptions, WriteCondition, async_trait,
};

/// One scripted fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next upload reaches the remote, then reports an error, as if the
    /// process died between the upload and the record.
    AfterUpload,
    /// The next upload fails before anything is sent.
    BeforeUpload,
    /// The next download stops after `n` bytes but says it is complete.
    TruncateDownload(u64),
}

#[derive(Debug)]
pub struct Faulty<R> {
    inner: R,
    heads: AtomicUsize,
    downloads: AtomicUsize,
    uploads: AtomicUsize,
    faults: Mutex<Vec<Fault>>,
}

impl<R: RemoteStore> Faulty<R> {
    pub fn new(inner: R) -> Self {
        Faulty {
            inner,
            heads: AtomicUsize::new(0),
            downloads: AtomicUsize::new(0),
            uploads: AtomicUsize::new(0),
            faults: Mutex::new(Vec::new()),
        }
    }

    pub fn inject(&self, fault: Fault) {
        self.faults.lock().unwrap().push(fault);
    }

    fn take(&self, pick: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap();
        let i = faults.iter().position(pick)?;
        Some(faults.remove(i))
    }

    pub fn heads(&self) -> usize {
        self.heads.load(Ordering::SeqCst)
    }

    pub fn downloads(&self) -> usize {
        self.downloads.load(Ordering::SeqCst)
    }

    pub fn uploads(&self) -> usize {
        self.uploads.load(Ordering::SeqCst)
    }

    fn injected(&self) -> Error {
        Error::Io {
            op: "reach (injected fault)",
            path: self.inner.to_string().into(),
            source: std::io::Error::other("injected fault"),
        }
    }
}

impl<R: RemoteStore> fmt::Display for Faulty<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

#[async_trait]
impl<R: RemoteStore> RemoteStore for Faulty<R> {
    async fn head(&self) -> Result<Option<RemoteVersion>> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        self.inner.head().await
    }

    async fn download(
        &self,
        dest: &Path,
        expected: &RemoteVersion,
        transfer: &TransferOptions,
    ) -> Result<u64> {
        self.downloads.fetch_add(1, Ordering::SeqCst);
        let n = self.inner.download(dest, expected, transfer).await?;
        if let Some(Fault::TruncateDownload(keep)) =
            self.take(|f| matches!(f, Fault::TruncateDownload(_)))
        {
            std::fs::OpenOptions::new()
                .write(true)
                .open(dest)
                .and_then(|f| f.set_len(keep))
                .unwrap();
            return Ok(keep);
        }
        Ok(n)
    }

    async fn upload(
        &self,
        src: &Path,
        condition: &WriteCondition,
        stamp: &Stamp,
    ) -> Result<RemoteVersion> {
        self.uploads.fetch_add(1, Ordering::SeqCst);
        if self.take(|f| *f == Fault::BeforeUpload).is_some() {
            return Err(self.injected());
        }
        let version = self.inner.upload(src, condition, stamp).await?;
        if self.take(|f| *f == Fault::AfterUpload).is_some() {
            return Err(self.injected());
        }
        Ok(version)
    }
}
