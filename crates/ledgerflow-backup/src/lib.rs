//! Backups that count only once a restore has proven them.
//!
//! `backup` takes a consistent snapshot of the live store ([`ledgerflow_db::admin::snapshot`]), restores it
//! into a scratch store and checks it there (integrity, the whole journal replayed against every
//! row, the journal head still part of the live store's history), then writes the compressed
//! archive under a temporary name, fsyncs and renames it, and reads it back (size, SHA-256, full
//! decompression). The manifest goes beside the archive and into the catalog
//! ([`catalog::Catalog`]); a failed check renames the archive to `*.failed` so nothing that
//! failed looks finished. `verify` repeats every level on a stored backup at any time;
//! `prune` applies retention ([`retention::plan`]).

pub mod alert;
mod archive;
pub mod catalog;
mod crypt;
pub mod destination;
pub mod fsx;
pub mod manifest;
pub mod restore;
pub mod retention;
pub mod schedule;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use ledgerflow_core::Store;
use ledgerflow_core::service::{check_snapshot, verify_journal};
use ledgerflow_core::store::JournalFilter;
pub use ledgerflow_db::Location;
use serde::Serialize;
use tracing::{info, warn};

pub(crate) use crate::archive::{Encoder, Failure, check_archive, extract_member};
use crate::catalog::{Catalog, Entry};
pub use crate::destination::{Destination, S3Destination, copy_to, copy_to_destinations};
pub(crate) use crate::fsx::{hash_file, sync_dir, write_atomic, write_atomic_replace, write_temp};
pub(crate) use crate::manifest::read_manifest;
use crate::manifest::{Facts, Manifest, Member};
pub use crate::restore::{Restored, restore};
pub use crate::retention::Keep;
use ledgerflow_db::admin::{AdminError, Scratch};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(String),
    #[error("the snapshot failed: {0}")]
    Snapshot(String),
    #[error("{tool} failed: {message}")]
    Tool { tool: &'static str, message: String },
    #[error("the test restore failed: {0}")]
    Restore(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    /// The check could not run here (a tool or the server is missing, no CREATEDB): says
    /// nothing about the backup itself.
    #[error("{0}")]
    Environment(String),
    #[error(transparent)]
    Store(#[from] ledgerflow_core::StoreError),
}

impl From<AdminError> for BackupError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Snapshot(m) => BackupError::Snapshot(m),
            AdminError::Tool { tool, message } => BackupError::Tool { tool, message },
            AdminError::Restore(m) => BackupError::Restore(m),
            AdminError::Refused(m) => BackupError::Refused(m),
            AdminError::Environment(m) => BackupError::Environment(m),
            AdminError::Store(e) => BackupError::Store(e),
        }
    }
}

