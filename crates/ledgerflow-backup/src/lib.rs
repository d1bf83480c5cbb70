//! Backups that count only once a restore has proven them.
//!
//! `backup` takes a consistent snapshot of the live store ([`engine::snapshot`]), restores it
//! into a scratch store and checks it there (integrity, the whole journal replayed against every
//! row, the journal head still part of the live store's history), then writes the compressed
//! archive under a temporary name, fsyncs and renames it, and reads it back (size, SHA-256, full
//! decompression). The manifest goes beside the archive and into the catalog
//! ([`catalog::Catalog`]); a failed check renames the archive to `*.failed` so nothing that
//! failed looks finished. `verify` repeats every level on a stored backup at any time;
//! `prune` applies retention ([`retention::plan`]).

pub mod alert;
pub mod catalog;
mod crypt;
pub mod destination;
pub mod engine;
pub mod manifest;
pub mod restore;
pub mod retention;
pub mod schedule;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use ledgerflow_core::Store;
use ledgerflow_core::service::verify_journal;
use ledgerflow_core::store::JournalFilter;
pub use ledgerflow_db::Location;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::catalog::{Catalog, Entry};
pub use crate::destination::{Destination, S3Destination, copy_to, copy_to_destinations};
use crate::engine::Scratch;
use crate::manifest::{Facts, Manifest, Member};
pub use crate::restore::{Restored, restore};
pub use crate::retention::Keep;

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
}

const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A backup as the schedule and "back up now" take it: verified, then copied off-site and
/// followed by retention (failures of those two are logged; the backup stands).
pub async fn backup_now(
    store: &dyn Store,
    location: &Location,
    settings: &Settings,
    kind: Kind,
) -> Result<Outcome, BackupError> {
    let o = backup(store, location, settings, kind, false).await?;
    if o.verified {
        if let Err(e) = copy_to_destinations(settings, &o).await {
            tracing::error!(error = %e, "off-site copy failed");
        }
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
    remove_stale_leftovers(dir);
    let work = tempfile::Builder::new()
        .prefix(".work-")
        .tempdir_in(dir)
        .map_err(|e| BackupError::io(dir, e))?;
    let member_name = engine::member_name(location);
    let member = work.path().join(member_name);
    let pg_bin = settings.pg_bin_dir.as_deref();
    engine::snapshot(location, &member, pg_bin).await?;

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
    let engine = engine::engine_name(location);
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
            let entry = member_entry(&member, member_name)?;
            let c = settings.compression;
            let (tmp, size, sha) = write_temp(&path, |out| {
                let mut enc = Encoder::new(out, c, to.as_ref())?;
                std::io::copy(&mut File::open(&member)?, &mut enc)?;
                enc.finish()
            })?;
            // L0-L2 on this core too, while the test restore runs on the other.
            let spec = Manifest {
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
                members: vec![entry.clone()],
                size: Some(size),
                sha256: Some(sha.clone()),
            };
            let checked = check_archive(&tmp, &spec, &settings, &recent).map_err(Failure::reason);
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
        let facts = restore_and_check(location, &member, pg_bin, settings.replay_journal).await?;
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
            ""
        },
        facts.counts.get("transactions").copied().unwrap_or(0),
        facts.journal_seq
    );

    let mut manifest = Manifest {
        format: 1,
        file: name.clone(),
        kind: kind.as_str().into(),
        engine: engine::engine_name(location).into(),
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

    let checked = match early_checked {
        Some(c) => c,
        None => check_archive(&tmp, &manifest, settings, &recent).map_err(Failure::reason),
    }
    .map(|what| format!("{restored}; {what}"));
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
                                None => Ok(()),
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

/// What retention removes (or would, with `dry_run`).
pub async fn prune(
    store: &dyn Store,
    settings: &Settings,
    dry_run: bool,
) -> Result<retention::Plan, BackupError> {
    let lineage = store.meta().await?.map(|m| m.lineage_id.to_string());
    let catalog = Catalog::at(&settings.dir);
    let entries = catalog.entries()?;
    let plan = retention::plan(&entries, lineage.as_deref(), Utc::now(), settings.keep)
        .map_err(BackupError::Refused)?;
    if dry_run {
        return Ok(plan);
    }
    for name in &plan.delete {
        let Some(entry) = entries.iter().find(|e| &e.file == name) else {
            continue;
        };
        for p in [
            settings.dir.join(name),
            settings.dir.join(format!("{name}.manifest.json")),
        ] {
            if let Err(e) = std::fs::remove_file(&p)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(BackupError::io(&p, e));
            }
        }
        catalog.record(&Entry {
            deleted: true,
            ..entry.clone()
        })?;
        info!(file = %name, "pruned");
    }
    sync_dir(&settings.dir)?;
    Ok(plan)
}

