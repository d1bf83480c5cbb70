//! Taking a backup: the snapshot, the test restore and the history check beside the
//! compression (a db archive is compressed on a second core meanwhile), the archive written
//! through a temporary name and read back, then settled in the catalog. `backup_now` never
//! prunes; `scheduled_backup` does.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use ledgerflow_core::Store;
use ledgerflow_db::Location;
use tracing::info;

use crate::archive::{Encoder, Failure, check_archive};
use crate::catalog::Catalog;
use crate::catalog::{last_restore, settle};
use crate::destination::copy_to_destinations;
use crate::fsx::{hash_file, write_temp};
use crate::manifest::{Facts, Manifest, Member};
use crate::retention::prune;
use crate::verify::{check_part_of_live_history, journal_behind_backups, restore_and_check};
use crate::{BackupError, Compression, Kind, Outcome, Settings, crypt};

pub(crate) const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where a backup taken on request is copied once it verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Copies<'a> {
    /// To every configured destination; a failed copy is logged and alerted, the backup stands
    /// ("Back up now", `POST /api/v1/backups`, the schedule).
    #[default]
    Configured,
    /// To this destination only; a failed copy is the call's error (`backup --dest NAME`).
    Only(&'a str),
    /// Nowhere (`backup` on the command line without `--dest`).
    Nowhere,
}

