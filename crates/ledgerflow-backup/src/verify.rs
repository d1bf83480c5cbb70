//! Verifying: a stored backup again at every level (size, SHA-256, decompression, a test
//! restore compared with its manifest), and the checks every test restore runs (integrity, the
//! journal against every row, the journal head part of the live store's history, the live
//! journal not behind the newest verified backup).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ledgerflow_core::Store;
use ledgerflow_core::service::{check_snapshot, verify_journal};
use ledgerflow_core::store::JournalFilter;
use ledgerflow_db::Location;

use crate::archive::{Failure, check_archive, extract_member};
use crate::catalog::Catalog;
use crate::catalog::settle;
use crate::manifest::read_manifest;
use crate::manifest::{Facts, Manifest};
use crate::{BackupError, Outcome, Settings};
use ledgerflow_db::admin::Scratch;

/// Re-verifies a stored backup at every level: size, hash, decompression and a test restore
/// compared with its manifest. A failure, or a check that could not run, raises an alert.
pub async fn verify(
    location: &Location,
    settings: &Settings,
    file: &Path,
) -> Result<Outcome, BackupError> {
    let result = reverify(location, settings, file).await;
    alert_if_failed(settings, file, &result).await;
    result
}

/// A re-verification that failed, or could not run, raises an alert.
pub(crate) async fn alert_if_failed(
    settings: &Settings,
    file: &Path,
    result: &Result<Outcome, BackupError>,
) {
    let failed = match result {
        Ok(o) if o.verified => None,
        Ok(o) => Some(format!(
            "the backup {} FAILED its re-verification: {}",
            o.file.display(),
            o.verification
        )),
        // A path that is not a backup of this directory (a typo) says nothing about backups.
        Err(BackupError::NotFound(_)) => None,
        Err(e) => Some(format!(
            "the backup {} could not be re-verified: {e}",
            file.display()
        )),
    };
    if let Some(message) = failed {
        crate::alert::send(
            settings,
            crate::alert::Alert::new("verify_failed", message).file(file),
        )
        .await;
    }
}

pub(crate) async fn reverify(
    location: &Location,
    settings: &Settings,
    file: &Path,
) -> Result<Outcome, BackupError> {
    let started = Instant::now();
    let (path, manifest) = stored_backup(settings, file)?;
    // No size-ratio check here: an older backup may rightly be smaller than newer ones, and
    // its SHA-256 proves it is what was written.
    let mut restored_facts = None;
    let archive_checked = {
        let (path, manifest, settings) = (path.clone(), manifest.clone(), settings.clone());
        blocking(move || check_archive(&path, &manifest, &settings, &[])).await?
    };
    let checked = match archive_checked {
        // Nothing learnt about the backup (a full disk here): it keeps its state.
        Err(Failure::Here(e)) => return Err(BackupError::Environment(e)),
        Err(Failure::Archive(reason)) => Err(reason),
        Ok(what) => match test_restore(location, settings, &path, &manifest).await? {
            Ok(facts) => {
                restored_facts = Some(facts);
                Ok(test_restore_passed(&what, &manifest))
            }
            Err(why) => Err(why),
        },
    };
    let outcome = settle_checked(settings, &path, &manifest, checked)?;
    Ok(Outcome {
        duration_ms: started.elapsed().as_millis(),
        restored: restored_facts,
        ..outcome
    })
}

/// What a backup that passed every level and its test restore says it was checked for.
pub(crate) fn test_restore_passed(archive: &str, m: &Manifest) -> String {
    format!(
        "{archive}; test restore: integrity ok, {} transactions, sums per account, schema {} and journal head {} match the manifest",
        m.facts.counts.get("transactions").copied().unwrap_or(0),
        m.facts.schema_version,
        m.facts.journal_seq
    )
}

/// Records what a re-verification of the stored backup at `path` found (the catalog, its name:
/// `.failed` or not), keeping its pin.
pub(crate) fn settle_checked(
    settings: &Settings,
    path: &Path,
    manifest: &Manifest,
    checked: Result<String, String>,
) -> Result<Outcome, BackupError> {
    let pinned = Catalog::at(&settings.dir)
        .entries()?
        .iter()
        .any(|e| e.file == manifest.file && e.pinned);
    let finished = PathBuf::from(path.to_string_lossy().trim_end_matches(".failed"));
    settle(
        settings,
        path,
        &finished,
        manifest,
        checked,
        pinned,
        "re-verified: ",
    )
}

