//! The user's own files LedgerFlow reads and writes beside the store (saved CSV profiles, PDF
//! templates): read only when they are small regular files (a symlink, a FIFO or a directory
//! is refused), written whole or not at all (`ledgerflow_core::files::write_whole`).

use std::path::Path;

/// Reads a small regular file (not through a symlink), at most `max` bytes.
pub(crate) fn read_small(path: &Path, max: u64) -> Result<String, String> {
    let m = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !m.file_type().is_file() {
        return Err("not a regular file".into());
    }
    if m.len() > max {
        return Err(format!("larger than {} KiB", max.div_ceil(1024)));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    if text.len() as u64 > max {
        return Err(format!("larger than {} KiB", max.div_ceil(1024)));
    }
    Ok(text)
}

/// Writes `bytes` to `path` whole or not at all (its directory made first); unless `replace`,
/// only where nothing is yet (`taken` names what is in the way).
pub(crate) fn write_whole(
    path: &Path,
    bytes: &[u8],
    replace: bool,
    taken: impl FnOnce() -> String,
) -> Result<(), String> {
    let dir = path.parent().ok_or("no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let written = if replace {
        ledgerflow_core::files::write_whole(path, bytes)
    } else {
        ledgerflow_core::files::write_new(path, bytes)
    };
    written.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => taken(),
        _ => format!("cannot write {}: {e}", path.display()),
    })
}

/// Whether anything (a file, a directory, a link, even a dangling one) is at `path`.
pub(crate) fn taken(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}
