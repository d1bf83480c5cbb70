//! Restore: a verified backup replaces the live store, or fills a new one, and nothing is
//! changed unless every step succeeds.
//!
//! 1. The backup is verified again (every level, including a test restore), and what the test
//!    restore found in it — not what its manifest says — must fit: the environment LedgerFlow
//!    runs as, and this store's lineage (another ledger needs [`Expect::other_lineage`]).
//!    Every other precondition (the target is free, nobody else has it open) is checked too,
//!    before anything is written.
//! 2. A safety backup of the current store is taken and pinned (retention never deletes it);
//!    if it does not verify, the restore is refused. If a later step fails, it is unpinned
//!    again (a plain verified backup, left to retention).
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

use crate::manifest::{Facts, Manifest};
use crate::{BackupError, Failure, Kind, Settings, extract_member, read_manifest, sync_dir};
use ledgerflow_db::admin::{self as engine, Scratch};

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
    /// What was there and is not a LedgerFlow store: kept under this name, never deleted.
    pub kept_aside: Option<String>,
    /// The backup's schema version, when the restore migrated it forward.
    pub migrated_from: Option<i64>,
    pub duration_ms: u128,
}

/// What the restored store must be.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The environment LedgerFlow runs as (`dev`, `staging`, `prod`): a backup of another
    /// environment is not restored.
    pub environment: String,
    /// Replacing this ledger by a backup of another one (another lineage) is allowed.
    pub other_lineage: bool,
}

/// Restores `file` (a backup in the backup directory) over the store at `live`, or into the new
/// store `to_new` (which must not exist yet).
pub async fn restore(
    live: &Location,
    settings: &Settings,
    file: &Path,
    to_new: Option<&Location>,
    expect: &Expect,
) -> Result<Restored, BackupError> {
    let started = Instant::now();
    std::fs::create_dir_all(&settings.dir).map_err(|e| BackupError::io(&settings.dir, e))?;
    let _lock = RestoreLock::take(&settings.dir)?;
    let target = to_new.unwrap_or(live).clone();

    // 1. The backup must verify, now; what its test restore holds must fit; the target must be
    //    free. Nothing is written before all of that holds.
    let checked = crate::verify(&target, settings, file).await?;
    if !checked.verified {
        return Err(BackupError::Refused(format!(
            "{} failed its verification ({}): it is not restored; nothing was changed",
            file.display(),
            checked.verification
        )));
    }
    let manifest = read_manifest(&checked.file)?;
    if manifest.engine != target.engine_name() {
        return Err(BackupError::Refused(format!(
            "{} is a {} backup: it restores into a {} store, not into {}",
            manifest.file,
            manifest.engine,
            manifest.engine,
            target.display()
        )));
    }
    let found = checked.restored.clone().ok_or_else(|| {
        BackupError::Refused(format!(
            "{}: its test restore said nothing of what it holds; nothing was changed",
            manifest.file
        ))
    })?;
    let env = found.environment.as_deref().unwrap_or("dev");
    if env != expect.environment {
        return Err(BackupError::Refused(format!(
            "{} holds a {env} store (read from the store itself) but LedgerFlow runs as {}: refused (environments stay apart); nothing was changed",
            manifest.file, expect.environment
        )));
    }
    // What is there now: nothing, a store (backed up, pinned, before it is replaced), or
    // something that is not a LedgerFlow store (kept aside, never deleted).
    if let Some(Location::Sqlite(p)) = to_new
        && p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(BackupError::Refused(format!(
            "{}: give --to-new a path without \"..\" (it could name the live store once its directories exist); nothing was changed",
            p.display()
        )));
    }
    let current = current(&target).await?;
    if to_new.is_some() && current != Current::Nothing {
        return Err(BackupError::Refused(format!(
            "{} already exists: --to-new restores into a new store only; nothing was changed",
            target.display()
        )));
    }
    if current == Current::Store {
        let here = lineage_of(&target).await?;
        if here.is_some() && here != found.lineage_id && !expect.other_lineage {
            return Err(BackupError::Refused(format!(
                "{} is a backup of another ledger (lineage {}) than the store at {} (lineage {}): restoring it replaces this ledger with that one. If that is what you want, run the restore again with --other-lineage; nothing was changed",
                manifest.file,
                found.lineage_id.as_deref().unwrap_or("none"),
                target.display(),
                here.as_deref().unwrap_or("none")
            )));
        }
    }
    if current != Current::Nothing {
        refuse_if_in_use(&target).await?;
    }

    // 2. The safety backup; from here on, a failure unpins it again.
    let safety = match current {
        Current::Store => Some(safety_backup(&target, settings).await?),
        _ => None,
    };
    let into = RestoreInto {
        target: &target,
        current,
        fork: to_new.is_some(),
        verified: &found,
    };
    let result = restore_after_safety(
        &into,
        settings,
        &checked,
        &manifest,
        safety.as_ref(),
        started,
    )
    .await;
    if result.is_err()
        && let Some(s) = &safety
    {
        crate::set_pinned(settings, &s.file, false);
    }
    result
}

