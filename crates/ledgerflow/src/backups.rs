//! The backup crate as the binary uses it everywhere: its settings from the configuration,
//! the pinned backup taken before a risky change (a migration, `nuke`), the schedule and the
//! health `status`, `doctor` and `/metrics` report. Commands call these; nothing here calls a
//! command.

use std::path::PathBuf;
use std::sync::Arc;

use ledgerflow_backup::{Compression, Keep, Kind, Outcome, Settings};
use ledgerflow_core::Store;
use ledgerflow_db::OpenMode;

use crate::context::Ctx;
use crate::exit::BadInput;

pub(crate) fn settings(ctx: &Ctx) -> anyhow::Result<Settings> {
    let s = &ctx.settings;
    let compression = match s.backup.compression.as_str() {
        "zstd" => Compression::Zstd,
        "gzip" => Compression::Gzip,
        other => {
            return Err(BadInput(format!(
                "backup.compression \"{other}\" must be zstd or gzip"
            ))
            .into());
        }
    };
    // The configuration for full backups, without secrets.
    let shown = crate::config::redacted(&serde_json::to_value(s)?, "");
    let config_toml = toml::to_string_pretty(&shown)?;
    Ok(Settings {
        dir: s.backup_dir.clone(),
        compression,
        min_size: s.backup.min_size,
        size_ratio: s.backup.size_ratio,
        keep: Keep {
            hourly: s.backup.keep_hourly,
            daily: s.backup.keep_daily,
            weekly: s.backup.keep_weekly,
            monthly: s.backup.keep_monthly,
        },
        pg_bin_dir: Some(PathBuf::from(&s.backup.pg_bin_dir)).filter(|p| !p.as_os_str().is_empty()),
        config_toml,
        replay_journal: s.backup.replay_journal,
        destinations: s.backup.destinations.clone(),
        encrypt_to: Some(s.backup.encrypt_to.clone()).filter(|r| !r.is_empty()),
        age_identity: Some(PathBuf::from(&s.backup.age_identity_file))
            .filter(|p| !p.as_os_str().is_empty()),
        alert_webhook: Some(s.backup.alert_webhook.clone()).filter(|u| !u.is_empty()),
    })
}

/// Takes a verified backup of `store`, pinned so retention keeps it, before a risky change;
/// closes the store. When the backup does not verify the change is refused, and `refused` says
/// what was left undone ("the schema was not changed").
pub async fn pinned_backup(
    ctx: &Ctx,
    store: Arc<dyn Store>,
    before: &str,
    refused: &str,
) -> anyhow::Result<Outcome> {
    let settings = settings(ctx)?;
    let location = ctx.location()?;
    let taken =
        ledgerflow_backup::backup(store.as_ref(), &location, &settings, Kind::Db, true).await;
    store.close().await;
    let outcome = taken?;
    if !outcome.verified {
        return Err(crate::exit::Refused(format!(
            "the backup before {before} failed its verification ({}): {refused}",
            outcome.verification
        ))
        .into());
    }
    Ok(outcome)
}

/// The backups' health for `status`: stale when no verified backup is younger than two
/// scheduled intervals.
pub fn health(ctx: &Ctx, lineage: Option<&str>) -> anyhow::Result<ledgerflow_backup::Health> {
    let m = monitor(ctx)?;
    let max_age = ledgerflow_backup::schedule::stale_after(&m.jobs, chrono::Local::now());
    Ok(ledgerflow_backup::health(&m.settings, lineage, max_age)?)
}

/// The backup settings and schedule, as `serve`'s `/metrics` and `status` read them.
pub fn monitor(ctx: &Ctx) -> anyhow::Result<ledgerflow_web::BackupMonitor> {
    let jobs = ledgerflow_backup::schedule::jobs(
        &ctx.settings.backup.schedule_db,
        &ctx.settings.backup.schedule_full,
    )
    .map_err(|e| BadInput(e.to_string()))?;
    Ok(ledgerflow_web::BackupMonitor {
        settings: settings(ctx)?,
        jobs,
        location: ctx.location()?,
    })
}

/// The scheduler task for `serve` and `backup schedule`.
pub fn schedule(
    ctx: &Ctx,
    store: Arc<dyn Store>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<impl std::future::Future<Output = ()> + use<>> {
    let ledgerflow_web::BackupMonitor {
        settings,
        jobs,
        location,
    } = monitor(ctx)?;
    Ok(ledgerflow_backup::schedule::run(
        store, location, settings, jobs, stop,
    ))
}

/// "12 min", "5 h", "3 d".
pub fn age(d: chrono::Duration) -> String {
    let m = d.num_minutes().max(0);
    match m {
        m if m < 60 => format!("{m} min"),
        m if m < 60 * 48 => format!("{} h", m / 60),
        m => format!("{} d", m / 60 / 24),
    }
}

/// Takes a verified, pinned backup of `store` (opened as it is), then reopens it with the
/// migrations applied. Refused, with the schema unchanged, when the backup does not verify.
pub async fn migrate_with_backup(
    ctx: &Ctx,
    store: Arc<dyn Store>,
) -> anyhow::Result<Arc<dyn Store>> {
    let location = ctx.location()?;
    let from = store.schema_version().await?;
    let to = store.known_schema_version();
    let outcome = pinned_backup(
        ctx,
        store,
        &format!("migrating the schema from {from} to {to}"),
        "the schema was not changed",
    )
    .await?;
    let migrated = ledgerflow_db::open(&location, OpenMode::Existing).await?;
    tracing::info!(from, to, backup = %outcome.file.display(), "schema migrated");
    eprintln!(
        "Migrated the schema from version {from} to {to}; the pinned backup {} holds the store as it was.",
        outcome.file.display()
    );
    Ok(migrated)
}
