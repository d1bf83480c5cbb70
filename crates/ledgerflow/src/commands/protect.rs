//! `ledgerflow protect` / `unprotect` and `ledgerflow nuke`. Prod stores are protected at init
//! and stay so; nuke is refused on a protected store and always in prod. In dev it first takes
//! a verified, pinned backup, then asks for DESTROY typed at a terminal.

use ledgerflow_core::model::Environment;
use ledgerflow_db::OpenMode;

use crate::context::Ctx;
use crate::exit::Refused;

pub async fn run(ctx: &Ctx, protect: bool) -> anyhow::Result<()> {
    ctx.with_store(async |store| {
        let meta = store
            .meta()
            .await?
            .ok_or_else(|| anyhow::anyhow!("the store is not initialised"))?;
        if !protect && meta.environment == Environment::Prod {
            return Err(Refused(
                "a prod store stays protected: unprotect is refused in prod".into(),
            )
            .into());
        }
        if meta.protected == protect {
            crate::out!(
                "{} is already {}.",
                store.location(),
                if protect { "protected" } else { "unprotected" }
            );
            return Ok(());
        }
        store.set_protected(&ctx.actor, protect).await?;
        crate::out!(
            "{} is now {}.",
            store.location(),
            if protect {
                "protected: nuke is refused on it"
            } else {
                "unprotected"
            }
        );
        Ok(())
    })
    .await
}

#[derive(Debug, clap::Args)]
pub struct NukeArgs {}

pub async fn nuke(ctx: &Ctx, _args: &NukeArgs) -> anyhow::Result<()> {
    let location = ctx.location()?;
    let store = ctx.store().await?;
    let meta = match store.meta().await? {
        Some(m) => m,
        None => {
            store.close().await;
            return Err(anyhow::anyhow!("the store is not initialised"));
        }
    };
    if meta.environment == Environment::Prod || ctx.settings.env == Environment::Prod {
        store.close().await;
        return Err(Refused("nuke is refused in prod, always".into()).into());
    }
    if meta.protected {
        store.close().await;
        return Err(Refused(format!(
            "{} is protected: nuke is refused (`ledgerflow unprotect` lifts the protection)",
            store.location()
        ))
        .into());
    }
    let counts = store.counts().await?;
    // A verified backup first, pinned so retention keeps it.
    let backup = crate::backups::pinned_backup(ctx, store, "nuke", "nothing was deleted").await?;
    crate::guard::confirm_typed(
        &format!(
            "nuke deletes every account, transaction, category, import and user of the {} store at {} ({} transactions, {} accounts). The verified backup {} holds them",
            meta.environment,
            location.display(),
            counts.transactions,
            counts.accounts,
            backup.file.display()
        ),
        "DESTROY",
    )?;
    ledgerflow_db::wipe(&location).await?;
    let store = ctx.open_unguarded(OpenMode::Create).await?;
    let fresh = store.initialize(&ctx.actor, meta.environment).await;
    store.close().await;
    let fresh = fresh?;
    // The empty store is the ledger now, on purpose: the lineage guard accepts it.
    crate::guard::accept_lineage(&ctx.settings.backup_dir, &fresh.lineage_id.to_string())?;
    crate::out!(
        "Deleted {} transactions and {} accounts; {} is a new, empty {} store (lineage {}).",
        counts.transactions,
        counts.accounts,
        location.display(),
        fresh.environment,
        fresh.lineage_id
    );
    crate::out!(
        "Undo: ledgerflow restore {} --yes --other-lineage",
        backup
            .file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    );
    Ok(())
}
