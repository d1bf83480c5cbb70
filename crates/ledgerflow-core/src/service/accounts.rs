//! Accounts: finding one by name or id, the archived-account rule, creating and changing one,
//! and accounts with their balances as both faces show them.

use std::collections::HashMap;

use serde::Serialize;
use tracing::instrument;

use crate::error::{CoreError, ValidationError};
use crate::model::{Account, AccountKind, AccountPatch, Actor, NewAccount};
use crate::money::Currency;
use crate::service::check_name;
use crate::store::{Store, StoreError};

/// Looks an account up by its exact name.
pub async fn account_by_name(store: &dyn Store, name: &str) -> Result<Account, CoreError> {
    store.find_account(name.trim()).await?.ok_or_else(|| {
        CoreError::NotFound(format!("unknown account \"{}\"", crate::error::shown(name)))
    })
}

/// An account given by id or by name (the API accepts either).
pub async fn account_by_id_or_name(store: &dyn Store, spec: &str) -> Result<Account, CoreError> {
    if let Ok(id) = spec.trim().parse::<i64>() {
        return Ok(store.get_account(id).await?);
    }
    account_by_name(store, spec).await
}

/// Transactions of an archived account are frozen until it is unarchived: no new ones, no
/// changes, no imports.
pub fn ensure_not_archived(a: &Account) -> Result<(), CoreError> {
    if a.archived {
        return Err(CoreError::Refused(format!(
            "account \"{}\" is archived: unarchive it before changing its transactions",
            a.name
        )));
    }
    Ok(())
}

/// [`ensure_not_archived`] for an account known by id.
pub async fn refuse_if_archived(s: &dyn Store, account_id: i64) -> Result<(), CoreError> {
    ensure_not_archived(&s.get_account(account_id).await?)
}

/// A new account as a face received it (amounts as decimal text).
#[derive(Debug, Clone, Copy)]
pub struct AccountInput<'a> {
    pub name: &'a str,
    /// Blank means none.
    pub institution: Option<&'a str>,
    pub kind: AccountKind,
    /// An ISO 4217 code.
    pub currency: &'a str,
    /// Decimal text; absent or blank means zero.
    pub opening_balance: Option<&'a str>,
}

/// Creates an account.
#[instrument(skip_all)]
pub async fn create_account(
    s: &dyn Store,
    actor: &Actor,
    input: &AccountInput<'_>,
) -> Result<Account, CoreError> {
    let currency = Currency::from_code(input.currency.trim())?;
    let new = NewAccount {
        name: check_name("account", input.name)?,
        institution: blank_is_none(input.institution),
        kind: input.kind,
        currency,
        opening_balance_minor: match input.opening_balance.map(str::trim) {
            Some(o) if !o.is_empty() => currency.parse_amount(o)?,
            _ => 0,
        },
    };
    Ok(s.create_account(actor, &new).await?)
}

/// A change to an account; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges<'a> {
    pub name: Option<&'a str>,
    /// `Some(None)` (or a blank text) clears the institution.
    pub institution: Option<Option<&'a str>>,
    pub kind: Option<AccountKind>,
    /// Decimal text.
    pub opening_balance: Option<&'a str>,
    pub archived: Option<bool>,
}

impl AccountChanges<'_> {
    /// Archives (`true`) or brings back (`false`) an account, and nothing else.
    pub fn archived(archived: bool) -> Self {
        AccountChanges {
            archived: Some(archived),
            ..Default::default()
        }
    }
}

/// Changes an account and returns it as it is now.
#[instrument(skip_all, fields(id = %id))]
pub async fn update_account(
    s: &dyn Store,
    actor: &Actor,
    id: i64,
    c: &AccountChanges<'_>,
) -> Result<Account, CoreError> {
    let before = s.get_account(id).await?;
    let patch = AccountPatch {
        name: c.name.map(|n| check_name("account", n)).transpose()?,
        institution: c.institution.map(blank_is_none),
        kind: c.kind,
        opening_balance_minor: c
            .opening_balance
            .map(|o| before.currency.parse_amount(o))
            .transpose()?,
        archived: c.archived,
    };
    if let Some(opening) = patch.opening_balance_minor {
        let delta = i128::from(opening) - i128::from(before.opening_balance_minor);
        ensure_total_fits(s, &before, delta).await?;
    }
    Ok(s.update_account(actor, id, &patch).await?)
}

fn blank_is_none(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_string)
}

/// An account with its balance (opening balance plus every transaction), amounts as decimal
/// text: what `account list --json` prints and the API answers.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub id: i64,
    pub name: String,
    pub institution: Option<String>,
    pub kind: AccountKind,
    pub currency: String,
    pub opening_balance: String,
    pub balance: String,
    pub balance_minor: i64,
    pub archived: bool,
}

/// An account's view, given the sums of its transactions by account id.
pub fn account_view(a: Account, sums: &HashMap<i64, i64>) -> Result<AccountView, CoreError> {
    let balance = a
        .opening_balance_minor
        .checked_add(sums.get(&a.id).copied().unwrap_or(0))
        .ok_or_else(|| {
            CoreError::Refused(format!(
                "the balance of account \"{}\" does not fit in 64 bits",
                a.name
            ))
        })?;
    Ok(AccountView {
        id: a.id,
        institution: a.institution,
        kind: a.kind,
        currency: a.currency.to_string(),
        opening_balance: a.currency.format_minor(a.opening_balance_minor),
        balance: a.currency.format_minor(balance),
        balance_minor: balance,
        archived: a.archived,
        name: a.name,
    })
}

/// The account's balance (opening balance plus every transaction) in minor units, wide.
pub async fn account_total(s: &dyn Store, a: &Account) -> Result<i128, StoreError> {
    let sum = s
        .account_sums()
        .await?
        .into_iter()
        .find_map(|(id, sum)| (id == a.id).then_some(sum))
        .unwrap_or(0);
    Ok(i128::from(a.opening_balance_minor) + i128::from(sum))
}

/// Refuses a change that would move the account's balance by `delta` out of what the store
/// can sum (an `i64` of minor units): balances, reports and backups' manifests must always
/// sum. `Ok` with the balance after.
pub async fn ensure_total_fits(s: &dyn Store, a: &Account, delta: i128) -> Result<i64, CoreError> {
    let after = account_total(s, a).await? + delta;
    i64::try_from(after).map_err(|_| {
        ValidationError::new(format!(
            "that would make the balance of account \"{}\" {} minor units, more than a ledger can hold",
            a.name, after
        ))
        .into()
    })
}

/// The sums of every account's transactions, by account id.
pub async fn account_sums(s: &dyn Store) -> Result<HashMap<i64, i64>, CoreError> {
    Ok(s.account_sums().await?.into_iter().collect())
}

/// Every account (archived ones too with `archived`) with its balance.
pub async fn account_views(s: &dyn Store, archived: bool) -> Result<Vec<AccountView>, CoreError> {
    let sums = account_sums(s).await?;
    s.list_accounts(archived)
        .await?
        .into_iter()
        .map(|a| account_view(a, &sums))
        .collect()
}
