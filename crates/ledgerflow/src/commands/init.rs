//! `ledgerflow init`: create the store and record its lineage, environment and schema.

use ledgerflow_core::model::Environment;
use ledgerflow_db::OpenMode;

use crate::context::{Ctx, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment this store belongs to [default: the configured env, normally dev].
    #[arg(long, value_name = "ENV")]
    pub env: Option<Environment>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: &Ctx, args: &Args) -> anyhow::Result<()> {
    let env = args.env.unwrap_or(ctx.settings.env);
    let store = ctx.open(OpenMode::Create).await?;
    let result = store.initialize(&ctx.actor, env).await;
    let meta = match result {
        Ok(m) => m,
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };
    ctx.initialized(&meta)?;
    if args.json {
        print_json(&serde_json::json!({
            "engine": store.engine().as_str(),
            "location": store.location(),
            "environment": meta.environment,
            "lineage_id": meta.lineage_id,
            "schema_version": meta.schema_version,
            "created_at": meta.created_at,
            "protected": meta.protected,
        }))?;
    } else {
        crate::out!(
            "Initialised a {} store ({}) at {}",
            meta.environment,
            store.engine(),
            store.location()
        );
        crate::out!("  lineage:        {}", meta.lineage_id);
        crate::out!("  schema version: {}", meta.schema_version);
        if meta.protected {
            crate::out!("  protected:      yes (prod stores are protected at init)");
        }
    }
    store.close().await;
    Ok(())
}