/// A backup a user asked for, on either face (the command line's `backup`, "Back up now",
/// `POST /api/v1/backups`): verified, `pinned` if asked (retention keeps it), then copied as
/// `copies` says. It never deletes another backup: retention runs on the schedule only.
pub async fn backup_now(
    store: &dyn Store,
    location: &Location,
    settings: &Settings,
    kind: Kind,
    pinned: bool,
    copies: Copies<'_>,
) -> Result<Outcome, BackupError> {
    // A destination that is not configured is a typo: said before anything is taken.
    if let Copies::Only(name) = copies
        && !settings.destinations.contains_key(name)
    {
        return Err(BackupError::NotFound(format!(
            "no backup destination \"{name}\" (configured: {}); nothing was taken",
            if settings.destinations.is_empty() {
                "none".to_string()
            } else {
                settings
                    .destinations
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )));
    }
    let o = backup(store, location, settings, kind, pinned).await?;
    if !o.verified {
        return Ok(o);
    }
    match copies {
        Copies::Configured => {
            if let Err(e) = copy_to_destinations(settings, &o).await {
                tracing::error!(error = %e, "off-site copy failed");
            }
        }
        Copies::Only(name) => crate::destination::copy_to(settings, &o, name).await?,
        Copies::Nowhere => {}
    }
    Ok(o)
}

/// A backup as the schedule takes it: [`backup_now`], then retention (its failure is logged;
/// the backup stands).
pub async fn scheduled_backup(
    store: &dyn Store,
    location: &Location,
    settings: &Settings,
    kind: Kind,
) -> Result<Outcome, BackupError> {
    let o = backup_now(store, location, settings, kind, false, Copies::Configured).await?;
    if o.verified {
        match prune(store, settings, false).await {
            Ok(p) if !p.delete.is_empty() => tracing::info!(deleted = p.delete.len(), "pruned"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention skipped"),
        }
    }
    Ok(o)
}

/// Takes a backup of `store` (at `location`) and verifies it. A verification failure is an
/// `Outcome` with `verified: false` (the archive renamed `*.failed`); a failure before any
/// archive exists is an error. Either raises an alert.
pub async fn backup(
    store: &dyn Store,
    location: &Location,
    settings: &Settings,
    kind: Kind,
    pinned: bool,
) -> Result<Outcome, BackupError> {
    backup_as(store, location, settings, kind, pinned, Purpose::Regular).await
}

/// What a backup is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Regular,
    /// The copy a restore takes of the store it replaces: it must keep that state whatever it is.
    /// A journal behind the newest verified backup (the very thing a restore repairs) is noted
    /// in its verification, not a failure; every other check holds.
    Safety,
}

/// [`backup`] for a `purpose`.
pub(crate) async fn backup_as(
    store: &dyn Store,
    location: &Location,
    settings: &Settings,
    kind: Kind,
    pinned: bool,
    purpose: Purpose,
) -> Result<Outcome, BackupError> {
    let result = take_backup(store, location, settings, (kind, pinned, purpose)).await;
    let failed = match &result {
        Ok(o) if o.verified => None,
        Ok(o) => Some(
            crate::alert::Alert::new(
                "backup_failed",
                format!(
                    "the {} backup {} FAILED its verification: {}",
                    kind.as_str(),
                    o.file.display(),
                    o.verification
                ),
            )
            .file(&o.file),
        ),
        Err(e) => Some(crate::alert::Alert::new(
            "backup_failed",
            format!("the {} backup FAILED: {e}", kind.as_str()),
        )),
    };
    if let Some(a) = failed {
        crate::alert::send(settings, a).await;
    }
    result
}

async fn take_backup(
    store: &dyn Store,
    location: &Location,
    settings: &Settings,
    (kind, pinned, purpose): (Kind, bool, Purpose),
) -> Result<Outcome, BackupError> {
    let started = Instant::now();
    let dir = &settings.dir;
    let recipient = crypt::recipient(settings)?;
    std::fs::create_dir_all(dir).map_err(|e| BackupError::io(dir, e))?;
    // One backup at a time per directory (another waits): holding the lock, the work
    // directories and partial archives there are leftovers of a killed backup, whatever their age.
    let _lock = backup_lock(dir).await?;
    remove_stale_leftovers(dir);
    let work = crate::fsx::work_dir(dir, ".work-")?;
    let member_name = location.member_name();
    let member = work.path().join(member_name);
    let pg_bin = settings.pg_bin_dir.as_deref();
    ledgerflow_db::admin::snapshot(location, &member, pg_bin).await?;

    let created_at = Utc::now();
    let name = file_name(
        dir,
        kind,
        location,
        settings.compression,
        recipient.is_some(),
        created_at,
    );
    let path = dir.join(&name);
    // A db archive is compressed on a second core while the test restore runs. It keeps its
    // temporary name until it has passed every check: a kill at any moment leaves nothing that
    // looks finished.
    let lineage = store.meta().await?.map(|m| m.lineage_id.to_string());
    let recent = recent_sizes(
        settings,
        kind.as_str(),
        location.engine_name(),
        lineage.as_deref(),
    )?;
    let snap = Snapshot {
        member,
        member_name,
        engine: location.engine_name(),
        path: path.clone(),
        created_at,
        recipient,
    };
    let early = (kind == Kind::Db).then(|| {
        let (snap, settings, recent) = (snap.clone(), settings.clone(), recent.clone());
        tokio::task::spawn_blocking(move || write_db_archive(&snap, &settings, &recent))
    });

    // The snapshot must restore into a sound ledger, and that ledger must be a moment of the
    // live store's history.
    let checked = async {
        let facts = restore_and_check(
            location,
            &snap.member,
            pg_bin,
            settings.replay_journal,
            true,
        )
        .await?;
        check_part_of_live_history(store, &facts).await?;
        Ok::<Facts, BackupError>(facts)
    }
    .await;
    let early = match early {
        Some(task) => Some(
            task.await
                .map_err(|e| BackupError::Io(format!("the compression task failed: {e}")))?,
        ),
        None => None,
    };
    let mut facts = match checked {
        Ok(f) => f,
        Err(e) => {
            if let Some(Ok(e)) = &early {
                let _ = std::fs::remove_file(&e.tmp);
            }
            return Err(e);
        }
    };
    // The scratch store was brought to this binary's schema when opened; the snapshot has the
    // live store's (older, when this backup precedes a migration).
    facts.schema_version = store.schema_version().await?;
    let early = early.transpose()?;
    let restored = restored_summary(settings, &facts);
    let mut manifest = new_manifest(&snap, &name, kind, settings, facts);
    let (tmp, early_checked) = archive(early, &snap, settings, work.path(), &mut manifest).await?;
    drop(work);

    // A store whose journal was cut back since the newest verified backup is not a state to
    // call verified: the archive is kept (as `*.failed`) and the alarm raised.
    let cut = journal_behind_backups(store, settings).await?;
    let checked = match early_checked {
        Some(c) => c,
        None => {
            let (tmp, m, settings) = (tmp.clone(), manifest.clone(), settings.clone());
            tokio::task::spawn_blocking(move || {
                check_archive(&tmp, &m, &settings, &recent).map_err(Failure::reason)
            })
            .await
            .map_err(|e| BackupError::Io(format!("the archive check failed to run: {e}")))?
        }
    }
    .and_then(|what| match cut {
        Some(problem) if purpose == Purpose::Regular => Err(problem),
        Some(problem) => Ok(format!(
            "{restored}; {what}; the safety copy of the store a restore replaced, kept as it was although {problem}"
        )),
        None => Ok(format!("{restored}; {what}")),
    });
    let outcome = settle(settings, &tmp, &path, &manifest, checked, pinned, "")?;
    info!(file = %outcome.file.display(), verified = outcome.verified, "backup written");
    Ok(Outcome {
        duration_ms: started.elapsed().as_millis(),
        ..outcome
    })
}

/// The archive of a new backup under its temporary name, and the result of its checks when it
/// was checked while the test restore ran: a db archive is written already (`early`); a full
/// archive is written now, on a blocking thread.
async fn archive(
    early: Option<Early>,
    snap: &Snapshot,
    settings: &Settings,
    work: &Path,
    manifest: &mut Manifest,
) -> Result<(PathBuf, Option<Result<String, String>>), BackupError> {
    if let Some(e) = early {
        manifest.members = vec![e.entry];
        manifest.size = Some(e.size);
        manifest.sha256 = Some(e.sha);
        return Ok((e.tmp, Some(e.checked)));
    }
    let (snap, settings, mut m, work) = (
        snap.clone(),
        settings.clone(),
        manifest.clone(),
        work.to_path_buf(),
    );
    let (tmp, m) = tokio::task::spawn_blocking(move || {
        write_full_archive(&snap, &settings, &work, &mut m).map(|tmp| (tmp, m))
    })
    .await
    .map_err(|e| BackupError::Io(format!("the archive task failed: {e}")))??;
    *manifest = m;
    Ok((tmp, None))
}

/// A snapshot taken, and where its archive goes.
#[derive(Clone)]
struct Snapshot {
    /// The snapshot file, in the backup's work directory.
    member: PathBuf,
    member_name: &'static str,
    engine: &'static str,
    /// The archive's finished path.
    path: PathBuf,
    created_at: DateTime<Utc>,
    recipient: Option<age::x25519::Recipient>,
}

/// What the test restore proved, as the catalog says it.
fn restored_summary(settings: &Settings, facts: &Facts) -> String {
    format!(
        "test restore: integrity ok, {}{} transactions, journal head {} part of the live store's history",
        if settings.replay_journal {
            "journal replayed against every row, "
        } else {
            "hash chain and every row checked against the journal (rows digest), "
        },
        facts.counts.get("transactions").copied().unwrap_or(0),
        facts.journal_seq
    )
}

/// The manifest of a new backup, without its members, size and hash yet.
fn new_manifest(
    snap: &Snapshot,
    name: &str,
    kind: Kind,
    settings: &Settings,
    facts: Facts,
) -> Manifest {
    Manifest {
        format: 1,
        file: name.to_string(),
        kind: kind.as_str().into(),
        engine: snap.engine.into(),
        compression: settings.compression.as_str().into(),
        encryption: snap.recipient.as_ref().map(|_| "age".into()),
        recipient: snap.recipient.as_ref().map(|r| r.to_string()),
        created_at: snap.created_at,
        app_version: APP_VERSION.into(),
        build_commit: option_env!("LEDGERFLOW_BUILD_COMMIT")
            .unwrap_or("unknown")
            .into(),
        host: crate::manifest::host_name(),
        facts,
        members: Vec::new(),
        size: None,
        sha256: None,
    }
}

/// Writes a db archive (the snapshot, compressed) and checks it (L0-L2), on a blocking thread
/// while the test restore runs. The snapshot is read once, compressed with its size and CRC-32
/// taken on the way; its SHA-256 comes from what the archive decompresses to, which must be
/// exactly it.
fn write_db_archive(
    snap: &Snapshot,
    settings: &Settings,
    recent: &[u64],
) -> Result<Early, BackupError> {
    let c = settings.compression;
    let to = snap.recipient.as_ref();
    let mut read = None;
    let (tmp, size, sha) = write_temp(&snap.path, |out| {
        let mut enc = Encoder::new(out, c, to)?;
        let mut crc = crc32fast::Hasher::new();
        let mut total = 0u64;
        let mut f = File::open(&snap.member)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf)?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            total += n as u64;
            std::io::Write::write_all(&mut enc, &buf[..n])?;
        }
        read = Some((total, crc.finalize()));
        enc.finish()
    })?;
    let Some((member_size, member_crc)) = read else {
        return Err(BackupError::Io("the snapshot was not read".into()));
    };
    let mut spec = Manifest {
        app_version: String::new(),
        build_commit: String::new(),
        host: String::new(),
        facts: Facts::default(),
        members: vec![Member {
            name: snap.member_name.into(),
            size: member_size,
            sha256: String::new(),
        }],
        size: Some(size),
        sha256: Some(sha.clone()),
        ..new_manifest(snap, "", Kind::Db, settings, Facts::default())
    };
    let checked = crate::archive::check_fresh_archive(&tmp, &spec, settings, recent, member_crc)
        .map_err(Failure::reason)
        .map(|(what, member_sha)| {
            spec.members[0].sha256 = member_sha;
            what
        });
    let entry = spec.members.swap_remove(0);
    Ok(Early {
        entry,
        tmp,
        size,
        sha,
        checked,
    })
}

