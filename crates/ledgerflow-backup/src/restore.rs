//! Restore: a verified backup replaces the live store, or fills a new one, and nothing is
//! changed unless every step succeeds.
//!
//! 1. The backup is verified again (every level, including a test restore).
//! 2. A safety backup of the current store is taken and pinned (retention never deletes it);
//!    if it does not verify, the restore is refused.
//! 3. The backup is restored beside the live store (SQLite: a file in the same directory;
//!    PostgreSQL: a new database on the same server), migrated forward when its schema is
//!    older (a newer one is refused), and checked: integrity, and the row counts, sums per
//!    account and journal head of its manifest.
//! 4. It is swapped in atomically. SQLite: the live file is checkpointed out of WAL mode (this
//!    fails while another process has it open), then the restored file is renamed over it and
//!    the directory fsynced. PostgreSQL: both databases are renamed in one transaction.
//!
//! A kill at any moment leaves the old store or the new one, whole.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ledgerflow_db::{Location, OpenMode};
use serde::Serialize;
use tracing::info;

use crate::engine::{self, Scratch};
use crate::manifest::{Facts, Manifest};
use crate::{BackupError, Failure, Kind, Settings, extract_member, read_manifest, sync_dir};

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub backup: String,
    /// Where it was restored (password redacted).
    pub target: String,
    /// The restored store's facts.
    pub facts: Facts,
    /// The pinned backup of the store it replaced: restoring it undoes this restore.
    pub safety_backup: Option<PathBuf>,
    /// The backup's schema version, when the restore migrated it forward.
    pub migrated_from: Option<i64>,
    pub duration_ms: u128,
}

/// Restores `file` (a backup in the backup directory) over the store at `live`, or into the new
/// store `to_new` (which must not exist yet).
pub async fn restore(
    live: &Location,
    settings: &Settings,
    file: &Path,
    to_new: Option<&Location>,
) -> Result<Restored, BackupError> {
    let started = Instant::now();
    std::fs::create_dir_all(&settings.dir).map_err(|e| BackupError::io(&settings.dir, e))?;
    let _lock = RestoreLock::take(&settings.dir)?;
    let target = to_new.unwrap_or(live).clone();

    // 1. The backup must verify, now.
    let checked = crate::verify(&target, settings, file).await?;
    if !checked.verified {
        return Err(BackupError::Refused(format!(
            "{} failed its verification ({}): it is not restored; nothing was changed",
            file.display(),
            checked.verification
        )));
    }
    let manifest = read_manifest(&checked.file)?;
    if manifest.engine != engine::engine_name(&target) {
        return Err(BackupError::Refused(format!(
            "{} is a {} backup: it restores into a {} store, not into {}",
            manifest.file,
            manifest.engine,
            manifest.engine,
            target.display()
        )));
    }
    if to_new.is_some() && exists(&target).await {
        return Err(BackupError::Refused(format!(
            "{} already exists: --to-new restores into a new store only",
            target.display()
        )));
    }

    // 2. A pinned safety backup of what is about to be replaced.
    let safety_backup = match to_new {
        Some(_) => None,
        None => safety_backup(live, settings).await?,
    };

    // 3 and 4.
    let work = tempfile::Builder::new()
        .prefix(".restore-")
        .tempdir_in(&settings.dir)
        .map_err(|e| BackupError::io(&settings.dir, e))?;
    let member = extract_member(
        &checked.file,
        &manifest,
        settings.age_identity.as_deref(),
        work.path(),
    )
    .map_err(|f| match f {
        Failure::Here(e) => BackupError::Environment(e),
        Failure::Archive(e) => BackupError::Restore(e),
    })?;
    let facts = match &target {
        Location::Sqlite(path) => restore_sqlite(&member, path, &manifest).await?,
        Location::Postgres(url) => {
            let scratch =
                Scratch::restore(&target, &member, settings.pg_bin_dir.as_deref()).await?;
            let facts = match check_restored(&scratch, &manifest).await {
                Ok(f) => f,
                Err(e) => {
                    scratch.discard().await;
                    return Err(e);
                }
            };
            scratch.promote(url).await?;
            facts
        }
    };
    let migrated_from = (facts.schema_version > manifest.facts.schema_version)
        .then_some(manifest.facts.schema_version);
    info!(backup = %manifest.file, target = %target.display(), "restored");
    Ok(Restored {
        backup: manifest.file.clone(),
        target: target.display(),
        facts,
        safety_backup,
        migrated_from,
        duration_ms: started.elapsed().as_millis(),
    })
}

/// Whether a store already lives at `location` (a file, or a database with LedgerFlow's tables).
async fn exists(location: &Location) -> bool {
    match location {
        Location::Sqlite(p) => p.exists(),
        Location::Postgres(_) => match ledgerflow_db::open(location, OpenMode::Existing).await {
            Ok(s) => {
                s.close().await;
                true
            }
            Err(_) => false,
        },
    }
}

