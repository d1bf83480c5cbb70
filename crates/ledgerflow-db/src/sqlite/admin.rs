//! SQLite's side of [`crate::admin`]: the page-by-page snapshot (read-only when the data disk is
//! full), the integrity checks, the scratch copy of a snapshot, and the switch out of WAL mode
//! a restore needs before it renames files.

use std::path::Path;

use sqlx::ConnectOptions as _;

use crate::admin::{AdminError, Scratch};
use crate::{Location, OpenMode};

/// Writes a snapshot of the SQLite store at `db` to `out` (which must not exist).
pub(crate) async fn snapshot(db: &Path, out: &Path) -> Result<(), AdminError> {
    match page_copy(db, out, false).await {
        Ok(()) => Ok(()),
        // A full data disk (no room for the reader's shared-memory index or temp files):
        // read it again without writing a byte beside it, exactly when a backup is needed.
        Err(first) if data_disk_full(db) => {
            let _ = std::fs::remove_file(out);
            page_copy(db, out, true).await.map_err(|e| {
                AdminError::Snapshot(format!(
                    "the data disk holding {} is full, and the read-only snapshot failed too: \
                     {e}; first attempt: {first}",
                    db.display()
                ))
            })
        }
        Err(e) => Err(AdminError::Snapshot(format!(
            "the snapshot into {} failed (is that disk full or read-only?): {e}",
            out.display()
        ))),
    }
}

/// Copies a SQLite store into `out` page by page ([`super::read::snapshot`]) off the async
/// threads. `immutable` (a full data disk, and an empty write-ahead log): the reader creates
/// nothing beside the store and takes no lock; with the disk full and the log empty nobody can
/// write to it.
async fn page_copy(
    db: &Path,
    out: &Path,
    immutable: bool,
) -> Result<(), ledgerflow_core::StoreError> {
    let (db, out) = (db.to_path_buf(), out.to_path_buf());
    tokio::task::spawn_blocking(move || super::read::snapshot(&db, &out, immutable))
        .await
        .map_err(|e| ledgerflow_core::StoreError::Database(e.to_string()))?
}

/// Whether the disk holding a SQLite store is full while its write-ahead log is empty.
fn data_disk_full(db: &Path) -> bool {
    let wal = std::fs::metadata(format!("{}-wal", db.display())).map_or(0, |m| m.len());
    wal == 0 && crate::disk_full(db)
}

/// A snapshot copied into a temporary directory and opened there.
pub(crate) async fn scratch_copy(member: &Path) -> Result<Scratch, AdminError> {
    // A failure to make the scratch copy is this machine's (a full disk), not the backup's.
    let here =
        |e: std::io::Error| AdminError::Environment(format!("no room for the test restore: {e}"));
    let dir = tempfile::tempdir().map_err(here)?;
    let path = dir.path().join("restored.db");
    let (from, to) = (member.to_path_buf(), path.clone());
    tokio::task::spawn_blocking(move || std::fs::copy(from, to))
        .await
        .map_err(|e| AdminError::Environment(format!("no room for the test restore: {e}")))?
        .map_err(here)?;
    let store = crate::open(&Location::Sqlite(path.clone()), OpenMode::Existing)
        .await
        .map_err(crate::admin::not_opened)?;
    Ok(Scratch {
        store,
        pg: None,
        sqlite: Some(path),
        _dir: Some(dir),
        frozen: false,
    })
}

/// `PRAGMA integrity_check` (or `quick_check`) of a SQLite file; `immutable` opens it without
/// writing a byte beside it.
pub async fn integrity_check(path: &Path, quick: bool, immutable: bool) -> Result<(), AdminError> {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(immutable)
        .immutable(immutable)
        .connect()
        .await
        .map_err(|e| AdminError::Restore(format!("the snapshot does not open as SQLite: {e}")))?;
    let pragma = if quick {
        "PRAGMA quick_check"
    } else {
        "PRAGMA integrity_check"
    };
    let rows: Vec<String> = sqlx::query_scalar(pragma)
        .fetch_all(&mut conn)
        .await
        .map_err(|e| AdminError::Restore(format!("integrity check failed: {e}")))?;
    if rows != ["ok"] {
        return Err(AdminError::Restore(format!(
            "integrity check: {}",
            rows.join("; ")
        )));
    }
    Ok(())
}

/// Checkpoints a SQLite file and switches it to the rollback journal: afterwards the whole
/// database is in the one file. Fails while another connection uses it in WAL mode.
pub async fn set_rollback_journal(path: &Path) -> Result<(), String> {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(std::time::Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode = DELETE")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(format!("it stays in {mode} mode"));
    }
    Ok(())
}
