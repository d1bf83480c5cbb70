//! Restore: a verified backup replaces the live store, or fills a new one, and nothing is
//! changed unless every step succeeds.
//!
//! 1. What can be refused without reading the archive is refused first: a file that is not a
//!    backup of this directory, a backup of another engine, a target that is taken or in use.
//! 2. The backup is verified at every level in the one pass that restores it: its size and
//!    SHA-256, then it is decompressed once, every member's hash checked, straight into where
//!    it will be swapped in from (SQLite: a private directory beside the live file; PostgreSQL:
//!    a new database on the same server), migrated forward when its schema is older (a newer one
//!    is refused), and checked: integrity (SQLite's quick check), every row against its
//!    journal, counts, sums and journal head against the manifest.
//!    The catalog records the outcome. What the restored store holds — not what its manifest
//!    says — must then fit: the environment LedgerFlow runs as, and this store's lineage
//!    (another ledger needs [`Expect::other_lineage`]). Nothing live is written before all of
//!    that holds, and the bytes swapped in are the bytes that were checked.
//! 3. A safety backup of the current store is taken and pinned (retention never deletes it);
//!    if it does not verify, the restore is refused. If a later step fails, it is unpinned
//!    again (a plain verified backup, left to retention).
//! 4. It is swapped in atomically. SQLite: the live file is checkpointed out of WAL mode (this
//!    fails while another process has it open), then the restored file is renamed over it and
//!    the directory fsynced. PostgreSQL: both databases are renamed in one transaction.
//!
//! A kill at any moment leaves the old store or the new one, whole.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ledgerflow_db::{Location, OpenMode};
use serde::Serialize;
use tracing::{debug, info};

use crate::archive::check_and_extract;
use crate::manifest::{Facts, Manifest};
use crate::{BackupError, Failure, Kind, Settings, read_manifest, sync_dir};
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

    // 1. What can be refused without reading the archive: a file that is not a backup of this
    //    directory, one for another engine, a target that is taken or in use.
    let (path, manifest) = crate::verify::stored_backup(settings, file)?;
    if manifest.engine != target.engine_name() {
        return Err(BackupError::Refused(format!(
            "{} is a {} backup: it restores into a {} store, not into {}",
            manifest.file,
            manifest.engine,
            manifest.engine,
            target.display()
        )));
    }
    if let Some(Location::Sqlite(p)) = to_new
        && p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(BackupError::Refused(format!(
            "{}: give --to-new a path without \"..\" (it could name the live store once its directories exist); nothing was changed",
            p.display()
        )));
    }
    // One restore at a time per SQLite directory too, whatever backup directory it restores
    // from (that one's lock is held above), taken before the target is looked at.
    let _beside = match &target {
        Location::Sqlite(p) => {
            let dir = parent_dir(p);
            std::fs::create_dir_all(dir).map_err(|e| BackupError::io(dir, e))?;
            Some(RestoreLock::take_named(dir, ".ledgerflow-restore.lock")?)
        }
        Location::Postgres(_) => None,
    };
    // What is there now: nothing, a store (backed up, pinned, before it is replaced), or
    // something that is not a LedgerFlow store (kept aside, never deleted).
    let current = current(&target).await?;
    if to_new.is_some() && current != Current::Nothing {
        return Err(BackupError::Refused(format!(
            "{} already exists: --to-new restores into a new store only; nothing was changed",
            target.display()
        )));
    }
    if current != Current::Nothing {
        refuse_if_in_use(&target).await?;
    }

    // 2. The backup verified at every level in the one pass that restores it beside the target,
    //    and the restored store checked; the catalog records what was found.
    let staged = stage(&target, settings, &path, &manifest).await?;

    // 3. What the restored store holds — read from it, not from its manifest — must fit.
    if let Err(e) = fits(&target, &manifest, &staged.facts, current, expect).await {
        staged.discard().await;
        return Err(e);
    }

    // 4. The safety backup; from here on, a failure unpins it again.
    let safety = match current {
        Current::Store => match safety_backup(&target, settings).await {
            Ok(s) => Some(s),
            Err(e) => {
                staged.discard().await;
                return Err(e);
            }
        },
        _ => None,
    };
    let into = RestoreInto {
        target: &target,
        current,
        fork: to_new.is_some(),
    };
    let result = swap_in(&into, settings, staged, &manifest, safety.as_ref(), started).await;
    if result.is_err()
        && let Some(s) = &safety
    {
        crate::set_pinned(settings, &s.file, false);
    }
    result
}

