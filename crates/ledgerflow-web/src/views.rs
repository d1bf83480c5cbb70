//! What the API and the pages both show: accounts with their balances, categories with their
//! paths, a page of the transaction list and one transaction (core's views, as `Problem`
//! results).

use ledgerflow_core::Store;
use ledgerflow_core::query::{TxQuery, TxView};
use ledgerflow_core::service;

use crate::error::Problem;

pub(crate) use ledgerflow_core::service::{AccountView, account_view};

/// Every account with its balance.
pub(crate) async fn account_views(
    s: &dyn Store,
    archived: bool,
) -> Result<Vec<AccountView>, Problem> {
    Ok(service::account_views(s, archived).await?)
}

pub(crate) use ledgerflow_core::service::CategoryView;

/// Every category with its full path, in path order.
pub(crate) async fn category_views(s: &dyn Store) -> Result<Vec<CategoryView>, Problem> {
    Ok(service::category_views(s).await?)
}

pub(crate) use ledgerflow_core::service::TxList;

/// One page of the transaction list, as the API and the page show it (50 rows by default).
pub(crate) async fn tx_page(s: &dyn Store, q: &TxQuery) -> Result<TxList, Problem> {
    Ok(service::tx_page(s, q, 50).await?)
}

/// One transaction as a view.
pub(crate) async fn tx_view(s: &dyn Store, id: i64) -> Result<TxView, Problem> {
    let t = s.get_transaction(id).await?;
    Ok(service::tx_view(s, t).await?)
}
