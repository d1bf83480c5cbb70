//! The catalog: one JSON line per event (a backup written, verified, failed, pruned) in
//! `catalog.jsonl` in the backup directory. Appended and fsynced; the last line about a file is
//! its state. It lives beside the backups, so it survives the loss of the database.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::BackupError;

pub const CATALOG: &str = "catalog.jsonl";

/// The state of one backup file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub file: String,
    pub kind: String,
    pub engine: String,
    pub created_at: DateTime<Utc>,
    pub lineage_id: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub verified: bool,
    /// What was checked, or why it failed.
    pub verification: String,
    pub verified_at: DateTime<Utc>,
    /// Kept by retention whatever its age (taken before a restore or a migration).
    #[serde(default)]
    pub pinned: bool,
    /// Removed by `backup prune`.
    #[serde(default)]
    pub deleted: bool,
    /// Transactions in the backup (for the list).
    #[serde(default)]
    pub transactions: i64,
    /// Destinations holding a verified copy.
    #[serde(default)]
    pub copies: Vec<String>,
}

pub struct Catalog {
    path: PathBuf,
}

impl Catalog {
    pub fn at(dir: &Path) -> Catalog {
        Catalog {
            path: dir.join(CATALOG),
        }
    }

    /// Appends one state, durably.
    pub fn record(&self, entry: &Entry) -> Result<(), BackupError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| BackupError::Io(e.to_string()))?;
        line.push(b'\n');
        // A line torn by a crash must not swallow this one.
        let torn = std::fs::read(&self.path)
            .ok()
            .is_some_and(|b| !b.is_empty() && !b.ends_with(b"\n"));
        if torn {
            line.insert(0, b'\n');
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| BackupError::io(&self.path, e))?;
        f.write_all(&line)
            .and_then(|()| f.sync_all())
            .map_err(|e| BackupError::io(&self.path, e))?;
        Ok(())
    }

    /// The latest state of every file, oldest first. Lines that cannot be read (a torn last
    /// line after a crash) are skipped.
    pub fn entries(&self) -> Result<Vec<Entry>, BackupError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(BackupError::io(&self.path, e)),
        };
        let mut latest: BTreeMap<String, Entry> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok(e) = serde_json::from_str::<Entry>(line) {
                latest.insert(e.file.clone(), e);
            }
        }
        let mut v: Vec<Entry> = latest.into_values().filter(|e| !e.deleted).collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.file.cmp(&b.file)));
        Ok(v)
    }
}
