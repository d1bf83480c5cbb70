//! Transactions: adding, changing, categorising many and deleting, with the rules every face
//! shares (an archived account's rows are frozen; text and category checks); a page of the list
//! and one row as views; and a row's history from the journal.

use serde::Serialize;
use tracing::instrument;

use crate::error::{CoreError, ValidationError};
use crate::journal::Entity;
use crate::model::{
    Account, Actor, ImportBatch, NewTransaction, Transaction, TransactionPatch, TxStatus,
};
use crate::query::{MAX_LIMIT, Names, TxQuery, TxView};
use crate::service::{
    CategorySpec, category_id, category_id_in, check_text, ensure_not_archived, ensure_total_fits,
    parse_date, refuse_if_archived,
};
use crate::store::{JournalFilter, Store, StoreError};

/// A new transaction as a face received it (the date and amount as text).
#[derive(Debug, Clone, Copy)]
pub struct TxInput<'a> {
    pub account: &'a Account,
    /// YYYY-MM-DD.
    pub date: &'a str,
    /// Signed decimal text: negative is money out.
    pub amount: &'a str,
    pub payee: &'a str,
    pub description: &'a str,
    pub memo: &'a str,
    pub category: Option<CategorySpec<'a>>,
    pub status: TxStatus,
}

/// Adds one transaction by hand and returns it as stored.
#[instrument(skip_all, fields(account = %input.account.id))]
pub async fn add_transaction(
    s: &dyn Store,
    actor: &Actor,
    input: &TxInput<'_>,
) -> Result<Transaction, CoreError> {
    let a = input.account;
    ensure_not_archived(a)?;
    let category_id = match input.category {
        Some(c) => Some(category_id(s, c).await?),
        None => None,
    };
    let row = NewTransaction {
        account_id: a.id,
        posted_date: parse_date("date", input.date)?,
        amount_minor: a.currency.parse_amount(input.amount)?,
        currency: a.currency,
        payee: non_empty_payee(check_text("payee", input.payee)?)?,
        description: check_text("description", input.description)?,
        memo: check_text("memo", input.memo)?,
        category_id,
        status: input.status,
        source: "manual".into(),
        import_batch_id: None,
        external_id: None,
        transfer_id: None,
        needs_review: false,
    };
    ensure_total_fits(s, a, i128::from(row.amount_minor)).await?;
    let ids = s.insert_transactions(actor, vec![row]).await?;
    let id = ids.first().copied().ok_or_else(|| {
        StoreError::Database("the store returned no id for the new transaction".into())
    })?;
    Ok(s.get_transaction(id).await?)
}

fn non_empty_payee(p: String) -> Result<String, ValidationError> {
    if p.is_empty() {
        return Err(ValidationError::new("payee must not be empty"));
    }
    Ok(p)
}

/// A change to a transaction; absent fields stay as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxChanges<'a> {
    pub date: Option<&'a str>,
    pub amount: Option<&'a str>,
    pub payee: Option<&'a str>,
    pub description: Option<&'a str>,
    pub memo: Option<&'a str>,
    /// `Some(None)`, or a blank or "none" spec, removes the category.
    pub category: Option<Option<CategorySpec<'a>>>,
    pub status: Option<TxStatus>,
    /// Clears the "needs review" mark an import put on a near match.
    pub reviewed: bool,
}

/// Changes a transaction (not one of an archived account) and returns it as it is now.
#[instrument(skip_all, fields(id = %id))]
pub async fn patch_transaction(
    s: &dyn Store,
    actor: &Actor,
    id: i64,
    c: &TxChanges<'_>,
) -> Result<Transaction, CoreError> {
    let before = s.get_transaction(id).await?;
    refuse_if_archived(s, before.account_id).await?;
    let category_id = match c.category {
        None => None,
        Some(None) => Some(None),
        Some(Some(spec)) if spec.means_none() => Some(None),
        Some(Some(spec)) => Some(Some(category_id(s, spec).await?)),
    };
    let text = |what, v: Option<&str>| v.map(|t| check_text(what, t)).transpose();
    let patch = TransactionPatch {
        posted_date: c.date.map(|d| parse_date("date", d)).transpose()?,
        amount_minor: c
            .amount
            .map(|a| before.currency.parse_amount(a))
            .transpose()?,
        payee: text("payee", c.payee)?.map(non_empty_payee).transpose()?,
        description: text("description", c.description)?,
        memo: text("memo", c.memo)?,
        category_id,
        status: c.status,
        transfer_id: None,
        needs_review: c.reviewed.then_some(false),
    };
    if let Some(amount) = patch.amount_minor {
        let account = s.get_account(before.account_id).await?;
        let delta = i128::from(amount) - i128::from(before.amount_minor);
        ensure_total_fits(s, &account, delta).await?;
    }
    Ok(s.update_transaction(actor, id, &patch).await?)
}

/// Deletes a transaction (not one of an archived account); journaled, so it can be restored.
#[instrument(skip_all, fields(id = %id))]
pub async fn delete_transaction(
    s: &dyn Store,
    actor: &Actor,
    id: i64,
) -> Result<Transaction, CoreError> {
    let t = s.get_transaction(id).await?;
    refuse_if_archived(s, t.account_id).await?;
    let account = s.get_account(t.account_id).await?;
    ensure_total_fits(s, &account, -i128::from(t.amount_minor)).await?;
    Ok(s.delete_transaction(actor, id).await?)
}