// ---- internals

/// Restores `member` into a scratch store, checks it (integrity; with `replay_journal`, the
/// whole journal replayed against every row) and returns its facts.
async fn restore_and_check(
    location: &Location,
    member: &Path,
    pg_bin: Option<&Path>,
    replay_journal: bool,
) -> Result<Facts, BackupError> {
    let scratch = Scratch::restore(location, member, pg_bin).await?;
    let checked = async {
        if replay_journal {
            let report = verify_journal(scratch.store.as_ref()).await?;
            if !report.ok {
                return Err(BackupError::Restore(format!(
                    "the restored journal does not match its rows: {}",
                    report.problem.unwrap_or_default()
                )));
            }
        }
        Facts::of(scratch.store.as_ref()).await
    }
    .await;
    scratch.discard().await;
    checked
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
    if facts.journal_seq == 0 {
        return Ok(());
    }
    let entries = store
        .journal_entries(&JournalFilter {
            after_seq: facts.journal_seq - 1,
            limit: 1,
            ..Default::default()
        })
        .await?;
    match entries.first() {
        Some(e) if e.seq == facts.journal_seq && hex::encode(e.hash) == facts.journal_hash => {
            Ok(())
        }
        _ => Err(BackupError::Snapshot(format!(
            "journal entry {} of the snapshot is not in the live journal",
            facts.journal_seq
        ))),
    }
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
        Kind::Db => match location {
            Location::Sqlite(_) => "sqlite",
            Location::Postgres(_) => "pgdump",
        },
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

pub(crate) fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    hash_reader(File::open(path)?)
}

fn hash_reader(mut r: impl Read) -> std::io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(h.finalize())))
}

/// Hashes what passes through.
struct Hashing<W> {
    inner: W,
    h: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.h.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type Out<'a> = crypt::Sink<&'a mut Hashing<BufWriter<File>>>;

/// Compression, then (optionally) age encryption, then the hashing file writer.
enum Encoder<'a> {
    Zstd(zstd::stream::write::Encoder<'static, Out<'a>>),
    Gzip(flate2::write::GzEncoder<Out<'a>>),
}

impl<'a> Encoder<'a> {
    fn new(
        out: &'a mut Hashing<BufWriter<File>>,
        c: Compression,
        to: Option<&age::x25519::Recipient>,
    ) -> std::io::Result<Self> {
        let out = crypt::Sink::new(out, to)?;
        Ok(match c {
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(out, 3)?),
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::default(),
            )),
        })
    }
    fn finish(self) -> std::io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.finish()?.finish(),
            Encoder::Gzip(e) => e.finish()?.finish(),
        }
    }
}

impl Write for Encoder<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
        }
    }
}

/// The archive's decompressed bytes (decrypted first when it is encrypted).
fn decoder(path: &Path, m: &Manifest, identity: Option<&Path>) -> Result<Box<dyn Read>, Failure> {
    let file = BufReader::new(crypt::open(path, m.encryption.as_deref(), identity)?);
    let bad = |e: String| Failure::Archive(format!("decompression failed: {e}"));
    match m.compression.as_str() {
        "zstd" => Ok(Box::new(
            zstd::stream::read::Decoder::new(file).map_err(|e| bad(e.to_string()))?,
        )),
        "gzip" => Ok(Box::new(flate2::read::GzDecoder::new(file))),
        other => Err(bad(format!("unknown compression \"{other}\""))),
    }
}

