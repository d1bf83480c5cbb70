//! The backup schedule: cron expressions in local time (hourly db backups and a daily full
//! backup at 02:00 by default). A job is due when its latest occurrence is later than its last
//! run, so runs missed while LedgerFlow was down are caught up once, not once per missed hour.
//! Retention runs after each scheduled backup. `ledgerflow serve` runs this loop, and so does
//! `ledgerflow backup schedule` on its own.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Local, Utc};
use croner::Cron;
use ledgerflow_core::Store;
use ledgerflow_db::Location;
use tracing::{error, info, warn};

use crate::catalog::Entry;
use crate::{BackupError, Kind, Settings};

#[derive(Debug, Clone)]
pub struct Job {
    pub kind: Kind,
    pub spec: String,
    cron: Cron,
}

/// The jobs of a schedule; an empty expression turns a job off.
pub fn jobs(db: &str, full: &str) -> Result<Vec<Job>, BackupError> {
    let mut v = Vec::new();
    for (kind, spec) in [(Kind::Db, db), (Kind::Full, full)] {
        if spec.trim().is_empty() {
            continue;
        }
        let cron = Cron::from_str(spec.trim()).map_err(|e| {
            BackupError::Refused(format!(
                "backup schedule \"{spec}\" is not a cron expression: {e}"
            ))
        })?;
        v.push(Job {
            kind,
            spec: spec.trim().to_string(),
            cron,
        });
    }
    Ok(v)
}

/// When a job last ran: its newest backup of this lineage in the catalog (verified or not), or
/// the last attempt this process made (an attempt that failed before writing anything).
fn last_run(
    job: &Job,
    entries: &[Entry],
    lineage: Option<&str>,
    attempted: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    entries
        .iter()
        .filter(|e| e.kind == job.kind.as_str() && e.lineage_id.as_deref() == lineage)
        .map(|e| e.created_at)
        .chain(attempted)
        .max()
}

/// Whether `job` is due at `now`.
pub fn is_due(
    job: &Job,
    entries: &[Entry],
    lineage: Option<&str>,
    attempted: Option<DateTime<Utc>>,
    now: DateTime<Local>,
) -> bool {
    let Ok(prev) = job.cron.find_previous_occurrence(&now, true) else {
        return false;
    };
    match last_run(job, entries, lineage, attempted) {
        None => true,
        Some(last) => last < prev.with_timezone(&Utc),
    }
}

/// Twice the shortest interval between two runs of any job: when no verified backup is younger
/// than this, backups are stale.
pub fn stale_after(jobs: &[Job], now: DateTime<Local>) -> Option<chrono::Duration> {
    jobs.iter()
        .filter_map(|j| {
            let a = j.cron.find_next_occurrence(&now, false).ok()?;
            let b = j.cron.find_next_occurrence(&a, false).ok()?;
            Some((b - a) * 2)
        })
        .min()
}

/// The next moment any job comes due after `now`.
pub fn next_wake(jobs: &[Job], now: DateTime<Local>) -> Option<DateTime<Local>> {
    jobs.iter()
        .filter_map(|j| j.cron.find_next_occurrence(&now, false).ok())
        .min()
}

