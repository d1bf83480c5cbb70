//! The backup directory is hostile ground: users put it on a NAS or a synced folder, so anyone
//! with access to that share can write there. Every name read from a file in it (the catalog, a
//! manifest) is only a name, never a path, until it is proven to be one of LedgerFlow's own
//! backup names; every file it deletes is first proven to be the backup the catalog recorded.
//!
//! Also: writes through a temporary name (write, fsync, rename, fsync the directory), and the
//! free space of a file system.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::BackupError;

/// The longest name LedgerFlow gives a backup (`ledgerflow_full_backup_YYYYMMDD_HHMMSS_NNNN` plus
/// its longest extension is far below this).
const MAX_NAME: usize = 96;

/// A backup's file name taken apart: `ledgerflow_{kind}_backup_{YYYYMMDD}_{HHMMSS}[_{N}].{ext}.{zst|gz}[.age]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupName {
    pub kind: &'static str,
    /// `sqlite`, `pgdump` or `tar`.
    pub ext: &'static str,
    pub compression: &'static str,
    pub encrypted: bool,
}

/// Whether `name` is a name LedgerFlow gives its backups (and nothing else: no directory part,
/// no `..`, no other characters). Returns its parts.
pub fn backup_name(name: &str) -> Option<BackupName> {
    if name.len() > MAX_NAME || !name.is_ascii() {
        return None;
    }
    let rest = name.strip_prefix("ledgerflow_")?;
    let (kind, rest) = [("db_backup_", "db"), ("full_backup_", "full")]
        .into_iter()
        .find_map(|(prefix, kind)| Some((kind, rest.strip_prefix(prefix)?)))?;
    // YYYYMMDD_HHMMSS
    let b = rest.as_bytes();
    if b.len() < 15
        || !b[..8].iter().all(u8::is_ascii_digit)
        || b[8] != b'_'
        || !b[9..15].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let mut rest = &rest[15..];
    // An optional _N when two backups share a second.
    if let Some(r) = rest.strip_prefix('_') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 4 {
            return None;
        }
        rest = &r[digits..];
    }
    let (encrypted, rest) = match rest.strip_suffix(".age") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (compression, rest) = [(".zst", "zstd"), (".gz", "gzip")]
        .into_iter()
        .find_map(|(suffix, name)| Some((name, rest.strip_suffix(suffix)?)))?;
    let ext = match (kind, rest) {
        ("db", ".sqlite") => "sqlite",
        ("db", ".pgdump") => "pgdump",
        ("full", ".tar") => "tar",
        _ => return None,
    };
    Some(BackupName {
        kind,
        ext,
        compression,
        encrypted,
    })
}

/// `name` as a backup name, or a sentence saying why it is not one.
pub fn check_backup_name(name: &str) -> Result<BackupName, String> {
    backup_name(name).ok_or_else(|| {
        format!(
            "\"{}\" is not the name of a LedgerFlow backup (ledgerflow_db_backup_YYYYMMDD_HHMMSS.sqlite.zst and the like)",
            printable(name, 120)
        )
    })
}

/// Text from a hostile file made safe to print on a terminal or in a log: control characters
/// (escape sequences) become `?`, and it is cut to `max` characters.
pub fn printable(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// What is at `dir/name` when it is a regular file (a symlink, a directory or anything else is
/// not one of ours). `name` must already be a checked backup name or a name derived from one.
pub fn regular_file(dir: &Path, name: &str) -> Result<Option<std::fs::Metadata>, std::io::Error> {
    if name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("\"{}\" is not a plain file name", printable(name, 120)),
        ));
    }
    match std::fs::symlink_metadata(dir.join(name)) {
        Ok(m) if m.file_type().is_file() => Ok(Some(m)),
        Ok(_) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file (a symlink or a directory): LedgerFlow does not touch it",
                dir.join(name).display()
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a small file from the backup directory, refusing anything larger than `max` bytes
/// (a manifest, the last-restore mark): its size is bounded before it is read.
pub fn read_small(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let f = open_regular(path, OpenOptions::new().read(true))?;
    let mut out = Vec::new();
    f.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is larger than {max} bytes", path.display()),
        ));
    }
    Ok(out)
}

/// Opens (creating it) a lock file of LedgerFlow's own in the backup directory, like
/// [`open_regular`]; the caller takes the lock.
pub fn open_lock_file(path: &Path) -> std::io::Result<File> {
    open_regular(
        path,
        OpenOptions::new().create(true).truncate(false).write(true),
    )
}

/// Opens a file of LedgerFlow's own (see [`ledgerflow_db::files::open_regular`]): never through
/// a symlink, never blocking on a FIFO or a device, only a regular file.
pub use ledgerflow_db::files::open_regular;

