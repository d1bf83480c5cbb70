//! What `status`, `doctor` and the metrics say about backups: the newest, the newest verified,
//! failures since, staleness.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::{Catalog, Entry};
use crate::{BackupError, Settings};

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
