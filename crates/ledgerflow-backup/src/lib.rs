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
mod backup;
pub mod catalog;
mod crypt;
pub mod destination;
pub mod fsx;
mod health;
pub mod manifest;
pub mod restore;
pub mod retention;
pub mod schedule;
mod verify;

use std::path::{Path, PathBuf};

pub use ledgerflow_db::Location;
use serde::Serialize;

pub(crate) use crate::archive::Failure;
pub use crate::backup::{Copies, backup, backup_now, scheduled_backup};
pub use crate::catalog::set_pinned;
pub use crate::destination::{Destination, S3Destination, copy_to, copy_to_destinations};
pub(crate) use crate::fsx::{hash_file, sync_dir, write_atomic, write_atomic_replace};
pub use crate::health::{Health, health, list};
use crate::manifest::Facts;
pub(crate) use crate::manifest::read_manifest;
pub use crate::restore::{Restored, restore};
pub use crate::retention::{Keep, prune};
pub use crate::verify::{journal_behind_backups, verify};
use ledgerflow_db::admin::AdminError;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(String),
    /// The snapshot, a tool or the test restore failed: [`AdminError::Snapshot`],
    /// [`AdminError::Tool`] or [`AdminError::Restore`].
    #[error(transparent)]
    Failed(AdminError),
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
            AdminError::Refused(m) => BackupError::Refused(m),
            AdminError::Environment(m) => BackupError::Environment(m),
            AdminError::Store(e) => BackupError::Store(e),
            failed => BackupError::Failed(failed),
        }
    }
}

impl BackupError {
    /// The test restore failed.
    pub fn restore(message: String) -> BackupError {
        BackupError::Failed(AdminError::Restore(message))
    }

    /// The snapshot failed.
    pub fn snapshot(message: String) -> BackupError {
        BackupError::Failed(AdminError::Snapshot(message))
    }

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

impl Settings {
    /// The defaults of `[backup]` (zstd, at least 1 KiB and half the recent backups' size,
    /// 48 hourly and 7 daily kept, no copies, no encryption, no webhook), into `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Settings {
        Settings {
            dir: dir.into(),
            compression: Compression::Zstd,
            min_size: 1024,
            size_ratio: 0.5,
            keep: Keep::default(),
            pg_bin_dir: None,
            config_toml: String::new(),
            replay_journal: false,
            destinations: Default::default(),
            encrypt_to: None,
            age_identity: None,
            alert_webhook: None,
        }
    }
}

impl Default for Settings {
    /// [`Settings::in_dir`] `backups`, as the configuration's default.
    fn default() -> Self {
        Settings::in_dir("backups")
    }
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

impl Outcome {
    /// Refuses a backup that did not verify, saying `why`.
    pub(crate) fn verified_or(
        &self,
        why: impl FnOnce(&Outcome) -> String,
    ) -> Result<(), BackupError> {
        if self.verified {
            Ok(())
        } else {
            Err(BackupError::Refused(why(self)))
        }
    }
}

// ---- internals
