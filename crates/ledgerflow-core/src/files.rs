//! Small files written whole or not at all, for every crate that keeps one beside the store
//! (the backup catalog and its stamps, saved CSV profiles, PDF templates).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Replaces the small file at `path` atomically: a temporary name beside it (created new, so a
/// symlink planted there is never followed; a leftover regular file is removed first), written,
/// fsynced, renamed over `path` (a link at `path` is replaced, not followed), then the
/// directory fsynced.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write(path, bytes, true)
}

/// As [`write_whole`], but only where nothing is yet: `AlreadyExists` when something is at
/// `path` (decided by the file system at the moment of linking, so two writers cannot both
/// win).
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write(path, bytes, false)
}

fn write(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let tmp = PathBuf::from(format!("{}.partial", path.display()));
    match std::fs::symlink_metadata(&tmp) {
        Ok(m) if m.file_type().is_file() => std::fs::remove_file(&tmp)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", tmp.display()),
            ));
        }
        Err(_) => {}
    }
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if replace {
            std::fs::rename(&tmp, path)
        } else {
            // A hard link is made only where no name is; then the temporary name goes.
            std::fs::hard_link(&tmp, path)?;
            std::fs::remove_file(&tmp)
        }
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir).and_then(|d| d.sync_all())
}
