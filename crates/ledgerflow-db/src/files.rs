//! Files of LedgerFlow's own beside the data it keeps (locks, catalogs) sit in directories other
//! people and programs can write to: they are opened so that a symlink, a FIFO or a directory
//! planted there is refused, never followed or waited on.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Opens a file of LedgerFlow's own (the backup catalog, a lock, a list; the import lock) with
/// `opts`: never through a symlink, never blocking on a FIFO or a device, and only when what is
/// there is a regular file. Anything else is an error naming it.
pub fn open_regular(path: &Path, opts: &mut OpenOptions) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let f = opts
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{} is a symlink: LedgerFlow does not follow it",
                        path.display()
                    ),
                )
            } else {
                e
            }
        })?;
    if !f.metadata()?.file_type().is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file (a FIFO, a device or a directory): LedgerFlow does not use it",
                path.display()
            ),
        ));
    }
    Ok(f)
}
