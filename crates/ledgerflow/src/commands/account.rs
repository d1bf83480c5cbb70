//! `ledgerflow account add|list|edit|archive|unarchive`.

use ledgerflow_core::Store;
use ledgerflow_core::model::AccountKind;
use ledgerflow_core::service::{self, AccountChanges, AccountInput, account_by_name};

use crate::context::{Ctx, flag, print_list, print_result};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Add an account.
    Add {
        name: String,
        /// checking, savings, credit_card, cash, loan or other.
        #[arg(long)]
        kind: AccountKind,
        /// ISO 4217 currency code.
        #[arg(long, default_value = "USD")]
        currency: String,
        #[arg(long)]
        institution: Option<String>,
        /// Opening balance as a decimal ("1234.56").
        #[arg(long, allow_hyphen_values = true)]
        opening_balance: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List accounts with their balances.
    List {
        /// Include archived accounts.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Change an account's name, institution, kind or opening balance.
    Edit {
        name: String,
        #[arg(long = "name", value_name = "NEW_NAME")]
        new_name: Option<String>,
        /// New institution ("" clears it).
        #[arg(long)]
        institution: Option<String>,
        #[arg(long)]
        kind: Option<AccountKind>,
        #[arg(long, allow_hyphen_values = true)]
        opening_balance: Option<String>,
    },
    /// Archive an account (hidden from lists; its transactions stay).
    Archive { name: String },
    /// Bring an archived account back.
    Unarchive { name: String },
}

pub async fn run(ctx: &Ctx, cmd: &Cmd) -> anyhow::Result<()> {
    ctx.with_store(async |s| {
        match cmd {
            Cmd::Add {
                name,
                kind,
                currency,
                institution,
                opening_balance,
                json,
            } => {
                let a = service::create_account(
                    s,
                    &ctx.actor,
                    &AccountInput {
                        name,
                        institution: institution.as_deref(),
                        kind: *kind,
                        currency,
                        opening_balance: opening_balance.as_deref(),
                    },
                )
                .await?;
                print_result(*json, &a, |a| {
                    format!(
                        "Added account \"{}\" (id {}, {}, {}, opening balance {})",
                        a.name,
                        a.id,
                        a.kind,
                        a.currency,
                        a.currency.format_minor(a.opening_balance_minor)
                    )
                })?;
            }
            Cmd::List { all, json } => list(s, *all, *json).await?,
            Cmd::Edit {
                name,
                new_name,
                institution,
                kind,
                opening_balance,
            } => {
                let a = account_by_name(s, name).await?;
                let changes = AccountChanges {
                    name: new_name.as_deref(),
                    institution: institution.as_deref().map(Some),
                    kind: *kind,
                    opening_balance: opening_balance.as_deref(),
                    archived: None,
                };
                let after = service::update_account(s, &ctx.actor, a.id, &changes).await?;
                crate::out!("Updated account \"{}\" (id {})", after.name, after.id);
            }
            Cmd::Archive { name } | Cmd::Unarchive { name } => {
                let archive = matches!(cmd, Cmd::Archive { .. });
                let a = account_by_name(s, name).await?;
                let changes = AccountChanges::archived(archive);
                service::update_account(s, &ctx.actor, a.id, &changes).await?;
                crate::out!(
                    "{} account \"{}\"",
                    if archive { "Archived" } else { "Unarchived" },
                    a.name
                );
            }
        }
        anyhow::Ok(())
    })
    .await
}

async fn list(s: &dyn Store, all: bool, json: bool) -> anyhow::Result<()> {
    let views = service::account_views(s, all).await?;
    print_list(
        &views,
        json,
        "No accounts yet: add one with `ledgerflow account add NAME --kind checking`.",
        &["ID", "NAME", "KIND", "INSTITUTION", "BALANCE", ""],
        |v| {
            vec![
                v.id.to_string(),
                v.name.clone(),
                v.kind.to_string(),
                v.institution.clone().unwrap_or_default(),
                format!("{} {}", v.balance, v.currency),
                flag(v.archived, "archived"),
            ]
        },
    )
}
