//! Command-line definition. Each subcommand's arguments live in its own module under
//! `commands/`; this file only assembles them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use ledgerflow_core::model::Environment;

use crate::commands;
use crate::config::{FlagOverrides, LogFlags, ServerFlags};

#[derive(Debug, Parser)]
#[command(
    name = "ledgerflow",
    version,
    about = "LedgerFlow: a ledger you can trust with your money records",
    after_help = "Exit codes: 0 ok, 1 refused or check failed, 2 bad usage or input, 3 store unavailable, 4 internal error."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Configuration file; also LEDGERFLOW_CONFIG (default: ./ledgerflow.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory of the embedded SQLite store [default: ./ledgerflow-data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of the embedded store.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Environment to run as: dev, staging or prod (overrides LEDGERFLOW_ENV and the file).
    #[arg(long = "as-env", global = true, value_name = "ENV")]
    pub as_env: Option<Environment>,
    /// Backup directory [default: ./ledgerflow-backups].
    #[arg(long, global = true, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Log filter, e.g. "debug" or "ledgerflow=debug,sqlx=warn".
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Accept a new or empty store as the ledger although the backup directory holds verified
    /// backups of another, non-empty one (otherwise refused: see `ledgerflow restore`).
    #[arg(long, global = true)]
    pub accept_new_lineage: bool,
}

impl GlobalArgs {
    /// `--config`, else a non-empty `LEDGERFLOW_CONFIG`.
    pub fn config_path(&self) -> Option<PathBuf> {
        self.config.clone().or_else(|| {
            std::env::var_os("LEDGERFLOW_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    pub fn overrides(&self, bind: Option<String>) -> FlagOverrides {
        FlagOverrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            env: self.as_env,
            backup_dir: self.backup_dir.clone(),
            server: bind.map(|bind| ServerFlags { bind }),
            log: self.log_level.clone().map(|level| LogFlags { level }),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the store: lineage id, environment, schema.
    Init(commands::init::Args),
    /// Run the web server (creates the embedded store on first run).
    Serve(commands::serve::Args),
    /// Show the store: environment, engine, location, schema, counts, journal head.
    Status(commands::status::Args),
    /// Accounts: add, list, edit, archive.
    #[command(subcommand)]
    Account(commands::account::Cmd),
    /// Categories (hierarchical, "Parent:Child"): add, list, rename, move.
    #[command(subcommand)]
    Category(commands::category::Cmd),
    /// Transactions: add, list, edit, delete.
    #[command(subcommand)]
    Tx(commands::tx::Cmd),
    /// Import bank files (OFX/QFX, QIF, CAMT, MT940, CSV) into an account; inspect, list, undo.
    Import(commands::import::Args),
    /// Backups proven by a test restore: take one, list, verify, prune.
    Backup(commands::backup::Args),
    /// Restore a backup: verified first, a pinned safety backup of the current store, then
    /// swapped in whole.
    Restore(commands::restore::Args),
    /// Apply pending schema migrations after a verified, pinned backup.
    Migrate(commands::migrate::Args),
    /// Check everything: environment, protection, backups, journal, schema, disk, tools.
    Doctor(commands::doctor::Args),
    /// Protect the store: nuke is refused on it.
    Protect,
    /// Remove the protection (refused in prod).
    Unprotect,
    /// Delete all data of a dev store, after a verified backup and typing DESTROY.
    Nuke(commands::protect::NukeArgs),
    /// Guards around other tools: `guard docker -- …` refuses to delete protected volumes.
    #[command(subcommand)]
    Guard(commands::docker::Cmd),
    /// Users and roles.
    #[command(subcommand)]
    User(commands::user::Cmd),
    /// Personal API tokens: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(commands::token::Cmd),
    /// The change journal: verify, show.
    #[command(subcommand)]
    Journal(commands::journal::Cmd),
    /// Configuration: show the effective values and their sources, or print an example file.
    #[command(subcommand)]
    Config(commands::config::Cmd),
}