/// Where a restore goes: the target, what is there now, and whether the result is a copy beside
/// the ledger (`--to-new`: a lineage of its own).
struct RestoreInto<'a> {
    target: &'a Location,
    current: Current,
    fork: bool,
    /// What the verification's own test restore found (kept in memory): the bytes restored now
    /// are read again from a directory others can write to, so they must prove to be those.
    verified: &'a Facts,
}

/// Steps 3 and 4, once the safety backup (if any) is taken.
async fn restore_after_safety(
    into: &RestoreInto<'_>,
    settings: &Settings,
    checked: &crate::Outcome,
    manifest: &Manifest,
    safety: Option<&Safety>,
    started: Instant,
) -> Result<Restored, BackupError> {
    let (current, fork) = (into.current, into.fork);
    let target = into.target.clone();

    // 3. Restored beside the live store and checked.
    let work = crate::fsx::work_dir(&settings.dir, ".restore-")?;
    let member = {
        let (file, m, key, to) = (
            checked.file.clone(),
            manifest.clone(),
            settings.age_identity.clone(),
            work.path().to_path_buf(),
        );
        crate::verify::blocking(move || extract_member(&file, &m, key.as_deref(), &to)).await?
    }
    .map_err(|f| match f {
        Failure::Here(e) => BackupError::Environment(e),
        Failure::Archive(e) => BackupError::restore(e),
    })?;
    let (facts, kept_aside) = match &target {
        Location::Sqlite(path) => {
            let staged = stage_sqlite(&member, path, manifest, into.verified, fork).await?;
            // 4. Nobody wrote to the store since its safety backup, then the swap.
            if let Some(s) = safety {
                unchanged_since(&target, s).await?;
            }
            let kept = swap_sqlite(&staged.file, path, current).await?;
            (staged.facts, kept)
        }
        Location::Postgres(url) => {
            let scratch =
                Scratch::restore(&target, &member, settings.pg_bin_dir.as_deref()).await?;
            let facts = match check_restored(&scratch, manifest, into.verified, fork).await {
                Ok(f) => f,
                Err(e) => {
                    scratch.discard().await;
                    return Err(e);
                }
            };
            if let Some(s) = safety
                && let Err(e) = unchanged_since(&target, s).await
            {
                scratch.discard().await;
                return Err(e);
            }
            let old = match current {
                Current::Nothing => engine::OldDatabase::MustNotExist,
                Current::Store => engine::OldDatabase::Drop,
                Current::Foreign => engine::OldDatabase::KeepAside,
            };
            let kept = scratch.promote(url, old).await?;
            (facts, kept)
        }
    };
    crate::catalog::mark_restored(&settings.dir);
    let migrated_from = (facts.schema_version > manifest.facts.schema_version)
        .then_some(manifest.facts.schema_version);
    info!(backup = %manifest.file, target = %target.display(), "restored");
    Ok(Restored {
        backup: manifest.file.clone(),
        target: target.display(),
        facts,
        safety_backup: safety.map(|s| s.file.clone()),
        kept_aside,
        migrated_from,
        duration_ms: started.elapsed().as_millis(),
    })
}

/// Nobody else may have the target open: checked before the safety backup, so a restore that
/// cannot swap leaves nothing behind. SQLite: leaving WAL mode needs the only connection;
/// PostgreSQL: no other connection to the database.
async fn refuse_if_in_use(target: &Location) -> Result<(), BackupError> {
    match engine::in_use(target).await? {
        None => Ok(()),
        Some(why) => Err(BackupError::Refused(format!(
            "{} is in use (is `ledgerflow serve` running?): stop it, then restore again; nothing was changed ({why})",
            target.display()
        ))),
    }
}

