//! The JSON API under `/api/v1`, described by `assets/openapi.json` (served at
//! `/api/v1/openapi.json`). Every handler names the role it needs through its extractor
//! ([`Viewer`], [`Editor`], [`Admin`]); a session-authenticated write also needs the CSRF header.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use ledgerflow_core::Store;
use ledgerflow_core::model::*;
use ledgerflow_core::query::{Names, TxQuery, TxView};
use ledgerflow_core::service::{
    self, AccountChanges, AccountInput, CategoryChanges, CategoryInput, CategorySpec, TxChanges,
    TxInput, category_paths,
};
use ledgerflow_import::service::{ImportOptions, ImportSummary, Quiet, Source, import_file};
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::{Admin, CurrentUser, Editor, Viewer};
use crate::error::Problem;
use crate::{AppState, BackupMonitor};

/// Largest bank file accepted by an upload.
pub const MAX_UPLOAD: usize = 64 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/status", get(crate::status))
        .route("/api/v1/accounts", get(list_accounts).post(create_account))
        .route(
            "/api/v1/accounts/{id}",
            get(get_account).patch(update_account),
        )
        .route(
            "/api/v1/categories",
            get(list_categories).post(create_category),
        )
        .route(
            "/api/v1/categories/{id}",
            axum::routing::patch(update_category),
        )
        .route(
            "/api/v1/transactions",
            get(list_transactions).post(create_transaction),
        )
        .route("/api/v1/transactions/categorize", post(categorize))
        .route(
            "/api/v1/transactions/{id}",
            get(get_transaction)
                .patch(update_transaction)
                .delete(delete_transaction),
        )
        .route("/api/v1/transactions/{id}/history", get(history))
        .route(
            "/api/v1/imports",
            get(list_imports)
                .post(create_import)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/api/v1/imports/{id}", axum::routing::delete(undo_import))
        .route("/api/v1/backups", get(backups).post(backup_now))
        .route("/api/v1/me", get(me))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../assets/openapi.json"),
    )
}

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A JSON body, with a 400 that names what is wrong instead of axum's plain-text rejection.
pub struct Body<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;
    async fn from_request(req: axum::extract::Request, st: &S) -> Result<Self, Problem> {
        let bytes = Bytes::from_request(req, st)
            .await
            .map_err(|e| Problem::bad_request(e.body_text()))?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| Problem::bad_request(format!("the JSON body is not valid: {e}")))
    }
}

/// Query parameters, with a 400 that names what is wrong.
pub struct Params<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &S,
    ) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, st)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| Problem::bad_request(e.body_text()))
    }
}

// ---- accounts

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

pub async fn account_views(s: &dyn Store, archived: bool) -> Result<Vec<AccountView>, Problem> {
    let sums: std::collections::HashMap<i64, i64> = s.account_sums().await?.into_iter().collect();
    Ok(s.list_accounts(archived)
        .await?
        .into_iter()
        .map(|a| account_view(a, &sums))
        .collect())
}

