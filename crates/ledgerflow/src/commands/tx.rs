//! `ledgerflow tx add|list|edit|delete`.

use ledgerflow_core::model::{TxSort, TxStatus};
use ledgerflow_core::query::TxQuery;
use ledgerflow_core::service::{self, CategorySpec, TxChanges, TxInput, TxList, account_by_name};
use ledgerflow_core::{Store, ValidationError};

use crate::context::{Ctx, print_json, print_result, print_rows};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Add a transaction.
    Add {
        #[arg(long)]
        account: String,
        /// Posted date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// Signed decimal amount: negative is money out ("-12.34").
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[arg(long)]
        payee: String,
        /// Category path or unique name.
        #[arg(long)]
        category: Option<String>,
        #[arg(long, default_value = "")]
        memo: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "cleared")]
        status: TxStatus,
        #[arg(long)]
        json: bool,
    },
    /// List transactions, newest first, a page at a time.
    List(ListArgs),
    /// Change fields of a transaction.
    Edit {
        id: i64,
        #[arg(long)]
        date: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        amount: Option<String>,
        #[arg(long)]
        payee: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        memo: Option<String>,
        /// Category path or unique name; "" removes the category.
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        status: Option<TxStatus>,
        /// Clear the "needs review" mark an import put on a near match.
        #[arg(long)]
        reviewed: bool,
        #[arg(long)]
        json: bool,
    },
    /// Delete a transaction (journaled: it can be restored from history).
    Delete { id: i64 },
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    pub account: Option<String>,
    /// First date, YYYY-MM-DD.
    #[arg(long)]
    pub from: Option<String>,
    /// Last date, YYYY-MM-DD.
    #[arg(long)]
    pub to: Option<String>,
    /// Words in payee, description or memo: each must begin a word (any case).
    #[arg(long, short = 'q')]
    pub text: Option<String>,
    /// Category path or unique name; "none" for uncategorised.
    #[arg(long)]
    pub category: Option<String>,
    /// Smallest amount (decimal).
    #[arg(long, allow_hyphen_values = true)]
    pub min: Option<String>,
    /// Largest amount (decimal).
    #[arg(long, allow_hyphen_values = true)]
    pub max: Option<String>,
    #[arg(long)]
    pub status: Option<TxStatus>,
    /// date_desc (default), date_asc, amount_desc or amount_asc.
    #[arg(long)]
    pub sort: Option<TxSort>,
    /// Rows per page (at most 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Continue after this cursor (printed at the end of the previous page).
    #[arg(long)]
    pub cursor: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: &Ctx, cmd: &Cmd) -> anyhow::Result<()> {
    ctx.with_store(async |s| {
        match cmd {
            Cmd::Add {
                account,
                date,
                amount,
                payee,
                category,
                memo,
                description,
                status,
                json,
            } => {
                let t = service::add_transaction(
                    s,
                    &ctx.actor,
                    &TxInput {
                        account: &account_by_name(s, account).await?,
                        date,
                        amount,
                        payee,
                        description,
                        memo,
                        category: category.as_deref().map(CategorySpec::named),
                        status: *status,
                    },
                )
                .await?;
                let view = service::tx_view(s, t).await?;
                print_result(*json, &view, |view| {
                    format!(
                        "Added transaction {}: {} {} {} {} \"{}\"",
                        view.id, view.date, view.account, view.amount, view.currency, view.payee
                    )
                })?;
            }
            Cmd::List(args) => list(s, args).await?,
            Cmd::Edit {
                id,
                date,
                amount,
                payee,
                description,
                memo,
                category,
                status,
                reviewed,
                json,
            } => {
                let changes = TxChanges {
                    date: date.as_deref(),
                    amount: amount.as_deref(),
                    payee: payee.as_deref(),
                    description: description.as_deref(),
                    memo: memo.as_deref(),
                    category: category.as_deref().map(|c| Some(CategorySpec::named(c))),
                    status: *status,
                    reviewed: *reviewed,
                };
                let after = service::patch_transaction(s, &ctx.actor, *id, &changes).await?;
                let view = service::tx_view(s, after).await?;
                print_result(*json, &view, |view| {
                    format!(
                        "Updated transaction {}: {} {} {} \"{}\"",
                        view.id, view.date, view.amount, view.currency, view.payee
                    )
                })?;
            }
            Cmd::Delete { id } => {
                let t = service::delete_transaction(s, &ctx.actor, *id).await?;
                crate::out!(
                    "Deleted transaction {}: {} {} {} \"{}\"",
                    t.id,
                    t.posted_date,
                    t.currency.format_minor(t.amount_minor),
                    t.currency,
                    t.payee
                );
            }
        }
        Ok(())
    })
    .await
}

async fn list(s: &dyn Store, args: &ListArgs) -> anyhow::Result<()> {
    if args.limit == 0 {
        return Err(ValidationError::new("--limit must be at least 1").into());
    }
    let query = TxQuery {
        q: args.text.clone(),
        account: args.account.clone(),
        category: args.category.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
        min: args.min.clone(),
        max: args.max.clone(),
        status: args.status.map(|s| s.to_string()),
        batch: None,
        sort: args.sort.map(|s| s.to_string()),
        limit: Some(args.limit),
        cursor: args.cursor.clone(),
        flags: true,
    };
    let page = service::tx_page(s, &query, args.limit).await?;
    if args.json {
        return print_json(&page);
    }
    let TxList {
        items,
        next_cursor: next,
    } = page;
    if items.is_empty() {
        crate::out!("No transactions match.");
        return Ok(());
    }
    print_rows(
        &[
            "ID", "DATE", "ACCOUNT", "AMOUNT", "PAYEE", "CATEGORY", "STATUS",
        ],
        &items,
        |v| {
            vec![
                v.id.to_string(),
                v.date.to_string(),
                v.account.clone(),
                format!("{} {}", v.amount, v.currency),
                v.payee.clone(),
                v.category.clone().unwrap_or_default(),
                v.status.to_string(),
            ]
        },
    );
    if let Some(c) = next {
        crate::out!("More: --cursor {c}");
    }
    Ok(())
}