/// The lineage of the store at the target, read as it is.
async fn lineage_of(target: &Location) -> Result<Option<String>, BackupError> {
    let store = ledgerflow_db::open(target, OpenMode::AsIs).await?;
    let meta = store.meta().await;
    store.close().await;
    Ok(meta?.map(|m| m.lineage_id.to_string()))
}

/// What the restore would replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Current {
    /// No SQLite file, no database of that name.
    Nothing,
    /// An initialised LedgerFlow store.
    Store,
    /// A file or database that holds no initialised LedgerFlow store.
    Foreign,
}

/// Looks at the target without changing it (no migration). Anything it cannot read is a
/// refusal: a store that may hold data is never replaced unseen.
async fn current(target: &Location) -> Result<Current, BackupError> {
    if !engine::exists(target).await? {
        return Ok(Current::Nothing);
    }
    match ledgerflow_db::open(target, OpenMode::AsIs).await {
        Ok(s) => {
            let meta = s.meta().await;
            s.close().await;
            Ok(if meta?.is_some() {
                Current::Store
            } else {
                Current::Foreign
            })
        }
        Err(ledgerflow_core::StoreError::NotInitialized { .. }) => Ok(Current::Foreign),
        Err(e) => Err(BackupError::Refused(format!(
            "the current store at {} cannot be read ({e}): it is not replaced unseen; nothing was changed",
            target.display()
        ))),
    }
}

/// The safety backup: its file and the journal head it holds.
struct Safety {
    file: PathBuf,
    journal_seq: i64,
    journal_hash: String,
}

/// A verified, pinned backup of the live store, taken as it is (no migration).
async fn safety_backup(live: &Location, settings: &Settings) -> Result<Safety, BackupError> {
    let store = ledgerflow_db::open(live, OpenMode::AsIs).await?;
    let taken = crate::backup(store.as_ref(), live, settings, Kind::Db, true).await;
    store.close().await;
    let failed = |why: String| {
        BackupError::Refused(format!(
            "the safety backup of the current store failed {why}: nothing was changed"
        ))
    };
    let outcome = taken.map_err(|e| failed(format!("({e})")))?;
    if !outcome.verified {
        return Err(failed(format!(
            "its verification ({})",
            outcome.verification
        )));
    }
    let m = read_manifest(&outcome.file)?;
    Ok(Safety {
        file: outcome.file,
        journal_seq: m.facts.journal_seq,
        journal_hash: m.facts.journal_hash,
    })
}

/// The live store's journal head must still be the one in its safety backup: a write that
/// came in since would be in neither store.
async fn unchanged_since(live: &Location, s: &Safety) -> Result<(), BackupError> {
    let store = ledgerflow_db::open(live, OpenMode::AsIs).await?;
    let head = store.journal_head().await;
    store.close().await;
    let head = head?;
    if head.head_seq != s.journal_seq || hex::encode(head.head_hash) != s.journal_hash {
        return Err(BackupError::Refused(format!(
            "{} changed while it was being restored (journal head {} now, {} in its safety backup): another LedgerFlow is writing to it; stop it and restore again. Nothing was changed",
            live.display(),
            head.head_seq,
            s.journal_seq
        )));
    }
    Ok(())
}

/// The restored store must hold what its manifest promised; then it records, journaled, which
/// backup it was restored from (so newer backups of the abandoned history are told apart from a
/// journal cut short). A copy restored beside the ledger (`fork`, `--to-new`) also gets a
/// lineage of its own: its backups and checks never mix with the ledger it was copied from.
/// Returns its facts after that.
async fn check_restored(
    scratch: &Scratch,
    m: &Manifest,
    verified: &Facts,
    fork: bool,
) -> Result<Facts, BackupError> {
    check_and_mark(scratch.store.as_ref(), m, verified, fork).await
}

/// The store about to replace the live one must be exactly what was verified: its rows match
/// its own journal (the chain, and every row against the head's rows digest), and its facts
/// (journal head, counts, sums) are those of the verification's test restore and of the
/// manifest. Then it is marked restored.
async fn check_and_mark(
    store: &dyn ledgerflow_core::Store,
    m: &Manifest,
    verified: &Facts,
    fork: bool,
) -> Result<Facts, BackupError> {
    let report = ledgerflow_core::service::check_snapshot(store).await?;
    if !report.ok {
        return Err(BackupError::restore(format!(
            "the restored store does not match its own journal ({}); nothing was changed",
            report.problem.as_deref().unwrap_or("unknown problem")
        )));
    }
    let facts = Facts::of(store).await?;
    if let Some(d) = verified.difference(&facts) {
        return Err(BackupError::restore(format!(
            "the restored store is not the one that was verified ({d}): was the backup file changed meanwhile? nothing was changed"
        )));
    }
    if let Some(d) = m.facts.difference(&facts) {
        return Err(BackupError::restore(format!(
            "the restored store differs from the manifest: {d}; nothing was changed"
        )));
    }
    store
        .mark_restored(
            &ledgerflow_core::model::Actor::system("restore"),
            &m.file,
            fork,
        )
        .await?;
    Facts::of(store).await
}