/// Undoes an import batch: its rows go (journaled as one bulk deletion, so they can be
/// restored), unless its account is archived. Returns the batch and how many rows went.
#[instrument(skip_all, fields(batch = %batch_id))]
pub async fn undo_import(
    s: &dyn Store,
    actor: &Actor,
    batch_id: i64,
) -> Result<(ImportBatch, usize), CoreError> {
    let batch = s.get_import(batch_id).await?;
    // Not while an import into the account decides its duplicates against these rows; the
    // account is checked once the turn is taken (it may have been archived during the wait).
    let _turn = s.lock_imports(batch.account_id).await?;
    refuse_if_archived(s, batch.account_id).await?;
    // Without its rows the account's balance must still be a number the store can sum (an
    // import that brought it back within range is not undone alone).
    let account = s.get_account(batch.account_id).await?;
    ensure_total_fits(s, &account, -s.batch_total(batch_id).await?).await?;
    let removed = s.undo_import(actor, batch_id).await?;
    Ok((batch, removed))
}

/// Sets one category (`None`, or a blank or "none" spec: no category) on many transactions;
/// returns how many changed. Every id is checked first; then all rows change in one database
/// transaction, or none.
#[instrument(skip_all, fields(rows = ids.len()))]
pub async fn categorize_many(
    s: &dyn Store,
    actor: &Actor,
    ids: &[i64],
    category: Option<CategorySpec<'_>>,
) -> Result<usize, CoreError> {
    if ids.is_empty() {
        return Err(ValidationError::new("choose at least one transaction").into());
    }
    if ids.len() > MAX_LIMIT as usize {
        return Err(
            ValidationError::new(format!("at most {MAX_LIMIT} transactions at once")).into(),
        );
    }
    let category = match category.filter(|c| !c.means_none()) {
        Some(c) => Some(category_id_in(&s.list_categories().await?, c)?),
        None => None,
    };
    let mut changes = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(*id) {
            continue;
        }
        let before = s.get_transaction(*id).await?;
        if before.category_id == category {
            continue;
        }
        refuse_if_archived(s, before.account_id).await?;
        changes.push((
            *id,
            TransactionPatch {
                category_id: Some(category),
                ..Default::default()
            },
        ));
    }
    if changes.is_empty() {
        return Ok(0);
    }
    s.update_transactions(actor, &changes).await?;
    Ok(changes.len())
}

/// One page of the transaction list: its rows as views and the cursor of the next page.
#[derive(Debug, Serialize)]
pub struct TxList {
    pub items: Vec<TxView>,
    pub next_cursor: Option<String>,
}

/// One page of the transaction list for a request as typed (`default_limit` rows unless it
/// says otherwise).
pub async fn tx_page(s: &dyn Store, q: &TxQuery, default_limit: u32) -> Result<TxList, CoreError> {
    let filter = q.filter(s, default_limit).await?;
    let page = s.list_transactions(&filter).await?;
    let names = Names::load(s).await?;
    Ok(TxList {
        next_cursor: page.next_cursor.map(|c| c.encode()),
        items: page.items.into_iter().map(|t| names.view(t)).collect(),
    })
}

/// A transaction as a view (account and category by name, amounts as decimal text).
pub async fn tx_view(s: &dyn Store, t: Transaction) -> Result<TxView, CoreError> {
    Ok(Names::load(s).await?.view(t))
}

/// One change to a transaction, from the journal.
#[derive(Debug, Serialize)]
pub struct Change {
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub op: String,
    /// "field: before → after" for each changed field.
    pub fields: Vec<String>,
}

/// The journal's entries for one transaction. Rows that arrived in bulk (an import, several
/// rows at once) were journaled in one entry for all of them: their first line is the row's
/// own creation.
pub async fn tx_history(s: &dyn Store, id: i64) -> Result<Vec<Change>, CoreError> {
    let t = s.get_transaction(id).await?;
    let entries = s
        .journal_entries(&JournalFilter {
            entity: Some(Entity::Transaction),
            entity_id: Some(id),
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    if !entries.iter().any(|e| e.op.as_str() == "insert") {
        out.push(Change {
            seq: 0,
            at: t.created_at,
            actor: match t.import_batch_id {
                Some(b) => format!("import batch {b}"),
                None => "bulk insert".into(),
            },
            op: "insert".into(),
            fields: Vec::new(),
        });
    }
    out.extend(entries.into_iter().map(|e| Change {
        seq: e.seq,
        at: e.at,
        fields: diff(e.before.as_deref(), e.after.as_deref()),
        actor: e.actor,
        op: e.op.as_str().to_string(),
    }));
    Ok(out)
}

/// The fields that differ between two JSON rows, as "field: before → after".
fn diff(before: Option<&str>, after: Option<&str>) -> Vec<String> {
    let parse = |s: Option<&str>| {
        s.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
    };
    let (b, a) = (parse(before), parse(after));
    let skip = ["updated_at", "created_at", "fingerprint"];
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !skip.contains(&k.as_str()))
        .filter(|k| b.get(*k) != a.get(*k))
        .filter(|_| !b.is_empty() && !a.is_empty())
        .map(|k| {
            let show = |v: Option<&serde_json::Value>| match v {
                None | Some(serde_json::Value::Null) => "—".to_string(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            format!("{k}: {} → {}", show(b.get(k)), show(a.get(k)))
        })
        .collect()
}