/// A verified, pinned backup of the live store, or `None` when there is no store to lose.
async fn safety_backup(
    live: &Location,
    settings: &Settings,
) -> Result<Option<PathBuf>, BackupError> {
    let store = match ledgerflow_db::open(live, OpenMode::Existing).await {
        Ok(s) => s,
        Err(
            ledgerflow_core::StoreError::NotInitialized { .. }
            | ledgerflow_core::StoreError::Unavailable { .. },
        ) => {
            info!(store = %live.display(), "no current store: no safety backup needed");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let taken = crate::backup(store.as_ref(), live, settings, Kind::Db, true).await;
    store.close().await;
    let outcome = taken.map_err(|e| {
        BackupError::Refused(format!(
            "the safety backup of the current store failed ({e}): nothing was changed"
        ))
    })?;
    if !outcome.verified {
        return Err(BackupError::Refused(format!(
            "the safety backup of the current store failed its verification ({}): nothing was changed",
            outcome.verification
        )));
    }
    Ok(Some(outcome.file))
}

/// The restored store must hold what its manifest promised.
async fn check_restored(scratch: &Scratch, m: &Manifest) -> Result<Facts, BackupError> {
    let facts = Facts::of(scratch.store.as_ref()).await?;
    if let Some(d) = m.facts.difference(&facts) {
        return Err(BackupError::Restore(format!(
            "the restored store differs from the manifest: {d}; nothing was changed"
        )));
    }
    Ok(facts)
}

async fn restore_sqlite(member: &Path, live: &Path, m: &Manifest) -> Result<Facts, BackupError> {
    let dir = live
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| BackupError::io(dir, e))?;
    remove_stale_restores(dir);
    // Beside the live file, so the final rename stays on one filesystem.
    let staging = tempfile::Builder::new()
        .prefix(".restoring-")
        .tempdir_in(dir)
        .map_err(|e| BackupError::io(dir, e))?;
    let restored = staging.path().join("ledgerflow.db");
    std::fs::copy(member, &restored).map_err(|e| BackupError::io(&restored, e))?;
    engine::integrity_check(&restored).await?;
    let location = Location::Sqlite(restored.clone());
    // Opening migrates an older schema forward and refuses a newer one.
    let store = ledgerflow_db::open(&location, OpenMode::Existing)
        .await
        .map_err(|e| BackupError::Restore(format!("the restored store does not open: {e}")))?;
    let facts = Facts::of(store.as_ref()).await;
    store.close().await;
    let facts = facts?;
    if let Some(d) = m.facts.difference(&facts) {
        return Err(BackupError::Restore(format!(
            "the restored store differs from the manifest: {d}; nothing was changed"
        )));
    }
    // Everything in the main file (no -wal beside it), then fsynced.
    set_rollback_journal(&restored).await.map_err(|e| {
        BackupError::Restore(format!("the restored store cannot leave WAL mode: {e}"))
    })?;
    std::fs::File::open(&restored)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackupError::io(&restored, e))?;
    if live.exists() {
        // The live file leaves WAL mode too, so no stale -wal can be replayed into the new
        // file; SQLite refuses this while another process has the store open.
        set_rollback_journal(live).await.map_err(|e| {
            BackupError::Refused(format!(
                "{} is in use (is `ledgerflow serve` running?): stop it, then restore again; nothing was changed ({e})",
                live.display()
            ))
        })?;
    }
    std::fs::rename(&restored, live).map_err(|e| BackupError::io(live, e))?;
    sync_dir(dir)?;
    for ext in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{ext}", live.display()));
        if side.exists() {
            let _ = std::fs::remove_file(&side);
        }
    }
    Ok(facts)
}

/// Checkpoints a SQLite file and switches it to the rollback journal: afterwards the whole
/// database is in the one file. Fails while another connection uses it in WAL mode.
async fn set_rollback_journal(path: &Path) -> Result<(), String> {
    use sqlx::ConnectOptions as _;
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

/// Staging directories of restores that were killed.
fn remove_stale_restores(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(".restoring-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// One restore at a time per backup directory (an advisory lock, released when the process
/// ends, however it ends).
struct RestoreLock(#[allow(dead_code)] std::fs::File);

impl RestoreLock {
    fn take(dir: &Path) -> Result<RestoreLock, BackupError> {
        let path = dir.join(".restore.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| BackupError::io(&path, e))?;
        match f.try_lock() {
            Ok(()) => Ok(RestoreLock(f)),
            Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::Refused(
                "another restore is running: wait for it to finish".into(),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(BackupError::io(&path, e)),
        }
    }
}
