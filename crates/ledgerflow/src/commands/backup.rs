//! `ledgerflow backup`: take a backup and prove it by a test restore; `backup list`, `backup
//! verify [FILE|--all]` (re-verify at any time: bit rot, 0-byte files) and `backup prune`
//! (retention that never deletes the last good copy). The work is `ledgerflow_backup`'s.

use std::path::PathBuf;

use chrono::Utc;
use ledgerflow_backup::{Copies, Kind, Location, Outcome, Settings};

use crate::context::{Ctx, print_json, print_list};
use crate::exit::{BadInput, CheckFailed};

#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// db: the database alone; full: the database, the configuration (without secrets) and the
    /// manifest in one archive.
    #[arg(long, value_enum, default_value = "db")]
    pub kind: KindArg,
    /// Keep this backup whatever retention says (taken before a risky change).
    #[arg(long)]
    pub pin: bool,
    /// Also copy it to this configured destination (backup.destinations.NAME), read back.
    #[arg(long)]
    pub dest: Option<String>,
    /// Encrypt it to this age recipient (age1…; overrides backup.encrypt_to). The identity
    /// that decrypts it (backup.age_identity_file) is needed to verify it.
    #[arg(long, value_name = "RECIPIENT")]
    pub encrypt_to: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    Db,
    Full,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Cmd {
    /// The backups in the catalog: kind, size, age, verification state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Verify stored backups again (size, hash, decompression, test restore); exits non-zero
    /// on any failure.
    Verify {
        /// A backup file (a name in the backup directory, or a path).
        file: Option<PathBuf>,
        /// Every backup in the catalog.
        #[arg(long, conflicts_with = "file")]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Run the backup schedule (backup.schedule_db, backup.schedule_full) until interrupted;
    /// `serve` runs it too.
    Schedule,
    /// Delete the backups retention no longer keeps (only verified ones of this store; never
    /// the newest verified one; nothing after a failed verification).
    Prune {
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<()> {
    let settings = crate::backups::settings(ctx)?;
    let location = ctx.location()?;
    match a.cmd.clone() {
        None => take(ctx, &a.run, settings, &location).await,
        Some(Cmd::List { json }) => list(&settings, json),
        Some(Cmd::Verify { file, all, json }) => {
            verify(ctx, &settings, &location, file, all, json).await
        }
        Some(Cmd::Schedule) => schedule(ctx, &settings).await,
        Some(Cmd::Prune { dry_run, json }) => prune(ctx, &settings, dry_run, json).await,
    }
}

/// `backup`: one backup now, proven by a test restore.
async fn take(
    ctx: &Ctx,
    run: &RunArgs,
    settings: Settings,
    location: &Location,
) -> anyhow::Result<()> {
    let mut settings = settings;
    if let Some(r) = &run.encrypt_to {
        settings.encrypt_to = Some(r.clone());
    }
    // As it is: a backup never waits for (or triggers) a schema migration.
    let store = ctx.open_guarded(ledgerflow_db::OpenMode::Existing).await?;
    let kind = match run.kind {
        KindArg::Db => Kind::Db,
        KindArg::Full => Kind::Full,
    };
    let spinner = crate::progress::spinner(format!(
        "{} backup: snapshot, test restore, compression and checks",
        kind.as_str()
    ));
    let copies = match &run.dest {
        Some(dest) => Copies::Only(dest),
        None => Copies::Nowhere,
    };
    let result =
        ledgerflow_backup::backup_now(store.as_ref(), location, &settings, kind, run.pin, copies)
            .await;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    store.close().await;
    let outcome = result?;
    report(&[outcome], run.json)
}

/// `backup list`.
fn list(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let entries = ledgerflow_backup::list(settings)?;
    let now = Utc::now();
    print_list(
        &entries,
        json,
        &format!("No backups in {} yet.", settings.dir.display()),
        &["FILE", "KIND", "SIZE", "AGE", "STATE", "TRANSACTIONS"],
        |e| {
            vec![
                e.file.clone(),
                e.kind.clone(),
                human_size(e.size),
                crate::backups::age(now - e.created_at),
                if e.verified { "verified" } else { "FAILED" }.to_string()
                    + if e.pinned { ", pinned" } else { "" },
                e.transactions.to_string(),
            ]
        },
    )
}

/// `backup verify [FILE|--all]`: every level again, and the live store against the newest
/// verified backup.
async fn verify(
    ctx: &Ctx,
    settings: &Settings,
    location: &Location,
    file: Option<PathBuf>,
    all: bool,
    json: bool,
) -> anyhow::Result<()> {
    let files: Vec<PathBuf> = match (file, all) {
        (Some(f), _) => vec![f],
        (None, true) => ledgerflow_backup::list(settings)?
            .into_iter()
            .map(|e| {
                let p = settings.dir.join(&e.file);
                if !p.exists() && !e.verified {
                    settings.dir.join(format!("{}.failed", e.file))
                } else {
                    p
                }
            })
            .collect(),
        (None, false) => {
            return Err(BadInput("name a backup file, or --all".into()).into());
        }
    };
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let spinner = crate::progress::spinner(format!("verifying {}", f.display()));
        let verified = ledgerflow_backup::verify(location, settings, &f).await;
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
        match verified {
            Ok(o) => outcomes.push(o),
            Err(e) => errors.push(format!("{}: {e}", f.display())),
        }
    }
    // The live store must still hold the head the newest verified backup recorded.
    if all && let Ok(store) = ctx.store().await {
        let behind = ledgerflow_backup::journal_behind_backups(store.as_ref(), settings).await;
        store.close().await;
        if let Some(problem) = behind? {
            errors.push(format!("the live store: {problem}"));
        }
    }
    let reported = report(&outcomes, json);
    if !errors.is_empty() {
        return Err(CheckFailed(format!(
            "could not verify {}: {}",
            errors.len(),
            errors.join("; ")
        ))
        .into());
    }
    reported
}

/// `backup schedule`: backs up on the configured schedule until Ctrl-C.
async fn schedule(ctx: &Ctx, settings: &Settings) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(crate::backups::schedule(ctx, store.clone(), rx)?);
    crate::out!(
        "Backing up on schedule (db: \"{}\", full: \"{}\") into {}; Ctrl-C stops.",
        ctx.settings.backup.schedule_db,
        ctx.settings.backup.schedule_full,
        settings.dir.display()
    );
    let _ = tokio::signal::ctrl_c().await;
    let _ = tx.send(true);
    let _ = task.await;
    store.close().await;
    Ok(())
}

/// `backup prune [--dry-run]`: retention.
async fn prune(ctx: &Ctx, settings: &Settings, dry_run: bool, json: bool) -> anyhow::Result<()> {
    let plan = ctx
        .with_store(async |s| Ok(ledgerflow_backup::prune(s, settings, dry_run).await?))
        .await?;
    if json {
        return print_json(&serde_json::json!({
            "dry_run": dry_run, "keep": plan.keep, "delete": plan.delete
        }));
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    for f in &plan.delete {
        crate::out!("{verb} {f}");
    }
    crate::out!("{} kept, {} {verb}.", plan.keep.len(), plan.delete.len());
    Ok(())
}

/// Prints the outcomes; any that failed verification makes the command fail (exit 1).
fn report(outcomes: &[Outcome], json: bool) -> anyhow::Result<()> {
    if json {
        match outcomes {
            [one] => print_json(one)?,
            many => print_json(&many)?,
        }
    } else {
        for o in outcomes {
            if o.verified {
                crate::out!(
                    "{}: verified ({}; {} transactions, {} in {} ms)",
                    o.file.display(),
                    o.verification,
                    o.transactions,
                    human_size(o.size),
                    o.duration_ms
                );
            } else {
                crate::out!(
                    "{}: FAILED verification: {}",
                    o.file.display(),
                    o.verification
                );
            }
        }
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.verified)
        .map(|o| format!("{}: {}", o.file.display(), o.verification))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CheckFailed(format!(
            "{} backup(s) failed verification: {}",
            failed.len(),
            failed.join("; ")
        ))
        .into())
    }
}

fn human_size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
