//! What the API and the pages both show: accounts with their balances, categories with their
//! paths, a page of the transaction list and one transaction, as views.

use ledgerflow_core::Store;
use ledgerflow_core::model::*;
use ledgerflow_core::query::{Names, TxQuery, TxView};
use ledgerflow_core::service::{self, category_paths};
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

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CategoryView {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub parent_id: Option<i64>,
    pub kind: CategoryKind,
}

/// Every category with its full path, in path order.
pub(crate) async fn category_views(s: &dyn Store) -> Result<Vec<CategoryView>, Problem> {
    let all = s.list_categories().await?;
    let by_id: std::collections::HashMap<i64, &Category> = all.iter().map(|c| (c.id, c)).collect();
    Ok(category_paths(&all)
        .into_iter()
        .filter_map(|(id, path)| {
            by_id.get(&id).map(|c| CategoryView {
                id,
                name: c.name.clone(),
                path,
                parent_id: c.parent_id,
                kind: c.kind,
            })
        })
        .collect())
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
