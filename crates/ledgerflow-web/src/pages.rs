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

use crate::AppState;
use crate::api::{self, AccountView, CategoryView};
use crate::auth::{
    self, Admin, CSRF_HEADER, CurrentUser, Editor, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Viewer,
};
use crate::error::Problem;

pub fn routes() -> Router<AppState> {
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
                    api::MAX_UPLOAD + 64 * 1024,
                )),
        )
        .route("/imports/confirm", post(confirm_import))
        .route("/imports/preview/{key}", get(preview_page))
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

// ---- helpers

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn render(t: impl Template) -> Result<Response, Problem> {
    Ok(Html(t.render()?).into_response())
}

/// A page that may show a form's error: 400 when it does.
fn render_form(t: impl Template, error: &str) -> Result<Response, Problem> {
    let mut resp = render(t)?;
    if !error.is_empty() {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(resp)
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
            include_bytes!("../assets/htmx.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "app.js" => (
            include_bytes!("../assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "app.css" => (
            include_bytes!("../assets/app.css"),
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

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage {
    status: u16,
    reason: String,
    message: String,
}

pub fn problem_page(p: &Problem) -> Response {
    let page = ProblemPage {
        status: p.status.as_u16(),
        reason: p.status.canonical_reason().unwrap_or("Error").to_string(),
        message: p.message.clone(),
    };
    match page.render() {
        Ok(html) => (p.status, Html(html)).into_response(),
        Err(_) => (p.status, p.message.clone()).into_response(),
    }
}

// ---- sign-in, setup, sign-out

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    error: String,
    name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct NextParam {
    next: String,
}

/// Where to go after signing in: only a local path — one `/` followed by something other than
/// `/` or `\\`, and no control or whitespace-like character anywhere (browsers drop tabs and
/// newlines, so `/\t/host` would be read as `//host`). Anything else goes to `/`.
pub(crate) fn safe_next(next: &str) -> String {
    let mut chars = next.chars();
    let local = chars.next() == Some('/')
        && chars.next().is_none_or(|c| c != '/' && c != '\\')
        && !next
            .chars()
            .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
        && next.len() <= 2048;
    if local {
        next.to_string()
    } else {
        "/".to_string()
    }
}

fn login_form(csrf: String, next: &str, error: &str, name: &str, secure: bool) -> Response {
    let page = LoginPage {
        csrf: csrf.clone(),
        next: safe_next(next),
        error: error.to_string(),
        name: name.to_string(),
    };
    match page.render() {
        Ok(html) => (
            if error.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            },
            [(
                header::SET_COOKIE,
                auth::set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600, secure),
            )],
            Html(html),
        )
            .into_response(),
        Err(e) => Problem::internal(e).into_response(),
    }
}

async fn login_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<NextParam>,
    req: Request,
) -> Result<Response, Problem> {
    if st.store.list_users().await?.is_empty() {
        return render(NoUsersPage {});
    }
    let (_, secure) = auth::client(&headers, auth::peer_of(&req), &st.web);
    Ok(login_form(auth::new_secret(""), &p.next, "", "", secure))
}

#[derive(Template)]
#[template(path = "no_users.html")]
struct NoUsersPage {}

async fn login(State(st): State<AppState>, req: Request) -> Result<Response, Problem> {
    let headers = req.headers().clone();
    let (ip, secure) = auth::client(&headers, auth::peer_of(&req), &st.web);
    let body = Bytes::from_request(req, &st)
        .await
        .map_err(|e| Problem::bad_request(e.body_text()))?;
    let f = parse_form(&body);
    let field = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (name, password, next) = (field("name"), field("password"), field("next"));
    // Double-submit check: the form's token must match the cookie set with the form.
    let cookie = auth::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !auth::same(&cookie, &field("csrf")) {
        return Ok(login_form(
            auth::new_secret(""),
            &next,
            "The sign-in form expired or came from another site: try again.",
            &name,
            secure,
        ));
    }
    if let Err(wait) = st.web.throttle.check(&name, ip) {
        tracing::warn!(user = %name, ip = ?ip, "sign-in throttled");
        let mins = wait.as_secs().div_ceil(60).max(1);
        let mut resp = login_form(
            auth::new_secret(""),
            &next,
            &format!("Too many failed sign-ins: try again in {mins} minutes."),
            &name,
            secure,
        );
        *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return Ok(resp);
    }
    let user = st.store.find_user(name.trim()).await?;
    let hash = user
        .as_ref()
        .filter(|u| !u.disabled)
        .and_then(|u| u.password_hash.clone());
    // Argon2 runs off the async threads, and for unknown users too (no timing hint).
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => {
            let _ = verify_password(&password, dummy_hash());
            false
        }
    })
    .await
    .map_err(Problem::internal)?;
    let Some(user) = user.filter(|_| ok) else {
        st.web.throttle.failed(&name, ip);
        tracing::warn!(user = %name, ip = ?ip, "sign-in failed");
        return Ok(login_form(
            auth::new_secret(""),
            &next,
            "Wrong name or password.",
            &name,
            secure,
        ));
    };
    st.web.throttle.succeeded(&name, ip);
    tracing::info!(user = %user.name, ip = ?ip, "signed in");
    let secret = auth::create_session(st.store.as_ref(), &user).await?;
    Ok(signed_in(&secret, &safe_next(&next), secure))
}

/// An Argon2id hash of a random password, verified against when the user does not exist (so
/// an unknown name takes as long as a wrong password).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&auth::new_secret("")).unwrap_or_default())
}

