//! `ledgerflow doctor`: one line per finding, exit 1 when any is a problem. Environment match,
//! protection, the lineage guard, schema version, the journal chain and row check, the age of
//! the last verified backup and failures since, free space where the data and the backups
//! live, and the PostgreSQL tools a backup needs.

use std::path::Path;

use ledgerflow_core::model::Environment;
use ledgerflow_db::{Location, OpenMode};
use serde::Serialize;

use crate::context::{Ctx, print_json};
use crate::exit::CheckFailed;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Finding {
    check: &'static str,
    ok: bool,
    says: String,
}

pub async fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<()> {
    let mut f: Vec<Finding> = Vec::new();
    let mut add = |check: &'static str, ok: bool, says: String| f.push(Finding { check, ok, says });
    let location = ctx.location()?;
    let settings = crate::commands::backup::settings(ctx)?;
    match ledgerflow_db::open(&location, OpenMode::AsIs).await {
        Err(e) => {
            // Only a missing or never-initialised store can be a lost one; a server that is
            // down or a schema too new is reported as it is.
            let lost = match &e {
                ledgerflow_core::StoreError::NotInitialized { .. } => {
                    crate::guard::lost_store(&settings.dir, None)
                }
                _ => None,
            };
            match lost {
                Some(entry) => add(
                    "lineage",
                    false,
                    crate::guard::lost_store_refusal(
                        &entry,
                        &location.display(),
                        true,
                        ctx.settings.env,
                    )
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
                ),
                None => add("store", false, format!("{}: {e}", location.display())),
            }
        }
        Ok(store) => {
            let meta = store.meta().await?;
            match &meta {
                None => add(
                    "store",
                    false,
                    "not initialised: run `ledgerflow init`".into(),
                ),
                Some(m) => {
                    match crate::guard::environment(m, ctx.settings.env) {
                        Ok(()) => add(
                            "environment",
                            true,
                            format!(
                                "a {} store, LedgerFlow runs as {}",
                                m.environment, ctx.settings.env
                            ),
                        ),
                        Err(e) => add("environment", false, e.to_string()),
                    }
                    let prod_unprotected = m.environment == Environment::Prod && !m.protected;
                    add(
                        "protection",
                        !prod_unprotected,
                        match (m.protected, prod_unprotected) {
                            (_, true) => {
                                "a prod store without protection: run `ledgerflow protect`".into()
                            }
                            (true, _) => "protected (nuke refused)".into(),
                            (false, _) => {
                                "not protected (`ledgerflow protect` refuses nuke)".into()
                            }
                        },
                    );
                }
            }
            let counts = store.counts().await?;
            let empty = counts.transactions == 0 && counts.accounts == 0;
            match crate::guard::lost_store(&settings.dir, meta.as_ref()).filter(|_| empty) {
                Some(entry) => add(
                    "lineage",
                    false,
                    crate::guard::lost_store_refusal(
                        &entry,
                        &store.location(),
                        false,
                        ctx.settings.env,
                    )
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
                ),
                None => add("lineage", true, "no sign of a lost store".into()),
            }
            let (applied, known) = (store.schema_version().await?, store.known_schema_version());
            add(
                "schema",
                applied == known,
                if applied < known {
                    format!(
                        "version {applied}, this LedgerFlow needs {known}: run `ledgerflow migrate`"
                    )
                } else {
                    format!("version {applied} (current)")
                },
            );
            if meta.is_some() {
                if applied < known {
                    add(
                    "journal",
                    false,
                    "not checked: the schema is behind (run `ledgerflow migrate`, which takes a verified backup first)".into(),
                );
                } else {
                    let mut report =
                        ledgerflow_core::service::verify_journal(store.as_ref()).await?;
                    if report.ok
                        && let Ok(settings) = crate::commands::backup::settings(ctx)
                        && let Some(problem) =
                            ledgerflow_backup::journal_behind_backups(store.as_ref(), &settings)
                                .await?
                    {
                        report.ok = false;
                        report.problem = Some(problem);
                    }
                    add(
                        "journal",
                        report.ok,
                        match &report.problem {
                            None => format!(
                                "{} entries chained, {} rows match the journal",
                                report.entries, report.rows_checked
                            ),
                            Some(p) => p.clone(),
                        },
                    );
                }
                match crate::commands::backup::health(
                    ctx,
                    meta.as_ref().map(|m| m.lineage_id.to_string()).as_deref(),
                ) {
                    Ok(h) => {
                        add(
                            "backups",
                            !h.stale && h.failures.is_empty(),
                            match (&h.last_verified, h.last_verified_age_seconds) {
                                (Some(file), Some(age)) => format!(
                                    "last verified backup {} old ({file}){}{}",
                                    crate::commands::backup::age(chrono::Duration::seconds(age)),
                                    if h.stale {
                                        ", older than two scheduled intervals: run `ledgerflow backup`"
                                    } else {
                                        ""
                                    },
                                    if h.failures.is_empty() {
                                        String::new()
                                    } else {
                                        format!("; {} failed since", h.failures.len())
                                    }
                                ),
                                _ => "no verified backup: run `ledgerflow backup`".into(),
                            },
                        );
                    }
                    Err(e) => add("backups", false, e.to_string()),
                }
            }
            store.close().await;
        }
    }
    let data_dir = match &location {
        Location::Sqlite(p) => p.parent().map(Path::to_path_buf),
        Location::Postgres(_) => None,
    };
    for (what, dir) in [("data", data_dir), ("backups", Some(settings.dir.clone()))] {
        let Some(dir) = dir else { continue };
        match free_bytes(&dir) {
            Some(free) => add(
                if what == "data" {
                    "disk (data)"
                } else {
                    "disk (backups)"
                },
                free >= 256 << 20,
                format!("{} free at {}", human(free), dir.display()),
            ),
            None => add(
                if what == "data" {
                    "disk (data)"
                } else {
                    "disk (backups)"
                },
                false,
                format!("{} cannot be read (missing?)", dir.display()),
            ),
        }
    }
    if let Location::Postgres(_) = &location {
        for tool in ["pg_dump", "pg_restore"] {
            let version = ledgerflow_db::admin::pg_tool(settings.pg_bin_dir.as_deref(), tool)
                .ok()
                .and_then(|p| std::process::Command::new(p).arg("--version").output().ok())
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
            match version {
                Some(v) => add("tools", true, v),
                None => add(
                    "tools",
                    false,
                    format!("{tool} not found (backup.pg_bin_dir)"),
                ),
            }
        }
    }
    let problems = f.iter().filter(|x| !x.ok).count();
    if a.json {
        print_json(&f)?;
    } else {
        for x in &f {
            crate::out!(
                "{:<8}{:<16}{}",
                if x.ok { "ok" } else { "PROBLEM" },
                x.check,
                x.says
            );
        }
    }
    if problems > 0 {
        return Err(CheckFailed(format!("doctor: {problems} problem(s)")).into());
    }
    Ok(())
}

/// Free bytes on the filesystem holding `dir` (the nearest existing ancestor), from `df`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let mut d = dir.to_path_buf();
    while !d.exists() {
        d = d.parent()?.to_path_buf();
        if d.as_os_str().is_empty() {
            d = ".".into();
        }
    }
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(&d)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n => format!("{:.0} MiB", n as f64 / (1u64 << 20) as f64),
    }
}
