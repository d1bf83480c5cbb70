//! `ledgerflow journal verify|show`.

use chrono::{DateTime, NaiveDate, Utc};
use ledgerflow_core::ValidationError;
use ledgerflow_core::journal::Entity;
use ledgerflow_core::service::verify_journal;
use ledgerflow_core::store::JournalFilter;

use crate::context::{Ctx, print_json};
use crate::exit::CheckFailed;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Check the hash chain and that every row is what the journal says it should be.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// List journal entries, oldest first.
    Show {
        /// account, category, transaction, user, import_batch or store.
        #[arg(long)]
        entity: Option<String>,
        /// A sequence number (entries after it) or a date/time (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(ctx: &Ctx, cmd: &Cmd) -> anyhow::Result<()> {
    ctx.with_store(async |s| {
        match cmd {
            Cmd::Verify { json } => {
                let mut r = verify_journal(s).await?;
                // A journal cut back cleanly agrees with itself: the newest verified backup of
                // this ledger recorded a later head.
                if r.ok
                    && let Ok(settings) = crate::backups::settings(ctx)
                    && let Some(problem) =
                        ledgerflow_backup::journal_behind_backups(s, &settings).await?
                {
                    r.ok = false;
                    r.problem = Some(problem);
                }
                if *json {
                    print_json(&r)?;
                } else if r.ok {
                    crate::out!(
                        "Journal intact: {} entries, chain unbroken, {} rows match the journal (head {}).",
                        r.entries, r.rows_checked, r.head.head_seq
                    );
                }
                if let Some(p) = r.problem {
                    return Err(CheckFailed(format!("journal verify failed: {p}")).into());
                }
            }
            Cmd::Show { entity, since, limit, json } => {
                let entity = entity
                    .as_deref()
                    .map(|e| {
                        Entity::parse(e).ok_or_else(|| {
                            ValidationError::new(format!(
                                "unknown entity \"{e}\" (expected account, category, transaction, user, import_batch or store)"
                            ))
                        })
                    })
                    .transpose()?;
                let mut filter = JournalFilter { entity, limit: (*limit).clamp(1, 10_000), ..Default::default() };
                if let Some(since) = since.as_deref() {
                    if let Ok(seq) = since.parse::<i64>() {
                        filter.after_seq = seq;
                    } else {
                        filter.since = Some(parse_since(since)?);
                    }
                }
                let entries = s.journal_entries(&filter).await?;
                if *json {
                    let v: Vec<serde_json::Value> = entries
                        .iter()
                        .map(|e| {
                            serde_json::json!({
                                "seq": e.seq,
                                "at": e.at,
                                "actor": e.actor,
                                "entity": e.entity,
                                "entity_id": e.entity_id,
                                "op": e.op,
                                "before": shown(e.before.as_deref()),
                                "after": shown(e.after.as_deref()),
                                "payload_bytes": e.payload.as_ref().map(Vec::len),
                                "hash": hex(&e.hash),
                            })
                        })
                        .collect();
                    print_json(&v)?;
                } else {
                    for e in &entries {
                        let id = e.entity_id.map(|i| format!(" {i}")).unwrap_or_default();
                        let text = |v: Option<&str>| shown(v).map(|j| j.to_string());
                        let detail = match (text(e.before.as_deref()), text(e.after.as_deref())) {
                            (_, Some(a)) if e.payload.is_some() => format!(" {a}"),
                            (Some(_), Some(a)) => format!(" -> {a}"),
                            (None, Some(a)) => format!(" {a}"),
                            (Some(b), None) => format!(" was {b}"),
                            (None, None) => String::new(),
                        };
                        crate::out!(
                            "{:>6}  {}  {:<16} {} {}{}{}",
                            e.seq,
                            e.at.format("%Y-%m-%d %H:%M:%S"),
                            e.actor,
                            e.op.as_str(),
                            e.entity,
                            id,
                            detail
                        );
                    }
                    if entries.is_empty() {
                        crate::out!("No journal entries match.");
                    }
                }
            }
        }
        anyhow::Ok(())
    })
    .await
}

/// An entry's row as JSON for display, with password hashes hidden.
fn shown(text: Option<&str>) -> Option<serde_json::Value> {
    let mut v: serde_json::Value = serde_json::from_str(text?).ok()?;
    if let Some(h) = v.get_mut("password_hash")
        && !h.is_null()
    {
        *h = serde_json::Value::String("(argon2id hash, not shown)".into());
    }
    Some(v)
}

fn parse_since(s: &str) -> Result<DateTime<Utc>, ValidationError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| {
            ValidationError::new(format!(
                "--since \"{s}\" is neither a sequence number nor a date (YYYY-MM-DD or RFC 3339)"
            ))
        })
}

fn hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
