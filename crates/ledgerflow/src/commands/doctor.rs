//! `ledgerflow doctor`: one line per finding, exit 1 when any is a problem. Environment match,
//! protection, the lineage guard, schema version, the journal chain and row check, the age of
//! the last verified backup and failures since, free space where the data and the backups
//! live, and the PostgreSQL tools a backup needs.

use std::path::Path;

use ledgerflow_core::Store;
use ledgerflow_core::model::Environment;
use ledgerflow_db::{Location, OpenMode};
use serde::Serialize;

use crate::context::{Ctx, print_json};
use crate::exit::CheckFailed;
use crate::guard::lost_store_refusal;

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

/// The findings so far, in the order they are printed.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, check: &'static str, ok: bool, says: String) {
        self.0.push(Finding { check, ok, says });
    }
}

pub async fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<()> {
    let mut f = Findings::default();
    let location = ctx.location()?;
    let settings = crate::backups::settings(ctx)?;
    match ledgerflow_db::open(&location, OpenMode::AsIs).await {
        Err(e) => unopened(ctx, &location, &settings, &e, &mut f),
        Ok(store) => {
            // A store that opens but cannot be read is a finding, not the end of the report.
            if let Err(e) = store_checks(ctx, store.as_ref(), &settings, &mut f).await {
                f.add("store", false, format!("{}: {e:#}", location.display()));
            }
            store.close().await;
        }
    }
    disk_checks(&location, &settings, &mut f);
    if let Location::Postgres(_) = &location {
        tool_checks(&settings, &mut f).await;
    }
    let problems = f.0.iter().filter(|x| !x.ok).count();
    if a.json {
        print_json(&f.0)?;
    } else {
        for x in &f.0 {
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

/// A store that does not open: only a missing or never-initialised store can be a lost one; a
/// server that is down or a schema too new is reported as it is.
fn unopened(
    ctx: &Ctx,
    location: &Location,
    settings: &ledgerflow_backup::Settings,
    e: &ledgerflow_core::StoreError,
    f: &mut Findings,
) {
    let lost = match e {
        ledgerflow_core::StoreError::NotInitialized { .. } => {
            crate::guard::lost_store(&settings.dir, None)
        }
        _ => None,
    };
    match lost {
        Some(entry) => f.add(
            "lineage",
            false,
            one_line(lost_store_refusal(ctx, &entry, &location.display(), true)),
        ),
        None => f.add("store", false, format!("{}: {e}", location.display())),
    }
}

/// A message on one line.
fn one_line(message: impl std::fmt::Display) -> String {
    message
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the open store says: its facts, lineage, schema, journal and backups.
async fn store_checks(
    ctx: &Ctx,
    store: &dyn Store,
    settings: &ledgerflow_backup::Settings,
    f: &mut Findings,
) -> anyhow::Result<()> {
    let meta = store.meta().await?;
    match &meta {
        None => f.add(
            "store",
            false,
            "not initialised: run `ledgerflow init`".into(),
        ),
        Some(m) => facts_checks(ctx, m, f),
    }
    let counts = store.counts().await?;
    let empty = counts.transactions == 0 && counts.accounts == 0;
    match crate::guard::lost_store(&settings.dir, meta.as_ref()).filter(|_| empty) {
        Some(entry) => f.add(
            "lineage",
            false,
            one_line(lost_store_refusal(ctx, &entry, &store.location(), false)),
        ),
        None => f.add("lineage", true, "no sign of a lost store".into()),
    }
    let (applied, known) = (store.schema_version().await?, store.known_schema_version());
    f.add(
        "schema",
        applied == known,
        if applied < known {
            format!("version {applied}, this LedgerFlow needs {known}: run `ledgerflow migrate`")
        } else {
            format!("version {applied} (current)")
        },
    );
    if let Some(m) = &meta {
        if applied < known {
            f.add(
                "journal",
                false,
                "not checked: the schema is behind (run `ledgerflow migrate`, which takes a verified backup first)".into(),
            );
        } else {
            journal_check(store, settings, f).await?;
        }
        backups_check(ctx, &m.lineage_id.to_string(), f);
    }
    Ok(())
}

/// The environment the store was made for, and its protection.
fn facts_checks(ctx: &Ctx, m: &ledgerflow_core::model::StoreMeta, f: &mut Findings) {
    match crate::guard::environment(m, ctx.settings.env) {
        Ok(()) => f.add(
            "environment",
            true,
            format!(
                "a {} store, LedgerFlow runs as {}",
                m.environment, ctx.settings.env
            ),
        ),
        Err(e) => f.add("environment", false, e.to_string()),
    }
    let prod_unprotected = m.environment == Environment::Prod && !m.protected;
    f.add(
        "protection",
        !prod_unprotected,
        match (m.protected, prod_unprotected) {
            (_, true) => "a prod store without protection: run `ledgerflow protect`".into(),
            (true, _) => "protected (nuke refused)".into(),
            (false, _) => "not protected (`ledgerflow protect` refuses nuke)".into(),
        },
    );
}

/// The journal's chain and rows, and the live head against the newest verified backup's.
async fn journal_check(
    store: &dyn Store,
    settings: &ledgerflow_backup::Settings,
    f: &mut Findings,
) -> anyhow::Result<()> {
    let mut report = ledgerflow_core::service::verify_journal(store).await?;
    if report.ok
        && let Some(problem) = ledgerflow_backup::journal_behind_backups(store, settings).await?
    {
        report.ok = false;
        report.problem = Some(problem);
    }
    f.add(
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
    Ok(())
}

/// The age of the newest verified backup, and failures since.
fn backups_check(ctx: &Ctx, lineage: &str, f: &mut Findings) {
    match crate::backups::health(ctx, Some(lineage)) {
        Ok(h) => f.add(
            "backups",
            !h.stale && h.failures.is_empty(),
            match (&h.last_verified, h.last_verified_age_seconds) {
                (Some(file), Some(age)) => format!(
                    "last verified backup {} old ({file}){}{}",
                    crate::backups::age(chrono::Duration::seconds(age)),
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
        ),
        Err(e) => f.add("backups", false, e.to_string()),
    }
}

/// Free space where the data and the backups live.
fn disk_checks(location: &Location, settings: &ledgerflow_backup::Settings, f: &mut Findings) {
    let data_dir = match location {
        Location::Sqlite(p) => p.parent().map(Path::to_path_buf),
        Location::Postgres(_) => None,
    };
    for (check, dir) in [
        ("disk (data)", data_dir),
        ("disk (backups)", Some(settings.dir.clone())),
    ] {
        let Some(dir) = dir else { continue };
        match free_bytes(&dir) {
            Some(free) => f.add(
                check,
                free >= 256 << 20,
                format!("{} free at {}", human(free), dir.display()),
            ),
            None => f.add(
                check,
                false,
                format!("{} cannot be read (missing?)", dir.display()),
            ),
        }
    }
}

/// The PostgreSQL tools a backup needs, and their versions.
async fn tool_checks(settings: &ledgerflow_backup::Settings, f: &mut Findings) {
    for tool in ["pg_dump", "pg_restore"] {
        let version = match ledgerflow_db::admin::pg_tool(settings.pg_bin_dir.as_deref(), tool) {
            Ok(p) => tokio::process::Command::new(p)
                .arg("--version")
                .output()
                .await
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
            Err(_) => None,
        };
        match version {
            Some(v) => f.add("tools", true, v),
            None => f.add(
                "tools",
                false,
                format!("{tool} not found (backup.pg_bin_dir)"),
            ),
        }
    }
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
