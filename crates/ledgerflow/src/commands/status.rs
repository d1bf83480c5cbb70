//! `ledgerflow status`: where the data is and what it holds.

use serde::Serialize;

use crate::context::{Ctx, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Status {
    version: &'static str,
    engine: String,
    location: String,
    environment: String,
    configured_environment: String,
    schema_version: i64,
    known_schema_version: i64,
    lineage_id: String,
    created_at: String,
    protected: bool,
    counts: ledgerflow_core::model::Counts,
    journal: ledgerflow_core::journal::JournalHead,
    backups: Option<ledgerflow_backup::Health>,
}

pub async fn run(ctx: &Ctx, args: &Args) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    let meta = store
        .meta()
        .await?
        .ok_or_else(|| ledgerflow_core::StoreError::NotInitialized {
            location: store.location(),
        })?;
    let s = Status {
        version: ledgerflow_core::VERSION,
        engine: store.engine().to_string(),
        location: store.location(),
        environment: meta.environment.to_string(),
        configured_environment: ctx.settings.env.to_string(),
        schema_version: meta.schema_version,
        known_schema_version: store.known_schema_version(),
        lineage_id: meta.lineage_id.to_string(),
        created_at: meta.created_at.to_rfc3339(),
        protected: meta.protected,
        counts: store.counts().await?,
        journal: store.journal_head().await?,
        backups: crate::commands::backup::health(ctx, Some(&meta.lineage_id.to_string())).ok(),
    };
    store.close().await;
    if args.json {
        return print_json(&s);
    }
    crate::out!("LedgerFlow {}", s.version);
    crate::out!(
        "  environment:    {} (running as {})",
        s.environment,
        s.configured_environment
    );
    crate::out!("  engine:         {}", s.engine);
    crate::out!("  data:           {}", s.location);
    crate::out!(
        "  schema version: {} (this binary knows {})",
        s.schema_version,
        s.known_schema_version
    );
    crate::out!("  lineage:        {}", s.lineage_id);
    crate::out!("  created:        {}", s.created_at);
    crate::out!(
        "  protected:      {}",
        if s.protected { "yes" } else { "no" }
    );
    crate::out!(
        "  counts:         {} accounts, {} transactions, {} categories, {} users",
        s.counts.accounts,
        s.counts.transactions,
        s.counts.categories,
        s.counts.users
    );
    crate::out!(
        "  journal:        head {} ({})",
        s.journal.head_seq,
        &hex_prefix(&s.journal.head_hash)
    );
    if let Some(b) = &s.backups {
        let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
            at.map(|t| {
                format!(
                    "{} ago",
                    crate::commands::backup::age(chrono::Utc::now() - t)
                )
            })
            .unwrap_or_else(|| "never".into())
        };
        crate::out!(
            "  last backup:    {} {}",
            when(b.last_backup_at),
            b.last_backup.as_deref().unwrap_or("")
        );
        crate::out!(
            "  last verified:  {} {}{}",
            when(b.last_verified_at),
            b.last_verified.as_deref().unwrap_or(""),
            if b.stale {
                " (STALE: take one with `ledgerflow backup`)"
            } else {
                ""
            }
        );
        for f in &b.failures {
            crate::out!("  backup FAILED:  {f}");
        }
    }
    Ok(())
}

fn hex_prefix(h: &[u8; 32]) -> String {
    h.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
