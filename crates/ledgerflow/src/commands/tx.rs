//! `ledgerflow tx add|list|edit|delete`.

use std::collections::HashMap;

use chrono::NaiveDate;
use ledgerflow_core::model::{
    Account, Category, NewTransaction, Transaction, TransactionPatch, TxCursor, TxFilter, TxStatus,
};
use ledgerflow_core::service::{
    account_by_name, category_paths, resolve_category, with_descendants,
};
use ledgerflow_core::{Currency, Store, ValidationError};
use serde::Serialize;

use crate::context::{Ctx, print_json, print_table};

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
    /// Text in payee, description or memo (case-insensitive).
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
    /// Rows per page (at most 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Continue after this cursor (printed at the end of the previous page).
    #[arg(long)]
    pub cursor: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// A transaction as shown to people and scripts: names instead of ids, decimal amounts.
#[derive(Serialize)]
pub struct TxView {
    pub id: i64,
    pub date: NaiveDate,
    pub account: String,
    pub account_id: i64,
    pub amount: String,
    pub amount_minor: i64,
    pub currency: String,
    pub payee: String,
    pub description: String,
    pub memo: String,
    pub category: Option<String>,
    pub status: TxStatus,
    pub source: String,
    pub import_batch_id: Option<i64>,
    pub external_id: Option<String>,
    pub transfer_id: Option<i64>,
    pub needs_review: bool,
}

struct Names {
    accounts: HashMap<i64, String>,
    categories: HashMap<i64, String>,
}

impl Names {
    async fn load(s: &dyn Store, categories: &[Category]) -> anyhow::Result<Names> {
        Ok(Names {
            accounts: s
                .list_accounts(true)
                .await?
                .into_iter()
                .map(|a| (a.id, a.name))
                .collect(),
            categories: category_paths(categories).into_iter().collect(),
        })
    }

    fn view(&self, t: Transaction) -> TxView {
        TxView {
            id: t.id,
            date: t.posted_date,
            account: self
                .accounts
                .get(&t.account_id)
                .cloned()
                .unwrap_or_default(),
            account_id: t.account_id,
            amount: t.currency.format_minor(t.amount_minor),
            amount_minor: t.amount_minor,
            currency: t.currency.to_string(),
            payee: t.payee,
            description: t.description,
            memo: t.memo,
            category: t.category_id.and_then(|c| self.categories.get(&c).cloned()),
            status: t.status,
            source: t.source,
            import_batch_id: t.import_batch_id,
            external_id: t.external_id,
            transfer_id: t.transfer_id,
            needs_review: t.needs_review,
        }
    }
}

pub fn parse_date(what: &str, s: &str) -> Result<NaiveDate, ValidationError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        ValidationError::new(format!(
            "{what} \"{s}\" is not a valid date (use YYYY-MM-DD)"
        ))
    })
}

/// Transactions of an archived account are frozen until it is unarchived.
async fn refuse_if_archived(s: &dyn Store, account_id: i64) -> anyhow::Result<()> {
    let a = s.get_account(account_id).await?;
    if a.archived {
        return Err(ledgerflow_core::CoreError::Refused(format!(
            "account \"{}\" is archived: unarchive it before changing its transactions",
            a.name
        ))
        .into());
    }
    Ok(())
}

/// Longest payee or description, and longest memo, in characters.
const MAX_TEXT: usize = 500;
const MAX_MEMO: usize = 4_000;

fn check_text(what: &str, s: &str) -> Result<String, ValidationError> {
    let limit = if what == "memo" { MAX_MEMO } else { MAX_TEXT };
    if s.chars().count() > limit {
        return Err(ValidationError::new(format!(
            "{what} is longer than {limit} characters"
        )));
    }
    if s.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ValidationError::new(format!(
            "{what} \"{}\" contains control characters",
            s.escape_debug()
        )));
    }
    Ok(s.trim().to_string())
}

/// The currency an amount filter is in: the account's, or the one all accounts share.
fn filter_currency(
    account: Option<&Account>,
    all: &[Account],
) -> Result<Currency, ValidationError> {
    if let Some(a) = account {
        return Ok(a.currency);
    }
    let mut currencies: Vec<Currency> = all.iter().map(|a| a.currency).collect();
    currencies.sort();
    currencies.dedup();
    match currencies.as_slice() {
        [] => Ok(Currency::USD),
        [one] => Ok(*one),
        _ => Err(ValidationError::new(
            "accounts use several currencies: give --account with --min/--max",
        )),
    }
}

pub async fn run(ctx: &Ctx, cmd: &Cmd) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    let result = run_on(ctx, store.as_ref(), cmd).await;
    store.close().await;
    result
}