/// The restored store's environment must be the one LedgerFlow runs as, and its lineage this
/// store's (another ledger needs [`Expect::other_lineage`]).
async fn fits(
    target: &Location,
    manifest: &Manifest,
    found: &Facts,
    current: Current,
    expect: &Expect,
) -> Result<(), BackupError> {
    let env = found.environment.as_deref().unwrap_or("dev");
    if env != expect.environment {
        return Err(BackupError::Refused(format!(
            "{} holds a {env} store (read from the store itself) but LedgerFlow runs as {}: refused (environments stay apart); nothing was changed",
            manifest.file, expect.environment
        )));
    }
    if current == Current::Store {
        let here = lineage_of(target).await?;
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
    Ok(())
}

/// Where a restore goes: the target, what is there now, and whether the result is a copy beside
/// the ledger (`--to-new`: a lineage of its own).
struct RestoreInto<'a> {
    target: &'a Location,
    current: Current,
    fork: bool,
}

/// A backup restored beside its target and checked, waiting to be swapped in: SQLite, a file in
/// a private directory beside the live file (so the swap is one rename on one filesystem);
/// PostgreSQL, a scratch database on the same server.
struct Staged {
    scratch: Scratch,
    /// What the checks found in it.
    facts: Facts,
    /// Where the archive was unpacked (removed when dropped).
    dir: tempfile::TempDir,
}

impl Staged {
    async fn discard(self) {
        self.scratch.discard().await;
        drop(self.dir);
    }
}

/// Verifies the stored backup at `path` while restoring it: L0–L2 as its archive is unpacked
/// (once) where it will be swapped in from, then the restored store's integrity, its rows
/// against its journal and its facts against the manifest — the checks of `backup verify`, run
/// on the very store that replaces the live one. The catalog records the outcome (a backup
/// that fails is marked failed and raises an alert, as on `backup verify`).
async fn stage(
    target: &Location,
    settings: &Settings,
    path: &Path,
    manifest: &Manifest,
) -> Result<Staged, BackupError> {
    let dir = match target {
        Location::Sqlite(live) => {
            // The lock beside it is held: a staging directory here is a killed restore's.
            let dir = parent_dir(live);
            remove_stale_restores(dir);
            crate::fsx::work_dir(dir, ".restoring-")?
        }
        Location::Postgres(_) => crate::fsx::work_dir(&settings.dir, ".restore-")?,
    };
    let unpacked = {
        let (path, m, settings, to) = (
            path.to_path_buf(),
            manifest.clone(),
            settings.clone(),
            dir.path().to_path_buf(),
        );
        crate::verify::blocking(move || check_and_extract(&path, &m, &settings, &to)).await?
    };
    debug!("archive checked and unpacked");
    let checked = match unpacked {
        // Nothing learnt about the backup (a full disk here): it keeps its state.
        Err(Failure::Here(e)) => return Err(BackupError::Environment(e)),
        Err(Failure::Archive(why)) => Err(why),
        Ok((what, member)) => match open_and_check(target, &member, settings).await {
            Err(e @ BackupError::Environment(_)) => return Err(e),
            Err(e) => Err(e.to_string()),
            Ok((scratch, facts)) => match manifest.facts.difference(&facts) {
                Some(d) => {
                    scratch.discard().await;
                    Err(format!("the restore differs from the manifest: {d}"))
                }
                None => Ok((what, scratch, facts)),
            },
        },
    };
    let said = checked
        .as_ref()
        .map(|(what, _, _)| crate::verify::test_restore_passed(what, manifest))
        .map_err(Clone::clone);
    let settled = crate::verify::settle_checked(settings, path, manifest, said);
    crate::verify::alert_if_failed(settings, path, &settled).await;
    match (settled, checked) {
        (Ok(o), Ok((_, scratch, facts))) if o.verified => Ok(Staged {
            scratch,
            facts,
            dir,
        }),
        (settled, checked) => {
            if let Ok((_, scratch, _)) = checked {
                scratch.discard().await;
            }
            let why = match settled {
                Ok(o) => o.verification,
                Err(e) => e.to_string(),
            };
            Err(BackupError::Refused(format!(
                "{} failed its verification ({why}): it is not restored; nothing was changed",
                path.display()
            )))
        }
    }
}

