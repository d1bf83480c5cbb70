//! What every scenario uses: a [`TestApp`] on a real store with a user of each role, requests
//! as a given user, sign-in and the form helpers, and the cookies a reply sets.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use ledgerflow_core::Store;
use ledgerflow_core::model::*;
use ledgerflow_core::password::hash_password;
use ledgerflow_db::{Location, OpenMode};
use ledgerflow_web::{AppState, WebState, router};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct-horse-battery";

/// Who a request is sent as.
#[derive(Clone, Debug)]
pub enum As {
    Nobody,
    Token(String),
    /// A session cookie and its CSRF token.
    Session {
        cookie: String,
        csrf: String,
    },
}

impl As {
    /// A signed-in browser's CSRF token (panics for any other caller).
    pub fn csrf(&self) -> &str {
        match self {
            As::Session { csrf, .. } => csrf,
            _ => panic!("not a signed-in browser: {self:?}"),
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    /// The problem's `error` text (empty when there is none).
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    pub fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

pub struct TestApp {
    pub state: AppState,
    pub engine: Engine,
    /// API tokens of the three users: viewer "vera", editor "ed", admin "ada".
    pub viewer: As,
    pub editor: As,
    pub admin: As,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ledgerflow_db::open(&Location::sqlite_in(dir.path()), OpenMode::Create)
            .await
            .expect("open");
        Self::with_store(store, Location::sqlite_in(dir.path()), dir).await
    }

    pub async fn postgres() -> Option<TestApp> {
        let server = ledgerflow_test_support::postgres()?;
        let location = Location::Postgres(server.create_database());
        let store = ledgerflow_db::open(&location, OpenMode::Create)
            .await
            .expect("open postgres");
        let dir = tempfile::tempdir().expect("tempdir");
        Some(Self::with_store(store, location, dir).await)
    }

    /// Both engines (PostgreSQL when its binaries are there; CI requires them).
    pub async fn both() -> Vec<TestApp> {
        let mut v = vec![TestApp::sqlite().await];
        match TestApp::postgres().await {
            Some(pg) => v.push(pg),
            None => eprintln!("WARNING: PostgreSQL unavailable, scenario ran on SQLite only"),
        }
        v
    }

    async fn with_store(
        store: Arc<dyn Store>,
        location: Location,
        dir: tempfile::TempDir,
    ) -> TestApp {
        ledgerflow_test_support::init_test_log();
        store
            .initialize(&Actor::system("test"), Environment::Dev)
            .await
            .expect("init");
        let engine = store.engine();
        let settings = ledgerflow_backup::Settings {
            pg_bin_dir: ledgerflow_test_support::find_bindir(),
            ..ledgerflow_backup::Settings::in_dir(dir.path().join("backups"))
        };
        let backups = ledgerflow_web::BackupMonitor {
            settings,
            jobs: Vec::new(),
            location,
        };
        let web = WebState {
            csv_profiles: Some(ledgerflow_import::csv::SavedProfiles::in_data_dir(
                dir.path(),
            )),
            ..Default::default()
        };
        let state = AppState::new(store, Some(backups), web);
        let mut app = TestApp {
            state,
            engine,
            viewer: As::Nobody,
            editor: As::Nobody,
            admin: As::Nobody,
            dir,
        };
        app.viewer = app.user_with_token("vera", Role::Viewer).await;
        app.editor = app.user_with_token("ed", Role::Editor).await;
        app.admin = app.user_with_token("ada", Role::Admin).await;
        app
    }

    pub fn store(&self) -> &dyn Store {
        self.state.store.as_ref()
    }

    /// A user with the test password and an API token.
    pub async fn user_with_token(&self, name: &str, role: Role) -> As {
        let u = self
            .store()
            .create_user(
                &Actor::system("test"),
                &NewUser {
                    name: name.into(),
                    role,
                    password_hash: Some(password_hash()),
                },
            )
            .await
            .expect("user");
        let (_, secret) = ledgerflow_core::service::create_token(
            self.store(),
            &ledgerflow_core::model::Actor::system("test"),
            &u,
            "test",
        )
        .await
        .expect("token");
        As::Token(secret)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        who: &As,
        content_type: Option<&str>,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        match who {
            As::Nobody => {}
            As::Token(t) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
            As::Session { cookie, csrf } => {
                req = req.header(header::COOKIE, format!("lf_session={cookie}"));
                if !csrf.is_empty() {
                    req = req.header("x-csrf-token", csrf.as_str());
                }
            }
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let resp = router(self.state.clone())
            .oneshot(req.body(Body::from(body)).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, who: &As) -> Reply {
        self.send(Method::GET, path, who, None, Vec::new(), &[])
            .await
    }

    pub async fn json(&self, method: Method, path: &str, who: &As, v: serde_json::Value) -> Reply {
        self.send(
            method,
            path,
            who,
            Some("application/json"),
            serde_json::to_vec(&v).expect("json"),
            &[],
        )
        .await
    }

    /// A JSON `POST`.
    pub async fn post_json(&self, path: &str, who: &As, v: serde_json::Value) -> Reply {
        self.json(Method::POST, path, who, v).await
    }

    /// A JSON `PATCH`.
    pub async fn patch_json(&self, path: &str, who: &As, v: serde_json::Value) -> Reply {
        self.json(Method::PATCH, path, who, v).await
    }

    /// A user by name (it must exist).
    pub async fn user(&self, name: &str) -> User {
        self.store()
            .find_user(name)
            .await
            .expect("find user")
            .unwrap_or_else(|| panic!("no user {name}"))
    }

    /// A form post; `who` as a session sends the CSRF header unless the fields carry `csrf`.
    pub async fn form(&self, path: &str, who: &As, fields: &[(&str, &str)]) -> Reply {
        let body = form_body(fields);
        let who = match who {
            As::Session { cookie, .. } if fields.iter().any(|(k, _)| *k == "csrf") => As::Session {
                cookie: cookie.clone(),
                csrf: String::new(),
            },
            other => other.clone(),
        };
        self.send(
            Method::POST,
            path,
            &who,
            Some("application/x-www-form-urlencoded"),
            body.into_bytes(),
            &[],
        )
        .await
    }

    /// The sign-in form's CSRF cookie, from a fresh sign-in page.
    pub async fn login_cookie(&self) -> String {
        let page = self.get("/login", &As::Nobody).await;
        cookie_value(&page.headers, "lf_login").expect("login cookie")
    }

    /// Posts the sign-in form, with the sign-in CSRF cookie when one is given.
    pub async fn post_login(&self, fields: &[(&str, &str)], login_cookie: Option<&str>) -> Reply {
        let cookie = login_cookie.map(|c| format!("lf_login={c}"));
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("cookie", c.as_str())).collect();
        self.send(
            Method::POST,
            "/login",
            &As::Nobody,
            Some("application/x-www-form-urlencoded"),
            form_body(fields).into_bytes(),
            &headers,
        )
        .await
    }

    /// Posts the password change form: the current password, then the new one twice.
    pub async fn change_password(&self, who: &As, current: &str, new: &str) -> Reply {
        self.form(
            "/account/password",
            who,
            &[("current", current), ("password", new), ("password2", new)],
        )
        .await
    }

    /// Signs in through the form, as a browser does; returns the session.
    pub async fn sign_in(&self, name: &str, password: &str) -> Result<As, Reply> {
        let login_cookie = self.login_cookie().await;
        let fields = [
            ("csrf", login_cookie.as_str()),
            ("name", name),
            ("password", password),
            ("next", "/transactions"),
        ];
        let reply = self.post_login(&fields, Some(&login_cookie)).await;
        match cookie_value(&reply.headers, "lf_session").filter(|c| !c.is_empty()) {
            Some(cookie) => Ok(As::Session {
                csrf: ledgerflow_web::auth::csrf_for(&cookie),
                cookie,
            }),
            None => Err(reply),
        }
    }

    /// An account "Checking" with `rows` Wells Fargo rows imported through the API.
    pub async fn with_rows(&self, rows: u64) -> i64 {
        let r = self
            .json(
                Method::POST,
                "/api/v1/accounts",
                &self.editor,
                serde_json::json!({"name": "Checking", "kind": "checking", "currency": "USD"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.json()["id"].as_i64().expect("id");
        if rows > 0 {
            let r = self
                .send(
                    Method::POST,
                    &format!("/api/v1/imports?account={id}&file_name=wf.csv"),
                    &self.editor,
                    Some("text/csv"),
                    wf_csv(0, rows),
                    &[],
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        }
        id
    }
}

impl TestApp {
    /// The id of the newest transaction matching `query` (URL parameters).
    pub async fn first_tx(&self, query: &str) -> i64 {
        self.get(
            &format!("/api/v1/transactions?limit=1&{query}"),
            &self.viewer,
        )
        .await
        .json()["items"][0]["id"]
            .as_i64()
            .expect("a matching transaction")
    }

    /// A form post as htmx sends it (CSRF header, `HX-Request`).
    pub async fn htmx_post(&self, path: &str, who: &As, body: &str) -> Reply {
        self.send(
            Method::POST,
            path,
            who,
            Some("application/x-www-form-urlencoded"),
            body.as_bytes().to_vec(),
            &[("hx-request", "true")],
        )
        .await
    }
}

pub fn wf_csv(from: u64, to: u64) -> Vec<u8> {
    (from..to)
        .map(ledgerflow_test_support::wf_row)
        .collect::<String>()
        .into_bytes()
}

fn password_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD).expect("hash"))
        .clone()
}

pub fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                ledgerflow_web::url_encode(k),
                ledgerflow_web::url_encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (k, val) = first.split_once('=')?;
            (k == name).then(|| val.to_string())
        })
}

pub fn set_cookie_line(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_default()
        .to_string()
}
