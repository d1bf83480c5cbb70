//! The checks every data command passes before it touches a store:
//!
//! - **Environment lock**: a store records its environment at init; LedgerFlow runs as
//!   `LEDGERFLOW_ENV` (`env`, `--as-env`). A dev configuration pointed at a prod store, or the
//!   reverse, is refused.
//! - **Lineage guard**: a store that is missing or empty while the backup catalog holds verified
//!   backups of a non-empty store of another lineage is what `docker compose down -v` leaves
//!   behind (the volume gone, recreated empty). Every data command refuses and prints the
//!   restore command, until the user restores or passes `--accept-new-lineage`.
//!
//! And the confirmations destructive commands ask for at a terminal.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use ledgerflow_core::model::{Environment, StoreMeta};

use crate::exit::Refused;

/// A store of another environment than the one LedgerFlow runs as.
pub fn environment(meta: &StoreMeta, running_as: Environment) -> Result<(), Refused> {
    if meta.environment == running_as {
        return Ok(());
    }
    Err(Refused(format!(
        "environment mismatch: this is a {} store but LedgerFlow runs as {} (LEDGERFLOW_ENV, env in the configuration, or --as-env): refused, nothing was touched",
        meta.environment, running_as
    )))
}

/// The newest verified backup of a non-empty store of another lineage than `meta`'s (None:
/// a missing or uninitialised store), unless that store was accepted as the ledger. Together
/// with an empty store at hand it is the sign of a lost store; the catalog is looked at first,
/// so the store is counted only when there is such a backup.
pub fn lost_store(
    backup_dir: &std::path::Path,
    meta: Option<&StoreMeta>,
) -> Option<ledgerflow_backup::catalog::Entry> {
    let lineage = meta.map(|m| m.lineage_id.to_string());
    let accepted = accepted_lineages(backup_dir);
    if lineage.as_ref().is_some_and(|l| accepted.contains(l)) {
        return None;
    }
    ledgerflow_backup::catalog::Catalog::at(backup_dir)
        .entries()
        .ok()?
        .into_iter()
        .filter(|e| {
            e.verified
                && !e.deleted
                && e.transactions > 0
                && e.lineage_id.is_some()
                && e.lineage_id != lineage
        })
        .max_by_key(|e| e.created_at)
}

/// The refusal for a lost store, with the command that brings it back.
pub fn lost_store_refusal(
    ctx: &crate::context::Ctx,
    entry: &ledgerflow_backup::catalog::Entry,
    location: &str,
    missing: bool,
) -> Refused {
    let running_as = ctx.settings.env;
    Refused(format!(
        "the store at {location} is {} but the backup directory holds verified backups of a store with {} transactions (lineage {}), the newest taken {}. \
         This is what a deleted volume or data directory looks like (`docker compose down -v`). \
         To bring the data back, run:\n\n    ledgerflow restore {} {}\n\n\
         To start a new, empty ledger instead, run the command again with --accept-new-lineage.",
        if missing { "missing" } else { "empty" },
        entry.transactions,
        entry.lineage_id.as_deref().unwrap_or("?"),
        entry.created_at.format("%Y-%m-%d %H:%M UTC"),
        entry.file,
        if running_as == Environment::Prod {
            "--authorize-prod"
        } else {
            "--yes"
        }
    ))
}

const ACCEPTED_FILE: &str = "accepted-lineages.txt";

fn accepted_lineages(dir: &std::path::Path) -> Vec<String> {
    ledgerflow_backup::fsx::read_small(&dir.join(ACCEPTED_FILE), 1 << 20)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Records that the user accepted the store of `lineage` as the new ledger (one line in the
/// backup directory, beside the catalog).
pub fn accept_lineage(dir: &std::path::Path, lineage: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    // Never through a symlink or into a FIFO planted in the shared directory.
    ledgerflow_backup::fsx::append_line(
        &dir.join(ACCEPTED_FILE),
        format!("{lineage} accepted {}\n", chrono::Utc::now().to_rfc3339()).as_bytes(),
    )?;
    Ok(())
}

/// Asks the user to type `expected` at the terminal. Refused without a terminal, or when the
/// answer differs.
pub fn confirm_typed(question: &str, expected: &str) -> Result<(), Refused> {
    if !std::io::stdin().is_terminal() {
        return Err(Refused(format!(
            "{question}: this needs an answer typed at a terminal, and there is none; refused, nothing was changed"
        )));
    }
    eprint!("{question}\nType {expected} to go on: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim() == expected {
        Ok(())
    } else {
        Err(Refused("not confirmed: nothing was changed".into()))
    }
}

/// What the user types to authorize a prod restore or migration: the database name, or the SQLite file's
/// directory name.
pub fn store_name(location: &ledgerflow_db::Location) -> String {
    match location {
        ledgerflow_db::Location::Postgres(url) => url
            .split('?')
            .next()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or("")
            .to_string(),
        ledgerflow_db::Location::Sqlite(p) => p
            .parent()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| p.display().to_string()),
    }
}

/// Which store must have a verified backup younger than `backup.prod_max_age_minutes`.
pub struct FreshBackup<'a> {
    pub lineage: &'a str,
}

/// [`authorize_prod`] for a step on `store`, which must have a fresh verified backup.
pub async fn authorize_prod_on(
    ctx: &crate::context::Ctx,
    store: &dyn ledgerflow_core::Store,
    action: &str,
    authorized: bool,
) -> anyhow::Result<()> {
    let lineage = store
        .meta()
        .await?
        .map(|m| m.lineage_id.to_string())
        .unwrap_or_default();
    authorize_prod(
        ctx,
        action,
        authorized,
        Some(FreshBackup { lineage: &lineage }),
    )
}

/// The gate of a destructive step in prod (restore, migration, a bulk deletion): the
/// `--authorize-prod` flag, a recent verified backup of the store (not for a restore, which
/// takes its own safety backup and must work when the store is lost), and the store's name
/// typed at a terminal.
pub fn authorize_prod(
    ctx: &crate::context::Ctx,
    action: &str,
    authorized: bool,
    fresh_backup_of: Option<FreshBackup<'_>>,
) -> anyhow::Result<()> {
    let location = ctx.location()?;
    let max = ctx.settings.backup.prod_max_age_minutes;
    if !authorized {
        return Err(Refused(format!(
            "{action} in prod needs --authorize-prod, a verified backup younger than {max} min, and the store's name typed at the prompt: refused, nothing was changed"
        ))
        .into());
    }
    let settings = crate::backups::settings(ctx)?;
    let fresh = match fresh_backup_of {
        None => true,
        Some(FreshBackup { lineage }) => ledgerflow_backup::list(&settings)?
            .into_iter()
            .filter(|e| e.verified && !e.deleted && e.lineage_id.as_deref() == Some(lineage))
            .any(|e| chrono::Utc::now() - e.created_at < chrono::Duration::minutes(i64::from(max))),
    };
    if !fresh {
        return Err(Refused(format!(
            "{action} in prod needs a verified backup younger than {max} min (backup.prod_max_age_minutes) in {}; take one with `ledgerflow backup`: refused, nothing was changed",
            settings.dir.display()
        ))
        .into());
    }
    confirm_typed(
        &format!("{action} on the prod store {}", location.display()),
        &store_name(&location),
    )?;
    Ok(())
}
