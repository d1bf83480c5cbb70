//! Which backups retention keeps. Grandfather-father-son over verified backups of the current
//! lineage; the newest verified backup and pinned backups are always kept; nothing is pruned
//! when a verification failed since the newest good backup (a new backup, a size anomaly, or bit
//! rot found by `backup verify`); backups that are not verified or belong to another lineage are
//! never deleted by retention, nor is a backup younger than the shortest period kept (an hour
//! with hourly retention): two backups taken minutes apart both stay until that hour is over.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::catalog::Entry;
use crate::fsx::{hash_file, sync_dir};
use crate::{BackupError, Settings};
use ledgerflow_core::Store;
use std::path::Path;
use tracing::{info, warn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keep {
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Default for Keep {
    fn default() -> Self {
        Keep {
            hourly: 48,
            daily: 7,
            weekly: 0,
            monthly: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub keep: Vec<String>,
    pub delete: Vec<String>,
    /// Backups retention would delete but that were left alone, and why (the file is not what
    /// the catalog recorded).
    pub refused: Vec<String>,
}

/// Backups that failed their verification after the newest verified backup of their kind was
/// taken.
pub fn recent_failures<E: std::borrow::Borrow<Entry>>(entries: &[E]) -> Vec<&Entry> {
    entries
        .iter()
        .map(|e| e.borrow())
        .filter(|e| {
            let newest_good = entries
                .iter()
                .map(|x| x.borrow())
                .filter(|x| x.verified && x.kind == e.kind)
                .map(|x| x.created_at)
                .max();
            !e.verified && newest_good.is_none_or(|g| e.verified_at >= g)
        })
        .collect()
}

/// The period a backup falls in (hour, day, ISO week or month).
type Bucket = fn(&DateTime<Utc>) -> (i32, u32, u32);

/// The plan for `entries`, or why nothing may be pruned now.
pub fn plan(
    entries: &[Entry],
    lineage: Option<&str>,
    now: DateTime<Utc>,
    keep: Keep,
) -> Result<Plan, String> {
    let mine: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.lineage_id.as_deref() == lineage && lineage.is_some())
        .collect();
    // Since the newest good backup of its kind, has anything failed (a new backup, or a
    // re-verification finding bit rot)? Then the storage or the data is suspect: keep all.
    if let Some(bad) = recent_failures(&mine)
        .into_iter()
        .max_by_key(|e| e.verified_at)
    {
        return Err(format!(
            "{} failed its verification ({}): nothing is pruned until a newer backup verifies",
            bad.file, bad.verification
        ));
    }
    // Each kind (db, full) has its own series: an hourly db backup never pushes out a daily
    // full one.
    let kinds: BTreeSet<&str> = mine.iter().map(|e| e.kind.as_str()).collect();
    let mut plan = Plan {
        keep: Vec::new(),
        delete: Vec::new(),
        refused: Vec::new(),
    };
    for kind in kinds {
        let series: Vec<&Entry> = mine
            .iter()
            .copied()
            .filter(|e| e.verified && e.kind == kind)
            .collect();
        let (keep_list, delete) = plan_series(series, now, keep);
        plan.keep.extend(keep_list);
        plan.delete.extend(delete);
    }
    Ok(plan)
}

/// Keep and delete lists for the verified backups of one kind.
fn plan_series(
    mut verified: Vec<&Entry>,
    now: DateTime<Utc>,
    keep: Keep,
) -> (Vec<String>, Vec<String>) {
    // Newest first: in each period the newest backup is the one kept.
    verified.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.file.cmp(&a.file)));
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    if let Some(newest) = verified.first() {
        kept.insert(&newest.file);
    }
    // The shortest period kept: nothing younger than it is deleted.
    let youngest_kept = [
        (keep.hourly, Duration::hours(1)),
        (keep.daily, Duration::days(1)),
        (keep.weekly, Duration::weeks(1)),
        (keep.monthly, Duration::days(31)),
    ]
    .into_iter()
    .find(|(n, _)| *n > 0)
    .map(|(_, d)| d);
    for e in &verified {
        if e.pinned || youngest_kept.is_some_and(|d| now - e.created_at < d) {
            kept.insert(&e.file);
        }
    }
    let rules: [(u32, Duration, Bucket); 4] = [
        (keep.hourly, Duration::hours(1), |t| {
            (t.year(), t.ordinal(), chrono::Timelike::hour(t))
        }),
        (keep.daily, Duration::days(1), |t| {
            (t.year(), t.ordinal(), 0)
        }),
        (keep.weekly, Duration::weeks(1), |t| {
            (t.iso_week().year(), t.iso_week().week(), 0)
        }),
        (keep.monthly, Duration::days(31), |t| {
            (t.year(), t.month(), 0)
        }),
    ];
    for (n, unit, bucket) in rules {
        if n == 0 {
            continue;
        }
        let since = now - unit * n as i32;
        let mut seen = BTreeSet::new();
        for e in verified.iter().filter(|e| e.created_at > since) {
            if seen.insert(bucket(&e.created_at)) {
                kept.insert(&e.file);
            }
        }
    }
    let (keep_list, delete): (Vec<&Entry>, Vec<&Entry>) = verified
        .iter()
        .partition(|e| kept.contains(e.file.as_str()));
    (
        keep_list.into_iter().map(|e| e.file.clone()).collect(),
        delete.into_iter().map(|e| e.file.clone()).collect(),
    )
}

/// What retention removes (or would, with `dry_run`). Only files proven to be the backups the
/// catalog recorded are deleted (see [`remove_backup`]); the others are left where they are and
/// named in `Plan::refused`.
pub async fn prune(
    store: &dyn Store,
    settings: &Settings,
    dry_run: bool,
) -> Result<Plan, BackupError> {
    let lineage = store.meta().await?.map(|m| m.lineage_id.to_string());
    let catalog = Catalog::at(&settings.dir);
    let entries = catalog.entries()?;
    let mut plan = plan(&entries, lineage.as_deref(), Utc::now(), settings.keep)
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
pub(crate) fn remove_backup(dir: &Path, entry: &Entry) -> Result<(), String> {
    crate::fsx::check_backup_name(&entry.file)?;
    match crate::fsx::regular_file(dir, &entry.file).map_err(|e| e.to_string())? {
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
    match crate::fsx::regular_file(dir, &side) {
        Ok(Some(_)) => std::fs::remove_file(dir.join(&side))
            .map_err(|e| format!("{}: {e}", dir.join(&side).display()))?,
        Ok(None) => {}
        Err(e) => warn!(file = %side, error = %e, "manifest left alone"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str, hours_ago: i64, verified: bool, now: DateTime<Utc>) -> Entry {
        Entry {
            size: 100,
            verified,
            verification: if verified { "ok" } else { "empty file" }.into(),
            verified_at: now,
            ..Entry::test(file, "db", now - Duration::hours(hours_ago))
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-27T12:30:00Z".parse().expect("time")
    }

    #[test]
    fn hourly_for_two_days_then_daily_for_a_week() {
        let now = now();
        // A backup every hour for ten days.
        let entries: Vec<Entry> = (0..240)
            .map(|h| entry(&format!("b{h:03}"), h, true, now))
            .collect();
        let p = plan(&entries, Some("L"), now, Keep::default()).expect("plan");
        assert!(p.keep.contains(&"b000".to_string()));
        assert!(p.keep.contains(&"b047".to_string()), "47 h old: hourly");
        assert!(
            !p.keep.contains(&"b049".to_string()),
            "49 h old: not the newest of its day"
        );
        // Daily: the newest backup of each of the last 7 days.
        let daily_old: Vec<&String> = p.keep.iter().filter(|f| f.as_str() > "b048").collect();
        assert!(daily_old.len() <= 7, "{daily_old:?}");
        assert!(!p.keep.contains(&"b200".to_string()), "8 days old");
        assert_eq!(p.keep.len() + p.delete.len(), 240);
    }

    #[test]
    fn the_newest_verified_backup_is_never_deleted_however_old() {
        let now = now();
        let entries = vec![entry("old", 24 * 400, true, now)];
        let p = plan(&entries, Some("L"), now, Keep::default()).expect("plan");
        assert_eq!(p.keep, vec!["old".to_string()]);
        assert!(p.delete.is_empty());
        let none = Keep {
            hourly: 0,
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        let p = plan(&entries, Some("L"), now, none).expect("plan");
        assert_eq!(p.keep, vec!["old".to_string()], "even with no periods kept");
    }

    #[test]
    fn nothing_is_pruned_after_a_failed_verification() {
        let now = now();
        let mut entries: Vec<Entry> = (1..100)
            .map(|h| entry(&format!("b{h:03}"), h * 24, true, now))
            .collect();
        entries.push(entry("latest", 0, false, now));
        let err = plan(&entries, Some("L"), now, Keep::default()).expect_err("refused");
        assert!(
            err.contains("latest") && err.contains("empty file"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_full_backup_is_not_hidden_by_a_newer_db_backup() {
        let now = now();
        let mut good_full = entry("full-good", 48, true, now);
        good_full.kind = "full".into();
        let mut bad_full = entry("full-bad", 24, false, now);
        bad_full.kind = "full".into();
        bad_full.verified_at = bad_full.created_at;
        let entries = vec![good_full, bad_full, entry("db-new", 1, true, now)];
        let err = plan(&entries, Some("L"), now, Keep::default()).expect_err("refused");
        assert!(err.contains("full-bad"), "{err}");
    }

    #[test]
    fn a_backup_younger_than_its_period_is_never_deleted() {
        // 06:32 and 06:37 share the 06 hour; at 06:40 both stay (the 06:32 one went before).
        let now: DateTime<Utc> = "2026-11-27T06:40:00Z".parse().expect("time");
        let mut a = entry("a", 0, true, now);
        a.created_at = "2026-11-27T06:32:00Z".parse().expect("time");
        let mut b = entry("b", 0, true, now);
        b.created_at = "2026-11-27T06:37:00Z".parse().expect("time");
        let p = plan(&[a.clone(), b.clone()], Some("L"), now, Keep::default()).expect("plan");
        assert!(p.delete.is_empty(), "{p:?}");
        // Past the hour, the older one of that hour goes.
        let later: DateTime<Utc> = "2026-11-27T07:35:00Z".parse().expect("time");
        let p = plan(&[a, b], Some("L"), later, Keep::default()).expect("plan");
        assert_eq!(p.delete, vec!["a".to_string()]);
    }

    #[test]
    fn each_kind_is_its_own_series() {
        let now = now();
        let mut full = entry("full", 0, true, now);
        full.kind = "full".into();
        let entries = vec![entry("db", 0, true, now), full];
        let p = plan(&entries, Some("L"), now, Keep::default()).expect("plan");
        assert!(p.delete.is_empty(), "{p:?}");
        assert_eq!(p.keep.len(), 2);
    }

    #[test]
    fn other_lineages_unverified_and_pinned_backups_are_left_alone() {
        let now = now();
        let mut other = entry("other-lineage", 24 * 30, true, now);
        other.lineage_id = Some("M".into());
        let mut failed_old = entry("failed-old", 24 * 30, false, now);
        failed_old.verified_at = failed_old.created_at;
        let mut pinned = entry("pinned", 24 * 60, true, now);
        pinned.pinned = true;
        let entries = vec![
            other,
            failed_old,
            pinned,
            entry("old", 24 * 90, true, now),
            entry("new", 1, true, now),
        ];
        let p = plan(&entries, Some("L"), now, Keep::default()).expect("plan");
        assert_eq!(p.delete, vec!["old".to_string()]);
        assert!(p.keep.contains(&"pinned".to_string()));
        assert!(!p.delete.contains(&"other-lineage".to_string()));
        assert!(!p.delete.contains(&"failed-old".to_string()));
    }
}
