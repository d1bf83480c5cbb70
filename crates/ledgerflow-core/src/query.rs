//! The transaction list as people and scripts ask for it: a [`TxQuery`] of strings (CLI flags,
//! URL parameters) checked into a [`TxFilter`], and [`TxView`], a transaction with names
//! instead of ids and decimal amounts. Shared by the CLI, the web pages and the JSON API.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, ValidationError};
use crate::model::*;
use crate::money::{Currency, MoneyError};
use crate::service::{category_paths, parse_date, resolve_category, with_descendants};
use crate::store::Store;

/// Most rows in one page.
pub const MAX_LIMIT: u32 = 1_000;

/// A transaction list request as typed. Empty strings count as absent (HTML forms send them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TxQuery {
    /// Words to search for in payee, description and memo.
    pub q: Option<String>,
    /// An account id or name.
    pub account: Option<String>,
    /// A category id, path or unique name (with its subcategories), or "none".
    pub category: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Smallest and largest amount, as decimals in the account's currency.
    pub min: Option<String>,
    pub max: Option<String>,
    pub status: Option<String>,
    /// An import batch id.
    pub batch: Option<String>,
    /// date_desc (default), date_asc, amount_desc or amount_asc.
    pub sort: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Name fields as command-line flags (`--from`) in errors, instead of parameters (`from`).
    #[serde(skip)]
    pub flags: bool,
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl TxQuery {
    fn name(&self, field: &str) -> String {
        if self.flags {
            format!("--{field}")
        } else {
            field.to_string()
        }
    }

    /// Checks every field against the store (accounts, categories) into a filter.
    pub async fn filter(&self, s: &dyn Store, default_limit: u32) -> Result<TxFilter, CoreError> {
        let accounts = s.list_accounts(true).await?;
        let account = match given(&self.account) {
            None => None,
            Some(a) => Some(
                accounts
                    .iter()
                    .find(|x| a.parse::<i64>().is_ok_and(|id| id == x.id))
                    .or_else(|| accounts.iter().find(|x| x.name.eq_ignore_ascii_case(a)))
                    .ok_or_else(|| {
                        CoreError::NotFound(format!(
                            "unknown account \"{}\"",
                            crate::error::shown(a)
                        ))
                    })?,
            ),
        };
        let (category_ids, uncategorized) = match given(&self.category) {
            None => (Vec::new(), false),
            Some(c) if c.eq_ignore_ascii_case("none") => (Vec::new(), true),
            Some(c) => {
                let categories = s.list_categories().await?;
                let id = match c.parse::<i64>() {
                    Ok(id) if categories.iter().any(|x| x.id == id) => id,
                    _ => resolve_category(&categories, c)?.id,
                };
                (with_descendants(&categories, id), false)
            }
        };
        // A malformed amount is named before any question of currency.
        for m in [given(&self.min), given(&self.max)].into_iter().flatten() {
            if let Err(e @ MoneyError::NotANumber { .. }) =
                Currency::from_code("BHD")?.parse_amount(m)
            {
                return Err(e.into());
            }
        }
        let amount = |m: Option<&str>| -> Result<Option<i64>, CoreError> {
            match m {
                None => Ok(None),
                Some(m) => Ok(Some(filter_currency(account, &accounts)?.parse_amount(m)?)),
            }
        };
        let limit = self.limit.unwrap_or(default_limit);
        if limit == 0 {
            return Err(
                ValidationError::new(format!("{} must be at least 1", self.name("limit"))).into(),
            );
        }
        let filter = TxFilter {
            account_id: account.map(|a| a.id),
            from: given(&self.from)
                .map(|d| parse_date("from", d))
                .transpose()?,
            to: given(&self.to).map(|d| parse_date("to", d)).transpose()?,
            text: given(&self.q).map(str::to_string),
            category_ids,
            uncategorized,
            min_amount_minor: amount(given(&self.min))?,
            max_amount_minor: amount(given(&self.max))?,
            status: given(&self.status).map(str::parse).transpose()?,
            import_batch_id: given(&self.batch)
                .map(|b| {
                    b.parse::<i64>().map_err(|_| {
                        ValidationError::new(format!("batch \"{b}\" is not an import batch id"))
                    })
                })
                .transpose()?,
            sort: given(&self.sort)
                .map(str::parse)
                .transpose()?
                .unwrap_or_default(),
            after: given(&self.cursor).map(TxCursor::decode).transpose()?,
            limit: limit.min(MAX_LIMIT),
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from > to
        {
            return Err(ValidationError::new(format!(
                "{} {from} is after {} {to}",
                self.name("from"),
                self.name("to")
            ))
            .into());
        }
        Ok(filter)
    }
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
            "accounts use several currencies: choose an account to filter by amount",
        )),
    }
}

/// A transaction as shown to people and scripts: names instead of ids, decimal amounts.
#[derive(Debug, Clone, Serialize)]
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
    pub category_id: Option<i64>,
    pub status: TxStatus,
    pub source: String,
    pub import_batch_id: Option<i64>,
    pub external_id: Option<String>,
    pub transfer_id: Option<i64>,
    pub needs_review: bool,
}

/// Account names and category paths by id, to turn transactions into [`TxView`]s.
pub struct Names {
    pub accounts: HashMap<i64, String>,
    pub categories: HashMap<i64, String>,
}

impl Names {
    pub async fn load(s: &dyn Store) -> Result<Names, CoreError> {
        let categories = s.list_categories().await?;
        Ok(Names {
            accounts: s
                .list_accounts(true)
                .await?
                .into_iter()
                .map(|a| (a.id, a.name))
                .collect(),
            categories: category_paths(&categories).into_iter().collect(),
        })
    }

    pub fn view(&self, t: Transaction) -> TxView {
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
            // Bounded whatever the row holds (one written before the limits, or behind
            // LedgerFlow's back): no list grows without bound.
            payee: bounded(t.payee, crate::service::MAX_TEXT),
            description: bounded(t.description, crate::service::MAX_TEXT),
            memo: bounded(t.memo, crate::service::MAX_MEMO),
            category: t.category_id.and_then(|c| self.categories.get(&c).cloned()),
            category_id: t.category_id,
            status: t.status,
            source: t.source,
            import_batch_id: t.import_batch_id,
            external_id: t.external_id,
            transfer_id: t.transfer_id,
            needs_review: t.needs_review,
        }
    }
}

/// `s` cut to `max` characters (with "…") when longer.
fn bounded(s: String, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s,
        Some((at, _)) => {
            let mut cut = s[..at].to_string();
            cut.push('…');
            cut
        }
    }
}