/// A backup named by a user: a plain backup name, a regular file in the backup directory (its
/// states live in that directory's catalog), with a manifest that reads and, when it is
/// encrypted, the key to decrypt it. Returns its path there and its manifest.
pub(crate) fn stored_backup(
    settings: &Settings,
    file: &Path,
) -> Result<(PathBuf, Manifest), BackupError> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BackupError::NotFound(format!("{} is not a backup file", file.display())))?
        .to_string();
    // Only backups in the backup directory: their states live in its catalog.
    let path = settings.dir.join(&name);
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty())
        && parent.canonicalize().ok() != settings.dir.canonicalize().ok()
    {
        return Err(BackupError::NotFound(format!(
            "{} is not in the backup directory {}",
            file.display(),
            settings.dir.display()
        )));
    }
    crate::fsx::check_backup_name(name.trim_end_matches(".failed"))
        .map_err(BackupError::NotFound)?;
    match crate::fsx::regular_file(&settings.dir, &name) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(BackupError::NotFound(format!(
                "{} does not exist",
                path.display()
            )));
        }
        Err(e) => return Err(BackupError::Refused(e.to_string())),
    }
    let manifest = read_manifest(&path)?;
    if manifest.encryption.is_some() && settings.age_identity.is_none() {
        return Err(BackupError::Environment(format!(
            "{name} is encrypted to {}: set backup.age_identity_file to the key that decrypts it",
            manifest.recipient.as_deref().unwrap_or("an age recipient")
        )));
    }
    Ok((path, manifest))
}

/// L3 of a stored backup: what its archive holds, restored into a scratch store and compared
/// with its manifest. The outer error is this machine's (the backup keeps its state); the inner
/// one is the backup's failure.
async fn test_restore(
    location: &Location,
    settings: &Settings,
    path: &Path,
    manifest: &Manifest,
) -> Result<Result<Facts, String>, BackupError> {
    let work = crate::fsx::work_dir(&settings.dir, ".verify-")?;
    let extracted = {
        let (path, m, key, to) = (
            path.to_path_buf(),
            manifest.clone(),
            settings.age_identity.clone(),
            work.path().to_path_buf(),
        );
        blocking(move || extract_member(&path, &m, key.as_deref(), &to)).await?
    };
    let member = match extracted {
        Err(Failure::Here(e)) => return Err(BackupError::Environment(e)),
        Err(Failure::Archive(e)) => return Ok(Err(e)),
        Ok(member) => member,
    };
    let target = match (manifest.engine.as_str(), location) {
        ("postgres", Location::Postgres(_)) | ("sqlite", Location::Sqlite(_)) => location.clone(),
        ("sqlite", _) => Location::Sqlite(work.path().join("unused.db")),
        (engine, _) => {
            return Err(BackupError::Environment(format!(
                "a {engine} backup is restored into a {engine} server: run LedgerFlow on one to verify it"
            )));
        }
    };
    match restore_and_check(
        &target,
        &member,
        settings.pg_bin_dir.as_deref(),
        settings.replay_journal,
        false,
    )
    .await
    {
        // Nothing learnt about the backup: it keeps its state.
        Err(e @ BackupError::Environment(_)) => Err(e),
        Err(e) => Ok(Err(e.to_string())),
        Ok(facts) => Ok(match manifest.facts.difference(&facts) {
            Some(d) => Err(format!("the restore differs from the manifest: {d}")),
            None => Ok(facts),
        }),
    }
}

/// Runs a pass over an archive (reading, decompressing, hashing) on a blocking thread, off the
/// threads that serve pages and run the schedule.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BackupError::Io(format!("an archive task failed: {e}")))
}

/// Restores `member` into a scratch store, checks it and returns its facts: integrity, and its
/// rows against its journal — every row read once into the rows digest its head entry must
/// record, the whole hash chain checked ([`check_snapshot`]); with `replay_journal`, the whole
/// journal replayed against every row as `journal verify` does.
pub(crate) async fn restore_and_check(
    location: &Location,
    member: &Path,
    pg_bin: Option<&Path>,
    replay_journal: bool,
    fresh: bool,
) -> Result<Facts, BackupError> {
    let scratch = if fresh {
        Scratch::open_in_place(location, member, pg_bin).await?
    } else {
        Scratch::restore_unchecked(location, member, pg_bin).await?
    };
    // The integrity check, the rows against the journal and the facts read the same scratch
    // store side by side. A snapshot just taken (`fresh`) gets SQLite's quick check (every page
    // and record); a stored one, on `backup verify`, the full check with the indexes.
    let checked = check_scratch(&scratch, fresh, replay_journal).await;
    scratch.discard().await;
    checked
}