/// Appends `line` to a file of LedgerFlow's own (created when missing) and fsyncs it; refused
/// like [`open_regular`] when it is a symlink or not a regular file.
pub fn append_line(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let mut f = open_regular(path, OpenOptions::new().create(true).append(true))?;
    f.write_all(line)?;
    f.sync_all()
}

/// Free bytes on the file system holding `path` (for an unprivileged user).
pub fn free_space(path: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    hash_reader(File::open(path)?)
}

pub fn hash_reader(mut r: impl Read) -> std::io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(h.finalize())))
}

/// Hashes what passes through.
pub struct Hashing<W> {
    pub(crate) inner: W,
    pub(crate) h: Sha256,
    pub(crate) size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.h.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `.NAME.partial` beside `path` and fsyncs it; returns its path, size and SHA-256. On
/// failure the temporary file is removed.
pub fn write_temp(
    path: &Path,
    fill: impl FnOnce(&mut Hashing<BufWriter<File>>) -> std::io::Result<()>,
) -> Result<(PathBuf, u64, String), BackupError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.partial",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("backup")
    ));
    let result = (|| -> std::io::Result<(u64, String)> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let mut out = Hashing {
            inner: BufWriter::new(file),
            h: Sha256::new(),
            size: 0,
        };
        fill(&mut out)?;
        out.flush()?;
        let Hashing { inner, h, size } = out;
        let file = inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok((size, hex::encode(h.finalize())))
    })();
    match result {
        Ok((size, sha)) => Ok((tmp, size, sha)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(BackupError::io(path, e))
        }
    }
}

/// Writes `path` through a temporary name: write, fsync, rename, fsync the directory. Returns
/// the size and SHA-256 of what was written.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut Hashing<BufWriter<File>>) -> std::io::Result<()>,
) -> Result<(u64, String), BackupError> {
    let (tmp, size, sha) = write_temp(path, fill)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(BackupError::io(path, e));
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok((size, sha))
}

/// Replaces a small file atomically (temp name, fsync, rename, fsync the directory). The
/// temporary file is created new, so a symlink planted at its name is never followed.
pub fn write_atomic_replace(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    ledgerflow_core::files::write_whole(path, bytes).map_err(|e| BackupError::io(path, e))
}

/// A work directory `prefix…` inside `dir`, removed when dropped.
pub fn work_dir(dir: &Path, prefix: &str) -> Result<tempfile::TempDir, BackupError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(dir)
        .map_err(|e| BackupError::io(dir, e))
}

pub fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BackupError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_names_are_backup_names() {
        for ok in [
            "ledgerflow_db_backup_20261127_020000.sqlite.zst",
            "ledgerflow_db_backup_20261127_020000_2.pgdump.gz",
            "ledgerflow_full_backup_20261127_020000.tar.zst.age",
        ] {
            assert!(backup_name(ok).is_some(), "{ok}");
        }
        for bad in [
            "../data/ledgerflow.db",
            "/work/data/ledgerflow.db",
            "ledgerflow_db_backup_20261127_020000.sqlite.zst/../../x",
            "ledgerflow_db_backup_20261127_020000.sqlite",
            "ledgerflow_db_backup_2026112_020000.sqlite.zst",
            "ledgerflow_db_backup_20261127_020000.tar.zst",
            "ledgerflow_full_backup_20261127_020000.sqlite.zst",
            "ledgerflow_db_backup_20261127_020000_.sqlite.zst",
            "ledgerflow_db_backup_20261127_020000_12345.sqlite.zst",
            "ledgerflow_db_backup_20261127_020000.sqlite.zst.manifest.json",
            "ledgerflow_db_backup_20261127_020000.sqlite.zst\n",
            "catalog.jsonl",
            "",
        ] {
            assert!(backup_name(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn control_characters_never_reach_a_terminal() {
        assert_eq!(printable("a\u{1b}[2Jb", 10), "a?[2Jb");
        assert_eq!(printable("abcdef", 3), "abc…");
    }

    #[test]
    fn symlinks_and_directories_are_not_regular_files() {
        let d = tempfile::tempdir().expect("dir");
        std::fs::write(d.path().join("f"), b"x").expect("write");
        std::os::unix::fs::symlink(d.path().join("f"), d.path().join("l")).expect("link");
        std::fs::create_dir(d.path().join("sub")).expect("dir");
        assert!(regular_file(d.path(), "f").expect("f").is_some());
        assert!(regular_file(d.path(), "none").expect("none").is_none());
        assert!(regular_file(d.path(), "l").is_err());
        assert!(regular_file(d.path(), "sub").is_err());
        assert!(regular_file(d.path(), "../f").is_err());
    }
}
