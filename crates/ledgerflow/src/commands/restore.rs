//! `ledgerflow restore BACKUP [--yes] [--to-new DIR|URL] [--other-lineage]`: the work is
//! `ledgerflow_backup::restore` (verify, pinned safety backup, restore beside, check, swap).
//! Here: which store, the environment lock and the confirmations.

use std::path::PathBuf;

use ledgerflow_core::model::Environment;
use ledgerflow_db::{Location, OpenMode};

use crate::context::{Ctx, print_json};
use crate::exit::BadInput;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup: a file name in the backup directory (see `ledgerflow backup list`).
    pub backup: PathBuf,
    /// Do not ask for confirmation (dev and staging).
    #[arg(long)]
    pub yes: bool,
    /// Restore into a new store instead (a new data directory, opened afterwards with
    /// `--data-dir DIR`, or a postgres:// URL of a new database); the current store is left
    /// alone.
    #[arg(long, value_name = "DIR|URL")]
    pub to_new: Option<String>,
    /// Allow a backup of another ledger (another lineage) to replace this one.
    #[arg(long)]
    pub other_lineage: bool,
    /// In prod: allow the restore (the store's name must then be typed at the prompt).
    #[arg(long)]
    pub authorize_prod: bool,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<()> {
    let live = ctx.location()?;
    let settings = crate::backups::settings(ctx)?;
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
        // A data directory, as every other command takes it (`--data-dir DIR`).
        Some(t) => Some(Location::sqlite_in(std::path::Path::new(t))),
    };
    let target = to_new.as_ref().unwrap_or(&live);
    // The backup's environment is read from the store it restores (not from its manifest,
    // which anyone with access to the backup directory can edit) by the restore itself.
    // What is there now, under the environment lock.
    let current = if to_new.is_none() {
        current_store(ctx).await?
    } else {
        None
    };

    if ctx.settings.env == Environment::Prod && to_new.is_none() {
        crate::guard::authorize_prod(ctx, "a restore", a.authorize_prod, None)?;
    } else if !a.yes && to_new.is_none() {
        // A restore into a new store replaces nothing: no confirmation.
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

    let expect = ledgerflow_backup::restore::Expect {
        environment: ctx.settings.env.as_str().to_string(),
        other_lineage: a.other_lineage,
    };
    let done =
        ledgerflow_backup::restore(&live, &settings, &file, to_new.as_ref(), &expect).await?;
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
    if let Some(t) = &a.to_new {
        crate::out!(
            "It is a copy with a lineage of its own (lineage {}): its journal and backups never mix with this ledger's.",
            done.facts.lineage_id.as_deref().unwrap_or("none")
        );
        if matches!(to_new, Some(Location::Sqlite(_))) {
            crate::out!("Open it with: ledgerflow --data-dir {t} status");
        }
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
