//! The JSON API under `/api/v1`, described by `assets/openapi.json` (served at
//! `/api/v1/openapi.json`). Every handler names the role it needs through its extractor
//! ([`Viewer`], [`Editor`], [`Admin`]); a session-authenticated write also needs the CSRF header.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, delete, get, patch, post};
use axum::{Json, Router};
use ledgerflow_core::model::*;
use ledgerflow_core::query::{TxQuery, TxView};
use ledgerflow_core::service::{
    self, AccountChanges, AccountInput, CategoryChanges, CategoryInput, CategorySpec, TxChanges,
    TxInput,
};
use ledgerflow_import::service::ImportSummary;
use serde::{Deserialize, Deserializer, Serialize};

use crate::actions::{
    BackupStatus, backup_status, import_upload, take_backup, undo_import as undo,
};
use crate::auth::{Admin, Editor, Viewer};
use crate::error::Problem;
use crate::views::{
    AccountView, CategoryView, TxList, account_view, account_views, category_views, tx_page,
    tx_view,
};
use crate::{AppState, Shared};

mod accounts;
mod backups;
mod categories;
mod extract;
mod imports;
mod status;
mod transactions;

use self::accounts::*;
use self::backups::*;
use self::categories::*;
use self::extract::{Body, Params};
use self::imports::*;
use self::status::*;
use self::transactions::*;

/// Largest bank file accepted by an upload.
pub(crate) const MAX_UPLOAD: usize = 64 * 1024 * 1024;

/// One route: its method, its path and its handler.
/// What an API handler answers: the JSON body, or the problem (RFC 9457) instead.
pub(crate) type Answer<T> = Result<Json<T>, Problem>;
/// What a handler that creates answers: 201 and the created resource.
pub(crate) type Created<T> = Result<(StatusCode, Json<T>), Problem>;

pub(crate) type Route = (Method, &'static str, MethodRouter<AppState>);

/// Every API route, one method each. The router is built from this table, and
/// [`crate::route_list`] lists it for the test that holds the OpenAPI document to it.
pub(crate) fn table() -> Vec<Route> {
    vec![
        (Method::GET, "/api/v1/openapi.json", get(openapi)),
        (Method::GET, "/api/v1/status", get(status)),
        (Method::GET, "/api/v1/accounts", get(list_accounts)),
        (Method::POST, "/api/v1/accounts", post(create_account)),
        (Method::GET, "/api/v1/accounts/{id}", get(get_account)),
        (
            Method::PATCH,
            "/api/v1/accounts/{id}",
            patch(update_account),
        ),
        (Method::GET, "/api/v1/categories", get(list_categories)),
        (Method::POST, "/api/v1/categories", post(create_category)),
        (
            Method::PATCH,
            "/api/v1/categories/{id}",
            patch(update_category),
        ),
        (Method::GET, "/api/v1/transactions", get(list_transactions)),
        (
            Method::POST,
            "/api/v1/transactions",
            post(create_transaction),
        ),
        (
            Method::POST,
            "/api/v1/transactions/categorize",
            post(categorize),
        ),
        (
            Method::GET,
            "/api/v1/transactions/{id}",
            get(get_transaction),
        ),
        (
            Method::PATCH,
            "/api/v1/transactions/{id}",
            patch(update_transaction),
        ),
        (
            Method::DELETE,
            "/api/v1/transactions/{id}",
            delete(delete_transaction),
        ),
        (
            Method::GET,
            "/api/v1/transactions/{id}/history",
            get(history),
        ),
        (Method::GET, "/api/v1/imports", get(list_imports)),
        (
            Method::POST,
            "/api/v1/imports",
            post(create_import).layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD)),
        ),
        (Method::DELETE, "/api/v1/imports/{id}", delete(undo_import)),
        (Method::GET, "/api/v1/backups", get(backups)),
        (Method::POST, "/api/v1/backups", post(backup_now)),
        (Method::GET, "/api/v1/me", get(me)),
    ]
}

/// A router from a route table: the methods of one path are merged into one route.
pub(crate) fn router_of(table: Vec<Route>) -> Router<AppState> {
    let mut paths: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for (_, path, handler) in table {
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, methods)) => {
                let before = std::mem::take(methods);
                *methods = before.merge(handler);
            }
            None => paths.push((path, handler)),
        }
    }
    paths
        .into_iter()
        .fold(Router::new(), |r, (path, methods)| r.route(path, methods))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../assets/openapi.json"),
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
