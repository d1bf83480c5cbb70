//! Where a file's bytes are ([`Source`]), and its identity: one read that hashes every byte
//! (SHA-256), checks that the whole is UTF-8, keeps the first 64 KiB for detection and reports
//! progress. The write pass checks the hash again: a file that changed is never half imported.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::Progress;
use super::error::ImportError;

/// Where the file's bytes are.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk, read as a stream (twice: to decide, then to write).
    Path(PathBuf),
    /// Bytes already in memory (a web upload, a test), shared, not copied.
    Bytes(SharedBytes),
}

/// Bytes in memory that the import reads without copying them (a web upload stays where it
/// arrived, however many times it is read).
#[derive(Clone)]
pub struct SharedBytes(Arc<dyn AsRef<[u8]> + Send + Sync>);

impl std::ops::Deref for SharedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl std::fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes", self.len())
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Source {
    /// A copy of `b`.
    pub fn bytes(b: &[u8]) -> Self {
        Source::shared(b.to_vec())
    }

    /// Bytes held elsewhere too (`bytes::Bytes`, `Vec<u8>`, `Arc<[u8]>`): shared, not copied.
    pub fn shared(b: impl AsRef<[u8]> + Send + Sync + 'static) -> Self {
        Source::Bytes(SharedBytes(Arc::new(b)))
    }

    /// The file's size in bytes.
    pub fn size(&self) -> std::io::Result<u64> {
        match self {
            Source::Path(p) => Ok(std::fs::metadata(p)?.len()),
            Source::Bytes(b) => Ok(b.len() as u64),
        }
    }

    pub(super) fn reader(&self) -> std::io::Result<Box<dyn Read + Send>> {
        match self {
            Source::Path(p) => Ok(Box::new(std::fs::File::open(p)?)),
            Source::Bytes(b) => Ok(Box::new(std::io::Cursor::new(b.clone()))),
        }
    }

    pub(super) fn read_all(&self) -> std::io::Result<SharedBytes> {
        match self {
            Source::Path(p) => Ok(SharedBytes(Arc::new(std::fs::read(p)?))),
            Source::Bytes(b) => Ok(b.clone()),
        }
    }
}

/// What the first read of a file found.
pub(super) struct Identity {
    /// Its size in bytes.
    pub(super) total: u64,
    /// The SHA-256 of every byte, in hex.
    pub(super) sha: String,
    /// Whether the whole file is UTF-8.
    pub(super) utf8: bool,
    /// Its first 64 KiB: every format is recognised from its first kilobytes.
    pub(super) head: Vec<u8>,
}

/// Step 1: reads the whole file once (on a blocking thread) for its identity.
pub(super) async fn identify(
    source: &Source,
    file: &str,
    progress: &Arc<dyn Progress>,
) -> Result<Identity, ImportError> {
    let total = source.size().map_err(|e| ImportError::io(file, e))?;
    let (source, progress) = (source.clone(), progress.clone());
    let (sha, utf8, head) =
        tokio::task::spawn_blocking(move || -> std::io::Result<(String, bool, Vec<u8>)> {
            progress.phase("checking", total);
            let mut r = Hashing::new(source.reader()?, progress.as_ref());
            let mut head = Vec::with_capacity(1 << 16);
            (&mut r).take(1 << 16).read_to_end(&mut head)?;
            let (sha, utf8) = r.finish()?;
            Ok((sha, utf8, head))
        })
        .await
        .map_err(|e| ImportError::task(file, e))?
        .map_err(|e| ImportError::io(file, e))?;
    Ok(Identity {
        total,
        sha,
        utf8,
        head,
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads through, hashing every byte, checking that the whole is UTF-8, and reporting
/// progress.
pub(super) struct Hashing<'p, R> {
    inner: R,
    hasher: Sha256,
    progress: &'p dyn Progress,
    unreported: u64,
    utf8: bool,
    /// The start of a character cut by the end of the last read.
    carry: Vec<u8>,
}

impl<'p, R: Read> Hashing<'p, R> {
    pub(super) fn new(inner: R, progress: &'p dyn Progress) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            progress,
            unreported: 0,
            utf8: true,
            carry: Vec::new(),
        }
    }

    /// Reads what is left and returns the hash of everything and whether it is all UTF-8.
    pub(super) fn finish(mut self) -> std::io::Result<(String, bool)> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        self.progress.advance(self.unreported);
        let utf8 = self.utf8 && self.carry.is_empty();
        Ok((hex(&self.hasher.finalize()), utf8))
    }

    fn check_utf8(&mut self, data: &[u8]) {
        if !self.utf8 {
            return;
        }
        let joined;
        let data = if self.carry.is_empty() {
            data
        } else {
            joined = [self.carry.as_slice(), data].concat();
            &joined
        };
        match std::str::from_utf8(data) {
            Ok(_) => self.carry.clear(),
            // Cut at the end of this read: the rest comes with the next one.
            Err(e) if e.error_len().is_none() => {
                self.carry = data[e.valid_up_to()..].to_vec();
            }
            Err(_) => self.utf8 = false,
        }
    }
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.check_utf8(&buf[..n]);
        self.unreported += n as u64;
        if self.unreported >= 1 << 20 {
            self.progress.advance(self.unreported);
            self.unreported = 0;
        }
        Ok(n)
    }
}
