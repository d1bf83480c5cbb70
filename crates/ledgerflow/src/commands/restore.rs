//! `ledgerflow restore BACKUP [--yes] [--to-new PATH|URL]`: the work is
//! `ledgerflow_backup::restore` (verify, pinned safety backup, restore beside, check, swap).
//! Here: which store, the environment lock and the confirmations.

use std::path::PathBuf;

use ledgerflow_core::model::Environment;
use ledgerflow_db::{Location, OpenMode};

use crate::context::{Ctx, print_json};
use crate::exit::{BadInput, Refused};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup: a file name in the backup directory (see `ledgerflow backup list`).
    pub backup: PathBuf,
    /// Do not ask for confirmation (dev and staging).
    #[arg(long)]
    pub yes: bool,
    /// Restore into a new store instead (a SQLite file path, or a postgres:// URL of a new
    /// database); the current store is left alone.
    #[arg(long, value_name = "PATH|URL")]
    pub to_new: Option<String>,
    /// In prod: allow the restore (the store's name must then be typed at the prompt).
    #[arg(long)]
    pub authorize_prod: bool,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<()> {
    let live = ctx.location()?;
    let settings = crate::commands::backup::settings(ctx)?;
    let file = if a.backup.components().count() == 1 {
        settings.dir.join(&a.backup)
    } else {
        a.backup.clone()
    };
    let to_new = match &a.to_new {
        None => None,
        Some(t) if t.contains("://") || t.starts_with("sqlite:") => {
            Some(Location::parse(t).map_err(|e| BadInput(e.to_string()))?)
        }
        Some(t) => Some(Location::Sqlite(PathBuf::from(t))),
    };
    let target = to_new.as_ref().unwrap_or(&live);

    // The backup's environment must be the one LedgerFlow runs as.
    let manifest_env = read_environment(&file);
    if let Some(env) = &manifest_env
        && env != ctx.settings.env.as_str()
    {
        return Err(Refused(format!(
            "{} is a backup of a {env} store but LedgerFlow runs as {}: refused (environments stay apart)",
            file.display(),
            ctx.settings.env
        ))
        .into());
    }
    // What is there now, under the environment lock.
    let current = if to_new.is_none() {
        current_store(ctx).await?
    } else {
        None
    };

    if ctx.settings.env == Environment::Prod && to_new.is_none() {
        crate::guard::authorize_prod(ctx, "a restore", a.authorize_prod, None)?;
    } else if !a.yes {
        let what = match &current {
            Some(n) => format!("replacing its {n} transactions"),
            None => "where there is no store now".to_string(),
        };
        crate::guard::confirm_typed(
            &format!(
                "Restore {} into {} ({what}; a safety backup is taken first)",
                file.display(),
                target.display()
            ),
            "yes",
        )?;
    }

    let done = ledgerflow_backup::restore(&live, &settings, &file, to_new.as_ref()).await?;
    if a.json {
        return print_json(&done);
    }
    let tx = done.facts.counts.get("transactions").copied().unwrap_or(0);
    let accounts = done.facts.counts.get("accounts").copied().unwrap_or(0);
    crate::out!(
        "Restored {} into {}: {tx} transactions, {accounts} accounts, journal head {}, in {} ms.",
        done.backup,
        done.target,
        done.facts.journal_seq,
        done.duration_ms
    );
    if let Some(from) = done.migrated_from {
        crate::out!(
            "Its schema was migrated forward from version {from} to {}.",
            done.facts.schema_version
        );
    }
    match &done.safety_backup {
        Some(s) => crate::out!(
            "The store it replaced is in the pinned backup {}; to undo: ledgerflow restore {} --yes",
            s.display(),
            s.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        ),
        None => crate::out!("There was no store to keep a safety backup of."),
    }
    if let Some(k) = &done.kept_aside {
        crate::out!("What was there was not a LedgerFlow store; it is kept as {k}.");
    }
    Ok(())
}

/// The transactions of the current store, after the environment lock; `None` when there is no
/// initialised store.
async fn current_store(ctx: &Ctx) -> anyhow::Result<Option<i64>> {
    match ctx.open_unguarded(OpenMode::AsIs).await {
        Ok(store) => {
            let checked = async {
                if let Some(m) = store.meta().await? {
                    crate::guard::environment(&m, ctx.settings.env)?;
                }
                Ok::<i64, anyhow::Error>(store.counts().await?.transactions)
            }
            .await;
            store.close().await;
            checked.map(Some)
        }
        Err(e)
            if e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<ledgerflow_core::StoreError>(),
                    Some(
                        ledgerflow_core::StoreError::NotInitialized { .. }
                            | ledgerflow_core::StoreError::Unavailable { .. }
                    )
                )
            }) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The environment recorded in a backup's manifest.
fn read_environment(file: &std::path::Path) -> Option<String> {
    let side = format!(
        "{}.manifest.json",
        file.display().to_string().trim_end_matches(".failed")
    );
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(side).ok()?).ok()?;
    v["facts"]["environment"].as_str().map(str::to_string)
}