/// Runs the schedule until `stop` turns true.
pub async fn run(
    store: Arc<dyn Store>,
    location: Location,
    settings: Settings,
    jobs: Vec<Job>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if jobs.is_empty() {
        return;
    }
    for j in &jobs {
        info!(kind = j.kind.as_str(), schedule = %j.spec, dir = %settings.dir.display(), "backup schedule");
    }
    let mut attempted: Vec<Option<DateTime<Utc>>> = vec![None; jobs.len()];
    let mut alerted = None;
    loop {
        let lineage = match store.meta().await {
            Ok(m) => m.map(|m| m.lineage_id.to_string()),
            Err(e) => {
                warn!(error = %e, "backup schedule: the store cannot be read");
                None
            }
        };
        let entries = crate::list(&settings).unwrap_or_default();
        for (i, job) in jobs.iter().enumerate() {
            if !is_due(
                job,
                &entries,
                lineage.as_deref(),
                attempted[i],
                Local::now(),
            ) {
                continue;
            }
            attempted[i] = Some(Utc::now());
            match crate::scheduled_backup(store.as_ref(), &location, &settings, job.kind).await {
                Ok(o) if o.verified => info!(file = %o.file.display(), "scheduled backup verified"),
                // `backup` has raised the alert.
                Ok(o) => {
                    error!(file = %o.file.display(), reason = %o.verification, "scheduled backup FAILED verification")
                }
                Err(e) => error!(error = %e, "scheduled backup FAILED"),
            }
        }
        stale_alert(&settings, &jobs, lineage.as_deref(), &mut alerted).await;
        let now = Local::now();
        let wait = next_wake(&jobs, now)
            .map(|t| (t - now).to_std().unwrap_or_default())
            .unwrap_or(std::time::Duration::from_secs(3600))
            // Wake at least every ten minutes: a clock change or a suspended laptop is noticed.
            .min(std::time::Duration::from_secs(600));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = stop.changed() => {
                // A dropped sender means stop too.
                if changed.is_err() {
                    return;
                }
            }
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Alerts when no verified backup of this store is younger than two scheduled intervals: once
/// per newest verified backup, and again each day it stays so.
async fn stale_alert(
    settings: &Settings,
    jobs: &[Job],
    lineage: Option<&str>,
    alerted: &mut Option<(Option<String>, DateTime<Utc>)>,
) {
    let max_age = stale_after(jobs, Local::now());
    let health = match crate::health(settings, lineage, max_age) {
        Ok(h) => h,
        Err(e) => {
            warn!(error = %e, "backup schedule: the catalog cannot be read");
            return;
        }
    };
    if !health.stale {
        *alerted = None;
        return;
    }
    let now = Utc::now();
    if let Some((last, at)) = alerted
        && *last == health.last_verified
        && now - *at < chrono::Duration::days(1)
    {
        return;
    }
    let message = match (&health.last_verified, health.last_verified_age_seconds) {
        (Some(file), Some(age)) => format!(
            "no verified backup for two scheduled intervals: the newest, {file}, is {} min old",
            age / 60
        ),
        _ => format!(
            "this store has no verified backup in {}",
            settings.dir.display()
        ),
    };
    crate::alert::send(
        settings,
        crate::alert::Alert::new("no_recent_verified_backup", message),
    )
    .await;
    *alerted = Some((health.last_verified, now));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry(kind: &str, at: DateTime<Utc>) -> Entry {
        Entry::test(&format!("{kind}-{at}"), kind, at)
    }

    fn local(h: u32, m: u32) -> DateTime<Local> {
        Local
            .with_ymd_and_hms(2026, 11, 27, h, m, 0)
            .single()
            .expect("local time")
    }

    #[test]
    fn hourly_and_daily_jobs_come_due_and_missed_runs_are_caught_up_once() {
        let jobs = jobs("0 * * * *", "0 2 * * *").expect("jobs");
        let (hourly, daily) = (&jobs[0], &jobs[1]);
        // Never ran: both due at once.
        assert!(is_due(hourly, &[], Some("L"), None, local(10, 30)));
        assert!(is_due(daily, &[], Some("L"), None, local(10, 30)));
        // Ran at 10:00: not due at 10:30, due again at 11:00.
        let ran = vec![
            entry("db", local(10, 0).with_timezone(&Utc)),
            entry("full", local(2, 0).with_timezone(&Utc)),
        ];
        assert!(!is_due(hourly, &ran, Some("L"), None, local(10, 30)));
        assert!(is_due(hourly, &ran, Some("L"), None, local(11, 0)));
        assert!(!is_due(daily, &ran, Some("L"), None, local(23, 59)));
        // Down from 10:00 to 15:10: one catch-up run, after which it is not due until 16:00.
        assert!(is_due(hourly, &ran, Some("L"), None, local(15, 10)));
        let after = Some(local(15, 10).with_timezone(&Utc));
        assert!(!is_due(hourly, &ran, Some("L"), after, local(15, 40)));
        // Backups of another lineage do not count.
        assert!(is_due(hourly, &ran, Some("M"), None, local(10, 30)));
        let wake = next_wake(&jobs, local(10, 30)).expect("next");
        assert_eq!(wake, local(11, 0));
        assert!(jobs_err("every hour"));
        assert!(super::jobs("", "").expect("off").is_empty());
    }

    fn jobs_err(spec: &str) -> bool {
        super::jobs(spec, "").is_err()
    }
}
