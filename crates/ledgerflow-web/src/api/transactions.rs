//! `/api/v1/transactions`: list, read, add, change, delete and categorise transactions, and a
//! transaction's history.

use super::*;

pub(super) async fn list_transactions(
    Viewer(_): Viewer,
    State(st): Shared,
    Params(q): Params<TxQuery>,
) -> Answer<TxList> {
    Ok(Json(tx_page(st.store.as_ref(), &q).await?))
}

pub(super) async fn get_transaction(
    Viewer(_): Viewer,
    State(st): Shared,
    Path(id): Path<i64>,
) -> Answer<TxView> {
    Ok(Json(tx_view(st.store.as_ref(), id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTxBody {
    /// An account id or name.
    account: serde_json::Value,
    date: String,
    /// Decimal text ("-12.34").
    amount: String,
    payee: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    memo: String,
    /// A category id, path or unique name.
    #[serde(default)]
    category: Option<serde_json::Value>,
    #[serde(default)]
    status: Option<String>,
}

pub(super) fn spec(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) async fn create_transaction(
    Editor(who): Editor,
    State(st): Shared,
    Body(b): Body<NewTxBody>,
) -> Created<TxView> {
    let s = st.store.as_ref();
    let account = service::account_by_id_or_name(s, &spec(&b.account)).await?;
    let category = b.category.as_ref().filter(|c| !c.is_null()).map(spec);
    let status = b
        .status
        .as_deref()
        .map(str::parse)
        .transpose()?
        .unwrap_or(TxStatus::Cleared);
    let input = TxInput {
        account: &account,
        date: &b.date,
        amount: &b.amount,
        payee: &b.payee,
        description: &b.description,
        memo: &b.memo,
        category: category.as_deref().map(CategorySpec::id_or_named),
        status,
    };
    let t = service::add_transaction(s, &who.actor(), &input).await?;
    Ok((StatusCode::CREATED, Json(tx_view(s, t.id).await?)))
}

/// A change to a transaction; absent fields stay as they are, `"category": null` clears it.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TxPatchBody {
    date: Option<String>,
    amount: Option<String>,
    payee: Option<String>,
    description: Option<String>,
    memo: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    category: Option<Option<serde_json::Value>>,
    status: Option<String>,
}

pub(super) async fn update_transaction(
    Editor(who): Editor,
    State(st): Shared,
    Path(id): Path<i64>,
    Body(b): Body<TxPatchBody>,
) -> Answer<TxView> {
    let s = st.store.as_ref();
    let category = b.category.as_ref().map(|c| c.as_ref().map(spec));
    let changes = TxChanges {
        date: b.date.as_deref(),
        amount: b.amount.as_deref(),
        payee: b.payee.as_deref(),
        description: b.description.as_deref(),
        memo: b.memo.as_deref(),
        category: category
            .as_ref()
            .map(|c| c.as_deref().map(CategorySpec::id_or_named)),
        status: b.status.as_deref().map(str::parse).transpose()?,
        reviewed: false,
    };
    service::patch_transaction(s, &who.actor(), id, &changes).await?;
    Ok(Json(tx_view(s, id).await?))
}

pub(super) async fn delete_transaction(
    Editor(who): Editor,
    State(st): Shared,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    service::delete_transaction(st.store.as_ref(), &who.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CategorizeBody {
    ids: Vec<i64>,
    /// A category id, path or unique name; null or "" to clear.
    category: Option<serde_json::Value>,
}

pub(super) async fn categorize(
    Editor(who): Editor,
    State(st): Shared,
    Body(b): Body<CategorizeBody>,
) -> Answer<serde_json::Value> {
    let category = b.category.as_ref().map(spec).filter(|c| c != "null");
    let changed = service::categorize_many(
        st.store.as_ref(),
        &who.actor(),
        &b.ids,
        category.as_deref().map(CategorySpec::id_or_named),
    )
    .await?;
    Ok(Json(serde_json::json!({ "changed": changed })))
}

pub(super) async fn history(
    Viewer(_): Viewer,
    State(st): Shared,
    Path(id): Path<i64>,
) -> Answer<Vec<service::Change>> {
    Ok(Json(service::tx_history(st.store.as_ref(), id).await?))
}