/// The unpacked snapshot `member` opened as a store where it lies (PostgreSQL: restored into a
/// scratch database) and checked: SQLite's quick check (every page, record and constraint; its
/// SHA-256 has just proved these are the bytes written and checked when the backup was made,
/// and `backup verify` adds the index-against-table comparison), every row against the journal,
/// the facts.
async fn open_and_check(
    target: &Location,
    member: &Path,
    settings: &Settings,
) -> Result<(Scratch, Facts), BackupError> {
    let scratch = Scratch::restore_in_place(target, member, settings.pg_bin_dir.as_deref()).await?;
    debug!("restored store opened");
    match crate::verify::check_scratch(&scratch, true, settings.replay_journal).await {
        Ok(facts) => {
            debug!("restored store checked");
            Ok((scratch, facts))
        }
        Err(e) => {
            scratch.discard().await;
            Err(e)
        }
    }
}

/// Steps 5 and 6, once the safety backup (if any) is taken: the staged store records which
/// backup it was restored from, nobody wrote to the live store since its safety backup, and the
/// swap.
async fn swap_in(
    into: &RestoreInto<'_>,
    settings: &Settings,
    staged: Staged,
    manifest: &Manifest,
    safety: Option<&Safety>,
    started: Instant,
) -> Result<Restored, BackupError> {
    let (current, fork) = (into.current, into.fork);
    let target = into.target.clone();
    let facts = match mark(staged.scratch.store.as_ref(), manifest, fork).await {
        Ok(f) => f,
        Err(e) => {
            staged.discard().await;
            return Err(e);
        }
    };
    let kept_aside = match &target {
        Location::Sqlite(path) => {
            let Staged { scratch, dir, .. } = staged;
            let restored = dir.path().join(&manifest.members[0].name);
            scratch.discard().await;
            seal_sqlite(&restored).await?;
            debug!("restored store sealed");
            if let Some(s) = safety {
                unchanged_since(&target, s).await?;
            }
            swap_sqlite(&restored, path, current).await?
        }
        Location::Postgres(url) => {
            if let Some(s) = safety
                && let Err(e) = unchanged_since(&target, s).await
            {
                staged.discard().await;
                return Err(e);
            }
            let old = match current {
                Current::Nothing => engine::OldDatabase::MustNotExist,
                Current::Store => engine::OldDatabase::Drop,
                Current::Foreign => engine::OldDatabase::KeepAside,
            };
            staged.scratch.promote(url, old).await?
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
    let taken = crate::backup::backup_as(
        store.as_ref(),
        live,
        settings,
        Kind::Db,
        true,
        crate::backup::Purpose::Safety,
    )
    .await;
    store.close().await;
    let failed = |why: String| {
        BackupError::Refused(format!(
            "the safety backup of the current store failed {why}: nothing was changed"
        ))
    };
    let outcome = taken.map_err(|e| failed(format!("({e})")))?;
    if !outcome.verified {
        // Not a safety backup after all: retention may take it.
        crate::set_pinned(settings, &outcome.file, false);
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

/// The restored store records, journaled, which backup it was restored from (so newer backups
/// of the abandoned history are told apart from a journal cut short). A copy restored beside the
/// ledger (`fork`, `--to-new`) also gets a lineage of its own: its backups and checks never mix
/// with the ledger it was copied from. Returns its facts after that.
async fn mark(
    store: &dyn ledgerflow_core::Store,
    m: &Manifest,
    fork: bool,
) -> Result<Facts, BackupError> {
    store
        .mark_restored(
            &ledgerflow_core::model::Actor::system("restore"),
            &m.file,
            fork,
        )
        .await?;
    Facts::of(store).await
}

/// A restored SQLite file (closed) made ready to be renamed into place: everything in the main
/// file (out of WAL mode, no `-wal` beside it), fsynced.
async fn seal_sqlite(restored: &Path) -> Result<(), BackupError> {
    engine::set_rollback_journal(restored).await.map_err(|e| {
        BackupError::restore(format!("the restored store cannot leave WAL mode: {e}"))
    })?;
    std::fs::File::open(restored)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackupError::io(restored, e))
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

/// The directory of a SQLite file (`.` for a bare name).
fn parent_dir(file: &Path) -> &Path {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

impl RestoreLock {
    fn take(dir: &Path) -> Result<RestoreLock, BackupError> {
        Self::take_named(dir, ".restore.lock")
    }

    fn take_named(dir: &Path, name: &str) -> Result<RestoreLock, BackupError> {
        let path = dir.join(name);
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
