//! The catalog: one JSON line per event (a backup written, verified, failed, pruned) in
//! `catalog.jsonl` in the backup directory. Appended and fsynced; the last line about a file is
//! its state. It lives beside the backups, so it survives the loss of the database.
//!
//! The catalog is read from the backup directory, so it is evidence, not orders: a line whose
//! file is not one of LedgerFlow's backup names, whose kind or engine is unknown, or that is too
//! long is skipped (and logged); text is cleaned of control characters before anyone prints it;
//! the file's size is bounded. Whoever acts on an entry (retention deleting a file) checks the
//! file itself again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::BackupError;
use crate::fsx::{sync_dir, write_atomic_replace};
use crate::manifest::Manifest;
use crate::{Outcome, Settings};
use tracing::warn;

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
    /// The journal head the backup holds (sequence number and hex hash): the live store's
    /// journal must still contain it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_seq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_hash: Option<String>,
}

/// The last byte of the catalog, if it has one (`None` when it is missing or empty).
fn last_byte(path: &Path) -> std::io::Result<Option<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match crate::fsx::open_regular(path, std::fs::OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if f.metadata()?.len() == 0 {
        return Ok(None);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    Ok(Some(b[0]))
}

/// The largest catalog read (years of hourly backups are a few tens of megabytes).
const MAX_CATALOG: u64 = 256 << 20;
/// The longest line read: LedgerFlow's own are well under a kilobyte.
const MAX_LINE: usize = 16 << 10;

impl Entry {
    /// Whether this line can be one LedgerFlow wrote; text cleaned for printing.
    fn sane(mut self) -> Option<Entry> {
        let name = crate::fsx::backup_name(&self.file)?;
        if self.kind != name.kind || !matches!(self.engine.as_str(), "sqlite" | "postgres") {
            return None;
        }
        if self
            .lineage_id
            .as_deref()
            .is_some_and(|l| uuid::Uuid::parse_str(l).is_err())
        {
            return None;
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.verification = crate::fsx::printable(&self.verification, 1000);
        self.copies = self
            .copies
            .iter()
            .take(32)
            .map(|c| crate::fsx::printable(c, 100))
            .collect();
        self.transactions = self.transactions.max(0);
        Some(self)
    }
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
        // A line torn by a crash must not swallow this one. Never through a symlink, never
        // into a FIFO: the directory is shared.
        let torn = last_byte(&self.path)
            .map_err(|e| BackupError::io(&self.path, e))?
            .is_some_and(|b| b != b'\n');
        if torn {
            line.insert(0, b'\n');
        }
        crate::fsx::append_line(&self.path, &line).map_err(|e| BackupError::io(&self.path, e))?;
        Ok(())
    }

    /// The latest state of every file, oldest first. Lines that cannot be read (a torn last
    /// line after a crash) are skipped.
    pub fn entries(&self) -> Result<Vec<Entry>, BackupError> {
        let bytes = match crate::fsx::read_small(&self.path, MAX_CATALOG) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(BackupError::io(&self.path, e)),
        };
        let mut latest: BTreeMap<String, Entry> = BTreeMap::new();
        let mut skipped = 0usize;
        for line in bytes.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let entry = (line.len() <= MAX_LINE)
                .then(|| serde_json::from_slice::<Entry>(line).ok())
                .flatten()
                .and_then(Entry::sane);
            match entry {
                Some(e) => {
                    latest.insert(e.file.clone(), e);
                }
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            tracing::warn!(
                catalog = %self.path.display(),
                skipped,
                "catalog lines that are not LedgerFlow's own were ignored"
            );
        }
        let mut v: Vec<Entry> = latest.into_values().filter(|e| !e.deleted).collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.file.cmp(&b.file)));
        Ok(v)
    }
}

/// Records a new pinned state for a backup (a failed restore unpins its safety backup, so
/// retention treats it as any other verified backup). Logged, not fatal, when it fails.
pub fn set_pinned(settings: &Settings, file: &Path, pinned: bool) {
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

pub(crate) const LAST_RESTORE: &str = "last-restore";

/// Records that a restore replaced the store now (the size baseline starts again).
pub(crate) fn mark_restored(dir: &Path) {
    // Replaced by a rename: a symlink planted under that name is replaced, never followed.
    if let Err(e) = crate::fsx::write_atomic_replace(
        &dir.join(LAST_RESTORE),
        Utc::now().to_rfc3339().as_bytes(),
    ) {
        warn!(error = %e, "the time of the restore was not recorded");
    }
}

pub(crate) fn last_restore(dir: &Path) -> Option<DateTime<Utc>> {
    let bytes = crate::fsx::read_small(&dir.join(LAST_RESTORE), 256).ok()?;
    DateTime::parse_from_rfc3339(std::str::from_utf8(&bytes).ok()?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| *t <= Utc::now())
}

/// Records the verification result of the archive at `current`: the manifest beside it, then
/// the archive under its finished name (`finished`) when it verified or `finished.failed` when
/// not, then a catalog line.
pub(crate) fn settle(
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

impl Entry {
    /// A verified sqlite backup of lineage `L` of `kind` taken at `at`, for the unit tests of
    /// retention and the schedule.
    #[cfg(test)]
    pub(crate) fn test(file: &str, kind: &str, at: DateTime<Utc>) -> Entry {
        Entry {
            file: file.into(),
            kind: kind.into(),
            engine: "sqlite".into(),
            created_at: at,
            lineage_id: Some("L".into()),
            size: 1,
            sha256: String::new(),
            verified: true,
            verification: String::new(),
            verified_at: at,
            pinned: false,
            deleted: false,
            transactions: 0,
            copies: Vec::new(),
            journal_seq: None,
            journal_hash: None,
        }
    }
}
