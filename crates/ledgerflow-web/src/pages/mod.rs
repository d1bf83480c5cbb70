//! The HTML pages. Server-rendered (askama templates in `templates/`, checked at compile time);
//! every form works without JavaScript, and htmx (served from the binary) makes the category
//! change inline. Every form that changes something carries the session's CSRF token.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Datelike, Utc};
use ledgerflow_core::model::*;
use ledgerflow_core::password::{hash_password, verify_password};
use ledgerflow_core::query::{TxQuery, TxView};
use ledgerflow_core::service::{self, AccountInput, CategoryInput, CategorySpec, TxChanges};
use ledgerflow_import::service::{Decision, ImportSummary};

use crate::actions::{
    BackupStatus, backup_status, import_upload, take_backup, undo_import as undo_batch,
};
use crate::auth::{
    self, Admin, CSRF_HEADER, CurrentUser, Editor, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Viewer,
};
use crate::error::Problem;
use crate::html::{Page, render, render_form, url_encode};
use crate::views::{AccountView, CategoryView, account_views, category_views, tx_page, tx_view};
use crate::{AppState, Shared};

mod accounts;
mod dashboard;
mod import_jobs;
mod imports;
mod safety;
mod session;
mod transactions;
mod users;

use self::accounts::*;
use self::dashboard::*;
use self::import_jobs::*;
use self::imports::*;
use self::safety::*;
use self::session::*;
use self::transactions::*;
use self::users::*;

pub use self::import_jobs::ImportJobs;
pub use self::imports::Uploads;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/assets/{file}", get(asset))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/setup", get(setup_page).post(setup))
        .route("/transactions", get(transactions))
        .route("/transactions/categorize", post(bulk_categorize))
        .route(
            "/transactions/{id}",
            get(transaction).post(edit_transaction),
        )
        .route("/transactions/{id}/category", post(set_category))
        .route("/transactions/{id}/delete", post(delete_transaction))
        .route("/accounts", get(accounts).post(add_account))
        .route("/categories", get(categories).post(add_category))
        .route(
            "/imports",
            get(imports)
                .post(upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    MAX_PAGE_UPLOAD + 64 * 1024,
                )),
        )
        .route("/imports/confirm", post(confirm_import))
        .route("/imports/jobs/{key}", get(import_job))
        .route("/imports/preview/{key}", get(preview_page))
        .route("/imports/preview/{key}/reading", post(correct_reading))
        .route("/imports/{id}/undo", post(undo_import))
        .route("/safety", get(safety))
        .route("/safety/backup", post(backup_now))
        .route("/account", get(my_account))
        .route("/account/password", post(change_password))
        .route("/users", get(users).post(add_user))
        .route("/users/{id}", post(change_user))
        .route("/tokens", post(create_token))
        .route("/tokens/{id}/revoke", post(revoke_token))
}

/// Largest bank file the import page accepts: ten years of daily history (a million rows of a
/// Wells Fargo export are 94 MB). The API takes smaller bodies (`api::MAX_UPLOAD`): they are
/// held whole while read.
pub(crate) const MAX_PAGE_UPLOAD: usize = 128 * 1024 * 1024;

/// What a form post answers: on success a redirect to `to`; a client error (bad input, a
/// refusal) shows the form's page again with its message; anything else is the error.
async fn redirect_or_again<T, Fut>(
    done: Result<T, Problem>,
    to: &str,
    again: impl FnOnce(String) -> Fut,
) -> Page
where
    Fut: std::future::Future<Output = Page>,
{
    match done {
        Ok(_) => Ok(Redirect::to(to).into_response()),
        Err(e) if e.status.is_client_error() => again(e.message).await,
        Err(e) => Err(e),
    }
}

/// What every page's header needs.
pub struct Nav {
    pub user: String,
    pub role: String,
    pub csrf: String,
    pub can_edit: bool,
    pub is_admin: bool,
    pub environment: String,
    pub here: &'static str,
}

async fn nav(st: &AppState, who: &CurrentUser, here: &'static str) -> Result<Nav, Problem> {
    let env = st
        .store
        .meta()
        .await?
        .map(|m| m.environment.to_string())
        .unwrap_or_default();
    Ok(Nav {
        user: who.user.name.clone(),
        role: who.user.role.to_string(),
        csrf: who.csrf(),
        can_edit: who.can(Role::Editor),
        is_admin: who.can(Role::Admin),
        environment: env,
        here,
    })
}

/// A form post from a signed-in user, its CSRF token checked (form field `csrf` or the
/// `X-CSRF-Token` header that htmx sends).
pub struct Posted {
    pub user: CurrentUser,
    pub fields: Vec<(String, String)>,
    /// The connection's peer (behind a trusted proxy, the proxy).
    pub peer: Option<std::net::SocketAddr>,
}

impl Posted {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_string()
    }
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

impl FromRequest<AppState> for Posted {
    type Rejection = Problem;
    async fn from_request(req: Request, st: &AppState) -> Result<Self, Problem> {
        let user = auth::authenticate(st, req.headers())
            .await?
            .ok_or_else(|| Problem::unauthorized("sign in first"))?;
        let peer = auth::peer_of(&req);
        let header_token = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let body = Bytes::from_request(req, st)
            .await
            .map_err(|e| Problem::bad_request(e.body_text()))?;
        let fields = parse_form(&body);
        let field_token = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.clone());
        user.check_csrf(header_token.or(field_token).as_deref())?;
        Ok(Posted { user, fields, peer })
    }
}

/// Back to where the form was, or `fallback`.
fn back(headers: &HeaderMap, fallback: &str) -> Redirect {
    let to = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            // Only a path on this site.
            let path = r
                .split_once("://")
                .map_or(r, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
            path.starts_with('/').then(|| path.to_string())
        })
        .unwrap_or_else(|| fallback.to_string());
    Redirect::to(&to)
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "htmx.min.js" => (
            include_bytes!("../../assets/htmx.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "app.js" => (
            include_bytes!("../../assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "app.css" => (
            include_bytes!("../../assets/app.css"),
            "text/css; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
