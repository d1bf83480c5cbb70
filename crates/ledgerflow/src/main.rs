//! The `ledgerflow` binary: parses the command line, loads the layered configuration, runs one
//! subcommand and turns its error into a one-sentence message and a stable exit code
//! (see `exit.rs`).

mod backups;
mod cli;
mod commands;
mod config;
mod context;
mod exit;
mod guard;
mod progress;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;
use ledgerflow_core::model::Actor;

use crate::cli::{Cli, Command};
use crate::context::Ctx;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(err) => {
            let code = exit::code_for(&err);
            eprintln!("error: {}", exit::message(&err));
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let bind = match &cli.command {
        Command::Serve(a) => a.bind.clone(),
        _ => None,
    };
    let loaded = config::load(
        cli.global.config_path().as_deref(),
        &cli.global.overrides(bind),
    )?;
    let level = match (&loaded.settings.log.level, &cli.command) {
        (l, _) if !l.is_empty() => l.clone(),
        (_, Command::Serve(_)) => "info,sqlx=warn".to_string(),
        _ => "warn".to_string(),
    };
    telemetry::init(&level, loaded.settings.log.format == "json");
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    if let Command::Config(cmd) = &cli.command {
        return commands::config::run(&loaded, cmd);
    }
    let ctx = Ctx {
        settings: loaded.settings,
        actor: Actor::cli(),
        accept_new_lineage: cli.global.accept_new_lineage,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match &cli.command {
            Command::Init(a) => commands::init::run(&ctx, a).await,
            Command::Serve(_) => commands::serve::run(&ctx).await,
            Command::Status(a) => commands::status::run(&ctx, a).await,
            Command::Account(c) => commands::account::run(&ctx, c).await,
            Command::Category(c) => commands::category::run(&ctx, c).await,
            Command::Tx(c) => commands::tx::run(&ctx, c).await,
            Command::User(c) => commands::user::run(&ctx, c).await,
            Command::Token(c) => commands::token::run(&ctx, c).await,
            Command::Journal(c) => commands::journal::run(&ctx, c).await,
            Command::Import(a) => commands::import::run(&ctx, a).await,
            Command::Backup(a) => commands::backup::run(&ctx, a).await,
            Command::Restore(a) => commands::restore::run(&ctx, a).await,
            Command::Protect => commands::protect::run(&ctx, true).await,
            Command::Unprotect => commands::protect::run(&ctx, false).await,
            Command::Nuke(a) => commands::protect::nuke(&ctx, a).await,
            Command::Guard(c) => commands::docker::run(&ctx, c).await,
            Command::Migrate(a) => commands::migrate::run(&ctx, a).await,
            Command::Doctor(a) => commands::doctor::run(&ctx, a).await,
            Command::Config(_) => Ok(()),
        }
    })
}
