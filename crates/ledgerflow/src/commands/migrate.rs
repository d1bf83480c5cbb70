//! `ledgerflow migrate`: apply pending schema migrations, after a verified backup that is
//! pinned (retention keeps it). Commands do the same on their own when they find the schema
//! behind, except in prod, where only `migrate --authorize-prod` does. The migration history
//! stays in the store (`_sqlx_migrations`); a store newer than this binary is refused.

use ledgerflow_core::model::Environment;
use ledgerflow_db::OpenMode;

use crate::context::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// In prod: allow the migration (the store's name must then be typed at the prompt).
    #[arg(long)]
    pub authorize_prod: bool,
}

pub async fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<()> {
    let store = ctx.open_guarded(OpenMode::Existing).await?;
    let (applied, known) = (store.schema_version().await?, store.known_schema_version());
    if applied >= known {
        store.close().await;
        crate::out!("The schema is up to date (version {applied}).");
        return Ok(());
    }
    if ctx.settings.env == Environment::Prod
        && let Err(e) = crate::guard::authorize_prod_on(
            ctx,
            store.as_ref(),
            &format!("a migration from schema {applied} to {known}"),
            a.authorize_prod,
        )
        .await
    {
        store.close().await;
        return Err(e);
    }
    let store = crate::backups::migrate_with_backup(ctx, store).await?;
    store.close().await;
    Ok(())
}