/// A restored store's checks, side by side: its integrity (`quick`: SQLite's quick check), its
/// rows against its journal ([`check_snapshot`], or with `replay_journal` the whole journal
/// replayed as `journal verify` does), and its facts.
pub(crate) async fn check_scratch(
    scratch: &Scratch,
    quick: bool,
    replay_journal: bool,
) -> Result<Facts, BackupError> {
    let store = scratch.store.as_ref();
    let (integrity, report, facts) = tokio::join!(
        async {
            let r = scratch.integrity(quick).await;
            tracing::debug!(quick, "integrity checked");
            r
        },
        async {
            if replay_journal {
                verify_journal(store).await
            } else {
                check_snapshot(store).await
            }
        },
        Facts::of(store),
    );
    integrity?;
    let report = report?;
    if !report.ok {
        return Err(BackupError::restore(format!(
            "the restored journal does not match its rows: {}",
            report.problem.unwrap_or_default()
        )));
    }
    facts
}

/// The snapshot's journal head must be an entry of the live journal: the backup is a moment of
/// this store's history, not of another one.
pub(crate) async fn check_part_of_live_history(
    store: &dyn Store,
    facts: &Facts,
) -> Result<(), BackupError> {
    let live = store.meta().await?.map(|m| m.lineage_id.to_string());
    if live != facts.lineage_id {
        return Err(BackupError::snapshot(
            "the snapshot's lineage id is not the live store's".into(),
        ));
    }
    if facts.journal_seq == 0
        || live_journal_has(store, facts.journal_seq, &facts.journal_hash).await?
    {
        return Ok(());
    }
    Err(BackupError::snapshot(format!(
        "journal entry {} of the snapshot is not in the live journal",
        facts.journal_seq
    )))
}

/// Whether the live journal holds entry `seq` with this hex hash.
pub(crate) async fn live_journal_has(
    store: &dyn Store,
    seq: i64,
    hash: &str,
) -> Result<bool, BackupError> {
    let entries = store
        .journal_entries(&JournalFilter {
            after_seq: seq - 1,
            limit: 1,
            ..Default::default()
        })
        .await?;
    Ok(matches!(entries.first(), Some(e) if e.seq == seq && hex::encode(e.hash) == hash))
}

/// Whether the live journal was cut back or rewritten since the newest verified backup of this
/// ledger: that backup recorded a journal head the live journal must still hold. Every verified
/// catalog entry of this lineage taken since the store was last restored counts (a restore
/// legitimately goes back in time), whether or not its file is still there: moving the newest
/// backup away must not hide a journal cut back. A line planted in the catalog can only raise
/// this alarm, never silence it. `Some(problem)` names it.
pub async fn journal_behind_backups(
    store: &dyn Store,
    settings: &Settings,
) -> Result<Option<String>, BackupError> {
    let Some(meta) = store.meta().await? else {
        return Ok(None);
    };
    let lineage = meta.lineage_id.to_string();
    let since = meta.restored.as_ref().map(|r| r.at);
    let newest = Catalog::at(&settings.dir)
        .entries()?
        .into_iter()
        .filter(|e| {
            e.verified
                && e.lineage_id.as_deref() == Some(lineage.as_str())
                && e.journal_seq.is_some()
                && since.is_none_or(|t| e.created_at > t)
        })
        .max_by_key(|e| (e.journal_seq, e.created_at));
    let Some(b) = newest else {
        return Ok(None);
    };
    let (Some(seq), Some(hash)) = (b.journal_seq, b.journal_hash.as_deref()) else {
        return Ok(None);
    };
    let head = store.journal_head().await?;
    let missing = match crate::fsx::regular_file(&settings.dir, &b.file) {
        Ok(Some(m)) if m.len() == b.size => "",
        _ => " (its file is missing or changed: find out who moved it)",
    };
    if head.head_seq < seq {
        return Ok(Some(format!(
            "the journal ends at entry {} but the verified backup {} (taken {}){missing} holds entries up to {seq}: \
             the newest entries were cut off; restore that backup or find out who changed the store",
            head.head_seq,
            b.file,
            b.created_at.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    if !live_journal_has(store, seq, hash).await? {
        return Ok(Some(format!(
            "journal entry {seq} differs from the one in the verified backup {} (taken {}){missing}: \
             the journal was rewritten",
            b.file,
            b.created_at.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    Ok(None)
}
