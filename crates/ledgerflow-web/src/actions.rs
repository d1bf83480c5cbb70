//! Operations the API and the pages both offer that need the web's own state or the import and
//! backup crates (the ledger's use cases live in `ledgerflow_core::service`): importing a
//! file's bytes, undoing an import, the backups' status and "back up now".

use std::sync::Arc;

use axum::http::StatusCode;
use ledgerflow_core::Store;
use ledgerflow_core::model::*;
use ledgerflow_core::service;
use ledgerflow_import::service::{ImportOptions, ImportSummary, Progress, Source, import_file};
use serde::Serialize;

use crate::auth::CurrentUser;
use crate::error::Problem;
use crate::{AppState, BackupMonitor};

/// Imports one uploaded file (its bytes, or the file they were spooled to) into an account (or
/// only decides, with `dry_run`), telling `progress` how far it is.
pub(crate) async fn import_upload(
    s: &dyn Store,
    who: &CurrentUser,
    account: &Account,
    file_name: &str,
    source: Source,
    opts: &ImportOptions,
    progress: Arc<dyn Progress>,
) -> Result<ImportSummary, Problem> {
    if source.size().map_err(Problem::internal)? == 0 {
        return Err(Problem::bad_request(format!("{file_name} is empty")));
    }
    service::refuse_if_archived(s, account.id).await?;
    Ok(import_file(s, &who.actor(), account, file_name, source, opts, progress).await?)
}

/// Undoes an import batch. In production that is a bulk deletion and stays on the command
/// line, behind its guard (`ledgerflow import undo N --authorize-prod`).
pub(crate) async fn undo_import(
    st: &AppState,
    who: &CurrentUser,
    id: i64,
) -> Result<usize, Problem> {
    let s = st.store.as_ref();
    let meta = s.meta().await?;
    if meta.is_some_and(|m| m.environment == Environment::Prod) {
        return Err(Problem::forbidden(format!(
            "this is a production store: undoing an import deletes its rows and is done on the command line, after a fresh backup (`ledgerflow import undo {id} --authorize-prod`)"
        )));
    }
    s.get_import(id).await?;
    Ok(service::undo_import(s, &who.actor(), id).await?.1)
}

#[derive(Serialize)]
pub(crate) struct BackupStatus {
    pub configured: bool,
    pub health: Option<ledgerflow_backup::Health>,
    pub backups: Vec<ledgerflow_backup::catalog::Entry>,
}

pub(crate) async fn backup_status(st: &AppState) -> Result<BackupStatus, Problem> {
    let Some(m) = &st.backups else {
        return Ok(BackupStatus {
            configured: false,
            health: None,
            backups: Vec::new(),
        });
    };
    let lineage = st.store.meta().await?.map(|m| m.lineage_id.to_string());
    let max_age = ledgerflow_backup::schedule::stale_after(&m.jobs, chrono::Local::now());
    let health = ledgerflow_backup::health(&m.settings, lineage.as_deref(), max_age)
        .map_err(Problem::internal)?;
    let mut backups = ledgerflow_backup::list(&m.settings).map_err(Problem::internal)?;
    backups.retain(|e| !e.deleted);
    backups.sort_by_key(|e| std::cmp::Reverse(e.created_at));
    Ok(BackupStatus {
        configured: true,
        health: Some(health),
        backups,
    })
}

/// Takes a verified backup now (then off-site copies and retention, as the schedule does).
pub(crate) async fn take_backup(
    st: &AppState,
    kind: ledgerflow_backup::Kind,
) -> Result<ledgerflow_backup::Outcome, Problem> {
    let BackupMonitor {
        settings, location, ..
    } = st
        .backups
        .as_ref()
        .ok_or_else(|| Problem::conflict("backups are not configured for this server"))?;
    let _one = st.web.backup_running.lock().await;
    ledgerflow_backup::backup_now(
        st.store.as_ref(),
        location,
        settings,
        kind,
        false,
        ledgerflow_backup::Copies::Configured,
    )
    .await
    .map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the backup failed: {e}"),
        )
    })
}