fn signed_in(secret: &str, to: &str, secure: bool) -> Response {
    let mut resp = Redirect::to(to).into_response();
    let h = resp.headers_mut();
    if let Ok(v) =
        auth::set_cookie(SESSION_COOKIE, secret, auth::SESSION_HOURS * 3600, secure).parse()
    {
        h.append(header::SET_COOKIE, v);
    }
    if let Ok(v) = auth::set_cookie(LOGIN_CSRF_COOKIE, "", 0, secure).parse() {
        h.append(header::SET_COOKIE, v);
    }
    resp
}

async fn logout(State(st): State<AppState>, p: Posted) -> Result<Response, Problem> {
    st.store
        .revoke_credentials(&p.user.actor(), Some(p.user.credential_id), None, None)
        .await?;
    tracing::info!(user = %p.user.user.name, "signed out");
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = auth::set_cookie(SESSION_COOKIE, "", 0, false).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    token: String,
    error: String,
    name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct TokenParam {
    token: String,
}

fn setup_valid(st: &AppState, token: &str) -> bool {
    let expected = *st.web.setup.lock().unwrap_or_else(|e| e.into_inner());
    expected.is_some_and(|h| auth::same(&hex::encode(h), &hex::encode(auth::secret_hash(token))))
}

async fn setup_page(
    State(st): State<AppState>,
    Query(p): Query<TokenParam>,
) -> Result<Response, Problem> {
    if !st.store.list_users().await?.is_empty() || !setup_valid(&st, &p.token) {
        return Err(Problem::forbidden(
            "this setup link is not valid: it works once, while no user exists (ask the admin, or run `ledgerflow user add NAME --role admin`)",
        ));
    }
    render(SetupPage {
        token: p.token,
        error: String::new(),
        name: String::new(),
    })
}

async fn setup(State(st): State<AppState>, req: Request) -> Result<Response, Problem> {
    let headers = req.headers().clone();
    let (_, secure) = auth::client(&headers, auth::peer_of(&req), &st.web);
    let body = Bytes::from_request(req, &st)
        .await
        .map_err(|e| Problem::bad_request(e.body_text()))?;
    let f: HashMap<String, String> = parse_form(&body).into_iter().collect();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let token = get("token");
    // The setup secret in the form is the proof (it came from the server's own output).
    if !st.store.list_users().await?.is_empty() || !setup_valid(&st, &token) {
        return Err(Problem::forbidden("this setup link is not valid any more"));
    }
    let name = get("name");
    let made = async {
        let name = ledgerflow_core::service::check_user_name(&name)?;
        if get("password") != get("password2") {
            return Err(Problem::bad_request("the two passwords differ"));
        }
        let password = get("password");
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(Problem::internal)??;
        Ok(st
            .store
            .create_user(
                &Actor::system("setup"),
                &NewUser {
                    name,
                    role: Role::Admin,
                    password_hash: Some(hash),
                },
            )
            .await?)
    }
    .await;
    match made {
        Ok(user) => {
            *st.web.setup.lock().unwrap_or_else(|e| e.into_inner()) = None;
            tracing::info!(user = %user.name, "first admin created through the setup link");
            let secret = auth::create_session(st.store.as_ref(), &user).await?;
            Ok(signed_in(&secret, "/", secure))
        }
        Err(e) => render_form(
            SetupPage {
                token,
                error: e.message.clone(),
                name,
            },
            &e.message,
        ),
    }
}

// ---- dashboard

struct Bar {
    label: String,
    amount: String,
    y: i64,
    width: i64,
    text_y: i64,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: Nav,
    month: String,
    month_start: String,
    accounts: Vec<AccountView>,
    bars: Vec<Bar>,
    chart_height: i64,
    total: String,
    counts: Counts,
    /// How many of this month's rows have no category ("1000+" beyond one page).
    uncategorized: String,
}

async fn dashboard(Viewer(who): Viewer, State(st): State<AppState>) -> Result<Response, Problem> {
    let s = st.store.as_ref();
    let today = Utc::now().date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let spending = month_spending(s, first, today).await?;
    let width = 420i64;
    // Bars compare within one currency only; totals are per currency, never summed across.
    let mut max: BTreeMap<ledgerflow_core::Currency, i64> = BTreeMap::new();
    let mut totals: BTreeMap<ledgerflow_core::Currency, i64> = BTreeMap::new();
    for (_, cur, v) in &spending {
        let m = max.entry(*cur).or_insert(1);
        *m = (*m).max(*v);
        let t = totals.entry(*cur).or_insert(0);
        *t = t.saturating_add(*v);
    }
    // With several currencies, each one's bars sit together and say their currency (their
    // lengths compare within a currency only).
    let several = max.len() > 1;
    let mut spending = spending;
    if several {
        spending.sort_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    }
    let bars = spending
        .iter()
        .take(12)
        .enumerate()
        .map(|(i, (label, cur, v))| Bar {
            label: if several {
                format!("{label} ({cur})")
            } else {
                label.clone()
            },
            amount: format!("{} {cur}", cur.format_minor(*v)),
            y: i as i64 * 28,
            width: ((*v as i128 * width as i128) / i128::from(max.get(cur).copied().unwrap_or(1)))
                .max(2) as i64,
            text_y: i as i64 * 28 + 15,
        })
        .collect::<Vec<_>>();
    let total = totals
        .iter()
        .map(|(cur, v)| format!("{} {cur}", cur.format_minor(*v)))
        .collect::<Vec<_>>()
        .join(" · ");
    let page = s
        .list_transactions(&TxFilter {
            from: Some(first),
            to: Some(today),
            uncategorized: true,
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let uncategorized = format!(
        "{}{}",
        page.items.len(),
        if page.next_cursor.is_some() { "+" } else { "" }
    );
    render(DashboardPage {
        nav: nav(&st, &who, "dashboard").await?,
        month: first.format("%B %Y").to_string(),
        month_start: first.to_string(),
        accounts: api::account_views(s, false).await?,
        chart_height: (bars.len() as i64 * 28).max(28),
        bars,
        total,
        counts: s.counts().await?,
        uncategorized,
    })
}

/// This month's spending (negative amounts) per top-level category and currency, largest first:
/// (category, currency, amount in minor units as a positive number). Two currencies are never
/// added together.
async fn month_spending(
    s: &dyn ledgerflow_core::Store,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<Vec<(String, ledgerflow_core::Currency, i64)>, Problem> {
    let categories = s.list_categories().await?;
    let by_id: HashMap<i64, &Category> = categories.iter().map(|c| (c.id, c)).collect();
    let top = |mut id: i64| {
        let mut guard = 0;
        while let Some(p) = by_id.get(&id).and_then(|c| c.parent_id) {
            id = p;
            guard += 1;
            if guard > 64 {
                break;
            }
        }
        by_id.get(&id).map(|c| c.name.clone()).unwrap_or_default()
    };
    let mut sums: HashMap<(String, ledgerflow_core::Currency), i64> = HashMap::new();
    let mut filter = TxFilter {
        from: Some(from),
        to: Some(to),
        max_amount_minor: Some(-1),
        limit: 1000,
        ..Default::default()
    };
    loop {
        let page = s.list_transactions(&filter).await?;
        for t in &page.items {
            if t.transfer_id.is_some() {
                continue;
            }
            let label = t
                .category_id
                .map(top)
                .unwrap_or_else(|| "Uncategorized".to_string());
            let e = sums.entry((label, t.currency)).or_insert(0);
            *e = e.saturating_add(t.amount_minor.saturating_neg());
        }
        match page.next_cursor {
            Some(c) => filter.after = Some(c),
            None => break,
        }
    }
    let mut out: Vec<(String, ledgerflow_core::Currency, i64)> = sums
        .into_iter()
        .map(|((label, cur), v)| (label, cur, v))
        .collect();
    out.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    Ok(out)
}

// ---- transactions

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn options(items: impl IntoIterator<Item = (String, String)>, current: &str) -> Vec<Opt> {
    items
        .into_iter()
        .map(|(value, label)| Opt {
            selected: value == current,
            value,
            label,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "transactions.html")]
struct TransactionsPage {
    nav: Nav,
    q: TxQuery,
    rows: Vec<TxRowView>,
    accounts: Vec<Opt>,
    categories: Vec<Opt>,
    statuses: Vec<Opt>,
    sorts: Vec<Opt>,
    next_url: String,
    error: String,
    shown: usize,
}

/// One row of the list, with the category choices for the inline edit.
pub struct TxRowView {
    pub t: TxView,
    pub amount_class: &'static str,
    pub choices: Vec<Opt>,
    pub can_edit: bool,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "tx_row.html")]
struct TxRowFragment {
    row: TxRowView,
}

fn row_view(t: TxView, cats: &[CategoryView], who: &CurrentUser) -> TxRowView {
    let current = t.category_id.map(|c| c.to_string()).unwrap_or_default();
    let mut choices = vec![Opt {
        value: String::new(),
        label: "—".into(),
        selected: current.is_empty(),
    }];
    choices.extend(options(
        cats.iter().map(|c| (c.id.to_string(), c.path.clone())),
        &current,
    ));
    TxRowView {
        amount_class: if t.amount_minor < 0 { "neg" } else { "pos" },
        t,
        choices,
        can_edit: who.can(Role::Editor),
        csrf: who.csrf(),
    }
}

fn v(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

async fn transactions(
    Viewer(who): Viewer,
    State(st): State<AppState>,
    Query(q): Query<TxQuery>,
) -> Result<Response, Problem> {
    let s = st.store.as_ref();
    let cats = api::category_views(s).await?;
    let (rows, next, error) = match api::tx_page(s, &q).await {
        Ok(page) => (page.items, page.next_cursor, String::new()),
        Err(e) if e.status.is_client_error() => (Vec::new(), None, e.message),
        Err(e) => return Err(e),
    };
    let next_url = next
        .map(|c| {
            let mut q2 = q.clone();
            q2.cursor = Some(c);
            format!("/transactions?{}", query_string(&q2))
        })
        .unwrap_or_default();
    let accounts = s.list_accounts(true).await?;
    let mut category_opts = vec![
        (String::new(), "All categories".to_string()),
        ("none".to_string(), "Uncategorized".to_string()),
    ];
    category_opts.extend(cats.iter().map(|c| (c.id.to_string(), c.path.clone())));
    let mut account_opts = vec![(String::new(), "All accounts".to_string())];
    account_opts.extend(accounts.iter().map(|a| (a.id.to_string(), a.name.clone())));
    let mut status_opts = vec![(String::new(), "Any status".to_string())];
    status_opts.extend(TxStatus::ALL.iter().map(|s| (s.to_string(), s.to_string())));
    let sort_opts = [
        ("date_desc", "Newest first"),
        ("date_asc", "Oldest first"),
        ("amount_asc", "Largest spending first"),
        ("amount_desc", "Largest income first"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()));
    let shown = rows.len();
    render(TransactionsPage {
        nav: nav(&st, &who, "transactions").await?,
        rows: rows.into_iter().map(|t| row_view(t, &cats, &who)).collect(),
        accounts: options(account_opts, &v(&q.account)),
        categories: options(category_opts, &v(&q.category)),
        statuses: options(status_opts, &v(&q.status)),
        sorts: options(sort_opts, &v(&q.sort)),
        q,
        next_url,
        error,
        shown,
    })
}

fn query_string(q: &TxQuery) -> String {
    let mut parts = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", url_encode(v)));
        }
    };
    add("q", &q.q);
    add("account", &q.account);
    add("category", &q.category);
    add("from", &q.from);
    add("to", &q.to);
    add("min", &q.min);
    add("max", &q.max);
    add("status", &q.status);
    add("batch", &q.batch);
    add("sort", &q.sort);
    add("cursor", &q.cursor);
    if let Some(l) = q.limit {
        parts.push(format!("limit={l}"));
    }
    parts.join("&")
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// The inline category change: htmx gets the row back; a plain form goes back to the list.
async fn set_category(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    p: Posted,
) -> Result<Response, Problem> {
    p.user.require(Role::Editor)?;
    let s = st.store.as_ref();
    let category = p.text("category");
    let changes = TxChanges {
        category: Some(Some(CategorySpec::id_or_named(&category))),
        ..Default::default()
    };
    service::patch_transaction(s, &p.user.actor(), id, &changes).await?;
    let view = api::tx_view(s, id).await?;
    if is_htmx(&headers) {
        let cats = api::category_views(s).await?;
        return render(TxRowFragment {
            row: row_view(view, &cats, &p.user),
        });
    }
    Ok(back(&headers, "/transactions").into_response())
}

async fn bulk_categorize(
    State(st): State<AppState>,
    headers: HeaderMap,
    p: Posted,
) -> Result<Response, Problem> {
    p.user.require(Role::Editor)?;
    let ids = p
        .all("ids")
        .into_iter()
        .map(|i| {
            i.parse::<i64>()
                .map_err(|_| Problem::bad_request(format!("\"{i}\" is not a transaction id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let category = Some(p.text("category")).filter(|c| c != "null");
    let changed = service::categorize_many(
        st.store.as_ref(),
        &p.user.actor(),
        &ids,
        category.as_deref().map(CategorySpec::id_or_named),
    )
    .await?;
    tracing::info!(user = %p.user.user.name, changed, "bulk re-categorized");
    Ok(back(&headers, "/transactions").into_response())
}

#[derive(Template)]
#[template(path = "transaction.html")]
struct TransactionPage {
    nav: Nav,
    t: TxView,
    categories: Vec<Opt>,
    statuses: Vec<Opt>,
    history: Vec<service::Change>,
    error: String,
}

async fn transaction_page(
    st: &AppState,
    who: &CurrentUser,
    id: i64,
    error: String,
) -> Result<Response, Problem> {
    let s = st.store.as_ref();
    let t = api::tx_view(s, id).await?;
    let cats = api::category_views(s).await?;
    let mut cat_opts = vec![(String::new(), "—".to_string())];
    cat_opts.extend(cats.iter().map(|c| (c.id.to_string(), c.path.clone())));
    let current = t.category_id.map(|c| c.to_string()).unwrap_or_default();
    let statuses = options(
        TxStatus::ALL.iter().map(|s| (s.to_string(), s.to_string())),
        t.status.as_str(),
    );
    render_form(
        TransactionPage {
            nav: nav(st, who, "transactions").await?,
            categories: options(cat_opts, &current),
            statuses,
            history: service::tx_history(s, id).await?,
            t,
            error: error.clone(),
        },
        &error,
    )
}

async fn transaction(
    Viewer(who): Viewer,
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    transaction_page(&st, &who, id, String::new()).await
}

async fn edit_transaction(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    p: Posted,
) -> Result<Response, Problem> {
    p.user.require(Role::Editor)?;
    let changed = async {
        let changes = TxChanges {
            date: p.get("date"),
            amount: p.get("amount"),
            payee: p.get("payee"),
            description: p.get("description"),
            memo: p.get("memo"),
            category: p
                .get("category")
                .map(|c| Some(CategorySpec::id_or_named(c))),
            status: p.get("status").map(str::parse).transpose()?,
            reviewed: false,
        };
        service::patch_transaction(st.store.as_ref(), &p.user.actor(), id, &changes)
            .await
            .map_err(Problem::from)
    }
    .await;
    match changed {
        Ok(_) => Ok(Redirect::to(&format!("/transactions/{id}")).into_response()),
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            transaction_page(&st, &p.user, id, e.message).await
        }
        Err(e) => Err(e),
    }
}

async fn delete_transaction(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    p: Posted,
) -> Result<Response, Problem> {
    p.user.require(Role::Editor)?;
    service::delete_transaction(st.store.as_ref(), &p.user.actor(), id).await?;
    Ok(Redirect::to("/transactions").into_response())
}

// ---- accounts and categories

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    nav: Nav,
    accounts: Vec<AccountView>,
    kinds: Vec<Opt>,
    error: String,
}

async fn accounts_page(
    st: &AppState,
    who: &CurrentUser,
    error: String,
) -> Result<Response, Problem> {
    let kinds = options(
        AccountKind::ALL
            .iter()
            .map(|k| (k.to_string(), k.to_string())),
        "checking",
    );
    render_form(
        AccountsPage {
            nav: nav(st, who, "accounts").await?,
            accounts: api::account_views(st.store.as_ref(), true).await?,
            kinds,
            error: error.clone(),
        },
        &error,
    )
}

async fn accounts(Viewer(who): Viewer, State(st): State<AppState>) -> Result<Response, Problem> {
    accounts_page(&st, &who, String::new()).await
}

async fn add_account(State(st): State<AppState>, p: Posted) -> Result<Response, Problem> {
    p.user.require(Role::Editor)?;
    let made = async {
        let currency = p.text("currency").to_uppercase();
        let input = AccountInput {
            name: &p.text("name"),
            institution: p.get("institution"),
            kind: p.text("kind").parse()?,
            currency: &currency,
            opening_balance: p.get("opening_balance"),
        };
        service::create_account(st.store.as_ref(), &p.user.actor(), &input)
            .await
            .map_err(Problem::from)
    }
    .await;
    match made {
        Ok(_) => Ok(Redirect::to("/accounts").into_response()),
        Err(e) if e.status.is_client_error() => accounts_page(&st, &p.user, e.message).await,
        Err(e) => Err(e),
    }
}

pub struct CategoryLine {
    pub c: CategoryView,
    pub depth: usize,
}

#[derive(Template)]
#[template(path = "categories.html")]
struct CategoriesPage {
    nav: Nav,
    lines: Vec<CategoryLine>,
    parents: Vec<Opt>,
    kinds: Vec<Opt>,
    error: String,
}

async fn categories_page(
    st: &AppState,
    who: &CurrentUser,
    error: String,
) -> Result<Response, Problem> {
    let cats = api::category_views(st.store.as_ref()).await?;
    let mut parents = vec![(String::new(), "(top level)".to_string())];
    parents.extend(cats.iter().map(|c| (c.id.to_string(), c.path.clone())));
    let lines = cats
        .into_iter()
        .map(|c| {
            let depth = c
                .path
                .matches(ledgerflow_core::service::CATEGORY_SEP)
                .count();
            CategoryLine { depth, c }
        })
        .collect();
    render_form(
        CategoriesPage {
            nav: nav(st, who, "categories").await?,
            lines,
            parents: options(parents, ""),
            kinds: options(
                CategoryKind::ALL
                    .iter()
                    .map(|k| (k.to_string(), k.to_string())),
                "expense",
            ),
            error: error.clone(),
        },
        &error,
    )
}

async fn categories(Viewer(who): Viewer, State(st): State<AppState>) -> Result<Response, Problem> {
    categories_page(&st, &who, String::new()).await
}

async fn add_category(State(st): State<AppState>, p: Posted) -> Result<Response, Problem> {
    p.user.require(Role::Editor)?;
    let made = async {
        let parent = p.text("parent");
        let input = CategoryInput {
            name: &p.text("name"),
            parent: Some(CategorySpec::id_or_named(&parent)),
            kind: Some(p.text("kind").parse()?),
        };
        service::create_category(st.store.as_ref(), &p.user.actor(), &input)
            .await
            .map_err(Problem::from)
    }
    .await;
    match made {
        Ok(_) => Ok(Redirect::to("/categories").into_response()),
        Err(e) if e.status.is_client_error() => categories_page(&st, &p.user, e.message).await,
        Err(e) => Err(e),
    }
}

// ---- imports

/// Uploaded files waiting for the user to confirm the preview (kept in memory for 30 minutes).
#[derive(Default)]
pub struct Uploads {
    pending: Mutex<HashMap<String, Upload>>,
}

struct Upload {
    user_id: i64,
    account_id: i64,
    file_name: String,
    bytes: Vec<u8>,
    at: Instant,
    /// The dry run's outcome, shown page by page until the user confirms.
    summary: Arc<ImportSummary>,
}

const UPLOAD_TTL: Duration = Duration::from_secs(30 * 60);
const MAX_PENDING_UPLOADS: usize = 16;
/// All waiting uploads together hold at most this many bytes (the oldest go first).
const MAX_PENDING_BYTES: usize = 256 * 1024 * 1024;

impl Uploads {
    fn put(&self, u: Upload) -> String {
        let key = auth::new_secret("up_");
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, u| u.at.elapsed() < UPLOAD_TTL);
        while map.len() >= MAX_PENDING_UPLOADS
            || (!map.is_empty()
                && map.values().map(|u| u.bytes.len()).sum::<usize>() + u.bytes.len()
                    > MAX_PENDING_BYTES)
        {
            let oldest = map.iter().min_by_key(|(_, u)| u.at).map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(key.clone(), u);
        key
    }

    /// The preview of a waiting upload of this user's.
    fn summary(&self, key: &str, user_id: i64) -> Option<(i64, Arc<ImportSummary>)> {
        let map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some(u) if u.user_id == user_id && u.at.elapsed() < UPLOAD_TTL => {
                Some((u.account_id, Arc::clone(&u.summary)))
            }
            _ => None,
        }
    }

    fn take(&self, key: &str, user_id: i64) -> Option<Upload> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some(u) if u.user_id == user_id && u.at.elapsed() < UPLOAD_TTL => map.remove(key),
            _ => None,
        }
    }
}

struct BatchLine {
    b: ImportBatch,
    account: String,
    when: String,
}

#[derive(Template)]
#[template(path = "imports.html")]
struct ImportsPage {
    nav: Nav,
    accounts: Vec<Opt>,
    batches: Vec<BatchLine>,
    error: String,
}

async fn imports_page(
    st: &AppState,
    who: &CurrentUser,
    error: String,
) -> Result<Response, Problem> {
    let s = st.store.as_ref();
    let accounts = s.list_accounts(false).await?;
    let names: HashMap<i64, String> = s
        .list_accounts(true)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let mut batches = s.list_imports().await?;
    batches.sort_by_key(|b| std::cmp::Reverse(b.id));
    render_form(
        ImportsPage {
            nav: nav(st, who, "imports").await?,
            accounts: options(
                accounts.iter().map(|a| (a.id.to_string(), a.name.clone())),
                "",
            ),
            batches: batches
                .into_iter()
                .map(|b| BatchLine {
                    account: names.get(&b.account_id).cloned().unwrap_or_default(),
                    when: b.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    b,
                })
                .collect(),
            error: error.clone(),
        },
        &error,
    )
}

async fn imports(Viewer(who): Viewer, State(st): State<AppState>) -> Result<Response, Problem> {
    imports_page(&st, &who, String::new()).await
}

struct DecisionLine {
    line: usize,
    date: String,
    amount: String,
    payee: String,
    decision: &'static str,
}

#[derive(Template)]
#[template(path = "import_preview.html")]
struct PreviewPage {
    nav: Nav,
    key: String,
    account: String,
    summary: Arc<ImportSummary>,
    lines: Vec<DecisionLine>,
    /// Rows `first..=last` of `total` are on this page (1-based).
    first: usize,
    last: usize,
    total: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// Rows per preview page.
const PREVIEW_ROWS: usize = 500;

/// Where a decision sorts in the preview: what will be written (flagged, then new) first.
fn decision_rank(d: Decision) -> u8 {
    match d {
        Decision::Flagged => 0,
        Decision::New => 1,
        Decision::Duplicate => 2,
        Decision::Deleted => 3,
    }
}

async fn upload(
    State(st): State<AppState>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, Problem> {
    let who = auth::authenticate(&st, &headers)
        .await?
        .ok_or_else(|| Problem::unauthorized("sign in first"))?;
    let (mut csrf, mut account, mut file_name, mut bytes) = (None, None, String::new(), None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| Problem::bad_request(format!("the upload is not valid: {e}")))?
    {
        match field.name().unwrap_or_default() {
            "csrf" => {
                csrf = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| Problem::bad_request(e.to_string()))?,
                )
            }
            "account" => {
                account = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| Problem::bad_request(e.to_string()))?,
                )
            }
            "file" => {
                // A label only: bounded, whatever the browser sends.
                file_name = field
                    .file_name()
                    .unwrap_or("upload")
                    .chars()
                    .take(255)
                    .collect();
                bytes = Some(field.bytes().await.map_err(|e| {
                    Problem::bad_request(format!("the upload did not arrive whole: {e}"))
                })?);
            }
            _ => {}
        }
    }
    who.check_csrf(csrf.as_deref())?;
    who.require(Role::Editor)?;
    let s = st.store.as_ref();
    let Some(account) = account.filter(|a| !a.is_empty()) else {
        return imports_page(&st, &who, "Choose the account the file belongs to.".into()).await;
    };
    let bytes = bytes.unwrap_or_default();
    if bytes.is_empty() {
        return imports_page(&st, &who, "Choose a file to upload (it was empty).".into()).await;
    }
    let account = service::account_by_id_or_name(s, &account).await?;
    let mut summary =
        match api::import_bytes(s, &who, &account, &file_name, &bytes, true, false).await {
            Ok(summary) => summary,
            Err(e) if e.status.is_client_error() => {
                return imports_page(&st, &who, e.message).await;
            }
            Err(e) => return Err(e),
        };
    // Every row is shown, page by page: what will be written first, then in file order.
    summary
        .decisions
        .sort_by_key(|d| (decision_rank(d.decision), d.line));
    let summary = Arc::new(summary);
    let key = st.web.uploads.put(Upload {
        user_id: who.user.id,
        account_id: account.id,
        file_name,
        bytes: bytes.to_vec(),
        at: Instant::now(),
        summary: Arc::clone(&summary),
    });
    preview(&st, &who, key, &account, summary, 1).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct PageParam {
    page: String,
}

/// Another page of a waiting upload's preview.
async fn preview_page(
    Editor(who): Editor,
    State(st): State<AppState>,
    Path(key): Path<String>,
    Query(p): Query<PageParam>,
) -> Result<Response, Problem> {
    let page = p.page.trim().parse::<usize>().unwrap_or(1).max(1);
    let Some((account_id, summary)) = st.web.uploads.summary(&key, who.user.id) else {
        return imports_page(
            &st,
            &who,
            "That upload has expired (or was already imported): upload the file again.".into(),
        )
        .await;
    };
    let account = st.store.get_account(account_id).await?;
    preview(&st, &who, key, &account, summary, page).await
}

async fn preview(
    st: &AppState,
    who: &CurrentUser,
    key: String,
    account: &Account,
    summary: Arc<ImportSummary>,
    page: usize,
) -> Result<Response, Problem> {
    let total = summary.decisions.len();
    let pages = total.div_ceil(PREVIEW_ROWS).max(1);
    let page = page.min(pages);
    let start = (page - 1) * PREVIEW_ROWS;
    let lines: Vec<DecisionLine> = summary
        .decisions
        .iter()
        .skip(start)
        .take(PREVIEW_ROWS)
        .map(|d| DecisionLine {
            line: d.line,
            date: d.date.to_string(),
            amount: account.currency.format_minor(d.amount_minor),
            payee: d.payee.clone(),
            decision: match d.decision {
                Decision::New => "new",
                Decision::Flagged => "new (looks like a stored row: review)",
                Decision::Duplicate => "duplicate (skipped)",
                Decision::Deleted => "deleted before (skipped)",
            },
        })
        .collect();
    render(PreviewPage {
        nav: nav(st, who, "imports").await?,
        key,
        account: account.name.clone(),
        first: if total == 0 { 0 } else { start + 1 },
        last: start + lines.len(),
        total,
        prev: (page > 1).then(|| page - 1),
        next: (page < pages).then(|| page + 1),
        summary,
        lines,
    })
}

async fn confirm_import(State(st): State<AppState>, p: Posted) -> Result<Response, Problem> {
    p.user.require(Role::Editor)?;
    let Some(u) = st.web.uploads.take(&p.text("upload"), p.user.user.id) else {
        return imports_page(
            &st,
            &p.user,
            "That upload has expired (or was already imported): upload the file again.".into(),
        )
        .await;
    };
    let s = st.store.as_ref();
    let account = s.get_account(u.account_id).await?;
    let summary =
        api::import_bytes(s, &p.user, &account, &u.file_name, &u.bytes, false, false).await?;
    tracing::info!(user = %p.user.user.name, file = %u.file_name, new = summary.new, "imported from the web");
    let to = match summary.batch_id.or(summary.already_imported) {
        Some(b) => format!("/transactions?batch={b}"),
        None => "/imports".to_string(),
    };
    Ok(Redirect::to(&to).into_response())
}

async fn undo_import(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    p: Posted,
) -> Result<Response, Problem> {
    p.user.require(Role::Editor)?;
    api::undo(&st, &p.user, id).await?;
    Ok(Redirect::to("/imports").into_response())
}

// ---- safety

#[derive(Template)]
#[template(path = "safety.html")]
struct SafetyPage {
    nav: Nav,
    meta: Option<StoreMeta>,
    engine: String,
    location: String,
    schema_version: i64,
    journal_seq: i64,
    journal_hash: String,
    status: api::BackupStatus,
    last_backup_age: String,
    last_verified_age: String,
    message: String,
}

fn age(t: Option<chrono::DateTime<Utc>>) -> String {
    let Some(t) = t else {
        return "never".into();
    };
    let d = Utc::now() - t;
    if d.num_minutes() < 1 {
        "just now".into()
    } else if d.num_hours() < 1 {
        format!("{} min ago", d.num_minutes())
    } else if d.num_days() < 2 {
        format!("{} h ago", d.num_hours())
    } else {
        format!("{} days ago", d.num_days())
    }
}

async fn safety(Admin(who): Admin, State(st): State<AppState>) -> Result<Response, Problem> {
    let s = st.store.as_ref();
    let head = s.journal_head().await?;
    let status = api::backup_status(&st).await?;
    let (lb, lv) = status
        .health
        .as_ref()
        .map(|h| (h.last_backup_at, h.last_verified_at))
        .unwrap_or_default();
    render(SafetyPage {
        nav: nav(&st, &who, "safety").await?,
        meta: s.meta().await?,
        engine: s.engine().to_string(),
        location: s.location(),
        schema_version: s.schema_version().await?,
        journal_seq: head.head_seq,
        journal_hash: hex::encode(&head.head_hash[..8]),
        last_backup_age: age(lb),
        last_verified_age: age(lv),
        status,
        // The notice comes from the server (the backup just taken), never from the URL.
        message: st.web.take_flash(who.credential_id),
    })
}

async fn backup_now(State(st): State<AppState>, p: Posted) -> Result<Response, Problem> {
    p.user.require(Role::Admin)?;
    let kind = if p.text("kind") == "full" {
        ledgerflow_backup::Kind::Full
    } else {
        ledgerflow_backup::Kind::Db
    };
    let message = match api::take_backup(&st, kind).await {
        Ok(o) if o.verified => format!(
            "Backup {} taken and verified ({}).",
            o.file
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default(),
            o.verification
        ),
        Ok(o) => format!("The backup FAILED verification: {}", o.verification),
        Err(e) => e.message,
    };
    st.web.set_flash(p.user.credential_id, message);
    Ok(Redirect::to("/safety").into_response())
}

// ---- my account

#[derive(Template)]
#[template(path = "account.html")]
struct MyAccountPage {
    nav: Nav,
    tokens: Vec<Credential>,
    message: String,
    error: String,
}

async fn my_account_page(
    st: &AppState,
    who: &CurrentUser,
    message: String,
    error: String,
) -> Result<Response, Problem> {
    let tokens = st
        .store
        .list_credentials(CredentialKind::Token, Some(who.user.id))
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .collect();
    render_form(
        MyAccountPage {
            nav: nav(st, who, "account").await?,
            tokens,
            message,
            error: error.clone(),
        },
        &error,
    )
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ChangedParam {
    changed: String,
}

async fn my_account(
    Viewer(who): Viewer,
    State(st): State<AppState>,
    Query(c): Query<ChangedParam>,
) -> Result<Response, Problem> {
    let message = if c.changed == "1" {
        "Password changed; your other sessions were signed out.".to_string()
    } else {
        String::new()
    };
    my_account_page(&st, &who, message, String::new()).await
}

/// A user changes their own password: the current one is checked, every session of theirs
/// ends, and this browser gets a new one.
async fn change_password(
    State(st): State<AppState>,
    headers: HeaderMap,
    p: Posted,
) -> Result<Response, Problem> {
    if !matches!(p.user.via, auth::Via::Session { .. }) {
        return Err(Problem::forbidden(
            "change a password from a signed-in browser",
        ));
    }
    let current = p.get("current").unwrap_or_default().to_string();
    let new = p.get("password").unwrap_or_default().to_string();
    if new != p.get("password2").unwrap_or_default() {
        return my_account_page(
            &st,
            &p.user,
            String::new(),
            "The two new passwords differ.".into(),
        )
        .await;
    }
    if let Err(wait) = st.web.throttle.check_password_change(p.user.user.id) {
        let secs = wait.as_secs().max(1);
        return my_account_page(
            &st,
            &p.user,
            String::new(),
            format!("Too many wrong current passwords: try again in {secs} seconds."),
        )
        .await;
    }
    let stored = p.user.user.password_hash.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let ok = stored.is_some_and(|h| verify_password(&current, &h));
        (ok, ok.then(|| hash_password(&new)))
    })
    .await
    .map_err(Problem::internal)?;
    let hash = match checked {
        (false, _) => {
            st.web.throttle.password_change_failed(p.user.user.id);
            return my_account_page(
                &st,
                &p.user,
                String::new(),
                "The current password is wrong.".into(),
            )
            .await;
        }
        (true, Some(Err(e))) => return my_account_page(&st, &p.user, String::new(), e.0).await,
        (true, Some(Ok(h))) => h,
        (true, None) => return Err(Problem::internal("no hash")),
    };
    let s = st.store.as_ref();
    s.update_user(
        &p.user.actor(),
        p.user.user.id,
        &UserPatch {
            password_hash: Some(Some(hash)),
            ..Default::default()
        },
    )
    .await?;
    s.revoke_credentials(
        &p.user.actor(),
        None,
        Some(p.user.user.id),
        Some(CredentialKind::Session),
    )
    .await?;
    tracing::info!(user = %p.user.user.name, "password changed; sessions ended");
    let (_, secure) = auth::client(&headers, p.peer, &st.web);
    let secret = auth::create_session(s, &p.user.user).await?;
    Ok(signed_in(&secret, "/account?changed=1", secure))
}

// ---- users and tokens

struct UserLine {
    u: User,
    tokens: Vec<Credential>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserLine>,
    roles: Vec<Opt>,
    new_token: String,
    error: String,
}

async fn users_page(
    st: &AppState,
    who: &CurrentUser,
    new_token: String,
    error: String,
) -> Result<Response, Problem> {
    let s = st.store.as_ref();
    let tokens = s.list_credentials(CredentialKind::Token, None).await?;
    let users = s
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserLine {
            tokens: tokens
                .iter()
                .filter(|t| t.user_id == u.id && t.revoked_at.is_none())
                .cloned()
                .collect(),
            u,
        })
        .collect();
    render_form(
        UsersPage {
            nav: nav(st, who, "users").await?,
            users,
            roles: options(
                Role::ALL.iter().map(|r| (r.to_string(), r.to_string())),
                "viewer",
            ),
            new_token,
            error: error.clone(),
        },
        &error,
    )
}

async fn users(Admin(who): Admin, State(st): State<AppState>) -> Result<Response, Problem> {
    users_page(&st, &who, String::new(), String::new()).await
}

async fn add_user(State(st): State<AppState>, p: Posted) -> Result<Response, Problem> {
    p.user.require(Role::Admin)?;
    let made = async {
        let name = ledgerflow_core::service::check_user_name(&p.text("name"))?;
        let role: Role = p.text("role").parse()?;
        let password = p.get("password").unwrap_or_default().to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(Problem::internal)??;
        st.store
            .create_user(
                &p.user.actor(),
                &NewUser {
                    name,
                    role,
                    password_hash: Some(hash),
                },
            )
            .await
            .map_err(Problem::from)
    }
    .await;
    match made {
        Ok(_) => Ok(Redirect::to("/users").into_response()),
        Err(e) if e.status.is_client_error() => {
            users_page(&st, &p.user, String::new(), e.message).await
        }
        Err(e) => Err(e),
    }
}

async fn change_user(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    p: Posted,
) -> Result<Response, Problem> {
    p.user.require(Role::Admin)?;
    let s = st.store.as_ref();
    let role: Option<Role> = p.get("role").map(str::parse).transpose()?;
    let disabled = p.get("disabled").map(|d| d == "1");
    // One's own password is changed on the account page, with the current one (and its
    // throttle): not here, where it would need neither.
    if id == p.user.user.id && p.get("password").is_some_and(|pw| !pw.is_empty()) {
        return users_page(
            &st,
            &p.user,
            String::new(),
            "Change your own password on your account page (your name at the top; it asks for the current one).".into(),
        )
        .await;
    }
    let password_hash = match p.get("password").filter(|pw| !pw.is_empty()) {
        Some(pw) => {
            let pw = pw.to_string();
            match tokio::task::spawn_blocking(move || hash_password(&pw))
                .await
                .map_err(Problem::internal)?
            {
                Ok(h) => Some(Some(h)),
                Err(e) => return users_page(&st, &p.user, String::new(), e.0).await,
            }
        }
        None => None,
    };
    if id == p.user.user.id && (disabled == Some(true) || role.is_some_and(|r| r != Role::Admin)) {
        return users_page(
            &st,
            &p.user,
            String::new(),
            "You cannot demote or disable yourself: another admin can.".into(),
        )
        .await;
    }
    s.update_user(
        &p.user.actor(),
        id,
        &UserPatch {
            role,
            disabled,
            password_hash: password_hash.clone(),
        },
    )
    .await?;
    if disabled == Some(true) {
        s.revoke_credentials(&p.user.actor(), None, Some(id), None)
            .await?;
    } else if password_hash.is_some() {
        s.revoke_credentials(
            &p.user.actor(),
            None,
            Some(id),
            Some(CredentialKind::Session),
        )
        .await?;
    }
    Ok(Redirect::to("/users").into_response())
}

async fn create_token(State(st): State<AppState>, p: Posted) -> Result<Response, Problem> {
    p.user.require(Role::Admin)?;
    let s = st.store.as_ref();
    let user_id: i64 = p
        .text("user")
        .parse()
        .map_err(|_| Problem::bad_request("choose a user"))?;
    let user = s
        .list_users()
        .await?
        .into_iter()
        .find(|u| u.id == user_id)
        .ok_or_else(|| Problem::not_found(format!("user {user_id} does not exist")))?;
    let (cred, secret) = service::create_token(s, &p.user.actor(), &user, &p.text("name")).await?;
    let label = &cred.name;
    tracing::info!(admin = %p.user.user.name, user = %user.name, token = %label, "API token created");
    users_page(&st, &p.user, secret, String::new()).await
}

async fn revoke_token(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    p: Posted,
) -> Result<Response, Problem> {
    p.user.require(Role::Admin)?;
    let n = st
        .store
        .revoke_credentials(&p.user.actor(), Some(id), None, Some(CredentialKind::Token))
        .await?;
    if n == 0 {
        return Err(Problem::not_found(format!(
            "token {id} does not exist or is already revoked"
        )));
    }
    Ok(Redirect::to("/users").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next("/transactions?q=a"), "/transactions?q=a");
        assert_eq!(safe_next("//evil.example/"), "/");
        assert_eq!(safe_next("https://evil.example/"), "/");
        assert_eq!(safe_next("/\\evil"), "/");
    }

    #[test]
    fn html_is_escaped_and_urls_encoded() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_encode("a b/ü"), "a%20b%2F%C3%BC");
    }
}