impl BackupError {
    pub fn io(path: &Path, e: std::io::Error) -> BackupError {
        BackupError::Io(format!("{}: {e}", path.display()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Zstd,
    Gzip,
}

impl Compression {
    fn ext(self) -> &'static str {
        match self {
            Compression::Zstd => "zst",
            Compression::Gzip => "gz",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The database alone.
    Db,
    /// The database, the configuration (without secrets) and the manifest, in one tar.
    Full,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Db => "db",
            Kind::Full => "full",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub dir: PathBuf,
    pub compression: Compression,
    /// A backup smaller than this (bytes) fails.
    pub min_size: u64,
    /// A backup smaller than this fraction of the recent verified ones fails (0 turns it off).
    pub size_ratio: f64,
    pub keep: Keep,
    pub pg_bin_dir: Option<PathBuf>,
    /// Written as `config.toml` into full backups (already without secrets).
    pub config_toml: String,
    /// Also replay the whole journal against every restored row in the test restore (slower:
    /// about 11 s per million transactions on SQLite; `journal verify` on the restored copy).
    pub replay_journal: bool,
    /// Off-site copies by name: a directory (a mounted NAS or cloud-synced folder) or an
    /// S3-compatible bucket.
    pub destinations: std::collections::BTreeMap<String, Destination>,
    /// Encrypt archives to this age recipient (`age1…`); the standard `age` tool decrypts them.
    pub encrypt_to: Option<String>,
    /// The age identity (key file) that decrypts them: the verification needs it.
    pub age_identity: Option<PathBuf>,
    /// Where alerts are POSTed (JSON) besides the log.
    pub alert_webhook: Option<String>,
}

/// What `backup` and `backup verify` report.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub file: PathBuf,
    pub kind: String,
    pub size: u64,
    pub verified: bool,
    /// What was checked, or why it failed.
    pub verification: String,
    pub duration_ms: u128,
    pub transactions: i64,
    /// What the test restore found in it (environment, lineage, journal head), when it got
    /// that far: read from the restored store itself, not from the manifest.
    #[serde(skip)]
    pub restored: Option<Facts>,
}

const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A backup a user asked for ("Back up now", `POST /api/v1/backups`): verified, then copied
/// off-site. It never deletes another backup: retention runs on the schedule only.
pub async fn backup_now(
    store: &dyn Store,
    location: &Location,
    settings: &Settings,
    kind: Kind,
) -> Result<Outcome, BackupError> {
    let o = backup(store, location, settings, kind, false).await?;
    if o.verified
        && let Err(e) = copy_to_destinations(settings, &o).await
    {
        tracing::error!(error = %e, "off-site copy failed");
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
    let o = backup_now(store, location, settings, kind).await?;
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
    let result = take_backup(store, location, settings, kind, pinned).await;
    let failed = match &result {
        Ok(o) if o.verified => None,
        Ok(o) => Some(
            alert::Alert::new(
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
        Err(e) => Some(alert::Alert::new(
            "backup_failed",
            format!("the {} backup FAILED: {e}", kind.as_str()),
        )),
    };
    if let Some(a) = failed {
        alert::send(settings, a).await;
    }
    result
}

async fn take_backup(
    store: &dyn Store,
    location: &Location,
    settings: &Settings,
    kind: Kind,
    pinned: bool,
) -> Result<Outcome, BackupError> {
    let started = Instant::now();
    let dir = &settings.dir;
    let recipient = crypt::recipient(settings)?;
    std::fs::create_dir_all(dir).map_err(|e| BackupError::io(dir, e))?;
    // One backup at a time per directory (another waits): holding the lock, the work
    // directories and partial archives there are leftovers of a killed backup, whatever their age.
    let _lock = backup_lock(dir).await?;
    remove_stale_leftovers(dir);
    let work = tempfile::Builder::new()
        .prefix(".work-")
        .tempdir_in(dir)
        .map_err(|e| BackupError::io(dir, e))?;
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
    let engine = location.engine_name();
    let recent = recent_sizes(settings, kind.as_str(), engine, lineage.as_deref())?;
    let early = (kind == Kind::Db).then(|| {
        let (member, path, settings, recent, to) = (
            member.clone(),
            path.clone(),
            settings.clone(),
            recent.clone(),
            recipient.clone(),
        );
        tokio::task::spawn_blocking(move || -> Result<Early, BackupError> {
            let c = settings.compression;
            // The snapshot is read once, compressed with its size and CRC-32 taken on the way;
            // its SHA-256 comes from what the archive decompresses to, which must be exactly it.
            let mut read = None;
            let (tmp, size, sha) = write_temp(&path, |out| {
                let mut enc = Encoder::new(out, c, to.as_ref())?;
                let mut crc = crc32fast::Hasher::new();
                let mut total = 0u64;
                let mut f = File::open(&member)?;
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
            // L0-L2 on this core too, while the test restore runs on the other.
            let mut spec = Manifest {
                format: 1,
                file: String::new(),
                kind: Kind::Db.as_str().into(),
                engine: engine.into(),
                compression: c.as_str().into(),
                encryption: to.as_ref().map(|_| "age".into()),
                recipient: to.as_ref().map(|r| r.to_string()),
                created_at,
                app_version: String::new(),
                build_commit: String::new(),
                host: String::new(),
                facts: Facts::default(),
                members: vec![Member {
                    name: member_name.into(),
                    size: member_size,
                    sha256: String::new(),
                }],
                size: Some(size),
                sha256: Some(sha.clone()),
            };
            let checked = archive::check_fresh_archive(&tmp, &spec, &settings, &recent, member_crc)
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
        })
    });

    // The snapshot must restore into a sound ledger, and that ledger must be a moment of the
    // live store's history.
    let checked = async {
        let facts =
            restore_and_check(location, &member, pg_bin, settings.replay_journal, true).await?;
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
    let restored = format!(
        "test restore: integrity ok, {}{} transactions, journal head {} part of the live store's history",
        if settings.replay_journal {
            "journal replayed against every row, "
        } else {
            "hash chain and every row checked against the journal (rows digest), "
        },
        facts.counts.get("transactions").copied().unwrap_or(0),
        facts.journal_seq
    );

    let mut manifest = Manifest {
        format: 1,
        file: name.clone(),
        kind: kind.as_str().into(),
        engine: location.engine_name().into(),
        compression: settings.compression.as_str().into(),
        encryption: recipient.as_ref().map(|_| "age".into()),
        recipient: recipient.as_ref().map(|r| r.to_string()),
        created_at,
        app_version: APP_VERSION.into(),
        build_commit: option_env!("LEDGERFLOW_BUILD_COMMIT")
            .unwrap_or("unknown")
            .into(),
        host: manifest::host_name(),
        facts,
        members: Vec::new(),
        size: None,
        sha256: None,
    };
    let (tmp, size, sha, early_checked) = match early {
        Some(e) => {
            manifest.members = vec![e.entry];
            (e.tmp, e.size, e.sha, Some(e.checked))
        }
        None => {
            let config_path = work.path().join("config.toml");
            std::fs::write(&config_path, &settings.config_toml)
                .map_err(|e| BackupError::io(&config_path, e))?;
            manifest.members = vec![
                member_entry(&member, member_name)?,
                member_entry(&config_path, "config.toml")?,
            ];
            write_temp(&path, |out| {
                let mut enc = Encoder::new(out, settings.compression, recipient.as_ref())?;
                let mut tar = tar::Builder::new(&mut enc);
                tar.append_path_with_name(&member, member_name)?;
                tar.append_path_with_name(&config_path, "config.toml")?;
                let inner = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
                let mut header = tar::Header::new_gnu();
                header.set_size(inner.len() as u64);
                header.set_mode(0o644);
                header.set_mtime(created_at.timestamp().max(0) as u64);
                header.set_cksum();
                tar.append_data(&mut header, "manifest.json", inner.as_slice())?;
                tar.finish()?;
                drop(tar);
                enc.finish()
            })
            .map(|(tmp, size, sha)| (tmp, size, sha, None))?
        }
    };
    drop(work);
    manifest.size = Some(size);
    manifest.sha256 = Some(sha);

    // A store whose journal was cut back since the newest verified backup is not a state to
    // call verified: the archive is kept (as `*.failed`) and the alarm raised.
    let cut = journal_behind_backups(store, settings).await?;
    let checked = match early_checked {
        Some(c) => c,
        None => check_archive(&tmp, &manifest, settings, &recent).map_err(Failure::reason),
    }
    .and_then(|what| match cut {
        Some(problem) => Err(problem),
        None => Ok(format!("{restored}; {what}")),
    });
    let outcome = settle(settings, &tmp, &path, &manifest, checked, pinned, "")?;
    info!(file = %outcome.file.display(), verified = outcome.verified, "backup written");
    Ok(Outcome {
        duration_ms: started.elapsed().as_millis(),
        ..outcome
    })
}

/// A db archive written, and checked, while the test restore ran.
struct Early {
    entry: Member,
    tmp: PathBuf,
    size: u64,
    sha: String,
    checked: Result<String, String>,
}

/// Re-verifies a stored backup at every level: size, hash, decompression and a test restore
/// compared with its manifest. A failure, or a check that could not run, raises an alert.
pub async fn verify(
    location: &Location,
    settings: &Settings,
    file: &Path,
) -> Result<Outcome, BackupError> {
    let result = reverify(location, settings, file).await;
    let failed = match &result {
        Ok(o) if o.verified => None,
        Ok(o) => Some(format!(
            "the backup {} FAILED its re-verification: {}",
            o.file.display(),
            o.verification
        )),
        Err(e) => Some(format!(
            "the backup {} could not be re-verified: {e}",
            file.display()
        )),
    };
    if let Some(message) = failed {
        alert::send(
            settings,
            alert::Alert::new("verify_failed", message).file(file),
        )
        .await;
    }
    result
}

async fn reverify(
    location: &Location,
    settings: &Settings,
    file: &Path,
) -> Result<Outcome, BackupError> {
    let started = Instant::now();
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
    fsx::check_backup_name(name.trim_end_matches(".failed")).map_err(BackupError::NotFound)?;
    match fsx::regular_file(&settings.dir, &name) {
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
    // No size-ratio check here: an older backup may rightly be smaller than newer ones, and
    // its SHA-256 proves it is what was written.
    let recent = Vec::new();
    let mut restored_facts = None;
    let checked = match check_archive(&path, &manifest, settings, &recent) {
        // Nothing learnt about the backup (a full disk here): it keeps its state.
        Err(Failure::Here(e)) => return Err(BackupError::Environment(e)),
        Err(Failure::Archive(reason)) => Err(reason),
        Ok(what) => {
            // L3: restore what the archive holds into a scratch store.
            let work = tempfile::Builder::new()
                .prefix(".verify-")
                .tempdir_in(&settings.dir)
                .map_err(|e| BackupError::io(&settings.dir, e))?;
            let restored = match extract_member(
                &path,
                &manifest,
                settings.age_identity.as_deref(),
                work.path(),
            ) {
                Err(Failure::Here(e)) => return Err(BackupError::Environment(e)),
                Err(Failure::Archive(e)) => Err(e),
                Ok(member) => {
                    let target = match (manifest.engine.as_str(), location) {
                        ("postgres", Location::Postgres(_)) | ("sqlite", Location::Sqlite(_)) => {
                            Ok(location.clone())
                        }
                        ("sqlite", _) => Ok(Location::Sqlite(work.path().join("unused.db"))),
                        (engine, _) => Err(BackupError::Environment(format!(
                            "a {engine} backup is restored into a {engine} server: run LedgerFlow on one to verify it"
                        ))),
                    }?;
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
                        Err(e @ BackupError::Environment(_)) => return Err(e),
                        r => r.map_err(|e| e.to_string()).and_then(|facts| {
                            match manifest.facts.difference(&facts) {
                                Some(d) => {
                                    Err(format!("the restore differs from the manifest: {d}"))
                                }
                                None => {
                                    restored_facts = Some(facts);
                                    Ok(())
                                }
                            }
                        }),
                    }
                }
            };
            restored.map(|()| {
                format!(
                    "{what}; test restore: integrity ok, {} transactions, sums per account, schema {} and journal head {} match the manifest",
                    manifest.facts.counts.get("transactions").copied().unwrap_or(0),
                    manifest.facts.schema_version,
                    manifest.facts.journal_seq
                )
            })
        }
    };
    let pinned = Catalog::at(&settings.dir)
        .entries()?
        .iter()
        .any(|e| e.file == manifest.file && e.pinned);
    let finished = PathBuf::from(path.to_string_lossy().trim_end_matches(".failed"));
    let outcome = settle(
        settings,
        &path,
        &finished,
        &manifest,
        checked,
        pinned,
        "re-verified: ",
    )?;
    Ok(Outcome {
        duration_ms: started.elapsed().as_millis(),
        restored: restored_facts,
        ..outcome
    })
}

/// What `status` (and later the metrics) say about backups.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub dir: PathBuf,
    pub last_backup: Option<String>,
    pub last_backup_at: Option<DateTime<Utc>>,
    pub last_verified: Option<String>,
    pub last_verified_at: Option<DateTime<Utc>>,
    pub last_verified_age_seconds: Option<i64>,
    /// Backups of this store that failed their verification since the newest good one.
    pub failures: Vec<String>,
    /// No verified backup within `max_age` (two scheduled intervals), or none at all.
    pub stale: bool,
}

/// The backups of the store with `lineage`, as a health summary.
pub fn health(
    settings: &Settings,
    lineage: Option<&str>,
    max_age: Option<chrono::Duration>,
) -> Result<Health, BackupError> {
    let now = Utc::now();
    let mine: Vec<Entry> = list(settings)?
        .into_iter()
        .filter(|e| e.lineage_id.as_deref() == lineage)
        .collect();
    let last = mine.iter().max_by_key(|e| e.created_at);
    let good = mine
        .iter()
        .filter(|e| e.verified)
        .max_by_key(|e| e.created_at);
    let failures = mine
        .iter()
        .filter(|e| !e.verified && good.is_none_or(|g| e.verified_at >= g.created_at))
        .map(|e| format!("{}: {}", e.file, e.verification))
        .collect();
    Ok(Health {
        dir: settings.dir.clone(),
        last_backup: last.map(|e| e.file.clone()),
        last_backup_at: last.map(|e| e.created_at),
        last_verified: good.map(|e| e.file.clone()),
        last_verified_at: good.map(|e| e.created_at),
        last_verified_age_seconds: good.map(|e| (now - e.created_at).num_seconds()),
        failures,
        stale: match (good, max_age) {
            (None, _) => true,
            (Some(g), Some(max)) => now - g.created_at > max,
            (Some(_), None) => false,
        },
    })
}

/// The catalog's backups (latest state of each), oldest first.
pub fn list(settings: &Settings) -> Result<Vec<Entry>, BackupError> {
    Catalog::at(&settings.dir).entries()
}

/// What retention removes (or would, with `dry_run`). Only files proven to be the backups the
/// catalog recorded are deleted (see [`remove_backup`]); the others are left where they are and
/// named in `Plan::refused`.
pub async fn prune(
    store: &dyn Store,
    settings: &Settings,
    dry_run: bool,
) -> Result<retention::Plan, BackupError> {
    let lineage = store.meta().await?.map(|m| m.lineage_id.to_string());
    let catalog = Catalog::at(&settings.dir);
    let entries = catalog.entries()?;
    let mut plan = retention::plan(&entries, lineage.as_deref(), Utc::now(), settings.keep)
        .map_err(BackupError::Refused)?;
    if dry_run {
        return Ok(plan);
    }
    let mut deleted = Vec::new();
    for name in std::mem::take(&mut plan.delete) {
        let Some(entry) = entries.iter().find(|e| e.file == name) else {
            continue;
        };
        match remove_backup(&settings.dir, entry) {
            Ok(()) => {
                catalog.record(&Entry {
                    deleted: true,
                    ..entry.clone()
                })?;
                info!(file = %name, "pruned");
                deleted.push(name);
            }
            Err(reason) => {
                warn!(file = %name, %reason, "not pruned");
                plan.refused.push(format!("{name}: {reason}"));
            }
        }
    }
    plan.delete = deleted;
    sync_dir(&settings.dir)?;
    Ok(plan)
}

/// Deletes one backup and its manifest, only when the file is what the catalog recorded: a
/// backup name, a regular file directly in the backup directory (not a symlink), with the
/// catalog's size and SHA-256. A file that is already gone counts as removed.
fn remove_backup(dir: &Path, entry: &Entry) -> Result<(), String> {
    fsx::check_backup_name(&entry.file)?;
    match fsx::regular_file(dir, &entry.file).map_err(|e| e.to_string())? {
        None => {}
        Some(meta) => {
            let path = dir.join(&entry.file);
            if meta.len() != entry.size {
                return Err(format!(
                    "it has {} bytes, not the {} the catalog recorded: not deleted",
                    meta.len(),
                    entry.size
                ));
            }
            let (_, sha) = hash_file(&path).map_err(|e| e.to_string())?;
            if sha != entry.sha256 {
                return Err(
                    "its SHA-256 is not the one the catalog recorded: not deleted".to_string(),
                );
            }
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let side = format!("{}.manifest.json", entry.file);
    match fsx::regular_file(dir, &side) {
        Ok(Some(_)) => std::fs::remove_file(dir.join(&side))
            .map_err(|e| format!("{}: {e}", dir.join(&side).display()))?,
        Ok(None) => {}
        Err(e) => warn!(file = %side, error = %e, "manifest left alone"),
    }
    Ok(())
}

// ---- internals

/// Restores `member` into a scratch store, checks it and returns its facts: integrity, and its
/// rows against its journal — every row read once into the rows digest its head entry must
/// record, the whole hash chain checked ([`check_snapshot`]); with `replay_journal`, the whole
/// journal replayed against every row as `journal verify` does.
async fn restore_and_check(
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
    let store = scratch.store.as_ref();
    let (integrity, report, facts) = tokio::join!(
        scratch.integrity(fresh),
        async {
            if replay_journal {
                verify_journal(store).await
            } else {
                check_snapshot(store).await
            }
        },
        Facts::of(store),
    );
    scratch.discard().await;
    integrity?;
    let report = report?;
    if !report.ok {
        return Err(BackupError::Restore(format!(
            "the restored journal does not match its rows: {}",
            report.problem.unwrap_or_default()
        )));
    }
    facts
}

/// The snapshot's journal head must be an entry of the live journal: the backup is a moment of
/// this store's history, not of another one.
async fn check_part_of_live_history(store: &dyn Store, facts: &Facts) -> Result<(), BackupError> {
    let live = store.meta().await?.map(|m| m.lineage_id.to_string());
    if live != facts.lineage_id {
        return Err(BackupError::Snapshot(
            "the snapshot's lineage id is not the live store's".into(),
        ));
    }
    if facts.journal_seq == 0
        || live_journal_has(store, facts.journal_seq, &facts.journal_hash).await?
    {
        return Ok(());
    }
    Err(BackupError::Snapshot(format!(
        "journal entry {} of the snapshot is not in the live journal",
        facts.journal_seq
    )))
}

/// Whether the live journal holds entry `seq` with this hex hash.
async fn live_journal_has(store: &dyn Store, seq: i64, hash: &str) -> Result<bool, BackupError> {
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
    let missing = match fsx::regular_file(&settings.dir, &b.file) {
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

fn file_name(
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

fn member_entry(path: &Path, name: &str) -> Result<Member, BackupError> {
    let (size, sha256) = hash_file(path).map_err(|e| BackupError::io(path, e))?;
    Ok(Member {
        name: name.into(),
        size,
        sha256,
    })
}

/// Takes the backup lock of `dir` (an advisory lock on `.backup.lock`, released when the value
/// is dropped or the process ends, however it ends), waiting for a backup that holds it.
async fn backup_lock(dir: &Path) -> Result<File, BackupError> {
    let path = dir.join(".backup.lock");
    let f = fsx::open_regular(
        &path,
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
    )
    .map_err(|e| BackupError::io(&path, e))?;
    tokio::task::spawn_blocking(move || f.lock().map(|()| f))
        .await
        .map_err(|e| BackupError::Io(e.to_string()))?
        .map_err(|e| BackupError::io(&path, e))
}

/// Work directories and partial archives of backups that were killed (hidden names, never
/// mistaken for backups) are removed. Called holding the backup lock: `.work-*` directories and `.ledgerflow_….partial` archives
/// are then a killed backup's, whatever their age; other leftovers (of a verify or a restore,
/// which another process may be running) go once they are six hours old.
fn remove_stale_leftovers(dir: &Path) {
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
fn recent_sizes(
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
                && fsx::regular_file(&settings.dir, &e.file)
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

/// Records a new pinned state for a backup (a failed restore unpins its safety backup, so
/// retention treats it as any other verified backup). Logged, not fatal, when it fails.
pub(crate) fn set_pinned(settings: &Settings, file: &Path, pinned: bool) {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let catalog = Catalog::at(&settings.dir);
    let recorded =
        catalog.entries().and_then(
            |entries| match entries.into_iter().find(|e| e.file == name) {
                Some(e) => catalog.record(&Entry { pinned, ..e }),
                None => Ok(()),
            },
        );
    if let Err(e) = recorded {
        warn!(file = %name, error = %e, "the backup's pin was not changed");
    }
}

const LAST_RESTORE: &str = "last-restore";

/// Records that a restore replaced the store now (the size baseline starts again).
pub(crate) fn mark_restored(dir: &Path) {
    // Replaced by a rename: a symlink planted under that name is replaced, never followed.
    if let Err(e) =
        fsx::write_atomic_replace(&dir.join(LAST_RESTORE), Utc::now().to_rfc3339().as_bytes())
    {
        warn!(error = %e, "the time of the restore was not recorded");
    }
}

fn last_restore(dir: &Path) -> Option<DateTime<Utc>> {
    let bytes = fsx::read_small(&dir.join(LAST_RESTORE), 256).ok()?;
    DateTime::parse_from_rfc3339(std::str::from_utf8(&bytes).ok()?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| *t <= Utc::now())
}

/// Records the verification result of the archive at `current`: the manifest beside it, then
/// the archive under its finished name (`finished`) when it verified or `finished.failed` when
/// not, then a catalog line.
fn settle(
    settings: &Settings,
    current: &Path,
    finished: &Path,
    m: &Manifest,
    checked: Result<String, String>,
    pinned: bool,
    prefix: &str,
) -> Result<Outcome, BackupError> {
    let (verified, verification) = match checked {
        Ok(what) => (true, format!("{prefix}{what}")),
        Err(why) => (false, why),
    };
    let side = PathBuf::from(format!("{}.manifest.json", finished.display()));
    let json = serde_json::to_vec_pretty(m).map_err(|e| BackupError::Io(e.to_string()))?;
    write_atomic_replace(&side, &json)?;
    let target = if verified {
        finished.to_path_buf()
    } else {
        warn!(file = %finished.display(), reason = %verification, "backup failed its verification");
        PathBuf::from(format!("{}.failed", finished.display()))
    };
    if current != target && current.exists() {
        std::fs::rename(current, &target).map_err(|e| BackupError::io(current, e))?;
        sync_dir(&settings.dir)?;
    }
    let transactions = m.facts.counts.get("transactions").copied().unwrap_or(0);
    let catalog = Catalog::at(&settings.dir);
    let copies = catalog
        .entries()?
        .into_iter()
        .find(|e| e.file == m.file)
        .map(|e| e.copies)
        .unwrap_or_default();
    catalog.record(&Entry {
        file: m.file.clone(),
        kind: m.kind.clone(),
        engine: m.engine.clone(),
        created_at: m.created_at,
        lineage_id: m.facts.lineage_id.clone(),
        size: m.size.unwrap_or(0),
        sha256: m.sha256.clone().unwrap_or_default(),
        verified,
        verification: verification.clone(),
        verified_at: Utc::now(),
        pinned,
        deleted: false,
        transactions,
        copies,
        journal_seq: Some(m.facts.journal_seq),
        journal_hash: Some(m.facts.journal_hash.clone()),
    })?;
    Ok(Outcome {
        file: target,
        kind: m.kind.clone(),
        size: m.size.unwrap_or(0),
        verified,
        verification,
        duration_ms: 0,
        transactions,
        restored: None,
    })
}
