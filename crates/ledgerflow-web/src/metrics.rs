//! `/metrics` in the Prometheus text format: the ledger's size and journal head, and the state
//! of its backups (last backup, last verified backup and its age, failures since, staleness),
//! read from the store and the backup catalog at each scrape.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::Local;

use crate::{Problem, Shared};

pub(crate) async fn metrics(State(st): Shared) -> Result<impl IntoResponse, Problem> {
    let counts = st.store.counts().await?;
    let head = st.store.journal_head().await?;
    let mut out = String::new();
    gauge(
        &mut out,
        "ledgerflow_up",
        "1 when the store answers.",
        &[("", 1)],
    );
    gauge(
        &mut out,
        "ledgerflow_rows",
        "Rows per table.",
        &[
            ("table=\"transactions\"", counts.transactions),
            ("table=\"accounts\"", counts.accounts),
            ("table=\"categories\"", counts.categories),
            ("table=\"import_batches\"", counts.import_batches),
            ("table=\"users\"", counts.users),
        ],
    );
    gauge(
        &mut out,
        "ledgerflow_journal_seq",
        "Sequence number of the journal head.",
        &[("", head.head_seq)],
    );
    if let Some(b) = &st.backups {
        let lineage = st.store.meta().await?.map(|m| m.lineage_id.to_string());
        let max_age = ledgerflow_backup::schedule::stale_after(&b.jobs, Local::now());
        let h = ledgerflow_backup::health(&b.settings, lineage.as_deref(), max_age)?;
        let ts = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp());
        if let Some(t) = ts(h.last_backup_at) {
            gauge(
                &mut out,
                "ledgerflow_backup_last_timestamp_seconds",
                "When the newest backup (verified or not) was taken.",
                &[("", t)],
            );
        }
        if let (Some(t), Some(age)) = (ts(h.last_verified_at), h.last_verified_age_seconds) {
            gauge(
                &mut out,
                "ledgerflow_backup_last_verified_timestamp_seconds",
                "When the newest backup proven by a test restore was taken.",
                &[("", t)],
            );
            gauge(
                &mut out,
                "ledgerflow_backup_last_verified_age_seconds",
                "Age of the newest verified backup.",
                &[("", age)],
            );
        }
        gauge(
            &mut out,
            "ledgerflow_backup_failures",
            "Backups that failed verification since the newest verified one.",
            &[("", h.failures.len() as i64)],
        );
        gauge(
            &mut out,
            "ledgerflow_backup_stale",
            "1 when no verified backup is younger than two scheduled intervals.",
            &[("", i64::from(h.stale))],
        );
        let entries = ledgerflow_backup::list(&b.settings)?;
        let mut per_kind = Vec::new();
        for kind in ["db", "full"] {
            for verified in [true, false] {
                let n = entries
                    .iter()
                    .filter(|e| {
                        !e.deleted
                            && e.kind == kind
                            && e.verified == verified
                            && e.lineage_id == lineage
                    })
                    .count();
                per_kind.push((
                    format!(
                        "kind=\"{kind}\",state=\"{}\"",
                        if verified { "verified" } else { "failed" }
                    ),
                    n as i64,
                ));
            }
        }
        let per_kind: Vec<(&str, i64)> = per_kind.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        gauge(
            &mut out,
            "ledgerflow_backups",
            "Backups of this store in the catalog, by kind and verification state.",
            &per_kind,
        );
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}

fn gauge(out: &mut String, name: &str, help: &str, values: &[(&str, i64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, v) in values {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}