/// Writes `.NAME.partial` beside `path` and fsyncs it; returns its path, size and SHA-256. On
/// failure the temporary file is removed.
fn write_temp(
    path: &Path,
    fill: impl FnOnce(&mut Hashing<BufWriter<File>>) -> std::io::Result<()>,
) -> Result<(PathBuf, u64, String), BackupError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.partial",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("backup")
    ));
    let result = (|| -> std::io::Result<(u64, String)> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let mut out = Hashing {
            inner: BufWriter::new(file),
            h: Sha256::new(),
            size: 0,
        };
        fill(&mut out)?;
        out.flush()?;
        let Hashing { inner, h, size } = out;
        let file = inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok((size, hex::encode(h.finalize())))
    })();
    match result {
        Ok((size, sha)) => Ok((tmp, size, sha)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(BackupError::io(path, e))
        }
    }
}

/// Writes `path` through a temporary name: write, fsync, rename, fsync the directory. Returns
/// the size and SHA-256 of what was written.
pub(crate) fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut Hashing<BufWriter<File>>) -> std::io::Result<()>,
) -> Result<(u64, String), BackupError> {
    let (tmp, size, sha) = write_temp(path, fill)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(BackupError::io(path, e));
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok((size, sha))
}

/// Work directories and partial archives of backups that were killed (hidden names, never
/// mistaken for backups) are removed once they are six hours old.
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
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(6 * 3600));
        if leftover && old {
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

pub(crate) fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BackupError::io(dir, e))
}

/// Sizes of the recent verified backups of the same kind, engine and lineage.
fn recent_sizes(
    settings: &Settings,
    kind: &str,
    engine: &str,
    lineage: Option<&str>,
) -> Result<Vec<u64>, BackupError> {
    // A restore may rightly shrink the store: only backups since the last one compare.
    let since = last_restore(&settings.dir);
    let mut v: Vec<u64> = Catalog::at(&settings.dir)
        .entries()?
        .into_iter()
        .rev()
        .filter(|e| {
            e.verified
                && since.is_none_or(|t| e.created_at > t)
                && e.kind == kind
                && e.engine == engine
                && e.lineage_id.as_deref() == lineage
        })
        .take(5)
        .map(|e| e.size)
        .collect();
    v.sort_unstable();
    Ok(v)
}

const LAST_RESTORE: &str = "last-restore";

/// Records that a restore replaced the store now (the size baseline starts again).
pub(crate) fn mark_restored(dir: &Path) {
    if let Err(e) = std::fs::write(dir.join(LAST_RESTORE), Utc::now().to_rfc3339()) {
        warn!(error = %e, "the time of the restore was not recorded");
    }
}

fn last_restore(dir: &Path) -> Option<DateTime<Utc>> {
    let text = std::fs::read_to_string(dir.join(LAST_RESTORE)).ok()?;
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// L0 (size), L1 (hash read back from disk) and L2 (full decompression, members' hashes).
fn check_archive(
    path: &Path,
    m: &Manifest,
    settings: &Settings,
    recent: &[u64],
) -> Result<String, Failure> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if size == 0 {
        return Err("the file is empty (0 bytes)".into());
    }
    if Some(size) != m.size {
        return Err(format!(
            "the file has {size} bytes but {} were written",
            m.size.unwrap_or(0)
        )
        .into());
    }
    if size < settings.min_size {
        return Err(format!(
            "{size} bytes is below the minimum of {} (backup.min_size)",
            settings.min_size
        )
        .into());
    }
    if let Some(median) = recent.get(recent.len() / 2)
        && settings.size_ratio > 0.0
        && (size as f64) < settings.size_ratio * (*median as f64)
    {
        return Err(format!(
            "{size} bytes is suspiciously small next to recent verified backups (median {median} bytes; backup.size_ratio {})",
            settings.size_ratio
        ).into());
    }
    let (_, sha) = hash_file(path).map_err(|e| format!("reading it back failed: {e}"))?;
    if Some(&sha) != m.sha256.as_ref() {
        return Err(
            "its SHA-256 read back from disk differs from the one written (bit rot or a cut copy)"
                .into(),
        );
    }
    let work = tempfile::tempdir().map_err(|e| Failure::Here(e.to_string()))?;
    extract_member(path, m, settings.age_identity.as_deref(), work.path())?;
    Ok(format!(
        "size {size} bytes, SHA-256 read back, decompressed in full with every member's hash matching"
    ))
}