async fn run_on(ctx: &Ctx, s: &dyn Store, cmd: &Cmd) -> anyhow::Result<()> {
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
            let a = account_by_name(s, account).await?;
            if a.archived {
                return Err(ledgerflow_core::CoreError::Refused(format!(
                    "account \"{}\" is archived: unarchive it first",
                    a.name
                ))
                .into());
            }
            let categories = s.list_categories().await?;
            let category_id = category
                .as_deref()
                .map(|c| resolve_category(&categories, c))
                .transpose()?
                .map(|c| c.id);
            let row = NewTransaction {
                account_id: a.id,
                posted_date: parse_date("date", date)?,
                amount_minor: a.currency.parse_amount(amount)?,
                currency: a.currency,
                payee: Some(check_text("payee", payee)?)
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| ValidationError::new("payee must not be empty"))?,
                description: check_text("description", description)?,
                memo: check_text("memo", memo)?,
                category_id,
                status: *status,
                source: "manual".into(),
                import_batch_id: None,
                external_id: None,
                transfer_id: None,
                needs_review: false,
            };
            let ids = s.insert_transactions(&ctx.actor, vec![row]).await?;
            let id = ids.first().copied().unwrap_or_default();
            let t = s.get_transaction(id).await?;
            let view = Names::load(s, &categories).await?.view(t);
            if *json {
                print_json(&view)?;
            } else {
                crate::out!(
                    "Added transaction {}: {} {} {} {} \"{}\"",
                    view.id,
                    view.date,
                    view.account,
                    view.amount,
                    view.currency,
                    view.payee
                );
            }
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
            let before = s.get_transaction(*id).await?;
            refuse_if_archived(s, before.account_id).await?;
            let categories = s.list_categories().await?;
            let patch = TransactionPatch {
                posted_date: date.as_deref().map(|d| parse_date("date", d)).transpose()?,
                amount_minor: amount
                    .as_deref()
                    .map(|t| before.currency.parse_amount(t))
                    .transpose()?,
                payee: payee
                    .as_deref()
                    .map(|p| check_text("payee", p))
                    .transpose()?,
                description: description
                    .as_deref()
                    .map(|p| check_text("description", p))
                    .transpose()?,
                memo: memo.as_deref().map(|p| check_text("memo", p)).transpose()?,
                category_id: match category.as_deref() {
                    None => None,
                    Some(c) if c.trim().is_empty() || c.trim().eq_ignore_ascii_case("none") => {
                        Some(None)
                    }
                    Some(c) => Some(Some(resolve_category(&categories, c)?.id)),
                },
                status: *status,
                transfer_id: None,
                needs_review: reviewed.then_some(false),
            };
            let after = s.update_transaction(&ctx.actor, *id, &patch).await?;
            let view = Names::load(s, &categories).await?.view(after);
            if *json {
                print_json(&view)?;
            } else {
                crate::out!(
                    "Updated transaction {}: {} {} {} \"{}\"",
                    view.id,
                    view.date,
                    view.amount,
                    view.currency,
                    view.payee
                );
            }
        }
        Cmd::Delete { id } => {
            refuse_if_archived(s, s.get_transaction(*id).await?.account_id).await?;
            let t = s.delete_transaction(&ctx.actor, *id).await?;
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
}

async fn list(s: &dyn Store, args: &ListArgs) -> anyhow::Result<()> {
    let accounts = s.list_accounts(true).await?;
    let account = match &args.account {
        Some(n) => Some(account_by_name(s, n).await?),
        None => None,
    };
    let categories = s.list_categories().await?;
    let (category_ids, uncategorized) = match args.category.as_deref() {
        None => (Vec::new(), false),
        Some(c) if c.trim().eq_ignore_ascii_case("none") => (Vec::new(), true),
        Some(c) => (
            with_descendants(&categories, resolve_category(&categories, c)?.id),
            false,
        ),
    };
    if args.limit == 0 {
        return Err(ValidationError::new("--limit must be at least 1").into());
    }
    // A malformed amount is named before any question of currency.
    for m in [&args.min, &args.max].into_iter().flatten() {
        if let Err(e @ ledgerflow_core::MoneyError::NotANumber { .. }) =
            Currency::from_code("BHD")?.parse_amount(m)
        {
            return Err(e.into());
        }
    }
    let currency = || filter_currency(account.as_ref(), &accounts);
    let filter = TxFilter {
        account_id: account.as_ref().map(|a| a.id),
        from: args
            .from
            .as_deref()
            .map(|d| parse_date("--from", d))
            .transpose()?,
        to: args
            .to
            .as_deref()
            .map(|d| parse_date("--to", d))
            .transpose()?,
        text: args.text.clone(),
        category_ids,
        uncategorized,
        min_amount_minor: args
            .min
            .as_deref()
            .map(|m| currency()?.parse_amount(m).map_err(anyhow::Error::from))
            .transpose()?,
        max_amount_minor: args
            .max
            .as_deref()
            .map(|m| currency()?.parse_amount(m).map_err(anyhow::Error::from))
            .transpose()?,
        status: args.status,
        import_batch_id: None,
        after: args.cursor.as_deref().map(TxCursor::decode).transpose()?,
        limit: args.limit.clamp(1, 1_000),
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(ValidationError::new(format!("--from {from} is after --to {to}")).into());
    }
    let page = s.list_transactions(&filter).await?;
    let names = Names::load(s, &categories).await?;
    let next = page.next_cursor.map(|c| c.encode());
    let items: Vec<TxView> = page.items.into_iter().map(|t| names.view(t)).collect();
    if args.json {
        return print_json(&serde_json::json!({ "items": items, "next_cursor": next }));
    }
    if items.is_empty() {
        crate::out!("No transactions match.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|v| {
            vec![
                v.id.to_string(),
                v.date.to_string(),
                v.account.clone(),
                format!("{} {}", v.amount, v.currency),
                v.payee.clone(),
                v.category.clone().unwrap_or_default(),
                v.status.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "ID", "DATE", "ACCOUNT", "AMOUNT", "PAYEE", "CATEGORY", "STATUS",
        ],
        &rows,
    );
    if let Some(c) = next {
        crate::out!("More: --cursor {c}");
    }
    Ok(())
}
