//! `ledgerflow status`: where the data is and what it holds.

use serde::Serialize;

use crate::context::{Ctx, print_json};
use crate::guard::lost_store_refusal;

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
    /// What the environment lock and the lineage guard refuse, if anything.
    problems: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: &Args) -> anyhow::Result<()> {
    // Unguarded: status reports what the guards would refuse, then exits non-zero.
    let store = match ctx.open_unguarded(ledgerflow_db::OpenMode::AsIs).await {
        Ok(s) => s,
        Err(e) => {
            // A missing store that the backups remember is reported as the lost store it is.
            if let Some(lost) = crate::guard::lost_store(&ctx.settings.backup_dir, None) {
                let location = ctx.location()?.display();
                return Err(lost_store_refusal(ctx, &lost, &location, true).into());
            }
            return Err(e);
        }
    };
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
        backups: crate::backups::health(ctx, Some(&meta.lineage_id.to_string())).ok(),
        problems: Vec::new(),
    };
    let mut s = s;
    if let Err(e) = crate::guard::environment(&meta, ctx.settings.env) {
        s.problems.push(e.to_string());
    }
    let empty = s.counts.transactions == 0 && s.counts.accounts == 0;
    if let Some(e) = crate::guard::lost_store(&ctx.settings.backup_dir, Some(&meta))
        && empty
    {
        s.problems
            .push(lost_store_refusal(ctx, &e, &s.location, false).to_string());
    }
    store.close().await;
    let problems = s.problems.len();
    print(&s, args.json)?;
    if problems > 0 {
        return Err(
            crate::exit::CheckFailed(format!("status: {problems} problem(s) found")).into(),
        );
    }
    Ok(())
}

fn print(s: &Status, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(s);
    }
    crate::out!("LedgerFlow {}", s.version);
    let mut fields: Vec<(&str, String)> = vec![
        ("environment", {
            let running = &s.configured_environment;
            format!("{} (running as {running})", s.environment)
        }),
        ("engine", s.engine.to_string()),
        ("data", s.location.to_string()),
        (
            "schema version",
            format!(
                "{} (this binary knows {})",
                s.schema_version, s.known_schema_version
            ),
        ),
        ("lineage", s.lineage_id.to_string()),
        ("created", s.created_at.to_string()),
        ("protected", (if s.protected { "yes" } else { "no" }).into()),
        (
            "counts",
            format!(
                "{} accounts, {} transactions, {} categories, {} users",
                s.counts.accounts, s.counts.transactions, s.counts.categories, s.counts.users
            ),
        ),
        (
            "journal",
            format!(
                "head {} ({})",
                s.journal.head_seq,
                hex_prefix(&s.journal.head_hash)
            ),
        ),
    ];
    if let Some(b) = &s.backups {
        let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
            at.map(|t| format!("{} ago", crate::backups::age(chrono::Utc::now() - t)))
                .unwrap_or_else(|| "never".into())
        };
        fields.push((
            "last backup",
            format!(
                "{} {}",
                when(b.last_backup_at),
                b.last_backup.as_deref().unwrap_or("")
            ),
        ));
        let stale = if b.stale {
            " (STALE: take one with `ledgerflow backup`)"
        } else {
            ""
        };
        fields.push((
            "last verified",
            format!(
                "{} {}{stale}",
                when(b.last_verified_at),
                b.last_verified.as_deref().unwrap_or("")
            ),
        ));
        fields.extend(b.failures.iter().map(|f| ("backup FAILED", f.clone())));
    }
    fields.extend(s.problems.iter().map(|p| ("PROBLEM", p.clone())));
    for (label, value) in fields {
        crate::out!("  {:<16}{value}", format!("{label}:"));
    }
    Ok(())
}

fn hex_prefix(h: &[u8; 32]) -> String {
    h.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