fn account_view(a: Account, sums: &std::collections::HashMap<i64, i64>) -> AccountView {
    let balance = a
        .opening_balance_minor
        .saturating_add(sums.get(&a.id).copied().unwrap_or(0));
    AccountView {
        id: a.id,
        institution: a.institution,
        kind: a.kind,
        currency: a.currency.to_string(),
        opening_balance: a.currency.format_minor(a.opening_balance_minor),
        balance: a.currency.format_minor(balance),
        balance_minor: balance,
        archived: a.archived,
        name: a.name,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ArchivedParam {
    archived: bool,
}

async fn list_accounts(
    Viewer(_): Viewer,
    State(st): State<AppState>,
    Params(p): Params<ArchivedParam>,
) -> Result<Json<Vec<AccountView>>, Problem> {
    Ok(Json(account_views(st.store.as_ref(), p.archived).await?))
}

async fn get_account(
    Viewer(_): Viewer,
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<AccountView>, Problem> {
    let a = st.store.get_account(id).await?;
    let sums = st.store.account_sums().await?.into_iter().collect();
    Ok(Json(account_view(a, &sums)))
}

#[derive(Deserialize)]
struct NewAccountBody {
    name: String,
    #[serde(default)]
    institution: Option<String>,
    #[serde(default = "default_kind")]
    kind: String,
    #[serde(default = "default_currency")]
    currency: String,
    /// Decimal text.
    #[serde(default)]
    opening_balance: Option<String>,
}

fn default_kind() -> String {
    "checking".into()
}
fn default_currency() -> String {
    "USD".into()
}

async fn create_account(
    Editor(who): Editor,
    State(st): State<AppState>,
    Body(b): Body<NewAccountBody>,
) -> Result<(StatusCode, Json<AccountView>), Problem> {
    let input = AccountInput {
        name: &b.name,
        institution: b.institution.as_deref(),
        kind: b.kind.parse()?,
        currency: &b.currency,
        opening_balance: b.opening_balance.as_deref(),
    };
    let a = service::create_account(st.store.as_ref(), &who.actor(), &input).await?;
    Ok((
        StatusCode::CREATED,
        Json(account_view(a, &Default::default())),
    ))
}

#[derive(Deserialize)]
struct AccountPatchBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    institution: Option<Option<String>>,
    kind: Option<String>,
    opening_balance: Option<String>,
    archived: Option<bool>,
}

async fn update_account(
    Editor(who): Editor,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Body(b): Body<AccountPatchBody>,
) -> Result<Json<AccountView>, Problem> {
    let changes = AccountChanges {
        name: b.name.as_deref(),
        institution: b.institution.as_ref().map(|i| i.as_deref()),
        kind: b.kind.as_deref().map(str::parse).transpose()?,
        opening_balance: b.opening_balance.as_deref(),
        archived: b.archived,
    };
    service::update_account(st.store.as_ref(), &who.actor(), id, &changes).await?;
    let a = st.store.get_account(id).await?;
    let sums = st.store.account_sums().await?.into_iter().collect();
    Ok(Json(account_view(a, &sums)))
}

// ---- categories

#[derive(Debug, Clone, Serialize)]
pub struct CategoryView {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub parent_id: Option<i64>,
    pub kind: CategoryKind,
}

/// Every category with its full path, in path order.
pub async fn category_views(s: &dyn Store) -> Result<Vec<CategoryView>, Problem> {
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

async fn list_categories(
    Viewer(_): Viewer,
    State(st): State<AppState>,
) -> Result<Json<Vec<CategoryView>>, Problem> {
    Ok(Json(category_views(st.store.as_ref()).await?))
}

#[derive(Deserialize)]
struct NewCategoryBody {
    name: String,
    /// A parent id, path or unique name.
    #[serde(default)]
    parent: Option<String>,
    #[serde(default = "default_category_kind")]
    kind: String,
}

fn default_category_kind() -> String {
    "expense".into()
}

async fn create_category(
    Editor(who): Editor,
    State(st): State<AppState>,
    Body(b): Body<NewCategoryBody>,
) -> Result<(StatusCode, Json<CategoryView>), Problem> {
    let input = CategoryInput {
        name: &b.name,
        parent: b.parent.as_deref().map(CategorySpec::id_or_named),
        kind: Some(b.kind.parse()?),
    };
    let c = service::create_category(st.store.as_ref(), &who.actor(), &input).await?;
    let view = category_views(st.store.as_ref())
        .await?
        .into_iter()
        .find(|v| v.id == c.id)
        .ok_or_else(|| Problem::internal("the new category is missing"))?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
struct CategoryPatchBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    parent_id: Option<Option<i64>>,
    kind: Option<String>,
}

async fn update_category(
    Editor(who): Editor,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Body(b): Body<CategoryPatchBody>,
) -> Result<Json<CategoryView>, Problem> {
    let changes = CategoryChanges {
        name: b.name.as_deref(),
        parent_id: b.parent_id,
        kind: b.kind.as_deref().map(str::parse).transpose()?,
    };
    service::update_category(st.store.as_ref(), &who.actor(), id, &changes).await?;
    let view = category_views(st.store.as_ref())
        .await?
        .into_iter()
        .find(|v| v.id == id)
        .ok_or_else(|| Problem::not_found(format!("category {id} does not exist")))?;
    Ok(Json(view))
}

// ---- transactions

#[derive(Serialize)]
pub struct TxList {
    pub items: Vec<TxView>,
    pub next_cursor: Option<String>,
}

/// One page of the transaction list, as the API and the page show it.
pub async fn tx_page(s: &dyn Store, q: &TxQuery) -> Result<TxList, Problem> {
    let filter = q.filter(s, 50).await?;
    let page = s.list_transactions(&filter).await?;
    let names = Names::load(s).await?;
    Ok(TxList {
        next_cursor: page.next_cursor.map(|c| c.encode()),
        items: page.items.into_iter().map(|t| names.view(t)).collect(),
    })
}

async fn list_transactions(
    Viewer(_): Viewer,
    State(st): State<AppState>,
    Params(q): Params<TxQuery>,
) -> Result<Json<TxList>, Problem> {
    Ok(Json(tx_page(st.store.as_ref(), &q).await?))
}

pub async fn tx_view(s: &dyn Store, id: i64) -> Result<TxView, Problem> {
    let t = s.get_transaction(id).await?;
    Ok(Names::load(s).await?.view(t))
}

async fn get_transaction(
    Viewer(_): Viewer,
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<TxView>, Problem> {
    Ok(Json(tx_view(st.store.as_ref(), id).await?))
}

#[derive(Deserialize)]
struct NewTxBody {
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

fn spec(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn create_transaction(
    Editor(who): Editor,
    State(st): State<AppState>,
    Body(b): Body<NewTxBody>,
) -> Result<(StatusCode, Json<TxView>), Problem> {
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
struct TxPatchBody {
    date: Option<String>,
    amount: Option<String>,
    payee: Option<String>,
    description: Option<String>,
    memo: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    category: Option<Option<serde_json::Value>>,
    status: Option<String>,
}

async fn update_transaction(
    Editor(who): Editor,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Body(b): Body<TxPatchBody>,
) -> Result<Json<TxView>, Problem> {
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

async fn delete_transaction(
    Editor(who): Editor,
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    service::delete_transaction(st.store.as_ref(), &who.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct CategorizeBody {
    ids: Vec<i64>,
    /// A category id, path or unique name; null or "" to clear.
    category: Option<serde_json::Value>,
}

async fn categorize(
    Editor(who): Editor,
    State(st): State<AppState>,
    Body(b): Body<CategorizeBody>,
) -> Result<Json<serde_json::Value>, Problem> {
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

async fn history(
    Viewer(_): Viewer,
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<service::Change>>, Problem> {
    Ok(Json(service::tx_history(st.store.as_ref(), id).await?))
}

// ---- imports

async fn list_imports(
    Viewer(_): Viewer,
    State(st): State<AppState>,
) -> Result<Json<Vec<ImportBatch>>, Problem> {
    Ok(Json(st.store.list_imports().await?))
}

#[derive(Deserialize)]
struct ImportParams {
    /// The account id or name.
    account: String,
    /// The file's name (its extension helps detect the format).
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    skip_invalid: bool,
}

/// Imports one file's bytes into an account (or only decides, with `dry_run`).
pub async fn import_bytes(
    s: &dyn Store,
    who: &CurrentUser,
    account: &Account,
    file_name: &str,
    bytes: &[u8],
    dry_run: bool,
    skip_invalid: bool,
) -> Result<ImportSummary, Problem> {
    if bytes.is_empty() {
        return Err(Problem::bad_request(format!("{file_name} is empty")));
    }
    service::refuse_if_archived(s, account.id).await?;
    let opts = ImportOptions {
        dry_run,
        skip_invalid,
        ..Default::default()
    };
    Ok(import_file(
        s,
        &who.actor(),
        account,
        file_name,
        Source::bytes(bytes),
        &opts,
        Arc::new(Quiet),
    )
    .await?)
}

async fn create_import(
    Editor(who): Editor,
    State(st): State<AppState>,
    Params(p): Params<ImportParams>,
    body: Bytes,
) -> Result<(StatusCode, Json<ImportSummary>), Problem> {
    let s = st.store.as_ref();
    let account = service::account_by_id_or_name(s, &p.account).await?;
    // A label only: bounded and printable, whatever the client sends.
    let name: String = p
        .file_name
        .unwrap_or_else(|| "upload".into())
        .chars()
        .filter(|c| !c.is_control())
        .take(255)
        .collect();
    let summary = import_bytes(s, &who, &account, &name, &body, p.dry_run, p.skip_invalid).await?;
    let code = if summary.batch_id.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(summary)))
}

/// Undoes an import batch. In production that is a bulk deletion and stays on the command
/// line, behind its guard (`ledgerflow import undo N --authorize-prod`).
pub async fn undo(st: &AppState, who: &CurrentUser, id: i64) -> Result<usize, Problem> {
    let s = st.store.as_ref();
    let meta = s.meta().await?;
    if meta.is_some_and(|m| m.environment == Environment::Prod) {
        return Err(Problem::forbidden(format!(
            "this is a production store: undoing an import deletes its rows and is done on the command line, after a fresh backup (`ledgerflow import undo {id} --authorize-prod`)"
        )));
    }
    s.get_import(id).await?;
    Ok(s.undo_import(&who.actor(), id).await?)
}

async fn undo_import(
    Editor(who): Editor,
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, Problem> {
    let removed = undo(&st, &who, id).await?;
    Ok(Json(serde_json::json!({ "batch": id, "removed": removed })))
}

// ---- backups

#[derive(Serialize)]
pub struct BackupStatus {
    pub configured: bool,
    pub health: Option<ledgerflow_backup::Health>,
    pub backups: Vec<ledgerflow_backup::catalog::Entry>,
}

pub async fn backup_status(st: &AppState) -> Result<BackupStatus, Problem> {
    let Some(m) = &st.backups else {
        return Ok(BackupStatus {
            configured: false,
            health: None,
            backups: Vec::new(),
        });
    };
    let lineage = st.store.meta().await?.map(|m| m.lineage_id.to_string());
    let max_age = ledgerflow_backup::schedule::stale_after(&m.jobs, chrono::Local::now());
    let health = ledgerflow_backup::health(&m.settings, lineage.as_deref(), max_age)
        .map_err(Problem::internal)?;
    let mut backups = ledgerflow_backup::list(&m.settings).map_err(Problem::internal)?;
    backups.retain(|e| !e.deleted);
    backups.sort_by_key(|e| std::cmp::Reverse(e.created_at));
    Ok(BackupStatus {
        configured: true,
        health: Some(health),
        backups,
    })
}

async fn backups(
    Admin(_): Admin,
    State(st): State<AppState>,
) -> Result<Json<BackupStatus>, Problem> {
    Ok(Json(backup_status(&st).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BackupParams {
    kind: Option<String>,
}

/// Takes a verified backup now (then off-site copies and retention, as the schedule does).
pub async fn take_backup(
    st: &AppState,
    kind: ledgerflow_backup::Kind,
) -> Result<ledgerflow_backup::Outcome, Problem> {
    let BackupMonitor {
        settings, location, ..
    } = st
        .backups
        .as_ref()
        .ok_or_else(|| Problem::conflict("backups are not configured for this server"))?;
    let _one = st.web.backup_running.lock().await;
    ledgerflow_backup::backup_now(st.store.as_ref(), location, settings, kind)
        .await
        .map_err(|e| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the backup failed: {e}"),
            )
        })
}

async fn backup_now(
    Admin(who): Admin,
    State(st): State<AppState>,
    Params(p): Params<BackupParams>,
) -> Result<(StatusCode, Json<ledgerflow_backup::Outcome>), Problem> {
    let kind = match p.kind.as_deref() {
        None | Some("db") => ledgerflow_backup::Kind::Db,
        Some("full") => ledgerflow_backup::Kind::Full,
        Some(k) => {
            return Err(Problem::bad_request(format!(
                "unknown backup kind \"{k}\" (db or full)"
            )));
        }
    };
    tracing::info!(user = %who.user.name, kind = kind.as_str(), "backup requested from the web");
    let o = take_backup(&st, kind).await?;
    let code = if o.verified {
        StatusCode::CREATED
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    Ok((code, Json(o)))
}

// ---- me

#[derive(Serialize)]
struct Me {
    name: String,
    role: Role,
    via: &'static str,
}

async fn me(Viewer(who): Viewer) -> Json<Me> {
    Json(Me {
        name: who.user.name.clone(),
        role: who.user.role,
        via: match who.via {
            crate::auth::Via::Session { .. } => "session",
            crate::auth::Via::Token { .. } => "token",
        },
    })
}