/// Writes a full archive (a tar of the snapshot, the configuration and the manifest,
/// compressed) under its temporary name, and completes `manifest` with its members, size and
/// hash. Blocking.
fn write_full_archive(
    snap: &Snapshot,
    settings: &Settings,
    work: &Path,
    manifest: &mut Manifest,
) -> Result<PathBuf, BackupError> {
    let config_path = work.join("config.toml");
    std::fs::write(&config_path, &settings.config_toml)
        .map_err(|e| BackupError::io(&config_path, e))?;
    manifest.members = vec![
        member_entry(&snap.member, snap.member_name)?,
        member_entry(&config_path, "config.toml")?,
    ];
    let (tmp, size, sha) = write_temp(&snap.path, |out| {
        let mut enc = Encoder::new(out, settings.compression, snap.recipient.as_ref())?;
        let mut tar = tar::Builder::new(&mut enc);
        tar.append_path_with_name(&snap.member, snap.member_name)?;
        tar.append_path_with_name(&config_path, "config.toml")?;
        let inner = serde_json::to_vec_pretty(&*manifest).map_err(std::io::Error::other)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(inner.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(snap.created_at.timestamp().max(0) as u64);
        header.set_cksum();
        tar.append_data(&mut header, "manifest.json", inner.as_slice())?;
        tar.finish()?;
        drop(tar);
        enc.finish()
    })?;
    manifest.size = Some(size);
    manifest.sha256 = Some(sha);
    Ok(tmp)
}

/// A db archive written, and checked, while the test restore ran.
pub(crate) struct Early {
    entry: Member,
    tmp: PathBuf,
    size: u64,
    sha: String,
    checked: Result<String, String>,
}

pub(crate) fn file_name(
    dir: &Path,
    kind: Kind,
    location: &Location,
    compression: Compression,
    encrypted: bool,
    at: DateTime<Utc>,
) -> String {
    let ext = match kind {
        Kind::Full => "tar",
        Kind::Db => location.snapshot_kind(),
    };
    let stem = format!(
        "ledgerflow_{}_backup_{}",
        kind.as_str(),
        at.format("%Y%m%d_%H%M%S")
    );
    let tail = format!(
        "{ext}.{}{}",
        compression.ext(),
        if encrypted { ".age" } else { "" }
    );
    let mut name = format!("{stem}.{tail}");
    let mut n = 2;
    while dir.join(&name).exists() || dir.join(format!("{name}.failed")).exists() {
        name = format!("{stem}_{n}.{tail}");
        n += 1;
    }
    name
}

pub(crate) fn member_entry(path: &Path, name: &str) -> Result<Member, BackupError> {
    let (size, sha256) = hash_file(path).map_err(|e| BackupError::io(path, e))?;
    Ok(Member {
        name: name.into(),
        size,
        sha256,
    })
}

/// Takes the backup lock of `dir` (an advisory lock on `.backup.lock`, released when the value
/// is dropped or the process ends, however it ends), waiting for a backup that holds it.
pub(crate) async fn backup_lock(dir: &Path) -> Result<File, BackupError> {
    let path = dir.join(".backup.lock");
    let f = crate::fsx::open_lock_file(&path).map_err(|e| BackupError::io(&path, e))?;
    tokio::task::spawn_blocking(move || f.lock().map(|()| f))
        .await
        .map_err(|e| BackupError::Io(e.to_string()))?
        .map_err(|e| BackupError::io(&path, e))
}

/// Work directories and partial archives of backups that were killed (hidden names, never
/// mistaken for backups) are removed. Called holding the backup lock: `.work-*` directories and `.ledgerflow_….partial` archives
/// are then a killed backup's, whatever their age; other leftovers (of a verify or a restore,
/// which another process may be running) go once they are six hours old.
pub(crate) fn remove_stale_leftovers(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let leftover = name.starts_with(".work-")
            || name.starts_with(".verify-")
            || name.starts_with(".restore-")
            || (name.starts_with('.') && name.ends_with(".partial"));
        let ours = name.starts_with(".work-")
            || (name.starts_with(".ledgerflow_") && name.ends_with(".partial"));
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(6 * 3600));
        if leftover && (ours || old) {
            let p = e.path();
            let removed = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            if removed.is_ok() {
                info!(path = %p.display(), "removed the leftovers of an interrupted backup");
            }
        }
    }
}

/// Sizes of the recent verified backups of the same kind, engine and lineage.
pub(crate) fn recent_sizes(
    settings: &Settings,
    kind: &str,
    engine: &str,
    lineage: Option<&str>,
) -> Result<Vec<u64>, BackupError> {
    // A restore may rightly shrink the store: only backups since the last one compare. The
    // catalog's sizes are only claims: a backup counts when its file is there with that size
    // (a forged line with an inflated size must not make every real backup look too small).
    let since = last_restore(&settings.dir);
    let now = Utc::now();
    let mut v: Vec<u64> = Catalog::at(&settings.dir)
        .entries()?
        .into_iter()
        .rev()
        .filter(|e| {
            e.verified
                && e.created_at <= now
                && since.is_none_or(|t| e.created_at > t)
                && e.kind == kind
                && e.engine == engine
                && e.lineage_id.as_deref() == lineage
                && crate::fsx::regular_file(&settings.dir, &e.file)
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.len() == e.size)
        })
        .take(5)
        .map(|e| e.size)
        .collect();
    v.sort_unstable();
    Ok(v)
}