/// Why an archive check failed: the archive itself, or this machine (a full disk where it is
/// unpacked), which says nothing about the archive.
pub(crate) enum Failure {
    Archive(String),
    Here(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Archive(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Failure {
        Failure::Archive(s.to_string())
    }
}

impl Failure {
    fn reason(self) -> String {
        match self {
            Failure::Archive(s) => s,
            Failure::Here(s) => format!("it could not be checked here: {s}"),
        }
    }
}

/// Decompresses the archive and returns the database snapshot inside it, every member's hash
/// checked against the manifest.
pub(crate) fn extract_member(
    path: &Path,
    m: &Manifest,
    identity: Option<&Path>,
    into: &Path,
) -> Result<PathBuf, Failure> {
    let bad = |e: std::io::Error| Failure::Archive(format!("decompression failed: {e}"));
    let db = m
        .members
        .first()
        .ok_or_else(|| "the manifest lists no members".to_string())?;
    let out = into.join(&db.name);
    let mut reader = decoder(path, m, identity)?;
    if m.kind == "full" {
        let mut archive = tar::Archive::new(reader);
        let mut seen = 0;
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let name = entry.path().map_err(bad)?.to_string_lossy().to_string();
            if name == "manifest.json" {
                continue;
            }
            let Some(want) = m.members.iter().find(|x| x.name == name) else {
                return Err(format!("the archive holds an unexpected member {name}").into());
            };
            let target = into.join(&want.name);
            copy_out(&mut entry, &target)?;
            check_member(&target, want)?;
            seen += 1;
        }
        if seen != m.members.len() {
            return Err("the archive is missing members the manifest lists".into());
        }
    } else {
        copy_out(&mut reader, &out)?;
        check_member(&out, db)?;
    }
    Ok(out)
}

/// Copies what the archive yields into `to`: a read error is the archive's, a write error
/// (a full disk) is this machine's.
fn copy_out(from: &mut impl Read, to: &Path) -> Result<(), Failure> {
    let here = |e: std::io::Error| Failure::Here(format!("{}: {e}", to.display()));
    let mut f = BufWriter::new(File::create(to).map_err(here)?);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = from
            .read(&mut buf)
            .map_err(|e| Failure::Archive(format!("decompression failed: {e}")))?;
        if n == 0 {
            break;
        }
        f.write_all(&buf[..n]).map_err(here)?;
    }
    f.flush().map_err(here)
}

fn check_member(path: &Path, want: &Member) -> Result<(), String> {
    let (size, sha) = hash_file(path).map_err(|e| e.to_string())?;
    if size != want.size || sha != want.sha256 {
        return Err(format!(
            "{} decompresses to {size} bytes with another hash than the manifest's",
            want.name
        ));
    }
    Ok(())
}

/// The manifest beside a backup.
pub(crate) fn read_manifest(path: &Path) -> Result<Manifest, BackupError> {
    let name = path
        .to_string_lossy()
        .trim_end_matches(".failed")
        .to_string();
    let side = PathBuf::from(format!("{name}.manifest.json"));
    let text = std::fs::read_to_string(&side).map_err(|e| {
        BackupError::NotFound(format!(
            "{}: no manifest beside it ({e}); it is not a LedgerFlow backup or its manifest was lost",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| BackupError::Io(format!("{}: {e}", side.display())))
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
    })?;
    Ok(Outcome {
        file: target,
        kind: m.kind.clone(),
        size: m.size.unwrap_or(0),
        verified,
        verification,
        duration_ms: 0,
        transactions,
    })
}

/// Replaces a small file atomically (temp name, fsync, rename, fsync the directory).
pub(crate) fn write_atomic_replace(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let tmp = PathBuf::from(format!("{}.partial", path.display()));
    let r = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    r.map_err(|e| BackupError::io(path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}
