//! What the API and the pages both show: accounts with their balances and categories with their
//! paths (core's views, as `Problem` results), a page of the transaction list and one
//! transaction.

use ledgerflow_core::Store;
use ledgerflow_core::query::{Names, TxQuery, TxView};
use ledgerflow_core::service;
use serde::Serialize;

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

#[derive(Serialize)]
pub(crate) struct TxList {
    pub items: Vec<TxView>,
    pub next_cursor: Option<String>,
}

/// One page of the transaction list, as the API and the page show it.
pub(crate) async fn tx_page(s: &dyn Store, q: &TxQuery) -> Result<TxList, Problem> {
    let filter = q.filter(s, 50).await?;
    let page = s.list_transactions(&filter).await?;
    let names = Names::load(s).await?;
    Ok(TxList {
        next_cursor: page.next_cursor.map(|c| c.encode()),
        items: page.items.into_iter().map(|t| names.view(t)).collect(),
    })
}

pub(crate) async fn tx_view(s: &dyn Store, id: i64) -> Result<TxView, Problem> {
    let t = s.get_transaction(id).await?;
    Ok(Names::load(s).await?.view(t))
}