/// A restored SQLite file in a staging directory beside the live file (so the final rename
/// stays on one filesystem), checked, migrated, out of WAL mode and fsynced.
struct Staged {
    _dir: tempfile::TempDir,
    file: PathBuf,
    facts: Facts,
}

async fn stage_sqlite(
    member: &Path,
    live: &Path,
    m: &Manifest,
    verified: &Facts,
    fork: bool,
) -> Result<Staged, BackupError> {
    let dir = live
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| BackupError::io(dir, e))?;
    remove_stale_restores(dir);
    let staging = crate::fsx::work_dir(dir, ".restoring-")?;
    let restored = staging.path().join("ledgerflow.db");
    {
        let (from, to) = (member.to_path_buf(), restored.clone());
        crate::verify::blocking(move || std::fs::copy(from, to)).await?
    }
    .map_err(|e| BackupError::io(&restored, e))?;
    engine::integrity_check(&restored, false, false).await?;
    let location = Location::Sqlite(restored.clone());
    // Opening migrates an older schema forward and refuses a newer one.
    let store = ledgerflow_db::open(&location, OpenMode::Existing)
        .await
        .map_err(|e| BackupError::restore(format!("the restored store does not open: {e}")))?;
    let facts = check_and_mark(store.as_ref(), m, verified, fork).await;
    store.close().await;
    let facts = facts?;
    // Everything in the main file (no -wal beside it), then fsynced.
    engine::set_rollback_journal(&restored).await.map_err(|e| {
        BackupError::restore(format!("the restored store cannot leave WAL mode: {e}"))
    })?;
    std::fs::File::open(&restored)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackupError::io(&restored, e))?;
    Ok(Staged {
        _dir: staging,
        file: restored,
        facts,
    })
}

/// Swaps the staged file in with one rename. The live file first leaves WAL mode (SQLite
/// refuses while another process has it open) and stale `-wal`/`-shm` files go before the
/// rename, so nothing foreign is ever replayed into the new file. A file that is not a
/// LedgerFlow store stays reachable under another name (a hard link). Returns that name.
async fn swap_sqlite(
    restored: &Path,
    live: &Path,
    current: Current,
) -> Result<Option<String>, BackupError> {
    let dir = live
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if live.exists() {
        engine::set_rollback_journal(live).await.map_err(|e| {
            BackupError::Refused(format!(
                "{} is in use (is `ledgerflow serve` running?): stop it, then restore again; nothing was changed ({e})",
                live.display()
            ))
        })?;
    }
    let mut kept = None;
    if current == Current::Foreign {
        let aside = PathBuf::from(format!(
            "{}.replaced-{}",
            live.display(),
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        ));
        std::fs::hard_link(live, &aside).map_err(|e| BackupError::io(&aside, e))?;
        kept = Some(aside.display().to_string());
    }
    for ext in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{ext}", live.display()));
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BackupError::io(&side, e)),
        }
    }
    sync_dir(dir)?;
    if current == Current::Nothing {
        // Nothing was there when the restore began: a link, which never replaces what may have
        // appeared there since (another path to the same file, a store created meanwhile).
        std::fs::hard_link(restored, live).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                BackupError::Refused(format!(
                    "{} appeared while the restore ran: it is left alone; nothing was changed",
                    live.display()
                ))
            } else {
                BackupError::io(live, e)
            }
        })?;
        std::fs::remove_file(restored).map_err(|e| BackupError::io(restored, e))?;
    } else {
        std::fs::rename(restored, live).map_err(|e| BackupError::io(live, e))?;
    }
    sync_dir(dir)?;
    Ok(kept)
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
        let f = crate::fsx::open_lock_file(&path).map_err(|e| BackupError::io(&path, e))?;
        match f.try_lock() {
            Ok(()) => Ok(RestoreLock(f)),
            Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::Refused(
                "another restore is running: wait for it to finish".into(),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(BackupError::io(&path, e)),
        }
    }
}
